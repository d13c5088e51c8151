import Fastify, { type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Counter, Gauge, Histogram } from 'prom-client';
import { Type } from 'typebox';
import { checkCaller, type ApiKeyStore } from '../auth/index.ts';
import { errorHandlerPlugin, healthPlugin, serverOptions, useStrictBodies } from '../http/index.ts';
import type { Db } from '../state/index.ts';
import { createRegistry } from '../telemetry/index.ts';
import type { QueryCache } from './cache.ts';
import { countDocuments, search, upsertDocument } from './knowledge-store.ts';
import { splitMarkdown, splitText, titleOf } from './passages.ts';
import { readProjectDocs } from './project-docs.ts';

export interface KnowledgeOptions {
  db: Db;
  cache: QueryCache;
  logLevel?: string;
  bodyLimitBytes?: number;
  /** Index README, docs/ and the agents' READMEs when the app is ready. */
  indexProjectDocs?: boolean;
  /**
   * With it, every call needs the platform's INTERNAL_TOKEN or an API key (checked by `keys`):
   * `read` to search, `admin` to add documents, which agents then read and trust.
   */
  internalToken?: string | undefined;
  keys?: ApiKeyStore | undefined;
}

const DocumentBody = Type.Object(
  {
    source: Type.String({ minLength: 1, maxLength: 500, description: 'Unique name; posting it again replaces the document' }),
    content: Type.String({ minLength: 1 }),
    title: Type.Optional(Type.String({ maxLength: 500 })),
    format: Type.Optional(Type.Union([Type.Literal('markdown'), Type.Literal('text')])),
  },
  { additionalProperties: false },
);

const SearchQuery = Type.Object(
  { q: Type.String({ minLength: 1, maxLength: 500 }), limit: Type.Integer({ minimum: 1, maximum: 50, default: 5 }) },
  { additionalProperties: false },
);

// Probes and scrapes answer without a key.
const OPEN = new Set(['/health', '/ready', '/metrics']);

/** The knowledge service (port 8007): documents in, ranked passages out. Builds; never listens. */
export function buildKnowledgeApp(options: KnowledgeOptions): FastifyInstance {
  const app = Fastify(
    serverOptions('knowledge', { logLevel: options.logLevel ?? 'info', bodyLimit: options.bodyLimitBytes ?? 10 * 1_048_576 }),
  ).withTypeProvider<TypeBoxTypeProvider>();
  useStrictBodies(app);
  const { db, cache } = options;
  const registry = createRegistry('knowledge');
  const duration = new Histogram({
    name: 'rag_query_duration_seconds',
    help: 'Search time, cache included',
    labelNames: ['cache'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  const hits = new Counter({ name: 'rag_cache_hits_total', help: 'Searches answered from the cache', registers: [registry] });
  const misses = new Counter({ name: 'rag_cache_misses_total', help: 'Searches that went to the index', registers: [registry] });
  let documents = 0;
  new Gauge({
    name: 'knowledge_documents',
    help: 'Documents in the index',
    registers: [registry],
    collect() {
      this.set(documents);
    },
  });

  void app.register(errorHandlerPlugin);
  // The project's docs are indexed after the service listens; until that first pass ends it is not ready.
  let projectDocs: 'indexing' | 'indexed' | 'off' | Error = options.indexProjectDocs === false ? 'off' : 'indexing';
  const checkReady = async () => {
    if (projectDocs === 'indexing') throw new Error('indexing the project docs');
    if (projectDocs instanceof Error) throw new Error(`indexing the project docs failed: ${projectDocs.message}`);
    return { documents: String(await countDocuments(db)), cache: cache.kind, project_docs: projectDocs };
  };
  void app.register(healthPlugin, { registry, checkReady });

  const token = options.internalToken;
  if (token) {
    app.addHook('onRequest', async (request, reply) => {
      if (OPEN.has(request.routeOptions.url ?? '')) return;
      try {
        await checkCaller(request.headers.authorization, {
          service: 'the knowledge service',
          internalToken: token,
          keys: options.keys,
          needed: request.method === 'GET' ? 'read' : 'admin',
        });
      } catch (err) {
        void reply.header('www-authenticate', 'Bearer realm="agentic-mesh"');
        throw err;
      }
    });
  }

  async function index(source: string, content: string, title?: string, format: 'markdown' | 'text' = 'markdown') {
    const passages = format === 'markdown' ? splitMarkdown(content) : splitText(content);
    const result = await upsertDocument(db, { source, title: title ?? titleOf(content, source), content, passages });
    if (result.changed) await cache.bump();
    return { ...result, passages: passages.length };
  }

  app.post(
    '/documents',
    { schema: { tags: ['knowledge'], summary: 'Index (or replace) a Markdown or text document', body: DocumentBody } },
    async (request, reply) => {
      const b = request.body;
      const result = await index(b.source, b.content, b.title, b.format);
      documents = await countDocuments(db);
      return reply
        .status(result.changed ? 201 : 200)
        .send({ document_id: result.id, source: b.source, passages: result.passages, changed: result.changed });
    },
  );

  app.get(
    '/search',
    {
      schema: {
        tags: ['knowledge'],
        summary: 'Ranked passages for a query (websearch syntax: "quoted phrases", -not, or)',
        querystring: SearchQuery,
      },
    },
    async (request) => {
      const started = performance.now();
      const { q, limit } = request.query;
      const key = `${await cache.generation()}:${limit}:${q.trim().toLowerCase().replace(/\s+/g, ' ')}`;
      const cached = await cache.get(key);
      let results;
      if (cached) {
        hits.inc();
        results = JSON.parse(cached) as unknown[];
      } else {
        misses.inc();
        results = await search(db, q, limit);
        await cache.set(key, JSON.stringify(results));
      }
      const seconds = (performance.now() - started) / 1000;
      duration.observe({ cache: cached ? 'hit' : 'miss' }, seconds);
      return { query: q, results, cached: Boolean(cached), took_ms: Math.round(seconds * 1000 * 10) / 10 };
    },
  );

  async function indexProjectDocs() {
    const docs = await readProjectDocs();
    for (const d of docs) {
      if (closing) return;
      await index(`project:${d.source}`, d.content);
    }
    app.log.info({ documents: docs.length }, 'indexed the project docs');
    projectDocs = 'indexed';
    documents = await countDocuments(db);
  }

  let closing = false;
  let indexing: Promise<void> | undefined;
  app.addHook('onReady', async () => {
    documents = await countDocuments(db);
    // In the background: a start should not wait a few hundred milliseconds for a search index.
    if (projectDocs === 'indexing') {
      indexing = indexProjectDocs().catch((err: unknown) => {
        projectDocs = err instanceof Error ? err : new Error(String(err));
        app.log.error({ err }, 'could not index the project docs');
      });
    }
  });
  // The database is closed after the app: the indexing pass must have let go of it by then.
  app.addHook('preClose', async () => {
    closing = true;
    await indexing;
  });
  return app;
}
