//! Redis memory per member: ingests activity for 100,000 members through
//! the Redis store (no HTTP), then reads `used_memory` and the share taken by
//! each kind of key.
//!
//! `cargo bench --bench memory` (`MEMORY_MEMBERS=20000` for a quicker run;
//! `MEMORY_EVENTS`, ten per member by default, for a longer history:
//! `MEMORY_EVENTS=10000000` is a hundred per member over the quarter;
//! `MEMORY_RETENTION_DAYS`, 90 by default as `ENGAGEMENT_RETENTION_DAYS`,
//! for what a shorter retention of day and week buckets saves).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Instant;

#[path = "support/redis.rs"]
mod redis;

use engagement_core::RuleSet;
use engagement_service::generate::{GenerateParams, generate};
use engagement_service::store::{RedisSettings, RedisStore, Store};
use redis::Redis;

fn used_memory(redis: &Redis) -> u64 {
    redis.memory("used_memory")
}

fn main() {
    let members: usize = std::env::var("MEMORY_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let count: usize = std::env::var("MEMORY_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(members * 10);
    let retention_days: u32 = std::env::var("MEMORY_RETENTION_DAYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(90);
    let redis = Redis::start();
    let port = redis.port;
    let rules = RuleSet::from_toml(include_str!("../rules/knowledge-sharing.toml")).unwrap();
    // About ten events per member over a quarter by default, so most members act.
    let events = generate(&GenerateParams {
        members,
        communities: 14,
        days: 90,
        seed: 3,
        start: redis::days_ago(90),
        events: Some(count),
        rings: Vec::new(),
    });
    let baseline = used_memory(&redis);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = rt.block_on(async {
        RedisStore::connect(&RedisSettings {
            url: format!("redis://127.0.0.1:{port}"),
            prefix: "memory".into(),
            retention_days,
            pool_size: 4,
            insights: true,
            fair_play: true,
            min_replicas: 0,
        })
        .unwrap()
    });
    let started = Instant::now();
    rt.block_on(async {
        for chunk in events.chunks(200) {
            store.ingest(&rules, chunk).await.unwrap();
        }
    });
    let took = started.elapsed();
    let used = used_memory(&redis).saturating_sub(baseline);
    let members_with_state: usize = redis
        .cli(&["--scan", "--pattern", "{memory}:g0:m:*"])
        .lines()
        .count();

    // Key sizes by kind: every key counted, up to 100,000 of each kind measured
    // (every key but the records at the default size).
    let mut keys: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for key in redis.cli(&["--scan", "--pattern", "{memory}*"]).lines() {
        let kind = match key.split(':').nth(2) {
            Some("m") => "member states",
            // Records in their buckets (`r`), or one key each (`e`) as before.
            Some("r") | Some("e") => "idempotency records",
            Some("l") => "ledgers",
            Some("b") => "leaderboards",
            Some("i") => "insights tallies",
            Some("q") => "insights questions",
            Some("fp") => "fair-play tallies",
            Some("names") | Some("special") | Some("seq") | Some("communities") => {
                "names, listing and communities"
            }
            _ if key.ends_with(":log") => "event log",
            _ => "other",
        };
        keys.entry(kind).or_default().push(key.to_owned());
    }
    // Each kind's bytes: the `MEMORY USAGE` of up to 100,000 of its keys,
    // scaled to all of them.
    let measure = |list: &[String]| -> u64 {
        let sample: Vec<&String> = list.iter().take(100_000).collect();
        let script: String = sample
            .iter()
            .map(|k| format!("MEMORY USAGE {k} SAMPLES 0\n"))
            .collect();
        let mut child = Command::new("redis-cli")
            .arg("-p")
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Written from a thread of its own: redis-cli answers while it reads.
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            stdin.write_all(script.as_bytes()).unwrap();
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        let measured: u64 = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse::<u64>().ok())
            .sum();
        measured * list.len() as u64 / sample.len().max(1) as u64
    };
    let mut by_kind: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (kind, list) in &keys {
        by_kind.insert(kind, (list.len() as u64, measure(list)));
    }
    // Leaderboards by period: the bucket follows the board id in the key
    // (`all`, `y2026`, `q2026-3`, `m2026-08`, `w2026-W33`, `d2026-08-14`).
    let mut boards: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for key in keys.get("leaderboards").into_iter().flatten() {
        let period = match key.split(':').nth(4).and_then(|b| b.chars().next()) {
            Some('a') => "all time",
            Some('y') => "year",
            Some('q') => "quarter",
            Some('m') => "month",
            Some('w') => "week",
            Some('d') => "day",
            _ => "other",
        };
        boards.entry(period).or_default().push(key.clone());
    }
    println!();
    println!(
        "{} events for {} members ({} with state) ingested in {:.1} s, day and week buckets kept {} days",
        events.len(),
        members,
        members_with_state,
        took.as_secs_f64(),
        retention_days
    );
    println!(
        "redis used_memory: {:.1} MiB, {:.0} bytes per member with state",
        used as f64 / 1048576.0,
        used as f64 / members_with_state.max(1) as f64
    );
    println!(
        "{:<22} {:>10} {:>12} {:>16}",
        "keys", "count", "MiB", "bytes per member"
    );
    let per_event = ["idempotency records", "event log"];
    let (mut kept, mut derived) = (0, 0);
    for (kind, (count, bytes)) in by_kind {
        println!(
            "{kind:<22} {count:>10} {:>12.1} {:>16.0}",
            bytes as f64 / 1048576.0,
            bytes as f64 / members_with_state.max(1) as f64
        );
        if per_event.contains(&kind) {
            kept += bytes;
        } else {
            derived += bytes;
        }
    }
    for (period, list) in &boards {
        let bytes = measure(list);
        println!(
            "  {:<20} {:>10} {:>12.1} {:>16.0}",
            format!("{period} boards"),
            list.len(),
            bytes as f64 / 1048576.0,
            bytes as f64 / members_with_state.max(1) as f64
        );
    }
    // The targets of SPEC §7: what is kept per event (records and log) and
    // what is derived per member who acted (everything else).
    println!(
        "kept per event (records and log): {:.0} bytes; derived per member who acted: {:.0} bytes",
        kept as f64 / events.len().max(1) as f64,
        derived as f64 / members_with_state.max(1) as f64
    );
    println!(
        "peak memory: redis used_memory_peak {:.1} MiB; this process (generated events, store) {:.1} MiB",
        redis.memory("used_memory_peak") as f64 / 1048576.0,
        redis::peak_rss_mib()
    );
}
