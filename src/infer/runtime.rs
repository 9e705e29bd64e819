//! ONNX Runtime: the library loaded once per process, and sessions for
//! manifest models on the best execution provider that works here (see
//! [`super::providers`]).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::session::Session;
use ort::value::TensorRef;

use super::batch::dynamic_batch;
use super::providers::{
    preload_bundled_cuda, tidy_reason, unavailable_reason, warn_fallback_once, BatchProfile,
    ExecutionOptions, Provider, SessionProvider,
};
use super::prune::prune_outputs;
use super::{ModelError, ModelSpec};

/// The ONNX Runtime environment must outlive every session; `ort` only keeps
/// a weak reference, so the process holds it here.
static ENVIRONMENT: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// How to run a session.
#[derive(Clone, Debug, Default)]
pub struct SessionOptions {
    /// Threads inside one run (0 = ONNX Runtime's choice: all cores).
    pub intra_threads: usize,
    /// Execution providers to try and their settings (default: the CPU).
    pub execution: ExecutionOptions,
    /// Most inputs one run may take: above 1 the model's fixed batch of 1
    /// is made symbolic (see [`super::batch`]), so [`Model::run_batch`]
    /// can run several at once.
    pub max_batch: usize,
}

/// The loaded ONNX Runtime.
#[derive(Clone, Debug)]
pub struct Runtime {
    library: PathBuf,
    env: &'static ort::environment::Environment,
}

