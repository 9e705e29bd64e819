//! Jobs and the queue: create with a credit hold, list, cancel, delete,
//! claim with a lease, heartbeat, stale-lease requeue and the one final
//! transaction that records the outcome and moves the credits.
//!
//! Every statement that finishes a claimed job names the lease owner and the
//! attempt in its WHERE clause: a worker whose lease was taken over can
//! never finish the job a second time, so credits move exactly once.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{ledger, notify, webhooks, Backend, Db, DbError};

/// The states a job moves through; the last three are final. Stored as
/// their lowercase names, which the SQL below spells out; the API sends
/// them too, hence the schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(description = "queued, running, then one of the final three")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "succeeded" => JobState::Succeeded,
            "failed" => JobState::Failed,
            "canceled" => JobState::Canceled,
            _ => return None,
        })
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Canceled
        )
    }
}

impl PartialEq<&str> for JobState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One job row.
#[derive(Clone, Debug, Serialize)]
pub struct Job {
    pub id: String,
    #[serde(skip)]
    pub account_id: String,
    pub upload_id: String,
    pub idempotency_key: Option<String>,
    #[serde(skip)]
    pub request_hash: String,
    pub state: JobState,
    pub options_json: String,
    pub price: i64,
    pub priority: i64,
    #[serde(skip)]
    pub max_running: i64,
    pub attempts: i64,
    pub max_attempts: i64,
    #[serde(skip)]
    pub lease_owner: Option<String>,
    #[serde(skip)]
    pub lease_until_ms: Option<i64>,
    pub cancel_requested: i64,
    pub stage: String,
    pub frames_done: i64,
    pub frames_total: i64,
    pub report_json: Option<String>,
    pub outputs_json: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_ms: i64,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    /// When the outputs go whatever the account's retention (no-retain).
    pub outputs_expire_ms: Option<i64>,
    /// When the retention sweep deleted the outputs.
    pub outputs_deleted_ms: Option<i64>,
}

pub(super) const COLS: &str = "id, account_id, upload_id, idempotency_key, request_hash, state, options_json, price, priority, max_running, attempts, max_attempts, lease_owner, lease_until_ms, cancel_requested, stage, frames_done, frames_total, report_json, outputs_json, error_code, error_message, created_ms, started_ms, finished_ms, outputs_expire_ms, outputs_deleted_ms";

impl Job {
    pub(super) fn from_row(r: &AnyRow) -> Result<Job, sqlx::Error> {
        Ok(Job {
            id: r.try_get("id")?,
            account_id: r.try_get("account_id")?,
            upload_id: r.try_get("upload_id")?,
            idempotency_key: r.try_get("idempotency_key")?,
            request_hash: r.try_get("request_hash")?,
            state: {
                let s: String = r.try_get("state")?;
                JobState::parse(&s).ok_or_else(|| sqlx::Error::ColumnDecode {
                    index: "state".into(),
                    source: format!("unknown job state {s:?}").into(),
                })?
            },
            options_json: r.try_get("options_json")?,
            price: r.try_get("price")?,
            priority: r.try_get("priority")?,
            max_running: r.try_get("max_running")?,
            attempts: r.try_get("attempts")?,
            max_attempts: r.try_get("max_attempts")?,
            lease_owner: r.try_get("lease_owner")?,
            lease_until_ms: r.try_get("lease_until_ms")?,
            cancel_requested: r.try_get("cancel_requested")?,
            stage: r.try_get("stage")?,
            frames_done: r.try_get("frames_done")?,
            frames_total: r.try_get("frames_total")?,
            report_json: r.try_get("report_json")?,
            outputs_json: r.try_get("outputs_json")?,
            error_code: r.try_get("error_code")?,
            error_message: r.try_get("error_message")?,
            created_ms: r.try_get("created_ms")?,
            started_ms: r.try_get("started_ms")?,
            finished_ms: r.try_get("finished_ms")?,
            outputs_expire_ms: r.try_get("outputs_expire_ms")?,
            outputs_deleted_ms: r.try_get("outputs_deleted_ms")?,
        })
    }

    /// Whether the job has reached a final state.
    pub fn is_final(&self) -> bool {
        self.state.is_final()
    }
}

/// First key of the advisory locks claims take per account (the second is
/// a hash of the account id), so they collide with no other lock.
const CLAIM_LOCK_SPACE: i32 = 0x766d_0001;

enum PgClaim {
    Claimed(Box<Job>),
    Empty,
    /// The candidate's account filled its slots meanwhile.
    AccountFull,
}

