//! Correctness when things go wrong: two service instances racing on one
//! Redis, and Redis going away and coming back.

use std::collections::HashMap;
use std::sync::Arc;

use engagement_core::{Event, Memory, RuleSet};
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
