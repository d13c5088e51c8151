// Each role's code is imported by the function that runs it, so a process loads only the roles it
// runs: an agent process no orchestrator, engine or MCP code; the orchestrator no agent code
// (tests/unit/role-imports.test.ts).
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/index.ts';
import { ConfigError } from '../errors/index.ts';
import { serverUrl } from '../http/index.ts';
import { listenEarly, type EarlyServer } from '../http/early-server.ts';
import { startOpsListeners, type OpsListeners } from '../http/ops-server.ts';
import type { Db } from '../state/index.ts';
import { redactUrl } from '../telemetry/index.ts';

export interface Running {
  services: Array<{ name: string; url: string }>;
  close(): Promise<void>;
}

function announce(name: string, url: string, extra = ''): void {
  process.stdout.write(`agentic-mesh: ${name} listening on ${url}${extra}\n`);
}

/** HEALTH_PORT / METRICS_PORT listeners for a role's app; none when neither is set. */
function startOps(app: FastifyInstance, config: Config): Promise<OpsListeners> {
  return startOpsListeners(app, { host: config.host, healthPort: config.healthPort, metricsPort: config.metricsPort });
}

/** Adds "health …, metrics …" to a role's " (…)" announce notes. */
function withOpsNotes(extra: string, ops: OpsListeners): string {
  const d = ops.describe();
  if (!d) return extra;
  return extra.endsWith(')') ? `${extra.slice(0, -1)}; ${d})` : `${extra} (${d})`;
}

/**
 * The extra listeners are one port each per process: with several roles (or agents) in one process
 * they would collide, so such a process serves its probes and metrics on each app's own port only.
 */
function withoutOps(config: Config, why: string): Config {
  if (config.healthPort === undefined && config.metricsPort === undefined) return config;
  process.stdout.write(
    `agentic-mesh: HEALTH_PORT and METRICS_PORT are not used: ${why}; /health, /ready and /metrics stay on each service's own port\n`,
  );
  return Object.freeze({ ...config, healthPort: undefined, metricsPort: undefined });
}

const urlOf = (app: FastifyInstance): string => serverUrl(app.server);

export async function runAgents(names: string[], config: Config): Promise<Running> {
  const [{ builtInAgentNames, findAgent }, { startAgent }, { Redis }] = await Promise.all([
    import('../../agents/index.ts'),
    import('../../agents/sdk/index.ts'),
    import('../state/redis-client.ts'),
  ]);
  const defs = await Promise.all(
    names.map(async (n) => {
      const def = await findAgent(n);
      if (!def) throw new Error(`unknown agent "${n}"; built-in agents: ${builtInAgentNames.join(', ')}`);
      return def;
    }),
  );
  if (defs.length > 1) config = withoutOps(config, `${defs.length} agents run in this process`);
  const started: Array<Awaited<ReturnType<typeof startAgent>>> = [];
  const redis = config.redisUrl ? new Redis(config.redisUrl, { maxRetriesPerRequest: 3 }) : undefined;
  const closeAll = async () => {
    await Promise.allSettled(started.map((s) => s.close()));
    redis?.disconnect();
  };
  try {
    for (const def of defs) started.push(await startAgent(def, config, redis ? { redis } : {}));
  } catch (err) {
    await closeAll();
    throw err;
  }
  return {
    services: started.map((s) => ({ name: `agent ${s.name}`, url: s.url })),
    close: closeAll,
  };
}

function describeState(config: Config): string {
  return config.databaseUrl ? `postgres ${redactUrl(config.databaseUrl)}` : `PGlite in ${config.pgliteDataDir}`;
}

/** Listens, announces where, and on a failed listen closes what the role opened. */
async function serveRole(
  app: FastifyInstance,
  config: Config,
  defaultPort: number,
  name: string,
  close: () => Promise<void>,
  extra: (url: string) => string,
): Promise<Running> {
  let ops: OpsListeners;
  try {
    await app.listen({ host: config.host, port: config.port ?? defaultPort });
    ops = await startOps(app, config);
  } catch (err) {
    await close();
    throw err;
  }
  const url = urlOf(app);
  announce(name, url, withOpsNotes(extra(url), ops));
  // The app closes first: while it finishes, the probe port answers /ready with 503.
  return {
    services: [{ name, url }],
    close: async () => {
      await close();
      await ops.close();
    },
  };
}

