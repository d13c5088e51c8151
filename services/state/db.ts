/**
 * A statement the Postgres adapter prepares once per connection (a named statement) instead of
 * parsing and planning it on every call: for the statements on the engine's hot path.
 */
export interface Prepared {
  readonly name: string;
  readonly text: string;
}

export function prepared(name: string, text: string): Prepared {
  return { name, text };
}

/** The one query interface the platform uses; Postgres and PGlite both implement it. */
export interface Queryable {
  query<R = Record<string, unknown>>(sql: string | Prepared, params?: readonly unknown[]): Promise<R[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Where the data lives, with any password removed: for logs and start-up banners. */
  readonly location: string;
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * Takes the transaction-scoped advisory lock of `key` in `space` (concurrency keys, rate limits,
 * call slots): replicas deciding for the same key at once take turns.
 */
export async function lockKey(tx: Queryable, space: string, key: string): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))`, [space, key]);
}
