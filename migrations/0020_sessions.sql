-- Dashboard sessions (SPEC §11, issue 21). Secrets are stored only as SHA-256 hashes.
--
-- A session acts through a key row: the API key it signed in with, or (for an e-mail session) a
-- `read` key minted for it whose plaintext nobody ever sees, plus a `repair` key for the ten
-- minutes of a confirmed step-up. Such keys are `purpose = 'session'`: the keys API neither
-- lists, rotates nor signs in with them, and they die with their session (sign-out revokes them,
-- they expire with it). Revocation, caller checks and audit actors stay those of keys.
ALTER TABLE api_keys ADD COLUMN purpose TEXT NOT NULL DEFAULT 'api' CHECK (purpose IN ('api', 'session'));

CREATE TABLE sessions (
  id              TEXT PRIMARY KEY,
  org_id          TEXT NOT NULL REFERENCES orgs(org_id),
  token_hash      TEXT NOT NULL UNIQUE,
  via             TEXT NOT NULL CHECK (via IN ('key', 'email')),
  member_id       TEXT NOT NULL,
  key_id          TEXT NOT NULL,
  -- The member's org role at sign-in: a session dies once the member is demoted below it.
  signed_in_role  TEXT NOT NULL CHECK (signed_in_role IN ('owner', 'admin', 'member')),
  step_up_key_id  TEXT,
  step_up_until   TEXT,
  created_at      TEXT NOT NULL,
  last_seen_at    TEXT NOT NULL,
  ended_at        TEXT
);
CREATE INDEX sessions_by_member ON sessions(org_id, member_id);

-- One-time e-mailed links: sign-in, or a step-up of one session. Single use is one conditional
-- UPDATE (`used_at IS NULL`), so two clicks cannot both win. A sign-in link works only in the
-- browser that asked for it: `nonce_hash` is the hash of a `__Host-` cookie set by that request
-- (so a link sent to someone else, or opened by a mail scanner, opens nothing and is not spent).
CREATE TABLE login_links (
  token_hash   TEXT PRIMARY KEY,
  org_id       TEXT NOT NULL REFERENCES orgs(org_id),
  member_id    TEXT NOT NULL,
  environment  TEXT NOT NULL CHECK (environment IN ('live', 'test')),
  purpose      TEXT NOT NULL CHECK (purpose IN ('sign_in', 'step_up')),
  session_id   TEXT,
  nonce_hash   TEXT,
  created_at   TEXT NOT NULL,
  expires_at   TEXT NOT NULL,
  used_at      TEXT,
  CHECK ((purpose = 'step_up') = (session_id IS NOT NULL)),
  CHECK ((purpose = 'sign_in') = (nonce_hash IS NOT NULL))
);
CREATE INDEX login_links_by_member ON login_links(org_id, member_id, created_at);
