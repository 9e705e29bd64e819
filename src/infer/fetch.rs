//! `vidmocap models fetch`: copies or downloads every manifest model into a
//! folder and accepts a file only when its sha256 matches.
//!
//! Sources are a folder, a `file://` URL, or an `http(s)://` URL (fetched
//! with the system's `curl`, so the binary carries no TLS stack). Nothing is
//! ever downloaded implicitly: only this command fetches.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::manifest::{sha256_reader, Manifest, ModelSpec};
use super::ModelError;

/// Fetches every model missing or wrong in `dir` from `source`; returns the
/// verified paths.
pub fn fetch_all(
    manifest: &Manifest,
    dir: &Path,
    source: Option<&str>,
) -> Result<Vec<PathBuf>, ModelError> {
    let mut done = Vec::new();
    for spec in &manifest.models {
        if let Ok(path) = spec.verify(dir) {
            done.push(path);
            continue;
        }
        let source = source.ok_or_else(|| {
            ModelError::Fetch(
                "no source given: pass --from (a folder or URL where the models are published) \
                 or set VIDMOCAP_MODELS_URL"
                    .into(),
            )
        })?;
        done.push(fetch_one(spec, dir, source)?);
    }
    Ok(done)
}

fn fetch_one(spec: &ModelSpec, dir: &Path, source: &str) -> Result<PathBuf, ModelError> {
    let dest = dir.join(&spec.file);
    let parent = dest.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent)
        .map_err(|e| ModelError::Fetch(format!("cannot create {}: {e}", parent.display())))?;
    let partial = dest.with_extension("partial");
    let base = source.trim_end_matches('/');
    if base.starts_with("http://") || base.starts_with("https://") {
        let url = format!("{base}/{}", spec.file);
        let status = Command::new("curl")
            .args(["-fsSL", "--retry", "2", "-o"])
            .arg(&partial)
            .arg(&url)
            .status()
            .map_err(|e| ModelError::Fetch(format!("cannot run curl: {e}")))?;
        if !status.success() {
            let _ = std::fs::remove_file(&partial);
            return Err(ModelError::Fetch(format!(
                "download of {url} failed ({status})"
            )));
        }
    } else {
        let folder = base.strip_prefix("file://").unwrap_or(base);
        let from = Path::new(folder).join(&spec.file);
        std::fs::copy(&from, &partial)
            .map_err(|e| ModelError::Fetch(format!("cannot copy {}: {e}", from.display())))?;
    }
    let mut f = std::fs::File::open(&partial)
        .map_err(|e| ModelError::Fetch(format!("cannot read {}: {e}", partial.display())))?;
    let actual = sha256_reader(&mut f)
        .map_err(|e| ModelError::Fetch(format!("cannot read {}: {e}", partial.display())))?;
    if !actual.eq_ignore_ascii_case(&spec.sha256) {
        let _ = std::fs::remove_file(&partial);
        return Err(ModelError::HashMismatch {
            file: spec.file.clone(),
            expected: spec.sha256.clone(),
            actual,
        });
    }
    std::fs::rename(&partial, &dest)
        .map_err(|e| ModelError::Fetch(format!("cannot write {}: {e}", dest.display())))?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_source_fetch_says_how_to_give_one() {
        let dir = tempfile::tempdir().unwrap();
        let m = Manifest::builtin().unwrap();
        let err = fetch_all(&m, dir.path(), None).unwrap_err();
        assert_eq!(err.code(), "model.fetch_failed");
        assert!(err.to_string().contains("--from"));
    }

    #[test]
    fn a_source_with_wrong_bytes_is_refused_and_leaves_nothing() {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let m = Manifest::builtin().unwrap();
        for spec in &m.models {
            let p = src.path().join(&spec.file);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, b"tampered").unwrap();
        }
        let url = format!("file://{}", src.path().display());
        let err = fetch_all(&m, dst.path(), Some(&url)).unwrap_err();
        assert_eq!(err.code(), "model.hash_mismatch");
        let spec = &m.models[0];
        assert!(!dst.path().join(&spec.file).exists());
    }
}
