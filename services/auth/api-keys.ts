import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { AppError } from '../errors/index.ts';
import type { Budget, Db } from '../state/index.ts';

export const scopes = ['submit', 'read', 'admin'] as const;
export type Scope = (typeof scopes)[number];

/** Who made a request: a stored key, or the ADMIN_API_KEY from the environment. */
export interface Principal {
  id: string;
  name: string;
  scopes: readonly Scope[];
  /** The default budget of the runs this key submits (a request's own wins). */
  budget?: Budget;
}

export interface ApiKeyView {
  id: string;
  name: string;
  scopes: Scope[];
  budget: Budget | null;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

interface KeyRow {
  id: string;
  name: string;
  scopes: string[];
  budget: Budget | null;
  created_at: Date | string;
  expires_at: Date | string | null;
  revoked_at: Date | string | null;
  last_used_at: Date | string | null;
}

// A key is the prefix, its id and a secret, so a leaked key found in a log or a repository names
// the row to revoke; only the hash of the whole key is stored.
const KEY_PREFIX = 'amk';
const KEY_SHAPE = /^amk_([a-z0-9]{12})_[A-Za-z0-9_-]{43}$/;

const iso = (v: Date | string | null): string | null => (v === null ? null : new Date(v).toISOString());
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

function view(row: KeyRow): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes as Scope[],
    budget: row.budget ?? null,
    created_at: iso(row.created_at)!,
    expires_at: iso(row.expires_at),
    revoked_at: iso(row.revoked_at),
    last_used_at: iso(row.last_used_at),
  };
}

export interface ApiKeyStoreOptions {
  /** The bootstrap key with every scope (ADMIN_API_KEY). */
  adminKey?: string | undefined;
  /** How long a looked-up key (or a miss) is remembered; revocations on other replicas take this long. */
  cacheMs?: number;
  now?: () => number;
}

type Cached = { at: number; row: KeyRow | undefined };

/** API keys in Postgres, checked by hash, with a short in-process cache so a request costs no query. */
export class ApiKeyStore {
  readonly #db: Db;
  readonly #adminKey: Buffer | undefined;
  readonly #cacheMs: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, Cached>();
  readonly #touched = new Map<string, number>();

  constructor(db: Db, options: ApiKeyStoreOptions = {}) {
    this.#db = db;
    this.#adminKey = options.adminKey ? Buffer.from(sha256(options.adminKey), 'hex') : undefined;
    this.#cacheMs = options.cacheMs ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  async create(input: {
    name: string;
    scopes: Scope[];
    expiresAt?: Date | undefined;
    budget?: Budget | undefined;
  }): Promise<{ key: string; record: ApiKeyView }> {
    const id = randomBytes(8).toString('hex').slice(0, 12);
    const key = `${KEY_PREFIX}_${id}_${randomBytes(32).toString('base64url')}`;
    const [row] = await this.#db.query<KeyRow>(
      `INSERT INTO api_keys (id, name, key_hash, scopes, expires_at, budget) VALUES ($1, $2, $3, $4, $5, $6)
       RETURNING id, name, scopes, budget, created_at, expires_at, revoked_at, last_used_at`,
      [
        id,
        input.name,
        sha256(key),
        [...new Set(input.scopes)],
        input.expiresAt ?? null,
        input.budget ? JSON.stringify(input.budget) : null,
      ],
    );
    return { key, record: view(row) };
  }

  async list(): Promise<ApiKeyView[]> {
    const rows = await this.#db.query<KeyRow>(
      'SELECT id, name, scopes, budget, created_at, expires_at, revoked_at, last_used_at FROM api_keys ORDER BY created_at DESC, id',
    );
    return rows.map(view);
  }

  async revoke(id: string): Promise<ApiKeyView> {
    const [row] = await this.#db.query<KeyRow>(
      `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1
       RETURNING id, name, scopes, budget, created_at, expires_at, revoked_at, last_used_at`,
      [id],
    );
    if (!row) throw new AppError('API_KEY_NOT_FOUND', `no API key with id "${id}"`);
    for (const [hash, cached] of this.#cache) if (cached.row?.id === id) this.#cache.delete(hash);
    return view(row);
  }

  /** Whether ADMIN_API_KEY is set: without it and with API keys off, admin routes are closed. */
  get hasAdminKey(): boolean {
    return this.#adminKey !== undefined;
  }

  /** The principal a presented key stands for; UNAUTHORIZED when it stands for none. */
  async verify(presented: string): Promise<Principal> {
    const hash = sha256(presented);
    if (this.#adminKey && timingSafeEqual(Buffer.from(hash, 'hex'), this.#adminKey)) {
      return { id: 'admin', name: 'ADMIN_API_KEY', scopes: ['admin'] };
    }
    // A string that cannot be a key never reaches the database (floods of junk cost nothing).
    if (!KEY_SHAPE.test(presented)) throw new AppError('UNAUTHORIZED', 'API key not valid');
    const row = await this.#lookup(hash);
    if (!row) throw new AppError('UNAUTHORIZED', 'API key not valid');
    // A revoked or expired key is told no more than an unknown one: whoever holds it learns nothing
    // about the key or its owner (the admin sees why in GET /admin/api-keys).
    if (row.revoked_at || (row.expires_at && new Date(row.expires_at).getTime() <= this.#now())) {
      throw new AppError('UNAUTHORIZED', 'API key not valid');
    }
    this.#touch(row.id);
    return { id: row.id, name: row.name, scopes: row.scopes as Scope[], ...(row.budget ? { budget: row.budget } : {}) };
  }

  async #lookup(hash: string): Promise<KeyRow | undefined> {
    const now = this.#now();
    const cached = this.#cache.get(hash);
    if (cached && now - cached.at < this.#cacheMs) return cached.row;
    const [row] = await this.#db.query<KeyRow>(
      'SELECT id, name, scopes, budget, created_at, expires_at, revoked_at, last_used_at FROM api_keys WHERE key_hash = $1',
      [hash],
    );
    // Bounded: a flood of well-formed but unknown keys cannot grow the map without end.
    if (this.#cache.size >= 10_000) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(hash, { at: now, row });
    return row;
  }

  /** last_used_at is written at most once a minute per key, never on the request's path. */
  #touch(id: string): void {
    const now = this.#now();
    if (now - (this.#touched.get(id) ?? 0) < 60_000) return;
    this.#touched.set(id, now);
    void this.#db.query('UPDATE api_keys SET last_used_at = now() WHERE id = $1', [id]).catch(() => this.#touched.delete(id));
  }
}

/**
 * The default budget of the key `id` (null if it has none, or is not a stored key), for work it set
 * going that runs without it, such as a schedule's ticks. Read whether or not the key was revoked
 * since: revoking a key lifts no limit it set.
 */
export async function keyBudget(db: Db, id: string): Promise<Budget | null> {
  const rows = await db.query<{ budget: Budget | null }>('SELECT budget FROM api_keys WHERE id = $1', [id]);
  return rows[0]?.budget ?? null;
}

/** Does a principal's set of scopes allow a route's scope? admin allows everything. */
export function allows(principal: Principal, needed: Scope): boolean {
  return principal.scopes.includes('admin') || principal.scopes.includes(needed);
}
