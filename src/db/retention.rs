//! What the retention sweep reads and writes: uploads past their
//! account's upload retention, outputs past their expiry or their
//! account's output retention, and the marks that say they are gone.
//!
//! Every query takes the clock as a parameter, so a sweep can be run "as
//! of" any moment (the tests move it forward instead of waiting days).

use sqlx::Row;

use super::uploads::Upload;
use super::{Db, DbError};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// A job whose stored outputs are due to be deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueOutputs {
    pub account_id: String,
    pub job_id: String,
}

/// The service's defaults, for accounts that chose nothing themselves.
#[derive(Clone, Copy, Debug)]
pub struct RetentionDefaults {
    pub upload_days: i64,
    /// `None`: outputs are kept until deleted.
    pub output_days: Option<i64>,
}

impl Db {
    /// Live uploads older than their account's upload retention at `now`,
    /// oldest first. An upload a queued or running job still needs is not
    /// due: deleting it would fail a job the user has paid for.
    pub async fn uploads_due(
        &self,
        now: i64,
        defaults: RetentionDefaults,
        limit: i64,
    ) -> Result<Vec<Upload>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {cols} FROM uploads u
             WHERE u.deleted_ms IS NULL
               AND u.created_ms < $1 - COALESCE(
                   (SELECT a.upload_retention_days FROM accounts a WHERE a.id = u.account_id), $2) * {DAY_MS}
               AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.upload_id = u.id
                   AND j.account_id = u.account_id AND j.state IN ('queued', 'running'))
             ORDER BY u.created_ms, u.id LIMIT $3",
            cols = super::uploads::COLS
                .split(", ")
                .map(|c| format!("u.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .bind(now)
        .bind(defaults.upload_days)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Upload::from_row(r).map_err(DbError::from))
            .collect()
    }

    /// Succeeded jobs whose outputs are still stored and are due at `now`:
    /// past their own expiry (no-retain), or ended longer ago than their
    /// account's output retention. An effective retention of 0 (the
    /// column's "keep", or no service default) never makes them due.
    pub async fn outputs_due(
        &self,
        now: i64,
        defaults: RetentionDefaults,
        limit: i64,
    ) -> Result<Vec<DueOutputs>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT j.id, j.account_id FROM jobs j JOIN accounts a ON a.id = j.account_id
             WHERE j.state = 'succeeded' AND j.outputs_deleted_ms IS NULL
               AND ((j.outputs_expire_ms IS NOT NULL AND j.outputs_expire_ms <= $1)
                 OR (COALESCE(a.output_retention_days, $2) > 0
                     AND j.finished_ms < $1 - COALESCE(a.output_retention_days, $2) * {DAY_MS}))
             ORDER BY j.finished_ms, j.id LIMIT $3"
        ))
        .bind(now)
        .bind(defaults.output_days.unwrap_or(0))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| -> Result<DueOutputs, DbError> {
                Ok(DueOutputs {
                    job_id: r.try_get("id")?,
                    account_id: r.try_get("account_id")?,
                })
            })
            .collect()
    }

    /// Marks a job's outputs as deleted; false when they already were.
    pub async fn mark_outputs_deleted(
        &self,
        account_id: &str,
        job_id: &str,
        now: i64,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE jobs SET outputs_deleted_ms = $1
             WHERE id = $2 AND account_id = $3 AND outputs_deleted_ms IS NULL",
        )
        .bind(now)
        .bind(job_id)
        .bind(account_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
