import { describe, expect, it } from 'vitest';
import { runCampaign } from '../../scripts/chaos/campaign.ts';
import { schemaDatabaseUrl } from '../helpers/db.ts';

const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

// The chaos campaign, short: real processes (2 orchestrators, 2 agent replicas recording every
// execution), real Postgres and Redis, Consul's double; SIGKILLs every 1-3 s. `npm run chaos` runs
// the long one.
describe('chaos (child processes, real Postgres and Redis)', () => {
  it('200 diamonds while orchestrators and agent replicas are SIGKILLed in turn: all succeed, none lost, no answered step run again', async () => {
    const report = await runCampaign({
      databaseUrl: await schemaDatabaseUrl('chaos'),
      redisUrl,
      workflows: 200,
      concurrency: 20,
      killForMs: 30_000,
      killEveryMs: [1_000, 3_000],
      transport: 'http',
      redisRestart: false,
      settleMs: 60_000,
      stepMs: 200,
    });
    expect(report.kills.orchestrator).toBeGreaterThan(2);
    expect(report.kills.agent).toBeGreaterThan(2);
    expect(
      {
        submitted: report.submitted,
        succeeded: report.succeeded,
        lost: report.lost,
        unfinished: report.unfinished,
        wrong: report.wrongResults,
      },
      report.failures.join('\n'),
    ).toEqual({ submitted: 200, succeeded: 200, lost: 0, unfinished: 0, wrong: 0 });
    expect(report.duplicates.sameAttempt).toBe(0);
    expect(report.duplicates.executions).toBe(800);
  }, 150_000);

  it('on Redis Streams, with Redis restarted without its data mid-run: every workflow still finishes, none left running', async () => {
    const report = await runCampaign({
      databaseUrl: await schemaDatabaseUrl('chaos'),
      redisUrl,
      workflows: 100,
      concurrency: 20,
      killForMs: 20_000,
      killEveryMs: [1_000, 3_000],
      transport: 'stream',
      redisRestart: true,
      settleMs: 60_000,
      stepMs: 200,
    });
    expect(report.redisRestarts).toBe(1);
    expect(
      { succeeded: report.succeeded, lost: report.lost, unfinished: report.unfinished, wrong: report.wrongResults },
      report.failures.join('\n'),
    ).toEqual({ succeeded: 100, lost: 0, unfinished: 0, wrong: 0 });
  }, 150_000);
});
