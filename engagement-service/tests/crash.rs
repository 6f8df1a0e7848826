#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The embedded store under a crash: the real `engagement` binary takes
//! events from concurrent clients, is SIGKILLed mid-load, and restarts on
//! the same data directory. Every event answered 200 before the kill must
//! be there (acknowledged ⊆ applied), nothing twice, and the state must be
//! exactly what replaying the surviving log gives.

mod common;

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{BIN, RULES, configured};
use engagement_core::{Event, Memory, RuleSet};
use engagement_service::store::LogEntry;
use serde_json::{Value, json};

/// The `engagement` binary serving an embedded store; killed when dropped.
struct Service {
    child: Child,
    base: String,
}

impl Service {
    fn start(dir: &Path) -> Service {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let child = configured(Command::new(BIN), dir)
            .env("ENGAGEMENT_BIND", format!("127.0.0.1:{port}"))
            .env("ENGAGEMENT_WORKERS", "2")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Service {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn wait_until_up(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "the service exited at start"
            );
            let answer = client.get(format!("{}/healthz", self.base)).send().await;
            if answer.is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(Instant::now() < deadline, "the service did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, as a crash would.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The log as `engagement events export` prints it: event ids and events, in order.
fn exported(dir: &Path) -> Vec<Event> {
    let out = configured(Command::new(BIN), dir)
        .args(["events", "export"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| match serde_json::from_str(line).unwrap() {
            LogEntry::Event { event } => Some(event),
            _ => None,
        })
        .collect()
}

/// Events for 12 members over three days, heavy on capped and once-per
/// rules; no revocations.
fn events(n: usize) -> Vec<Value> {
    let kinds = [
        "answer.posted",
        "question.asked",
        "post.liked",
        "resource.shared",
        "answer.accepted",
        "webinar.attended",
        "webinar.hosted",
    ];
    (0..n)
        .map(|i| {
            let community = ["customs", "trade"][i % 2];
            json!({
                "id": format!("crash-{i}"),
                "kind": kinds[(i * 5 / 3) % kinds.len()],
                "actor": format!("m{}", i % 12),
                "occurred_at": format!("2026-11-{:02}T{:02}:{:02}:00Z", 18 + (i / 7) % 3, 13 + i % 8, i % 60),
                "community": community,
                "target": {"id": format!("post-{}", i % 50), "author": format!("m{}", (i / 5 + 1) % 12)},
            })
        })
        .collect()
}

fn points<'a>(events: impl IntoIterator<Item = &'a Event>) -> HashMap<String, i64> {
    let rules = RuleSet::from_toml(&std::fs::read_to_string(RULES).unwrap()).unwrap();
    let mut memory = Memory::default();
    for e in events {
        memory.ingest(&rules, e);
    }
    memory
        .members
        .iter()
        .map(|(m, s)| (m.to_string(), s.points))
        .collect()
}

/// What the clients saw before the crash.
#[derive(Default)]
struct Seen {
    /// Batches sent, by event index, and whether each was answered 200.
    batches: Vec<(Vec<usize>, bool)>,
    /// Any HTTP answer but 200 (a connection error is what a crash looks like).
    unexpected: Vec<String>,
}

async fn post(client: &reqwest::Client, base: &str, body: &Value) -> reqwest::Result<Value> {
    client
        .post(format!("{base}/v1/events"))
        .json(body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sigkilled_service_restarts_with_every_acknowledged_event_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let client = engagement_service::http_client()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut service = Service::start(dir.path());
    service.wait_until_up(&client).await;
    let events = Arc::new(events(4000));
    let seen = Arc::new(Mutex::new(Seen::default()));

    // 8 clients in batches of 1 to 5; each stops at its first failure.
    const CLIENTS: usize = 8;
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (client, base, events, seen) = (
            client.clone(),
            service.base.clone(),
            events.clone(),
            seen.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mine: Vec<usize> = (c..events.len()).step_by(CLIENTS).collect();
            let mut sizes = [1, 3, 2, 5, 4].into_iter().cycle();
            let mut rest = mine.as_slice();
            while !rest.is_empty() {
                let (batch, later) = rest.split_at(sizes.next().unwrap().min(rest.len()));
                rest = later;
                let body = json!({"events": batch.iter().map(|i| &events[*i]).collect::<Vec<_>>()});
                let answer = client
                    .post(format!("{base}/v1/events"))
                    .json(&body)
                    .send()
                    .await;
                let mut seen = seen.lock().unwrap();
                match answer.map(|r| r.status().as_u16()) {
                    Ok(200) => seen.batches.push((batch.to_vec(), true)),
                    Ok(status) => {
                        seen.unexpected.push(format!("{status} for {batch:?}"));
                        seen.batches.push((batch.to_vec(), false));
                        return;
                    }
                    Err(_) => {
                        seen.batches.push((batch.to_vec(), false));
                        return;
                    }
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let acked = seen.lock().unwrap().batches.iter().filter(|b| b.1).count();
        if acked >= 400 {
            break;
        }
        assert!(Instant::now() < deadline, "the load did not get going");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    service.kill();
    for c in clients {
        c.await.unwrap();
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        seen.unexpected.is_empty(),
        "answers before the crash: {:?}",
        seen.unexpected
    );
    let id = |i: usize| events[i]["id"].as_str().unwrap().to_owned();
    let acked: HashSet<String> = seen
        .batches
        .iter()
        .filter(|b| b.1)
        .flat_map(|b| b.0.iter().map(|i| id(*i)))
        .collect();
    let sent: HashSet<String> = seen
        .batches
        .iter()
        .flat_map(|b| b.0.iter().map(|i| id(*i)))
        .collect();
    assert!(
        acked.len() < events.len(),
        "the kill came before the load ended"
    );

    // The log after the crash: every acknowledged event, once; nothing
    // that was not sent; no batch in part.
    let logged = exported(dir.path());
    let logged_ids: HashSet<String> = logged.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(logged_ids.len(), logged.len(), "no event logged twice");
    let missing: Vec<&String> = acked.difference(&logged_ids).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(logged_ids.is_subset(&sent), "only sent events are logged");
    for (batch, _) in &seen.batches {
        let logged_part = batch
            .iter()
            .filter(|i| logged_ids.contains(&id(**i)))
            .count();
        assert!(
            logged_part == 0 || logged_part == batch.len(),
            "a batch is logged whole or not at all: {logged_part} of {batch:?}"
        );
    }
    eprintln!(
        "killed with {} events acknowledged, {} sent; {} in the log after the crash",
        acked.len(),
        sent.len(),
        logged.len()
    );

    // Restarted on the same data: the state is the log replayed...
    let mut service = Service::start(dir.path());
    service.wait_until_up(&client).await;
    let expected = points(&logged);
    for (member, points) in &expected {
        let profile: Value = client
            .get(format!("{}/v1/members/{member}", service.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(profile["points"], json!(points), "{member}");
    }
    let board: Value = client
        .get(format!(
            "{}/v1/leaderboards/contributors?limit=100",
            service.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed: HashMap<String, i64> = board["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["member"].as_str().unwrap().to_owned(),
                e["score"].as_i64().unwrap(),
            )
        })
        .collect();
    let earning: HashMap<String, i64> = expected
        .iter()
        .filter(|(_, p)| **p != 0)
        .map(|(m, p)| (m.clone(), *p))
        .collect();
    assert_eq!(listed, earning, "the all-time board");

    // ...every event sent before the crash is a duplicate exactly when it
    // was logged, and the unlogged ones apply now.
    let sent_in_order: Vec<&Value> = events
        .iter()
        .filter(|e| sent.contains(e["id"].as_str().unwrap()))
        .collect();
    for chunk in sent_in_order.chunks(500) {
        let answer = post(&client, &service.base, &json!({"events": chunk}))
            .await
            .unwrap();
        for result in answer["results"].as_array().unwrap() {
            let id = result["id"].as_str().unwrap();
            let want = if logged_ids.contains(id) {
                "duplicate"
            } else {
                "applied"
            };
            assert_eq!(result["status"], want, "{id}");
        }
    }
    service.kill();
}
