//! Privacy: export everything an account owns as a zip, and delete an
//! account with every object and row but its billing records (retention
//! is [`super::retention`] and [`super::sweep`]).

use std::io::Write;

use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::api_types::{AccountDeleted, AccountView, JobView};
use super::app::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::Json;
use super::job::OutputFile;
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
    for job in jobs.iter().filter(|j| j.outputs_deleted_ms.is_none()) {
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
