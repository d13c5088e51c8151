import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import Value from 'typebox/value';
import { ConfigError } from '../errors/index.ts';
import { parseBreakerOverrides, type BreakerSettings } from '../resilience/breaker-settings.ts';
import { EnvSchema, type Env } from './env.ts';

export interface Config {
  readonly host: string;
  readonly port: number | undefined;
  readonly orchestratorPort: number;
  readonly mcpPort: number;
  readonly knowledgePort: number;
  readonly knowledgeUrl: string | undefined;
  readonly knowledgeIndexDocs: boolean;
  readonly ragCacheTtlMs: number;
  readonly orchestratorUrl: string;
  readonly orchestratorId: string;
  readonly databaseUrl: string | undefined;
  readonly databasePoolSize: number;
  readonly pgliteDataDir: string;
  readonly redisUrl: string | undefined;
  readonly idempotencyTtlMs: number;
  readonly llm: Readonly<{ baseUrl: string | undefined; apiKey: string | undefined; model: string; timeoutMs: number; maxRetries: number }>;
  readonly workflowsDir: string | undefined;
  readonly pricesFile: string | undefined;
  readonly breakers: Readonly<{ defaults: BreakerSettings; overrides: Record<string, Partial<BreakerSettings>> }>;
  readonly discovery: Readonly<{
    kind: 'static' | 'consul' | 'kubernetes';
    consulAddress: string | undefined;
    checkInterval: string;
    checkTimeout: string;
    deregisterAfter: string;
    advertiseHost: string;
    balance: 'least_inflight' | 'round_robin';
    k8s: { namespace: string; port: number; clusterDomain: string };
  }>;
  readonly agentTransports: Readonly<Record<string, 'http' | 'stream' | 'grpc'>>;
  readonly grpcPortOffset: number;
  readonly agentGrpcUrls: Readonly<Record<string, string>>;
  readonly streamClaimIdleMs: number;
  readonly streamConcurrency: number;
  readonly agentUrls: Readonly<Record<string, string>>;
  readonly agentHost: string;
  readonly stepTimeoutMs: number;
  readonly stepMaxAttempts: number;
  readonly retryBackoffMs: number;
  readonly retryBackoffRate: number;
  readonly leaseMs: number;
  readonly recoveryIntervalMs: number;
  /** What the MCP gateway answers for: Host names (besides loopback) and browser Origins (DNS rebinding). */
  readonly mcp: Readonly<{ allowedHosts: readonly string[]; allowedOrigins: readonly string[] }>;
  /** How long a step waits for an instance of its agent to take its call before it fails. */
  readonly agentUnavailableTimeoutMs: number;
  /** How long planning waits for an agent's POST /check. */
  readonly planCheckTimeoutMs: number;
  /** Schedules: the scheduler's longest sleep, how long a due schedule is claimed, and when a late tick counts as missed. */
  readonly schedules: Readonly<{ intervalMs: number; claimMs: number; misfireMs: number }>;
  /** Finished workflows older than `days` are deleted (0: never), `batchSize` at a time, every `intervalMs`. */
  readonly retention: Readonly<{ days: number; intervalMs: number; batchSize: number }>;
  /** Group commit: most workflows in one statement, and statements in flight at once. */
  readonly commitBatchMax: number;
  readonly commitInFlight: number;
  /** Group commit: how long a step's commit may wait for a sibling's to share its statement. */
  readonly commitLingerMs: number;
  readonly bodyLimitBytes: number;
  readonly auth: Readonly<{ mode: 'off' | 'keys'; adminKey: string | undefined; internalToken: string | undefined; ownership: boolean }>;
  readonly rateLimit: Readonly<{ max: number; windowMs: number }>;
  /** The proxies whose X-Forwarded-For is believed (addresses or CIDRs); empty: none. */
  readonly trustProxy: readonly string[];
  readonly apiKey: string | undefined;
  readonly healthPort: number | undefined;
  readonly metricsPort: number | undefined;
  readonly waitTimeoutMs: number;
  readonly shutdownGraceMs: number;
  readonly idempotencyMaxEntries: number;
  readonly logLevel: string;
  readonly tracing: Readonly<{ endpoint: string | undefined; sampleRatio: number; jaegerUiUrl: string | undefined }>;
}

export const envVariables = Object.keys(EnvSchema.properties);

/**
 * This replica's lease-owner name when ORCHESTRATOR_ID is not set. A PGlite database on disk is one
 * process's alone, so every lease in it was taken by an earlier start of this installation: a name
 * that stays the same across restarts takes them back at once instead of after LEASE_MS. On Postgres,
 * shared by replicas, each start is a name of its own.
 */
