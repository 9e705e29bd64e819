//! Sign-in through outside providers: identities (a provider's subject
//! linked to an account) and the sign-ins begun and not yet come back.

use sqlx::Row;

use super::{Db, DbError};

/// What the callback of a sign-in needs from its start.
#[derive(Debug)]
pub struct PendingLogin {
    pub nonce: String,
    pub pkce_verifier: String,
    /// Begun with sign-up's "I am 18 or over" ticked: only such a sign-in
    /// may create an account.
    pub adult_confirmed: bool,
}

/// Who signed in, as the provider vouched for it.
pub struct NewIdentity<'a> {
    pub provider: &'a str,
    pub subject: &'a str,
    /// Normalised, and verified by the provider.
    pub email: &'a str,
}

impl Db {
    /// Records a sign-in begun now, and drops those begun before
    /// `expired_before` that never came back.
    pub async fn create_login(
        &self,
        state_hash: &str,
        browser_hash: &str,
        provider: &str,
        login: &PendingLogin,
        now: i64,
        expired_before: i64,
    ) -> Result<(), DbError> {
        sqlx::query("DELETE FROM oidc_logins WHERE created_ms < $1")
            .bind(expired_before)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO oidc_logins
             (state_hash, browser_hash, provider, nonce, pkce_verifier, adult_confirmed, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(state_hash)
        .bind(browser_hash)
        .bind(provider)
        .bind(&login.nonce)
        .bind(&login.pkce_verifier)
        .bind(i64::from(login.adult_confirmed))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes the sign-in with this state, begun by this browser for this
    /// provider no earlier than `not_before`: the one delete makes it
    /// single-use even with several API processes. `None` for anything
    /// else, which leaves a real sign-in of another browser in place.
    pub async fn take_login(
        &self,
        state_hash: &str,
        browser_hash: &str,
        provider: &str,
        not_before: i64,
    ) -> Result<Option<PendingLogin>, DbError> {
        let row = sqlx::query(
            "DELETE FROM oidc_logins
             WHERE state_hash = $1 AND browser_hash = $2 AND provider = $3 AND created_ms >= $4
             RETURNING nonce, pkce_verifier, adult_confirmed",
        )
        .bind(state_hash)
        .bind(browser_hash)
        .bind(provider)
        .bind(not_before)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(PendingLogin {
                nonce: r.try_get("nonce")?,
                pkce_verifier: r.try_get("pkce_verifier")?,
                adult_confirmed: r.try_get::<i64, _>("adult_confirmed")? != 0,
            })
        })
        .transpose()
    }

    /// The account an identity is linked to.
    pub async fn identity_account(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<String>, DbError> {
        let row =
            sqlx::query("SELECT account_id FROM identities WHERE provider = $1 AND subject = $2")
                .bind(provider)
                .bind(subject)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| r.try_get("account_id")).transpose()?)
    }

    /// Links the identity to the account with its email, creating that
    /// account (no password, `tier`) when there is none, in one
    /// transaction; the caller has checked that the provider verified the
    /// email. Returns the account the identity is linked to (another
    /// one's, should the same identity have been linked at the same
    /// moment) and whether this call created it; `None`, with nothing
    /// changed, when there is no such account and `may_create` is false. The account's address
    /// counts as confirmed from then on; linking to an existing account
    /// whose address was not confirmed ends its password, sessions and
    /// API keys (a pre-registered address is not a way in).
    pub async fn link_identity(
        &self,
        identity: &NewIdentity<'_>,
        new_account_id: &str,
        tier: &str,
        may_create: bool,
        now: i64,
    ) -> Result<Option<(String, bool)>, DbError> {
        let mut tx = self.begin().await?;
        let created = may_create
            && sqlx::query(
                "INSERT INTO accounts
                 (id, email, password_hash, tier, balance, reserved, created_ms, adult_confirmed_ms)
                 VALUES ($1, $2, '', $3, 0, 0, $4, $4) ON CONFLICT (email) DO NOTHING",
            )
            .bind(new_account_id)
            .bind(identity.email)
            .bind(tier)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
        let Some(row) = sqlx::query("SELECT id FROM accounts WHERE email = $1")
            .bind(identity.email)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let account_id: String = row.try_get("id")?;
        sqlx::query(
            "INSERT INTO identities (provider, subject, account_id, email, created_ms)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (provider, subject) DO NOTHING",
        )
        .bind(identity.provider)
        .bind(identity.subject)
        .bind(&account_id)
        .bind(identity.email)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let linked: String =
            sqlx::query("SELECT account_id FROM identities WHERE provider = $1 AND subject = $2")
                .bind(identity.provider)
                .bind(identity.subject)
                .fetch_one(&mut *tx)
                .await?
                .try_get("account_id")?;
        if linked != account_id {
            // Linked to another account a moment ago: that one stands, and
            // what this call made is rolled back.
            return Ok(Some((linked, false)));
        }
        // The provider vouches for the address. Where nobody had confirmed
        // it here, whoever registered it first (perhaps not its owner)
        // keeps no way in: no password, no session, no API key.
        let confirmed: Option<i64> =
            sqlx::query("SELECT email_verified_ms FROM accounts WHERE id = $1")
                .bind(&account_id)
                .fetch_one(&mut *tx)
                .await?
                .try_get("email_verified_ms")?;
        if confirmed.is_none() && !created {
            sqlx::query("UPDATE accounts SET password_hash = '' WHERE id = $1")
                .bind(&account_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM sessions WHERE account_id = $1")
                .bind(&account_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE api_keys SET revoked_ms = $2 WHERE account_id = $1 AND revoked_ms IS NULL",
            )
            .bind(&account_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        if confirmed.is_none() {
            sqlx::query("UPDATE accounts SET email_verified_ms = $2 WHERE id = $1")
                .bind(&account_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some((linked, created)))
    }
}
