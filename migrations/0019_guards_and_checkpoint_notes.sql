-- Second security review (issue 24).
--
-- 1. The caller guard (0009) also holds the key's cap (`minted_role`): a change authenticated
--    under a higher cap must not commit after the key was capped lower (a demotion or an
--    ownership transfer records `key.capped` in its own batch). NULL = an uncapped key, which
--    must still be uncapped.
ALTER TABLE caller_checks ADD COLUMN minted_role TEXT;

DROP TRIGGER caller_checks_verify;

CREATE TRIGGER caller_checks_verify BEFORE INSERT ON caller_checks
BEGIN
  SELECT RAISE(ABORT, 'caller_changed')
  WHERE NOT EXISTS (
      SELECT 1 FROM api_keys k
      WHERE k.org_id = NEW.org_id AND k.id = NEW.key_id AND k.member_id = NEW.member_id
        AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > NEW.at)
        AND k.minted_role IS NEW.minted_role)
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

-- 2. The guard of an automatic approval: one row for this table at the front of the claim's
--    batch (never stored) aborts it unless the project still exists with `auto_approve_grants`
--    on, so turning the setting off stops every claim that commits after it.
CREATE TABLE auto_approval_checks (
  org_id      TEXT NOT NULL,
  project_id  TEXT NOT NULL
);

CREATE TRIGGER auto_approval_checks_verify BEFORE INSERT ON auto_approval_checks
BEGIN
  SELECT RAISE(ABORT, 'auto_approve_off')
  WHERE NOT EXISTS (
    SELECT 1 FROM projects p
    WHERE p.org_id = NEW.org_id AND p.id = NEW.project_id AND p.auto_approve_grants = 1);
  SELECT RAISE(IGNORE);
END;

-- 3. A checkpoint's note holds its head hash too, and is written before the checkpoint is put in
--    R2 (compare-and-swap on the size read before), marked pending until the put succeeded, so
--    a checkpoint in R2 is never ahead of its note: a note that cannot be written stops the put,
--    and R2 behind a settled note is a rollback. R2 behind a pending note is a put that did not
--    finish: readers keep to the checkpoint R2 has, and the next signer finishes it only when the
--    chain still has the noted hash at the noted size. NULL hash for notes written before this.
ALTER TABLE chain_heads ADD COLUMN checkpoint_hash TEXT;
ALTER TABLE chain_heads ADD COLUMN checkpoint_pending INTEGER NOT NULL DEFAULT 0;
CREATE INDEX chain_heads_pending ON chain_heads(org_id, chain) WHERE checkpoint_pending = 1;
