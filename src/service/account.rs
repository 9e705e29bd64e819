//! Correcting an account: its password (the current one required; other
//! sessions end), its email (a link to the new address makes the change,
//! the old one is told), verifying the address it signed up with, a
//! forgotten password reset by a single-use link, and the mail it chooses
//! to get.
//!
//! Links carry a 256-bit random token of which only the SHA-256 is stored
//! (as for sessions); each is spent with its change in one transaction
//! ([`crate::db::account_tokens`]). A followed, voided or expired link
//! answers a stable code and changes nothing. At most
//! [`LINKS_PER_WINDOW`] links of one kind go to an account within a
//! link's lifetime, so nobody can make the service flood an inbox.
//!
//! Security mail (links, "your password/address was changed") goes to the
//! address whether verified or not; job notifications only to a verified
//! one.

use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::api_types::{
    EmailChange, EmailChangePending, EmailConfirmed, LinkToken, NotificationChoices,
    NotificationsView, PasswordChange, ResetConfirm, ResetRequest,
};
use super::app::AppState;
use super::auth::{
    check_new_password, cookie, hash_password, normalise_email, verify_password, Caller,
    SESSION_COOKIE,
};
use super::error::{ApiError, ApiResult};
use super::extract::Json;
use super::mails;
use super::ops::Client;
use super::{random_hex, sha256_hex};
use crate::db::account_tokens::{LinkRefused, Purpose};
use crate::db::accounts::{Account, Notifications};
use crate::db::now_ms;

/// Links of one kind an account may be sent within one link lifetime.
pub const LINKS_PER_WINDOW: i64 = 3;

fn refused(why: LinkRefused) -> ApiError {
    match why {
        LinkRefused::Unknown => ApiError::bad_request(
            "auth.link_invalid",
            "this link is not valid; ask for a new one",
        ),
        LinkRefused::Used => ApiError::new(
            StatusCode::GONE,
            "auth.link_used",
            "this link was already used; ask for a new one",
        ),
        LinkRefused::Expired => ApiError::new(
            StatusCode::GONE,
            "auth.link_expired",
            "this link has expired; ask for a new one",
        ),
        LinkRefused::EmailTaken => email_taken(),
    }
}

fn email_taken() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "auth.email_taken",
        "an account with that email exists",
    )
}

fn wrong_password() -> ApiError {
    // 403, not 401: the caller is signed in; only the proof is wrong.
    ApiError::new(
        StatusCode::FORBIDDEN,
        "auth.wrong_password",
        "the current password is not right",
    )
}

/// The hash a link's token is stored under; `auth.link_invalid` for
/// something that cannot be one of our tokens.
fn token_hash(token: &str) -> ApiResult<String> {
    let t = token.trim();
    if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(sha256_hex(t))
    } else {
        Err(refused(LinkRefused::Unknown))
    }
}

/// Checks the account's password, counted like a login (a wrong one too
/// often from one address is refused unchecked).
async fn check_password(
    state: &AppState,
    client: &Client,
    account: &Account,
    password: String,
) -> ApiResult<()> {
    state.limiter.check_login(&account.email, &client.ip)?;
    if verify_password(state, password, account.password_hash.clone()).await? {
        Ok(())
    } else {
        state.limiter.login_failed(&account.email, &client.ip);
        Err(wrong_password())
    }
}

/// Makes a link of `purpose` for `to` and mails it, unless the account
/// has had [`LINKS_PER_WINDOW`] of them lately (then nothing is sent and
/// `false` comes back). `route` is the portal page that takes the token.
async fn mail_link(
    state: &AppState,
    account: &Account,
    purpose: Purpose,
    to: &str,
    ttl_secs: i64,
    make: impl FnOnce(&str, i64) -> super::mailer::Mail,
) -> ApiResult<Option<i64>> {
    let now = now_ms();
    let window = now - ttl_secs * 1000;
    if state.db.links_since(&account.id, purpose, window).await? >= LINKS_PER_WINDOW {
        tracing::warn!(account = %account.id, purpose = purpose.as_str(), "link not sent: too many lately");
        return Ok(None);
    }
    let token = random_hex(32);
    let expires = now + ttl_secs * 1000;
    state
        .db
        .create_link(&sha256_hex(&token), &account.id, purpose, to, now, expires)
        .await?;
    let route = match purpose {
        Purpose::Verify => "verify-email",
        Purpose::ChangeEmail => "confirm-email",
        Purpose::Reset => "reset-password",
    };
    let link = state.mailer.link(&format!("{route}?token={token}"));
    state
        .mailer
        .send_later(to.to_string(), make(&link, ttl_secs));
    Ok(Some(expires))
}

