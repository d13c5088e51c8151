// npm run chaos: the long chaos campaign (campaign.ts), with its figures printed. Knobs:
// CHAOS_WORKFLOWS (1000), CHAOS_CONCURRENCY (50), CHAOS_KILL_FOR_MS (90000), CHAOS_KILL_EVERY_MS
// ("1000-3000"), CHAOS_TRANSPORT (http | stream), CHAOS_REDIS_RESTART (0 | 1, stream only),
// CHAOS_STEP_MS (100), CHAOS_SETTLE_MS (180000), CHAOS_DATABASE_URL, CHAOS_REDIS_URL.
import pg from 'pg';
import { runCampaign } from './campaign.ts';

const env = process.env;
const base = env.CHAOS_DATABASE_URL ?? env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `chaos_${Date.now().toString(36)}`;
const [lo, hi] = (env.CHAOS_KILL_EVERY_MS ?? '1000-3000').split('-').map(Number) as [number, number];
const admin = new pg.Client({ connectionString: base });
await admin.connect();
await admin.query(`CREATE SCHEMA ${schema}`);
try {
  const transport = env.CHAOS_TRANSPORT === 'stream' ? 'stream' : 'http';
  const report = await runCampaign({
    databaseUrl: `${base}${base.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    redisUrl: env.CHAOS_REDIS_URL ?? env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    workflows: Number(env.CHAOS_WORKFLOWS ?? 1000),
    concurrency: Number(env.CHAOS_CONCURRENCY ?? 50),
    killForMs: Number(env.CHAOS_KILL_FOR_MS ?? 90_000),
    killEveryMs: [lo, hi],
    transport,
    redisRestart: transport === 'stream' && env.CHAOS_REDIS_RESTART === '1',
    settleMs: Number(env.CHAOS_SETTLE_MS ?? 180_000),
    stepMs: Number(env.CHAOS_STEP_MS ?? 100),
    log: (line) => console.log(`  ${line}`),
  });
  const d = report.duplicates;
  console.log(`chaos campaign (${transport}${report.redisRestarts ? `, Redis restarted ${report.redisRestarts}x without its data` : ''}):`);
  console.log(
    `  submitted ${report.submitted}, succeeded ${report.succeeded}, failed ${report.failed}, lost ${report.lost}, unfinished ${report.unfinished}, wrong results ${report.wrongResults}`,
  );
  console.log(`  kills: ${report.kills.orchestrator} orchestrator, ${report.kills.agent} agent replica`);
  console.log(
    `  executions ${d.executions}; duplicate executions: same attempt ${d.sameAttempt}, run again after the replica running it died ${d.afterReplicaDied}; steps retried with a new attempt ${report.retriedSteps}`,
  );
  console.log(`  time to finish: p50 ${report.finishMs.p50.toFixed(0)} ms, p95 ${report.finishMs.p95.toFixed(0)} ms`);
  for (const f of report.failures) console.log(`  failed: ${f}`);
} finally {
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
}
