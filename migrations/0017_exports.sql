-- Exports and signed checkpoints (SPEC §9, §10).

-- One Ed25519 key per org. `sealed` is the vault blob of the private key (PKCS #8, base64),
-- bound by its AAD to org_id | "" | "signing_key" | id; `public_key` is the raw public key
-- (base64), served as PEM. A key is never replaced or removed: checkpoints and bundles signed
-- with it stay verifiable. Only the re-wrap may change the blob.
CREATE TABLE signing_keys (
  id          TEXT PRIMARY KEY,
  org_id      TEXT NOT NULL UNIQUE REFERENCES orgs(org_id),
  public_key  TEXT NOT NULL,
  sealed      TEXT NOT NULL,
  key_id      TEXT NOT NULL,
  format      INTEGER NOT NULL,
  created_at  TEXT NOT NULL
);
CREATE TRIGGER signing_keys_fixed BEFORE UPDATE OF id, org_id, public_key, created_at ON signing_keys
BEGIN
  SELECT RAISE(ABORT, 'a signing key is fixed');
END;
CREATE TRIGGER signing_keys_kept BEFORE DELETE ON signing_keys
BEGIN
  SELECT RAISE(ABORT, 'a signing key is kept');
END;

-- Export bundles. The range is fixed at creation (sequence numbers of the project chain);
-- `files` is the JSON list of written files with their sizes and SHA-256, manifest included.
CREATE TABLE exports (
  id            TEXT PRIMARY KEY,
  org_id        TEXT NOT NULL REFERENCES orgs(org_id),
  project_id    TEXT NOT NULL,
  status        TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
  format        TEXT NOT NULL CHECK (format IN ('jsonl', 'csv', 'both')),
  from_seq      INTEGER NOT NULL,
  to_seq        INTEGER NOT NULL,
  actions       TEXT,
  requested_by  TEXT NOT NULL,
  created_at    TEXT NOT NULL,
  finished_at   TEXT,
  entry_count   INTEGER,
  first_seq     INTEGER,
  first_hash    TEXT,
  last_seq      INTEGER,
  last_hash     TEXT,
  files         TEXT,
  error         TEXT
);
CREATE INDEX exports_by_project ON exports(org_id, project_id, created_at);

-- The head of every chain, kept by a trigger on the audit log, and the size of its newest
-- signed checkpoint: the cron signs the chains whose head moved.
CREATE TABLE chain_heads (
  chain           TEXT PRIMARY KEY,
  org_id          TEXT NOT NULL,
  seq             INTEGER NOT NULL,
  hash            TEXT NOT NULL,
  checkpoint_seq  INTEGER NOT NULL DEFAULT 0,
  checkpoint_at   TEXT
);
CREATE INDEX chain_heads_unsigned ON chain_heads(org_id, chain) WHERE checkpoint_seq < seq;
CREATE TRIGGER audit_log_head AFTER INSERT ON audit_log
BEGIN
  INSERT INTO chain_heads (chain, org_id, seq, hash) VALUES (NEW.chain, NEW.org_id, NEW.seq, NEW.hash)
  ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash
  WHERE excluded.seq > chain_heads.seq;
END;
INSERT INTO chain_heads (chain, org_id, seq, hash)
  SELECT a.chain, a.org_id, a.seq, a.hash FROM audit_log a
  WHERE a.seq = (SELECT MAX(b.seq) FROM audit_log b WHERE b.chain = a.chain);
