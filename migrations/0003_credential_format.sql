-- The vault's sealed format version of each credential (1 = legacy, header not authenticated;
-- 2 = header in the AAD). Rows sealed before this migration are v1; the cron re-wrap upgrades
-- every row whose format is below the current one, even when its key id is already current.
ALTER TABLE credentials ADD COLUMN format INTEGER NOT NULL DEFAULT 1;
