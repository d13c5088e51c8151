import { readdir, readFile } from 'node:fs/promises';
import type { Db } from './db.ts';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const migrationsDir = new URL('./migrations/', import.meta.url);

const migrationFiles = async (dir: URL): Promise<string[]> => (await readdir(dir)).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();

/** The newest migration's version, from the file names alone (cheap enough for every start). */
export async function latestMigrationVersion(dir: URL = migrationsDir): Promise<number> {
  const last = (await migrationFiles(dir)).at(-1);
  return last ? Number(last.slice(0, 4)) : 0;
}

export async function loadMigrations(dir: URL = migrationsDir): Promise<Migration[]> {
  const files = await migrationFiles(dir);
  const migrations = await Promise.all(
    files.map(async (file) => ({
      version: Number(file.slice(0, 4)),
      name: file.replace(/\.sql$/, ''),
      sql: await readFile(new URL(file, dir), 'utf8'),
    })),
  );
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${m.name} breaks the numbering: expected ${String(i + 1).padStart(4, '0')}`);
  });
  return migrations;
}

/**
 * Applies pending migrations, each in one transaction with its version row. A transaction-scoped
 * advisory lock per schema makes concurrent runners (two processes starting at once) take turns;
 * the loser then sees the version row and skips.
 */
export async function migrate(db: Db, migrations?: Migration[]): Promise<number[]> {
  const all = migrations ?? (await loadMigrations());
  const lock = `SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.schema_migrations'))`;
  await db.transaction(async (tx) => {
    await tx.query(lock);
    await tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
  });
  // Most starts find every migration applied: one read says so, instead of a transaction each.
  const done = new Set((await db.query<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => r.version));
  const applied: number[] = [];
  for (const m of all.filter((m) => !done.has(m.version))) {
    const ran = await db.transaction(async (tx) => {
      await tx.query(lock);
      const already = await tx.query('SELECT 1 FROM schema_migrations WHERE version = $1', [m.version]);
      if (already.length > 0) return false;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      return true;
    });
    if (ran) applied.push(m.version);
  }
  return applied;
}
