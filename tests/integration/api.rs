//! The HTTP API end to end: the real service built through
//! `Application::build`, driven with reqwest. Scenarios about data run
//! against the embedded store and against a real Redis; the ones about
//! the HTTP surface (errors, credentials, admin, operations, restart) run
//! against the embedded store.

use reqwest::RequestBuilder;
use serde_json::{Value, json};

use super::support::{Backend, Fixture, TestApp, event, event_on};

const RULES: &str = include_str!("../../rules/knowledge-sharing.toml");
/// Friday 2026-11-20, noon in Bogota.
const NOON: &str = "2026-11-20T17:00:00Z";

// ------------------------------------------------------------------ helpers

async fn embedded_with(tweak: impl FnOnce(&mut engagement_service::Settings)) -> Fixture {
    Fixture::embedded(tweak).await
}

async fn embedded() -> Fixture {
    Fixture::embedded(|_| {}).await
}

async fn redis(test: &str) -> Fixture {
    Fixture::redis(test, |_| {}).await
}

fn url(app: &TestApp, path: &str) -> String {
    format!("{}{path}", app.base)
}

/// Sends a request; the status and the JSON body (`Null` when not JSON).
async fn call(req: RequestBuilder) -> (u16, Value) {
    let res = req.send().await.expect("the service answers");
    let status = res.status().as_u16();
    let text = res.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Posts raw bytes with a content type.
async fn post_raw(app: &TestApp, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    call(
        app.client
            .post(url(app, path))
            .header("content-type", content_type)
            .body(body),
    )
    .await
}

/// Checks a response is the documented error: that status, that code, a
/// body of exactly `{"error": {"code", "message"}}`. Returns the message.
fn expect_error(response: &(u16, Value), status: u16, code: &str) -> String {
    let (got, body) = response;
    assert_eq!(*got, status, "{body}");
    let error = body["error"].as_object().unwrap_or_else(|| {
        panic!("an error body, got {body}");
    });
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    assert_eq!(error.len(), 2, "only code and message: {body}");
    assert_eq!(error["code"], code, "{body}");
    let message = error["message"].as_str().unwrap().to_owned();
    assert!(!message.is_empty(), "{body}");
    message
}

async fn get_ok(app: &TestApp, path: &str) -> Value {
    let (status, body) = app.get(path).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// `(rank, member, name, score)` of each entry.
fn rows(entries: &Value) -> Vec<(u64, Option<String>, Option<String>, i64)> {
    entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["rank"].as_u64().unwrap(),
                e["member"].as_str().map(str::to_owned),
                e["name"].as_str().map(str::to_owned),
                e["score"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// `(rank, member, score)` for entries of public members without names.
fn ranked(entries: &Value) -> Vec<(u64, String, i64)> {
    rows(entries)
        .into_iter()
        .map(|(rank, member, _, score)| (rank, member.unwrap_or_default(), score))
        .collect()
}

/// `n` answers by `member` at `at` (5 points each, 25 a day at most).
fn answers(member: &str, tag: &str, n: usize, at: &str) -> Vec<Value> {
    (0..n)
        .map(|i| event(&format!("{tag}-{member}-{i}"), "answer.posted", member, at))
        .collect()
}

async fn points_of(app: &TestApp, member: &str) -> i64 {
    get_ok(app, &format!("/v1/members/{member}")).await["points"]
        .as_i64()
        .unwrap()
}

// ------------------------------------------------- scenarios on both stores

async fn a_single_event_answers_its_awards_badges_and_level_ups(app: &TestApp) {
    let accepted = event_on("acc-1", "answer.accepted", "bo", NOON, "post-1", "ana");
    let results = app.ingest(&accepted).await;
    assert_eq!(
        results,
        vec![json!({
            "id": "acc-1",
            "status": "applied",
            "awards": [{"member": "ana", "rule": "accepted", "points": 15}],
            "badges": [{"member": "ana", "badge": "mentor", "tier": "bronze"}],
            "level_ups": [],
        })]
    );
    let results = app
        .ingest(&event("web-1", "webinar.hosted", "cy", NOON))
        .await;
    assert_eq!(
        results,
        vec![json!({
            "id": "web-1",
            "status": "applied",
            "awards": [{"member": "cy", "rule": "host", "points": 50}],
            "badges": [{"member": "cy", "badge": "speaker", "tier": null}],
            "level_ups": [{"member": "cy", "level": "Active"}],
        })]
    );
    assert_eq!(points_of(app, "ana").await, 15);
    assert_eq!(points_of(app, "cy").await, 50);
}

async fn a_batch_answers_one_result_per_event_in_order(app: &TestApp) {
    let batch = json!({"events": [
        event("b-1", "answer.posted", "ana", NOON),
        event("b-2", "wiki.edited", "ana", NOON),
        event("b-3", "question.asked", "bo", NOON),
    ]});
    let results = app.ingest(&batch).await;
    let summary: Vec<(&str, &str, Value)> = results
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
                r["awards"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "b-1",
                "applied",
                json!([{"member": "ana", "rule": "answer", "points": 5}])
            ),
            ("b-2", "ignored", json!([])),
            (
                "b-3",
                "applied",
                json!([{"member": "bo", "rule": "ask", "points": 1}])
            ),
        ]
    );
    assert_eq!(points_of(app, "ana").await, 5);
    assert_eq!(points_of(app, "bo").await, 1);
}

async fn a_redelivered_event_answers_duplicate_with_its_first_awards_and_changes_nothing(
    app: &TestApp,
) {
    let accepted = event_on("dup-1", "answer.accepted", "bo", NOON, "post-1", "ana");
    let first = app.ingest(&accepted).await;
    let board_before = get_ok(app, "/v1/leaderboards/contributors").await;
    let again = app.ingest(&accepted).await;
    assert_eq!(again[0]["status"], "duplicate");
    assert_eq!(again[0]["id"], "dup-1");
    assert_eq!(again[0]["awards"], first[0]["awards"]);
    assert_eq!(again[0]["badges"], first[0]["badges"]);
    // Again inside a batch, beside a new event.
    let batch = json!({"events": [accepted, event("dup-2", "answer.posted", "cy", NOON)]});
    let statuses: Vec<Value> = app
        .ingest(&batch)
        .await
        .iter()
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(statuses, vec![json!("duplicate"), json!("applied")]);
    assert_eq!(points_of(app, "ana").await, 15);
    let profile = get_ok(app, "/v1/members/ana").await;
    assert_eq!(profile["counts"]["answer.accepted"]["received"], 1);
    assert_eq!(profile["badges"].as_array().unwrap().len(), 1);
    let board = get_ok(app, "/v1/leaderboards/contributors").await;
    assert_eq!(board_before["total"], 1);
    assert_eq!(
        ranked(&board["entries"]),
        vec![(1, "ana".into(), 15), (2, "cy".into(), 5)]
    );
    let ledger = get_ok(app, "/v1/members/ana/ledger").await;
    assert_eq!(ledger["entries"].as_array().unwrap().len(), 1);
}

async fn a_batch_with_one_invalid_event_is_rejected_whole_naming_its_index(app: &TestApp) {
    let valid = || {
        vec![
            event("x-0", "answer.posted", "fresh-a", NOON),
            event_on("x-1", "answer.accepted", "fresh-a", NOON, "p", "fresh-b"),
        ]
    };
    let mut missing_time = valid();
    missing_time.push(json!({"id": "x-2", "kind": "answer.posted", "actor": "fresh-c"}));
    let mut long_id = valid();
    long_id.push(event(&"i".repeat(201), "answer.posted", "fresh-c", NOON));
    let mut bad_time = valid();
    bad_time.push(event("x-2", "answer.posted", "fresh-c", "yesterday"));
    let mut long_actor = valid();
    long_actor.push(event("x-2", "answer.posted", &"a".repeat(201), NOON));
    for (batch, field) in [
        (missing_time, "occurred_at"),
        (long_id, "id"),
        (bad_time, "occurred_at"),
        (long_actor, "actor"),
    ] {
        let response = call(
            app.client
                .post(url(app, "/v1/events"))
                .json(&json!({ "events": batch })),
        )
        .await;
        let message = expect_error(&response, 422, "invalid_event");
        assert!(message.contains("events[2]"), "{message}");
        assert!(message.contains(field), "{field}: {message}");
    }
    // Nothing of it was applied, not even the valid events before it.
    for member in ["fresh-a", "fresh-b", "fresh-c"] {
        let response = app.get(&format!("/v1/members/{member}")).await;
        expect_error(&response, 404, "not_found");
    }
    let board = get_ok(app, "/v1/leaderboards/contributors").await;
    assert_eq!(
        (board["total"].clone(), board["entries"].clone()),
        (json!(0), json!([]))
    );
    let answerers = get_ok(app, "/v1/leaderboards/answerers").await;
    assert_eq!(answerers["total"], 0);
    // The valid events were never recorded: they apply now, not as duplicates.
    let results = app.ingest(&json!({ "events": valid() })).await;
    assert!(
        results.iter().all(|r| r["status"] == "applied"),
        "{results:?}"
    );
    assert_eq!(points_of(app, "fresh-b").await, 15);
}

async fn a_board_page_shows_its_bucket_entries_and_total(app: &TestApp) {
    let mut named = event("pg-ana", "answer.posted", "ana", NOON);
    named["actor_name"] = "Ana Souza".into();
    named["community"] = "rules-of-origin".into();
    let mut events = vec![named];
    // 03:00 UTC on Monday the 23rd is still Sunday the 22nd in Bogota.
    for mut e in answers("bo", "pg", 2, "2026-11-23T03:00:00Z") {
        e["community"] = "trade-facilitation".into();
        events.push(e);
    }
    events.extend(answers("cy", "pg", 3, "2026-11-23T17:00:00Z"));
    events.push(event(
        "pg-di",
        "question.asked",
        "di",
        "2026-10-30T17:00:00Z",
    ));
    app.ingest(&json!({ "events": events })).await;

    let page = get_ok(app, "/v1/leaderboards/contributors").await;
    assert_eq!(
        page,
        json!({
            "board": "contributors",
            "period": "all_time",
            "bucket": {"start": null, "end": null},
            "community": null,
            "total": 4,
            "entries": [
                {"rank": 1, "member": "cy", "name": null, "score": 15},
                {"rank": 2, "member": "bo", "name": null, "score": 10},
                {"rank": 3, "member": "ana", "name": "Ana Souza", "score": 5},
                {"rank": 4, "member": "di", "name": null, "score": 1},
            ],
        })
    );

    let week = get_ok(
        app,
        "/v1/leaderboards/contributors?period=week&at=2026-11-20",
    )
    .await;
    assert_eq!(week["period"], "week");
    assert_eq!(
        week["bucket"],
        json!({"start": "2026-11-16", "end": "2026-11-22"})
    );
    assert_eq!(
        ranked(&week["entries"]),
        vec![(1, "bo".into(), 10), (2, "ana".into(), 5)]
    );
    let next_week = get_ok(
        app,
        "/v1/leaderboards/contributors?period=week&at=2026-11-23",
    )
    .await;
    assert_eq!(
        next_week["bucket"],
        json!({"start": "2026-11-23", "end": "2026-11-29"})
    );
    assert_eq!(ranked(&next_week["entries"]), vec![(1, "cy".into(), 15)]);

    let sunday = get_ok(
        app,
        "/v1/leaderboards/contributors?period=day&at=2026-11-22",
    )
    .await;
    assert_eq!(
        sunday["bucket"],
        json!({"start": "2026-11-22", "end": "2026-11-22"})
    );
    assert_eq!(ranked(&sunday["entries"]), vec![(1, "bo".into(), 10)]);

    let november = get_ok(
        app,
        "/v1/leaderboards/contributors?period=month&at=2026-11-05",
    )
    .await;
    assert_eq!(
        november["bucket"],
        json!({"start": "2026-11-01", "end": "2026-11-30"})
    );
    assert_eq!(november["total"], 3);
    let october = get_ok(
        app,
        "/v1/leaderboards/contributors?period=month&at=2026-10-01",
    )
    .await;
    assert_eq!(ranked(&october["entries"]), vec![(1, "di".into(), 1)]);

    let quarter = get_ok(
        app,
        "/v1/leaderboards/contributors?period=quarter&at=2026-11-20",
    )
    .await;
    assert_eq!(
        quarter["bucket"],
        json!({"start": "2026-10-01", "end": "2026-12-31"})
    );
    assert_eq!(quarter["total"], 4);
    let year = get_ok(
        app,
        "/v1/leaderboards/contributors?period=year&at=2026-06-30",
    )
    .await;
    assert_eq!(
        year["bucket"],
        json!({"start": "2026-01-01", "end": "2026-12-31"})
    );
    assert_eq!(year["total"], 4);
    let last_year = get_ok(
        app,
        "/v1/leaderboards/contributors?period=year&at=2025-06-30",
    )
    .await;
    assert_eq!(
        (last_year["total"].clone(), last_year["entries"].clone()),
        (json!(0), json!([]))
    );

    let trade = get_ok(
        app,
        "/v1/leaderboards/contributors?community=trade-facilitation",
    )
    .await;
    assert_eq!(trade["community"], "trade-facilitation");
    assert_eq!(
        (trade["total"].clone(), ranked(&trade["entries"])),
        (json!(1), vec![(1, "bo".into(), 10)])
    );
    let trade_week = get_ok(
        app,
        "/v1/leaderboards/contributors?community=trade-facilitation&period=week&at=2026-11-22",
    )
    .await;
    assert_eq!(ranked(&trade_week["entries"]), vec![(1, "bo".into(), 10)]);
    let nowhere = get_ok(app, "/v1/leaderboards/contributors?community=nowhere").await;
    assert_eq!(
        (nowhere["total"].clone(), nowhere["entries"].clone()),
        (json!(0), json!([]))
    );

    let middle = get_ok(app, "/v1/leaderboards/contributors?offset=1&limit=2").await;
    assert_eq!(middle["total"], 4);
    assert_eq!(
        ranked(&middle["entries"]),
        vec![(2, "bo".into(), 10), (3, "ana".into(), 5)]
    );
    let past_the_end = get_ok(app, "/v1/leaderboards/contributors?offset=10&limit=100").await;
    assert_eq!(
        (
            past_the_end["total"].clone(),
            past_the_end["entries"].clone()
        ),
        (json!(4), json!([]))
    );

    // Count boards count events, not points.
    app.ingest(&event_on(
        "pg-acc",
        "answer.accepted",
        "bo",
        NOON,
        "p",
        "ana",
    ))
    .await;
    let answerers = get_ok(app, "/v1/leaderboards/answerers?period=month&at=2026-11-20").await;
    assert_eq!(
        (answerers["period"].clone(), ranked(&answerers["entries"])),
        (json!("month"), vec![(1, "ana".into(), 1)])
    );
}

async fn standings_show_neighbours_at_the_edges_and_among_ties(app: &TestApp) {
    // a: 25, b: 15, c: 15, d: 5; b got to 15 before c.
    let mut events = Vec::new();
    for (who, n) in [("a", 5), ("b", 3), ("c", 3), ("d", 1)] {
        events.extend(answers(who, "st", n, NOON));
    }
    app.ingest(&json!({ "events": events })).await;
    let page = get_ok(app, "/v1/leaderboards/contributors").await;
    assert_eq!(
        ranked(&page["entries"]),
        vec![
            (1, "a".into(), 25),
            (2, "b".into(), 15),
            (2, "c".into(), 15),
            (4, "d".into(), 5)
        ]
    );
    let standing = |member: &str, query: &str| {
        let path = format!("/v1/leaderboards/contributors/members/{member}{query}");
        async move { get_ok(app, &path).await }
    };
    let first = standing("a", "?radius=1").await;
    assert_eq!(
        (
            first["member"].clone(),
            first["rank"].clone(),
            first["score"].clone(),
            first["total"].clone()
        ),
        (json!("a"), json!(1), json!(25), json!(4))
    );
    assert_eq!(
        ranked(&first["entries"]),
        vec![(1, "a".into(), 25), (2, "b".into(), 15)]
    );
    assert_eq!(first["board"], "contributors");
    assert_eq!(first["period"], "all_time");
    let last = standing("d", "?radius=1").await;
    assert_eq!(
        (last["rank"].clone(), last["score"].clone()),
        (json!(4), json!(5))
    );
    assert_eq!(
        ranked(&last["entries"]),
        vec![(2, "c".into(), 15), (4, "d".into(), 5)]
    );
    let tied = standing("c", "").await;
    assert_eq!(tied["rank"], 2);
    assert_eq!(
        ranked(&tied["entries"]),
        vec![
            (1, "a".into(), 25),
            (2, "b".into(), 15),
            (2, "c".into(), 15),
            (4, "d".into(), 5)
        ]
    );
    let alone = standing("b", "?radius=0").await;
    assert_eq!(ranked(&alone["entries"]), vec![(2, "b".into(), 15)]);
    let weekly = standing("b", "?period=week&at=2026-11-22&radius=1").await;
    assert_eq!(
        weekly["bucket"],
        json!({"start": "2026-11-16", "end": "2026-11-22"})
    );
    assert_eq!(weekly["rank"], 2);
    assert_eq!(
        ranked(&weekly["entries"]),
        vec![
            (1, "a".into(), 25),
            (2, "b".into(), 15),
            (2, "c".into(), 15)
        ]
    );
    let nobody = standing("nobody", "").await;
    assert_eq!(
        (
            nobody["member"].clone(),
            nobody["rank"].clone(),
            nobody["score"].clone(),
            nobody["total"].clone(),
            nobody["entries"].clone()
        ),
        (json!("nobody"), Value::Null, json!(0), json!(4), json!([]))
    );
    let next_week = standing("a", "?period=week&at=2026-11-23").await;
    assert_eq!(
        (next_week["rank"].clone(), next_week["total"].clone()),
        (Value::Null, json!(0))
    );
}

async fn visibility_and_groups_decide_who_is_listed(app: &TestApp) {
    let mut events = Vec::new();
    for (who, n) in [
        ("top", 5),
        ("staffer", 4),
        ("anon", 3),
        ("hid", 2),
        ("low", 1),
    ] {
        events.extend(answers(who, "vis", n, NOON));
    }
    // The staffer's answer is accepted: 15 more points, and a count on "answerers".
    events.push(event_on(
        "vis-acc",
        "answer.accepted",
        "top",
        NOON,
        "p",
        "staffer",
    ));
    app.ingest(&json!({ "events": events })).await;
    let board = || async { get_ok(app, "/v1/leaderboards/contributors").await };
    assert_eq!(
        ranked(&board().await["entries"]),
        vec![
            (1, "staffer".into(), 35),
            (2, "top".into(), 25),
            (3, "anon".into(), 15),
            (4, "hid".into(), 10),
            (5, "low".into(), 5)
        ]
    );

    let (status, hid) = app
        .put_json("/v1/members/hid", &json!({"visibility": "hidden"}))
        .await;
    assert_eq!((status, hid["visibility"].clone()), (200, json!("hidden")));
    let (status, _) = app
        .put_json("/v1/members/staffer", &json!({"groups": ["staff"]}))
        .await;
    assert_eq!(status, 200);
    let (status, anon) = app
        .put_json(
            "/v1/members/anon",
            &json!({"visibility": "anonymous", "name": "Secret Name"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (anon["name"].clone(), anon["visibility"].clone()),
        (json!("Secret Name"), json!("anonymous"))
    );

    let listed = board().await;
    assert_eq!(listed["total"], 3);
    assert_eq!(
        rows(&listed["entries"]),
        vec![
            (1, Some("top".into()), None, 25),
            (2, None, None, 15),
            (3, Some("low".into()), None, 5)
        ]
    );
    let second = get_ok(app, "/v1/leaderboards/contributors?offset=1&limit=1").await;
    assert_eq!(rows(&second["entries"]), vec![(2, None, None, 15)]);
    let low = get_ok(app, "/v1/leaderboards/contributors/members/low?radius=1").await;
    assert_eq!(
        (low["rank"].clone(), low["total"].clone()),
        (json!(3), json!(3))
    );
    assert_eq!(
        rows(&low["entries"]),
        vec![(2, None, None, 15), (3, Some("low".into()), None, 5)]
    );
    for member in ["hid", "staffer"] {
        let s = get_ok(
            app,
            &format!("/v1/leaderboards/contributors/members/{member}"),
        )
        .await;
        assert_eq!(
            (s["rank"].clone(), s["entries"].clone()),
            (Value::Null, json!([])),
            "{member}"
        );
    }
    // Staff are excluded from "contributors" only.
    let answerers = get_ok(app, "/v1/leaderboards/answerers").await;
    assert_eq!(
        ranked(&answerers["entries"]),
        vec![(1, "staffer".into(), 1)]
    );
    // Members still see their own profile, points and name.
    let own = get_ok(app, "/v1/members/anon").await;
    assert_eq!(
        (own["name"].clone(), own["points"].clone()),
        (json!("Secret Name"), json!(15))
    );
    // Back to public: listed again in their place.
    let (status, _) = app
        .put_json("/v1/members/hid", &json!({"visibility": "public"}))
        .await;
    assert_eq!(status, 200);
    let listed = board().await;
    assert_eq!(
        rows(&listed["entries"]),
        vec![
            (1, Some("top".into()), None, 25),
            (2, None, None, 15),
            (3, Some("hid".into()), None, 10),
            (4, Some("low".into()), None, 5)
        ]
    );
}

async fn the_ledger_lists_awards_newest_first_and_marks_revoked_ones(app: &TestApp) {
    let mut events = answers("ana", "l", 2, NOON);
    events.push(event_on("l-like", "post.liked", "bo", NOON, "p", "ana"));
    app.ingest(&json!({ "events": events })).await;
    let mut undo = event("l-undo", "answer.deleted", "ana", "2026-11-20T18:00:00Z");
    undo["revokes"] = "l-ana-0".into();
    let results = app.ingest(&undo).await;
    assert_eq!(results[0]["status"], "applied");
    assert_eq!(
        results[0]["awards"],
        json!([{"member": "ana", "rule": "answer", "points": -5}])
    );
    let ledger = get_ok(app, "/v1/members/ana/ledger").await;
    assert_eq!(ledger["member"], "ana");
    let lines: Vec<(String, String, i64, bool, Value)> = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["event"].as_str().unwrap().to_owned(),
                l["rule"].as_str().unwrap().to_owned(),
                l["points"].as_i64().unwrap(),
                l["revoked"].as_bool().unwrap(),
                l["revokes"].clone(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            (
                "l-undo".into(),
                "answer".into(),
                -5,
                false,
                json!("l-ana-0")
            ),
            ("l-like".into(), "liked".into(), 2, false, Value::Null),
            ("l-ana-1".into(), "answer".into(), 5, false, Value::Null),
            ("l-ana-0".into(), "answer".into(), 5, true, Value::Null),
        ]
    );
    let first = &ledger["entries"][3];
    assert_eq!(first["at"], NOON);
    assert_eq!(first["rules_version"].as_str().unwrap().len(), 16);
    let two = get_ok(app, "/v1/members/ana/ledger?limit=2").await;
    let events: Vec<&Value> = two["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| &l["event"])
        .collect();
    assert_eq!(events, vec!["l-undo", "l-like"]);
    assert_eq!(points_of(app, "ana").await, 7);
    // The answer's own count and score are taken back too.
    let profile = get_ok(app, "/v1/members/ana").await;
    assert_eq!(profile["counts"]["answer.posted"]["actor"], 1);
    let board = get_ok(app, "/v1/leaderboards/contributors").await;
    assert_eq!(ranked(&board["entries"]), vec![(1, "ana".into(), 7)]);
}

async fn a_profile_shows_points_level_badges_streak_counts_stages_and_progress(app: &TestApp) {
    let mut events = Vec::new();
    for (i, (at, community)) in [
        ("2026-11-10T17:00:00Z", "rules-of-origin"),
        ("2026-11-11T17:00:00Z", "trade-facilitation"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut e = event(&format!("pr-{i}"), "answer.posted", "ana", at);
        e["community"] = community.into();
        e["actor_name"] = "Ana Souza".into();
        events.push(e);
    }
    events.push(event_on(
        "pr-acc",
        "answer.accepted",
        "bo",
        "2026-11-11T18:00:00Z",
        "pr-0",
        "ana",
    ));
    events.push(event(
        "pr-web",
        "webinar.hosted",
        "ana",
        "2026-11-11T19:00:00Z",
    ));
    events.push(event(
        "pr-ask",
        "question.asked",
        "ana",
        "2026-11-11T20:00:00Z",
    ));
    app.ingest(&json!({ "events": events })).await;

    let p = get_ok(app, "/v1/members/ana").await;
    assert_eq!(p["member"], "ana");
    assert_eq!(p["name"], "Ana Souza");
    assert_eq!(p["points"], 76);
    assert_eq!(
        p["level"],
        json!({"name": "Active", "next": "Core", "points_to_next": 174})
    );
    assert_eq!(
        p["badges"],
        json!([
            {"badge": "mentor", "name": "Mentor", "tier": "bronze", "awarded_at": "2026-11-11T18:00:00Z"},
            {"badge": "speaker", "name": "Speaker", "tier": null, "awarded_at": "2026-11-11T19:00:00Z"},
        ])
    );
    // Active on the 10th and 11th; long since then, with no freezes: 0 now.
    assert_eq!(
        p["streak"],
        json!({"current": 0, "longest": 2, "freezes": 0, "last_active_day": "2026-11-11"})
    );
    assert_eq!(
        p["counts"],
        json!({
            "answer.accepted": {"actor": 0, "received": 1},
            "answer.posted": {"actor": 2, "received": 0},
            "question.asked": {"actor": 1, "received": 0},
            "webinar.hosted": {"actor": 1, "received": 0},
        })
    );
    assert_eq!(
        p["stages"],
        json!({"create": 1, "discover": 1, "disseminate": 2})
    );
    let progress: Vec<(String, Value, i64, i64)> = p["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["badge"].as_str().unwrap().to_owned(),
                g["tier"].clone(),
                g["current"].as_i64().unwrap(),
                g["target"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        progress,
        vec![
            ("first-share".into(), Value::Null, 0, 1),
            ("mentor".into(), json!("silver"), 1, 10),
            ("helpful".into(), json!("bronze"), 0, 10),
            // The streak shown now is 0, and so is the progress toward it.
            ("steady".into(), Value::Null, 0, 7),
            ("silo-breaker".into(), Value::Null, 2, 3),
            ("full-cycle".into(), Value::Null, 3, 6),
            ("centurion".into(), Value::Null, 76, 100),
        ]
    );

    // A streak that runs through today is shown as it is.
    let tz = jiff::tz::TimeZone::get("America/Bogota").unwrap();
    let today = tz.to_datetime(jiff::Timestamp::now()).date();
    let noon_of = |d: jiff::civil::Date| tz.to_timestamp(d.at(12, 0, 0, 0)).unwrap().to_string();
    let yesterday = today.yesterday().unwrap();
    app.ingest(&json!({"events": [
        event("now-1", "question.asked", "cy", &noon_of(yesterday)),
        event("now-2", "question.asked", "cy", &noon_of(today)),
    ]}))
    .await;
    let cy = get_ok(app, "/v1/members/cy").await;
    assert_eq!(
        cy["streak"],
        json!({"current": 2, "longest": 2, "freezes": 0, "last_active_day": today.to_string()})
    );
    let steady = cy["progress"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["badge"] == "steady")
        .cloned();
    assert_eq!(
        steady,
        Some(json!({"badge": "steady", "tier": null, "current": 2, "target": 7}))
    );
    assert_eq!(
        cy["level"],
        json!({"name": "Peripheral", "next": "Active", "points_to_next": 48})
    );
}

async fn a_profile_update_sets_name_timezone_groups_and_visibility(app: &TestApp) {
    let (status, p) = app
        .put_json(
            "/v1/members/ana",
            &json!({
                "name": "Ana Souza",
                "timezone": "Europe/Madrid",
                "groups": ["moderators"],
                "visibility": "anonymous",
            }),
        )
        .await;
    assert_eq!(status, 200, "{p}");
    let settings = |p: &Value| {
        (
            p["member"].clone(),
            p["name"].clone(),
            p["timezone"].clone(),
            p["groups"].clone(),
            p["visibility"].clone(),
        )
    };
    let expected = (
        json!("ana"),
        json!("Ana Souza"),
        json!("Europe/Madrid"),
        json!(["moderators"]),
        json!("anonymous"),
    );
    assert_eq!(settings(&p), expected);
    assert_eq!(p["points"], 0);
    assert_eq!(
        p["level"],
        json!({"name": "Peripheral", "next": "Active", "points_to_next": 50})
    );
    assert_eq!(settings(&get_ok(app, "/v1/members/ana").await), expected);

    // Absent fields keep their value.
    let (status, p) = app
        .put_json("/v1/members/ana", &json!({"name": "Ana S."}))
        .await;
    assert_eq!(status, 200);
    let renamed = (
        json!("ana"),
        json!("Ana S."),
        json!("Europe/Madrid"),
        json!(["moderators"]),
        json!("anonymous"),
    );
    assert_eq!(settings(&p), renamed);

    for (body, field) in [
        (json!({"timezone": "Mars/Olympus_Mons"}), "timezone"),
        (json!({"nickname": "ana"}), "nickname"),
        (json!({"visibility": "invisible"}), "invisible"),
        (json!({"name": ""}), "name"),
        (json!({"groups": [""]}), "groups"),
        (json!({"groups": "staff"}), "staff"),
    ] {
        let response = app.put_json("/v1/members/ana", &body).await;
        let message = expect_error(&response, 422, "invalid_profile");
        assert!(message.contains(field), "{body}: {message}");
    }
    // Nothing of the refused updates was kept.
    assert_eq!(settings(&get_ok(app, "/v1/members/ana").await), renamed);
    let response = app
        .put_json(&format!("/v1/members/{}", "m".repeat(201)), &json!({}))
        .await;
    expect_error(&response, 422, "invalid_member");

    // Times count in the member's own zone: 22:30 and 23:30 UTC are two days in Madrid.
    let tz_events: Vec<Value> = ["2026-11-20T22:30:00Z", "2026-11-20T23:30:00Z"]
        .iter()
        .enumerate()
        .flat_map(|(i, at)| {
            (0..3).map(move |j| event(&format!("tz-{i}-{j}"), "question.asked", "ana", at))
        })
        .collect();
    app.ingest(&json!({ "events": tz_events })).await;
    assert_eq!(points_of(app, "ana").await, 6);
}

// -------------------------------------------------- the HTTP surface (embedded)

#[tokio::test]
async fn a_batch_holds_one_to_a_thousand_events() {
    let f = embedded().await;
    let app = &f.app;
    let batch = |n: usize| {
        let events: Vec<Value> = (0..n)
            .map(|i| event(&format!("n-{i}"), "question.asked", &format!("m-{i}"), NOON))
            .collect();
        json!({ "events": events })
    };
    let message = expect_error(
        &call(app.client.post(url(app, "/v1/events")).json(&batch(1001))).await,
        422,
        "invalid_batch",
    );
    assert!(message.contains("1001"), "{message}");
    let message = expect_error(
        &call(app.client.post(url(app, "/v1/events")).json(&batch(0))).await,
        422,
        "invalid_batch",
    );
    assert!(message.contains("events"), "{message}");
    expect_error(&app.get("/v1/members/m-0").await, 404, "not_found");
    let results = app.ingest(&batch(1000)).await;
    assert_eq!(results.len(), 1000);
    assert!(results.iter().all(|r| r["status"] == "applied"));
    assert_eq!(results[999]["id"], "n-999");
    let board = get_ok(app, "/v1/leaderboards/contributors").await;
    assert_eq!(board["total"], 1000);
    // Other shapes that are not an event or a batch.
    for body in [
        json!({"events": "n-1"}),
        json!({"events": [], "extra": 1}),
        json!([event("arr", "question.asked", "ana", NOON)]),
        json!("event"),
    ] {
        let response = call(app.client.post(url(app, "/v1/events")).json(&body)).await;
        assert_eq!(response.0, 422, "{body}: {}", response.1);
        assert!(response.1["error"]["message"].is_string());
    }
}

#[tokio::test]
async fn a_single_invalid_event_is_a_422_naming_the_field() {
    let f = embedded().await;
    let app = &f.app;
    for (body, field) in [
        (event(&"i".repeat(201), "answer.posted", "ana", NOON), "id"),
        (event("", "answer.posted", "ana", NOON), "id"),
        (event("e", "answer.posted", "", NOON), "actor"),
        (event("e", "", "ana", NOON), "kind"),
        (
            event("e", "answer.posted", "ana", "2026-11-20"),
            "occurred_at",
        ),
        (
            json!({"id": "e", "kind": "answer.posted", "actor": "ana"}),
            "occurred_at",
        ),
        (
            {
                let mut e = event("e", "answer.posted", "ana", NOON);
                e["community"] = "".into();
                e
            },
            "community",
        ),
        (
            {
                let mut e = event("e", "answer.posted", "ana", NOON);
                e["colour"] = "red".into();
                e
            },
            "colour",
        ),
        (
            {
                let mut e = event("e", "answer.posted", "ana", NOON);
                e["target"] = json!({"id": "p", "author": 7});
                e
            },
            "author",
        ),
    ] {
        let response = call(app.client.post(url(app, "/v1/events")).json(&body)).await;
        let message = expect_error(&response, 422, "invalid_event");
        assert!(message.contains(field), "{field}: {message}");
    }
    expect_error(&app.get("/v1/members/ana").await, 404, "not_found");
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let f = embedded().await;
    let app = &f.app;
    for body in [&b"{\"id\": "[..], b"not json", b"", &[0xff, 0xfe]] {
        let response = post_raw(app, "/v1/events", "application/json", body.to_vec()).await;
        expect_error(&response, 400, "malformed_request");
    }
    let response = call(
        app.client
            .put(url(app, "/v1/members/ana"))
            .header("content-type", "application/json")
            .body("{name"),
    )
    .await;
    expect_error(&response, 400, "malformed_request");
    expect_error(&app.get("/v1/members/ana").await, 404, "not_found");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415() {
    let f = embedded().await;
    let app = &f.app;
    let body = serde_json::to_vec(&event("ct", "answer.posted", "ana", NOON)).unwrap();
    for content_type in ["text/plain", "application/x-www-form-urlencoded", ""] {
        let response = post_raw(app, "/v1/events", content_type, body.clone()).await;
        expect_error(&response, 415, "unsupported_media_type");
    }
    let response = call(app.client.post(url(app, "/v1/events")).body(body.clone())).await;
    expect_error(&response, 415, "unsupported_media_type");
    let response = call(
        app.client
            .put(url(app, "/v1/members/ana"))
            .header("content-type", "text/plain")
            .body(r#"{"name": "Ana"}"#),
    )
    .await;
    expect_error(&response, 415, "unsupported_media_type");
    expect_error(&app.get("/v1/members/ana").await, 404, "not_found");
    // Parameters and case do not matter.
    let response = post_raw(app, "/v1/events", "Application/JSON; charset=utf-8", body).await;
    assert_eq!(response.0, 200, "{}", response.1);
    assert_eq!(response.1["results"][0]["status"], "applied");
}

#[tokio::test]
async fn a_body_over_4_mib_is_a_413() {
    let f = embedded().await;
    let app = &f.app;
    // Valid JSON, padded with spaces past the limit.
    let event = serde_json::to_vec(&event("big", "answer.posted", "ana", NOON)).unwrap();
    let mut body = vec![b' '; 4 * 1024 * 1024 + 1 - event.len()];
    body.extend_from_slice(&event);
    let response = post_raw(app, "/v1/events", "application/json", body.clone()).await;
    expect_error(&response, 413, "payload_too_large");
    expect_error(&app.get("/v1/members/ana").await, 404, "not_found");
    // Exactly at the limit is fine.
    let response = post_raw(app, "/v1/events", "application/json", body[1..].to_vec()).await;
    assert_eq!(response.0, 200, "{}", response.1);
    assert_eq!(points_of(app, "ana").await, 5);
}

#[tokio::test]
async fn a_chunked_body_over_4_mib_is_a_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let f = embedded().await;
    let app = &f.app;
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // No length announced: 65 chunks of 64 KiB of spaces, past the 4 MiB limit.
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..65 {
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend_from_slice(&chunk);
        framed.extend_from_slice(b"\r\n");
        if stream.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(r#""code":"payload_too_large""#), "{answer}");
}

#[tokio::test]
async fn unknown_routes_boards_and_members_are_404_in_json() {
    let f = embedded().await;
    let app = &f.app;
    let message = expect_error(&app.get("/v1/nothing").await, 404, "not_found");
    assert!(message.contains("/v1/nothing"), "{message}");
    expect_error(&app.get("/v2/leaderboards").await, 404, "not_found");
    let message = expect_error(&app.get("/v1/leaderboards/helpers").await, 404, "not_found");
    assert!(message.contains("helpers"), "{message}");
    expect_error(
        &app.get("/v1/leaderboards/helpers/members/ana").await,
        404,
        "not_found",
    );
    let message = expect_error(&app.get("/v1/members/ghost").await, 404, "not_found");
    assert!(message.contains("ghost"), "{message}");
    // Ids are opaque: any UTF-8, percent-encoded in the path.
    app.ingest(&event("u", "answer.posted", "a b/é:{x}", NOON))
        .await;
    let p = get_ok(app, "/v1/members/a%20b%2F%C3%A9%3A%7Bx%7D").await;
    assert_eq!(
        (p["member"].clone(), p["points"].clone()),
        (json!("a b/é:{x}"), json!(5))
    );
}

#[tokio::test]
async fn a_known_route_with_another_method_answers_in_json() {
    let f = embedded().await;
    let app = &f.app;
    for (method, path) in [
        (reqwest::Method::GET, "/v1/events"),
        (reqwest::Method::DELETE, "/v1/members/ana"),
        (reqwest::Method::POST, "/v1/leaderboards"),
        (reqwest::Method::DELETE, "/v1/admin/rules"),
    ] {
        let response = call(app.client.request(method.clone(), url(app, path))).await;
        // 404 or 405 both tell the client; either way in the documented shape.
        match response.0 {
            404 => expect_error(&response, 404, "not_found"),
            _ => expect_error(&response, 405, "method_not_allowed"),
        };
    }
}

#[tokio::test]
async fn invalid_leaderboard_queries_are_422_naming_the_parameter() {
    let f = embedded().await;
    let app = &f.app;
    for (path, field) in [
        ("/v1/leaderboards/contributors?limit=0", "limit"),
        ("/v1/leaderboards/contributors?limit=101", "limit"),
        ("/v1/leaderboards/contributors?limit=ten", "limit"),
        ("/v1/leaderboards/contributors?offset=-1", "offset"),
        ("/v1/leaderboards/contributors?period=decade", "period"),
        ("/v1/leaderboards/contributors?at=2026-13-01", "at"),
        ("/v1/leaderboards/contributors?at=yesterday", "at"),
        ("/v1/leaderboards/contributors?community=", "community"),
        ("/v1/leaderboards/contributors?colour=red", "colour"),
        ("/v1/leaderboards/answerers?period=week", "period"),
        ("/v1/leaderboards/answerers?period=day", "period"),
        (
            "/v1/leaderboards/contributors/members/ana?radius=51",
            "radius",
        ),
        (
            "/v1/leaderboards/contributors/members/ana?radius=-1",
            "radius",
        ),
        (
            "/v1/leaderboards/contributors/members/ana?period=decade",
            "period",
        ),
        (
            "/v1/leaderboards/contributors/members/ana?offset=5",
            "offset",
        ),
        ("/v1/leaderboards/contributors/members/ana?limit=5", "limit"),
        ("/v1/leaderboards/contributors?radius=2", "radius"),
        ("/v1/members/ana/ledger?limit=0", "limit"),
        ("/v1/members/ana/ledger?limit=501", "limit"),
        ("/v1/members/ana/ledger?limit=x", "limit"),
    ] {
        let message = expect_error(&app.get(path).await, 422, "invalid_query");
        assert!(message.contains(field), "{path}: {message}");
    }
    // The limits themselves are fine.
    for path in [
        "/v1/leaderboards/contributors?limit=1",
        "/v1/leaderboards/contributors?limit=100&offset=0",
        "/v1/leaderboards/answerers?period=month&at=2026-02-28",
        "/v1/leaderboards/contributors/members/ana?radius=50",
    ] {
        get_ok(app, path).await;
    }
}

#[tokio::test]
async fn the_board_list_shows_both_boards_with_periods_and_scopes() {
    let f = embedded().await;
    let list = get_ok(&f.app, "/v1/leaderboards").await;
    assert_eq!(
        list,
        json!({"leaderboards": [
            {
                "id": "contributors",
                "name": "Top contributors",
                "metric": "points",
                "periods": ["all_time", "year", "quarter", "month", "week", "day"],
                "scopes": ["global", "community"],
            },
            {
                "id": "answerers",
                "name": "Most accepted answers",
                "metric": "count",
                "periods": ["all_time", "month"],
                "scopes": ["global", "community"],
            },
        ]})
    );
}

#[tokio::test]
async fn ingest_needs_the_ingest_token_when_one_is_set() {
    let f = embedded_with(|s| s.ingest_token = Some("in-secret".into())).await;
    let app = &f.app;
    let body = event("auth-1", "answer.posted", "ana", NOON);
    let post = || app.client.post(url(app, "/v1/events")).json(&body);
    for request in [
        post(),
        post().bearer_auth("wrong"),
        post().bearer_auth("in-secre"),
        post().bearer_auth("in-secret-and-more"),
        post().header("authorization", "in-secret"),
        post().basic_auth("in-secret", Some("in-secret")),
    ] {
        let res = request.send().await.unwrap();
        assert_eq!(
            res.headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap()),
            Some("Bearer")
        );
        let response = (res.status().as_u16(), res.json().await.unwrap());
        expect_error(&response, 401, "unauthorized");
    }
    let put = app
        .client
        .put(url(app, "/v1/members/ana"))
        .json(&json!({"name": "Ana"}));
    expect_error(&call(put).await, 401, "unauthorized");
    expect_error(&app.get("/v1/members/ana").await, 404, "not_found");
    let (status, body) = call(post().bearer_auth("in-secret")).await;
    assert_eq!(
        (status, body["results"][0]["status"].clone()),
        (200, json!("applied"))
    );
    let put = app
        .client
        .put(url(app, "/v1/members/ana"))
        .bearer_auth("in-secret")
        .json(&json!({"name": "Ana"}));
    assert_eq!(call(put).await.0, 200);
    // Reads stay public while no read token is set.
    assert_eq!(points_of(app, "ana").await, 5);
    get_ok(app, "/v1/leaderboards").await;
    // The ingest token is no admin token, and the other way round.
    let f = embedded_with(|s| {
        s.ingest_token = Some("in-secret".into());
        s.admin_token = Some("ad-secret".into());
    })
    .await;
    let app = &f.app;
    let admin = call(
        app.client
            .get(url(app, "/v1/admin/rules"))
            .bearer_auth("in-secret"),
    )
    .await;
    expect_error(&admin, 401, "unauthorized");
    let ingest = call(
        app.client
            .post(url(app, "/v1/events"))
            .bearer_auth("ad-secret")
            .json(&body),
    )
    .await;
    expect_error(&ingest, 401, "unauthorized");
}

#[tokio::test]
async fn reads_need_the_read_token_when_one_is_set() {
    let f = embedded_with(|s| s.read_token = Some("rd-secret".into())).await;
    let app = &f.app;
    // Ingest stays open (no ingest token on loopback).
    app.ingest(&event("rd-1", "answer.posted", "ana", NOON))
        .await;
    for path in [
        "/v1/leaderboards",
        "/v1/leaderboards/contributors",
        "/v1/leaderboards/contributors/members/ana",
        "/v1/members/ana",
        "/v1/members/ana/ledger",
    ] {
        expect_error(&app.get(path).await, 401, "unauthorized");
        let wrong = call(app.client.get(url(app, path)).bearer_auth("nope")).await;
        expect_error(&wrong, 401, "unauthorized");
        let (status, body) = call(app.client.get(url(app, path)).bearer_auth("rd-secret")).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    // Authorization comes before anything else is looked at.
    expect_error(
        &app.get("/v1/leaderboards/helpers").await,
        401,
        "unauthorized",
    );
    // Operations stay open.
    for path in ["/healthz", "/readyz", "/openapi.json"] {
        assert_eq!(app.get(path).await.0, 200, "{path}");
    }
}

#[tokio::test]
async fn admin_endpoints_need_the_admin_token_when_one_is_set() {
    let f = embedded_with(|s| s.admin_token = Some("ad-secret".into())).await;
    let app = &f.app;
    let requests = || {
        [
            app.client.get(url(app, "/v1/admin/rules")),
            app.client
                .post(url(app, "/v1/admin/rules/check"))
                .body(RULES),
            app.client.put(url(app, "/v1/admin/rules")).body(RULES),
            app.client.get(url(app, "/v1/admin/rules/versions")),
            app.client
                .post(url(app, "/v1/admin/members/ana/badges"))
                .json(&json!({"badge": "speaker"})),
        ]
    };
    for request in requests() {
        expect_error(&call(request).await, 401, "unauthorized");
    }
    for request in requests() {
        expect_error(
            &call(request.bearer_auth("nope")).await,
            401,
            "unauthorized",
        );
    }
    expect_error(&app.get("/v1/members/ana").await, 404, "not_found");
    for request in requests() {
        let (status, body) = call(request.bearer_auth("ad-secret")).await;
        assert_eq!(status, 200, "{body}");
    }
    // A rollback is checked for the token before anything else.
    let rollback = || app.client.post(url(app, "/v1/admin/rules/rollback"));
    expect_error(&call(rollback()).await, 401, "unauthorized");
    expect_error(
        &call(rollback().bearer_auth("nope")).await,
        401,
        "unauthorized",
    );
}

#[tokio::test]
async fn the_rules_can_be_read_and_checked() {
    let f = embedded().await;
    let app = &f.app;
    let rules = get_ok(app, "/v1/admin/rules").await;
    assert_eq!(rules["source"], RULES);
    let summary = &rules["summary"];
    let version = summary["version"].as_str().unwrap().to_owned();
    assert_eq!(version.len(), 16);
    assert_eq!(
        summary,
        &json!({
            "version": version,
            "timezone": "America/Bogota",
            "actions": 8,
            "points_rules": 9,
            "levels": 4,
            "badges": 8,
            "leaderboards": 2,
            "streaks": true,
            "sources": ["discourse", "github"],
        })
    );
    let (status, checked) = post_raw(
        app,
        "/v1/admin/rules/check",
        "application/toml",
        RULES.into(),
    )
    .await;
    assert_eq!(status, 200, "{checked}");
    assert_eq!(checked["summary"]["version"], version.as_str());

    // A file that does not parse: the error points at the line.
    let broken = RULES.replacen("timezone = \"America/Bogota\"", "timezone = ", 1);
    let line = RULES
        .lines()
        .position(|l| l.starts_with("timezone = \"America/Bogota\""))
        .unwrap()
        + 1;
    let (status, body) = post_raw(
        app,
        "/v1/admin/rules/check",
        "application/toml",
        broken.into(),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_rules");
    assert!(body["error"]["message"].is_string());
    let errors = body["error"]["errors"].as_array().unwrap();
    assert!(!errors.is_empty());
    for e in errors {
        assert!(e["line"].as_u64().unwrap() >= 1, "{e}");
        assert!(e["column"].as_u64().unwrap() >= 1, "{e}");
        assert!(!e["message"].as_str().unwrap().is_empty(), "{e}");
    }
    assert_eq!(errors[0]["line"], line, "{body}");

    // A file that parses but breaks the rules: every error, each at its line.
    let wrong = RULES
        .replacen("on = \"answer.posted\"", "on = \"answer.psoted\"", 1)
        .replacen("to = \"target.author\"", "to = \"the author\"", 1);
    let line_of = |text: &str| RULES.lines().position(|l| l.starts_with(text)).unwrap() + 1;
    let (status, body) = post_raw(
        app,
        "/v1/admin/rules/check",
        "application/toml",
        wrong.into(),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let lines: Vec<u64> = body["error"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(
        lines,
        vec![
            line_of("on = \"answer.posted\"") as u64,
            line_of("to = \"target.author\"") as u64
        ],
        "{body}"
    );
    // Checking changes nothing.
    assert_eq!(
        get_ok(app, "/v1/admin/rules").await["summary"]["version"],
        version.as_str()
    );
}

#[tokio::test]
async fn a_bad_rule_file_leaves_the_old_rules_and_a_good_one_changes_the_next_award() {
    let f = embedded().await;
    let app = &f.app;
    let put = |source: String| async move {
        post_or_put(app, reqwest::Method::PUT, "/v1/admin/rules", source).await
    };
    let before = get_ok(app, "/v1/admin/rules").await["summary"]["version"].clone();
    let (status, body) = put(RULES.replacen("version = 1", "version = 2", 1)).await;
    assert_eq!(status, 422, "{body}");
    assert!(!body["error"]["errors"].as_array().unwrap().is_empty());
    let (status, _) = put("not [ toml".into()).await;
    assert_eq!(status, 422);
    let (status, _) = put(String::new()).await;
    assert_eq!(status, 422);
    let still = get_ok(app, "/v1/admin/rules").await;
    assert_eq!(
        (still["summary"]["version"].clone(), still["source"].clone()),
        (before.clone(), json!(RULES))
    );
    let results = app
        .ingest(&event("r-1", "answer.posted", "ana", NOON))
        .await;
    assert_eq!(results[0]["awards"][0]["points"], 5);

    let seven = RULES.replacen(
        "on = \"answer.posted\"\nto = \"actor\"\npoints = 5",
        "on = \"answer.posted\"\nto = \"actor\"\npoints = 7",
        1,
    );
    assert_ne!(seven, RULES);
    let (status, body) = put(seven.clone()).await;
    assert_eq!(status, 200, "{body}");
    let after = body["summary"]["version"].clone();
    assert_ne!(after, before);
    let now = get_ok(app, "/v1/admin/rules").await;
    assert_eq!(
        (now["summary"]["version"].clone(), now["source"].clone()),
        (after.clone(), json!(seven))
    );
    let results = app
        .ingest(&event("r-2", "answer.posted", "ana", NOON))
        .await;
    assert_eq!(
        results[0]["awards"],
        json!([{"member": "ana", "rule": "answer", "points": 7}])
    );
    assert_eq!(points_of(app, "ana").await, 12);
    let ledger = get_ok(app, "/v1/members/ana/ledger").await;
    let versions: Vec<Value> = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rules_version"].clone())
        .collect();
    assert_eq!(versions, vec![after, before]);
}

async fn post_or_put(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: String,
) -> (u16, Value) {
    call(
        app.client
            .request(method, url(app, path))
            .header("content-type", "application/toml")
            .body(body),
    )
    .await
}

#[tokio::test]
async fn an_admin_grants_a_badge_once() {
    let f = embedded().await;
    let app = &f.app;
    let grant = |body: Value| async move {
        call(
            app.client
                .post(url(app, "/v1/admin/members/ana/badges"))
                .json(&body),
        )
        .await
    };
    let speaker = json!({"badge": "speaker", "reason": "keynote at the annual meeting"});
    let (status, first) = grant(speaker.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        first,
        json!({"member": "ana", "badge": "speaker", "tier": null, "granted": true})
    );
    let (status, again) = grant(speaker).await;
    assert_eq!((status, again["granted"].clone()), (200, json!(false)));
    let (status, gold) = grant(json!({"badge": "mentor", "tier": "gold"})).await;
    assert_eq!(
        (status, gold["tier"].clone(), gold["granted"].clone()),
        (200, json!("gold"), json!(true))
    );
    let profile = get_ok(app, "/v1/members/ana").await;
    let badges: Vec<(Value, Value, Value, Value)> = profile["badges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["badge"].clone(),
                b["name"].clone(),
                b["tier"].clone(),
                b["reason"].clone(),
            )
        })
        .collect();
    assert_eq!(
        badges,
        vec![
            (
                json!("speaker"),
                json!("Speaker"),
                Value::Null,
                json!("keynote at the annual meeting")
            ),
            (json!("mentor"), json!("Mentor"), json!("gold"), Value::Null),
        ]
    );
    for (body, field) in [
        (json!({"badge": "rockstar"}), "rockstar"),
        (json!({"badge": "mentor", "tier": "platinum"}), "platinum"),
        (json!({"badge": "speaker", "points": 5}), "points"),
        (json!({"tier": "gold"}), "badge"),
        (
            json!({"badge": "speaker", "reason": "r".repeat(501)}),
            "reason",
        ),
    ] {
        let message = expect_error(&grant(body.clone()).await, 422, "invalid_grant");
        assert!(message.contains(field), "{body}: {message}");
    }
    assert_eq!(
        get_ok(app, "/v1/members/ana").await["badges"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn health_readiness_metrics_and_the_api_description_answer() {
    let f = embedded().await;
    let app = &f.app;
    assert_eq!(get_ok(app, "/healthz").await, json!({"status": "ok"}));
    assert_eq!(get_ok(app, "/readyz").await, json!({"status": "ready"}));
    app.ingest(&json!({"events": [
        event("mx-1", "answer.posted", "ana", NOON),
        event("mx-2", "wiki.edited", "ana", NOON),
    ]}))
    .await;
    app.ingest(&event("mx-1", "answer.posted", "ana", NOON))
        .await;
    let res = app.client.get(url(app, "/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = res.text().await.unwrap();
    for line in [
        "engagement_events_total{status=\"applied\"} 1",
        "engagement_events_total{status=\"ignored\"} 1",
        "engagement_events_total{status=\"duplicate\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
    assert!(
        text.contains("engagement_http_requests_total{route=\"/v1/events\",status=\"200\"} 2"),
        "{text}"
    );
    let doc = get_ok(app, "/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with('3'));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/events",
        "/v1/leaderboards",
        "/v1/leaderboards/{board}",
        "/v1/leaderboards/{board}/members/{member}",
        "/v1/members/{member}",
        "/v1/members/{member}/ledger",
        "/v1/admin/rules",
        "/v1/admin/rules/versions",
        "/v1/admin/rules/rollback",
        "/v1/insights",
    ] {
        assert!(paths.contains_key(path), "{path}");
    }
}

#[tokio::test]
async fn the_embedded_store_keeps_everything_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let spawn = || TestApp::spawn(Backend::Embedded(dir.path().to_path_buf()), |_| {});
    let snapshot = |app: &TestApp| {
        let client = app.client.clone();
        let base = app.base.clone();
        async move {
            let mut out = Vec::new();
            for path in [
                "/v1/members/ana",
                "/v1/members/bo",
                "/v1/members/cy",
                "/v1/members/ana/ledger",
                "/v1/leaderboards/contributors",
                "/v1/leaderboards/contributors?period=week&at=2026-11-20",
                "/v1/leaderboards/contributors?community=rules-of-origin",
                "/v1/leaderboards/answerers",
                "/v1/leaderboards/contributors/members/cy",
            ] {
                let (status, body) = call(client.get(format!("{base}{path}"))).await;
                assert_eq!(status, 200, "{path}: {body}");
                out.push(body);
            }
            out
        }
    };
    let app = spawn().await;
    let mut posted = event("rs-1", "answer.posted", "ana", NOON);
    posted["community"] = "rules-of-origin".into();
    let accepted = event_on("rs-2", "answer.accepted", "bo", NOON, "rs-1", "ana");
    let mut events = vec![posted.clone(), accepted.clone()];
    events.extend(answers("bo", "rs", 3, NOON));
    events.extend(answers("cy", "rs", 2, NOON));
    let first = app.ingest(&json!({ "events": events })).await;
    let mut undo = event("rs-undo", "answer.deleted", "bo", NOON);
    undo["revokes"] = "rs-bo-0".into();
    app.ingest(&undo).await;
    let (status, _) = app
        .put_json(
            "/v1/members/cy",
            &json!({"name": "Cy", "timezone": "Asia/Tokyo", "visibility": "anonymous"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .put_json("/v1/members/bo", &json!({"groups": ["staff"]}))
        .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        app.client
            .post(url(&app, "/v1/admin/members/ana/badges"))
            .json(&json!({"badge": "steady"})),
    )
    .await;
    assert_eq!(status, 200);
    let before = snapshot(&app).await;
    assert_eq!(before[0]["points"], 20);
    assert_eq!(before[0]["badges"].as_array().unwrap().len(), 2);
    assert_eq!(before[4]["total"], 2);
    app.stop().await;

    let app = spawn().await;
    assert_eq!(snapshot(&app).await, before);
    // Old ids are still known.
    let again = app.ingest(&json!({"events": [posted, accepted]})).await;
    assert_eq!(again[0]["status"], "duplicate");
    assert_eq!(again[1]["status"], "duplicate");
    assert_eq!(again[1]["awards"], first[1]["awards"]);
    let undone = app
        .ingest(&event("rs-bo-0", "answer.posted", "bo", NOON))
        .await;
    assert_eq!(undone[0]["status"], "duplicate");
    assert_eq!(snapshot(&app).await, before);
    app.stop().await;
}

// ------------------------------------------------ stores: embedded and Redis

on_both_stores!(
    a_single_event_answers_its_awards_badges_and_level_ups,
    a_batch_answers_one_result_per_event_in_order,
    a_redelivered_event_answers_duplicate_with_its_first_awards_and_changes_nothing,
    a_batch_with_one_invalid_event_is_rejected_whole_naming_its_index,
    a_board_page_shows_its_bucket_entries_and_total,
    standings_show_neighbours_at_the_edges_and_among_ties,
    visibility_and_groups_decide_who_is_listed,
    the_ledger_lists_awards_newest_first_and_marks_revoked_ones,
    a_profile_shows_points_level_badges_streak_counts_stages_and_progress,
    a_profile_update_sets_name_timezone_groups_and_visibility,
);
