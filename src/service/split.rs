//! Long clips across workers: a job whose clip is longer than
//! `[service.split] min_clip_s` is cut into overlapping segments
//! ([`crate::video::span`]), queued as rows of their own that any worker
//! claims with a lease ([`crate::db::segments`]). Each segment decodes and
//! tracks its frames only and stores its tracks.json (whole-clip frame
//! numbers) under the job's prefix.
//!
//! The worker holding the job's lease is its coordinator: it plans the
//! segments, runs them too while any are queued, reports the progress of
//! all of them as the job's, and once every segment is done stitches their
//! tracks ([`crate::pose::stitch`]) and solves the whole clip through
//! [`pipeline::resolve`], the same solve and files an unsplit job gets. A
//! coordinator that dies loses only the job's lease: whoever takes the
//! job over plans the same segments again and keeps those already done.
//! A failed segment is retried by its attempt count; when it runs out the
//! job fails (its credits are released by the job's final transaction),
//! and a cancel stops every segment.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tracing::Instrument;

use super::app::AppState;
use super::job::{job_prefix, JobOptions};
use super::worker::{
    failed, fetch_upload, internal, keep_leased, pipeline_failure, process_options, Flags,
};
use crate::db::jobs::{Finish, Job};
use crate::db::now_ms;
use crate::db::segments::{state, Segment, SegmentFinish};
use crate::pipeline::{self, Progress, Report};
use crate::pose::record::{TracksFile, FILE_NAME as TRACKS_FILE};
use crate::pose::stitch;
use crate::video::{self, Span};

/// The segments `input` is cut into, or `None` when it runs whole (short,
/// splitting off, or a file the probe refuses: the unsplit run reports
/// that with its proper code).
pub(super) async fn plan(state: &AppState, input: &Path) -> Option<Vec<Span>> {
    let cfg = state.cfg.split.clone();
    if !cfg.enabled {
        return None;
    }
    let limits = state.pipeline.limits.clone();
    let input = input.to_path_buf();
    let planned =
        tokio::task::spawn_blocking(move || -> Result<Option<Vec<Span>>, crate::Error> {
            let info = video::probe(&input, &limits)?;
            if info.duration_s <= cfg.min_clip_s || info.fps <= 0.0 {
                return Ok(None);
            }
            let (pts, start) = video::span::frame_timestamps(&input)?;
            let per_segment = (cfg.segment_s * info.fps).max(1.0);
            let count = (pts.len() as f64 / per_segment).ceil() as usize;
            let overlap = (cfg.overlap_s * info.fps).round() as u64;
            Ok((count >= 2).then(|| video::span::plan(&pts, start, count, overlap)))
        })
        .await;
    match planned {
        Ok(Ok(spans)) => spans,
        Ok(Err(e)) => {
            tracing::info!(error = %e, "not splitting: the clip could not be planned");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "planning the split panicked");
            None
        }
    }
}

