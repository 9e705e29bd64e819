//! `POST /v1/webhooks/payment`: Stripe's events, signed with Stripe's
//! scheme ([`super::credits::verify_signature`]), each applied once (its
//! id is recorded in the same transaction as its effect).
//!
//! What an event is believed about: its type, the ids it names (session,
//! customer, subscription, payment intent) and Stripe's own amounts.
//! Credits and tiers always come from our configuration of the price id,
//! or from our record of the Checkout session we created; never from
//! metadata, which a client could have set.
//!
//! - `checkout.session.completed` (and `async_payment_succeeded`, for a
//!   payment method that settles later): a pack's credits;
//! - `invoice.paid`: a plan's monthly credits;
//! - `customer.subscription.created|updated|deleted`: the plan's tier; a
//!   cancellation keeps it until the paid period ends (the sweep then
//!   applies the downgrade);
//! - `charge.refunded`: the refunded share of the credits the payment bought.
//!
//! Other types are acknowledged and ignored, as Stripe expects. A refused
//! event (an answer other than 2xx) changes nothing; Stripe retries it.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::api_types::PaymentReceipt;
use super::app::AppState;
use super::credits::verify_signature;
use super::error::{ApiError, ApiResult};
use super::extract::Json;
use crate::db::billing::Applied;
use crate::db::ledger::MAX_CREDITS;
use crate::db::now_ms;

fn receipt(applied: bool) -> Json<PaymentReceipt> {
    Json(PaymentReceipt {
        received: true,
        applied,
    })
}

fn bad_event(what: &str) -> ApiError {
    ApiError::bad_request("webhook.bad_event", format!("the event lacks {what}"))
}

fn unknown_price(price: &str) -> ApiError {
    tracing::warn!(price, "webhook for a price we do not sell");
    ApiError::bad_request(
        "webhook.unknown_price",
        "the event names a price not sold here",
    )
}

/// A string field, or an expandable one sent as an object with an `id`.
fn id_of(v: &Value) -> Option<&str> {
    v.as_str()
        .or_else(|| v["id"].as_str())
        .filter(|s| !s.is_empty())
}

/// What the database said, as the answer.
fn answer(kind: &str, event_id: &str, outcome: Applied) -> ApiResult<Json<PaymentReceipt>> {
    match outcome {
        Applied::Done { credits } => {
            tracing::info!(event = event_id, kind, credits, "payment event applied");
            Ok(receipt(true))
        }
        Applied::Duplicate | Applied::Nothing => Ok(receipt(false)),
        Applied::UnknownSession => Err(ApiError::bad_request(
            "webhook.unknown_session",
            "the event names a checkout session not created here",
        )),
        Applied::UnknownPayment => Err(ApiError::bad_request(
            "webhook.unknown_payment",
            "the event names a payment that bought no credits here",
        )),
        Applied::NoAccount => Err(ApiError::bad_request(
            "webhook.unknown_account",
            "no such account",
        )),
        Applied::OverLimit => Err(ApiError::bad_request(
            "credits.over_limit",
            format!("a top-up and a balance may not pass {MAX_CREDITS} credits"),
        )),
    }
}

/// `POST /v1/webhooks/payment`.
#[utoipa::path(
    post,
    path = "/v1/webhooks/payment",
    tag = "webhooks",
    summary = "Stripe webhook (Stripe-Signature)",
    params(("stripe-signature" = String, Header, description = "t=<unix>,v1=<hex HMAC-SHA256>")),
    request_body(
        content = Object,
        description = "A Stripe event: checkout.session.completed, invoice.paid, \
                       customer.subscription.*, charge.refunded; others are ignored",
    ),
    responses((status = 200, description = "Received", body = PaymentReceipt)),
)]
pub async fn payment_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<PaymentReceipt>> {
    let secret = &state.cfg.webhook_secret;
    if secret.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "webhook.disabled",
            "payments are not configured",
        ));
    }
    let header = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let now = now_ms() / 1000;
    verify_signature(secret, header, &body, now, state.cfg.webhook_tolerance_secs).map_err(
        |code| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                code,
                "the signature does not verify",
            )
        },
    )?;
    let event: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("webhook.bad_event", "the event is not JSON"))?;
    let id = event["id"].as_str().unwrap_or_default();
    if id.is_empty() {
        return Err(bad_event("an id"));
    }
    let kind = event["type"].as_str().unwrap_or_default();
    let object = &event["data"]["object"];
    match kind {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            checkout_completed(&state, id, kind, object).await
        }
        "invoice.paid" => invoice_paid(&state, id, object).await,
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted" => {
            let created = event["created"].as_i64().unwrap_or(now);
            subscription(&state, id, kind, created, object).await
        }
        "charge.refunded" => charge_refunded(&state, id, object).await,
        _ => Ok(receipt(false)),
    }
}

