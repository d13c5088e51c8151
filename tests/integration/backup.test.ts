import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildAgentApp, defineAgent } from '../../agents/sdk/index.ts';
import { loadConfig } from '../../services/config/index.ts';
import { buildOrchestratorApp } from '../../services/orchestrator/app.ts';
import { startS3Double } from '../doubles/s3-double.ts';
import { createDatabase, query, runScript, startPrivateRedis, tempDir } from '../helpers/backup-harness.ts';
import { listenOnLoopback } from '../helpers/platform.ts';
import { poll } from '../helpers/poll.ts';

/** Handler runs by idempotency key, across every agent instance of the test. */
type Runs = string[];

/**
 * `counter` answers at once; `gate` holds each call until `open` is true (or the call is aborted),
 * so a workflow can be left with a step in flight while the backup is taken.
 */
async function startAgents(
  runs: { counter: Runs; gate: Runs },
  gate: { open: boolean },
): Promise<{ urls: string; close(): Promise<void> }> {
  const counter = defineAgent({
    name: 'counter',
    description: 'counts its calls',
    capabilities: ['count'],
    execute: async (_input: Record<string, unknown>, ctx) => {
      runs.counter.push(ctx.idempotencyKey);
      return { calls: runs.counter.length };
    },
  });
  const held = defineAgent({
    name: 'gate',
    description: 'waits until released',
    capabilities: ['wait'],
    execute: async (_input: Record<string, unknown>, ctx) => {
      runs.gate.push(ctx.idempotencyKey);
      await poll(() => gate.open || ctx.signal.aborted, { timeoutMs: 60_000, label: 'the gate to open', intervalMs: 20 });
      if (ctx.signal.aborted) throw new Error('aborted');
      return { released: true };
    },
  });
  const apps: FastifyInstance[] = [];
  const urls: string[] = [];
  for (const def of [counter, held]) {
    const app = buildAgentApp(def, { logLevel: 'silent', shutdownGraceMs: 200 });
    apps.push(app);
    onTestFinished(() => app.close());
    urls.push(`${def.name}=${await listenOnLoopback(app)}`);
  }
  return { urls: urls.join(','), close: async () => void (await Promise.all(apps.map((a) => a.close()))) };
}

async function startOrchestrator(databaseUrl: string, agentUrls: string, id: string): Promise<FastifyInstance> {
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    AGENT_URLS: agentUrls,
    ORCHESTRATOR_ID: id,
    LOG_LEVEL: 'silent',
    LEASE_MS: '1500',
    RECOVERY_INTERVAL_MS: '200',
    SHUTDOWN_GRACE_MS: '200',
    RETRY_BACKOFF_MS: '10',
    RATE_LIMIT_MAX: '0',
  });
  const app = await buildOrchestratorApp(config);
  onTestFinished(() => app.close());
  await app.ready();
  return app;
}

async function task(app: FastifyInstance, id: string): Promise<Record<string, any>> {
  return (await app.inject({ url: `/tasks/${id}` })).json();
}

const gaugeSample = (text: string) => /^backup_last_success_timestamp_seconds(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1];

