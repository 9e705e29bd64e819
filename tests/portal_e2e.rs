//! The web portal end to end in a real browser: the `vidmocap serve`
//! binary on a free port in a temp dir (SQLite, local store, one worker,
//! the real models), driven by `web/e2e/portal.mjs` in Debian's headless
//! Chromium through playwright-core. The script checks the visitor's
//! landing page, a wrong password's message, signs up, gets credits through
//! `vidmocap admin grant-credits`, opens "Buy credits" from the header's
//! balance and goes to Checkout (Stripe's API answered by a local stand-in,
//! tests/support/stripe.rs; a refused price shown in plain words), uploads the first 3 s of walk_outdoor.mp4
//! (landscape) and of two_people.mp4 (portrait) and a clip with nobody in
//! it, follows the jobs over SSE (focus kept on Cancel), checks the failed
//! job's page and its retry, the viewers (overlay on the landmarks at
//! desktop and phone sizes, the figure framed and on the ground, keyboard
//! orbit), axe-core on every view, fills the demo folder from the first job
//! and sees the landing page play it, changes the account's retention
//! (shorter uploads, results for 14 days, no-retain) and sees it saved,
//! deletes the account and sees the old session refused.
//!
//! Needs what scripts/setup.sh installs (chromium, node, `npm ci` and the
//! portal build in web/) and VIDMOCAP_MEDIA_DIR / VIDMOCAP_MODELS_DIR.
//! Screenshots go to $VIDMOCAP_PORTAL_SCREENSHOTS, by default
//! portal-screenshots/ in the target directory.
//!
//! `portal_sign_in_with_a_provider` signs in with an OpenID provider (the
//! real `oidc-provider`, tests/support/oidc.rs) through its own pages.
//!
//! Another test, `webhooks_in_a_real_browser`, runs `web/e2e/webhooks.mjs`
//! against its own server (no workers) and a webhook receiver the test
//! starts: the account page's webhooks, from adding one to its delivery
//! log.

#[path = "support/media.rs"]
mod media;
#[path = "support/oidc.rs"]
mod oidc;
#[path = "support/receiver.rs"]
mod receiver;
#[path = "support/smtp.rs"]
mod smtp;
#[path = "support/stripe.rs"]
mod stripe_standin;
use media::{cut, media};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Kills the server when the test ends, passed or not.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn screenshot_dir(root: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("VIDMOCAP_PORTAL_SCREENSHOTS") {
        return PathBuf::from(dir);
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("portal-screenshots")
}

/// Starts `vidmocap serve ARGS` in `dir` (its vidmocap.toml, ./data) with
/// the built portal, the demo folder and `envs`; the server and its
/// address.
fn serve(
    dir: &Path,
    web_dist: &Path,
    args: &[&str],
    demo: &Path,
    envs: &[(&str, &str)],
) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vidmocap"))
        .arg("serve")
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(dir)
        .env("VIDMOCAP_WEB_DIR", web_dist)
        .env("VIDMOCAP_DEMO_DIR", demo)
        .env_remove("VIDMOCAP_DATABASE_URL")
        .env_remove("VIDMOCAP_STORE_DIR")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
    // The log keeps flowing after the address line; draining it keeps the
    // server from blocking on a full pipe, and echoes it for failures.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
            eprintln!("serve: {line}");
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("serve prints its address");
    (server, addr)
}

/// Every page's screenshot was saved at both sizes.
fn assert_screenshots(shots: &Path, pages: &[&str]) {
    for page in pages {
        for size in ["desktop", "phone"] {
            assert!(
                shots.join(format!("{page}-{size}.png")).is_file(),
                "screenshot {page}-{size}.png saved"
            );
        }
    }
}

fn built_portal(root: &Path) -> PathBuf {
    let web_dist = root.join("web/dist");
    assert!(
        web_dist.join("index.html").is_file(),
        "the portal is not built; run scripts/setup.sh"
    );
    web_dist
}

