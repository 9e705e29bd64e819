-- Billing records outlive the account: deleting an account removes its
-- email and everything personal, but its ledger rows (amounts, kinds,
-- dates, the opaque account id) stay for the books, as do payment events.
-- SQLite cannot drop a foreign key, so the table is rebuilt without it.
CREATE TABLE ledger_kept (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount BIGINT NOT NULL,
    job_id TEXT,
    reference TEXT,
    created_ms BIGINT NOT NULL
);
INSERT INTO ledger_kept (id, account_id, kind, amount, job_id, reference, created_ms)
    SELECT id, account_id, kind, amount, job_id, reference, created_ms FROM ledger;
DROP TABLE ledger;
ALTER TABLE ledger_kept RENAME TO ledger;
CREATE INDEX ledger_account ON ledger(account_id, id);