/**
 * The orchestrator; with `db`, on a database the caller owns (shared in `start`), and with `early`,
 * on a port `start` opened before anything else (it serves there once ready).
 */
export async function runOrchestrator(config: Config, db?: Db, early?: EarlyServer): Promise<Running> {
  const { buildOrchestratorApp } = await import('../orchestrator/app.ts');
  const app = await buildOrchestratorApp(config, { ...(db ? { db } : {}), ...(early ? { early } : {}) });
  const extra = ` (state: ${describeState(config)}; owner ${config.orchestratorId})`;
  if (early) {
    // Already listening: nothing to bind, only to be ready before the port stops saying "starting".
    const close = async () => {
      await app.close();
      await early.close();
    };
    try {
      await app.ready();
    } catch (err) {
      await close();
      throw err;
    }
    early.open();
    announce('orchestrator', early.url, extra);
    return { services: [{ name: 'orchestrator', url: early.url }], close };
  }
  return serveRole(
    app,
    config,
    config.orchestratorPort,
    'orchestrator',
    () => app.close(),
    () => extra,
  );
}

/** The knowledge service; with `db`, on a database the caller owns. */
export async function runKnowledge(config: Config, db?: Db): Promise<Running> {
  const [{ ApiKeyStore }, { buildKnowledgeApp, createMemoryCache, createRedisCache }, { openDatabase }, { Redis, reportRedisErrors }] =
    await Promise.all([
      import('../auth/index.ts'),
      import('../knowledge/index.ts'),
      import('../state/index.ts'),
      import('../state/redis-client.ts'),
    ]);
  const ownDb = db ?? (await openDatabase(config));
  const redis = config.redisUrl ? new Redis(config.redisUrl, { maxRetriesPerRequest: 3 }) : undefined;
  const cache = redis ? createRedisCache(redis, 'mesh:rag:', config.ragCacheTtlMs) : createMemoryCache(config.ragCacheTtlMs);
  // Keys are checked against the same table the orchestrator keeps them in (one database).
  const keys = config.auth.internalToken ? new ApiKeyStore(ownDb, { adminKey: config.auth.adminKey }) : undefined;
  const app = buildKnowledgeApp({
    db: ownDb,
    cache,
    logLevel: config.logLevel,
    indexProjectDocs: config.knowledgeIndexDocs,
    internalToken: config.auth.internalToken,
    keys,
  });
  if (redis) reportRedisErrors(redis, app.log);
  const close = async () => {
    await app.close();
    redis?.disconnect();
    if (!db) await ownDb.close();
  };
  return serveRole(app, config, config.knowledgePort, 'knowledge', close, () => ` (cache: ${cache.kind})`);
}

/** The MCP gateway, in front of the orchestrator and knowledge service the config names. */
export async function runMcpGateway(config: Config): Promise<Running> {
  const { buildMcpGatewayApp } = await import('../mcp-gateway/index.ts');
  const app = buildMcpGatewayApp({
    orchestratorUrl: config.orchestratorUrl,
    knowledgeUrl: config.knowledgeUrl,
    logLevel: config.logLevel,
    bodyLimitBytes: config.bodyLimitBytes,
    internalToken: config.auth.internalToken,
    allowedHosts: config.mcp.allowedHosts,
    allowedOrigins: config.mcp.allowedOrigins,
  });
  return serveRole(
    app,
    config,
    config.mcpPort,
    'mcp-gateway',
    () => app.close(),
    (url) => ` (MCP at ${url}/mcp)`,
  );
}

