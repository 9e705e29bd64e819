//! The fleet shape: the API alone (no in-process workers) and a separate
//! `vidmocap worker` process, sharing PostgreSQL and a real S3-compatible
//! server (`s3s-fs`, which checks every SigV4 signature). The video goes
//! straight to S3 through a presigned PUT, the worker runs the job, the
//! outputs come back through presigned S3 links, a tampered or expired
//! link is refused by S3 itself, and the credits are charged once.
//!
//! The worker is configured through a `vidmocap.toml` passed with
//! `--config`, the way a deployment would.

#[path = "support/s3.rs"]
mod s3;
#[path = "support/service.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{media, Backend, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn api_and_worker_processes_share_postgres_and_s3() {
    let s3 = s3::S3Server::start();
    let store = s3.store_config();
    let store_for_app = store.clone();
    let app = TestApp::start_with(Backend::Postgres, 0, move |s| s.store = store_for_app).await;
    let user = app.signup("fleet@example.com").await;
    app.grant(&user.email, 100);

    // Upload: presigned PUT straight to S3, then `complete`.
    let ticket: Value = user
        .post("/v1/uploads/presign")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let put_url = ticket["put"]["url"].as_str().unwrap();
    assert!(put_url.starts_with(&s3.endpoint), "{put_url}");
    let mut put = app
        .http
        .put(put_url)
        .body(std::fs::read(media("walk_outdoor.mp4")).unwrap());
    for h in ticket["put"]["headers"].as_array().unwrap() {
        put = put.header(h[0].as_str().unwrap(), h[1].as_str().unwrap());
    }
    let r = put.send().await.unwrap();
    assert!(
        r.status().is_success(),
        "PUT to S3: {}",
        r.text().await.unwrap()
    );
    let id = ticket["upload_id"].as_str().unwrap();
    let r = user
        .post(&format!("/v1/uploads/{id}/complete"))
        .json(&json!({"filename": "walk_outdoor.mp4"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let price = r.json::<Value>().await.unwrap()["price"].as_i64().unwrap();

    let r = user.create_job(id, None).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let job_id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // The worker process, configured by file.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vidmocap.toml");
    let mut svc = app.svc.clone();
    svc.store = store;
    let toml = toml::to_string(&json!({ "service": serde_json::to_value(&svc).unwrap() })).unwrap();
    std::fs::write(&config, toml).unwrap();
    let mut worker = Command::new(env!("CARGO_BIN_EXE_vidmocap"))
        .arg("--config")
        .arg(&config)
        .arg("worker")
        .env_remove("VIDMOCAP_DATABASE_URL")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let done = user.wait_job(&job_id, Duration::from_secs(240)).await;
    worker.kill().unwrap();
    worker.wait().unwrap();
    assert_eq!(done["state"], "succeeded", "{done}");

    let outputs: Value = user
        .get(&format!("/v1/jobs/{job_id}/outputs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let glb = outputs["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "motion.glb")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(glb.starts_with(&s3.endpoint), "{glb}");
    let body = app.http.get(&glb).send().await.unwrap();
    assert_eq!(body.status(), StatusCode::OK);
    assert_eq!(&body.bytes().await.unwrap()[..4], b"glTF");
    let tampered = glb.replace("motion.glb", "keypoints.json");
    assert_eq!(
        app.http.get(&tampered).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let short: Value = user
        .get(&format!("/v1/jobs/{job_id}/outputs?expires_secs=1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let short = short["outputs"][0]["url"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(
        app.http.get(&short).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );

    let ledger = user.ledger().await;
    let kinds: Vec<&str> = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["job_id"] == job_id.as_str())
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["reserve", "charge"]);
    assert_eq!(ledger["balance"], 100 - price);

    // Deleting the account empties its prefix in S3.
    assert_eq!(
        user.delete("/v1/account").send().await.unwrap().status(),
        StatusCode::OK
    );
    let left = app
        .state()
        .store
        .list(&format!("accounts/{}/", user.id))
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
}
