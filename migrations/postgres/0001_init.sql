-- Accounts, sessions, API keys, the credit ledger, uploads and jobs.
-- Times are unix milliseconds; flags are 0/1 integers so the same queries
-- serve SQLite and PostgreSQL through sqlx's Any driver.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    tier TEXT NOT NULL,
    balance BIGINT NOT NULL DEFAULT 0,
    reserved BIGINT NOT NULL DEFAULT 0,
    created_ms BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL
);
CREATE INDEX sessions_account ON sessions(account_id);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL,
    last_used_ms BIGINT,
    revoked_ms BIGINT
);
CREATE INDEX api_keys_account ON api_keys(account_id);

CREATE TABLE ledger (
    id BIGSERIAL PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    amount BIGINT NOT NULL,
    job_id TEXT,
    reference TEXT,
    created_ms BIGINT NOT NULL
);
CREATE INDEX ledger_account ON ledger(account_id, id);

CREATE TABLE payment_events (
    event_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    credits BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);

CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    object_key TEXT NOT NULL,
    filename TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    duration_s DOUBLE PRECISION NOT NULL,
    fps DOUBLE PRECISION NOT NULL,
    width BIGINT NOT NULL,
    height BIGINT NOT NULL,
    codec TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    deleted_ms BIGINT
);
CREATE INDEX uploads_account ON uploads(account_id, created_ms);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    upload_id TEXT NOT NULL,
    idempotency_key TEXT,
    request_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    options_json TEXT NOT NULL,
    price BIGINT NOT NULL,
    priority BIGINT NOT NULL,
    max_running BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until_ms BIGINT,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    stage TEXT NOT NULL DEFAULT 'queued',
    frames_done BIGINT NOT NULL DEFAULT 0,
    frames_total BIGINT NOT NULL DEFAULT 0,
    report_json TEXT,
    outputs_json TEXT NOT NULL DEFAULT '[]',
    error_code TEXT,
    error_message TEXT,
    created_ms BIGINT NOT NULL,
    started_ms BIGINT,
    finished_ms BIGINT,
    UNIQUE (account_id, idempotency_key)
);
CREATE INDEX jobs_account ON jobs(account_id, created_ms);
CREATE INDEX jobs_queue ON jobs(state, priority, created_ms);
