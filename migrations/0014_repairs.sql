-- Repairs (SPEC §8, §15): one suggested one-row change per fixable incident. Repairs live as
-- long as the org, like incidents. Their status moves only as SPEC §8 allows: the trigger below
-- refuses any other change of status (and any change at all of a repair in a final status), so
-- a bug or a racing writer cannot move a repair backwards or execute it twice.
CREATE TABLE repairs (
  id           TEXT PRIMARY KEY,
  org_id       TEXT NOT NULL REFERENCES orgs(org_id),
  project_id   TEXT NOT NULL,
  incident_id  TEXT NOT NULL,
  customer     TEXT NOT NULL,
  status       TEXT NOT NULL CHECK (status IN ('pending', 'executing', 'executed', 'verified',
                 'unverified', 'rejected', 'stale', 'failed')),
  effect       TEXT NOT NULL CHECK (effect IN ('grant', 'revocation', 'change')),
  table_name   TEXT NOT NULL,
  key_column   TEXT NOT NULL,
  changes      TEXT NOT NULL,
  row_before   TEXT,
  row_after    TEXT,
  approved_by  TEXT,
  created_at   TEXT NOT NULL,
  updated_at   TEXT NOT NULL,
  executed_at  TEXT,
  verified_at  TEXT,
  error        TEXT,
  reason       TEXT
);
-- At most one repair waiting or running per incident.
CREATE UNIQUE INDEX repairs_one_live ON repairs(incident_id) WHERE status IN ('pending', 'executing');
CREATE INDEX repairs_by_project ON repairs(org_id, project_id, id);
CREATE INDEX repairs_by_customer ON repairs(org_id, project_id, customer, id);

CREATE TRIGGER repairs_transition BEFORE UPDATE ON repairs
WHEN NOT (
  (OLD.status = 'pending' AND NEW.status IN ('executing', 'rejected'))
  OR (OLD.status = 'executing' AND NEW.status IN ('executed', 'stale', 'failed'))
  OR (OLD.status = 'executed' AND NEW.status IN ('verified', 'unverified'))
) OR NEW.id IS NOT OLD.id OR NEW.org_id IS NOT OLD.org_id OR NEW.project_id IS NOT OLD.project_id
  OR NEW.incident_id IS NOT OLD.incident_id OR NEW.changes IS NOT OLD.changes
BEGIN
  SELECT RAISE(ABORT, 'repair_transition');
END;

-- A repair's change carries one row for this table before its update; the row is never stored.
-- The trigger aborts the whole batch unless the repair is still in the status the writer read,
-- so a transition (and the audit entry beside it) commits only from the status it was decided
-- on ('repair_changed').
CREATE TABLE repair_checks (
  org_id     TEXT NOT NULL,
  repair_id  TEXT NOT NULL,
  status     TEXT NOT NULL
);

CREATE TRIGGER repair_checks_verify BEFORE INSERT ON repair_checks
BEGIN
  SELECT RAISE(ABORT, 'repair_changed')
  WHERE (SELECT r.status FROM repairs r WHERE r.org_id = NEW.org_id AND r.id = NEW.repair_id)
        IS NOT NEW.status;
  SELECT RAISE(IGNORE);
END;
