import { createHash, randomUUID } from 'node:crypto';
import type { Queryable } from '../state/index.ts';
import type { Passage } from './passages.ts';

export interface SearchHit {
  source: string;
  title: string | null;
  heading: string;
  passage: string;
  snippet: string;
  rank: number;
}

/** Replaces a document's passages; unchanged content (same hash) is left as it is. */
export async function upsertDocument(
  db: Queryable,
  doc: { source: string; title: string; content: string; passages: Passage[] },
): Promise<{ id: string; changed: boolean }> {
  const hash = createHash('sha256').update(doc.content).digest('hex');
  const [existing] = await db.query<{ id: string; content_hash: string }>(
    'SELECT id, content_hash FROM knowledge_documents WHERE source = $1',
    [doc.source],
  );
  if (existing?.content_hash === hash) return { id: existing.id, changed: false };
  const rows = await db.query<{ id: string }>(
    `WITH d AS (
       INSERT INTO knowledge_documents (id, source, title, content_hash) VALUES ($1, $2, $3, $4)
       ON CONFLICT (source) DO UPDATE SET title = EXCLUDED.title, content_hash = EXCLUDED.content_hash, updated_at = now()
       RETURNING id
     ), gone AS (
       DELETE FROM knowledge_passages WHERE document_id = (SELECT id FROM d)
     ), p AS (
       INSERT INTO knowledge_passages (document_id, ordinal, heading, content)
       SELECT (SELECT id FROM d), x.ord::int, x.e->>'heading', x.e->>'content'
       FROM jsonb_array_elements($5::jsonb) WITH ORDINALITY AS x(e, ord)
     )
     SELECT id FROM d`,
    [existing?.id ?? randomUUID(), doc.source, doc.title, hash, JSON.stringify(doc.passages)],
  );
  return { id: rows[0].id, changed: true };
}

export async function search(db: Queryable, query: string, limit: number): Promise<SearchHit[]> {
  return db.query<SearchHit>(
    `WITH q AS (SELECT websearch_to_tsquery('english', $1) AS q),
     top AS (
       SELECT p.document_id, p.heading, p.content, ts_rank_cd(p.tsv, q.q) AS rank
       FROM knowledge_passages p, q
       WHERE p.tsv @@ q.q
       ORDER BY rank DESC, p.id
       LIMIT $2
     )
     SELECT d.source, d.title, top.heading, top.content AS passage,
            ts_headline('english', top.content, q.q, 'MaxFragments=2, MaxWords=30, MinWords=10') AS snippet,
            top.rank::float8 AS rank
     FROM top JOIN knowledge_documents d ON d.id = top.document_id, q
     ORDER BY top.rank DESC`,
    [query, limit],
  );
}

export async function countDocuments(db: Queryable): Promise<number> {
  const [row] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM knowledge_documents');
  return row?.n ?? 0;
}
