//! The retention sweep: hourly, it deletes what is due and nothing else:
//! uploads past their account's upload retention (unless a queued or
//! running job still needs them), and job outputs past their no-retain
//! expiry or their account's output retention. Each is deleted from the
//! store first and then marked in the database, so the API reports it
//! gone; a store failure leaves the mark off and the next sweep retries.
//! It also ends the tier of plans cancelled at the end of their period,
//! removes mail links a week past their expiry, and deletes webhook
//! deliveries older than the log keeps.

use std::time::Duration;

use tokio::sync::watch;

use super::app::AppState;
use super::error::ApiError;
use super::job::job_prefix;
use super::retention::defaults;
use super::uploads::remove_video;
use crate::db::now_ms;

/// Rows looked at per query.
const BATCH: i64 = 100;

/// How long a mail link's row outlives its expiry.
const LINK_KEEP_MS: i64 = 7 * 24 * 3600 * 1000;

/// What one sweep deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub uploads: u64,
    /// Jobs whose outputs were deleted.
    pub outputs: u64,
}

/// Sweeps hourly until `stop`.
pub async fn sweeper(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        match sweep_once(&state).await {
            Ok(s) if s != Swept::default() => {
                tracing::info!(uploads = s.uploads, outputs = s.outputs, "retention sweep")
            }
            Ok(_) => {}
            Err(e) => tracing::error!(code = e.code, "retention sweep failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// One sweep as of now.
pub async fn sweep_once(state: &AppState) -> Result<Swept, ApiError> {
    sweep_at(state, now_ms()).await
}

/// One sweep as of `now` (milliseconds since the epoch), which also
/// stamps what it deletes.
pub async fn sweep_at(state: &AppState, now: i64) -> Result<Swept, ApiError> {
    let defaults = defaults(&state.cfg);
    let mut swept = Swept::default();
    // Plans cancelled at the end of their period fall back here.
    let downgrades = state
        .db
        .apply_due_downgrades(now, &state.cfg.default_tier)
        .await?;
    if downgrades > 0 {
        tracing::info!(downgrades, "cancelled plans ended");
    }
    // Spent and expired mail links are kept a week, so that following one
    // says "used" or "expired" rather than "unknown"; then they go.
    state
        .db
        .delete_links_expired_before(now - LINK_KEEP_MS)
        .await?;
    let log_ms = state.cfg.user_webhooks.log_days * 24 * 3600 * 1000;
    let pruned = state.db.prune_deliveries(now - log_ms).await?;
    if pruned > 0 {
        tracing::info!(pruned, "old webhook deliveries deleted from the log");
    }
    loop {
        let batch = state.db.uploads_due(now, defaults, BATCH).await?;
        if batch.is_empty() {
            break;
        }
        for u in batch {
            remove_video(state, &u, now).await?;
            swept.uploads += 1;
        }
    }
    loop {
        let batch = state.db.outputs_due(now, defaults, BATCH).await?;
        if batch.is_empty() {
            break;
        }
        for due in batch {
            state
                .store
                .delete_prefix(&job_prefix(&due.account_id, &due.job_id))
                .await?;
            state
                .db
                .mark_outputs_deleted(&due.account_id, &due.job_id, now)
                .await?;
            swept.outputs += 1;
        }
    }
    Ok(swept)
}