/// The coordinator: queues `spans` as the job's segments, runs them with
/// the other workers, then stitches and solves into `out_dir`. The job's
/// heartbeat (in `run_job`) carries `progress` and sets `flags`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn coordinate(
    state: &AppState,
    job: &Job,
    owner: &str,
    input: &Path,
    dir: &Path,
    spans: Vec<Span>,
    options: &JobOptions,
    flags: &Arc<Flags>,
    progress: &Arc<Mutex<(&'static str, u64, u64)>>,
    stop: &watch::Receiver<bool>,
) -> Result<Report, Finish> {
    let rows: Vec<(String, i64)> = spans
        .iter()
        .map(|s| (serde_json::to_string(s).unwrap_or_default(), s.len() as i64))
        .collect();
    let frames = spans.last().map_or(0, |s| s.end);
    tracing::info!(segments = spans.len(), frames, "splitting the clip");
    state
        .db
        .plan_segments(&job.id, &rows, state.cfg.max_attempts, now_ms())
        .await
        .map_err(|e| internal("planning the segments failed", &e))?;
    let lease_ms = state.cfg.lease_secs * 1000;
    let mut wake = state.wake.subscribe();
    let mut own: Option<tokio::task::JoinHandle<()>> = None;
    let outcome = loop {
        if own.as_ref().is_some_and(|h| h.is_finished()) {
            own = None;
        }
        if flags.cancel.load(Ordering::SeqCst) {
            let asked =
                !flags.lease_lost.load(Ordering::SeqCst) && !flags.shutdown.load(Ordering::SeqCst);
            if asked {
                // Queued segments stop here, running ones at their heartbeat.
                if let Err(e) = state.db.cancel_segments(&job.id).await {
                    tracing::error!(error = %e, "canceling the segments failed");
                }
            }
            break Err(Finish::Canceled);
        }
        // The other segments' workers may have died: their leases are
        // reaped here too, since this worker claims nothing else meanwhile.
        if let Err(e) = state.db.reap_stale_segments(now_ms()).await {
            tracing::warn!(error = %e, "reaping stale segment leases failed");
        }
        let segments = match state.db.segments(&job.id).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "reading the segments failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        *progress.lock().unwrap_or_else(|p| p.into_inner()) =
            ("tracking", tracked_frames(&segments, frames), frames);
        if let Some(bad) = segments.iter().find(|s| s.state == state::FAILED) {
            tracing::warn!(segment = bad.idx, code = ?bad.error_code, "a segment ran out of attempts");
            if let Err(e) = state.db.cancel_segments(&job.id).await {
                tracing::error!(error = %e, "canceling the segments failed");
            }
            break Err(failed(
                bad.error_code.as_deref().unwrap_or("job.internal"),
                bad.error_message
                    .clone()
                    .unwrap_or_else(|| "a part of the clip could not be processed".into()),
            ));
        }
        if segments.iter().all(|s| s.state == state::DONE) {
            break Ok(());
        }
        if own.is_none() {
            match state
                .db
                .claim_segment(owner, now_ms() + lease_ms, Some(&job.id))
                .await
            {
                Ok(Some(seg)) => {
                    let (state, owner, input, stop) = (
                        state.clone(),
                        owner.to_string(),
                        input.to_path_buf(),
                        stop.clone(),
                    );
                    own = Some(tokio::spawn(async move {
                        run_segment(&state, &owner, seg, Some(&input), &stop).await
                    }));
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "claiming a segment failed"),
            }
        }
        // Segments report through their rows; look again on a change of
        // this job or every half second, for the progress.
        let idle = super::wake::fallback(state, 500).min(Duration::from_millis(500));
        state
            .wake
            .wait(&mut wake, Some(job.id.as_str()), idle)
            .await;
    };
    // A segment of ours still running stops by its own heartbeat; its
    // copy of the input lives in `dir`, which must outlive it.
    if let Some(h) = own {
        let _ = h.await;
    }
    outcome?;
    let report = stitch_and_solve(state, job, dir, frames, options, progress).await?;
    let prefix = format!("{}segments/", job_prefix(&job.account_id, &job.id));
    if let Err(e) = state.store.delete_prefix(&prefix).await {
        tracing::warn!(error = %e, "deleting the segments' tracks failed");
    }
    Ok(report)
}

/// Frames tracked so far over all segments, in whole-clip frames (the
/// overlaps counted once).
fn tracked_frames(segments: &[Segment], frames: u64) -> u64 {
    let total: i64 = segments.iter().map(|s| s.frames_total).sum();
    let done: i64 = segments
        .iter()
        .map(|s| s.frames_done.min(s.frames_total))
        .sum();
    if total <= 0 {
        return 0;
    }
    (done as f64 / total as f64 * frames as f64) as u64
}

