import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';
import { poll } from './poll.ts';

const bin = fileURLToPath(new URL('../../bin/agentic-mesh.ts', import.meta.url));

export interface PlatformProcess {
  child: ChildProcess;
  /** Everything the process printed to stdout so far. */
  stdout: () => string;
  stderr: () => string;
  /** Where each service said it listens: { orchestrator: url, 'agent cicd': url, ... }. */
  urls: Record<string, string>;
}

/**
 * Runs `agentic-mesh <args>` as a child process (the same Node that runs the tests) and waits until
 * it has printed `expect` listening lines. Killed after the test if still alive.
 */
export async function startProcess(
  args: string[],
  env: Record<string, string>,
  expect: number,
  timeoutMs = 30_000,
): Promise<PlatformProcess> {
  const child = spawn(process.execPath, [bin, ...args], {
    // No RATE_LIMIT_MAX: with auth off, as a newcomer runs it, there is no limit to work around.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const urls: Record<string, string> = {};
  await poll(
    () => {
      if (child.exitCode !== null) throw new Error(`agentic-mesh ${args.join(' ')} exited ${child.exitCode}: ${err || out}`);
      for (const m of out.matchAll(/^agentic-mesh: (.+?) listening on (http:\/\/\S+)/gm)) urls[m[1]!] = m[2]!;
      return Object.keys(urls).length >= expect;
    },
    { timeoutMs, label: `agentic-mesh ${args.join(' ')} to listen`, intervalMs: 50 },
  );
  return { child, stdout: () => out, stderr: () => err, urls };
}

export async function runCli(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}
