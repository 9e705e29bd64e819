//! Accounts, login sessions and API keys.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Db, DbError};

/// One customer account. The password hash never leaves this crate's
/// service layer (it is skipped when serialised).
#[derive(Clone, Debug, Serialize)]
pub struct Account {
    pub id: String,
    pub email: String,
    #[serde(skip)]
    pub password_hash: String,
    pub tier: String,
    /// Credits owned (grants and top-ups minus charges).
    pub balance: i64,
    /// Credits held for accepted jobs that have not finished.
    pub reserved: i64,
    pub created_ms: i64,
    /// How long this account's videos and outputs are kept.
    pub retention: Retention,
    /// When a link mailed to the current address was followed; `None`:
    /// not verified (only such a link, or a password reset, proves it).
    pub email_verified_ms: Option<i64>,
    /// When the user confirmed at sign-up being 18 or over.
    pub adult_confirmed_ms: Option<i64>,
    pub notifications: Notifications,
}

/// The account's choices of mail beyond what its security needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Notifications {
    /// A mail when a job succeeds or fails.
    pub job_emails: bool,
    /// Consent to news and offers (the service itself sends none; the
    /// flag is for the operator's own mailings).
    pub marketing_emails: bool,
}

/// An account's own retention choices. `None` follows the service's
/// configuration, so an operator's change of a default reaches every
/// account that never chose for itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Retention {
    /// Days an upload is kept after it arrives.
    pub upload_days: Option<i64>,
    /// Days a job's outputs are kept after it ends; `Some(None)`: kept
    /// until the user deletes them.
    pub output_days: Option<Option<i64>>,
    /// The upload goes as soon as a job has decoded it, and the job's
    /// outputs expire a configured number of hours after it ends.
    pub no_retain: bool,
}

impl Retention {
    /// The `output_retention_days` column: NULL follows the service, 0
    /// keeps outputs (a retention of 0 days would be no retention at all).
    fn output_column(&self) -> Option<i64> {
        self.output_days.map(|d| d.unwrap_or(0))
    }

    fn from_row(r: &AnyRow) -> Result<Retention, sqlx::Error> {
        let output: Option<i64> = r.try_get("output_retention_days")?;
        Ok(Retention {
            upload_days: r.try_get("upload_retention_days")?,
            output_days: output.map(|d| (d > 0).then_some(d)),
            no_retain: r.try_get::<i64, _>("no_retain")? != 0,
        })
    }
}

impl Account {
    fn from_row(r: &AnyRow) -> Result<Account, sqlx::Error> {
        Ok(Account {
            id: r.try_get("id")?,
            email: r.try_get("email")?,
            password_hash: r.try_get("password_hash")?,
            tier: r.try_get("tier")?,
            balance: r.try_get("balance")?,
            reserved: r.try_get("reserved")?,
            created_ms: r.try_get("created_ms")?,
            retention: Retention::from_row(r)?,
            email_verified_ms: r.try_get("email_verified_ms")?,
            adult_confirmed_ms: r.try_get("adult_confirmed_ms")?,
            notifications: Notifications {
                job_emails: r.try_get::<i64, _>("job_emails")? != 0,
                marketing_emails: r.try_get::<i64, _>("marketing_emails")? != 0,
            },
        })
    }
}

/// An API key as listed (never its secret); the API sends it as it is.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(description = "An API key as listed (never its secret)")]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    /// The first characters of the key, so a user can tell keys apart.
    pub prefix: String,
    pub created_ms: i64,
    #[schema(required = true)]
    pub last_used_ms: Option<i64>,
    #[schema(required = true)]
    pub revoked_ms: Option<i64>,
}

const ACCOUNT_COLS: &str = "id, email, password_hash, tier, balance, reserved, created_ms, \
     upload_retention_days, output_retention_days, no_retain, email_verified_ms, \
     adult_confirmed_ms, job_emails, marketing_emails";

