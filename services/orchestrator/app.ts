import type { EarlyServer } from '../http/early-server.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyInstance } from 'fastify';
import { Redis, reportRedisErrors } from '../state/redis-client.ts';
import swagger from '@fastify/swagger';
import type { Config } from '../config/index.ts';
import { createDiscovery, type Discovery } from '../discovery/index.ts';
import { errorHandlerPlugin, healthPlugin, serverOptions, useStrictBodies } from '../http/index.ts';
import { createLlmGateway } from '../llm/index.ts';
import { openDatabase, type Db } from '../state/index.ts';
import { createRegistry } from '../telemetry/index.ts';
import { AgentRegistry } from './agent-registry.ts';
import { CallsInFlight } from './calls-in-flight.ts';
import type { OrchestratorContext } from './context.ts';
import { createProgressHub, Engine, WorkflowNotifier } from './engine/index.ts';
import { registerBackupMetrics } from './backup-metrics.ts';
import { createEngineMetrics } from './metrics.ts';
import { loadPriceTable } from './usage/prices.ts';
import { usageRoutes } from './routes/usage.ts';
import { ApiKeyStore } from '../auth/index.ts';
import { ownershipFor } from './auth/ownership.ts';
import { authPlugin } from './auth/plugin.ts';
import { agentRoutes } from './routes/agents.ts';
import { apiKeyRoutes } from './routes/api-keys.ts';
import { eventRoutes } from './routes/events.ts';
import { orchestrateRoutes } from './routes/orchestrate.ts';
import { taskRoutes } from './routes/tasks.ts';
import { forkRoutes } from './routes/forks.ts';
import { scheduleRoutes } from './routes/schedules.ts';
import { Retention } from './retention.ts';
import { syncFileSchedules } from './schedules/file-schedules.ts';
import { createScheduleMetrics } from './schedules/metrics.ts';
import { startScheduledRun } from './schedules/scheduled-run.ts';
import { Scheduler } from './schedules/scheduler.ts';
import { uiRoutes } from './routes/ui.ts';
import {
  createGrpcTransport,
  createHttpTransport,
  createRoutingTransport,
  createStreamTransport,
  grpcAddress,
  withBreakers,
  type AgentTransport,
} from '../protocol/transport/index.ts';
import { OutlierEjection } from '../resilience/index.ts';
import { builtInWorkflowsDir, loadWorkflows } from './workflow-library.ts';

export interface OrchestratorDeps {
  /** A database owned by the caller (tests); otherwise one is opened from the config and closed with the app. */
  db?: Db;
  discovery?: Discovery;
  transport?: AgentTransport;
  /** A port `npm start` opened already (http/early-server.ts): the app serves on it once ready. */
  early?: EarlyServer;
}

