import { execFile } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { describe, expect, it, onTestFinished } from 'vitest';
import { registerBackupMetrics } from '../../services/orchestrator/backup-metrics.ts';
import { createPgDb, migrate, type Db } from '../../services/state/index.ts';
import { startS3Double } from '../doubles/s3-double.ts';
import { createDatabase, query, runScript, tempDir } from '../helpers/backup-harness.ts';

const run = promisify(execFile);

async function migratedDatabase(): Promise<{ url: string; db: Db }> {
  const { url } = await createDatabase();
  const db = await createPgDb({ connectionString: url, poolSize: 2 });
  onTestFinished(() => db.close());
  await migrate(db);
  return { url, db };
}

async function gauge(registry: Registry): Promise<string | undefined> {
  return /^backup_last_success_timestamp_seconds(?:\{[^}]*\})? (\S+)$/m.exec(await registry.metrics())?.[1];
}

const day = (month: number, d: number, time = '020000') =>
  `agentic-mesh-2025${String(month).padStart(2, '0')}${String(d).padStart(2, '0')}T${time}Z.tar.gz`;

describe('backup.sh', () => {
  it('prunes to 7 daily, 4 weekly and 3 monthly archives in BACKUP_DIR and in the bucket, and leaves other files alone', async () => {
    const { url } = await migratedDatabase();
    const spaces = await startS3Double({ buckets: ['mesh'] });
    onTestFinished(() => spaces.stop());
    const root = await tempDir('bk-ret');
    const backupDir = join(root, 'backups');
    await mkdir(backupDir);

    // A nightly archive for every day of March and April 2025, and an earlier one on 30 April.
    const seeded = [day(4, 30, '010000')];
    for (let d = 1; d <= 31; d++) seeded.push(day(3, d));
    for (let d = 1; d <= 30; d++) seeded.push(day(4, d));
    for (const name of seeded) {
      await writeFile(join(backupDir, name), 'old');
      spaces.putObject('mesh', `backups/${name}`, 'old');
    }
    await writeFile(join(backupDir, 'notes.txt'), 'not an archive');
    await writeFile(join(backupDir, `.${day(5, 1)}.partial`), 'a killed run');
    spaces.putObject('mesh', 'backups/notes.txt', 'not an archive');
    spaces.putObject('mesh', `elsewhere/${day(1, 1)}`, 'outside the prefix');

    const result = await runScript('backup.sh', [], {
      HOME: root,
      DATABASE_URL: url,
      BACKUP_DIR: backupDir,
      SPACES_BUCKET: 'mesh',
      SPACES_REGION: spaces.region,
      SPACES_ENDPOINT: spaces.endpoint,
      SPACES_ACCESS_KEY_ID: spaces.accessKeyId,
      SPACES_SECRET_ACCESS_KEY: spaces.secretAccessKey,
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('redis: skipped, REDIS_URL is not set');
    const fresh = /ok: (agentic-mesh-\S+)/.exec(result.stdout)![1]!;

    // The new archive is the newest day, ISO week and month, so the seeds get 6 days, 3 weeks and
    // 2 months: 25-30 April; the week of 14-20 April adds the 20th (21-27 and 28 April-4 May are
    // kept already); March adds the 31st. The earlier archive of 30 April goes.
    const kept = [day(3, 31), day(4, 20), day(4, 25), day(4, 26), day(4, 27), day(4, 28), day(4, 29), day(4, 30), fresh].sort();
    expect((await readdir(backupDir)).filter((f) => !f.startsWith('.')).sort()).toEqual([...kept, 'notes.txt'].sort());
    expect((await readdir(backupDir)).filter((f) => f.endsWith('.partial'))).toEqual([]);
    expect(
      spaces
        .objects('mesh')
        .map((o) => o.key)
        .sort(),
    ).toEqual([...kept.map((k) => `backups/${k}`), 'backups/notes.txt', `elsewhere/${day(1, 1)}`].sort());
    expect(result.stdout.match(/pruned s3:/g)).toHaveLength(seeded.length - (kept.length - 1));
  }, 60_000);

  it('skips the upload without SPACES_BUCKET; a failed upload fails the run, names the step, and never counts as fresh', async () => {
    const { url, db } = await migratedDatabase();
    const registry = new Registry();
    registerBackupMetrics(registry, db, { warn: () => undefined });
    expect(await gauge(registry)).toBeUndefined();
    const root = await tempDir('bk-fail');

    const local = await runScript('backup.sh', [], { HOME: root, DATABASE_URL: url, BACKUP_DIR: join(root, 'one') });
    expect(local.code).toBe(0);
    expect(local.stdout).toContain('upload: skipped, SPACES_BUCKET is not set');
    const [ok] = await query(
      url,
      `SELECT uploaded, extract(epoch FROM finished_at)::float8 AS finished FROM backup_runs WHERE status = 'succeeded'`,
    );
    expect(ok!.uploaded).toBe(false);
    expect(Number(await gauge(registry))).toBe(ok!.finished);

    const spaces = await startS3Double({ buckets: ['mesh'] });
    onTestFinished(() => spaces.stop());
    const failed = await runScript('backup.sh', [], {
      HOME: root,
      DATABASE_URL: url,
      BACKUP_DIR: join(root, 'two'),
      SPACES_BUCKET: 'mesh',
      SPACES_REGION: spaces.region,
      SPACES_ENDPOINT: spaces.endpoint,
      SPACES_ACCESS_KEY_ID: spaces.accessKeyId,
      SPACES_SECRET_ACCESS_KEY: 'not-the-secret',
    });
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toContain('FAILED at step "upload"');
    expect(failed.stderr).toContain('SignatureDoesNotMatch');
    expect(spaces.objects('mesh')).toEqual([]);
    const rows = await query(url, `SELECT status, failed_step, error FROM backup_runs ORDER BY id`);
    expect(rows.map((r) => [r.status, r.failed_step])).toEqual([
      ['succeeded', null],
      ['failed', 'upload'],
    ]);
    expect(rows[1]!.error).toMatch(/^upload to s3:\/\/mesh\/backups\/agentic-mesh-\S+ failed$/);
    expect(Number(await gauge(registry))).toBe(ok!.finished);
  }, 60_000);
});

describe('restore.sh', () => {
  it('refuses an archive whose parts do not match its manifest, before touching anything', async () => {
    const { url } = await migratedDatabase();
    const root = await tempDir('bk-tamper');
    const backupDir = join(root, 'backups');
    const mark = (label: string) =>
      query(url, `INSERT INTO backup_runs (archive, status, started_at, finished_at) VALUES ($1, 'failed', now(), now())`, [label]);
    await mark('before the dump');
    const made = await runScript('backup.sh', [], { HOME: root, DATABASE_URL: url, BACKUP_DIR: backupDir });
    expect(made.code).toBe(0);
    const [archive] = (await readdir(backupDir)).filter((f) => f.endsWith('.tar.gz'));
    await mark('after the dump');

    // Same layout and manifest, one byte of the dump changed.
    const unpacked = join(root, 'x');
    await mkdir(unpacked);
    await run('tar', ['-xzf', join(backupDir, archive!), '-C', unpacked]);
    await run('bash', ['-c', `printf 'X' | dd of="${join(unpacked, 'postgres.dump')}" bs=1 seek=100 conv=notrunc status=none`]);
    const tampered = join(root, archive!);
    await run('tar', ['-czf', tampered, '-C', unpacked, '.']);

    const env = { HOME: root, DATABASE_URL: url, BACKUP_DIR: backupDir };
    const refused = await runScript('restore.sh', [tampered, '--yes'], env);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('FAILED at step "verify": postgres.dump does not match its sha256 in the MANIFEST');
    expect((await query(url, `SELECT count(*)::int AS n FROM backup_runs`))[0]!.n).toBe(3);

    const notOurs = join(root, 'notes.tar.gz');
    await run('tar', ['-czf', notOurs, '-C', root, 'backups']);
    const foreign = await runScript('restore.sh', [notOurs, '--yes'], env);
    expect(foreign.code).not.toBe(0);
    expect(foreign.stderr).toContain('has no MANIFEST');

    // The untouched archive restores the database as it was at the dump: no row of its own run
    // (recorded after the dump), none written since.
    const restored = await runScript('restore.sh', [join(backupDir, archive!)], env);
    expect(restored.stderr).toBe('');
    expect(restored.code).toBe(0);
    expect(await query(url, `SELECT archive FROM backup_runs ORDER BY id`)).toEqual([{ archive: 'before the dump' }]);
  }, 60_000);
});
