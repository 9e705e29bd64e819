//! Operations: health and readiness probes, Prometheus metrics, rate
//! limits (per IP, per account, failed logins per email and address), the
//! client address as far as it can be trusted, and the request middleware
//! that gives every request an id and a log line.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
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

/// Fixed one-minute windows per client address, per account, and per
/// (email, address) for failed logins. In memory, so per API process;
/// enough to blunt abuse, not a billing control.
pub struct RateLimiter {
    per_ip: u32,
    per_account: u32,
    login_failures: u32,
    windows: Mutex<(u64, HashMap<String, u32>)>,
}

impl RateLimiter {
    pub fn new(per_ip: u32, per_account: u32, login_failures: u32) -> Self {
        RateLimiter {
            per_ip,
            per_account,
            login_failures,
            windows: Mutex::new((0, HashMap::new())),
        }
    }

    /// Adds `add` to the key's count this minute and returns the count;
    /// 0 (nothing kept) when `limit` is 0, which means no limit.
    fn count(&self, key: String, limit: u32, add: u32) -> u32 {
        if limit == 0 {
            return 0;
        }
        let minute = (crate::db::now_ms() / 60_000) as u64;
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if w.0 != minute {
            w.0 = minute;
            w.1.clear();
        }
        let n = w.1.entry(key).or_insert(0);
        *n = n.saturating_add(add);
        *n
    }

    fn limited() -> ApiError {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate.limited",
            "too many requests; slow down",
        )
    }

    pub fn check_ip(&self, ip: &str) -> Result<(), ApiError> {
        if self.count(format!("ip:{ip}"), self.per_ip, 1) <= self.per_ip {
            Ok(())
        } else {
            Err(Self::limited())
        }
    }

    pub fn check_account(&self, account: &str) -> Result<(), ApiError> {
        if self.count(format!("acct:{account}"), self.per_account, 1) <= self.per_account {
            Ok(())
        } else {
            Err(Self::limited())
        }
    }

    /// Before a password is checked: refused once this email has failed
    /// too often from this address. Per pair, so an attacker elsewhere
    /// cannot lock the owner out.
    pub fn check_login(&self, email: &str, ip: &str) -> Result<(), ApiError> {
        let failures = self.count(format!("login:{ip}:{email}"), self.login_failures, 0);
        if self.login_failures == 0 || failures < self.login_failures {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "auth.throttled",
                "too many failed logins; try again in a minute",
            ))
        }
    }

    /// Records a failed login of `email` from `ip`.
    pub fn login_failed(&self, email: &str, ip: &str) {
        let _ = self.count(format!("login:{ip}:{email}"), self.login_failures, 1);
    }
}

/// Where a request came from, as far as it can be trusted: set by
/// [`observe`] for every handler.
#[derive(Clone, Debug)]
pub struct Client {
    /// The peer's address, or the one a trusted proxy forwarded for.
    pub ip: String,
    /// The connection to the client is HTTPS (a trusted proxy said so).
    pub https: bool,
}

impl Client {
    fn of(request: &Request, trusted: &[IpAddr]) -> Client {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let Some(peer) = peer else {
            return Client {
                ip: String::new(),
                https: false,
            };
        };
        if !trusted.contains(&peer) {
            return Client {
                ip: peer.to_string(),
                https: false,
            };
        }
        let headers = request.headers();
        // The last address a trusted proxy did not add is the client.
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .rev()
            .find(|a| !trusted.contains(a));
        let https = headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
        Client {
            ip: forwarded.unwrap_or(peer).to_string(),
            https,
        }
    }
}

/// Probes an orchestrator must always reach, whatever a client did.
fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz")
}

/// Request id, per-IP limit, a log line with status and duration, counters.
pub async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let client = Client::of(&request, &state.cfg.trusted_proxies);
    let ip = client.ip.clone();
    request.extensions_mut().insert(client);
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    state.metrics.requests.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!("request", id = %id, %method, %path);
    let started = Instant::now();
    let mut response = async {
        if !is_probe(&path) {
            if let Err(e) = state.limiter.check_ip(&ip) {
                state.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
                return e.into_response();
            }
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
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    summary = "Liveness",
    responses((status = 200, description = "`ok`", body = String, content_type = "text/plain")),
)]
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the database answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "ops",
    summary = "Readiness (database reachable)",
    responses(
        (status = 200, description = "`ready`", body = String, content_type = "text/plain"),
        (
            status = 503,
            description = "The database does not answer",
            body = String,
            content_type = "text/plain",
        ),
    ),
)]
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
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    summary = "Prometheus metrics",
    responses((
        status = 200,
        description = "Counters and gauges",
        body = String,
        content_type = "text/plain; version=0.0.4",
    )),
)]
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
