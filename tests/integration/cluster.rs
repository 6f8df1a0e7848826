//! The service on a Redis Cluster of three primaries and three replicas:
//! several deployments with two instances each, and a primary killed under
//! load with `ENGAGEMENT_REDIS_MIN_REPLICAS=1`. The store conformance
//! suite runs on a cluster too (`conformance.rs`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::faults::{Delivery, assert_totals, decoded, load_events, logged_events, memory_points};
use crate::support::{Backend, RedisCluster, TestApp, event, prefix};

async fn instances(
    cluster: &RedisCluster,
    deployment: &str,
    min_replicas: u32,
) -> Vec<Arc<TestApp>> {
    let mut apps = Vec::new();
    for _ in 0..2 {
        let app = TestApp::spawn(Backend::Cluster(cluster, deployment.to_owned()), |s| {
            s.redis_min_replicas = min_replicas
        })
        .await;
        apps.push(Arc::new(app));
    }
    apps
}

async fn rules_version(app: &TestApp) -> String {
    let (status, rules) = app.get("/v1/admin/rules").await;
    assert_eq!(status, 200, "{rules}");
    rules["summary"]["version"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_deployments_with_two_instances_each_share_a_cluster_and_nothing_else() {
    let cluster = RedisCluster::start();
    let deployments = cluster.spread("tenants", 3);
    let mut all = Vec::new();
    for d in &deployments {
        all.push(instances(&cluster, d, 1).await);
    }
    // Deployment k: ana shares k + 1 resources through one instance, bo
    // one through the other.
    for (k, apps) in all.iter().enumerate() {
        let shares: Vec<_> = (0..=k)
            .map(|i| {
                event(
                    &format!("share-{i}"),
                    "resource.shared",
                    "ana",
                    &format!("2026-11-2{i}T15:00:00Z"),
                )
            })
            .collect();
        apps[0].ingest(&json!({ "events": shares })).await;
        apps[1]
            .ingest(&json!({"events": [event("bo-share", "resource.shared", "bo", "2026-11-20T16:00:00Z")]}))
            .await;
    }
    let mut leaders = Vec::new();
    for (k, apps) in all.iter().enumerate() {
        for app in apps {
            let (status, board) = app.get("/v1/leaderboards/contributors?limit=10").await;
            assert_eq!(status, 200, "{board}");
            assert_eq!(board["total"], 2, "deployment {k}: {board}");
            assert_eq!(board["entries"][0]["member"], "ana", "{board}");
            leaders.push(board["entries"][0]["score"].as_i64().unwrap());
        }
    }
    // Both instances of a deployment agree; each deployment has its own.
    assert!(
        leaders[0] == leaders[1] && leaders[2] == leaders[3] && leaders[4] == leaders[5],
        "{leaders:?}"
    );
    assert!(
        leaders[0] < leaders[2] && leaders[2] < leaders[4],
        "{leaders:?}"
    );

    // A rules change reaches the other instance of its deployment, and no
    // other deployment.
    let before: Vec<String> = versions_of(&all).await;
    let changed = format!("{RULES}\n# Tenant 0's own copy.\n");
    let (status, body) = all[0][1].put_toml("/v1/admin/rules", &changed).await;
    assert_eq!(status, 200, "{body}");
    let new = body["summary"]["version"].as_str().unwrap().to_owned();
    let started = Instant::now();
    while rules_version(&all[0][0]).await != new {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the other instance did not switch"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Past two of the other deployments' looks for a change: still theirs.
    tokio::time::sleep(engagement_service::rules_sync::POLL * 2).await;
    for k in 1..3 {
        for app in &all[k] {
            assert_eq!(rules_version(app).await, before[k], "deployment {k}");
        }
    }
    for apps in all {
        for app in apps {
            app.stop().await;
        }
    }
}

const RULES: &str = include_str!("../../rules/knowledge-sharing.toml");

async fn versions_of(all: &[Vec<Arc<TestApp>>]) -> Vec<String> {
    let mut versions = Vec::new();
    for apps in all {
        versions.push(rules_version(&apps[0]).await);
    }
    versions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_primary_killed_under_load_loses_no_acknowledged_event_with_one_replica_confirming() {
    let mut cluster = RedisCluster::start();
    let deployment = prefix("failover");
    let apps = instances(&cluster, &deployment, 1).await;
    let events = load_events("failover", 3000);
    let total = events.len();
    let shared = Arc::new(events.clone());
    let delivery = Arc::new(std::sync::Mutex::new(Delivery::default()));
    let clients = crate::faults::start_clients(&apps, &shared, &delivery);
    let deadline = Instant::now() + Duration::from_secs(60);
    while delivery.lock().unwrap().acked.len() < total / 3 {
        assert!(Instant::now() < deadline, "the load did not get going");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // SIGKILL the primary holding the deployment; its replica takes over.
    let primary = cluster.primary_of(&format!("{{{deployment}}}"));
    let acked_before = delivery.lock().unwrap().acked.len();
    cluster.nodes[primary].kill();
    let killed_at = Instant::now();
    let slot_key = format!("{{{deployment}}}");
    while cluster
        .try_primary_of(&slot_key)
        .is_none_or(|p| p == primary)
    {
        assert!(
            killed_at.elapsed() < Duration::from_secs(30),
            "no replica took over"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::task::block_in_place(|| cluster.wait_until_ok());
    let failed_over = killed_at.elapsed();
    // Writes wait for a replica the shard no longer has: they are refused
    // (503) until the old primary is back, as the new one's replica.
    tokio::task::block_in_place(|| {
        cluster.nodes[primary].restart();
        cluster.wait_for_replicas();
    });
    let replica_back = killed_at.elapsed();
    for client in clients {
        client.await.unwrap();
    }
    let delivery = std::mem::take(&mut *delivery.lock().unwrap());
    assert!(delivery.unexpected.is_empty(), "{:?}", delivery.unexpected);
    assert_ne!(cluster.primary_of(&format!("{{{deployment}}}")), primary);

    // Every event was acknowledged once, is in the log once, and counted once.
    let acked: HashSet<usize> = delivery.acked.iter().map(|(i, _)| *i).collect();
    assert_eq!(acked.len(), total);
    assert_eq!(delivery.acked.len(), total, "one 200 per event");
    let logged = logged_events(&cluster.url(), &deployment).await;
    let ids: HashSet<&str> = logged.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), logged.len(), "no event logged twice");
    assert_eq!(logged.len(), total, "no acknowledged event lost");
    let expected = memory_points(&decoded(&events));
    for app in &apps {
        assert_totals(app, &expected).await;
    }
    eprintln!(
        "cluster failover: {total} events, {acked_before} acknowledged before the kill, the replica serving after {failed_over:.1?}, the old primary back as its replica after {replica_back:.1?}; {} answers 503, {} connection errors",
        delivery.unavailable, delivery.connection_errors
    );
    for app in apps {
        app.stop().await;
    }
}
