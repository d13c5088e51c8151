import type { FastifyInstance } from 'fastify';
import { onTestFinished } from 'vitest';
import { buildAgentApp, type AgentDefinition } from '../../agents/sdk/index.ts';
import { loadConfig, type Config } from '../../services/config/index.ts';
import { buildOrchestratorApp } from '../../services/orchestrator/app.ts';
import type { Db } from '../../services/state/index.ts';
import { testAgents, type RunLog } from './test-agents.ts';

export interface TestPlatform {
  app: FastifyInstance;
  config: Config;
  agentUrls: Record<string, string>;
}

export async function listenOnLoopback(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('not listening');
  return `http://127.0.0.1:${addr.port}`;
}

/** Starts agents on free loopback ports and an orchestrator wired to them; all closed after the test. */
export async function startPlatform(db: Db, agents: AgentDefinition[], env: Record<string, string> = {}): Promise<TestPlatform> {
  const agentUrls: Record<string, string> = {};
  for (const def of agents) {
    const agentApp = buildAgentApp(def, { logLevel: 'silent', shutdownGraceMs: 1_000 });
    onTestFinished(() => agentApp.close());
    agentUrls[def.name] = await listenOnLoopback(agentApp);
  }
  const config = loadConfig({
    LOG_LEVEL: 'silent',
    // Tests poll far faster than the 10 req/s a client gets; tests/integration/auth.test.ts covers the limit.
    RATE_LIMIT_MAX: '0',
    RETRY_BACKOFF_MS: '10',
    SHUTDOWN_GRACE_MS: '500',
    ORCHESTRATOR_ID: `test-${Math.random().toString(36).slice(2, 8)}`,
    ...env,
    // The started agents, plus whatever the test names itself.
    AGENT_URLS: [...Object.entries(agentUrls).map(([n, u]) => `${n}=${u}`), ...(env.AGENT_URLS ? [env.AGENT_URLS] : [])].join(','),
  });
  const app = await buildOrchestratorApp(config, { db });
  onTestFinished(() => app.close());
  await app.ready();
  return { app, config, agentUrls };
}

/** The math agent of testAgents on a port of its own, so several orchestrators can share it; its log records what ran. */
export async function sharedMathAgent(): Promise<{ env: { AGENT_URLS: string }; log: RunLog }> {
  const { agents, log } = testAgents();
  const app = buildAgentApp(
    agents.find((a) => a.name === 'math')!,
    { logLevel: 'silent' },
  );
  onTestFinished(() => app.close());
  return { env: { AGENT_URLS: `math=${await listenOnLoopback(app)}` }, log };
}
