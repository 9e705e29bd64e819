//! Jobs over HTTP: create (reserving credits; `Idempotency-Key` makes a
//! retried request return the first job), list (paged), get, cancel,
//! delete, outputs as presigned links and progress as Server-Sent Events.

use std::convert::Infallible;
use std::time::Duration;

use super::extract::{Json, Path, Query};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde_json::Value;

use super::api_types::{
    CreateJobRequest, ErrorBody, JobList, JobOutputs, JobView, ListQuery, OutputLink, OutputsQuery,
};
use super::app::AppState;
use super::auth::Caller;
use super::credits::price;
use super::error::{ApiError, ApiResult};
pub use super::job::{job_prefix, JobOptions, OutputFile};
use super::sha256_hex;
use crate::db::jobs::{CancelOutcome, CreateOutcome, Job, JobState, NewJob};
use crate::db::now_ms;

/// A job request: `upload_id` plus the [`JobOptions`] fields.
#[derive(Debug)]
pub struct CreateJob {
    pub upload_id: String,
    pub options: JobOptions,
}

impl CreateJob {
    /// Parses the request body. Not `#[serde(flatten)]`: flatten silently
    /// ignores unknown fields, so a typo (`"output"`) would be charged for
    /// and do nothing. `upload_id` is taken out and the rest must be
    /// exactly the options.
    pub fn parse(body: Value) -> ApiResult<CreateJob> {
        let Value::Object(mut fields) = body else {
            return Err(ApiError::bad_request(
                "job.bad_options",
                "the body must be a JSON object",
            ));
        };
        let upload_id = match fields.remove("upload_id") {
            Some(Value::String(id)) => id,
            _ => {
                return Err(ApiError::bad_request(
                    "job.bad_options",
                    "upload_id (a string) is required",
                ))
            }
        };
        let options = serde_json::from_value(Value::Object(fields))
            .map_err(|e| ApiError::bad_request("job.bad_options", e.to_string()))?;
        Ok(CreateJob { upload_id, options })
    }
}

pub(super) fn check_options(o: &JobOptions) -> ApiResult<()> {
    let short_word = |s: &str| {
        s.len() <= 32
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if o.outputs.len() > 16 || !o.outputs.iter().all(|s| !s.is_empty() && short_word(s)) {
        return Err(ApiError::bad_request(
            "job.bad_options",
            "outputs must be format names",
        ));
    }
    if !short_word(&o.rig) {
        return Err(ApiError::bad_request(
            "job.bad_options",
            "rig must be a rig name",
        ));
    }
    if let Err(e) = o.export_options() {
        return Err(ApiError::bad_request(e.code(), e.to_string()));
    }
    if o.resolve_of.is_some() {
        return Err(ApiError::bad_request(
            "job.bad_options",
            "resolve_of is set by POST /v1/jobs/{id}/resolve",
        ));
    }
    if o.person.parse::<crate::pipeline::PersonChoice>().is_err() {
        return Err(ApiError::bad_request(
            "job.bad_options",
            "person must be `auto` or a track id",
        ));
    }
    Ok(())
}

/// `POST /v1/jobs {upload_id, outputs, rig, person, keep_upload, quality}`.
#[utoipa::path(
    post,
    path = "/v1/jobs",
    tag = "jobs",
    operation_id = "create_job",
    summary = "Create a job {upload_id, outputs, rig, person, keep_upload, quality}; \
               Idempotency-Key header",
    security(("bearer" = []), ("cookie" = [])),
    params((
        "idempotency-key" = Option<String>,
        Header,
        description = "A retry with the same key returns the first job",
    )),
    request_body = CreateJobRequest,
    responses(
        (status = 201, description = "Queued; the price is reserved", body = JobView),
        (
            status = 200,
            description = "The job an earlier request with this Idempotency-Key created",
            body = JobView,
        ),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let mut body = CreateJob::parse(body)?;
    check_options(&body.options)?;
    let quality = *body
        .options
        .quality
        .get_or_insert(state.pipeline.pose.quality);
    let account = &caller.account;
    let upload = state
        .db
        .upload(&account.id, &body.upload_id)
        .await?
        .ok_or_else(|| ApiError::not_found("upload"))?;
    if upload.deleted_ms.is_some() {
        return Err(ApiError::new(
            StatusCode::GONE,
            "upload.deleted",
            "the upload's video has been deleted",
        ));
    }
    let tier = state.cfg.tier(&account.tier);
    if upload.duration_s > tier.max_clip_s {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "video.too_long",
            format!(
                "the video is {:.1} s long; your plan allows {:.0} s",
                upload.duration_s, tier.max_clip_s
            ),
        ));
    }
    let price = price(&state.cfg, upload.duration_s, quality);
    submit(&state, &caller, &headers, &upload.id, &body.options, price).await
}

