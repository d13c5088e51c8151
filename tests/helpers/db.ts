import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { onTestFinished } from 'vitest';
import { createPgDb, createPgliteDb, migrate, type Db } from '../../services/state/index.ts';

export const testDatabaseUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function uniqueSchema(prefix = 't'): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: testDatabaseUrl });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  name: 'postgres' | 'pglite';
  /** A fresh, migrated database of its own; closing it drops what it made. */
  open(options?: { migrate?: boolean }): Promise<Db>;
}

/** The same suites run against both adapters. */
export const testDatabases: TestDatabase[] = [
  {
    name: 'postgres',
    async open(options = {}) {
      const schema = uniqueSchema();
      const db = await createPgDb({ connectionString: testDatabaseUrl, schema, poolSize: 5 });
      if (options.migrate !== false) await migrate(db);
      const close = db.close.bind(db);
      return {
        ...db,
        close: async () => {
          await close();
          await dropSchema(schema);
        },
      };
    },
  },
  {
    name: 'pglite',
    async open(options = {}) {
      const db = await createPgliteDb('memory://');
      if (options.migrate !== false) await migrate(db);
      return db;
    },
  },
];

/** A schema of the test's own on the test Postgres, and a DATABASE_URL that uses it (for child processes). */
export async function schemaDatabaseUrl(prefix: string): Promise<string> {
  const schema = uniqueSchema(prefix);
  const admin = new pg.Client({ connectionString: testDatabaseUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA ${schema}`);
  } finally {
    await admin.end();
  }
  onTestFinished(() => dropSchema(schema));
  return `${testDatabaseUrl}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
}
