import type { Config } from '../config/index.ts';
import type { Db } from './db.ts';
import { migrate } from './migrate.ts';
import { createPgDb } from './pg-adapter.ts';
import { createPgliteDb } from './pglite-adapter.ts';

export { prepared, type Db, type Prepared, type Queryable } from './db.ts';
export { loadMigrations, migrate, type Migration } from './migrate.ts';
export { createPgDb, type PgOptions } from './pg-adapter.ts';
export { createPgliteDb, ensurePgliteTemplate, pgliteTemplateDir } from './pglite-adapter.ts';
export * from './plan.ts';
export * from './rows.ts';
export * as store from './workflow-store.ts';

/** Postgres when DATABASE_URL is set, PGlite in PGLITE_DATA_DIR otherwise; migrated before it is returned. */
export async function openDatabase(config: Pick<Config, 'databaseUrl' | 'databasePoolSize' | 'pgliteDataDir'>): Promise<Db> {
  const db = config.databaseUrl
    ? await createPgDb({ connectionString: config.databaseUrl, poolSize: config.databasePoolSize })
    : await createPgliteDb(config.pgliteDataDir);
  try {
    await migrate(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  return db;
}
export * as scheduleStore from './schedule-store.ts';
export type { ScheduleRow, ClaimedSchedule } from './schedule-store.ts';
export { pruneFinished, pruneUnnamedPlans, type Pruned } from './retention-store.ts';
export * as concurrencyStore from './concurrency-store.ts';
export * as rateLimitStore from './rate-limit-store.ts';
