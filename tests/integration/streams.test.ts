import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createAgentRuntime, createRedisIdempotencyStore, startStreamWorker } from '../../agents/sdk/index.ts';
import { createPgliteDb, migrate, store } from '../../services/state/index.ts';
import { metricValue } from '../helpers/metrics.ts';
import { startPlatform } from '../helpers/platform.ts';
import { poll } from '../helpers/poll.ts';
import { testAgents, type RunLog } from '../helpers/test-agents.ts';

const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A fresh agent name, so the test's streams and consumer group are its own; removed afterwards. */
function uniqueAgent(): string {
  const name = `s-${randomBytes(4).toString('hex')}`;
  onTestFinished(async () => {
    const r = new Redis(redisUrl);
    const keys = [...(await r.keys(`agent.${name}.*`)), ...(await r.keys(`idem:${name}:*`))];
    if (keys.length) await r.del(...keys);
    r.disconnect();
  });
  return name;
}

async function orchestratorFor(agent: string, env: Record<string, string> = {}) {
  const db = await createPgliteDb('memory://');
  await migrate(db);
  onTestFinished(() => db.close());
  const owner = `orch-${randomBytes(3).toString('hex')}`;
  onTestFinished(async () => {
    const r = new Redis(redisUrl);
    await r.del(`orchestrator.${owner}.results`);
    r.disconnect();
  });
  const { app } = await startPlatform(db, [], {
    REDIS_URL: redisUrl,
    AGENT_TRANSPORTS: `${agent}=stream`,
    AGENT_URLS: `${agent}=http://127.0.0.1:9`,
    ORCHESTRATOR_ID: owner,
    ...env,
  });
  return { app, db };
}

function replica(agent: string, log: RunLog, internalToken?: string) {
  const redis = new Redis(redisUrl);
  const math = testAgents(log).agents.find((a) => a.name === 'math')!;
  const runtime = createAgentRuntime(
    { ...math, name: agent },
    { idempotencyStore: createRedisIdempotencyStore(redis, { prefix: `idem:${agent}:`, ttlMs: 60_000, pendingTtlMs: 30_000 }) },
  );
  const worker = startStreamWorker(agent, runtime, redis, {
    claimIdleMs: 30_000,
    concurrency: 4,
    blockMs: 200,
    log: pino({ level: 'silent' }),
    internalToken,
  });
  onTestFinished(async () => {
    await worker.stop();
    redis.disconnect();
  });
  return worker;
}

