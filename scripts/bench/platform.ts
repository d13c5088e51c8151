// The system under test, as its own process: the orchestrator on Postgres and the bench agents,
// each on its own loopback port, as `npm start` runs them.
import type { FastifyInstance } from 'fastify';
import { buildAgentApp } from '../../agents/sdk/index.ts';
import { loadConfig } from '../../services/config/index.ts';
import { buildOrchestratorApp } from '../../services/orchestrator/app.ts';
import { sleepAgent, stepAgent } from './agents.ts';

const urls: string[] = [];
const apps: FastifyInstance[] = [];
for (const def of [stepAgent, sleepAgent]) {
  const app = buildAgentApp(def, { logLevel: 'warn', idempotencyMaxEntries: 50_000 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address() as { port: number };
  urls.push(`${def.name}=http://127.0.0.1:${addr.port}`);
  apps.push(app);
}
const config = loadConfig({ ...process.env, AGENT_URLS: urls.join(','), LOG_LEVEL: 'warn', PORT: '0' });
const orchestrator = await buildOrchestratorApp(config);
await orchestrator.listen({ host: '127.0.0.1', port: 0 });
const addr = orchestrator.server.address() as { port: number };
process.stdout.write(`bench-platform listening on http://127.0.0.1:${addr.port}\n`);

process.once('SIGTERM', () => {
  void (async () => {
    await orchestrator.close();
    for (const app of apps) await app.close();
    process.exit(0);
  })();
});
