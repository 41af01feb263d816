-- One repair per customer row (issue 21, SPEC §8): a customer whose row drifts in several ways
-- gets one repair that sets every drifted column at once and names every incident it resolves,
-- so one approval writes the row once and verification means the customer is in parity.
--
-- 1. The incidents a repair resolves, as a JSON array of incident ids (sorted; `incident_id`,
--    kept, is the first of them in incident-kind order). NULL for repairs stored before this
--    migration: each resolves its one `incident_id`. A repair suggested from now on always
--    names them (a non-empty array holding `incident_id`), and they never change.
ALTER TABLE repairs ADD COLUMN incident_ids TEXT;

CREATE TRIGGER repairs_name_incidents BEFORE INSERT ON repairs
WHEN NEW.incident_ids IS NULL OR json_valid(NEW.incident_ids) = 0
  OR json_type(NEW.incident_ids) IS NOT 'array' OR json_array_length(NEW.incident_ids) = 0
  OR NOT EXISTS (SELECT 1 FROM json_each(NEW.incident_ids) j WHERE j.value = NEW.incident_id)
BEGIN
  SELECT RAISE(ABORT, 'repair_transition');
END;

CREATE TRIGGER repairs_incidents_fixed BEFORE UPDATE ON repairs
WHEN NEW.incident_ids IS NOT OLD.incident_ids
BEGIN
  SELECT RAISE(ABORT, 'repair_transition');
END;

-- 2. At most one repair waiting or running per customer row, instead of one per incident.
--    A check withdraws a customer's pending repairs before it suggests the one that replaces
--    them, in the same batch.
DROP INDEX repairs_one_live;
CREATE UNIQUE INDEX repairs_one_live_per_customer ON repairs(org_id, project_id, customer)
  WHERE status IN ('pending', 'executing') AND incident_ids IS NOT NULL;

-- Repairs from before (NULL `incident_ids`, one per incident) are outside that index, since
-- several of one customer may still be live and no status may be changed here without its
-- audit entry: the next check of the customer withdraws them (audited) for one repair of the
-- row. Until then no new repair is born beside any live one of the customer.
CREATE TRIGGER repairs_one_live_beside_old BEFORE INSERT ON repairs
WHEN EXISTS (
  SELECT 1 FROM repairs r
  WHERE r.org_id = NEW.org_id AND r.project_id = NEW.project_id AND r.customer = NEW.customer
    AND r.status IN ('pending', 'executing'))
BEGIN
  SELECT RAISE(ABORT, 'repair_transition');
END;
