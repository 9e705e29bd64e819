//! Account correction and job notifications by mail, against the real app
//! (SQLite and PostgreSQL) and a real SMTP server the test starts
//! (aiosmtpd, tests/support/smtp_sink.py) that requires AUTH: every mail
//! is read back from what the server received, and its links are followed
//! as the portal follows them (their token posted to the API).
//!
//! Covered: the 18+ confirmation at sign-up, address verification,
//! password change (wrong current password; other sessions end), email
//! change (an address already taken, before and at confirmation; the old
//! address told), password reset (unknown address, weak password, reused,
//! voided and expired links), tokens stored only hashed, notification
//! choices, job mails on success and failure (off when opted out or
//! unverified), and a server with no mail saying so.

#[path = "support/smtp.rs"]
mod smtp;
#[path = "support/service.rs"]
mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use smtp::{SmtpSink, SMTP_PASSWORD, SMTP_USER};
use sqlx::Row;
use support::{assert_error, cut, error_code, media, tiny_clip, Backend, TestApp, User};
use vidmocap::service::{MailTransport, ServiceConfig, SmtpTls};

const PASSWORD: &str = "correct horse battery";

/// Mail through the sink, which requires our credentials.
fn with_mail(s: &mut ServiceConfig, sink: &SmtpSink) {
    s.mail.transport = MailTransport::Smtp;
    s.mail.smtp_host = "127.0.0.1".into();
    s.mail.smtp_port = sink.port;
    s.mail.tls = SmtpTls::None;
    s.mail.smtp_username = SMTP_USER.into();
    s.mail.smtp_password = SMTP_PASSWORD.into();
    s.mail.from = "vidmocap <no-reply@vidmocap.test>".into();
}

async fn status_with(app: &TestApp, cookie: &str) -> StatusCode {
    app.http
        .get(app.url("/v1/account"))
        .header("cookie", format!("vidmocap_session={cookie}"))
        .send()
        .await
        .unwrap()
        .status()
}

/// Rows of `account_tokens` as (token_hash, purpose, created_ms, expires_ms).
async fn token_rows(app: &TestApp) -> Vec<(String, String, i64, i64)> {
    sqlx::query("SELECT token_hash, purpose, created_ms, expires_ms FROM account_tokens")
        .fetch_all(&app.state().db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.get("token_hash"),
                r.get("purpose"),
                r.get("created_ms"),
                r.get("expires_ms"),
            )
        })
        .collect()
}

