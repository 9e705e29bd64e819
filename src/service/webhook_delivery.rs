//! Sending users' webhook events: every process (API or worker) runs one
//! [`deliverer`] loop that claims due deliveries from the database (see
//! [`crate::db::webhooks`]), posts each one signed, and records the
//! attempt. A 2xx answer delivers it; anything else (another status, a
//! timeout, a refused connection, an address the guard refuses) is tried
//! again after `retry_base_ms`, doubling each time up to `retry_max_ms`,
//! until `max_attempts` have been made.
//!
//! The body is the same on every attempt; each attempt is signed afresh
//! by Stripe's scheme with the webhook's secret ([`super::credits::sign`]):
//! `Vidmocap-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>">`. `Vidmocap-Event-Id` repeats the body's `id`, which is
//! what receivers de-duplicate on.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use super::app::AppState;
use super::config::UserWebhookConfig;
use super::credits::sign;
use super::webhook_url::{self, refused_by_guard};
use crate::db::now_ms;
use crate::db::webhooks::{Claimed, Outcome};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "vidmocap-signature";
/// The event id header, equal to the body's `id`.
pub const EVENT_ID_HEADER: &str = "vidmocap-event-id";

/// An event as it is sent.
#[derive(Debug, Serialize)]
pub struct Event<'a> {
    /// Stable across attempts.
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'a str,
    /// When the job ended, unix seconds.
    pub created: i64,
    pub data: EventData<'a>,
}

#[derive(Debug, Serialize)]
pub struct EventData<'a> {
    pub job: EventJob<'a>,
}

/// The job, as much as its owner's API client needs to act on it.
#[derive(Debug, Serialize)]
pub struct EventJob<'a> {
    pub id: &'a str,
    /// `succeeded`, `failed` or `canceled`.
    pub status: &'a str,
    /// The job in the API.
    pub url: String,
    /// Where its files' download links are (the API key is needed);
    /// `null` unless it succeeded.
    pub outputs_url: Option<String>,
    /// Why it did not succeed; `null` when it did.
    pub error: Option<EventError<'a>>,
}

#[derive(Debug, Serialize)]
pub struct EventError<'a> {
    pub code: &'a str,
    pub message: &'a str,
}

/// The JSON body of a delivery; `base` is the API's public URL.
pub fn body(base: &str, d: &Claimed) -> String {
    let base = base.trim_end_matches('/');
    let status = d.event_type.strip_prefix("job.").unwrap_or(&d.event_type);
    let job_url = format!("{base}/v1/jobs/{}", d.job_id);
    let event = Event {
        id: &d.event_id,
        kind: &d.event_type,
        created: d.occurred_ms / 1000,
        data: EventData {
            job: EventJob {
                id: &d.job_id,
                status,
                outputs_url: (status == "succeeded").then(|| format!("{job_url}/outputs")),
                url: job_url,
                error: d.error_code.as_deref().map(|code| EventError {
                    code,
                    message: d.error_message.as_deref().unwrap_or(""),
                }),
            },
        },
    };
    serde_json::to_string(&event).expect("an event serialises")
}

/// When the attempt after `attempt` (1 for the first) is due, `None` when
/// it was the last: `base · 2^(attempt-1)`, at most `retry_max_ms`.
pub fn next_retry(cfg: &UserWebhookConfig, attempt: i64, now: i64) -> Option<i64> {
    if attempt >= cfg.max_attempts {
        return None;
    }
    let doublings = (attempt - 1).clamp(0, 32) as u32;
    let delay = cfg
        .retry_base_ms
        .saturating_mul(1u64 << doublings)
        .min(cfg.retry_max_ms);
    Some(now.saturating_add(delay as i64))
}

/// What one attempt came to: the status, or the error code instead.
async fn send(
    http: &reqwest::Client,
    cfg: &UserWebhookConfig,
    d: &Claimed,
    body: String,
) -> (Option<i64>, Option<&'static str>) {
    // A literal address never reaches the resolver: judged here.
    if let Err(p) = webhook_url::parse(&d.url, cfg.allow_private_urls) {
        return (None, Some(p.code()));
    }
    let t = now_ms() / 1000;
    let signature = sign(&d.secret, t, body.as_bytes());
    let sent = http
        .post(&d.url)
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, signature)
        .header(EVENT_ID_HEADER, &d.event_id)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(resp) => (Some(resp.status().as_u16() as i64), None),
        Err(e) => {
            let code = if let Some(p) = refused_by_guard(&e) {
                p.code()
            } else if e.is_timeout() {
                "user_webhook.timeout"
            } else if e.is_connect() {
                "user_webhook.connect"
            } else {
                "user_webhook.request"
            };
            tracing::info!(error = %e, code, "webhook attempt failed");
            (None, Some(code))
        }
    }
}

