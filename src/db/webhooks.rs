//! Webhooks users register, their deliveries and each delivery's attempts.
//!
//! A job's final event is written, one delivery row per webhook that wants
//! it, in the same transaction that ends the job ([`job_event`]): a
//! restart loses nothing and no event is told twice by the database.
//! Deliveries are claimed with a lease (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so several processes never take one row at once); an
//! attempt is recorded only by the lease's holder, and a lease that ran
//! out (its process died mid-send) makes the delivery claimable again:
//! delivery is at least once, under one stable event id.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Backend, Db, DbError};

/// A registered webhook as its owner sees it (never its secret).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(description = "A webhook as listed (never its secret)")]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// The event types sent to it.
    pub events: Vec<String>,
    pub created_ms: i64,
}

const WEBHOOK_COLS: &str = "id, url, events, created_ms";

impl Webhook {
    fn from_row(r: &AnyRow) -> Result<Webhook, sqlx::Error> {
        let events: String = r.try_get("events")?;
        Ok(Webhook {
            id: r.try_get("id")?,
            url: r.try_get("url")?,
            events: events.split(',').map(str::to_string).collect(),
            created_ms: r.try_get("created_ms")?,
        })
    }
}

/// What a new webhook is made of.
pub struct NewWebhook<'a> {
    pub id: &'a str,
    pub account_id: &'a str,
    pub url: &'a str,
    pub secret: &'a str,
    pub events: &'a [String],
    pub now: i64,
    /// Webhooks one account may have.
    pub max_per_account: i64,
}

/// One attempt of the delivery log.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Attempt {
    /// The same for every attempt of one event (receivers de-duplicate on it).
    pub event_id: String,
    pub event_type: String,
    pub job_id: String,
    /// 1 for the first try.
    pub attempt: i64,
    pub at_ms: i64,
    /// The receiver's HTTP status; `null` when it gave none.
    #[schema(required = true)]
    pub http_status: Option<i64>,
    /// What went wrong when there was no status (`user_webhook.timeout`,
    /// `user_webhook.connect`, `user_webhook.private_address`, ...).
    #[schema(required = true)]
    pub error: Option<String>,
    /// When the next try is due; `null`: delivered, or no tries left.
    #[schema(required = true)]
    pub next_retry_ms: Option<i64>,
}

/// A delivery claimed for one attempt, with where it goes.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub id: String,
    pub webhook_id: String,
    pub url: String,
    pub secret: String,
    pub event_id: String,
    pub event_type: String,
    pub job_id: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub occurred_ms: i64,
    /// This attempt's number (1 for the first).
    pub attempt: i64,
}

/// How an attempt went, as it is recorded.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub at_ms: i64,
    pub http_status: Option<i64>,
    pub error: Option<String>,
    /// Received (a 2xx answer).
    pub delivered: bool,
    /// When the next try is due; `None` after the last one.
    pub next_retry_ms: Option<i64>,
}

const CLAIM_COLS: &str = "id, webhook_id, event_id, event_type, job_id, error_code, \
     error_message, occurred_ms, attempts";

/// Queues a job's final event for each of the account's webhooks that
/// wants `event_type`, inside the transaction that ended the job.
pub(crate) async fn job_event<'c, E>(
    conn: E,
    account_id: &str,
    event_type: &str,
    job_id: &str,
    error: Option<(&str, &str)>,
    now: i64,
) -> Result<(), DbError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let event_id = format!("evt_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, webhook_id, account_id, event_id, event_type, job_id,
             error_code, error_message, occurred_ms, state, attempts, next_attempt_ms)
         SELECT $1 || '_' || w.id, w.id, w.account_id, $1, $2, $3, $4, $5, $6, 'pending', 0, $6
         FROM user_webhooks w
         WHERE w.account_id = $7 AND (',' || w.events || ',') LIKE ('%,' || $2 || ',%')",
    )
    .bind(&event_id)
    .bind(event_type)
    .bind(job_id)
    .bind(error.map(|e| e.0.to_string()))
    .bind(error.map(|e| e.1.to_string()))
    .bind(now)
    .bind(account_id)
    .execute(conn)
    .await?;
    Ok(())
}

