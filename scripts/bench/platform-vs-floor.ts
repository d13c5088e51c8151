// The diamond through the platform and through the floor, alternately at each concurrency, with
// what each run cost Postgres. Prints; judges against the aim; asserts nothing.
import type pg from 'pg';
import type { Floor } from './floor.ts';
import type { RunResult } from './load.ts';
import { cpuMark, cpuSince, type CpuSpent } from './cpu.ts';
import { mark, settledUpdates, since, type Updates } from './pg-counters.ts';

export interface Level {
  c: number;
  n: number;
}

interface Side {
  run: RunResult;
  xacts: number;
  walBytes: number;
  updates: Updates;
  settled: boolean;
  cpu: CpuSpent;
}

// Postgres 15 holds an idle backend's table counters for 10 s (PGSTAT_IDLE_INTERVAL), and the
// platform's pg pool closes connections idle for 10 s, which reports them: 11 s after the platform's
// last request all of its counters are in. Its pool lives in the child, so waiting is the only way;
// the price is that each measured platform run opens its connections again, as the floor's does.
const platformQuietMs = 11_000;
const platformTables = ['workflows', 'steps', 'workflow_events', 'workflow_decisions'];

const warmUpOf = (l: Level) => Math.min(l.n, Math.max(50, 2 * l.c));

export async function benchPlatformAgainstFloor(o: {
  admin: pg.Client;
  platform: (n: number, c: number) => Promise<RunResult>;
  platformSchema: string;
  floor: Floor;
  /** The platform's processes besides this one; the agents serve the floor too. */
  pids: { orchestrator: number | undefined; agents: number | undefined };
  cores: number;
  levels: Level[];
  /** The concurrencies the aim names for throughput; the first also for p95. */
  aimAt: [number, number];
  print: (line: string) => void;
}): Promise<void> {
  const { admin, floor, print } = o;
  print(
    `diamond A -> (B, C) -> D, the platform (POST /orchestrate {wait: true}) against the floor (a bare loop: the same agent calls, one auto-committed write per step, 6 commits per workflow):`,
  );
  print(
    `  each run after a warm-up; write xacts and WAL are counted cluster-wide, so nothing else may use this Postgres meanwhile; updates are read once Postgres has reported them (~11 s after a platform run)`,
  );
  const results: Array<{ level: Level; platform: Side; floor: Side }> = [];
  for (const level of o.levels) {
    await o.platform(warmUpOf(level), level.c);
    const pBefore = await settledUpdates(admin, o.platformSchema, platformTables, { notBefore: Date.now() + platformQuietMs });
    const pMark = await mark(admin);
    const pCpu = cpuMark(o.pids);
    const pRun = await o.platform(level.n, level.c);
    const pCpuSpent = cpuSince(pCpu, o.cores);
    const pCost = await since(admin, pMark);
    const platformQuietAt = Date.now() + platformQuietMs;

    // The floor writes only its own tables, so it runs while the platform's counters come in.
    await floor.run(warmUpOf(level), level.c);
    const fBefore = await settledUpdates(admin, floor.schema, floor.tables, {
      notBefore: Date.now(),
      applicationName: floor.applicationName,
    });
    const fMark = await mark(admin);
    const fCpu = cpuMark({ agents: o.pids.agents });
    const fRun = await floor.run(level.n, level.c);
    const fCpuSpent = cpuSince(fCpu, o.cores);
    const fCost = await since(admin, fMark);
    const fAfter = await settledUpdates(admin, floor.schema, floor.tables, {
      notBefore: Date.now(),
      applicationName: floor.applicationName,
    });
    const pAfter = await settledUpdates(admin, o.platformSchema, platformTables, { notBefore: platformQuietAt });

    const platform = side(pRun, pCost, pBefore, pAfter, pCpuSpent);
    const floorSide = side(fRun, fCost, fBefore, fAfter, fCpuSpent);
    results.push({ level, platform, floor: floorSide });
    for (const line of describe(level, platform, floorSide)) print(line);
  }
  for (const line of judge(results, o.aimAt)) print(line);
}

const minus = (a: Updates, b: Updates): Updates => ({ upd: a.upd - b.upd, hot: a.hot - b.hot });

