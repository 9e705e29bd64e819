//! The local-folder store: each object is a file under `local_dir`, named by
//! its key. Writes go to a scratch file first and are renamed into place, so a
//! reader never sees half an object. Presigned URLs point at the API's
//! `/v1/blobs/{key}` route, which checks them with [`LocalStore::verify`] and
//! serves or receives the file at [`LocalStore::path_of`].

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{
    now_unix, validate_key, validate_prefix, ObjectMeta, Presigned, Store, StoreConfig, StoreError,
};

type HmacSha256 = Hmac<Sha256>;

/// Scratch folder under the root for writes in progress; its leading dot
/// keeps it out of the key space.
const PARTIAL_DIR: &str = ".partial";

/// Files under a folder, addressed by key.
pub struct LocalStore {
    root: PathBuf,
    secret: Vec<u8>,
    base_url: String,
    cfg: StoreConfig,
}

impl LocalStore {
    /// Opens (creating if needed) the folder `cfg.local_dir`. An empty
    /// `signing_secret` gets a random one for this process.
    pub fn from_config(cfg: &StoreConfig, public_base_url: &str) -> Result<Self, StoreError> {
        std::fs::create_dir_all(&cfg.local_dir).map_err(|e| {
            StoreError::Config(format!("cannot create {}: {e}", cfg.local_dir.display()))
        })?;
        let secret = if cfg.signing_secret.is_empty() {
            tracing::warn!("store.signing_secret is empty: using a random one, so blob links end with this process");
            random_bytes::<32>()?.to_vec()
        } else {
            cfg.signing_secret.as_bytes().to_vec()
        };
        Ok(LocalStore {
            root: cfg.local_dir.clone(),
            secret,
            base_url: public_base_url.trim_end_matches('/').to_string(),
            cfg: cfg.clone(),
        })
    }

    /// The file that holds `key` (which need not exist yet).
    pub fn path_of(&self, key: &str) -> Result<PathBuf, StoreError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    /// Checks a presigned URL's parts: the signature must be ours for this
    /// method, key and expiry (compared in constant time), and `now_unix`
    /// must not be past the expiry. A forged link is `BadSignature` even when
    /// its expiry has passed too.
    pub fn verify(
        &self,
        method: &str,
        key: &str,
        exp: i64,
        sig: &str,
        now_unix: i64,
    ) -> Result<(), StoreError> {
        if !matches!(method, "GET" | "PUT") || validate_key(key).is_err() {
            return Err(StoreError::BadSignature);
        }
        let sig = hex::decode(sig).map_err(|_| StoreError::BadSignature)?;
        self.mac(method, key, exp)
            .verify_slice(&sig)
            .map_err(|_| StoreError::BadSignature)?;
        if now_unix > exp {
            return Err(StoreError::Expired);
        }
        Ok(())
    }

    fn mac(&self, method: &str, key: &str, exp: i64) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(&self.secret).expect("HMAC takes a key of any length");
        mac.update(format!("{method}\n{key}\n{exp}").as_bytes());
        mac
    }

    fn presign(
        &self,
        method: &str,
        key: &str,
        expires: Duration,
    ) -> Result<(String, i64), StoreError> {
        validate_key(key)?;
        let exp = now_unix() + self.cfg.clamp_expiry(expires).as_secs() as i64;
        let sig = hex::encode(self.mac(method, key, exp).finalize().into_bytes());
        // Keys are restricted to URL-safe characters, so they go in unescaped.
        let url = format!(
            "{}/v1/blobs/{key}?method={method}&exp={exp}&sig={sig}",
            self.base_url
        );
        Ok((url, exp))
    }

    /// A fresh scratch path for a write in progress.
    async fn scratch_path(&self) -> Result<PathBuf, StoreError> {
        let dir = self.root.join(PARTIAL_DIR);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io_err(&dir, e))?;
        Ok(dir.join(hex::encode(random_bytes::<12>()?)))
    }

    /// Moves a finished scratch file to `key`'s path.
    async fn install(&self, scratch: &Path, key: &str) -> Result<(), StoreError> {
        let dest = self.path_of(key)?;
        let parent = dest.parent().unwrap_or(&self.root).to_path_buf();
        // A concurrent delete may prune the freshly made parent folder before
        // the rename lands; making it again and retrying settles that.
        let mut last = None;
        for _ in 0..3 {
            tokio::fs::create_dir_all(&parent)
                .await
                .map_err(|e| io_err(&parent, e))?;
            match tokio::fs::rename(scratch, &dest).await {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::NotFound => last = Some(e),
                Err(e) => {
                    let _ = tokio::fs::remove_file(scratch).await;
                    return Err(io_err(&dest, e));
                }
            }
        }
        let _ = tokio::fs::remove_file(scratch).await;
        Err(io_err(
            &dest,
            last.unwrap_or_else(|| ErrorKind::NotFound.into()),
        ))
    }

    /// Removes folders left empty by a delete, up to (not including) the root.
    async fn prune_empty_parents(&self, path: &Path) {
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == self.root
                || !d.starts_with(&self.root)
                || tokio::fs::remove_dir(d).await.is_err()
            {
                break;
            }
            dir = d.parent();
        }
    }
}

