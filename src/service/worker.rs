//! A worker: claim a job with a lease, run the capture pipeline on a
//! blocking thread while a heartbeat extends the lease and relays progress
//! and cancel requests, store the outputs, then commit the outcome and the
//! credit movement in one transaction guarded by the lease.
//!
//! A no-retain account's upload is deleted from the store as soon as the
//! pipeline reports that it has decoded the video, while the later stages
//! still run; the job's outcome waits for that deletion.
//!
//! Every loop also requeues jobs whose lease ran out, so a crashed worker's
//! job is picked up by any surviving one. On shutdown a running job is
//! stopped and handed back to the queue without counting the attempt.

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tracing::Instrument;

use super::app::AppState;
use super::job::{content_type, job_prefix, JobOptions, OutputFile};
use super::retention::no_retain_expiry;
use super::uploads::remove_video;
use crate::config::Config;
use crate::db::jobs::{Finish, Job};
use crate::db::{now_ms, DbError};
use crate::pipeline::{self, PersonChoice, ProcessOptions, Progress, Report};
use crate::pose::record::FILE_NAME as TRACKS_FILE;
use crate::ErrorKind;

/// Runs until `stop` turns true.
pub async fn run(state: AppState, n: usize, mut stop: watch::Receiver<bool>) {
    let owner = format!(
        "{}-{n}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    tracing::info!(%owner, "worker started");
    let lease_ms = state.cfg.lease_secs * 1000;
    let mut wake = state.wake.subscribe();
    while !*stop.borrow() {
        let now = now_ms();
        match state.db.reap_stale(now).await {
            Ok((0, 0)) => {}
            Ok((requeued, ended)) => tracing::warn!(requeued, ended, "stale leases reaped"),
            Err(e) => tracing::error!(error = %e, "reaping stale leases failed"),
        }
        // Segments of jobs already running come before new jobs.
        if let Some(seg) = claim_segment(&state, &owner, now + lease_ms).await {
            super::split::run_segment(&state, &owner, seg, None, &stop).await;
            continue;
        }
        match state.db.claim_job(&owner, now, now + lease_ms).await {
            Ok(Some(job)) => {
                let span = tracing::info_span!("job", job = %job.id, attempt = job.attempts);
                run_job(&state, &owner, job, &stop).instrument(span).await;
            }
            Ok(None) => {
                let idle = super::wake::fallback(&state, state.cfg.poll_ms);
                tokio::select! {
                    _ = state.wake.wait(&mut wake, None, idle) => {}
                    _ = stop.changed() => {}
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "claiming a job failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    tracing::info!(%owner, "worker stopped");
}

/// Requeues segments whose worker died, then claims the next segment.
async fn claim_segment(
    state: &AppState,
    owner: &str,
    lease_until: i64,
) -> Option<crate::db::segments::Segment> {
    match state.db.reap_stale_segments(now_ms()).await {
        Ok((0, 0)) => {}
        Ok((requeued, failed)) => tracing::warn!(requeued, failed, "stale segment leases reaped"),
        Err(e) => tracing::error!(error = %e, "reaping stale segment leases failed"),
    }
    match state.db.claim_segment(owner, lease_until, None).await {
        Ok(seg) => seg,
        Err(e) => {
            tracing::error!(error = %e, "claiming a segment failed");
            None
        }
    }
}

/// How the heartbeat ended the run early.
#[derive(Default)]
pub(super) struct Flags {
    pub(super) cancel: AtomicBool,
    pub(super) lease_lost: AtomicBool,
    pub(super) shutdown: AtomicBool,
}

async fn run_job(state: &AppState, owner: &str, job: Job, stop: &watch::Receiver<bool>) {
    tracing::info!("job claimed");
    // Read when the job starts, so a switch to no-retain made while the
    // job waited in the queue still applies to it.
    let no_retain = match state.db.account(&job.account_id).await {
        Ok(a) => a.is_some_and(|a| a.retention.no_retain),
        Err(e) => {
            tracing::error!(error = %e, "loading the account's retention failed");
            false
        }
    };
    let flags = Arc::new(Flags::default());
    let progress = Arc::new(Mutex::new(("starting", 0u64, 0u64)));
    let heartbeat = tokio::spawn(heartbeat(
        state.clone(),
        owner.to_string(),
        job.clone(),
        flags.clone(),
        progress.clone(),
        stop.clone(),
    ));
    let result = execute(state, owner, &job, no_retain, &flags, &progress, stop).await;
    heartbeat.abort();

    if flags.lease_lost.load(Ordering::SeqCst) {
        tracing::warn!("lease lost; another worker owns the job now");
        return;
    }
    if flags.shutdown.load(Ordering::SeqCst) {
        match state.db.hand_back(&job, owner).await {
            Ok(true) => tracing::info!("job handed back to the queue"),
            Ok(false) => tracing::warn!("could not hand the job back: lease gone"),
            Err(e) => tracing::error!(error = %e, "handing the job back failed"),
        }
        return;
    }
    let mut finish = match result {
        Ok(done) => done,
        Err(f) => f,
    };
    let now = now_ms();
    if let Finish::Succeeded {
        outputs_expire_ms, ..
    } = &mut finish
    {
        if no_retain {
            *outputs_expire_ms = Some(no_retain_expiry(&state.cfg, now));
        }
    }
    match state.db.finish_job(&job, owner, &finish, now).await {
        Ok(true) => {
            let outcome = match &finish {
                Finish::Succeeded { .. } => "succeeded",
                Finish::Failed { .. } => "failed",
                Finish::Canceled => "canceled",
            };
            state.metrics.job_finished(outcome);
            tracing::info!(outcome, "job finished");
            super::notify::job_finished(state, &job, &finish).await;
        }
        Ok(false) => tracing::warn!("job outcome discarded: lease no longer ours"),
        Err(e) => tracing::error!(error = %e, "recording the job outcome failed"),
    }
    // Only options that were read say to delete: an unreadable row must
    // never cost the user their video. A no-retain account's upload is
    // normally gone already (right after decoding); this catches a job
    // that ended before its decoding did.
    let delete_upload = match serde_json::from_str::<JobOptions>(&job.options_json) {
        Ok(opts) => !opts.keep_upload || no_retain,
        Err(e) => {
            tracing::error!(error = %e, "unreadable job options; keeping the upload");
            false
        }
    };
    if delete_upload {
        delete_upload_of(state, &job).await;
    }
}

/// Deletes the job's upload from the store and marks it deleted; a
/// failure is logged (the upload is then still listed as present, and the
/// retention sweep deletes it later).
async fn delete_upload_of(state: &AppState, job: &Job) {
    let upload = match state.db.upload(&job.account_id, &job.upload_id).await {
        Ok(Some(u)) if u.deleted_ms.is_none() => u,
        Ok(_) => return,
        Err(e) => {
            tracing::error!(error = %e, "loading the upload to delete failed");
            return;
        }
    };
    match remove_video(state, &upload, now_ms()).await {
        Ok(()) => tracing::info!(upload = %upload.id, "upload deleted after processing"),
        Err(e) => tracing::error!(code = e.code, "deleting the processed upload failed"),
    }
}

/// What happens once the pipeline has decoded the whole video: a
/// no-retain job's upload is deleted (the store's object and this
/// worker's own copy), then the `after_decode` hook runs. Nothing happens
/// when the pipeline ended before decoding did (`decoded` never fires).
async fn after_decode(
    state: &AppState,
    job: &Job,
    no_retain: bool,
    local_copy: &Path,
    decoded: tokio::sync::oneshot::Receiver<()>,
) {
    if decoded.await.is_err() {
        return;
    }
    if no_retain {
        if let Err(e) = tokio::fs::remove_file(local_copy).await {
            tracing::warn!(error = %e, "removing the worker's copy of the upload failed");
        }
        delete_upload_of(state, job).await;
    }
    state.hooks.after_decode(&job.id).await;
}

/// Extends the lease and records progress until aborted; turns a cancel
/// request, a lost lease or shutdown into the pipeline's cancel flag.
async fn heartbeat(
    state: AppState,
    owner: String,
    job: Job,
    flags: Arc<Flags>,
    progress: Arc<Mutex<(&'static str, u64, u64)>>,
    stop: watch::Receiver<bool>,
) {
    let (db, id, owner) = (&state.db, job.id.as_str(), owner.as_str());
    keep_leased(&state, &flags, stop, "heartbeat", |lease_until| {
        let (stage, done, total) = *progress.lock().unwrap_or_else(|p| p.into_inner());
        let (done, total) = (done as i64, total as i64);
        db.heartbeat(id, owner, job.attempts, lease_until, stage, done, total)
    })
    .await
}

/// Beats until aborted: `beat` extends a lease to the moment it is given
/// and answers whether a stop was asked, or `None` once the lease is no
/// longer ours. A stop, a lost lease or shutdown raises the cancel flag.
pub(super) async fn keep_leased<Beat, Answer>(
    state: &AppState,
    flags: &Flags,
    mut stop: watch::Receiver<bool>,
    what: &str,
    mut beat: Beat,
) where
    Beat: FnMut(i64) -> Answer,
    Answer: Future<Output = Result<Option<bool>, DbError>>,
{
    let lease_ms = state.cfg.lease_secs * 1000;
    // Often enough for live progress, and well inside the lease.
    let every = Duration::from_millis((lease_ms as u64 / 3).clamp(200, 1000));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            flags.shutdown.store(true, Ordering::SeqCst);
            flags.cancel.store(true, Ordering::SeqCst);
        }
        match beat(now_ms() + lease_ms).await {
            Ok(Some(false)) => {}
            Ok(Some(true)) => flags.cancel.store(true, Ordering::SeqCst),
            Ok(None) => {
                flags.lease_lost.store(true, Ordering::SeqCst);
                flags.cancel.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => tracing::warn!(error = %e, "{what} failed"),
        }
    }
}

pub(super) fn failed(code: &str, message: impl Into<String>) -> Finish {
    Finish::Failed {
        code: code.into(),
        message: message.into(),
    }
}

/// Fetches the input, runs the pipeline (or, for a long clip, its
/// segments across the workers) and stores the outputs.
async fn execute(
    state: &AppState,
    owner: &str,
    job: &Job,
    no_retain: bool,
    flags: &Arc<Flags>,
    progress: &Arc<Mutex<(&'static str, u64, u64)>>,
    stop: &watch::Receiver<bool>,
) -> Result<Finish, Finish> {
    let opts: JobOptions =
        serde_json::from_str(&job.options_json).map_err(|e| internal("bad stored options", &e))?;
    let dir = tempfile::tempdir().map_err(|e| internal("temp dir", &e))?;
    let input = match &opts.resolve_of {
        Some(parent) => fetch_tracks(state, job, parent, dir.path()).await?,
        None => fetch_upload(state, job, dir.path()).await?,
    };
    let out_dir = dir.path().join("out");
    let spans = match opts.resolve_of {
        Some(_) => None,
        None => super::split::plan(state, &input).await,
    };
    let report = match spans {
        // A no-retain upload stays until the job ends (run_job deletes
        // it): a retried segment may need it again.
        Some(spans) => {
            super::split::coordinate(
                state,
                job,
                owner,
                &input,
                dir.path(),
                spans,
                &opts,
                flags,
                progress,
                stop,
            )
            .await?
        }
        None => {
            run_whole(
                state, job, no_retain, input, &out_dir, &opts, flags, progress,
            )
            .await?
        }
    };
    store_outputs(state, job, report).await
}

/// The unsplit run: the pipeline on this worker, the no-retain upload
/// deleted once decoded.
#[allow(clippy::too_many_arguments)]
async fn run_whole(
    state: &AppState,
    job: &Job,
    no_retain: bool,
    input: std::path::PathBuf,
    out_dir: &Path,
    opts: &JobOptions,
    flags: &Arc<Flags>,
    progress: &Arc<Mutex<(&'static str, u64, u64)>>,
) -> Result<Report, Finish> {
    let opts = opts.clone();
    let config = state.pipeline.clone();
    let run_flags = flags.clone();
    let run_progress = progress.clone();
    let out2 = out_dir.to_path_buf();
    let local_copy = input.clone();
    let (decoded_tx, decoded) = tokio::sync::oneshot::channel();
    let pipeline = tokio::task::spawn_blocking(move || {
        let mut decoded_tx = Some(decoded_tx);
        let mut on_progress = |p: &Progress| {
            if p.stage == pipeline::DECODED {
                if let Some(tx) = decoded_tx.take() {
                    let _ = tx.send(());
                }
            }
            *run_progress.lock().unwrap_or_else(|e| e.into_inner()) =
                (p.stage, p.frames_done, p.frames_total);
        };
        run_pipeline(
            &input,
            &out2,
            &config,
            &opts,
            &mut on_progress,
            &run_flags.cancel,
        )
    });
    // The job cannot end before what follows decoding has run: a
    // no-retain upload is gone before the job reports its outcome.
    let (result, ()) = tokio::join!(
        pipeline,
        after_decode(state, job, no_retain, &local_copy, decoded)
    );
    let result = result.map_err(|e| internal("the pipeline thread panicked", &e))?;
    result.map_err(|e| pipeline_failure(&e))
}

/// Stores a finished run's files under the job's prefix and makes the
/// job's report.
async fn store_outputs(state: &AppState, job: &Job, report: Report) -> Result<Finish, Finish> {
    let prefix = job_prefix(&job.account_id, &job.id);
    let mut files = Vec::new();
    for path in &report.outputs {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let key = format!("{prefix}outputs/{name}");
        let content_type = content_type(name);
        let size = state
            .store
            .put_file(&key, path, content_type)
            .await
            .map_err(|e| internal("storing an output failed", &e))?;
        files.push(OutputFile {
            name: name.to_string(),
            key,
            size,
            content_type: content_type.to_string(),
        });
    }
    let metadata = serde_json::json!({
        "input": {
            "duration_s": report.video.duration_s,
            "size_bytes": report.video.file_bytes,
            "fps": report.video.fps,
            "width": report.video.upright_width,
            "height": report.video.upright_height,
            "codec": report.video.codec,
        },
        "frames": report.frames,
        "corrupt_frames": report.corrupt_frames,
        // Model runs (a split job's are its segments'; a re-solve runs none).
        "detector_runs": report.detector_runs,
        "landmark_runs": report.landmark_runs,
        "frames_with_pose": report.frames_with_pose,
        "frames_filled": report.frames_filled,
        "quality": report.quality,
        // The accuracy preset the job ran with (its landmark model).
        "preset": report.preset,
        "followed_track": report.followed_track,
        "tracks": report.tracks.len(),
        // Every person found, for choosing another one (GET …/tracks).
        "track_list": report.tracks,
        "timings": report.timings,
        "total_seconds": report.total_seconds,
    });
    Ok(Finish::Succeeded {
        report_json: metadata.to_string(),
        outputs_json: serde_json::to_string(&files).unwrap_or_else(|_| "[]".into()),
        // Set when the job ends (run_job), from the account's retention.
        outputs_expire_ms: None,
    })
}

/// A job's failure on our side: logged in full, the client told only that.
pub(super) fn internal(what: &str, e: &dyn std::fmt::Display) -> Finish {
    tracing::error!(error = %e, "{what}");
    failed(
        "job.internal",
        "the job failed on our side; it has been logged",
    )
}

/// The job's video, fetched into `dir` and checked against the digest it
/// was priced on.
pub(super) async fn fetch_upload(
    state: &AppState,
    job: &Job,
    dir: &Path,
) -> Result<std::path::PathBuf, Finish> {
    let upload = match state.db.upload(&job.account_id, &job.upload_id).await {
        Ok(Some(u)) if u.deleted_ms.is_none() => u,
        Ok(_) => return Err(failed("upload.deleted", "the upload's video was deleted")),
        Err(e) => return Err(internal("loading the upload failed", &e)),
    };
    let input = dir.join("input");
    let size = state
        .store
        .get_to_file(&upload.object_key, &input)
        .await
        .map_err(|e| internal("fetching the upload failed", &e))?;
    // The job was priced on these bytes; anything else is not processed.
    if let Some(pinned) = &upload.sha256 {
        let digest = super::file_sha256(&input)
            .await
            .map_err(|e| internal("hashing the upload failed", &e))?;
        if size != upload.size_bytes as u64 || digest != *pinned {
            tracing::warn!(
                size,
                expected = upload.size_bytes,
                "upload changed after pricing"
            );
            return Err(failed(
                "upload.changed",
                "the upload's video changed after it was priced",
            ));
        }
    }
    Ok(input)
}

/// A re-solve job's input: the tracks.json its parent job (same account)
/// stored, fetched into `dir`.
async fn fetch_tracks(
    state: &AppState,
    job: &Job,
    parent: &str,
    dir: &Path,
) -> Result<std::path::PathBuf, Finish> {
    let gone = || {
        failed(
            "job.tracks_gone",
            "the job to re-solve and its tracks were deleted",
        )
    };
    let parent = match state.db.job(&job.account_id, parent).await {
        Ok(Some(p)) if p.outputs_deleted_ms.is_none() => p,
        Ok(_) => return Err(gone()),
        Err(e) => return Err(internal("loading the parent job failed", &e)),
    };
    let files: Vec<OutputFile> = serde_json::from_str(&parent.outputs_json).unwrap_or_default();
    let Some(tracks) = files.iter().find(|f| f.name == TRACKS_FILE) else {
        return Err(gone());
    };
    let input = dir.join(TRACKS_FILE);
    state
        .store
        .get_to_file(&tracks.key, &input)
        .await
        .map_err(|e| internal("fetching the tracks failed", &e))?;
    Ok(input)
}

/// How a pipeline error ends a job: the client sees the input's fault with
/// its code and message, anything else only as `job.internal`.
pub fn pipeline_failure(e: &crate::Error) -> Finish {
    match e.kind() {
        ErrorKind::Canceled => Finish::Canceled,
        ErrorKind::Input => {
            tracing::info!(code = e.code(), error = %e, "job failed on its input");
            failed(e.code(), e.public_message())
        }
        ErrorKind::Internal => {
            tracing::error!(code = e.code(), error = %e, "the pipeline failed");
            failed("job.internal", e.public_message())
        }
    }
}

/// What the pipeline is asked for a job: its person, files and rig.
pub(super) fn process_options(options: &JobOptions) -> Result<ProcessOptions, crate::Error> {
    Ok(ProcessOptions {
        person: options.person.parse().unwrap_or(PersonChoice::Auto),
        height_m: None,
        export: options.export_options()?,
        // Every person's landmarks stay with the job: another person can
        // be solved later without the models (a re-solve job).
        keep_tracks: true,
    })
}

/// The one place the service calls the pipeline, with the job's person,
/// outputs and rig (checked when the job was created).
pub fn run_pipeline(
    input: &Path,
    out_dir: &Path,
    config: &Config,
    options: &JobOptions,
    progress: &mut dyn FnMut(&Progress),
    cancel: &AtomicBool,
) -> Result<Report, crate::Error> {
    let opts = process_options(options)?;
    if options.resolve_of.is_some() {
        // No model runs: the preset is the one the tracks were made with.
        return pipeline::resolve(input, out_dir, config, &opts, progress);
    }
    let mut config = config.clone();
    if let Some(q) = options.quality {
        config.pose.quality = q;
    }
    pipeline::run(input, out_dir, &config, &opts, progress, cancel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::PipelineError;

    /// A failure of ours reaches the client as `job.internal` without the
    /// temporary path it names; the input's fault keeps code and message.
    #[test]
    fn pipeline_failures_keep_paths_out_of_client_messages() {
        let ours = crate::Error::from(PipelineError::Output {
            path: "/tmp/.tmpQx1/out".into(),
            reason: "permission denied".into(),
        });
        match pipeline_failure(&ours) {
            Finish::Failed { code, message } => {
                assert_eq!(code, "job.internal");
                assert!(!message.contains("/tmp"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let theirs = crate::Error::from(PipelineError::NoPerson);
        match pipeline_failure(&theirs) {
            Finish::Failed { code, message } => {
                assert_eq!(code, "pipeline.no_person");
                assert_eq!(message, "no person was found in the video");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            pipeline_failure(&crate::Error::from(PipelineError::Canceled)),
            Finish::Canceled
        ));
    }
}
