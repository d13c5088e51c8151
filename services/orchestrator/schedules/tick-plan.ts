import type { Ticker } from './cron.ts';

export type Overlap = 'skip' | 'queue' | 'allow';
export type CatchUp = 'none' | 'latest' | 'all';
export const overlaps: readonly Overlap[] = ['skip', 'queue', 'allow'];
export const catchUps: readonly CatchUp[] = ['none', 'latest', 'all'];

/** Most ticks one pass looks at: a long outage of an every-second schedule is judged in slices. */
export const MAX_TICKS_PER_PASS = 1000;

export interface TickState {
  nextRunAt: Date;
  /** overlap 'queue': nextRunAt is a tick that waits for the previous run to finish. */
  held: boolean;
  overlap: Overlap;
  catchUp: CatchUp;
}

export interface TickPlan {
  /** Ticks to start now, oldest first. */
  start: Date[];
  /** Ticks not started because a run was still going (overlap skip, or queue's one slot taken). */
  skipped: Date[];
  /** Ticks older than the misfire window that catch_up dropped. */
  missed: number;
  /** The tick that waits for the previous run (overlap queue), if any. */
  hold: Date | null;
  /** The next tick to handle (the held one, or the first after everything judged here). */
  nextRunAt: Date | null;
}

/**
 * Decides what happens to a schedule's due ticks. A tick up to `misfireMs` late is simply late
 * (a replica died holding it, the machine was busy) and runs; an older one was missed (nothing was
 * running) and `catch_up` decides. Then `overlap` decides for each tick to run, knowing that a tick
 * started here makes a run that is still going for the next one.
 */
export function planTicks(s: TickState, cron: Ticker, now: Date, misfireMs: number, previousActive: boolean): TickPlan {
  if (s.nextRunAt > now) return { start: [], skipped: [], missed: 0, hold: null, nextRunAt: s.nextRunAt };
  if (s.held) {
    if (previousActive) return { start: [], skipped: [], missed: 0, hold: s.nextRunAt, nextRunAt: s.nextRunAt };
    // The queue holds one tick: those that came due while it waited are skipped, not piled up.
    const passed = collect(cron, cron.next(s.nextRunAt), now);
    return { start: [s.nextRunAt], skipped: passed.ticks, missed: 0, hold: null, nextRunAt: cron.next(now) };
  }
  // The last instant a tick can have and still count as missed (more than misfireMs late).
  const cutoff = new Date(now.getTime() - misfireMs - 1);
  const late = collect(cron, s.nextRunAt, cutoff);
  let kept: Date[];
  let resumeAt: Date | null;
  if (late.more && s.catchUp === 'all') {
    // Fire this slice now and judge the rest on the next pass.
    kept = late.ticks;
    resumeAt = late.after;
  } else {
    const latest = late.more ? cron.previous(new Date(cutoff.getTime() + 1)) : late.ticks.at(-1);
    kept = s.catchUp === 'all' ? late.ticks : s.catchUp === 'latest' && latest ? [latest] : [];
    const current = collect(cron, late.more ? cron.next(cutoff) : late.after, now);
    kept = [...kept, ...current.ticks];
    resumeAt = current.after;
  }
  const lateCount = late.ticks.length + (late.more && s.catchUp !== 'all' ? 1 : 0);
  const plan: TickPlan = {
    start: [],
    skipped: [],
    missed: lateCount - kept.filter((t) => t <= cutoff).length,
    hold: null,
    nextRunAt: resumeAt,
  };
  let active = previousActive;
  for (const tick of kept) {
    if (plan.hold) plan.skipped.push(tick);
    else if (!active || s.overlap === 'allow') {
      plan.start.push(tick);
      active = true;
    } else if (s.overlap === 'skip') plan.skipped.push(tick);
    else plan.hold = tick;
  }
  if (plan.hold) plan.nextRunAt = plan.hold;
  return plan;
}

/** Ticks from `from` (inclusive) up to `until`, at most MAX_TICKS_PER_PASS; `after` is the first one not taken. */
function collect(cron: Ticker, from: Date | null, until: Date): { ticks: Date[]; more: boolean; after: Date | null } {
  const ticks: Date[] = [];
  let t = from;
  while (t && t <= until && ticks.length < MAX_TICKS_PER_PASS) {
    ticks.push(t);
    t = cron.next(t);
  }
  return { ticks, more: Boolean(t && t <= until), after: t };
}
