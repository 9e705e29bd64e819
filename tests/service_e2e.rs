//! End to end through the job service, on SQLite and on PostgreSQL: sign
//! up, grant credits with the real `vidmocap admin` command, upload
//! `walk_outdoor.mp4`, create a job, follow its progress over Server-Sent
//! Events until it is done, download the GLB and keypoints through the
//! presigned links, and see the credits charged exactly once. The same run
//! then checks the authorisation matrix (a second account guessing ids
//! gets nothing, tampered or expired links are refused), the data export,
//! and deleting the job and the account with their objects.
//!
//! Real parts throughout: the app on port 0, a fresh database, the local
//! store, ffmpeg and the ONNX models (`VIDMOCAP_MEDIA_DIR`,
//! `VIDMOCAP_MODELS_DIR`, `ORT_DYLIB_PATH`).

#[path = "support/service.rs"]
mod support;

use std::io::Read;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use support::{assert_error, error_code, kinds_of, media, output_link, Backend, TestApp, User};

/// Reads the job's event stream to its end; returns `(event, data)` pairs.
async fn follow_events(user: &User, job_id: &str) -> Vec<(String, Value)> {
    let mut resp = user
        .get(&format!("/v1/jobs/{job_id}/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let started = Instant::now();
    let mut buf = String::new();
    let mut events = Vec::new();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(300), resp.chunk())
        .await
        .expect("events keep coming")
        .unwrap()
    {
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut name = String::from("message");
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim());
                }
            }
            if !data.is_empty() {
                events.push((name, serde_json::from_str(&data).unwrap()));
            }
        }
        assert!(started.elapsed() < Duration::from_secs(300));
    }
    events
}

