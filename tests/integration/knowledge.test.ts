import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildAgentApp, defineAgent } from '../../agents/sdk/index.ts';
import { buildKnowledgeApp, createMemoryCache, createRedisCache, splitMarkdown } from '../../services/knowledge/index.ts';
import { createPgliteDb, migrate } from '../../services/state/index.ts';
import { metricValue } from '../helpers/metrics.ts';
import { testDatabases } from '../helpers/db.ts';
import { listenOnLoopback } from '../helpers/platform.ts';
import { poll } from '../helpers/poll.ts';

const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('splitting Markdown into passages', () => {
  it('keeps the heading path and never cuts a code fence', () => {
    const passages = splitMarkdown('# Guide\nintro\n## Install\nrun it\n```sh\n# not a heading\nnpm ci\n```\n## Use\ncall it');
    expect(passages).toEqual([
      { heading: 'Guide', content: 'intro' },
      { heading: 'Guide > Install', content: 'run it\n```sh\n# not a heading\nnpm ci\n```' },
      { heading: 'Guide > Use', content: 'call it' },
    ]);
  });
});

const caches = [
  { name: 'memory', make: () => createMemoryCache(60_000) },
  {
    name: 'redis',
    make: () => {
      const redis = new Redis(redisUrl);
      const prefix = `test:rag:${randomBytes(4).toString('hex')}:`;
      onTestFinished(async () => {
        const keys = await redis.keys(`${prefix}*`);
        if (keys.length) await redis.del(...keys);
        redis.disconnect();
      });
      return createRedisCache(redis, prefix, 60_000);
    },
  },
];

