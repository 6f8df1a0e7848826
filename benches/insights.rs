//! Knowledge-flow insights on Redis, at the size of a large community of
//! practice:
//!
//! 1. ingest with insights on and off, in one run: two services on one
//!    Redis (key prefixes of their own) take the same batches of 100 and the
//!    same single events in alternating rounds, so drift on a shared machine
//!    falls on both alike;
//! 2. 1,000,000 generated events (20,000 members, 14 communities, the year
//!    up to today, so that the last weeks are within the 90 days' retention)
//!    written to the log and replayed, then `GET /v1/insights` for a
//!    community's month and week and for the whole deployment's month and
//!    week, first reads (nothing cached) and steady state. A week is read
//!    from its days' tallies, a month from its own.
//!
//! `cargo bench --bench insights` (`INSIGHTS_EVENTS=200000` for a quicker
//! run; the comparison of step 1 uses a fifth of that).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engagement_core::RuleSet;
use engagement_service::generate::{GenerateParams, generate};
use engagement_service::store::{RedisSettings, RedisStore, Store};
use engagement_service::{Application, Settings};

#[path = "support/drive.rs"]
mod drive;
#[path = "support/redis.rs"]
mod redis;

use drive::{CONCURRENT, alternate, drive, percentile};
use redis::Redis;

// The allocator the `engagement` binary uses.
#[global_allocator]
static ALLOCATOR: engagement_service::allocator::Allocator =
    engagement_service::allocator::Allocator;

const ROUNDS: usize = 6;
const READ: &str = "read";

fn rules() -> RuleSet {
    RuleSet::from_toml(include_str!("../rules/knowledge-sharing.toml")).unwrap()
}

/// A service on the bench's Redis under `prefix`; its base URL.
async fn service(port: u16, prefix: &str, insights: bool) -> String {
    let mut settings = Settings::for_tests(PathBuf::from("unused"));
    settings.redis_url = Some(format!("redis://127.0.0.1:{port}"));
    settings.key_prefix = prefix.into();
    settings.rules = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/rules/knowledge-sharing.toml"
    ));
    settings.workers = Some(2);
    settings.insights = insights;
    // As deployed: members' reads with the read token (no holders named),
    // the admin's with its own.
    settings.read_token = Some(READ.into());
    settings.admin_token = Some("admin".into());
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    base
}

