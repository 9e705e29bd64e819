//! Operations: health and readiness probes, Prometheus metrics, the
//! OpenAPI document, per-IP and per-account rate limits, and the request
//! middleware that gives every request an id and a log line.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tracing::Instrument;

use super::app::AppState;
use super::error::ApiError;

/// Counters exported at `/metrics`.
#[derive(Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub responses_4xx: AtomicU64,
    pub responses_5xx: AtomicU64,
    pub rate_limited: AtomicU64,
    pub uploads: AtomicU64,
    pub jobs_succeeded: AtomicU64,
    pub jobs_failed: AtomicU64,
    pub jobs_canceled: AtomicU64,
}

impl Metrics {
    pub fn job_finished(&self, outcome: &str) {
        let c = match outcome {
            "succeeded" => &self.jobs_succeeded,
            "failed" => &self.jobs_failed,
            _ => &self.jobs_canceled,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Fixed one-minute windows per client address and per account. In memory,
/// so per API process; enough to blunt abuse, not a billing control.
pub struct RateLimiter {
    per_ip: u32,
    per_account: u32,
    windows: Mutex<(u64, HashMap<String, u32>)>,
}

impl RateLimiter {
    pub fn new(per_ip: u32, per_account: u32) -> Self {
        RateLimiter {
            per_ip,
            per_account,
            windows: Mutex::new((0, HashMap::new())),
        }
    }

    fn hit(&self, key: String, limit: u32) -> bool {
        if limit == 0 {
            return true;
        }
        let minute = (crate::db::now_ms() / 60_000) as u64;
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if w.0 != minute {
            w.0 = minute;
            w.1.clear();
        }
        let n = w.1.entry(key).or_insert(0);
        *n += 1;
        *n <= limit
    }

    fn limited() -> ApiError {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate.limited",
            "too many requests; slow down",
        )
    }

    pub fn check_ip(&self, ip: &str) -> Result<(), ApiError> {
        if self.hit(format!("ip:{ip}"), self.per_ip) {
            Ok(())
        } else {
            Err(Self::limited())
        }
    }

    pub fn check_account(&self, account: &str) -> Result<(), ApiError> {
        if self.hit(format!("acct:{account}"), self.per_account) {
            Ok(())
        } else {
            Err(Self::limited())
        }
    }
}

/// Request id, per-IP limit, a log line with status and duration, counters.
pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    state.metrics.requests.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!("request", id = %id, %method, %path);
    let started = Instant::now();
    let mut response = async {
        if let Err(e) = state.limiter.check_ip(&ip) {
            state.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
            return e.into_response();
        }
        next.run(request).await
    }
    .instrument(span.clone())
    .await;
    let status = response.status();
    if status.is_client_error() {
        state.metrics.responses_4xx.fetch_add(1, Ordering::Relaxed);
    } else if status.is_server_error() {
        state.metrics.responses_5xx.fetch_add(1, Ordering::Relaxed);
    }
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "request"
        )
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// `GET /healthz`: the process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the database answers.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.db.ping().await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let m = &state.metrics;
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, v: &AtomicU64| {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
            v.load(Ordering::Relaxed)
        ));
    };
    counter(
        "vidmocap_http_requests_total",
        "HTTP requests received.",
        &m.requests,
    );
    counter(
        "vidmocap_http_responses_4xx_total",
        "Client error responses.",
        &m.responses_4xx,
    );
    counter(
        "vidmocap_http_responses_5xx_total",
        "Server error responses.",
        &m.responses_5xx,
    );
    counter(
        "vidmocap_rate_limited_total",
        "Requests refused by rate limits.",
        &m.rate_limited,
    );
    counter("vidmocap_uploads_total", "Uploads accepted.", &m.uploads);
    counter(
        "vidmocap_jobs_succeeded_total",
        "Jobs this process finished successfully.",
        &m.jobs_succeeded,
    );
    counter(
        "vidmocap_jobs_failed_total",
        "Jobs this process finished as failed.",
        &m.jobs_failed,
    );
    counter(
        "vidmocap_jobs_canceled_total",
        "Jobs this process finished as canceled.",
        &m.jobs_canceled,
    );
    out.push_str(
        "# HELP vidmocap_jobs Jobs in the database by state.\n# TYPE vidmocap_jobs gauge\n",
    );
    match state.db.job_state_counts().await {
        Ok(counts) => {
            for (s, n) in counts {
                out.push_str(&format!("vidmocap_jobs{{state=\"{s}\"}} {n}\n"));
            }
        }
        Err(e) => tracing::warn!(error = %e, "job counts for metrics"),
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        out,
    )
        .into_response()
}

