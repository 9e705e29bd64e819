//! Sign-up, log-in and log-out with email and password (argon2), the
//! session cookie, API keys, and the [`Caller`] extractor every protected
//! route takes.
//!
//! Session tokens and API keys are 256-bit random strings; only their
//! SHA-256 is stored (argon2 guards low-entropy passwords; a random key
//! needs no stretching). A session dies 30 minutes after its last use or
//! at its absolute maximum age, whichever comes first.

use super::extract::{Json, Path};
use axum::extract::{Extension, FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::api_types::{AccountView, ApiKeyList, CreatedKey, Credentials, NewKey, Signup};
use super::app::AppState;
use super::error::{ApiError, ApiResult};
use super::ops::Client;
use super::password;
use super::{random_hex, sha256_hex};
use crate::db::accounts::Account;
use crate::db::now_ms;

pub const SESSION_COOKIE: &str = "vidmocap_session";
const KEY_PREFIX: &str = "vmk_";

/// The authenticated account of a request.
pub struct Caller {
    pub account: Account,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let now = now_ms();
        let account_id = if let Some(key) = bearer(&parts.headers) {
            state.db.account_for_key(&sha256_hex(&key), now).await?
        } else if let Some(token) = cookie(&parts.headers, SESSION_COOKIE) {
            let cfg = &state.cfg;
            state
                .db
                .touch_session(
                    &sha256_hex(&token),
                    now,
                    now - cfg.session_idle_secs * 1000,
                    now - cfg.session_max_secs * 1000,
                )
                .await?
        } else {
            None
        };
        let Some(account_id) = account_id else {
            return Err(ApiError::unauthorized());
        };
        state.limiter.check_account(&account_id)?;
        let account = state
            .db
            .account(&account_id)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Caller { account })
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let token = v.strip_prefix("Bearer ")?.trim();
    (!token.is_empty()).then(|| token.to_string())
}

pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

pub(super) fn normalise_email(email: &str) -> ApiResult<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'));
    if !valid {
        return Err(ApiError::bad_request(
            "auth.bad_email",
            "that is not an email address",
        ));
    }
    Ok(email)
}

/// Runs one argon2 computation on the service's hashing threads
/// (`max_concurrent_hashes` of them, see [`super::hasher`]).
async fn argon2_limited<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce() -> T + Send + 'static,
) -> ApiResult<T> {
    state
        .hasher
        .run(work)
        .await
        .ok_or_else(|| ApiError::internal("no password hashing thread took the work"))
}

pub(super) async fn hash_password(state: &AppState, password: String) -> ApiResult<String> {
    argon2_limited(state, move || password::hash(password.as_bytes()))
        .await?
        .map_err(ApiError::internal)
}

pub(super) async fn verify_password(
    state: &AppState,
    password: String,
    hash: String,
) -> ApiResult<bool> {
    argon2_limited(state, move || password::verify(password.as_bytes(), &hash))
        .await?
        .map_err(ApiError::internal)
}

/// A fresh session for `account` and the cookie that carries it.
pub(super) async fn new_session(
    state: &AppState,
    client: &Client,
    account: &Account,
) -> ApiResult<HeaderValue> {
    let token = random_hex(32);
    state
        .db
        .create_session(&sha256_hex(&token), &account.id, now_ms())
        .await?;
    let secure = state.cfg.cookie_secure || client.https;
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        state.cfg.session_max_secs,
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&cookie).map_err(ApiError::internal)
}

/// `POST /v1/auth/signup {email, password, over_18}`: creates the account,
/// logs in, and mails a link that verifies the address. The account is
/// usable at once; until the link is followed no notification is mailed.
#[utoipa::path(
    post,
    path = "/v1/auth/signup",
    tag = "auth",
    summary = "Create an account {email, password, over_18} and log in",
    request_body = Signup,
    responses((
        status = 201,
        description = "The new account; the session cookie is set",
        body = AccountView,
        headers(("set-cookie" = String, description = "The session cookie")),
    )),
)]
pub async fn signup(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    Json(body): Json<Signup>,
) -> ApiResult<Response> {
    let email = normalise_email(&body.email)?;
    check_new_password(&body.password)?;
    if !body.over_18 {
        return Err(ApiError::bad_request(
            "auth.age_unconfirmed",
            "confirm that you are 18 or over to create an account",
        ));
    }
    let hash = hash_password(&state, body.password).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let Some(account) = state
        .db
        .create_account(
            &id,
            &email,
            &hash,
            &state.cfg.default_tier,
            body.marketing_emails,
            now_ms(),
        )
        .await?
    else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "auth.email_taken",
            "an account with that email exists",
        ));
    };
    tracing::info!(account = %account.id, "account created");
    // The account exists now: a link that could not be made (logged where
    // it failed) is asked for again from the settings, not a failed sign-up.
    let _ = super::account::send_verification(&state, &account).await;
    let cookie = new_session(&state, &client, &account).await?;
    Ok((
        StatusCode::CREATED,
        [(SET_COOKIE, cookie)],
        Json(AccountView::from(&account)),
    )
        .into_response())
}

