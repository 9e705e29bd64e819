//! What every handler and worker can reach: the database, the store, the
//! settings, the counters and limits, and the job wake-ups.

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::hasher::Hasher;
use super::hooks::Hooks;
use super::mailer::Mailer;
use super::oidc::Providers;
use super::ops::{Metrics, RateLimiter};
use super::stripe::Stripe;
use super::wake::Wake;
use super::{ServiceConfig, ServiceError};
use crate::config::Config;
use crate::db::Db;
use crate::store::{local::LocalStore, Store};

/// Shared by every request and worker of one process.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub store: Arc<dyn Store>,
    /// The same local store, for the `/v1/blobs` route that serves its
    /// signed links; `None` on S3, whose links go to S3 itself.
    pub local: Option<Arc<LocalStore>>,
    pub cfg: Arc<ServiceConfig>,
    pub pipeline: Arc<Config>,
    pub metrics: Arc<Metrics>,
    pub limiter: Arc<RateLimiter>,
    /// argon2's own threads (`max_concurrent_hashes` of them): each run
    /// takes 19 MiB, and a burst of logins must not take the process's
    /// memory with it.
    pub hasher: Arc<Hasher>,
    /// Caps upload validations (full decodes) running in the API process.
    pub validations: Arc<Semaphore>,
    /// Ids of jobs that changed, from PostgreSQL's NOTIFY. Every waiter
    /// also polls, so a missed message only costs time.
    pub wake: Arc<Wake>,
    /// Where a job's run may be waited on (see [`super::hooks`]).
    pub hooks: Arc<Hooks>,
    /// Stripe's API, for checkout and the customer portal.
    pub stripe: Arc<Stripe>,
    /// Account links and job notifications (possibly off).
    pub mailer: Arc<Mailer>,
    /// The sign-in providers, with their cached discovery and keys.
    pub oidc: Arc<Providers>,
}

impl AppState {
    pub fn new(
        db: Db,
        store: Arc<dyn Store>,
        local: Option<Arc<LocalStore>>,
        cfg: ServiceConfig,
        pipeline: Config,
    ) -> Result<AppState, ServiceError> {
        let mailer = Mailer::new(&cfg.mail, &cfg.public_base_url).map_err(ServiceError::Mail)?;
        Ok(AppState {
            db,
            store,
            local,
            limiter: Arc::new(RateLimiter::new(
                cfg.rate_per_ip_per_min,
                cfg.rate_per_account_per_min,
                cfg.login_failures_per_min,
            )),
            hasher: Arc::new(Hasher::new(cfg.max_concurrent_hashes)),
            validations: Arc::new(Semaphore::new(cfg.max_concurrent_validations.max(1))),
            wake: Arc::new(Wake::default()),
            hooks: Arc::new(Hooks::default()),
            stripe: Arc::new(Stripe::new(&cfg.billing)),
            mailer: Arc::new(mailer),
            oidc: Arc::new(Providers::new(&cfg.oidc, &cfg.public_base_url)),
            cfg: Arc::new(cfg),
            pipeline: Arc::new(pipeline),
            metrics: Arc::new(Metrics::default()),
        })
    }
}