/// Queues a checked job, reserving `price` credits; a repeated
/// `Idempotency-Key` returns the first job.
pub(super) async fn submit(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    upload_id: &str,
    options: &JobOptions,
    price: i64,
) -> ApiResult<Response> {
    let idem = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if idem.as_ref().is_some_and(|k| k.is_empty() || k.len() > 200) {
        return Err(ApiError::bad_request(
            "job.bad_idempotency_key",
            "Idempotency-Key must be 1 to 200 characters",
        ));
    }
    let account = &caller.account;
    let tier = state.cfg.tier(&account.tier);
    let options_json = serde_json::to_string(options).map_err(ApiError::internal)?;
    let new = NewJob {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: account.id.clone(),
        upload_id: upload_id.to_string(),
        idempotency_key: idem,
        request_hash: sha256_hex(&format!("{upload_id}\n{options_json}")),
        options_json,
        price,
        priority: tier.priority,
        max_running: tier.max_running,
        max_attempts: state.cfg.max_attempts,
        now: now_ms(),
    };
    match state.db.create_job(&new).await? {
        CreateOutcome::Created(job) => {
            tracing::info!(job = %job.id, account = %account.id, price = job.price, "job accepted");
            Ok((StatusCode::CREATED, Json(JobView::from(&job))).into_response())
        }
        CreateOutcome::Existing(job) => {
            Ok((StatusCode::OK, Json(JobView::from(&job))).into_response())
        }
        CreateOutcome::KeyReused => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "job.idempotency_key_reused",
            "this Idempotency-Key was used with a different request",
        )),
        CreateOutcome::Insufficient => Err(ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            "credits.insufficient",
            format!(
                "this job costs {} credits; not enough are available",
                new.price
            ),
        )),
    }
}

/// `GET /v1/jobs?limit=&cursor=`: newest first.
#[utoipa::path(
    get,
    path = "/v1/jobs",
    tag = "jobs",
    operation_id = "list_jobs",
    summary = "List jobs (limit, cursor)",
    security(("bearer" = []), ("cookie" = [])),
    params(ListQuery),
    responses((status = 200, description = "One page of jobs", body = JobList)),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<JobList>> {
    let limit = q.limit.unwrap_or(20).clamp(1, 100);
    let after = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => {
            let (ms, id) = c
                .split_once('_')
                .and_then(|(ms, id)| Some((ms.parse::<i64>().ok()?, id.to_string())))
                .ok_or_else(|| ApiError::bad_request("job.bad_cursor", "unknown cursor"))?;
            Some((ms, id))
        }
    };
    let jobs = state.db.list_jobs(&caller.account.id, after, limit).await?;
    let next = (jobs.len() as i64 == limit)
        .then(|| jobs.last().map(|j| format!("{}_{}", j.created_ms, j.id)))
        .flatten();
    Ok(Json(JobList {
        jobs: jobs.iter().map(JobView::from).collect(),
        next_cursor: next,
    }))
}

pub(super) async fn own_job(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Job> {
    state
        .db
        .job(&caller.account.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))
}

/// 410 once retention has deleted the job's outputs.
pub(super) fn outputs_kept(job: &Job) -> ApiResult<()> {
    match job.outputs_deleted_ms {
        None => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::GONE,
            "job.outputs_deleted",
            "the job's outputs were deleted by the account's retention settings",
        )),
    }
}

/// `GET /v1/jobs/{id}`.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}",
    tag = "jobs",
    operation_id = "get_job",
    summary = "One job with its metadata",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path, description = "The job's id")),
    responses((status = 200, description = "The job", body = JobView)),
)]
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<JobView>> {
    Ok(Json(JobView::from(&own_job(&state, &caller, &id).await?)))
}

/// `POST /v1/jobs/{id}/cancel`: 200 when canceled now, 202 when the
/// running worker was asked to stop.
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/cancel",
    tag = "jobs",
    operation_id = "cancel_job",
    summary = "Cancel a job",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "Canceled; the reserved credits are released", body = JobView),
        (status = 202, description = "The running worker was asked to stop", body = JobView),
    ),
)]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let outcome = state
        .db
        .cancel_job(&caller.account.id, &id, now_ms())
        .await?;
    let status = match outcome {
        CancelOutcome::Canceled => StatusCode::OK,
        CancelOutcome::Requested => StatusCode::ACCEPTED,
        CancelOutcome::AlreadyFinal => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "job.finished",
                "the job has already finished",
            ))
        }
        CancelOutcome::NotFound => return Err(ApiError::not_found("job")),
    };
    let job = own_job(&state, &caller, &id).await?;
    Ok((status, Json(JobView::from(&job))).into_response())
}

