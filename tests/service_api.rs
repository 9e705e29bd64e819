//! The job service's HTTP API against the real app on port 0, a fresh
//! database per test (SQLite file or a new PostgreSQL database), the local
//! store, and real ffmpeg for the clips: accounts and sessions, API keys,
//! the authorisation matrix, bad input costing nothing, idempotency,
//! cancel, billing through Stripe (a local stand-in for its API, events
//! signed with its real scheme), concurrency against PostgreSQL and the
//! operations endpoints.

#[path = "support/stripe.rs"]
mod stripe_standin;
#[path = "support/service.rs"]
mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use stripe_standin::StripeStandIn;
use support::{assert_error, error_code, media, now_s, tiny_clip, Backend, TestApp};
use vidmocap::service::credits::sign;
use vidmocap::service::{BillingConfig, Pack, Plan};

fn cookie_attrs(resp: &reqwest::Response) -> String {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("vidmocap_session="))
        .unwrap_or("")
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_sessions_and_api_keys() {
    // The test client stands in for an HTTPS proxy on loopback, so that its
    // X-Forwarded-Proto counts (a client that is not a proxy is not heard:
    // tests/service_hardening.rs).
    let app = TestApp::start_with(Backend::Sqlite, 0, |s| {
        s.session_idle_secs = 2;
        s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let http = &app.http;
    let creds =
        json!({"email": "Ann@Example.com", "password": "correct horse battery", "over_18": true});
    let r = app.post_json("/v1/auth/signup", &creds).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let attrs = cookie_attrs(&r);
    assert!(
        attrs.contains("HttpOnly") && attrs.contains("SameSite=Lax"),
        "{attrs}"
    );
    assert!(
        !attrs.contains("Secure"),
        "plain HTTP must not get Secure: {attrs}"
    );
    let (s, code) = error_code(
        http.post(app.url("/v1/auth/signup"))
            .json(&creds)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::CONFLICT, "auth.email_taken")
    );
    let (s, code) = error_code(
        http.post(app.url("/v1/auth/signup"))
            .json(&json!({"email": "b@example.com", "password": "short"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::BAD_REQUEST, "auth.weak_password")
    );

    // Wrong password, then the right one (email case does not matter);
    // behind an HTTPS proxy the cookie is Secure.
    let (s, code) = error_code(
        http.post(app.url("/v1/auth/login"))
            .json(&json!({"email": "ann@example.com", "password": "wrong password"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::UNAUTHORIZED, "auth.invalid_credentials")
    );
    let r = http
        .post(app.url("/v1/auth/login"))
        .header("x-forwarded-proto", "https")
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(cookie_attrs(&r).contains("; Secure"));
    let cookie = support::session_cookie(&r).unwrap();
    let me = |c: String| {
        let http = http.clone();
        let url = app.url("/v1/account");
        async move {
            http.get(url)
                .header("cookie", format!("vidmocap_session={c}"))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(me(cookie.clone()).await, StatusCode::OK);
    assert_eq!(me("forged".into()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        http.get(app.url("/v1/account"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // Activity keeps the session alive; 2 s idle (this test's setting) ends it.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert_eq!(me(cookie.clone()).await, StatusCode::OK);
    }
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_eq!(me(cookie.clone()).await, StatusCode::UNAUTHORIZED);

    // Log out ends a session.
    let user = app.signup("carl@example.com").await;
    let r = user.post("/v1/auth/logout").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(user.cookie.clone()).await, StatusCode::UNAUTHORIZED);

    // API keys: shown once, listed without the secret, revocable.
    let user = app.signup("dora@example.com").await;
    let r = user.post_json("/v1/api-keys", &json!({"name": "ci"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_string();
    let key_id = created["api_key"]["id"].as_str().unwrap().to_string();
    let by_key = || {
        http.get(app.url("/v1/account"))
            .header("authorization", format!("Bearer {key}"))
            .send()
    };
    let r = by_key().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap()["email"],
        "dora@example.com"
    );
    let listed = user
        .get("/v1/api-keys")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listed.contains(&key_id) && !listed.contains(&key),
        "{listed}"
    );
    // Another account cannot revoke it.
    let eve = app.signup("eve@example.com").await;
    let r = eve
        .delete(&format!("/v1/api-keys/{key_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = user
        .delete(&format!("/v1/api-keys/{key_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(by_key().await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

async fn bad_input_costs_nothing(backend: Backend) {
    let app = TestApp::start_with(backend, 0, |s| {
        s.max_upload_bytes = 2 * 1024 * 1024;
        s.tiers.get_mut("free").unwrap().max_clip_s = 12.0;
    })
    .await;
    let user = app.funded("bad@example.com", 1000).await;
    let before = user.ledger().await;
    let dir = tempfile::tempdir().unwrap();

    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "this is not a video at all\n".repeat(100)).unwrap();
    let (s, code) = error_code(user.upload_raw(&text).await).await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "video.not_a_video")
    );

    // walk_outdoor.mp4 cut to 40%: its index is up front, so it opens and
    // ends early (found by decoding the whole file at upload).
    let bytes = std::fs::read(media("walk_outdoor.mp4")).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 5]).unwrap();
    assert_error(
        user.upload_raw(&cut).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "video.truncated",
    )
    .await;

    // Longer than the free tier's 12 s (this test's setting).
    let long = tiny_clip(dir.path(), "long.mp4", 15);
    assert_error(
        user.upload_raw(&long).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "video.too_long",
    )
    .await;

    // Over the 2 MiB body limit, raw and as a form.
    let big = dir.path().join("big.bin");
    std::fs::write(&big, vec![7u8; 3 * 1024 * 1024]).unwrap();
    assert_error(
        user.upload_raw(&big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "upload.too_large",
    )
    .await;
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(vec![7u8; 3 * 1024 * 1024]).file_name("big.mp4"),
    );
    let (s, code) = error_code(
        user.post("/v1/uploads")
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "upload.too_large")
    );

    // Empty body, and a job for an upload that does not exist.
    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    let (s, code) = error_code(user.upload_raw(&empty).await).await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "video.empty")
    );
    assert_error(
        user.create_job("no-such-upload", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    assert_eq!(
        user.ledger().await,
        before,
        "bad input must not move credits"
    );
    assert_eq!(user.available().await, 1000);
    let uploads = user.get_json("/v1/uploads").await;
    assert_eq!(uploads["uploads"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_costs_nothing_sqlite() {
    bad_input_costs_nothing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_costs_nothing_postgres() {
    bad_input_costs_nothing(Backend::Postgres).await;
}

/// 50 simultaneous submissions from one account that can afford 10: exactly
/// 10 are accepted with their credits reserved, 40 get 402, nothing overdraws.
async fn concurrent_submissions(backend: Backend) {
    let app = TestApp::start(backend, 0).await;
    let user = app.signup("busy@example.com").await;
    let dir = tempfile::tempdir().unwrap();
    let upload = user.upload_ok(&tiny_clip(dir.path(), "two.mp4", 2)).await;
    let price = upload["price"].as_i64().unwrap();
    assert_eq!(
        price, app.svc.min_job_credits,
        "a 2 s clip costs the minimum"
    );
    app.grant(&user.email, price * 10 + price - 1);
    let upload_id = upload["id"].as_str().unwrap().to_string();

    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let user = user.clone();
            let upload_id = upload_id.clone();
            tokio::spawn(async move { error_code(user.create_job(&upload_id, None).await).await })
        })
        .collect();
    let mut accepted = 0;
    for t in tasks {
        match t.await.unwrap() {
            (StatusCode::CREATED, _) => accepted += 1,
            (StatusCode::PAYMENT_REQUIRED, code) => assert_eq!(code, "credits.insufficient"),
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(accepted, 10);
    let account = user.account().await;
    assert_eq!(account["credits"]["reserved"], price * 10);
    assert_eq!(account["credits"]["available"], price - 1);
    let ledger = user.ledger().await;
    let reserves = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "reserve")
        .count();
    assert_eq!(reserves, 10);
    let jobs = user.get_json("/v1/jobs?limit=100").await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_submissions_never_overdraw_postgres() {
    concurrent_submissions(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_submissions_never_overdraw_sqlite() {
    concurrent_submissions(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotency_paging_and_cancel() {
    let app = TestApp::start(Backend::Sqlite, 0).await;
    let user = app.funded("idem@example.com", 100).await;
    let dir = tempfile::tempdir().unwrap();
    let upload = user.upload_ok(&tiny_clip(dir.path(), "two.mp4", 2)).await;
    let id = upload["id"].as_str().unwrap();

    let first = user.create_job(id, Some("key-1")).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = user.create_job(id, Some("key-1")).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.json::<Value>().await.unwrap()["id"], first["id"]);
    let other = user
        .post("/v1/jobs")
        .header("idempotency-key", "key-1")
        .json(&json!({"upload_id": id, "person": "3"}))
        .send()
        .await
        .unwrap();
    let (s, code) = error_code(other).await;
    assert_eq!(
        (s, code.as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "job.idempotency_key_reused"
        )
    );
    assert_eq!(
        user.available().await,
        100 - 5,
        "one reservation for one key"
    );

    // Export choices are checked before any credit moves.
    for (options, want) in [
        (
            json!({"upload_id": id, "outputs": ["glb", "obj"]}),
            "export.unknown_format",
        ),
        (json!({"upload_id": id, "rig": "daz"}), "export.unknown_rig"),
    ] {
        let r = user.post_json("/v1/jobs", &options).await;
        let (s, code) = error_code(r).await;
        assert_eq!((s, code.as_str()), (StatusCode::BAD_REQUEST, want));
    }
    let fbx = user
        .post_json(
            "/v1/jobs",
            &json!({"upload_id": id, "outputs": ["fbx", "keypoints"], "rig": "mixamo"}),
        )
        .await;
    assert_eq!(fbx.status(), StatusCode::CREATED);
    assert_eq!(
        user.available().await,
        100 - 10,
        "bad requests cost nothing"
    );

    // Paging: two more jobs (four with the FBX one), two per page.
    for _ in 0..2 {
        assert_eq!(
            user.create_job(id, None).await.status(),
            StatusCode::CREATED
        );
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = user
            .get_json(&format!("/v1/jobs?limit=2&cursor={cursor}"))
            .await;
        for j in page["jobs"].as_array().unwrap() {
            seen.push(j["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4);

    // Cancel a queued job: its credits come back at once; twice is a conflict.
    let job_id = first["id"].as_str().unwrap();
    let r = user
        .post(&format!("/v1/jobs/{job_id}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["state"], "canceled");
    assert_eq!(user.available().await, 100 - 15);
    let (s, code) = error_code(
        user.post(&format!("/v1/jobs/{job_id}/cancel"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, code.as_str()), (StatusCode::CONFLICT, "job.finished"));
    let kinds: Vec<String> = user.ledger().await["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        ["grant", "reserve", "reserve", "reserve", "reserve", "release"]
    );

    // Deleting a queued job cancels it and releases its hold.
    let page = user.get_json("/v1/jobs?limit=1").await;
    let newest = page["jobs"][0]["id"].as_str().unwrap().to_string();
    let r = user
        .delete(&format!("/v1/jobs/{newest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(user.available().await, 100 - 10);
    let r = user
        .get(&format!("/v1/jobs/{newest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// `quality` picks the landmark model; each preset has its price factor
/// (0.5, 1, 2 by default), shown before a job is sent and charged once.
#[tokio::test(flavor = "multi_thread")]
async fn quality_presets_are_priced_before_and_charged() {
    let app = TestApp::start(Backend::Sqlite, 0).await;
    let user = app.funded("quality@example.com", 100).await;
    let dir = tempfile::tempdir().unwrap();
    let upload = user
        .upload_ok(&tiny_clip(dir.path(), "twelve.mp4", 12))
        .await;
    let id = upload["id"].as_str().unwrap();
    assert_eq!(
        upload["prices"],
        json!({"fast": 6, "balanced": 12, "best": 24}),
        "each preset's price comes with the upload"
    );
    assert_eq!(upload["price"], 12, "the default preset's price");
    let limits = user.get_json("/v1/account/limits").await;
    assert_eq!(limits["default_quality"], "balanced");
    assert_eq!(limits["quality_factors"]["best"], 2.0);

    let job = |body: Value| {
        let user = &user;
        async move {
            let r = user.post_json("/v1/jobs", &body).await;
            let status = r.status();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let (s, best) = job(json!({"upload_id": id, "quality": "best", "person": "2"})).await;
    assert_eq!(s, StatusCode::CREATED, "{best}");
    assert_eq!(best["price"], 24);
    assert_eq!(best["options"]["quality"], "best");
    assert_eq!(best["options"]["person"], "2");
    assert_eq!(user.available().await, 100 - 24);

    let (s, plain) = job(json!({"upload_id": id})).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(plain["price"], 12);
    assert_eq!(
        plain["options"]["quality"], "balanced",
        "the service's preset is written into the job, so its run and price agree"
    );

    let (s, bad) = job(json!({"upload_id": id, "quality": "ultra"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(bad["error"]["code"], "job.bad_options");
    assert_eq!(
        user.available().await,
        100 - 24 - 12,
        "a bad preset costs nothing"
    );
}

// ---- billing through Stripe ---------------------------------------------------
//
// Stripe's API cannot be reached from a test: `StripeStandIn` answers the
// customer, Checkout and portal calls in Stripe's shape and records them.
// The webhook events are signed with the real scheme (`sign`), and shaped
// as Stripe sends them.

/// Stripe configured against the stand-in: one pack, one plan.
fn with_billing(s: &mut vidmocap::service::ServiceConfig, stripe: &StripeStandIn) {
    s.billing = BillingConfig {
        stripe_secret_key: stripe_standin::SECRET_KEY.into(),
        stripe_api_base: stripe.base.clone(),
        packs: vec![
            Pack {
                id: "small".into(),
                name: "100 credits".into(),
                price_id: "price_small".into(),
                credits: 100,
                amount_display: "€9".into(),
            },
            // Configured here, but missing at Stripe (the stand-in refuses it).
            Pack {
                id: "broken".into(),
                name: "misconfigured".into(),
                price_id: stripe_standin::MISSING_PRICE.into(),
                credits: 5,
                amount_display: "€1".into(),
            },
        ],
        plans: vec![Plan {
            id: "pro-monthly".into(),
            name: "Pro".into(),
            price_id: "price_pro".into(),
            monthly_credits: 500,
            tier: "pro".into(),
            amount_display: "€29 a month".into(),
        }],
        ..BillingConfig::default()
    };
}

fn event(id: &str, kind: &str, created: i64, object: Value) -> Value {
    json!({"id": id, "object": "event", "type": kind, "created": created,
           "data": {"object": object}})
}

/// Sends an event that must be received; returns whether it was applied.
async fn applied(app: &TestApp, event: &Value) -> bool {
    let r = app.post_payment_event(event).await;
    assert_eq!(r.status(), StatusCode::OK, "{event}");
    r.json::<Value>().await.unwrap()["applied"]
        .as_bool()
        .unwrap()
}

async fn refused(app: &TestApp, event: &Value) -> (StatusCode, String) {
    error_code(app.post_payment_event(event).await).await
}

/// Starts a checkout of `offer`; returns the Checkout session id.
async fn checkout(user: &support::User, stripe: &StripeStandIn, offer: &str) -> String {
    let url = user.checkout_url(offer).await;
    let prefix = format!("{}/pay/", stripe.base);
    assert!(url.starts_with(&prefix), "{url}");
    url[prefix.len()..].to_string()
}

fn completed(session: &str, mode: &str, payment_intent: Option<&str>, user_id: &str) -> Value {
    json!({"id": session, "object": "checkout.session", "mode": mode,
           "payment_status": "paid", "customer": "cus_test_1",
           "client_reference_id": user_id, "payment_intent": payment_intent,
           "amount_total": 900,
           // A client can set metadata: it must count for nothing.
           "metadata": {"credits": "99999"}})
}

fn topups(ledger: &Value, kind: &str) -> Vec<i64> {
    ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["amount"].as_i64().unwrap())
        .collect()
}

async fn checkout_credits_our_price_once(backend: Backend) {
    let stripe = StripeStandIn::start().await;
    let app = TestApp::start_with(backend, 0, |s| with_billing(s, &stripe)).await;
    let user = app.signup("buyer@example.com").await;
    let other = app.signup("window-shopper@example.com").await;

    // The offers, without Stripe's price ids.
    let r = app
        .http
        .get(app.url("/v1/billing/offers"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let offers = r.text().await.unwrap();
    assert!(!offers.contains("price_"), "{offers}");
    let offers: Value = serde_json::from_str(&offers).unwrap();
    assert_eq!(offers["enabled"], true);
    assert_eq!(offers["packs"][0]["id"], "small");
    assert_eq!(offers["packs"][0]["credits"], 100);
    assert_eq!(offers["plans"][0]["tier"], "pro");

    // An offer we do not sell, and a portal before any purchase: nothing
    // reaches Stripe.
    let (s, code) = error_code(
        user.post("/v1/billing/checkout")
            .json(&json!({"offer": "huge"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::BAD_REQUEST, "billing.unknown_offer")
    );
    let (s, code) = error_code(other.post("/v1/billing/portal").send().await.unwrap()).await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::CONFLICT, "billing.no_customer")
    );
    let (s, _) = error_code(
        app.post_json("/v1/billing/checkout", &json!({"offer": "small"}))
            .await,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(stripe.calls().is_empty());

    // Checkout: a customer first, then the session, in Stripe's shape.
    // A price Stripe refuses is the provider's failure, its detail logged.
    let (s, code) = error_code(
        user.post("/v1/billing/checkout")
            .json(&json!({"offer": "broken"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::BAD_GATEWAY, "billing.provider")
    );
    let session = checkout(&user, &stripe, "small").await;
    let customers = stripe.calls_to("/v1/customers");
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0].authorization, "Bearer sk_test_standin");
    assert_eq!(customers[0].form["metadata[account_id]"], user.id);
    let sessions = stripe.calls_to("/v1/checkout/sessions");
    assert_eq!(sessions.len(), 2);
    let f = &sessions[1].form;
    assert_eq!(sessions[1].authorization, "Bearer sk_test_standin");
    assert_eq!(f["mode"], "payment");
    assert_eq!(f["line_items[0][price]"], "price_small");
    assert_eq!(f["line_items[0][quantity]"], "1");
    assert_eq!(f["client_reference_id"], user.id);
    assert_eq!(f["customer"], "cus_test_1");
    assert!(f["success_url"].starts_with(&app.base), "{f:?}");
    assert!(f["cancel_url"].starts_with(&app.base), "{f:?}");
    assert_eq!(user.available().await, 0, "nothing before the payment");

    // The completed session credits the pack's 100, not the metadata's
    // 99999; once, however often and under whatever event id it comes.
    let done = event(
        "evt_c1",
        "checkout.session.completed",
        now_s(),
        completed(&session, "payment", Some("pi_pack_1"), &user.id),
    );
    assert!(applied(&app, &done).await);
    assert_eq!(user.available().await, 100);
    assert!(!applied(&app, &done).await, "redelivery");
    let again = event(
        "evt_c2",
        "checkout.session.async_payment_succeeded",
        now_s(),
        completed(&session, "payment", Some("pi_pack_1"), &user.id),
    );
    assert!(!applied(&app, &again).await, "a session pays once");
    assert_eq!(user.available().await, 100);

    // Bad input: a session we did not create (the old metadata path), an
    // unsigned, forged, stale (replayed) or altered event. Each is refused
    // with its code and moves nothing.
    let forged_session = event(
        "evt_f1",
        "checkout.session.completed",
        now_s(),
        completed("cs_not_ours", "payment", Some("pi_x"), &user.id),
    );
    assert_eq!(
        refused(&app, &forged_session).await,
        (
            StatusCode::BAD_REQUEST,
            String::from("webhook.unknown_session")
        )
    );
    let body = done.to_string().replace("evt_c1", "evt_c9");
    let send = |sig: Option<String>, body: String| {
        let mut req = app
            .http
            .post(app.url("/v1/webhooks/payment"))
            .header("content-type", "application/json");
        if let Some(sig) = sig {
            req = req.header("stripe-signature", sig);
        }
        req.body(body).send()
    };
    for (sig, body, want) in [
        (None, body.clone(), "webhook.bad_signature"),
        (
            Some(sign("not the secret", now_s(), body.as_bytes())),
            body.clone(),
            "webhook.bad_signature",
        ),
        (
            Some(sign(
                support::WEBHOOK_SECRET,
                now_s() - 3600,
                body.as_bytes(),
            )),
            body.clone(),
            "webhook.stale",
        ),
        (
            Some(sign(support::WEBHOOK_SECRET, now_s(), body.as_bytes())),
            body.replace("pi_pack_1", "pi_pack_2"),
            "webhook.bad_signature",
        ),
    ] {
        let (s, code) = error_code(send(sig, body).await.unwrap()).await;
        assert_eq!((s, code.as_str()), (StatusCode::BAD_REQUEST, want));
    }
    assert_eq!(user.available().await, 100);
    assert_eq!(topups(&user.ledger().await, "topup"), vec![100]);
    assert_eq!(other.available().await, 0);

    // The customer portal, for the customer made at checkout.
    let r = user.post("/v1/billing/portal").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap()["url"],
        format!("{}/portal", stripe.base)
    );
    let portal = stripe.calls_to("/v1/billing_portal/sessions");
    assert_eq!(portal[0].form["customer"], "cus_test_1");
    assert!(portal[0].form["return_url"].starts_with(&app.base));

    // A plan's checkout is a subscription, for the same customer.
    checkout(&user, &stripe, "pro-monthly").await;
    assert_eq!(stripe.calls_to("/v1/customers").len(), 1);
    let sessions = stripe.calls_to("/v1/checkout/sessions");
    let f = &sessions[2].form;
    assert_eq!(f["mode"], "subscription");
    assert_eq!(f["line_items[0][price]"], "price_pro");
    assert_eq!(f["customer"], "cus_test_1");

    // Delivered twice at once (Stripe retries while a slow answer is on
    // its way), and with its delayed-payment twin at the same moment:
    // another buyer's pack still pays out once.
    let racer = app.signup("racer@example.com").await;
    let session = checkout(&racer, &stripe, "small").await;
    let object = completed(&session, "payment", Some("pi_pack_3"), &racer.id);
    let twice = event(
        "evt_c3",
        "checkout.session.completed",
        now_s(),
        object.clone(),
    );
    let twin = event(
        "evt_c4",
        "checkout.session.async_payment_succeeded",
        now_s(),
        object,
    );
    let answers =
        futures_util::future::join_all([&twice, &twice, &twin].map(|e| app.post_payment_event(e)))
            .await;
    let mut applied_count = 0;
    for r in answers {
        assert_eq!(r.status(), StatusCode::OK);
        applied_count += usize::from(r.json::<Value>().await.unwrap()["applied"] == true);
    }
    assert_eq!(applied_count, 1, "one of the three deliveries applies");
    assert_eq!(racer.available().await, 100);
    assert_eq!(topups(&racer.ledger().await, "topup"), vec![100]);
}

#[tokio::test(flavor = "multi_thread")]
async fn billing_checkout_credits_our_price_once_sqlite() {
    checkout_credits_our_price_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn billing_checkout_credits_our_price_once_postgres() {
    checkout_credits_our_price_once(Backend::Postgres).await;
}

fn subscription(id: &str, status: &str, price: &str, cancel: bool, period_end: i64) -> Value {
    json!({"id": id, "object": "subscription", "customer": "cus_test_1",
           "status": status, "cancel_at_period_end": cancel, "cancel_at": null,
           "items": {"data": [{"price": {"id": price}, "current_period_end": period_end}]}})
}

async fn tier(user: &support::User) -> String {
    user.account().await["tier"].as_str().unwrap().to_string()
}

async fn plans_and_refunds(backend: Backend) {
    let stripe = StripeStandIn::start().await;
    let app = TestApp::start_with(backend, 0, |s| {
        with_billing(s, &stripe);
        // An 8 s clip holds 800 credits: enough to leave a refund short.
        s.credits_per_second = 100.0;
    })
    .await;
    let user = app.signup("subscriber@example.com").await;
    let t0 = now_s();
    let month = 30 * 24 * 3600;

    // Subscribing: the completed checkout moves no credit, the
    // subscription sets the plan's tier, each paid invoice adds 500.
    let session = checkout(&user, &stripe, "pro-monthly").await;
    let mut done = completed(&session, "subscription", None, &user.id);
    done["subscription"] = json!("sub_1");
    assert!(
        applied(
            &app,
            &event("evt_c1", "checkout.session.completed", t0, done)
        )
        .await
    );
    assert_eq!(user.available().await, 0);
    assert_eq!(tier(&user).await, "free");
    let created = event(
        "evt_s1",
        "customer.subscription.created",
        t0,
        subscription("sub_1", "active", "price_pro", false, t0 + month),
    );
    assert!(applied(&app, &created).await);
    assert_eq!(tier(&user).await, "pro");
    let invoice = |id: &str, customer: &str, price: &str, pi: Option<&str>| {
        json!({"id": id, "object": "invoice", "customer": customer, "subscription": "sub_1",
               "payment_intent": pi, "billing_reason": "subscription_cycle",
               "lines": {"data": [{"price": {"id": price}, "proration": false}]}})
    };
    let paid = event(
        "evt_i1",
        "invoice.paid",
        t0,
        invoice("in_1", "cus_test_1", "price_pro", Some("pi_inv_1")),
    );
    assert!(applied(&app, &paid).await);
    assert!(!applied(&app, &paid).await, "redelivery");
    assert_eq!(user.available().await, 500);
    // Stripe's newer invoice shape (API 2025-03-31): the price under `pricing`.
    let newer = json!({"id": "in_2", "object": "invoice", "customer": "cus_test_1",
        "lines": {"data": [{"pricing": {"price_details": {"price": "price_pro"}},
                             "parent": {"subscription_item_details": {"proration": false}}}]}});
    assert!(applied(&app, &event("evt_i2", "invoice.paid", t0, newer)).await);
    assert_eq!(user.available().await, 1000);

    // A price we do not sell, a customer not made here: refused, nothing moves.
    let foreign = event(
        "evt_i3",
        "invoice.paid",
        t0,
        invoice("in_3", "cus_test_1", "price_other", None),
    );
    assert_eq!(
        refused(&app, &foreign).await,
        (
            StatusCode::BAD_REQUEST,
            String::from("webhook.unknown_price")
        )
    );
    let stranger = event(
        "evt_i4",
        "invoice.paid",
        t0,
        invoice("in_4", "cus_stranger", "price_pro", None),
    );
    assert_eq!(
        refused(&app, &stranger).await,
        (
            StatusCode::BAD_REQUEST,
            String::from("webhook.unknown_customer")
        )
    );
    let switched = event(
        "evt_s2",
        "customer.subscription.updated",
        t0 + 1,
        subscription("sub_1", "active", "price_other", false, t0 + month),
    );
    assert_eq!(
        refused(&app, &switched).await,
        (
            StatusCode::BAD_REQUEST,
            String::from("webhook.unknown_price")
        )
    );
    assert_eq!(user.available().await, 1000);
    assert_eq!(tier(&user).await, "pro");

    // Cancelled at the period's end: the tier stays until then; an older
    // event arriving late changes nothing; the sweep ends the plan on time.
    let cancel = event(
        "evt_s3",
        "customer.subscription.updated",
        t0 + 10,
        subscription("sub_1", "active", "price_pro", true, t0 + month),
    );
    assert!(applied(&app, &cancel).await);
    let late = event(
        "evt_s0",
        "customer.subscription.updated",
        t0 - 100,
        subscription("sub_1", "active", "price_pro", false, t0 + month),
    );
    assert!(!applied(&app, &late).await, "older than what we know");
    assert_eq!(tier(&user).await, "pro");
    let sweep =
        |days: i64| vidmocap::service::sweep::sweep_at(app.state(), (t0 + days * 86_400) * 1000);
    sweep(29).await.unwrap();
    assert_eq!(tier(&user).await, "pro");
    sweep(31).await.unwrap();
    assert_eq!(tier(&user).await, "free");

    // A new subscription, then deleted: the default tier at once.
    let second = event(
        "evt_s4",
        "customer.subscription.created",
        t0 + 20,
        subscription("sub_2", "active", "price_pro", false, t0 + month),
    );
    assert!(applied(&app, &second).await);
    assert_eq!(tier(&user).await, "pro");
    let deleted = event(
        "evt_s5",
        "customer.subscription.deleted",
        t0 + 30,
        subscription("sub_2", "canceled", "price_pro", false, t0 + month),
    );
    assert!(applied(&app, &deleted).await);
    assert_eq!(tier(&user).await, "free");
    assert_eq!(user.available().await, 1000, "tier changes move no credit");

    // Refunds: a pack bought (100 credits for 900 cents), half refunded
    // (50 back), then the rest (Stripe's running total: 50 more).
    let pack = checkout(&user, &stripe, "small").await;
    let done = completed(&pack, "payment", Some("pi_pack"), &user.id);
    assert!(
        applied(
            &app,
            &event("evt_c2", "checkout.session.completed", t0, done)
        )
        .await
    );
    assert_eq!(user.available().await, 1100);
    let refund = |id: &str, pi: &str, refunded: i64, amount: i64| {
        event(
            id,
            "charge.refunded",
            t0,
            json!({"id": format!("ch_{id}"), "object": "charge", "payment_intent": pi,
                   "amount": amount, "amount_refunded": refunded, "refunded": refunded == amount}),
        )
    };
    assert!(applied(&app, &refund("evt_r1", "pi_pack", 450, 900)).await);
    assert_eq!(user.available().await, 1050);
    assert!(!applied(&app, &refund("evt_r1", "pi_pack", 450, 900)).await);
    assert!(applied(&app, &refund("evt_r2", "pi_pack", 900, 900)).await);
    assert_eq!(user.available().await, 1000);
    assert_eq!(
        refused(&app, &refund("evt_r3", "pi_unknown", 900, 900)).await,
        (
            StatusCode::BAD_REQUEST,
            String::from("webhook.unknown_payment")
        )
    );

    // Credits held by a job are not taken: the invoice's 500 refunded
    // while 800 of 1000 are held takes the 200 free ones, and no more.
    let clip = support::tiny_clip(app.dir.path(), "held.mp4", 8);
    let upload = user.upload_ok(&clip).await;
    let price = upload["price"].as_i64().unwrap();
    assert!(price > 500, "{upload}");
    assert_eq!(
        user.create_job(upload["id"].as_str().unwrap(), None)
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(user.available().await, 1000 - price);
    assert!(applied(&app, &refund("evt_r4", "pi_inv_1", 1900, 1900)).await);
    let account = user.account().await;
    assert_eq!(account["credits"]["available"], 0);
    assert_eq!(account["credits"]["balance"], price);
    assert_eq!(
        topups(&user.ledger().await, "refund"),
        vec![50, 50, 1000 - price]
    );
    assert_eq!(topups(&user.ledger().await, "topup"), vec![500, 500, 100]);

    // Two refunds of one payment at once (half, then the rest, delivered
    // together): the credits it bought are taken back once, not 150 %.
    let racer = app.signup("refund-racer@example.com").await;
    let session = checkout(&racer, &stripe, "small").await;
    let bought = event(
        "evt_c3",
        "checkout.session.completed",
        t0,
        completed(&session, "payment", Some("pi_race"), &racer.id),
    );
    assert!(applied(&app, &bought).await);
    assert_eq!(racer.available().await, 100);
    let (half, rest) = (
        refund("evt_r5", "pi_race", 450, 900),
        refund("evt_r6", "pi_race", 900, 900),
    );
    let answers =
        futures_util::future::join_all([&half, &rest].map(|e| app.post_payment_event(e))).await;
    for r in answers {
        assert_eq!(r.status(), StatusCode::OK);
    }
    let account = racer.account().await;
    assert_eq!(account["credits"]["balance"], 0, "{account}");
    assert_eq!(
        topups(&racer.ledger().await, "refund").iter().sum::<i64>(),
        100
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn billing_plans_tiers_and_refunds_sqlite() {
    plans_and_refunds(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn billing_plans_tiers_and_refunds_postgres() {
    plans_and_refunds(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn operations_endpoints() {
    let app = TestApp::start_with(Backend::Sqlite, 0, |s| s.rate_per_ip_per_min = 40).await;
    let get = |p: &str| app.http.get(app.url(p)).send();
    assert_eq!(get("/healthz").await.unwrap().text().await.unwrap(), "ok");
    assert_eq!(get("/readyz").await.unwrap().status(), StatusCode::OK);
    let r = get("/metrics").await.unwrap();
    assert!(r.headers().contains_key("x-request-id"));
    let text = r.text().await.unwrap();
    assert!(
        text.contains("# TYPE vidmocap_http_requests_total counter"),
        "{text}"
    );
    let doc: Value = get("/v1/openapi.json").await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/v1/jobs/{id}/events"].is_object());
    // The per-IP limit (40 a minute here) answers 429 with a code; the
    // probes stay reachable past it.
    let mut limited = None;
    for _ in 0..45 {
        let r = get("/metrics").await.unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(error_code(r).await.1);
            break;
        }
    }
    assert_eq!(limited.as_deref(), Some("rate.limited"));
    assert_eq!(get("/healthz").await.unwrap().status(), StatusCode::OK);
    assert_eq!(get("/readyz").await.unwrap().status(), StatusCode::OK);
}

/// Large inputs skip the API: a presigned PUT link, then `complete`, which
/// validates the video like a direct upload; a bad one is deleted, and
/// another account cannot complete it.
#[tokio::test(flavor = "multi_thread")]
async fn presigned_put_upload() {
    let app = TestApp::start(Backend::Sqlite, 0).await;
    let user = app.signup("big@example.com").await;
    let other = app.signup("other@example.com").await;
    let dir = tempfile::tempdir().unwrap();
    let clip = std::fs::read(tiny_clip(dir.path(), "two.mp4", 2)).unwrap();

    let ticket = user.presign().await;
    let id = ticket["upload_id"].as_str().unwrap();
    let url = ticket["put"]["url"].as_str().unwrap();
    assert_eq!(ticket["put"]["method"], "PUT");
    let tampered = url.replace("exp=", "exp=9");
    let (s, code) = error_code(
        app.http
            .put(&tampered)
            .body(clip.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::FORBIDDEN, "store.bad_signature")
    );
    let r = app.http.put(url).body(clip.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (s, _) = error_code(
        other
            .post(&format!("/v1/uploads/{id}/complete"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "another account cannot complete it"
    );
    let r = user
        .post_json(
            &format!("/v1/uploads/{id}/complete"),
            &json!({"filename": "two.mp4"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let upload: Value = r.json().await.unwrap();
    assert_eq!(upload["size_bytes"], clip.len() as i64);
    assert_eq!(upload["width"], 160);

    let ticket = user.presign().await;
    let id = ticket["upload_id"].as_str().unwrap();
    let r = app
        .http
        .put(ticket["put"]["url"].as_str().unwrap())
        .body("not a video")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (s, code) = error_code(
        user.post(&format!("/v1/uploads/{id}/complete"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "video.not_a_video")
    );
    for key in ["input", "incoming"] {
        let left = app
            .state()
            .store
            .head(&format!("accounts/{}/uploads/{id}/{key}", user.id))
            .await
            .unwrap();
        assert!(left.is_none(), "a refused video is deleted ({key})");
    }
}

/// The retention sweeper deletes uploaded videos past their time (0 days
/// here), and a job can no longer be made from them.
#[tokio::test(flavor = "multi_thread")]
async fn retention_sweeper_deletes_old_uploads() {
    let app = TestApp::start_with(Backend::Sqlite, 0, |s| s.upload_retention_days = 0).await;
    let user = app.funded("old@example.com", 100).await;
    let dir = tempfile::tempdir().unwrap();
    let upload = user.upload_ok(&tiny_clip(dir.path(), "two.mp4", 2)).await;
    let id = upload["id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let swept = vidmocap::service::sweep::sweep_once(app.state())
        .await
        .unwrap();
    assert_eq!((swept.uploads, swept.outputs), (1, 0));
    let key = format!("accounts/{}/uploads/{id}/input", user.id);
    assert!(app.state().store.head(&key).await.unwrap().is_none());
    let u = user.get_json(&format!("/v1/uploads/{id}")).await;
    assert!(u["deleted_ms"].is_i64());
    assert_error(
        user.create_job(id, None).await,
        StatusCode::GONE,
        "upload.deleted",
    )
    .await;
    assert_eq!(user.available().await, 100);
}

/// `vidmocap serve` with no configuration at all: a SQLite file and the
/// local store appear under ./data, the API answers, and SIGTERM stops it
/// cleanly. `vidmocap migrate` then finds nothing to do.
#[test]
fn serve_needs_no_setup() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vidmocap"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("VIDMOCAP_DATABASE_URL")
        .env_remove("VIDMOCAP_STORE_DIR")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.split("listening on http://")
                .nth(1)
                .map(|rest| rest.split_whitespace().next().unwrap().to_string())
        })
        .expect("serve prints its address");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ready = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
        assert_eq!(ready.status(), StatusCode::OK);
    });
    assert!(dir.path().join("data/vidmocap.db").is_file());
    assert!(dir.path().join("data/blobs").is_dir());
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success(), "clean exit on SIGTERM");

    let out = Command::new(env!("CARGO_BIN_EXE_vidmocap"))
        .arg("migrate")
        .current_dir(dir.path())
        .env_remove("VIDMOCAP_DATABASE_URL")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "database is up to date"
    );
}

/// The queue itself, through the service's database on both backends: a
/// free account runs one job at a time, a pro account's job goes first,
/// and a worker whose lease was taken over cannot finish the job (so the
/// credits move only once).
async fn queue_rules(backend: Backend) {
    use vidmocap::db::jobs::Finish;
    let app = TestApp::start(backend, 0).await;
    let free = app.signup("free@example.com").await;
    let pro = app.signup("pro@example.com").await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vidmocap"))
        .args([
            "admin",
            "set-tier",
            "--email",
            "pro@example.com",
            "--tier",
            "pro",
        ])
        .env("VIDMOCAP_DATABASE_URL", &app.db.url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    app.grant(&free.email, 100);
    app.grant(&pro.email, 100);
    let dir = tempfile::tempdir().unwrap();
    let clip = tiny_clip(dir.path(), "two.mp4", 2);
    let fu = free.upload_id(&clip).await;
    let pu = pro.upload_id(&clip).await;
    let free1 = free.job_id(&fu).await;
    let free2 = free.job_id(&fu).await;
    let pro1 = pro.job_id(&pu).await;

    let db = &app.state().db;
    let now = vidmocap::db::now_ms();
    let first = db
        .claim_job("w1", now, now + 30_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.id, pro1, "pro's priority first, though queued last");
    let second = db
        .claim_job("w1", now, now + 30_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.id, free1);
    assert!(
        db.claim_job("w1", now, now + 30_000)
            .await
            .unwrap()
            .is_none(),
        "free runs one job at a time; {free2} waits"
    );

    // w1's lease on free1 runs out; it is requeued and w2 takes it over.
    let later = now + 31_000;
    let (requeued, _) = db.reap_stale(later).await.unwrap();
    assert_eq!(requeued, 2);
    let again = db
        .claim_job("w2", later, later + 30_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.id, pro1);
    let again = db
        .claim_job("w2", later, later + 30_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id.as_str(), again.attempts), (free1.as_str(), 2));
    let done = Finish::Succeeded {
        report_json: "{}".into(),
        outputs_json: "[]".into(),
        outputs_expire_ms: None,
    };
    assert!(
        !db.finish_job(&second, "w1", &done, later).await.unwrap(),
        "stale owner"
    );
    assert!(db.finish_job(&again, "w2", &done, later).await.unwrap());
    assert!(
        !db.finish_job(&again, "w2", &done, later).await.unwrap(),
        "only once"
    );
    let charges = free.ledger().await["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "charge")
        .count();
    assert_eq!(charges, 1);
    assert_eq!(free.available().await, 100 - 2 * 5);
    let account = free.account().await;
    assert_eq!(account["credits"]["balance"], 95);
}

#[tokio::test(flavor = "multi_thread")]
async fn queue_rules_sqlite() {
    queue_rules(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn queue_rules_postgres() {
    queue_rules(Backend::Postgres).await;
}

/// A session ends at its absolute maximum age even while in use.
#[tokio::test(flavor = "multi_thread")]
async fn session_absolute_maximum() {
    let app = TestApp::start_with(Backend::Sqlite, 0, |s| s.session_max_secs = 2).await;
    let user = app.signup("max@example.com").await;
    for _ in 0..3 {
        assert_eq!(
            user.get("/v1/account").send().await.unwrap().status(),
            StatusCode::OK
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (s, code) = error_code(user.get("/v1/account").send().await.unwrap()).await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::UNAUTHORIZED, "auth.required")
    );
}

/// The per-account limit counts one account's requests, whatever address
/// they come from, and leaves other accounts alone.
#[tokio::test(flavor = "multi_thread")]
async fn per_account_rate_limit() {
    let app = TestApp::start_with(Backend::Sqlite, 0, |s| {
        s.rate_per_ip_per_min = 0;
        s.rate_per_account_per_min = 5;
    })
    .await;
    let a = app.signup("a@example.com").await;
    let b = app.signup("b@example.com").await;
    for _ in 0..5 {
        assert_eq!(
            a.get("/v1/account").send().await.unwrap().status(),
            StatusCode::OK
        );
    }
    assert_error(
        a.get("/v1/account").send().await.unwrap(),
        StatusCode::TOO_MANY_REQUESTS,
        "rate.limited",
    )
    .await;
    assert_eq!(
        b.get("/v1/account").send().await.unwrap().status(),
        StatusCode::OK
    );
}
