import { createRequire } from 'node:module';
import type PgModule from 'pg';
import { redactUrl } from '../telemetry/index.ts';
import type { Db, Prepared, Queryable } from './db.ts';

export interface PgOptions {
  connectionString: string;
  poolSize?: number;
  /** Schema to create and use (tests give each suite its own). */
  schema?: string;
}

// Loaded with require, not import: OpenTelemetry's pg instrumentation hooks require, and this way
// the checkpoint writes show up in traces.
const pg = createRequire(import.meta.url)('pg') as typeof PgModule;

// int8 (event ids, counts) as JS numbers: they stay far below 2^53 here.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export async function createPgDb(options: PgOptions): Promise<Db> {
  const schema = options.schema;
  if (schema !== undefined && !/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`invalid schema name ${schema}`);
  if (schema) {
    const admin = new pg.Client({ connectionString: options.connectionString });
    await admin.connect();
    try {
      await admin.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    } catch (err) {
      // IF NOT EXISTS is not atomic: a concurrent creator can still win with a unique violation.
      if ((err as { code?: string }).code !== '23505' && (err as { code?: string }).code !== '42P06') throw err;
    } finally {
      await admin.end();
    }
  }
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolSize ?? 20,
    // A database that does not answer is an error a request can report (503), not a wait without end.
    connectionTimeoutMillis: 5_000,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  // An idle client that errors (server restart) must not crash the process; the pool replaces it.
  pool.on('error', () => {});

  const wrap = (q: PgModule.Pool | PgModule.PoolClient): Queryable => ({
    async query<R>(sql: string | Prepared, params?: readonly unknown[]) {
      const values = params as unknown[] | undefined;
      const result =
        typeof sql === 'string'
          ? await q.query(sql, values)
          : await q.query({ name: sql.name, text: sql.text, ...(values ? { values } : {}) });
      return result.rows as R[];
    },
    async exec(sql: string) {
      await q.query(sql);
    },
  });

  return {
    kind: 'postgres',
    location: redactUrl(options.connectionString) + (schema ? ` (schema ${schema})` : ''),
    ...wrap(pool),
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(wrap(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
    async close() {
      await pool.end();
    },
  };
}
