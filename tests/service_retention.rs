//! Retention (issue 15, point 5), on SQLite and PostgreSQL:
//! - `GET`/`PUT /v1/account/retention` with good input, and bad input
//!   (negative, zero, too large, wrong types, missing or unknown fields)
//!   refused with `retention.bad_value` and nothing changed;
//! - the sweep, run as of later and later moments, deletes exactly the
//!   uploads and outputs that are due (per account, per default, per
//!   no-retain expiry) and leaves the rest, checked in the store and
//!   through the API (410 `job.outputs_deleted`);
//! - no-retain on a real job: the upload is gone from the store (the local
//!   folder with SQLite, S3 with PostgreSQL) while the job is still
//!   running, held right after decoding by the worker's `after_decode`
//!   hook; its outputs expire `no_retain_output_hours` after it ends;
//! - deleting an account keeps its ledger rows, and nothing else of it.

#[path = "support/s3.rs"]
mod s3;
#[path = "support/service.rs"]
mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{assert_error, error_code, short_walk, tiny_clip, Backend, TestApp, User};
use vidmocap::db::jobs::Finish;
use vidmocap::service::hooks;
use vidmocap::service::sweep::{sweep_at, Swept};

const HOUR_MS: i64 = 3600 * 1000;
const DAY_MS: i64 = 24 * HOUR_MS;

async fn retention(user: &User) -> Value {
    let r = user.get("/v1/account/retention").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn set_retention(user: &User, body: Value) -> Value {
    let r = user.put_json("/v1/account/retention", &body).await;
    let status = r.status();
    let answer: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body} -> {answer}");
    answer
}

// ------------------------------------------------------------- settings

