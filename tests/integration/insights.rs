//! Knowledge-flow insights over HTTP on both stores: the hand-built streams
//! of `tests/fixtures/insights` give every figure exactly (one event per
//! request, after a replay, and as one batch), revoking them leaves nothing,
//! holders show for the admin only, and bad queries get clear 4xx answers.

use serde_json::{Value, json};

use super::support::{Fixture, TestApp};

const ADMIN: &str = "admin-secret";
const READ: &str = "read-secret";

const FIXTURES: [(&str, &str); 4] = [
    ("expert", include_str!("../fixtures/insights/expert.json")),
    ("even", include_str!("../fixtures/insights/even.json")),
    ("silo", include_str!("../fixtures/insights/silo.json")),
    (
        "questions",
        include_str!("../fixtures/insights/questions.json"),
    ),
];

fn tokens(s: &mut engagement_service::settings::Settings) {
    s.admin_token = Some(ADMIN.to_owned());
    s.read_token = Some(READ.to_owned());
}

async fn embedded() -> Fixture {
    Fixture::embedded(tokens).await
}

async fn redis(test: &str) -> Fixture {
    Fixture::redis(test, tokens).await
}

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> (u16, Value) {
    app.get_as(path, token).await
}

/// Checks every report a fixture expects.
async fn check_reports(app: &TestApp, name: &str, fixture: &Value) {
    for expected in fixture["reports"].as_array().unwrap() {
        let token = if expected["admin"] == json!(true) {
            ADMIN
        } else {
            READ
        };
        let query = expected["query"].as_str().unwrap();
        let (status, body) = get(app, &format!("/v1/insights?{query}"), Some(token)).await;
        assert_eq!(status, 200, "{name} {query}: {body}");
        assert_eq!(body, expected["expect"], "{name} {query}");
    }
}

/// Revocations of every event of a fixture.
fn undo(events: &Value, prefix: &str) -> Value {
    let undo: Vec<Value> = (events.as_array().unwrap().iter())
        .map(|e| {
            json!({"id": format!("{prefix}undo-{}", e["id"].as_str().unwrap()),
                   "kind": "post.deleted", "actor": "admin",
                   "occurred_at": e["occurred_at"], "revokes": e["id"]})
        })
        .collect();
    json!({ "events": undo })
}

/// The fixture's events under new ids (targets and revocations renamed
/// alike, so questions still link to their answers).
fn renamed(events: &Value, prefix: &str) -> Value {
    let mut events = events.clone();
    for e in events.as_array_mut().unwrap() {
        for field in ["id", "revokes"] {
            if let Some(id) = e[field].as_str() {
                e[field] = json!(format!("{prefix}{id}"));
            }
        }
        if let Some(id) = e["target"]["id"].as_str() {
            e["target"]["id"] = json!(format!("{prefix}{id}"));
        }
    }
    events
}

