//! The shared clips (../shared/media, never committed), found through
//! `VIDMOCAP_MEDIA_DIR`, which `make test` sets. One definition for every
//! test binary, so they all fail the same clear way when it is unset.
#![allow(dead_code)]

use std::path::PathBuf;

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