impl Runtime {
    /// Loads the library (once per process; later calls reuse it).
    pub fn load(library: Option<&Path>) -> Result<Runtime, ModelError> {
        let library = library
            .map(Path::to_path_buf)
            .ok_or_else(|| ModelError::RuntimeMissing {
                reason: format!(
                    "none configured (models.ort_library, ORT_DYLIB_PATH or {}) and none at {}",
                    crate::locate::user_config_file().map_or_else(
                        || "the user configuration".into(),
                        |p| p.display().to_string()
                    ),
                    crate::locate::ort_library_candidates()
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        let env = ENVIRONMENT.get_or_init(|| {
            let builder = ort::init_from(&library).map_err(|e| e.to_string())?;
            builder
                .with_name("vidmocap")
                .build()
                .map_err(|e| e.to_string())
        });
        match env {
            Ok(env) => Ok(Runtime { library, env }),
            Err(reason) => Err(ModelError::RuntimeMissing {
                reason: reason.clone(),
            }),
        }
    }

    pub fn library(&self) -> &Path {
        &self.library
    }

    /// A session for `spec`, whose file in `dir` must match the manifest
    /// hash. With `outputs` non-empty the graph is pruned to what computes
    /// them (see [`super::prune`]) and only those can be read.
    pub fn session(
        &self,
        spec: &ModelSpec,
        dir: &Path,
        opts: &SessionOptions,
        outputs: &[&str],
    ) -> Result<Model, ModelError> {
        let bytes = spec.read_verified(dir)?;
        let bytes = if outputs.is_empty() {
            bytes
        } else {
            prune_outputs(&bytes, outputs).map_err(|e| ModelError::Load {
                model: spec.name.clone(),
                reason: e.to_string(),
            })?
        };
        let max_batch = opts.max_batch.max(1);
        let bytes = if max_batch > 1 {
            dynamic_batch(&bytes).map_err(|e| ModelError::Load {
                model: spec.name.clone(),
                reason: format!("cannot batch it: {e}"),
            })?
        } else {
            bytes
        };
        let (session, provider, fallback_reason) = self.commit(spec, &bytes, opts)?;
        let input_ok = session.inputs().iter().any(|i| i.name() == spec.input.name);
        if !input_ok {
            return Err(ModelError::Load {
                model: spec.name.clone(),
                reason: format!("no input named {}", spec.input.name),
            });
        }
        Ok(Model {
            name: spec.name.clone(),
            input_name: spec.input.name.clone(),
            input_shape: spec.input.shape.clone(),
            max_batch,
            session,
            execution: SessionProvider {
                model: spec.name.clone(),
                provider,
                requested: opts.execution.providers.clone(),
                fallback_reason,
            },
        })
    }

    /// Creates the session on the first provider set in
    /// [`ExecutionOptions::attempts`] that registers and commits; returns it
    /// with the provider it runs on and why better ones were passed over.
    /// Only a failure on the CPU, the last attempt, is an error: a model
    /// that is broken fails there too, with its real reason.
    fn commit(
        &self,
        spec: &ModelSpec,
        bytes: &[u8],
        opts: &SessionOptions,
    ) -> Result<(Session, Provider, Option<String>), ModelError> {
        let wanted = opts
            .execution
            .providers
            .first()
            .copied()
            .unwrap_or(Provider::Cpu);
        if wanted != Provider::Cpu {
            preload_bundled_cuda(&self.library);
        }
        let mut reasons: Vec<String> = Vec::new();
        // Whether every GPU provider was passed over only for being absent
        // from the library (the CPU build), rather than failing to load.
        let mut only_absent = true;
        for attempt in opts.execution.attempts() {
            let provider = attempt.first().copied().unwrap_or(Provider::Cpu);
            let result = self.try_commit(spec, bytes, opts, &attempt);
            match result {
                Ok(session) => {
                    let reason = (!reasons.is_empty()).then(|| reasons.join("; "));
                    if let Some(reason) = &reason {
                        let expected = opts.execution.auto && only_absent;
                        warn_fallback_once(&spec.name, wanted, provider, reason, expected);
                    }
                    return Ok((session, provider, reason));
                }
                Err(Attempt::Absent(reason)) if provider != Provider::Cpu => {
                    reasons.push(format!("{provider}: {reason}"));
                }
                Err(Attempt::Failed(reason)) if provider != Provider::Cpu => {
                    only_absent = false;
                    reasons.push(format!("{provider}: {}", tidy_reason(provider, &reason)));
                }
                Err(Attempt::Absent(reason) | Attempt::Failed(reason)) => {
                    return Err(ModelError::Load {
                        model: spec.name.clone(),
                        reason,
                    })
                }
            }
        }
        unreachable!("the attempts always end with the CPU")
    }

    /// One session attempt with `providers` registered (none: the CPU).
    fn try_commit(
        &self,
        spec: &ModelSpec,
        bytes: &[u8],
        opts: &SessionOptions,
        providers: &[Provider],
    ) -> Result<Session, Attempt> {
        if let Some(reason) = providers
            .iter()
            .find_map(|p| unavailable_reason(*p, &self.library))
        {
            return Err(Attempt::Absent(reason));
        }
        let failed = |e: &dyn std::fmt::Display| Attempt::Failed(e.to_string());
        let mut builder = self.builder(opts).map_err(|e| failed(&e))?;
        if !providers.is_empty() {
            let dispatches: Vec<_> = providers
                .iter()
                .map(|p| {
                    opts.execution
                        .dispatch(*p, &spec.name, batch_profile(spec, opts))
                })
                .collect();
            if providers.contains(&Provider::Tensorrt) {
                // TensorRT does not create its cache folder itself.
                let _ = std::fs::create_dir_all(&opts.execution.tensorrt_cache_dir);
            }
            builder = builder
                .with_execution_providers(dispatches)
                .map_err(|e| failed(&e))?;
        }
        builder.commit_from_memory(bytes).map_err(|e| failed(&e))
    }

    /// A session builder with the settings every attempt shares.
    fn builder(&self, opts: &SessionOptions) -> ort::Result<SessionBuilder> {
        let mut builder = Session::builder(self.env)?
            .with_optimization_level(GraphOptimizationLevel::All)?
            .with_inter_threads(1)?;
        if opts.intra_threads > 0 {
            builder = builder.with_intra_threads(opts.intra_threads)?;
        }
        if opts.intra_threads != 1 {
            // Sessions share the cores with each other (the detector beside
            // the landmark workers): threads that spin while idle would
            // take time from the rest.
            builder = builder.with_intra_op_spinning(false)?;
        }
        Ok(builder)
    }
}

/// TensorRT's shape profile for a batched session: batches of 1 to
/// `max_batch` of the manifest's input (TensorRT builds one engine for the
/// range instead of one per batch size it meets).
fn batch_profile(spec: &ModelSpec, opts: &SessionOptions) -> Option<BatchProfile> {
    (opts.max_batch > 1).then(|| BatchProfile {
        input: spec.input.name.clone(),
        item_shape: spec.input.shape.iter().skip(1).copied().collect(),
        max_batch: opts.max_batch,
    })
}

/// Why one session attempt failed.
enum Attempt {
    /// The library was built without a provider of the attempt.
    Absent(String),
    /// A provider failed to register or the session to build.
    Failed(String),
}

/// A ready session for one model with a single f32 input.
pub struct Model {
    name: String,
    input_name: String,
    input_shape: Vec<i64>,
    /// Most inputs one run takes (1: the graph's own fixed batch).
    max_batch: usize,
    session: Session,
    execution: SessionProvider,
}

impl Model {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The execution provider the session runs on: "tensorrt", "cuda" or "cpu".
    pub fn provider(&self) -> &'static str {
        self.execution.provider.name()
    }

    /// Why the session does not run on the first provider asked for.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.execution.fallback_reason.as_deref()
    }

    /// The provider, what was asked for and the fallback reason, for reports.
    pub fn execution(&self) -> &SessionProvider {
        &self.execution
    }

    /// Number of f32 values the input tensor takes.
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product::<i64>() as usize
    }

