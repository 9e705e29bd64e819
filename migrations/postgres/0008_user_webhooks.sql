-- Webhooks a user registers: where job events go, and the secret each
-- delivery is signed with. The secret is kept as given to the user (an
-- HMAC needs it), never sent again after the answer that created it.
-- events: the event types wanted, comma-separated (job.succeeded,...).
CREATE TABLE user_webhooks (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    events TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX user_webhooks_account ON user_webhooks(account_id, created_ms);

-- One event for one webhook, written in the transaction that ended the
-- job, so a restart loses nothing. event_id is the same for every attempt
-- (receivers de-duplicate on it). state: pending (next_attempt_ms is when
-- it is due), delivered, or failed (attempts used up). A claim sets
-- lease_owner and lease_until_ms; a lease that ran out is claimable again.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL REFERENCES user_webhooks(id) ON DELETE CASCADE,
    account_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    job_id TEXT NOT NULL,
    error_code TEXT,
    error_message TEXT,
    occurred_ms BIGINT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT,
    lease_owner TEXT,
    lease_until_ms BIGINT,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_ms)
    WHERE state = 'pending';

-- Each attempt, for the user's delivery log: the HTTP status, or what
-- went wrong instead, and when the next try is due (NULL: none).
CREATE TABLE webhook_attempts (
    id BIGSERIAL PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    webhook_id TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    http_status BIGINT,
    error TEXT,
    next_retry_ms BIGINT
);
CREATE INDEX webhook_attempts_webhook ON webhook_attempts(webhook_id, id);
