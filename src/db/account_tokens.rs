//! The single-use links mailed to a user (verify an address, confirm a new
//! one, reset a password), stored as the SHA-256 of their token, and the
//! account changes each one makes: a link is spent in the same
//! transaction as its change, so a failed change leaves it usable and a
//! link can never be spent twice.
//!
//! Password changes live here too: they end sessions and outstanding reset
//! links in the same transaction.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Db, DbError};

/// What a link is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Verifies the address an account was created with.
    Verify,
    /// Confirms a new address; the row's email is the new one.
    ChangeEmail,
    /// Sets a new password.
    Reset,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Verify => "verify",
            Purpose::ChangeEmail => "change_email",
            Purpose::Reset => "reset",
        }
    }
}

/// Why a link did nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkRefused {
    /// No such link (for this purpose).
    Unknown,
    /// Followed before (or made void by a later change).
    Used,
    Expired,
    /// The new address of an email change belongs to another account now.
    EmailTaken,
}

/// A link that was spent: whose, and the address it was sent to.
#[derive(Clone, Debug)]
pub struct Spent {
    pub account_id: String,
    pub email: String,
}

/// An email change made: the address it replaced.
#[derive(Clone, Debug)]
pub struct EmailChanged {
    pub account_id: String,
    pub old_email: String,
    pub new_email: String,
}

