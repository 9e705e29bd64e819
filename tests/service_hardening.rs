//! What an attacker and a crash test found (issue 13), one test per
//! finding, against the real app: a presigned link cannot swap a priced
//! upload (local store and S3), the per-account running limit holds under
//! concurrent claims on PostgreSQL, credits are bounded, unknown job fields
//! are refused, an unreadable options row keeps the upload, every rejection
//! has the JSON error shape, migrations started together do not race, and
//! the admin command writes to a SQLite file the running service writes to.

#[path = "support/s3.rs"]
mod s3;
#[path = "support/stripe.rs"]
mod stripe_standin;
#[path = "support/service.rs"]
mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use stripe_standin::StripeStandIn;
use support::{error_code, put_presigned, tiny_clip, Backend, TestApp, User};

/// An account with 100 credits and an upload of a 1 s clip (its id); the
/// clip's folder goes with the test.
async fn with_upload(app: &TestApp, email: &str) -> (User, String, tempfile::TempDir) {
    let user = app.funded(email, 100).await;
    let dir = tempfile::tempdir().unwrap();
    let upload = user.upload_id(&tiny_clip(dir.path(), "one.mp4", 1)).await;
    (user, upload, dir)
}

/// Finding 1: a 1 s clip is priced, then the same link PUTs a 23 s one.
/// The object jobs read stays the priced bytes; and should storage change
/// under the service anyway, the worker refuses it and charges nothing.
async fn upload_cannot_be_swapped_after_pricing(app: TestApp) {
    let user = app.funded("swap@example.com", 100).await;
    let dir = tempfile::tempdir().unwrap();
    let short = std::fs::read(tiny_clip(dir.path(), "short.mp4", 1)).unwrap();
    let long = std::fs::read(tiny_clip(dir.path(), "long.mp4", 23)).unwrap();
    let support::Presigned { id, ticket, .. } =
        user.upload_presigned(short.clone(), "short.mp4").await;
    let upload = user.get_json(&format!("/v1/uploads/{id}")).await;
    assert_eq!(upload["price"], 5, "{upload}");

    // Either way what the link writes must not be what is processed.
    put_presigned(&app.http, &ticket, long.clone()).await;
    let key = format!("accounts/{}/uploads/{id}/input", user.id);
    let stored = app.state().store.get_bytes(&key).await.unwrap();
    assert!(
        stored == short,
        "the priced object changed: {} bytes now, {} priced",
        stored.len(),
        short.len()
    );
    let again = user
        .post(&format!("/v1/uploads/{id}/complete"))
        .send()
        .await
        .unwrap();
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        again["size_bytes"],
        short.len() as i64,
        "complete is idempotent"
    );

    // Storage changed behind the service's back: the pin catches it.
    app.state()
        .store
        .put_bytes(&key, long, "application/octet-stream")
        .await
        .unwrap();
    let job_id = user.job_id(&id).await;
    let job = user.wait_job(&job_id, Duration::from_secs(60)).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "upload.changed", "{job}");
    assert_eq!(user.available().await, 100, "nothing charged");
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_cannot_be_swapped_after_pricing_local() {
    upload_cannot_be_swapped_after_pricing(TestApp::start(Backend::Sqlite, 1).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_cannot_be_swapped_after_pricing_s3() {
    let server = s3::S3Server::start();
    let store = server.store_config();
    let app = TestApp::start_with(Backend::Postgres, 1, move |s| s.store = store).await;
    upload_cannot_be_swapped_after_pricing(app).await;
    drop(server);
}

/// Finding 2: free tier (one running job), five queued jobs, five
/// concurrent claims, ten rounds: never more than one running.
#[tokio::test(flavor = "multi_thread")]
async fn running_limit_holds_under_concurrent_claims_postgres() {
    let app = TestApp::start(Backend::Postgres, 0).await;
    let (user, upload, _dir) = with_upload(&app, "limit@example.com").await;
    for _ in 0..5 {
        assert_eq!(
            user.create_job(&upload, None).await.status(),
            StatusCode::CREATED
        );
    }
    let db = app.state().db.clone();
    for round in 0..10 {
        let now = vidmocap::db::now_ms();
        let claims = (0..5).map(|w| {
            let db = db.clone();
            tokio::spawn(async move {
                db.claim_job(&format!("w{w}"), now, now + 30_000)
                    .await
                    .unwrap()
            })
        });
        let claimed: Vec<_> = futures_util::future::join_all(claims)
            .await
            .into_iter()
            .filter_map(|j| j.unwrap())
            .collect();
        assert_eq!(claimed.len(), 1, "round {round}: {} running", claimed.len());
        for job in &claimed {
            assert!(db
                .hand_back(job, job.lease_owner.as_deref().unwrap())
                .await
                .unwrap());
        }
    }
}

/// Finding 3: a top-up past the credit bound is refused (SQLite would
/// have made the balance a REAL and every route of the account a 500),
/// and the account and `admin grant-credits` keep working. Packs above
/// the bound cannot be configured; a pack that would carry the balance
/// past it is refused when its payment arrives, and nothing moves.
#[tokio::test(flavor = "multi_thread")]
async fn credits_are_bounded() {
    let max = vidmocap::db::ledger::MAX_CREDITS;
    let mut huge = vidmocap::service::ServiceConfig::default();
    huge.billing.packs.push(vidmocap::service::Pack {
        id: "huge".into(),
        name: "too many".into(),
        price_id: "price_huge".into(),
        credits: 9223372036854775802,
        amount_display: String::new(),
    });
    let err = huge.validate().unwrap_err();
    assert_eq!(err.code(), "config.invalid", "{err}");

    let stripe = StripeStandIn::start().await;
    let app = TestApp::start_with(Backend::Sqlite, 0, |s| {
        s.billing.stripe_secret_key = stripe_standin::SECRET_KEY.into();
        s.billing.stripe_api_base = stripe.base.clone();
        s.billing.packs.push(vidmocap::service::Pack {
            id: "eleven".into(),
            name: "11 credits".into(),
            price_id: "price_11".into(),
            credits: 11,
            amount_display: String::new(),
        });
    })
    .await;
    let user = app.funded("rich@example.com", max - 10).await;
    let url = user.checkout_url("eleven").await;
    let session = url.rsplit('/').next().unwrap();
    let now = vidmocap::db::now_ms() / 1000;
    let event = json!({
        "id": "evt_big", "type": "checkout.session.completed", "created": now,
        "data": {"object": {"id": session, "payment_status": "paid", "payment_intent": "pi_big"}}
    });
    let (s, code) = error_code(app.post_payment_event(&event).await).await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::BAD_REQUEST, "credits.over_limit"),
        "the balance may not pass the bound"
    );
    assert_eq!(user.available().await, max - 10);
    app.grant(&user.email, 10);
    assert_eq!(user.available().await, max);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vidmocap"))
        .args([
            "admin",
            "grant-credits",
            "--email",
            &user.email,
            "--credits",
            "1",
        ])
        .env("VIDMOCAP_DATABASE_URL", &app.db.url)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a grant past the bound is refused");
    assert_eq!(user.available().await, max);
}