describe.each(testDatabases)('knowledge service on $name', (t) => {
  describe.each(caches)('with the $name cache', (c) => {
    async function app(indexProjectDocs = false) {
      const db = await t.open();
      const a = buildKnowledgeApp({ db, cache: c.make(), logLevel: 'silent', indexProjectDocs });
      onTestFinished(async () => {
        await a.close();
        await db.close();
      });
      await a.ready();
      return a;
    }

    it('indexes documents and returns ranked passages, the heading match first', async () => {
      const a = await app();
      const post = (source: string, content: string) => a.inject({ method: 'POST', url: '/documents', payload: { source, content } });
      expect(
        (
          await post(
            'guide.md',
            '# Leases\nEach running workflow is leased by one orchestrator.\n## Recovery\nExpired leases are claimed and the workflow resumes from its checkpoint.',
          )
        ).statusCode,
      ).toBe(201);
      await post('other.md', '# Cooking\nA checkpoint in a recipe is where you taste the soup.');
      const res = (await a.inject({ url: '/search?q=checkpoint resume' })).json();
      expect(res.cached).toBe(false);
      expect(res.results[0]).toMatchObject({ source: 'guide.md', title: 'Leases', heading: 'Leases > Recovery' });
      expect(res.results[0].snippet).toContain('<b>checkpoint</b>');
      expect((await a.inject({ url: '/search?q=zebra' })).json().results).toEqual([]);
    });

    it('answers a repeated query from the cache until a document changes', async () => {
      const a = await app();
      await a.inject({
        method: 'POST',
        url: '/documents',
        payload: { source: 'a.md', content: '# Circuit breakers\nThey open after failures.' },
      });
      expect((await a.inject({ url: '/search?q=breakers' })).json().cached).toBe(false);
      const again = (await a.inject({ url: '/search?q=Breakers' })).json();
      expect(again.cached).toBe(true);
      expect(again.results).toHaveLength(1);
      // Same content: nothing changes, the cache stays.
      expect(
        (
          await a.inject({
            method: 'POST',
            url: '/documents',
            payload: { source: 'a.md', content: '# Circuit breakers\nThey open after failures.' },
          })
        ).json().changed,
      ).toBe(false);
      expect((await a.inject({ url: '/search?q=breakers' })).json().cached).toBe(true);
      await a.inject({
        method: 'POST',
        url: '/documents',
        payload: { source: 'b.md', content: 'More on breakers: half-open probing.', format: 'text' },
      });
      const fresh = (await a.inject({ url: '/search?q=breakers' })).json();
      expect(fresh.cached).toBe(false);
      expect(fresh.results).toHaveLength(2);
      const metrics = (await a.inject({ url: '/metrics' })).body;
      expect(metricValue(metrics, 'rag_cache_hits_total')).toBe(2);
      expect(metricValue(metrics, 'rag_cache_misses_total')).toBe(2);
      expect(metricValue(metrics, 'rag_query_duration_seconds_count', { cache: 'hit' })).toBe(2);
    });

    it('refuses bad input by name and keeps what is stored', async () => {
      const a = await app();
      await a.inject({ method: 'POST', url: '/documents', payload: { source: 'keep.md', content: 'kept words here' } });
      const bad = await a.inject({ method: 'POST', url: '/documents', payload: { source: 'keep.md' } });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().message).toContain('content');
      expect((await a.inject({ url: '/search' })).statusCode).toBe(400);
      expect((await a.inject({ url: '/search?q=kept' })).json().results).toHaveLength(1);
    });
  });

  it('indexes the project docs after it starts, and is ready once they are in', async () => {
    const db = await t.open();
    const a = buildKnowledgeApp({ db, cache: createMemoryCache(60_000), logLevel: 'silent' });
    onTestFinished(async () => {
      await a.close();
      await db.close();
    });
    await a.ready();
    // Ready resolves before the indexing pass: the service answers meanwhile and says it is not ready yet.
    const early = await a.inject({ url: '/ready' });
    expect(early.statusCode, early.body).toBe(503);
    expect(early.json().checks.error).toBe('indexing the project docs');
    expect((await a.inject({ url: '/health' })).statusCode).toBe(200);
    const ready = await poll(
      async () => {
        const r = await a.inject({ url: '/ready' });
        return r.statusCode === 200 ? (r.json() as { checks: Record<string, string> }) : undefined;
      },
      { timeoutMs: 30_000, label: 'the project docs to be indexed' },
    );
    expect(ready.checks.project_docs).toBe('indexed');
    const res = (await a.inject({ url: '/search?q=idempotency key' })).json();
    expect(res.results.length).toBeGreaterThan(0);
    expect(res.results.map((r: { source: string }) => r.source)).toContain('project:docs/AGENT_PROTOCOL.md');
  });
});

describe('agents asking the knowledge service for context', () => {
  it('ctx.searchKnowledge returns ranked passages from the running service', async () => {
    const db = await createPgliteDb('memory://');
    await migrate(db);
    const knowledge = buildKnowledgeApp({ db, cache: createMemoryCache(60_000), logLevel: 'silent', indexProjectDocs: false });
    onTestFinished(async () => {
      await knowledge.close();
      await db.close();
    });
    const url = await listenOnLoopback(knowledge);
    await knowledge.inject({
      method: 'POST',
      url: '/documents',
      payload: { source: 'style.md', content: '# Naming\nFiles are kebab-case and named for their one job.' },
    });
    const agent = defineAgent({
      name: 'asker',
      description: 'answers from the knowledge base',
      capabilities: ['answer questions'],
      async execute(input: { question?: string }, ctx) {
        const hits = await ctx.searchKnowledge(input.question ?? '', 3);
        return { summary: `${hits.length} passage(s)`, sources: hits.map((h) => `${h.source}#${h.heading}`) };
      },
    });
    const app = buildAgentApp(agent, { logLevel: 'silent', knowledgeUrl: url });
    onTestFinished(() => app.close());
    const res = await app.inject({
      method: 'POST',
      url: '/execute',
      payload: { idempotency_key: 'k', task_id: 't', step_id: 's', attempt: 1, input: { question: 'how are files named' } },
    });
    expect(res.json().output).toEqual({ summary: '1 passage(s)', sources: ['style.md#Naming'] });
  });
});
