//! The S3 store against a real S3-compatible server (`s3s-fs`, started per
//! test on a free port with fresh credentials, so every request's SigV4
//! signature is checked). Presigned URLs are exercised with a plain HTTP
//! client, as a browser or `curl` would use them.

#[path = "support/s3.rs"]
mod s3;
#[path = "support/store_suite.rs"]
mod store_suite;

use std::time::Duration;

use s3::S3Server;
use vidmocap::store::s3::S3Store;
use vidmocap::store::{self as store, Presigned, Store};

async fn s3_store(server: &S3Server) -> S3Store {
    S3Store::from_config(&server.store_config())
        .await
        .expect("S3 store")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn send(p: &Presigned, body: Option<Vec<u8>>) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(p.method.as_bytes()).unwrap();
    let mut req = http().request(method, &p.url);
    for (k, v) in &p.headers {
        req = req.header(k, v);
    }
    if let Some(body) = body {
        req = req.body(body);
    }
    req.send().await.expect("HTTP request to s3s-fs")
}

#[tokio::test]
async fn s3_round_trips() {
    let server = S3Server::start();
    let scratch = tempfile::tempdir().unwrap();
    store_suite::round_trips(&s3_store(&server).await, scratch.path()).await;
}

#[tokio::test]
async fn s3_missing_objects() {
    let server = S3Server::start();
    let scratch = tempfile::tempdir().unwrap();
    store_suite::missing_objects(&s3_store(&server).await, scratch.path()).await;
}

#[tokio::test]
async fn s3_accounts_are_isolated() {
    let server = S3Server::start();
    store_suite::accounts_are_isolated(&s3_store(&server).await).await;
}

#[tokio::test]
async fn s3_lists_and_deletes_past_one_page() {
    let server = S3Server::start();
    store_suite::many_objects_list_and_delete(&s3_store(&server).await).await;
}

#[tokio::test]
async fn s3_bad_keys_are_refused() {
    let server = S3Server::start();
    store_suite::bad_keys_are_refused(&s3_store(&server).await).await;
}

#[tokio::test]
async fn open_builds_an_s3_store_from_config() {
    let server = S3Server::start();
    let store = store::open(&server.store_config(), "http://unused")
        .await
        .unwrap();
    store
        .put_bytes("k/v", b"via open".to_vec(), "text/plain")
        .await
        .unwrap();
    assert_eq!(store.get_bytes("k/v").await.unwrap(), b"via open");
    // The bytes really are in the server's bucket.
    let on_disk = server.root().join(&server.bucket).join("k/v");
    assert_eq!(std::fs::read(on_disk).unwrap(), b"via open");
}

#[tokio::test]
async fn wrong_credentials_are_refused_by_the_server() {
    let server = S3Server::start();
    let mut cfg = server.store_config();
    cfg.secret_access_key = "not-the-secret".into();
    let store = S3Store::from_config(&cfg).await.unwrap();
    let err = store.put_bytes("k", vec![1], "x/y").await.unwrap_err();
    assert_eq!(err.code(), "store.backend", "{err}");
    assert_eq!(store.list("").await.unwrap_err().code(), "store.backend");
    // Nothing was written.
    assert!(s3_store(&server).await.list("").await.unwrap().is_empty());
}

#[tokio::test]
async fn incomplete_config_is_refused() {
    let server = S3Server::start();
    for strip in ["bucket", "key", "region"] {
        let mut cfg = server.store_config();
        match strip {
            "bucket" => cfg.bucket.clear(),
            "key" => cfg.access_key_id.clear(),
            _ => cfg.region.clear(),
        }
        let err = S3Store::from_config(&cfg).await.err().expect(strip);
        assert_eq!(err.code(), "store.config", "{strip}");
    }
    let mut cfg = server.store_config();
    cfg.kind = "ftp".into();
    assert_eq!(
        store::open(&cfg, "").await.err().unwrap().code(),
        "store.config"
    );
}

#[tokio::test]
async fn presigned_get_downloads_with_a_plain_client() {
    let server = S3Server::start();
    let store = s3_store(&server).await;
    let key = "accounts/a/jobs/j/motion.glb";
    store
        .put_bytes(key, b"glTF-bytes".to_vec(), "model/gltf-binary")
        .await
        .unwrap();

    let p = store
        .presign_get(key, Duration::from_secs(300), Some("walk motion.glb"))
        .await
        .unwrap();
    assert_eq!(p.method, "GET");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((p.expires_unix - now - 300).abs() <= 2);
    assert!(p.url.starts_with(&server.endpoint), "{}", p.url);
    assert!(p.url.contains("X-Amz-Signature="), "{}", p.url);
    let resp = send(&p, None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"glTF-bytes");

    // The download name rides in the signed query (s3s-fs does not apply it
    // to the reply; AWS does), made safe, and cannot be swapped.
    let disposition =
        "response-content-disposition=attachment%3B%20filename%3D%22walk_motion.glb%22";
    assert!(p.url.contains(disposition), "{}", p.url);
    let renamed = Presigned {
        url: p.url.replace("walk_motion.glb", "evil.html"),
        ..p.clone()
    };
    assert_eq!(send(&renamed, None).await.status(), 403);
}

