//! Stripe billing's rows: the customer of each account, the Checkout
//! sessions we created, the payments that bought credits, subscriptions,
//! and the events that moved them.
//!
//! Every webhook effect runs in one transaction with the insert of its
//! event id into `payment_events`, so a redelivered event changes nothing
//! and a refused one (rolled back) may be delivered again once fixed.

use sqlx::{Any, Row, Transaction};

use super::ledger::{account_exists, add_balance, append, MAX_CREDITS};
use super::{now_ms, Db, DbError};

/// A Checkout session as we created it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckoutRecord {
    pub session_id: String,
    pub account_id: String,
    pub offer_id: String,
    pub price_id: String,
    /// `payment` (a pack) or `subscription` (a plan).
    pub mode: String,
    /// What the session's payment buys; 0 for a plan, whose credits come
    /// with each paid invoice.
    pub credits: i64,
}

/// What applying a billing event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The effect happened; `credits` moved (negative: taken back).
    Done {
        credits: i64,
    },
    /// This event id was applied before: nothing changed.
    Duplicate,
    /// Recorded, but nothing to do (a session completed before, an event
    /// older than what we know of a subscription).
    Nothing,
    /// A checkout session we did not create: nothing changed.
    UnknownSession,
    /// A refund of a payment that bought no credits here: nothing changed.
    UnknownPayment,
    NoAccount,
    /// The balance would pass [`MAX_CREDITS`]: nothing changed.
    OverLimit,
}

/// Records the event id; false when it was recorded before.
async fn first_time(
    tx: &mut Transaction<'static, Any>,
    event_id: &str,
    account_id: &str,
    credits: i64,
) -> Result<bool, DbError> {
    let fresh = sqlx::query(
        "INSERT INTO payment_events (event_id, account_id, credits, created_ms)
         VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event_id)
    .bind(account_id)
    .bind(credits)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(fresh.rows_affected() == 1)
}

/// Adds bought credits and the payment they came with.
async fn credit_payment(
    tx: &mut Transaction<'static, Any>,
    event_id: &str,
    account_id: &str,
    credits: i64,
    payment_intent: Option<&str>,
) -> Result<bool, DbError> {
    if credits > 0 {
        if !add_balance(tx, account_id, credits).await? {
            return Ok(false);
        }
        append(tx, account_id, "topup", credits, None, Some(event_id)).await?;
    }
    if let Some(pi) = payment_intent.filter(|p| !p.is_empty()) {
        sqlx::query(
            "INSERT INTO payments (payment_intent, account_id, credits, refunded_credits, created_ms)
             VALUES ($1, $2, $3, 0, $4) ON CONFLICT (payment_intent) DO NOTHING",
        )
        .bind(pi)
        .bind(account_id)
        .bind(credits)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    }
    Ok(true)
}

impl Db {
    /// The Stripe customer made for an account, if any.
    pub async fn billing_customer(&self, account_id: &str) -> Result<Option<String>, DbError> {
        let row = sqlx::query("SELECT customer_id FROM billing_customers WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|r| r.try_get::<String, _>("customer_id"))
            .transpose()?)
    }

    /// Stores an account's customer; when two checkouts raced and one was
    /// stored first, that one wins and is returned.
    pub async fn set_billing_customer(
        &self,
        account_id: &str,
        customer_id: &str,
    ) -> Result<String, DbError> {
        sqlx::query(
            "INSERT INTO billing_customers (account_id, customer_id, created_ms)
             VALUES ($1, $2, $3) ON CONFLICT (account_id) DO NOTHING",
        )
        .bind(account_id)
        .bind(customer_id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(self
            .billing_customer(account_id)
            .await?
            .unwrap_or_else(|| customer_id.to_string()))
    }

    /// The account a Stripe customer was made for.
    pub async fn account_for_customer(&self, customer_id: &str) -> Result<Option<String>, DbError> {
        let row = sqlx::query("SELECT account_id FROM billing_customers WHERE customer_id = $1")
            .bind(customer_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|r| r.try_get::<String, _>("account_id"))
            .transpose()?)
    }

