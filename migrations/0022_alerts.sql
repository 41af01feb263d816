-- Alert e-mail (SPEC §11, issue 22). A high-severity incident that opens is queued here, in the
-- batch that opens it; the primary key is the incident, so it is queued (and alerted) once. The
-- project's drain gathers queued incidents into a digest (one e-mail), composed once and stored
-- with its recipients, so a retry sends the same e-mail under the same Idempotency-Key (its id).
CREATE TABLE alert_queue (
  org_id       TEXT NOT NULL REFERENCES orgs(org_id),
  project_id   TEXT NOT NULL,
  incident_id  TEXT NOT NULL,
  customer     TEXT NOT NULL,
  kind         TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  digest_id    TEXT,
  PRIMARY KEY (org_id, incident_id)
);
CREATE INDEX alert_queue_by_project ON alert_queue(org_id, project_id, digest_id);

CREATE TABLE alert_digests (
  org_id           TEXT NOT NULL REFERENCES orgs(org_id),
  project_id       TEXT NOT NULL,
  id               TEXT NOT NULL,
  status           TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
  recipients       TEXT NOT NULL,
  subject          TEXT NOT NULL,
  body             TEXT NOT NULL,
  incidents        INTEGER NOT NULL,
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  TEXT NOT NULL,
  last_error       TEXT,
  created_at       TEXT NOT NULL,
  updated_at       TEXT NOT NULL,
  PRIMARY KEY (org_id, id)
);
CREATE INDEX alert_digests_due ON alert_digests(org_id, project_id, status, next_attempt_at);

-- A project's own alert recipients (a JSON array of addresses); NULL: the org's owners and admins.
ALTER TABLE projects ADD COLUMN alert_recipients TEXT;
