//! The load driver the service benchmarks share: requests sent by
//! concurrent clients, timed one by one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Concurrent clients of every measure.
pub const CONCURRENT: usize = 32;

/// Requests (or units) per second and latency percentiles of one measure.
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
    let client = reqwest::Client::builder()
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
