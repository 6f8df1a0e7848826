//! Day and week boards past `ENGAGEMENT_RETENTION_DAYS`: gone alike on
//! both stores, answered `bucket_expired`, never as an empty board.

use serde_json::Value;

use super::support::{Backend, RedisServer, TestApp, event, event_on, prefix};

/// An answer dated `days_ago` days before now, at noon UTC.
fn answer(id: &str, days_ago: i64) -> Value {
    let at = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(24 * days_ago))
        .unwrap();
    let day = jiff::tz::TimeZone::UTC.to_datetime(at).date();
    event(id, "answer.posted", "ana", &format!("{day}T12:00:00Z"))
}

fn date_of(e: &Value) -> String {
    e["occurred_at"].as_str().unwrap()[..10].to_owned()
}

async fn expired_day_and_week_boards_answer_bucket_expired(app: &TestApp) {
    let old = answer("old", 30);
    let recent = answer("recent", 1);
    app.ingest(&old).await;
    app.ingest(&recent).await;
    for period in ["day", "week"] {
        let (status, body) = app
            .get(&format!(
                "/v1/leaderboards/contributors?period={period}&at={}",
                date_of(&old)
            ))
            .await;
        assert_eq!(status, 404, "{period}: {body}");
        assert_eq!(body["error"]["code"], "bucket_expired", "{body}");
        let (status, _) = app
            .get(&format!(
                "/v1/leaderboards/contributors/members/ana?period={period}&at={}",
                date_of(&old)
            ))
            .await;
        assert_eq!(status, 404, "{period} standing");
    }
    // Dates are YYYY-MM-DD only (not the basic form 20261120).
    let (status, body) = app.get("/v1/leaderboards/contributors?at=20261120").await;
    assert_eq!(status, 422, "{body}");
    // A board within its retention, and the longer periods, still answer.
    let (status, body) = app
        .get(&format!(
            "/v1/leaderboards/contributors?period=day&at={}",
            date_of(&recent)
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["entries"][0]["score"], 5, "{body}");
    let (status, body) = app
        .get("/v1/leaderboards/contributors?period=all_time")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["entries"][0]["score"], 10, "{body}");
}

async fn spawn_embedded(dir: &std::path::Path) -> TestApp {
    TestApp::spawn(Backend::Embedded(dir.to_path_buf()), |s| {
        s.retention_days = 7
    })
    .await
}

#[tokio::test]
async fn on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_embedded(dir.path()).await;
    expired_day_and_week_boards_answer_bucket_expired(&app).await;
    // The same after a restart, which rebuilds the boards from the log.
    app.stop().await;
    let again = spawn_embedded(dir.path()).await;
    let (status, body) = again
        .get("/v1/leaderboards/contributors?period=all_time")
        .await;
    assert_eq!(
        (status, &body["entries"][0]["score"]),
        (200, &Value::from(10))
    );
    let old = answer("old", 30);
    let (status, _) = again
        .get(&format!(
            "/v1/leaderboards/contributors?period=day&at={}",
            date_of(&old)
        ))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn on_redis() {
    let server = RedisServer::start();
    let app = TestApp::spawn(Backend::Redis(&server, prefix("retention")), |s| {
        s.retention_days = 7
    })
    .await;
    expired_day_and_week_boards_answer_bucket_expired(&app).await;
}

/// Counts the keys of generation `generation` naming day `day`.
fn day_keys(server: &RedisServer, generation: u64, day: &str) -> usize {
    let pattern = format!("*:g{generation}:*d{day}*");
    let listed = server.cli(&["--scan", "--pattern", &pattern]).unwrap();
    listed.lines().filter(|l| !l.is_empty()).count()
}

