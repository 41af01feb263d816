-- Full reconcile runs (SPEC §6, §15). The project's `ProjectCoordinator` Durable Object does a
-- run in steps; this row is the record the API shows and the run's position: every step ends
-- with one guarded update (`WHERE step = <the step's number>`) that advances `step`, `phase`
-- and `cursor` and adds the step's counts, so a step retried after a crash neither repeats its
-- counts nor moves the position twice. At most one running run per project (partial unique
-- index). Runs live as long as the org, like incidents.
CREATE TABLE runs (
  id                  TEXT PRIMARY KEY,
  org_id              TEXT NOT NULL REFERENCES orgs(org_id),
  project_id          TEXT NOT NULL,
  status              TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
  trigger_kind        TEXT NOT NULL CHECK (trigger_kind IN ('api', 'cron', 'webhook')),
  customers_checked   INTEGER NOT NULL DEFAULT 0,
  incidents_opened    INTEGER NOT NULL DEFAULT 0,
  incidents_resolved  INTEGER NOT NULL DEFAULT 0,
  stripe_requests     INTEGER NOT NULL DEFAULT 0,
  db_round_trips      INTEGER NOT NULL DEFAULT 0,
  errors              TEXT NOT NULL DEFAULT '[]',
  step                INTEGER NOT NULL DEFAULT 0,
  phase               TEXT NOT NULL,
  cursor              TEXT,
  started_at          TEXT NOT NULL,
  updated_at          TEXT NOT NULL,
  finished_at         TEXT
);
CREATE UNIQUE INDEX runs_one_running ON runs(project_id) WHERE status = 'running';
CREATE INDEX runs_by_project ON runs(org_id, project_id, id);
CREATE INDEX runs_by_start ON runs(org_id, project_id, started_at);
