//! A real HTTP receiver for user webhooks, started by the test on
//! 127.0.0.1 port 0 (axum): it records every request (when it came, its
//! headers, its raw body) and answers 500 to the first `failures` of them,
//! 200 after.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    pub signature: String,
    pub event_id: String,
    pub content_type: String,
    pub body: Vec<u8>,
    /// What the receiver answered.
    pub status: u16,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a webhook body is JSON")
    }
}

#[derive(Clone)]
struct Shared {
    got: Arc<Mutex<Vec<Received>>>,
    failures: Arc<AtomicUsize>,
}

pub struct Receiver {
    /// `http://127.0.0.1:<port>/hook`.
    pub url: String,
    pub port: u16,
    shared: Shared,
}

async fn hook(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let fail = s
        .failures
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    s.got.lock().unwrap().push(Received {
        at: Instant::now(),
        signature: header("vidmocap-signature"),
        event_id: header("vidmocap-event-id"),
        content_type: header("content-type"),
        body: body.to_vec(),
        status: status.as_u16(),
    });
    status
}

impl Receiver {
    /// Starts on the current runtime; the first `failures` requests get 500.
    pub async fn start(failures: usize) -> Receiver {
        let shared = Shared {
            got: Arc::default(),
            failures: Arc::new(AtomicUsize::new(failures)),
        };
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            port,
            shared,
        }
    }

    /// Every request so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.shared.got.lock().unwrap().clone()
    }

    /// Waits until `n` requests have come, or panics after `limit`.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                start.elapsed() < limit,
                "{} of {n} webhook requests came in {limit:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
