-- The member a key-minting request acted as, when the key is for someone else (its `minted_by`
-- may be another member: a capped key passes on its own minter). Removing a member revokes the
-- keys that act for it, that it minted, and that were minted through its keys: it may hold any.
ALTER TABLE api_keys ADD COLUMN minted_via TEXT;
UPDATE api_keys SET minted_via = minted_by WHERE minted_by IS NOT NULL;