impl Db {
    /// Registers a webhook; `None` when the account has its maximum already.
    pub async fn create_webhook(&self, new: &NewWebhook<'_>) -> Result<Option<Webhook>, DbError> {
        let mut tx = self.begin().await?;
        let count: i64 = sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM user_webhooks WHERE account_id = $1",
        )
        .bind(new.account_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if count >= new.max_per_account {
            tx.rollback().await?;
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "INSERT INTO user_webhooks (id, account_id, url, secret, events, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {WEBHOOK_COLS}"
        ))
        .bind(new.id)
        .bind(new.account_id)
        .bind(new.url)
        .bind(new.secret)
        .bind(new.events.join(","))
        .bind(new.now)
        .fetch_one(&mut *tx)
        .await?;
        let hook = Webhook::from_row(&row)?;
        tx.commit().await?;
        Ok(Some(hook))
    }

    /// The account's webhooks, oldest first.
    pub async fn list_webhooks(&self, account_id: &str) -> Result<Vec<Webhook>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLS} FROM user_webhooks WHERE account_id = $1 ORDER BY created_ms, id"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Webhook::from_row(r).map_err(DbError::from))
            .collect()
    }

    /// One of the account's webhooks (another account's id finds nothing).
    pub async fn webhook(&self, account_id: &str, id: &str) -> Result<Option<Webhook>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLS} FROM user_webhooks WHERE id = $1 AND account_id = $2"
        ))
        .bind(id)
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(Webhook::from_row).transpose()?)
    }

    /// Deletes a webhook with its pending deliveries and its log; false
    /// when the account has no such webhook.
    pub async fn delete_webhook(&self, account_id: &str, id: &str) -> Result<bool, DbError> {
        let mut tx = self.begin().await?;
        let owned = sqlx::query("SELECT id FROM user_webhooks WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .fetch_optional(&mut *tx)
            .await?;
        if owned.is_none() {
            tx.rollback().await?;
            return Ok(false);
        }
        for sql in [
            "DELETE FROM webhook_attempts WHERE webhook_id = $1",
            "DELETE FROM webhook_deliveries WHERE webhook_id = $1",
            "DELETE FROM user_webhooks WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The webhook's latest attempts, newest first.
    pub async fn delivery_log(
        &self,
        account_id: &str,
        webhook_id: &str,
        limit: i64,
    ) -> Result<Vec<Attempt>, DbError> {
        let rows = sqlx::query(
            "SELECT d.event_id, d.event_type, d.job_id, a.attempt, a.at_ms, a.http_status, a.error,
                    a.next_retry_ms
             FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
             WHERE a.webhook_id = $1 AND d.account_id = $2
             ORDER BY a.id DESC LIMIT $3",
        )
        .bind(webhook_id)
        .bind(account_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| -> Result<Attempt, DbError> {
                Ok(Attempt {
                    event_id: r.try_get("event_id")?,
                    event_type: r.try_get("event_type")?,
                    job_id: r.try_get("job_id")?,
                    attempt: r.try_get("attempt")?,
                    at_ms: r.try_get("at_ms")?,
                    http_status: r.try_get("http_status")?,
                    error: r.try_get("error")?,
                    next_retry_ms: r.try_get("next_retry_ms")?,
                })
            })
            .collect()
    }

    /// Claims the delivery due longest, counting the attempt; the lease
    /// runs until `lease_until`.
    pub async fn claim_delivery(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<Claimed>, DbError> {
        // Another process's claim of the same row is skipped, not waited
        // for; SQLite's single connection serialises claims anyway.
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let row = sqlx::query(&format!(
            "UPDATE webhook_deliveries SET lease_owner = $1, lease_until_ms = $2, attempts = attempts + 1
             WHERE id = (
                 SELECT id FROM webhook_deliveries
                 WHERE state = 'pending' AND next_attempt_ms <= $3
                   AND (lease_until_ms IS NULL OR lease_until_ms < $3)
                 ORDER BY next_attempt_ms, id LIMIT 1 {lock})
             RETURNING {CLAIM_COLS}"
        ))
        .bind(owner)
        .bind(lease_until)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        let webhook_id: String = r.try_get("webhook_id")?;
        let Some(target) = sqlx::query("SELECT url, secret FROM user_webhooks WHERE id = $1")
            .bind(&webhook_id)
            .fetch_optional(&self.pool)
            .await?
        else {
            // Deleted since the claim: its deliveries went with it.
            return Ok(None);
        };
        Ok(Some(Claimed {
            id: r.try_get("id")?,
            webhook_id,
            url: target.try_get("url")?,
            secret: target.try_get("secret")?,
            event_id: r.try_get("event_id")?,
            event_type: r.try_get("event_type")?,
            job_id: r.try_get("job_id")?,
            error_code: r.try_get("error_code")?,
            error_message: r.try_get("error_message")?,
            occurred_ms: r.try_get("occurred_ms")?,
            attempt: r.try_get("attempts")?,
        }))
    }

    /// Records an attempt and what follows (delivered, due again, or given
    /// up); false when the lease is no longer `owner`'s (it ran out and
    /// another process took the delivery), in which case nothing changed.
    pub async fn record_attempt(
        &self,
        claimed: &Claimed,
        owner: &str,
        outcome: &Outcome,
    ) -> Result<bool, DbError> {
        let state = match (outcome.delivered, outcome.next_retry_ms) {
            (true, _) => "delivered",
            (false, Some(_)) => "pending",
            (false, None) => "failed",
        };
        let next = if outcome.delivered {
            None
        } else {
            outcome.next_retry_ms
        };
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET state = $1, next_attempt_ms = $2, lease_owner = NULL,
                 lease_until_ms = NULL
             WHERE id = $3 AND lease_owner = $4 AND attempts = $5 AND state = 'pending'",
        )
        .bind(state)
        .bind(next)
        .bind(&claimed.id)
        .bind(owner)
        .bind(claimed.attempt)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, webhook_id, attempt, at_ms, http_status,
                 error, next_retry_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&claimed.id)
        .bind(&claimed.webhook_id)
        .bind(claimed.attempt)
        .bind(outcome.at_ms)
        .bind(outcome.http_status)
        .bind(outcome.error.clone())
        .bind(next)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes finished deliveries (and their attempts) of events older
    /// than `before`: the log keeps what is recent.
    pub async fn prune_deliveries(&self, before: i64) -> Result<u64, DbError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "DELETE FROM webhook_attempts WHERE delivery_id IN (
                 SELECT id FROM webhook_deliveries WHERE state <> 'pending' AND occurred_ms < $1)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?;
        let gone = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE state <> 'pending' AND occurred_ms < $1",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(gone)
    }
}