/// What a new job is made of.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub id: String,
    pub account_id: String,
    pub upload_id: String,
    pub idempotency_key: Option<String>,
    pub request_hash: String,
    pub options_json: String,
    pub price: i64,
    pub priority: i64,
    pub max_running: i64,
    pub max_attempts: i64,
    pub now: i64,
}

/// The result of asking for a job.
#[derive(Debug)]
pub enum CreateOutcome {
    /// Accepted and its price reserved.
    Created(Job),
    /// The idempotency key was used before with the same request.
    Existing(Job),
    /// The idempotency key was used before with a different request.
    KeyReused,
    /// The account cannot afford it; nothing was written.
    Insufficient,
}

/// The result of a cancel request.
#[derive(Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// It was queued and is now canceled, its credits released.
    Canceled,
    /// It is running; the worker will stop it.
    Requested,
    /// It had already finished.
    AlreadyFinal,
    NotFound,
}

/// How a claimed job ended.
#[derive(Clone, Debug)]
pub enum Finish {
    Succeeded {
        report_json: String,
        outputs_json: String,
        /// When the outputs expire regardless of the account's retention.
        outputs_expire_ms: Option<i64>,
    },
    Failed {
        code: String,
        message: String,
    },
    Canceled,
}

impl Finish {
    /// The event the account's webhooks are told.
    pub fn event_type(&self) -> &'static str {
        match self {
            Finish::Succeeded { .. } => "job.succeeded",
            Finish::Failed { .. } => "job.failed",
            Finish::Canceled => "job.canceled",
        }
    }

    /// The error code and message a job that did not succeed ends with.
    pub fn error(&self) -> Option<(&str, &str)> {
        match self {
            Finish::Succeeded { .. } => None,
            Finish::Failed { code, message } => Some((code, message)),
            Finish::Canceled => Some(("job.canceled", "canceled by the user")),
        }
    }
}

/// The next job a PostgreSQL worker may take: queued, its account under
/// its running limit, highest priority then oldest; rows other workers are
/// claiming are skipped. `jobs_claim_order` (migration 0003) serves the scan
/// in this order and `jobs_running_account` the running count.
const PG_CLAIM_CANDIDATE_SQL: &str = "SELECT j.id, j.account_id, j.max_running FROM jobs j
     WHERE j.state = 'queued'
       AND (SELECT COUNT(*) FROM jobs r WHERE r.account_id = j.account_id AND r.state = 'running') < j.max_running
     ORDER BY j.priority DESC, j.created_ms, j.id
     LIMIT 1 FOR UPDATE SKIP LOCKED";

/// The queue depth the autoscaler reads. Running jobs count as well as
/// queued ones, so scaling in never targets a worker that is busy; a split
/// job counts as its segments still to run (its own worker runs one of
/// them), so a long clip asks for as many workers as it has segments. The
/// Kubernetes ScaledObject in `deploy/` carries this exact text (a test
/// checks it), and `vidmocap admin queue-depth --sql` prints it.
pub const QUEUE_DEPTH_SQL: &str = "SELECT (SELECT COUNT(*) FROM jobs j WHERE j.state IN ('queued', 'running') AND NOT EXISTS (SELECT 1 FROM job_segments s WHERE s.job_id = j.id AND s.state IN ('queued', 'running'))) + (SELECT COUNT(*) FROM job_segments WHERE state IN ('queued', 'running'))";