/// Claims and sends one due delivery; false when none was due.
pub async fn deliver_one(state: &AppState, http: &reqwest::Client, owner: &str) -> bool {
    let cfg = &state.cfg.user_webhooks;
    let now = now_ms();
    // Past the attempt's own limit, with room to record it.
    let lease_until = now + cfg.timeout_ms as i64 + 30_000;
    let claimed = match state.db.claim_delivery(owner, now, lease_until).await {
        Ok(Some(c)) => c,
        Ok(None) => return false,
        Err(e) => {
            tracing::error!(error = %e, "claiming a webhook delivery failed");
            return false;
        }
    };
    let body = body(&state.cfg.public_base_url, &claimed);
    let (status, error) = send(http, cfg, &claimed, body).await;
    let at = now_ms();
    let delivered = status.is_some_and(|s| (200..300).contains(&s));
    let outcome = Outcome {
        at_ms: at,
        http_status: status,
        error: error.map(str::to_string),
        delivered,
        next_retry_ms: if delivered {
            None
        } else {
            next_retry(cfg, claimed.attempt, at)
        },
    };
    match state.db.record_attempt(&claimed, owner, &outcome).await {
        Ok(true) => tracing::info!(
            webhook = %claimed.webhook_id,
            event = %claimed.event_id,
            attempt = claimed.attempt,
            status,
            error,
            delivered,
            "webhook attempt"
        ),
        Ok(false) => {
            tracing::warn!(event = %claimed.event_id, "webhook lease lost; attempt not recorded")
        }
        Err(e) => tracing::error!(error = %e, "recording a webhook attempt failed"),
    }
    true
}

/// Delivers until `stop`: everything due, then a pause of `poll_ms`.
pub async fn deliverer(state: AppState, mut stop: watch::Receiver<bool>) {
    let cfg = state.cfg.user_webhooks.clone();
    let http = webhook_url::delivery_client(
        cfg.allow_private_urls,
        Duration::from_millis(cfg.timeout_ms),
    );
    let owner = format!(
        "hooks-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    while !*stop.borrow() {
        while !*stop.borrow() && deliver_one(&state, &http, &owner).await {}
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(cfg.poll_ms)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::credits::verify_signature;

    fn claimed(kind: &str, error: Option<(&str, &str)>) -> Claimed {
        Claimed {
            id: "d".into(),
            webhook_id: "w".into(),
            url: "https://example.com/hook".into(),
            secret: "whsec_x".into(),
            event_id: "evt_1".into(),
            event_type: kind.into(),
            job_id: "j1".into(),
            error_code: error.map(|e| e.0.into()),
            error_message: error.map(|e| e.1.into()),
            occurred_ms: 1_700_000_000_123,
            attempt: 1,
        }
    }

    #[test]
    fn bodies_say_what_the_job_came_to() {
        let ok: serde_json::Value = serde_json::from_str(&body(
            "https://api.example/",
            &claimed("job.succeeded", None),
        ))
        .unwrap();
        assert_eq!(ok["id"], "evt_1");
        assert_eq!(ok["type"], "job.succeeded");
        assert_eq!(ok["created"], 1_700_000_000);
        assert_eq!(ok["data"]["job"]["status"], "succeeded");
        assert_eq!(
            ok["data"]["job"]["outputs_url"],
            "https://api.example/v1/jobs/j1/outputs"
        );
        assert!(ok["data"]["job"]["error"].is_null());
        let failed: serde_json::Value = serde_json::from_str(&body(
            "https://api.example",
            &claimed("job.failed", Some(("pipeline.no_person", "no person"))),
        ))
        .unwrap();
        assert_eq!(failed["data"]["job"]["status"], "failed");
        assert!(failed["data"]["job"]["outputs_url"].is_null());
        assert_eq!(failed["data"]["job"]["error"]["code"], "pipeline.no_person");
    }

    #[test]
    fn retries_back_off_and_end() {
        let cfg = UserWebhookConfig {
            retry_base_ms: 1000,
            retry_max_ms: 5000,
            max_attempts: 5,
            ..UserWebhookConfig::default()
        };
        let delays: Vec<Option<i64>> = (1..=5).map(|a| next_retry(&cfg, a, 0)).collect();
        assert_eq!(
            delays,
            [Some(1000), Some(2000), Some(4000), Some(5000), None]
        );
    }

    #[test]
    fn a_receiver_verifies_what_is_signed() {
        let b = body("https://api.example", &claimed("job.succeeded", None));
        let header = sign("whsec_x", 1000, b.as_bytes());
        assert_eq!(
            verify_signature("whsec_x", &header, b.as_bytes(), 1010, 300),
            Ok(())
        );
        assert!(verify_signature("whsec_y", &header, b.as_bytes(), 1010, 300).is_err());
    }
}
