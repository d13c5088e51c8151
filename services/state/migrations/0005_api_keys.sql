-- API keys for the public API. Only a SHA-256 of each key is kept: the key itself is shown once,
-- when it is created. Keys are high-entropy random strings, so a plain hash is enough (no
-- password-style stretching), and lookup by hash is one index probe.
CREATE TABLE api_keys (
  id text PRIMARY KEY,
  name text NOT NULL,
  key_hash text NOT NULL UNIQUE,
  scopes text[] NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz
);
