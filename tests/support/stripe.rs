//! A local stand-in for Stripe's API, since the real one cannot be reached
//! from a test: it answers the three calls billing makes (create a
//! customer, a Checkout session, a customer-portal session) in Stripe's
//! shape, records each request (path, `Authorization`, form fields) for
//! the test to check, and serves `/pay/{session}` and `/portal` as plain
//! pages where a browser lands. Nothing here is charged or checked the
//! way Stripe would; the webhook events a test sends are signed with the
//! real scheme ([`vidmocap::service::credits::sign`]).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Html;
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::{json, Value};

pub const SECRET_KEY: &str = "sk_test_standin";

/// A price the stand-in answers as Stripe answers a price it does not
/// have (HTTP 400, `resource_missing`).
pub const MISSING_PRICE: &str = "price_missing";

/// One request the stand-in received.
#[derive(Clone, Debug)]
pub struct Call {
    pub path: String,
    pub authorization: String,
    pub form: HashMap<String, String>,
}

#[derive(Clone, Default)]
struct Seen {
    calls: Arc<Mutex<Vec<Call>>>,
    base: Arc<Mutex<String>>,
}

impl Seen {
    fn record(&self, path: &str, headers: &HeaderMap, form: HashMap<String, String>) -> usize {
        let mut calls = self.calls.lock().unwrap();
        calls.push(Call {
            path: path.into(),
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .into(),
            form,
        });
        calls.len()
    }
}

/// The running stand-in.
pub struct StripeStandIn {
    pub base: String,
    seen: Seen,
}

async fn customers(
    State(s): State<Seen>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Json<Value> {
    let n = s.record("/v1/customers", &headers, f);
    Json(json!({"id": format!("cus_test_{n}"), "object": "customer"}))
}

async fn checkout(
    State(s): State<Seen>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    let missing = f.get("line_items[0][price]").map(String::as_str) == Some(MISSING_PRICE);
    let n = s.record("/v1/checkout/sessions", &headers, f);
    if missing {
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({"error": {"type": "invalid_request_error", "code": "resource_missing",
                                  "message": format!("No such price: '{MISSING_PRICE}'")}}),
            ),
        );
    }
    let base = s.base.lock().unwrap().clone();
    (
        StatusCode::OK,
        Json(json!({
            "id": format!("cs_test_{n}"), "object": "checkout.session",
            "url": format!("{base}/pay/cs_test_{n}")
        })),
    )
}

async fn portal(
    State(s): State<Seen>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Json<Value> {
    let n = s.record("/v1/billing_portal/sessions", &headers, f);
    let base = s.base.lock().unwrap().clone();
    Json(
        json!({"id": format!("bps_test_{n}"), "object": "billing_portal.session", "url": format!("{base}/portal")}),
    )
}

async fn pay_page(Path(id): Path<String>) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=en><link rel=icon href=\"data:,\"><title>Checkout stand-in</title>\
         <h1 id=standin>Stripe Checkout stand-in: {id}</h1></html>"
    ))
}

impl StripeStandIn {
    /// Starts on port 0 on the current runtime.
    pub async fn start() -> StripeStandIn {
        let seen = Seen::default();
        let app = Router::new()
            .route("/v1/customers", post(customers))
            .route("/v1/checkout/sessions", post(checkout))
            .route("/v1/billing_portal/sessions", post(portal))
            .route("/pay/{id}", get(pay_page))
            .route(
                "/portal",
                get(|| async {
                    Html("<!doctype html><link rel=icon href=\"data:,\"><title>Portal stand-in</title><h1>Portal</h1>")
                }),
            )
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        *seen.base.lock().unwrap() = base.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        StripeStandIn { base, seen }
    }

    /// Every request so far, oldest first.
    pub fn calls(&self) -> Vec<Call> {
        self.seen.calls.lock().unwrap().clone()
    }

    /// The requests to one path.
    pub fn calls_to(&self, path: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.path == path)
            .collect()
    }
}
