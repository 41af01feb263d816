-- Who minted each API key when it is not the member the key acts for, and the most that minter
-- could grant then (one rank below its own role). Such a key never acts above that role
-- (checked on every request, at org level and in every project), whatever happens to roles
-- and overrides later.
-- NULL in both: the key's own member minted it (or the operator, for an org's first owner key).
-- Removing a member also revokes the keys it minted for others.
ALTER TABLE api_keys ADD COLUMN minted_by TEXT;
ALTER TABLE api_keys ADD COLUMN minted_role TEXT CHECK (minted_role IN ('owner', 'admin', 'member'));
