//! Webhooks users register (issue 15, point 4), against the real service
//! (API and worker on port 0, a fresh SQLite or PostgreSQL database) and a
//! real HTTP receiver the test starts on 127.0.0.1 (tests/support/
//! receiver.rs):
//! - a job run by the worker delivers `job.succeeded`, signed by Stripe's
//!   scheme, which the test verifies with the secret the API showed once
//!   (and which fails with any other secret); a job with nobody in it
//!   delivers `job.failed` with its error code; a canceled one
//!   `job.canceled`;
//! - a receiver that answers 500 twice gets the same event three times,
//!   the gaps growing, and the delivery log shows each attempt;
//! - URLs that are not http(s), or point at loopback, private or
//!   link-local addresses while those are not allowed, are refused with a
//!   stable code and nothing is stored; a name that resolves to loopback
//!   at delivery time is refused then too; deleting the account deletes
//!   its webhooks;
//! - on PostgreSQL, two processes deliver each event once, and a delivery
//!   left pending when the service stops is sent by the next one.

#[path = "support/receiver.rs"]
mod receiver;
#[path = "support/service.rs"]
mod support;

use std::time::Duration;

use receiver::Receiver;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{error_code, now_s, short_walk, tiny_clip, Backend, TestApp, User};
use vidmocap::db::webhooks::NewWebhook;
use vidmocap::service::credits::verify_signature;
use vidmocap::service::{self, ServiceConfig, StartOptions};

/// Fast retries, and the receiver on 127.0.0.1 allowed.
fn quick(s: &mut ServiceConfig) {
    s.user_webhooks.allow_private_urls = true;
    s.user_webhooks.retry_base_ms = 400;
    s.user_webhooks.retry_max_ms = 10_000;
    s.user_webhooks.max_attempts = 4;
    s.user_webhooks.poll_ms = 50;
}