async fn settings_route(backend: Backend) {
    let app = TestApp::start(backend, 0).await;
    let user = app.signup("keep@example.com").await;

    let r = retention(&user).await;
    assert_eq!(r["upload_retention_days"], 30);
    assert_eq!(r["output_retention_days"], Value::Null, "outputs kept");
    assert_eq!(r["no_retain"], false);
    assert_eq!(r["no_retain_output_hours"], 24);
    assert_eq!(r["custom"], false);
    assert_eq!(r["defaults"]["upload_retention_days"], 30);
    assert_eq!(r["max_retention_days"], 365);

    let chosen =
        json!({"upload_retention_days": 7, "output_retention_days": 90, "no_retain": true});
    let answer = set_retention(&user, chosen.clone()).await;
    let read = retention(&user).await;
    assert_eq!(answer, read, "PUT answers what GET then reads");
    assert_eq!(read["upload_retention_days"], 7);
    assert_eq!(read["output_retention_days"], 90);
    assert_eq!(read["no_retain"], true);
    assert_eq!(read["custom"], true);

    let bad = [
        json!({"upload_retention_days": -1, "output_retention_days": 90, "no_retain": true}),
        json!({"upload_retention_days": 0, "output_retention_days": 90, "no_retain": true}),
        json!({"upload_retention_days": 366, "output_retention_days": 90, "no_retain": true}),
        json!({"upload_retention_days": 9_000_000_000_000_000_000u64, "output_retention_days": 90, "no_retain": true}),
        json!({"upload_retention_days": 7, "output_retention_days": -5, "no_retain": true}),
        json!({"upload_retention_days": 7, "output_retention_days": 0, "no_retain": true}),
        json!({"upload_retention_days": 7, "output_retention_days": 1e9, "no_retain": true}),
        json!({"upload_retention_days": "7", "output_retention_days": 90, "no_retain": true}),
        json!({"upload_retention_days": 7.5, "output_retention_days": 90, "no_retain": true}),
        json!({"upload_retention_days": 7, "output_retention_days": 90, "no_retain": 1}),
        json!({"upload_retention_days": 7, "no_retain": false}),
        json!({"upload_retention_days": 7, "output_retention_days": 90}),
        json!({"upload_retention_days": 7, "output_retention_days": 90, "no_retain": false, "extra": 1}),
        json!([7, 90, false]),
        json!(null),
    ];
    for body in bad {
        let r = user.put_json("/v1/account/retention", &body).await;
        let (status, code) = error_code(r).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "retention.bad_value"),
            "{body}"
        );
        assert_eq!(retention(&user).await, read, "{body} changed nothing");
    }
    let r = user
        .put("/v1/account/retention")
        .header("content-type", "application/json")
        .body("{\"upload_retention_days\": 7,")
        .send()
        .await
        .unwrap();
    let (status, code) = error_code(r).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "request.bad_json")
    );
    assert_eq!(retention(&user).await, read);

    // Back to keeping outputs, explicitly: null is "keep", not "default".
    let kept = set_retention(
        &user,
        json!({"upload_retention_days": 30, "output_retention_days": null, "no_retain": false}),
    )
    .await;
    assert_eq!(kept["output_retention_days"], Value::Null);
    assert_eq!(kept["custom"], true);

    // Another account is untouched, and strangers are refused.
    let other = app.signup("other@example.com").await;
    assert_eq!(retention(&other).await["upload_retention_days"], 30);
    let r = app
        .http
        .put(app.url("/v1/account/retention"))
        .json(&chosen)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_settings_sqlite() {
    settings_route(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_settings_postgres() {
    settings_route(Backend::Postgres).await;
}

// ---------------------------------------------------------------- sweep

/// A finished job with one stored output, made through the real queue
/// (create, claim, finish) without running the pipeline; it ends at
/// `finished_ms`, with the no-retain expiry `expire_ms`.
async fn finished_job(
    app: &TestApp,
    user: &User,
    upload_id: &str,
    finished_ms: i64,
    expire_ms: Option<i64>,
) -> String {
    let id = user.job_id(upload_id).await;
    let state = app.state();
    let now = vidmocap::db::now_ms();
    let job = state
        .db
        .claim_job("sweep-test", now, now + 30_000)
        .await
        .unwrap()
        .expect("the job just queued");
    assert_eq!(job.id, id);
    let key = format!("accounts/{}/jobs/{id}/outputs/motion.glb", user.id);
    state
        .store
        .put_bytes(&key, b"glTF".to_vec(), "model/gltf-binary")
        .await
        .unwrap();
    let outputs =
        json!([{"name": "motion.glb", "key": key, "size": 4, "content_type": "model/gltf-binary"}]);
    let finish = Finish::Succeeded {
        report_json: "{}".into(),
        outputs_json: outputs.to_string(),
        outputs_expire_ms: expire_ms,
    };
    assert!(state
        .db
        .finish_job(&job, "sweep-test", &finish, finished_ms)
        .await
        .unwrap());
    id
}

struct Probe<'a> {
    app: &'a TestApp,
}

impl Probe<'_> {
    async fn upload_kept(&self, user: &User, id: &str) -> bool {
        let u = user.get_json(&format!("/v1/uploads/{id}")).await;
        let key = format!("accounts/{}/uploads/{id}/input", user.id);
        let stored = self.app.state().store.head(&key).await.unwrap().is_some();
        assert_eq!(
            stored,
            u["deleted_ms"].is_null(),
            "store and API agree: {u}"
        );
        stored
    }

    async fn outputs_kept(&self, user: &User, job: &str) -> bool {
        let r = user
            .get(&format!("/v1/jobs/{job}/outputs"))
            .send()
            .await
            .unwrap();
        let listed = match r.status() {
            StatusCode::OK => true,
            _ => {
                assert_error(r, StatusCode::GONE, "job.outputs_deleted").await;
                false
            }
        };
        let view = user.job(job).await;
        assert_eq!(listed, view["outputs_deleted_ms"].is_null(), "{view}");
        let left = self
            .app
            .state()
            .store
            .list(&format!("accounts/{}/jobs/{job}/", user.id))
            .await
            .unwrap();
        assert_eq!(listed, !left.is_empty(), "store and API agree: {left:?}");
        listed
    }
}

