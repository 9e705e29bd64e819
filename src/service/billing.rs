//! Buying credits and plans through Stripe: the offers the portal lists,
//! a Checkout session for one of them, and a link to Stripe's customer
//! portal (invoices, card, cancelling a plan).
//!
//! What is sold, and for how many credits, is configuration
//! (`[service.billing]`); each session we create is recorded with the
//! price it sells, and the webhook ([`super::webhook`]) credits from that
//! record, never from anything in the event a client could have set.

use axum::extract::State;
use axum::http::StatusCode;

use super::api_types::{BillingOffers, BillingRedirect, CheckoutBody, PackOffer, PlanOffer};
use super::app::AppState;
use super::auth::Caller;
use super::config::Offer;
use super::error::{ApiError, ApiResult};
use super::extract::Json;
use super::stripe::{CheckoutRequest, StripeError};
use crate::db::billing::CheckoutRecord;

fn disabled() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "billing.disabled",
        "buying credits is not set up on this server",
    )
}

/// Stripe's answer is logged; the client learns only that the payment
/// provider failed.
fn provider(e: StripeError) -> ApiError {
    tracing::error!(error = %e, "stripe call failed");
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "billing.provider",
        "the payment provider could not be reached; try again in a moment",
    )
}

/// The portal's own page to come back to.
fn portal_url(state: &AppState, configured: &str, query: &str) -> String {
    if configured.is_empty() {
        format!("{}/#/credits{query}", state.cfg.public_base_url)
    } else {
        configured.to_string()
    }
}

/// `GET /v1/billing/offers`.
#[utoipa::path(
    get,
    path = "/v1/billing/offers",
    tag = "billing",
    summary = "Credit packs and plans for sale",
    responses((status = 200, description = "Packs and plans", body = BillingOffers)),
)]
pub async fn offers(State(state): State<AppState>) -> Json<BillingOffers> {
    let b = &state.cfg.billing;
    Json(BillingOffers {
        enabled: b.enabled(),
        packs: b
            .packs
            .iter()
            .map(|p| PackOffer {
                id: p.id.clone(),
                name: p.name.clone(),
                credits: p.credits,
                amount_display: p.amount_display.clone(),
            })
            .collect(),
        plans: b
            .plans
            .iter()
            .map(|p| PlanOffer {
                id: p.id.clone(),
                name: p.name.clone(),
                monthly_credits: p.monthly_credits,
                tier: p.tier.clone(),
                amount_display: p.amount_display.clone(),
            })
            .collect(),
    })
}

/// The account's Stripe customer, made on its first checkout so that
/// every later event (invoices, subscription changes, refunds) names a
/// customer we know.
async fn customer_for(state: &AppState, caller: &Caller) -> ApiResult<String> {
    let a = &caller.account;
    if let Some(c) = state.db.billing_customer(&a.id).await? {
        return Ok(c);
    }
    let made = state
        .stripe
        .create_customer(&a.id, &a.email)
        .await
        .map_err(provider)?;
    Ok(state.db.set_billing_customer(&a.id, &made).await?)
}

/// `POST /v1/billing/checkout {"offer"}`: a Stripe Checkout URL.
#[utoipa::path(
    post,
    path = "/v1/billing/checkout",
    tag = "billing",
    summary = "Start buying a credit pack or a plan (Stripe Checkout)",
    security(("bearer" = []), ("cookie" = [])),
    request_body = CheckoutBody,
    responses((status = 200, description = "Send the user to this URL", body = BillingRedirect)),
)]
pub async fn checkout(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CheckoutBody>,
) -> ApiResult<Json<BillingRedirect>> {
    let b = &state.cfg.billing;
    if !b.enabled() {
        return Err(disabled());
    }
    let (mode, price_id, credits) = match b.offer(&body.offer) {
        Some(Offer::Pack(p)) => ("payment", &p.price_id, p.credits),
        // A plan's credits come with each paid invoice, not the checkout.
        Some(Offer::Plan(p)) => ("subscription", &p.price_id, 0),
        None => {
            return Err(ApiError::bad_request(
                "billing.unknown_offer",
                format!("there is no pack or plan {:?}", body.offer),
            ))
        }
    };
    let customer = customer_for(&state, &caller).await?;
    let success = portal_url(&state, &b.success_url, "?checkout=done");
    let cancel = portal_url(&state, &b.cancel_url, "?checkout=canceled");
    let (session_id, url) = state
        .stripe
        .create_checkout(&CheckoutRequest {
            mode,
            price_id,
            customer: &customer,
            account_id: &caller.account.id,
            success_url: &success,
            cancel_url: &cancel,
        })
        .await
        .map_err(provider)?;
    state
        .db
        .record_checkout(&CheckoutRecord {
            session_id: session_id.clone(),
            account_id: caller.account.id.clone(),
            offer_id: body.offer.clone(),
            price_id: price_id.clone(),
            mode: mode.into(),
            credits,
        })
        .await?;
    tracing::info!(account = %caller.account.id, session = %session_id, offer = %body.offer, "checkout created");
    Ok(Json(BillingRedirect { url }))
}

/// `POST /v1/billing/portal`: a link to Stripe's customer portal.
#[utoipa::path(
    post,
    path = "/v1/billing/portal",
    tag = "billing",
    summary = "Manage payments and plans (Stripe customer portal)",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "Send the user to this URL", body = BillingRedirect)),
)]
pub async fn portal(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<BillingRedirect>> {
    if !state.cfg.billing.enabled() {
        return Err(disabled());
    }
    let Some(customer) = state.db.billing_customer(&caller.account.id).await? else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "billing.no_customer",
            "nothing has been bought from this account yet",
        ));
    };
    let back = portal_url(&state, "", "");
    let url = state
        .stripe
        .create_portal(&customer, &back)
        .await
        .map_err(provider)?;
    Ok(Json(BillingRedirect { url }))
}
