//! A real SMTP server for a test: `smtp_sink.py` beside this file, on
//! aiosmtpd (PyPI; scripts/setup.sh installs it), listening on a free
//! port and writing each delivered message, parsed by Python's email
//! package, as JSON into a folder the test reads. Killed when dropped (and
//! it exits by itself when the test process dies: it watches its stdin).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The user name and password the sink requires (when started with them).
pub const SMTP_USER: &str = "vidmocap-mailer";
pub const SMTP_PASSWORD: &str = "smtp-test-password";

/// A delivered message.
#[derive(Clone, Debug)]
pub struct Delivered {
    /// The envelope's recipients.
    pub rcpt: Vec<String>,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub content_type: String,
    /// The plain-text body, transfer encoding undone.
    pub text: String,
    /// Who authenticated for it, if anyone.
    pub auth_user: Option<String>,
    file: PathBuf,
}

impl Delivered {
    /// The first link in the text that starts with `prefix`.
    pub fn link(&self, prefix: &str) -> String {
        self.text
            .split_whitespace()
            .find(|w| w.starts_with(prefix))
            .unwrap_or_else(|| {
                panic!(
                    "no link {prefix}… in mail {:?}:\n{}",
                    self.subject, self.text
                )
            })
            .to_string()
    }

    /// The `token` of the link starting with `prefix`.
    pub fn token(&self, prefix: &str) -> String {
        let link = self.link(prefix);
        link.split_once("token=")
            .unwrap_or_else(|| panic!("no token in {link}"))
            .1
            .to_string()
    }
}

pub struct SmtpSink {
    pub port: u16,
    pub dir: PathBuf,
    child: Child,
}

impl SmtpSink {
    /// Starts the sink writing into `dir`; with `auth` it requires
    /// [`SMTP_USER`] / [`SMTP_PASSWORD`].
    pub fn start(dir: &Path, auth: bool) -> SmtpSink {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        if auth {
            cmd.env("SMTP_SINK_USER", SMTP_USER)
                .env("SMTP_SINK_PASSWORD", SMTP_PASSWORD);
        }
        let mut child = cmd.spawn().expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("port ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| {
                panic!("the SMTP sink did not start (is aiosmtpd installed? run scripts/setup.sh)")
            });
        SmtpSink {
            port,
            dir: dir.to_path_buf(),
            child,
        }
    }

    /// Every message delivered so far, oldest first.
    pub fn all(&self) -> Vec<Delivered> {
        let mut found: Vec<(std::time::SystemTime, Delivered)> = std::fs::read_dir(&self.dir)
            .map(|d| d.filter_map(Result::ok).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .map(|e| {
                let path = e.path();
                let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
                let when = e.metadata().unwrap().modified().unwrap();
                (
                    when,
                    Delivered {
                        rcpt: v["rcpt_tos"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|r| r.as_str().unwrap().to_string())
                            .collect(),
                        from: s("from"),
                        to: s("to"),
                        subject: s("subject"),
                        content_type: s("content_type"),
                        text: s("text"),
                        auth_user: v["auth_user"].as_str().map(String::from),
                        file: path,
                    },
                )
            })
            .collect();
        found.sort_by_key(|(when, _)| *when);
        found.into_iter().map(|(_, d)| d).collect()
    }

    /// Messages to `to` so far.
    pub fn to(&self, to: &str) -> Vec<Delivered> {
        self.all()
            .into_iter()
            .filter(|m| m.rcpt.iter().any(|r| r == to))
            .collect()
    }

    /// Waits (up to 20 s) for a message to `to` whose subject contains
    /// `subject`, and removes it from the folder so the next wait finds
    /// the next one.
    pub async fn take(&self, to: &str, subject: &str) -> Delivered {
        let start = Instant::now();
        loop {
            if let Some(m) = self
                .to(to)
                .into_iter()
                .find(|m| m.subject.contains(subject))
            {
                std::fs::remove_file(&m.file).unwrap();
                return m;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no mail to {to} about {subject:?}; delivered: {:?}",
                self.all()
                    .iter()
                    .map(|m| (&m.rcpt, &m.subject))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits `settle`, then says whether any message to `to` arrived.
    pub async fn none_to(&self, to: &str, settle: Duration) -> bool {
        tokio::time::sleep(settle).await;
        self.to(to).is_empty()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
