//! The model manifest (`models/manifest.toml`, compiled in): which files make
//! up each model, their sha256, tensor names and shapes.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ModelError;

const MANIFEST_TOML: &str = include_str!("../../models/manifest.toml");

/// One tensor of a model's interface.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<i64>,
    #[serde(default)]
    pub layout: Option<String>,
    #[serde(default)]
    pub scale: Option<String>,
    #[serde(default)]
    pub meaning: Option<String>,
}

/// One model file and what it is.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelSpec {
    pub name: String,
    pub file: String,
    pub sha256: String,
    /// The hash of the same model rebuilt by scripts/convert-models.sh
    /// (its canonical form: same graph and weights), also accepted.
    #[serde(default)]
    pub rebuilt_sha256: Option<String>,
    pub version: String,
    pub licence: String,
    pub source: String,
    pub input: TensorSpec,
    pub outputs: Vec<TensorSpec>,
}

/// All models vidmocap knows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(rename = "model")]
    pub models: Vec<ModelSpec>,
}

/// Result of checking one model file.
#[derive(Clone, Debug, Serialize)]
pub struct CheckedModel {
    pub name: String,
    pub path: PathBuf,
    pub ok: bool,
    /// The error code when not ok.
    pub problem: Option<String>,
    pub message: Option<String>,
}

impl Manifest {
    /// The manifest compiled into this binary.
    pub fn builtin() -> Result<Manifest, ModelError> {
        Self::parse(MANIFEST_TOML)
    }

    pub fn parse(text: &str) -> Result<Manifest, ModelError> {
        toml::from_str(text).map_err(|e| ModelError::Manifest(e.message().to_string()))
    }

    pub fn get(&self, name: &str) -> Result<&ModelSpec, ModelError> {
        self.models
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| ModelError::Unknown(name.to_string()))
    }

    /// The manifest cut down to the models named in `names`.
    /// The models' names, in manifest order.
    pub fn names(&self) -> Vec<String> {
        self.models.iter().map(|m| m.name.clone()).collect()
    }

    pub fn only(&self, names: &[&str]) -> Manifest {
        Manifest {
            models: self
                .models
                .iter()
                .filter(|m| names.contains(&m.name.as_str()))
                .cloned()
                .collect(),
        }
    }

    /// Checks every model in `dir`; never fails as a whole.
    pub fn check_all(&self, dir: &Path) -> Vec<CheckedModel> {
        self.models
            .iter()
            .map(|spec| {
                let path = dir.join(&spec.file);
                match spec.verify(dir) {
                    Ok(_) => CheckedModel {
                        name: spec.name.clone(),
                        path,
                        ok: true,
                        problem: None,
                        message: None,
                    },
                    Err(e) => CheckedModel {
                        name: spec.name.clone(),
                        path,
                        ok: false,
                        problem: Some(e.code().to_string()),
                        message: Some(e.to_string()),
                    },
                }
            })
            .collect()
    }
}

impl ModelSpec {
    /// Reads the model file from `dir` and confirms its hash.
    pub fn read_verified(&self, dir: &Path) -> Result<Vec<u8>, ModelError> {
        let bytes = std::fs::read(dir.join(&self.file)).map_err(|_| ModelError::Missing {
            file: self.file.clone(),
            dir: dir.display().to_string(),
        })?;
        let actual = sha256_reader(&mut bytes.as_slice()).map_err(|e| ModelError::Load {
            model: self.name.clone(),
            reason: e.to_string(),
        })?;
        self.check_hash(actual)?;
        Ok(bytes)
    }

    /// The model's path in `dir` once its hash is confirmed.
    pub fn verify(&self, dir: &Path) -> Result<PathBuf, ModelError> {
        let path = dir.join(&self.file);
        let missing = || ModelError::Missing {
            file: self.file.clone(),
            dir: dir.display().to_string(),
        };
        let mut file = std::fs::File::open(&path).map_err(|_| missing())?;
        let actual = sha256_reader(&mut file).map_err(|_| missing())?;
        self.check_hash(actual)?;
        Ok(path)
    }

    /// Accepts the published file's hash or the rebuilt one's.
    fn check_hash(&self, actual: String) -> Result<(), ModelError> {
        let known = std::iter::once(&self.sha256).chain(self.rebuilt_sha256.as_ref());
        if known.into_iter().any(|h| actual.eq_ignore_ascii_case(h)) {
            return Ok(());
        }
        Err(ModelError::HashMismatch {
            file: self.file.clone(),
            expected: self.sha256.clone(),
            actual,
        })
    }
}

/// Hex sha256 of everything `r` yields.
pub fn sha256_reader(r: &mut impl Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_parses_and_names_both_pose_models() {
        let m = Manifest::builtin().unwrap();
        assert_eq!(
            m.get("pose_detection").unwrap().input.shape,
            [1, 224, 224, 3]
        );
        assert_eq!(m.get("pose_landmark_lite").unwrap().outputs.len(), 5);
        assert_eq!(m.get("nope").unwrap_err().code(), "model.unknown");
    }

    #[test]
    fn missing_and_tampered_files_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let m = Manifest::builtin().unwrap();
        let spec = m.get("pose_detection").unwrap();
        let err = spec.verify(dir.path()).unwrap_err();
        assert_eq!(err.code(), "model.missing");
        assert!(err.to_string().contains("vidmocap models fetch"));

        let path = dir.path().join(&spec.file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"not the model").unwrap();
        let err = spec.verify(dir.path()).unwrap_err();
        assert_eq!(err.code(), "model.hash_mismatch");
        assert!(err.to_string().contains(&spec.file));

        // A rebuilt model (scripts/convert-models.sh) is accepted by its
        // own hash, and only by it.
        let rebuilt = ModelSpec {
            rebuilt_sha256: Some(sha256_reader(&mut &b"not the model"[..]).unwrap()),
            ..spec.clone()
        };
        assert_eq!(rebuilt.verify(dir.path()).unwrap(), path);
        assert_eq!(rebuilt.read_verified(dir.path()).unwrap(), b"not the model");
        std::fs::write(&path, b"something else").unwrap();
        assert!(rebuilt.verify(dir.path()).is_err());
    }

    #[test]
    fn sha256_of_known_bytes() {
        let h = sha256_reader(&mut &b"abc"[..]).unwrap();
        assert_eq!(
            h,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