fn main() {
    engagement_service::allocator::configure();
    let total: usize = std::env::var("INSIGHTS_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let redis = Redis::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let params = GenerateParams {
        members: 20_000,
        communities: 14,
        days: 365,
        seed: 21,
        start: redis::days_ago(365),
        events: Some(total),
        rings: Vec::new(),
    };
    let events = generate(&params);
    let communities: Vec<String> = {
        let mut c: Vec<String> = events
            .iter()
            .filter_map(|e| e.community.as_ref().map(|c| c.to_string()))
            .collect();
        c.sort();
        c.dedup();
        c
    };
    rt.block_on(async {
        // 1. Insights on and off.
        let on = service(redis.port, "on", true).await;
        let off = service(redis.port, "off", false).await;
        let compared = alternate([&on, &off], &events[..total / 5], ROUNDS).await;

        // 2. The whole year through the log and a replay.
        redis.write_log("big", &events);
        let store = RedisStore::connect(&RedisSettings {
            url: format!("redis://127.0.0.1:{}", redis.port),
            prefix: "big".into(),
            retention_days: 90,
            pool_size: 8,
            insights: true,
            fair_play: true,
            min_replicas: 0,
        })
        .unwrap();
        let started = Instant::now();
        let summary = store.replay(&rules()).await.unwrap();
        let replayed = started.elapsed();
        let base = service(redis.port, "big", true).await;

        // The last twelve months and weeks (a day of each), and each
        // community's.
        let today = jiff::tz::TimeZone::UTC.to_datetime(jiff::Timestamp::now()).date();
        let day = |days: i64| today.checked_sub(jiff::Span::new().days(days)).unwrap();
        let months: Vec<String> = (0..12)
            .map(|m| {
                let month = jiff::Span::new().months(m);
                today.checked_sub(month).unwrap().to_string()
            })
            .collect();
        let weeks: Vec<String> = (0..12).map(|w| day(w * 7).to_string()).collect();
        let queries = |period: &str, dates: &[String]| -> (Vec<String>, Vec<String>) {
            let community = (dates.iter())
                .flat_map(|at| {
                    (communities.iter())
                        .map(move |c| format!("community={c}&period={period}&at={at}"))
                })
                .collect();
            let whole = (dates.iter())
                .map(|at| format!("period={period}&at={at}"))
                .collect();
            (community, whole)
        };
        let (community_months, whole_months) = queries("month", &months);
        let (community_weeks, whole_weeks) = queries("week", &weeks);
        let client = engagement_service::http_client().build().expect("an HTTP client");
        // First reads: every bucket once, one at a time, nothing cached.
        let kinds = [
            ("community-month", &community_months),
            ("whole-deployment month", &whole_months),
            ("community-week", &community_weeks),
            ("whole-deployment week", &whole_weeks),
        ];
        let mut first = Vec::new();
        for (what, queries) in kinds {
            let mut took = Vec::new();
            for q in queries {
                let t = Instant::now();
                let res = client
                    .get(format!("{base}/v1/insights?{q}"))
                    .bearer_auth(READ)
                    .send()
                    .await
                    .unwrap();
                assert!(res.status().is_success(), "{q}: {}", res.status());
                let _ = res.bytes().await.unwrap();
                took.push(t.elapsed());
            }
            took.sort();
            first.push((what, took));
        }
        let reads = (total / 20).max(1000);
        let mut steady = Vec::new();
        for (what, queries) in kinds {
            let (b, q) = (base.clone(), Arc::new(queries.clone()));
            let what = format!("{what} reads");
            let f = drive(&what, reads, CONCURRENT, 1, move |c, i| {
                c.get(format!("{b}/v1/insights?{}", q[i % q.len()]))
                    .bearer_auth(READ)
            })
            .await;
            steady.push(f);
        }

        println!();
        println!(
            "insights on and off, one run, {} events each ({} rounds alternating), {CONCURRENT} clients",
            total / 5,
            ROUNDS
        );
        println!(
            "{:<26} {:>12} {:>12} {:>8} {:>12} {:>12}",
            "measure", "on per s", "off per s", "on/off", "on p99 ms", "off p99 ms"
        );
        for (what, on, off, p99_on, p99_off) in &compared {
            println!(
                "{what:<26} {on:>12.0} {off:>12.0} {:>8.3} {p99_on:>12.2} {p99_off:>12.2}",
                on / off
            );
        }
        println!();
        println!(
            "{} events ({} members, {} communities, a year) replayed on Redis in {:.1} s",
            summary.events,
            params.members,
            communities.len(),
            replayed.as_secs_f64()
        );
        for (what, took) in &first {
            println!(
                "first read of each of {} {what} buckets, one at a time: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                took.len(),
                percentile(took, 0.5),
                percentile(took, 0.99),
                took.last().copied().unwrap_or(Duration::ZERO).as_secs_f64() * 1000.0
            );
        }
        println!(
            "{:<36} {:>12} {:>9} {:>9}",
            "reads", "per second", "p50 ms", "p99 ms"
        );
        for f in &steady {
            println!(
                "{:<36} {:>12.0} {:>9.2} {:>9.2}",
                f.what, f.per_second, f.p50_ms, f.p99_ms
            );
        }
        let info = redis.cli(&["INFO", "memory"]);
        if let Some(line) = info.lines().find(|l| l.starts_with("used_memory_human")) {
            println!("redis {line} (three deployments)");
        }
        // Where Redis spent its time over the whole run.
        let stats = redis.cli(&["INFO", "commandstats"]);
        let mut spent: Vec<(u64, &str)> = stats
            .lines()
            .filter_map(|l| {
                let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
                let usec = rest.split(',').find_map(|f| f.strip_prefix("usec="))?;
                Some((usec.parse().ok()?, name))
            })
            .collect();
        spent.sort_unstable_by(|a, b| b.cmp(a));
        let top: Vec<String> = (spent.iter().take(6))
            .map(|(usec, name)| format!("{name} {:.1} s", *usec as f64 / 1e6))
            .collect();
        println!("redis time by command: {}", top.join(", "));
    });
}
