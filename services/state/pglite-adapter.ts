import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { Db, Prepared, Queryable } from './db.ts';
import { latestMigrationVersion, migrate } from './migrate.ts';

/**
 * Postgres sizes its shared memory for 128 MB of buffers and 100 connections; in PGlite that memory
 * is WebAssembly memory, touched and so resident. An embedded database has one connection and holds
 * one developer's workflows (docs/PERFORMANCE.md, "Starting").
 */
const SETTINGS = ['shared_buffers=16MB', 'max_connections=5'];

/**
 * Where `npm install` leaves an initialised, migrated data directory (scripts/embedded-db-template.ts),
 * one per PGlite release (the on-disk format is that release's Postgres) and newest migration (a
 * checkout that gained a migration since the install makes a new one: a start from an older
 * template would still migrate, but pay for it on every first start). Found through module
 * resolution rather than a path relative to this file, which is services/state/ in a checkout but
 * dist/services/state/ in a build (the image), two levels further from node_modules.
 */
export async function pgliteTemplateDir(): Promise<string> {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  const pkgDir = entry.slice(0, entry.lastIndexOf(`${path.sep}dist${path.sep}`));
  const pkg = JSON.parse(await readFile(path.join(pkgDir, 'package.json'), 'utf8')) as { version: string };
  const migration = String(await latestMigrationVersion()).padStart(4, '0');
  return path.join(pkgDir, '..', '..', '.cache', 'agentic-mesh', `pglite-${pkg.version}-m${migration}`);
}

const hasDatabase = (dir: string): Promise<boolean> =>
  stat(path.join(dir, 'PG_VERSION')).then(
    () => true,
    () => false,
  );

/**
 * About a thousand small files: read and written four at a time this is two to three times faster
 * than fs.cp or copyFile on the machines we measured (docs/PERFORMANCE.md, "Starting").
 */
async function copyTree(from: string, to: string): Promise<void> {
  const entries = await readdir(from, { withFileTypes: true, recursive: true });
  const target = (e: { parentPath: string; name: string }) => path.join(to, path.relative(from, path.join(e.parentPath, e.name)));
  await mkdir(to, { recursive: true });
  for (const dir of entries.filter((e) => e.isDirectory())) await mkdir(target(dir), { recursive: true });
  const files = entries.filter((e) => e.isFile());
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < files.length) {
        const file = files[next++];
        await writeFile(target(file), await readFile(path.join(file.parentPath, file.name)));
      }
    }),
  );
}

/**
 * A first start copies the template instead of running initdb, which takes seconds and a gigabyte
 * at its peak. The copy lands under a temporary name and is renamed into place, so a start that
 * dies halfway leaves no half-made database behind.
 */
async function seedFromTemplate(dataDir: string): Promise<void> {
  if (await hasDatabase(dataDir)) return;
  const template = await pgliteTemplateDir();
  if (!(await hasDatabase(template))) return;
  const entries = await readdir(dataDir).catch(() => undefined);
  if (entries && entries.length > 0) return; // someone else's files: PGlite decides what to do with them
  const staging = `${dataDir}.seeding-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await copyTree(template, staging);
  if (entries) await rm(dataDir, { recursive: true, force: true });
  await rename(staging, dataDir);
}

/** Makes the template if it is not there (npm's postinstall runs this); says what it did. */
export async function ensurePgliteTemplate(): Promise<string> {
  const dir = await pgliteTemplateDir();
  if (await hasDatabase(dir)) return `${dir} is there already`;
  const staging = `${dir}.making-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  const db = await createPgliteDb(staging);
  try {
    await migrate(db);
  } finally {
    await db.close();
  }
  await rename(staging, dir);
  // Older templates (another PGlite release, fewer migrations) are never used again.
  const cache = path.dirname(dir);
  for (const old of await readdir(cache)) {
    if (old.startsWith('pglite-') && path.join(cache, old) !== dir && !old.includes('.making-'))
      await rm(path.join(cache, old), { recursive: true, force: true });
  }
  return `made ${dir}`;
}

/** A PGlite with this project's settings; `dataDir` undefined for one in memory. */
export function openPglite(dataDir: string | undefined): Promise<PGlite> {
  return PGlite.create(dataDir, { startParams: [...PGlite.defaultStartParams, ...SETTINGS.flatMap((s) => ['-c', s])] });
}

/** Embedded Postgres (WASM) in a directory, or in memory for 'memory://'. Same SQL as the server. */
/** Opens of a directory by this process, by lock file: the lock goes with the last close. */
const heldHere = new Map<string, number>();

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * PGlite on disk is one process's alone: two would corrupt it, and the orchestrator takes every
 * lease in it for its own after a restart (config's default owner). A lock file beside the
 * directory holds the pid of the process that has it open; one whose process is gone (a crash) is
 * taken over. Returns the unlock.
 */
async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const lock = `${path.resolve(dataDir)}.lock`;
  const unlock = async () => {
    const left = (heldHere.get(lock) ?? 1) - 1;
    if (left > 0) return void heldHere.set(lock, left);
    heldHere.delete(lock);
    await rm(lock, { force: true });
  };
  if (heldHere.has(lock)) {
    heldHere.set(lock, heldHere.get(lock)! + 1);
    return unlock;
  }
  for (let tries = 0; tries < 3; tries++) {
    try {
      await writeFile(lock, `${process.pid}\n`, { flag: 'wx' });
      heldHere.set(lock, 1);
      return unlock;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid))
        throw new Error(
          `the embedded database ${dataDir} is open in another process (pid ${pid}); stop that one (another agentic-mesh start?) or set PGLITE_DATA_DIR to another directory. If pid ${pid} is not such a process, delete ${lock}`,
          { cause: err },
        );
      await rm(lock, { force: true });
    }
  }
  throw new Error(`could not take the lock ${lock} on the embedded database`);
}

export async function createPgliteDb(dataDir: string): Promise<Db> {
  const inMemory = dataDir.startsWith('memory://');
  let unlock = async () => {};
  if (!inMemory) {
    await mkdir(path.dirname(path.resolve(dataDir)), { recursive: true });
    unlock = await lockDataDir(dataDir);
    try {
      await seedFromTemplate(dataDir);
      await mkdir(dataDir, { recursive: true });
    } catch (err) {
      await unlock();
      throw err;
    }
  }
  const pglite = await openPglite(inMemory ? undefined : dataDir).catch(async (err: unknown) => {
    await unlock();
    throw err;
  });

  const wrap = (q: Pick<PGlite, 'query' | 'exec'>): Queryable => ({
    async query<R>(sql: string | Prepared, params?: readonly unknown[]) {
      // One connection, in process: nothing to gain from naming statements.
      const result = await q.query<R>(typeof sql === 'string' ? sql : sql.text, params as unknown[] | undefined);
      return result.rows;
    },
    async exec(sql: string) {
      await q.exec(sql);
    },
  });

  return {
    kind: 'pglite',
    location: inMemory ? 'memory' : dataDir,
    ...wrap(pglite),
    transaction: (fn) => pglite.transaction((tx) => fn(wrap(tx))),
    async close() {
      await pglite.close();
      await unlock();
    },
  };
}
