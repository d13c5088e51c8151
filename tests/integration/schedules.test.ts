import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadConfig } from '../../services/config/index.ts';
import { buildOrchestratorApp } from '../../services/orchestrator/app.ts';
import type { Db } from '../../services/state/index.ts';
import { testDatabases } from '../helpers/db.ts';
import { metricValue } from '../helpers/metrics.ts';
import { poll } from '../helpers/poll.ts';
import { listenOnLoopback, startPlatform } from '../helpers/platform.ts';
import { testAgents } from '../helpers/test-agents.ts';
import { buildAgentApp } from '../../agents/sdk/index.ts';

const plan = { steps: [{ id: 'a', agent: 'math', input: { values: [1, 2] } }] };

/** The workflows each schedule started, by tick, from the ticks' idempotency keys. */
async function runsByTick(db: Db, scheduleId: string) {
  const rows = await db.query<{ id: string; key: string; created_at: Date; status: string; caught_up: boolean | null }>(
    `SELECT id, idempotency_key AS key, created_at, status,
            (SELECT (data->>'caught_up')::boolean FROM workflow_events e WHERE e.workflow_id = w.id AND e.type = 'schedule_tick') AS caught_up
     FROM workflows w WHERE idempotency_key LIKE $1 ORDER BY idempotency_key`,
    [`schedule ${scheduleId} %`],
  );
  return rows.map((r) => ({ ...r, tick: new Date(r.key.split(' ')[2]!) }));
}

async function mathAgent() {
  const { agents } = testAgents();
  const app = buildAgentApp(
    agents.find((a) => a.name === 'math')!,
    { logLevel: 'silent' },
  );
  onTestFinished(() => app.close());
  return `math=${await listenOnLoopback(app)}`;
}

