//! Notifications at the pace of a busy community:
//!
//! 1. ingest with two channels configured and without, in one run: two
//!    services per store take the same generated batches of 100 and
//!    single events in alternating rounds (Redis: two key prefixes on one
//!    Redis; embedded: two data directories), while the channels' worker
//!    delivers what they cause to a local receiver;
//! 2. delivery latency at 1,000 notifications per second: one event per
//!    millisecond, each a new member's first share (one badge, one
//!    notification), timed from the event's acknowledgment to the
//!    receiver's arrival; p50 and p99, on both stores.
//!
//! The channels are `slack` ones (a secret-free format: the bench cannot
//! set environment variables); a `standard` channel only adds an HMAC.
//!
//! `cargo bench --bench notify` (`NOTIFY_EVENTS=50000` for a quicker run,
//! `NOTIFY_SECONDS=5` for a shorter latency run).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use engagement_service::generate::{GenerateParams, generate};
use engagement_service::{Application, Settings};

#[path = "support/drive.rs"]
mod drive;
#[path = "support/redis.rs"]
mod redis;

use drive::{alternate, percentile};
use redis::Redis;

// The allocator the `engagement` binary uses.
#[global_allocator]
static ALLOCATOR: engagement_service::allocator::Allocator =
    engagement_service::allocator::Allocator;

const ROUNDS: usize = 6;
const RULES: &str = include_str!("../rules/knowledge-sharing.toml");

/// When each member's notification arrived, and how many arrived.
type Arrivals = Arc<Mutex<(HashMap<String, Instant>, usize)>>;

