-- The SHA-256 of an upload's bytes as validated and priced; the worker
-- refuses to process an object that no longer matches it.
ALTER TABLE uploads ADD COLUMN sha256 TEXT;
