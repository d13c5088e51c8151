import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import type { Db, Prepared, Queryable } from './db.ts';

/** Embedded Postgres (WASM) in a directory, or in memory for 'memory://'. Same SQL as the server. */
export async function createPgliteDb(dataDir: string): Promise<Db> {
  const inMemory = dataDir.startsWith('memory://');
  if (!inMemory) await mkdir(dataDir, { recursive: true });
  const pglite = await PGlite.create(inMemory ? undefined : dataDir);

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
    },
  };
}