/// Marks every live link of `purposes` of the account as used.
async fn void_links(
    conn: &mut sqlx::AnyConnection,
    account_id: &str,
    purposes: &[Purpose],
    now: i64,
) -> Result<(), DbError> {
    for p in purposes {
        sqlx::query(
            "UPDATE account_tokens SET used_ms = $1
             WHERE account_id = $2 AND purpose = $3 AND used_ms IS NULL",
        )
        .bind(now)
        .bind(account_id)
        .bind(p.as_str())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Spends a live link inside `conn`'s transaction, or says why not.
async fn spend(
    conn: &mut sqlx::AnyConnection,
    token_hash: &str,
    purpose: Purpose,
    now: i64,
) -> Result<Result<Spent, LinkRefused>, DbError> {
    let row: Option<AnyRow> = sqlx::query(
        "UPDATE account_tokens SET used_ms = $1
         WHERE token_hash = $2 AND purpose = $3 AND used_ms IS NULL AND expires_ms > $1
         RETURNING account_id, email",
    )
    .bind(now)
    .bind(token_hash)
    .bind(purpose.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(r) = row {
        return Ok(Ok(Spent {
            account_id: r.try_get("account_id")?,
            email: r.try_get("email")?,
        }));
    }
    let row: Option<AnyRow> =
        sqlx::query("SELECT used_ms FROM account_tokens WHERE token_hash = $1 AND purpose = $2")
            .bind(token_hash)
            .bind(purpose.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    Ok(Err(match row {
        None => LinkRefused::Unknown,
        Some(r) if r.try_get::<Option<i64>, _>("used_ms")?.is_some() => LinkRefused::Used,
        Some(_) => LinkRefused::Expired,
    }))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

impl Db {
    /// Stores a new link (its token's hash) sent to `email`.
    pub async fn create_link(
        &self,
        token_hash: &str,
        account_id: &str,
        purpose: Purpose,
        email: &str,
        now: i64,
        expires_ms: i64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO account_tokens (token_hash, account_id, purpose, email, created_ms, expires_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(account_id)
        .bind(purpose.as_str())
        .bind(email)
        .bind(now)
        .bind(expires_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Links of `purpose` made for the account since `since`, spent or
    /// not: what caps how many mails one account can be sent.
    pub async fn links_since(
        &self,
        account_id: &str,
        purpose: Purpose,
        since: i64,
    ) -> Result<i64, DbError> {
        let row = sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM account_tokens
             WHERE account_id = $1 AND purpose = $2 AND created_ms >= $3",
        )
        .bind(account_id)
        .bind(purpose.as_str())
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Deletes links that expired before `cutoff`; returns how many.
    pub async fn delete_links_expired_before(&self, cutoff: i64) -> Result<u64, DbError> {
        let done = sqlx::query("DELETE FROM account_tokens WHERE expires_ms < $1")
            .bind(cutoff)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Follows a verification link: the address it was sent to is
    /// verified, if it is still the account's.
    pub async fn verify_email(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Result<Spent, LinkRefused>, DbError> {
        let mut tx = self.begin().await?;
        let spent = match spend(&mut tx, token_hash, Purpose::Verify, now).await? {
            Ok(s) => s,
            Err(why) => return Ok(Err(why)),
        };
        let done = sqlx::query(
            "UPDATE accounts SET email_verified_ms = COALESCE(email_verified_ms, $1)
             WHERE id = $2 AND email = $3",
        )
        .bind(now)
        .bind(&spent.account_id)
        .bind(&spent.email)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            // The account changed its address since: the link is void.
            tx.rollback().await?;
            return Ok(Err(LinkRefused::Used));
        }
        tx.commit().await?;
        Ok(Ok(spent))
    }

    /// Follows an email-change link: the account's address becomes the new
    /// one, verified; every other live link of the account is void (they
    /// were sent to or for the old address).
    pub async fn confirm_email_change(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Result<EmailChanged, LinkRefused>, DbError> {
        let mut tx = self.begin().await?;
        let spent = match spend(&mut tx, token_hash, Purpose::ChangeEmail, now).await? {
            Ok(s) => s,
            Err(why) => return Ok(Err(why)),
        };
        let old: Option<AnyRow> = sqlx::query("SELECT email FROM accounts WHERE id = $1")
            .bind(&spent.account_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(old) = old else {
            tx.rollback().await?;
            return Ok(Err(LinkRefused::Unknown));
        };
        let old_email: String = old.try_get("email")?;
        let taken: Option<AnyRow> = sqlx::query("SELECT id FROM accounts WHERE email = $1")
            .bind(&spent.email)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            // Someone signed up with the address after the link was sent;
            // the link stays unspent (rollback) and keeps saying so.
            tx.rollback().await?;
            return Ok(Err(LinkRefused::EmailTaken));
        }
        let update =
            sqlx::query("UPDATE accounts SET email = $1, email_verified_ms = $2 WHERE id = $3")
                .bind(&spent.email)
                .bind(now)
                .bind(&spent.account_id)
                .execute(&mut *tx)
                .await;
        match update {
            Ok(_) => {}
            // A sign-up with that address committed between the check and
            // the update (PostgreSQL).
            Err(e) if is_unique_violation(&e) => {
                tx.rollback().await?;
                return Ok(Err(LinkRefused::EmailTaken));
            }
            Err(e) => return Err(e.into()),
        }
        void_links(
            &mut tx,
            &spent.account_id,
            &[Purpose::Verify, Purpose::ChangeEmail, Purpose::Reset],
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(EmailChanged {
            account_id: spent.account_id,
            old_email,
            new_email: spent.email,
        }))
    }

    /// Follows a reset link: the password becomes `password_hash`, every
    /// session of the account ends, every other reset link is void, and
    /// the address is verified (the link reached it). A link sent to an
    /// address the account no longer has does nothing.
    pub async fn reset_password(
        &self,
        token_hash: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<Result<Spent, LinkRefused>, DbError> {
        let mut tx = self.begin().await?;
        let spent = match spend(&mut tx, token_hash, Purpose::Reset, now).await? {
            Ok(s) => s,
            Err(why) => return Ok(Err(why)),
        };
        let done = sqlx::query(
            "UPDATE accounts SET password_hash = $1,
                 email_verified_ms = COALESCE(email_verified_ms, $2)
             WHERE id = $3 AND email = $4",
        )
        .bind(password_hash)
        .bind(now)
        .bind(&spent.account_id)
        .bind(&spent.email)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(Err(LinkRefused::Used));
        }
        sqlx::query("DELETE FROM sessions WHERE account_id = $1")
            .bind(&spent.account_id)
            .execute(&mut *tx)
            .await?;
        void_links(&mut tx, &spent.account_id, &[Purpose::Reset], now).await?;
        tx.commit().await?;
        Ok(Ok(spent))
    }

    /// Sets a new password (the caller checked the current one): every
    /// session but `keep_session` (the token hash of the one that asked)
    /// ends, and outstanding reset links are void.
    pub async fn change_password(
        &self,
        account_id: &str,
        password_hash: &str,
        keep_session: Option<&str>,
        now: i64,
    ) -> Result<(), DbError> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE account_id = $1 AND token_hash <> $2")
            .bind(account_id)
            .bind(keep_session.unwrap_or(""))
            .execute(&mut *tx)
            .await?;
        void_links(&mut tx, account_id, &[Purpose::Reset], now).await?;
        tx.commit().await?;
        Ok(())
    }
}
