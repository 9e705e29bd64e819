//! The credit ledger: append-only rows, with the account's running
//! `balance` and `reserved` columns moved in the same transaction.
//!
//! Kinds: `grant` (operator), `topup` (a payment, see [`super::billing`]),
//! `refund` (a refunded payment's credits taken back), `reserve` (job
//! accepted, amount held), `charge` (job succeeded: the hold becomes a
//! debit), `release` (job failed or canceled: the hold is returned).
//! `balance` changes on grant, top-up and charge; `reserved` on reserve,
//! charge and release; what a user may spend is `balance - reserved`.

use serde::Serialize;
use sqlx::{Any, Row, Transaction};

use super::{now_ms, Db, DbError};

/// The most credits one grant or top-up may add and an account may hold.
/// Far past any real purchase and far from `i64::MAX`, so no sum the SQL
/// makes can overflow (SQLite would silently turn the column into REAL).
pub const MAX_CREDITS: i64 = 1_000_000_000_000;

/// What adding credits did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credited {
    Applied,
    NoAccount,
    /// The amount is not in `1..=MAX_CREDITS` or the balance would pass
    /// [`MAX_CREDITS`]: nothing changed.
    OverLimit,
}

/// Adds a bounded amount to the balance; false when the account is
/// missing or the result would pass [`MAX_CREDITS`]. The bound is checked
/// as `balance <= MAX - amount`, which cannot overflow either.
pub(crate) async fn add_balance(
    tx: &mut Transaction<'static, Any>,
    account_id: &str,
    credits: i64,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE accounts SET balance = balance + $1 WHERE id = $2 AND balance <= $3 - $1",
    )
    .bind(credits)
    .bind(account_id)
    .bind(MAX_CREDITS)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn account_exists(
    tx: &mut Transaction<'static, Any>,
    account_id: &str,
) -> Result<bool, DbError> {
    Ok(sqlx::query("SELECT id FROM accounts WHERE id = $1")
        .bind(account_id)
        .fetch_optional(&mut **tx)
        .await?
        .is_some())
}

/// One ledger row; the API sends it as it is.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(description = "One movement of credits")]
pub struct LedgerEntry {
    pub id: i64,
    pub kind: String,
    pub amount: i64,
    #[schema(required = true)]
    pub job_id: Option<String>,
    #[schema(required = true)]
    pub reference: Option<String>,
    pub created_ms: i64,
}

pub(crate) async fn append(
    tx: &mut Transaction<'static, Any>,
    account_id: &str,
    kind: &str,
    amount: i64,
    job_id: Option<&str>,
    reference: Option<&str>,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO ledger (account_id, kind, amount, job_id, reference, created_ms)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(account_id)
    .bind(kind)
    .bind(amount)
    .bind(job_id.map(str::to_string))
    .bind(reference.map(str::to_string))
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Holds `amount` for a job if the account can afford it; false (nothing
/// written) when it cannot. One conditional UPDATE, so concurrent callers
/// can never reserve past the balance.
pub(crate) async fn reserve(
    tx: &mut Transaction<'static, Any>,
    account_id: &str,
    amount: i64,
    job_id: &str,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE accounts SET reserved = reserved + $1 WHERE id = $2 AND balance - reserved >= $1",
    )
    .bind(amount)
    .bind(account_id)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    append(tx, account_id, "reserve", amount, Some(job_id), None).await?;
    Ok(true)
}

/// Turns a job's hold into a debit.
pub(crate) async fn charge(
    tx: &mut Transaction<'static, Any>,
    account_id: &str,
    amount: i64,
    job_id: &str,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE accounts SET reserved = reserved - $1, balance = balance - $1 WHERE id = $2",
    )
    .bind(amount)
    .bind(account_id)
    .execute(&mut **tx)
    .await?;
    append(tx, account_id, "charge", amount, Some(job_id), None).await
}

/// Returns a job's hold.
pub(crate) async fn release(
    tx: &mut Transaction<'static, Any>,
    account_id: &str,
    amount: i64,
    job_id: &str,
) -> Result<(), DbError> {
    sqlx::query("UPDATE accounts SET reserved = reserved - $1 WHERE id = $2")
        .bind(amount)
        .bind(account_id)
        .execute(&mut **tx)
        .await?;
    append(tx, account_id, "release", amount, Some(job_id), None).await
}

impl Db {
    /// Adds credits to an account (`grant`), within [`MAX_CREDITS`].
    pub async fn add_credits(
        &self,
        account_id: &str,
        credits: i64,
        kind: &str,
        reference: Option<&str>,
    ) -> Result<Credited, DbError> {
        if !(1..=MAX_CREDITS).contains(&credits) {
            return Ok(Credited::OverLimit);
        }
        let mut tx = self.begin().await?;
        if !account_exists(&mut tx, account_id).await? {
            return Ok(Credited::NoAccount);
        }
        if !add_balance(&mut tx, account_id, credits).await? {
            return Ok(Credited::OverLimit);
        }
        append(&mut tx, account_id, kind, credits, None, reference).await?;
        tx.commit().await?;
        Ok(Credited::Applied)
    }

    /// The account's ledger, oldest first.
    pub async fn ledger(&self, account_id: &str) -> Result<Vec<LedgerEntry>, DbError> {
        let rows = sqlx::query(
            "SELECT id, kind, amount, job_id, reference, created_ms FROM ledger
             WHERE account_id = $1 ORDER BY id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| -> Result<LedgerEntry, DbError> {
                Ok(LedgerEntry {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    amount: r.try_get("amount")?,
                    job_id: r.try_get("job_id")?,
                    reference: r.try_get("reference")?,
                    created_ms: r.try_get("created_ms")?,
                })
            })
            .collect()
    }
}
