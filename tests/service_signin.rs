//! Sign-in with OpenID Connect and GitHub, end to end over HTTP against
//! the real service: a REAL OpenID provider (npm `oidc-provider`, a
//! certified implementation, started by each test: tests/support/oidc.rs)
//! for the OpenID Connect flow, and a local stand-in for GitHub
//! (tests/support/github.rs), whose OAuth and REST API cannot be reached
//! from a test. A scripted browser follows every redirect by hand and
//! posts the provider's login and consent forms.
//!
//! Bad input: a forged state, a callback opened by another browser, a
//! replayed callback, an expired sign-in, a wrong nonce (the test edits
//! the nonce in the authorization URL on its way to the provider, as an
//! attacker injecting a code from their own sign-in would), an ID token
//! signed by another key (the provider's test hook re-signs it, under its
//! own kid and under one its JWKS lacks), an unverified email trying to
//! take over an account, no email, and a sign-in cancelled at the
//! provider: each a stable code, no session, no account or identity made.

#[path = "support/github.rs"]
mod github_standin;
#[path = "support/oidc.rs"]
mod oidc;
#[path = "support/service.rs"]
mod support;

use github_standin::{GitHubStandIn, GitHubUser};
use oidc::{callback_url, AtProvider, Browser, OidcProvider};
use reqwest::{StatusCode, Url};
use serde_json::{json, Value};
use sqlx::Row;
use support::{error_code, Backend, TestApp};
use vidmocap::service::oidc::{ProviderConfig, ProviderKind};

/// `(login, email, email_verified)` at the provider.
const USERS: &[(&str, &str, bool)] = &[
    ("alice", "alice@example.com", true),
    // The address of an account made with a password, in other letters.
    ("bob", "Bob@Example.com", true),
    ("erin", "erin@example.com", true),
    // Someone registered her address with a password before she came.
    ("frank", "frank@example.com", true),
    // New here, and signs in from the login page: no 18+ confirmation.
    ("grace", "grace@example.com", true),
    // An address the provider never verified: someone else's account's.
    ("mallory", "victim@example.com", false),
    ("carol", "carol@example.com", false),
    ("dave", "", true),
];

async fn start_with_provider(backend: Backend) -> (TestApp, OidcProvider) {
    start_with(backend, false).await
}

/// `claims_in_id_token`: the provider puts the email in the ID token too.
async fn start_with(backend: Backend, claims_in_id_token: bool) -> (TestApp, OidcProvider) {
    let op = OidcProvider::start();
    let issuer = op.issuer.clone();
    let app = TestApp::start_with(backend, 0, |svc| {
        svc.oidc.providers.insert(
            "test".into(),
            ProviderConfig {
                display_name: "Test ID".into(),
                issuer,
                client_id: oidc::CLIENT_ID.into(),
                client_secret: oidc::CLIENT_SECRET.into(),
                ..ProviderConfig::default()
            },
        );
    })
    .await;
    op.configure_with(&callback_url(&app.base, "test"), USERS, claims_in_id_token)
        .await;
    (app, op)
}

async fn count(app: &TestApp, table: &str) -> i64 {
    sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
        .fetch_one(&app.state().db.pool)
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}

/// Accounts, identities and sessions: what a refused sign-in must leave.
async fn snapshot(app: &TestApp) -> [i64; 3] {
    [
        count(app, "accounts").await,
        count(app, "identities").await,
        count(app, "sessions").await,
    ]
}

