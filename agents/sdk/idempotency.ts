import { AppError } from '../../services/errors/index.ts';

/** A finished call as it is replayed: the same status and body every time. */
export interface StoredResponse {
  statusCode: number;
  body: Record<string, unknown>;
}

export interface IdempotencyStore {
  /**
   * Runs `fn` once per key. A call with a key already seen gets the stored response (or joins the
   * call still in flight) and does not run `fn`; the same key with other input is a conflict.
   */
  run(key: string, fingerprint: string, fn: () => Promise<StoredResponse>): Promise<{ response: StoredResponse; replayed: boolean }>;
  size(): number;
  /** Throws when the store cannot be reached (for /ready); in-process stores always can. */
  ready?(): Promise<void>;
}

interface Entry {
  fingerprint: string;
  pending: Promise<StoredResponse> | undefined;
  response: StoredResponse | undefined;
}

/** In-process store, bounded: the oldest finished entries are dropped past `maxEntries`. */
export function createMemoryIdempotencyStore(maxEntries: number): IdempotencyStore {
  const entries = new Map<string, Entry>();

  function evict(): void {
    if (entries.size <= maxEntries) return;
    for (const [key, entry] of entries) {
      if (entries.size <= maxEntries) break;
      if (entry.response) entries.delete(key);
    }
  }

  return {
    async run(key, fingerprint, fn) {
      const existing = entries.get(key);
      if (existing) {
        if (existing.fingerprint !== fingerprint) {
          throw new AppError('IDEMPOTENCY_CONFLICT', `idempotency key ${key} was already used with different input`);
        }
        const response = existing.response ?? (await existing.pending!);
        return { response, replayed: true };
      }
      const entry: Entry = { fingerprint, pending: undefined, response: undefined };
      entries.set(key, entry);
      entry.pending = fn();
      try {
        entry.response = await entry.pending;
      } catch (err) {
        // fn maps every outcome to a response; reaching here is a bug, so do not pin it to the key.
        entries.delete(key);
        throw err;
      }
      entry.pending = undefined;
      evict();
      return { response: entry.response, replayed: false };
    },
    size: () => entries.size,
  };
}
