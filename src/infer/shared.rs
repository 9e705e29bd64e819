//! One session shared by every job of a process, whose runs batch the
//! inputs of several jobs at once.
//!
//! A GPU worker runs many jobs side by side (`gpu.jobs_per_gpu`). With a
//! session each, every crop is a model run of its own: many small kernels
//! launches, each too small to fill the GPU. With `models.batch_across_jobs`
//! the jobs send their crops to one session on a thread of its own, which
//! runs whatever has queued up since its last run as one batch. Nothing
//! waits for a batch to fill: under load the queue grows while the GPU is
//! busy, so batches grow with it; a lone job sees no added latency.
//!
//! On a CPU this does not pay (measured in the README, Batched inference):
//! a batch is no cheaper per crop there, and one session serialises jobs
//! that would otherwise use a core each.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};

use super::runtime::Model;
use super::{ModelError, SessionProvider};

/// A model to run batches on: a session of one's own, or a handle to the
/// process's shared one.
pub enum Runner {
    Own(Model),
    Shared(SharedSession),
}

impl Runner {
    /// Runs `count` inputs laid one after the other; see [`Model::run_batch`].
    pub fn run_batch(
        &mut self,
        input: &[f32],
        count: usize,
        outputs: &[&str],
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        match self {
            Runner::Own(model) => model.run_batch(input, count, outputs),
            Runner::Shared(shared) => shared.run_batch(input, count, outputs),
        }
    }

    /// Most inputs one call takes.
    pub fn max_batch(&self) -> usize {
        match self {
            Runner::Own(model) => model.max_batch(),
            Runner::Shared(shared) => shared.inner.max_batch,
        }
    }

    pub fn execution(&self) -> &SessionProvider {
        match self {
            Runner::Own(model) => model.execution(),
            Runner::Shared(shared) => &shared.inner.execution,
        }
    }
}

/// One request to the shared session: a caller's inputs and where to send
/// its share of the outputs.
struct Request {
    input: Vec<f32>,
    count: usize,
    reply: mpsc::SyncSender<Result<Vec<Vec<f32>>, String>>,
}

/// What every handle to one shared session knows of it.
struct Inner {
    name: String,
    outputs: Vec<String>,
    max_batch: usize,
    execution: SessionProvider,
    /// Requests answered, model runs made, and the inputs they took.
    requests: AtomicU64,
    runs: AtomicU64,
    inputs: AtomicU64,
}

/// What a shared session has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SharedRuns {
    /// Calls to [`SharedSession::run_batch`], from every job.
    pub requests: u64,
    /// Model runs they took: fewer than `requests` when batched together.
    pub runs: u64,
    /// Inputs (crops) in all.
    pub inputs: u64,
}

/// A handle to a session that runs on a thread of its own, batching the
/// requests of every handle.
#[derive(Clone)]
pub struct SharedSession {
    tx: Sender<Request>,
    inner: Arc<Inner>,
}

impl SharedSession {
    /// Moves `model` onto a thread of its own; every run reads `outputs`.
    pub fn spawn(model: Model, outputs: &[&str]) -> Result<SharedSession, ModelError> {
        let (tx, rx) = mpsc::channel();
        let inner = Arc::new(Inner {
            name: model.name().to_string(),
            outputs: outputs.iter().map(|s| s.to_string()).collect(),
            max_batch: model.max_batch(),
            execution: model.execution().clone(),
            requests: AtomicU64::new(0),
            runs: AtomicU64::new(0),
            inputs: AtomicU64::new(0),
        });
        let thread_inner = Arc::clone(&inner);
        std::thread::Builder::new()
            .name(format!("shared-{}", model.name()))
            .spawn(move || serve(model, &rx, &thread_inner))
            .map_err(|e| ModelError::Load {
                model: inner.name.clone(),
                reason: format!("no thread for the shared session: {e}"),
            })?;
        Ok(SharedSession { tx, inner })
    }

    /// What the session has done so far.
    pub fn runs(&self) -> SharedRuns {
        SharedRuns {
            requests: self.inner.requests.load(Ordering::Relaxed),
            runs: self.inner.runs.load(Ordering::Relaxed),
            inputs: self.inner.inputs.load(Ordering::Relaxed),
        }
    }

