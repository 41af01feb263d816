-- Stripe webhooks (SPEC §7). Every verified event is recorded once per project by its id; an
-- event that can change access also gets an outbox row asking for a check of its customer, in
-- the same batch, before the delivery is acknowledged. The project's coordinator drains the
-- outbox (every pending row of one customer in one check) and marks a row done only when its
-- check succeeded. Events found through Stripe's Events API (deliveries that never arrived) are
-- recorded the same way with source 'events_api'.
CREATE TABLE webhook_events (
  org_id       TEXT NOT NULL REFERENCES orgs(org_id),
  project_id   TEXT NOT NULL,
  event_id     TEXT NOT NULL,
  kind         TEXT NOT NULL,
  customer     TEXT,
  created      INTEGER NOT NULL,
  source       TEXT NOT NULL CHECK (source IN ('webhook', 'events_api')),
  received_at  TEXT NOT NULL,
  PRIMARY KEY (project_id, event_id)
);
CREATE INDEX webhook_events_by_created ON webhook_events(org_id, project_id, created);

CREATE TABLE outbox (
  id               TEXT PRIMARY KEY,
  org_id           TEXT NOT NULL REFERENCES orgs(org_id),
  project_id       TEXT NOT NULL,
  customer         TEXT NOT NULL,
  event_id         TEXT NOT NULL,
  status           TEXT NOT NULL CHECK (status IN ('pending', 'done')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  created_at       TEXT NOT NULL,
  next_attempt_at  TEXT NOT NULL,
  done_at          TEXT,
  last_error       TEXT
);
CREATE INDEX outbox_pending ON outbox(org_id, project_id, status, next_attempt_at);
