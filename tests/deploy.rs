//! The deployment in `deploy/` agrees with the binary it deploys: the
//! fleet's configuration file loads with the variables the manifests set,
//! a stopping worker's grace period outlasts its job lease, and the query
//! KEDA scales the workers on is the one `vidmocap admin queue-depth`
//! prints and runs, checked against real PostgreSQL. The manifests' schema
//! checks (kubernetes-validate, KEDA's schemas, yamllint, the compose
//! specification) are `scripts/check-deploy.sh`, which `make test` runs.

#[path = "support/service.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Backend, TestDb};
use vidmocap::config::Config;
use vidmocap::db::jobs::{Finish, NewJob};
use vidmocap::db::{now_ms, Db};

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(deploy(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The value after `key:` on the first line that has it, unquoted.
fn yaml_value(text: &str, key: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let (at, value) = lines
        .iter()
        .enumerate()
        .find_map(|(i, l)| Some((i, l.trim().strip_prefix(&format!("{key}:"))?)))
        .unwrap_or_else(|| panic!("no {key} in the manifest"));
    if value.trim() == ">-" {
        // A folded block: the more-indented lines after it, joined by spaces.
        let indent = |l: &str| l.len() - l.trim_start().len();
        let own = indent(lines[at]);
        return lines[at + 1..]
            .iter()
            .take_while(|l| indent(l) > own && !l.trim().is_empty())
            .map(|l| l.trim())
            .collect::<Vec<_>>()
            .join(" ");
    }
    value.trim().trim_matches('"').to_string()
}

/// Every `VIDMOCAP_*` variable a manifest sets.
fn env_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("- name: "))
        .filter(|n| n.starts_with("VIDMOCAP_"))
        .map(str::to_string)
        .collect()
}

fn vidmocap(args: &[&str], database_url: Option<&str>) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vidmocap"));
    cmd.args(args).env_remove("VIDMOCAP_DATABASE_URL");
    if let Some(url) = database_url {
        cmd.env("VIDMOCAP_DATABASE_URL", url);
    }
    let out = cmd.output().expect("vidmocap runs");
    assert!(
        out.status.success(),
        "vidmocap {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn the_fleet_configuration_loads_with_the_manifests_variables() {
    let mut config = Config::from_file(&deploy("k8s/base/vidmocap.toml")).expect("config parses");
    let mut names = env_names(&read("k8s/base/api-deployment.yaml"));
    names.extend(env_names(&read("k8s/base/worker-deployment.yaml")));
    assert!(names.contains(&"VIDMOCAP_S3_SECRET_ACCESS_KEY".to_string()));
    config
        .apply_env(|n| names.iter().any(|m| m == n).then(|| format!("{n}-value")))
        .expect("every variable the manifests set is one the binary reads");
    config.service.validate().expect("a service that can run");
    let store = &config.service.store;
    assert_eq!(store.kind, "s3");
    assert_eq!(store.access_key_id, "VIDMOCAP_S3_ACCESS_KEY_ID-value");
    assert_eq!(
        store.secret_access_key,
        "VIDMOCAP_S3_SECRET_ACCESS_KEY-value"
    );
    assert_eq!(config.service.database_url, "VIDMOCAP_DATABASE_URL-value");
    assert_eq!(config.models.dir, PathBuf::from("/models"));

    // A stopping worker hands its job back within its lease; Kubernetes and
    // compose must wait longer than that before killing it.
    let lease = config.service.lease_secs;
    let grace: i64 = yaml_value(
        &read("k8s/base/worker-deployment.yaml"),
        "terminationGracePeriodSeconds",
    )
    .parse()
    .unwrap();
    assert!(
        grace > lease,
        "grace {grace} s must outlast the lease {lease} s"
    );
    let compose_grace = yaml_value(&read("compose.yaml"), "stop_grace_period");
    let compose_grace: i64 = compose_grace.trim_end_matches('s').parse().unwrap();
    assert!(compose_grace > lease);
}

#[test]
fn keda_scales_on_the_query_queue_depth_prints() {
    let printed = vidmocap(&["admin", "queue-depth", "--sql"], None);
    let scaled = yaml_value(&read("k8s/components/keda/scaledobject.yaml"), "query");
    assert_eq!(scaled, printed);
    assert_eq!(printed, vidmocap::db::jobs::QUEUE_DEPTH_SQL);
}

#[tokio::test(flavor = "multi_thread")]
async fn queue_depth_counts_queued_and_running_jobs_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let test_db = TestDb::new(Backend::Postgres, dir.path()).await;
    let db = Db::open(&test_db.url).await.unwrap();
    db.migrate().await.unwrap();
    let now = now_ms();
    db.create_account("acct", "fleet@example.com", "x", "pro", false, now)
        .await
        .unwrap()
        .expect("account created");
    db.add_credits("acct", 1000, "grant", None).await.unwrap();
    for i in 0..4 {
        db.create_job(&NewJob {
            id: format!("job{i}"),
            account_id: "acct".into(),
            upload_id: "upload".into(),
            idempotency_key: None,
            request_hash: format!("h{i}"),
            options_json: "{}".into(),
            price: 5,
            priority: 0,
            max_running: 4,
            max_attempts: 3,
            now: now + i,
        })
        .await
        .unwrap();
    }
    // Two claimed (running), one of them finished: 2 queued + 1 running.
    let a = db.claim_job("w", now, now + 30_000).await.unwrap().unwrap();
    let b = db.claim_job("w", now, now + 30_000).await.unwrap().unwrap();
    let failed = Finish::Failed {
        code: "job.internal".into(),
        message: "test".into(),
    };
    assert!(db.finish_job(&a, "w", &failed, now).await.unwrap());

    assert_eq!(db.queue_depth().await.unwrap(), 3);
    let printed = vidmocap(&["admin", "queue-depth"], Some(&test_db.url));
    assert_eq!(printed, "3");
    // What KEDA runs, exactly as the manifest has it.
    let query = yaml_value(&read("k8s/components/keda/scaledobject.yaml"), "query");
    let (n,): (i64,) = sqlx::query_as(&query).fetch_one(&db.pool).await.unwrap();
    assert_eq!(n, 3);

    // The running job splits into three segments: it counts as those
    // still to run (2 queued + 3), then as itself again while stitching.
    let spans: Vec<(String, i64)> = (0..3).map(|_| ("{}".to_string(), 10)).collect();
    db.plan_segments(&b.id, &spans, 3, now).await.unwrap();
    assert_eq!(db.queue_depth().await.unwrap(), 5);
    let (n,): (i64,) = sqlx::query_as(&query).fetch_one(&db.pool).await.unwrap();
    assert_eq!(n, 5);
    for i in 0..3 {
        let seg = db
            .claim_segment("w", now + 30_000, None)
            .await
            .unwrap()
            .unwrap();
        // A running segment still counts; a done one no longer.
        assert_eq!(db.queue_depth().await.unwrap(), 5 - i);
        let done = vidmocap::db::segments::SegmentFinish::Done;
        assert!(db.finish_segment(&seg, "w", &done).await.unwrap());
    }
    assert!(db
        .claim_segment("w", now + 30_000, None)
        .await
        .unwrap()
        .is_none());
    assert_eq!(db.queue_depth().await.unwrap(), 3);
}
