//! PostgreSQL LISTEN/NOTIFY for jobs: every statement that queues, moves or
//! finishes a job also notifies [`JOBS_CHANNEL`] with the job's id (sent
//! when its transaction commits), so idle workers and event streams wake
//! at once instead of polling. SQLite has no such thing; there, and while
//! the listening connection is down, polling does the work.

use sqlx::postgres::PgListener;
use sqlx::Any;

use super::{Backend, Db, DbError};

/// The channel job changes are announced on; the payload is the job id,
/// or empty for "the queue changed".
pub const JOBS_CHANNEL: &str = "vidmocap_jobs";

/// Notifies inside a transaction (delivered on commit); nothing on SQLite.
pub(crate) async fn job_changed<'c, E>(
    backend: Backend,
    conn: E,
    job_id: &str,
) -> Result<(), DbError>
where
    E: sqlx::Executor<'c, Database = Any>,
{
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_notify($1, $2)::TEXT")
            .bind(JOBS_CHANNEL)
            .bind(job_id)
            .fetch_one(conn)
            .await?;
    }
    Ok(())
}

/// A connection listening on [`JOBS_CHANNEL`].
pub struct JobListener(PgListener);

impl JobListener {
    /// Connects and listens; only for `postgres://` URLs.
    pub async fn connect(url: &str) -> Result<JobListener, DbError> {
        let mut l = PgListener::connect(url)
            .await
            .map_err(|e| DbError::Connect(e.to_string()))?;
        l.listen(JOBS_CHANNEL).await?;
        Ok(JobListener(l))
    }

    /// The next job id announced; `Ok(None)` when the connection was lost
    /// (the next call reconnects, and whatever was sent meanwhile is gone).
    pub async fn next(&mut self) -> Result<Option<String>, DbError> {
        Ok(self.0.try_recv().await?.map(|n| n.payload().to_string()))
    }
}

impl Db {
    /// Announces that a job changed, outside any transaction.
    pub async fn notify_job(&self, job_id: &str) -> Result<(), DbError> {
        job_changed(self.backend, &self.pool, job_id).await
    }
}
