import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import { testDatabases } from '../helpers/db.ts';
import { gatedDb } from '../helpers/gated-db.ts';
import { listenOnLoopback, startPlatform } from '../helpers/platform.ts';
import { poll } from '../helpers/poll.ts';
import { testAgents } from '../helpers/test-agents.ts';

describe('server-sent events share one source per process', () => {
  it('40 streams on a task another replica runs cost one poll a second, and each sees its events', async () => {
    const base = await testDatabases[0]!.open();
    onTestFinished(() => base.close());
    const watched = gatedDb(base);
    const { agents } = testAgents();
    // The task runs on `runner`; the streams are opened on `watcher`, which has to learn of its events from the database.
    const { app: runner } = await startPlatform(base, agents);
    const { app: watcher } = await startPlatform(watched.db, agents);
    const url = await listenOnLoopback(watcher);
    const { task_id } = (
      await runner.inject({
        method: 'POST',
        url: '/orchestrate',
        payload: {
          plan: {
            steps: [
              { id: 'gate', type: 'approval' },
              { id: 'after', agent: 'math', input: { values: [7] }, depends_on: ['gate'] },
            ],
          },
        },
      })
    ).json();
    await poll(async () => (await runner.inject({ url: `/tasks/${task_id}` })).json().status === 'waiting', {
      timeoutMs: 10_000,
      label: 'the task to wait',
    });

    const streams = await Promise.all(
      Array.from({ length: 40 }, async () => {
        const ac = new AbortController();
        onTestFinished(() => ac.abort());
        const res = await fetch(`${url}/tasks/${task_id}/events`, { signal: ac.signal });
        let text = '';
        const reading = (async () => {
          for await (const chunk of res.body!) text += Buffer.from(chunk).toString();
        })().catch(() => {});
        return { text: () => text, reading };
      }),
    );
    const from = Date.now();
    await sleep(3_000);
    const polls = watched.ranSince(/SELECT id, event_seq FROM workflows/, from);
    expect(polls).toBeGreaterThanOrEqual(1);
    expect(polls).toBeLessThanOrEqual(5);

    // Answered on the other replica: every stream sees the rest and ends.
    expect((await runner.inject({ method: 'POST', url: `/tasks/${task_id}/approve` })).statusCode).toBe(200);
    await Promise.all(streams.map((s) => s.reading));
    for (const s of streams) {
      expect(s.text()).toMatch(/event: step_succeeded[\s\S]*"step_id":"after"/);
      expect(s.text()).toMatch(/event: workflow_succeeded/);
    }
  }, 30_000);
});
