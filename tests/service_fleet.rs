//! The fleet shape: the API alone (no in-process workers) and a separate
//! `vidmocap worker` process, sharing PostgreSQL and a real S3-compatible
//! server (`s3s-fs`, which checks every SigV4 signature). The video goes
//! straight to S3 through a presigned PUT, the worker runs the job, the
//! outputs come back through presigned S3 links, a tampered or expired
//! link is refused by S3 itself, and the credits are charged once.
//!
//! The worker is configured through a `vidmocap.toml` passed with
//! `--config`, the way a deployment would.
//!
//! A long clip (walk_outdoor.mp4 concatenated) is split across two worker
//! processes: its stitched motion matches an unsplit run of the same
//! clip, and a worker killed in the middle of a segment costs a retry,
//! not the job or a second charge.

#[path = "support/s3.rs"]
mod s3;
#[path = "support/service.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{kinds_of, media, Backend, TestApp, User};
use vidmocap::service::ServiceConfig;

#[tokio::test(flavor = "multi_thread")]
async fn api_and_worker_processes_share_postgres_and_s3() {
    let (s3, store, app) = fleet(|_| {}).await;
    let user = app.funded("fleet@example.com", 100).await;

    // Upload: presigned PUT straight to S3, then `complete`.
    let up = user
        .upload_presigned(
            std::fs::read(media("walk_outdoor.mp4")).unwrap(),
            "walk_outdoor.mp4",
        )
        .await;
    let put_url = up.ticket["put"]["url"].as_str().unwrap();
    assert!(put_url.starts_with(&s3.endpoint), "{put_url}");
    let price = up.upload["price"].as_i64().unwrap();
    let job_id = user.job_id(&up.id).await;

    // The worker process, configured by file.
    let dir = tempfile::tempdir().unwrap();
    let mut svc = app.svc.clone();
    svc.store = store;
    let worker = start_worker(&svc, dir.path(), 0, None);
    let done = user.wait_job(&job_id, Duration::from_secs(240)).await;
    stop_workers(vec![worker]);
    assert_eq!(done["state"], "succeeded", "{done}");

    let glb = user.output_url(&job_id, "motion.glb").await;
    assert!(glb.starts_with(&s3.endpoint), "{glb}");
    let body = app.http.get(&glb).send().await.unwrap();
    assert_eq!(body.status(), StatusCode::OK);
    assert_eq!(&body.bytes().await.unwrap()[..4], b"glTF");
    let tampered = glb.replace("motion.glb", "keypoints.json");
    assert_eq!(
        app.http.get(&tampered).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let short = user
        .get_json(&format!("/v1/jobs/{job_id}/outputs?expires_secs=1"))
        .await;
    let short = short["outputs"][0]["url"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(
        app.http.get(&short).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );

    let ledger = user.ledger().await;
    assert_eq!(kinds_of(&ledger, &job_id), ["reserve", "charge"]);
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

/// walk_outdoor.mp4 back to back, once per part, each part cut at its
/// `outpoint` seconds when given (stream copy, no audio).
fn long_clip(dir: &Path, parts: &[Option<f64>]) -> PathBuf {
    let list = dir.join("list.txt");
    let text: String = parts
        .iter()
        .map(|cut| {
            let file = format!("file '{}'\n", media("walk_outdoor.mp4").display());
            match cut {
                Some(s) => format!("{file}outpoint {s}\n"),
                None => file,
            }
        })
        .collect();
    std::fs::write(&list, text).unwrap();
    let out = dir.join(format!("walk_{}.mp4", parts.len()));
    let made = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
        .args(["-f", "concat", "-safe", "0", "-i"])
        .arg(&list)
        .args(["-an", "-c", "copy"])
        .arg(&out)
        .status()
        .expect("the ffmpeg program makes the long clip");
    assert!(made.success());
    out
}

/// The API alone (no in-process workers) on PostgreSQL and a fresh S3
/// server, `tweak` applied to its configuration; the server, its store
/// configuration (for the workers) and the app.
async fn fleet(
    tweak: impl FnOnce(&mut ServiceConfig),
) -> (s3::S3Server, vidmocap::store::StoreConfig, TestApp) {
    let s3 = s3::S3Server::start();
    let store = s3.store_config();
    let store_for_app = store.clone();
    let app = TestApp::start_with(Backend::Postgres, 0, move |s| {
        s.store = store_for_app;
        tweak(s);
    })
    .await;
    (s3, store, app)
}

/// Uploads `path` through a presigned PUT to S3; returns the upload id.
async fn upload_to_s3(user: &User, path: &Path, name: &str) -> String {
    user.upload_presigned(std::fs::read(path).unwrap(), name)
        .await
        .id
}

/// A `vidmocap worker` process with the service configuration `svc`,
/// given by file; `pin` holds it to one CPU core (taskset) with one
/// thread for ONNX Runtime and one landmark session.
fn start_worker(svc: &ServiceConfig, dir: &Path, n: usize, pin: Option<usize>) -> Child {
    let config = dir.join(format!("worker-{n}.toml"));
    let toml = toml::to_string(&json!({ "service": serde_json::to_value(svc).unwrap() })).unwrap();
    std::fs::write(&config, toml).unwrap();
    let mut cmd = match pin {
        Some(core) => {
            let mut c = Command::new("taskset");
            c.args(["-c", &core.to_string()])
                .arg(env!("CARGO_BIN_EXE_vidmocap"));
            c.env("VIDMOCAP_INTRA_THREADS", "1")
                .env("VIDMOCAP_LANDMARK_WORKERS", "1");
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_vidmocap")),
    };
    cmd.arg("--config")
        .arg(&config)
        .arg("worker")
        .env_remove("VIDMOCAP_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn stop_workers(workers: Vec<Child>) {
    for mut w in workers {
        w.kill().unwrap();
        w.wait().unwrap();
    }
}

/// The job's credits were reserved and charged once, at the fast preset's
/// price (the upload was quoted at the default one).
async fn charged_once(user: &User, job: &str, done: &Value) {
    let ledger = user.ledger().await;
    assert_eq!(kinds_of(&ledger, job), ["reserve", "charge"]);
    assert_eq!(ledger["balance"], 100 - done["price"].as_i64().unwrap());
}

/// The fleet's configuration with splitting after `min_clip_s` into
/// segments of `segment_s`.
fn split_config(
    app: &TestApp,
    store: &vidmocap::store::StoreConfig,
    segment_s: f64,
) -> ServiceConfig {
    let mut svc = app.svc.clone();
    svc.store = store.clone();
    svc.split.enabled = true;
    svc.split.min_clip_s = 5.0;
    svc.split.segment_s = segment_s;
    svc.split.overlap_s = 1.0;
    svc
}

async fn create_fast_job(user: &User, upload: &str) -> String {
    user.job_with(&json!({"upload_id": upload, "outputs": ["glb", "keypoints"], "quality": "fast"}))
        .await
}

/// The job's output `name`, downloaded through its presigned S3 link.
async fn fetch_output(user: &User, job: &str, name: &str) -> Vec<u8> {
    let url = user.output_url(job, name).await;
    user.http
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

/// The job's segments as the database holds them: (state, attempts, owner).
async fn segment_rows(app: &TestApp, job: &str) -> Vec<(String, i64, Option<String>)> {
    use sqlx::{Connection, Row};
    let mut c = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
    sqlx::query(
        "SELECT state, attempts, lease_owner FROM job_segments WHERE job_id = $1 ORDER BY idx",
    )
    .bind(job)
    .fetch_all(&mut c)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

/// Waits until two of the job's segments run at once (one on each
/// worker), 120 s after `since` at the most; their indices.
async fn two_running(app: &TestApp, job: &str, since: Instant) -> Vec<usize> {
    loop {
        let rows = segment_rows(app, job).await;
        let running: Vec<usize> = (0..rows.len())
            .filter(|&i| rows[i].0 == "running")
            .collect();
        if running.len() == 2 {
            return running;
        }
        assert!(
            since.elapsed() < Duration::from_secs(120),
            "segments never ran: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Per frame of both files' followed span, the solved joints' positions
/// (hip-centred joints plus the root, the root measured from its place on
/// the span's first frame); the median distance between them, metres, and
/// how many frames were compared.
///
/// The root is taken from its start because where the whole motion stands
/// in the scene (`scene_offset`, the ground under it) is one estimate over
/// the clip that small differences in the poses can move as a whole: seen
/// here at 1.9 m of height once, with every joint still within 6 mm of
/// the unsplit run relative to the start.
fn median_joint_distance(a: &Value, b: &Value) -> (f64, usize) {
    let start = |k: &Value| -> Vec<f64> {
        k["frames"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|f| f["root"].as_array())
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let joints = |f: &Value, origin: &[f64]| -> Option<Vec<[f64; 3]>> {
        let root = f["root"].as_array()?;
        let root: Vec<f64> = root
            .iter()
            .zip(origin)
            .map(|(v, o)| v.as_f64().unwrap() - o)
            .collect();
        Some(
            f["world"]
                .as_array()?
                .iter()
                .map(|p| {
                    let p: Vec<f64> = p
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_f64().unwrap())
                        .collect();
                    [p[0] + root[0], p[1] + root[1], p[2] + root[2]]
                })
                .collect(),
        )
    };
    let by_frame = |k: &Value| -> std::collections::BTreeMap<u64, Vec<[f64; 3]>> {
        let origin = start(k);
        k["frames"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| Some((f["frame"].as_u64()?, joints(f, &origin)?)))
            .collect()
    };
    let (fa, fb) = (by_frame(a), by_frame(b));
    let mut d = Vec::new();
    let mut frames = 0;
    for (frame, ja) in &fa {
        let Some(jb) = fb.get(frame) else { continue };
        frames += 1;
        for (p, q) in ja.iter().zip(jb) {
            d.push(((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt());
        }
    }
    assert!(!d.is_empty(), "no frames in common");
    d.sort_by(f64::total_cmp);
    (d[d.len() / 2], frames)
}

/// The whole walk, then its first 4 s again: the first walk is the
/// longest track, so `auto` follows it in a split run and an unsplit one.
const TWO_WALKS: [Option<f64>; 2] = [None, Some(4.0)];

/// A fast job of the two walks, split into segments of `segment_s`, on
/// two worker processes.
struct SplitRun {
    _s3: s3::S3Server,
    app: TestApp,
    user: User,
    dir: tempfile::TempDir,
    clip: PathBuf,
    job: String,
    workers: Vec<Child>,
}

impl SplitRun {
    async fn start(email: &str, segment_s: f64, tweak: impl FnOnce(&mut ServiceConfig)) -> Self {
        let (s3, store, app) = fleet(tweak).await;
        let user = app.funded(email, 100).await;
        let dir = tempfile::tempdir().unwrap();
        let clip = long_clip(dir.path(), &TWO_WALKS);
        let upload = upload_to_s3(&user, &clip, "walks.mp4").await;
        let job = create_fast_job(&user, &upload).await;
        let svc = split_config(&app, &store, segment_s);
        let workers = (0..2)
            .map(|n| start_worker(&svc, dir.path(), n, None))
            .collect();
        SplitRun {
            _s3: s3,
            app,
            user,
            dir,
            clip,
            job,
            workers,
        }
    }
}

/// A 12 s clip cut into 4 segments runs on two worker processes; the job
/// reports its progress over all of them, finishes once, is charged once,
/// and its stitched motion is an unsplit run's: the same person over the
/// same frames, joints within 2 cm (median; see `median_joint_distance`).
#[tokio::test(flavor = "multi_thread")]
async fn a_long_clip_splits_across_workers_and_matches_an_unsplit_run() {
    let run = SplitRun::start("split@example.com", 3.0, |_| {}).await;
    let (app, user, dir, clip, job) = (&run.app, &run.user, &run.dir, &run.clip, &run.job);
    // The unsplit run of the same clip, meanwhile, in this process.
    let mut config = support::pipeline_config();
    config.pose.quality = vidmocap::config::Quality::Fast;
    let (clip2, whole_dir) = (clip.clone(), dir.path().join("whole"));
    let whole = tokio::task::spawn_blocking(move || {
        let opts = vidmocap::pipeline::ProcessOptions {
            keep_tracks: true,
            ..Default::default()
        };
        let report = vidmocap::pipeline::run(
            &clip2,
            &whole_dir,
            &config,
            &opts,
            &mut |_| {},
            &Default::default(),
        )
        .unwrap();
        let keypoints = std::fs::read(whole_dir.join("keypoints.json")).unwrap();
        (keypoints, report.landmark_runs)
    });

    // Progress rises over the segments while they run.
    let mut seen_progress = Vec::new();
    let done = user
        .wait_for(
            job,
            "end",
            Duration::from_secs(400),
            Duration::from_millis(500),
            |j| {
                if j["state"] == "running" {
                    seen_progress.push(j["progress"].clone());
                }
                support::is_final(j)
            },
        )
        .await;
    stop_workers(run.workers);
    assert_eq!(done["state"], "succeeded", "{done}");
    let segments = segment_rows(app, job).await;
    assert_eq!(segments.len(), 4, "{segments:?}");
    assert!(
        segments.iter().all(|s| s.0 == "done" && s.1 == 1),
        "{segments:?}"
    );
    assert!(seen_progress.len() > 2, "{seen_progress:?}");

    let split: Value =
        serde_json::from_slice(&fetch_output(user, job, "keypoints.json").await).unwrap();
    let (whole, whole_landmark_runs) = whole.await.unwrap();
    let whole: Value = serde_json::from_slice(&whole).unwrap();
    // The job's report counts its segments' model runs (the final solve
    // runs none): at least the unsplit run's, less what tracking the
    // overlaps twice and detecting afresh in each segment add on top.
    let meta = &done["metadata"];
    assert!(meta["detector_runs"].as_u64().unwrap() > 0, "{meta}");
    let landmark_runs = meta["landmark_runs"].as_u64().unwrap();
    assert!(
        landmark_runs as f64 >= 0.9 * whole_landmark_runs as f64,
        "split {landmark_runs} landmark runs, whole {whole_landmark_runs}"
    );
    assert_eq!(
        split["frames"].as_array().unwrap().len(),
        whole["frames"].as_array().unwrap().len()
    );
    for key in ["first_frame", "last_frame"] {
        let (a, b) = (split[key].as_i64().unwrap(), whole[key].as_i64().unwrap());
        assert!((a - b).abs() <= 3, "{key}: split {a}, whole {b}");
    }
    let (median, frames) = median_joint_distance(&split, &whole);
    eprintln!(
        "split vs whole: median joint distance {:.4} m over {frames} frames",
        median
    );
    assert!(frames > 200, "{frames} frames compared");
    assert!(median < 0.02, "median joint distance {median} m");
    // The tracks of the whole clip are kept, as for an unsplit job.
    let tracks: Value =
        serde_json::from_slice(&fetch_output(user, job, "tracks.json").await).unwrap();
    assert_eq!(
        tracks["times"].as_array().unwrap().len(),
        whole["frames"].as_array().unwrap().len()
    );

    charged_once(user, job, &done).await;
}

/// The worker running a segment is killed (SIGKILL) mid-segment; the
/// other worker takes the segment over when its lease runs out, and the
/// job still succeeds once, charged once.
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_segment_costs_a_retry_not_the_job() {
    let mut run = SplitRun::start("kill@example.com", 4.0, |s| s.lease_secs = 3).await;
    let (app, user, job) = (&run.app, &run.user, &run.job);

    // Wait for a segment some frames into its run, then kill its worker
    // (the owner names the process).
    let started = Instant::now();
    let victim = loop {
        two_running(app, job, started).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rows = segment_rows(app, job).await;
        if let Some(owner) = rows
            .iter()
            .filter(|r| r.0 == "running")
            .find_map(|r| r.2.clone())
        {
            break owner.split('-').next().unwrap().parse::<u32>().unwrap();
        }
    };
    let i = run
        .workers
        .iter()
        .position(|w| w.id() == victim)
        .expect("a worker of ours");
    stop_workers(vec![run.workers.remove(i)]);

    let done = user.wait_job(job, Duration::from_secs(400)).await;
    stop_workers(run.workers);
    assert_eq!(done["state"], "succeeded", "{done}");
    let rows = segment_rows(app, job).await;
    assert!(rows.iter().all(|r| r.0 == "done"), "{rows:?}");
    assert!(
        rows.iter().any(|r| r.1 == 2),
        "no segment was retried: {rows:?}"
    );
    charged_once(user, job, &done).await;
}

/// A split job canceled by its owner while two workers run its segments:
/// the job ends canceled with its credits released, no segment runs on
/// after its worker's next heartbeat, none is left queued, and the workers
/// go on to serve the next job.
#[tokio::test(flavor = "multi_thread")]
async fn a_split_job_canceled_mid_run_stops_its_segments_and_releases_its_credits() {
    let run = SplitRun::start("cancel@example.com", 3.0, |s| s.lease_secs = 3).await;
    let (app, user, job) = (&run.app, &run.user, &run.job);
    let running = two_running(app, job, Instant::now()).await;
    // A running job's cancel is asked for (202), and carried out by the
    // workers' heartbeats.
    let r = user
        .post(&format!("/v1/jobs/{job}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let done = user.wait_job(job, Duration::from_secs(60)).await;
    assert_eq!(done["state"], "canceled", "{done}");
    assert_eq!(
        kinds_of(&user.ledger().await, job),
        ["reserve", "release"],
        "charged for a canceled job"
    );
    // Running segments stop at their next heartbeat (a third of the lease).
    let stopping = Instant::now();
    let rows = loop {
        let rows = segment_rows(app, job).await;
        if rows.iter().all(|r| r.0 != "running" && r.0 != "queued") {
            break rows;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(20),
            "segments still running or queued after the cancel: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The two it ran were stopped, not run to their end.
    for i in running {
        assert_eq!(rows[i].0, "canceled", "segment {i}: {rows:?}");
    }
    // The same workers take the next job and finish it.
    let upload = upload_to_s3(user, &run.clip, "again.mp4").await;
    let next = create_fast_job(user, &upload).await;
    let done = user.wait_job(&next, Duration::from_secs(400)).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    stop_workers(run.workers);
}

/// User plus system CPU time of a process so far, seconds (Linux).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised name; utime and stime are the 14th
    // and 15th fields of the line.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// Not a timed test: a 60 s clip on one worker, then on two, each worker
/// held to one core; prints both wall-clock times and the speed-up. Run
/// with `cargo test --test service_fleet bench_ -- --ignored --nocapture`
/// (the README records the figures).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a bench: minutes of CPU, run by hand"]
async fn bench_sixty_seconds_on_one_and_two_pinned_workers() {
    let (_s3, store, app) = fleet(|s| {
        s.max_upload_bytes = 64 * 1024 * 1024;
        // A minute and more: past the free tier's longest clip.
        s.default_tier = "pro".into();
    })
    .await;
    let user = app.funded("bench@example.com", 10_000).await;
    let dir = tempfile::tempdir().unwrap();
    let clip = long_clip(dir.path(), &[None; 8]);
    let mut svc = split_config(&app, &store, 20.0);
    svc.split.min_clip_s = 45.0;
    svc.split.overlap_s = 2.0;
    let mut times = Vec::new();
    for n in [1usize, 2] {
        let upload = upload_to_s3(&user, &clip, "walk_x8.mp4").await;
        let workers: Vec<Child> = (0..n)
            .map(|k| start_worker(&svc, dir.path(), 10 * n + k, Some(k)))
            .collect();
        let started = Instant::now();
        let job = create_fast_job(&user, &upload).await;
        let done = user.wait_job(&job, Duration::from_secs(3600)).await;
        let took = started.elapsed().as_secs_f64();
        // CPU seconds each worker used: how the work was shared, and how
        // much of its core a worker got (others' load shows as wall > CPU).
        let cpu: Vec<String> = workers
            .iter()
            .map(|w| format!("{:.1}", cpu_seconds(w.id())))
            .collect();
        eprintln!("{n} worker(s): CPU seconds per worker {cpu:?}");
        stop_workers(workers);
        assert_eq!(done["state"], "succeeded", "{done}");
        eprintln!("{n} worker(s): {took:.1} s");
        times.push(took);
    }
    eprintln!("speed-up with two: {:.2}x", times[0] / times[1]);
}

/// The segment queue on both databases, without models: a segment is
/// claimable only while its job runs, each once; a failure is queued again
/// until the attempts run out; a stale lease is requeued; a canceled job's
/// segments stop (queued ones at once, running ones at their heartbeat).
#[tokio::test(flavor = "multi_thread")]
async fn segments_are_leased_retried_and_stopped_with_their_job() {
    use vidmocap::db::jobs::NewJob;
    use vidmocap::db::segments::SegmentFinish;
    use vidmocap::db::{now_ms, Db};
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let dir = tempfile::tempdir().unwrap();
        let test_db = support::TestDb::new(backend, dir.path()).await;
        let db = Db::open(&test_db.url).await.unwrap();
        db.migrate().await.unwrap();
        let now = now_ms();
        db.create_account("acct", "seg@example.com", "x", "pro", false, now)
            .await
            .unwrap()
            .unwrap();
        db.add_credits("acct", 100, "grant", None).await.unwrap();
        db.create_job(&NewJob {
            id: "job".into(),
            account_id: "acct".into(),
            upload_id: "upload".into(),
            idempotency_key: None,
            request_hash: "h".into(),
            options_json: "{}".into(),
            price: 5,
            priority: 0,
            max_running: 4,
            max_attempts: 2,
            now,
        })
        .await
        .unwrap();
        let spans: Vec<(String, i64)> = (0..3).map(|i| (format!("{{\"n\":{i}}}"), 10)).collect();
        db.plan_segments("job", &spans, 2, now).await.unwrap();
        // Queued job: nothing to claim yet.
        assert!(db
            .claim_segment("w1", now + 1000, None)
            .await
            .unwrap()
            .is_none());
        let job = db
            .claim_job("w1", now, now + 30_000)
            .await
            .unwrap()
            .unwrap();
        // Planning again keeps the rows.
        db.plan_segments("job", &spans, 2, now).await.unwrap();
        assert_eq!(db.segments("job").await.unwrap().len(), 3);

        let a = db
            .claim_segment("w1", now + 30_000, None)
            .await
            .unwrap()
            .unwrap();
        let b = db
            .claim_segment("w2", now + 30_000, Some("job"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((a.idx, b.idx, a.attempts), (0, 1, 1));
        // A failure is retried, then final.
        let fail = SegmentFinish::Failed {
            code: "video.decode_failed".into(),
            message: "decoding failed".into(),
        };
        assert!(db.finish_segment(&a, "w1", &fail).await.unwrap());
        assert!(!db.finish_segment(&a, "w1", &fail).await.unwrap(), "once");
        let a2 = db
            .claim_segment("w1", now + 30_000, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((a2.idx, a2.attempts), (0, 2));
        assert!(db.finish_segment(&a2, "w1", &fail).await.unwrap());
        let rows = db.segments("job").await.unwrap();
        assert_eq!(rows[0].state, "failed");
        assert_eq!(rows[0].error_code.as_deref(), Some("video.decode_failed"));
        // A stale lease goes back to the queue, and an old owner's
        // heartbeat is refused.
        assert_eq!(db.reap_stale_segments(now + 60_000).await.unwrap(), (1, 0));
        assert_eq!(
            db.segment_heartbeat(&b, "w2", now + 1, 3).await.unwrap(),
            None
        );
        let b2 = db
            .claim_segment("w3", now + 30_000, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((b2.idx, b2.attempts), (1, 2));
        assert_eq!(
            db.segment_heartbeat(&b2, "w3", now + 30_000, 3)
                .await
                .unwrap(),
            Some(false)
        );
        // Cancel: the running segment is told at its heartbeat, queued
        // ones are no longer handed out.
        assert_eq!(
            db.cancel_job("acct", "job", now).await.unwrap(),
            vidmocap::db::jobs::CancelOutcome::Requested
        );
        assert_eq!(
            db.segment_heartbeat(&b2, "w3", now + 30_000, 5)
                .await
                .unwrap(),
            Some(true)
        );
        assert!(db
            .claim_segment("w1", now + 30_000, None)
            .await
            .unwrap()
            .is_none());
        db.cancel_segments("job").await.unwrap();
        assert!(db
            .finish_segment(&b2, "w3", &SegmentFinish::Canceled)
            .await
            .unwrap());
        let states: Vec<String> = db
            .segments("job")
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.state)
            .collect();
        assert_eq!(states, ["failed", "canceled", "canceled"]);
        drop(job);
    }
}
