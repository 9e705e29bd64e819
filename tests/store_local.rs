//! The local-folder store: the same behaviour suite as the S3 store, plus its
//! own presigned URLs, which the API's `/v1/blobs` route checks with
//! `LocalStore::verify` (no HTTP server here; the route is the service's).

#[path = "support/store_suite.rs"]
mod store_suite;

use std::time::Duration;

use vidmocap::store::local::LocalStore;
use vidmocap::store::{self as store, Store, StoreConfig};

fn local(dir: &std::path::Path) -> LocalStore {
    let cfg = StoreConfig {
        local_dir: dir.join("blobs"),
        signing_secret: "local-test-secret".into(),
        ..StoreConfig::default()
    };
    LocalStore::from_config(&cfg, "https://api.example").unwrap()
}

/// (method, key, exp, sig) from one of the local store's URLs.
fn url_parts(url: &str) -> (String, String, i64, String) {
    let rest = url
        .strip_prefix("https://api.example/v1/blobs/")
        .expect(url);
    let (key, query) = rest.split_once('?').unwrap();
    let get = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {url}"))
            .to_string()
    };
    (
        get("method"),
        key.to_string(),
        get("exp").parse().unwrap(),
        get("sig"),
    )
}

#[tokio::test]
async fn local_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    store_suite::round_trips(&local(tmp.path()), tmp.path()).await;
}

#[tokio::test]
async fn local_missing_objects() {
    let tmp = tempfile::tempdir().unwrap();
    store_suite::missing_objects(&local(tmp.path()), tmp.path()).await;
}

#[tokio::test]
async fn local_accounts_are_isolated() {
    let tmp = tempfile::tempdir().unwrap();
    store_suite::accounts_are_isolated(&local(tmp.path())).await;
}

#[tokio::test]
async fn local_lists_and_deletes_many() {
    let tmp = tempfile::tempdir().unwrap();
    store_suite::many_objects_list_and_delete(&local(tmp.path())).await;
}

#[tokio::test]
async fn local_bad_keys_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    store_suite::bad_keys_are_refused(&local(tmp.path())).await;
}

#[tokio::test]
async fn open_defaults_to_a_local_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = StoreConfig {
        local_dir: tmp.path().join("data/blobs"),
        ..StoreConfig::default()
    };
    let store = store::open(&cfg, "http://127.0.0.1:8080").await.unwrap();
    store
        .put_bytes("accounts/1/x", b"1".to_vec(), "text/plain")
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(tmp.path().join("data/blobs/accounts/1/x")).unwrap(),
        b"1"
    );
    let p = store
        .presign_get("accounts/1/x", Duration::from_secs(60), None)
        .await
        .unwrap();
    assert!(
        p.url
            .starts_with("http://127.0.0.1:8080/v1/blobs/accounts/1/x?method=GET&exp="),
        "{}",
        p.url
    );
}

#[tokio::test]
async fn local_presigned_urls_verify_and_refuse_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let s = local(tmp.path());
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    let get = s
        .presign_get("accounts/a/out.json", Duration::from_secs(300), None)
        .await
        .unwrap();
    let (method, key, exp, sig) = url_parts(&get.url);
    assert_eq!(exp, get.expires_unix);
    s.verify(&method, &key, exp, &sig, now()).unwrap();
    // The route serves this file.
    assert_eq!(
        s.path_of(&key).unwrap(),
        tmp.path().join("blobs/accounts/a/out.json")
    );

    let code = |r: Result<(), vidmocap::store::StoreError>| r.unwrap_err().code();
    assert_eq!(
        code(s.verify("GET", "accounts/b/out.json", exp, &sig, now())),
        "store.bad_signature"
    );
    assert_eq!(
        code(s.verify("PUT", &key, exp, &sig, now())),
        "store.bad_signature"
    );
    assert_eq!(
        code(s.verify("GET", &key, exp + 1, &sig, now())),
        "store.bad_signature"
    );
    let forged = format!(
        "{}{}",
        &sig[..63],
        if sig.ends_with('0') { '1' } else { '0' }
    );
    assert_eq!(
        code(s.verify("GET", &key, exp, &forged, now())),
        "store.bad_signature"
    );
    assert_eq!(
        code(s.verify("GET", "../../etc/passwd", exp, &sig, now())),
        "store.bad_signature"
    );

    let put = s
        .presign_put("accounts/a/in.mp4", Duration::from_secs(300), "video/mp4")
        .await
        .unwrap();
    let (method, key, exp, sig) = url_parts(&put.url);
    assert_eq!(method, "PUT");
    s.verify("PUT", &key, exp, &sig, now()).unwrap();

    // A 1 s link, checked after it ran out.
    let short = s
        .presign_get("accounts/a/out.json", Duration::from_secs(1), None)
        .await
        .unwrap();
    let (method, key, exp, sig) = url_parts(&short.url);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        code(s.verify(&method, &key, exp, &sig, now())),
        "store.expired"
    );
}