async fn receiver() -> (String, Arrivals) {
    let arrivals: Arrivals = Arc::default();
    let state = arrivals.clone();
    let server = HttpServer::new(move || {
        let state = state.clone();
        App::new().default_service(web::to(move |body: web::Bytes| {
            let state = state.clone();
            async move {
                let at = Instant::now();
                let text: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let who = text["text"]
                    .as_str()
                    .unwrap_or("")
                    .split(' ')
                    .next()
                    .unwrap_or("");
                let mut s = state.lock().unwrap();
                s.0.entry(who.to_owned()).or_insert(at);
                s.1 += 1;
                HttpResponse::Ok().finish()
            }
        }))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    (format!("http://127.0.0.1:{port}"), arrivals)
}

fn rules_file(dir: &Path, receiver: Option<&str>) -> PathBuf {
    let mut source = RULES.to_owned();
    if let Some(url) = receiver {
        for id in ["kudos", "feed"] {
            source.push_str(&format!(
                "\n[[notify]]\nid = \"{id}\"\nformat = \"slack\"\nurl = \"{url}/{id}\"\non = [\"badge.granted\", \"level.reached\"]\nallow_private = true\n"
            ));
        }
    }
    let path = dir.join(if receiver.is_some() {
        "notify.toml"
    } else {
        "plain.toml"
    });
    std::fs::write(&path, source).unwrap();
    path
}

enum Backend<'a> {
    Redis(u16, &'a str),
    Embedded(&'a Path),
}

async fn service(backend: Backend<'_>, rules: &Path) -> String {
    let mut settings = Settings::for_tests(PathBuf::from("unused"));
    match backend {
        Backend::Redis(port, prefix) => {
            settings.redis_url = Some(format!("redis://127.0.0.1:{port}"));
            settings.key_prefix = prefix.into();
        }
        Backend::Embedded(dir) => settings.data_dir = dir.to_path_buf(),
    }
    settings.rules = rules.to_path_buf();
    settings.workers = Some(2);
    settings.retention_days = 36_500;
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    base
}

/// One event per millisecond for `seconds`, each a new member's first
/// share; latency from each acknowledgment to the arrival.
async fn latency(
    base: &str,
    arrivals: &Arrivals,
    seconds: u64,
    tag: &str,
) -> (usize, f64, f64, f64) {
    let client = engagement_service::http_client().build().unwrap();
    let count = (seconds * 1000) as usize;
    let acked: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let now = jiff::Timestamp::now().to_string();
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        tick.tick().await;
        let member = format!("{tag}{i}");
        let body = serde_json::json!({"id": format!("{tag}-e{i}"), "kind": "resource.shared",
            "actor": member, "occurred_at": now, "community": "customs"});
        let (client, acked, url) = (client.clone(), acked.clone(), format!("{base}/v1/events"));
        tasks.push(tokio::spawn(async move {
            let res = client.post(url).json(&body).send().await.unwrap();
            assert!(res.status().is_success(), "{}", res.status());
            acked.lock().unwrap().insert(member, Instant::now());
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let sent_in = started.elapsed().as_secs_f64();
    // Wait for the deliveries (up to a minute).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let arrived = arrivals
            .lock()
            .unwrap()
            .0
            .keys()
            .filter(|k| k.starts_with(tag))
            .count();
        if arrived >= count || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let acked = acked.lock().unwrap();
    let arrived = arrivals.lock().unwrap();
    let mut waits: Vec<Duration> = acked
        .iter()
        .filter_map(|(m, at)| Some(arrived.0.get(m)?.saturating_duration_since(*at)))
        .collect();
    waits.sort();
    (
        waits.len(),
        count as f64 / sent_in,
        percentile(&waits, 0.5),
        percentile(&waits, 0.99),
    )
}

fn main() {
    engagement_service::allocator::configure();
    let total: usize = std::env::var("NOTIFY_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let seconds: u64 = std::env::var("NOTIFY_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let redis = Redis::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let params = GenerateParams {
        members: 100_000,
        communities: 14,
        days: 31,
        seed: 15,
        start: jiff::Timestamp::now() - jiff::SignedDuration::from_hours(31 * 24),
        events: Some(total),
        rings: Vec::new(),
    };
    let events = generate(&params);
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (url, arrivals) = receiver().await;
        let with = rules_file(dir.path(), Some(&url));
        let without = rules_file(dir.path(), None);

        let mut compared = Vec::new();
        for store in ["redis", "embedded"] {
            let (a, b) = match store {
                "redis" => (
                    service(Backend::Redis(redis.port, "with"), &with).await,
                    service(Backend::Redis(redis.port, "without"), &without).await,
                ),
                _ => {
                    let (da, db) = (dir.path().join("with"), dir.path().join("without"));
                    (
                        service(Backend::Embedded(&da), &with).await,
                        service(Backend::Embedded(&db), &without).await,
                    )
                }
            };
            let before = arrivals.lock().unwrap().1;
            let figures = alternate([&a, &b], &events, ROUNDS).await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            let sent = arrivals.lock().unwrap().1 - before;
            compared.push((store, figures, sent));
        }

        let mut latencies = Vec::new();
        for store in ["redis", "embedded"] {
            let base = match store {
                "redis" => service(Backend::Redis(redis.port, "latency"), &with).await,
                _ => service(Backend::Embedded(&dir.path().join("latency")), &with).await,
            };
            let tag = format!("{store}-m");
            latencies.push((store, latency(&base, &arrivals, seconds, &tag).await));
        }

        println!();
        println!(
            "ingest with two channels and without, one run, {total} generated events per service ({ROUNDS} rounds alternating)"
        );
        println!(
            "{:<10} {:<26} {:>12} {:>12} {:>8} {:>12} {:>12}",
            "store", "measure", "with per s", "without", "ratio", "with p99 ms", "w/o p99 ms"
        );
        for (store, figures, sent) in &compared {
            for (what, on, off, p99_on, p99_off) in figures {
                println!(
                    "{store:<10} {what:<26} {on:>12.0} {off:>12.0} {:>8.3} {p99_on:>12.2} {p99_off:>12.2}",
                    on / off
                );
            }
            println!("{store:<10} notifications delivered meanwhile: {sent}");
        }
        println!();
        println!("delivery latency, one new member's first share per millisecond for {seconds} s, acknowledgment to receiver");
        for (store, (n, rate, p50, p99)) in &latencies {
            println!(
                "{store:<10} {n} delivered, sent at {rate:.0} events/s: p50 {p50:.1} ms, p99 {p99:.1} ms"
            );
        }
    });
}
