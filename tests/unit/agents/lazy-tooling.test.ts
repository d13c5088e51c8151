import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const root = fileURLToPath(new URL('../../../', import.meta.url));
// The project's own Node 24, which runs .ts files; vitest itself may run on an older system Node.
const node = `${root}node_modules/.bin/node`;
const HEAVY = ['typescript', 'eslint', '@eslint/js', 'typescript-eslint', 'prettier'];

// A fresh process, because this one has loaded everything already. The load hook sees every file
// Node loads, by import and by require alike; the package is the last node_modules folder in its path.
const script = `
import { registerHooks } from 'node:module';
const loaded = new Set();
registerHooks({
  load(url, context, nextLoad) {
    const pkg = /.*\\/node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(url)?.[1];
    if (pkg) loaded.add(pkg);
    return nextLoad(url, context);
  },
});
const { findAgent } = await import(${JSON.stringify(new URL('agents/index.ts', `file://${root}`).href)});
const featureDev = await findAgent('feature-dev');
const afterImport = [...loaded];
const { fakeContext } = await import(${JSON.stringify(new URL('tests/helpers/agent-context.ts', `file://${root}`).href)});
const files = [{ path: 'src/count.ts', content: 'export function count(): number {\\n  var n = 1;\\n  return n;\\n}\\n' }];
const review = { findings: [{ file: 'src/count.ts', line: 2, rule: 'no-var', message: 'Unexpected var, use let or const instead.' }] };
const out = await featureDev.execute({ files }, fakeContext({ dependencies: { review } }));
console.log(JSON.stringify({ afterImport, afterTask: [...loaded], fixed: out.fixed.length }));
`;

describe('built-in agents: heavy tooling loads on first use', () => {
  it('loading an agent loads no compiler, linter or formatter; a revision task loads them all', async () => {
    const { stdout } = await exec(node, ['--input-type=module', '--eval', script], {
      cwd: root,
      timeout: 60_000,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' },
    });
    const { afterImport, afterTask, fixed } = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      afterImport: string[];
      afterTask: string[];
      fixed: number;
    };
    // The hook saw the import itself: the agents' schemas are built with typebox.
    expect(afterImport).toContain('typebox');
    expect(
      HEAVY.filter((p) => afterImport.includes(p)),
      'loaded by loading feature-dev',
    ).toEqual([]);
    // feature-dev's revision runs ESLint's fixes, the compiler-based fixes and Prettier.
    expect(fixed).toBe(1);
    expect(
      HEAVY.filter((p) => !afterTask.includes(p)),
      'not loaded by a feature-dev revision',
    ).toEqual([]);
  });
});
