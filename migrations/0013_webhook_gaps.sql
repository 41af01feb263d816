-- Gaps in a project's events that Stripe no longer keeps (older than its 30 days of Events API
-- history): what the dropped-delivery recovery could not read back, reported by
-- `GET …/webhooks/health` and answered by a full run.
CREATE TABLE webhook_gaps (
  org_id       TEXT NOT NULL REFERENCES orgs(org_id),
  project_id   TEXT NOT NULL,
  detected_at  TEXT NOT NULL,
  gap_from     INTEGER NOT NULL,
  PRIMARY KEY (project_id, detected_at)
);
