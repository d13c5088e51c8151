import { Cron } from 'croner';
import { AppError } from '../../errors/index.ts';

/** The ticks of one cron expression in one time zone, as the scheduler walks them. */
export interface Ticker {
  /** The first tick strictly after `after`. */
  next(after: Date): Date | null;
  /** The last tick strictly before `before`. */
  previous(before: Date): Date | null;
}

/** Problems with a cron expression or a time zone, as sentences that name the value; undefined when fine. */
export function cronProblem(cron: string, timezone: string): string | undefined {
  const tz = timezoneProblem(timezone);
  if (tz) return tz;
  try {
    const c = new Cron(cron, { timezone, paused: true, mode: '5-or-6-parts' });
    // An expression that never fires (e.g. February 30th) is as useless as a malformed one.
    if (!c.nextRun()) return `cron "${cron}" never fires`;
    return undefined;
  } catch (err) {
    return `cron "${cron}" is not a valid cron expression: ${(err as Error).message.replace(/^CronPattern: /, '')} (5 fields "min hour day month weekday", or 6 with seconds first)`;
  }
}

export function timezoneProblem(timezone: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return undefined;
  } catch {
    return `timezone "${timezone}" is not a known IANA time zone (e.g. "UTC", "Europe/Paris", "America/New_York")`;
  }
}

// Checking an expression and reading a time zone cost a millisecond or two each: the scheduler
// keeps the tickers of the schedules it handles, so a pass over 100 schedules costs little.
const tickers = new Map<string, Ticker>();
const MAX_TICKERS = 10_000;

/** A checked ticker; a bad expression or zone is a 400 that names it. */
export function ticker(cron: string, timezone: string): Ticker {
  const key = `${timezone} ${cron}`;
  const known = tickers.get(key);
  if (known) return known;
  const problem = cronProblem(cron, timezone);
  if (problem) throw new AppError('VALIDATION_FAILED', problem, { details: { cron, timezone } });
  // UTC as an offset: the same ticks, without a time-zone conversion on every step.
  const zone = timezone === 'UTC' || timezone === 'Etc/UTC' ? { utcOffset: 0 } : { timezone };
  const c = new Cron(cron, { ...zone, paused: true, mode: '5-or-6-parts' });
  const t: Ticker = {
    next: (after) => c.nextRun(after),
    previous: (before) => c.previousRuns(1, before)[0] ?? null,
  };
  if (tickers.size >= MAX_TICKERS) tickers.clear();
  tickers.set(key, t);
  return t;
}