/** Builds the orchestrator (API, engine, recovery); never listens. Recovery starts when the app is ready. */
export async function buildOrchestratorApp(config: Config, deps: OrchestratorDeps = {}): Promise<FastifyInstance> {
  const app = Fastify(
    serverOptions('orchestrator', {
      logLevel: config.logLevel,
      bodyLimit: config.bodyLimitBytes,
      trustProxy: config.trustProxy,
      ...(deps.early ? { early: deps.early } : {}),
    }),
  );

  useStrictBodies(app);
  const discovery = deps.discovery ?? createDiscovery(config, app.log);
  const registry = createRegistry('orchestrator');
  // A bad workflow file stops start-up before anything else is opened.
  const workflows = await loadWorkflows(config.workflowsDir ?? builtInWorkflowsDir, new Set(discovery.agents()));
  const prices = await loadPriceTable(config.pricesFile);
  const db = deps.db ?? (await openDatabase(config));
  let engine: Engine | undefined;
  // A replica that refuses or drops a connection sits out a cool-down (2 s, doubling to 30 s while it keeps failing).
  const outliers = new OutlierEjection({ baseEjectionMs: 2_000, maxEjectionMs: 30_000, registry });
  const http = deps.transport ?? createHttpTransport(discovery, { internalToken: config.auth.internalToken, outliers });
  const streamAgents = Object.entries(config.agentTransports)
    .filter(([, kind]) => kind === 'stream')
    .map(([name]) => name);
  const redis = streamAgents.length > 0 && config.redisUrl ? new Redis(config.redisUrl, { maxRetriesPerRequest: 3 }) : undefined;
  if (redis) reportRedisErrors(redis, app.log);
  const byKind: Record<string, AgentTransport> = {};
  if (redis)
    byKind.stream = createStreamTransport(redis, {
      owner: config.orchestratorId,
      agents: streamAgents,
      registry,
      log: app.log,
      info: (agent, signal) => http.info(agent, signal),
      internalToken: config.auth.internalToken,
    });
  if (Object.values(config.agentTransports).includes('grpc'))
    byKind.grpc = createGrpcTransport((agent) => grpcAddress(config, discovery, agent, outliers), {
      internalToken: config.auth.internalToken,
    });
  const routed = Object.keys(byKind).length > 0 ? createRoutingTransport(byKind, config.agentTransports, http) : http;
  const callsInFlight = new CallsInFlight();
  const transport = withBreakers(callsInFlight.wrap(routed), {
    ...config.breakers,
    registry,
    onChange: (agent, state) => {
      app.log.warn({ agent, state }, 'circuit breaker changed state');
      void engine?.breakerChanged(agent, state);
    },
  });
  const notifier = new WorkflowNotifier();
  notifier.watchRemote(db, app.log);
  const progress = createProgressHub({ redisUrl: config.redisUrl, log: app.log });
  const agents = new AgentRegistry(discovery, transport);
  const metrics = createEngineMetrics(
    registry,
    () => engine?.activeCount ?? 0,
    () => engine?.awaitedAgents() ?? [],
  );
  registerBackupMetrics(registry, db, app.log);
  engine = new Engine({
    db,
    transport,
    owner: config.orchestratorId,
    leaseMs: config.leaseMs,
    recoveryIntervalMs: config.recoveryIntervalMs,
    shutdownGraceMs: config.shutdownGraceMs,
    defaults: {
      timeoutMs: config.stepTimeoutMs,
      maxAttempts: config.stepMaxAttempts,
      backoffMs: config.retryBackoffMs,
      backoffRate: config.retryBackoffRate,
      unavailableTimeoutMs: config.agentUnavailableTimeoutMs,
    },
    groupCommit: { maxBatch: config.commitBatchMax, maxInFlight: config.commitInFlight, maxTries: 5, lingerMs: config.commitLingerMs },
    metrics,
    notifier,
    progress,
    log: app.log,
    knownAgents: () => agents.names(),
    prices,
  });
  const ctx: OrchestratorContext = {
    config,
    db,
    engine,
    agents,
    notifier,
    progress,
    llm: createLlmGateway(config, registry),
    workflows,
    transport,
    outliers,
    ownership: ownershipFor({ config, db }),
    callsInFlight,
  };

  const scheduleMetrics = createScheduleMetrics(registry);
  const scheduler = new Scheduler({
    db,
    owner: config.orchestratorId,
    ...config.schedules,
    start: (schedule, tick, caughtUp) => startScheduledRun(ctx, schedule, tick, caughtUp),
    metrics: scheduleMetrics,
    log: app.log,
  });
  const retention = new Retention({ db, ...config.retention, registry, log: app.log });
  app.decorate('retention', retention);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Agentic Mesh orchestrator', version: '0.1.0', description: 'Plan, run, follow and resume durable agent workflows.' },
      tags: [{ name: 'workflows' }, { name: 'schedules' }, { name: 'agents' }, { name: 'admin' }, { name: 'ops' }],
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'An API key (API_AUTH=keys)' } } },
      security: [{ apiKey: [] }],
    },
  });
  await app.register(errorHandlerPlugin);
  const keys = new ApiKeyStore(db, { adminKey: config.auth.adminKey });
  // Every replica counts against the same limit when there is Redis.
  const limiterRedis =
    config.redisUrl && config.rateLimit.max > 0
      ? new Redis(config.redisUrl, { connectTimeout: 500, maxRetriesPerRequest: 1, lazyConnect: false })
      : undefined;
  if (limiterRedis) reportRedisErrors(limiterRedis, app.log);
  await app.register(authPlugin, { mode: config.auth.mode, keys, rateLimit: config.rateLimit, redis: limiterRedis });
  await app.register(healthPlugin, {
    registry,
    checkReady: async () => {
      await db.query('SELECT 1');
      // Redis carries the calls of stream agents: without it, not ready. (The rate limit does
      // without it: requests then go unlimited.)
      if (redis) await Promise.race([redis.ping(), sleep(1_000).then(() => Promise.reject(new Error('redis did not answer within 1 s')))]);
      return { database: db.kind, owner: config.orchestratorId, ...(redis ? { redis: 'ok' } : {}) };
    },
  });
  await app.register(orchestrateRoutes, ctx);
  await app.register(taskRoutes, ctx);
  await app.register(usageRoutes, ctx);
  await app.register(forkRoutes, ctx);
  await app.register(scheduleRoutes, { ...ctx, scheduler, scheduleMetrics });
  await app.register(eventRoutes, ctx);
  await app.register(agentRoutes, ctx);
  await app.register(apiKeyRoutes, { keys });
  await app.register(uiRoutes);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.addHook('onReady', async () => {
    // Know where the agents are before taking work (Consul answers within moments, or not at all).
    await discovery.ready?.();
    await engine.start();
    // The files' schedules are written before any replica's scheduler could act on an old version of them.
    await syncFileSchedules(ctx, workflows, app.log);
    scheduler.start();
    retention.start();
  });
  app.addHook('onClose', async () => {
    notifier.close();
    await scheduler.close();
    await retention.close();
    await engine.close();
    await progress.close();
    await transport.close();
    redis?.disconnect();
    limiterRedis?.disconnect();
    discovery.close?.();
    if (!deps.db) await db.close();
  });
  return app;
}
