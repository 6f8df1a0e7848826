//! Fair play at the size of a large community of practice:
//!
//! 1. ingest with fair play on and off on Redis, in one run: two services
//!    on one Redis (key prefixes of their own) take the same batches of 100
//!    and the same single events in alternating rounds;
//! 2. 1,000,000 generated events in one month (100,000 members, with a
//!    ring of three and a mutual pair hidden in them) on Redis (written to
//!    the log and replayed) and on the embedded store (a log file opened at
//!    start), then `GET /v1/admin/fair-play` for the month, a week and a
//!    day: first reads and steady state; and what the fair-play keys take
//!    in Redis.
//!
//! `cargo bench --bench fair_play` (`FAIR_PLAY_EVENTS=200000` for a quicker
//! run; the comparison of step 1 uses a fifth of that).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use engagement_core::RuleSet;
use engagement_service::generate::{GenerateParams, generate};
use engagement_service::store::{LogEntry, RedisSettings, RedisStore, Store};
use engagement_service::{Application, Settings};

#[path = "support/drive.rs"]
mod drive;
#[path = "support/redis.rs"]
mod redis;

use drive::{CONCURRENT, Figure, alternate, drive};
use redis::Redis;

// The allocator the `engagement` binary uses.
#[global_allocator]
static ALLOCATOR: engagement_service::allocator::Allocator =
    engagement_service::allocator::Allocator;

const ROUNDS: usize = 6;
const ADMIN: &str = "admin";
const QUERIES: [&str; 3] = [
    "period=month&at=2026-03-15",
    "period=week&at=2026-03-18",
    "period=day&at=2026-03-18",
];

fn rules() -> RuleSet {
    RuleSet::from_toml(include_str!("../rules/knowledge-sharing.toml")).unwrap()
}

enum Backend<'a> {
    Redis(u16, &'a str),
    Embedded(&'a Path),
}

/// A service with fair play on or off; its base URL.
async fn service(backend: Backend<'_>, fair_play: bool) -> String {
    let mut settings = Settings::for_tests(PathBuf::from("unused"));
    match backend {
        Backend::Redis(port, prefix) => {
            settings.redis_url = Some(format!("redis://127.0.0.1:{port}"));
            settings.key_prefix = prefix.into();
        }
        Backend::Embedded(dir) => settings.data_dir = dir.to_path_buf(),
    }
    settings.rules = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/rules/knowledge-sharing.toml"
    ));
    settings.workers = Some(2);
    settings.fair_play = fair_play;
    settings.admin_token = Some(ADMIN.into());
    // Nothing of the generated month expires.
    settings.retention_days = 36_500;
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    base
}

/// First reads of each bucket (one at a time), then steady state.
async fn reads(base: &str, count: usize) -> (Vec<Duration>, Vec<Figure>) {
    let client = engagement_service::http_client()
        .build()
        .expect("an HTTP client");
    let mut first = Vec::new();
    for q in QUERIES {
        let t = Instant::now();
        let res = (client.get(format!("{base}/v1/admin/fair-play?{q}")))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{q}: {}", res.status());
        let report: serde_json::Value = res.json().await.unwrap();
        if q.starts_with("period=month") {
            let rings = report["rings"].as_array().unwrap();
            assert_eq!(rings.len(), 2, "the planted ring and pair: {report}");
        }
        first.push(t.elapsed());
    }
    let mut steady = Vec::new();
    for q in QUERIES {
        let b = base.to_owned();
        steady.push(
            drive(q, count, CONCURRENT, 1, move |c, _| {
                c.get(format!("{b}/v1/admin/fair-play?{q}"))
                    .bearer_auth(ADMIN)
            })
            .await,
        );
    }
    (first, steady)
}

fn print_reads(store: &str, first: &[Duration], steady: &[Figure]) {
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    let firsts: Vec<String> = (QUERIES.iter().zip(first))
        .map(|(q, d)| format!("{} {:.1} ms", q.split('&').next().unwrap_or(q), ms(d)))
        .collect();
    println!("{store}: first reads {}", firsts.join(", "));
    for f in steady {
        println!(
            "{store}: {:<30} {:>8.0} per s  p50 {:>7.2} ms  p99 {:>7.2} ms",
            f.what, f.per_second, f.p50_ms, f.p99_ms
        );
    }
}

