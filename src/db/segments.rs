//! Segments of a split job: a long clip's frame spans, queued beside the
//! jobs and claimed by any worker with the same lease, heartbeat, attempt
//! count and stale-lease requeue as a job.
//!
//! A segment is claimable only while its job is running and no cancel was
//! asked for: the job's own worker planned the segments and waits to stitch
//! them, so a job that stopped (canceled, failed, handed back) stops its
//! segments from being taken. Credits never move here; the job's one final
//! transaction ([`Db::finish_job`]) does that.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::jobs::Job;
use super::{Backend, Db, DbError};

/// A segment's states: `queued`, `running`, then `done`, `failed` (out of
/// attempts) or `canceled`.
pub mod state {
    pub const QUEUED: &str = "queued";
    pub const RUNNING: &str = "running";
    pub const DONE: &str = "done";
    pub const FAILED: &str = "failed";
    pub const CANCELED: &str = "canceled";
}

/// One segment row.
#[derive(Clone, Debug, Serialize)]
pub struct Segment {
    pub job_id: String,
    pub idx: i64,
    /// The frames it covers ([`crate::video::Span`] as JSON).
    pub span_json: String,
    pub frames_total: i64,
    pub state: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub lease_owner: Option<String>,
    pub frames_done: i64,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

const COLS: &str = "job_id, idx, span_json, frames_total, state, attempts, max_attempts, lease_owner, frames_done, error_code, error_message";

impl Segment {
    fn from_row(r: &AnyRow) -> Result<Segment, sqlx::Error> {
        Ok(Segment {
            job_id: r.try_get("job_id")?,
            idx: r.try_get("idx")?,
            span_json: r.try_get("span_json")?,
            frames_total: r.try_get("frames_total")?,
            state: r.try_get("state")?,
            attempts: r.try_get("attempts")?,
            max_attempts: r.try_get("max_attempts")?,
            lease_owner: r.try_get("lease_owner")?,
            frames_done: r.try_get("frames_done")?,
            error_code: r.try_get("error_code")?,
            error_message: r.try_get("error_message")?,
        })
    }
}

/// How a claimed segment ended.
#[derive(Clone, Debug)]
pub enum SegmentFinish {
    Done,
    /// Queued again while attempts remain, else `failed` for good.
    Failed {
        code: String,
        message: String,
    },
    Canceled,
}

/// The guard every statement on a claimed segment carries: this lease
/// owner, this attempt, still running.
const HELD: &str =
    "job_id = $1 AND idx = $2 AND lease_owner = $3 AND attempts = $4 AND state = 'running'";

impl Db {
    /// Records a job's segments; planning again (the job's worker died and
    /// another took the job over) keeps the rows and their progress.
    pub async fn plan_segments(
        &self,
        job_id: &str,
        spans: &[(String, i64)],
        max_attempts: i64,
        now: i64,
    ) -> Result<(), DbError> {
        let mut tx = self.begin().await?;
        for (idx, (span_json, frames)) in spans.iter().enumerate() {
            sqlx::query(
                "INSERT INTO job_segments (job_id, idx, span_json, frames_total, max_attempts, created_ms)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (job_id, idx) DO NOTHING",
            )
            .bind(job_id)
            .bind(idx as i64)
            .bind(span_json)
            .bind(*frames)
            .bind(max_attempts)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        // Wakes idle workers: there is work beside the jobs now.
        super::notify::job_changed(self.backend, &mut *tx, "").await?;
        tx.commit().await?;
        Ok(())
    }

    /// A job's segments in clip order.
    pub async fn segments(&self, job_id: &str) -> Result<Vec<Segment>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM job_segments WHERE job_id = $1 ORDER BY idx"
        ))
        .bind(job_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Segment::from_row(r).map_err(DbError::from))
            .collect()
    }

    /// Claims the next queued segment of a running job (of `job_id` only,
    /// when given), oldest job first. The attempt count goes up by one.
    pub async fn claim_segment(
        &self,
        owner: &str,
        lease_until: i64,
        job_id: Option<&str>,
    ) -> Result<Option<Segment>, DbError> {
        // PostgreSQL: two workers never take one row, and neither waits
        // for the other's claim.
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE OF s SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let row = sqlx::query(&format!(
            "UPDATE job_segments SET state = 'running', lease_owner = $1, lease_until_ms = $2,
                 attempts = attempts + 1
             WHERE (job_id, idx) = (
                 SELECT s.job_id, s.idx FROM job_segments s JOIN jobs j ON j.id = s.job_id
                 WHERE s.state = 'queued' AND j.state = 'running' AND j.cancel_requested = 0
                   AND ($3 = '' OR s.job_id = $3)
                 ORDER BY s.created_ms, s.job_id, s.idx
                 LIMIT 1{lock})
             RETURNING {COLS}"
        ))
        .bind(owner)
        .bind(lease_until)
        .bind(job_id.unwrap_or(""))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(Segment::from_row).transpose()?)
    }

    /// Extends a segment's lease and records its progress. `None` when the
    /// lease is no longer this worker's; otherwise whether the segment
    /// should stop (its job was canceled or is no longer running).
    pub async fn segment_heartbeat(
        &self,
        seg: &Segment,
        owner: &str,
        lease_until: i64,
        frames_done: i64,
    ) -> Result<Option<bool>, DbError> {
        let done = sqlx::query(&format!(
            "UPDATE job_segments SET lease_until_ms = $5, frames_done = $6 WHERE {HELD}"
        ))
        .bind(&seg.job_id)
        .bind(seg.idx)
        .bind(owner)
        .bind(seg.attempts)
        .bind(lease_until)
        .bind(frames_done)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        let job = sqlx::query("SELECT state, cancel_requested FROM jobs WHERE id = $1")
            .bind(&seg.job_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(Some(match job {
            Some(r) => {
                let state: String = r.try_get("state")?;
                let cancel: i64 = r.try_get("cancel_requested")?;
                state != "running" || cancel != 0
            }
            None => true,
        }))
    }

    /// Records how a claimed segment ended; false when the lease was no
    /// longer this worker's (nothing changed then).
    pub async fn finish_segment(
        &self,
        seg: &Segment,
        owner: &str,
        finish: &SegmentFinish,
    ) -> Result<bool, DbError> {
        let (set, code, message) = match finish {
            SegmentFinish::Done => ("state = 'done', frames_done = frames_total", None, None),
            SegmentFinish::Failed { code, message } => (
                "state = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END",
                Some(code.clone()),
                Some(message.clone()),
            ),
            SegmentFinish::Canceled => ("state = 'canceled'", None, None),
        };
        let done = sqlx::query(&format!(
            "UPDATE job_segments SET {set}, lease_owner = NULL, lease_until_ms = NULL,
                 error_code = COALESCE($5, error_code), error_message = COALESCE($6, error_message)
             WHERE {HELD}"
        ))
        .bind(&seg.job_id)
        .bind(seg.idx)
        .bind(owner)
        .bind(seg.attempts)
        .bind(code)
        .bind(message)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            // The job's worker waits on its segments.
            self.notify_job(&seg.job_id).await?;
        }
        Ok(done.rows_affected() == 1)
    }

    /// Gives a claimed segment back without counting the attempt
    /// (graceful shutdown).
    pub async fn hand_back_segment(&self, seg: &Segment, owner: &str) -> Result<bool, DbError> {
        let done = sqlx::query(&format!(
            "UPDATE job_segments SET state = 'queued', lease_owner = NULL, lease_until_ms = NULL,
                 attempts = attempts - 1
             WHERE {HELD}"
        ))
        .bind(&seg.job_id)
        .bind(seg.idx)
        .bind(owner)
        .bind(seg.attempts)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            self.notify_job(&seg.job_id).await?;
        }
        Ok(done.rows_affected() == 1)
    }

    /// Stops a job's segments that nobody runs yet (the job was canceled
    /// or failed); running ones stop at their next heartbeat.
    pub async fn cancel_segments(&self, job_id: &str) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE job_segments SET state = 'canceled' WHERE job_id = $1 AND state = 'queued'",
        )
        .bind(job_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Requeues running segments whose lease ran out (their worker died),
    /// or fails those out of attempts. Returns `(requeued, failed)`.
    pub async fn reap_stale_segments(&self, now: i64) -> Result<(u64, u64), DbError> {
        let requeued = sqlx::query(
            "UPDATE job_segments SET state = 'queued', lease_owner = NULL, lease_until_ms = NULL
             WHERE state = 'running' AND lease_until_ms < $1 AND attempts < max_attempts",
        )
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        let failed = sqlx::query(
            "UPDATE job_segments SET state = 'failed', lease_owner = NULL, lease_until_ms = NULL,
                 error_code = 'job.attempts_exhausted',
                 error_message = 'the segment''s worker stopped too many times'
             WHERE state = 'running' AND lease_until_ms < $1",
        )
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if requeued + failed > 0 {
            self.notify_job("").await?;
        }
        Ok((requeued, failed))
    }

    /// The job a segment belongs to, whichever account owns it (a worker
    /// running the segment needs its upload and options).
    pub async fn segment_job(&self, job_id: &str) -> Result<Option<Job>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM jobs WHERE id = $1",
            super::jobs::COLS
        ))
        .bind(job_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(Job::from_row).transpose()?)
    }
}
