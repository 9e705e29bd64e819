//! Webhooks a user registers for their jobs' events: `POST`, `GET` and
//! `DELETE /v1/account/webhooks`, and each webhook's delivery log. The
//! events (`job.succeeded`, `job.failed`, `job.canceled`) are queued when
//! a job ends and sent by [`super::webhook_delivery`].
//!
//! As Stripe does, the server makes each webhook's signing secret
//! (`whsec_` and 32 random bytes in hex) and shows it once, in the answer
//! that created the webhook; to change it, a user adds a new webhook and
//! deletes the old one. The URL is checked by [`super::webhook_url`]
//! before anything is stored.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::api_types::{CreatedWebhook, DeliveryLog, NewWebhookRequest, WebhookList};
use super::app::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Path};
use super::random_hex;
use super::webhook_url;
use crate::db::now_ms;
use crate::db::webhooks::NewWebhook;

/// The events a webhook can be sent.
pub const EVENT_TYPES: [&str; 3] = ["job.succeeded", "job.failed", "job.canceled"];

/// Attempts the delivery log answers with.
const LOG_LIMIT: i64 = 100;

/// The event types asked for, checked and in a fixed order; all of them
/// when none were named.
fn event_types(asked: Option<Vec<String>>) -> ApiResult<Vec<String>> {
    let Some(asked) = asked else {
        return Ok(EVENT_TYPES.iter().map(|e| e.to_string()).collect());
    };
    if let Some(bad) = asked.iter().find(|e| !EVENT_TYPES.contains(&e.as_str())) {
        return Err(ApiError::bad_request(
            "user_webhook.bad_events",
            format!(
                "{bad:?} is not an event type; use {}",
                EVENT_TYPES.join(", ")
            ),
        ));
    }
    let chosen: Vec<String> = EVENT_TYPES
        .iter()
        .filter(|e| asked.iter().any(|a| a == *e))
        .map(|e| e.to_string())
        .collect();
    if chosen.is_empty() {
        return Err(ApiError::bad_request(
            "user_webhook.bad_events",
            "name at least one event type, or leave events out for all",
        ));
    }
    Ok(chosen)
}

/// `POST /v1/account/webhooks {url, events?}`.
#[utoipa::path(
    post,
    path = "/v1/account/webhooks",
    tag = "account",
    operation_id = "create_webhook",
    summary = "Register a webhook for job events (its secret is shown once)",
    security(("bearer" = []), ("cookie" = [])),
    request_body = NewWebhookRequest,
    responses((status = 201, description = "Registered; the answer holds its signing secret", body = CreatedWebhook)),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewWebhookRequest>,
) -> ApiResult<Response> {
    let events = event_types(body.events)?;
    let cfg = &state.cfg.user_webhooks;
    let url = webhook_url::check(&body.url, cfg.allow_private_urls)
        .await
        .map_err(|p| ApiError::bad_request(p.code(), p.to_string()))?;
    let secret = format!("whsec_{}", random_hex(32));
    let id = uuid::Uuid::new_v4().to_string();
    let created = state
        .db
        .create_webhook(&NewWebhook {
            id: &id,
            account_id: &caller.account.id,
            url: url.as_str(),
            secret: &secret,
            events: &events,
            now: now_ms(),
            max_per_account: cfg.max_per_account,
        })
        .await?;
    let Some(webhook) = created else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "user_webhook.limit",
            format!(
                "an account may have {} webhooks; delete one first",
                cfg.max_per_account
            ),
        ));
    };
    tracing::info!(account = %caller.account.id, webhook = %webhook.id, "webhook registered");
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook { secret, webhook }),
    )
        .into_response())
}

/// `GET /v1/account/webhooks`.
#[utoipa::path(
    get,
    path = "/v1/account/webhooks",
    tag = "account",
    operation_id = "list_webhooks",
    summary = "List webhooks (never their secrets)",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "Every webhook of the account", body = WebhookList)),
)]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<WebhookList>> {
    let webhooks = state.db.list_webhooks(&caller.account.id).await?;
    Ok(Json(WebhookList { webhooks }))
}

/// `DELETE /v1/account/webhooks/{id}`: events not yet delivered are
/// dropped with it.
#[utoipa::path(
    delete,
    path = "/v1/account/webhooks/{id}",
    tag = "account",
    operation_id = "delete_webhook",
    summary = "Delete a webhook, its pending deliveries and its log",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path, description = "The webhook's id")),
    responses((status = 204, description = "Deleted")),
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if state.db.delete_webhook(&caller.account.id, &id).await? {
        tracing::info!(account = %caller.account.id, webhook = %id, "webhook deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("webhook"))
    }
}

/// `GET /v1/account/webhooks/{id}/deliveries`.
#[utoipa::path(
    get,
    path = "/v1/account/webhooks/{id}/deliveries",
    tag = "account",
    operation_id = "webhook_deliveries",
    summary = "A webhook's delivery log: each attempt, newest first (at most 100)",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path, description = "The webhook's id")),
    responses((status = 200, description = "The latest attempts", body = DeliveryLog)),
)]
pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<DeliveryLog>> {
    if state.db.webhook(&caller.account.id, &id).await?.is_none() {
        return Err(ApiError::not_found("webhook"));
    }
    let attempts = state
        .db
        .delivery_log(&caller.account.id, &id, LOG_LIMIT)
        .await?;
    Ok(Json(DeliveryLog {
        webhook_id: id,
        attempts,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_are_checked() {
        assert_eq!(event_types(None).unwrap(), EVENT_TYPES);
        assert_eq!(
            event_types(Some(vec!["job.failed".into(), "job.succeeded".into()])).unwrap(),
            ["job.succeeded", "job.failed"]
        );
        for bad in [vec![], vec!["job.started".to_string()]] {
            assert_eq!(
                event_types(Some(bad)).unwrap_err().code,
                "user_webhook.bad_events"
            );
        }
    }
}
