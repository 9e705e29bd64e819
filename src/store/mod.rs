//! Object storage for uploads and outputs: the [`Store`] trait, its
//! configuration, and the two back ends — a local folder ([`local`], the
//! default, needing no setup) and S3 or any S3-compatible server ([`s3`]).
//!
//! Every key of an account lives under [`account_prefix`], so deleting or
//! exporting an account is one prefix operation. Keys use a deliberately small
//! alphabet (see [`validate_key`]) so they never need escaping in URLs, file
//! paths or SigV4 canonical requests.

pub mod local;
pub mod s3;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// The longest expiry any presigned URL may have: 7 days, which is also the
/// ceiling SigV4 itself allows.
pub const PRESIGN_HARD_MAX_SECS: u64 = 7 * 24 * 3600;

/// Keys longer than this are refused (S3's own limit is 1024 bytes).
const MAX_KEY_LEN: usize = 1024;

/// What can go wrong in storage. `Io` and `Backend` messages carry internal
/// detail (paths, server replies) meant for logs, never for clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no object at key {0}")]
    NotFound(String),
    #[error("invalid storage key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    #[error("storage i/o failed: {0}")]
    Io(String),
    #[error("invalid storage configuration: {0}")]
    Config(String),
    #[error("storage backend failed: {0}")]
    Backend(String),
    #[error("the link's signature is not valid")]
    BadSignature,
    #[error("the link has expired")]
    Expired,
}

impl StoreError {
    /// Stable code for clients and tests. An invalid key names no object, so
    /// it reads as `store.not_found`: a client probing with odd keys learns
    /// nothing more than that nothing is there.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::NotFound(_) | StoreError::InvalidKey { .. } => "store.not_found",
            StoreError::Io(_) => "store.io",
            StoreError::Config(_) => "store.config",
            StoreError::Backend(_) => "store.backend",
            StoreError::BadSignature => "store.bad_signature",
            StoreError::Expired => "store.expired",
        }
    }
}

/// One stored object as listed or looked up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    pub modified_unix: i64,
}

/// A presigned request: whoever holds it may perform `method` on `url`,
/// sending `headers` as given, until `expires_unix`. The API hands it to
/// clients as it is (`POST /v1/uploads/presign`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(
    description = "A presigned request: send `method` to `url` with `headers` before `expires_unix`"
)]
pub struct Presigned {
    /// "GET" or "PUT".
    pub method: String,
    pub url: String,
    /// Headers the client must send with the request (for a PUT, its content type).
    pub headers: Vec<(String, String)>,
    pub expires_unix: i64,
}

/// Where blobs live. `kind` is "local" (files under `local_dir`) or "s3".
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    pub kind: String,
    pub local_dir: PathBuf,
    /// S3 endpoint URL, e.g. `http://127.0.0.1:9000`; empty means AWS itself.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Address buckets as `endpoint/bucket/key` rather than `bucket.endpoint/key`;
    /// most self-hosted S3 servers need this.
    pub path_style: bool,
    pub presign_default_secs: u64,
    /// Upper bound on presigned expiry; values above 7 days are cut to 7 days.
    pub presign_max_secs: u64,
    /// HMAC key for the local store's URLs. Empty: a random key per process,
    /// so links die with the process (fine for a single `vidmocap serve`).
    pub signing_secret: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            kind: "local".into(),
            local_dir: PathBuf::from("data/blobs"),
            endpoint: String::new(),
            bucket: String::new(),
            region: "us-east-1".into(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            path_style: false,
            presign_default_secs: 3600,
            presign_max_secs: PRESIGN_HARD_MAX_SECS,
            signing_secret: String::new(),
        }
    }
}

// Secrets must never reach a log line through `{:?}`.
impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("StoreConfig")
            .field("kind", &self.kind)
            .field("local_dir", &self.local_dir)
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redact(&self.secret_access_key))
            .field("path_style", &self.path_style)
            .field("presign_default_secs", &self.presign_default_secs)
            .field("presign_max_secs", &self.presign_max_secs)
            .field("signing_secret", &redact(&self.signing_secret))
            .finish()
    }
}

impl StoreConfig {
    /// The expiry a presigned URL actually gets: at least one second, at most
    /// `presign_max_secs` and never more than 7 days.
    pub fn clamp_expiry(&self, requested: Duration) -> Duration {
        let max = self.presign_max_secs.clamp(1, PRESIGN_HARD_MAX_SECS);
        Duration::from_secs(requested.as_secs().clamp(1, max))
    }
}

/// Object storage as the service sees it. Keys are checked with
/// [`validate_key`] by every implementation.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores the file at `src` under `key`, returning its size.
    async fn put_file(&self, key: &str, src: &Path, content_type: &str) -> Result<u64, StoreError>;
    async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), StoreError>;
    /// Copies the object to `dest` (created or replaced), returning its size.
    async fn get_to_file(&self, key: &str, dest: &Path) -> Result<u64, StoreError>;
    async fn get_bytes(&self, key: &str) -> Result<Vec<u8>, StoreError>;
    /// `None` when there is no object at `key`.
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError>;
    /// Deleting a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Deletes every object whose key starts with `prefix` (which must not be
    /// empty), returning how many were deleted.
    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError>;
    /// Every object whose key starts with `prefix`, sorted by key.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError>;
    /// Expiry is clamped to presign_max_secs (7 days at most).
    async fn presign_get(
        &self,
        key: &str,
        expires: Duration,
        download_name: Option<&str>,
    ) -> Result<Presigned, StoreError>;
    /// Expiry is clamped to presign_max_secs (7 days at most). The client must
    /// send the returned headers, including this content type.
    async fn presign_put(
        &self,
        key: &str,
        expires: Duration,
        content_type: &str,
    ) -> Result<Presigned, StoreError>;
}