describe('backup and restore (real Postgres, redis-server, pg_dump, redis-cli, aws CLI; Spaces double)', () => {
  it('backs up a database with a workflow in flight, restores it after a wipe, and the workflow resumes', async () => {
    const db = await createDatabase();
    const redis = await startPrivateRedis();
    // HTTPS like Spaces, so the CLI uploads as it does there (aws-chunked with a trailing checksum).
    const spaces = await startS3Double({ buckets: ['mesh-backups'], region: 'nyc3', tls: true });
    onTestFinished(() => spaces.stop());
    const root = await tempDir('bk');
    const backupDir = join(root, 'backups');
    const volume = join(root, 'volumes', 'grafana');
    await mkdir(join(volume, 'plugins'), { recursive: true });
    const volumeFile = randomBytes(2048);
    await writeFile(join(volume, 'grafana.db'), volumeFile);
    await writeFile(join(volume, 'plugins', 'list.txt'), 'one\n');
    const env = {
      HOME: root,
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      REDIS_DATA_DIR: redis.dataDir,
      BACKUP_DIR: backupDir,
      BACKUP_VOLUMES: volume,
      SPACES_BUCKET: 'mesh-backups',
      SPACES_REGION: spaces.region,
      SPACES_ENDPOINT: spaces.endpoint,
      SPACES_ACCESS_KEY_ID: spaces.accessKeyId,
      SPACES_SECRET_ACCESS_KEY: spaces.secretAccessKey,
      AWS_CA_BUNDLE: spaces.caBundle!,
    };

    // One workflow finished, one held at its second step.
    const runs = { counter: [] as Runs, gate: [] as Runs };
    const gate = { open: false };
    const agents1 = await startAgents(runs, gate);
    const first = await startOrchestrator(db.url, agents1.urls, 'bk-first');
    expect(gaugeSample((await first.inject({ url: '/metrics' })).body)).toBeUndefined();

    const done = (
      await first.inject({
        method: 'POST',
        url: '/orchestrate',
        payload: { plan: { steps: [{ id: 'only', agent: 'counter', input: {} }] }, wait: true },
      })
    ).json();
    expect(done.status).toBe('succeeded');
    const plan = {
      steps: [
        { id: 'count', agent: 'counter', input: {} },
        { id: 'held', agent: 'gate', input: {}, depends_on: ['count'] },
      ],
    };
    const { task_id: held } = (await first.inject({ method: 'POST', url: '/orchestrate', payload: { plan } })).json();
    await poll(async () => runs.gate.includes(`${held}:held:1`) && (await task(first, held)).status === 'running', {
      timeoutMs: 15_000,
      label: 'the held step to reach its agent',
    });
    const finishedRuns = runs.counter.filter((k) => k.startsWith(done.task_id));
    expect(finishedRuns).toEqual([`${done.task_id}:only:1`]);

    const redisKey = `bk:${randomBytes(4).toString('hex')}`;
    await redis.cli('set', redisKey, 'kept across the restore');

    // The backup, with everything real but Spaces.
    const backup = await runScript('backup.sh', [], env);
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    const archives = (await readdir(backupDir)).filter((f) => !f.startsWith('.'));
    expect(archives).toHaveLength(1);
    const archive = archives[0]!;
    expect(archive).toMatch(/^agentic-mesh-\d{8}T\d{6}Z\.tar\.gz$/);
    const bytes = await readFile(join(backupDir, archive));
    const [object] = spaces.objects('mesh-backups');
    expect(object?.key).toBe(`backups/${archive}`);
    expect(object?.etag).toBe(createHash('md5').update(bytes).digest('hex'));

    const [row] = await query(
      db.url,
      `SELECT archive, status, uploaded, size_bytes::float8 AS size_bytes, extract(epoch FROM finished_at)::float8 AS finished FROM backup_runs`,
    );
    expect(row).toMatchObject({ archive, status: 'succeeded', uploaded: true, size_bytes: bytes.length });
    expect(Number(gaugeSample((await first.inject({ url: '/metrics' })).body))).toBe(row!.finished);

    // Lose everything: the orchestrator and agents stop, the database comes back empty, Redis is
    // flushed, the volume and the local archives are gone (a new droplet, say).
    await first.close();
    await agents1.close();
    await db.recreate();
    await redis.cli('flushall');
    await rm(join(root, 'volumes'), { recursive: true });
    await rm(backupDir, { recursive: true });
    expect(await query(db.url, `SELECT to_regclass('workflows') AS t`)).toEqual([{ t: null }]);

    const restore = await runScript('restore.sh', ['latest', '--redis-restart-cmd', redis.startCommand], env);
    expect(restore.stderr).toBe('');
    expect(restore.code).toBe(0);
    expect(restore.stdout).toContain(`downloading s3://mesh-backups/backups/${archive}`);
    expect(spaces.requests.filter((r) => r.operation === 'GetObject').length).toBeGreaterThan(0);
    expect(await redis.cli('get', redisKey)).toBe('kept across the restore');
    expect(await readFile(join(volume, 'grafana.db'))).toEqual(volumeFile);
    expect(await readFile(join(volume, 'plugins', 'list.txt'), 'utf8')).toBe('one\n');

    // A new orchestrator on the restored database takes the held workflow over once its lease (as
    // it was in the dump) runs out, and finishes it; the finished one is left alone.
    gate.open = true;
    const agents2 = await startAgents(runs, gate);
    const second = await startOrchestrator(db.url, agents2.urls, 'bk-second');
    const resumed = await poll(
      async () => {
        const t = await task(second, held);
        return t.status === 'succeeded' || t.status === 'failed' ? t : undefined;
      },
      { timeoutMs: 30_000, label: 'the held workflow to finish on the restored database' },
    );
    expect(resumed.status).toBe('succeeded');
    expect(resumed.steps.map((s: { id: string; status: string }) => [s.id, s.status])).toEqual([
      ['count', 'succeeded'],
      ['held', 'succeeded'],
    ]);
    expect((await task(second, done.task_id)).status).toBe('succeeded');
    expect(runs.counter.filter((k) => k.startsWith(done.task_id))).toEqual(finishedRuns);
    expect(runs.counter.filter((k) => k.startsWith(held))).toEqual([`${held}:count:1`]);
    expect(runs.gate.filter((k) => k === `${held}:held:1`)).toHaveLength(2);

    // With workflows in the database again, a restore wants --yes; a dry run changes nothing.
    const dry = await runScript('restore.sh', ['--dry-run', 'latest', '--no-redis'], env);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/it has 2 workflows now/);
    expect(dry.stdout).toContain(`volume    grafana -> ${volume}`);
    expect(dry.stdout).toContain('dry run: nothing changed');
    const refused = await runScript('restore.sh', ['latest', '--no-redis', '--no-volumes'], env);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('the target database has 2 workflows');
    expect(refused.stderr).toContain('--yes');
    expect((await query(db.url, `SELECT count(*)::int AS n FROM workflows WHERE status = 'succeeded'`))[0]!.n).toBe(2);
    expect((await stat(join(volume, 'grafana.db'))).size).toBe(volumeFile.length);
  }, 120_000);
});
