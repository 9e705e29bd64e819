//! Uploads: a video sent as the raw request body or as the `file` field of
//! a multipart form. The bytes are streamed to a temporary file (never
//! held in memory), counted against the size limit, probed and fully
//! decoded against the account tier's limits, and only then stored and
//! recorded. Nothing about credits happens here, so bad input costs nothing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::extract::{Json, Path as UrlPath};
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::api_types::{CompleteUpload, PresignTicket, UploadList, UploadView};
use super::app::AppState;
use super::auth::Caller;
use super::credits::price;
use super::error::{ApiError, ApiResult};
use crate::config::Quality;
use crate::db::now_ms;
use crate::db::uploads::Upload;
use crate::store::account_prefix;
use crate::video::{self, DecodeOptions, Decoder, Limits, VideoError, VideoInfo};

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "upload.too_large",
        format!("the upload is larger than the {limit}-byte limit"),
    )
}

/// Object key of an upload's bytes, as validated. Only the API writes it:
/// no presigned link ever names it.
pub fn upload_key(account_id: &str, upload_id: &str) -> String {
    format!("{}uploads/{upload_id}/input", account_prefix(account_id))
}

/// Where a presigned PUT link lets the client write. `complete` validates
/// what is there, copies those very bytes to [`upload_key`] and deletes
/// this; a PUT after that lands here again and is never read.
pub fn incoming_key(account_id: &str, upload_id: &str) -> String {
    format!("{}uploads/{upload_id}/incoming", account_prefix(account_id))
}

/// Past the limit the rest of a body is read and dropped up to this much, so
/// the client (still sending) reliably gets the 413 instead of a reset
/// connection; bigger bodies are cut off.
const DRAIN_BYTES: u64 = 64 * 1024 * 1024;

/// Writes a stream of body chunks to `dest`, refusing more than `limit` bytes.
async fn spool<S, E>(mut stream: S, dest: &Path, limit: u64) -> ApiResult<u64>
where
    S: futures_util::Stream<Item = Result<axum::body::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut file = tokio::fs::File::create(dest)
        .await
        .map_err(ApiError::internal)?;
    let mut total = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            tracing::debug!(error = %e, "upload body stream failed");
            ApiError::bad_request("upload.interrupted", "the upload did not arrive whole")
        })?;
        total += chunk.len() as u64;
        if total > limit {
            while total < limit + DRAIN_BYTES {
                match stream.next().await {
                    Some(Ok(c)) => total += c.len() as u64,
                    _ => break,
                }
            }
            return Err(too_large(limit));
        }
        file.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    file.flush().await.map_err(ApiError::internal)?;
    Ok(total)
}

fn clean_filename(name: Option<&str>) -> String {
    let name: String = name
        .unwrap_or("upload")
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '/' | '\\'))
        .take(200)
        .collect();
    if name.is_empty() {
        "upload".into()
    } else {
        name
    }
}

/// Why a file did not pass validation.
#[derive(Debug)]
pub enum Invalid {
    Video(VideoError),
    /// Decoding ran past the deadline.
    TimedOut,
}

/// Probes the file and decodes every frame, so a truncated or corrupt video
/// is refused at upload rather than failing a paid job later; gives up at
/// `deadline`, so a file built to decode slowly cannot hold a thread.
///
/// Always in software: that is the decoder every worker can fall back on,
/// so it is the one a file must pass, and the API host has no business
/// taking NVDEC sessions from the workers.
pub fn validate_video(
    path: &Path,
    limits: &Limits,
    deadline: Instant,
) -> Result<VideoInfo, Invalid> {
    let info = video::probe(path, limits).map_err(Invalid::Video)?;
    let mut decoder = Decoder::start(path, &info, limits, 4, &DecodeOptions::software())
        .map_err(Invalid::Video)?;
    for frame in decoder.by_ref() {
        frame.map_err(Invalid::Video)?;
        if Instant::now() > deadline {
            return Err(Invalid::TimedOut);
        }
    }
    decoder.finish().map_err(Invalid::Video)?;
    Ok(info)
}