/// Mails the account a link verifying its address (sign-up, or asked
/// again); nothing when the server sends no mail. `None`: not sent, too
/// many lately.
pub async fn send_verification(state: &AppState, account: &Account) -> ApiResult<Option<i64>> {
    if !state.mailer.enabled() {
        return Ok(None);
    }
    let ttl = state.cfg.mail.link_ttl_secs;
    mail_link(
        state,
        account,
        Purpose::Verify,
        &account.email,
        ttl,
        mails::verify_address,
    )
    .await
}

fn too_many_links() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "account.too_many_links",
        "several links were sent lately; use one of them or try again tomorrow",
    )
}

/// `POST /v1/account/verification`: sends the verification link again.
#[utoipa::path(
    post,
    path = "/v1/account/verification",
    tag = "account",
    summary = "Mail the link that verifies the account's address again",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "Sent (at most 3 within a link's lifetime)")),
)]
pub async fn resend_verification(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<StatusCode> {
    state.mailer.require("verifying an address")?;
    if caller.account.email_verified_ms.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "account.already_verified",
            "this address is verified already",
        ));
    }
    send_verification(&state, &caller.account)
        .await?
        .ok_or_else(too_many_links)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/auth/verify-email {token}`: follows a verification link.
#[utoipa::path(
    post,
    path = "/v1/auth/verify-email",
    tag = "auth",
    summary = "Verify the account's address with the mailed link's token",
    request_body = LinkToken,
    responses((status = 200, description = "Verified", body = EmailConfirmed)),
)]
pub async fn verify_email(
    State(state): State<AppState>,
    Json(body): Json<LinkToken>,
) -> ApiResult<Json<EmailConfirmed>> {
    let hash = token_hash(&body.token)?;
    let spent = state
        .db
        .verify_email(&hash, now_ms())
        .await?
        .map_err(refused)?;
    tracing::info!(account = %spent.account_id, "email verified");
    Ok(Json(EmailConfirmed {
        email: spent.email,
        email_verified: true,
    }))
}

/// `POST /v1/account/password {current_password, new_password}`: every
/// other session of the account ends (this one stays signed in; API keys
/// stay valid) and the owner is told by mail.
#[utoipa::path(
    post,
    path = "/v1/account/password",
    tag = "account",
    summary = "Change the password {current_password, new_password}; other sessions end",
    security(("bearer" = []), ("cookie" = [])),
    request_body = PasswordChange,
    responses((status = 204, description = "Changed")),
)]
pub async fn change_password(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    caller: Caller,
    Json(body): Json<PasswordChange>,
) -> ApiResult<StatusCode> {
    check_new_password(&body.new_password)?;
    check_password(&state, &client, &caller.account, body.current_password).await?;
    let hash = hash_password(&state, body.new_password).await?;
    let keep = cookie(&headers, SESSION_COOKIE).map(|t| sha256_hex(&t));
    state
        .db
        .change_password(&caller.account.id, &hash, keep.as_deref(), now_ms())
        .await?;
    tracing::info!(account = %caller.account.id, "password changed");
    state
        .mailer
        .send_later(caller.account.email.clone(), mails::password_changed());
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/account/email {new_email, password}`: mails the new address
/// a link that makes the change; until it is followed nothing changes.
#[utoipa::path(
    post,
    path = "/v1/account/email",
    tag = "account",
    summary = "Change the email {new_email, password}: a link to the new address confirms it",
    security(("bearer" = []), ("cookie" = [])),
    request_body = EmailChange,
    responses((status = 202, description = "The link was sent", body = EmailChangePending)),
)]
pub async fn change_email(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    caller: Caller,
    Json(body): Json<EmailChange>,
) -> ApiResult<Response> {
    state.mailer.require("changing the email address")?;
    let new_email = normalise_email(&body.new_email)?;
    if new_email == caller.account.email {
        return Err(ApiError::bad_request(
            "account.same_email",
            "that is the account's address already",
        ));
    }
    check_password(&state, &client, &caller.account, body.password).await?;
    if state.db.account_by_email(&new_email).await?.is_some() {
        return Err(email_taken());
    }
    let ttl = state.cfg.mail.link_ttl_secs;
    let Some(expires_ms) = mail_link(
        &state,
        &caller.account,
        Purpose::ChangeEmail,
        &new_email,
        ttl,
        mails::confirm_new_address,
    )
    .await?
    else {
        return Err(too_many_links());
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(EmailChangePending {
            pending_email: new_email,
            expires_ms,
        }),
    )
        .into_response())
}