function defaultOwner(databaseUrl: string | undefined, pgliteDataDir: string): string {
  if (!databaseUrl && !pgliteDataDir.startsWith('memory://')) return `embedded-${hostname()}`;
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const raw: Record<string, string> = {};
  for (const key of envVariables) {
    const value = env[key];
    // An empty variable means "not set", never an empty value.
    if (value !== undefined && value.trim() !== '') raw[key] = value.trim();
  }
  const parsed = Value.Default(EnvSchema, Value.Convert(EnvSchema, raw));
  const errors = [...Value.Errors(EnvSchema, parsed)];
  if (errors.length > 0) {
    const problems = errors.map((e) => {
      const name = e.instancePath.replace(/^\//, '');
      return `${name}=${JSON.stringify(raw[name])} ${e.message}`;
    });
    throw new ConfigError(`invalid configuration: ${[...new Set(problems)].join('; ')}`);
  }
  const e = parsed as Env;
  const authMode = e.API_AUTH ?? (e.ADMIN_API_KEY ? 'keys' : 'off');
  if (authMode === 'keys' && !e.ADMIN_API_KEY)
    throw new ConfigError('invalid configuration: API_AUTH=keys needs ADMIN_API_KEY (the key that creates the others)');
  if (e.DISCOVERY === 'consul' && !e.CONSUL_HTTP_ADDR)
    throw new ConfigError('invalid configuration: DISCOVERY=consul needs CONSUL_HTTP_ADDR');
  return Object.freeze({
    host: e.HOST,
    port: e.PORT,
    orchestratorPort: e.ORCHESTRATOR_PORT,
    mcpPort: e.MCP_PORT,
    knowledgePort: e.KNOWLEDGE_PORT,
    knowledgeUrl: e.KNOWLEDGE_URL?.replace(/\/+$/, ''),
    knowledgeIndexDocs: e.KNOWLEDGE_INDEX_DOCS,
    ragCacheTtlMs: e.RAG_CACHE_TTL_MS,
    orchestratorUrl: e.ORCHESTRATOR_URL.replace(/\/+$/, ''),
    orchestratorId: e.ORCHESTRATOR_ID ?? defaultOwner(e.DATABASE_URL, e.PGLITE_DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    pgliteDataDir: e.PGLITE_DATA_DIR,
    redisUrl: e.REDIS_URL,
    idempotencyTtlMs: e.IDEMPOTENCY_TTL_MS,
    llm: Object.freeze({
      baseUrl: e.LLM_BASE_URL?.replace(/\/+$/, ''),
      apiKey: e.LLM_API_KEY,
      model: e.LLM_MODEL,
      timeoutMs: e.LLM_TIMEOUT_MS,
      maxRetries: e.LLM_MAX_RETRIES,
    }),
    workflowsDir: e.WORKFLOWS_DIR,
    pricesFile: e.PRICES_FILE,
    breakers: Object.freeze({
      defaults: {
        errorPercent: e.BREAKER_ERROR_PERCENT,
        volume: e.BREAKER_VOLUME,
        resetMs: e.BREAKER_RESET_MS,
        windowMs: e.BREAKER_WINDOW_MS,
      },
      overrides: parseBreakerOverrides(e.AGENT_BREAKERS),
    }),
    discovery: Object.freeze({
      kind: e.DISCOVERY ?? (e.CONSUL_HTTP_ADDR ? 'consul' : 'static'),
      consulAddress: e.CONSUL_HTTP_ADDR,
      checkInterval: e.CONSUL_CHECK_INTERVAL,
      checkTimeout: e.CONSUL_CHECK_TIMEOUT,
      deregisterAfter: e.CONSUL_DEREGISTER_AFTER,
      advertiseHost: e.AGENT_ADVERTISE_HOST ?? (e.HOST === '0.0.0.0' || e.HOST === '::' ? hostname() : e.HOST),
      balance: e.LOAD_BALANCING,
      k8s: { namespace: e.K8S_NAMESPACE, port: e.K8S_AGENT_PORT, clusterDomain: e.K8S_CLUSTER_DOMAIN },
    }),
    agentTransports: Object.freeze(parseAgentTransports(e.AGENT_TRANSPORTS, Boolean(e.REDIS_URL))),
    grpcPortOffset: e.GRPC_PORT_OFFSET,
    agentGrpcUrls: Object.freeze(
      Object.fromEntries(
        e.AGENT_GRPC_URLS.split(',')
          .map((p) => p.trim())
          .filter(Boolean)
          .map((p) => {
            const [name, address] = p.split('=').map((x) => x.trim());
            if (!name || !address || !/^[^\s:/]+:\d+$/.test(address))
              throw new ConfigError(`invalid configuration: AGENT_GRPC_URLS entry ${JSON.stringify(p)} is not name=host:port`);
            return [name, address];
          }),
      ),
    ),
    streamClaimIdleMs: e.STREAM_CLAIM_IDLE_MS,
    streamConcurrency: e.STREAM_CONCURRENCY,
    agentUrls: Object.freeze(parseAgentUrls(e.AGENT_URLS)),
    agentHost: e.AGENT_HOST,
    stepTimeoutMs: e.STEP_TIMEOUT_MS,
    stepMaxAttempts: e.STEP_MAX_ATTEMPTS,
    retryBackoffMs: e.RETRY_BACKOFF_MS,
    retryBackoffRate: e.RETRY_BACKOFF_RATE,
    leaseMs: e.LEASE_MS,
    recoveryIntervalMs: e.RECOVERY_INTERVAL_MS,
    agentUnavailableTimeoutMs: e.AGENT_UNAVAILABLE_TIMEOUT_MS,
    planCheckTimeoutMs: e.PLAN_CHECK_TIMEOUT_MS,
    mcp: Object.freeze({
      allowedHosts: Object.freeze(list(e.MCP_ALLOWED_HOSTS)),
      allowedOrigins: Object.freeze(list(e.MCP_ALLOWED_ORIGINS)),
    }),
    schedules: Object.freeze({ intervalMs: e.SCHEDULER_INTERVAL_MS, claimMs: e.SCHEDULE_CLAIM_MS, misfireMs: e.SCHEDULE_MISFIRE_MS }),
    retention: Object.freeze({ days: e.RETENTION_DAYS, intervalMs: e.RETENTION_INTERVAL_MS, batchSize: e.RETENTION_BATCH_SIZE }),
    commitBatchMax: e.COMMIT_BATCH_MAX,
    commitInFlight: e.COMMIT_IN_FLIGHT,
    commitLingerMs: e.COMMIT_LINGER_MS,
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    auth: Object.freeze({
      mode: authMode,
      adminKey: e.ADMIN_API_KEY,
      internalToken: e.INTERNAL_TOKEN,
      ownership: e.API_KEY_OWNERSHIP === 'on',
    }),
    // With auth off (npm start on one machine) the caller is the user: nothing to throttle unless asked.
    rateLimit: Object.freeze({ max: e.RATE_LIMIT_MAX ?? (authMode === 'keys' ? 10 : 0), windowMs: e.RATE_LIMIT_WINDOW_MS }),
    trustProxy: Object.freeze(trustedProxies(e.TRUST_PROXY)),
    apiKey: e.API_KEY,
    healthPort: e.HEALTH_PORT,
    metricsPort: e.METRICS_PORT,
    waitTimeoutMs: e.WAIT_TIMEOUT_MS,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    idempotencyMaxEntries: e.IDEMPOTENCY_MAX_ENTRIES,
    logLevel: e.LOG_LEVEL,
    tracing: Object.freeze({
      endpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT?.replace(/\/+$/, ''),
      sampleRatio: e.TRACE_SAMPLE_RATIO,
      jaegerUiUrl: e.JAEGER_UI_URL?.replace(/\/+$/, ''),
    }),
  });
}

function parseAgentTransports(value: string, haveRedis: boolean): Record<string, 'http' | 'stream' | 'grpc'> {
  const out: Record<string, 'http' | 'stream' | 'grpc'> = {};
  for (const pair of value
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [name, kind] = pair.split('=').map((x) => x?.trim());
    if (!name || (kind !== 'http' && kind !== 'stream' && kind !== 'grpc')) {
      throw new ConfigError(`invalid configuration: AGENT_TRANSPORTS entry ${JSON.stringify(pair)} is not name=http|stream|grpc`);
    }
    if (kind === 'stream' && !haveRedis) throw new ConfigError(`invalid configuration: AGENT_TRANSPORTS ${name}=stream needs REDIS_URL`);
    out[name] = kind;
  }
  return out;
}

function parseAgentUrls(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of value
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const url = pair.slice(eq + 1).trim();
    if (eq <= 0 || !/^https?:\/\/[^\s]+$/.test(url)) {
      throw new ConfigError(`invalid configuration: AGENT_URLS entry ${JSON.stringify(pair)} is not name=http(s)://host:port`);
    }
    out[name] = url.replace(/\/+$/, '');
  }
  return out;
}

/**
 * TRUST_PROXY as a list of addresses and CIDRs. `true` is refused: it would believe the
 * X-Forwarded-For of anyone reaching the orchestrator directly, who could then pick their own
 * address (and so their own rate limit).
 */
function trustedProxies(raw: string): string[] {
  const value = raw.trim();
  if (value === '' || value === 'false') return [];
  if (value === 'true') {
    throw new ConfigError(
      "invalid configuration: TRUST_PROXY=true would let anyone who reaches the orchestrator directly choose their own address through X-Forwarded-For; give the addresses or CIDRs of the proxies in front instead (compose: 172.30.240.2, Caddy's address)",
    );
  }
  const entries = value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
  for (const entry of entries) {
    const [address, bits, extra] = entry.split('/');
    const version = isIP(address ?? '');
    const bitsOk = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (version === 6 ? 128 : 32));
    if (version === 0 || !bitsOk || extra !== undefined)
      throw new ConfigError(
        `invalid configuration: TRUST_PROXY entry "${entry}" is not an IP address or CIDR (e.g. 172.30.240.2 or 10.244.0.0/16)`,
      );
  }
  return entries;
}

const list = (raw: string): string[] =>
  raw
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
