import { describe, expect, it, onTestFinished } from 'vitest';
import { createPgliteDb, migrate, store } from '../../services/state/index.ts';
import { startChatDouble } from '../doubles/openai-chat-double.ts';
import { startPlatform } from '../helpers/platform.ts';
import { testAgents } from '../helpers/test-agents.ts';

async function platform() {
  const double = await startChatDouble();
  const db = await createPgliteDb('memory://');
  await migrate(db);
  onTestFinished(() => db.close());
  const { agents } = testAgents();
  const p = await startPlatform(db, agents, { LLM_BASE_URL: double.baseUrl, LLM_MODEL: 'planner-model', LLM_MAX_RETRIES: '0' });
  return { ...p, db, double };
}

describe('planning through a model (chat completions double)', () => {
  it('uses the model plan when it passes graph validation, and records that it did', async () => {
    const { app, db, double } = await platform();
    double.script({
      content: JSON.stringify({
        steps: [
          { id: 'first', agent: 'math', task: 'add the numbers', depends_on: [] },
          { id: 'second', agent: 'math', task: 'add again', depends_on: ['first'] },
        ],
      }),
    });
    const res = await app.inject({
      method: 'POST',
      url: '/orchestrate',
      payload: { description: 'add the numbers twice', input: { values: [4] }, wait: true },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.plan.steps.map((s: { id: string }) => s.id)).toEqual(['first', 'second']);
    expect(body.results[1].output.sum).toBe(8);
    // The model saw the agents and their capabilities, and was asked for JSON by schema.
    expect(double.calls[0]!.messages[0]!.content).toContain('- math: adds numbers Capabilities: add numbers; sum values');
    expect(double.calls[0]!.response_format?.json_schema?.name).toBe('workflow_plan');
    const events = await store.listEvents(db, body.task_id, 0);
    expect(events[0]).toMatchObject({ type: 'workflow_planned_by', data: { planner: 'llm', model: 'planner-model' } });
  });

  it('falls back to the rules when the model plan is invalid, and the events say why', async () => {
    const { app, db, double } = await platform();
    double.script({ content: JSON.stringify({ steps: [{ id: 'a', agent: 'wizard', task: 'magic', depends_on: ['a'] }] }) });
    const body = (
      await app.inject({
        method: 'POST',
        url: '/orchestrate',
        payload: { description: 'add numbers', input: { values: [1, 2] }, wait: true },
      })
    ).json();
    expect(body.status).toBe('succeeded');
    expect(body.plan.steps.map((s: { agent: string }) => s.agent)).toEqual(['math']);
    const [first] = await store.listEvents(db, body.task_id, 0);
    expect(first).toMatchObject({
      type: 'planner_fallback',
      data: { planner: 'rules', reason: expect.stringContaining('unknown agent "wizard"') },
    });
    expect(String(first!.data.reason)).toContain('cycle: a -> a');
  });

  it('falls back when the model answers nonsense twice', async () => {
    const { app, db, double } = await platform();
    double.script({ content: 'Sure! Here is your plan: step one...' }, { content: '{"steps": "many"}' });
    const body = (await app.inject({ method: 'POST', url: '/orchestrate', payload: { description: 'sum values', wait: true } })).json();
    expect(body.status).toBe('succeeded');
    const [first] = await store.listEvents(db, body.task_id, 0);
    expect(first).toMatchObject({ type: 'planner_fallback', data: { reason: expect.stringContaining('LLM_OUTPUT_INVALID') } });
  });
});