/// Finding 5: `"output"` (a typo of `outputs`) is refused, not charged.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_job_fields_are_refused() {
    let app = TestApp::start(Backend::Sqlite, 0).await;
    let (user, upload, _dir) = with_upload(&app, "typo@example.com").await;
    let r = user
        .post_json("/v1/jobs", &json!({"upload_id": upload, "output": ["fbx"]}))
        .await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "job.bad_options");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("output"),
        "{body}"
    );
    assert_eq!(user.available().await, 100);
    let jobs = user.get_json("/v1/jobs").await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 0);
    let r = user
        .post_json(
            "/v1/jobs",
            &json!({"upload_id": upload, "outputs": ["fbx"], "keep_upload": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED, "the right spelling works");
}

/// Finding 9: a job asked not to keep its upload, whose options row then
/// cannot be read: the job fails on our side and the video stays.
#[tokio::test(flavor = "multi_thread")]
async fn unreadable_options_keep_the_upload() {
    let app = TestApp::start(Backend::Sqlite, 0).await;
    let (user, upload, _dir) = with_upload(&app, "keep@example.com").await;
    let job_id = user
        .job_with(&json!({"upload_id": upload, "keep_upload": false}))
        .await;
    let state = app.state().clone();
    sqlx::query("UPDATE jobs SET options_json = '{\"keep_upload\": \"maybe\"' WHERE id = $1")
        .bind(&job_id)
        .execute(&state.db.pool)
        .await
        .unwrap();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(vidmocap::service::worker::run(state.clone(), 0, stop_rx));
    let job = user.wait_job(&job_id, Duration::from_secs(60)).await;
    stop.send(true).unwrap();
    worker.await.unwrap();
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "job.internal", "{job}");
    let u = user.get_json(&format!("/v1/uploads/{upload}")).await;
    assert!(u["deleted_ms"].is_null(), "{u}");
    let key = format!("accounts/{}/uploads/{upload}/input", user.id);
    assert!(state.store.head(&key).await.unwrap().is_some());
}

