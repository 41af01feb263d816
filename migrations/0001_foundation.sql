-- Foundation: tenancy, API keys and the append-only audit log.
-- Timestamps are RFC 3339 UTC strings with milliseconds (fixed width, so text order = time order).

CREATE TABLE orgs (
  org_id      TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  created_at  TEXT NOT NULL
);

CREATE TABLE members (
  id          TEXT PRIMARY KEY,
  org_id      TEXT NOT NULL REFERENCES orgs(org_id),
  email       TEXT NOT NULL,
  role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  created_at  TEXT NOT NULL,
  UNIQUE (org_id, email)
);
-- Exactly one owner per org: a transfer demotes the old owner before promoting the new one.
CREATE UNIQUE INDEX members_one_owner ON members(org_id) WHERE role = 'owner';

CREATE TABLE projects (
  id                       TEXT PRIMARY KEY,
  org_id                   TEXT NOT NULL REFERENCES orgs(org_id),
  name                     TEXT NOT NULL,
  environment              TEXT NOT NULL CHECK (environment IN ('live', 'test')),
  reconcile_every_minutes  INTEGER NOT NULL DEFAULT 60,
  auto_approve_grants      INTEGER NOT NULL DEFAULT 0,
  created_at               TEXT NOT NULL,
  updated_at               TEXT NOT NULL
);
CREATE INDEX projects_by_org ON projects(org_id, created_at, id);

CREATE TABLE project_roles (
  org_id      TEXT NOT NULL,
  project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  member_id   TEXT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
  role        TEXT NOT NULL CHECK (role IN ('admin', 'member')),
  PRIMARY KEY (project_id, member_id)
);

CREATE TABLE api_keys (
  id            TEXT PRIMARY KEY,
  org_id        TEXT NOT NULL REFERENCES orgs(org_id),
  member_id     TEXT NOT NULL,
  key_hash      TEXT NOT NULL UNIQUE,
  prefix        TEXT NOT NULL,
  last4         TEXT NOT NULL,
  name          TEXT NOT NULL,
  environment   TEXT NOT NULL CHECK (environment IN ('live', 'test')),
  project_id    TEXT,
  capability    TEXT NOT NULL CHECK (capability IN ('read', 'repair')),
  created_at    TEXT NOT NULL,
  last_used_at  TEXT,
  expires_at    TEXT,
  revoked_at    TEXT
);
CREATE INDEX api_keys_by_org ON api_keys(org_id, created_at, id);

-- One chain per project ('project:<id>') and one per org ('org:<id>').
-- (chain, seq) is the primary key: two concurrent appends cannot both take the same place,
-- so a chain can never fork; the loser's whole batch rolls back and is retried.
CREATE TABLE audit_log (
  chain       TEXT NOT NULL,
  seq         INTEGER NOT NULL,
  org_id      TEXT NOT NULL,
  project_id  TEXT,
  at          TEXT NOT NULL,
  actor       TEXT NOT NULL,
  action      TEXT NOT NULL,
  target      TEXT NOT NULL,
  before      TEXT NOT NULL,
  after       TEXT NOT NULL,
  prev_hash   TEXT NOT NULL,
  hash        TEXT NOT NULL,
  PRIMARY KEY (chain, seq)
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;