/// A replay on Redis builds no key that Redis would let go as soon as it
/// was written: a generation holds the same days as the live one did, and
/// every page answers as it did before, the expired ones included.
#[tokio::test]
async fn a_replay_on_redis_leaves_out_what_retention_let_go() {
    const ADMIN: &str = "retention-admin";
    // With a board kept by the day only: a community whose activity on it
    // is all past retention is still listed, as live ingest lists it.
    let rules = std::env::temp_dir().join(format!("retention-daily-{}.toml", std::process::id()));
    let daily = "\n[[leaderboards]]\nid = \"daily\"\nname = \"Today\"\nmetric = \"points\"\nperiods = [\"day\"]\nscopes = [\"global\", \"community\"]\n";
    std::fs::write(
        &rules,
        format!(
            "{}{daily}",
            include_str!("../../rules/knowledge-sharing.toml")
        ),
    )
    .unwrap();
    let server = RedisServer::start();
    let app = TestApp::spawn(Backend::Redis(&server, prefix("retention-replay")), |s| {
        s.retention_days = 7;
        s.admin_token = Some(ADMIN.to_owned());
        s.rules = rules.clone();
    })
    .await;
    let day = |days_ago: i64| date_of(&answer("x", days_ago));
    let (old, recent) = (day(30), day(1));
    for (id, at) in [("old", &old), ("recent", &recent)] {
        let question = format!("q-{id}");
        let mut in_community = event(
            &format!("share-{id}"),
            "answer.posted",
            "cy",
            &format!("{at}T09:00:00Z"),
        );
        in_community["community"] = format!("guild-{id}").into();
        app.ingest(&in_community).await;
        let asked = event_on(
            &question,
            "question.posted",
            "bo",
            &format!("{at}T10:00:00Z"),
            &question,
            "bo",
        );
        let answered = event_on(
            id,
            "answer.posted",
            "ana",
            &format!("{at}T12:00:00Z"),
            &question,
            "bo",
        );
        // Fair play counts what bo's acceptance gives ana.
        let accepted = event_on(
            &format!("acc-{id}"),
            "answer.accepted",
            "bo",
            &format!("{at}T14:00:00Z"),
            id,
            "ana",
        );
        app.ingest(&asked).await;
        app.ingest(&answered).await;
        app.ingest(&accepted).await;
    }
    let mut paths = vec![
        "/v1/leaderboards/contributors?period=all_time".to_owned(),
        format!("/v1/leaderboards/daily?period=day&at={recent}"),
    ];
    for at in [&old, &recent] {
        for period in ["day", "week", "month"] {
            paths.push(format!(
                "/v1/leaderboards/contributors?period={period}&at={at}"
            ));
            paths.push(format!("/v1/insights?period={period}&at={at}"));
            paths.push(format!("/v1/admin/fair-play?period={period}&at={at}"));
        }
    }
    let answers = || async {
        let mut out = Vec::new();
        for path in &paths {
            let (status, body) = app.get_as(path, Some(ADMIN)).await;
            out.push((path.clone(), status, body));
        }
        out
    };
    let before = answers().await;
    // The pages within retention hold what was ingested.
    let recent_day = |answers: &[(String, u16, Value)]| {
        let path = format!("/v1/leaderboards/contributors?period=day&at={recent}");
        let (_, status, body) = answers.iter().find(|(p, _, _)| *p == path).unwrap().clone();
        (status, body["entries"][0]["score"].clone())
    };
    assert_eq!(recent_day(&before), (200, Value::from(20)));
    assert_eq!(day_keys(&server, 0, &old), 0);
    let communities = |generation: u64| {
        let key = format!(
            "{{{}}}:g{generation}:communities:daily",
            prefix("retention-replay")
        );
        let listed = server.cli(&["SMEMBERS", &key]).unwrap();
        let mut listed: Vec<String> = listed.lines().map(str::to_owned).collect();
        listed.sort();
        listed
    };
    assert_eq!(communities(0), ["guild-old", "guild-recent"]);
    let live = day_keys(&server, 0, &recent);
    assert!(
        live >= 3,
        "a board, insights and fair-play keys of the day: {live}"
    );

    let res = (app.client.post(format!("{}/v1/admin/replay", app.base)))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(day_keys(&server, 1, &old), 0);
    assert_eq!(day_keys(&server, 1, &recent), live);
    assert_eq!(communities(1), communities(0));
    let after = answers().await;
    for ((path, status, body), (_, again, replayed)) in before.iter().zip(&after) {
        assert_eq!((status, body), (again, replayed), "{path}");
    }
}