/// Opens the store `cfg` describes. `public_base_url` is where the API is
/// reachable from clients (the local store's presigned URLs point there).
pub async fn open(cfg: &StoreConfig, public_base_url: &str) -> Result<Arc<dyn Store>, StoreError> {
    match cfg.kind.as_str() {
        "local" => Ok(Arc::new(local::LocalStore::from_config(
            cfg,
            public_base_url,
        )?)),
        "s3" => Ok(Arc::new(s3::S3Store::from_config(cfg).await?)),
        other => Err(StoreError::Config(format!(
            "store kind {other:?} is not known (use \"local\" or \"s3\")"
        ))),
    }
}

/// The prefix under which every key of an account lives.
pub fn account_prefix(account_id: &str) -> String {
    format!("accounts/{account_id}/")
}

/// Checks a key: 1 to 1024 bytes of ASCII letters, digits, `-`, `_`, `.` and
/// `/`; no leading `/`, no empty segment, and no segment starting with `.`
/// (which also rules out `..` and keeps the local store's scratch files,
/// named with a leading dot, out of the key space).
pub fn validate_key(key: &str) -> Result<(), StoreError> {
    validate(key, false)
}

/// Like [`validate_key`], but the prefix may end with `/` (or be a partial
/// segment); an empty prefix means "everything".
pub fn validate_prefix(prefix: &str) -> Result<(), StoreError> {
    if prefix.is_empty() {
        return Ok(());
    }
    validate(prefix, true)
}

fn validate(key: &str, is_prefix: bool) -> Result<(), StoreError> {
    let bad = |reason| {
        Err(StoreError::InvalidKey {
            key: key.chars().take(200).collect(),
            reason,
        })
    };
    if key.is_empty() {
        return bad("empty");
    }
    if key.len() > MAX_KEY_LEN {
        return bad("longer than 1024 bytes");
    }
    if let Some(c) = key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')))
    {
        return if c == '\\' {
            bad("contains a backslash")
        } else {
            bad("contains a character outside [A-Za-z0-9._/-]")
        };
    }
    if key.starts_with('/') {
        return bad("is absolute");
    }
    let segments: Vec<&str> = key.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if seg.is_empty() && !(is_prefix && last) {
            return bad("has an empty segment");
        }
        if seg.starts_with('.') {
            return bad("has a segment starting with '.'");
        }
    }
    Ok(())
}

pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        for good in [
            "a",
            "accounts/1/uploads/x.mp4",
            "a-b_c.d/e",
            "accounts/AbC9/out/motion.glb",
        ] {
            assert!(validate_key(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "..",
            "a/./b",
            "a\\b",
            "a//b",
            "a/",
            "a/.hidden",
            "a b",
            "a?b",
            "a%2e",
            "é",
            "C:\\x",
        ] {
            let err = validate_key(bad).unwrap_err();
            assert_eq!(err.code(), "store.not_found", "{bad}");
            assert!(matches!(err, StoreError::InvalidKey { .. }), "{bad}");
        }
        assert!(validate_key(&"a".repeat(1025)).is_err());
        assert!(validate_key(&"a".repeat(1024)).is_ok());
    }

    #[test]
    fn prefixes_may_end_open() {
        for good in ["", "accounts/1/", "accounts/1", "acc"] {
            assert!(validate_prefix(good).is_ok(), "{good}");
        }
        for bad in ["/", "/a", "a//", "../", "a/../"] {
            assert!(validate_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn account_prefixes_do_not_nest() {
        let a = account_prefix("1");
        let b = account_prefix("12");
        assert_eq!(a, "accounts/1/");
        assert!(!b.starts_with(&a) && !a.starts_with(&b));
    }

    #[test]
    fn expiry_is_clamped_to_seven_days() {
        let mut cfg = StoreConfig::default();
        assert_eq!(cfg.clamp_expiry(Duration::from_secs(60)).as_secs(), 60);
        assert_eq!(cfg.clamp_expiry(Duration::ZERO).as_secs(), 1);
        assert_eq!(
            cfg.clamp_expiry(Duration::from_secs(30 * 24 * 3600))
                .as_secs(),
            PRESIGN_HARD_MAX_SECS
        );
        cfg.presign_max_secs = 600;
        assert_eq!(cfg.clamp_expiry(Duration::from_secs(3600)).as_secs(), 600);
        cfg.presign_max_secs = 10 * PRESIGN_HARD_MAX_SECS;
        assert_eq!(
            cfg.clamp_expiry(Duration::from_secs(9 * 24 * 3600))
                .as_secs(),
            PRESIGN_HARD_MAX_SECS
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let cfg = StoreConfig {
            secret_access_key: "s3-secret-value".into(),
            signing_secret: "hmac-secret-value".into(),
            ..StoreConfig::default()
        };
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("s3-secret-value") && !shown.contains("hmac-secret-value"));
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn config_reads_from_toml_with_defaults() {
        let cfg: StoreConfig =
            toml::from_str("kind = \"s3\"\nbucket = \"b\"\npath_style = true\n").unwrap();
        assert_eq!(cfg.kind, "s3");
        assert_eq!(cfg.bucket, "b");
        assert!(cfg.path_style);
        assert_eq!(cfg.presign_default_secs, 3600);
        assert_eq!(cfg.local_dir, PathBuf::from("data/blobs"));
        assert!(toml::from_str::<StoreConfig>("nope = 1").is_err());
    }
}
