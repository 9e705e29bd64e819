//! Pricing, the ledger view and the payment webhook's signatures (the
//! events themselves are [`super::webhook`]'s).
//!
//! The webhook follows Stripe's scheme: `Stripe-Signature: t=<unix>,v1=<hex
//! HMAC-SHA256(secret, "<t>.<raw body>")>`; a timestamp outside the
//! tolerance window is refused (replay), and each event id is applied once
//! (the database records it in the same transaction as the top-up).

use super::extract::Json;
use axum::extract::State;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::api_types::{Ledger, PriceTable, QualityFactors};
use super::app::AppState;
use super::auth::Caller;
use super::config::ServiceConfig;
use super::error::ApiResult;
use crate::config::Quality;

/// Credits a clip of `duration_s` seconds costs at quality `q`: the
/// per-second price times the preset's factor, rounded up, never below the
/// per-job minimum.
pub fn price(cfg: &ServiceConfig, duration_s: f64, q: Quality) -> i64 {
    let per_second = cfg.credits_per_second * cfg.quality_prices.factor(q);
    let raw = (duration_s.max(0.0) * per_second).ceil() as i64;
    raw.max(cfg.min_job_credits)
}

/// The price table clients show before a job is sent: per-second price,
/// minimum, and each preset's factor.
pub fn price_table(cfg: &ServiceConfig, default_quality: Quality) -> PriceTable {
    let q = cfg.quality_prices;
    PriceTable {
        credits_per_second: cfg.credits_per_second,
        min_job_credits: cfg.min_job_credits,
        quality_factors: QualityFactors {
            fast: q.fast,
            balanced: q.balanced,
            best: q.best,
        },
        default_quality,
        resolve_credits: cfg.resolve_credits,
    }
}

/// `GET /v1/account/ledger`.
#[utoipa::path(
    get,
    path = "/v1/account/ledger",
    tag = "account",
    summary = "Credit ledger",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "The balance and every entry", body = Ledger)),
)]
pub async fn ledger(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Ledger>> {
    let entries = state.db.ledger(&caller.account.id).await?;
    let a = &caller.account;
    Ok(Json(Ledger {
        balance: a.balance,
        reserved: a.reserved,
        available: a.balance - a.reserved,
        entries,
    }))
}

/// Checks a `Stripe-Signature` header against the raw body.
pub fn verify_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), &'static str> {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.push(v.to_string()),
            _ => {}
        }
    }
    let t = t.ok_or("webhook.bad_signature")?;
    if (now_unix - t).abs() > tolerance_secs {
        return Err("webhook.stale");
    }
    for sig in sigs {
        let Ok(sig) = hex::decode(sig) else { continue };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .map_err(|_| "webhook.bad_signature")?;
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        // verify_slice compares in constant time.
        if mac.verify_slice(&sig).is_ok() {
            return Ok(());
        }
    }
    Err("webhook.bad_signature")
}

/// Signs a payload the way the payment provider does (for tests and tools).
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_rounds_up_and_has_a_floor() {
        let cfg = ServiceConfig {
            credits_per_second: 2.0,
            min_job_credits: 5,
            ..ServiceConfig::default()
        };
        assert_eq!(price(&cfg, 7.01, Quality::Balanced), 15);
        assert_eq!(price(&cfg, 1.0, Quality::Balanced), 5);
        assert_eq!(price(&cfg, 0.0, Quality::Balanced), 5);
        // The presets' factors (0.5, 1, 2 by default) scale the per-second price.
        assert_eq!(price(&cfg, 10.0, Quality::Fast), 10);
        assert_eq!(price(&cfg, 10.0, Quality::Best), 40);
    }

    #[test]
    fn signatures_verify_and_reject() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign("whsec", 1000, body);
        assert_eq!(verify_signature("whsec", &header, body, 1100, 300), Ok(()));
        assert_eq!(
            verify_signature("other", &header, body, 1100, 300),
            Err("webhook.bad_signature")
        );
        assert_eq!(
            verify_signature("whsec", &header, b"{}", 1100, 300),
            Err("webhook.bad_signature")
        );
        assert_eq!(
            verify_signature("whsec", &header, body, 2000, 300),
            Err("webhook.stale")
        );
        assert_eq!(
            verify_signature("whsec", "v1=00", body, 1000, 300),
            Err("webhook.bad_signature")
        );
    }
}
