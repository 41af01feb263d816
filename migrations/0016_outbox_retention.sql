-- Outbox rows are pruned 30 days after their check succeeded (the cron's `outbox` job); this
-- index finds them per org without scanning the org's whole outbox.
CREATE INDEX outbox_done ON outbox(org_id, status, done_at);
