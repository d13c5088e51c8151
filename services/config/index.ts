import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Type, type Static } from 'typebox';
import Value from 'typebox/value';
import { ConfigError } from '../errors/index.ts';
import { parseBreakerOverrides, type BreakerSettings } from '../resilience/breaker-settings.ts';

// Every environment variable the platform reads, with its default. Units are in the names.
const EnvSchema = Type.Object({
  HOST: Type.String({ default: '127.0.0.1', description: 'Address every HTTP server binds to' }),
  PORT: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: 'Port for a single-role process' })),
  ORCHESTRATOR_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8001 }),
  MCP_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8000 }),
  KNOWLEDGE_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8007 }),
  KNOWLEDGE_URL: Type.Optional(Type.String({ pattern: '^https?://', description: 'Where agents find the knowledge service' })),
  KNOWLEDGE_INDEX_DOCS: Type.Boolean({ default: true, description: "Index the project's own docs at start" }),
  RAG_CACHE_TTL_MS: Type.Integer({ minimum: 0, default: 300_000 }),
  ORCHESTRATOR_URL: Type.String({ default: 'http://127.0.0.1:8001', description: 'Where the CLI finds the API' }),
  ORCHESTRATOR_ID: Type.Optional(Type.String({ minLength: 1, description: 'Lease owner name of this replica' })),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://', description: 'Postgres; PGlite when unset' })),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 200, default: 20 }),
  PGLITE_DATA_DIR: Type.String({ default: './.data/pg', description: "PGlite data directory, or 'memory://'" }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://', description: 'Redis; in-process stores when unset' })),
  IDEMPOTENCY_TTL_MS: Type.Integer({ minimum: 1000, default: 86_400_000, description: 'How long agents keep finished answers in Redis' }),
  LLM_BASE_URL: Type.Optional(
    Type.String({ pattern: '^https?://', description: 'OpenAI-compatible API base, e.g. .../v1; offline when unset' }),
  ),
  LLM_API_KEY: Type.Optional(Type.String({ minLength: 1 })),
  LLM_MODEL: Type.String({ default: 'gpt-4o-mini', minLength: 1 }),
  LLM_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 60_000 }),
  LLM_MAX_RETRIES: Type.Integer({ minimum: 0, maximum: 10, default: 3 }),
  WORKFLOWS_DIR: Type.Optional(Type.String({ minLength: 1, description: 'Named workflows (*.yaml); the built-in ones when unset' })),
  PRICES_FILE: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'Model prices (USD per 1M tokens, YAML); services/orchestrator/usage/prices.yaml when unset',
    }),
  ),
  BREAKER_ERROR_PERCENT: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
  BREAKER_VOLUME: Type.Integer({ minimum: 1, default: 5, description: 'Calls in the window before a breaker may open' }),
  BREAKER_RESET_MS: Type.Integer({ minimum: 10, default: 30_000, description: 'How long a breaker stays open before a trial call' }),
  BREAKER_WINDOW_MS: Type.Integer({ minimum: 100, default: 10_000 }),
  AGENT_BREAKERS: Type.String({ default: '', description: 'agent:key=value,...;... per-agent breaker settings' }),
  DISCOVERY: Type.Optional(
    Type.Union([Type.Literal('static'), Type.Literal('consul'), Type.Literal('kubernetes')], {
      description: 'consul when CONSUL_HTTP_ADDR is set, else static',
    }),
  ),
  CONSUL_HTTP_ADDR: Type.Optional(Type.String({ minLength: 1, description: 'host:port or URL of a Consul agent' })),
  CONSUL_CHECK_INTERVAL: Type.String({ pattern: '^[0-9]+(ms|s|m)$', default: '10s' }),
  CONSUL_CHECK_TIMEOUT: Type.String({ pattern: '^[0-9]+(ms|s|m)$', default: '2s' }),
  CONSUL_DEREGISTER_AFTER: Type.String({ pattern: '^[0-9]+(ms|s|m)$', default: '1m' }),
  AGENT_ADVERTISE_HOST: Type.Optional(
    Type.String({ minLength: 1, description: 'Address agents register with; HOST (or the hostname when HOST is 0.0.0.0)' }),
  ),
  LOAD_BALANCING: Type.Union([Type.Literal('least_inflight'), Type.Literal('round_robin')], { default: 'least_inflight' }),
  K8S_NAMESPACE: Type.String({ default: 'agentic-mesh' }),
  K8S_AGENT_PORT: Type.Integer({ minimum: 1, maximum: 65535, default: 8080 }),
  K8S_CLUSTER_DOMAIN: Type.String({ default: 'cluster.local' }),
  AGENT_TRANSPORTS: Type.String({
    default: '',
    description: 'name=http|stream|grpc,...: how calls reach each agent (http when not named)',
  }),
  GRPC_PORT_OFFSET: Type.Integer({
    minimum: 1,
    maximum: 60_000,
    default: 1000,
    description: "An agent's gRPC port is its HTTP port plus this (8003 -> 9003); 0 with PORT=0",
  }),
  AGENT_GRPC_URLS: Type.String({ default: '', description: 'name=host:port,... gRPC addresses that do not follow the offset rule' }),
  STREAM_CLAIM_IDLE_MS: Type.Integer({
    minimum: 100,
    default: 60_000,
    description: 'A stream entry unacked this long is taken over by another replica',
  }),
  STREAM_CONCURRENCY: Type.Integer({ minimum: 1, default: 10 }),
  AGENT_URLS: Type.String({ default: '', description: 'name=url,... overrides of the static discovery table' }),
  AGENT_HOST: Type.String({ default: '127.0.0.1', description: 'Host of the static discovery table' }),
  STEP_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 300_000 }),
  STEP_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 100, default: 3 }),
  RETRY_BACKOFF_MS: Type.Integer({ minimum: 0, default: 500 }),
  RETRY_BACKOFF_RATE: Type.Number({ minimum: 1, default: 2 }),
  LEASE_MS: Type.Integer({ minimum: 100, default: 30_000 }),
  RECOVERY_INTERVAL_MS: Type.Integer({ minimum: 50, default: 10_000 }),
  AGENT_UNAVAILABLE_TIMEOUT_MS: Type.Integer({ minimum: 0, maximum: 86_400_000, default: 300_000 }),
  PLAN_CHECK_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    maximum: 600_000,
    default: 10_000,
    description: 'How long planning waits for an agent to answer POST /check; one that does not leaves its step unchecked',
  }),
  API_KEY_OWNERSHIP: Type.Union([Type.Literal('on'), Type.Literal('off')], {
    default: 'off',
    description: 'on: an API key sees and acts on only the tasks it submitted, unless it has the admin scope',
  }),
  MCP_ALLOWED_HOSTS: Type.String({
    default: '',
    maxLength: 2000,
    description: 'Host names the MCP gateway answers for besides localhost, 127.0.0.1 and ::1, comma-separated',
  }),
  MCP_ALLOWED_ORIGINS: Type.String({
    default: '',
    maxLength: 2000,
    description: 'Browser origins allowed to call the MCP gateway, comma-separated; a request with another Origin is refused',
  }),
  SCHEDULER_INTERVAL_MS: Type.Integer({
    minimum: 50,
    default: 1000,
    description: 'Longest the scheduler sleeps between looks (it wakes for the next tick it knows of sooner)',
  }),
  SCHEDULE_CLAIM_MS: Type.Integer({
    minimum: 100,
    default: 5000,
    description: 'How long a replica holds a due schedule while it starts its ticks; a dead holder delays a tick this long',
  }),
  SCHEDULE_MISFIRE_MS: Type.Integer({
    minimum: 0,
    default: 60_000,
    description: "A tick later than this counts as missed and the schedule's catch_up decides; a tick less late runs",
  }),
  RETENTION_DAYS: Type.Integer({
    minimum: 0,
    default: 30,
    description: 'Finished workflows older than this many days are deleted with their steps and events; 0 keeps everything',
  }),
  RETENTION_INTERVAL_MS: Type.Integer({ minimum: 1000, default: 600_000, description: 'How often each replica looks for work to delete' }),
  RETENTION_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 10_000, default: 500, description: 'Workflows deleted per statement' }),
  COMMIT_BATCH_MAX: Type.Integer({ minimum: 1, maximum: 1000, default: 200 }),
  COMMIT_IN_FLIGHT: Type.Integer({ minimum: 1, maximum: 16, default: 1 }),
  COMMIT_LINGER_MS: Type.Integer({ minimum: 0, maximum: 100, default: 1 }),
  BODY_LIMIT_BYTES: Type.Integer({ minimum: 1024, default: 1_048_576 }),
  API_AUTH: Type.Optional(
    Type.Union([Type.Literal('off'), Type.Literal('keys')], {
      description: 'keys: the public API wants a Bearer API key; keys when ADMIN_API_KEY is set, else off',
    }),
  ),
  ADMIN_API_KEY: Type.Optional(Type.String({ minLength: 32, description: 'Bearer key with every scope; creates the other keys' })),
  INTERNAL_TOKEN: Type.Optional(
    Type.String({ minLength: 32, description: 'Shared secret on orchestrator-to-agent calls; agents refuse calls without it when set' }),
  ),
  RATE_LIMIT_MAX: Type.Optional(
    Type.Integer({
      minimum: 0,
      description:
        'Requests per client per window on the public API; 0 turns the limit off. Unset: 10 with API_AUTH=keys, no limit with auth off',
    }),
  ),
  RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 100, default: 1000 }),
  TRUST_PROXY: Type.String({
    default: '',
    maxLength: 2000,
    description:
      'Addresses or CIDRs of the proxies in front (Caddy, an ingress), comma-separated: from those, the client address comes from X-Forwarded-For',
  }),
  API_KEY: Type.Optional(Type.String({ minLength: 1, description: 'Bearer key the CLI sends to the orchestrator' })),
  HEALTH_PORT: Type.Optional(
    Type.Integer({ minimum: 0, maximum: 65535, description: 'Also serve /health and /ready on this port (Kubernetes probes)' }),
  ),
  METRICS_PORT: Type.Optional(
    Type.Integer({ minimum: 0, maximum: 65535, description: 'Also serve /metrics on this port (Prometheus scrapes)' }),
  ),
  WAIT_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 600_000, description: 'Longest a wait:true request is held' }),
  SHUTDOWN_GRACE_MS: Type.Integer({ minimum: 0, default: 10_000 }),
  IDEMPOTENCY_MAX_ENTRIES: Type.Integer({ minimum: 1, default: 10_000 }),
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(
    Type.String({ pattern: '^https?://', description: 'OTLP/HTTP collector (Jaeger :4318); tracing is off when unset' }),
  ),
  JAEGER_UI_URL: Type.Optional(
    Type.String({ pattern: '^https?://', description: "Jaeger's web UI; the run viewer links each run to its trace there" }),
  ),
  TRACE_SAMPLE_RATIO: Type.Number({ minimum: 0, maximum: 1, default: 1, description: 'Share of workflows traced' }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
});

type Env = Static<typeof EnvSchema>;

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
