//! Day and week boards past `ENGAGEMENT_RETENTION_DAYS`: gone alike on
//! both stores, answered `bucket_expired`, never as an empty board.

use serde_json::Value;

use super::support::{Backend, RedisServer, TestApp, event, prefix};

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
