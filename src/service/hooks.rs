//! Points in a job's run that something outside the worker may wait on:
//! empty in a normal process, set by tests that must see the store at an
//! exact moment (a no-retain upload gone while its job still runs). A
//! hook is awaited where it sits, so the job goes no further until it
//! returns.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

/// A hook: called with the job's id.
pub type Hook = Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A hook from an async function of the job's id.
pub fn hook<F, Fut>(f: F) -> Hook
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move |job_id| Box::pin(f(job_id)))
}

/// Every hook, each set at most once for the life of the process.
#[derive(Default)]
pub struct Hooks {
    /// After the worker's decoding has ended and a no-retain job's upload
    /// has been deleted from the store, before the job's later stages can
    /// finish it.
    pub after_decode: OnceLock<Hook>,
}

impl Hooks {
    /// Runs `after_decode` when one is set.
    pub async fn after_decode(&self, job_id: &str) {
        if let Some(hook) = self.after_decode.get() {
            hook(job_id.to_string()).await;
        }
    }
}
