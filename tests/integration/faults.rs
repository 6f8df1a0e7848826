//! Correctness when things go wrong: two service instances racing on one
//! Redis, Redis going away and coming back, Redis crashing under load, and
//! every event delivered three times at once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engagement_core::{Event, Memory, RuleSet};
use engagement_service::store::{LogEntry, RedisSettings, RedisStore, Store};
use serde_json::{Value, json};

use super::support::{Backend, RedisServer, TestApp, event, event_on, prefix};

const RULES: &str = include_str!("../../rules/knowledge-sharing.toml");

/// A deterministic mix for a few members, heavy on capped and once-per rules.
fn contested_events(n: usize) -> Vec<Value> {
    let members = ["ana", "bo", "cy", "di"];
    let kinds = [
        "answer.posted",
        "question.asked",
        "post.liked",
        "resource.shared",
        "webinar.attended",
        "answer.accepted",
    ];
    (0..n)
        .map(|i| {
            let actor = members[i % members.len()];
            let author = members[(i / 3 + 1) % members.len()];
            let kind = kinds[(i * 7 / 3) % kinds.len()];
            // Three days, so caps are reached and reset.
            let at = format!(
                "2026-11-{:02}T{:02}:{:02}:00Z",
                18 + i % 3,
                13 + i % 8,
                i % 60
            );
            let mut e = event_on(
                &format!("race-{i}"),
                kind,
                actor,
                &at,
                &format!("post-{}", i % 40),
                author,
            );
            e["community"] = json!(["customs", "trade"][i % 2]);
            e
        })
        .collect()
}

