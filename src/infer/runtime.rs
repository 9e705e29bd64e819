//! ONNX Runtime: the library loaded once per process, and sessions for
//! manifest models.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;

use super::prune::prune_outputs;
use super::{ModelError, ModelSpec};

/// The ONNX Runtime environment must outlive every session; `ort` only keeps
/// a weak reference, so the process holds it here.
static ENVIRONMENT: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// How to run a session.
#[derive(Clone, Copy, Debug)]
pub struct SessionOptions {
    /// Threads inside one run (0 = ONNX Runtime's choice: all cores).
    pub intra_threads: usize,
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
                reason: "no library configured (models.ort_library or ORT_DYLIB_PATH)".into(),
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
        opts: SessionOptions,
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
        let load_err = |e: &dyn std::fmt::Display| ModelError::Load {
            model: spec.name.clone(),
            reason: e.to_string(),
        };
        let mut builder = Session::builder(self.env)
            .map_err(|e| load_err(&e))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| load_err(&e))?
            .with_inter_threads(1)
            .map_err(|e| load_err(&e))?;
        if opts.intra_threads > 0 {
            builder = builder
                .with_intra_threads(opts.intra_threads)
                .map_err(|e| load_err(&e))?;
        }
        let session = builder
            .commit_from_memory(&bytes)
            .map_err(|e| load_err(&e))?;
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
            session,
        })
    }
}

/// A ready session for one model with a single f32 input.
pub struct Model {
    name: String,
    input_name: String,
    input_shape: Vec<i64>,
    session: Session,
}

impl Model {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of f32 values the input tensor takes.
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product::<i64>() as usize
    }

    /// Runs the model and copies out the named outputs, in the order asked.
    pub fn run(&mut self, input: &[f32], outputs: &[&str]) -> Result<Vec<Vec<f32>>, ModelError> {
        let fail = |reason: String| ModelError::Inference {
            model: self.name.clone(),
            reason,
        };
        if input.len() != self.input_len() {
            return Err(fail(format!(
                "input has {} values, expected {}",
                input.len(),
                self.input_len()
            )));
        }
        let tensor = TensorRef::from_array_view((self.input_shape.clone(), input))
            .map_err(|e| fail(e.to_string()))?;
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
