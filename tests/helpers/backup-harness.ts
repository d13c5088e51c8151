import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { onTestFinished } from 'vitest';
import { testDatabaseUrl } from './db.ts';
import { poll } from './poll.ts';

const run = promisify(execFile);
export const scriptsDir = fileURLToPath(new URL('../../scripts/', import.meta.url));

/** A temp directory of the test's own, removed after it. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `${prefix}-`));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: testDatabaseUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * A whole database of the test's own on the test server (pg_dump and restore work on databases,
 * and a dump of the shared one would race other tests' schemas). Dropped after the test.
 */
export async function createDatabase(prefix = 'bk'): Promise<{ name: string; url: string; recreate(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  onTestFinished(async () => void (await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))));
  const url = new URL(testDatabaseUrl);
  url.pathname = `/${name}`;
  url.search = '';
  return {
    name,
    url: url.toString(),
    // What a lost database server comes back as: the database exists again, empty.
    recreate: () =>
      admin(async (c) => {
        await c.query(`DROP DATABASE ${name} WITH (FORCE)`);
        await c.query(`CREATE DATABASE ${name}`);
      }),
  };
}

export async function query<R extends pg.QueryResultRow = Record<string, any>>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

export interface PrivateRedis {
  /** As REDIS_URL takes it for the scripts. */
  url: string;
  socket: string;
  dataDir: string;
  /** Starts the server again in the background after a restore (what --redis-restart-cmd runs). */
  startCommand: string;
  cli(...args: string[]): Promise<string>;
}

/**
 * A redis-server of the test's own on a unix socket (no TCP port), with AOF on as in Compose, so a
 * restore can stop it and start it again on restored files.
 */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const dir = await tempDir('bk-redis');
  const dataDir = join(dir, 'data');
  await mkdir(dataDir);
  const socket = join(dir, 'redis.sock');
  const args = [
    '--port',
    '0',
    '--unixsocket',
    socket,
    '--unixsocketperm',
    '700',
    '--dir',
    dataDir,
    '--appendonly',
    'yes',
    '--save',
    '3600 1',
  ];
  const child: ChildProcess = spawn('redis-server', args, { stdio: 'ignore' });
  const cli = async (...a: string[]) => (await run('redis-cli', ['-s', socket, ...a])).stdout.trim();
  onTestFinished(async () => {
    // Whichever server runs on the socket now: this child, or one a restore started.
    await run('redis-cli', ['-s', socket, 'shutdown', 'nosave']).catch(() => undefined);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  await poll(async () => (await cli('ping')) === 'PONG', { timeoutMs: 10_000, label: 'private redis-server to answer' });
  const quoted = [...args, '--daemonize', 'yes', '--pidfile', join(dir, 'redis.pid'), '--logfile', join(dir, 'redis.log')]
    .map((a) => `'${a}'`)
    .join(' ');
  return { url: `unix://${socket}`, socket, dataDir, startCommand: `redis-server ${quoted}`, cli };
}

export interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs scripts/<name> with real bash and only the environment given (plus PATH and HOME). */
export async function runScript(name: string, args: string[], env: Record<string, string>): Promise<ScriptResult> {
  const child = spawn('bash', [join(scriptsDir, name), ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}
