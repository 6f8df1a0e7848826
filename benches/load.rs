//! Load driver: starts a Redis and the service against it, then measures
//! ingest (single events at 32 concurrent clients, batches of 100) and reads
//! (top 10, around-me, profiles), and runs `redis-benchmark` in the same run
//! so every figure stands beside what Redis itself reaches on this machine.
//!
//! `cargo bench --bench load` (set `LOAD_SCALE=0.2` for a quicker run).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::Arc;

use engagement_service::generate::{GenerateParams, generate};

#[path = "support/drive.rs"]
mod drive;
#[path = "support/redis.rs"]
mod redis;

use drive::{CONCURRENT, drive};
use redis::Redis;

// The allocator the `engagement` binary uses.
#[global_allocator]
static ALLOCATOR: engagement_service::allocator::Allocator =
    engagement_service::allocator::Allocator;

const CLIENTS: usize = CONCURRENT;

fn redis_benchmark(port: u16, args: &[&str]) -> f64 {
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            &port.to_string(),
            "-c",
            &CLIENTS.to_string(),
            "-n",
            "200000",
            "-r",
            "100000",
            "-q",
        ])
        .args(args)
        .output()
        .expect("redis-benchmark");
    let text = String::from_utf8_lossy(&out.stdout);
    // "ZINCRBY ...: 123456.79 requests per second, p50=..."
    text.rsplit(": ")
        .flat_map(|part| part.split_whitespace().next())
        .find_map(|n| n.parse::<f64>().ok())
        .unwrap_or(0.0)
}

fn main() {
    engagement_service::allocator::configure();
    let scale: f64 = std::env::var("LOAD_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let n = |base: usize| ((base as f64 * scale) as usize).max(100);
    let redis = Redis::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("redis://127.0.0.1:{}", redis.port);
        let base = drive::serve(drive::on_redis(&url, "load")).await;

        let events = Arc::new(generate(&GenerateParams {
            members: 5_000,
            communities: 14,
            days: 60,
            seed: 11,
            start: redis::days_ago(60),
            events: Some(n(30_000) + n(300_000)),
            rings: Vec::new(),
        }));
        // Request bodies are written before the clock starts, as a load
        // generator replaying recorded requests would have them.
        let (singles, batched) = events.split_at(n(30_000).min(events.len()));
        let singles: Arc<Vec<String>> = Arc::new(
            singles
                .iter()
                .map(|e| serde_json::to_string(e).unwrap())
                .collect(),
        );
        let batches: Arc<Vec<String>> = Arc::new(
            batched
                .chunks(100)
                .map(|b| serde_json::to_string(&serde_json::json!({ "events": b })).unwrap())
                .collect(),
        );
        let json = |c: &reqwest::Client, url: &str, body: &str| {
            c.post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_owned())
        };

        let mut figures = Vec::new();
        let url = format!("{base}/v1/events");
        let (u, s) = (url.clone(), singles.clone());
        figures.push((
            drive("ingest, single events", s.len(), CLIENTS, 1, move |c, i| {
                json(c, &u, &s[i])
            })
            .await,
            None,
        ));
        let (u, b) = (url.clone(), batches.clone());
        figures.push((
            drive(
                "ingest, batches of 100",
                b.len(),
                CLIENTS,
                100,
                move |c, i| json(c, &u, &b[i]),
            )
            .await,
            None,
        ));
        let top = format!("{base}/v1/leaderboards/contributors?limit=10");
        figures.push((
            drive("top-10 reads", n(50_000), CLIENTS, 1, move |c, _| {
                c.get(&top)
            })
            .await,
            None,
        ));
        // Reads ask about members who acted, so every profile exists.
        let mut actors: Vec<String> = events.iter().map(|e| e.actor.to_string()).collect();
        actors.sort();
        actors.dedup();
        let actors = Arc::new(actors);
        let (b, a) = (base.clone(), actors.clone());
        let around = move |c: &reqwest::Client, i: usize| {
            c.get(format!(
                "{b}/v1/leaderboards/contributors/members/{}",
                a[i % a.len()]
            ))
        };
        figures.push((
            drive("around-me reads", n(30_000), CLIENTS, 1, around).await,
            None,
        ));
        let (b, a) = (base.clone(), actors.clone());
        let profile = move |c: &reqwest::Client, i: usize| {
            c.get(format!("{b}/v1/members/{}", a[(i * 7) % a.len()]))
        };
        figures.push((
            drive("profile reads", n(30_000), CLIENTS, 1, profile).await,
            None,
        ));

        let zincrby = redis_benchmark(redis.port, &["ZINCRBY", "bench:z", "1", "m-__rand_int__"]);
        let zrevrange = redis_benchmark(
            redis.port,
            &["ZREVRANGE", "bench:z", "0", "9", "WITHSCORES"],
        );
        figures[0].1 = Some(("ZINCRBY", zincrby));
        figures[1].1 = Some(("ZINCRBY", zincrby));
        figures[2].1 = Some(("ZREVRANGE 0 9", zrevrange));

        println!();
        println!(
            "{CLIENTS} concurrent clients, service and load generator on this machine ({} cores)",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        println!(
            "{:<26} {:>12} {:>9} {:>9}   {:<16} {:>12} {:>8}",
            "measure", "per second", "p50 ms", "p99 ms", "redis-benchmark", "per second", "ratio"
        );
        for (f, redis) in &figures {
            let (name, rps, ratio) = match redis {
                Some((name, rps)) => (
                    name.to_string(),
                    format!("{rps:.0}"),
                    format!("{:.3}", f.per_second / rps),
                ),
                None => (String::new(), String::new(), String::new()),
            };
            println!(
                "{:<26} {:>12.0} {:>9.2} {:>9.2}   {:<16} {:>12} {:>8}",
                f.what, f.per_second, f.p50_ms, f.p99_ms, name, rps, ratio
            );
        }
        let info = redis.cli(&["INFO", "memory"]);
        if let Some(line) = info.lines().find(|l| l.starts_with("used_memory_human")) {
            println!("redis {line}");
        }
    });
}
