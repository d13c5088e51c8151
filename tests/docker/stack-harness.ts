// The Compose stack of compose/docker-compose.yml under the machine's real Docker engine, for
// tests/docker/stack.test.ts: its .env, docker-compose with the test's override, waits for health
// with the failing container's logs, HTTPS through Caddy trusting its internal CA, and crashes.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Agent, type Response } from 'undici';
import { caddyFetch, caddyJson, type CaddyRequest, DOMAIN } from './caddy-https.ts';
import { poll } from '../helpers/poll.ts';

const run = promisify(execFile);
export const repo = resolve(import.meta.dirname, '../..');
/** The compose network's gateway: the host as the stack's containers reach it (the fixed subnet). */
export const GATEWAY = '172.30.240.1';

/** The images `up` needs; they come from scripts/dev/local-images.sh, as nothing can be pulled. */
export const STANDIN_IMAGES = [
  'agentic-mesh-standin/node:24',
  'postgres:16-alpine',
  'redis:7.4-alpine',
  'hashicorp/consul:1.21',
  'caddy:2.10-alpine',
  'prom/prometheus:v3.5.0',
  'prom/alertmanager:v0.28.1',
];

/** The services the test runs: profile core, plus Prometheus and Alertmanager from observability. */
export const APP_SERVICES = [
  'orchestrator',
  'knowledge',
  'mcp-gateway',
  'feature-dev',
  'code-review',
  'infrastructure',
  'cicd',
  'documentation',
];
export const SERVICES = ['postgres', 'redis', 'consul', ...APP_SERVICES, 'caddy', 'alertmanager', 'prometheus'];

/** Fails (never skips) when the engine or an image is missing, saying what to run. */
export async function requireEngineAndImages(): Promise<void> {
  try {
    await run('docker', ['version', '--format', '{{.Server.Version}}'], { timeout: 30_000 });
  } catch (err) {
    throw new Error(`no Docker engine answers (${(err as Error).message.trim()}); start dockerd, e.g. through scripts/dev/test.sh`, {
      cause: err,
    });
  }
  const missing: string[] = [];
  for (const image of STANDIN_IMAGES) {
    await run('docker', ['image', 'inspect', image], { timeout: 30_000 }).catch(() => missing.push(image));
  }
  if (missing.length > 0) throw new Error(`images missing: ${missing.join(', ')}; build them with scripts/dev/local-images.sh`);
}

/**
 * What an earlier run killed before its afterAll left behind: its containers, network (which holds
 * the fixed subnet, so a second one cannot be made) and volumes (fixed names). Only this test's
 * projects, by their name's prefix.
 */
export async function removeStaleStacks(): Promise<void> {
  const { stdout } = await run('docker', [
    'ps',
    '-a',
    '--filter',
    'label=com.docker.compose.project',
    '--format',
    '{{.Label "com.docker.compose.project"}}',
  ]);
  const { stdout: nets } = await run('docker', [
    'network',
    'ls',
    '--filter',
    'label=com.docker.compose.project',
    '--format',
    '{{.Label "com.docker.compose.project"}}',
  ]);
  const projects = new Set(`${stdout}\n${nets}`.split('\n').filter((p) => p.startsWith(PROJECT_PREFIX)));
  for (const project of projects) {
    for (const kind of ['container', 'network', 'volume'] as const) {
      const ls = kind === 'container' ? ['ps', '-a', '-q'] : [kind, 'ls', '-q'];
      const { stdout: ids } = await run('docker', [...ls, '--filter', `label=com.docker.compose.project=${project}`]);
      const list = ids.split('\n').filter(Boolean);
      if (list.length > 0) await run('docker', [kind === 'container' ? 'rm' : kind, ...(kind === 'container' ? ['-f'] : ['rm']), ...list]);
    }
  }
}

const PROJECT_PREFIX = 'amstack';

export interface StackEnv {
  POSTGRES_PASSWORD: string;
  REDIS_PASSWORD: string;
  ADMIN_API_KEY: string;
  INTERNAL_TOKEN: string;
  [name: string]: string;
}