#[test]
fn portal_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let web_dist = built_portal(root);
    let dir = tempfile::tempdir().unwrap();
    // Short clips keep the three pipeline runs to a few minutes. The
    // landscape job is the one watched through its live progress, so it is
    // the whole clip (7.7 s): a 3 s job finished on an idle machine before
    // two progress updates had reached the page.
    let landscape = dir.path().join("walk_outdoor.mp4");
    let portrait = dir.path().join("two_people.mp4");
    let nobody = dir.path().join("empty-room.mp4");
    cut(&media("walk_outdoor.mp4"), "8", &landscape);
    cut(&media("two_people.mp4"), "3", &portrait);
    empty_room(&nobody);
    // Stripe's API cannot be reached from a test: a local stand-in answers
    // it, on a runtime of its own (this test is synchronous).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stripe = rt.block_on(stripe_standin::StripeStandIn::start());
    std::fs::write(
        dir.path().join("vidmocap.toml"),
        format!(
            r#"[service.billing]
stripe_secret_key = "{key}"
stripe_api_base = "{base}"

[[service.billing.packs]]
id = "small"
name = "100 credits"
price_id = "price_small"
credits = 100
amount_display = "€9"

[[service.billing.packs]]
id = "broken"
name = "Misconfigured pack"
price_id = "{missing}"
credits = 5
amount_display = "€1"

[[service.billing.plans]]
id = "pro-monthly"
name = "Pro"
price_id = "price_pro"
monthly_credits = 500
tier = "pro"
amount_display = "€29 a month"
"#,
            key = stripe_standin::SECRET_KEY,
            base = stripe.base,
            missing = stripe_standin::MISSING_PRICE,
        ),
    )
    .unwrap();
    // Empty at the start (the landing page falls back); the script fills it.
    let demo = dir.path().join("demo");
    std::fs::create_dir(&demo).unwrap();
    let (server, addr) = serve(
        dir.path(),
        &web_dist,
        &["--bind", "127.0.0.1:0"],
        &demo,
        &[],
    );

    let shots = screenshot_dir(root);
    // Old screenshots must not stand in for this run's.
    let _ = std::fs::remove_dir_all(&shots);
    let status = Command::new("node")
        .arg(root.join("web/e2e/portal.mjs"))
        .arg(format!("http://{addr}"))
        .arg(&landscape)
        .arg(&portrait)
        .arg(&nobody)
        .arg(&shots)
        .args([
            env!("CARGO_BIN_EXE_vidmocap"),
            "admin",
            "grant-credits",
            "--credits",
            "500",
            "--email",
        ])
        // grant-credits finds the server's ./data from here.
        .current_dir(dir.path())
        .env("VIDMOCAP_E2E_DEMO_DIR", &demo)
        .env_remove("VIDMOCAP_DATABASE_URL")
        .status()
        .expect("node runs (scripts/setup.sh installs it)");
    drop(server);
    assert!(
        status.success(),
        "the browser run failed (see its output above)"
    );
    // The checkout the browser started reached Stripe (the stand-in) in
    // Stripe's shape, for the pack chosen.
    let sessions = stripe.calls_to("/v1/checkout/sessions");
    let prices: Vec<&str> = sessions
        .iter()
        .map(|c| c.form["line_items[0][price]"].as_str())
        .collect();
    assert_eq!(prices, [stripe_standin::MISSING_PRICE, "price_small"]);
    assert_eq!(sessions[1].form["mode"], "payment");
    assert_eq!(
        sessions[1].authorization,
        format!("Bearer {}", stripe_standin::SECRET_KEY)
    );
    assert_eq!(stripe.calls_to("/v1/customers").len(), 1);
    assert_screenshots(
        &shots,
        &[
            "landing",
            "login-wrong",
            "signup",
            "buy-credits",
            "upload-chosen",
            "upload-done",
            "jobs-running",
            "jobs-done",
            "job-failed",
            "viewer-landscape",
            "viewer-portrait",
            "account",
            "landing-demo",
        ],
    );
}

/// The account flows (web/e2e/account.mjs) against `vidmocap serve` with
/// no workers, its mail going to a real SMTP server (aiosmtpd,
/// tests/support/smtp_sink.py) that requires AUTH; the script reads the
/// delivered mail and opens its links.
#[test]
fn portal_account_flows_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let web_dist = built_portal(root);
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("mail");
    let sink = smtp::SmtpSink::start(&mail, true);
    std::fs::write(
        dir.path().join("vidmocap.toml"),
        format!(
            r#"[service.mail]
transport = "smtp"
smtp_host = "127.0.0.1"
smtp_port = {port}
tls = "none"
from = "vidmocap <no-reply@vidmocap.test>"
"#,
            port = sink.port
        ),
    )
    .unwrap();
    // The credentials come from the environment, as in production.
    let (server, addr) = serve(
        dir.path(),
        &web_dist,
        &["--bind", "127.0.0.1:0", "--no-workers"],
        &dir.path().join("no-demo"),
        &[
            ("VIDMOCAP_SMTP_USERNAME", smtp::SMTP_USER),
            ("VIDMOCAP_SMTP_PASSWORD", smtp::SMTP_PASSWORD),
        ],
    );
    // Beside the other test's folder, not in it: that test empties its own
    // folder when it starts, and the two run at the same time.
    let mut shots = screenshot_dir(root).into_os_string();
    shots.push("-account");
    let shots = PathBuf::from(shots);
    let _ = std::fs::remove_dir_all(&shots);
    let status = Command::new("node")
        .arg(root.join("web/e2e/account.mjs"))
        .arg(format!("http://{addr}"))
        .arg(&mail)
        .arg(&shots)
        .status()
        .expect("node runs (scripts/setup.sh installs it)");
    drop(server);
    assert!(
        status.success(),
        "the browser run failed (see its output above)"
    );
    // Verify, password changed (twice: change and reset), confirm the new
    // address, old address told, reset.
    let delivered = sink.all();
    assert_eq!(delivered.len(), 6, "{delivered:?}");
    assert!(
        delivered
            .iter()
            .all(|m| m.auth_user.as_deref() == Some(smtp::SMTP_USER)),
        "every mail was sent with the configured credentials"
    );
    assert_screenshots(
        &shots,
        &[
            "signup-age",
            "email-confirmed",
            "settings",
            "email-changed",
            "forgot-password",
            "reset-password",
        ],
    );
}

