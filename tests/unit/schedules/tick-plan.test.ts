import { describe, expect, it } from 'vitest';
import { cronProblem, ticker } from '../../../services/orchestrator/schedules/cron.ts';
import { MAX_TICKS_PER_PASS, planTicks, type TickState } from '../../../services/orchestrator/schedules/tick-plan.ts';

const everySecond = ticker('* * * * * *', 'UTC');
const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
const state = (over: Partial<TickState> = {}): TickState => ({ nextRunAt: at(0), held: false, overlap: 'allow', catchUp: 'none', ...over });
const secs = (ds: Date[]) => ds.map((d) => d.getUTCSeconds());

describe('planTicks', () => {
  it('a tick that is not due yet does nothing', () => {
    expect(planTicks(state({ nextRunAt: at(5) }), everySecond, at(4), 1000, false)).toMatchObject({ start: [], nextRunAt: at(5) });
  });

  it('late ticks within the misfire window all run, whatever catch_up says', () => {
    const p = planTicks(state(), everySecond, at(3), 5000, false);
    expect(secs(p.start)).toEqual([0, 1, 2, 3]);
    expect(p).toMatchObject({ missed: 0, nextRunAt: at(4) });
  });

  it('catch_up decides the ticks older than the misfire window', () => {
    const now = at(10);
    const none = planTicks(state({ catchUp: 'none' }), everySecond, now, 2000, false);
    expect(secs(none.start)).toEqual([8, 9, 10]);
    expect(none.missed).toBe(8);
    const latest = planTicks(state({ catchUp: 'latest' }), everySecond, now, 2000, false);
    expect(secs(latest.start)).toEqual([7, 8, 9, 10]);
    expect(latest.missed).toBe(7);
    const all = planTicks(state({ catchUp: 'all' }), everySecond, now, 2000, false);
    expect(secs(all.start)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(all.missed).toBe(0);
    for (const p of [none, latest, all]) expect(p.nextRunAt).toEqual(at(11));
  });

  it('overlap skip starts the first tick and skips the rest while that run goes on', () => {
    const p = planTicks(state({ overlap: 'skip' }), everySecond, at(2), 5000, false);
    expect(secs(p.start)).toEqual([0]);
    expect(secs(p.skipped)).toEqual([1, 2]);
    const busy = planTicks(state({ overlap: 'skip' }), everySecond, at(0), 5000, true);
    expect(busy.start).toEqual([]);
    expect(secs(busy.skipped)).toEqual([0]);
  });

  it('overlap queue holds one tick until the previous run ends, then starts it and skips those that passed', () => {
    const waiting = planTicks(state({ overlap: 'queue' }), everySecond, at(0), 5000, true);
    expect(waiting).toMatchObject({ start: [], hold: at(0), nextRunAt: at(0) });
    const still = planTicks(state({ overlap: 'queue', held: true }), everySecond, at(3), 5000, true);
    expect(still).toMatchObject({ start: [], hold: at(0), nextRunAt: at(0), missed: 0 });
    const free = planTicks(state({ overlap: 'queue', held: true }), everySecond, at(3), 5000, false);
    expect(secs(free.start)).toEqual([0]);
    expect(secs(free.skipped)).toEqual([1, 2, 3]);
    expect(free).toMatchObject({ hold: null, nextRunAt: at(4) });
    // A held tick is not "missed", however long it waited.
    const long = planTicks(state({ overlap: 'queue', held: true }), everySecond, at(50), 1000, false);
    expect(secs(long.start)).toEqual([0]);
  });

  it('a long outage is judged a slice at a time with catch_up all, and skipped over otherwise', () => {
    const now = new Date(at(0).getTime() + 3 * 3_600_000);
    const all = planTicks(state({ catchUp: 'all' }), everySecond, now, 1000, false);
    expect(all.start.length).toBe(MAX_TICKS_PER_PASS);
    expect(all.nextRunAt).toEqual(new Date(at(0).getTime() + MAX_TICKS_PER_PASS * 1000));
    const latest = planTicks(state({ catchUp: 'latest' }), everySecond, now, 1000, false);
    expect(latest.start.map((d) => now.getTime() - d.getTime())).toEqual([2000, 1000, 0]);
    expect(latest.nextRunAt).toEqual(new Date(now.getTime() + 1000));
  });

  it('reads cron in its time zone', () => {
    const nineInParis = ticker('0 0 9 * * *', 'Europe/Paris');
    expect(nineInParis.next(new Date('2026-07-01T00:00:00Z'))).toEqual(new Date('2026-07-01T07:00:00Z'));
    expect(nineInParis.next(new Date('2026-01-01T00:00:00Z'))).toEqual(new Date('2026-01-01T08:00:00Z'));
    expect(cronProblem('0 0 30 2 *', 'UTC')).toMatch(/never fires/);
    expect(cronProblem('* * * * *', 'UTC')).toBeUndefined();
  });
});