export class Stack {
  readonly project = `${PROJECT_PREFIX}${randomBytes(3).toString('hex')}`;
  dir = '';
  env: StackEnv = {
    POSTGRES_PASSWORD: randomBytes(24).toString('hex'),
    REDIS_PASSWORD: randomBytes(24).toString('hex'),
    ADMIN_API_KEY: randomBytes(24).toString('hex'),
    INTERNAL_TOKEN: randomBytes(24).toString('hex'),
    GRAFANA_ADMIN_PASSWORD: randomBytes(24).toString('hex'),
    DOMAIN,
    NODE_IMAGE: 'agentic-mesh-standin/node:24',
    // Every container name, label and network the test makes carries the project's name.
    COMPOSE_PROJECT_NAME: '',
  };
  private dispatcher: Agent | undefined;

  async init(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'agentic-mesh-stack-'));
    this.env.COMPOSE_PROJECT_NAME = this.project;
    await this.writeEnv();
  }

  /** Rewrites the .env; compose reads it again on every call. */
  async writeEnv(extra: Record<string, string> = {}): Promise<void> {
    Object.assign(this.env, extra);
    const text = Object.entries(this.env)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n');
    await writeFile(join(this.dir, '.env'), `${text}\n`, { mode: 0o600 });
  }

  async compose(args: string[], timeoutMs = 10 * 60_000): Promise<string> {
    const argv = [
      '-p',
      this.project,
      '--env-file',
      join(this.dir, '.env'),
      '-f',
      join(repo, 'compose/docker-compose.yml'),
      '-f',
      join(repo, 'tests/docker/stack.override.yml'),
      '--profile',
      'core',
      ...args,
    ];
    try {
      // The legacy builder: BuildKit would want to pull its frontend and base images.
      const { stdout } = await run('docker-compose', argv, {
        cwd: repo,
        timeout: timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, DOCKER_BUILDKIT: '0', COMPOSE_DOCKER_CLI_BUILD: '0' },
      });
      return stdout;
    } catch (err) {
      const e = err as Error & { stdout?: string; stderr?: string };
      throw new Error(`docker-compose ${args.join(' ')} failed: ${e.message}\n${e.stderr ?? ''}`.slice(0, 8000), { cause: err });
    }
  }

  async up(services: string[] = SERVICES): Promise<void> {
    await this.compose(['up', '-d', ...services]);
  }

  async containerId(service: string): Promise<string> {
    const id = (await this.compose(['ps', '-q', service])).trim();
    if (!id) throw new Error(`no container for ${service}`);
    return id;
  }

  /** Bounded; fails naming each container that is not healthy, with its last log lines. */
  async waitHealthy(services: string[] = SERVICES, timeoutMs = 4 * 60_000): Promise<void> {
    let states: Record<string, string> = {};
    try {
      await poll(
        async () => {
          states = {};
          for (const s of services) states[s] = await this.health(s).catch((err: unknown) => `absent (${(err as Error).message})`);
          return Object.values(states).every((h) => h === 'healthy');
        },
        { timeoutMs, label: 'every container healthy', intervalMs: 1000 },
      );
    } catch {
      const sick = Object.entries(states).filter(([, h]) => h !== 'healthy');
      const reports = await Promise.all(
        sick.map(async ([s, h]) => `--- ${s}: ${h}\n${await this.logs(s, { tail: 40 }).catch((err: unknown) => String(err))}`),
      );
      throw new Error(`containers not healthy after ${timeoutMs / 1000} s:\n${reports.join('\n')}`);
    }
  }

  async health(service: string): Promise<string> {
    const id = await this.containerId(service);
    const { stdout } = await run('docker', [
      'inspect',
      '--format',
      '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}',
      id,
    ]);
    const [status, health] = stdout.trim().split(' ');
    return status === 'running' ? (health ?? 'no healthcheck') : (status ?? 'unknown');
  }

  async logs(service: string, opts: { tail?: number; until?: string } = {}): Promise<string> {
    const id = await this.containerId(service);
    const args = [...(opts.tail ? ['--tail', String(opts.tail)] : []), ...(opts.until ? ['--until', opts.until] : [])];
    const { stdout, stderr } = await run('docker', ['logs', ...args, id], {
      maxBuffer: 256 * 1024 * 1024,
    });
    return stdout + stderr;
  }

  /** When the container's current process started (RFC 3339): its earlier runs logged before it. */
  async startedAt(service: string): Promise<string> {
    const { stdout } = await run('docker', ['inspect', '--format', '{{.State.StartedAt}}', await this.containerId(service)]);
    return stdout.trim();
  }

  async restartCount(service: string): Promise<number> {
    const { stdout } = await run('docker', ['inspect', '--format', '{{.RestartCount}}', await this.containerId(service)]);
    return Number(stdout.trim());
  }

  /**
   * A crash, the way the kernel's OOM killer or a fatal error ends a container: SIGKILL to the
   * container's first process from the host. Not `docker kill`: the engine records that as a stop
   * by the user, and the restart policy (unless-stopped) then leaves the container down.
   */
  async crash(service: string): Promise<void> {
    const id = await this.containerId(service);
    const { stdout } = await run('docker', ['inspect', '--format', '{{.State.Pid}}', id]);
    const pid = Number(stdout.trim());
    if (!(pid > 1)) throw new Error(`${service} has no running process (pid ${stdout.trim()})`);
    process.kill(pid, 'SIGKILL');
  }

  /** Caddy's local root certificate, which signs DOMAIN's certificate (Caddy's internal CA). */
  async trustCaddy(): Promise<void> {
    const ca = await poll(
      async () => (await this.compose(['exec', '-T', 'caddy', 'cat', '/data/caddy/pki/authorities/local/root.crt'])).trim(),
      {
        timeoutMs: 60_000,
        label: "Caddy's root certificate",
        intervalMs: 1000,
      },
    );
    await this.dispatcher?.close();
    // DOMAIN is reached on 127.0.0.1:443, the port compose publishes, with DOMAIN as the SNI name.
    this.dispatcher = new Agent({
      connect: {
        ca,
        servername: DOMAIN,
        lookup: (_host, _opts, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }]),
      },
    });
  }

  https(path: string, init: CaddyRequest = {}): Promise<Response> {
    if (!this.dispatcher) throw new Error('trustCaddy() first');
    return caddyFetch(this.dispatcher, path, init);
  }

  json<T = Record<string, unknown>>(path: string, init: CaddyRequest = {}): Promise<{ status: number; body: T }> {
    if (!this.dispatcher) throw new Error('trustCaddy() first');
    return caddyJson<T>(this.dispatcher, path, init);
  }

  async destroy(): Promise<void> {
    await this.dispatcher?.close();
    // Everything the project made, volumes included, whichever profile it came from.
    await this.compose([
      '--profile',
      'observability',
      '--profile',
      'backup',
      '--profile',
      'restore',
      'down',
      '-v',
      '--remove-orphans',
      '-t',
      '5',
    ]).catch((err: unknown) => console.error(String(err)));
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}