/// A second of plain grey, a clip with nobody in it, into `dst`.
fn empty_room(dst: &Path) {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("color=c=0x808080:size=640x360:rate=30:duration=1")
        .args(["-c:v", "libx264", "-preset", "ultrafast"])
        .args(["-pix_fmt", "yuv420p"])
        .arg(dst)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg made the clip with nobody in it");
}

#[test]
fn webhooks_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let web_dist = built_portal(root);
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    empty_room(&clip);
    // The receiver refuses the first request, so the log shows a retry,
    // due half a second later.
    std::fs::write(
        dir.path().join("vidmocap.toml"),
        "[service.user_webhooks]\nretry_base_ms = 500\npoll_ms = 100\n",
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let receiver = rt.block_on(receiver::Receiver::start(1));
    let (server, addr) = serve(
        dir.path(),
        &web_dist,
        &["--bind", "127.0.0.1:0", "--no-workers"],
        &dir.path().join("no-demo"),
        // The receiver is on 127.0.0.1, which production refuses.
        &[("VIDMOCAP_ALLOW_PRIVATE_WEBHOOK_URLS", "true")],
    );
    // Beside the other test's folder, which that test empties when it starts.
    let others = screenshot_dir(root);
    let mut name = others.file_name().unwrap().to_os_string();
    name.push("-webhooks");
    let shots = others.with_file_name(name);
    let _ = std::fs::remove_dir_all(&shots);
    let out = Command::new("node")
        .arg(root.join("web/e2e/webhooks.mjs"))
        .arg(format!("http://{addr}"))
        .arg(&receiver.url)
        .arg(&clip)
        .arg(&shots)
        .args([
            env!("CARGO_BIN_EXE_vidmocap"),
            "admin",
            "grant-credits",
            "--credits",
            "50",
            "--email",
        ])
        .current_dir(dir.path())
        .env_remove("VIDMOCAP_DATABASE_URL")
        .stderr(Stdio::inherit())
        .output()
        .expect("node runs (scripts/setup.sh installs it)");
    drop(server);
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(out.status.success(), "the browser run failed (see above)");
    // What the receiver got: the event twice (refused, then received),
    // signed with the secret the page showed.
    let secret = stdout
        .lines()
        .find_map(|l| l.strip_prefix("webhook-secret="))
        .expect("the script prints the secret");
    let got = receiver.received();
    assert_eq!(got.iter().map(|r| r.status).collect::<Vec<_>>(), [500, 200]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for r in &got {
        assert_eq!(
            vidmocap::service::credits::verify_signature(secret, &r.signature, &r.body, now, 300),
            Ok(())
        );
        assert_eq!(r.json()["type"], "job.canceled");
    }
    assert_screenshots(&shots, &["webhooks"]);
}

/// "Sign in with <provider>" in the browser, against a real OpenID provider
/// (npm `oidc-provider`, tests/support/oidc.rs): `web/e2e/oidc.mjs` clicks
/// the login page's link, logs in and consents on the provider's own pages,
/// lands signed in on the upload view, logs out, and sees a user whose
/// email the provider has not verified refused in plain words.
#[test]
fn portal_sign_in_with_a_provider() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let web_dist = built_portal(root);
    let dir = tempfile::tempdir().unwrap();
    let op = oidc::OidcProvider::start();
    std::fs::write(
        dir.path().join("vidmocap.toml"),
        format!(
            r#"[service.oidc.providers.test]
display_name = "Test ID"
issuer = "{issuer}"
client_id = "{id}"
client_secret = "{secret}"
"#,
            issuer = op.issuer,
            id = oidc::CLIENT_ID,
            secret = oidc::CLIENT_SECRET,
        ),
    )
    .unwrap();
    let (server, addr) = serve(
        dir.path(),
        &web_dist,
        &["--bind", "127.0.0.1:0", "--no-workers"],
        &dir.path().join("no-demo"),
        &[],
    );
    let base = format!("http://{addr}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(op.configure(
        &oidc::callback_url(&base, "test"),
        &[
            ("alice", "alice@example.com", true),
            ("carol", "carol@example.com", false),
        ],
    ));
    // Its own folder: the other browser test clears its own at start.
    let shots = screenshot_dir(root).with_file_name("portal-oidc-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let status = Command::new("node")
        .arg(root.join("web/e2e/oidc.mjs"))
        .arg(&base)
        .arg(&shots)
        .status()
        .expect("node runs (scripts/setup.sh installs it)");
    drop(server);
    assert!(
        status.success(),
        "the browser run failed (see its output above)"
    );
    for page in [
        "login-providers",
        "signed-in-provider",
        "login-refused-provider",
    ] {
        assert!(
            shots.join(format!("{page}.png")).is_file(),
            "{page}.png saved"
        );
    }
}