/// `auth.weak_password` unless `password` is 8 to 1024 bytes long (at
/// least 8 characters).
pub(super) fn check_new_password(password: &str) -> ApiResult<()> {
    if password.chars().count() < 8 || password.len() > 1024 {
        return Err(ApiError::bad_request(
            "auth.weak_password",
            "the password must have at least 8 characters",
        ));
    }
    Ok(())
}

/// `POST /v1/auth/login {email, password}`. Failures are counted per
/// email and client address; past the limit the pair is refused before
/// any password is checked.
#[utoipa::path(
    post,
    path = "/v1/auth/login",
    tag = "auth",
    summary = "Log in {email, password}; sets the session cookie",
    request_body = Credentials,
    responses((
        status = 200,
        description = "The account; the session cookie is set",
        body = AccountView,
        headers(("set-cookie" = String, description = "The session cookie")),
    )),
)]
pub async fn login(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    Json(body): Json<Credentials>,
) -> ApiResult<Response> {
    let wrong = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "auth.invalid_credentials",
            "wrong email or password",
        )
    };
    let email = normalise_email(&body.email).map_err(|_| wrong())?;
    state.limiter.check_login(&email, &client.ip)?;
    let account = state.db.account_by_email(&email).await?;
    // A missing account costs the same work as a wrong password, so
    // timing does not tell which emails have accounts; so does one made
    // by signing in with a provider, which has no password (an empty hash).
    let has_password = account
        .as_ref()
        .is_some_and(|a| !a.password_hash.is_empty());
    let hash = match &account {
        Some(a) if has_password => a.password_hash.clone(),
        _ => dummy_hash(&state).await?.to_string(),
    };
    let verified = verify_password(&state, body.password, hash).await? && has_password;
    let Some(account) = account.filter(|_| verified) else {
        state.limiter.login_failed(&email, &client.ip);
        return Err(wrong());
    };
    let cookie = new_session(&state, &client, &account).await?;
    Ok(([(SET_COOKIE, cookie)], Json(AccountView::from(&account))).into_response())
}

/// `POST /v1/auth/logout`: ends the session of the cookie sent.
#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    tag = "auth",
    summary = "End the session",
    responses((
        status = 204,
        description = "Logged out; the session cookie is cleared",
        headers(("set-cookie" = String, description = "The cleared cookie")),
    )),
)]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        state.db.delete_session(&sha256_hex(&token)).await?;
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    Ok((
        StatusCode::NO_CONTENT,
        [(
            SET_COOKIE,
            HeaderValue::from_str(&clear).map_err(ApiError::internal)?,
        )],
    )
        .into_response())
}

/// `GET /v1/account`.
#[utoipa::path(
    get,
    path = "/v1/account",
    tag = "account",
    summary = "The account and its credits",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "The account", body = AccountView)),
)]
pub async fn me(caller: Caller) -> Json<AccountView> {
    Json(AccountView::from(&caller.account))
}

/// `POST /v1/api-keys {name}`: the key is in this answer and nowhere else.
#[utoipa::path(
    post,
    path = "/v1/api-keys",
    tag = "account",
    summary = "Create an API key {name}; shown once",
    security(("bearer" = []), ("cookie" = [])),
    request_body = NewKey,
    responses((status = 201, description = "The key and its secret", body = CreatedKey)),
)]
pub async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewKey>,
) -> ApiResult<Response> {
    let secret = format!("{KEY_PREFIX}{}", random_hex(32));
    let id = uuid::Uuid::new_v4().to_string();
    let name: String = body.name.chars().take(100).collect();
    let key = state
        .db
        .create_api_key(
            &id,
            &caller.account.id,
            &name,
            &secret[..KEY_PREFIX.len() + 8],
            &sha256_hex(&secret),
            now_ms(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: secret,
            api_key: key,
        }),
    )
        .into_response())
}

/// `GET /v1/api-keys`.
#[utoipa::path(
    get,
    path = "/v1/api-keys",
    tag = "account",
    summary = "List API keys",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "Every key, revoked ones too", body = ApiKeyList)),
)]
pub async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ApiKeyList>> {
    let api_keys = state.db.list_api_keys(&caller.account.id).await?;
    Ok(Json(ApiKeyList { api_keys }))
}

/// `DELETE /v1/api-keys/{id}`.
#[utoipa::path(
    delete,
    path = "/v1/api-keys/{id}",
    tag = "account",
    summary = "Revoke an API key",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path, description = "The key's id")),
    responses((status = 204, description = "Revoked")),
)]
pub async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if state
        .db
        .revoke_api_key(&caller.account.id, &id, now_ms())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("API key"))
    }
}

/// An argon2 hash of nothing in particular, made once per process on the
/// hashing threads (so no other thread keeps argon2's memory).
async fn dummy_hash(state: &AppState) -> ApiResult<&'static str> {
    static HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    HASH.get_or_try_init(|| hash_password(state, "no such account".into()))
        .await
        .map(String::as_str)
}
