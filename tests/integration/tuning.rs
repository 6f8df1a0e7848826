//! Tuning the rules on a live service: simulations agree with what the
//! service computes, rules swap under load, and a replay while events keep
//! arriving loses nothing.

use std::sync::Arc;

use engagement_core::RuleSet;
use engagement_service::generate::{GenerateParams, generate};
use serde_json::{Value, json};

use super::support::{Backend, RedisServer, TestApp, event, prefix};

const RULES: &str = include_str!("../../rules/knowledge-sharing.toml");

fn richer_answers() -> String {
    RULES.replace(
        "id = \"answer\"\non = \"answer.posted\"\nto = \"actor\"\npoints = 5",
        "id = \"answer\"\non = \"answer.posted\"\nto = \"actor\"\npoints = 7",
    )
}

async fn put_rules(app: &TestApp, source: String) -> Value {
    let (status, body) = app.put_toml("/v1/admin/rules", &source).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn simulate_matches_the_service(app: &TestApp) {
    let events = generate(&GenerateParams {
        members: 80,
        communities: 5,
        days: 14,
        seed: 21,
        start: "2026-10-01T00:00:00Z".parse().unwrap(),
        events: Some(1500),
        rings: Vec::new(),
    });
    for chunk in events.chunks(100) {
        app.ingest(&json!({ "events": chunk })).await;
    }
    let rules = RuleSet::from_toml(RULES).unwrap();
    let sim = engagement_service::simulate::run(&rules, &events, |_| {});
    let report = engagement_service::simulate::report(&rules, &sim);
    let memory = &sim.memory;
    for board in report.boards.iter().filter(|b| b.period == "all_time") {
        let (_, page) = app
            .get(&format!("/v1/leaderboards/{}?limit=10", board.board))
            .await;
        let served: Vec<(u64, String, i64)> = page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["rank"].as_u64().unwrap(),
                    e["member"].as_str().unwrap().to_owned(),
                    e["score"].as_i64().unwrap(),
                )
            })
            .collect();
        let simulated: Vec<(u64, String, i64)> = board
            .top
            .iter()
            .map(|r| (r.rank, r.member.clone(), r.score))
            .collect();
        assert_eq!(served, simulated, "{}", board.board);
    }
    for (member, state) in &memory.members {
        let (_, profile) = app.get(&format!("/v1/members/{member}")).await;
        assert_eq!(profile["points"], json!(state.points), "{member}");
        assert_eq!(
            profile["badges"].as_array().unwrap().len(),
            state.badges.len(),
            "{member}"
        );
    }
}

#[tokio::test]
async fn simulate_gives_the_numbers_the_embedded_service_reached() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(Backend::Embedded(dir.path().into()), |_| {}).await;
    simulate_matches_the_service(&app).await;
}

#[tokio::test]
async fn simulate_gives_the_numbers_the_redis_service_reached() {
    let redis = RedisServer::start();
    let app = TestApp::spawn(Backend::Redis(&redis, prefix("simulate")), |_| {}).await;
    simulate_matches_the_service(&app).await;
}

/// Sends one answer each for members `from..to`, 8 clients at a time.
async fn answers(app: &Arc<TestApp>, tag: &str, from: usize, to: usize) -> usize {
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let (app, tag) = (app.clone(), tag.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut ok = 0;
            for i in (from..to).filter(|i| i % 8 == worker) {
                let e = event(
                    &format!("{tag}-{i}"),
                    "answer.posted",
                    &format!("m-{i}"),
                    "2026-11-20T17:00:00Z",
                );
                ok += usize::from(app.ingest(&e).await[0]["status"] == "applied");
            }
            ok
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap();
    }
    ok
}

async fn every_award_belongs_to_exactly_one_rule_version(app: Arc<TestApp>) {
    let (_, before) = app.get("/v1/admin/rules").await;
    let old_version = before["summary"]["version"].as_str().unwrap().to_owned();
    let load = {
        let app = app.clone();
        tokio::spawn(async move { answers(&app, "swap", 0, 400).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let swapped = put_rules(&app, richer_answers()).await;
    let new_version = swapped["summary"]["version"].as_str().unwrap().to_owned();
    assert_eq!(
        load.await.unwrap(),
        400,
        "every event was accepted during the swap"
    );
    let (mut old, mut new) = (0, 0);
    for i in 0..400 {
        let (_, ledger) = app.get(&format!("/v1/members/m-{i}/ledger")).await;
        let lines = ledger["entries"].as_array().unwrap();
        assert_eq!(lines.len(), 1, "m-{i}");
        let (version, points) = (
            lines[0]["rules_version"].as_str().unwrap(),
            lines[0]["points"].as_i64().unwrap(),
        );
        match version {
            v if v == old_version => {
                assert_eq!(points, 5);
                old += 1;
            }
            v if v == new_version => {
                assert_eq!(points, 7);
                new += 1;
            }
            other => panic!("award under unknown rules {other}"),
        }
    }
    assert_eq!(old + new, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_swapped_under_load_on_the_embedded_store_attribute_every_award_once() {
    let dir = tempfile::tempdir().unwrap();
    let app = Arc::new(TestApp::spawn(Backend::Embedded(dir.path().into()), |_| {}).await);
    every_award_belongs_to_exactly_one_rule_version(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_swapped_under_load_on_redis_attribute_every_award_once() {
    let redis = RedisServer::start();
    let app = Arc::new(TestApp::spawn(Backend::Redis(&redis, prefix("swap")), |_| {}).await);
    every_award_belongs_to_exactly_one_rule_version(app).await;
}

async fn a_replay_while_events_arrive_loses_nothing(app: Arc<TestApp>) {
    assert_eq!(answers(&app, "pre", 0, 600).await, 600);
    put_rules(&app, richer_answers()).await;
    let load = {
        let app = app.clone();
        tokio::spawn(async move { answers(&app, "during", 600, 900).await })
    };
    let res = app
        .client
        .post(format!("{}/v1/admin/replay", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let replay: Value = res.json().await.unwrap();
    assert!(replay["events"].as_u64().unwrap() >= 600, "{replay}");
    assert_eq!(load.await.unwrap(), 300);
    // Everyone answered once; after the replay every answer is worth 7.
    let (_, board) = app.get("/v1/leaderboards/contributors?limit=100").await;
    assert_eq!(board["total"], 900);
    assert!(
        board["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["score"] == 7),
        "{board}"
    );
    for i in [0, 599, 600, 899] {
        let (_, profile) = app.get(&format!("/v1/members/m-{i}")).await;
        assert_eq!(profile["points"], 7, "m-{i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_on_the_embedded_store_while_events_arrive_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = Arc::new(TestApp::spawn(Backend::Embedded(dir.path().into()), |_| {}).await);
    a_replay_while_events_arrive_loses_nothing(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_on_redis_while_events_arrive_loses_nothing() {
    let redis = RedisServer::start();
    let app = Arc::new(TestApp::spawn(Backend::Redis(&redis, prefix("replay")), |_| {}).await);
    a_replay_while_events_arrive_loses_nothing(app).await;
}
