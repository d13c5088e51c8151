import type { Config } from '../../services/config/index.ts';
import { createStaticDiscovery, registerWithConsul, type ConsulRegistration } from '../../services/discovery/index.ts';
import { serverUrl } from '../../services/http/index.ts';
import { startOpsListeners, type OpsListeners } from '../../services/http/ops-server.ts';
import { requestStream } from '../../services/protocol/index.ts';
import { Redis, reportRedisErrors } from '../../services/state/redis-client.ts';
import { agentInfo, buildAgentApp } from './app.ts';
import { startGrpcServer } from './grpc-server.ts';
import { createRedisIdempotencyStore } from './redis-idempotency.ts';
import { createAgentRuntime } from './runtime.ts';
import { startStreamWorker } from './stream-worker.ts';
import type { AgentDefinition } from './types.ts';

export interface StartAgentOptions {
  /** A connection shared with other agents of this process; without it one is opened from REDIS_URL, and closed with the agent. */
  redis?: Redis;
}

export interface RunningAgent {
  name: string;
  url: string;
  grpcPort: number;
  /** Leaves discovery first, then lets the calls in flight finish, then closes every listener. */
  close(): Promise<void>;
}

/** The port an agent takes: PORT when given (0 = any free port), else its entry in the discovery table. */
function agentPort(config: Config, name: string): number {
  if (config.port !== undefined) return config.port;
  const url = createStaticDiscovery(config).pick(name)?.url;
  const port = url ? Number(new URL(url).port) : NaN;
  if (!Number.isInteger(port) || port <= 0) throw new Error(`no port for agent ${name}: set PORT or AGENT_URLS`);
  return port;
}

/**
 * Runs one agent as the platform runs its own: the HTTP app, HEALTH_PORT / METRICS_PORT listeners,
 * the same calls over gRPC, a stream worker when AGENT_TRANSPORTS says `stream`, Consul registration
 * when DISCOVERY=consul, and idempotency in Redis when REDIS_URL is set. Prints where it listens.
 */
export async function startAgent(definition: AgentDefinition, config: Config, options: StartAgentOptions = {}): Promise<RunningAgent> {
  const name = definition.name;
  const ownRedis = !options.redis && config.redisUrl ? new Redis(config.redisUrl, { maxRetriesPerRequest: 3 }) : undefined;
  const redis = options.redis ?? ownRedis;
  // With Redis, answers outlive the process and are shared by every replica of the agent.
  const store = redis
    ? createRedisIdempotencyStore(redis, { prefix: `mesh:idem:${name}:`, ttlMs: config.idempotencyTtlMs, pendingTtlMs: 10_000 })
    : undefined;
  const runtime = createAgentRuntime(definition, {
    ...(store ? { idempotencyStore: store } : {}),
    idempotencyMaxEntries: config.idempotencyMaxEntries,
    shutdownGraceMs: config.shutdownGraceMs,
    ...(config.knowledgeUrl ? { knowledgeUrl: config.knowledgeUrl } : {}),
    internalToken: config.auth.internalToken,
    llm: config.llm,
  });
  const app = buildAgentApp(definition, {
    runtime,
    logLevel: config.logLevel,
    bodyLimitBytes: config.bodyLimitBytes,
    internalToken: config.auth.internalToken,
  });
  if (redis) reportRedisErrors(redis, app.log);
  let ops: OpsListeners | undefined;
  let registration: ConsulRegistration | undefined;
  let grpc: Awaited<ReturnType<typeof startGrpcServer>> | undefined;
  let worker: ReturnType<typeof startStreamWorker> | undefined;
  // Also undoes a startup that failed half way. Deregistered first, so no new call is routed here
  // while the calls in flight finish; the app before its probe port, which answers /ready with 503 meanwhile.
  const close = async () => {
    await registration?.deregister().catch((err: unknown) => app.log.warn({ err }, 'consul deregistration failed'));
    await worker?.stop();
    await grpc?.close();
    await app.close();
    await ops?.close();
    ownRedis?.disconnect();
  };
  try {
    await app.listen({ host: config.host, port: agentPort(config, name) });
    ops = await startOpsListeners(app, { host: config.host, healthPort: config.healthPort, metricsPort: config.metricsPort });
    const url = serverUrl(app.server);
    const httpPort = Number(new URL(url).port);
    const d = config.discovery;
    if (d.kind === 'consul' && d.consulAddress) {
      try {
        registration = await registerWithConsul(
          d.consulAddress,
          {
            name,
            host: d.advertiseHost,
            port: httpPort,
            interval: d.checkInterval,
            timeout: d.checkTimeout,
            deregisterAfter: d.deregisterAfter,
          },
          app.log,
        );
      } catch (err) {
        // The agent still serves; the orchestrator's static table (or a later restart) finds it.
        app.log.error({ err }, `could not register ${name} with Consul at ${d.consulAddress}`);
      }
    }
    // The same calls over gRPC on a second port (HTTP port + GRPC_PORT_OFFSET; any free port with PORT=0).
    grpc = await startGrpcServer(() => agentInfo(definition), runtime, {
      host: config.host,
      port: config.port === 0 ? 0 : httpPort + config.grpcPortOffset,
      log: app.log,
      internalToken: config.auth.internalToken,
      agent: name,
    });
    // Calls that come as stream entries use the same runtime (and idempotency store) as HTTP calls.
    worker =
      redis && config.agentTransports[name] === 'stream'
        ? startStreamWorker(name, runtime, redis, {
            claimIdleMs: config.streamClaimIdleMs,
            concurrency: config.streamConcurrency,
            log: app.log,
            internalToken: config.auth.internalToken,
          })
        : undefined;
    const notes = [
      `grpc ${config.host}:${grpc.port}`,
      ops.describe(),
      registration ? `registered with Consul as ${registration.id}` : '',
      worker ? `reading ${requestStream(name)} as ${worker.consumer}` : '',
    ].filter(Boolean);
    process.stdout.write(`agentic-mesh: agent ${name} listening on ${url}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}\n`);
    return { name, url, grpcPort: grpc.port, close };
  } catch (err) {
    await close();
    throw err;
  }
}
