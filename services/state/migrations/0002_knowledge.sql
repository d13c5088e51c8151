-- The knowledge base: documents split into passages, searched with Postgres full-text search.

CREATE TABLE knowledge_documents (
  id           uuid PRIMARY KEY,
  source       text NOT NULL UNIQUE,
  title        text,
  content_hash text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE knowledge_passages (
  id          bigserial PRIMARY KEY,
  document_id uuid NOT NULL REFERENCES knowledge_documents (id) ON DELETE CASCADE,
  ordinal     integer NOT NULL,
  heading     text NOT NULL DEFAULT '',
  content     text NOT NULL,
  -- Headings weigh more than body text in the ranking.
  tsv         tsvector GENERATED ALWAYS AS (
                setweight(to_tsvector('english', heading), 'A') || setweight(to_tsvector('english', content), 'B')
              ) STORED
);

CREATE INDEX knowledge_passages_tsv_idx ON knowledge_passages USING GIN (tsv);
CREATE INDEX knowledge_passages_document_idx ON knowledge_passages (document_id, ordinal);
