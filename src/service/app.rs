//! Builds the application: opens the database (migrating it) and the
//! store, assembles the router and starts the listener and the workers.
//! Tests call [`start`] with port 0 and a fresh database.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use super::state::AppState;
use super::{sweep, worker, ServiceConfig, ServiceError};
use crate::config::Config;
use crate::db::Db;
use crate::store::{self, local::LocalStore};

/// How long shutdown waits for requests and workers to end.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// What to start.
#[derive(Clone, Debug)]
pub struct StartOptions {
    /// Serve the HTTP API.
    pub api: bool,
    /// In-process workers.
    pub workers: usize,
}

/// A started service. Dropping it does not stop it; call [`Running::shutdown`].
pub struct Running {
    /// Where the API listens (when it was started).
    pub addr: Option<SocketAddr>,
    pub state: AppState,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops taking requests and work, hands running jobs back to the
    /// queue, and waits for everything to end.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        // Open event streams would hold graceful shutdown forever; after
        // the grace period they are cut.
        let all = futures_util::future::join_all(self.tasks);
        if tokio::time::timeout(SHUTDOWN_GRACE, all).await.is_err() {
            tracing::warn!("shutdown grace period over; closing remaining connections");
        }
    }

    /// Waits until the process is asked to stop (Ctrl-C or SIGTERM), then
    /// shuts down gracefully.
    pub async fn run_until_signal(self) {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing requests, handing back running jobs");
        self.shutdown().await;
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Opens the database and applies pending migrations.
pub async fn open_db(cfg: &ServiceConfig) -> Result<Db, ServiceError> {
    let db = Db::open(&cfg.database_url).await?;
    let applied = db.migrate().await?;
    if !applied.is_empty() {
        tracing::info!(?applied, "migrations applied");
    }
    Ok(db)
}

/// Opens everything and starts the API and/or workers.
pub async fn start(
    pipeline: Config,
    mut cfg: ServiceConfig,
    opts: StartOptions,
) -> Result<Running, ServiceError> {
    if cfg.store.kind == "local" && cfg.store.signing_secret.is_empty() {
        // The store and the route that checks its links must share one key.
        cfg.store.signing_secret = super::random_hex(32);
    }
    let db = open_db(&cfg).await?;
    let listener = if opts.api {
        let l = tokio::net::TcpListener::bind(&cfg.bind)
            .await
            .map_err(|e| ServiceError::Bind {
                addr: cfg.bind.clone(),
                reason: e.to_string(),
            })?;
        let addr = l.local_addr().map_err(|e| ServiceError::Bind {
            addr: cfg.bind.clone(),
            reason: e.to_string(),
        })?;
        // Port 0 is only known now; links must name the real one.
        if cfg.public_base_url.is_empty() || cfg.bind.ends_with(":0") {
            cfg.public_base_url = format!("http://{addr}");
        }
        Some((l, addr))
    } else {
        None
    };
    let store = store::open(&cfg.store, &cfg.public_base_url).await?;
    let local = if cfg.store.kind == "local" {
        Some(Arc::new(LocalStore::from_config(
            &cfg.store,
            &cfg.public_base_url,
        )?))
    } else {
        None
    };
    let state = AppState::new(db, store, local, cfg, pipeline)?;
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut addr = None;
    if let Some((listener, a)) = listener {
        addr = Some(a);
        let app = super::routes::router(state.clone());
        let mut rx = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let serve = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = rx.wait_for(|s| *s).await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "the HTTP server stopped");
            }
        }));
        tasks.push(tokio::spawn(sweep::sweeper(state.clone(), stop_rx.clone())));
        tracing::info!(%a, "listening");
    }
    tasks.push(tokio::spawn(super::wake::run(
        state.clone(),
        stop_rx.clone(),
    )));
    // Every process sends users' webhook events, API or worker: claims
    // keep two processes off one delivery.
    tasks.push(tokio::spawn(super::webhook_delivery::deliverer(
        state.clone(),
        stop_rx.clone(),
    )));
    for n in 0..opts.workers {
        tasks.push(tokio::spawn(worker::run(state.clone(), n, stop_rx.clone())));
    }
    Ok(Running {
        addr,
        state,
        stop,
        tasks,
    })
}
