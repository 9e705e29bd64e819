-- Segments of a long clip's job (issue 16): rows of the queue beside the
-- jobs, claimed, leased and retried like them. A segment is runnable only
-- while its job runs (the job's worker plans them and stitches them).
CREATE TABLE job_segments (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    idx BIGINT NOT NULL,
    span_json TEXT NOT NULL,
    frames_total BIGINT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued',
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until_ms BIGINT,
    frames_done BIGINT NOT NULL DEFAULT 0,
    error_code TEXT,
    error_message TEXT,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (job_id, idx)
);
-- The claim's scan: queued segments, oldest job first.
CREATE INDEX job_segments_claim ON job_segments (created_ms, job_id, idx) WHERE state = 'queued';
-- The stale-lease sweep.
CREATE INDEX job_segments_running ON job_segments (lease_until_ms) WHERE state = 'running';
