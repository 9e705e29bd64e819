//! Starting the real service for a test: a fresh database per test (a
//! SQLite file in a temp folder, or a uniquely named PostgreSQL database on
//! 127.0.0.1:5432 dropped afterwards), the local store in the same temp
//! folder, the API on port 0, and an HTTP client that keeps the session
//! cookie by hand.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::Connection;
use vidmocap::config::Config;
use vidmocap::service::{self, Running, ServiceConfig, StartOptions, Tier};

#[path = "media.rs"]
mod media;
#[allow(unused_imports)] // not every service test reads a clip
pub use media::{cut, media, media_dir};

pub const WEBHOOK_SECRET: &str = "whsec_test";

/// Which database a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database that disappears with the test.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
}

const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

impl TestDb {
    pub async fn new(backend: Backend, dir: &Path) -> TestDb {
        match backend {
            Backend::Sqlite => TestDb {
                url: format!("sqlite://{}", dir.join("db/vidmocap.db").display()),
                pg_name: None,
            },
            Backend::Postgres => {
                let name = format!("vidmocap_test_{}", uuid::Uuid::new_v4().simple());
                let mut c = sqlx::PgConnection::connect(PG_ADMIN)
                    .await
                    .expect("PostgreSQL must run on 127.0.0.1:5432 (user postgres, trust auth)");
                sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
                    .execute(&mut c)
                    .await
                    .expect("create test database");
                TestDb {
                    url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
                    pg_name: Some(name),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // Drop runs outside any runtime; a short-lived one does the work.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(mut c) = sqlx::PgConnection::connect(PG_ADMIN).await {
                        let _ =
                            sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut c)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

/// The service configuration every test starts from.
pub fn service_config(db_url: &str, dir: &Path) -> ServiceConfig {
    let mut svc = ServiceConfig {
        bind: "127.0.0.1:0".into(),
        database_url: db_url.into(),
        public_base_url: String::new(),
        webhook_secret: WEBHOOK_SECRET.into(),
        lease_secs: 30,
        poll_ms: 100,
        max_upload_bytes: 20 * 1024 * 1024,
        ..ServiceConfig::default()
    };
    svc.store.local_dir = dir.join("blobs");
    svc.store.signing_secret = "test-signing-secret".into();
    svc.tiers.insert(
        "pro".into(),
        Tier {
            max_clip_s: 600.0,
            max_running: 4,
            priority: 10,
        },
    );
    svc
}

/// The pipeline configuration: defaults plus the environment (models, ORT).
pub fn pipeline_config() -> Config {
    Config::load(None).expect("configuration from the environment")
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub running: Option<Running>,
    pub db: TestDb,
    pub svc: ServiceConfig,
    pub dir: tempfile::TempDir,
}

impl TestApp {
    /// Posts a payment-provider event to the webhook, signed now with the
    /// test secret by Stripe's scheme.
    pub async fn post_payment_event(&self, event: &Value) -> Response {
        let body = event.to_string();
        let now = vidmocap::db::now_ms() / 1000;
        self.http
            .post(self.url("/v1/webhooks/payment"))
            .header(
                "stripe-signature",
                vidmocap::service::credits::sign(WEBHOOK_SECRET, now, body.as_bytes()),
            )
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Starts the API with `workers` in-process workers.
    pub async fn start(backend: Backend, workers: usize) -> TestApp {
        Self::start_with(backend, workers, |_| {}).await
    }

    pub async fn start_with(
        backend: Backend,
        workers: usize,
        tweak: impl FnOnce(&mut ServiceConfig),
    ) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::new(backend, dir.path()).await;
        let mut svc = service_config(&db.url, dir.path());
        tweak(&mut svc);
        let running = service::start(
            pipeline_config(),
            svc.clone(),
            StartOptions { api: true, workers },
        )
        .await
        .unwrap_or_else(|e| panic!("service start failed [{}]: {e}", e.code()));
        let base = format!("http://{}", running.addr.unwrap());
        TestApp {
            base,
            http: reqwest::Client::new(),
            running: Some(running),
            db,
            svc,
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }

    /// Signs up a new account and returns a client for it.
    pub async fn signup(&self, email: &str) -> User {
        let resp = self
            .http
            .post(self.url("/v1/auth/signup"))
            .json(&json!({"email": email, "password": "correct horse battery", "over_18": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED, "signup {email}");
        let cookie = session_cookie(&resp).expect("signup sets the session cookie");
        let body: Value = resp.json().await.unwrap();
        User {
            id: body["id"].as_str().unwrap().to_string(),
            email: email.to_string(),
            cookie,
            base: self.base.clone(),
            http: self.http.clone(),
        }
    }

    /// Grants credits with the real `vidmocap admin grant-credits` command.
    pub fn grant(&self, email: &str, credits: i64) {
        let out = Command::new(env!("CARGO_BIN_EXE_vidmocap"))
            .args(["admin", "grant-credits", "--email", email, "--credits"])
            .arg(credits.to_string())
            .env("VIDMOCAP_DATABASE_URL", &self.db.url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "grant-credits failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Signs up a new account and grants it `credits`.
    pub async fn funded(&self, email: &str, credits: i64) -> User {
        let user = self.signup(email).await;
        self.grant(&user.email, credits);
        user
    }

    /// Posts `body` as JSON with no session.
    pub async fn post_json(&self, path: &str, body: impl Serialize) -> Response {
        self.http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Logs in; the session cookie, or `None` when the login is refused.
    pub async fn login(&self, email: &str, password: &str) -> Option<String> {
        let r = self
            .post_json(
                "/v1/auth/login",
                &json!({"email": email, "password": password}),
            )
            .await;
        (r.status() == StatusCode::OK).then(|| session_cookie(&r).unwrap())
    }

    /// The app's database handle, for assertions on rows.
    pub fn state(&self) -> &vidmocap::service::app::AppState {
        &self.running.as_ref().unwrap().state
    }
}

/// Seconds since the epoch, as payment and webhook signatures count them.
pub fn now_s() -> i64 {
    vidmocap::db::now_ms() / 1000
}

/// PUTs `body` to a presign ticket's URL, with the headers it names (S3
/// wants them signed).
pub async fn put_presigned(http: &reqwest::Client, ticket: &Value, body: Vec<u8>) -> Response {
    let mut req = http.put(ticket["put"]["url"].as_str().unwrap()).body(body);
    for h in ticket["put"]["headers"].as_array().into_iter().flatten() {
        req = req.header(h[0].as_str().unwrap(), h[1].as_str().unwrap());
    }
    req.send().await.unwrap()
}

/// The kinds of the ledger entries of `job`, oldest first.
pub fn kinds_of<'a>(ledger: &'a Value, job: &str) -> Vec<&'a str> {
    ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["job_id"] == job)
        .map(|e| e["kind"].as_str().unwrap())
        .collect()
}

/// An upload made through a presigned PUT and `complete`.
pub struct Presigned {
    pub id: String,
    pub ticket: Value,
    /// What `complete` answered.
    pub upload: Value,
}

/// The `vidmocap_session` value from a response's Set-Cookie.
pub fn session_cookie(resp: &Response) -> Option<String> {
    resp.headers().get_all(SET_COOKIE).iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let first = v.split(';').next()?;
        let (k, val) = first.split_once('=')?;
        (k == "vidmocap_session" && !val.is_empty()).then(|| val.to_string())
    })
}

/// A signed-in account.
#[derive(Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub cookie: String,
    pub base: String,
    pub http: reqwest::Client,
}

impl User {
    /// Starts a checkout of `offer`; the Checkout URL the API answered.
    pub async fn checkout_url(&self, offer: &str) -> String {
        let r = self
            .post_json("/v1/billing/checkout", &json!({"offer": offer}))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["url"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, format!("vidmocap_session={}", self.cookie))
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, format!("vidmocap_session={}", self.cookie))
    }

    pub fn put(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .put(format!("{}{path}", self.base))
            .header(COOKIE, format!("vidmocap_session={}", self.cookie))
    }

    /// `POST path` with `body` as JSON.
    pub async fn post_json(&self, path: &str, body: impl Serialize) -> Response {
        self.post(path).json(&body).send().await.unwrap()
    }

    /// `PUT path` with `body` as JSON.
    pub async fn put_json(&self, path: &str, body: impl Serialize) -> Response {
        self.put(path).json(&body).send().await.unwrap()
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .delete(format!("{}{path}", self.base))
            .header(COOKIE, format!("vidmocap_session={}", self.cookie))
    }

    pub async fn account(&self) -> Value {
        let r = self.get("/v1/account").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    pub async fn available(&self) -> i64 {
        self.account().await["credits"]["available"]
            .as_i64()
            .unwrap()
    }

    pub async fn ledger(&self) -> Value {
        let r = self.get("/v1/account/ledger").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// Uploads a file as the raw body; returns the response.
    pub async fn upload_raw(&self, path: &Path) -> Response {
        let bytes = std::fs::read(path).unwrap();
        self.post("/v1/uploads")
            .header("content-type", "application/octet-stream")
            .header("x-filename", path.file_name().unwrap().to_str().unwrap())
            .body(bytes)
            .send()
            .await
            .unwrap()
    }

    /// Uploads a file and expects it accepted; returns the upload JSON.
    pub async fn upload_ok(&self, path: &Path) -> Value {
        let r = self.upload_raw(path).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "upload refused: {body}");
        body
    }

    pub async fn create_job(&self, upload_id: &str, idem: Option<&str>) -> Response {
        let mut req = self
            .post("/v1/jobs")
            .json(&json!({"upload_id": upload_id, "outputs": ["glb", "keypoints"]}));
        if let Some(k) = idem {
            req = req.header("idempotency-key", k);
        }
        req.send().await.unwrap()
    }

    /// `GET path` read as JSON, whatever the status.
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).send().await.unwrap().json().await.unwrap()
    }

    /// The job's JSON.
    pub async fn job(&self, id: &str) -> Value {
        self.get_json(&format!("/v1/jobs/{id}")).await
    }

    /// Uploads a file and expects it accepted; returns the upload's id.
    pub async fn upload_id(&self, path: &Path) -> String {
        self.upload_ok(path).await["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Creates a job of an upload (the default outputs) and expects it
    /// created; returns its id.
    pub async fn job_id(&self, upload_id: &str) -> String {
        created_id(self.create_job(upload_id, None).await).await
    }

    /// Creates a job from the request `body` and expects it created;
    /// returns its id.
    pub async fn job_with(&self, body: &Value) -> String {
        created_id(self.post_json("/v1/jobs", body).await).await
    }

    /// Uploads `clip`, runs a job of it and waits for its end (4 minutes at
    /// the most); returns the job's JSON.
    pub async fn run_job(&self, clip: &Path) -> Value {
        let upload = self.upload_id(clip).await;
        let job = self.job_id(&upload).await;
        self.wait_job(&job, Duration::from_secs(240)).await
    }

    /// Cancels a job and expects it canceled at once (it was queued).
    pub async fn cancel(&self, job: &str) {
        let r = self
            .post(&format!("/v1/jobs/{job}/cancel"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    /// Polls the job every `every` until `until` holds, `limit` at the
    /// most; returns its JSON. `what` names what is awaited.
    pub async fn wait_for(
        &self,
        id: &str,
        what: &str,
        limit: Duration,
        every: Duration,
        mut until: impl FnMut(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let job = self.job(id).await;
            if until(&job) {
                return job;
            }
            assert!(
                start.elapsed() < limit,
                "job {id}: no {what} within {limit:?}: {job}"
            );
            tokio::time::sleep(every).await;
        }
    }

    /// Polls until the job is final; returns its JSON.
    pub async fn wait_job(&self, id: &str, limit: Duration) -> Value {
        self.wait_for(id, "end", limit, Duration::from_millis(200), is_final)
            .await
    }

    /// A presign ticket for a direct upload.
    pub async fn presign(&self) -> Value {
        let r = self.post("/v1/uploads/presign").send().await.unwrap();
        r.json().await.unwrap()
    }

    /// `complete` of a presigned upload, expected to accept it; returns
    /// the upload's JSON.
    pub async fn complete(&self, id: &str, filename: &str) -> Value {
        let path = format!("/v1/uploads/{id}/complete");
        let r = self
            .post_json(&path, &json!({ "filename": filename }))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.unwrap()
    }

    /// Uploads `body` through a presigned PUT (which must succeed), then
    /// completes it as `filename`.
    pub async fn upload_presigned(&self, body: Vec<u8>, filename: &str) -> Presigned {
        let ticket = self.presign().await;
        let r = put_presigned(&self.http, &ticket, body).await;
        assert!(r.status().is_success(), "PUT: {}", r.text().await.unwrap());
        let id = ticket["upload_id"].as_str().unwrap().to_string();
        let upload = self.complete(&id, filename).await;
        Presigned { id, ticket, upload }
    }

    /// The download link of the job's output `name`.
    pub async fn output_url(&self, job: &str, name: &str) -> String {
        let outputs = self.get_json(&format!("/v1/jobs/{job}/outputs")).await;
        output_link(&outputs, name)
    }
}

/// The link of output `name` in a job's outputs list.
pub fn output_link(outputs: &Value, name: &str) -> String {
    outputs["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {outputs}"))["url"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Whether a job's JSON shows it finished.
pub fn is_final(job: &Value) -> bool {
    matches!(
        job["state"].as_str(),
        Some("succeeded" | "failed" | "canceled")
    )
}

/// The id in a `201 Created` answer.
pub async fn created_id(r: Response) -> String {
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_string()
}

/// A small generated clip (no person in it), `seconds` long.
pub fn tiny_clip(dir: &Path, name: &str, seconds: u32) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t"])
        .arg(seconds.to_string())
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(&path)
        .output()
        .expect("the ffmpeg program must be installed to make test clips");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// The first seconds of walk_outdoor.mp4, where a person is in view.
pub fn short_walk(dir: &Path) -> PathBuf {
    let dst = dir.join("walk.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(media("walk_outdoor.mp4"))
        .args(["-t", "2", "-an", "-c:v", "libx264", "-preset", "ultrafast"])
        .args(["-pix_fmt", "yuv420p"])
        .arg(&dst)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg cut walk_outdoor.mp4");
    dst
}

/// Expects a JSON error answer with this status and code.
pub async fn assert_error(resp: Response, status: StatusCode, code: &str) {
    let (s, c) = error_code(resp).await;
    assert_eq!((s, c.as_str()), (status, code));
}

/// Error code of a JSON error response.
pub async fn error_code(resp: Response) -> (StatusCode, String) {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_string(),
    )
}
