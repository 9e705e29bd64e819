//! The shared clips (../shared/media, never committed), found through
//! `VIDMOCAP_MEDIA_DIR`, which `make test` sets. One definition for every
//! test binary, so they all fail the same clear way when it is unset;
//! and short cuts of them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The folder of shared clips; panics with what to set when it is missing
/// or does not hold them.
pub fn media_dir() -> PathBuf {
    let Some(dir) = std::env::var_os("VIDMOCAP_MEDIA_DIR") else {
        panic!(
            "VIDMOCAP_MEDIA_DIR is not set: point it at the folder holding the test \
             clips (walk_outdoor.mp4, two_people.mp4); make test sets it"
        );
    };
    let dir = PathBuf::from(dir);
    assert!(
        dir.join("walk_outdoor.mp4").is_file(),
        "VIDMOCAP_MEDIA_DIR={} does not contain walk_outdoor.mp4",
        dir.display()
    );
    dir
}

/// One shared clip by file name.
pub fn media(name: &str) -> PathBuf {
    media_dir().join(name)
}

/// The first `secs` seconds of `src`, re-encoded (a cut on any frame, the
/// rotation applied), into `dst`.
pub fn cut(src: &Path, secs: &str, dst: &Path) {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(src)
        .args(["-t", secs, "-an", "-c:v", "libx264", "-preset", "ultrafast"])
        .args(["-pix_fmt", "yuv420p"])
        .arg(dst)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg cut {}", src.display());
}