#[tokio::test]
async fn presigned_put_uploads_with_a_plain_client() {
    let server = S3Server::start();
    let store = s3_store(&server).await;
    let key = "accounts/a/uploads/u/clip.mp4";
    let p = store
        .presign_put(key, Duration::from_secs(300), "video/mp4")
        .await
        .unwrap();
    assert_eq!(p.method, "PUT");
    assert!(
        p.headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "video/mp4"),
        "{:?}",
        p.headers
    );

    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 13) as u8).collect();
    let resp = send(&p, Some(body.clone())).await;
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    assert!(store.get_bytes(key).await.unwrap() == body);
    assert_eq!(
        store.head(key).await.unwrap().unwrap().size,
        body.len() as u64
    );

    // The content type is signed: sending another one is refused.
    let other = store
        .presign_put(
            "accounts/a/uploads/u/2.mp4",
            Duration::from_secs(300),
            "video/mp4",
        )
        .await
        .unwrap();
    let resp = http()
        .put(&other.url)
        .header("content-type", "text/html")
        .body(b"<script>".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        store.head("accounts/a/uploads/u/2.mp4").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn tampered_presigned_urls_are_refused() {
    let server = S3Server::start();
    let store = s3_store(&server).await;
    store
        .put_bytes("accounts/a/out.json", b"A's".to_vec(), "application/json")
        .await
        .unwrap();
    store
        .put_bytes("accounts/b/out.json", b"B's".to_vec(), "application/json")
        .await
        .unwrap();
    let p = store
        .presign_get("accounts/a/out.json", Duration::from_secs(300), None)
        .await
        .unwrap();
    assert_eq!(send(&p, None).await.status(), 200);

    // Another key with A's signature: B's object stays out of reach.
    let swapped = Presigned {
        url: p.url.replace("accounts/a/out.json", "accounts/b/out.json"),
        ..p.clone()
    };
    assert_ne!(swapped.url, p.url);
    assert_eq!(send(&swapped, None).await.status(), 403);

    // A changed signature.
    let (head, sig) = p.url.split_once("X-Amz-Signature=").unwrap();
    let mut sig: Vec<u8> = sig.bytes().collect();
    sig[0] = if sig[0] == b'0' { b'1' } else { b'0' };
    let forged = Presigned {
        url: format!("{head}X-Amz-Signature={}", String::from_utf8(sig).unwrap()),
        ..p.clone()
    };
    assert_eq!(send(&forged, None).await.status(), 403);

    // A longer expiry than was signed.
    let stretched = Presigned {
        url: p.url.replace("X-Amz-Expires=300", "X-Amz-Expires=600000"),
        ..p.clone()
    };
    assert_ne!(stretched.url, p.url);
    assert_eq!(send(&stretched, None).await.status(), 403);

    // No signature at all.
    let bare = format!("{}/{}/accounts/a/out.json", server.endpoint, server.bucket);
    assert_eq!(http().get(bare).send().await.unwrap().status(), 403);

    // A presigned GET does not allow a PUT to the same key.
    let as_put = Presigned {
        method: "PUT".into(),
        ..p.clone()
    };
    assert_eq!(
        send(&as_put, Some(b"overwrite".to_vec())).await.status(),
        403
    );
    assert_eq!(
        store.get_bytes("accounts/a/out.json").await.unwrap(),
        b"A's"
    );
}

#[tokio::test]
async fn expired_presigned_urls_are_refused() {
    let server = S3Server::start();
    let store = s3_store(&server).await;
    store
        .put_bytes("accounts/a/out.json", b"x".to_vec(), "application/json")
        .await
        .unwrap();
    let get = store
        .presign_get("accounts/a/out.json", Duration::from_secs(1), None)
        .await
        .unwrap();
    let put = store
        .presign_put("accounts/a/in.mp4", Duration::from_secs(1), "video/mp4")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(send(&get, None).await.status(), 403);
    assert_eq!(send(&put, Some(b"late".to_vec())).await.status(), 403);
    assert_eq!(store.head("accounts/a/in.mp4").await.unwrap(), None);
}

#[tokio::test]
async fn presign_expiry_is_clamped_to_seven_days() {
    let server = S3Server::start();
    let store = s3_store(&server).await;
    let p = store
        .presign_get("k", Duration::from_secs(30 * 24 * 3600), None)
        .await
        .unwrap();
    assert!(p.url.contains("X-Amz-Expires=604800"), "{}", p.url);
    let mut cfg = server.store_config();
    cfg.presign_max_secs = 900;
    let short = S3Store::from_config(&cfg).await.unwrap();
    let p = short
        .presign_put("k", Duration::from_secs(3600), "x/y")
        .await
        .unwrap();
    assert!(p.url.contains("X-Amz-Expires=900"), "{}", p.url);
}

#[tokio::test]
async fn ensure_bucket_creates_a_missing_bucket_once() {
    let server = S3Server::start();
    let mut cfg = server.store_config();
    cfg.bucket = "fresh-bucket".into();
    let store = S3Store::from_config(&cfg).await.unwrap();
    // Before: no such bucket, so listing fails at the server.
    assert!(!server.root().join("fresh-bucket").exists());
    assert_eq!(store.list("").await.unwrap_err().code(), "store.backend");
    store.ensure_bucket().await.unwrap();
    assert!(server.root().join("fresh-bucket").is_dir());
    store.put_bytes("k", vec![1], "x/y").await.unwrap();
    // Again: already there, still fine, contents kept.
    store.ensure_bucket().await.unwrap();
    assert_eq!(store.get_bytes("k").await.unwrap(), [1]);
    assert_eq!(store.list("").await.unwrap().len(), 1);
}