async fn sweep_deletes_what_is_due(backend: Backend) {
    // The service default for outputs is 10 days here; accounts override it.
    let app = TestApp::start_with(backend, 0, |s| s.output_retention_days = Some(10)).await;
    let clips = tempfile::tempdir().unwrap();
    let clip = tiny_clip(clips.path(), "clip.mp4", 1);
    let t0 = vidmocap::db::now_ms();

    // plain: the defaults (uploads 30 days, outputs 10 days).
    let plain = app.signup("plain@example.com").await;
    // keeper: uploads 30 days, outputs kept.
    let keeper = app.signup("keeper@example.com").await;
    set_retention(
        &keeper,
        json!({"upload_retention_days": 30, "output_retention_days": null, "no_retain": false}),
    )
    .await;
    // brief: uploads 2 days, outputs 7 days.
    let brief = app.signup("brief@example.com").await;
    set_retention(
        &brief,
        json!({"upload_retention_days": 2, "output_retention_days": 7, "no_retain": false}),
    )
    .await;
    // none: no-retain; its job's outputs expire 24 h after it ends.
    let none = app.signup("none@example.com").await;
    set_retention(
        &none,
        json!({"upload_retention_days": 30, "output_retention_days": null, "no_retain": true}),
    )
    .await;
    for u in [&plain, &keeper, &brief, &none] {
        app.grant(&u.email, 100);
    }
    let (plain_up, keeper_up, brief_up, brief_busy_up, none_up) = (
        plain.upload_id(&clip).await,
        keeper.upload_id(&clip).await,
        brief.upload_id(&clip).await,
        brief.upload_id(&clip).await,
        none.upload_id(&clip).await,
    );
    let plain_job = finished_job(&app, &plain, &plain_up, t0, None).await;
    let keeper_job = finished_job(&app, &keeper, &keeper_up, t0, None).await;
    let brief_job = finished_job(&app, &brief, &brief_up, t0, None).await;
    let none_expiry = vidmocap::service::retention::no_retain_expiry(&app.svc, t0);
    assert_eq!(none_expiry, t0 + 24 * HOUR_MS);
    let none_job = finished_job(&app, &none, &none_up, t0, Some(none_expiry)).await;
    // A queued job still needs this upload, so it is not due while queued.
    let busy_job = brief.job_id(&brief_busy_up).await;

    let p = Probe { app: &app };
    let uploads = [
        (&plain, &plain_up),
        (&keeper, &keeper_up),
        (&brief, &brief_up),
        (&brief, &brief_busy_up),
        (&none, &none_up),
    ];
    let jobs = [
        (&plain, &plain_job),
        (&keeper, &keeper_job),
        (&brief, &brief_job),
        (&none, &none_job),
    ];
    // Each step: the sweep as of t0 + offset, what it reports, and which
    // uploads and outputs are still there afterwards (in the order above).
    let steps: [(i64, Swept, [bool; 5], [bool; 4]); 6] = [
        // Nothing is due an hour on.
        (
            HOUR_MS,
            Swept {
                uploads: 0,
                outputs: 0,
            },
            [true; 5],
            [true; 4],
        ),
        // The no-retain job's outputs expire after 24 hours.
        (
            25 * HOUR_MS,
            Swept {
                uploads: 0,
                outputs: 1,
            },
            [true; 5],
            [true, true, true, false],
        ),
        // brief's 2-day upload goes, but not the one its queued job needs.
        (
            3 * DAY_MS,
            Swept {
                uploads: 1,
                outputs: 0,
            },
            [true, true, false, true, true],
            [true, true, true, false],
        ),
        // brief's 7-day outputs.
        (
            8 * DAY_MS,
            Swept {
                uploads: 0,
                outputs: 1,
            },
            [true, true, false, true, true],
            [true, true, false, false],
        ),
        // plain's outputs at the service's 10 days; keeper keeps its own.
        (
            11 * DAY_MS,
            Swept {
                uploads: 0,
                outputs: 1,
            },
            [true, true, false, true, true],
            [false, true, false, false],
        ),
        // Every 30-day upload; still not the busy one; keeper's outputs stay.
        (
            31 * DAY_MS,
            Swept {
                uploads: 3,
                outputs: 0,
            },
            [false, false, false, true, false],
            [false, true, false, false],
        ),
    ];
    for (offset, want, uploads_left, outputs_left) in steps {
        let at = format!("t0 + {} h", offset / HOUR_MS);
        let swept = sweep_at(app.state(), t0 + offset).await.unwrap();
        assert_eq!(swept, want, "{at}");
        for ((user, id), kept) in uploads.iter().zip(uploads_left) {
            assert_eq!(p.upload_kept(user, id).await, kept, "{at}: upload {id}");
        }
        for ((user, id), kept) in jobs.iter().zip(outputs_left) {
            assert_eq!(
                p.outputs_kept(user, id).await,
                kept,
                "{at}: outputs of {id}"
            );
        }
        // Sweeping again at the same moment finds nothing more.
        assert_eq!(
            sweep_at(app.state(), t0 + offset).await.unwrap(),
            Swept::default(),
            "{at}"
        );
    }
    // Once its job is canceled, the busy upload is due too.
    brief.cancel(&busy_job).await;
    let swept = sweep_at(app.state(), t0 + 31 * DAY_MS).await.unwrap();
    assert_eq!(
        swept,
        Swept {
            uploads: 1,
            outputs: 0
        }
    );
    assert!(!p.upload_kept(&brief, &brief_busy_up).await);
    assert!(p.outputs_kept(&keeper, &keeper_job).await);
    // The tracks of a job whose outputs are gone cannot be re-solved.
    let r = brief
        .post_json(&format!("/v1/jobs/{brief_job}/resolve"), &json!({}))
        .await;
    assert_error(r, StatusCode::GONE, "job.outputs_deleted").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sweep_deletes_what_is_due_sqlite() {
    sweep_deletes_what_is_due(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sweep_deletes_what_is_due_postgres() {
    sweep_deletes_what_is_due(Backend::Postgres).await;
}

// ------------------------------------------------------------ no-retain

/// Where the store keeps an object, as a file: the local store's folder,
/// or the folder s3s-fs keeps the bucket in.
type OnDisk = Box<dyn Fn(&str) -> PathBuf>;

async fn no_retain_upload_goes_after_decoding(app: TestApp, on_disk: OnDisk) {
    // The worker stops right after decoding (and the no-retain deletion)
    // until the test has looked.
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel::<String>();
    let release = Arc::new(tokio::sync::Notify::new());
    let release_hook = release.clone();
    let hook = hooks::hook(move |job_id| {
        let seen_tx = seen_tx.clone();
        let release = release_hook.clone();
        async move {
            seen_tx.send(job_id).unwrap();
            release.notified().await;
        }
    });
    assert!(app.state().hooks.after_decode.set(hook).is_ok());

    let user = app.funded("private@example.com", 100).await;
    set_retention(
        &user,
        json!({"upload_retention_days": 30, "output_retention_days": null, "no_retain": true}),
    )
    .await;
    let clips = tempfile::tempdir().unwrap();
    let upload_id = user.upload_id(&short_walk(clips.path())).await;
    let key = format!("accounts/{}/uploads/{upload_id}/input", user.id);
    let file = on_disk(&key);
    assert!(file.is_file(), "the upload is stored at {}", file.display());

    // keep_upload is true: no-retain overrides it.
    let job_id = user
        .job_with(&json!({"upload_id": upload_id, "outputs": ["glb"], "keep_upload": true}))
        .await;
    let held = tokio::time::timeout(Duration::from_secs(300), seen.recv())
        .await
        .expect("the job decoded its video within 5 minutes")
        .unwrap();
    assert_eq!(held, job_id);

    // Held after decoding: the job runs, the upload is gone.
    let job = user.job(&job_id).await;
    assert_eq!(job["state"], "running", "{job}");
    assert!(job["finished_ms"].is_null(), "{job}");
    assert!(!file.exists(), "{} still stored", file.display());
    assert!(app.state().store.head(&key).await.unwrap().is_none());
    let u = user.get_json(&format!("/v1/uploads/{upload_id}")).await;
    assert!(u["deleted_ms"].is_i64(), "{u}");
    assert!(u["deleted_ms"].as_i64().unwrap() >= job["started_ms"].as_i64().unwrap());

    release.notify_one();
    let done = user.wait_job(&job_id, Duration::from_secs(300)).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let finished = done["finished_ms"].as_i64().unwrap();
    assert!(finished >= u["deleted_ms"].as_i64().unwrap());
    assert_eq!(done["outputs_expire_ms"], finished + 24 * HOUR_MS, "{done}");
    let r = user
        .get(&format!("/v1/jobs/{job_id}/outputs"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let outputs: Value = r.json().await.unwrap();
    let glb = outputs["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "motion.glb")
        .expect("motion.glb stored");
    let glb_file = on_disk(&format!(
        "accounts/{}/jobs/{job_id}/outputs/motion.glb",
        user.id
    ));
    assert!(glb_file.is_file(), "{glb}");

    // Not due a minute before the expiry; gone at it.
    let early = sweep_at(app.state(), finished + 24 * HOUR_MS - 60_000)
        .await
        .unwrap();
    assert_eq!(early, Swept::default());
    assert!(glb_file.is_file());
    let swept = sweep_at(app.state(), finished + 24 * HOUR_MS)
        .await
        .unwrap();
    assert_eq!(
        swept,
        Swept {
            uploads: 0,
            outputs: 1
        }
    );
    assert!(!glb_file.exists());
    let (s, code) = error_code(
        user.get(&format!("/v1/jobs/{job_id}/outputs"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::GONE, "job.outputs_deleted")
    );
    let mut app = app;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_retain_local_store_sqlite() {
    let app = TestApp::start(Backend::Sqlite, 1).await;
    let root = app.svc.store.local_dir.clone();
    no_retain_upload_goes_after_decoding(app, Box::new(move |key| root.join(key))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_retain_s3_store_postgres() {
    let s3 = s3::S3Server::start();
    let store = s3.store_config();
    let app = TestApp::start_with(Backend::Postgres, 1, move |s| s.store = store).await;
    let bucket = s3.root().join(&s3.bucket);
    no_retain_upload_goes_after_decoding(app, Box::new(move |key| bucket.join(key))).await;
    drop(s3);
}

// ------------------------------------------------------ account deletion

async fn deletion_keeps_billing(backend: Backend) {
    let app = TestApp::start(backend, 0).await;
    let user = app.funded("leaving@example.com", 40).await;
    let clips = tempfile::tempdir().unwrap();
    let upload = user.upload_id(&tiny_clip(clips.path(), "c.mp4", 1)).await;
    user.cancel(&user.job_id(&upload).await).await;
    let before = app.state().db.ledger(&user.id).await.unwrap();
    let kinds: Vec<&str> = before.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["grant", "reserve", "release"]);

    assert_eq!(
        user.delete("/v1/account").send().await.unwrap().status(),
        StatusCode::OK
    );
    let db = &app.state().db;
    assert!(db.account(&user.id).await.unwrap().is_none());
    assert!(db.account_by_email(&user.email).await.unwrap().is_none());
    assert!(db.list_uploads(&user.id).await.unwrap().is_empty());
    assert!(db.all_jobs(&user.id).await.unwrap().is_empty());
    let after = db.ledger(&user.id).await.unwrap();
    let kept: Vec<(String, i64, i64)> = after
        .iter()
        .map(|e| (e.kind.clone(), e.amount, e.created_ms))
        .collect();
    let was: Vec<(String, i64, i64)> = before
        .iter()
        .map(|e| (e.kind.clone(), e.amount, e.created_ms))
        .collect();
    assert_eq!(kept, was, "the ledger outlives the account");
    // Nothing that is kept names the person.
    for e in &after {
        let text = serde_json::to_string(e).unwrap();
        assert!(!text.contains("leaving@"), "{text}");
    }
    // The same email signs up afresh, with none of the old records.
    let again = app.signup("leaving@example.com").await;
    assert_ne!(again.id, user.id);
    assert!(again.ledger().await["entries"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn account_deletion_keeps_billing_records_sqlite() {
    deletion_keeps_billing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn account_deletion_keeps_billing_records_postgres() {
    deletion_keeps_billing(Backend::Postgres).await;
}
