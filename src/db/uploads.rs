//! Uploaded input videos: where the bytes are and what the probe found.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Db, DbError};

/// One uploaded video. `deleted_ms` is set once its bytes are gone
/// (retention sweep, `keep_upload = false`, or a user's delete).
#[derive(Clone, Debug, Serialize)]
pub struct Upload {
    pub id: String,
    #[serde(skip)]
    pub account_id: String,
    #[serde(skip)]
    pub object_key: String,
    pub filename: String,
    pub size_bytes: i64,
    pub duration_s: f64,
    pub fps: f64,
    pub width: i64,
    pub height: i64,
    pub codec: String,
    pub created_ms: i64,
    pub deleted_ms: Option<i64>,
    /// SHA-256 of the bytes that were validated and priced (hex); `None`
    /// on rows from before it was recorded.
    #[serde(skip)]
    pub sha256: Option<String>,
}

impl Upload {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Upload, sqlx::Error> {
        Ok(Upload {
            id: r.try_get("id")?,
            account_id: r.try_get("account_id")?,
            object_key: r.try_get("object_key")?,
            filename: r.try_get("filename")?,
            size_bytes: r.try_get("size_bytes")?,
            duration_s: r.try_get("duration_s")?,
            fps: r.try_get("fps")?,
            width: r.try_get("width")?,
            height: r.try_get("height")?,
            codec: r.try_get("codec")?,
            created_ms: r.try_get("created_ms")?,
            deleted_ms: r.try_get("deleted_ms")?,
            sha256: r.try_get("sha256")?,
        })
    }
}

pub(crate) const COLS: &str = "id, account_id, object_key, filename, size_bytes, duration_s, fps, width, height, codec, created_ms, deleted_ms, sha256";

impl Db {
    pub async fn insert_upload(&self, u: &Upload) -> Result<(), DbError> {
        sqlx::query(&format!(
            "INSERT INTO uploads ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&u.id)
        .bind(&u.account_id)
        .bind(&u.object_key)
        .bind(&u.filename)
        .bind(u.size_bytes)
        .bind(u.duration_s)
        .bind(u.fps)
        .bind(u.width)
        .bind(u.height)
        .bind(&u.codec)
        .bind(u.created_ms)
        .bind(u.deleted_ms)
        .bind(u.sha256.clone())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One of the account's uploads (another account's id finds nothing).
    pub async fn upload(&self, account_id: &str, id: &str) -> Result<Option<Upload>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {COLS} FROM uploads WHERE id = $1 AND account_id = $2"
        ))
        .bind(id)
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(Upload::from_row).transpose()?)
    }

    pub async fn list_uploads(&self, account_id: &str) -> Result<Vec<Upload>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM uploads WHERE account_id = $1 ORDER BY created_ms DESC, id"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Upload::from_row(r).map_err(DbError::from))
            .collect()
    }

    /// Marks an upload's bytes as gone.
    pub async fn mark_upload_deleted(
        &self,
        account_id: &str,
        id: &str,
        now: i64,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE uploads SET deleted_ms = $1 WHERE id = $2 AND account_id = $3 AND deleted_ms IS NULL",
        )
        .bind(now)
        .bind(id)
        .bind(account_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
