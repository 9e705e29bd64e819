//! The sign-in routes: the providers list, the start (a redirect to the
//! provider) and the callback (the code exchanged and checked, the
//! identity found or linked, the session cookie of [`crate::service::auth`]
//! set, and back to the portal).
//!
//! Both browser routes answer every failure with a redirect to the
//! portal's login view carrying the error's stable code
//! (`/#/login?error=oidc.bad_state`); the detail goes to the log.
//!
//! A sign-in is bound to the browser that began it: the start sets an
//! http-only cookie whose hash is stored with the state, and the callback
//! takes the state only with that cookie. Someone else's callback URL
//! (login CSRF) or one used before finds nothing.

use axum::extract::{Extension, RawQuery, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::super::api_types::{SignInProvider, SignInProviders};
use super::super::app::AppState;
use super::super::auth;
use super::super::extract::{Json, Path};
use super::super::ops::Client;
use super::super::{random_hex, sha256_hex};
use super::{SignInError, Verified};
use crate::db::accounts::Account;
use crate::db::identities::NewIdentity;
use crate::db::now_ms;

/// The browser's half of a sign-in begun (see the module's doc).
const LOGIN_COOKIE: &str = "vidmocap_oidc";
/// How long a sign-in may take at the provider.
const LOGIN_TTL_SECS: i64 = 10 * 60;

/// `GET /v1/auth/providers`.
#[utoipa::path(
    get,
    path = "/v1/auth/providers",
    tag = "auth",
    summary = "The providers one may sign in with (Google, GitHub, ...)",
    responses((status = 200, description = "Each configured provider", body = SignInProviders)),
)]
pub async fn providers(State(state): State<AppState>) -> Json<SignInProviders> {
    Json(SignInProviders {
        providers: state
            .oidc
            .list()
            .map(|(name, display)| SignInProvider {
                name: name.into(),
                display_name: display.into(),
                start_url: format!("/v1/auth/oidc/{name}/start"),
            })
            .collect(),
    })
}

/// `GET /v1/auth/oidc/{provider}/start`.
#[utoipa::path(
    get,
    path = "/v1/auth/oidc/{provider}/start",
    tag = "auth",
    summary = "Begin signing in with a provider: a redirect to it",
    params(("provider" = String, Path, description = "A name from /v1/auth/providers")),
    responses((
        status = 303,
        description = "To the provider; on failure to the portal's login view with ?error=CODE",
        headers(
            ("location" = String, description = "Where to go"),
            ("set-cookie" = String, description = "The sign-in's browser cookie"),
        ),
    )),
)]
pub async fn start(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    Path(provider): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    // Sign-up's "I am 18 or over", ticked: the only way a sign-in may
    // make a new account.
    let adult = oauth2::url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .any(|(k, v)| k == "over_18" && (v == "1" || v == "true"));
    begin(&state, &client, &headers, &provider, adult)
        .await
        .unwrap_or_else(|e| back_to_login(&state, &provider, e))
}

async fn begin(
    state: &AppState,
    client: &Client,
    headers: &HeaderMap,
    provider: &str,
    adult: bool,
) -> Result<Response, SignInError> {
    let mut started = state.oidc.start(provider).await?;
    started.login.adult_confirmed = adult;
    // One cookie for every sign-in of this browser, so two tabs can each
    // begin one.
    let browser = auth::cookie(headers, LOGIN_COOKIE)
        .filter(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| random_hex(32));
    let now = now_ms();
    state
        .db
        .create_login(
            &sha256_hex(&started.state),
            &sha256_hex(&browser),
            provider,
            &started.login,
            now,
            now - LOGIN_TTL_SECS * 1000,
        )
        .await?;
    let cookie = login_cookie(state, client, &browser, LOGIN_TTL_SECS)?;
    Ok(redirect(&started.url, vec![cookie]))
}

/// `GET /v1/auth/oidc/{provider}/callback`.
#[utoipa::path(
    get,
    path = "/v1/auth/oidc/{provider}/callback",
    tag = "auth",
    summary = "Where the provider sends the browser back; signs in",
    params(
        ("provider" = String, Path, description = "The provider's name"),
        ("code" = Option<String>, Query, description = "The authorization code"),
        ("state" = Option<String>, Query, description = "The state the start sent"),
        ("iss" = Option<String>, Query, description = "The provider's issuer (RFC 9207)"),
        ("error" = Option<String>, Query, description = "The provider's refusal"),
    ),
    responses((
        status = 303,
        description = "Signed in: to the portal with the session cookie set; \
                       on failure to its login view with ?error=CODE",
        headers(
            ("location" = String, description = "Where to go"),
            ("set-cookie" = String, description = "The session cookie"),
        ),
    )),
)]
pub async fn callback(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    Path(provider): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    match finish(&state, &headers, &provider, query.as_deref()).await {
        Ok(account) => match signed_in(&state, &client, &account).await {
            Ok(r) => r,
            Err(e) => back_to_login(&state, &provider, e),
        },
        Err(e) => back_to_login(&state, &provider, e),
    }
}

/// The callback's parameters; the first of each name counts.
#[derive(Default)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

