-- Billing records outlive the account: deleting an account removes its
-- email and everything personal, but its ledger rows (amounts, kinds,
-- dates, the opaque account id) stay for the books, as do payment events.
ALTER TABLE ledger DROP CONSTRAINT IF EXISTS ledger_account_id_fkey;
