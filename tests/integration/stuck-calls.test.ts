import { describe, expect, it, onTestFinished } from 'vitest';
import { loadConfig } from '../../services/config/index.ts';
import { buildOrchestratorApp } from '../../services/orchestrator/app.ts';
import type { AgentTransport } from '../../services/protocol/transport/index.ts';
import { createPgliteDb, migrate } from '../../services/state/index.ts';

/**
 * A transport that takes calls and never answers, even when told to give up: a lost stream entry,
 * a reply that never comes, a consumer that died holding it. Stands in for those; the engine must
 * still move on when the step's deadline passes.
 */
function blackHole(): AgentTransport & { calls: string[] } {
  const calls: string[] = [];
  return {
    name: 'black-hole',
    calls,
    call: (_agent, request) => {
      calls.push(request.idempotency_key);
      return new Promise(() => {});
    },
    info: async () => ({ name: 'stuck', capabilities: ['never answers'] }),
    close: async () => {},
  };
}

describe('a call that never comes back', () => {
  it('times out at the step deadline even when the transport ignores the abort, and the retries follow', async () => {
    const db = await createPgliteDb('memory://');
    await migrate(db);
    onTestFinished(() => db.close());
    const transport = blackHole();
    const config = loadConfig({ LOG_LEVEL: 'silent', RATE_LIMIT_MAX: '0', AGENT_URLS: 'stuck=http://127.0.0.1:9', RETRY_BACKOFF_MS: '10' });
    const app = await buildOrchestratorApp(config, { db, transport });
    onTestFinished(() => app.close());
    await app.ready();
    const plan = { steps: [{ id: 's', agent: 'stuck', timeout_ms: 200, retry: { max_attempts: 2, backoff_ms: 10 } }] };
    const res = (await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, wait: true } })).json();
    expect(res.status).toBe('failed');
    expect(res.error.message).toContain('step "s" took longer than 200 ms');
    expect(transport.calls).toEqual([`${res.task_id}:s:1`, `${res.task_id}:s:2`]);
  }, 20_000);
});
