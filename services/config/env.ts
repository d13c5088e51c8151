import { Type, type Static } from 'typebox';

// Every environment variable the platform reads, with its type and default (units are in the names);
// index.ts turns them into a Config and checks what a schema cannot (URLs, lists, combinations).
export const EnvSchema = Type.Object({
  HOST: Type.String({ default: '127.0.0.1', description: 'Address every HTTP server binds to' }),
  PORT: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: 'Port for a single-role process' })),
  ORCHESTRATOR_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8001 }),
  MCP_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8000 }),
  KNOWLEDGE_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8007 }),
  KNOWLEDGE_URL: Type.Optional(Type.String({ pattern: '^https?://', description: 'Where agents find the knowledge service' })),
  KNOWLEDGE_INDEX_DOCS: Type.Boolean({ default: true, description: "Index the project's own docs at start" }),
  RAG_CACHE_TTL_MS: Type.Integer({ minimum: 0, default: 300_000 }),
  ORCHESTRATOR_URL: Type.String({
    default: 'http://127.0.0.1:8001',
    pattern: '^https?://',
    description: 'Where the CLI and the MCP gateway find the API',
  }),
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

export type Env = Static<typeof EnvSchema>;
