//! Batched ingest on a Redis Cluster (three primaries, three replicas, all
//! on this machine) beside one Redis server, in one run: one deployment on
//! the single server, one alone on the cluster (with and without a replica
//! confirming each write), then three deployments on three different
//! primaries at once, each with its own service.
//!
//! `cargo bench --bench cluster` (set `CLUSTER_SCALE=0.2` for a quicker run).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use engagement_service::generate::{GenerateParams, generate};

#[path = "support/drive.rs"]
mod drive;
// The tests' Redis processes: a server, and a cluster on free ports.
#[allow(dead_code)]
#[path = "../tests/integration/support.rs"]
mod support;

use drive::{Figure, drive};
use support::{RedisCluster, RedisServer};

// The allocator the `engagement` binary uses.
#[global_allocator]
static ALLOCATOR: engagement_service::allocator::Allocator =
    engagement_service::allocator::Allocator;

/// Clients per deployment.
const CLIENTS: usize = 16;

/// A service for deployment `prefix` at `url`; its base URL.
async fn service(url: &str, prefix: &str, min_replicas: u32) -> String {
    let mut settings = drive::on_redis(url, prefix);
    settings.redis_min_replicas = min_replicas;
    drive::serve(settings).await
}

/// Request bodies of `batches` batches of 100 generated events.
fn bodies(seed: u64, batches: usize) -> Arc<Vec<String>> {
    let events = generate(&GenerateParams {
        members: 5_000,
        communities: 14,
        days: 60,
        seed,
        start: "2026-09-01T00:00:00Z".parse().unwrap(),
        events: Some(batches * 100),
        rings: Vec::new(),
    });
    Arc::new(
        events
            .chunks(100)
            .map(|b| serde_json::to_string(&serde_json::json!({ "events": b })).unwrap())
            .collect(),
    )
}

async fn batched(what: &str, base: &str, bodies: Arc<Vec<String>>) -> Figure {
    let url = format!("{base}/v1/events");
    drive(what, bodies.len(), CLIENTS, 100, move |c, i| {
        c.post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bodies[i].clone())
    })
    .await
}

fn main() {
    engagement_service::allocator::configure();
    let scale: f64 = std::env::var("CLUSTER_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let batches = ((1_000.0 * scale) as usize).max(20);
    let single = RedisServer::start();
    let cluster = RedisCluster::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let tenants = cluster.spread("tenant", 3);
        let mut rows: Vec<Figure> = Vec::new();

        let base = service(&single.url(), "alone", 0).await;
        rows.push(batched("one Redis server, one deployment", &base, bodies(1, batches)).await);
        let base = service(&cluster.url(), "alone", 0).await;
        rows.push(batched("cluster, one deployment", &base, bodies(2, batches)).await);
        let base = service(&cluster.url(), "confirmed", 1).await;
        rows.push(
            batched(
                "cluster, one deployment, MIN_REPLICAS=1",
                &base,
                bodies(3, batches),
            )
            .await,
        );

        let mut bases = Vec::new();
        for tenant in &tenants {
            bases.push(service(&cluster.url(), tenant, 0).await);
        }
        let started = Instant::now();
        let runs: Vec<_> = bases
            .iter()
            .enumerate()
            .map(|(k, base)| {
                let (base, body) = (base.clone(), bodies(10 + k as u64, batches));
                let what = format!("cluster, deployment {} of 3 at once", k + 1);
                tokio::spawn(async move { batched(&what, &base, body).await })
            })
            .collect();
        for run in runs {
            rows.push(run.await.unwrap());
        }
        let together = (3 * batches * 100) as f64 / started.elapsed().as_secs_f64();

        println!();
        println!(
            "batches of 100 events, {CLIENTS} clients per deployment; services, Redis processes and load generator on this machine ({} cores)",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        println!(
            "{:<44} {:>12} {:>9} {:>9}",
            "measure", "events/s", "p50 ms", "p99 ms"
        );
        for f in &rows {
            println!(
                "{:<44} {:>12.0} {:>9.2} {:>9.2}",
                f.what, f.per_second, f.p50_ms, f.p99_ms
            );
        }
        println!(
            "{:<44} {:>12.0}",
            "cluster, three deployments together", together
        );
        println!(
            "deployments {} on primaries {:?}",
            tenants.join(", "),
            tenants
                .iter()
                .map(|t| cluster.nodes[cluster.primary_of(&format!("{{{t}}}"))].port)
                .collect::<Vec<_>>()
        );
    });
}
