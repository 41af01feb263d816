-- Where a scheduled job stopped, so the next run continues from there instead of starting over
-- (the credential re-wrap walks every org's credentials under a per-run budget). Holds no
-- tenant data: only a job name and an opaque position (`<org_id>|<credential_id>`).
CREATE TABLE job_state (
  job         TEXT PRIMARY KEY,
  cursor      TEXT NOT NULL,
  updated_at  TEXT NOT NULL
);
