//! Test helper: runs the Khronos glTF-Validator (the npm package pinned in
//! `tools/gltf-validator`) over a file and returns its JSON report.
//!
//! Include from an integration test with
//! `#[path = "support/gltf_validator.rs"] mod gltf_validator;`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn tool_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/gltf-validator")
}

/// The validator's report for the glTF/GLB at `path` (the whole report:
/// `issues.numErrors`, `issues.messages`, `info`, ...). Panics when the
/// harness cannot run at all, saying how to fix it; an invalid asset is not
/// a panic here, callers assert on the report.
pub fn validate_glb(path: &Path) -> serde_json::Value {
    let dir = tool_dir();
    if !dir.join("node_modules/gltf-validator").is_dir() {
        panic!(
            "the glTF validator is not installed ({} is missing): run `npm ci --prefix tools/gltf-validator`",
            dir.join("node_modules").display()
        );
    }
    let output = Command::new("node")
        .arg(dir.join("validate.mjs"))
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!("could not run `node` (is Node.js installed and on PATH?): {e}")
        });
    // Exit status 1 means "the asset has errors" and still comes with a
    // report; anything else means the harness itself failed.
    let code = output.status.code();
    if !matches!(code, Some(0) | Some(1)) {
        panic!(
            "glTF validator failed on {} (status {:?}): {}",
            path.display(),
            code,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "glTF validator printed no JSON report for {} ({e}); stderr: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}