fn expected_points(events: &[Value]) -> HashMap<String, i64> {
    let rules = RuleSet::from_toml(RULES).unwrap();
    let mut memory = Memory::default();
    for e in events {
        let e: Event = serde_json::from_value(e.clone()).unwrap();
        memory.ingest(&rules, &e);
    }
    memory
        .members
        .iter()
        .map(|(m, s)| (m.to_string(), s.points))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_redis_count_every_event_once_and_keep_caps() {
    let redis = RedisServer::start();
    let p = prefix("race");
    let a = Arc::new(TestApp::spawn(Backend::Redis(&redis, p.clone()), |_| {}).await);
    let b = Arc::new(TestApp::spawn(Backend::Redis(&redis, p), |_| {}).await);
    let events = contested_events(2000);

    // 16 clients; each event goes to one instance, and every tenth also to
    // the other one at the same time, as a platform retry would.
    let mut tasks = Vec::new();
    for worker in 0..16 {
        let (a, b) = (a.clone(), b.clone());
        let mine: Vec<(usize, Value)> = events
            .iter()
            .cloned()
            .enumerate()
            .filter(|(i, _)| i % 16 == worker)
            .collect();
        tasks.push(tokio::spawn(async move {
            let mut applied = 0;
            for (i, e) in mine {
                let (first, second) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
                let body = json!(e);
                let results = if i % 10 == 0 {
                    let (x, y) = tokio::join!(first.ingest(&body), second.ingest(&body));
                    let statuses = [x[0]["status"].clone(), y[0]["status"].clone()];
                    assert!(statuses.contains(&json!("duplicate")), "{statuses:?}");
                    x
                } else {
                    first.ingest(&body).await
                };
                if results[0]["status"] == "applied" {
                    applied += 1;
                }
            }
            applied
        }));
    }
    let mut applied = 0;
    for t in tasks {
        applied += t.await.unwrap();
    }
    assert!(applied > 1500, "most events apply once ({applied})");

    let expected = expected_points(&events);
    for (member, points) in &expected {
        let (status, profile) = a.get(&format!("/v1/members/{member}")).await;
        assert_eq!(status, 200);
        assert_eq!(profile["points"], json!(points), "{member}");
        let (_, standing) = b
            .get(&format!("/v1/leaderboards/contributors/members/{member}"))
            .await;
        assert_eq!(standing["score"], json!(points), "{member} on the board");
    }
    // Caps per member and day: answers ≤ 25, questions ≤ 3, likes ≤ 20, shares ≤ 30.
    let caps = [
        ("answer", 25),
        ("ask", 3),
        ("liked", 20),
        ("share-resource", 30),
    ];
    for member in expected.keys() {
        let (_, ledger) = a
            .get(&format!("/v1/members/{member}/ledger?limit=500"))
            .await;
        let mut per_day: HashMap<(String, String), i64> = HashMap::new();
        for line in ledger["entries"].as_array().unwrap() {
            let day = line["at"].as_str().unwrap()[..10].to_owned();
            *per_day
                .entry((line["rule"].as_str().unwrap().to_owned(), day))
                .or_default() += line["points"].as_i64().unwrap();
        }
        for ((rule, day), total) in per_day {
            if let Some((_, cap)) = caps.iter().find(|(r, _)| *r == rule) {
                assert!(total <= *cap, "{member} {rule} {day}: {total} > {cap}");
            }
        }
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_answers_503_with_retry_after_and_the_same_events_succeed_after() {
    let mut redis = RedisServer::start_with(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
    ]);
    let app = TestApp::spawn(Backend::Redis(&redis, prefix("outage")), |_| {}).await;
    let before = json!({"events": [event("o-1", "answer.posted", "ana", "2026-11-20T17:00:00Z")]});
    assert_eq!(app.ingest(&before).await[0]["status"], "applied");
    // Reads have their own shared connections: open them before the outage.
    assert_eq!(app.get("/v1/leaderboards/contributors").await.0, 200);
    assert_eq!(app.get("/v1/members/ana").await.0, 200);

    redis.kill();
    let during = json!({"events": [
        event("o-2", "answer.posted", "ana", "2026-11-20T17:05:00Z"),
        event("o-3", "webinar.hosted", "bo", "2026-11-20T18:00:00Z"),
    ]});
    let res = app.post_events(&during).await;
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "store_unavailable");
    assert_eq!(app.get("/readyz").await.0, 503);
    assert_eq!(app.get("/v1/leaderboards/contributors").await.0, 503);
    assert_eq!(app.get("/healthz").await.0, 200);

    redis.restart();
    let mut retried = None;
    for _ in 0..50 {
        let res = app.post_events(&during).await;
        if res.status() == 200 {
            retried = Some(res.json::<Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let retried = retried.expect("the service recovers once Redis is back");
    let statuses: Vec<&Value> = retried["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["status"])
        .collect();
    assert_eq!(statuses, vec!["applied", "applied"]);
    assert_eq!(app.get("/readyz").await.0, 200);
    let mut reads_back = false;
    for _ in 0..50 {
        if app.get("/v1/members/ana").await.0 == 200 {
            reads_back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(reads_back, "reads recover once Redis is back");
    let (_, ana) = app.get("/v1/members/ana").await;
    assert_eq!(
        ana["points"], 10,
        "the event acknowledged before the outage is kept, the failed one applied once"
    );
    let (_, board) = app.get("/v1/leaderboards/contributors").await;
    let scores: Vec<(Value, Value)> = board["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["member"].clone(), e["score"].clone()))
        .collect();
    assert_eq!(
        scores,
        vec![(json!("bo"), json!(50)), (json!("ana"), json!(10))]
    );
    app.stop().await;
}

// ------------------------------------------- crashes and duplicates under load

/// Daily caps in points per member and local day, by rule.
const CAPS: [(&str, i64); 4] = [
    ("answer", 25),
    ("ask", 3),
    ("liked", 20),
    ("share-resource", 30),
];

/// `n` events with distinct ids for 40 members over three days, heavy on
/// capped rules. No revocations, so the totals do not depend on the order
/// concurrent clients happen to apply them in.
pub(crate) fn load_events(tag: &str, n: usize) -> Vec<Value> {
    let kinds = [
        "answer.posted",
        "question.asked",
        "post.liked",
        "resource.shared",
        "answer.accepted",
        "post.liked",
        "answer.posted",
        "webinar.attended",
    ];
    (0..n)
        .map(|i| {
            let actor = format!("m{}", i % 40);
            let author = format!("m{}", (i / 7 + 3) % 40);
            // 13:00 to 20:59 UTC is the same day in Bogota.
            let at = format!(
                "2026-11-{:02}T{:02}:{:02}:{:02}Z",
                18 + (i / 11) % 3,
                13 + i % 8,
                (i / 3) % 60,
                i % 60
            );
            let mut e = event_on(
                &format!("{tag}-{i}"),
                kinds[(i * 5 / 3) % kinds.len()],
                &actor,
                &at,
                &format!("post-{}", i % 97),
                &author,
            );
            e["community"] = json!(["customs", "trade", "rules-of-origin"][i % 3]);
            e
        })
        .collect()
}

/// Member points after feeding these events, in this order, to a fresh
/// in-memory deployment.
pub(crate) fn memory_points<'a>(
    events: impl IntoIterator<Item = &'a Event>,
) -> HashMap<String, i64> {
    let rules = RuleSet::from_toml(RULES).unwrap();
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

pub(crate) fn decoded(events: &[Value]) -> Vec<Event> {
    events
        .iter()
        .map(|e| serde_json::from_value(e.clone()).unwrap())
        .collect()
}

/// Every member's points and the all-time board are `expected`.
pub(crate) async fn assert_totals(app: &TestApp, expected: &HashMap<String, i64>) {
    for (member, points) in expected {
        let (status, profile) = app.get(&format!("/v1/members/{member}")).await;
        assert_eq!(status, 200, "{member}: {profile}");
        assert_eq!(profile["points"], json!(points), "{member}");
    }
    let (status, board) = app.get("/v1/leaderboards/contributors?limit=100").await;
    assert_eq!(status, 200, "{board}");
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
}

/// No member got more than a rule's daily cap on any day (from the ledger,
/// which must hold every award).
async fn assert_caps_kept(app: &TestApp, members: impl Iterator<Item = &String>) {
    for member in members {
        let (status, ledger) = app
            .get(&format!("/v1/members/{member}/ledger?limit=500"))
            .await;
        assert_eq!(status, 200);
        let lines = ledger["entries"].as_array().unwrap();
        assert!(lines.len() < 500, "{member}: the ledger must be complete");
        let mut per_day: HashMap<(String, String), i64> = HashMap::new();
        for line in lines {
            let day = line["at"].as_str().unwrap()[..10].to_owned();
            *per_day
                .entry((line["rule"].as_str().unwrap().to_owned(), day))
                .or_default() += line["points"].as_i64().unwrap();
        }
        for ((rule, day), total) in per_day {
            if let Some((_, cap)) = CAPS.iter().find(|(r, _)| *r == rule) {
                assert!(total <= *cap, "{member} {rule} {day}: {total} > {cap}");
            }
        }
    }
}

/// The events in the Redis log at `url` (one server or a cluster's
/// nodes), oldest first.
pub(crate) async fn logged_events(url: &str, prefix: &str) -> Vec<Event> {
    let store = RedisStore::connect(&RedisSettings {
        url: url.to_owned(),
        prefix: prefix.to_owned(),
        retention_days: 90,
        pool_size: 1,
        insights: true,
        fair_play: true,
        min_replicas: 0,
    })
    .unwrap();
    store
        .export()
        .await
        .unwrap()
        .into_iter()
        .filter_map(|entry| match entry {
            LogEntry::Event { event } => Some(event),
            _ => None,
        })
        .collect()
}

/// What the clients saw while Redis crashed under them.
#[derive(Default)]
pub(crate) struct Delivery {
    /// Event indexes answered 200, with when.
    pub acked: Vec<(usize, Instant)>,
    /// Answers other than 200 and 503 (must stay empty).
    pub unexpected: Vec<String>,
    pub unavailable: usize,
    pub connection_errors: usize,
}

/// Sends `events` from 16 clients in batches of 1 to 8, spread over
/// `apps` (instances of one deployment); each batch is retried after a 503
/// or a connection error until it gets a 200.
pub(crate) fn start_clients(
    apps: &[Arc<TestApp>],
    events: &Arc<Vec<Value>>,
    delivery: &Arc<std::sync::Mutex<Delivery>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    const CLIENTS: usize = 16;
    (0..CLIENTS)
        .map(|client| {
            let app = apps[client % apps.len()].clone();
            let (events, delivery) = (events.clone(), delivery.clone());
            tokio::spawn(async move {
                let mine: Vec<usize> = (client..events.len()).step_by(CLIENTS).collect();
                let mut sizes = [1, 4, 8, 3, 6].into_iter().cycle();
                let deadline = Instant::now() + Duration::from_secs(60);
                let mut rest = mine.as_slice();
                while !rest.is_empty() {
                    let (batch, later) = rest.split_at(sizes.next().unwrap().min(rest.len()));
                    rest = later;
                    let body =
                        json!({"events": batch.iter().map(|i| &events[*i]).collect::<Vec<_>>()});
                    loop {
                        assert!(Instant::now() < deadline, "client {client} gave up");
                        let answer = app
                            .client
                            .post(format!("{}/v1/events", app.base))
                            .json(&body)
                            .send()
                            .await;
                        let done = {
                            let mut d = delivery.lock().unwrap();
                            match answer.as_ref().map(|r| r.status().as_u16()) {
                                Ok(200) => {
                                    let now = Instant::now();
                                    d.acked.extend(batch.iter().map(|i| (*i, now)));
                                    true
                                }
                                Ok(503) => {
                                    d.unavailable += 1;
                                    false
                                }
                                Ok(status) => {
                                    // Not retried: the test fails on it.
                                    d.unexpected.push(format!("{status} for {batch:?}"));
                                    true
                                }
                                Err(_) => {
                                    d.connection_errors += 1;
                                    false
                                }
                            }
                        };
                        if done {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            })
        })
        .collect()
}

/// What a crash run left behind.
struct CrashRun {
    delivery: Delivery,
    killed_at: Instant,
    /// `/readyz` statuses while Redis was down.
    readyz_down: Vec<u16>,
}

/// Loads `events` through the service; when about half are acknowledged,
/// SIGKILLs Redis, keeps it down ~300 ms, restarts it on the same data,
/// and lets the clients finish.
async fn load_through_a_redis_crash(
    redis: &mut RedisServer,
    app: &Arc<TestApp>,
    events: Vec<Value>,
) -> CrashRun {
    let total = events.len();
    let events = Arc::new(events);
    let delivery = Arc::new(std::sync::Mutex::new(Delivery::default()));
    let clients = start_clients(std::slice::from_ref(app), &events, &delivery);
    let deadline = Instant::now() + Duration::from_secs(60);
    while delivery.lock().unwrap().acked.len() < total / 2 {
        assert!(Instant::now() < deadline, "the load did not get going");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    redis.kill();
    let killed_at = Instant::now();
    let mut readyz_down = Vec::new();
    while killed_at.elapsed() < Duration::from_millis(300) {
        readyz_down.push(app.get("/readyz").await.0);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::task::block_in_place(|| redis.restart());
    for client in clients {
        client.await.unwrap();
    }
    let delivery = std::mem::take(&mut *delivery.lock().unwrap());
    CrashRun {
        delivery,
        killed_at,
        readyz_down,
    }
}

fn assert_only_503_while_down(run: &CrashRun) {
    let d = &run.delivery;
    assert!(
        d.unexpected.is_empty(),
        "answers other than 200 and 503: {:?}",
        d.unexpected
    );
    assert!(
        d.unavailable > 0,
        "some requests must have met the outage ({} connection errors)",
        d.connection_errors
    );
    assert!(!run.readyz_down.is_empty());
    assert!(
        run.readyz_down.iter().all(|s| *s == 503),
        "/readyz while Redis was down: {:?}",
        run.readyz_down
    );
}

async fn ready_again(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if app.get("/readyz").await.0 == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz stays 503 after Redis is back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_crash_under_load_with_fsync_always_keeps_every_acknowledged_event_counted_once() {
    let mut redis = RedisServer::start_with(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
    ]);
    let p = prefix("crash-always");
    let app = Arc::new(TestApp::spawn(Backend::Redis(&redis, p.clone()), |_| {}).await);
    let events = load_events("always", 5000);
    let started = Instant::now();
    let run = load_through_a_redis_crash(&mut redis, &app, events.clone()).await;
    assert_only_503_while_down(&run);
    ready_again(&app).await;

    // Every event was acknowledged once the clients were done...
    let acked: HashSet<usize> = run.delivery.acked.iter().map(|(i, _)| *i).collect();
    assert_eq!(acked.len(), events.len());
    assert_eq!(run.delivery.acked.len(), events.len(), "one 200 per event");
    // ...is in the log exactly once...
    let logged = logged_events(&redis.url(), &p).await;
    let ids: HashSet<&str> = logged.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), logged.len(), "no event logged twice");
    assert_eq!(logged.len(), events.len(), "no acknowledged event lost");
    // ...and counted once: totals as if each had been applied once.
    let expected = memory_points(&decoded(&events));
    assert_totals(&app, &expected).await;
    assert_caps_kept(&app, expected.keys()).await;
    eprintln!(
        "redis crash (appendfsync always): {} events in {:.1?}, {} answers 503, {} connection errors",
        events.len(),
        started.elapsed(),
        run.delivery.unavailable,
        run.delivery.connection_errors
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_crash_under_load_with_fsync_everysec_counts_nothing_twice_and_keeps_caps() {
    let mut redis = RedisServer::start_with(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
    ]);
    let p = prefix("crash-everysec");
    let app = Arc::new(TestApp::spawn(Backend::Redis(&redis, p.clone()), |_| {}).await);
    let events = load_events("everysec", 5000);
    let run = load_through_a_redis_crash(&mut redis, &app, events.clone()).await;
    assert_only_503_while_down(&run);
    ready_again(&app).await;

    let logged = logged_events(&redis.url(), &p).await;
    let ids: HashSet<&str> = logged.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), logged.len(), "no event logged twice");
    let sent: HashSet<String> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        ids.iter().all(|id| sent.contains(*id)),
        "only sent events are logged"
    );
    // Acknowledged events may be lost in the last second before the kill.
    let lost: Vec<&(usize, Instant)> = run
        .delivery
        .acked
        .iter()
        .filter(|(i, _)| !ids.contains(events[*i]["id"].as_str().unwrap()))
        .collect();
    let last_second = |at: &Instant| {
        *at <= run.killed_at && run.killed_at.duration_since(*at) <= Duration::from_secs(1)
    };
    let acked_last_second = run
        .delivery
        .acked
        .iter()
        .filter(|(_, at)| last_second(at))
        .count();
    let lost_last_second = lost.iter().filter(|(_, at)| last_second(at)).count();
    eprintln!(
        "redis crash (appendfsync everysec): {} of {} acknowledged events missing after the \
         restart; {lost_last_second} of the {acked_last_second} acknowledged in the last second \
         before the kill; {} answers 503, {} connection errors",
        lost.len(),
        run.delivery.acked.len(),
        run.delivery.unavailable,
        run.delivery.connection_errors
    );
    // Whatever survived is consistent: the state is what replaying the
    // surviving log gives, so nothing is counted twice or half.
    let expected = memory_points(&logged);
    assert_totals(&app, &expected).await;
    assert_caps_kept(&app, expected.keys()).await;
    // And the service is healthy: a new event and a redelivery answer as usual.
    let fresh = event(
        "everysec-after",
        "webinar.hosted",
        "m1",
        "2026-11-21T15:00:00Z",
    );
    assert_eq!(app.ingest(&fresh).await[0]["status"], "applied");
    assert_eq!(app.ingest(&fresh).await[0]["status"], "duplicate");
    app.stop().await;
}

/// Delivers every event three times from 12 concurrent clients, in batches
/// of the `sizes` in turn: the three copies of an event go to three
/// different clients at about the same point of their queues. Returns the
/// statuses and awards per event.
async fn deliver_three_times(
    app: &Arc<TestApp>,
    events: &Arc<Vec<Value>>,
    sizes: [usize; 5],
) -> HashMap<String, Vec<(String, Value)>> {
    const CLIENTS: usize = 12;
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let (app, events) = (app.clone(), events.clone());
        tasks.push(tokio::spawn(async move {
            let mine: Vec<usize> = (0..events.len())
                .filter(|i| [i % CLIENTS, (i + 1) % CLIENTS, (i + 5) % CLIENTS].contains(&client))
                .collect();
            let mut answers = Vec::new();
            let mut sizes = sizes.into_iter().cycle();
            let mut rest = mine.as_slice();
            while !rest.is_empty() {
                let (batch, later) = rest.split_at(sizes.next().unwrap().min(rest.len()));
                rest = later;
                let body = json!({"events": batch.iter().map(|i| &events[*i]).collect::<Vec<_>>()});
                for r in app.ingest(&body).await {
                    answers.push((
                        r["id"].as_str().unwrap().to_owned(),
                        r["status"].as_str().unwrap().to_owned(),
                        r["awards"].clone(),
                    ));
                }
            }
            answers
        }));
    }
    let mut per_event: HashMap<String, Vec<(String, Value)>> = HashMap::new();
    for task in tasks {
        for (id, status, awards) in task.await.unwrap() {
            per_event.entry(id).or_default().push((status, awards));
        }
    }
    per_event
}

/// Each event applied once and answered `duplicate` twice with its first awards.
fn assert_applied_once(per_event: &HashMap<String, Vec<(String, Value)>>, events: &[Value]) {
    assert_eq!(per_event.len(), events.len());
    for (id, answers) in per_event {
        let mut statuses: Vec<&str> = answers.iter().map(|(s, _)| s.as_str()).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, ["applied", "duplicate", "duplicate"], "{id}");
        let awards: HashSet<String> = answers.iter().map(|(_, a)| a.to_string()).collect();
        assert_eq!(
            awards.len(),
            1,
            "{id}: a duplicate answers the first awards: {awards:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_event_delivered_three_times_at_once_is_counted_once_by_redis() {
    let redis = RedisServer::start();
    let p = prefix("thrice");
    let app = Arc::new(TestApp::spawn(Backend::Redis(&redis, p.clone()), |_| {}).await);
    let events = Arc::new(load_events("thrice", 5000));
    let started = Instant::now();
    let per_event = deliver_three_times(&app, &events, [1, 10, 4, 16, 7]).await;
    let took = started.elapsed();
    assert_applied_once(&per_event, &events);
    let expected = memory_points(&decoded(&events));
    assert_totals(&app, &expected).await;
    assert_caps_kept(&app, expected.keys()).await;
    assert_eq!(logged_events(&redis.url(), &p).await.len(), events.len());
    eprintln!("15,000 deliveries of 5,000 events to redis in {took:.1?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_event_delivered_three_times_at_once_is_counted_once_by_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let app = Arc::new(TestApp::spawn(Backend::Embedded(dir.path().to_path_buf()), |_| {}).await);
    let events = Arc::new(load_events("thrice", 5000));
    let started = Instant::now();
    // Larger batches: every request with a new event waits for an fsync.
    let per_event = deliver_three_times(&app, &events, [1, 30, 12, 20, 17]).await;
    let took = started.elapsed();
    assert_applied_once(&per_event, &events);
    let expected = memory_points(&decoded(&events));
    assert_totals(&app, &expected).await;
    assert_caps_kept(&app, expected.keys()).await;
    // A batch is one line (an array), so count entries, not lines.
    let log = std::fs::read_to_string(dir.path().join("events.log")).unwrap();
    let entries: usize = log
        .lines()
        .map(|line| match serde_json::from_str::<Value>(line).unwrap() {
            Value::Array(batch) => batch.len(),
            _ => 1,
        })
        .sum();
    assert_eq!(entries, events.len(), "one log entry per event");
    eprintln!("15,000 deliveries of 5,000 events to the embedded store in {took:.1?}");
    app.stop().await;
}