/** Stream replicas as child processes that record each effect, optionally dying after the handler every time. */
async function crashableReplicas(agent: string, extraEnv: Record<string, string> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'mesh-streams-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const effects = join(dir, 'effects.log');
  await writeFile(effects, '');
  const script = fileURLToPath(new URL('../helpers/stream-agent-process.ts', import.meta.url));
  const start = (crash: boolean) => {
    const child = spawn(process.execPath, [script], {
      env: {
        PATH: process.env.PATH ?? '',
        AGENT_NAME: agent,
        REDIS_URL: redisUrl,
        EFFECT_FILE: effects,
        IDEM_PREFIX: `idem:${agent}:`,
        CLAIM_IDLE_MS: '500',
        CRASH_AFTER_HANDLER: crash ? '1' : '0',
        ...extraEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    return child;
  };
  return { effects, start };
}

describe('Redis Streams transport', () => {
  it('runs steps through the request stream; replicas in the consumer group share the work', async () => {
    const agent = uniqueAgent();
    const [logA, logB]: RunLog[] = [{ runs: [] }, { runs: [] }];
    replica(agent, logA);
    replica(agent, logB);
    const { app } = await orchestratorFor(agent);
    const plan = {
      steps: [
        { id: 'a', agent, input: { values: [1, 2] } },
        { id: 'b', agent, input: { values: [3] }, depends_on: ['a'] },
      ],
    };
    await poll(
      async () => {
        const res = await Promise.all(
          Array.from({ length: 6 }, () => app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, wait: true } })),
        );
        for (const r of res) expect(r.json().results[1].output.sum).toBe(6);
        return logA.runs.length > 0 && logB.runs.length > 0;
      },
      { timeoutMs: 20_000, label: 'both replicas to take work' },
    );
    // A worker acks a request just after it writes the reply, so the last ack may still be on its way.
    await poll(async () => metricValue((await app.inject({ url: '/metrics' })).body, 'queue_depth', { agent }) === 0, {
      timeoutMs: 5_000,
      label: 'queue_depth to come back to 0',
    });
  }, 30_000);

  it("with INTERNAL_TOKEN, runs the orchestrator's entries and refuses one added by anyone else who can write to Redis, or one POST /execute would refuse", async () => {
    const agent = uniqueAgent();
    const token = randomBytes(32).toString('hex');
    const log: RunLog = { runs: [] };
    replica(agent, log, token);
    const { app } = await orchestratorFor(agent, { INTERNAL_TOKEN: token });
    const res = (
      await app.inject({
        method: 'POST',
        url: '/orchestrate',
        payload: { plan: { steps: [{ id: 'a', agent, input: { values: [2] } }] }, wait: true },
      })
    ).json();
    expect(res.status).toBe('succeeded');

    const r = new Redis(redisUrl);
    onTestFinished(() => r.disconnect());
    const replyTo = `forged-${agent}`;
    onTestFinished(async () => {
      await r.del(replyTo);
    });
    const call = { idempotency_key: 'forged:a:1', task_id: 'forged', step_id: 'a', attempt: 1, input: { values: [666] } };
    await r.xadd(
      `agent.${agent}.requests`,
      '*',
      'id',
      'f1',
      'reply_to',
      replyTo,
      'body',
      JSON.stringify(call),
      'authorization',
      'Bearer not-the-token',
    );
    await r.xadd(
      `agent.${agent}.requests`,
      '*',
      'id',
      'f2',
      'reply_to',
      replyTo,
      'body',
      JSON.stringify({ ...call, idempotency_key: 'forged:a:2' }),
    );
    // With the token, but not a call POST /execute would take: held to the same schema and text rules.
    const bearer = `Bearer ${token}`;
    for (const [id, body] of [
      ['f3', { ...call, idempotency_key: 'forged:a:3', input: [666] }],
      ['f4', { ...call, idempotency_key: 'forged:a:4', input: { values: [666], note: 'a\u0000b' } }],
    ] as const)
      await r.xadd(`agent.${agent}.requests`, '*', 'id', id, 'reply_to', replyTo, 'body', JSON.stringify(body), 'authorization', bearer);
    const replies = await poll(
      async () => {
        const entries = (await r.xrange(replyTo, '-', '+')) as Array<[string, string[]]>;
        return entries.length === 4
          ? entries.map(([, f]) => Object.fromEntries(f.flatMap((v, i) => (i % 2 === 0 ? [[v, f[i + 1]]] : []))))
          : undefined;
      },
      { timeoutMs: 10_000, label: 'answers to the forged entries' },
    );
    const byId = Object.fromEntries(replies.map((reply) => [reply.id, reply]));
    expect([byId.f1?.status, byId.f2?.status, byId.f3?.status, byId.f4?.status]).toEqual(['401', '401', '400', '400']);
    expect(JSON.parse(byId.f3!.body!)).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'input' } });
    expect(JSON.parse(byId.f4!.body!)).toMatchObject({ code: 'INVALID_TEXT', details: { field: 'request.input.note' } });
    expect(log.runs.map((run) => run.key)).toEqual([`${res.task_id}:a:1`]);
  }, 30_000);

  it('makes its consumer group again when Redis lost the stream, and the calls go on', async () => {
    const agent = uniqueAgent();
    const log: RunLog = { runs: [] };
    replica(agent, log);
    const { app } = await orchestratorFor(agent);
    const one = { plan: { steps: [{ id: 'a', agent, input: { values: [1] } }] }, wait: true };
    expect((await app.inject({ method: 'POST', url: '/orchestrate', payload: one })).json().status).toBe('succeeded');
    // What a Redis restarted without its data looks like to the worker: no stream, no group (NOGROUP).
    const r = new Redis(redisUrl);
    await r.del(`agent.${agent}.requests`);
    r.disconnect();
    const res = (await app.inject({ method: 'POST', url: '/orchestrate', payload: one })).json();
    expect(res.status).toBe('succeeded');
    expect(log.runs).toHaveLength(2);
  }, 30_000);

  it("an entry whose consumer died before acking is claimed by another, and the handler's effect happens once", async () => {
    const agent = uniqueAgent();
    const { effects, start } = await crashableReplicas(agent);
    const { app, db } = await orchestratorFor(agent);
    const doomed = start(true);
    await new Promise((resolve) => doomed.stdout!.once('data', resolve));
    const { task_id } = (
      await app.inject({
        method: 'POST',
        url: '/orchestrate',
        payload: { plan: { steps: [{ id: 'only', agent, input: { values: [40, 2] } }] } },
      })
    ).json();
    const exit = await new Promise<number | null>((resolve) => doomed.once('exit', (code) => resolve(code)));
    expect(exit).toBe(1);

    start(false);
    const done = await poll(
      async () => {
        const wf = await store.getWorkflow(db, task_id);
        return wf?.status === 'succeeded' ? wf : undefined;
      },
      { timeoutMs: 20_000, label: 'the claimed entry to finish the workflow' },
    );
    expect(done.status).toBe('succeeded');
    expect(((await store.getCheckpoint(db, task_id)).only as { sum: number }).sum).toBe(42);
    const lines = (await readFile(effects, 'utf8')).split('\n').filter(Boolean);
    expect(lines).toEqual([`${task_id}:only:1`]);
    const events = await store.listEvents(db, task_id, 0);
    expect(events.find((e) => e.type === 'step_succeeded')?.data.replayed).toBe(true);
  }, 30_000);

  it('an entry that kills every consumer that takes it goes to the dead-letter stream, and its step fails saying so', async () => {
    const agent = uniqueAgent();
    const { start } = await crashableReplicas(agent, { MAX_DELIVERIES: '2' });
    const { app } = await orchestratorFor(agent);
    let crashes = 0;
    const crashing = async () => {
      const child = start(true);
      await new Promise((resolve) => child.stdout!.once('data', resolve));
      return child;
    };
    let child = await crashing();
    const submitted = app.inject({
      method: 'POST',
      url: '/orchestrate',
      payload: { plan: { steps: [{ id: 'poison', agent, input: { values: [1] } }] }, wait: true },
    });
    // Each consumer takes the entry (a delivery) and dies; the next one claims it.
    while (crashes < 2) {
      await new Promise((resolve) => child.once('exit', resolve));
      crashes += 1;
      child = await crashing();
    }
    const res = (await submitted).json();
    expect(res.status).toBe('failed');
    expect(res.error.message).toMatch(new RegExp(`gave up on stream entry \\S+ after 3 deliveries.*agent\\.${agent}\\.dead`));
    const r = new Redis(redisUrl);
    onTestFinished(() => r.disconnect());
    const dead = (await r.xrange(`agent.${agent}.dead`, '-', '+')) as Array<[string, string[]]>;
    expect(dead).toHaveLength(1);
    expect(dead[0]![1]).toEqual(expect.arrayContaining(['deliveries', '3']));
  }, 40_000);
});
