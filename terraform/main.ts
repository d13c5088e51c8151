// Synthesizes both stacks to Terraform JSON: `node terraform/main.ts [--outdir DIR]`. There is no
// cdktf-cli (cdktf is archived); the plain terraform CLI applies the result from
// cdktf.out/stacks/<stack>/.
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { App } from 'cdktf';
import { buildDropletStack } from './droplet-stack.ts';
import { buildKubernetesStack } from './kubernetes-stack.ts';

const { values } = parseArgs({ options: { outdir: { type: 'string' } } });
const outdir = values.outdir ?? fileURLToPath(new URL('./cdktf.out', import.meta.url));

const app = new App({ outdir });
buildDropletStack(app, 'droplet');
buildKubernetesStack(app, 'kubernetes');
app.synth();
console.log(`synthesized droplet and kubernetes stacks to ${outdir}`);
