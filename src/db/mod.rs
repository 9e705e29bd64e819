//! The database: every SQL statement of the service lives under this module.
//!
//! One code path serves SQLite (the embedded default, a file) and
//! PostgreSQL (the fleet), chosen by the URL's scheme, through sqlx's `Any`
//! driver. Columns are BIGINT, DOUBLE PRECISION or TEXT so they decode to the
//! same Rust types on both; SQL differs only where it must (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL). Migrations are the files in `migrations/<backend>/`,
//! compiled in and applied in name order, each once, recorded in
//! `schema_migrations`.
//!
//! SQLite gets a single connection: writers are serialised anyway, and one
//! connection makes "check then write" transactions and queue claims safe
//! within the process. Code must therefore never hold a transaction while
//! asking the pool for a second connection. Other processes on the same
//! file (the admin commands beside `serve`) are why transactions begin
//! with [`Db::begin`].

pub mod account_tokens;
pub mod accounts;
pub mod billing;
pub mod identities;
pub mod jobs;
pub mod ledger;
pub mod notify;
pub mod retention;
pub mod segments;
pub mod uploads;
pub mod webhooks;

use std::path::Path;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use thiserror::Error;

/// Which database engine a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Database failures. Details are for the log; clients only see the code.
#[derive(Debug, Error)]
pub enum DbError {
    #[error("unsupported database URL (expected sqlite:// or postgres://)")]
    Url,
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("migration {name} failed: {reason}")]
    Migrate { name: String, reason: String },
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
}

impl DbError {
    /// Stable code for logs and clients.
    pub fn code(&self) -> &'static str {
        match self {
            DbError::Url => "db.url",
            DbError::Connect(_) => "db.connect",
            DbError::Migrate { .. } => "db.migrate",
            DbError::Query(_) => "db.query",
        }
    }
}

/// `(name, SQLite text, PostgreSQL text)`, in the order they apply.
const MIGRATIONS: &[(&str, &str, &str)] = &[
    (
        "0001_init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        "0002_upload_digest",
        include_str!("../../migrations/sqlite/0002_upload_digest.sql"),
        include_str!("../../migrations/postgres/0002_upload_digest.sql"),
    ),
    (
        "0003_queue_indexes",
        include_str!("../../migrations/sqlite/0003_queue_indexes.sql"),
        include_str!("../../migrations/postgres/0003_queue_indexes.sql"),
    ),
    (
        "0004_retention",
        include_str!("../../migrations/sqlite/0004_retention.sql"),
        include_str!("../../migrations/postgres/0004_retention.sql"),
    ),
    (
        "0005_ledger_outlives_account",
        include_str!("../../migrations/sqlite/0005_ledger_outlives_account.sql"),
        include_str!("../../migrations/postgres/0005_ledger_outlives_account.sql"),
    ),
    (
        "0006_billing",
        include_str!("../../migrations/sqlite/0006_billing.sql"),
        include_str!("../../migrations/postgres/0006_billing.sql"),
    ),
    (
        "0007_mail",
        include_str!("../../migrations/sqlite/0007_mail.sql"),
        include_str!("../../migrations/postgres/0007_mail.sql"),
    ),
    (
        "0008_user_webhooks",
        include_str!("../../migrations/sqlite/0008_user_webhooks.sql"),
        include_str!("../../migrations/postgres/0008_user_webhooks.sql"),
    ),
    (
        "0009_identities",
        include_str!("../../migrations/sqlite/0009_identities.sql"),
        include_str!("../../migrations/postgres/0009_identities.sql"),
    ),
    (
        "0010_segments",
        include_str!("../../migrations/sqlite/0010_segments.sql"),
        include_str!("../../migrations/postgres/0010_segments.sql"),
    ),
];

/// The advisory lock migrations run under on PostgreSQL.
const MIGRATION_LOCK: i64 = 0x766d_6d69_6772_0001;

async fn apply_migrations(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
) -> Result<Vec<String>, DbError> {
    use sqlx::Connection;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_ms BIGINT NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    let mut applied = Vec::new();
    for (name, sqlite, postgres) in MIGRATIONS {
        let sql = match backend {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        };
        let mut tx = conn.begin().await?;
        let done: Option<AnyRow> =
            sqlx::query("SELECT name FROM schema_migrations WHERE name = $1")
                .bind(*name)
                .fetch_optional(&mut *tx)
                .await?;
        if done.is_some() {
            continue;
        }
        sqlx::raw_sql(sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| DbError::Migrate {
                name: name.to_string(),
                reason: e.to_string(),
            })?;
        sqlx::query("INSERT INTO schema_migrations (name, applied_ms) VALUES ($1, $2)")
            .bind(*name)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        applied.push(name.to_string());
    }
    Ok(applied)
}