async fn checkout_completed(
    state: &AppState,
    id: &str,
    kind: &str,
    object: &Value,
) -> ApiResult<Json<PaymentReceipt>> {
    let session = id_of(&object["id"]).ok_or_else(|| bad_event("a checkout session id"))?;
    if kind == "checkout.session.completed" && object["payment_status"] == "unpaid" {
        // A delayed payment method: the money is not there yet, and
        // `async_payment_succeeded` follows when it is.
        return Ok(receipt(false));
    }
    let payment_intent = id_of(&object["payment_intent"]);
    let outcome = state
        .db
        .complete_checkout(id, session, payment_intent)
        .await?;
    if outcome == Applied::UnknownSession {
        tracing::warn!(event = id, session, "checkout session not created here");
    }
    answer(kind, id, outcome)
}

/// The price ids of an invoice's lines that are not prorations (a plan
/// change mid-period is billed as prorations; its credits came with the
/// period's own invoice). Both of Stripe's shapes are read: `price.id`
/// (before API version 2025-03-31) and `pricing.price_details.price`.
fn invoice_prices(invoice: &Value) -> Vec<&str> {
    let Some(lines) = invoice["lines"]["data"].as_array() else {
        return Vec::new();
    };
    lines
        .iter()
        .filter(|l| {
            l["proration"] != true && l["parent"]["subscription_item_details"]["proration"] != true
        })
        .filter_map(|l| {
            id_of(&l["price"]).or_else(|| id_of(&l["pricing"]["price_details"]["price"]))
        })
        .collect()
}

async fn account_of_customer(state: &AppState, object: &Value) -> ApiResult<String> {
    let customer = id_of(&object["customer"]).ok_or_else(|| bad_event("a customer"))?;
    match state.db.account_for_customer(customer).await? {
        Some(a) => Ok(a),
        None => {
            tracing::warn!(customer, "webhook for a customer not made here");
            Err(ApiError::bad_request(
                "webhook.unknown_customer",
                "the event names a customer not made here",
            ))
        }
    }
}

async fn invoice_paid(
    state: &AppState,
    id: &str,
    invoice: &Value,
) -> ApiResult<Json<PaymentReceipt>> {
    let prices = invoice_prices(invoice);
    if prices.is_empty() {
        return Err(bad_event("an invoice line with a price"));
    }
    let billing = &state.cfg.billing;
    let mut credits = 0i64;
    for price in prices {
        let plan = billing
            .plan_by_price(price)
            .ok_or_else(|| unknown_price(price))?;
        credits = credits.saturating_add(plan.monthly_credits);
    }
    let account = account_of_customer(state, invoice).await?;
    let outcome = state
        .db
        .credit_invoice(id, &account, credits, id_of(&invoice["payment_intent"]))
        .await?;
    answer("invoice.paid", id, outcome)
}

/// The subscription's price and the end of its paid period (unix seconds;
/// on the subscription before API version 2025-03-31, on its item since).
fn subscription_item(sub: &Value) -> (Option<&str>, Option<i64>) {
    let item = &sub["items"]["data"][0];
    let price = id_of(&item["price"]);
    let end = sub["current_period_end"]
        .as_i64()
        .or_else(|| item["current_period_end"].as_i64());
    (price, end)
}

