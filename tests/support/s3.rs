//! A real S3-compatible server for tests: `s3s-fs` (from crates.io, installed
//! into `.tools/s3s-fs` by `scripts/setup.sh`) on a free loopback port, with
//! a fresh root folder and fresh credentials — so it checks every SigV4
//! signature — and one empty bucket. The process is killed on drop.
//!
//! The binary is `VIDMOCAP_S3S_FS` when set, else
//! `.tools/s3s-fs/bin/s3s-fs` in the crate; a missing binary fails the test
//! with a message naming `scripts/setup.sh`, it never skips.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vidmocap::store::StoreConfig;

pub struct S3Server {
    child: Child,
    root: tempfile::TempDir,
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
}

/// Where the s3s-fs binary is, or a panic saying how to get it.
pub fn s3s_fs_binary() -> PathBuf {
    let path = match std::env::var_os("VIDMOCAP_S3S_FS") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/s3s-fs/bin/s3s-fs"),
    };
    assert!(
        path.is_file(),
        "the S3 test server s3s-fs is not at {}: run scripts/setup.sh (it installs s3s-fs into \
         .tools/s3s-fs) or point VIDMOCAP_S3S_FS at an s3s-fs binary",
        path.display()
    );
    path
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("OS randomness");
    hex::encode(buf)
}

impl S3Server {
    /// Starts a server with one bucket, waiting until it accepts connections.
    pub fn start() -> S3Server {
        let binary = s3s_fs_binary();
        let root = tempfile::tempdir().expect("temp dir for s3s-fs");
        let bucket = format!("vidmocap-{}", random_hex(4));
        // s3s-fs keeps each bucket as a folder under its root.
        std::fs::create_dir(root.path().join(&bucket)).expect("bucket folder");
        let access_key = format!("AK{}", random_hex(8).to_uppercase());
        let secret_key = random_hex(20);
        let log_path = root.path().join("s3s-fs.log");

        // The port is found free, then handed over; another process could take
        // it in between, so a server that dies at once is retried on a new one.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let log = std::fs::File::create(&log_path).expect("s3s-fs log file");
            let mut child = Command::new(&binary)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", &access_key, "--secret-key", &secret_key])
                .arg(root.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return S3Server {
                        child,
                        root,
                        endpoint: format!("http://127.0.0.1:{port}"),
                        bucket,
                        region: "us-east-1".into(),
                        access_key,
                        secret_key,
                    };
                }
                if child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        }
        panic!(
            "s3s-fs did not start; its log:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
    }

    /// A store configuration for this server's bucket.
    pub fn store_config(&self) -> StoreConfig {
        StoreConfig {
            kind: "s3".into(),
            endpoint: self.endpoint.clone(),
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            access_key_id: self.access_key.clone(),
            secret_access_key: self.secret_key.clone(),
            path_style: true,
            ..StoreConfig::default()
        }
    }

    /// The folder s3s-fs stores objects in.
    pub fn root(&self) -> &std::path::Path {
        self.root.path()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