/// `GET /v1/openapi.json`: the API described for client generators.
pub async fn openapi() -> Json<Value> {
    Json(openapi_document())
}

fn op(summary: &str, auth: bool) -> Value {
    let mut v = json!({
        "summary": summary,
        "responses": {"default": {"description": "JSON; errors are {\"error\": {\"code\", \"message\"}}",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}
    });
    if auth {
        v["security"] = json!([{"bearer": []}, {"cookie": []}]);
    }
    v
}

/// The OpenAPI 3.1 document.
pub fn openapi_document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "vidmocap", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Video to 3D motion capture as credit-metered jobs."},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": super::auth::SESSION_COOKIE}
            },
            "schemas": {"Error": {"type": "object", "properties": {"error": {"type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}}
        },
        "paths": {
            "/healthz": {"get": op("Liveness", false)},
            "/readyz": {"get": op("Readiness (database reachable)", false)},
            "/metrics": {"get": op("Prometheus metrics", false)},
            "/v1/pricing": {"get": op("Public price list: credits per second, per-job minimum, tiers", false)},
            "/v1/demo/{name}": {"get": op("The operator's demo: demo.mp4, motion.glb or keypoints.json", false)},
            "/v1/auth/signup": {"post": op("Create an account {email, password} and log in", false)},
            "/v1/auth/login": {"post": op("Log in {email, password}; sets the session cookie", false)},
            "/v1/auth/logout": {"post": op("End the session", false)},
            "/v1/account": {"get": op("The account and its credits", true),
                            "delete": op("Delete the account and everything it owns", true)},
            "/v1/account/ledger": {"get": op("Credit ledger", true)},
            "/v1/account/export": {"get": op("All of the account's data as a zip", true)},
            "/v1/api-keys": {"get": op("List API keys", true), "post": op("Create an API key {name}; shown once", true)},
            "/v1/api-keys/{id}": {"delete": op("Revoke an API key", true)},
            "/v1/uploads": {"get": op("List uploads", true),
                            "post": op("Upload a video: raw body or multipart field `file`", true)},
            "/v1/uploads/presign": {"post": op("A presigned PUT link for a large upload", true)},
            "/v1/uploads/{id}/complete": {"post": op("Validate and record a presigned upload", true)},
            "/v1/uploads/{id}": {"get": op("One upload", true), "delete": op("Delete an upload's video", true)},
            "/v1/jobs": {"get": op("List jobs (limit, cursor)", true),
                         "post": op("Create a job {upload_id, outputs, rig, person, keep_upload}; Idempotency-Key header", true)},
            "/v1/jobs/{id}": {"get": op("One job with its metadata", true), "delete": op("Delete a job and its outputs", true)},
            "/v1/jobs/{id}/cancel": {"post": op("Cancel a job", true)},
            "/v1/jobs/{id}/events": {"get": op("Progress as Server-Sent Events (progress, done)", true)},
            "/v1/jobs/{id}/outputs": {"get": op("Outputs with presigned download links", true)},
            "/v1/webhooks/payment": {"post": op("Payment provider webhook (Stripe-Signature)", false)},
            "/v1/blobs/{key}": {"get": op("Download through a presigned link", false),
                                "put": op("Upload through a presigned link", false)}
        }
    })
}
