-- Account correction and mail (issue 15 points 3 and 4, the email half).
-- email_verified_ms: when a link sent to the current address was followed
-- (NULL: not verified; accounts from before this migration start so).
-- adult_confirmed_ms: when the user confirmed at sign-up being 18 or over.
-- job_emails (0/1): mail when a job succeeds or fails; on by default.
-- marketing_emails (0/1): consent to news and offers; off unless chosen.
ALTER TABLE accounts ADD COLUMN email_verified_ms BIGINT;
ALTER TABLE accounts ADD COLUMN adult_confirmed_ms BIGINT;
ALTER TABLE accounts ADD COLUMN job_emails BIGINT NOT NULL DEFAULT 1;
ALTER TABLE accounts ADD COLUMN marketing_emails BIGINT NOT NULL DEFAULT 0;

-- The links mailed to a user: only the SHA-256 of each token is kept.
-- purpose: verify | change_email | reset. email: the address the link was
-- sent to (for change_email, the new address it confirms). A used or
-- expired row stays until the sweep removes it, so that following it again
-- says "used" or "expired" rather than "unknown".
CREATE TABLE account_tokens (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    email TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    used_ms BIGINT
);
CREATE INDEX account_tokens_account ON account_tokens(account_id, purpose, created_ms);
CREATE INDEX account_tokens_expires ON account_tokens(expires_ms);