async fn account_of(app: &TestApp, session: &str) -> Value {
    let r = app
        .http
        .get(app.url("/v1/account"))
        .header("cookie", format!("vidmocap_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn password_login(app: &TestApp, email: &str) -> reqwest::Response {
    app.http
        .post(app.url("/v1/auth/login"))
        .json(&json!({"email": email, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap()
}

/// `url` with its query parameter `name` set to `value`.
fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut u = Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name {
                value.into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    assert!(pairs.iter().any(|(k, _)| k == name), "{url} has no {name}");
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.to_string()
}

async fn sign_in_creates_links_and_signs_in(backend: Backend) {
    let (app, op) = start_with_provider(backend).await;
    let r = app
        .http
        .get(app.url("/v1/auth/providers"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"providers": [{"name": "test", "display_name": "Test ID",
                              "start_url": "/v1/auth/oidc/test/start"}]})
    );
    let bob = app.signup("bob@example.com").await;

    // The start sets the browser's half of the sign-in as an http-only
    // cookie for the sign-in routes only, and sends PKCE S256 and a nonce.
    let browser = Browser::new();
    // From sign-up, "I am 18 or over" ticked: alice is new here.
    let r = browser
        .get(&app.url("/v1/auth/oidc/test/start?over_18=1"))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for attr in [
        "vidmocap_oidc=",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/v1/auth/oidc",
        "Max-Age=600",
    ] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    let authorize = oidc::location(&r);
    assert!(
        authorize.starts_with(&format!("{}/auth?", op.issuer)),
        "{authorize}"
    );
    for p in [
        "code_challenge_method=S256",
        "nonce=",
        "state=",
        "scope=openid+email",
    ] {
        assert!(authorize.contains(p), "{p} in {authorize}");
    }
    let callback = browser
        .through_provider(
            &authorize,
            AtProvider::SignIn("alice"),
            &callback_url(&app.base, "test"),
        )
        .await;
    let session = browser.finish(&callback).await.expect("alice signs in");
    assert!(
        browser.cookie(&app.base, "vidmocap_oidc").is_none(),
        "the sign-in cookie is cleared once used"
    );
    let alice = account_of(&app, &session).await;
    assert_eq!(alice["email"], "alice@example.com");
    assert_eq!(count(&app, "accounts").await, 2, "bob's and alice's");
    // Her account has no password: a password login is refused like any
    // wrong one (not an error of a missing hash).
    let (status, code) = error_code(password_login(&app, "alice@example.com").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "auth.invalid_credentials")
    );

    // Again, from another browser: the same account, nothing new.
    let again = Browser::new()
        .sign_in(&app.base, "test", "alice")
        .await
        .expect("alice signs in again");
    assert_ne!(again, session, "a new session");
    assert_eq!(account_of(&app, &again).await["id"], alice["id"]);
    assert_eq!(count(&app, "accounts").await, 2);

    // Bob's verified address links the identity to his password account,
    // whose password still works: he had confirmed his address (as his
    // verification mail's link does).
    sqlx::query("UPDATE accounts SET email_verified_ms = 1 WHERE id = $1")
        .bind(&bob.id)
        .execute(&app.state().db.pool)
        .await
        .unwrap();
    let bob_session = Browser::new()
        .sign_in(&app.base, "test", "bob")
        .await
        .expect("bob signs in");
    assert_eq!(account_of(&app, &bob_session).await["id"], bob.id.as_str());
    assert_eq!(count(&app, "accounts").await, 2);
    assert_eq!(count(&app, "identities").await, 2);
    assert_eq!(
        password_login(&app, "bob@example.com").await.status(),
        StatusCode::OK
    );

    // Discovery and the JWKS were fetched once for all of it; the email
    // came from UserInfo, this provider's ID tokens having none.
    assert_eq!(op.fetches().await, (1, 1));
    assert_eq!(op.userinfo_calls().await, 3);

    // Deleting the account deletes its identity: signing in again makes
    // a new account.
    let r = app
        .http
        .delete(app.url("/v1/account"))
        .header("cookie", format!("vidmocap_session={again}"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "delete: {}", r.status());
    assert_eq!(count(&app, "identities").await, 1);
    let fresh = Browser::new()
        .sign_in(&app.base, "test", "alice")
        .await
        .unwrap();
    assert_ne!(account_of(&app, &fresh).await["id"], alice["id"]);

    // A password account whose address was never confirmed: whoever made
    // it may not own the address. The provider's verified sign-in links
    // it and takes the password, the old session and the keys away.
    let squatter = app.signup("frank@example.com").await;
    let key = squatter
        .post("/v1/api-keys")
        .json(&json!({"name": "kept?"}))
        .send()
        .await
        .unwrap();
    assert!(key.status().is_success(), "key: {}", key.status());
    let frank = Browser::new()
        .sign_in(&app.base, "test", "frank")
        .await
        .expect("frank signs in");
    assert_eq!(account_of(&app, &frank).await["id"], squatter.id.as_str());
    let (status, code) = error_code(password_login(&app, "frank@example.com").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "auth.invalid_credentials")
    );
    let old = squatter.get("/v1/account").send().await.unwrap();
    assert_eq!(
        old.status(),
        StatusCode::UNAUTHORIZED,
        "the old session ended"
    );
    let live_keys: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM api_keys WHERE account_id = $1 AND revoked_ms IS NULL",
    )
    .bind(&squatter.id)
    .fetch_one(&app.state().db.pool)
    .await
    .unwrap()
    .try_get("n")
    .unwrap();
    assert_eq!(live_keys, 0, "its API keys were revoked");
    assert_eq!(account_of(&app, &frank).await["email_verified"], true);
}

#[tokio::test]
async fn sign_in_creates_links_and_signs_in_sqlite() {
    sign_in_creates_links_and_signs_in(Backend::Sqlite).await;
}

#[tokio::test]
async fn sign_in_creates_links_and_signs_in_postgres() {
    sign_in_creates_links_and_signs_in(Backend::Postgres).await;
}

#[tokio::test]
async fn refused_sign_ins_change_nothing() {
    let (app, op) = start_with_provider(Backend::Sqlite).await;
    let victim = app.signup("victim@example.com").await;
    let back = callback_url(&app.base, "test");

    // A state the service never issued.
    let browser = Browser::new();
    let authorize = browser.start(&app.base, "test").await;
    let callback = browser
        .through_provider(&authorize, AtProvider::SignIn("erin"), &back)
        .await;
    let before = snapshot(&app).await;
    let forged = with_param(&callback, "state", "forged-state-0123456789");
    assert_eq!(browser.finish(&forged).await.unwrap_err(), "oidc.bad_state");
    // Another browser with the real callback URL (login CSRF, or a leaked
    // URL): no cookie of that sign-in, so nothing is found.
    assert_eq!(
        Browser::new().finish(&callback).await.unwrap_err(),
        "oidc.bad_state"
    );
    assert_eq!(
        snapshot(&app).await,
        before,
        "forged and foreign callbacks changed something"
    );
    // Neither spent it: the browser that began it signs in once...
    browser.finish(&callback).await.expect("the real callback");
    // ...and only once.
    let after = snapshot(&app).await;
    assert_eq!(
        browser.finish(&callback).await.unwrap_err(),
        "oidc.bad_state"
    );
    assert_eq!(
        snapshot(&app).await,
        after,
        "a replayed callback changed something"
    );

    // A sign-in that took longer than its 10 minutes.
    let browser = Browser::new();
    let authorize = browser.start(&app.base, "test").await;
    let callback = browser
        .through_provider(&authorize, AtProvider::SignIn("erin"), &back)
        .await;
    sqlx::query("UPDATE oidc_logins SET created_ms = created_ms - 601000")
        .execute(&app.state().db.pool)
        .await
        .unwrap();
    assert_eq!(
        browser.finish(&callback).await.unwrap_err(),
        "oidc.bad_state"
    );
    assert_eq!(snapshot(&app).await, after);

    // The ID token's nonce is not this sign-in's: the nonce is changed on
    // the way to the provider (PKCE and state untouched), so the provider
    // signs a token for another nonce.
    let browser = Browser::new();
    let authorize = browser.start(&app.base, "test").await;
    let callback = browser
        .through_provider(
            &with_param(&authorize, "nonce", "someone-elses-nonce"),
            AtProvider::SignIn("alice"),
            &back,
        )
        .await;
    assert_eq!(
        browser.finish(&callback).await.unwrap_err(),
        "oidc.bad_nonce"
    );
    assert_eq!(snapshot(&app).await, after);

    // ID tokens signed by a key that is not the provider's: under the
    // provider's own kid (the signature fails), and under a kid its JWKS
    // does not have (fetched again once, still not there).
    let jwks_before = op.fetches().await.1;
    for mode in ["same_kid", "other_kid"] {
        op.tamper(Some(mode)).await;
        let code = Browser::new()
            .sign_in(&app.base, "test", "alice")
            .await
            .unwrap_err();
        assert_eq!(code, "oidc.bad_signature", "{mode}");
        assert_eq!(snapshot(&app).await, after, "{mode}");
    }
    op.tamper(None).await;
    assert_eq!(
        op.fetches().await.1,
        jwks_before + 1,
        "one refetch for the unknown kid"
    );

    // An unverified address cannot take over the account that has it, nor
    // make a new account; no address at all is refused too.
    for (login, code) in [
        ("mallory", "oidc.email_unverified"),
        ("carol", "oidc.email_unverified"),
        ("dave", "oidc.no_email"),
    ] {
        let got = Browser::new()
            .sign_in(&app.base, "test", login)
            .await
            .unwrap_err();
        assert_eq!(got, code, "{login}");
        assert_eq!(snapshot(&app).await, after, "{login}");
    }
    let identities_of_victim: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM identities WHERE account_id = $1")
            .bind(&victim.id)
            .fetch_one(&app.state().db.pool)
            .await
            .unwrap()
            .try_get("n")
            .unwrap();
    assert_eq!(identities_of_victim, 0);

    // A new account without sign-up's 18-or-over confirmation: refused,
    // nothing made (an existing account would still be linked).
    let before_age = snapshot(&app).await;
    let browser = Browser::new();
    let authorize = browser.start_as(&app.base, "test", false).await;
    let callback = browser
        .through_provider(&authorize, AtProvider::SignIn("grace"), &back)
        .await;
    assert_eq!(
        browser.finish(&callback).await.unwrap_err(),
        "auth.age_unconfirmed"
    );
    assert_eq!(snapshot(&app).await, before_age);

    // Cancelled at the provider.
    let browser = Browser::new();
    let authorize = browser.start(&app.base, "test").await;
    let callback = browser
        .through_provider(&authorize, AtProvider::Cancel, &back)
        .await;
    assert!(callback.contains("error=access_denied"), "{callback}");
    assert_eq!(browser.finish(&callback).await.unwrap_err(), "oidc.denied");

    // A provider that is not configured.
    let r = Browser::new()
        .get(&app.url("/v1/auth/oidc/nope/start"))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(oidc::location(&r).ends_with("/#/login?error=oidc.unknown_provider"));
    assert_eq!(snapshot(&app).await, after);
    // The victim's own password still signs in.
    assert_eq!(
        password_login(&app, "victim@example.com").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn keys_rotated_at_the_provider_are_fetched_again() {
    let (app, op) = start_with_provider(Backend::Sqlite).await;
    let first = Browser::new()
        .sign_in(&app.base, "test", "alice")
        .await
        .unwrap();
    assert_eq!(op.fetches().await, (1, 1));
    op.rotate().await;
    // The new token names a key the cached JWKS lacks: fetched again,
    // once, and the sign-in goes through.
    let second = Browser::new()
        .sign_in(&app.base, "test", "alice")
        .await
        .unwrap();
    assert_eq!(op.fetches().await, (1, 2));
    let third = Browser::new()
        .sign_in(&app.base, "test", "alice")
        .await
        .unwrap();
    assert_eq!(op.fetches().await, (1, 2), "the new JWKS is cached");
    let id = account_of(&app, &first).await["id"].clone();
    for s in [second, third] {
        assert_eq!(account_of(&app, &s).await["id"], id);
    }
}

#[tokio::test]
async fn github_sign_in_through_its_user_api() {
    let gh = GitHubStandIn::start().await;
    let base = gh.base.clone();
    let app = TestApp::start_with(Backend::Sqlite, 0, |svc| {
        svc.oidc.providers.insert(
            "github".into(),
            ProviderConfig {
                kind: ProviderKind::Github,
                display_name: "GitHub".into(),
                client_id: github_standin::CLIENT_ID.into(),
                client_secret: github_standin::CLIENT_SECRET.into(),
                auth_base: base.clone(),
                api_base: base,
                ..ProviderConfig::default()
            },
        );
    })
    .await;
    let back = callback_url(&app.base, "github");
    gh.sign_in_as(GitHubUser {
        id: 583231,
        login: "octocat".into(),
        emails: vec![
            ("old@example.com".into(), false, true),
            ("octo@example.com".into(), true, true),
        ],
    });
    let browser = Browser::new();
    let authorize = browser.start(&app.base, "github").await;
    assert!(authorize.starts_with(&format!("{}/login/oauth/authorize?", gh.base)));
    assert!(authorize.contains("scope=user%3Aemail"), "{authorize}");
    let callback = browser
        .through_provider(&authorize, AtProvider::SignIn("octocat"), &back)
        .await;
    // A code GitHub did not issue is refused by GitHub, and so here.
    assert_eq!(
        Browser::new()
            .finish(&with_param(&callback, "code", "ghcode-forged"))
            .await
            .unwrap_err(),
        "oidc.bad_state",
        "another browser first: its state"
    );
    let forged = with_param(&callback, "code", "ghcode-forged");
    assert_eq!(browser.finish(&forged).await.unwrap_err(), "oidc.bad_code");
    // That spent the state: a new sign-in, with the real code this time.
    let session = Browser::new()
        .sign_in(&app.base, "github", "octocat")
        .await
        .unwrap();
    let octo = account_of(&app, &session).await;
    assert_eq!(
        octo["email"], "octo@example.com",
        "the primary, verified email"
    );
    let subject: String = sqlx::query("SELECT subject FROM identities WHERE provider = 'github'")
        .fetch_one(&app.state().db.pool)
        .await
        .unwrap()
        .try_get("subject")
        .unwrap();
    assert_eq!(
        subject, "583231",
        "GitHub's numeric id, which a rename keeps"
    );

    // A primary email GitHub has not verified is refused, even with a
    // verified one beside it.
    let before = snapshot(&app).await;
    gh.sign_in_as(GitHubUser {
        id: 9,
        login: "newbie".into(),
        emails: vec![
            ("unverified@example.com".into(), true, false),
            ("verified@example.com".into(), false, true),
        ],
    });
    let code = Browser::new()
        .sign_in(&app.base, "github", "newbie")
        .await
        .unwrap_err();
    assert_eq!(code, "oidc.email_unverified");
    assert_eq!(snapshot(&app).await, before);
}

#[tokio::test]
async fn an_email_in_the_id_token_is_taken_from_it() {
    let (app, op) = start_with(Backend::Sqlite, true).await;
    let session = Browser::new()
        .sign_in(&app.base, "test", "alice")
        .await
        .unwrap();
    assert_eq!(
        account_of(&app, &session).await["email"],
        "alice@example.com"
    );
    let code = Browser::new()
        .sign_in(&app.base, "test", "carol")
        .await
        .unwrap_err();
    assert_eq!(
        code, "oidc.email_unverified",
        "email_verified false in the token"
    );
    assert_eq!(op.userinfo_calls().await, 0, "the ID token said it all");
}