function side(
  run: RunResult,
  cost: { xacts: number; walBytes: number },
  before: Updates & { settled: boolean },
  after: Updates & { settled: boolean },
  cpu: CpuSpent,
): Side {
  return { run, ...cost, updates: minus(after, before), settled: before.settled && after.settled, cpu };
}
const ms = (v: number) => v.toFixed(1);
const times = (v: number) => `${v.toFixed(2)}x`;

function latency(r: RunResult): string {
  return `${r.perSecond.toFixed(0).padStart(4)} wf/s, p50 ${ms(r.p50)} p95 ${ms(r.p95)} p99 ${ms(r.p99)} ms${r.failed ? `, ${r.failed} FAILED` : ''}`;
}

function hot(s: Side): string {
  const perWf = (v: number) => (v / s.run.n).toFixed(1);
  const share = s.updates.upd > 0 ? `${((100 * s.updates.hot) / s.updates.upd).toFixed(0)}%` : 'n/a';
  return `${share} (${perWf(s.updates.hot)} of ${perWf(s.updates.upd)})${s.settled ? '' : ' (counters still moving, incomplete)'}`;
}

// The driver is the HTTP client on the platform's side and the loop itself on the floor's.
function cpu(s: Side): string {
  const perWf = (v: number | undefined) => (v === undefined ? 'n/a' : (v / s.run.n).toFixed(2));
  const parts = Object.entries(s.cpu.ms);
  const known = parts.every(([, v]) => v !== undefined);
  const total = known ? parts.reduce((a, [, v]) => a + v!, 0) : undefined;
  return `${perWf(total)} ms (${parts.map(([name, v]) => `${name} ${perWf(v)}`).join(', ')})`;
}

const busy = (s: Side) => (s.cpu.coresBusy === undefined ? 'n/a' : s.cpu.coresBusy.toFixed(2));

function describe(level: Level, p: Side, f: Side): string[] {
  const head = `  concurrency ${level.c} (${level.n} workflows): `.padEnd(37);
  const walKb = (s: Side) => `${(s.walBytes / s.run.n / 1024).toFixed(1)} KB`;
  const walRatio = p.walBytes / p.run.n / (f.walBytes / f.run.n);
  return [
    `${head}platform ${latency(p.run)} | floor ${latency(f.run)} | platform/floor ${times(p.run.perSecond / f.run.perSecond)} wf/s, ${times(p.run.p95 / f.run.p95)} p95`,
    `${' '.repeat(head.length)}per workflow, platform vs floor: write xacts ${(p.xacts / p.run.n).toFixed(1)} vs ${(f.xacts / f.run.n).toFixed(1)}, WAL ${walKb(p)} vs ${walKb(f)} (${times(walRatio)}), HOT updates ${hot(p)} vs ${hot(f)}`,
    `${' '.repeat(head.length)}CPU per workflow, platform vs floor: ${cpu(p)} vs ${cpu(f)}; cores busy ${busy(p)} vs ${busy(f)}`,
  ];
}

function judge(results: Array<{ level: Level; platform: Side; floor: Side }>, aimAt: [number, number]): string[] {
  const at = (c: number) => results.find((r) => r.level.c === c);
  const verdict = (ok: boolean) => (ok ? 'met' : 'not met');
  const lines = [
    `  the aim: platform >= 1.0x the floor's workflows/s at concurrency ${aimAt[0]} and ${aimAt[1]}, p95 at ${aimAt[0]} <= 1.2x the floor's, WAL per workflow <= 2x the floor's:`,
  ];
  for (const c of aimAt) {
    const r = at(c);
    const x = r ? r.platform.run.perSecond / r.floor.run.perSecond : NaN;
    lines.push(`    workflows/s at concurrency ${c}: ${times(x)}, ${verdict(x >= 1)}`);
  }
  const low = at(aimAt[0]);
  const p95 = low ? low.platform.run.p95 / low.floor.run.p95 : NaN;
  lines.push(`    p95 at concurrency ${aimAt[0]}: ${times(p95)}, ${verdict(p95 <= 1.2)}`);
  const wal = results.map((r) => r.platform.walBytes / r.platform.run.n / (r.floor.walBytes / r.floor.run.n));
  lines.push(
    `    WAL per workflow: ${wal.map(times).join(', ')} at concurrency ${results.map((r) => r.level.c).join(', ')}, ${verdict(wal.every((w) => w <= 2))}`,
  );
  return lines;
}
