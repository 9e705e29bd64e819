//! Wake-ups for idle workers and event streams: on PostgreSQL one task per
//! process LISTENs for job changes and fans the job ids out; everyone who
//! waits also keeps a timer, short while the listener is down (and always
//! on SQLite), long while it is up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use super::app::AppState;
use crate::db::notify::JobListener;
use crate::db::Backend;

/// The fan-out of job ids and whether it is live.
pub struct Wake {
    tx: broadcast::Sender<String>,
    live: AtomicBool,
}

impl Default for Wake {
    fn default() -> Self {
        Wake {
            tx: broadcast::channel(256).0,
            live: AtomicBool::new(false),
        }
    }
}

impl Wake {
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.tx.subscribe()
    }

    /// Whether notifications are arriving now.
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Relaxed)
    }

    /// Waits for a change of `job` (any job when `None`) or until
    /// `fallback` has passed, whichever is first.
    pub async fn wait(
        &self,
        rx: &mut broadcast::Receiver<String>,
        job: Option<&str>,
        fallback: Duration,
    ) {
        let until = tokio::time::Instant::now() + fallback;
        loop {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Err(_) => return,
                // Lagged or closed: something was missed, look now.
                Ok(Err(_)) => return,
                Ok(Ok(id)) if job.is_none() || id.is_empty() || Some(id.as_str()) == job => return,
                Ok(Ok(_)) => {}
            }
        }
    }
}

/// How long a waiter sleeps without a wake-up.
pub fn fallback(state: &AppState, polling_ms: u64) -> Duration {
    if state.wake.is_live() {
        Duration::from_millis(state.cfg.notify_poll_ms.max(polling_ms))
    } else {
        Duration::from_millis(polling_ms)
    }
}

/// Listens until `stop` turns true (PostgreSQL only), reconnecting after
/// failures; while it is down the waiters poll at their short interval.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    if state.db.backend != Backend::Postgres {
        return;
    }
    let wake = &state.wake;
    while !*stop.borrow() {
        let mut listener = match JobListener::connect(&state.cfg.database_url).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot LISTEN for job changes; polling");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
        };
        wake.live.store(true, Ordering::Relaxed);
        loop {
            let next = tokio::select! {
                n = listener.next() => n,
                _ = stop.changed() => break,
            };
            match next {
                Ok(Some(id)) => {
                    let _ = wake.tx.send(id);
                }
                Ok(None) | Err(_) => {
                    // Lost: whatever was sent meanwhile is gone, so
                    // everyone looks now and polls until it is back.
                    wake.live.store(false, Ordering::Relaxed);
                    let _ = wake.tx.send(String::new());
                    tracing::warn!("job notifications lost; polling until reconnected");
                    break;
                }
            }
        }
        wake.live.store(false, Ordering::Relaxed);
    }
}