/// `DELETE /v1/jobs/{id}`: a queued job is canceled first; a running one
/// must be canceled and finish before it can be deleted.
#[utoipa::path(
    delete,
    path = "/v1/jobs/{id}",
    tag = "jobs",
    operation_id = "delete_job",
    summary = "Delete a job and its outputs",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path, description = "The job's id")),
    responses((status = 204, description = "Deleted")),
)]
pub async fn delete_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let job = own_job(&state, &caller, &id).await?;
    let running = || {
        ApiError::new(
            StatusCode::CONFLICT,
            "job.running",
            "the job is running; cancel it and wait for it to stop",
        )
    };
    if job.state == JobState::Running {
        return Err(running());
    }
    if job.state == JobState::Queued {
        state
            .db
            .cancel_job(&caller.account.id, &id, now_ms())
            .await?;
    }
    if !state.db.delete_job(&caller.account.id, &id).await? {
        return Err(running());
    }
    state
        .store
        .delete_prefix(&job_prefix(&caller.account.id, &id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/jobs/{id}/outputs`: each output with a presigned download link.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/outputs",
    tag = "jobs",
    summary = "Outputs with presigned download links (expires_secs)",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path, description = "The job's id"), OutputsQuery),
    responses(
        (status = 200, description = "The job's files with links", body = JobOutputs),
        (status = 410, description = "Deleted by retention (job.outputs_deleted)", body = ErrorBody),
    ),
)]
pub async fn outputs(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<OutputsQuery>,
) -> ApiResult<Json<JobOutputs>> {
    let job = own_job(&state, &caller, &id).await?;
    outputs_kept(&job)?;
    let files: Vec<OutputFile> = serde_json::from_str(&job.outputs_json).unwrap_or_default();
    let expires = Duration::from_secs(
        q.expires_secs
            .unwrap_or(state.cfg.store.presign_default_secs),
    );
    let mut items = Vec::new();
    for f in &files {
        let link = state
            .store
            .presign_get(&f.key, expires, Some(&f.name))
            .await?;
        items.push(OutputLink {
            name: f.name.clone(),
            size: f.size,
            content_type: f.content_type.clone(),
            url: link.url,
            expires_unix: link.expires_unix,
        });
    }
    Ok(Json(JobOutputs {
        job_id: job.id,
        state: job.state,
        outputs: items,
    }))
}

/// How often an event stream looks at its job without wake-ups.
const SSE_POLL_MS: u64 = 250;

/// `GET /v1/jobs/{id}/events`: `progress` events while the job changes,
/// then one `done` event with the final job, then the stream ends.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/events",
    tag = "jobs",
    summary = "Progress as Server-Sent Events (progress, done)",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path, description = "The job's id")),
    responses((
        status = 200,
        description = "`progress` events while the job changes and one `done` at the end, each \
                       with the job (JobView) as its data; `gone` if the job is deleted",
        content_type = "text/event-stream",
        body = String,
    )),
)]
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let first = own_job(&state, &caller, &id).await?;
    let account_id = caller.account.id.clone();
    struct Poll {
        state: AppState,
        wake: tokio::sync::broadcast::Receiver<String>,
        account_id: String,
        id: String,
        last: Option<(JobState, String, i64)>,
        pending: Option<Job>,
        ended: bool,
    }
    let start = Poll {
        wake: state.wake.subscribe(),
        state,
        account_id,
        id,
        last: None,
        pending: Some(first),
        ended: false,
    };
    let stream = futures_util::stream::unfold(start, |mut p| async move {
        loop {
            if p.ended {
                return None;
            }
            let job = match p.pending.take() {
                Some(j) => Some(j),
                None => {
                    let idle = super::wake::fallback(&p.state, SSE_POLL_MS);
                    p.state.wake.wait(&mut p.wake, Some(&p.id), idle).await;
                    match p.state.db.job(&p.account_id, &p.id).await {
                        Ok(j) => j,
                        Err(e) => {
                            tracing::warn!(error = %e, "progress poll failed");
                            continue;
                        }
                    }
                }
            };
            let Some(job) = job else {
                // Deleted while watched.
                p.ended = true;
                let ev = Event::default().event("gone").data("{}");
                return Some((Ok(ev), p));
            };
            let key = (job.state, job.stage.clone(), job.frames_done);
            if p.last.as_ref() == Some(&key) {
                continue;
            }
            p.last = Some(key);
            let data = serde_json::to_string(&JobView::from(&job)).unwrap_or_default();
            if job.is_final() {
                p.ended = true;
                return Some((Ok(Event::default().event("done").data(data)), p));
            }
            return Some((Ok(Event::default().event("progress").data(data)), p));
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
