//! The behaviour every `Store` must show, run against each back end (the
//! local folder and a real S3 server): round trips, missing objects, listing
//! and deleting by prefix, account isolation and key checks.

#![allow(dead_code)]

use std::path::Path;

use vidmocap::store::{account_prefix, ObjectMeta, Store};

fn keys(list: Vec<ObjectMeta>) -> Vec<String> {
    list.into_iter().map(|m| m.key).collect()
}

pub async fn round_trips(store: &dyn Store, scratch: &Path) {
    let key = "accounts/a1/uploads/u1/clip.bin";
    store
        .put_bytes(key, b"hello storage".to_vec(), "application/octet-stream")
        .await
        .unwrap();
    assert_eq!(store.get_bytes(key).await.unwrap(), b"hello storage");
    let meta = store
        .head(key)
        .await
        .unwrap()
        .expect("head of a stored object");
    assert_eq!(meta.key, key);
    assert_eq!(meta.size, 13);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (meta.modified_unix - now).abs() < 300,
        "modified {} vs now {now}",
        meta.modified_unix
    );

    // A file large enough to span many buffers, with a pattern that shows
    // reordering or truncation.
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let src = scratch.join("src.bin");
    std::fs::write(&src, &data).unwrap();
    let big = "accounts/a1/outputs/j1/motion.glb";
    assert_eq!(
        store
            .put_file(big, &src, "model/gltf-binary")
            .await
            .unwrap(),
        data.len() as u64
    );
    let dest = scratch.join("dest.bin");
    assert_eq!(
        store.get_to_file(big, &dest).await.unwrap(),
        data.len() as u64
    );
    assert!(
        std::fs::read(&dest).unwrap() == data,
        "downloaded file differs"
    );
    assert_eq!(
        store.head(big).await.unwrap().unwrap().size,
        data.len() as u64
    );

    // Overwriting replaces the object.
    store
        .put_bytes(key, b"v2".to_vec(), "text/plain")
        .await
        .unwrap();
    assert_eq!(store.get_bytes(key).await.unwrap(), b"v2");
    assert_eq!(keys(store.list("accounts/a1/").await.unwrap()), [big, key]);

    store.delete(key).await.unwrap();
    assert_eq!(store.head(key).await.unwrap(), None);
    assert_eq!(
        store.get_bytes(key).await.unwrap_err().code(),
        "store.not_found"
    );
    // Deleting again is fine.
    store.delete(key).await.unwrap();
}

pub async fn missing_objects(store: &dyn Store, scratch: &Path) {
    let key = "accounts/nobody/nothing.bin";
    assert_eq!(store.head(key).await.unwrap(), None);
    assert_eq!(
        store.get_bytes(key).await.unwrap_err().code(),
        "store.not_found"
    );
    let dest = scratch.join("never.bin");
    assert_eq!(
        store.get_to_file(key, &dest).await.unwrap_err().code(),
        "store.not_found"
    );
    store.delete(key).await.unwrap();
    assert!(store.list("accounts/nobody/").await.unwrap().is_empty());
    assert_eq!(store.delete_prefix("accounts/nobody/").await.unwrap(), 0);
    let err = store
        .put_file(key, &scratch.join("no-such-source"), "x/y")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "store.io");
}

pub async fn accounts_are_isolated(store: &dyn Store) {
    let a = account_prefix("7");
    let b = account_prefix("77");
    for (prefix, n) in [(&a, 3), (&b, 2)] {
        for i in 0..n {
            store
                .put_bytes(
                    &format!("{prefix}jobs/j{i}/out.json"),
                    vec![b'x'; i + 1],
                    "application/json",
                )
                .await
                .unwrap();
        }
    }
    store
        .put_bytes("system/marker", vec![1], "text/plain")
        .await
        .unwrap();

    let listed_a = keys(store.list(&a).await.unwrap());
    assert_eq!(
        listed_a,
        [
            "accounts/7/jobs/j0/out.json",
            "accounts/7/jobs/j1/out.json",
            "accounts/7/jobs/j2/out.json"
        ]
    );
    assert!(listed_a.iter().all(|k| k.starts_with(&a)));
    let listed_b = keys(store.list(&b).await.unwrap());
    assert_eq!(
        listed_b,
        [
            "accounts/77/jobs/j0/out.json",
            "accounts/77/jobs/j1/out.json"
        ]
    );
    let sizes: Vec<u64> = store
        .list(&b)
        .await
        .unwrap()
        .iter()
        .map(|m| m.size)
        .collect();
    assert_eq!(sizes, [1, 2]);

    // Deleting one account's prefix leaves the other's objects alone.
    assert_eq!(store.delete_prefix(&a).await.unwrap(), 3);
    assert!(store.list(&a).await.unwrap().is_empty());
    assert_eq!(keys(store.list(&b).await.unwrap()), listed_b);
    assert!(store.head("system/marker").await.unwrap().is_some());
    assert_eq!(store.delete_prefix(&b).await.unwrap(), 2);
    assert_eq!(keys(store.list("").await.unwrap()), ["system/marker"]);
}

pub async fn many_objects_list_and_delete(store: &dyn Store) {
    // More than one page of a listing (S3 pages at 1000 keys).
    let prefix = account_prefix("bulk");
    let n = 1100;
    for i in 0..n {
        store
            .put_bytes(
                &format!("{prefix}o/{i:05}"),
                vec![0],
                "application/octet-stream",
            )
            .await
            .unwrap();
    }
    let listed = keys(store.list(&prefix).await.unwrap());
    assert_eq!(listed.len(), n);
    assert_eq!(listed.first().unwrap(), &format!("{prefix}o/00000"));
    assert_eq!(listed.last().unwrap(), &format!("{prefix}o/{:05}", n - 1));
    assert_eq!(store.delete_prefix(&prefix).await.unwrap(), n as u64);
    assert!(store.list(&prefix).await.unwrap().is_empty());
}

pub async fn bad_keys_are_refused(store: &dyn Store) {
    for key in [
        "../escape",
        "/abs/key",
        "a\\b",
        "a/../b",
        "",
        "a//b",
        "a b",
        "a/.hidden",
    ] {
        let err = store.put_bytes(key, vec![1], "x/y").await.unwrap_err();
        assert_eq!(err.code(), "store.not_found", "put {key:?}");
        assert!(store.get_bytes(key).await.is_err(), "get {key:?}");
        assert!(store.head(key).await.is_err(), "head {key:?}");
        assert!(store.delete(key).await.is_err(), "delete {key:?}");
        assert!(
            store
                .presign_get(key, std::time::Duration::from_secs(60), None)
                .await
                .is_err(),
            "presign {key:?}"
        );
    }
    // An empty prefix would mean everything: refused for delete.
    assert!(store.delete_prefix("").await.is_err());
}