/// Finding 4: every rejection answers `{"error": {"code", "message"}}`.
#[tokio::test(flavor = "multi_thread")]
async fn every_rejection_has_the_json_error_shape() {
    let app = TestApp::start(Backend::Sqlite, 0).await;
    let user = app.signup("shape@example.com").await;
    let raw = |method: reqwest::Method, path: &str| {
        app.http
            .request(method, app.url(path))
            .header("cookie", format!("vidmocap_session={}", user.cookie))
    };
    use reqwest::Method;
    let cases: Vec<(&str, reqwest::RequestBuilder, StatusCode)> = vec![
        (
            "malformed JSON",
            raw(Method::POST, "/v1/jobs")
                .header("content-type", "application/json")
                .body("{\"upload_id\":"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "no Content-Type",
            raw(Method::POST, "/v1/auth/login").body("{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "missing field",
            raw(Method::POST, "/v1/auth/login").json(&json!({"email": "a@b.c"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "bad query string",
            raw(Method::GET, "/v1/jobs?limit=many"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "wrong method",
            raw(Method::PUT, "/v1/jobs"),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "wrong method, public route",
            raw(Method::DELETE, "/healthz"),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "unknown API path",
            raw(Method::GET, "/v1/nothing-here"),
            StatusCode::NOT_FOUND,
        ),
        (
            "bad expiry in the outputs query",
            raw(Method::GET, "/v1/jobs/x/outputs?expires_secs=-1"),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (what, req, want) in cases {
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{what}: not JSON ({status}): {text:?}"));
        assert_eq!(status, want, "{what}: {body}");
        assert!(
            body["error"]["code"].is_string() && body["error"]["message"].is_string(),
            "{what}: {body}"
        );
    }
}

/// Finding 11: eight processes' worth of `migrate` on one fresh PostgreSQL
/// database at once: all succeed, each migration is applied once.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_migrations_do_not_race_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let db = support::TestDb::new(Backend::Postgres, dir.path()).await;
    // Eight pools, so eight connections race on the server.
    let runs = (0..8).map(|_| {
        let url = db.url.clone();
        async move {
            let db = vidmocap::db::Db::open(&url).await?;
            db.migrate().await
        }
    });
    let mut applied = 0;
    for r in futures_util::future::join_all(runs).await {
        let names = r.unwrap_or_else(|e| panic!("migrate failed: {e}"));
        applied += names.len();
    }
    let db = vidmocap::db::Db::open(&db.url).await.unwrap();
    let rows = sqlx::query("SELECT name FROM schema_migrations")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(applied, rows.len(), "each migration applied exactly once");
    assert!(rows.len() >= 2);
}

/// Logs in as `email` with `password`, as if from `ip` (through a proxy
/// when the app trusts loopback).
async fn login_from(app: &TestApp, email: &str, password: &str, ip: &str) -> reqwest::Response {
    app.http
        .post(app.url("/v1/auth/login"))
        .header("x-forwarded-for", ip)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

/// Finding 6: ten wrong passwords from one address throttle that address
/// for that account (even the right password), not the owner elsewhere.
#[tokio::test(flavor = "multi_thread")]
async fn login_is_throttled_per_account_and_address() {
    let app = TestApp::start_with(Backend::Sqlite, 0, |s| {
        s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let user = app.signup("target@example.com").await;
    let right = "correct horse battery";
    for _ in 0..10 {
        let r = login_from(&app, &user.email, "guess", "203.0.113.9").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let (s, code) = error_code(login_from(&app, &user.email, right, "203.0.113.9").await).await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "auth.throttled")
    );
    let r = login_from(&app, &user.email, right, "198.51.100.7").await;
    assert_eq!(r.status(), StatusCode::OK, "the owner elsewhere logs in");
    let r = login_from(&app, "someone.else@example.com", "guess", "203.0.113.9").await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "other accounts unaffected"
    );
}

/// Finding 13 (forwarded headers): from a client that is not a configured
/// proxy, `X-Forwarded-For` does not dodge the throttle and
/// `X-Forwarded-Proto` does not mark the cookie `Secure`; from a trusted
/// proxy it does.
#[tokio::test(flavor = "multi_thread")]
async fn forwarded_headers_only_from_trusted_proxies() {
    let app = TestApp::start(Backend::Sqlite, 0).await;
    let user = app.signup("fwd@example.com").await;
    for n in 0..10 {
        let r = login_from(&app, &user.email, "guess", &format!("203.0.113.{n}")).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let (s, code) = error_code(login_from(&app, &user.email, "guess", "203.0.113.99").await).await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "auth.throttled"),
        "a forged X-Forwarded-For is not a new address"
    );
    let secure = |r: &reqwest::Response| {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().unwrap_or("").contains("; Secure"))
    };
    let signup = |app: &TestApp, email: &'static str| {
        app.http
            .post(app.url("/v1/auth/signup"))
            .header("x-forwarded-proto", "https")
            .json(&json!({"email": email, "password": "correct horse battery", "over_18": true}))
            .send()
    };
    let r = signup(&app, "plain@example.com").await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(!secure(&r), "untrusted X-Forwarded-Proto ignored");

    let proxied = TestApp::start_with(Backend::Sqlite, 0, |s| {
        s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let r = signup(&proxied, "proxied@example.com").await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(secure(&r), "a trusted proxy's X-Forwarded-Proto counts");
}

/// Finding 12: validations wait for one of `max_concurrent_validations`
/// permits within the timeout (503 when none comes), and a decode past the
/// timeout is stopped (422).
#[tokio::test(flavor = "multi_thread")]
async fn upload_validation_is_capped_and_timed() {
    let app = TestApp::start_with(Backend::Sqlite, 0, |s| {
        s.max_concurrent_validations = 1;
        s.validation_timeout_secs = 1;
    })
    .await;
    let user = app.signup("valid@example.com").await;
    let dir = tempfile::tempdir().unwrap();
    let clip = tiny_clip(dir.path(), "one.mp4", 1);
    let held = app
        .state()
        .validations
        .clone()
        .acquire_owned()
        .await
        .unwrap();
    let (s, code) = error_code(user.upload_raw(&clip).await).await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "upload.busy")
    );
    drop(held);
    user.upload_ok(&clip).await;

    let slow = TestApp::start_with(Backend::Sqlite, 0, |s| s.validation_timeout_secs = 0).await;
    let user = slow.signup("slow@example.com").await;
    let (s, code) = error_code(user.upload_raw(&clip).await).await;
    assert_eq!(
        (s, code.as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "upload.validation_timeout"
        )
    );
}

/// Finding 13 (wake-ups): with polling every minute, a job created on
/// PostgreSQL is still claimed at once: the worker is woken by NOTIFY.
#[tokio::test(flavor = "multi_thread")]
async fn workers_wake_on_notify_postgres() {
    let app = TestApp::start_with(Backend::Postgres, 1, |s| {
        s.poll_ms = 60_000;
        s.notify_poll_ms = 60_000;
    })
    .await;
    let (user, upload, _dir) = with_upload(&app, "wake@example.com").await;
    // The worker has looked once at start and is asleep now.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let id = user.job_id(&upload).await;
    // Still queued after 10 s would mean the worker was not woken.
    let (limit, every) = (Duration::from_secs(10), Duration::from_millis(100));
    user.wait_for(&id, "claim", limit, every, |j| j["state"] != "queued")
        .await;
    let mut app = app;
    app.stop().await;
}

/// Finding 8: the document names every route (it is built from the same
/// registrations as the router), including the two it used to miss, and
/// every operation it names is routed with that method. Issue 13: every
/// operation's answers have schemas, derived from the handlers' types.
#[tokio::test(flavor = "multi_thread")]
async fn openapi_document_matches_the_router() {
    let app = TestApp::start(Backend::Sqlite, 0).await;
    let doc: Value = app
        .http
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/v1/account/limits",
        "/v1/uploads/{id}/video",
        "/v1/openapi.json",
    ] {
        assert!(paths.contains_key(p), "{p} missing");
    }
    let mut checked = 0;
    for (path, ops) in paths {
        let concrete = path
            .replace("{id}", "00000000-0000-4000-8000-000000000000")
            .replace("{key}", "accounts/x/y");
        for method in ops.as_object().unwrap().keys() {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = app
                .http
                .request(m, app.url(&concrete))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_ne!(
                body["error"]["message"], "no such route",
                "{method} {path} is in the document but not routed"
            );
            checked += 1;
        }
    }
    assert!(checked >= 30, "{checked} operations");

    assert_operations_have_schemas(&doc);
    // The check catches an operation that answers JSON without a schema
    // of its own, and a `$ref` to nothing.
    let mut untyped = doc.clone();
    untyped["paths"]["/v1/pricing"]["get"]["responses"]["200"]["content"] =
        json!({"application/json": {"schema": {"type": "object"}}});
    let mut dangling = doc.clone();
    dangling["paths"]["/v1/jobs/{id}"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"]["$ref"] = json!("#/components/schemas/Nothing");
    for broken in [untyped, dangling] {
        let caught = std::panic::catch_unwind(|| assert_operations_have_schemas(&broken));
        assert!(caught.is_err(), "a broken document passed the check");
    }
}

/// The operations whose success is not JSON: text, raw bytes, a stream or
/// a redirect. Every other operation must answer JSON with a schema.
const NOT_JSON: [(&str, &str); 12] = [
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/v1/demo/{name}"),
    ("get", "/v1/account/export"),
    ("get", "/v1/uploads/{id}/video"),
    ("get", "/v1/jobs/{id}/thumbnail"),
    ("get", "/v1/jobs/{id}/events"),
    ("get", "/v1/blobs/{key}"),
    ("put", "/v1/blobs/{key}"),
    ("get", "/v1/auth/oidc/{provider}/start"),
    ("get", "/v1/auth/oidc/{provider}/callback"),
];

/// Every operation has a success response and the error shape as its
/// `default`; but for [`NOT_JSON`] and bodiless 204s, each success is JSON
/// whose schema is a `$ref` to a component; every `$ref` anywhere in the
/// document resolves; path parameters are declared; no two operations
/// share an id.
fn assert_operations_have_schemas(doc: &Value) {
    let schemas = doc["components"]["schemas"]
        .as_object()
        .expect("components.schemas");
    let mut ids = std::collections::HashSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let at = format!("{method} {path}");
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{at}: no operationId"));
            assert!(
                ids.insert(id.to_string()),
                "{at}: operationId {id} is taken"
            );
            for name in path
                .split('/')
                .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            {
                let declared = op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["in"] == "path" && p["name"] == name));
                assert!(declared, "{at}: path parameter {name} is not declared");
            }
            let responses = op["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("{at}: no responses"));
            assert_eq!(
                responses["default"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/Error",
                "{at}: the error answer"
            );
            let success: Vec<_> = responses
                .iter()
                .filter(|(status, _)| status.starts_with('2') || status.starts_with('3'))
                .collect();
            assert!(!success.is_empty(), "{at}: no success response");
            if NOT_JSON.contains(&(method.as_str(), path.as_str())) {
                continue;
            }
            for (status, r) in success {
                if status == "204" {
                    assert!(r.get("content").is_none(), "{at} {status}: has a body");
                    continue;
                }
                let schema = r["content"]["application/json"]["schema"]["$ref"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{at} {status}: no JSON schema: {r}"));
                let name = schema
                    .strip_prefix("#/components/schemas/")
                    .unwrap_or_else(|| panic!("{at} {status}: {schema}"));
                assert!(
                    schemas.contains_key(name),
                    "{at} {status}: no component {name}"
                );
            }
        }
    }
    for (method, path) in NOT_JSON {
        assert!(
            doc["paths"][path][method].is_object(),
            "NOT_JSON names {method} {path}, which the document lacks"
        );
    }
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x.as_str()) {
                        ("$ref", Some(r)) => out.push(r),
                        _ => refs(x, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(doc, &mut all);
    assert!(all.len() > 30, "only {} references", all.len());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{r}: not a component"));
        assert!(schemas.contains_key(name), "{r} does not resolve");
    }
}

/// `vidmocap admin grant-credits` is a second process on the service's
/// SQLite file. While the service writes, the command's
/// transaction used to read first and then fail to write ("database is
/// locked": SQLite refuses a reader's upgrade once another connection has
/// written, without waiting); every grant must wait its turn and land.
/// The service's writes here are notification settings.
#[tokio::test(flavor = "multi_thread")]
async fn admin_grants_land_while_the_service_writes_sqlite() {
    let app = TestApp::start(Backend::Sqlite, 1).await;
    let user = app.signup("admin-target@example.com").await;
    let writer = {
        let busy = app.signup("busy@example.com").await;
        tokio::spawn(async move {
            for i in 0..300 {
                let r = busy
                    .put_json(
                        "/v1/account/notifications",
                        json!({"job_emails": i % 2 == 0, "marketing_emails": false}),
                    )
                    .await;
                assert_eq!(r.status(), StatusCode::OK);
            }
        })
    };
    let mut granted = 0;
    while !writer.is_finished() {
        app.grant(&user.email, 1);
        granted += 1;
    }
    writer.await.unwrap();
    assert!(granted >= 3, "only {granted} grants overlapped the writes");
    assert_eq!(user.ledger().await["balance"], granted);
}