    pub async fn record_checkout(&self, c: &CheckoutRecord) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO checkout_sessions
                 (session_id, account_id, offer_id, price_id, mode, credits, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&c.session_id)
        .bind(&c.account_id)
        .bind(&c.offer_id)
        .bind(&c.price_id)
        .bind(&c.mode)
        .bind(c.credits)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A completed Checkout session: credits what *our* record of the
    /// session sold, once per session and once per event.
    pub async fn complete_checkout(
        &self,
        event_id: &str,
        session_id: &str,
        payment_intent: Option<&str>,
    ) -> Result<Applied, DbError> {
        let mut tx = self.begin().await?;
        let row =
            sqlx::query("SELECT account_id, credits FROM checkout_sessions WHERE session_id = $1")
                .bind(session_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(row) = row else {
            return Ok(Applied::UnknownSession);
        };
        let account_id: String = row.try_get("account_id")?;
        let credits: i64 = row.try_get("credits")?;
        // The insert is the once-per-event guard: a delivery racing this
        // one waits on the event row, then finds it taken.
        if !first_time(&mut tx, event_id, &account_id, credits).await? {
            return Ok(Applied::Duplicate);
        }
        if !account_exists(&mut tx, &account_id).await? {
            return Ok(Applied::NoAccount);
        }
        // Stripe sends `completed` and, for a delayed payment method,
        // `async_payment_succeeded`: a session pays out once, and the
        // update that marks it is the guard (two such events racing each
        // other: the second finds it marked).
        let marked = sqlx::query(
            "UPDATE checkout_sessions SET completed_ms = $1
             WHERE session_id = $2 AND completed_ms IS NULL",
        )
        .bind(now_ms())
        .bind(session_id)
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() == 0 {
            tx.commit().await?;
            return Ok(Applied::Nothing);
        }
        if !credit_payment(&mut tx, event_id, &account_id, credits, payment_intent).await? {
            return Ok(Applied::OverLimit);
        }
        tx.commit().await?;
        Ok(Applied::Done { credits })
    }

    /// A paid invoice of a plan: its monthly credits.
    pub async fn credit_invoice(
        &self,
        event_id: &str,
        account_id: &str,
        credits: i64,
        payment_intent: Option<&str>,
    ) -> Result<Applied, DbError> {
        if !(0..=MAX_CREDITS).contains(&credits) {
            return Ok(Applied::OverLimit);
        }
        let mut tx = self.begin().await?;
        if !account_exists(&mut tx, account_id).await? {
            return Ok(Applied::NoAccount);
        }
        if !first_time(&mut tx, event_id, account_id, credits).await? {
            return Ok(Applied::Duplicate);
        }
        if !credit_payment(&mut tx, event_id, account_id, credits, payment_intent).await? {
            return Ok(Applied::OverLimit);
        }
        tx.commit().await?;
        Ok(Applied::Done { credits })
    }

    /// What Stripe says of a subscription. `tier`: the account's tier from
    /// now on (`None`: unchanged); `downgrade_at_ms`: when it falls back
    /// to `default_tier` (a cancellation at the end of the period). An
    /// event older than the last one applied to this subscription is
    /// recorded and changes nothing, as Stripe does not promise order.
    #[allow(clippy::too_many_arguments)]
    pub async fn apply_subscription(
        &self,
        event_id: &str,
        event_created: i64,
        account_id: &str,
        subscription_id: &str,
        price_id: &str,
        status: &str,
        tier: Option<&str>,
        downgrade_at_ms: Option<i64>,
    ) -> Result<Applied, DbError> {
        let mut tx = self.begin().await?;
        if !account_exists(&mut tx, account_id).await? {
            return Ok(Applied::NoAccount);
        }
        if !first_time(&mut tx, event_id, account_id, 0).await? {
            return Ok(Applied::Duplicate);
        }
        let last =
            sqlx::query("SELECT event_created FROM subscriptions WHERE subscription_id = $1")
                .bind(subscription_id)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(last) = last {
            let last: i64 = last.try_get("event_created")?;
            if last > event_created {
                tx.commit().await?;
                return Ok(Applied::Nothing);
            }
        }
        sqlx::query(
            "INSERT INTO subscriptions
                 (subscription_id, account_id, price_id, status, downgrade_at_ms, event_created, updated_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (subscription_id) DO UPDATE SET
                 price_id = excluded.price_id, status = excluded.status,
                 downgrade_at_ms = excluded.downgrade_at_ms,
                 event_created = excluded.event_created, updated_ms = excluded.updated_ms",
        )
        .bind(subscription_id)
        .bind(account_id)
        .bind(price_id)
        .bind(status)
        .bind(downgrade_at_ms)
        .bind(event_created)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if let Some(tier) = tier {
            sqlx::query("UPDATE accounts SET tier = $1 WHERE id = $2")
                .bind(tier)
                .bind(account_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Applied::Done { credits: 0 })
    }

    /// Moves accounts whose cancelled plan's period has ended to
    /// `default_tier`; returns how many.
    pub async fn apply_due_downgrades(&self, now: i64, default_tier: &str) -> Result<u64, DbError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE accounts SET tier = $1 WHERE id IN (SELECT account_id FROM subscriptions
                 WHERE downgrade_at_ms IS NOT NULL AND downgrade_at_ms <= $2)",
        )
        .bind(default_tier)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE subscriptions SET downgrade_at_ms = NULL
             WHERE downgrade_at_ms IS NOT NULL AND downgrade_at_ms <= $1",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// A refund: takes back the refunded share of the credits a payment
    /// bought (`amount_refunded` of `amount`, Stripe's running total, so a
    /// second partial refund takes only the difference), but never more
    /// than the account can spend: the rest is reported, not owed.
    pub async fn refund_payment(
        &self,
        event_id: &str,
        payment_intent: &str,
        amount_refunded: i64,
        amount: i64,
    ) -> Result<(Applied, i64), DbError> {
        // A lost race means another refund of this payment (or a job's
        // hold on the balance) committed first: read again and retry.
        loop {
            let attempt = self
                .refund_once(event_id, payment_intent, amount_refunded, amount)
                .await?;
            if let Some(done) = attempt {
                return Ok(done);
            }
        }
    }

    /// One try of [`Db::refund_payment`]; `None` (rolled back) when the
    /// payment's refunded total or the account's available credits changed
    /// after they were read.
    async fn refund_once(
        &self,
        event_id: &str,
        payment_intent: &str,
        amount_refunded: i64,
        amount: i64,
    ) -> Result<Option<(Applied, i64)>, DbError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "SELECT account_id, credits, refunded_credits FROM payments WHERE payment_intent = $1",
        )
        .bind(payment_intent)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Some((Applied::UnknownPayment, 0)));
        };
        let account_id: String = row.try_get("account_id")?;
        let credits: i64 = row.try_get("credits")?;
        let refunded: i64 = row.try_get("refunded_credits")?;
        // i128: credits and cents multiplied could pass i64.
        let share = if amount <= 0 {
            credits
        } else {
            let r = amount_refunded.clamp(0, amount) as i128;
            (credits as i128 * r / amount as i128) as i64
        };
        let owed = (share - refunded).max(0);
        if !first_time(&mut tx, event_id, &account_id, -owed).await? {
            return Ok(Some((Applied::Duplicate, 0)));
        }
        if owed == 0 {
            tx.commit().await?;
            return Ok(Some((Applied::Nothing, 0)));
        }
        // Compare-and-set: a refund of this payment committed since the
        // read has moved `refunded_credits` on.
        let moved = sqlx::query(
            "UPDATE payments SET refunded_credits = $1
             WHERE payment_intent = $2 AND refunded_credits = $3",
        )
        .bind(share)
        .bind(payment_intent)
        .bind(refunded)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 0 {
            return Ok(None);
        }
        let available: Option<i64> =
            sqlx::query("SELECT balance - reserved AS available FROM accounts WHERE id = $1")
                .bind(&account_id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get::<i64, _>("available"))
                .transpose()?;
        let taken = owed.min(available.unwrap_or(0).max(0));
        if taken > 0 {
            let debited = sqlx::query(
                "UPDATE accounts SET balance = balance - $1
                 WHERE id = $2 AND balance - reserved >= $3",
            )
            .bind(taken)
            .bind(&account_id)
            .bind(taken)
            .execute(&mut *tx)
            .await?;
            if debited.rows_affected() == 0 {
                return Ok(None);
            }
            append(&mut tx, &account_id, "refund", taken, None, Some(event_id)).await?;
        }
        tx.commit().await?;
        Ok(Some((Applied::Done { credits: -taken }, owed - taken)))
    }
}
