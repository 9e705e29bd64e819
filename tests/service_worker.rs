//! A worker killed in the middle of a job, on PostgreSQL: the real
//! `vidmocap worker` binary claims the job, is killed (SIGKILL) while the
//! pipeline runs, the job's short lease runs out, a second worker process
//! requeues and completes it, and the credits are charged exactly once.
//! Also: a running job is canceled through the API and its credits come back;
//! a finished job's tracks are listed with thumbnails and re-solved for
//! another person by a worker that has no model files at all.

#[path = "support/service.rs"]
mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use support::{media, Backend, TestApp, User};

fn spawn_worker(app: &TestApp) -> Child {
    worker_command(app).spawn().expect("start vidmocap worker")
}

fn worker_command(app: &TestApp) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vidmocap"));
    cmd.arg("worker")
        .env("VIDMOCAP_DATABASE_URL", &app.db.url)
        .env("VIDMOCAP_STORE_DIR", &app.svc.store.local_dir)
        .env("VIDMOCAP_LEASE_SECS", app.svc.lease_secs.to_string())
        .env("VIDMOCAP_LOG", "vidmocap=info")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    cmd
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
    // The two files asked for, and the tracks kept for a re-solve.
    let names: Vec<&str> = outputs["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    let motion: Vec<&&str> = names.iter().filter(|n| !n.starts_with("track")).collect();
    assert_eq!(motion, [&"motion.glb", &"keypoints.json"], "{outputs}");
    assert!(names.contains(&"tracks.json"), "{outputs}");
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

/// The job's picture (`GET /v1/jobs/{id}/thumbnail`, redirects followed),
/// or `None` when it answers 404 `job.no_thumbnail`.
async fn job_picture(user: &User, job: &str) -> Option<Vec<u8>> {
    let r = user
        .get(&format!("/v1/jobs/{job}/thumbnail"))
        .send()
        .await
        .unwrap();
    if r.status() == StatusCode::NOT_FOUND {
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "job.no_thumbnail", "{body}");
        return None;
    }
    assert_eq!(r.status(), StatusCode::OK);
    Some(r.bytes().await.unwrap().to_vec())
}

/// A finished job keeps every person: its tracks route lists both people
/// of two_people.mp4 with thumbnails, and a re-solve job for the other one
/// is charged the re-solve fee once and runs on a worker whose models
/// folder is empty, so it cannot have loaded a model.
#[tokio::test(flavor = "multi_thread")]
async fn tracks_are_kept_and_resolved_without_models() {
    let app = TestApp::start(Backend::Postgres, 0).await;
    let user = app.signup("tracks@example.com").await;
    app.grant(&user.email, 100);
    let upload = user.upload_ok(&media("two_people.mp4")).await;
    let r = user
        .post("/v1/jobs")
        .json(&serde_json::json!({
            "upload_id": upload["id"], "quality": "fast", "outputs": ["glb", "keypoints"]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let first: Value = r.json().await.unwrap();
    let first_id = first["id"].as_str().unwrap();
    let mut with_models = spawn_worker(&app);
    let done = wait_for(&user, first_id, "the first job", |j| {
        matches!(j["state"].as_str(), Some("succeeded" | "failed"))
    })
    .await;
    with_models.kill().unwrap();
    with_models.wait().unwrap();
    assert_eq!(done["state"], "succeeded", "{done}");

    let tracks: Value = user
        .get(&format!("/v1/jobs/{first_id}/tracks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = tracks["tracks"].as_array().expect("a track list");
    assert!(list.len() >= 2, "both people are listed: {tracks}");
    let followed: Vec<&Value> = list.iter().filter(|t| t["followed"] == true).collect();
    assert_eq!(followed.len(), 1, "one track is the solved one: {tracks}");
    let mut pictures = std::collections::BTreeMap::new();
    for t in list {
        let url = t["thumbnail_url"]
            .as_str()
            .expect("each track has a thumbnail");
        let url = if url.starts_with('/') {
            app.url(url)
        } else {
            url.to_string()
        };
        let r = reqwest::get(&url).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let bytes = r.bytes().await.unwrap();
        assert_eq!(&bytes[..2], &[0xFF, 0xD8], "a JPEG");
        pictures.insert(t["id"].as_u64().unwrap(), bytes);
    }
    // The job list's picture is the solved person's.
    let solved = followed[0]["id"].as_u64().unwrap();
    assert_eq!(
        job_picture(&user, first_id).await.as_deref(),
        Some(&pictures[&solved][..]),
        "the first job's picture is the person it solved"
    );
    let other = list
        .iter()
        .filter(|t| t["followed"] == false)
        .max_by_key(|t| t["frames"].as_u64())
        .unwrap()["id"]
        .as_u64()
        .unwrap();

    let before = user.available().await;
    let r = user
        .post(&format!("/v1/jobs/{first_id}/resolve"))
        .json(&serde_json::json!({"person": other.to_string(), "outputs": ["bvh", "keypoints"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let second: Value = r.json().await.unwrap();
    assert_eq!(second["price"], 1, "the re-solve fee, not the clip's price");
    let second_id = second["id"].as_str().unwrap();
    assert_eq!(
        job_picture(&user, second_id).await,
        None,
        "no picture while queued"
    );

    let no_models = tempfile::tempdir().unwrap();
    let mut without_models = worker_command(&app)
        .env("VIDMOCAP_MODELS_DIR", no_models.path())
        // The user configuration (scripts/record-paths.sh) names the real
        // models folder; this worker must not see it.
        .env("XDG_CONFIG_HOME", no_models.path())
        .env("HOME", no_models.path())
        .spawn()
        .unwrap();
    let resolved = wait_for(&user, second_id, "the re-solve", |j| {
        matches!(j["state"].as_str(), Some("succeeded" | "failed"))
    })
    .await;
    without_models.kill().unwrap();
    without_models.wait().unwrap();
    assert_eq!(resolved["state"], "succeeded", "{resolved}");
    assert_eq!(resolved["metadata"]["followed_track"], other);
    let names: Vec<&str> = resolved["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"motion.bvh") && names.contains(&"keypoints.json"),
        "{names:?}"
    );
    assert_eq!(user.available().await, before - 1, "charged the fee once");
    assert_eq!(
        job_picture(&user, second_id).await.as_deref(),
        Some(&pictures[&other][..]),
        "the re-solve's picture is the person it solved"
    );

    // A person the job never saw: the re-solve fails in plain words and
    // its fee comes back.
    let r = user
        .post(&format!("/v1/jobs/{first_id}/resolve"))
        .json(&serde_json::json!({"person": "999"}))
        .send()
        .await
        .unwrap();
    let bad: Value = r.json().await.unwrap();
    let mut worker = spawn_worker(&app);
    let failed = wait_for(
        &user,
        bad["id"].as_str().unwrap(),
        "the bad re-solve",
        |j| matches!(j["state"].as_str(), Some("succeeded" | "failed")),
    )
    .await;
    worker.kill().unwrap();
    worker.wait().unwrap();
    assert_eq!(
        failed["error"]["code"], "pipeline.unknown_person",
        "{failed}"
    );
    assert_eq!(
        user.available().await,
        before - 1,
        "a failed re-solve is refunded"
    );
}
