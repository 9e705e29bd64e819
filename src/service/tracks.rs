//! Choosing the person after the fact: a finished job's tracks (everyone
//! the tracker followed, each with a thumbnail) and re-solve jobs, which
//! solve another person, rig or set of files from the job's stored
//! tracks.json for a small fee, without running a model.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;
use std::time::Duration;

use super::api_types::{JobTracks, JobView, ResolveRequest, TrackChoice};
use super::app::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Path};
use super::job::{JobOptions, JobState, OutputFile};
use super::jobs::{check_options, outputs_kept, own_job, submit};
use crate::pose::record::FILE_NAME as TRACKS_FILE;

/// The finished job's stored files, or 409 while it has none to choose from.
fn finished_outputs(job: &crate::db::jobs::Job) -> ApiResult<Vec<OutputFile>> {
    if job.state != JobState::Succeeded {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "job.not_finished",
            "only a finished job has tracks",
        ));
    }
    outputs_kept(job)?;
    let files: Vec<OutputFile> = serde_json::from_str(&job.outputs_json).unwrap_or_default();
    if !files.iter().any(|f| f.name == TRACKS_FILE) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "job.no_tracks",
            "this job kept no tracks (it ran before tracks were kept, or is a re-solve)",
        ));
    }
    Ok(files)
}

/// The worker's report of a job (null before it finished, or unreadable).
fn report(job: &crate::db::jobs::Job) -> Value {
    job.report_json
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or(Value::Null)
}

/// The job's options (without `resolve_of`) and the job that holds its
/// tracks: itself, or for a re-solve the job it re-solved.
async fn with_root(
    state: &AppState,
    caller: &Caller,
    job: crate::db::jobs::Job,
) -> ApiResult<(JobOptions, crate::db::jobs::Job)> {
    let mut options: JobOptions = serde_json::from_str(&job.options_json).map_err(|e| {
        tracing::error!(error = %e, job = %job.id, "unreadable stored options");
        ApiError::internal(e)
    })?;
    match options.resolve_of.take() {
        Some(root) => Ok((options, own_job(state, caller, &root).await?)),
        None => Ok((options, job)),
    }
}

/// `GET /v1/jobs/{id}/tracks`: everyone the job's tracker followed, the
/// one it solved marked, each with a thumbnail link.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/tracks",
    tag = "jobs",
    operation_id = "list_tracks",
    summary = "Everyone the finished job tracked, with thumbnail links",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path, description = "The job's id")),
    responses((status = 200, description = "The people to choose from", body = JobTracks)),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<JobTracks>> {
    let job = own_job(&state, &caller, &id).await?;
    let (_, root) = with_root(&state, &caller, job.clone()).await?;
    if job.state != JobState::Succeeded {
        finished_outputs(&job)?;
    }
    let files = finished_outputs(&root)?;
    let meta = report(&job);
    let followed = meta["followed_track"].as_u64();
    let expires = Duration::from_secs(state.cfg.store.presign_default_secs);
    // A track shorter than half a second is a passing misdetection, not
    // someone to solve.
    let shortest = (meta["input"]["fps"].as_f64().unwrap_or(30.0) / 2.0).max(5.0);
    let mut tracks = Vec::new();
    for t in meta["track_list"].as_array().into_iter().flatten() {
        let Some(tid) = t["id"].as_u64() else {
            continue;
        };
        let followed_one = Some(tid) == followed;
        if !followed_one && (t["frames"].as_f64().unwrap_or(0.0)) < shortest {
            continue;
        }
        let thumbnail = thumbnail_link(&state, &files, tid, expires).await?;
        tracks.push(TrackChoice {
            id: tid,
            first_frame: t["first_frame"].clone(),
            last_frame: t["last_frame"].clone(),
            frames: t["frames"].clone(),
            followed: followed_one,
            thumbnail_url: thumbnail,
        });
    }
    Ok(Json(JobTracks {
        job_id: job.id,
        tracks,
    }))
}

/// A short-lived link to track `tid`'s picture among `files`, if it has one.
async fn thumbnail_link(
    state: &AppState,
    files: &[OutputFile],
    tid: u64,
    expires: Duration,
) -> ApiResult<Option<String>> {
    let name = format!("track-{tid}.jpg");
    match files.iter().find(|f| f.name == name) {
        Some(f) => Ok(Some(
            state.store.presign_get(&f.key, expires, None).await?.url,
        )),
        None => Ok(None),
    }
}

/// `GET /v1/jobs/{id}/thumbnail`: redirects to the picture of the person
/// the job solved, so the job list can show whom each job is about (an
/// `<img>` the browser loads with the session cookie). 404 until the job
/// has succeeded, and for jobs whose pictures are gone.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/thumbnail",
    tag = "jobs",
    summary = "A picture of the person the finished job solved",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path, description = "The job's id")),
    responses((
        status = 307,
        description = "Redirect to a short-lived link to the JPEG (404 \
                       `job.no_thumbnail` while there is none)",
        headers(("location" = String)),
    )),
)]
pub async fn thumbnail(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let none = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "job.no_thumbnail",
            "this job has no picture",
        )
    };
    let job = own_job(&state, &caller, &id).await?;
    if job.state != JobState::Succeeded {
        return Err(none());
    }
    let followed = report(&job)["followed_track"].as_u64().ok_or_else(none)?;
    let (_, root) = with_root(&state, &caller, job).await?;
    let files = finished_outputs(&root).map_err(|_| none())?;
    let expires = Duration::from_secs(state.cfg.store.presign_default_secs);
    let link = thumbnail_link(&state, &files, followed, expires)
        .await?
        .ok_or_else(none)?;
    Ok(Redirect::temporary(&link).into_response())
}

/// `POST /v1/jobs/{id}/resolve {person, rig, outputs}`: a new job solving
/// the finished job's tracks again, for `service.resolve_credits`.
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/resolve",
    tag = "jobs",
    summary = "Solve the job's tracks again {person, rig, outputs}, no model runs; \
               Idempotency-Key header",
    security(("bearer" = []), ("cookie" = [])),
    params(
        ("id" = String, Path, description = "The finished job's id"),
        (
            "idempotency-key" = Option<String>,
            Header,
            description = "A retry with the same key returns the first job",
        ),
    ),
    request_body = ResolveRequest,
    responses(
        (status = 201, description = "The re-solve job, queued", body = JobView),
        (
            status = 200,
            description = "The job an earlier request with this Idempotency-Key created",
            body = JobView,
        ),
    ),
)]
pub async fn resolve(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let req: ResolveRequest = serde_json::from_value(body)
        .map_err(|e| ApiError::bad_request("job.bad_options", e.to_string()))?;
    let job = own_job(&state, &caller, &id).await?;
    // Re-solving a re-solve starts from its choices and the original tracks.
    let (mut options, parent) = with_root(&state, &caller, job).await?;
    finished_outputs(&parent)?;
    if let Some(p) = req.person {
        options.person = p;
    }
    if let Some(r) = req.rig {
        options.rig = r;
    }
    if let Some(o) = req.outputs {
        options.outputs = o;
    }
    check_options(&options)?;
    options.resolve_of = Some(parent.id.clone());
    submit(
        &state,
        &caller,
        &headers,
        &parent.upload_id,
        &options,
        state.cfg.resolve_credits,
    )
    .await
}