/// One fixture in a deployment of its own (members' home communities are
/// for good): one event per request, then after a replay, then undone,
/// then again as one batch under new ids.
async fn run_fixture(app: &TestApp, name: &str) {
    let text = FIXTURES.iter().find(|(n, _)| *n == name).unwrap().1;
    let fixture: Value = serde_json::from_str(text).unwrap();
    let events = &fixture["events"];
    for event in events.as_array().unwrap() {
        app.ingest(&json!({ "events": [event] })).await;
    }
    check_reports(app, name, &fixture).await;
    let res = app
        .client
        .post(format!("{}/v1/admin/replay", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{name}: replay");
    check_reports(app, &format!("{name} after replay"), &fixture).await;
    app.ingest(&undo(events, "")).await;
    for expected in fixture["reports"].as_array().unwrap() {
        let query = expected["query"].as_str().unwrap();
        let (_, body) = get(app, &format!("/v1/insights?{query}"), Some(ADMIN)).await;
        for figure in [
            "events",
            "/members/active",
            "/members/contributors",
            "/questions/asked",
            "/questions/answered",
            "/flow/answers",
        ] {
            let at = if figure.starts_with('/') {
                figure.to_owned()
            } else {
                format!("/{figure}")
            };
            assert_eq!(
                body.pointer(&at),
                Some(&json!(0)),
                "{name} {query} undone: {at} in {body}"
            );
        }
        assert_eq!(
            body["concentration"]["accepted_answers"], 0,
            "{name} {query} undone"
        );
    }
    app.ingest(&json!({ "events": renamed(events, "batch-") }))
        .await;
    check_reports(app, &format!("{name} as one batch"), &fixture).await;
}

async fn one_expert_holds_every_accepted_answer(app: &TestApp) {
    run_fixture(app, "expert").await;
}

async fn an_even_community(app: &TestApp) {
    run_fixture(app, "even").await;
}

async fn a_silo_that_never_answers_outside(app: &TestApp) {
    run_fixture(app, "silo").await;
}

async fn questions_answered_late_by_the_asker_or_revoked(app: &TestApp) {
    run_fixture(app, "questions").await;
}

async fn holders_need_the_admin_token_and_reads_need_a_token(app: &TestApp) {
    let fixture: Value = serde_json::from_str(FIXTURES[0].1).unwrap();
    app.ingest(&json!({ "events": fixture["events"] })).await;
    let path = "/v1/insights?community=origin&period=month&at=2026-03-15";
    let (status, body) = get(app, path, Some(READ)).await;
    assert_eq!(status, 200);
    assert!(body["concentration"].get("holders").is_none(), "{body}");
    assert!(!body.to_string().contains("\"ex\""), "no member id: {body}");
    let (_, body) = get(app, path, Some(ADMIN)).await;
    assert_eq!(
        body["concentration"]["holders"],
        json!([{"member": "ex", "accepted": 2}])
    );
    let (status, body) = get(app, path, None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized", "{body}");
}

async fn bad_queries_get_clear_answers(app: &TestApp) {
    let fixture: Value = serde_json::from_str(FIXTURES[0].1).unwrap();
    app.ingest(&json!({ "events": fixture["events"] })).await;
    let long = "x".repeat(300);
    let hostile = format!("community={long}&period=month");
    let cases = [
        (
            "community=nowhere&period=month&at=2026-03-15",
            404,
            "not_found",
        ),
        (hostile.as_str(), 422, "invalid_query"),
        // A community named like a key stays a name.
        (
            "community=%7Bengagement%7D%3Ai%3Amonths&period=month",
            404,
            "not_found",
        ),
        ("period=month&at=2026-13-01", 422, "invalid_query"),
        ("period=fortnight&at=2026-03-15", 422, "invalid_query"),
        ("period=month&at=2026-02-30", 422, "invalid_query"),
        ("period=month&at=20260315", 422, "invalid_query"),
        ("period=day&at=2020-01-01", 404, "bucket_expired"),
        ("period=month&colour=red", 422, "invalid_query"),
    ];
    for (query, status, code) in cases {
        let (got, body) = get(app, &format!("/v1/insights?{query}"), Some(READ)).await;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{query}: {body}"
        );
    }
    // A community never named is unknown even in a bucket with events.
    let (status, body) = get(
        app,
        "/v1/insights?community=origin&period=all_time",
        Some(READ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["events"], 8);
    assert_eq!(body["bucket"], json!({"start": null, "end": null}));
}

on_both_stores!(
    one_expert_holds_every_accepted_answer,
    an_even_community,
    a_silo_that_never_answers_outside,
    questions_answered_late_by_the_asker_or_revoked,
    holders_need_the_admin_token_and_reads_need_a_token,
    bad_queries_get_clear_answers,
);

#[tokio::test]
async fn insights_turned_off_answer_404_and_keep_nothing() {
    let f = Fixture::embedded(|s| {
        tokens(s);
        s.insights = false;
    })
    .await;
    let fixture: Value = serde_json::from_str(FIXTURES[0].1).unwrap();
    f.app.ingest(&json!({ "events": fixture["events"] })).await;
    let (status, body) = get(
        &f.app,
        "/v1/insights?period=month&at=2026-03-15",
        Some(READ),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "insights_disabled");
}

/// Every period's report, for the whole deployment and two communities, at
/// a few dates: the figures a store gives for a generated community.
async fn every_report(app: &TestApp) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for at in ["2026-01-20", "2026-02-03", "2026-03-01", "2026-03-31"] {
        for period in ["day", "week", "month", "quarter", "year", "all_time"] {
            for community in ["", "&community=customs", "&community=rules-of-origin"] {
                let query = format!("period={period}&at={at}{community}");
                let (status, body) = get(app, &format!("/v1/insights?{query}"), Some(ADMIN)).await;
                assert_eq!(status, 200, "{query}: {body}");
                out.push((query, body));
            }
        }
    }
    out
}

/// Both stores give the same figures for every period of a generated
/// community, with revocations, under `rules` (the canonical file keeps a
/// points board of every period; `only_all_time` leaves Redis to keep
/// points of its own).
async fn stores_agree(only_all_time: bool) {
    let dir = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/rules/knowledge-sharing.toml"
    ))
    .unwrap();
    let source = if only_all_time {
        let from = r#"periods = ["all_time", "year", "quarter", "month", "week", "day"]"#;
        assert_eq!(source.matches(from).count(), 1);
        source.replacen(from, r#"periods = ["all_time"]"#, 1)
    } else {
        source
    };
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, source).unwrap();
    let tweak = |s: &mut engagement_service::settings::Settings| {
        tokens(s);
        s.rules = rules.clone();
        // Nothing expires: every day and week can be compared.
        s.retention_days = 36_500;
    };
    let embedded = Fixture::embedded(tweak).await;
    let redis = Fixture::redis(if only_all_time { "agree-own" } else { "agree" }, tweak).await;
    let params = engagement_service::generate::GenerateParams {
        members: 300,
        communities: 5,
        days: 90,
        seed: 3,
        start: "2026-01-05T00:00:00Z".parse().unwrap(),
        events: Some(6_000),
        rings: Vec::new(),
    };
    let mut events: Vec<Value> = engagement_service::generate::generate(&params)
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    // Every seventh event taken back, some before later events arrive.
    let taken_back: Vec<Value> = events.iter().step_by(7).cloned().collect();
    let revocations = undo(&json!(taken_back), "")["events"]
        .as_array()
        .unwrap()
        .clone();
    let half = events.len() / 2;
    events.splice(
        half..half,
        revocations[..revocations.len() / 2].iter().cloned(),
    );
    events.extend(revocations[revocations.len() / 2..].iter().cloned());
    for app in [&embedded.app, &redis.app] {
        for batch in events.chunks(500) {
            app.ingest(&json!({ "events": batch })).await;
        }
    }
    let (a, b) = (
        every_report(&embedded.app).await,
        every_report(&redis.app).await,
    );
    for ((query, x), (_, y)) in a.iter().zip(&b) {
        assert_eq!(x, y, "{query}");
    }
    assert!(
        a.iter()
            .any(|(_, r)| r["questions"]["answered"].as_u64() > Some(5))
    );
    assert!(
        a.iter()
            .any(|(_, r)| r["flow"]["cross_community"].as_u64() > Some(5))
    );
    // A replay on Redis rebuilds the same.
    let res = redis
        .app
        .client
        .post(format!("{}/v1/admin/replay", redis.app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let c = every_report(&redis.app).await;
    for ((query, x), (_, y)) in a.iter().zip(&c) {
        assert_eq!(x, y, "{query} after a replay");
    }
}

#[tokio::test]
async fn both_stores_give_the_same_figures_for_every_period() {
    stores_agree(false).await;
}

#[tokio::test]
async fn both_stores_agree_when_no_points_board_keeps_the_period() {
    stores_agree(true).await;
}

/// A day's actors, kept by versions before the day's hashes were spread
/// over shards in one hash `:a`, are still read and added in, for the day
/// and for the week read from its days.
#[tokio::test]
async fn actors_kept_in_the_earlier_layout_still_count_on_redis() {
    let f = Fixture::redis("insights-earlier", |s| {
        tokens(s);
        s.retention_days = 36_500;
    })
    .await;
    let at = "2026-11-20T15:00:00Z";
    let events: Vec<Value> = ["ana", "bo"]
        .iter()
        .map(|m| json!({"id": format!("p-{m}"), "kind": "answer.posted", "actor": m, "occurred_at": at}))
        .collect();
    f.app.ingest(&json!({ "events": events })).await;
    let active = |period: &'static str| {
        let app = &f.app;
        async move {
            let query = format!("/v1/insights?period={period}&at=2026-11-20");
            let (status, body) = get(app, &query, Some(READ)).await;
            assert_eq!(status, 200, "{body}");
            body["members"]["active"].as_i64().unwrap()
        }
    };
    assert_eq!((active("day").await, active("week").await), (2, 2));
    // The day's shards of the whole deployment, and the one hash before them.
    let shards = f.redis_cli(&["--scan", "--pattern", "*:i:d2026-11-20:g:a*"]);
    let shard = shards.lines().next().unwrap_or_default();
    let earlier = shard.trim_end_matches(|c: char| c.is_ascii_digit());
    assert!(earlier.ends_with(":a") && earlier != shard, "{shards}");
    f.redis_cli(&["HSET", earlier, "cy", "1"]);
    // One more event of ana's moves the day's revision: reports are read anew.
    let again =
        json!({"id": "p-ana-2", "kind": "answer.posted", "actor": "ana", "occurred_at": at});
    f.app.ingest(&again).await;
    assert_eq!((active("day").await, active("week").await), (3, 3));
}
