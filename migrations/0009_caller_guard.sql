-- Every change a caller makes carries one row for this table at the front of its D1 batch; the
-- row is never stored. The trigger re-checks, inside the same transaction as the change, what
-- authentication established: the calling key is still active, its member still holds the
-- role it authenticated with, and, for a change inside a project, that project still exists and
-- the member's override there is unchanged. A key revoked, a member removed or demoted, or an
-- override changed by a concurrent batch on any chain aborts the whole batch ('caller_changed').
CREATE TABLE caller_checks (
  org_id         TEXT NOT NULL,
  key_id         TEXT NOT NULL,
  member_id      TEXT NOT NULL,
  role           TEXT NOT NULL,
  project_id     TEXT,
  override_role  TEXT,
  at             TEXT NOT NULL
);

CREATE TRIGGER caller_checks_verify BEFORE INSERT ON caller_checks
BEGIN
  SELECT RAISE(ABORT, 'caller_changed')
  WHERE NOT EXISTS (
      SELECT 1 FROM api_keys k
      WHERE k.org_id = NEW.org_id AND k.id = NEW.key_id AND k.member_id = NEW.member_id
        AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > NEW.at))
    OR NOT EXISTS (
      SELECT 1 FROM members m
      WHERE m.org_id = NEW.org_id AND m.id = NEW.member_id AND m.role = NEW.role)
    OR (NEW.project_id IS NOT NULL AND (
      NOT EXISTS (SELECT 1 FROM projects p WHERE p.org_id = NEW.org_id AND p.id = NEW.project_id)
      OR (SELECT r.role FROM project_roles r
          WHERE r.org_id = NEW.org_id AND r.project_id = NEW.project_id
            AND r.member_id = NEW.member_id) IS NOT NEW.override_role));
  SELECT RAISE(IGNORE);
END;
