//! The job service: accounts, credits, uploads, jobs and the workers that
//! run the capture pipeline, behind an axum HTTP API under `/v1`.
//!
//! `vidmocap serve` starts the API and (by default) in-process workers on
//! SQLite and the local store; `vidmocap serve --no-workers` plus any number
//! of `vidmocap worker` processes share PostgreSQL and S3. All SQL is in
//! [`crate::db`]; blobs go through [`crate::store::Store`].

pub mod account;
pub mod api_types;
pub mod app;
pub mod auth;
pub mod billing;
pub mod blobs;
pub mod cli;
pub mod config;
pub mod credits;
pub mod error;
pub mod extract;
pub mod hasher;
pub mod hooks;
pub mod job;
pub mod jobs;
pub mod mailer;
pub mod mails;
pub mod notify;
pub mod oidc;
pub mod ops;
pub mod password;
pub mod portal;
pub mod privacy;
pub mod retention;
pub mod routes;
pub mod showcase;
pub mod split;
pub mod state;
pub mod stripe;
pub mod sweep;
pub mod tracks;
pub mod uploads;
pub mod user_webhooks;
pub mod wake;
pub mod webhook;
pub mod webhook_delivery;
pub mod webhook_url;
pub mod worker;

pub use app::{start, Running, StartOptions};
pub use config::{
    BillingConfig, MailConfig, MailTransport, Pack, Plan, ServiceConfig, SmtpTls, Tier,
    UserWebhookConfig,
};

use thiserror::Error;

/// Failures starting or running the service (not per-request errors,
/// which are [`error::ApiError`]).
#[derive(Debug, Error)]
pub enum ServiceError {
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: String, reason: String },
    #[error("no account with email {0}")]
    NoSuchAccount(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(String),
    #[error("cannot set up mail: {0}")]
    Mail(String),
}

impl ServiceError {
    /// Stable code for the CLI and logs.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::Db(e) => e.code(),
            ServiceError::Store(e) => e.code(),
            ServiceError::Bind { .. } => "service.bind",
            ServiceError::NoSuchAccount(_) => "service.no_such_account",
            ServiceError::Runtime(_) => "service.runtime",
            ServiceError::Mail(_) => "service.mail",
        }
    }
}

/// Random bytes as lowercase hex, for tokens, keys and ids that must not
/// be guessed.
pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// SHA-256 of a string as hex: how session tokens and API keys are stored.
pub fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// SHA-256 of a file's bytes as hex, read in chunks: what an upload is
/// pinned to when it is priced.
pub async fn file_sha256(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::Digest;
    use tokio::io::AsyncReadExt;
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
