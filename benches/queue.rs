//! The job queue at scale, on real PostgreSQL (127.0.0.1:5432): claim
//! latency with 10,000 queued jobs from 1,000 accounts, with and without the
//! claim's indexes (migration 0003), and the claim query's plan.
//!
//! `cargo bench --bench queue` measures; under `cargo test --all-targets`
//! (no `--bench` argument) the same code runs on 300 jobs as a check that
//! every job is claimed exactly once in claim order.

#[path = "../tests/support/service.rs"]
mod support;

use std::time::{Duration, Instant};

use support::{Backend, TestDb};
use vidmocap::db::jobs::NewJob;
use vidmocap::db::{now_ms, Db};

/// `jobs` queued jobs spread round-robin over `accounts` accounts; the
/// first tenth at priority 10, so claim order is job-id order as long as no
/// account reaches its running limit (4) early.
async fn fill(db: &Db, accounts: usize, jobs: usize) {
    let now = now_ms();
    for a in 0..accounts {
        let id = format!("acct{a}");
        db.create_account(&id, &format!("{id}@example.com"), "x", "pro", false, now)
            .await
            .unwrap();
        db.add_credits(&id, 1_000_000, "grant", None).await.unwrap();
    }
    for j in 0..jobs {
        db.create_job(&NewJob {
            id: format!("job{j:06}"),
            account_id: format!("acct{}", j % accounts),
            upload_id: "upload".into(),
            idempotency_key: None,
            request_hash: format!("h{j}"),
            options_json: "{}".into(),
            price: 5,
            priority: if j < jobs / 10 { 10 } else { 0 },
            max_running: 4,
            max_attempts: 3,
            now: now + j as i64,
        })
        .await
        .unwrap();
    }
}

/// Claims `n` jobs one after another; the latency of each.
async fn claims(db: &Db, n: usize) -> Vec<(String, Duration)> {
    let now = now_ms();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let job = db
            .claim_job("bench", now, now + 600_000)
            .await
            .unwrap()
            .expect("a queued job to claim");
        out.push((job.id, t.elapsed()));
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(label: &str, taken: &[(String, Duration)]) {
    let mut d: Vec<Duration> = taken.iter().map(|(_, d)| *d).collect();
    d.sort();
    println!(
        "{label}: {} claims, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        d.len(),
        percentile(&d, 0.5).as_secs_f64() * 1e3,
        percentile(&d, 0.99).as_secs_f64() * 1e3,
        d.last().unwrap().as_secs_f64() * 1e3,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let measure = std::env::args().any(|a| a == "--bench");
    let (jobs, accounts, n) = if measure {
        (10_000, 1_000, 500)
    } else {
        (300, 30, 100)
    };
    // A database made for this run and dropped after it.
    let dir = tempfile::tempdir().unwrap();
    let scratch = TestDb::new(Backend::Postgres, dir.path()).await;
    let db = Db::open(&scratch.url).await.unwrap();
    db.migrate().await.unwrap();
    let t = Instant::now();
    fill(&db, accounts, jobs).await;
    println!(
        "queued {jobs} jobs for {accounts} accounts in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    sqlx::raw_sql("ANALYZE jobs")
        .execute(&db.pool)
        .await
        .unwrap();
    println!(
        "claim plan with the indexes:\n{}",
        db.explain_claim().await.unwrap()
    );

    let taken = claims(&db, n).await;
    report("with indexes", &taken);
    // Priority first, then age; each job once.
    let expected: Vec<String> = (0..n).map(|j| format!("job{j:06}")).collect();
    let got: Vec<String> = taken.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(
        got, expected,
        "claims in priority-then-age order, none twice"
    );
    assert_eq!(db.queue_depth().await.unwrap(), jobs as i64);

    if measure {
        sqlx::raw_sql("DROP INDEX jobs_claim_order; DROP INDEX jobs_running_account; ANALYZE jobs")
            .execute(&db.pool)
            .await
            .unwrap();
        println!(
            "claim plan without them:\n{}",
            db.explain_claim().await.unwrap()
        );
        report("without indexes", &claims(&db, n).await);
    }
    db.pool.close().await;
}
