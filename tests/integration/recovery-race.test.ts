import { describe, expect, it, onTestFinished } from 'vitest';
import { buildAgentApp } from '../../agents/sdk/index.ts';
import { testDatabases } from '../helpers/db.ts';
import { gatedDb } from '../helpers/gated-db.ts';
import { listenOnLoopback, startPlatform } from '../helpers/platform.ts';
import { poll } from '../helpers/poll.ts';
import { testAgents } from '../helpers/test-agents.ts';

const diamond = {
  steps: [
    { id: 'a', agent: 'math', input: { values: [1] } },
    { id: 'b', agent: 'math', input: { values: [2] }, depends_on: ['a'] },
    { id: 'c', agent: 'math', input: { values: [3] }, depends_on: ['a'] },
    { id: 'd', agent: 'math', input: {}, depends_on: ['b', 'c'] },
  ],
};

/** The math agent, recording every idempotency key it is sent (replays included). */
async function countingMathAgent() {
  const { agents, log } = testAgents();
  const app = buildAgentApp(
    agents.find((a) => a.name === 'math')!,
    { logLevel: 'silent', idempotencyMaxEntries: 50_000 },
  );
  const keys: string[] = [];
  app.addHook('onRequest', async (request) => {
    if (request.url === '/execute') keys.push(String(request.headers['idempotency-key']));
  });
  onTestFinished(() => app.close());
  return { url: await listenOnLoopback(app), keys, log };
}

const repeated = (keys: string[]) => {
  const seen = new Set<string>();
  return keys.filter((k) => (seen.has(k) ? true : (seen.add(k), false)));
};

describe.each(testDatabases)('recovery never claims what this process runs, on $name', (t) => {
  it("a recovery pass between a submit's commit and its registration leaves the workflow alone", async () => {
    const base = await t.open();
    onTestFinished(() => base.close());
    const gated = gatedDb(base);
    const agent = await countingMathAgent();
    // Recovery passes every 50 ms: one is sure to run while the submit is held.
    const { app } = await startPlatform(gated.db, [], { RECOVERY_INTERVAL_MS: '50', AGENT_URLS: `math=${agent.url}` });

    const hold = gated.hold(/INSERT INTO workflows/);
    const submitted = app.inject({ method: 'POST', url: '/orchestrate', payload: { plan: diamond, wait: true } });
    await hold.held;
    const heldAt = Date.now();
    await poll(() => gated.ranSince(/'workflow_recovered'/, heldAt) >= 2, {
      timeoutMs: 5_000,
      label: 'two recovery passes while the submit is held',
    });
    hold.release();

    const body = (await submitted).json();
    expect(body.status).toBe('succeeded');
    const recovered = await base.query<{ data: Record<string, string> }>(
      `SELECT data FROM workflow_events WHERE workflow_id = $1 AND type = 'workflow_recovered'`,
      [body.task_id],
    );
    expect(recovered).toEqual([]);
    expect(repeated(agent.keys)).toEqual([]);
    expect(agent.log.runs).toHaveLength(4);
  });
});

describe('recovery under load', () => {
  it('2,000 diamonds at concurrency 100 with a recovery pass every 200 ms: nothing recovered, no key sent twice', async () => {
    const db = await testDatabases[0]!.open();
    onTestFinished(() => db.close());
    const agent = await countingMathAgent();
    const { app } = await startPlatform(db, [], { RECOVERY_INTERVAL_MS: '200', AGENT_URLS: `math=${agent.url}` });
    const total = 2_000;
    let next = 0;
    const statuses: Record<string, number> = {};
    await Promise.all(
      Array.from({ length: 100 }, async () => {
        while (next < total) {
          next++;
          const res = await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan: diamond, wait: true } });
          const status = String(res.json().status);
          statuses[status] = (statuses[status] ?? 0) + 1;
        }
      }),
    );
    expect(statuses).toEqual({ succeeded: total });
    const recovered = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM workflow_events WHERE type = 'workflow_recovered'`);
    expect(recovered[0]!.n).toBe(0);
    expect(agent.keys).toHaveLength(total * 4);
    expect(repeated(agent.keys)).toEqual([]);
  }, 180_000);
});
