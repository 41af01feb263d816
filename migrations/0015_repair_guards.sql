-- Repairs, hardened (review of 0014), and an index for the access ledger.
--
-- What a repair writes is fixed once it is suggested: besides its id, org, project, incident
-- and changes (0014), its customer (the key it writes by), effect (what automatic approval
-- trusts), table, key column and creation time never change. A repair is born `pending` and is
-- never deleted (it lives as long as the org, like the audit entries that record it).
CREATE TRIGGER repairs_fixed BEFORE UPDATE ON repairs
WHEN NEW.customer IS NOT OLD.customer OR NEW.effect IS NOT OLD.effect
  OR NEW.table_name IS NOT OLD.table_name OR NEW.key_column IS NOT OLD.key_column
  OR NEW.created_at IS NOT OLD.created_at
BEGIN
  SELECT RAISE(ABORT, 'repair_transition');
END;

CREATE TRIGGER repairs_born_pending BEFORE INSERT ON repairs
WHEN NEW.status IS NOT 'pending'
BEGIN
  SELECT RAISE(ABORT, 'repair_transition');
END;

CREATE TRIGGER repairs_no_delete BEFORE DELETE ON repairs
BEGIN
  SELECT RAISE(ABORT, 'repair_transition');
END;

-- The access ledger (GET …/customers/{cus}/ledger) reads the audit entries whose `after` names
-- a customer. This table indexes them by customer; a trigger fills it as entries are appended
-- (the audit log itself is never updated); the entries already there are indexed below.
CREATE TABLE audit_customers (
  org_id    TEXT NOT NULL,
  chain     TEXT NOT NULL,
  customer  TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  PRIMARY KEY (org_id, chain, customer, seq)
);

CREATE TRIGGER audit_customers_index AFTER INSERT ON audit_log
WHEN json_valid(NEW.after) AND json_type(NEW.after, '$.customer') = 'text'
BEGIN
  INSERT INTO audit_customers (org_id, chain, customer, seq)
  VALUES (NEW.org_id, NEW.chain, json_extract(NEW.after, '$.customer'), NEW.seq);
END;

-- The entries already there, after the trigger exists (an entry appended meanwhile is indexed
-- once either way).
INSERT OR IGNORE INTO audit_customers (org_id, chain, customer, seq)
  SELECT org_id, chain, json_extract(after, '$.customer'), seq FROM audit_log
  WHERE json_valid(after) AND json_type(after, '$.customer') = 'text';
