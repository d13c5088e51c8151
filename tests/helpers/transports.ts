import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { onTestFinished } from 'vitest';
import {
  agentInfo,
  buildAgentApp,
  createAgentRuntime,
  startGrpcServer,
  startStreamWorker,
  type AgentDefinition,
} from '../../agents/sdk/index.ts';
import type { Config } from '../../services/config/index.ts';
import type { Db } from '../../services/state/index.ts';
import { listenOnLoopback, startPlatform } from './platform.ts';

const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const silent = pino({ level: 'silent' });

export type TransportKind = 'http' | 'stream' | 'grpc';
export const transportKinds: TransportKind[] = ['http', 'stream', 'grpc'];

/**
 * An orchestrator on `db` whose one agent is served over the named transport (its model at `llm`,
 * when given); everything is closed, and the agent's streams deleted, after the test.
 */
export async function orchestratorOver(kind: TransportKind, agent: AgentDefinition, db: Db, llm?: Config['llm']): Promise<FastifyInstance> {
  const options = llm ? { llm } : {};
  if (kind === 'http') {
    const app = buildAgentApp(agent, { logLevel: 'silent', shutdownGraceMs: 1_000, ...options });
    onTestFinished(() => app.close());
    return (await startPlatform(db, [], { AGENT_URLS: `${agent.name}=${await listenOnLoopback(app)}` })).app;
  }
  if (kind === 'stream') {
    const redis = new Redis(redisUrl);
    const owner = `orch-${randomBytes(3).toString('hex')}`;
    const worker = startStreamWorker(agent.name, createAgentRuntime(agent, options), redis, {
      claimIdleMs: 30_000,
      concurrency: 2,
      blockMs: 200,
      log: silent,
    });
    onTestFinished(async () => {
      await worker.stop();
      const keys = await redis.keys(`agent.${agent.name}.*`);
      await redis.del(...keys, `orchestrator.${owner}.results`);
      redis.disconnect();
    });
    const env = { REDIS_URL: redisUrl, AGENT_TRANSPORTS: `${agent.name}=stream`, AGENT_URLS: `${agent.name}=http://127.0.0.1:9` };
    return (await startPlatform(db, [], { ...env, ORCHESTRATOR_ID: owner })).app;
  }
  const server = await startGrpcServer(() => agentInfo(agent), createAgentRuntime(agent, options), {
    host: '127.0.0.1',
    port: 0,
    log: silent,
  });
  onTestFinished(() => server.close());
  const env = {
    AGENT_TRANSPORTS: `${agent.name}=grpc`,
    AGENT_GRPC_URLS: `${agent.name}=127.0.0.1:${server.port}`,
    AGENT_URLS: `${agent.name}=http://127.0.0.1:9`,
  };
  return (await startPlatform(db, [], env)).app;
}
