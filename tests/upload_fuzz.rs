//! Upload validation (probe, then a full software decode) on random bytes
//! and on mutated copies of the real clips: a seeded loop of a fixed
//! number of cases, each in its own thread with a deadline, so CI spends a
//! few seconds. Every case must end in an accepted video or a typed
//! `video.*` error: no panic, no hang.
//!
//! `VIDMOCAP_FUZZ_CASES` and `VIDMOCAP_FUZZ_SEED` run more or other cases.

#[path = "support/service.rs"]
mod support;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vidmocap::service::uploads::{validate_video, Invalid};
use vidmocap::video::Limits;

/// How one case's bytes are made.
fn mutate(rng: &mut StdRng, clips: &[Vec<u8>], case: usize) -> (String, Vec<u8>) {
    let clip = &clips[rng.gen_range(0..clips.len())];
    match case % 6 {
        0 => {
            let n = rng.gen_range(0..64 * 1024);
            ("random bytes".into(), (0..n).map(|_| rng.gen()).collect())
        }
        1 => {
            let n = rng.gen_range(0..clip.len());
            (format!("truncated to {n}"), clip[..n].to_vec())
        }
        2 => {
            // Flips in the first 4 KiB: the container's boxes and headers.
            let mut b = clip.clone();
            let flips = rng.gen_range(1..16);
            for _ in 0..flips {
                let i = rng.gen_range(0..b.len().min(4096));
                b[i] ^= 1 << rng.gen_range(0..8);
            }
            (format!("{flips} header bit flips"), b)
        }
        3 => {
            let mut b = clip.clone();
            let flips = rng.gen_range(1..64);
            for _ in 0..flips {
                let i = rng.gen_range(0..b.len());
                b[i] = rng.gen();
            }
            (format!("{flips} random bytes replaced"), b)
        }
        4 => {
            // A run of garbage over the middle: compressed frames.
            let mut b = clip.clone();
            let start = rng.gen_range(0..b.len());
            let len = rng.gen_range(1..8192).min(b.len() - start);
            for x in &mut b[start..start + len] {
                *x = rng.gen();
            }
            (format!("{len} bytes of garbage at {start}"), b)
        }
        _ => {
            // Two clips spliced: valid headers, foreign data.
            let other = &clips[rng.gen_range(0..clips.len())];
            let cut = rng.gen_range(0..clip.len().min(other.len()));
            let mut b = clip[..cut].to_vec();
            b.extend_from_slice(&other[cut..]);
            (format!("spliced at {cut}"), b)
        }
    }
}

#[test]
fn validation_never_panics_or_hangs_on_mangled_videos() {
    let cases: usize = std::env::var("VIDMOCAP_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let seed: u64 = std::env::var("VIDMOCAP_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(13);
    let clips: Vec<Vec<u8>> = ["street.mp4", "two_people.mp4"]
        .iter()
        .map(|n| std::fs::read(support::media(n)).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut accepted, mut refused, mut timed_out) = (0, 0, 0);
    let started = Instant::now();
    for case in 0..cases {
        let (what, bytes) = mutate(&mut rng, &clips, case);
        let path = dir.path().join(format!("case{case}.mp4"));
        std::fs::write(&path, &bytes).unwrap();
        let (tx, rx) = mpsc::channel();
        let run_path = path.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(5);
            let out = std::panic::catch_unwind(|| {
                validate_video(&run_path, &Limits::default(), deadline)
            });
            let _ = tx.send(out);
        });
        let out = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("case {case} ({what}, seed {seed}) hung"));
        match out {
            Err(_) => panic!("case {case} ({what}, seed {seed}) panicked"),
            Ok(Ok(_)) => accepted += 1,
            Ok(Err(Invalid::Video(e))) => {
                assert!(e.code().starts_with("video."), "{}", e.code());
                assert!(!e.to_string().is_empty());
                refused += 1;
            }
            Ok(Err(Invalid::TimedOut)) => timed_out += 1,
        }
        std::fs::remove_file(&path).unwrap();
    }
    println!(
        "{cases} cases (seed {seed}) in {:.1} s: {accepted} accepted, {refused} refused, {timed_out} timed out",
        started.elapsed().as_secs_f64()
    );
    assert!(
        refused > cases / 3,
        "the mutations should mostly break the clips"
    );
}