/** `npm start`: the five agents, knowledge, the orchestrator and the MCP gateway in one process, each on its own port. */
export async function runAll(config: Config): Promise<Running> {
  // PORT is a single role's port: every role here on it would collide, the second failing EADDRINUSE.
  if (config.port !== undefined && config.port !== 0)
    throw new ConfigError(
      `PORT=${config.port} is the port of a single-role process; start runs every role, each on its own port: ` +
        'set ORCHESTRATOR_PORT for the API (MCP_PORT, KNOWLEDGE_PORT for the others), or PORT=0 for free ports',
    );
  config = withoutOps(config, 'npm start runs every role in one process');
  // Where the first seconds go, printed once everything listens (docs/PERFORMANCE.md, npm run bench:start).
  const phases: string[] = [`loading ${Math.round(performance.now())} ms`];
  let mark = performance.now();
  const timed = <T>(name: string, value: T): T => {
    const now = performance.now();
    phases.push(`${name} ${Math.round(now - mark)} ms`);
    mark = now;
    return value;
  };
  // The orchestrator's port first: from here on a probe or a client hears "starting" (503 with
  // Retry-After, /health 200) rather than nothing, and a port already taken fails at once.
  const early = await listenEarly(config.host, config.port ?? config.orchestratorPort, 'orchestrator');
  process.stdout.write(`agentic-mesh: orchestrator starting on ${early.url} (/health answers now, /ready and the API once it is up)\n`);
  try {
    return await startRoles(config, early, timed, phases);
  } catch (err) {
    await early.close();
    throw err;
  }
}

async function startRoles(config: Config, early: EarlyServer, timed: <T>(name: string, value: T) => T, phases: string[]): Promise<Running> {
  // One database for the process: PGlite cannot be opened twice on one directory. It opens (a
  // template copied, WebAssembly compiled, mostly off the main thread) while the roles' code loads.
  const { openDatabase } = await import('../state/index.ts');
  const [opened, loaded] = await Promise.allSettled([
    openDatabase(config),
    Promise.all([
      import('../knowledge/index.ts'),
      import('../../agents/index.ts').then((a) => a.loadBuiltInAgents()),
      import('../../agents/sdk/index.ts'),
      import('../orchestrator/app.ts'),
      import('../mcp-gateway/index.ts'),
    ]),
  ]);
  if (loaded.status === 'rejected') {
    if (opened.status === 'fulfilled') await opened.value.close();
    throw loaded.reason;
  }
  if (opened.status === 'rejected') throw opened.reason;
  const db = timed("database and the roles' code", opened.value);
  const builtInAgents = loaded.value[1];
  const started: Running[] = [];
  const closeAll = async () => {
    for (const r of started.reverse()) await r.close();
    await db.close();
  };
  try {
    const knowledge = timed('knowledge', await runKnowledge(config, db));
    started.push(knowledge);
    const agents = timed(
      'agents',
      await runAgents(
        builtInAgents.map((a) => a.name),
        Object.freeze({ ...config, knowledgeUrl: config.knowledgeUrl ?? knowledge.services[0].url }),
      ),
    );
    started.push(agents);
    // With PORT=0 every server took a free port: point discovery at where the agents really are.
    const agentUrls = Object.fromEntries(agents.services.map((s) => [s.name.replace(/^agent /, ''), s.url]));
    const orchestrator = timed('orchestrator', await runOrchestrator(withAgentUrls(config, agentUrls), db, early));
    started.push(orchestrator);
    started.push(
      timed(
        'mcp-gateway',
        await runMcpGateway(
          Object.freeze({ ...config, orchestratorUrl: orchestrator.services[0].url, knowledgeUrl: knowledge.services[0].url }),
        ),
      ),
    );
  } catch (err) {
    await closeAll();
    throw err;
  }
  process.stdout.write(`agentic-mesh: up in ${Math.round(performance.now())} ms (${phases.join(', ')})\n`);
  return { services: started.flatMap((r) => r.services), close: closeAll };
}

function withAgentUrls(config: Config, agentUrls: Record<string, string>): Config {
  return Object.freeze({ ...config, agentUrls: Object.freeze({ ...agentUrls, ...config.agentUrls }) });
}
