-- The claim's candidate scan: queued jobs in claim order. A partial index
-- holds only the queued rows, so it stays small however many jobs have
-- finished, and its order is the claim's ORDER BY (no sort).
CREATE INDEX jobs_claim_order ON jobs (priority DESC, created_ms, id) WHERE state = 'queued';
-- The per-account running count the claim checks for each candidate.
CREATE INDEX jobs_running_account ON jobs (account_id) WHERE state = 'running';