#[async_trait]
impl Store for LocalStore {
    async fn put_file(
        &self,
        key: &str,
        src: &Path,
        _content_type: &str,
    ) -> Result<u64, StoreError> {
        validate_key(key)?;
        let scratch = self.scratch_path().await?;
        let size = match tokio::fs::copy(src, &scratch).await {
            Ok(n) => n,
            Err(e) => {
                let _ = tokio::fs::remove_file(&scratch).await;
                return Err(io_err(src, e));
            }
        };
        self.install(&scratch, key).await?;
        Ok(size)
    }

    async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        _content_type: &str,
    ) -> Result<(), StoreError> {
        validate_key(key)?;
        let scratch = self.scratch_path().await?;
        if let Err(e) = tokio::fs::write(&scratch, &bytes).await {
            let _ = tokio::fs::remove_file(&scratch).await;
            return Err(io_err(&scratch, e));
        }
        self.install(&scratch, key).await
    }

    async fn get_to_file(&self, key: &str, dest: &Path) -> Result<u64, StoreError> {
        let path = self.path_of(key)?;
        if !is_file(&path).await {
            return Err(StoreError::NotFound(key.to_string()));
        }
        tokio::fs::copy(&path, dest)
            .await
            .map_err(|e| match e.kind() {
                ErrorKind::NotFound if !path.exists() => StoreError::NotFound(key.to_string()),
                _ => io_err(dest, e),
            })
    }

    async fn get_bytes(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path_of(key)?;
        if !is_file(&path).await {
            return Err(StoreError::NotFound(key.to_string()));
        }
        tokio::fs::read(&path).await.map_err(|e| match e.kind() {
            ErrorKind::NotFound => StoreError::NotFound(key.to_string()),
            _ => io_err(&path, e),
        })
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        let path = self.path_of(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => Ok(Some(meta_of(key.to_string(), &m))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&path, e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path_of(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {
                self.prune_empty_parents(&path).await;
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            // A folder at the key is not an object: nothing to delete.
            Err(_) if path.is_dir() => Ok(()),
            Err(e) => Err(io_err(&path, e)),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        if prefix.is_empty() {
            return Err(StoreError::InvalidKey {
                key: String::new(),
                reason: "delete_prefix needs a non-empty prefix",
            });
        }
        let mut deleted = 0;
        for obj in self.list(prefix).await? {
            self.delete(&obj.key).await?;
            deleted += 1;
        }
        Ok(deleted)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        validate_prefix(prefix)?;
        let root = self.root.clone();
        let prefix = prefix.to_string();
        tokio::task::spawn_blocking(move || list_blocking(&root, &prefix))
            .await
            .map_err(|e| StoreError::Io(format!("listing task failed: {e}")))?
    }

    async fn presign_get(
        &self,
        key: &str,
        expires: Duration,
        download_name: Option<&str>,
    ) -> Result<Presigned, StoreError> {
        let (mut url, exp) = self.presign("GET", key, expires)?;
        // The name only shapes Content-Disposition and is not signed, so it is
        // reduced to characters that need no escaping anywhere.
        if let Some(name) = download_name.map(safe_file_name).filter(|n| !n.is_empty()) {
            url.push_str("&name=");
            url.push_str(&name);
        }
        Ok(Presigned {
            method: "GET".into(),
            url,
            headers: Vec::new(),
            expires_unix: exp,
        })
    }

    async fn presign_put(
        &self,
        key: &str,
        expires: Duration,
        content_type: &str,
    ) -> Result<Presigned, StoreError> {
        let (url, exp) = self.presign("PUT", key, expires)?;
        Ok(Presigned {
            method: "PUT".into(),
            url,
            headers: vec![("content-type".into(), content_type.to_string())],
            expires_unix: exp,
        })
    }
}

/// `name` with every character outside `[A-Za-z0-9._-]` replaced by `_` and
/// no leading dot, at most 200 characters.
pub fn safe_file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .take(200)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    cleaned.trim_start_matches('.').to_string()
}

fn list_blocking(root: &Path, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
    // Only the folder named by the prefix's complete segments can hold matches.
    let start_key = prefix.rfind('/').map(|i| &prefix[..i]).unwrap_or("");
    let mut out = Vec::new();
    let mut stack = vec![(root.join(start_key), start_key.to_string())];
    while let Some((dir, dir_key)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(&dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io_err(&dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue;
            }
            let key = if dir_key.is_empty() {
                name.to_string()
            } else {
                format!("{dir_key}/{name}")
            };
            // Symlinks are neither: the store never follows them.
            let file_type = entry.file_type().map_err(|e| io_err(&entry.path(), e))?;
            if file_type.is_dir() {
                if format!("{key}/").starts_with(prefix) || prefix.starts_with(&format!("{key}/")) {
                    stack.push((entry.path(), key));
                }
            } else if file_type.is_file() && key.starts_with(prefix) && validate_key(&key).is_ok() {
                match entry.metadata() {
                    Ok(m) => out.push(meta_of(key, &m)),
                    // Deleted while we looked: not there any more.
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(&entry.path(), e)),
                }
            }
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

fn meta_of(key: String, m: &std::fs::Metadata) -> ObjectMeta {
    let modified_unix = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    ObjectMeta {
        key,
        size: m.len(),
        modified_unix,
    }
}

async fn is_file(path: &Path) -> bool {
    tokio::fs::metadata(path)
        .await
        .map(|m| m.is_file())
        .unwrap_or(false)
}

fn io_err(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Io(format!("{}: {e}", path.display()))
}

fn random_bytes<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)
        .map_err(|e| StoreError::Io(format!("no randomness from the OS: {e}")))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path) -> LocalStore {
        let cfg = StoreConfig {
            local_dir: dir.join("blobs"),
            signing_secret: "test-secret".into(),
            ..StoreConfig::default()
        };
        LocalStore::from_config(&cfg, "http://api.test/").unwrap()
    }

    /// Splits one of our URLs back into (method, key, exp, sig).
    fn parts(url: &str) -> (String, String, i64, String) {
        let rest = url.strip_prefix("http://api.test/v1/blobs/").expect(url);
        let (key, query) = rest.split_once('?').unwrap();
        let mut method = String::new();
        let mut exp = 0;
        let mut sig = String::new();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap();
            match k {
                "method" => method = v.to_string(),
                "exp" => exp = v.parse().unwrap(),
                "sig" => sig = v.to_string(),
                _ => {}
            }
        }
        (method, key.to_string(), exp, sig)
    }

    #[tokio::test]
    async fn round_trips_bytes_and_files() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path());
        s.put_bytes(
            "accounts/a/x.bin",
            b"hello".to_vec(),
            "application/octet-stream",
        )
        .await
        .unwrap();
        assert_eq!(s.get_bytes("accounts/a/x.bin").await.unwrap(), b"hello");
        let meta = s.head("accounts/a/x.bin").await.unwrap().unwrap();
        assert_eq!((meta.key.as_str(), meta.size), ("accounts/a/x.bin", 5));
        assert!(meta.modified_unix > 1_600_000_000);

        let src = tmp.path().join("src.dat");
        std::fs::write(&src, vec![7u8; 10_000]).unwrap();
        assert_eq!(
            s.put_file("accounts/a/y/z.dat", &src, "x/y").await.unwrap(),
            10_000
        );
        let dest = tmp.path().join("dest.dat");
        assert_eq!(
            s.get_to_file("accounts/a/y/z.dat", &dest).await.unwrap(),
            10_000
        );
        assert_eq!(std::fs::read(&dest).unwrap(), vec![7u8; 10_000]);

        // Overwrite replaces.
        s.put_bytes("accounts/a/x.bin", b"bye".to_vec(), "text/plain")
            .await
            .unwrap();
        assert_eq!(s.get_bytes("accounts/a/x.bin").await.unwrap(), b"bye");
        // No scratch files are left behind or listed.
        let keys: Vec<String> = s
            .list("")
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.key)
            .collect();
        assert_eq!(keys, ["accounts/a/x.bin", "accounts/a/y/z.dat"]);
        assert_eq!(
            std::fs::read_dir(tmp.path().join("blobs/.partial"))
                .unwrap()
                .count(),
            0
        );
    }

    #[tokio::test]
    async fn missing_objects() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path());
        assert_eq!(
            s.get_bytes("nope").await.unwrap_err().code(),
            "store.not_found"
        );
        let dest = tmp.path().join("d");
        assert_eq!(
            s.get_to_file("nope", &dest).await.unwrap_err().code(),
            "store.not_found"
        );
        assert!(!dest.exists());
        assert_eq!(s.head("nope").await.unwrap(), None);
        s.delete("nope").await.unwrap();
        // A folder is not an object.
        s.put_bytes("d/e", vec![1], "x").await.unwrap();
        assert_eq!(s.head("d").await.unwrap(), None);
        assert_eq!(
            s.get_bytes("d").await.unwrap_err().code(),
            "store.not_found"
        );
        assert_eq!(
            s.put_file("k", &tmp.path().join("absent"), "x")
                .await
                .unwrap_err()
                .code(),
            "store.io"
        );
    }

    #[tokio::test]
    async fn list_and_delete_prefix_respect_boundaries() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path());
        for key in [
            "accounts/1/a",
            "accounts/1/b/c",
            "accounts/12/a",
            "accounts/2/a",
            "other",
        ] {
            s.put_bytes(key, key.as_bytes().to_vec(), "text/plain")
                .await
                .unwrap();
        }
        let keys = |v: Vec<ObjectMeta>| v.into_iter().map(|m| m.key).collect::<Vec<_>>();
        assert_eq!(
            keys(s.list("accounts/1/").await.unwrap()),
            ["accounts/1/a", "accounts/1/b/c"]
        );
        assert_eq!(
            keys(s.list("accounts/1").await.unwrap()),
            ["accounts/1/a", "accounts/1/b/c", "accounts/12/a"]
        );
        assert_eq!(
            keys(s.list("accounts/1/b").await.unwrap()),
            ["accounts/1/b/c"]
        );
        assert!(s.list("accounts/3/").await.unwrap().is_empty());
        assert_eq!(s.list("").await.unwrap().len(), 5);

        assert_eq!(s.delete_prefix("accounts/1/").await.unwrap(), 2);
        assert_eq!(
            keys(s.list("").await.unwrap()),
            ["accounts/12/a", "accounts/2/a", "other"]
        );
        // Emptied folders are pruned, the root stays.
        assert!(!tmp.path().join("blobs/accounts/1").exists());
        assert_eq!(s.delete_prefix("accounts/1/").await.unwrap(), 0);
        assert_eq!(
            s.delete_prefix("").await.unwrap_err().code(),
            "store.not_found"
        );
        assert!(tmp.path().join("blobs").is_dir());
    }

    #[tokio::test]
    async fn bad_keys_are_refused_everywhere() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path());
        std::fs::write(tmp.path().join("secret"), "s").unwrap();
        for key in [
            "../secret",
            "/etc/passwd",
            "a\\b",
            "a/../../secret",
            "",
            ".partial/x",
        ] {
            assert!(s.path_of(key).is_err(), "{key}");
            assert!(s.get_bytes(key).await.is_err(), "{key}");
            assert!(s.put_bytes(key, vec![1], "x").await.is_err(), "{key}");
            assert!(s.head(key).await.is_err(), "{key}");
            assert!(s.delete(key).await.is_err(), "{key}");
            assert!(
                s.presign_get(key, Duration::from_secs(60), None)
                    .await
                    .is_err(),
                "{key}"
            );
        }
        assert!(s.list("../").await.is_err());
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("secret")).unwrap(),
            "s"
        );
    }

    #[tokio::test]
    async fn presigned_urls_verify() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path());
        let now = now_unix();
        let p = s
            .presign_get(
                "accounts/1/out/motion.glb",
                Duration::from_secs(600),
                Some("my motion.glb"),
            )
            .await
            .unwrap();
        assert_eq!(p.method, "GET");
        assert!(p.url.ends_with("&name=my_motion.glb"), "{}", p.url);
        assert!((p.expires_unix - now - 600).abs() <= 1);
        let (method, key, exp, sig) = parts(&p.url);
        assert_eq!(
            (method.as_str(), key.as_str(), exp),
            ("GET", "accounts/1/out/motion.glb", p.expires_unix)
        );

        // Good.
        s.verify("GET", &key, exp, &sig, now).unwrap();
        s.verify("GET", &key, exp, &sig, exp).unwrap();
        // Expired.
        assert_eq!(
            s.verify("GET", &key, exp, &sig, exp + 1)
                .unwrap_err()
                .code(),
            "store.expired"
        );
        // Wrong method.
        assert_eq!(
            s.verify("PUT", &key, exp, &sig, now).unwrap_err().code(),
            "store.bad_signature"
        );
        assert_eq!(
            s.verify("DELETE", &key, exp, &sig, now).unwrap_err().code(),
            "store.bad_signature"
        );
        // Tampered key, expiry or signature.
        let bad = |r: Result<(), StoreError>| r.unwrap_err().code();
        assert_eq!(
            bad(s.verify("GET", "accounts/2/out/motion.glb", exp, &sig, now)),
            "store.bad_signature"
        );
        assert_eq!(
            bad(s.verify("GET", &key, exp + 3600, &sig, now)),
            "store.bad_signature"
        );
        let mut flipped = sig.clone().into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(
            bad(s.verify("GET", &key, exp, &flipped, now)),
            "store.bad_signature"
        );
        assert_eq!(
            bad(s.verify("GET", &key, exp, "zz", now)),
            "store.bad_signature"
        );
        assert_eq!(
            bad(s.verify("GET", &key, exp, "", now)),
            "store.bad_signature"
        );
        assert_eq!(
            bad(s.verify("GET", &key, exp, &sig[..32], now)),
            "store.bad_signature"
        );
        // Tampered and expired reads as forged, not merely expired.
        assert_eq!(
            bad(s.verify("GET", &key, exp, &flipped, exp + 10)),
            "store.bad_signature"
        );

        // Another secret signs differently.
        let other = LocalStore::from_config(
            &StoreConfig {
                local_dir: tmp.path().join("blobs"),
                signing_secret: "another".into(),
                ..StoreConfig::default()
            },
            "http://api.test",
        )
        .unwrap();
        assert_eq!(
            bad(other.verify("GET", &key, exp, &sig, now)),
            "store.bad_signature"
        );

        let put = s
            .presign_put("accounts/1/in/u.mp4", Duration::from_secs(60), "video/mp4")
            .await
            .unwrap();
        assert_eq!(
            put.headers,
            [("content-type".to_string(), "video/mp4".to_string())]
        );
        let (method, key, exp, sig) = parts(&put.url);
        assert_eq!(method, "PUT");
        s.verify("PUT", &key, exp, &sig, now).unwrap();
        assert_eq!(
            bad(s.verify("GET", &key, exp, &sig, now)),
            "store.bad_signature"
        );
    }

    #[tokio::test]
    async fn presign_expiry_is_clamped() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path());
        let p = s
            .presign_get("k", Duration::from_secs(365 * 24 * 3600), None)
            .await
            .unwrap();
        assert!(p.expires_unix - now_unix() <= super::super::PRESIGN_HARD_MAX_SECS as i64);
        assert!(!p.url.contains("&name="));
    }

    #[test]
    fn download_names_are_made_safe() {
        assert_eq!(
            safe_file_name("walk outdoor (1).glb"),
            "walk_outdoor__1_.glb"
        );
        assert_eq!(safe_file_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(safe_file_name("a\r\nSet-Cookie: x"), "a__Set-Cookie__x");
        assert_eq!(safe_file_name("..."), "");
    }
}