impl Callback {
    fn parse(query: &str) -> Callback {
        let mut c = Callback::default();
        for (k, v) in oauth2::url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match k.as_ref() {
                "code" => &mut c.code,
                "state" => &mut c.state,
                "iss" => &mut c.iss,
                "error" => &mut c.error,
                _ => continue,
            };
            slot.get_or_insert_with(|| v.into_owned());
        }
        c
    }
}

async fn finish(
    state: &AppState,
    headers: &HeaderMap,
    provider: &str,
    query: Option<&str>,
) -> Result<Account, SignInError> {
    if !state.oidc.has(provider) {
        return Err(SignInError::UnknownProvider);
    }
    let q = Callback::parse(query.unwrap_or(""));
    let (Some(st), Some(browser)) = (&q.state, auth::cookie(headers, LOGIN_COOKIE)) else {
        return Err(SignInError::BadState);
    };
    // Taken before anything else is looked at: whatever follows, this
    // state is spent.
    let login = state
        .db
        .take_login(
            &sha256_hex(st),
            &sha256_hex(&browser),
            provider,
            now_ms() - LOGIN_TTL_SECS * 1000,
        )
        .await?
        .ok_or(SignInError::BadState)?;
    if let Some(error) = q.error {
        return Err(SignInError::Denied(error));
    }
    let code = q
        .code
        .ok_or_else(|| SignInError::BadCode("the callback has no code".into()))?;
    let who = state
        .oidc
        .finish(provider, code, q.iss.as_deref(), &login)
        .await?;
    account_for(state, provider, who, login.adult_confirmed).await
}

/// The account of an identity: the one it is linked to, else the one
/// with its email (linked now), else a new one. The email must be one the
/// provider verified, or anyone who can set an email address at some
/// provider could take over the account that has it.
async fn account_for(
    state: &AppState,
    provider: &str,
    who: Verified,
    adult_confirmed: bool,
) -> Result<Account, SignInError> {
    let account_id = match state.db.identity_account(provider, &who.subject).await? {
        Some(id) => id,
        None => {
            let email = who
                .email
                .as_deref()
                .and_then(|e| auth::normalise_email(e).ok())
                .ok_or(SignInError::NoEmail)?;
            // Also for a new account: an unverified address would hold
            // the email against its real owner, whose later verified
            // sign-in would then be linked to this account.
            if !who.email_verified {
                return Err(SignInError::EmailUnverified);
            }
            // Linking to an account whose address was never confirmed
            // takes its password, sessions and keys (`link_identity`).
            // A new account needs sign-up's "I am 18 or over" (carried
            // from the start); linking to an existing one does not.
            let new_id = uuid::Uuid::new_v4().to_string();
            let identity = NewIdentity {
                provider,
                subject: &who.subject,
                email: &email,
            };
            let (id, created) = state
                .db
                .link_identity(
                    &identity,
                    &new_id,
                    &state.cfg.default_tier,
                    adult_confirmed,
                    now_ms(),
                )
                .await?
                .ok_or(SignInError::AgeUnconfirmed)?;
            if created {
                tracing::info!(account = %id, provider, "account created by signing in");
            } else {
                tracing::info!(account = %id, provider, "identity linked to the account of its email");
            }
            id
        }
    };
    state
        .db
        .account(&account_id)
        .await?
        .ok_or_else(|| SignInError::Internal(format!("identity of missing account {account_id}")))
}

/// The session cookie set, the sign-in cookie cleared, and to the portal.
async fn signed_in(
    state: &AppState,
    client: &Client,
    account: &Account,
) -> Result<Response, SignInError> {
    let session = auth::new_session(state, client, account)
        .await
        .map_err(|e| SignInError::Internal(format!("session: {}", e.code)))?;
    let clear = login_cookie(state, client, "", 0)?;
    Ok(redirect(
        &format!("{}/#/upload", state.cfg.public_base_url),
        vec![session, clear],
    ))
}

fn login_cookie(
    state: &AppState,
    client: &Client,
    value: &str,
    max_age: i64,
) -> Result<HeaderValue, SignInError> {
    let secure = state.cfg.cookie_secure || client.https;
    // Lax: the provider's redirect back is a top-level GET from its site.
    let cookie = format!(
        "{LOGIN_COOKIE}={value}; Path=/v1/auth/oidc; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&cookie).map_err(|e| SignInError::Internal(e.to_string()))
}

fn redirect(to: &str, cookies: Vec<HeaderValue>) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(LOCATION, v);
    }
    for c in cookies {
        r.headers_mut().append(SET_COOKIE, c);
    }
    r
}

/// The failure logged with its detail, and the browser sent to the
/// portal's login view with only the code.
fn back_to_login(state: &AppState, provider: &str, e: SignInError) -> Response {
    match &e {
        SignInError::Internal(_) | SignInError::Provider(_) => {
            tracing::error!(provider, code = e.code(), error = %e, "sign-in failed")
        }
        _ => tracing::warn!(provider, code = e.code(), error = %e, "sign-in refused"),
    }
    redirect(
        &format!("{}/#/login?error={}", state.cfg.public_base_url, e.code()),
        Vec::new(),
    )
}
