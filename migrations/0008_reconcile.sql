-- Reconcile (SPEC §5, §6, §15): the project's mapping, incidents with their state snapshots,
-- and reconcile runs. Incidents, snapshots and runs carry no foreign key to projects: incidents
-- live as long as the org (SPEC §13); the mapping is configuration and goes with its project.

CREATE TABLE mappings (
  project_id  TEXT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
  org_id      TEXT NOT NULL REFERENCES orgs(org_id),
  mapping     TEXT NOT NULL,
  updated_at  TEXT NOT NULL
);

CREATE TABLE incidents (
  id           TEXT PRIMARY KEY,
  org_id       TEXT NOT NULL REFERENCES orgs(org_id),
  project_id   TEXT NOT NULL,
  customer     TEXT NOT NULL,
  kind         TEXT NOT NULL CHECK (kind IN ('missing_access', 'unpaid_access', 'plan_mismatch',
                 'trial_mismatch', 'entitlement_mismatch', 'unknown_customer')),
  status       TEXT NOT NULL CHECK (status IN ('open', 'resolved', 'ignored')),
  severity     TEXT NOT NULL CHECK (severity IN ('high', 'medium')),
  expected     TEXT NOT NULL,
  actual       TEXT NOT NULL,
  fingerprint  TEXT NOT NULL,
  opened_at    TEXT NOT NULL,
  updated_at   TEXT NOT NULL,
  resolved_at  TEXT,
  reason       TEXT,
  repair_id    TEXT
);
-- One open incident per (project, customer, kind), whoever opens it and however concurrently.
CREATE UNIQUE INDEX incidents_one_open ON incidents(project_id, customer, kind) WHERE status = 'open';
CREATE INDEX incidents_by_project ON incidents(org_id, project_id, id);
CREATE INDEX incidents_by_customer ON incidents(org_id, project_id, customer, status);

-- The Stripe and app state an incident was decided on when it opened; pruned after 90 days.
CREATE TABLE snapshots (
  id           TEXT PRIMARY KEY,
  org_id       TEXT NOT NULL REFERENCES orgs(org_id),
  project_id   TEXT NOT NULL,
  incident_id  TEXT NOT NULL,
  customer     TEXT NOT NULL,
  stripe       TEXT NOT NULL,
  app          TEXT NOT NULL,
  taken_at     TEXT NOT NULL
);
CREATE INDEX snapshots_by_age ON snapshots(org_id, taken_at);
CREATE INDEX snapshots_by_incident ON snapshots(org_id, incident_id);
