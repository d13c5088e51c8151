import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgliteDb, ensurePgliteTemplate, loadMigrations, migrate } from '../../services/state/index.ts';

describe('the embedded database on a first start (PGlite)', () => {
  let scratch: string;
  beforeAll(async () => {
    // npm's postinstall made it; a checkout installed with --ignore-scripts makes it here.
    await ensurePgliteTemplate();
    scratch = await mkdtemp(path.join(tmpdir(), 'mesh-embedded-db-'));
  }, 60_000);
  afterAll(() => rm(scratch, { recursive: true, force: true }));

  it('starts from the migrated template instead of running initdb, and keeps what is written', async () => {
    const dataDir = path.join(scratch, 'fresh', '.data', 'pg');
    const db = await createPgliteDb(dataDir);
    try {
      // Migrated before migrate() ran here: the rows came with the copy.
      const versions = await db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(versions.map((r) => r.version)).toEqual((await loadMigrations()).map((m) => m.version));
      expect(await migrate(db)).toEqual([]);
      await db.query(
        `INSERT INTO workflows (id, description, status, inline_plan) VALUES ('0192e6a8-0000-7000-8000-000000000001', 'kept', 'planned', '{"steps":[]}')`,
      );
    } finally {
      await db.close();
    }
    expect((await readdir(path.dirname(dataDir))).sort()).toEqual(['pg']); // no staging copy left behind

    const again = await createPgliteDb(dataDir);
    try {
      expect(await again.query('SELECT description FROM workflows')).toEqual([{ description: 'kept' }]);
    } finally {
      await again.close();
    }
  }, 60_000);

  it('leaves a directory holding files of its own alone', async () => {
    const dataDir = path.join(scratch, 'occupied');
    await mkdir(dataDir, { recursive: true });
    await writeFile(path.join(dataDir, 'notes.txt'), 'mine');
    // PGlite refuses (or initialises around) a directory it did not make; either way the file stays.
    await createPgliteDb(dataDir).then(
      (db) => db.close(),
      () => undefined,
    );
    expect(await readdir(dataDir)).toContain('notes.txt');
  }, 60_000);

  it("is one process's alone: a lock beside it names the process that has it open, and one left by a dead process is taken over", async () => {
    const dataDir = path.join(scratch, 'locked', 'pg');
    const lock = `${dataDir}.lock`;
    const db = await createPgliteDb(dataDir);
    expect((await readFile(lock, 'utf8')).trim()).toBe(String(process.pid));
    await db.close();
    await expect(readFile(lock)).rejects.toThrow(/ENOENT/);

    // Another live process holds it.
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    await once(other, 'spawn');
    try {
      await writeFile(lock, `${other.pid}\n`);
      await expect(createPgliteDb(dataDir)).rejects.toThrow(new RegExp(`open in another process \\(pid ${other.pid}\\).*PGLITE_DATA_DIR`));
    } finally {
      other.kill('SIGKILL');
      await once(other, 'exit');
    }
    // That process is gone (as after a crash): its lock is stale, and the next open takes it.
    const again = await createPgliteDb(dataDir);
    expect((await readFile(lock, 'utf8')).trim()).toBe(String(process.pid));
    await again.close();
  }, 60_000);
});
