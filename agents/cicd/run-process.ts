import { spawn } from 'node:child_process';
import { declarationRoot, tscEntryPath } from '../../services/tooling/index.ts';

// Processes run the node binary this agent runs on, with argv arrays and no shell, under Node's
// permission model: they may read and write the workspace only (tsc may also read the installed
// declaration files), and may not spawn processes or workers. Checked code can still reach the
// network; this is a guard against accidents and casual abuse, not a sandbox for hostile code.
function permissionFlags(workspace: string, readOnly: readonly string[]): string[] {
  return [
    '--permission',
    `--allow-fs-read=${workspace}`,
    ...readOnly.map((dir) => `--allow-fs-read=${dir}`),
    `--allow-fs-write=${workspace}`,
  ];
}

/** The only commands this agent runs: argv prefixes, built from the workspace folder. */
const ALLOWED_COMMANDS = {
  tsc: (workspace: string): string[] => [...permissionFlags(workspace, [declarationRoot]), '--max-old-space-size=1024', tscEntryPath],
  // One process for all test files: isolation per file would need --allow-child-process.
  'node-test': (workspace: string): string[] => [
    ...permissionFlags(workspace, []),
    '--max-old-space-size=512',
    '--test',
    '--test-isolation=none',
    '--test-force-exit',
    '--test-reporter=spec',
  ],
} as const;

export type AllowedCommand = keyof typeof ALLOWED_COMMANDS;

export interface RunOptions {
  cwd: string;
  timeoutMs: number;
  signal: AbortSignal;
  /** Bytes of combined stdout and stderr kept, from the end. */
  maxOutputBytes: number;
}

export interface RunResult {
  exitCode: number | null;
  timedOut: boolean;
  aborted: boolean;
  durationMs: number;
  outputTail: string;
  spawnError?: string;
}

/** Keeps the last `max` bytes written to it without holding the rest. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  private dropped = 0;
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.chunks.length > 1 && this.size - this.chunks[0].length >= this.max) {
      const first = this.chunks.shift()!;
      this.size -= first.length;
      this.dropped += first.length;
    }
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    let start = Math.max(0, all.length - this.max);
    // Do not begin in the middle of a multi-byte UTF-8 character.
    while (start < all.length && (all[start] & 0xc0) === 0x80) start += 1;
    const omitted = this.dropped + start;
    return `${omitted > 0 ? `[... ${omitted} bytes omitted]\n` : ''}${all.subarray(start).toString('utf8')}`;
  }
}

/**
 * Runs an allow-listed command to completion, killing its whole process group when the time
 * limit passes or `signal` aborts. Never rejects: failures to start are reported in the result.
 */
export function runAllowed(command: AllowedCommand, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const started = performance.now();
  const argv = [...ALLOWED_COMMANDS[command](options.cwd), ...args];
  const tail = new TailBuffer(options.maxOutputBytes);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, argv, {
      cwd: options.cwd,
      shell: false,
      // Its own process group, so a kill also reaches anything it started.
      detached: process.platform !== 'win32',
      windowsHide: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      // The agent's environment may hold credentials; the checked code gets none of it.
      env: { NODE_ENV: 'test', HOME: options.cwd, TMPDIR: options.cwd, NO_COLOR: '1', FORCE_COLOR: '0' },
    });
    let timedOut = false;
    let aborted = false;
    let spawnError: string | undefined;
    const kill = (): void => {
      try {
        if (child.pid !== undefined && process.platform !== 'win32') process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, options.timeoutMs);
    const onAbort = (): void => {
      aborted = true;
      kill();
    };
    options.signal.addEventListener('abort', onAbort, { once: true });
    if (options.signal.aborted) onAbort();
    child.stdout.on('data', (chunk: Buffer) => tail.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => tail.push(chunk));
    let settled = false;
    const finish = (code: number | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
      resolve({
        exitCode: code,
        timedOut,
        aborted,
        durationMs: Math.round(performance.now() - started),
        outputTail: tail.text(),
        ...(spawnError ? { spawnError } : {}),
      });
    };
    // 'close' may not follow a failed spawn, so an error settles the run too.
    child.on('error', (err) => {
      spawnError = err.message;
      if (child.pid === undefined) finish(null);
    });
    child.on('close', (code) => finish(code));
  });
}