async fn account_mail(backend: Backend) {
    let mail_dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(mail_dir.path(), true);
    let app = TestApp::start_with(backend, 0, |s| with_mail(s, &sink)).await;
    let links = format!("{}/#/", app.base);

    // ---- 18+ at sign-up ---------------------------------------------------
    for body in [
        json!({"email": "kid@example.com", "password": PASSWORD}),
        json!({"email": "kid@example.com", "password": PASSWORD, "over_18": false}),
    ] {
        assert_error(
            app.post_json("/v1/auth/signup", &body).await,
            StatusCode::BAD_REQUEST,
            "auth.age_unconfirmed",
        )
        .await;
    }
    assert!(
        app.login("kid@example.com", PASSWORD).await.is_none(),
        "no account was made without the 18+ confirmation"
    );
    assert!(
        sink.none_to("kid@example.com", Duration::from_millis(300))
            .await
    );

    // ---- verification at sign-up ---------------------------------------------
    let ann = app.signup("ann@example.com").await;
    let me = ann.account().await;
    assert_eq!(me["email_verified"], false, "{me}");
    assert_eq!(
        me["notifications"],
        json!({"job_emails": true, "marketing_emails": false})
    );
    let verify = sink
        .take("ann@example.com", "Confirm your email address")
        .await;
    assert_eq!(
        verify.auth_user.as_deref(),
        Some(SMTP_USER),
        "sent with our credentials"
    );
    assert_eq!(verify.from, "vidmocap <no-reply@vidmocap.test>");
    assert_eq!(verify.content_type, "text/plain");
    let token = verify.token(&format!("{links}verify-email?token="));
    // Only the token's hash is stored.
    let rows = token_rows(&app).await;
    assert_eq!(rows.len(), 1);
    assert_ne!(rows[0].0, token);
    assert_eq!(rows[0].0, vidmocap::service::sha256_hex(&token));
    let r = app
        .post_json("/v1/auth/verify-email", &json!({"token": token}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["email"], "ann@example.com");
    assert_eq!(ann.account().await["email_verified"], true);
    let (s, code) = error_code(
        app.post_json("/v1/auth/verify-email", &json!({"token": token}))
            .await,
    )
    .await;
    assert_eq!((s, code.as_str()), (StatusCode::GONE, "auth.link_used"));
    let (s, code) = error_code(
        app.post_json("/v1/auth/verify-email", &json!({"token": "0".repeat(64)}))
            .await,
    )
    .await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::BAD_REQUEST, "auth.link_invalid")
    );
    let (s, code) = error_code(ann.post("/v1/account/verification").send().await.unwrap()).await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::CONFLICT, "account.already_verified")
    );

    // ---- change password -------------------------------------------------------
    let other = app.login("ann@example.com", PASSWORD).await.unwrap();
    let r = ann
        .post("/v1/account/password")
        .json(
            &json!({"current_password": "not my password", "new_password": "a new long password"}),
        )
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "auth.wrong_password").await;
    let r = ann
        .post_json(
            "/v1/account/password",
            &json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    assert_eq!(error_code(r).await.1, "auth.weak_password");
    assert_eq!(
        status_with(&app, &other).await,
        StatusCode::OK,
        "nothing changed yet"
    );
    assert!(app.login("ann@example.com", PASSWORD).await.is_some());
    let r = ann
        .post_json(
            "/v1/account/password",
            &json!({"current_password": PASSWORD, "new_password": "a new long password"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        status_with(&app, &ann.cookie).await,
        StatusCode::OK,
        "this session stays"
    );
    assert_eq!(
        status_with(&app, &other).await,
        StatusCode::UNAUTHORIZED,
        "other sessions are signed out"
    );
    assert!(app.login("ann@example.com", PASSWORD).await.is_none());
    assert!(app
        .login("ann@example.com", "a new long password")
        .await
        .is_some());
    let told = sink.take("ann@example.com", "password was changed").await;
    assert!(told.text.contains("signed out"), "{}", told.text);

    // ---- change email ------------------------------------------------------------
    let _bob = app.signup("bob@example.com").await;
    let change = |to: &str, password: &str| {
        ann.post("/v1/account/email")
            .json(&json!({"new_email": to, "password": password}))
            .send()
    };
    let (s, code) = error_code(
        change("Bob@Example.com", "a new long password")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::CONFLICT, "auth.email_taken")
    );
    let (s, code) = error_code(change("ann2@example.com", PASSWORD).await.unwrap()).await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::FORBIDDEN, "auth.wrong_password")
    );
    let (s, code) = error_code(
        change("ann@example.com", "a new long password")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::BAD_REQUEST, "account.same_email")
    );
    let (_, code) = error_code(
        change("not an address", "a new long password")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, "auth.bad_email");
    let r = change("ann2@example.com", "a new long password")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(
        r.json::<Value>().await.unwrap()["pending_email"],
        "ann2@example.com"
    );
    assert_eq!(
        ann.account().await["email"],
        "ann@example.com",
        "unchanged until the link is followed"
    );
    let confirm = sink
        .take("ann2@example.com", "Confirm your new email")
        .await;
    let token = confirm.token(&format!("{links}confirm-email?token="));
    let r = app
        .post_json("/v1/auth/confirm-email", &json!({"token": token}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let me = ann.account().await;
    assert_eq!(
        (me["email"].as_str(), me["email_verified"].as_bool()),
        (Some("ann2@example.com"), Some(true))
    );
    let old = sink
        .take("ann@example.com", "email address was changed")
        .await;
    assert!(
        old.text.contains("ann2@example.com"),
        "the old address is told where: {}",
        old.text
    );
    assert!(app
        .login("ann@example.com", "a new long password")
        .await
        .is_none());
    assert!(app
        .login("ann2@example.com", "a new long password")
        .await
        .is_some());
    let (s, code) = error_code(
        app.post_json("/v1/auth/confirm-email", &json!({"token": token}))
            .await,
    )
    .await;
    assert_eq!((s, code.as_str()), (StatusCode::GONE, "auth.link_used"));
    // An address taken between the request and its confirmation.
    let r = change("carol@example.com", "a new long password")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let confirm = sink
        .take("carol@example.com", "Confirm your new email")
        .await;
    app.signup("carol@example.com").await;
    let token = confirm.token(&format!("{links}confirm-email?token="));
    let (s, code) = error_code(
        app.post_json("/v1/auth/confirm-email", &json!({"token": token}))
            .await,
    )
    .await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::CONFLICT, "auth.email_taken")
    );
    assert_eq!(
        ann.account().await["email"],
        "ann2@example.com",
        "nothing changed"
    );

    // ---- password reset --------------------------------------------------------------
    let reset = |email: &str| app.post_json("/v1/auth/password-reset", json!({"email": email}));
    assert_eq!(
        reset("nobody@example.com").await.status(),
        StatusCode::NO_CONTENT,
        "same answer"
    );
    assert_eq!(
        reset("ANN2@example.com").await.status(),
        StatusCode::NO_CONTENT
    );
    let first = sink
        .take("ann2@example.com", "Reset your vidmocap password")
        .await;
    assert!(first.text.contains("for 30 minutes"), "{}", first.text);
    let reset_rows: Vec<_> = token_rows(&app)
        .await
        .into_iter()
        .filter(|r| r.1 == "reset")
        .collect();
    assert_eq!(reset_rows.len(), 1);
    assert_eq!(
        reset_rows[0].3 - reset_rows[0].2,
        30 * 60 * 1000,
        "30 minutes by default"
    );
    assert_eq!(
        reset("ann2@example.com").await.status(),
        StatusCode::NO_CONTENT
    );
    let second = sink
        .take("ann2@example.com", "Reset your vidmocap password")
        .await;
    let (t1, t2) = (
        first.token(&format!("{links}reset-password?token=")),
        second.token(&format!("{links}reset-password?token=")),
    );
    let confirm_reset = |token: &str, password: &str| {
        app.post_json(
            "/v1/auth/password-reset/confirm",
            json!({"token": token, "new_password": password}),
        )
    };
    let (_, code) = error_code(confirm_reset(&t2, "short").await).await;
    assert_eq!(code, "auth.weak_password");
    let signed_in = app
        .login("ann2@example.com", "a new long password")
        .await
        .unwrap();
    assert_eq!(
        confirm_reset(&t2, "the password after reset")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        status_with(&app, &signed_in).await,
        StatusCode::UNAUTHORIZED,
        "a reset signs out every session"
    );
    assert!(app
        .login("ann2@example.com", "the password after reset")
        .await
        .is_some());
    sink.take("ann2@example.com", "password was changed").await;
    // The same link again, and the earlier one (void once one was used).
    for token in [&t2, &t1] {
        assert_error(
            confirm_reset(token, "someone else's password").await,
            StatusCode::GONE,
            "auth.link_used",
        )
        .await;
    }
    assert!(
        app.login("ann2@example.com", "the password after reset")
            .await
            .is_some(),
        "a refused link changed nothing"
    );
    let (s, code) = error_code(confirm_reset("not-a-token", "whatever it is").await).await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::BAD_REQUEST, "auth.link_invalid")
    );
    assert!(
        sink.none_to("nobody@example.com", Duration::from_millis(200))
            .await
    );
    // No more than three links within a link's lifetime; the answer does
    // not tell.
    for _ in 0..3 {
        assert_eq!(
            reset("bob@example.com").await.status(),
            StatusCode::NO_CONTENT
        );
    }
    assert_eq!(
        reset("bob@example.com").await.status(),
        StatusCode::NO_CONTENT
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let to_bob = sink
        .to("bob@example.com")
        .into_iter()
        .filter(|m| m.subject.contains("Reset"))
        .count();
    assert_eq!(to_bob, 3, "the fourth reset mail was not sent");

    // ---- notification choices ------------------------------------------------------
    let ann = User {
        cookie: app
            .login("ann2@example.com", "the password after reset")
            .await
            .unwrap(),
        ..ann
    };
    let n = ann.get_json("/v1/account/notifications").await;
    assert_eq!(
        n,
        json!({"job_emails": true, "marketing_emails": false, "mail_enabled": true, "email_verified": true})
    );
    let r = ann
        .put_json(
            "/v1/account/notifications",
            &json!({"job_emails": false, "marketing_emails": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        ann.account().await["notifications"],
        json!({"job_emails": false, "marketing_emails": true})
    );
    let r = ann
        .put_json("/v1/account/notifications", &json!({"job_emails": true}))
        .await;
    assert_eq!(
        error_code(r).await.1,
        "request.bad_fields",
        "both choices, every time"
    );
    let r = ann
        .put_json(
            "/v1/account/notifications",
            &json!({"job_emails": true, "marketing_emails": true, "sms": true}),
        )
        .await;
    assert_eq!(error_code(r).await.1, "request.bad_fields");
    assert_eq!(ann.account().await["notifications"]["job_emails"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn account_mail_sqlite() {
    account_mail(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn account_mail_postgres() {
    account_mail(Backend::Postgres).await;
}

/// A reset link past its lifetime (1 s here; 30 minutes by default) is
/// refused and changes nothing.
async fn expired_reset_link(backend: Backend) {
    let mail_dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(mail_dir.path(), true);
    let app = TestApp::start_with(backend, 0, |s| {
        with_mail(s, &sink);
        s.mail.reset_ttl_secs = 1;
    })
    .await;
    app.signup("dan@example.com").await;
    let r = app
        .post_json(
            "/v1/auth/password-reset",
            &json!({"email": "dan@example.com"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let mail = sink
        .take("dan@example.com", "Reset your vidmocap password")
        .await;
    assert!(mail.text.contains("for 1 second"), "{}", mail.text);
    let token = mail.token(&format!("{}/#/reset-password?token=", app.base));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let r = app
        .post_json(
            "/v1/auth/password-reset/confirm",
            &json!({"token": token, "new_password": "too late a password"}),
        )
        .await;
    assert_error(r, StatusCode::GONE, "auth.link_expired").await;
    assert!(
        app.login("dan@example.com", PASSWORD).await.is_some(),
        "nothing changed"
    );
    assert!(app
        .login("dan@example.com", "too late a password")
        .await
        .is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_reset_link_sqlite() {
    expired_reset_link(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_reset_link_postgres() {
    expired_reset_link(Backend::Postgres).await;
}

async fn verified(app: &TestApp, sink: &SmtpSink, email: &str) -> User {
    let user = app.signup(email).await;
    let mail = sink.take(email, "Confirm your email address").await;
    let token = mail.token(&format!("{}/#/verify-email?token=", app.base));
    let r = app
        .post_json("/v1/auth/verify-email", &json!({"token": token}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    user
}

/// A mail when a job succeeds and when it fails, with the job's link;
/// none once opted out, and none to an unverified address.
async fn job_notifications(backend: Backend) {
    let mail_dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(mail_dir.path(), true);
    let app = TestApp::start_with(backend, 1, |s| with_mail(s, &sink)).await;
    let eve = verified(&app, &sink, "eve@example.com").await;
    app.grant("eve@example.com", 1000);

    let walk = app.dir.path().join("walk.mp4");
    cut(&media("walk_outdoor.mp4"), "2", &walk);
    let done = eve.run_job(&walk).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let mail = sink.take("eve@example.com", "is ready").await;
    assert!(mail.subject.contains("walk.mp4"), "{}", mail.subject);
    let link = mail.link(&format!("{}/#/job/", app.base));
    assert_eq!(
        link,
        format!("{}/#/job/{}", app.base, done["id"].as_str().unwrap())
    );
    assert!(mail.text.contains("turn them off"), "{}", mail.text);

    let nobody = tiny_clip(app.dir.path(), "empty.mp4", 1);
    let failed = eve.run_job(&nobody).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    let mail = sink.take("eve@example.com", "could not be finished").await;
    assert!(
        mail.text.contains("credits held for it were returned")
            && mail
                .text
                .contains(&format!("/#/job/{}", failed["id"].as_str().unwrap())),
        "{}",
        mail.text
    );
    assert!(
        !mail.text.contains("pipeline."),
        "no codes, plain words: {}",
        mail.text
    );

    let r = eve
        .put_json(
            "/v1/account/notifications",
            &json!({"job_emails": false, "marketing_emails": false}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(eve.run_job(&nobody).await["state"], "failed");

    // Signed up, never verified: no job mail either.
    let fay = app.signup("fay@example.com").await;
    sink.take("fay@example.com", "Confirm your email address")
        .await;
    app.grant("fay@example.com", 100);
    assert_eq!(fay.run_job(&nobody).await["state"], "failed");
    assert!(
        sink.none_to("eve@example.com", Duration::from_secs(1))
            .await,
        "opted out"
    );
    assert!(
        sink.none_to("fay@example.com", Duration::ZERO).await,
        "unverified"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn job_notifications_sqlite() {
    job_notifications(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn job_notifications_postgres() {
    job_notifications(Backend::Postgres).await;
}

/// With no mail configured (the default) accounts still work, and what
/// needs mail says so with one stable code.
#[tokio::test(flavor = "multi_thread")]
async fn without_mail_the_api_says_what_is_unavailable() {
    let app = TestApp::start(Backend::Sqlite, 0).await;
    let gus = app.signup("gus@example.com").await;
    assert_eq!(gus.account().await["email_verified"], false);
    let n = gus.get_json("/v1/account/notifications").await;
    assert_eq!(n["mail_enabled"], false);
    let refusals = [
        app.post_json(
            "/v1/auth/password-reset",
            &json!({"email": "gus@example.com"}),
        )
        .await,
        gus.post("/v1/account/email")
            .json(&json!({"new_email": "gus2@example.com", "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
        gus.post("/v1/account/verification").send().await.unwrap(),
    ];
    for r in refusals {
        let (s, code) = error_code(r).await;
        assert_eq!(
            (s, code.as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "mail.disabled")
        );
    }
    // A password change needs no mail.
    let r = gus
        .post_json(
            "/v1/account/password",
            &json!({"current_password": PASSWORD, "new_password": "another long one"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(app
        .login("gus@example.com", "another long one")
        .await
        .is_some());
    assert_eq!(gus.account().await["email"], "gus@example.com");
}
