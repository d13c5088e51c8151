// npm run bench:start: how fast and how small `npm start` comes up, fresh (no data directory) and
// warm (the data directory of an earlier start), and how much it holds after a run of workflows.
// Each run starts `npm start` as a newcomer would, on free ports (PORT=0) and a data directory of
// its own. Prints its figures; asserts nothing.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { drive, percentile, type RunResult } from './load.ts';

const env = process.env;
const runs = Number(env.BENCH_START_RUNS ?? 5);
const workflows = Number(env.BENCH_START_WORKFLOWS ?? 500);
const concurrency = Number(env.BENCH_START_CONCURRENCY ?? 10);
const toolingWorkflows = Number(env.BENCH_START_TOOLING_WORKFLOWS ?? 50);
const root = fileURLToPath(new URL('../../', import.meta.url));

interface Memory {
  rssMiB: number;
  peakMiB: number;
}

interface Start {
  healthMs: number;
  readyMs: number;
  /** What the process says its own start took, per phase. */
  phases: string;
  afterStart: Memory;
}

/** The node process under `npm start` (npm, then sh, then node): the deepest descendant of `pid`. */
async function platformPid(pid: number): Promise<number> {
  const parents = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // The command name is in parentheses and may hold spaces; the parent pid is the second field after it.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid) parents.set(Number(entry), ppid);
  }
  let deepest = pid;
  for (let changed = true; changed;) {
    changed = false;
    for (const [child, parent] of parents) {
      if (parent === deepest) {
        deepest = child;
        changed = true;
        break;
      }
    }
  }
  return deepest;
}

async function memoryOf(pid: number): Promise<Memory> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
  return { rssMiB: kb('VmRSS') / 1024, peakMiB: kb('VmHWM') / 1024 };
}