async fn register(user: &User, body: Value) -> (String, String) {
    let r = user.post_json("/v1/account/webhooks", &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    (
        created["webhook"]["id"].as_str().unwrap().to_string(),
        created["secret"].as_str().unwrap().to_string(),
    )
}

async fn log(user: &User, hook: &str) -> Vec<Value> {
    let r = user
        .get(&format!("/v1/account/webhooks/{hook}/deliveries"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["webhook_id"], hook);
    body["attempts"].as_array().unwrap().clone()
}

/// Waits until the log has `n` attempts (they are recorded just after
/// the receiver answers).
async fn log_of(user: &User, hook: &str, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let l = log(user, hook).await;
        if l.len() >= n {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the log of {hook} never had {n} attempts: {:?}",
        log(user, hook).await
    );
}

/// A job of a clip uploaded now.
async fn job_of(user: &User, clip: &std::path::Path) -> String {
    user.job_id(&user.upload_id(clip).await).await
}

/// `GET /v1/account/webhooks` as its text.
async fn webhooks(user: &User) -> String {
    let r = user.get("/v1/account/webhooks").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

async fn webhook_list(user: &User) -> Value {
    serde_json::from_str(&webhooks(user).await).unwrap()
}

/// The one request of type `kind`.
fn by_type(got: &[receiver::Received], kind: &str) -> receiver::Received {
    let of: Vec<_> = got.iter().filter(|r| r.json()["type"] == kind).collect();
    assert_eq!(of.len(), 1, "one {kind} in {got:?}");
    of[0].clone()
}

/// Waits for the job to run; until then it must be queued.
async fn wait_running(user: &User, job: &str) {
    let running = |j: &Value| {
        let now = j["state"] == "running";
        if !now {
            assert_eq!(j["state"], "queued", "{j}");
        }
        now
    };
    let (limit, every) = (Duration::from_secs(60), Duration::from_millis(100));
    user.wait_for(job, "start", limit, every, running).await;
}

async fn signed_retried_and_logged(backend: Backend) {
    let app = TestApp::start_with(backend, 1, quick).await;
    let user = app.funded("hooks@example.com", 200).await;
    let ok = Receiver::start(0).await;
    let flaky = Receiver::start(2).await;

    let (all, secret) = register(&user, json!({"url": ok.url})).await;
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    let (failures_only, flaky_secret) =
        register(&user, json!({"url": flaky.url, "events": ["job.failed"]})).await;
    // Listed, never with the secret.
    let listed = webhooks(&user).await;
    assert!(
        listed.contains(&all) && listed.contains(&ok.url) && !listed.contains(&secret),
        "{listed}"
    );
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(
        listed["webhooks"][1]["events"],
        json!(["job.failed"]),
        "{listed}"
    );
    // Another account sees none of it.
    let eve = app.signup("eve@example.com").await;
    for r in [
        eve.get(&format!("/v1/account/webhooks/{all}/deliveries")),
        eve.delete(&format!("/v1/account/webhooks/{all}")),
    ] {
        assert_eq!(r.send().await.unwrap().status(), StatusCode::NOT_FOUND);
    }
    let theirs = webhook_list(&eve).await;
    assert_eq!(theirs["webhooks"], json!([]));

    // A job that succeeds: one signed job.succeeded to the first receiver.
    // While the one worker runs it, a second job waits in the queue and is
    // canceled there: job.canceled.
    let clips = tempfile::tempdir().unwrap();
    let walk = job_of(&user, &short_walk(clips.path())).await;
    wait_running(&user, &walk).await;
    let canceled = job_of(&user, &tiny_clip(clips.path(), "cancel.mp4", 1)).await;
    user.cancel(&canceled).await;
    let done = user.wait_job(&walk, Duration::from_secs(300)).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let got = ok.wait_for(2, Duration::from_secs(20)).await;
    let gone = by_type(&got, "job.canceled").json();
    assert_eq!(gone["data"]["job"]["id"], canceled.as_str(), "{gone}");
    assert_eq!(gone["data"]["job"]["status"], "canceled");
    assert_eq!(gone["data"]["job"]["error"]["code"], "job.canceled");
    let first = &by_type(&got, "job.succeeded");
    assert_eq!(first.content_type, "application/json");
    assert_eq!(
        verify_signature(&secret, &first.signature, &first.body, now_s(), 300),
        Ok(()),
        "the delivery verifies with the webhook's secret: {}",
        first.signature
    );
    assert_eq!(
        verify_signature(&flaky_secret, &first.signature, &first.body, now_s(), 300),
        Err("webhook.bad_signature"),
        "another secret does not verify it"
    );
    assert_eq!(
        verify_signature("whsec_wrong", &first.signature, &first.body, now_s(), 300),
        Err("webhook.bad_signature")
    );
    let event = first.json();
    assert_eq!(event["type"], "job.succeeded", "{event}");
    assert_eq!(event["id"], first.event_id.as_str());
    assert!(event["id"].as_str().unwrap().starts_with("evt_"));
    let job = &event["data"]["job"];
    assert_eq!(job["id"], walk.as_str());
    assert_eq!(job["status"], "succeeded");
    assert!(job["error"].is_null());
    assert!(
        !String::from_utf8_lossy(&first.body).contains("example.com"),
        "no email in the event"
    );
    // The outputs link is the API's, and works with the owner's credentials.
    let outputs = job["outputs_url"].as_str().unwrap();
    assert_eq!(outputs, format!("{}/v1/jobs/{walk}/outputs", app.base));
    let r = user
        .get(outputs.strip_prefix(&app.base).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // A job that fails (nobody in the clip): job.failed to both, the
    // flaky receiver answered 500 twice and then 200.
    let empty = job_of(&user, &tiny_clip(clips.path(), "empty.mp4", 1)).await;
    let done = user.wait_job(&empty, Duration::from_secs(300)).await;
    assert_eq!(done["state"], "failed", "{done}");
    let got = ok.wait_for(3, Duration::from_secs(20)).await;
    let failed = by_type(&got, "job.failed").json();
    assert_eq!(failed["type"], "job.failed");
    assert_eq!(failed["data"]["job"]["id"], empty.as_str());
    assert_eq!(
        failed["data"]["job"]["error"]["code"], done["error"]["code"],
        "{failed} {done}"
    );
    assert!(failed["data"]["job"]["outputs_url"].is_null());

    let tries = flaky.wait_for(3, Duration::from_secs(30)).await;
    assert_eq!(
        tries.iter().map(|t| t.status).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    for t in &tries {
        assert_eq!(t.body, tries[0].body, "every attempt sends the same event");
        assert_eq!(t.event_id, failed["id"].as_str().unwrap());
        assert_eq!(
            verify_signature(&flaky_secret, &t.signature, &t.body, now_s(), 300),
            Ok(())
        );
    }
    let gap1 = tries[1].at - tries[0].at;
    let gap2 = tries[2].at - tries[1].at;
    assert!(
        gap1 >= Duration::from_millis(380) && gap2 >= Duration::from_millis(780) && gap2 > gap1,
        "the gaps grow from the 400 ms base: {gap1:?}, {gap2:?}"
    );
    let attempts = log_of(&user, &failures_only, 3).await;
    let seen: Vec<(i64, Value, bool)> = attempts
        .iter()
        .map(|a| {
            assert_eq!(a["event_id"], failed["id"]);
            assert_eq!(a["event_type"], "job.failed");
            assert_eq!(a["job_id"], empty.as_str());
            (
                a["attempt"].as_i64().unwrap(),
                a["http_status"].clone(),
                a["next_retry_ms"].is_i64(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (3, json!(200), false),
            (2, json!(500), true),
            (1, json!(500), true)
        ],
        "newest first: {attempts:?}"
    );
    // The retry was due when the log said it would be.
    let due = attempts[2]["next_retry_ms"].as_i64().unwrap();
    assert!(
        attempts[1]["at_ms"].as_i64().unwrap() >= due,
        "{attempts:?}"
    );

    let mine = log_of(&user, &all, 3).await;
    assert!(
        mine.iter()
            .all(|a| a["http_status"] == 200 && a["attempt"] == 1),
        "{mine:?}"
    );
    assert_eq!(
        flaky.received().len(),
        3,
        "the flaky one wants failures only"
    );

    // Deleted: gone from the list, its log with it.
    let r = user
        .delete(&format!("/v1/account/webhooks/{all}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = user
        .get(&format!("/v1/account/webhooks/{all}/deliveries"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let left = webhook_list(&user).await;
    assert_eq!(left["webhooks"].as_array().unwrap().len(), 1, "{left}");
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_retried_and_logged_sqlite() {
    signed_retried_and_logged(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_retried_and_logged_postgres() {
    signed_retried_and_logged(Backend::Postgres).await;
}

async fn bad_urls_are_refused(backend: Backend) {
    // Production settings: private addresses are not allowed.
    let app = TestApp::start_with(backend, 0, |s| {
        s.user_webhooks.poll_ms = 50;
        s.user_webhooks.max_attempts = 1;
    })
    .await;
    assert!(!app.svc.user_webhooks.allow_private_urls);
    let user = app.signup("careful@example.com").await;
    let receiver = Receiver::start(0).await;
    let port = receiver.port;
    let cases = [
        (
            json!({"url": "ftp://example.com/hook"}),
            "user_webhook.bad_url",
        ),
        (json!({"url": "not a url"}), "user_webhook.bad_url"),
        (json!({"url": "file:///etc/passwd"}), "user_webhook.bad_url"),
        (
            json!({"url": "https://me:pw@example.com/"}),
            "user_webhook.bad_url",
        ),
        (json!({"url": receiver.url}), "user_webhook.private_address"),
        (
            json!({"url": format!("http://localhost:{port}/hook")}),
            "user_webhook.private_address",
        ),
        (
            json!({"url": "http://[::1]/hook"}),
            "user_webhook.private_address",
        ),
        (
            json!({"url": "http://169.254.169.254/latest/meta-data"}),
            "user_webhook.private_address",
        ),
        (
            json!({"url": "http://10.0.0.1/hook"}),
            "user_webhook.private_address",
        ),
        (
            json!({"url": "http://192.168.1.10/hook"}),
            "user_webhook.private_address",
        ),
        (
            json!({"url": "https://no-such-host.invalid/hook"}),
            "user_webhook.unresolvable",
        ),
        (
            json!({"url": "https://example.com/hook", "events": ["job.started"]}),
            "user_webhook.bad_events",
        ),
        (
            json!({"url": "https://example.com/hook", "events": []}),
            "user_webhook.bad_events",
        ),
    ];
    for (body, code) in cases {
        let r = user.post_json("/v1/account/webhooks", &body).await;
        assert_eq!(
            error_code(r).await,
            (StatusCode::BAD_REQUEST, code.to_string()),
            "{body}"
        );
    }
    let r = app
        .post_json(
            "/v1/account/webhooks",
            &json!({"url": "https://example.com/hook"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let listed = webhook_list(&user).await;
    assert_eq!(listed["webhooks"], json!([]), "nothing stored");

    // At delivery time the address is judged again: a name that resolved
    // elsewhere when it was registered and to loopback now (DNS
    // rebinding), stored here directly as if it had, is refused, as is a
    // loopback address; the receiver hears nothing.
    let db = &app.state().db;
    let events = vec!["job.canceled".to_string()];
    for (id, url) in [
        ("rebound", format!("http://localhost:{port}/hook")),
        ("literal", receiver.url.clone()),
    ] {
        db.create_webhook(&NewWebhook {
            id,
            account_id: &user.id,
            url: &url,
            secret: "whsec_test",
            events: &events,
            now: vidmocap::db::now_ms(),
            max_per_account: 10,
        })
        .await
        .unwrap()
        .unwrap();
    }
    app.grant(&user.email, 50);
    let clips = tempfile::tempdir().unwrap();
    let job = job_of(&user, &tiny_clip(clips.path(), "one.mp4", 1)).await;
    user.cancel(&job).await;
    for hook in ["rebound", "literal"] {
        let attempts = log_of(&user, hook, 1).await;
        assert_eq!(attempts.len(), 1, "{attempts:?}");
        let a = &attempts[0];
        assert_eq!(a["error"], "user_webhook.private_address", "{hook}: {a}");
        assert!(
            a["http_status"].is_null() && a["next_retry_ms"].is_null(),
            "{a}"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.received().is_empty(), "nothing reached loopback");

    // Deleting the account takes its webhooks, secrets and log with it.
    let r = user.delete("/v1/account").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(db.list_webhooks(&user.id).await.unwrap().is_empty());
    assert!(db
        .delivery_log(&user.id, "rebound", 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_urls_are_refused_sqlite() {
    bad_urls_are_refused(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_urls_are_refused_postgres() {
    bad_urls_are_refused(Backend::Postgres).await;
}

/// Another process on the same database, with neither API nor workers:
/// what it does is send webhook events.
async fn sender(svc: &ServiceConfig) -> service::Running {
    service::start(
        support::pipeline_config(),
        svc.clone(),
        StartOptions {
            api: false,
            workers: 0,
        },
    )
    .await
    .unwrap()
}

/// Two processes share one PostgreSQL database: every event is delivered
/// once, by one or the other; then a delivery still pending when both
/// stop is sent by a process started afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn processes_share_deliveries_and_a_restart_loses_none_postgres() {
    // The retry after a failure is due 3 s later: after both have stopped.
    let mut app = TestApp::start_with(Backend::Postgres, 0, |s| {
        quick(s);
        s.user_webhooks.retry_base_ms = 3000;
    })
    .await;
    let other = sender(&app.svc).await;
    let user = app.funded("fleet@example.com", 500).await;
    let receiver = Receiver::start(0).await;
    let (hook, secret) = register(&user, json!({"url": receiver.url})).await;
    let clips = tempfile::tempdir().unwrap();
    let upload = &user.upload_id(&tiny_clip(clips.path(), "one.mp4", 1)).await;
    const JOBS: usize = 12;
    for _ in 0..JOBS {
        user.cancel(&user.job_id(upload).await).await;
    }
    let got = receiver.wait_for(JOBS, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_now = receiver.received();
    let mut ids: Vec<&str> = got_now.iter().map(|r| r.event_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        (got_now.len(), ids.len()),
        (JOBS, JOBS),
        "each event once: {got:?}"
    );
    assert_eq!(log_of(&user, &hook, JOBS).await.len(), JOBS);

    // Both processes stop while a delivery waits for its retry; the next
    // process to start sends it.
    let flaky = Receiver::start(1).await;
    let (late_hook, late_secret) = register(&user, json!({"url": flaky.url})).await;
    user.cancel(&user.job_id(upload).await).await;
    flaky.wait_for(1, Duration::from_secs(20)).await;
    log_of(&user, &late_hook, 1).await;
    other.shutdown().await;
    app.stop().await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        flaky.received().len(),
        1,
        "nothing is sent while all are stopped"
    );
    let next = sender(&app.svc).await;
    let tries = flaky.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(tries[1].status, 200);
    assert_eq!(tries[1].event_id, tries[0].event_id);
    assert_eq!(
        verify_signature(
            &late_secret,
            &tries[1].signature,
            &tries[1].body,
            now_s(),
            300
        ),
        Ok(())
    );
    assert_ne!(late_secret, secret);
    next.shutdown().await;
}
