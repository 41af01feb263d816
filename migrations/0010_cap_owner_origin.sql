-- No key minted by another member acts as owner (the owner's uncapped key comes from the
-- operator, or from the owner itself). Keys minted for someone else while an earlier rule let a
-- capped key rise to owner after a transfer carry 'owner' as their cap: cap them at 'admin',
-- the most an owner can grant another member.
UPDATE api_keys
SET minted_role = 'admin'
WHERE minted_role = 'owner'
  AND minted_by IS NOT NULL
  AND minted_by != member_id;