    /// Most inputs one [`Model::run_batch`] takes.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Takes at most `n` inputs a run from now on (at least 1), though the
    /// graph was built for more.
    pub fn limit_batch(&mut self, n: usize) {
        self.max_batch = self.max_batch.min(n.max(1));
    }

    /// Runs the model and copies out the named outputs, in the order asked.
    pub fn run(&mut self, input: &[f32], outputs: &[&str]) -> Result<Vec<Vec<f32>>, ModelError> {
        self.run_batch(input, 1, outputs)
    }

    /// Runs `count` inputs, laid one after the other in `input`, as one
    /// batch; each output holds their results in the same order.
    pub fn run_batch(
        &mut self,
        input: &[f32],
        count: usize,
        outputs: &[&str],
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        let fail = |reason: String| ModelError::Inference {
            model: self.name.clone(),
            reason,
        };
        if count == 0 || count > self.max_batch {
            return Err(fail(format!(
                "a batch of {count}; the session takes 1 to {}",
                self.max_batch
            )));
        }
        if input.len() != count * self.input_len() {
            return Err(fail(format!(
                "input has {} values, expected {} for a batch of {count}",
                input.len(),
                count * self.input_len()
            )));
        }
        let mut shape = self.input_shape.clone();
        if let Some(batch) = shape.first_mut() {
            *batch = count as i64;
        }
        let tensor = TensorRef::from_array_view((shape, input)).map_err(|e| fail(e.to_string()))?;
        let name = self.input_name.clone();
        let model_name = self.name.clone();
        let result = self
            .session
            .run(ort::inputs![name => tensor])
            .map_err(|e| ModelError::Inference {
                model: model_name.clone(),
                reason: e.to_string(),
            })?;
        outputs
            .iter()
            .map(|out| {
                let value = result.get(*out).ok_or_else(|| ModelError::Inference {
                    model: model_name.clone(),
                    reason: format!("no output named {out}"),
                })?;
                let (_, data) =
                    value
                        .try_extract_tensor::<f32>()
                        .map_err(|e| ModelError::Inference {
                            model: model_name.clone(),
                            reason: e.to_string(),
                        })?;
                Ok(data.to_vec())
            })
            .collect()
    }
}