/// `POST /v1/auth/confirm-email {token}`: follows an email-change link.
/// Works signed in or not (the link may open in another browser).
#[utoipa::path(
    post,
    path = "/v1/auth/confirm-email",
    tag = "auth",
    summary = "Make an email change with the mailed link's token",
    request_body = LinkToken,
    responses((status = 200, description = "The account's address now", body = EmailConfirmed)),
)]
pub async fn confirm_email(
    State(state): State<AppState>,
    Json(body): Json<LinkToken>,
) -> ApiResult<Json<EmailConfirmed>> {
    let hash = token_hash(&body.token)?;
    let changed = state
        .db
        .confirm_email_change(&hash, now_ms())
        .await?
        .map_err(refused)?;
    tracing::info!(account = %changed.account_id, "email changed");
    state.mailer.send_later(
        changed.old_email,
        mails::address_changed(&changed.new_email),
    );
    Ok(Json(EmailConfirmed {
        email: changed.new_email,
        email_verified: true,
    }))
}

/// `POST /v1/auth/password-reset {email}`: mails a reset link when the
/// address has an account. The answer is the same either way, so it does
/// not tell who has an account.
#[utoipa::path(
    post,
    path = "/v1/auth/password-reset",
    tag = "auth",
    summary = "Mail a password-reset link {email}",
    request_body = ResetRequest,
    responses((status = 204, description = "A link was sent if the address has an account")),
)]
pub async fn request_reset(
    State(state): State<AppState>,
    Json(body): Json<ResetRequest>,
) -> ApiResult<StatusCode> {
    state.mailer.require("resetting a password")?;
    let email = normalise_email(&body.email)?;
    if let Some(account) = state.db.account_by_email(&email).await? {
        let ttl = state.cfg.mail.reset_ttl_secs;
        mail_link(
            &state,
            &account,
            Purpose::Reset,
            &account.email,
            ttl,
            mails::password_reset,
        )
        .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/auth/password-reset/confirm {token, new_password}`: sets the
/// password; every session of the account ends, so the user signs in
/// afresh with it.
#[utoipa::path(
    post,
    path = "/v1/auth/password-reset/confirm",
    tag = "auth",
    summary = "Set a new password with a reset link's token {token, new_password}",
    request_body = ResetConfirm,
    responses((status = 204, description = "The password was set; sign in with it")),
)]
pub async fn confirm_reset(
    State(state): State<AppState>,
    Json(body): Json<ResetConfirm>,
) -> ApiResult<StatusCode> {
    let hash = token_hash(&body.token)?;
    // Checked before the link is spent: a weak password costs no link.
    check_new_password(&body.new_password)?;
    let password_hash = hash_password(&state, body.new_password).await?;
    let spent = state
        .db
        .reset_password(&hash, &password_hash, now_ms())
        .await?
        .map_err(refused)?;
    tracing::info!(account = %spent.account_id, "password reset");
    state
        .mailer
        .send_later(spent.email, mails::password_changed());
    Ok(StatusCode::NO_CONTENT)
}

fn notifications_view(state: &AppState, a: &Account, n: Notifications) -> NotificationsView {
    NotificationsView {
        choices: NotificationChoices {
            job_emails: n.job_emails,
            marketing_emails: n.marketing_emails,
        },
        mail_enabled: state.mailer.enabled(),
        email_verified: a.email_verified_ms.is_some(),
    }
}

/// `GET /v1/account/notifications`.
#[utoipa::path(
    get,
    path = "/v1/account/notifications",
    tag = "account",
    operation_id = "get_notifications",
    summary = "Which mails the account gets, and whether this server sends mail",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "The choices", body = NotificationsView)),
)]
pub async fn get_notifications(
    State(state): State<AppState>,
    caller: Caller,
) -> Json<NotificationsView> {
    let n = caller.account.notifications;
    Json(notifications_view(&state, &caller.account, n))
}

/// `PUT /v1/account/notifications {job_emails, marketing_emails}`.
#[utoipa::path(
    put,
    path = "/v1/account/notifications",
    tag = "account",
    operation_id = "set_notifications",
    summary = "Choose the mails {job_emails, marketing_emails}",
    security(("bearer" = []), ("cookie" = [])),
    request_body = NotificationChoices,
    responses((status = 200, description = "The choices now", body = NotificationsView)),
)]
pub async fn put_notifications(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NotificationChoices>,
) -> ApiResult<Json<NotificationsView>> {
    let n = Notifications {
        job_emails: body.job_emails,
        marketing_emails: body.marketing_emails,
    };
    if !state.db.set_notifications(&caller.account.id, &n).await? {
        return Err(ApiError::unauthorized());
    }
    tracing::info!(account = %caller.account.id, ?n, "notification choices changed");
    Ok(Json(notifications_view(&state, &caller.account, n)))
}
