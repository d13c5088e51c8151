import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it, onTestFinished } from 'vitest';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../..', import.meta.url));
const mainTs = join(repo, 'terraform', 'main.ts');

it('`node terraform/main.ts --outdir DIR` writes both stacks as Terraform JSON that names no local path', async () => {
  const work = mkdtempSync(join(tmpdir(), `am-synth-${Math.random().toString(36).slice(2, 8)}-`));
  onTestFinished(() => rmSync(work, { recursive: true, force: true }));
  const outdir = join(work, 'out');

  // Run from an unrelated folder: nothing may depend on, or be written to, the cwd.
  const { stdout } = await run(process.execPath, [mainTs, '--outdir', outdir], {
    cwd: work,
    timeout: 60_000,
    env: { PATH: process.env.PATH ?? '', HOME: work },
  });
  expect(stdout).toContain(outdir);
  expect(readdirSync(work)).toEqual(['out']);

  const manifest = JSON.parse(readFileSync(join(outdir, 'manifest.json'), 'utf8')) as {
    stacks: Record<string, { synthesizedStackPath: string }>;
  };
  expect(Object.keys(manifest.stacks).sort()).toEqual(['droplet', 'kubernetes']);

  for (const [stack, resourceType] of [
    ['droplet', 'digitalocean_droplet'],
    ['kubernetes', 'digitalocean_kubernetes_cluster'],
  ] as const) {
    const file = join(outdir, 'stacks', stack, 'cdk.tf.json');
    expect(existsSync(file), `${file} exists`).toBe(true);
    const text = readFileSync(file, 'utf8');
    const json = JSON.parse(text) as { resource: Record<string, unknown>; terraform: { backend: { local: { path: string } } } };
    expect(Object.keys(json.resource)).toContain(resourceType);
    // Synthesized on one machine, applied on another: no absolute path of this one may leak in.
    expect(text).not.toContain(work);
    expect(text).not.toContain(repo);
    expect(json.terraform.backend.local.path).toBe(`../../../state/${stack}.tfstate`);
  }
});