describe.each(testDatabases)('schedules on $name', (t) => {
  async function setup(env: Record<string, string> = {}) {
    const db = await t.open();
    onTestFinished(() => db.close());
    const { app } = await startPlatform(db, testAgents().agents, { SCHEDULER_INTERVAL_MS: '200', ...env });
    const call = async (method: string, url: string, payload?: unknown) => {
      const res = await app.inject({ method: method as 'GET', url, ...(payload === undefined ? {} : { payload: payload as object }) });
      return { status: res.statusCode, body: res.json() };
    };
    return { db, app, call };
  }

  it('creates, lists, pauses, resumes, changes, triggers and deletes a schedule', { timeout: 120_000 }, async () => {
    const { call } = await setup();
    const made = await call('POST', '/schedules', { name: 'hourly', cron: '0 * * * *', timezone: 'Europe/Paris', plan });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({
      name: 'hourly',
      cron: '0 * * * *',
      timezone: 'Europe/Paris',
      overlap: 'skip',
      catch_up: 'latest',
      enabled: true,
      last_run: null,
    });
    const next = new Date(made.body.next_run_at);
    expect(next.getTime()).toBeGreaterThan(Date.now() - 1000);
    expect(next.getUTCMinutes()).toBe(0);
    expect((await call('POST', '/schedules', { name: 'hourly', cron: '* * * * *', plan })).status).toBe(409);
    expect((await call('GET', '/schedules')).body.schedules.map((s: { name: string }) => s.name)).toEqual(['hourly']);

    const paused = await call('PATCH', '/schedules/hourly', { enabled: false });
    expect(paused.body).toMatchObject({ enabled: false, next_run_at: null });
    const resumed = await call('PATCH', '/schedules/hourly', { enabled: true, cron: '30 2 * * *', overlap: 'allow' });
    expect(resumed.body).toMatchObject({ enabled: true, cron: '30 2 * * *', overlap: 'allow', timezone: 'Europe/Paris' });
    expect(new Date(resumed.body.next_run_at).getUTCMinutes()).toBe(30);

    const run = await call('POST', '/schedules/hourly/trigger');
    expect(run.status).toBe(202);
    await poll(async () => (await call('GET', `/tasks/${run.body.task_id}`)).body.status === 'succeeded', {
      timeoutMs: 20_000,
      label: 'the triggered run to succeed',
    });
    const after = (await call('GET', '/schedules/hourly')).body;
    expect(after).toMatchObject({ last_outcome: 'triggered', last_run: { task_id: run.body.task_id, status: 'succeeded' } });
    // A run says which schedule started it; one triggered by hand has no tick.
    expect((await call('GET', `/tasks/${run.body.task_id}`)).body.schedule).toEqual({ name: 'hourly', tick: null, caught_up: false });

    expect((await call('DELETE', '/schedules/hourly')).status).toBe(200);
    expect((await call('GET', '/schedules/hourly')).body.code).toBe('SCHEDULE_NOT_FOUND');
    expect((await call('DELETE', '/schedules/hourly')).status).toBe(404);
    // The run it started stays, and is still found by the schedule's name.
    expect((await call('GET', `/tasks/${run.body.task_id}`)).status).toBe(200);
    const listed = (await call('GET', '/tasks?schedule=hourly')).body.tasks;
    expect(listed.map((x: { task_id: string }) => x.task_id)).toEqual([run.body.task_id]);
    expect(listed[0].schedule).toEqual({ name: 'hourly', tick: null, caught_up: false });
  });

  it('refuses bad input with a 400 that names it', { timeout: 120_000 }, async () => {
    const { call } = await setup();
    const bad = async (body: Record<string, unknown>, names: RegExp) => {
      const res = await call('POST', '/schedules', { name: 'x', cron: '* * * * *', plan, ...body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.message).toMatch(names);
    };
    await bad({ cron: '61 * * * *' }, /cron "61 \* \* \* \*" is not a valid cron expression.*minute/);
    await bad({ cron: 'every day' }, /cron "every day"/);
    await bad({ timezone: 'Mars/Olympus_Mons' }, /timezone "Mars\/Olympus_Mons" is not a known IANA time zone/);
    await bad({ plan: undefined, workflow: 'no_such_flow' }, /no workflow named "no_such_flow"; known: feature_implementation/);
    await bad({ overlap: 'sometimes' }, /overlap must be one of skip, queue, allow; got "sometimes"/);
    await bad({ catch_up: 'most' }, /catch_up must be one of none, latest, all; got "most"/);
    await bad({ plan: undefined }, /needs what to run/);
    await bad({ description: 'add numbers' }, /not "plan" and "description"/);
    await bad({ plan: { steps: [{ id: 'a', agent: 'ghost' }] } }, /ghost/);
    await bad({ name: 'Has Spaces' }, /schedule name must be/);
    expect((await call('GET', '/schedules')).body.schedules).toEqual([]);
    await call('POST', '/schedules', { name: 'ok', cron: '* * * * *', plan });
    const patch = await call('PATCH', '/schedules/ok', { timezone: 'Nowhere/Land' });
    expect(patch.status).toBe(400);
    expect(patch.body.message).toMatch(/timezone "Nowhere\/Land"/);

    // A description no agent can do is refused now, as POST /orchestrate refuses it, not on every tick.
    const unplannable = await call('POST', '/schedules', { name: 'nightly', cron: '0 3 * * *', description: 'asdf qwer zxcv' });
    expect(unplannable.status).toBe(422);
    expect(unplannable.body).toMatchObject({ code: 'UNPLANNABLE', message: expect.stringContaining('asdf qwer zxcv') });
    expect((await call('GET', '/schedules/nightly')).status).toBe(404);
    const sums = await call('POST', '/schedules', { name: 'sums', cron: '0 3 * * *', description: 'add numbers', input: { values: [1] } });
    expect(sums.status, JSON.stringify(sums.body)).toBe(201);
    const retarget = await call('PATCH', '/schedules/sums', { description: 'asdf qwer zxcv' });
    expect([retarget.status, retarget.body.code]).toEqual([422, 'UNPLANNABLE']);
    expect((await call('GET', '/schedules/sums')).body.description).toBe('add numbers');
  });

  it(
    'an every-second schedule starts one workflow per tick, recorded on the schedule and in the metrics',
    { timeout: 120_000 },
    async () => {
      const { db, app, call } = await setup();
      const made = await call('POST', '/schedules', { name: 'fast', cron: '* * * * * *', plan, overlap: 'allow' });
      const id = (await db.query<{ id: string }>(`SELECT id FROM schedules WHERE name = 'fast'`))[0]!.id;
      const runs = await poll(async () => ((await runsByTick(db, id)).length >= 4 ? runsByTick(db, id) : null), {
        timeoutMs: 30_000,
        label: 'four ticks to start',
      });
      const ticks = runs.map((r) => r.tick.getTime());
      expect(new Set(ticks).size).toBe(ticks.length);
      // Consecutive seconds from the first tick after creation: none lost, none doubled.
      expect(ticks[0]).toBe(new Date(made.body.next_run_at).getTime());
      ticks.forEach((tick, i) => expect(tick).toBe(ticks[0]! + i * 1000));
      const view = (await call('GET', '/schedules/fast')).body;
      expect(view.last_outcome).toBe('started');
      expect(new Date(view.next_run_at).getTime()).toBeGreaterThan(new Date(view.last_tick_at).getTime());
      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metricValue(metrics, 'schedule_ticks_total', { schedule: 'fast', outcome: 'started' })).toBeGreaterThanOrEqual(4);
      expect(metricValue(metrics, 'schedule_lag_seconds_count')).toBeGreaterThanOrEqual(4);
      await call('PATCH', '/schedules/fast', { enabled: false });

      // Its runs, newest first, each with the tick it ran for; a run sent by hand is not among them.
      const direct = await call('POST', '/orchestrate', { plan, wait: true });
      expect(direct.body.schedule ?? null).toBeNull();
      expect((await call('GET', `/tasks/${direct.body.task_id}`)).body.schedule).toBeNull();
      const started = await runsByTick(db, id);
      const listed = (await call('GET', '/tasks?schedule=fast&limit=200')).body.tasks as Array<{ task_id: string; schedule: unknown }>;
      expect(listed.map((x) => x.task_id)).toEqual(started.map((r) => r.id).reverse());
      expect(listed.at(-1)!.schedule).toEqual({ name: 'fast', tick: started[0]!.tick.toISOString(), caught_up: false });
      const all = (await call('GET', '/tasks?limit=200')).body.tasks as Array<{ task_id: string; schedule: unknown }>;
      expect(all.find((x) => x.task_id === direct.body.task_id)!.schedule).toBeNull();
      expect((await call('GET', `/tasks/${started[1]!.id}`)).body.schedule).toEqual({
        name: 'fast',
        tick: started[1]!.tick.toISOString(),
        caught_up: false,
      });
      expect((await call('GET', '/tasks?schedule=other')).body.tasks).toEqual([]);
      const bad = await call('GET', '/tasks?schedule=Not%20A%20Name');
      expect([bad.status, bad.body.code]).toEqual([400, 'VALIDATION_FAILED']);
      expect(bad.body.message).toMatch(/schedule name must be/);
    },
  );

  it(
    'overlap skip leaves out ticks while the previous run goes on; queue starts the waiting tick when it ends',
    { timeout: 120_000 },
    async () => {
      const { db, call } = await setup();
      const slow = { steps: [{ id: 'a', agent: 'math', input: { values: [1], ms: 2500 } }] };
      await call('POST', '/schedules', { name: 'skipper', cron: '* * * * * *', plan: slow, overlap: 'skip' });
      await call('POST', '/schedules', { name: 'queuer', cron: '* * * * * *', plan: slow, overlap: 'queue' });
      const ids = Object.fromEntries(
        (await db.query<{ name: string; id: string }>(`SELECT name, id FROM schedules`)).map((r) => [r.name, r.id]),
      ) as Record<string, string>;
      for (const name of ['skipper', 'queuer']) {
        const runs = await poll(async () => ((await runsByTick(db, ids[name]!)).length >= 3 ? runsByTick(db, ids[name]!) : null), {
          timeoutMs: 40_000,
          label: `three runs of ${name}`,
        });
        // Never two at once: each run was created after the one before it finished.
        const rows = await db.query<{ id: string; created_at: Date; finished_at: Date | null }>(
          `SELECT id, created_at, finished_at FROM workflows WHERE idempotency_key LIKE $1 ORDER BY created_at`,
          [`schedule ${ids[name]} %`],
        );
        for (let i = 1; i < rows.length; i++) {
          expect(rows[i - 1]!.finished_at, `${name} run ${i - 1} finished`).not.toBeNull();
          expect(rows[i]!.created_at.getTime()).toBeGreaterThanOrEqual(rows[i - 1]!.finished_at!.getTime());
        }
        if (name === 'queuer') {
          // The waiting tick started late, right after the run before it: its lag is over a second.
          const lags = runs.slice(1).map((r) => r.created_at.getTime() - r.tick.getTime());
          expect(Math.max(...lags)).toBeGreaterThan(1000);
        } else {
          // Skipped ticks started nothing, so the runs' ticks have gaps of more than a second.
          const gaps = runs.slice(1).map((r, i) => r.tick.getTime() - runs[i]!.tick.getTime());
          expect(Math.min(...gaps)).toBeGreaterThan(1000);
        }
      }
      await call('PATCH', '/schedules/skipper', { enabled: false });
      await call('PATCH', '/schedules/queuer', { enabled: false });
    },
  );

  it(
    'schedules declared in a workflow file are created at start; the file wins when it changes; gone from the file, gone',
    { timeout: 120_000 },
    async () => {
      const db = await t.open();
      onTestFinished(() => db.close());
      const dir = await mkdtemp(join(tmpdir(), 'mesh-wf-'));
      onTestFinished(() => rm(dir, { recursive: true, force: true }));
      const file = (schedules: string) =>
        writeFile(
          join(dir, 'sums.yaml'),
          `name: sums\ndescription: adds\nsteps:\n  - id: a\n    agent: math\n    input: { values: [1] }\n${schedules}`,
        );
      const start = async () => (await startPlatform(db, testAgents().agents, { WORKFLOWS_DIR: dir })).app;
      const get = async (app: Awaited<ReturnType<typeof start>>) =>
        (await app.inject({ method: 'GET', url: '/schedules' })).json().schedules;

      await file('schedules:\n  - name: nightly-sums\n    cron: "0 2 * * *"\n    timezone: Europe/Paris\n');
      let app = await start();
      expect(await get(app)).toMatchObject([
        { name: 'nightly-sums', workflow: 'sums', cron: '0 2 * * *', source: 'file', enabled: true, overlap: 'skip' },
      ]);
      await app.inject({ method: 'PATCH', url: '/schedules/nightly-sums', payload: { enabled: false } });
      await app.close();
      // The file did not change: the pause made through the API lasts.
      app = await start();
      expect(await get(app)).toMatchObject([{ name: 'nightly-sums', enabled: false }]);
      await app.close();
      await file('schedules:\n  - name: nightly-sums\n    cron: "0 3 * * *"\n');
      app = await start();
      expect(await get(app)).toMatchObject([{ name: 'nightly-sums', cron: '0 3 * * *', timezone: 'UTC', enabled: true }]);
      await app.close();
      await file('');
      app = await start();
      expect(await get(app)).toEqual([]);
      await app.close();

      await file('schedules:\n  - name: broken\n    cron: "0 2 * * *"\n    timezone: Moon/Base\n');
      await expect(start()).rejects.toThrow(/sums\.yaml:8: schedule "broken": timezone "Moon\/Base" is not a known IANA time zone/);
    },
  );

  it(
    'after a stop, catch_up none drops the missed ticks, latest runs the last of them, all runs every one',
    { timeout: 120_000 },
    async () => {
      const db = await t.open();
      onTestFinished(() => db.close());
      const math = await mathAgent();
      const env = {
        LOG_LEVEL: 'silent',
        RATE_LIMIT_MAX: '0',
        AGENT_URLS: math,
        SCHEDULER_INTERVAL_MS: '200',
        SCHEDULE_MISFIRE_MS: '1000',
        SHUTDOWN_GRACE_MS: '500',
      };
      const first = await buildOrchestratorApp(loadConfig({ ...env, ORCHESTRATOR_ID: 'before' }), { db });
      await first.ready();
      const ids: Record<string, string> = {};
      for (const policy of ['none', 'latest', 'all']) {
        const res = await first.inject({
          method: 'POST',
          url: '/schedules',
          payload: { name: `catch-${policy}`, cron: '* * * * * *', plan, overlap: 'allow', catch_up: policy },
        });
        expect(res.statusCode).toBe(201);
        ids[policy] = (await db.query<{ id: string }>(`SELECT id FROM schedules WHERE name = $1`, [`catch-${policy}`]))[0]!.id;
      }
      await poll(async () => (await Promise.all(Object.values(ids).map((id) => runsByTick(db, id)))).every((r) => r.length >= 2), {
        timeoutMs: 30_000,
        label: 'two ticks of each schedule before the stop',
      });
      await first.close();
      const stoppedAt = Date.now();
      // The outage itself: nothing runs the schedules for five seconds.
      await poll(() => Date.now() - stoppedAt >= 5_000, { timeoutMs: 10_000, label: 'a five-second stop', intervalMs: 100 });
      const second = await buildOrchestratorApp(loadConfig({ ...env, ORCHESTRATOR_ID: 'after' }), { db });
      onTestFinished(() => second.close());
      await second.ready();
      await poll(
        async () => {
          const counts = await Promise.all(
            Object.values(ids).map(
              async (id) => (await runsByTick(db, id)).filter((r) => r.created_at.getTime() > stoppedAt + 5_000).length,
            ),
          );
          return counts.every((n) => n >= 3);
        },
        { timeoutMs: 30_000, label: 'ticks after the restart' },
      );
      const metrics = (await second.inject({ method: 'GET', url: '/metrics' })).body;
      const missed = (policy: string) =>
        metricValue(metrics, 'schedule_ticks_total', { schedule: `catch-${policy}`, outcome: 'missed' }) ?? 0;
      for (const [policy, id] of Object.entries(ids)) {
        const runs = await runsByTick(db, id);
        const ticks = runs.map((r) => r.tick.getTime());
        expect(new Set(ticks).size, `${policy}: one workflow per tick`).toBe(ticks.length);
        // The ticks with no workflow, between the first and the last.
        const gaps: number[] = [];
        for (let tick = ticks[0]!; tick <= ticks.at(-1)!; tick += 1000) if (!ticks.includes(tick)) gaps.push(tick);
        // The scheduler marks a tick it ran although it was missed (catch_up) in the tick's event.
        const caughtUp = runs.filter((r) => r.caught_up);
        for (const r of caughtUp) expect(r.created_at.getTime() - r.tick.getTime()).toBeGreaterThan(1000);
        if (policy === 'all') {
          expect(gaps, 'all: no tick lost').toEqual([]);
          expect(caughtUp.length, 'all: the missed ticks ran late').toBeGreaterThanOrEqual(2);
          expect(missed('all')).toBe(0);
        } else {
          expect(gaps.length, `${policy}: ticks dropped`).toBeGreaterThanOrEqual(2);
          expect(missed(policy), `${policy}: the dropped ticks are counted`).toBe(gaps.length);
          expect(caughtUp.length, `${policy}: late ticks that ran`).toBe(policy === 'latest' ? 1 : 0);
          if (policy === 'latest') {
            // The one caught up is the last of the missed run of ticks, right after the gap.
            expect(caughtUp[0]!.tick.getTime()).toBe(gaps.at(-1)! + 1000);
          }
        }
      }
    },
  );
});
