-- Outbound incident webhooks (SPEC §11, issue 22). A project's endpoints receive its
-- `incident.*` and `repair.*` events signed per Standard Webhooks. The events are the project's
-- own audit entries: the drain walks the project chain from `hook_cursors.seq` and, in the batch
-- that moves the cursor, stores each entry that is an event type once (`hook_events`, unique by
-- its audit seq) with a delivery per subscribed endpoint. Each send of a delivery is an attempt.
CREATE TABLE hook_endpoints (
  org_id           TEXT NOT NULL REFERENCES orgs(org_id),
  project_id       TEXT NOT NULL,
  id               TEXT NOT NULL,
  url              TEXT NOT NULL,
  description      TEXT NOT NULL DEFAULT '',
  events           TEXT NOT NULL,
  status           TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
  disabled_reason  TEXT,
  -- The signing secret (`whsec_…`) sealed by the vault, bound to org, project and endpoint; a
  -- rotated-out secret stays valid (signed with beside the new one) until `old_secret_until`.
  secret_sealed    TEXT NOT NULL,
  old_secret_sealed TEXT,
  old_secret_until TEXT,
  -- The endpoint receives the events of project-chain entries after this sequence number.
  from_seq         INTEGER NOT NULL,
  -- The first failed send of the current run of failures (NULL after a delivered one).
  failing_since    TEXT,
  created_at       TEXT NOT NULL,
  updated_at       TEXT NOT NULL,
  PRIMARY KEY (org_id, id)
);
CREATE INDEX hook_endpoints_by_project ON hook_endpoints(org_id, project_id, status);

CREATE TABLE hook_cursors (
  org_id      TEXT NOT NULL REFERENCES orgs(org_id),
  project_id  TEXT NOT NULL,
  seq         INTEGER NOT NULL,
  PRIMARY KEY (org_id, project_id)
);

CREATE TABLE hook_events (
  org_id      TEXT NOT NULL REFERENCES orgs(org_id),
  project_id  TEXT NOT NULL,
  id          TEXT NOT NULL,
  seq         INTEGER NOT NULL,
  type        TEXT NOT NULL,
  payload     TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  PRIMARY KEY (org_id, id),
  UNIQUE (org_id, project_id, seq)
);

CREATE TABLE hook_deliveries (
  org_id           TEXT NOT NULL REFERENCES orgs(org_id),
  project_id       TEXT NOT NULL,
  id               TEXT NOT NULL,
  endpoint_id      TEXT NOT NULL,
  event_id         TEXT NOT NULL,
  event_type       TEXT NOT NULL,
  status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  TEXT NOT NULL,
  last_status      INTEGER,
  last_error       TEXT,
  created_at       TEXT NOT NULL,
  updated_at       TEXT NOT NULL,
  PRIMARY KEY (org_id, id)
);
CREATE INDEX hook_deliveries_due ON hook_deliveries(org_id, project_id, status, next_attempt_at);
CREATE INDEX hook_deliveries_by_endpoint ON hook_deliveries(org_id, endpoint_id, created_at);

CREATE TABLE hook_attempts (
  org_id       TEXT NOT NULL REFERENCES orgs(org_id),
  project_id   TEXT NOT NULL,
  delivery_id  TEXT NOT NULL,
  n            INTEGER NOT NULL,
  at           TEXT NOT NULL,
  status       INTEGER,
  error        TEXT,
  duration_ms  INTEGER NOT NULL,
  PRIMARY KEY (org_id, delivery_id, n)
);