    /// Runs `count` inputs, maybe in one batch with other callers' inputs.
    pub fn run_batch(
        &self,
        input: &[f32],
        count: usize,
        outputs: &[&str],
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        let fail = |reason: String| ModelError::Inference {
            model: self.inner.name.clone(),
            reason,
        };
        if outputs.len() != self.inner.outputs.len()
            || outputs.iter().zip(&self.inner.outputs).any(|(a, b)| a != b)
        {
            return Err(fail(format!(
                "the shared session reads {:?}, not {outputs:?}",
                self.inner.outputs
            )));
        }
        if count == 0 || count > self.inner.max_batch {
            return Err(fail(format!(
                "a batch of {count}; the session takes 1 to {}",
                self.inner.max_batch
            )));
        }
        let (reply, answer) = mpsc::sync_channel(1);
        let request = Request {
            input: input.to_vec(),
            count,
            reply,
        };
        self.tx
            .send(request)
            .map_err(|_| fail("the shared session's thread has stopped".into()))?;
        answer
            .recv()
            .map_err(|_| fail("the shared session's thread has stopped".into()))?
            .map_err(fail)
    }
}

/// The session's thread: takes a request, adds whatever else is queued
/// (up to the session's batch), runs them as one, and answers each.
fn serve(mut model: Model, rx: &Receiver<Request>, inner: &Inner) {
    let outputs: Vec<&str> = inner.outputs.iter().map(String::as_str).collect();
    let mut held: Option<Request> = None;
    let mut input = Vec::new();
    while let Some(first) = held.take().or_else(|| rx.recv().ok()) {
        let mut count = first.count;
        let mut batch = vec![first];
        while let Ok(next) = rx.try_recv() {
            if count + next.count > inner.max_batch {
                held = Some(next);
                break;
            }
            count += next.count;
            batch.push(next);
        }
        input.clear();
        for r in &batch {
            input.extend_from_slice(&r.input);
        }
        inner
            .requests
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        inner.runs.fetch_add(1, Ordering::Relaxed);
        inner.inputs.fetch_add(count as u64, Ordering::Relaxed);
        match model.run_batch(&input, count, &outputs) {
            Ok(out) => {
                let mut first_item = 0;
                for r in batch {
                    let share = out
                        .iter()
                        .map(|o| {
                            let per = o.len() / count;
                            o[first_item * per..(first_item + r.count) * per].to_vec()
                        })
                        .collect();
                    first_item += r.count;
                    // A caller that gave up no longer listens; nothing lost.
                    let _ = r.reply.send(Ok(share));
                }
            }
            Err(e) => {
                let reason = match e {
                    ModelError::Inference { reason, .. } => reason,
                    other => other.to_string(),
                };
                for r in batch {
                    let _ = r.reply.send(Err(reason.clone()));
                }
            }
        }
    }
}

/// The process's shared sessions, one per key (model and settings).
static SHARED: OnceLock<Mutex<HashMap<String, SharedSession>>> = OnceLock::new();

/// The shared session for `key`, made by `make` on first use.
pub fn shared(
    key: &str,
    outputs: &[&str],
    make: impl FnOnce() -> Result<Model, ModelError>,
) -> Result<SharedSession, ModelError> {
    let sessions = SHARED.get_or_init(Mutex::default);
    let mut sessions = sessions.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = sessions.get(key) {
        return Ok(s.clone());
    }
    let s = SharedSession::spawn(make()?, outputs)?;
    sessions.insert(key.to_string(), s.clone());
    Ok(s)
}

/// Every shared session of the process so far, by model name, with what
/// each has done (for reports and tests).
pub fn all_runs() -> Vec<(String, SharedRuns)> {
    let Some(sessions) = SHARED.get() else {
        return Vec::new();
    };
    let sessions = sessions.lock().unwrap_or_else(|e| e.into_inner());
    sessions
        .values()
        .map(|s| (s.inner.name.clone(), s.runs()))
        .collect()
}