/// Bytes Redis holds under keys matching `pattern`, and how many keys.
fn redis_bytes(redis: &Redis, pattern: &str) -> (u64, usize) {
    let keys = redis.cli(&["--scan", "--pattern", pattern]);
    let mut bytes = 0;
    let mut n = 0;
    for key in keys.lines().filter(|k| !k.is_empty()) {
        bytes += redis
            .cli(&["MEMORY", "USAGE", key, "SAMPLES", "0"])
            .trim()
            .parse::<u64>()
            .unwrap_or(0);
        n += 1;
    }
    (bytes, n)
}

fn write_log_file(dir: &Path, events: &[engagement_core::Event]) {
    let file = std::fs::File::create(dir.join("events.log")).unwrap();
    let mut out = std::io::BufWriter::new(file);
    for event in events {
        serde_json::to_writer(
            &mut out,
            &LogEntry::Event {
                event: event.clone(),
            },
        )
        .unwrap();
        out.write_all(b"\n").unwrap();
    }
    out.flush().unwrap();
}

fn main() {
    engagement_service::allocator::configure();
    let total: usize = std::env::var("FAIR_PLAY_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let redis = Redis::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let params = GenerateParams {
        members: 100_000,
        communities: 14,
        days: 31,
        seed: 8,
        start: "2026-03-01T00:00:00Z".parse().unwrap(),
        events: Some(total),
        rings: vec![3, 2],
    };
    let events = generate(&params);
    rt.block_on(async {
        // 1. Fair play on and off.
        let on = service(Backend::Redis(redis.port, "on"), true).await;
        let off = service(Backend::Redis(redis.port, "off"), false).await;
        let compared = alternate([&on, &off], &events[..total / 5], ROUNDS).await;
        let (on_bytes, on_keys) = redis_bytes(&redis, "{on}:g*:fp:*");

        // 2. The whole month on Redis, through the log and a replay...
        redis.write_log("big", &events);
        let store = RedisStore::connect(&RedisSettings {
            url: format!("redis://127.0.0.1:{}", redis.port),
            prefix: "big".into(),
            retention_days: 36_500,
            pool_size: 8,
            insights: true,
            fair_play: true,
            min_replicas: 0,
        })
        .unwrap();
        let started = Instant::now();
        let summary = store.replay(&rules()).await.unwrap();
        let replayed = started.elapsed();
        let (big_bytes, big_keys) = redis_bytes(&redis, "{big}:g*:fp:*");
        let per_period: Vec<(&str, u64)> = [("day", "d"), ("week", "w"), ("month", "m")]
            .into_iter()
            .map(|(name, label)| (name, redis_bytes(&redis, &format!("{{big}}:g*:fp:{label}*")).0))
            .collect();
        let base = service(Backend::Redis(redis.port, "big"), true).await;
        let (redis_first, redis_steady) = reads(&base, 2_000).await;

        // ...and on the embedded store, from its log file.
        let dir = tempfile::tempdir().unwrap();
        write_log_file(dir.path(), &events);
        let started = Instant::now();
        let base = service(Backend::Embedded(dir.path()), true).await;
        let opened = started.elapsed();
        let (embedded_first, embedded_steady) = reads(&base, 2_000).await;

        println!();
        println!(
            "fair play on and off on Redis, one run, {} events each ({ROUNDS} rounds alternating), {CONCURRENT} clients",
            total / 5
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
        println!(
            "fair-play keys after {} events: {} keys, {:.1} MiB, {:.0} bytes per event",
            total / 5,
            on_keys,
            on_bytes as f64 / 1048576.0,
            on_bytes as f64 / (total / 5) as f64
        );
        println!();
        println!(
            "{} events ({} members, one month, a ring of three and a mutual pair) replayed on Redis in {:.1} s; \
             the embedded store opened them in {:.1} s",
            summary.events,
            params.members,
            replayed.as_secs_f64(),
            opened.as_secs_f64()
        );
        println!(
            "fair-play keys: {} keys, {:.1} MiB, {:.0} bytes per event",
            big_keys,
            big_bytes as f64 / 1048576.0,
            big_bytes as f64 / total as f64
        );
        for (period, bytes) in &per_period {
            println!(
                "  {period} buckets: {:.1} MiB, {:.0} bytes per event",
                *bytes as f64 / 1048576.0,
                *bytes as f64 / total as f64
            );
        }
        print_reads("redis", &redis_first, &redis_steady);
        print_reads("embedded", &embedded_first, &embedded_steady);
    });
}
