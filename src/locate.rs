//! Where the ONNX Runtime library and the model files are when nothing
//! says: the user configuration `scripts/setup.sh` writes
//! (`$XDG_CONFIG_HOME/vidmocap/config.toml`, platform folders through
//! `etcetera`), then beside the executable (an install, or a checkout's
//! `target/release`), then the platform's data folder
//! (`$XDG_DATA_HOME/vidmocap`). Explicit settings (configuration file,
//! environment, flags) always win; this only fills what they left unset.

use std::path::{Path, PathBuf};

use etcetera::base_strategy::{choose_base_strategy, BaseStrategy};

/// File name of the ONNX Runtime library on this platform.
pub const ORT_LIBRARY_NAME: &str = if cfg!(target_os = "macos") {
    "libonnxruntime.dylib"
} else if cfg!(windows) {
    "onnxruntime.dll"
} else {
    "libonnxruntime.so"
};

/// The command that installs the ONNX Runtime library and records it.
pub const SETUP_COMMAND: &str = "scripts/setup.sh";

/// `vidmocap/config.toml` in the platform's configuration folder.
pub fn user_config_file() -> Option<PathBuf> {
    let base = choose_base_strategy().ok()?;
    Some(base.config_dir().join("vidmocap").join("config.toml"))
}

/// `vidmocap` in the platform's data folder.
pub fn data_dir() -> Option<PathBuf> {
    let base = choose_base_strategy().ok()?;
    Some(base.data_dir().join("vidmocap"))
}

/// Folders searched, in order, after the user configuration: beside the
/// executable, the checkout it was built in (`target/<profile>/` two levels
/// below the checkout root), then the data folder.
fn search_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.canonicalize().ok())
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        roots.push(dir.clone());
        if let Some(checkout) = dir.parent().and_then(Path::parent) {
            roots.push(checkout.join(".tools"));
            roots.push(checkout.to_path_buf());
        }
    }
    roots.extend(data_dir());
    roots
}

/// Every place the ONNX Runtime library is looked for, in order.
pub fn ort_library_candidates() -> Vec<PathBuf> {
    search_roots()
        .into_iter()
        .flat_map(|r| {
            [
                r.join(ORT_LIBRARY_NAME),
                r.join("onnxruntime").join(ORT_LIBRARY_NAME),
            ]
        })
        .collect()
}

/// Every folder the models are looked for in, in order.
pub fn models_dir_candidates() -> Vec<PathBuf> {
    search_roots()
        .into_iter()
        .map(|r| r.join("models"))
        .collect()
}

/// Fills `ort_library` when unset, and `models_dir` (when given: the
/// default, nobody chose it) when it does not hold `probe_model`, from the
/// first candidate that exists; leaves them as they are otherwise.
pub fn fill_in(
    ort_library: &mut Option<PathBuf>,
    models_dir: Option<&mut PathBuf>,
    probe_model: &str,
) {
    if ort_library.is_none() {
        *ort_library = ort_library_candidates().into_iter().find(|p| p.is_file());
    }
    let Some(models_dir) = models_dir else {
        return;
    };
    if !models_dir.join(probe_model).is_file() {
        if let Some(dir) = models_dir_candidates()
            .into_iter()
            .find(|d| d.join(probe_model).is_file())
        {
            *models_dir = dir;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_follow_the_executable_and_end_in_the_data_folder() {
        let libs = ort_library_candidates();
        let exe_dir = std::env::current_exe().unwrap();
        let exe_dir = exe_dir.canonicalize().unwrap();
        let exe_dir = exe_dir.parent().unwrap();
        assert_eq!(libs[0], exe_dir.join(ORT_LIBRARY_NAME));
        let data = data_dir().unwrap();
        assert_eq!(
            libs.last().unwrap(),
            &data.join("onnxruntime").join(ORT_LIBRARY_NAME)
        );
        assert_eq!(
            models_dir_candidates().last().unwrap(),
            &data.join("models")
        );
    }

    #[test]
    fn explicit_settings_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("probe.onnx"), b"x").unwrap();
        let mut lib = Some(PathBuf::from("/configured/lib.so"));
        let mut models = dir.path().to_path_buf();
        fill_in(&mut lib, Some(&mut models), "probe.onnx");
        assert_eq!(lib, Some(PathBuf::from("/configured/lib.so")));
        assert_eq!(models, dir.path());
    }
}
