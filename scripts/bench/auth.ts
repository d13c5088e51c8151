// What API keys and the rate limit cost a request: GET /workflows (answered from memory, so the
// checks are most of the work) with each of them on and off, over HTTP.
import { randomBytes } from 'node:crypto';
import { Pool } from 'undici';
import { loadConfig } from '../../services/config/index.ts';
import { buildOrchestratorApp } from '../../services/orchestrator/app.ts';
import { createPgDb, migrate } from '../../services/state/index.ts';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

export async function benchApiKeys(databaseUrl: string, redisUrl: string, n: number, concurrency: number): Promise<string[]> {
  const admin = randomBytes(32).toString('hex');
  const variants: Array<[label: string, env: Record<string, string>, useStoredKey: boolean]> = [
    ['keys off, no limit', { RATE_LIMIT_MAX: '0' }, false],
    ['stored key, no limit', { ADMIN_API_KEY: admin, RATE_LIMIT_MAX: '0' }, true],
    // A limit no client reaches: the counting is measured, never a 429.
    ['stored key, limit in process', { ADMIN_API_KEY: admin, RATE_LIMIT_MAX: '1000000000' }, true],
    ['stored key, limit in Redis', { ADMIN_API_KEY: admin, RATE_LIMIT_MAX: '1000000000', REDIS_URL: redisUrl }, true],
  ];
  const out: string[] = [];
  for (const [label, env, useStoredKey] of variants) {
    const db = await createPgDb({ connectionString: databaseUrl, poolSize: 5 });
    await migrate(db);
    const config = loadConfig({
      LOG_LEVEL: 'warn',
      ORCHESTRATOR_ID: `bench-auth-${randomBytes(3).toString('hex')}`,
      AGENT_URLS: 'bench=http://127.0.0.1:9',
      ...env,
    });
    const app = await buildOrchestratorApp(config, { db });
    await app.listen({ host: '127.0.0.1', port: 0 });
    let headers: Record<string, string> = {};
    if (useStoredKey) {
      const created = await app.inject({
        method: 'POST',
        url: '/admin/api-keys',
        headers: { authorization: `Bearer ${admin}` },
        payload: { name: 'bench', scopes: ['read'] },
      });
      headers = { authorization: `Bearer ${created.json<{ key: string }>().key}` };
    }
    const client = new Pool(`http://127.0.0.1:${(app.server.address() as { port: number }).port}`, { connections: concurrency });
    const once = async () => {
      const res = await client.request({ method: 'GET', path: '/workflows', headers });
      await res.body.text();
      if (res.statusCode !== 200) throw new Error(`${label}: GET /workflows answered ${res.statusCode}`);
    };
    for (let i = 0; i < 200; i++) await once(); // warm-up: JIT, the key cache, the Redis connection
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next++ < n) {
          const t0 = performance.now();
          await once();
          latencies.push(performance.now() - t0);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    out.push(
      `  ${label.padEnd(29)} ${(n / seconds).toFixed(0)} requests/s, p50 ${percentile(latencies, 50).toFixed(2)} ms, p95 ${percentile(latencies, 95).toFixed(2)} ms`,
    );
    await client.close();
    await app.close();
    await db.close();
  }
  return out;
}
