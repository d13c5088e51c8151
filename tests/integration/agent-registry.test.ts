import { describe, expect, it, onTestFinished } from 'vitest';
import { buildAgentApp } from '../../agents/sdk/index.ts';
import type { Discovery } from '../../services/discovery/index.ts';
import { AgentRegistry } from '../../services/orchestrator/agent-registry.ts';
import { createHttpTransport } from '../../services/protocol/transport/index.ts';
import { testAgents } from '../helpers/test-agents.ts';

describe('the agent registry (real agent servers over HTTP)', () => {
  it('requests that need the agents at once share one GET /info per agent, then the cache answers', async () => {
    const asked = new Map<string, number>();
    const urls = new Map<string, string>();
    for (const def of testAgents().agents.slice(0, 2)) {
      const app = buildAgentApp(def, { logLevel: 'silent' });
      app.addHook('onRequest', async (req) => {
        if (req.url === '/info') asked.set(def.name, (asked.get(def.name) ?? 0) + 1);
      });
      onTestFinished(() => app.close());
      await app.listen({ host: '127.0.0.1', port: 0 });
      urls.set(def.name, `http://127.0.0.1:${(app.server.address() as { port: number }).port}`);
    }
    const discovery: Discovery = {
      kind: 'static',
      agents: () => [...urls.keys()],
      pick: (agent) => (urls.has(agent) ? { url: urls.get(agent)!, release: () => {} } : undefined),
    };
    const transport = createHttpTransport(discovery);
    onTestFinished(() => transport.close());
    const registry = new AgentRegistry(discovery, transport);

    // Fifty descriptions arriving together just after a start.
    const answers = await Promise.all(Array.from({ length: 50 }, () => registry.profiles()));
    for (const profiles of answers) expect(profiles.map((p) => p.name).sort()).toEqual([...urls.keys()].sort());
    expect(Object.fromEntries(asked)).toEqual(Object.fromEntries([...urls.keys()].map((name) => [name, 1])));

    await registry.profiles();
    expect([...asked.values()]).toEqual([1, 1]);
    // Forced (GET /agents asks every time), each is asked again.
    await registry.list(true);
    expect([...asked.values()]).toEqual([2, 2]);
  });
});