/// `POST /v1/uploads`: raw body or multipart `file` field.
#[utoipa::path(
    post,
    path = "/v1/uploads",
    tag = "uploads",
    operation_id = "create_upload",
    summary = "Upload a video: raw body or multipart field `file`",
    security(("bearer" = []), ("cookie" = [])),
    params((
        "x-filename" = Option<String>,
        Header,
        description = "The file's name, for a raw body",
    )),
    request_body(
        description = "The video: the raw body, or a form's `file` field",
        content(("application/octet-stream"), ("multipart/form-data")),
    ),
    responses((status = 201, description = "Validated and stored", body = UploadView)),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    request: Request,
) -> ApiResult<Response> {
    let limit = state.cfg.max_upload_bytes;
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit + DRAIN_BYTES) {
        return Err(too_large(limit));
    }
    let dir = tempfile::tempdir().map_err(ApiError::internal)?;
    let path: PathBuf = dir.path().join("input");
    let is_multipart = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let (size, filename) = if is_multipart {
        let mut form = Multipart::from_request(request, &state)
            .await
            .map_err(|e| ApiError::bad_request("upload.bad_form", e.body_text()))?;
        let mut found = None;
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| ApiError::bad_request("upload.bad_form", e.body_text()))?
        {
            if field.name() == Some("file") {
                let name = clean_filename(field.file_name());
                let size = spool(Box::pin(field), &path, limit).await?;
                found = Some((size, name));
                break;
            }
        }
        found.ok_or_else(|| {
            ApiError::bad_request("upload.no_file", "the form has no `file` field")
        })?
    } else {
        let name = clean_filename(headers.get("x-filename").and_then(|v| v.to_str().ok()));
        let stream = request.into_body().into_data_stream();
        (spool(stream, &path, limit).await?, name)
    };
    if size == 0 {
        return Err(VideoError::Empty.into());
    }

    let info = check_video(&state, &caller, &path).await.inspect_err(
        |e| tracing::info!(code = e.code, account = %caller.account.id, "upload refused"),
    )?;
    let sha256 = super::file_sha256(&path)
        .await
        .map_err(ApiError::internal)?;

    let id = uuid::Uuid::new_v4().to_string();
    let key = upload_key(&caller.account.id, &id);
    state
        .store
        .put_file(&key, &path, "application/octet-stream")
        .await?;
    let upload = new_upload(id, &caller, key, filename, size, &info, sha256);
    state.db.insert_upload(&upload).await?;
    state
        .metrics
        .uploads
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tracing::info!(upload = %upload.id, account = %upload.account_id, size, "upload stored");
    Ok((StatusCode::CREATED, Json(upload_view(&state, &upload))).into_response())
}

/// The row for a stored, validated upload.
fn new_upload(
    id: String,
    caller: &Caller,
    object_key: String,
    filename: String,
    size: u64,
    info: &VideoInfo,
    sha256: String,
) -> Upload {
    Upload {
        id,
        account_id: caller.account.id.clone(),
        object_key,
        filename,
        size_bytes: size as i64,
        duration_s: info.duration_s,
        fps: info.fps,
        width: i64::from(info.upright_width),
        height: i64::from(info.upright_height),
        codec: info.codec.clone(),
        created_ms: now_ms(),
        deleted_ms: None,
        sha256: Some(sha256),
    }
}

/// The upload with the price of a job on it at the service's preset and
/// at each preset (what the job form shows before a job is sent).
fn upload_view(state: &AppState, u: &Upload) -> UploadView {
    UploadView::new(u, state.pipeline.pose.quality, |q: Quality| {
        price(&state.cfg, u.duration_s, q)
    })
}

/// `GET /v1/uploads`.
#[utoipa::path(
    get,
    path = "/v1/uploads",
    tag = "uploads",
    operation_id = "list_uploads",
    summary = "List uploads",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "Every upload, deleted ones too", body = UploadList)),
)]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<UploadList>> {
    let uploads = state.db.list_uploads(&caller.account.id).await?;
    Ok(Json(UploadList {
        uploads: uploads.iter().map(|u| upload_view(&state, u)).collect(),
    }))
}

/// `GET /v1/uploads/{id}`.
#[utoipa::path(
    get,
    path = "/v1/uploads/{id}",
    tag = "uploads",
    operation_id = "get_upload",
    summary = "One upload",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path, description = "The upload's id")),
    responses((status = 200, description = "The upload", body = UploadView)),
)]
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<UploadView>> {
    let u = state
        .db
        .upload(&caller.account.id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("upload"))?;
    Ok(Json(upload_view(&state, &u)))
}

/// `DELETE /v1/uploads/{id}`: removes the bytes; the row stays as the
/// record jobs point at.
#[utoipa::path(
    delete,
    path = "/v1/uploads/{id}",
    tag = "uploads",
    operation_id = "delete_upload",
    summary = "Delete an upload's video",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path, description = "The upload's id")),
    responses((status = 204, description = "The video is deleted; the upload stays listed")),
)]
pub async fn delete_one(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<StatusCode> {
    let u = state
        .db
        .upload(&caller.account.id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("upload"))?;
    remove_video(&state, &u, now_ms()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes an upload's video from the store, then marks the upload deleted
/// at `now` (in that order: a failed store delete leaves it listed as
/// present, for the retention sweep to try again). The user's delete, the
/// worker's after processing and the sweep all go through here.
pub async fn remove_video(state: &AppState, u: &Upload, now: i64) -> ApiResult<()> {
    state.store.delete(&u.object_key).await?;
    state
        .db
        .mark_upload_deleted(&u.account_id, &u.id, now)
        .await?;
    Ok(())
}

/// `POST /v1/uploads/presign`: a link to PUT a large video straight into
/// storage (S3 or the local store), then `POST /v1/uploads/{id}/complete`.
#[utoipa::path(
    post,
    path = "/v1/uploads/presign",
    tag = "uploads",
    summary = "A presigned PUT link for a large upload",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, description = "Where to PUT the video", body = PresignTicket)),
)]
pub async fn presign(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<(StatusCode, Json<PresignTicket>)> {
    let id = uuid::Uuid::new_v4().to_string();
    let key = incoming_key(&caller.account.id, &id);
    let expires = std::time::Duration::from_secs(state.cfg.store.presign_default_secs);
    let put = state
        .store
        .presign_put(&key, expires, "application/octet-stream")
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(PresignTicket {
            complete: format!("/v1/uploads/{id}/complete"),
            upload_id: id,
            put,
            max_bytes: state.cfg.max_upload_bytes,
        }),
    ))
}

