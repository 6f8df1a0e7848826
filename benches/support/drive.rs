//! The load driver the service benchmarks share: services started on
//! Redis, and requests sent by concurrent clients, timed one by one.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use engagement_service::{Application, Settings};

/// Concurrent clients of every measure.
pub const CONCURRENT: usize = 32;

/// Requests (or units) per second and latency percentiles of one measure.
#[allow(dead_code)]
pub struct Figure {
    pub what: String,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Wall-clock time of the measure (not every bench reads it).
    #[allow(dead_code)]
    pub seconds: f64,
}

pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Sends `requests` with `clients` concurrent clients; `make(i)` builds request i.
pub async fn drive<F>(
    what: &str,
    requests: usize,
    clients: usize,
    units_per_request: usize,
    make: F,
) -> Figure
where
    F: Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let client = engagement_service::http_client()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    let make = Arc::new(make);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, make, next) = (client.clone(), make.clone(), next.clone());
        let what = what.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    return latencies;
                }
                let t = Instant::now();
                let res = make(&client, i).send().await.unwrap();
                assert!(
                    res.status().is_success(),
                    "{what}: {} {}",
                    res.status(),
                    res.url()
                );
                let _ = res.bytes().await.unwrap();
                latencies.push(t.elapsed());
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    Figure {
        what: what.to_owned(),
        per_second: (requests * units_per_request) as f64 / elapsed,
        p50_ms: percentile(&all, 0.5),
        p99_ms: percentile(&all, 0.99),
        seconds: elapsed,
    }
}

fn post(c: &reqwest::Client, url: &str, body: &str) -> reqwest::RequestBuilder {
    c.post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_owned())
}

/// The same ingest requests to two services (`[with, without]` some
/// capability), in `rounds` alternating rounds so that drift on a shared
/// machine falls on both alike: batches of 100 for nine tenths of
/// `events`, single events for the rest. Per kind of request: events per
/// second with and without, and the worst round's p99 of each.
#[allow(dead_code)]
pub async fn alternate(
    urls: [&str; 2],
    events: &[engagement_core::Event],
    rounds: usize,
) -> Vec<(String, f64, f64, f64, f64)> {
    let (singles, batched) = events.split_at(events.len() / 10);
    let singles: Vec<String> = singles
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    let batches: Vec<String> = batched
        .chunks(100)
        .map(|b| serde_json::to_string(&serde_json::json!({ "events": b })).unwrap())
        .collect();
    let mut out = Vec::new();
    for (what, bodies, per) in [
        ("ingest, batches of 100", batches, 100),
        ("ingest, single events", singles, 1),
    ] {
        let bodies = Arc::new(bodies);
        let round = bodies.len().div_ceil(rounds);
        // (seconds, latencies) per service.
        let mut spent = [(0.0, Vec::new()), (0.0, Vec::new())];
        for r in 0..rounds {
            let range = (r * round).min(bodies.len())..((r + 1) * round).min(bodies.len());
            let order = if r % 2 == 0 { [0, 1] } else { [1, 0] };
            for which in order {
                let url = format!("{}/v1/events", urls[which]);
                let (b, start) = (bodies.clone(), range.start);
                let f = drive(what, range.len(), CONCURRENT, per, move |c, i| {
                    post(c, &url, &b[start + i])
                })
                .await;
                spent[which].0 += f.seconds;
                spent[which].1.push(f);
            }
        }
        let units = (bodies.len() * per) as f64;
        let p99 = |figures: &[Figure]| figures.iter().map(|f| f.p99_ms).fold(0.0, f64::max);
        out.push((
            what.to_owned(),
            units / spent[0].0,
            units / spent[1].0,
            p99(&spent[0].1),
            p99(&spent[1].1),
        ));
    }
    out
}

/// Settings of a service for deployment `prefix` on the Redis at `url`,
/// with the bundled rules and two workers.
#[allow(dead_code)]
pub fn on_redis(url: &str, prefix: &str) -> Settings {
    let mut settings = Settings::for_tests(PathBuf::from("unused"));
    settings.redis_url = Some(url.to_owned());
    settings.key_prefix = prefix.to_owned();
    settings.rules = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/rules/knowledge-sharing.toml"
    ));
    settings.workers = Some(2);
    settings
}

/// Starts a service with `settings`; its base URL.
#[allow(dead_code)]
pub async fn serve(settings: Settings) -> String {
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    base
}
