//! The service's subcommands: `serve`, `worker`, `migrate` and `admin`.
//! `src/cli.rs` only declares them and hands over here.

use clap::{Args, Subcommand};

use super::{app, ServiceError, StartOptions};
use crate::config::Config;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Serve the API only; jobs are run by `vidmocap worker` processes.
    #[arg(long)]
    pub no_workers: bool,
    /// In-process workers (default: service.workers).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Listen address (default: service.bind).
    #[arg(long)]
    pub bind: Option<String>,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Jobs this process runs at once (default: gpu.jobs_per_gpu when a
    /// hardware GPU is present, else 1).
    #[arg(long)]
    pub concurrency: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Add credits to an account (recorded in its ledger as a grant).
    GrantCredits {
        #[arg(long)]
        email: String,
        #[arg(long)]
        credits: i64,
    },
    /// Move an account to another tier.
    SetTier {
        #[arg(long)]
        email: String,
        #[arg(long)]
        tier: String,
    },
    /// Print how many jobs are queued or running (what workers scale on).
    QueueDepth {
        /// Print the SQL query instead (the one the KEDA trigger runs).
        #[arg(long)]
        sql: bool,
    },
}

/// The account an operator names by email (case and spaces ignored).
async fn account_by_email(
    db: &crate::db::Db,
    email: &str,
) -> Result<(String, crate::db::accounts::Account), ServiceError> {
    let email = email.trim().to_lowercase();
    let account = db
        .account_by_email(&email)
        .await?
        .ok_or_else(|| ServiceError::NoSuchAccount(email.clone()))?;
    Ok((email, account))
}

fn runtime() -> Result<tokio::runtime::Runtime, ServiceError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ServiceError::Runtime(e.to_string()))
}

/// `vidmocap serve`.
pub fn serve(config: Config, args: ServeArgs) -> Result<(), crate::Error> {
    let mut svc = config.service.clone();
    svc.validate()?;
    if let Some(b) = args.bind {
        svc.bind = b;
    }
    let workers = if args.no_workers {
        0
    } else {
        args.workers.unwrap_or(svc.workers)
    };
    runtime()?.block_on(async move {
        let running = app::start(config, svc, StartOptions { api: true, workers }).await?;
        if let Some(addr) = running.addr {
            eprintln!("vidmocap listening on http://{addr} ({workers} in-process workers)");
        }
        running.run_until_signal().await;
        Ok(())
    })
}

/// `vidmocap worker`: runs jobs from the shared database, no API.
pub fn worker(config: Config, args: WorkerArgs) -> Result<(), crate::Error> {
    let svc = config.service.clone();
    svc.validate()?;
    let workers = args
        .concurrency
        .unwrap_or_else(|| default_concurrency(&config))
        .max(1);
    tracing::info!(workers, "worker starting");
    runtime()?.block_on(async move {
        let running = app::start(
            config,
            svc,
            StartOptions {
                api: false,
                workers,
            },
        )
        .await?;
        running.run_until_signal().await;
        Ok(())
    })
}

/// Jobs a worker runs at once unless told: one per CPU-only machine (a job
/// already keeps every core busy), `gpu.jobs_per_gpu` with a hardware GPU,
/// where jobs share the device and its pipelines and each one's ONNX
/// Runtime arenas are capped by `gpu.session_memory_mib`.
fn default_concurrency(config: &Config) -> usize {
    if config.gpu.device == crate::config::Device::Cpu {
        return 1;
    }
    match crate::gpu::hardware() {
        Ok(_) => config.gpu.jobs_per_gpu,
        Err(_) => 1,
    }
}

/// `vidmocap migrate`.
pub fn migrate(config: Config) -> Result<(), crate::Error> {
    runtime()?.block_on(async move {
        let db = crate::db::Db::open(&config.service.database_url)
            .await
            .map_err(ServiceError::from)?;
        let applied = db.migrate().await.map_err(ServiceError::from)?;
        if applied.is_empty() {
            println!("database is up to date");
        }
        for name in applied {
            println!("applied {name}");
        }
        Ok(())
    })
}

/// `vidmocap admin …`.
pub fn admin(config: Config, cmd: AdminCommand) -> Result<(), crate::Error> {
    if let AdminCommand::QueueDepth { sql: true } = cmd {
        println!("{}", crate::db::jobs::QUEUE_DEPTH_SQL);
        return Ok(());
    }
    runtime()?.block_on(async move {
        let db = app::open_db(&config.service).await?;
        match cmd {
            AdminCommand::GrantCredits { email, credits } => {
                if credits <= 0 {
                    return Err(crate::config::ConfigError::Invalid(
                        "--credits must be a positive number".into(),
                    )
                    .into());
                }
                let (email, account) = account_by_email(&db, &email).await?;
                let done = db
                    .add_credits(&account.id, credits, "grant", Some("admin"))
                    .await
                    .map_err(ServiceError::from)?;
                if done == crate::db::ledger::Credited::OverLimit {
                    return Err(crate::config::ConfigError::Invalid(format!(
                        "a grant and a balance may not pass {} credits",
                        crate::db::ledger::MAX_CREDITS
                    ))
                    .into());
                }
                let after = db.account(&account.id).await.map_err(ServiceError::from)?;
                println!(
                    "granted {credits} credits to {email}; balance {}",
                    after.map_or(0, |a| a.balance)
                );
            }
            AdminCommand::SetTier { email, tier } => {
                if !config.service.tiers.contains_key(&tier) {
                    return Err(crate::config::ConfigError::Invalid(format!(
                        "no tier {tier:?} in service.tiers"
                    ))
                    .into());
                }
                let (email, account) = account_by_email(&db, &email).await?;
                db.set_tier(&account.id, &tier)
                    .await
                    .map_err(ServiceError::from)?;
                println!("{email} is now on tier {tier}");
            }
            AdminCommand::QueueDepth { .. } => {
                println!("{}", db.queue_depth().await.map_err(ServiceError::from)?);
            }
        }
        Ok(())
    })
}
