-- Per-account retention. NULL follows the service's configuration
-- (service.upload_retention_days, service.output_retention_days); an
-- output_retention_days of 0 is an explicit "keep outputs until deleted".
-- no_retain (0/1): the upload is deleted as soon as a job has decoded it,
-- and the job's outputs expire service.no_retain_output_hours after it ends.
ALTER TABLE accounts ADD COLUMN upload_retention_days BIGINT;
ALTER TABLE accounts ADD COLUMN output_retention_days BIGINT;
ALTER TABLE accounts ADD COLUMN no_retain BIGINT NOT NULL DEFAULT 0;
-- When a job's outputs are due to go whatever the account's retention
-- (no-retain jobs), and when the sweep deleted them.
ALTER TABLE jobs ADD COLUMN outputs_expire_ms BIGINT;
ALTER TABLE jobs ADD COLUMN outputs_deleted_ms BIGINT;
-- The sweep's scans: live uploads by age, live outputs by expiry and by end.
CREATE INDEX uploads_live ON uploads (created_ms) WHERE deleted_ms IS NULL;
CREATE INDEX jobs_outputs_expire ON jobs (outputs_expire_ms)
    WHERE outputs_expire_ms IS NOT NULL AND outputs_deleted_ms IS NULL;
CREATE INDEX jobs_outputs_live ON jobs (account_id, finished_ms)
    WHERE state = 'succeeded' AND outputs_deleted_ms IS NULL;
