//! A Redis replay at the size of a year of a large community: 1,000,000
//! generated events (20,000 members, 14 communities, 365 days, seed 7, the
//! same year as the README's `rules simulate` figures) written to the log,
//! then `replay` with insights and fair play on, timed end to end (log read,
//! applied, the new generation written and switched to), while a reader
//! asks for a profile from the served generation every 2 ms
//! (`REPLAY_READERS=4` for four such readers). `REPLAY_SERVICE=1` asks the
//! service for the replay over HTTP (`POST /v1/admin/replay`, two workers)
//! and reads the profiles from it. `REPLAY_ARCHIVE=1` times archiving the
//! whole log (`engagement events archive`) instead.
//!
//! `cargo bench --bench replay` (`REPLAY_EVENTS=200000` for a quicker run;
//! `REPLAY_EVENTS=10000000 REPLAY_MEMBERS=100000 REPLAY_ROUNDS=1` for ten
//! million events of a 100,000-member community: a second round would hold
//! two generations of that size in Redis beside this process's own state).
//! `RUST_LOG=info` shows how long each step of a replay took.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use engagement_core::{MemberId, RuleSet};
use engagement_service::generate::{GenerateParams, generate};
use engagement_service::store::{RedisSettings, RedisStore, Store};

#[path = "support/drive.rs"]
mod drive;
#[path = "support/redis.rs"]
mod redis;

use drive::percentile;
use redis::Redis;

// The allocator the `engagement` binary uses.
#[global_allocator]
static ALLOCATOR: engagement_service::allocator::Allocator =
    engagement_service::allocator::Allocator;

fn main() {
    engagement_service::allocator::configure();
    // `RUST_LOG=info` shows how long each step of a replay took.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let count = number("REPLAY_EVENTS", 1_000_000);
    let members = number("REPLAY_MEMBERS", 20_000);
    let rounds = number("REPLAY_ROUNDS", 2);
    let rules = RuleSet::from_toml(include_str!("../rules/knowledge-sharing.toml")).unwrap();
    let events = generate(&GenerateParams {
        members,
        communities: 14,
        days: 365,
        seed: 7,
        start: redis::days_ago(365),
        events: Some(count),
        rings: Vec::new(),
    });
    let redis = Redis::start();
    redis.write_log("replay", &events);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = Arc::new(
        RedisStore::connect(&RedisSettings {
            url: format!("redis://127.0.0.1:{}", redis.port),
            prefix: "replay".into(),
            retention_days: 90,
            pool_size: 8,
            insights: true,
            fair_play: true,
            min_replicas: 0,
        })
        .unwrap(),
    );
    let asked: Vec<MemberId> = events.iter().take(1_000).map(|e| e.actor.clone()).collect();
    // The log is in Redis: the events need not stay in memory, and what
    // generating them took is not the replay's.
    drop(events);
    let generating = redis::peak_rss_mib();
    redis::reset_peak_rss();
    let service = std::env::var_os("REPLAY_SERVICE").is_some();
    let readers = number("REPLAY_READERS", 1);
    // `REPLAY_ARCHIVE=1`: the whole log is archived instead, and timed.
    if std::env::var_os("REPLAY_ARCHIVE").is_some() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("log.jsonl.zst");
        let started = Instant::now();
        let archive = rt.block_on(store.archive_log(jiff::Timestamp::now(), &file));
        println!(
            "archived {} entries in {:.2} s",
            archive.unwrap().map_or(0, |a| a.entries),
            started.elapsed().as_secs_f64()
        );
        return;
    }
    rt.block_on(async {
        let base = if service {
            let url = format!("redis://127.0.0.1:{}", redis.port);
            Some(drive::serve(drive::on_redis(&url, "replay")).await)
        } else {
            None
        };
        let client = engagement_service::http_client().build().unwrap();
        for round in 1..=rounds {
            // Profiles read from the served generation meanwhile (the first
            // round serves an empty one, the second the first's result): a
            // steady trickle of members looking at profiles.
            let done = Arc::new(AtomicBool::new(false));
            let reading: Vec<_> = (0..readers)
                .map(|r| {
                    let (store, done, members) = (store.clone(), done.clone(), asked.clone());
                    let (base, client) = (base.clone(), client.clone());
                    tokio::spawn(async move {
                        let mut took = Vec::new();
                        while !done.load(Ordering::Relaxed) {
                            let member = &members[(took.len() * readers + r) % members.len()];
                            let t = Instant::now();
                            match &base {
                                Some(base) => {
                                    let url = format!("{base}/v1/members/{member}");
                                    let res = client.get(url).send().await.unwrap();
                                    // Not found in the first round's empty generation.
                                    let status = res.status();
                                    assert!(status.is_success() || status == 404, "{status}");
                                    res.bytes().await.unwrap();
                                }
                                None => {
                                    store.member(member).await.unwrap();
                                }
                            }
                            took.push(t.elapsed());
                            tokio::time::sleep(Duration::from_millis(2)).await;
                        }
                        took
                    })
                })
                .collect();
            let started = Instant::now();
            let (events, members) = match &base {
                Some(base) => {
                    let res = (client.post(format!("{base}/v1/admin/replay")))
                        .send()
                        .await
                        .unwrap();
                    assert!(res.status().is_success(), "{}", res.status());
                    let view: serde_json::Value = res.json().await.unwrap();
                    (
                        view["events"].as_u64().unwrap(),
                        view["members"].as_u64().unwrap(),
                    )
                }
                None => {
                    let summary = store.replay(&rules).await.unwrap();
                    (summary.events as u64, summary.members as u64)
                }
            };
            let took = started.elapsed();
            done.store(true, Ordering::Relaxed);
            let mut reads = Vec::new();
            for reader in reading {
                reads.extend(reader.await.unwrap());
            }
            reads.sort();
            let ms = |p: f64| percentile(&reads, p);
            println!(
                "replay {round}: {events} events, {members} members on Redis{} in {:.2} s \
                 ({:.0} events/s); {} profile reads meanwhile ({:.0}/s; p50 {:.1} ms, \
                 p99 {:.1} ms, slowest {:.1} ms)",
                if service { ", through the service" } else { "" },
                took.as_secs_f64(),
                events as f64 / took.as_secs_f64(),
                reads.len(),
                reads.len() as f64 / took.as_secs_f64(),
                ms(0.5),
                ms(0.99),
                ms(1.0),
            );
        }
    });
    // Where Redis spent its time over the rounds, the costliest commands
    // first (`INFO commandstats`).
    let mut stats: Vec<(f64, String)> = redis
        .cli(&["INFO", "commandstats"])
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let field = |k: &str| {
                rest.split(',')
                    .find_map(|f| f.strip_prefix(k)?.strip_prefix('='))
                    .unwrap_or("0")
                    .to_string()
            };
            let usec: f64 = field("usec").parse().ok()?;
            Some((
                usec,
                format!("{name}: {} calls, {:.2} s", field("calls"), usec / 1e6),
            ))
        })
        .collect();
    stats.sort_by(|a, b| b.0.total_cmp(&a.0));
    let lines: Vec<String> = stats.into_iter().take(12).map(|(_, line)| line).collect();
    println!("redis time by command: {}", lines.join("; "));
    println!(
        "peak memory: redis used_memory_peak {:.1} MiB; this process while replaying {:.1} MiB \
         (while generating the events and writing the log: {generating:.1} MiB)",
        redis.memory("used_memory_peak") as f64 / 1048576.0,
        redis::peak_rss_mib()
    );
}

/// The number in environment variable `name`, or `default`.
fn number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
