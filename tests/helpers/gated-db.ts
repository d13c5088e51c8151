import type { Db } from '../../services/state/index.ts';

/**
 * A database that can hold a statement after it ran, before its caller sees the answer: the
 * windows between a commit and what the caller does next (register a run, insert after a lookup),
 * opened at will. It also notes when statements matching a pattern ran.
 */
export function gatedDb(db: Db) {
  let gate:
    { pattern: RegExp; when?: ((params: readonly unknown[]) => boolean) | undefined; held: () => void; release: Promise<void> } | undefined;
  const seen: Array<{ sql: string; at: number }> = [];
  const query: Db['query'] = async (sql, params) => {
    const rows = await db.query(sql, params);
    const text = typeof sql === 'string' ? sql : sql.text;
    seen.push({ sql: text, at: Date.now() });
    const g = gate;
    if (g && g.pattern.test(text) && (!g.when || g.when(params ?? []))) {
      gate = undefined;
      g.held();
      await g.release;
    }
    return rows as never;
  };
  return {
    db: { ...db, query, exec: db.exec.bind(db), transaction: db.transaction.bind(db), close: db.close.bind(db) } satisfies Db,
    /**
     * Holds the next statement matching `pattern` (and `when`, on its parameters: one of many
     * commits) once it has run; `held` resolves when it is held.
     */
    hold(pattern: RegExp, when?: (params: readonly unknown[]) => boolean): { held: Promise<void>; release: () => void } {
      let release!: () => void;
      let held!: () => void;
      const isHeld = new Promise<void>((r) => (held = r));
      gate = { pattern, when, held, release: new Promise<void>((r) => (release = r)) };
      return { held: isHeld, release };
    },
    /** How many statements matching `pattern` finished at or after `t` (ms since the epoch). */
    ranSince: (pattern: RegExp, t: number) => seen.filter((s) => s.at >= t && pattern.test(s.sql)).length,
  };
}