/// Fetches every segment's tracks, stitches them into the whole clip's
/// tracks.json and solves it as a re-solve does.
async fn stitch_and_solve(
    state: &AppState,
    job: &Job,
    dir: &Path,
    frames: u64,
    options: &JobOptions,
    progress: &Arc<Mutex<(&'static str, u64, u64)>>,
) -> Result<Report, Finish> {
    *progress.lock().unwrap_or_else(|p| p.into_inner()) = ("stitching", frames, frames);
    let segments = state
        .db
        .segments(&job.id)
        .await
        .map_err(|e| internal("reading the segments failed", &e))?;
    let prefix = job_prefix(&job.account_id, &job.id);
    let mut folders = Vec::new();
    for seg in &segments {
        let folder = dir.join(format!("segment-{}", seg.idx));
        tokio::fs::create_dir_all(&folder)
            .await
            .map_err(|e| internal("temp dir", &e))?;
        let seg_prefix = format!("{prefix}segments/{}/", seg.idx);
        let objects = state
            .store
            .list(&seg_prefix)
            .await
            .map_err(|e| internal("listing a segment's tracks failed", &e))?;
        for o in objects {
            let name = o.key.trim_start_matches(&seg_prefix);
            state
                .store
                .get_to_file(&o.key, &folder.join(name))
                .await
                .map_err(|e| internal("fetching a segment's tracks failed", &e))?;
        }
        folders.push(folder);
    }
    let out_dir = dir.join("out");
    let config = state.pipeline.clone();
    let opts = process_options(options).map_err(|e| pipeline_failure(&e))?;
    let run_progress = progress.clone();
    let solved = tokio::task::spawn_blocking(move || -> Result<Report, crate::Error> {
        let files = folders
            .iter()
            .map(|f| TracksFile::read(&f.join(TRACKS_FILE)))
            .collect::<Result<Vec<_>, _>>()?;
        let stitched =
            stitch::stitch(&files).map_err(|e| crate::pose::record::RecordError::Invalid {
                path: "segments".into(),
                reason: e.to_string(),
            })?;
        std::fs::create_dir_all(&out_dir).map_err(|e| pipeline::PipelineError::Output {
            path: out_dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let mut kept: Vec<PathBuf> = Vec::new();
        let tracks = out_dir.join(TRACKS_FILE);
        stitched.file.write(&tracks)?;
        kept.push(tracks.clone());
        for t in &stitched.thumbnails {
            let to = out_dir.join(&t.as_name);
            if std::fs::copy(folders[t.segment].join(&t.name), &to).is_ok() {
                kept.push(to);
            }
        }
        let mut on_progress = |p: &Progress| {
            *run_progress.lock().unwrap_or_else(|e| e.into_inner()) =
                (p.stage, p.frames_done, p.frames_total);
        };
        let mut report = pipeline::resolve(&tracks, &out_dir, &config, &opts, &mut on_progress)?;
        report.outputs.extend(kept);
        // A segment stored before its report was written counts nothing.
        let costs: Vec<pipeline::SegmentReport> = folders
            .iter()
            .filter_map(|f| std::fs::read(f.join(pipeline::SEGMENT_REPORT_FILE)).ok())
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect();
        report.add_segments(&costs);
        Ok(report)
    })
    .await
    .map_err(|e| internal("the stitching thread panicked", &e))?;
    solved.map_err(|e| pipeline_failure(&e))
}

/// Runs one claimed segment: its frames decoded and tracked, its tracks
/// stored under the job's prefix, the outcome recorded under its lease.
/// `local_input` is the job's video when this worker already has it.
pub(super) async fn run_segment(
    state: &AppState,
    owner: &str,
    seg: Segment,
    local_input: Option<&Path>,
    stop: &watch::Receiver<bool>,
) {
    let span = tracing::info_span!("segment", job = %seg.job_id, segment = seg.idx, attempt = seg.attempts);
    run_segment_inner(state, owner, seg, local_input, stop)
        .instrument(span)
        .await
}

async fn run_segment_inner(
    state: &AppState,
    owner: &str,
    seg: Segment,
    local_input: Option<&Path>,
    stop: &watch::Receiver<bool>,
) {
    tracing::info!("segment claimed");
    let flags = Arc::new(Flags::default());
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let heartbeat = tokio::spawn(segment_heartbeat(
        state.clone(),
        owner.to_string(),
        seg.clone(),
        flags.clone(),
        done.clone(),
        stop.clone(),
    ));
    let result = track(state, &seg, local_input, &flags, &done).await;
    heartbeat.abort();
    if flags.lease_lost.load(Ordering::SeqCst) {
        tracing::warn!("segment lease lost; another worker owns it now");
        return;
    }
    if flags.shutdown.load(Ordering::SeqCst) {
        if let Err(e) = state.db.hand_back_segment(&seg, owner).await {
            tracing::error!(error = %e, "handing the segment back failed");
        }
        return;
    }
    let finish = match result {
        Ok(()) => SegmentFinish::Done,
        Err(Finish::Canceled) => SegmentFinish::Canceled,
        Err(Finish::Failed { code, message }) => SegmentFinish::Failed { code, message },
        Err(Finish::Succeeded { .. }) => SegmentFinish::Done,
    };
    match state.db.finish_segment(&seg, owner, &finish).await {
        Ok(true) => tracing::info!(outcome = ?finish, "segment finished"),
        Ok(false) => tracing::warn!("segment outcome discarded: lease no longer ours"),
        Err(e) => tracing::error!(error = %e, "recording the segment outcome failed"),
    }
}

/// Fetches the video (unless given), tracks the segment's frames and
/// stores its tracks.json and thumbnails.
async fn track(
    state: &AppState,
    seg: &Segment,
    local_input: Option<&Path>,
    flags: &Arc<Flags>,
    done: &Arc<std::sync::atomic::AtomicU64>,
) -> Result<(), Finish> {
    let job = match state.db.segment_job(&seg.job_id).await {
        Ok(Some(j)) => j,
        Ok(None) => return Err(Finish::Canceled),
        Err(e) => return Err(internal("loading the segment's job failed", &e)),
    };
    let opts: JobOptions =
        serde_json::from_str(&job.options_json).map_err(|e| internal("bad stored options", &e))?;
    let span: Span =
        serde_json::from_str(&seg.span_json).map_err(|e| internal("bad stored span", &e))?;
    let dir = tempfile::tempdir().map_err(|e| internal("temp dir", &e))?;
    let input = match local_input {
        Some(p) => p.to_path_buf(),
        None => fetch_upload(state, &job, dir.path()).await?,
    };
    let out_dir = dir.path().join("out");
    let mut config = (*state.pipeline).clone();
    if let Some(q) = opts.quality {
        config.pose.quality = q;
    }
    let (run_flags, run_done, out2) = (flags.clone(), done.clone(), out_dir.clone());
    let report = tokio::task::spawn_blocking(move || {
        let mut on_progress = |p: &Progress| {
            if p.stage == "tracking" {
                run_done.store(p.frames_done, Ordering::Relaxed);
            }
        };
        pipeline::track_segment(
            &input,
            &out2,
            &config,
            &span,
            &mut on_progress,
            &run_flags.cancel,
        )
    })
    .await
    .map_err(|e| internal("the segment's thread panicked", &e))?
    .map_err(|e| pipeline_failure(&e))?;
    let prefix = format!(
        "{}segments/{}/",
        job_prefix(&job.account_id, &job.id),
        seg.idx
    );
    for path in &report.outputs {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        state
            .store
            .put_file(
                &format!("{prefix}{name}"),
                path,
                super::job::content_type(name),
            )
            .await
            .map_err(|e| internal("storing a segment's tracks failed", &e))?;
    }
    Ok(())
}

/// Extends the segment's lease and records its progress until aborted;
/// turns a stopped job, a lost lease or shutdown into the cancel flag.
async fn segment_heartbeat(
    state: AppState,
    owner: String,
    seg: Segment,
    flags: Arc<Flags>,
    done: Arc<std::sync::atomic::AtomicU64>,
    stop: watch::Receiver<bool>,
) {
    let (db, seg, owner) = (&state.db, &seg, owner.as_str());
    keep_leased(&state, &flags, stop, "segment heartbeat", |lease_until| {
        db.segment_heartbeat(seg, owner, lease_until, done.load(Ordering::Relaxed) as i64)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(done: i64, total: i64) -> Segment {
        Segment {
            job_id: "j".into(),
            idx: 0,
            span_json: String::new(),
            frames_total: total,
            state: state::RUNNING.into(),
            attempts: 1,
            max_attempts: 3,
            lease_owner: None,
            frames_done: done,
            error_code: None,
            error_message: None,
        }
    }

    /// Progress counts the overlaps once: all segments done is the whole
    /// clip, half of each is half of it.
    #[test]
    fn progress_is_in_whole_clip_frames() {
        assert_eq!(tracked_frames(&[seg(110, 110), seg(100, 100)], 200), 200);
        assert_eq!(tracked_frames(&[seg(55, 110), seg(50, 100)], 200), 100);
        assert_eq!(tracked_frames(&[seg(500, 110)], 100), 100);
        assert_eq!(tracked_frames(&[], 100), 0);
    }
}