/// A connection pool and the backend it talks to.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

/// Milliseconds since the Unix epoch, the time unit of every column.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Db {
    /// Opens the database a URL names; for SQLite the file (and its folder)
    /// is created when missing.
    pub async fn open(url: &str) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if let Some(rest) = url.strip_prefix("sqlite://") {
            let path = rest.split('?').next().unwrap_or(rest);
            if path != ":memory:" {
                if let Some(parent) = Path::new(path).parent() {
                    if !parent.as_os_str().is_empty() {
                        std::fs::create_dir_all(parent)
                            .map_err(|e| DbError::Connect(e.to_string()))?;
                    }
                }
            }
            let url = if rest.contains('?') {
                url.to_string()
            } else {
                format!("{url}?mode=rwc")
            };
            (Backend::Sqlite, url)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            return Err(DbError::Url);
        };
        let max = if backend == Backend::Sqlite { 1 } else { 16 };
        // No idle timeout and no lifetime, so sqlx starts no maintenance
        // task: in sqlx 0.8.6 that task can spin at 100 % CPU forever once
        // its idle count underflows (launchbadge/sqlx#3645; the fix, #4289,
        // came after 0.8.6). Seen here: `vidmocap admin
        // grant-credits` spun on exit beside the service's tests. Broken
        // connections are still caught, by the ping before each acquire.
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(30))
            .idle_timeout(None)
            .max_lifetime(None)
            .connect(&url)
            .await
            .map_err(|e| DbError::Connect(e.to_string()))?;
        if backend == Backend::Sqlite {
            // WAL lets a reader see committed rows while the worker writes.
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&pool)
                .await
                .map_err(|e| DbError::Connect(e.to_string()))?;
        }
        Ok(Db { pool, backend })
    }

    /// Begins a transaction that writes. On SQLite it takes the write lock
    /// at once (`BEGIN IMMEDIATE`), waiting out another writer: a deferred
    /// transaction reads first and then cannot write once another
    /// connection has written (SQLite answers "database is locked" without
    /// waiting), and the admin commands are such a connection, in a
    /// process of their own, beside the running service.
    pub(crate) async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Applies the migrations this database has not seen; returns their names.
    ///
    /// On PostgreSQL an API and workers starting together would otherwise
    /// race (both see a migration missing, one fails half-way), so the
    /// whole run holds a session advisory lock on one connection; a process
    /// that dies mid-run drops its connection and with it the lock. This
    /// keeps the existing `schema_migrations` record instead of moving
    /// deployed databases to sqlx's migrator table. SQLite files are opened
    /// by one process with one connection.
    pub async fn migrate(&self) -> Result<Vec<String>, DbError> {
        let mut conn = self.pool.acquire().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_lock($1)::TEXT")
                .bind(MIGRATION_LOCK)
                .fetch_one(&mut *conn)
                .await?;
        }
        let result = apply_migrations(&mut conn, self.backend).await;
        if self.backend == Backend::Postgres {
            // Unlock even after a failure: the connection goes back to the pool.
            sqlx::query("SELECT pg_advisory_unlock($1)::TEXT")
                .bind(MIGRATION_LOCK)
                .fetch_one(&mut *conn)
                .await?;
        }
        result
    }

    /// A trivial query: is the database answering?
    pub async fn ping(&self) -> Result<(), DbError> {
        let row = sqlx::query("SELECT 1").fetch_one(&self.pool).await?;
        let _: i32 = row
            .try_get::<i32, _>(0)
            .or_else(|_| row.try_get::<i64, _>(0).map(|v| v as i32))?;
        Ok(())
    }

    /// Counts of jobs per state, for metrics.
    pub async fn job_state_counts(&self) -> Result<Vec<(String, i64)>, DbError> {
        let rows =
            sqlx::query("SELECT state, CAST(COUNT(*) AS BIGINT) AS n FROM jobs GROUP BY state")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| -> Result<(String, i64), DbError> {
                Ok((r.try_get("state")?, r.try_get("n")?))
            })
            .collect()
    }
}