export interface SseEvent {
  id: string;
  event: string;
  data: Record<string, unknown>;
}

/** Follows GET /tasks/:id/events until the workflow ends; the stream replays history first. */
export async function followEvents(stack: Stack, taskId: string, key: string, timeoutMs = 300_000): Promise<SseEvent[]> {
  const res = await stack.https(`/tasks/${taskId}/events`, {
    key,
    signal: AbortSignal.timeout(timeoutMs),
    headers: { accept: 'text/event-stream' },
  });
  if (res.status !== 200 || !res.body) throw new Error(`events of ${taskId}: HTTP ${res.status}`);
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk as Uint8Array, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields: Record<string, string> = {};
      for (const line of block.split('\n')) {
        const m = /^(\w+): ?(.*)$/.exec(line);
        if (m) fields[m[1]!] = (fields[m[1]!] ? `${fields[m[1]!]}\n` : '') + m[2]!;
      }
      if (!fields.event || !fields.data) continue;
      events.push({ id: fields.id ?? '', event: fields.event, data: JSON.parse(fields.data) as Record<string, unknown> });
      if (/^workflow_(succeeded|failed|cancelled)$/.test(fields.event)) return events;
    }
  }
  return events;
}

/** Every idempotency key an agent container started a handler for, from its own log lines. */
export function handlerStarts(log: string): string[] {
  return log
    .split('\n')
    .filter((l) => l.includes('"handler_started"'))
    .map((l) => (JSON.parse(l) as { idempotencyKey: string }).idempotencyKey);
}
