-- Sealed integration credentials (SPEC §3). `sealed` is the vault's AES-256-GCM blob, bound by
-- its AAD to org_id | project_id | kind | id; `key_id` names the master key that sealed it (for
-- re-wrap); `public` is the non-secret view the API may show. No other column holds a secret.
CREATE TABLE credentials (
  id          TEXT PRIMARY KEY,
  org_id      TEXT NOT NULL REFERENCES orgs(org_id),
  project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  kind        TEXT NOT NULL CHECK (kind IN ('stripe_api_key', 'stripe_webhook_secret', 'db_read_url', 'db_repair_url')),
  slot        INTEGER NOT NULL DEFAULT 0,
  sealed      TEXT NOT NULL,
  key_id      TEXT NOT NULL,
  public      TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  UNIQUE (project_id, kind, slot)
);
CREATE INDEX credentials_by_key_id ON credentials(key_id);