impl Db {
    /// Creates a job and reserves its price in one transaction.
    pub async fn create_job(&self, new: &NewJob) -> Result<CreateOutcome, DbError> {
        let mut tx = self.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO jobs (id, account_id, upload_id, idempotency_key, request_hash, state, options_json,
                 price, priority, max_running, attempts, max_attempts, created_ms)
             VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $8, $9, 0, $10, $11)
             ON CONFLICT (account_id, idempotency_key) DO NOTHING",
        )
        .bind(&new.id)
        .bind(&new.account_id)
        .bind(&new.upload_id)
        .bind(new.idempotency_key.clone())
        .bind(&new.request_hash)
        .bind(&new.options_json)
        .bind(new.price)
        .bind(new.priority)
        .bind(new.max_running)
        .bind(new.max_attempts)
        .bind(new.now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            // Only an idempotency key can conflict: hand back the first job.
            let row = sqlx::query(&format!(
                "SELECT {COLS} FROM jobs WHERE account_id = $1 AND idempotency_key = $2"
            ))
            .bind(&new.account_id)
            .bind(new.idempotency_key.clone())
            .fetch_one(&mut *tx)
            .await?;
            let job = Job::from_row(&row)?;
            return Ok(if job.request_hash == new.request_hash {
                CreateOutcome::Existing(job)
            } else {
                CreateOutcome::KeyReused
            });
        }
        if !ledger::reserve(&mut tx, &new.account_id, new.price, &new.id).await? {
            tx.rollback().await?;
            return Ok(CreateOutcome::Insufficient);
        }
        let row = sqlx::query(&format!("SELECT {COLS} FROM jobs WHERE id = $1"))
            .bind(&new.id)
            .fetch_one(&mut *tx)
            .await?;
        let job = Job::from_row(&row)?;
        notify::job_changed(self.backend, &mut *tx, &job.id).await?;
        tx.commit().await?;
        Ok(CreateOutcome::Created(job))
    }

    /// One of the account's jobs (another account's id finds nothing).
    pub async fn job(&self, account_id: &str, id: &str) -> Result<Option<Job>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {COLS} FROM jobs WHERE id = $1 AND account_id = $2"
        ))
        .bind(id)
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(Job::from_row).transpose()?)
    }

    /// A page of the account's jobs, newest first, starting after the
    /// `(created_ms, id)` cursor when given.
    pub async fn list_jobs(
        &self,
        account_id: &str,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<Job>, DbError> {
        let (ms, id) = after.unwrap_or((i64::MAX, String::new()));
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM jobs WHERE account_id = $1
               AND (created_ms < $2 OR (created_ms = $2 AND id < $3) OR $3 = '')
             ORDER BY created_ms DESC, id DESC LIMIT $4"
        ))
        .bind(account_id)
        .bind(ms)
        .bind(id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Job::from_row(r).map_err(DbError::from))
            .collect()
    }

    /// All of the account's jobs, for the data export.
    pub async fn all_jobs(&self, account_id: &str) -> Result<Vec<Job>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM jobs WHERE account_id = $1 ORDER BY created_ms, id"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Job::from_row(r).map_err(DbError::from))
            .collect()
    }

    /// Cancels a queued job at once (releasing its credits in the same
    /// transaction) or flags a running one for its worker.
    pub async fn cancel_job(
        &self,
        account_id: &str,
        id: &str,
        now: i64,
    ) -> Result<CancelOutcome, DbError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE jobs SET state = 'canceled', stage = 'canceled', finished_ms = $1,
                 error_code = 'job.canceled', error_message = 'canceled by the user'
             WHERE id = $2 AND account_id = $3 AND state = 'queued'
             RETURNING price",
        )
        .bind(now)
        .bind(id)
        .bind(account_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = done {
            let price: i64 = row.try_get("price")?;
            ledger::release(&mut tx, account_id, price, id).await?;
            webhooks::job_event(
                &mut *tx,
                account_id,
                Finish::Canceled.event_type(),
                id,
                Finish::Canceled.error(),
                now,
            )
            .await?;
            notify::job_changed(self.backend, &mut *tx, id).await?;
            tx.commit().await?;
            return Ok(CancelOutcome::Canceled);
        }
        let flagged = sqlx::query(
            "UPDATE jobs SET cancel_requested = 1 WHERE id = $1 AND account_id = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
        if flagged.rows_affected() == 1 {
            notify::job_changed(self.backend, &mut *tx, id).await?;
            tx.commit().await?;
            return Ok(CancelOutcome::Requested);
        }
        let exists = sqlx::query("SELECT id FROM jobs WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(if exists.is_some() {
            CancelOutcome::AlreadyFinal
        } else {
            CancelOutcome::NotFound
        })
    }

    /// Deletes a finished job's row; false when it is missing or not final.
    pub async fn delete_job(&self, account_id: &str, id: &str) -> Result<bool, DbError> {
        let done = sqlx::query(
            "DELETE FROM jobs WHERE id = $1 AND account_id = $2
               AND state IN ('succeeded', 'failed', 'canceled')",
        )
        .bind(id)
        .bind(account_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// PostgreSQL's plan for the claim's candidate query, run for real
    /// (`EXPLAIN ANALYZE`, inside a transaction that is rolled back, so no
    /// row stays locked): what the queue bench prints.
    pub async fn explain_claim(&self) -> Result<String, DbError> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(&format!(
            "EXPLAIN (ANALYZE, COSTS OFF) {PG_CLAIM_CANDIDATE_SQL}"
        ))
        .fetch_all(&mut *tx)
        .await?;
        tx.rollback().await?;
        let lines: Result<Vec<String>, _> =
            rows.iter().map(|r| r.try_get::<String, _>(0)).collect();
        Ok(lines?.join("\n"))
    }

    /// Jobs waiting or running: what the fleet's autoscaler (KEDA's
    /// `postgresql` trigger) divides by the jobs one worker takes.
    pub async fn queue_depth(&self) -> Result<i64, DbError> {
        let row = sqlx::query(QUEUE_DEPTH_SQL).fetch_one(&self.pool).await?;
        Ok(row.try_get::<i64, _>(0)?)
    }

    /// Claims the next runnable job: highest priority, then oldest, skipping
    /// accounts already running their tier's number of jobs. The lease runs
    /// until `lease_until`; the attempt count goes up by one.
    pub async fn claim_job(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<Job>, DbError> {
        match self.backend {
            // One connection: the statement is already serialised.
            Backend::Sqlite => {
                let row = sqlx::query(&format!(
                    "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until_ms = $2,
                         attempts = attempts + 1, started_ms = COALESCE(started_ms, $3), stage = 'starting'
                     WHERE id = (
                         SELECT j.id FROM jobs j
                         WHERE j.state = 'queued'
                           AND (SELECT COUNT(*) FROM jobs r WHERE r.account_id = j.account_id AND r.state = 'running') < j.max_running
                         ORDER BY j.priority DESC, j.created_ms, j.id
                         LIMIT 1)
                     RETURNING {COLS}"
                ))
                .bind(owner)
                .bind(lease_until)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.as_ref().map(Job::from_row).transpose()?)
            }
            Backend::Postgres => {
                // A claim that lost the race for its account's last slot
                // tries the next candidate, a few times at most.
                for _ in 0..4 {
                    match self.claim_postgres(owner, now, lease_until).await? {
                        PgClaim::Claimed(job) => return Ok(Some(*job)),
                        PgClaim::Empty => return Ok(None),
                        PgClaim::AccountFull => continue,
                    }
                }
                Ok(None)
            }
        }
    }

    /// One claim attempt on PostgreSQL. `FOR UPDATE SKIP LOCKED` keeps two
    /// workers off one row, but the running count in the candidate query
    /// cannot see another worker's uncommitted claim of a *different* row
    /// of the same account. So the account is locked (a transaction-scoped
    /// advisory lock, taken only by claims) and its running jobs counted
    /// again under that lock before the row is taken.
    async fn claim_postgres(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<PgClaim, DbError> {
        let mut tx = self.begin().await?;
        let candidate = sqlx::query(PG_CLAIM_CANDIDATE_SQL)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(candidate) = candidate else {
            tx.rollback().await?;
            return Ok(PgClaim::Empty);
        };
        let id: String = candidate.try_get("id")?;
        let account_id: String = candidate.try_get("account_id")?;
        let max_running: i64 = candidate.try_get("max_running")?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))::TEXT")
            .bind(CLAIM_LOCK_SPACE)
            .bind(&account_id)
            .fetch_one(&mut *tx)
            .await?;
        let running: i64 = sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM jobs WHERE account_id = $1 AND state = 'running'",
        )
        .bind(&account_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if running >= max_running {
            tx.rollback().await?;
            return Ok(PgClaim::AccountFull);
        }
        let row = sqlx::query(&format!(
            "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until_ms = $2,
                 attempts = attempts + 1, started_ms = COALESCE(started_ms, $3), stage = 'starting'
             WHERE id = $4 RETURNING {COLS}"
        ))
        .bind(owner)
        .bind(lease_until)
        .bind(now)
        .bind(&id)
        .fetch_one(&mut *tx)
        .await?;
        let job = Job::from_row(&row)?;
        tx.commit().await?;
        Ok(PgClaim::Claimed(Box::new(job)))
    }

    /// Extends a lease and records progress. `None` when the lease is no
    /// longer this worker's; otherwise whether a cancel was requested.
    #[allow(clippy::too_many_arguments)]
    pub async fn heartbeat(
        &self,
        id: &str,
        owner: &str,
        attempt: i64,
        lease_until: i64,
        stage: &str,
        frames_done: i64,
        frames_total: i64,
    ) -> Result<Option<bool>, DbError> {
        let row = sqlx::query(
            "UPDATE jobs SET lease_until_ms = $1, stage = $2, frames_done = $3, frames_total = $4
             WHERE id = $5 AND lease_owner = $6 AND attempts = $7 AND state = 'running'
             RETURNING cancel_requested",
        )
        .bind(lease_until)
        .bind(stage)
        .bind(frames_done)
        .bind(frames_total)
        .bind(id)
        .bind(owner)
        .bind(attempt)
        .fetch_optional(&self.pool)
        .await?;
        if row.is_some() {
            self.notify_job(id).await?;
        }
        Ok(row
            .map(|r| r.try_get::<i64, _>("cancel_requested"))
            .transpose()?
            .map(|c| c != 0))
    }

    /// Records how a claimed job ended and moves its credits (charge on
    /// success, release otherwise) in one transaction. False when this
    /// worker no longer holds the lease, in which case nothing changed.
    pub async fn finish_job(
        &self,
        job: &Job,
        owner: &str,
        finish: &Finish,
        now: i64,
    ) -> Result<bool, DbError> {
        let (state, report, outputs, code, message, expire) = match finish {
            Finish::Succeeded {
                report_json,
                outputs_json,
                outputs_expire_ms,
            } => (
                JobState::Succeeded,
                Some(report_json.clone()),
                outputs_json.clone(),
                None,
                None,
                *outputs_expire_ms,
            ),
            Finish::Failed { code, message } => (
                JobState::Failed,
                None,
                "[]".to_string(),
                Some(code.clone()),
                Some(message.clone()),
                None,
            ),
            Finish::Canceled => (
                JobState::Canceled,
                None,
                "[]".to_string(),
                Some("job.canceled".to_string()),
                Some("canceled by the user".to_string()),
                None,
            ),
        };
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE jobs SET state = $1, stage = $1, report_json = $2, outputs_json = $3, error_code = $4,
                 error_message = $5, finished_ms = $6, lease_owner = NULL, lease_until_ms = NULL,
                 outputs_expire_ms = $10
             WHERE id = $7 AND lease_owner = $8 AND attempts = $9 AND state = 'running'",
        )
        .bind(state.as_str())
        .bind(report)
        .bind(outputs)
        .bind(code)
        .bind(message)
        .bind(now)
        .bind(&job.id)
        .bind(owner)
        .bind(job.attempts)
        .bind(expire)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        if state == JobState::Succeeded {
            ledger::charge(&mut tx, &job.account_id, job.price, &job.id).await?;
        } else {
            ledger::release(&mut tx, &job.account_id, job.price, &job.id).await?;
        }
        webhooks::job_event(
            &mut *tx,
            &job.account_id,
            finish.event_type(),
            &job.id,
            finish.error(),
            now,
        )
        .await?;
        // The job's watchers, and workers: its account may run another now.
        notify::job_changed(self.backend, &mut *tx, &job.id).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Gives a claimed job back to the queue without counting the attempt
    /// (graceful shutdown).
    pub async fn hand_back(&self, job: &Job, owner: &str) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', stage = 'queued', lease_owner = NULL, lease_until_ms = NULL,
                 attempts = attempts - 1
             WHERE id = $1 AND lease_owner = $2 AND attempts = $3 AND state = 'running'",
        )
        .bind(&job.id)
        .bind(owner)
        .bind(job.attempts)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            self.notify_job(&job.id).await?;
        }
        Ok(done.rows_affected() == 1)
    }

    /// Requeues running jobs whose lease ran out (their worker died) and
    /// fails, with credits released, those out of attempts or asked to
    /// cancel. Returns `(requeued, ended)`.
    pub async fn reap_stale(&self, now: i64) -> Result<(u64, u64), DbError> {
        let requeued = sqlx::query(
            "UPDATE jobs SET state = 'queued', stage = 'queued', lease_owner = NULL, lease_until_ms = NULL
             WHERE state = 'running' AND lease_until_ms < $1 AND attempts < max_attempts
               AND cancel_requested = 0",
        )
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if requeued > 0 {
            self.notify_job("").await?;
        }
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM jobs WHERE state = 'running' AND lease_until_ms < $1"
        ))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut ended = 0;
        for row in &rows {
            let job = Job::from_row(row)?;
            let owner = job.lease_owner.clone().unwrap_or_default();
            let finish = if job.cancel_requested != 0 {
                Finish::Canceled
            } else {
                Finish::Failed {
                    code: "job.attempts_exhausted".into(),
                    message: format!("the job's worker stopped {} times", job.attempts),
                }
            };
            if self.finish_job(&job, &owner, &finish, now).await? {
                ended += 1;
            }
        }
        Ok((requeued, ended))
    }
}