async fn subscription(
    state: &AppState,
    id: &str,
    kind: &str,
    created: i64,
    sub: &Value,
) -> ApiResult<Json<PaymentReceipt>> {
    let sub_id = id_of(&sub["id"]).ok_or_else(|| bad_event("a subscription id"))?;
    let (price, period_end) = subscription_item(sub);
    let price = price.ok_or_else(|| bad_event("a subscription price"))?;
    let plan = state
        .cfg
        .billing
        .plan_by_price(price)
        .ok_or_else(|| unknown_price(price))?;
    let account = account_of_customer(state, sub).await?;
    let status = sub["status"].as_str().unwrap_or_default();
    let now_s = now_ms() / 1000;
    let default_tier = state.cfg.default_tier.as_str();
    // (the tier from now on, when it falls back to the default tier)
    let (tier, downgrade_at_s) = if kind == "customer.subscription.deleted" {
        (Some(default_tier), None)
    } else {
        match status {
            "active" | "trialing" | "past_due" => {
                let ends = sub["cancel_at"]
                    .as_i64()
                    .or(if sub["cancel_at_period_end"] == true {
                        period_end
                    } else {
                        None
                    });
                (Some(plan.tier.as_str()), ends)
            }
            // Ended without being deleted yet: what was paid for runs out.
            "canceled" | "unpaid" | "incomplete_expired" => (None, period_end.or(Some(now_s))),
            "paused" => (Some(default_tier), None),
            // `incomplete`: the first payment has not gone through.
            _ => (None, None),
        }
    };
    let (tier, downgrade_at_s) = match downgrade_at_s {
        Some(t) if t <= now_s => (Some(default_tier), None),
        other => (tier, other),
    };
    let outcome = state
        .db
        .apply_subscription(
            id,
            created,
            &account,
            sub_id,
            price,
            status,
            tier,
            downgrade_at_s.map(|s| s.saturating_mul(1000)),
        )
        .await?;
    if let Applied::Done { .. } = outcome {
        tracing::info!(
            account = %account,
            subscription = sub_id,
            status,
            ?tier,
            ?downgrade_at_s,
            "subscription"
        );
    }
    answer(kind, id, outcome)
}

async fn charge_refunded(
    state: &AppState,
    id: &str,
    charge: &Value,
) -> ApiResult<Json<PaymentReceipt>> {
    let pi = id_of(&charge["payment_intent"]).ok_or_else(|| bad_event("a payment intent"))?;
    let amount = charge["amount"]
        .as_i64()
        .ok_or_else(|| bad_event("an amount"))?;
    let refunded = charge["amount_refunded"]
        .as_i64()
        .ok_or_else(|| bad_event("an amount refunded"))?;
    let (outcome, short) = state.db.refund_payment(id, pi, refunded, amount).await?;
    if short > 0 {
        // Already spent: taken as far as the balance goes, the rest is
        // for the operator to settle.
        tracing::warn!(
            event = id,
            payment_intent = pi,
            short,
            "refund larger than the balance"
        );
    }
    answer("charge.refunded", id, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invoice_prices_read_both_shapes_and_skip_prorations() {
        let older = json!({"lines": {"data": [
            {"price": {"id": "price_a"}, "proration": false},
            {"price": {"id": "price_b"}, "proration": true},
        ]}});
        assert_eq!(invoice_prices(&older), ["price_a"]);
        let newer = json!({"lines": {"data": [
            {"pricing": {"price_details": {"price": "price_c"}},
             "parent": {"subscription_item_details": {"proration": false}}},
            {"pricing": {"price_details": {"price": "price_d"}},
             "parent": {"subscription_item_details": {"proration": true}}},
        ]}});
        assert_eq!(invoice_prices(&newer), ["price_c"]);
        assert!(invoice_prices(&json!({})).is_empty());
    }

    #[test]
    fn subscription_period_end_from_either_place() {
        let older = json!({"current_period_end": 10, "items": {"data": [{"price": {"id": "p"}}]}});
        assert_eq!(subscription_item(&older), (Some("p"), Some(10)));
        let newer = json!({"items": {"data": [{"price": "p", "current_period_end": 20}]}});
        assert_eq!(subscription_item(&newer), (Some("p"), Some(20)));
    }
}
