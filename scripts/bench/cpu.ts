// CPU time of the processes a run uses, read from /proc around it, so the bench can say where a
// workflow's CPU went on each side (on two cores the sum is what bounds throughput). Linux only:
// elsewhere every figure is undefined and the bench prints n/a.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface CpuMark {
  pids: Record<string, number | undefined>;
  /** CPU ms of each named process (user + system). */
  processes: Record<string, number | undefined>;
  /** Every postgres process, with the time of backends that exited since (the postmaster's children's time). */
  postgres: number | undefined;
  driverMs: number;
  machine: { busy: number; total: number } | undefined;
}

let ticksPerSecond: number | undefined;
function msPerTick(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return 1000 / ticksPerSecond;
}

interface Stat {
  comm: string;
  ppid: number;
  own: number;
  children: number;
}

// Fields after the command name, which is in parentheses and may itself hold spaces.
function stat(pid: number): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const f = text.slice(close + 2).split(' ');
    const tick = msPerTick();
    return {
      comm: text.slice(text.indexOf('(') + 1, close),
      ppid: Number(f[1]),
      own: (Number(f[11]) + Number(f[12])) * tick,
      children: (Number(f[13]) + Number(f[14])) * tick,
    };
  } catch {
    return undefined;
  }
}

function postgresMs(): number | undefined {
  let pids: number[];
  try {
    pids = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number);
  } catch {
    return undefined;
  }
  const stats = pids.map((pid) => ({ pid, s: stat(pid) })).filter((p) => p.s?.comm === 'postgres');
  if (stats.length === 0) return undefined;
  const ids = new Set(stats.map((p) => p.pid));
  let total = 0;
  for (const { s } of stats) total += s!.own + (ids.has(s!.ppid) ? 0 : s!.children);
  return total;
}

function machine(): CpuMark['machine'] {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = cpu.reduce((a, b) => a + b, 0);
    return { busy: total - cpu[3] - (cpu[4] ?? 0), total };
  } catch {
    return undefined;
  }
}

export interface CpuSpent {
  /** CPU ms over the run of each named process, the driver (this process) and all of Postgres. */
  ms: Record<string, number | undefined>;
  /** Cores busy on average over the run (the whole machine, whatever ran). */
  coresBusy: number | undefined;
}

/** Marks the CPU time of the named processes (by pid), the driver and Postgres, and what the machine did. */
export function cpuMark(pids: Record<string, number | undefined>): CpuMark {
  const usage = process.cpuUsage();
  return {
    pids,
    processes: Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, pid ? stat(pid)?.own : undefined])),
    postgres: postgresMs(),
    driverMs: (usage.user + usage.system) / 1000,
    machine: machine(),
  };
}

export function cpuSince(from: CpuMark, cores: number): CpuSpent {
  const to = cpuMark(from.pids);
  const diff = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined ? b - a : undefined);
  const ms: Record<string, number | undefined> = {};
  for (const name of Object.keys(from.pids)) ms[name] = diff(from.processes[name], to.processes[name]);
  ms.driver = to.driverMs - from.driverMs;
  ms.postgres = diff(from.postgres, to.postgres);
  const coresBusy =
    from.machine && to.machine && to.machine.total > from.machine.total
      ? (cores * (to.machine.busy - from.machine.busy)) / (to.machine.total - from.machine.total)
      : undefined;
  return { ms, coresBusy };
}
