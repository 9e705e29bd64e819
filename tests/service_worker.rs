//! A worker killed in the middle of a job, on PostgreSQL: the real
//! `vidmocap worker` binary claims the job, is killed (SIGKILL) while the
//! pipeline runs, the job's short lease runs out, a second worker process
//! requeues and completes it, and the credits are charged exactly once.
//! Also: a running job is canceled through the API and its credits come back.

#[path = "support/service.rs"]
mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use support::{media, Backend, TestApp, User};

fn spawn_worker(app: &TestApp) -> Child {
    Command::new(env!("CARGO_BIN_EXE_vidmocap"))
        .arg("worker")
        .env("VIDMOCAP_DATABASE_URL", &app.db.url)
        .env("VIDMOCAP_STORE_DIR", &app.svc.store.local_dir)
        .env("VIDMOCAP_LEASE_SECS", app.svc.lease_secs.to_string())
        .env("VIDMOCAP_LOG", "vidmocap=info")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start vidmocap worker")
}

/// Polls the job until `pred` holds.
async fn wait_for(user: &User, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let job: Value = user
            .get(&format!("/v1/jobs/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if pred(&job) {
            return job;
        }
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "waiting for {what}: {job}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_worker_job_is_requeued_and_charged_once() {
    // No in-process workers: only the spawned processes run jobs.
    let app = TestApp::start_with(Backend::Postgres, 0, |s| s.lease_secs = 3).await;
    let user = app.signup("crash@example.com").await;
    app.grant(&user.email, 100);
    let upload = user.upload_ok(&media("walk_outdoor.mp4")).await;
    let price = upload["price"].as_i64().unwrap();
    let r = user.create_job(upload["id"].as_str().unwrap(), None).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let job_id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let mut first = spawn_worker(&app);
    let running = wait_for(&user, &job_id, "progress", |j| {
        j["state"] == "running" && j["progress"]["frames_done"].as_i64().unwrap_or(0) > 0
    })
    .await;
    assert_eq!(running["attempts"], 1);
    first.kill().unwrap();
    first.wait().unwrap();

    // Nobody holds it now; it stays running until the lease runs out.
    let killed_at = Instant::now();
    let mut second = spawn_worker(&app);
    let requeued = wait_for(&user, &job_id, "the second attempt", |j| j["attempts"] == 2).await;
    assert!(
        killed_at.elapsed() >= Duration::from_secs(1),
        "requeued only after the lease ran out: {requeued}"
    );
    let done = user.wait_job(&job_id, Duration::from_secs(240)).await;
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["attempts"], 2);

    let ledger = user.ledger().await;
    let kinds: Vec<&str> = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["job_id"] == job_id.as_str())
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["reserve", "charge"], "charged exactly once");
    assert_eq!(ledger["balance"], 100 - price);
    assert_eq!(ledger["reserved"], 0);
    let outputs: Value = user
        .get(&format!("/v1/jobs/{job_id}/outputs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(outputs["outputs"].as_array().unwrap().len(), 2, "{outputs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_reaches_a_running_job() {
    let app = TestApp::start(Backend::Sqlite, 1).await;
    let user = app.signup("stop@example.com").await;
    app.grant(&user.email, 100);
    let upload = user.upload_ok(&media("walk_outdoor.mp4")).await;
    let upload_id = upload["id"].as_str().unwrap().to_string();
    // keep_upload = false: the video goes once the job is over.
    let r = user
        .post("/v1/jobs")
        .json(&serde_json::json!({"upload_id": upload_id, "keep_upload": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let job_id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for(&user, &job_id, "progress", |j| {
        j["state"] == "running" && j["progress"]["frames_done"].as_i64().unwrap_or(0) > 0
    })
    .await;
    let r = user
        .post(&format!("/v1/jobs/{job_id}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let done = user.wait_job(&job_id, Duration::from_secs(60)).await;
    assert_eq!(done["state"], "canceled", "{done}");
    assert_eq!(done["error"]["code"], "job.canceled");
    assert_eq!(user.available().await, 100, "a canceled job costs nothing");
    let kinds: Vec<String> = user.ledger().await["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["grant", "reserve", "release"]);

    let start = Instant::now();
    loop {
        let u: Value = user
            .get(&format!("/v1/uploads/{upload_id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if !u["deleted_ms"].is_null() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "upload kept: {u}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let key = format!("accounts/{}/uploads/{upload_id}/input", user.id);
    assert!(app.state().store.head(&key).await.unwrap().is_none());
}

/// Graceful shutdown stops the running job and hands it back to the queue
/// without counting the attempt; its credits stay reserved for the rerun.
#[tokio::test(flavor = "multi_thread")]
async fn shutdown_hands_back_the_running_job() {
    let mut app = TestApp::start(Backend::Sqlite, 1).await;
    let user = app.signup("bye@example.com").await;
    app.grant(&user.email, 100);
    let upload = user.upload_ok(&media("walk_outdoor.mp4")).await;
    let price = upload["price"].as_i64().unwrap();
    let r = user.create_job(upload["id"].as_str().unwrap(), None).await;
    let job_id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for(&user, &job_id, "progress", |j| {
        j["state"] == "running" && j["progress"]["frames_done"].as_i64().unwrap_or(0) > 0
    })
    .await;
    let state = app.state().clone();
    let started = Instant::now();
    app.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "shutdown is prompt"
    );
    let job = state.db.job(&user.id, &job_id).await.unwrap().unwrap();
    assert_eq!(job.state, "queued");
    assert_eq!(job.attempts, 0);
    let account = state.db.account(&user.id).await.unwrap().unwrap();
    assert_eq!((account.balance, account.reserved), (100, price));
}
