//! Privacy and retention: export everything an account owns as a zip,
//! delete an account with every object and row, and the sweeper that
//! deletes uploaded videos after the retention period.

use std::io::Write;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;

use super::api_types::{AccountDeleted, AccountView, JobView};
use super::app::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::Json;
use super::job::OutputFile;
use crate::db::now_ms;
use crate::store::account_prefix;

/// `GET /v1/account/export`: `account.json`, `ledger.json`, `uploads.json`,
/// `jobs.json` and every output file under `outputs/<job id>/`.
#[utoipa::path(
    get,
    path = "/v1/account/export",
    tag = "account",
    summary = "All of the account's data as a zip",
    security(("bearer" = []), ("cookie" = [])),
    responses((
        status = 200,
        description = "account.json, ledger.json, uploads.json, jobs.json and outputs/",
        content_type = "application/zip",
        body = [u8],
    )),
)]
pub async fn export(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let a = &caller.account;
    let ledger = state.db.ledger(&a.id).await?;
    let uploads = state.db.list_uploads(&a.id).await?;
    let jobs = state.db.all_jobs(&a.id).await?;
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (
            "account.json".into(),
            serde_json::to_vec_pretty(&AccountView::from(a)).unwrap_or_default(),
        ),
        (
            "ledger.json".into(),
            serde_json::to_vec_pretty(&ledger).unwrap_or_default(),
        ),
        (
            "uploads.json".into(),
            serde_json::to_vec_pretty(&uploads).unwrap_or_default(),
        ),
        (
            "jobs.json".into(),
            serde_json::to_vec_pretty(&jobs.iter().map(JobView::from).collect::<Vec<_>>())
                .unwrap_or_default(),
        ),
    ];
    for job in &jobs {
        let outputs: Vec<OutputFile> = serde_json::from_str(&job.outputs_json).unwrap_or_default();
        for o in outputs {
            match state.store.get_bytes(&o.key).await {
                Ok(bytes) => files.push((format!("outputs/{}/{}", job.id, o.name), bytes)),
                Err(e) => tracing::warn!(error = %e, key = %o.key, "export: output missing"),
            }
        }
    }
    let zip = tokio::task::spawn_blocking(move || -> zip::result::ZipResult<Vec<u8>> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in files {
            w.start_file(name, opts)?;
            w.write_all(&bytes)?;
        }
        Ok(w.finish()?.into_inner())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok((
        [
            (CONTENT_TYPE, "application/zip".to_string()),
            (
                CONTENT_DISPOSITION,
                "attachment; filename=\"vidmocap-export.zip\"".to_string(),
            ),
        ],
        zip,
    )
        .into_response())
}

/// `DELETE /v1/account`: every object under the account's prefix, then
/// every row. Refused while a job is running (cancel it first).
#[utoipa::path(
    delete,
    path = "/v1/account",
    tag = "account",
    summary = "Delete the account and everything it owns",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "Deleted", body = AccountDeleted)),
)]
pub async fn delete_account(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<AccountDeleted>> {
    let id = &caller.account.id;
    let jobs = state.db.all_jobs(id).await?;
    if jobs
        .iter()
        .any(|j| j.state == crate::db::jobs::JobState::Running)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "job.running",
            "a job is running; cancel it and wait for it to stop",
        ));
    }
    let removed = state.store.delete_prefix(&account_prefix(id)).await?;
    state.db.delete_account(id).await?;
    tracing::info!(account = %id, objects = removed, "account deleted");
    Ok(Json(AccountDeleted {
        deleted: true,
        objects: removed,
    }))
}

/// Deletes uploads older than the retention period, hourly until `stop`.
pub async fn sweeper(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(e) = sweep_once(&state).await {
            tracing::error!(code = e.code, "upload sweep failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// One pass of the retention sweep; returns how many uploads it deleted.
pub async fn sweep_once(state: &AppState) -> Result<u64, ApiError> {
    let cutoff = now_ms() - state.cfg.upload_retention_days * 24 * 3600 * 1000;
    let mut n = 0;
    loop {
        let batch = state.db.uploads_older_than(cutoff, 100).await?;
        if batch.is_empty() {
            return Ok(n);
        }
        for u in batch {
            state.store.delete(&u.object_key).await?;
            state
                .db
                .mark_upload_deleted(&u.account_id, &u.id, now_ms())
                .await?;
            n += 1;
        }
    }
}