async function until<T>(what: string, limitMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${what}: nothing after ${limitMs} ms`);
}

async function answers(url: string): Promise<true | undefined> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return res.ok ? true : undefined;
}

class Platform {
  private out = '';
  readonly child: ChildProcess;
  readonly started = performance.now();

  constructor(dataDir: string) {
    this.child = spawn('npm', ['start', '--silent'], {
      cwd: root,
      env: { ...env, PGLITE_DATA_DIR: dataDir, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
  }

  orchestratorUrl(): string | undefined {
    // Its port opens first ("starting on"), the rest of the API once it is up ("listening on").
    return /orchestrator (?:starting|listening) on (http:\/\/[\d.:]+)/.exec(this.out)?.[1];
  }

  phases(): string {
    return /agentic-mesh: up in .*/.exec(this.out)?.[0].replace('agentic-mesh: ', '') ?? '(the process printed no timings)';
  }

  async start(): Promise<Start & { url: string }> {
    try {
      return await this.whenUp();
    } catch (err) {
      throw new Error(`${(err as Error).message}; what npm start printed:\n${this.out}`, { cause: err });
    }
  }

  private async whenUp(): Promise<Start & { url: string }> {
    const url = await until('orchestrator announced', 60_000, async () => {
      if (this.child.exitCode !== null) throw new Error(`npm start exited ${this.child.exitCode}:\n${this.out}`);
      return this.orchestratorUrl();
    });
    await until('GET /health', 60_000, () => answers(`${url}/health`));
    const healthMs = performance.now() - this.started;
    await until('GET /ready', 60_000, () => answers(`${url}/ready`));
    const readyMs = performance.now() - this.started;
    // What it holds once started and settled: background work (indexing) has had its second.
    await new Promise((r) => setTimeout(r, 1000));
    const afterStart = await memoryOf(await platformPid(this.child.pid!));
    return { url, healthMs, readyMs, phases: this.phases(), afterStart };
  }

  async memory(): Promise<Memory> {
    return memoryOf(await platformPid(this.child.pid!));
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    process.kill(-this.child.pid!, 'SIGTERM');
    await exited;
  }
}

/**
 * Workflows that run through the engine, the database and an agent without the agents' tooling:
 * the infrastructure agent writes and checks a compose file. (The design documents' load test,
 * "Test workflow N", is refused by the planner with a 422 since it names no work an agent can do.)
 */
const loadTest = (n: number) => ({ description: `deploy redis for tenant ${n}`, wait: true });

/** Work that loads the agents' compiler and linter: a review and API docs of a small file, a different one each time. */
const reviewAndDocs = (n: number) => ({
  description: 'review the code and write api docs',
  input: {
    files: [{ path: `src/f${n}.ts`, content: `/** Adds ${n}. */\nexport function add${n}(x: number): number {\n  return x + ${n};\n}\n` }],
  },
  wait: true,
});

async function runWorkflows(
  url: string,
  count: number,
  request: (n: number) => object,
): Promise<RunResult & { statuses: Record<string, number> }> {
  const client = new Pool(url, { connections: concurrency });
  const statuses: Record<string, number> = {};
  let n = 0;
  try {
    const result = await drive(count, concurrency, async () => {
      const res = await client.request({
        method: 'POST',
        path: '/orchestrate',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(request(++n)),
      });
      const body = (await res.body.json()) as { status?: string };
      const key = `${res.statusCode} ${body.status ?? ''}`.trim();
      statuses[key] = (statuses[key] ?? 0) + 1;
      return res.statusCode < 300 && (body.status === 'succeeded' || body.status === 'failed');
    });
    return { ...result, statuses };
  } finally {
    await client.close();
  }
}

const median = (xs: number[]): number =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );
const ms = (x: number) => `${x.toFixed(0)} ms`;
const mib = (x: number) => `${x.toFixed(0)} MiB`;

const scratch = await mkdtemp(path.join(tmpdir(), 'mesh-bench-start-'));
process.stdout.write(
  `machine: ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version}; ${runs} runs of \`npm start\` with an empty data directory, each followed by a start on the data directory it left\n`,
);
const fresh: Start[] = [];
const warm: Start[] = [];
try {
  for (let i = 0; i < runs; i++) {
    const dataDir = path.join(scratch, `run-${i}`, 'pg');
    for (const [label, list] of [
      ['fresh', fresh],
      ['warm ', warm],
    ] as const) {
      const platform = new Platform(dataDir);
      try {
        const s = await platform.start();
        list.push(s);
        process.stdout.write(
          `  run ${i + 1} ${label}: /health ${ms(s.healthMs)}, /ready ${ms(s.readyMs)}; after start RSS ${mib(s.afterStart.rssMiB)}, peak ${mib(s.afterStart.peakMiB)}; ${s.phases}\n`,
        );
        if (label === 'warm ' && i === runs - 1) {
          for (const [count, what, body] of [
            [workflows, `deploying redis ("deploy redis for tenant N", wait: true)`, loadTest],
            [toolingWorkflows, 'reviewing and documenting a small file (the compiler and ESLint load)', reviewAndDocs],
          ] as const) {
            if (count === 0) continue;
            const r = await runWorkflows(s.url, count, body);
            const after = await platform.memory();
            process.stdout.write(
              `  then ${r.n} workflows ${what} at concurrency ${r.c}: ${r.perSecond.toFixed(0)} workflows/s, p50 ${ms(r.p50)}, p95 ${ms(r.p95)}; answers ${JSON.stringify(r.statuses)}${r.failed ? `, ${r.failed} not answered` : ''}\n`,
            );
            process.stdout.write(`    after them: RSS ${mib(after.rssMiB)}, peak ${mib(after.peakMiB)}\n`);
          }
        }
      } finally {
        await platform.stop();
      }
    }
  }
} finally {
  await rm(scratch, { recursive: true, force: true });
}

const line = (label: string, xs: Start[], healthAim: number) => {
  const h = median(xs.map((s) => s.healthMs));
  const rss = median(xs.map((s) => s.afterStart.rssMiB));
  const peak = median(xs.map((s) => s.afterStart.peakMiB));
  process.stdout.write(
    `  ${label}: /health in ${ms(h)} (aim < ${healthAim} ms: ${h < healthAim ? 'met' : 'not met'}), /ready in ${ms(median(xs.map((s) => s.readyMs)))}, RSS after start ${mib(rss)} (aim < 250 MiB: ${rss < 250 ? 'met' : 'not met'}), peak ${mib(peak)} (aim < 400 MiB: ${peak < 400 ? 'met' : 'not met'})\n`,
  );
};
process.stdout.write(`medians of ${runs}:\n`);
line('fresh', fresh, 3000);
line('warm ', warm, 2000);
