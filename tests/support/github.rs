//! A local stand-in for GitHub, since the real one cannot be reached from
//! a test: its OAuth app endpoints (`/login/oauth/authorize`, which signs
//! the chosen user in at once, and `/login/oauth/access_token`) and the two
//! REST calls sign-in makes (`GET /user`, `GET /user/emails`), in GitHub's
//! shapes. It checks what GitHub checks of the client: its id and secret,
//! the redirect URI, and the PKCE S256 verifier against the challenge; a
//! refused code is answered as GitHub does, HTTP 200 with an `error`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use serde_json::{json, Value};
use sha2::Digest;

pub const CLIENT_ID: &str = "gh-test-client";
pub const CLIENT_SECRET: &str = "gh-test-secret";
const TOKEN: &str = "gho_standin_token";

/// A GitHub user: its numeric id and its emails as `(email, primary, verified)`.
#[derive(Clone, Debug)]
pub struct GitHubUser {
    pub id: u64,
    pub login: String,
    pub emails: Vec<(String, bool, bool)>,
}

struct Grant {
    challenge: String,
    redirect_uri: String,
}

#[derive(Clone, Default)]
struct Inner {
    /// Who the authorize page signs in.
    user: Arc<Mutex<Option<GitHubUser>>>,
    /// Who holds the one access token, once a code was exchanged.
    token_user: Arc<Mutex<Option<GitHubUser>>>,
    codes: Arc<Mutex<HashMap<String, Grant>>>,
}

pub struct GitHubStandIn {
    pub base: String,
    inner: Inner,
}

async fn authorize(State(s): State<Inner>, Query(q): Query<HashMap<String, String>>) -> Response {
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || q.get("code_challenge_method").map(String::as_str) != Some("S256")
    {
        return (StatusCode::BAD_REQUEST, "bad client or no PKCE S256").into_response();
    }
    let (Some(redirect), Some(state), Some(challenge)) = (
        q.get("redirect_uri"),
        q.get("state"),
        q.get("code_challenge"),
    ) else {
        return (StatusCode::BAD_REQUEST, "missing parameter").into_response();
    };
    let code = format!("ghcode{}", uuid::Uuid::new_v4().simple());
    s.codes.lock().unwrap().insert(
        code.clone(),
        Grant {
            challenge: challenge.clone(),
            redirect_uri: redirect.clone(),
        },
    );
    Redirect::to(&format!("{redirect}?code={code}&state={state}")).into_response()
}

async fn access_token(
    State(s): State<Inner>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Json<Value> {
    let refuse = |why: &str| Json(json!({"error": why, "error_description": why}));
    if headers.get("accept").and_then(|v| v.to_str().ok()) != Some("application/json") {
        return refuse("not_json");
    }
    if f.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || f.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
    {
        return refuse("incorrect_client_credentials");
    }
    let Some(grant) = f
        .get("code")
        .and_then(|c| s.codes.lock().unwrap().remove(c))
    else {
        return refuse("bad_verification_code");
    };
    let verifier = f.get("code_verifier").cloned().unwrap_or_default();
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    if computed != grant.challenge || f.get("redirect_uri") != Some(&grant.redirect_uri) {
        return refuse("bad_verification_code");
    }
    *s.token_user.lock().unwrap() = s.user.lock().unwrap().clone();
    Json(json!({"access_token": TOKEN, "token_type": "bearer", "scope": "user:email"}))
}

fn bearer_user(s: &Inner, headers: &HeaderMap) -> Option<GitHubUser> {
    let ok = headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {TOKEN}"))
        && headers.contains_key("user-agent");
    ok.then(|| s.token_user.lock().unwrap().clone()).flatten()
}

async fn user(State(s): State<Inner>, headers: HeaderMap) -> Response {
    match bearer_user(&s, &headers) {
        Some(u) => Json(json!({"id": u.id, "login": u.login})).into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "Bad credentials"})),
        )
            .into_response(),
    }
}

async fn emails(State(s): State<Inner>, headers: HeaderMap) -> Response {
    match bearer_user(&s, &headers) {
        Some(u) => Json(
            u.emails
                .iter()
                .map(|(e, primary, verified)| {
                    json!({"email": e, "primary": primary, "verified": verified, "visibility": null})
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        None => (StatusCode::UNAUTHORIZED, Json(json!({"message": "Bad credentials"}))).into_response(),
    }
}

impl GitHubStandIn {
    /// Starts on port 0 on the current runtime.
    pub async fn start() -> GitHubStandIn {
        let inner = Inner::default();
        let app = Router::new()
            .route("/login/oauth/authorize", get(authorize))
            .route("/login/oauth/access_token", post(access_token))
            .route("/user", get(user))
            .route("/user/emails", get(emails))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        GitHubStandIn { base, inner }
    }

    /// Who signs in at the next authorization.
    pub fn sign_in_as(&self, user: GitHubUser) {
        *self.inner.user.lock().unwrap() = Some(user);
    }
}
