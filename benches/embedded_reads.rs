//! Reads on the embedded store at two sizes, in one run: top 10, around-me
//! and profiles on boards of 10,000 and of 100,000 members who acted, 32
//! clients. Boards keep their order in an order-statistic tree, so a read
//! costs O(log n): the two sizes should answer alike.
//!
//! `cargo bench --bench embedded_reads` (`EMBEDDED_READS=5000` requests per
//! measure for a quicker run).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use engagement_core::Event;
use engagement_service::store::LogEntry;
use engagement_service::{Application, Settings};

#[path = "support/drive.rs"]
mod drive;

use drive::{CONCURRENT, Figure, drive};

// The allocator the `engagement` binary uses.
#[global_allocator]
static ALLOCATOR: engagement_service::allocator::Allocator =
    engagement_service::allocator::Allocator;

/// Every member answers one to five times over a month: a board of exactly
/// `members` members, with the ties real boards have.
fn log(dir: &Path, members: usize) -> usize {
    let file = std::fs::File::create(dir.join("events.log")).unwrap();
    let mut out = std::io::BufWriter::new(file);
    let mut n = 0;
    for i in 0..members {
        for j in 0..1 + (i * 7919) % 5 {
            let day = 1 + (i + j) % 28;
            let event: Event = serde_json::from_value(serde_json::json!({
                "id": format!("e-{i}-{j}"), "kind": "answer.posted", "actor": format!("m-{i}"),
                "occurred_at": format!("2026-03-{day:02}T1{}:00:00Z", j % 10),
                "community": format!("c-{}", i % 14),
            }))
            .unwrap();
            serde_json::to_writer(&mut out, &LogEntry::Event { event }).unwrap();
            out.write_all(b"\n").unwrap();
            n += 1;
        }
    }
    out.flush().unwrap();
    n
}

async fn service(dir: &Path) -> String {
    let mut settings = Settings::for_tests(dir.to_path_buf());
    settings.rules = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/rules/knowledge-sharing.toml"
    ));
    settings.workers = Some(2);
    settings.retention_days = 36_500;
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    base
}

async fn measure(base: &str, members: usize, requests: usize) -> Vec<Figure> {
    let pick = move |i: usize| (i * 104_729) % members;
    let b = base.to_owned();
    let top = drive("top 10", requests, CONCURRENT, 1, move |c, _| {
        c.get(format!(
            "{b}/v1/leaderboards/contributors?period=all_time&limit=10"
        ))
    })
    .await;
    let b = base.to_owned();
    let around = drive(
        "around me, radius 2",
        requests,
        CONCURRENT,
        1,
        move |c, i| {
            c.get(format!(
                "{b}/v1/leaderboards/contributors/members/m-{}?period=month&at=2026-03-10&radius=2",
                pick(i)
            ))
        },
    )
    .await;
    let b = base.to_owned();
    let profile = drive("profile", requests, CONCURRENT, 1, move |c, i| {
        c.get(format!("{b}/v1/members/m-{}", pick(i)))
    })
    .await;
    vec![top, around, profile]
}

fn main() {
    engagement_service::allocator::configure();
    let requests: usize = std::env::var("EMBEDDED_READS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut results = Vec::new();
    for members in [10_000, 100_000] {
        let dir = tempfile::tempdir().unwrap();
        let events = log(dir.path(), members);
        let started = Instant::now();
        let figures = rt.block_on(async {
            let base = service(dir.path()).await;
            let opened = started.elapsed();
            (opened, measure(&base, members, requests).await)
        });
        results.push((members, events, figures));
    }
    println!();
    println!(
        "embedded store reads, one run, {CONCURRENT} clients, {requests} requests per measure"
    );
    println!(
        "{:<10} {:>9} {:>10} {:<22} {:>10} {:>9} {:>9}",
        "members", "events", "opened s", "measure", "per s", "p50 ms", "p99 ms"
    );
    for (members, events, (opened, figures)) in &results {
        for f in figures {
            println!(
                "{members:<10} {events:>9} {:>10.1} {:<22} {:>10.0} {:>9.2} {:>9.2}",
                opened.as_secs_f64(),
                f.what,
                f.per_second,
                f.p50_ms,
                f.p99_ms
            );
        }
    }
    let (small, large) = (&results[0].2.1, &results[1].2.1);
    for (s, l) in small.iter().zip(large) {
        println!(
            "{:<22} 100k ÷ 10k = {:.2}",
            s.what,
            l.per_second / s.per_second
        );
    }
}
