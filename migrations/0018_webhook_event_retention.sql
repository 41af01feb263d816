-- Recorded webhook events are pruned 90 days after ParityRail received them (the cron's
-- `webhook_events_prune` job), unless a pending outbox row still needs one. These indexes keep
-- that a range read per org and one lookup per event, however many rows are kept or pending.
CREATE INDEX webhook_events_by_received ON webhook_events(org_id, received_at);
CREATE INDEX outbox_by_event ON outbox(org_id, project_id, event_id, status);
