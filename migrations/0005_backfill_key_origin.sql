-- Keys minted for another member before 0004 carry no origin, so they would act uncapped.
-- Recover who minted each key from the org chain (`key.created`, or the `key.rotated` that made
-- it a successor, by a member's key) and cap every such key at `member`: the minter's role at
-- the time is not recorded, and `member` is the least any minter could grant. Keys their own
-- member minted (or the operator bootstrap) stay as they are.
WITH origins AS (
  SELECT k.id AS key_id,
         substr(a.actor, 8, instr(a.actor, '/key:') - 8) AS minter
  FROM api_keys k
  JOIN audit_log a ON a.chain = 'org:' || k.org_id
  WHERE a.actor LIKE 'member:%/key:%'
    AND ((a.action = 'key.created' AND a.target = 'key:' || k.id)
      OR (a.action = 'key.rotated' AND json_extract(a.after, '$.new.id') = k.id))
)
UPDATE api_keys
SET minted_by = (SELECT o.minter FROM origins o WHERE o.key_id = api_keys.id LIMIT 1),
    minted_role = 'member'
WHERE minted_by IS NULL
  AND id IN (
    SELECT o.key_id FROM origins o JOIN api_keys k2 ON k2.id = o.key_id WHERE o.minter != k2.member_id
  );
