//! argon2 on a few threads of its own. Hashing on tokio's blocking pool
//! (any of up to 512 threads) let every thread that ever hashed keep a
//! 19 MiB buffer, so 100 concurrent logins kept ~700 MiB. A fixed set of
//! threads, each reusing one buffer ([`super::password`]), bounds it to
//! `max_concurrent_hashes` buffers.

use std::sync::{mpsc, Arc, Mutex};

type Work = Box<dyn FnOnce() + Send>;

/// The hashing threads; dropping it ends them once their queue is empty.
pub struct Hasher {
    tx: mpsc::Sender<Work>,
}

impl Hasher {
    /// Starts `threads` hashing threads (at least one). A thread that
    /// cannot be started is logged; with none, every run reports failure.
    pub fn new(threads: usize) -> Hasher {
        let (tx, rx) = mpsc::channel::<Work>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let started = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || loop {
                    // The lock is held only while waiting for the next run.
                    let next = rx.lock().map(|r| r.recv());
                    match next {
                        Ok(Ok(work)) => work(),
                        _ => return,
                    }
                });
            if let Err(e) = started {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Hasher { tx }
    }

    /// Runs `work` on a hashing thread; `None` if no thread took it.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.tx
            .send(Box::new(move || {
                let _ = done.send(work());
            }))
            .ok()?;
        result.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_work_on_its_own_named_threads() {
        let hasher = Hasher::new(2);
        let mut names = std::collections::BTreeSet::new();
        for _ in 0..8 {
            let name = hasher
                .run(|| std::thread::current().name().unwrap_or("").to_string())
                .await
                .unwrap();
            names.insert(name);
        }
        assert!(!names.is_empty() && names.len() <= 2, "{names:?}");
        assert!(names.iter().all(|n| n.starts_with("argon2-")), "{names:?}");
    }
}