/// `POST /v1/uploads/{id}/complete {filename}`: validates what was PUT
/// through a presigned link and records it; a bad video is deleted.
///
/// The bytes validated here are the ones stored and priced: they are
/// copied from the link's key to the upload's own key, and their SHA-256
/// is recorded for the worker to check. Whatever the link writes later is
/// never read.
#[utoipa::path(
    post,
    path = "/v1/uploads/{id}/complete",
    tag = "uploads",
    summary = "Validate and record a presigned upload {filename}",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path, description = "The `upload_id` of the presign answer")),
    request_body(content = Option<CompleteUpload>, description = "May be empty"),
    responses(
        (status = 201, description = "Validated and recorded", body = UploadView),
        (status = 200, description = "Completed before: the upload as recorded", body = UploadView),
    ),
)]
pub async fn complete(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(ApiError::not_found("upload"));
    }
    if let Some(u) = state.db.upload(&caller.account.id, &id).await? {
        return Ok((StatusCode::OK, Json(upload_view(&state, &u))).into_response());
    }
    let body: CompleteUpload = if body.is_empty() {
        CompleteUpload::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("request.bad_json", e.to_string()))?
    };
    // The key is derived from the caller's own account: nobody completes
    // another account's object.
    let incoming = incoming_key(&caller.account.id, &id);
    let Some(meta) = state.store.head(&incoming).await? else {
        return Err(ApiError::not_found("upload"));
    };
    let limit = state.cfg.max_upload_bytes;
    if meta.size > limit {
        state.store.delete(&incoming).await?;
        return Err(too_large(limit));
    }
    let dir = tempfile::tempdir().map_err(ApiError::internal)?;
    let path = dir.path().join("input");
    let size = state.store.get_to_file(&incoming, &path).await?;
    // What arrived is gone from the link's key whatever the verdict.
    state.store.delete(&incoming).await?;
    if size > limit {
        return Err(too_large(limit));
    }
    let info = check_video(&state, &caller, &path).await?;
    let sha256 = super::file_sha256(&path)
        .await
        .map_err(ApiError::internal)?;
    let key = upload_key(&caller.account.id, &id);
    state
        .store
        .put_file(&key, &path, "application/octet-stream")
        .await?;
    let filename = clean_filename(body.filename.as_deref());
    let upload = new_upload(id, &caller, key, filename, size, &info, sha256);
    state.db.insert_upload(&upload).await?;
    Ok((StatusCode::CREATED, Json(upload_view(&state, &upload))).into_response())
}

/// Validates a spooled upload against the caller's tier: at most
/// `max_concurrent_validations` at once in this process, each within
/// `validation_timeout_secs` including the wait for its turn.
async fn check_video(state: &AppState, caller: &Caller, path: &Path) -> ApiResult<VideoInfo> {
    let tier = state.cfg.tier(&caller.account.tier);
    let mut limits = state.pipeline.limits.clone();
    limits.max_duration_s = limits.max_duration_s.min(tier.max_clip_s);
    limits.max_file_bytes = limits.max_file_bytes.min(state.cfg.max_upload_bytes);
    let budget = Duration::from_secs(state.cfg.validation_timeout_secs);
    let deadline = Instant::now() + budget;
    let busy = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "upload.busy",
            "too many uploads are being checked; try again shortly",
        )
    };
    let permit = tokio::time::timeout(budget, state.validations.clone().acquire_owned())
        .await
        .map_err(|_| busy())?
        .map_err(ApiError::internal)?;
    let probe_path = path.to_path_buf();
    let checked = tokio::task::spawn_blocking(move || {
        let out = validate_video(&probe_path, &limits, deadline);
        // Held until the decode really ends, timed out or not.
        drop(permit);
        out
    })
    .await
    .map_err(ApiError::internal)?;
    match checked {
        Ok(info) => Ok(info),
        Err(Invalid::Video(e)) => Err(e.into()),
        Err(Invalid::TimedOut) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "upload.validation_timeout",
            format!(
                "the video could not be checked within {} s",
                budget.as_secs()
            ),
        )),
    }
}