impl Db {
    /// Creates an account (its user confirmed being 18 or over, now);
    /// `None` when the email is taken.
    pub async fn create_account(
        &self,
        id: &str,
        email: &str,
        password_hash: &str,
        tier: &str,
        marketing_emails: bool,
        now: i64,
    ) -> Result<Option<Account>, DbError> {
        let done = sqlx::query(
            "INSERT INTO accounts (id, email, password_hash, tier, balance, reserved, created_ms,
                 adult_confirmed_ms, marketing_emails)
             VALUES ($1, $2, $3, $4, 0, 0, $5, $5, $6) ON CONFLICT (email) DO NOTHING",
        )
        .bind(id)
        .bind(email)
        .bind(password_hash)
        .bind(tier)
        .bind(now)
        .bind(i64::from(marketing_emails))
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.account(id).await
    }

    pub async fn account(&self, id: &str) -> Result<Option<Account>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLS} FROM accounts WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(Account::from_row).transpose()?)
    }

    pub async fn account_by_email(&self, email: &str) -> Result<Option<Account>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLS} FROM accounts WHERE email = $1"
        ))
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(Account::from_row).transpose()?)
    }

    pub async fn set_tier(&self, account_id: &str, tier: &str) -> Result<bool, DbError> {
        let done = sqlx::query("UPDATE accounts SET tier = $1 WHERE id = $2")
            .bind(tier)
            .bind(account_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces the account's mail choices; false when it is missing.
    pub async fn set_notifications(
        &self,
        account_id: &str,
        n: &Notifications,
    ) -> Result<bool, DbError> {
        let done =
            sqlx::query("UPDATE accounts SET job_emails = $1, marketing_emails = $2 WHERE id = $3")
                .bind(i64::from(n.job_emails))
                .bind(i64::from(n.marketing_emails))
                .bind(account_id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces the account's retention choices; false when it is missing.
    pub async fn set_retention(&self, account_id: &str, r: &Retention) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE accounts SET upload_retention_days = $1, output_retention_days = $2, no_retain = $3
             WHERE id = $4",
        )
        .bind(r.upload_days)
        .bind(r.output_column())
        .bind(i64::from(r.no_retain))
        .bind(account_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes an account and every row it owns, except the billing
    /// records: its ledger rows and payment events stay for the books
    /// under the account's opaque id, which nothing links to a person once
    /// the account row (the email) is gone.
    pub async fn delete_account(&self, account_id: &str) -> Result<(), DbError> {
        let mut tx = self.begin().await?;
        for table in [
            "sessions",
            "api_keys",
            "account_tokens",
            "identities",
            "jobs",
            "uploads",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE account_id = $1"))
                .bind(account_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM accounts WHERE id = $1")
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn create_session(
        &self,
        token_hash: &str,
        account_id: &str,
        now: i64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, account_id, created_ms, last_seen_ms) VALUES ($1, $2, $3, $3)",
        )
        .bind(token_hash)
        .bind(account_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The account of a live session, sliding its idle expiry forward.
    /// A session idle since before `idle_cutoff` or created before
    /// `absolute_cutoff` is dead (and removed).
    pub async fn touch_session(
        &self,
        token_hash: &str,
        now: i64,
        idle_cutoff: i64,
        absolute_cutoff: i64,
    ) -> Result<Option<String>, DbError> {
        let row = sqlx::query(
            "UPDATE sessions SET last_seen_ms = $1
             WHERE token_hash = $2 AND last_seen_ms >= $3 AND created_ms >= $4
             RETURNING account_id",
        )
        .bind(now)
        .bind(token_hash)
        .bind(idle_cutoff)
        .bind(absolute_cutoff)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => Ok(Some(r.try_get("account_id")?)),
            None => {
                self.delete_session(token_hash).await?;
                Ok(None)
            }
        }
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn create_api_key(
        &self,
        id: &str,
        account_id: &str,
        name: &str,
        prefix: &str,
        key_hash: &str,
        now: i64,
    ) -> Result<ApiKey, DbError> {
        sqlx::query(
            "INSERT INTO api_keys (id, account_id, name, prefix, key_hash, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(account_id)
        .bind(name)
        .bind(prefix)
        .bind(key_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(ApiKey {
            id: id.into(),
            name: name.into(),
            prefix: prefix.into(),
            created_ms: now,
            last_used_ms: None,
            revoked_ms: None,
        })
    }

    pub async fn list_api_keys(&self, account_id: &str) -> Result<Vec<ApiKey>, DbError> {
        let rows = sqlx::query(
            "SELECT id, name, prefix, created_ms, last_used_ms, revoked_ms FROM api_keys
             WHERE account_id = $1 ORDER BY created_ms, id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| -> Result<ApiKey, DbError> {
                Ok(ApiKey {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    prefix: r.try_get("prefix")?,
                    created_ms: r.try_get("created_ms")?,
                    last_used_ms: r.try_get("last_used_ms")?,
                    revoked_ms: r.try_get("revoked_ms")?,
                })
            })
            .collect()
    }

    /// Revokes one of the account's keys; false when it has no such key.
    pub async fn revoke_api_key(
        &self,
        account_id: &str,
        id: &str,
        now: i64,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_ms = $1 WHERE id = $2 AND account_id = $3 AND revoked_ms IS NULL",
        )
        .bind(now)
        .bind(id)
        .bind(account_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The account owning an unrevoked key with this hash.
    pub async fn account_for_key(
        &self,
        key_hash: &str,
        now: i64,
    ) -> Result<Option<String>, DbError> {
        let row = sqlx::query(
            "UPDATE api_keys SET last_used_ms = $1 WHERE key_hash = $2 AND revoked_ms IS NULL
             RETURNING account_id",
        )
        .bind(now)
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("account_id")).transpose()?)
    }
}