async fn end_to_end(backend: Backend) {
    let app = TestApp::start(backend, 1).await;
    let alice = app.funded("alice@example.com", 100).await;
    let bob = app.funded("bob@example.com", 100).await;

    // Upload as a multipart form, the way a browser sends it.
    let bytes = std::fs::read(media("walk_outdoor.mp4")).unwrap();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes.clone()).file_name("walk_outdoor.mp4"),
    );
    let r = alice
        .post("/v1/uploads")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let upload: Value = r.json().await.unwrap();
    let upload_id = upload["id"].as_str().unwrap().to_string();
    assert_eq!(upload["filename"], "walk_outdoor.mp4");
    assert_eq!(upload["size_bytes"], bytes.len() as i64);
    let price = upload["price"].as_i64().unwrap();
    let duration = upload["duration_s"].as_f64().unwrap();
    assert_eq!(price, (duration * app.svc.credits_per_second).ceil() as i64);

    let r = alice.create_job(&upload_id, Some("walk-1")).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let job: Value = r.json().await.unwrap();
    let job_id = job["id"].as_str().unwrap().to_string();
    assert_eq!(alice.available().await, 100 - price);

    let events = follow_events(&alice, &job_id).await;
    let (last_name, last) = events.last().expect("at least the done event");
    assert_eq!(last_name, "done");
    assert_eq!(last["state"], "succeeded", "{last}");
    assert!(
        events.iter().any(|(n, e)| n == "progress"
            && e["state"] == "running"
            && e["progress"]["frames_done"].as_i64().unwrap_or(0) > 0),
        "live progress with frame counts: {events:?}"
    );

    // Metadata kept with the job.
    let job = alice.job(&job_id).await;
    let meta = &job["metadata"];
    assert_eq!(meta["input"]["size_bytes"], bytes.len() as u64);
    assert_eq!(meta["input"]["width"], 1768);
    assert!(meta["input"]["fps"].as_f64().unwrap() > 20.0);
    assert!(meta["frames_with_pose"].as_u64().unwrap() > 100, "{meta}");
    assert!(!meta["timings"].as_array().unwrap().is_empty());
    assert!(job["error"].is_null());

    // Outputs through presigned links.
    let outputs = alice.get_json(&format!("/v1/jobs/{job_id}/outputs")).await;
    let glb_url = output_link(&outputs, "motion.glb");
    let glb = app.http.get(&glb_url).send().await.unwrap();
    assert_eq!(glb.status(), StatusCode::OK);
    let glb = glb.bytes().await.unwrap();
    assert_eq!(&glb[..4], b"glTF");
    let kp: Value = app
        .http
        .get(output_link(&outputs, "keypoints.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(kp.is_object());

    // Charged exactly once: one reserve, one charge, no release.
    let ledger = alice.ledger().await;
    assert_eq!(kinds_of(&ledger, &job_id), ["reserve", "charge"]);
    assert_eq!(ledger["balance"], 100 - price);
    assert_eq!(ledger["reserved"], 0);
    // A retry with the same key returns the same job, not a second charge.
    let r = alice.create_job(&upload_id, Some("walk-1")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(alice.available().await, 100 - price);

    // Authorisation matrix: Bob guessing Alice's ids gets 404 everywhere.
    for path in [
        format!("/v1/uploads/{upload_id}"),
        format!("/v1/jobs/{job_id}"),
        format!("/v1/jobs/{job_id}/outputs"),
        format!("/v1/jobs/{job_id}/events"),
    ] {
        let (s, code) = error_code(bob.get(&path).send().await.unwrap()).await;
        assert_eq!(
            (s, code.as_str()),
            (StatusCode::NOT_FOUND, "not_found"),
            "GET {path}"
        );
    }
    let (s, _) = error_code(
        bob.post(&format!("/v1/jobs/{job_id}/cancel"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = error_code(
        bob.delete(&format!("/v1/jobs/{job_id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = error_code(
        bob.delete(&format!("/v1/uploads/{upload_id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = error_code(bob.create_job(&upload_id, None).await).await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "Bob cannot run a job on Alice's upload"
    );
    let listed = bob.get_json("/v1/jobs").await;
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 0);
    let listed = bob.get_json("/v1/uploads").await;
    assert_eq!(listed["uploads"].as_array().unwrap().len(), 0);
    assert_eq!(bob.available().await, 100, "Bob's credits untouched");
    // Alice's things are all still there.
    assert_eq!(
        alice
            .get(&format!("/v1/jobs/{job_id}"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    // Tampered links: another signature, another key, another method, a
    // later expiry; and a link that has expired.
    let tampered_sig = {
        let (head, sig) = glb_url.rsplit_once("sig=").unwrap();
        let sig = &sig[..64];
        let flipped = if sig.starts_with('0') { "1" } else { "0" };
        format!("{head}sig={flipped}{}", &sig[1..])
    };
    let other_key = glb_url.replace("motion.glb", "keypoints.json");
    let other_method = glb_url.replace("method=GET", "method=PUT");
    let exp: i64 = glb_url
        .split("exp=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let later = glb_url.replace(&format!("exp={exp}"), &format!("exp={}", exp + 1000));
    let other_account = glb_url.replace(&alice.id, &bob.id);
    for url in [
        &tampered_sig,
        &other_key,
        &other_method,
        &later,
        &other_account,
    ] {
        let (s, code) = error_code(app.http.get(url).send().await.unwrap()).await;
        assert_eq!(
            (s, code.as_str()),
            (StatusCode::FORBIDDEN, "store.bad_signature"),
            "{url}"
        );
    }
    let short = alice
        .get_json(&format!("/v1/jobs/{job_id}/outputs?expires_secs=1"))
        .await;
    let short_url = short["outputs"][0]["url"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_error(
        app.http.get(&short_url).send().await.unwrap(),
        StatusCode::FORBIDDEN,
        "store.expired",
    )
    .await;

    // Export: account, ledger, jobs and the outputs in one zip.
    let zip = alice.get("/v1/account/export").send().await.unwrap();
    assert_eq!(zip.status(), StatusCode::OK);
    let zip = zip.bytes().await.unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.to_vec())).unwrap();
    let names: Vec<String> = archive.file_names().map(str::to_string).collect();
    for want in ["account.json", "ledger.json", "jobs.json", "uploads.json"] {
        assert!(names.contains(&want.to_string()), "{names:?}");
    }
    let mut exported_glb = Vec::new();
    archive
        .by_name(&format!("outputs/{job_id}/motion.glb"))
        .unwrap()
        .read_to_end(&mut exported_glb)
        .unwrap();
    assert_eq!(exported_glb, glb.to_vec());

    // Deleting the job removes its outputs.
    let r = alice
        .delete(&format!("/v1/jobs/{job_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let objects = app
        .state()
        .store
        .list(&format!("accounts/{}/jobs/", alice.id))
        .await
        .unwrap();
    assert!(objects.is_empty(), "{objects:?}");
    assert_eq!(
        app.state()
            .store
            .list(&format!("accounts/{}/", alice.id))
            .await
            .unwrap()
            .len(),
        1,
        "the upload remains"
    );

    // Deleting the account removes every object and row it owned but the
    // billing records (issue 15): the ledger stays, without the email.
    let ledger_before = app.state().db.ledger(&alice.id).await.unwrap();
    assert!(!ledger_before.is_empty());
    let r = alice.delete("/v1/account").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(app
        .state()
        .store
        .list(&format!("accounts/{}/", alice.id))
        .await
        .unwrap()
        .is_empty());
    assert!(app.state().db.account(&alice.id).await.unwrap().is_none());
    let ledger_after = app.state().db.ledger(&alice.id).await.unwrap();
    let amounts = |l: &[vidmocap::db::ledger::LedgerEntry]| {
        l.iter()
            .map(|e| (e.kind.clone(), e.amount, e.created_ms))
            .collect::<Vec<_>>()
    };
    assert_eq!(amounts(&ledger_after), amounts(&ledger_before));
    assert!(app
        .state()
        .db
        .account_by_email(&alice.email)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        alice.get("/v1/account").send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(bob.available().await, 100);
}

#[tokio::test(flavor = "multi_thread")]
async fn end_to_end_sqlite() {
    end_to_end(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn end_to_end_postgres() {
    end_to_end(Backend::Postgres).await;
}
