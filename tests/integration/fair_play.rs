//! Fair play (SPEC §9) over HTTP on both stores: the pair cap, the report
//! of strong pairs and rings, and revoking a pair's events through the log.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{Value, json};

use super::support::{Fixture, TestApp, event, event_on};
use engagement_service::generate::{GenerateParams, generate};
use engagement_service::settings::Settings;

const ADMIN: &str = "fair-admin";
/// Friday 2026-11-20, noon in Bogota.
const NOON: &str = "2026-11-20T17:00:00Z";
const NEXT_NOON: &str = "2026-11-21T17:00:00Z";

/// The bundled rules with a pair cap of 10, and pairs strong from
/// `min_events` events, written once per value for every test of the module.
fn rules_with(min_events: u32) -> PathBuf {
    static PATHS: OnceLock<std::sync::Mutex<BTreeMap<u32, PathBuf>>> = OnceLock::new();
    let mut paths = PATHS.get_or_init(Default::default).lock().unwrap();
    (paths.entry(min_events).or_insert_with(|| {
        let source = format!(
            "{}\n[fair_play]\npair_daily_cap = 10\nring_min_events = {min_events}\nring_min_share = 0.5\n",
            include_str!("../../rules/knowledge-sharing.toml")
        );
        let name = format!("fair-play-rules-{min_events}-{}.toml", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, source).unwrap();
        path
    }))
    .clone()
}

/// Pairs strong from 20 events: above the fans of prolific authors that
/// generated activity holds.
fn settings(s: &mut Settings) {
    settings_with(s, 20);
}

fn settings_with(s: &mut Settings, min_events: u32) {
    s.rules = rules_with(min_events);
    s.admin_token = Some(ADMIN.to_owned());
    // Nothing expires: the generated months stay readable.
    s.retention_days = 36_500;
}

async fn embedded() -> Fixture {
    Fixture::embedded(settings).await
}

async fn redis(test: &str) -> Fixture {
    Fixture::redis(test, settings).await
}

async fn admin_get(app: &TestApp, path: &str) -> (u16, Value) {
    app.get_as(path, Some(ADMIN)).await
}

async fn admin_post(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    let res = (app.client.post(format!("{}{path}", app.base)))
        .bearer_auth(ADMIN)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Each result's awards as (member, rule, points), and its explanation.
async fn take(app: &TestApp, e: Value) -> (Vec<(String, String, i64)>, Value) {
    let res = (app
        .client
        .post(format!("{}/v1/events?explain=true", app.base)))
    .json(&e)
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let result = &body["results"][0];
    let awards = (result["awards"].as_array().unwrap().iter())
        .map(|a| {
            (
                a["member"].as_str().unwrap().to_owned(),
                a["rule"].as_str().unwrap().to_owned(),
                a["points"].as_i64().unwrap(),
            )
        })
        .collect();
    (awards, result["explain"].clone())
}

fn award(member: &str, rule: &str, points: i64) -> Vec<(String, String, i64)> {
    vec![(member.to_owned(), rule.to_owned(), points)]
}

fn line(rule: &str, member: &str, points: i64, reason: &str) -> Value {
    json!([{"rule": rule, "member": member, "points": points, "reason": reason}])
}

async fn points(app: &TestApp, member: &str) -> i64 {
    let (status, profile) = app.get(&format!("/v1/members/{member}")).await;
    assert_eq!(status, 200, "{profile}");
    profile["points"].as_i64().unwrap()
}

async fn the_pair_cap_cuts_per_giver_and_day_and_revocation_gives_room_back(app: &TestApp) {
    // An accepted answer pays 15: the pair cap of 10 cuts it.
    let (got, why) = take(
        app,
        event_on("acc-1", "answer.accepted", "bo", NOON, "a1", "ana"),
    )
    .await;
    assert_eq!(got, award("ana", "accepted", 10));
    assert_eq!(why, line("accepted", "ana", 10, "partial"));
    // Nothing more from bo today, whatever the rule...
    let (got, why) = take(
        app,
        event_on("like-1", "post.liked", "bo", NOON, "p1", "ana"),
    )
    .await;
    assert!(got.is_empty());
    assert_eq!(why, line("liked", "ana", 0, "pair_cap_reached"));
    // ...but cy is another pair.
    let (got, _) = take(
        app,
        event_on("like-2", "post.liked", "cy", NOON, "p1", "ana"),
    )
    .await;
    assert_eq!(got, award("ana", "liked", 2));
    // The next day bo's room is back.
    let (got, _) = take(
        app,
        event_on("like-3", "post.liked", "bo", NEXT_NOON, "p3", "ana"),
    )
    .await;
    assert_eq!(got, award("ana", "liked", 2));
    // Taking the acceptance back gives its 10 points of room back that day.
    let undo = json!({"id": "unaccept-1", "kind": "answer.unaccepted", "actor": "bo",
                      "occurred_at": NOON, "revokes": "acc-1"});
    let (got, _) = take(app, undo).await;
    assert_eq!(got, award("ana", "accepted", -10));
    let (got, _) = take(
        app,
        event_on("like-4", "post.liked", "bo", NOON, "p4", "ana"),
    )
    .await;
    assert_eq!(got, award("ana", "liked", 2));
    assert_eq!(points(app, "ana").await, 6);
}

async fn the_pair_cap_day_is_the_recipients_own(app: &TestApp) {
    // 23:30 and 00:30 in Bogota (the engine's zone) are one day in UTC.
    let (status, _) = app
        .put_json("/v1/members/ana", &json!({"timezone": "UTC"}))
        .await;
    assert_eq!(status, 200);
    let late = "2026-11-21T04:30:00Z";
    let later = "2026-11-21T05:30:00Z";
    let (got, _) = take(
        app,
        event_on("a1", "answer.accepted", "bo", late, "x1", "ana"),
    )
    .await;
    assert_eq!(got, award("ana", "accepted", 10));
    let (got, why) = take(
        app,
        event_on("a2", "answer.accepted", "bo", later, "x2", "ana"),
    )
    .await;
    assert!(got.is_empty());
    assert_eq!(why, line("accepted", "ana", 0, "pair_cap_reached"));
    // Without a time zone of her own, cy's two acceptances fall on two
    // engine days.
    take(
        app,
        event_on("a3", "answer.accepted", "bo", late, "x3", "cy"),
    )
    .await;
    let (got, _) = take(
        app,
        event_on("a4", "answer.accepted", "bo", later, "x4", "cy"),
    )
    .await;
    assert_eq!(got, award("cy", "accepted", 10));
}

async fn the_rule_cap_and_the_pair_cap_both_apply(app: &TestApp) {
    // Likes pay 2, up to 20 a day by their rule; the pair cap of 10 comes
    // first for one giver: 2, 2, 2, 2, 2, then nothing.
    let mut paid = Vec::new();
    for i in 0..6 {
        let e = event_on(
            &format!("l{i}"),
            "post.liked",
            "bo",
            NOON,
            &format!("p{i}"),
            "ana",
        );
        paid.push(take(app, e).await.0.iter().map(|a| a.2).sum::<i64>());
    }
    assert_eq!(paid, vec![2, 2, 2, 2, 2, 0]);
    // Two more givers reach the rule's cap of 20 before their pair caps.
    for giver in ["cy", "di"] {
        for i in 0..4 {
            let id = format!("{giver}{i}");
            take(app, event_on(&id, "post.liked", giver, NOON, &id, "ana")).await;
        }
    }
    let (got, why) = take(app, event_on("ed1", "post.liked", "ed", NOON, "ed1", "ana")).await;
    assert!(got.is_empty());
    assert_eq!(why, line("liked", "ana", 0, "daily_cap_reached"));
    assert_eq!(points(app, "ana").await, 20);
}

/// A community of 200 members over 45 days from 20 January, with a ring of
/// three and a mutual pair liking each other every day.
fn community() -> Vec<Value> {
    let params = GenerateParams {
        members: 200,
        communities: 4,
        days: 45,
        seed: 11,
        start: "2026-01-20T00:00:00Z".parse().unwrap(),
        events: Some(5_000),
        rings: vec![3, 2],
    };
    (generate(&params).iter())
        .map(|e| serde_json::to_value(e).unwrap())
        .collect()
}

const FEBRUARY: &str = "/v1/admin/fair-play?period=month&at=2026-02-10";

fn ring_pairs() -> Value {
    json!([
        {"from": "ring1-1", "to": "ring1-2"}, {"from": "ring1-2", "to": "ring1-3"},
        {"from": "ring1-3", "to": "ring1-1"}, {"from": "ring2-1", "to": "ring2-2"},
        {"from": "ring2-2", "to": "ring2-1"},
    ])
}

/// Where each listed member stands: (rank, score) by member, so that the
/// order of members sharing a rank does not matter.
async fn standings(app: &TestApp) -> BTreeMap<String, (i64, i64)> {
    let mut out = BTreeMap::new();
    for query in [
        "period=all_time",
        "period=month&at=2026-02-10",
        "period=month&at=2026-01-25",
    ] {
        let (status, page) = app
            .get(&format!("/v1/leaderboards/contributors?{query}&limit=100"))
            .await;
        assert_eq!(status, 200, "{page}");
        for e in page["entries"].as_array().unwrap() {
            let member = e["member"].as_str().unwrap_or("anonymous");
            out.insert(
                format!("{query} {member}"),
                (e["rank"].as_i64().unwrap(), e["score"].as_i64().unwrap()),
            );
        }
    }
    out
}

async fn a_planted_ring_and_pair_are_reported_and_revoking_them_equals_the_cleaned_log(
    app: &TestApp,
) {
    let events = community();
    for batch in events.chunks(500) {
        app.ingest(&json!({ "events": batch })).await;
    }
    let (status, report) = admin_get(app, FEBRUARY).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["period"], "month");
    assert_eq!(
        report["bucket"],
        json!({"start": "2026-02-01", "end": "2026-03-01"})
    );
    let listed: Vec<(&str, &str, i64, i64, f64)> = (report["pairs"].as_array().unwrap().iter())
        .map(|p| {
            (
                p["from"].as_str().unwrap(),
                p["to"].as_str().unwrap(),
                p["events"].as_i64().unwrap(),
                p["points"].as_i64().unwrap(),
                p["share"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            ("ring1-1", "ring1-2", 28, 56, 1.0),
            ("ring1-2", "ring1-3", 28, 56, 1.0),
            ("ring1-3", "ring1-1", 28, 56, 1.0),
            ("ring2-1", "ring2-2", 28, 56, 1.0),
            ("ring2-2", "ring2-1", 28, 56, 1.0),
        ]
    );
    assert_eq!(
        report["rings"],
        json!([
            {"members": ["ring1-1", "ring1-2", "ring1-3"], "events": 84},
            {"members": ["ring2-1", "ring2-2"], "events": 56},
        ])
    );

    let revoke = json!({"pairs": ring_pairs(), "period": "month", "at": "2026-02-10"});
    let (status, done) = admin_post(app, "/v1/admin/fair-play/revoke", &revoke).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["revoked"], 5 * 28);
    assert!(
        (done["pairs"].as_array().unwrap().iter()).all(|p| p["events"] == 28 && p["revoked"] == 28),
        "{done}"
    );
    // Asked twice, nothing more is taken back.
    let (status, again) = admin_post(app, "/v1/admin/fair-play/revoke", &revoke).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["revoked"], 0);
    let (_, after) = admin_get(app, FEBRUARY).await;
    assert_eq!(
        (after["pairs"].clone(), after["rings"].clone()),
        (json!([]), json!([]))
    );

    // The same standings as a service fed the log without those events.
    let revoked_here = standings(app).await;
    let clean = Fixture::embedded(settings).await;
    let february = |e: &Value| {
        let id = e["id"].as_str().unwrap();
        let at = e["occurred_at"].as_str().unwrap();
        id.starts_with("ring") && at.starts_with("2026-02")
    };
    let cleaned: Vec<Value> = events.iter().filter(|e| !february(e)).cloned().collect();
    assert_eq!(cleaned.len(), events.len() - 5 * 28);
    for batch in cleaned.chunks(500) {
        clean.app.ingest(&json!({ "events": batch })).await;
    }
    assert_eq!(revoked_here, standings(&clean.app).await);
    assert!(
        revoked_here.keys().any(|k| k.contains("ring1-1")),
        "the ring's January likes still count"
    );

    // The log holds the revocations: a replay gives the same again.
    let (status, _) = admin_post(app, "/v1/admin/replay", &json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(revoked_here, standings(app).await);
    let (_, replayed) = admin_get(app, FEBRUARY).await;
    assert_eq!(replayed["pairs"], json!([]));
}

async fn bad_fair_play_requests_get_clear_refusals(app: &TestApp) {
    let (status, _) = app.get("/v1/admin/fair-play").await;
    assert_eq!(status, 401);
    let (status, body) = admin_get(app, "/v1/admin/fair-play?period=all_time").await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("day, week, month")
    );
    let (status, _) = admin_get(app, "/v1/admin/fair-play?at=20261120").await;
    assert_eq!(status, 422);
    let (status, body) = admin_get(app, "/v1/admin/fair-play?period=week&at=2026-11-20").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["bucket"],
        json!({"start": "2026-11-16", "end": "2026-11-23"})
    );

    let revoke =
        |body: Value| async move { admin_post(app, "/v1/admin/fair-play/revoke", &body).await };
    for (body, fragment) in [
        (json!({"pairs": []}), "pairs: 1 to 100"),
        (
            json!({"pairs": [{"from": "", "to": "ana"}]}),
            "pairs[0].from",
        ),
        (
            json!({"pairs": [{"from": "ana", "to": "ana"}]}),
            "one member",
        ),
        (
            json!({"pairs": [{"from": "bo", "to": "ana"}], "period": "year"}),
            "period",
        ),
        (
            json!({"pairs": [{"from": "bo", "to": "ana"}], "extra": 1}),
            "extra",
        ),
    ] {
        let (status, answer) = revoke(body).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["error"]["code"], "invalid_fair_play");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains(fragment),
            "{fragment}: {answer}"
        );
    }
    // Fair play's revocation ids are an admin's alone.
    let mut taken = event("fair-play:acc-1", "answer.unaccepted", "bo", NOON);
    taken["revokes"] = json!("acc-1");
    let res = app.post_events(&taken).await;
    assert_eq!(res.status(), 422);
}

async fn form(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let body: Vec<String> = (fields.iter())
        .map(|(k, v)| {
            let enc = |s: &str| {
                percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            };
            format!("{}={}", enc(k), enc(v))
        })
        .collect();
    let res = (app.client.post(format!("{}{path}", app.base)))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.join("&"))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

async fn the_managers_page_lists_rings_and_takes_points_back_after_a_confirmation(app: &TestApp) {
    let events = community();
    for batch in events.chunks(500) {
        app.ingest(&json!({ "events": batch })).await;
    }
    let (status, insights) = app.get_text("/insights?at=2026-02-10").await;
    assert_eq!(status, 200);
    assert!(
        insights.contains(r#"action="/fair-play""#),
        "the insights page leads there"
    );
    assert!(
        !insights.contains("ring1-1"),
        "no member is named without the admin token"
    );

    let month = [("period", "month"), ("at", "2026-02-10")];
    let with = |extra: &[(&'static str, &'static str)]| [&month[..], extra].concat();
    let (status, _) = form(app, "/fair-play", &with(&[("admin_token", "wrong")])).await;
    assert_eq!(status, 401);
    // A form posted from another site is refused, token or not; a page
    // carrying the token is never stored.
    let body = format!("admin_token={ADMIN}&period=month&at=2026-02-10");
    let post = || {
        (app.client.post(format!("{}/fair-play", app.base)))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
    };
    let res = post()
        .header("origin", "https://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = post()
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = post()
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let (status, page) = form(app, "/fair-play", &with(&[("admin_token", ADMIN)])).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("ring1-1 → ring1-2 → ring1-3 → ring1-1 · 84 events"),
        "{page}"
    );
    assert!(
        page.contains("ring2-1 → ring2-2 → ring2-1 · 56 events"),
        "{page}"
    );

    let pairs = r#"[{"from":"ring2-1","to":"ring2-2"},{"from":"ring2-2","to":"ring2-1"}]"#;
    let ask = with(&[("admin_token", ADMIN), ("pairs", pairs)]);
    let (status, confirm) = form(app, "/fair-play/revoke", &ask).await;
    assert_eq!(status, 200, "{confirm}");
    assert!(confirm.contains("Take back 56 events"), "{confirm}");
    // Nothing is taken back before the confirmation.
    assert!(points(app, "ring2-1").await > 0);
    let before = points(app, "ring2-1").await;

    let (status, done) = form(
        app,
        "/fair-play/revoke",
        &with(&[("admin_token", ADMIN), ("pairs", pairs), ("confirm", "yes")]),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert!(done.contains("56 events were revoked"), "{done}");
    assert_eq!(points(app, "ring2-1").await, before - 28 * 2);
    let (_, report) = admin_get(app, FEBRUARY).await;
    assert_eq!(
        report["rings"],
        json!([{"members": ["ring1-1", "ring1-2", "ring1-3"], "events": 84}])
    );
    let (status, _) = form(
        app,
        "/fair-play/revoke",
        &with(&[("admin_token", ADMIN), ("pairs", "nonsense")]),
    )
    .await;
    assert_eq!(status, 422);
}

on_both_stores!(
    the_managers_page_lists_rings_and_takes_points_back_after_a_confirmation,
    the_pair_cap_cuts_per_giver_and_day_and_revocation_gives_room_back,
    the_pair_cap_day_is_the_recipients_own,
    the_rule_cap_and_the_pair_cap_both_apply,
    a_planted_ring_and_pair_are_reported_and_revoking_them_equals_the_cleaned_log,
    bad_fair_play_requests_get_clear_refusals,
);

/// The month's report as (from, to, events, points, share), sorted.
async fn month_pairs(app: &TestApp) -> Vec<(String, String, i64, i64, f64)> {
    let (status, report) = admin_get(app, FEBRUARY).await;
    assert_eq!(status, 200, "{report}");
    let mut pairs = report_pairs(&report);
    pairs.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    pairs
}

/// A report's pairs as (from, to, events, points, share), in its order.
fn report_pairs(report: &Value) -> Vec<(String, String, i64, i64, f64)> {
    (report["pairs"].as_array().unwrap().iter())
        .map(|p| {
            pair(
                p["from"].as_str().unwrap(),
                p["to"].as_str().unwrap(),
                p["events"].as_i64().unwrap(),
                p["points"].as_i64().unwrap(),
                p["share"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn pair(
    from: &str,
    to: &str,
    events: i64,
    points: i64,
    share: f64,
) -> (String, String, i64, i64, f64) {
    (from.to_owned(), to.to_owned(), events, points, share)
}

/// Likes in February: bo twice to ana, cy once to ana and once to bo.
async fn february_likes(app: &TestApp) {
    for (id, giver, author) in [
        ("f1", "bo", "ana"),
        ("f2", "cy", "ana"),
        ("f3", "cy", "bo"),
        ("f4", "bo", "ana"),
    ] {
        let e = event_on(id, "post.liked", giver, "2026-02-10T17:00:00Z", id, author);
        let (got, _) = take(app, e).await;
        assert_eq!(got, award(author, "liked", 2), "{id}");
    }
}

/// With pairs strong from one event, the pairs of one event are reported
/// as well as those of more; a pair's second event and taking its events
/// back show, and a replay gives the same report.
async fn pairs_of_one_event_are_reported_when_one_event_is_enough(app: &TestApp) {
    assert!(month_pairs(app).await.is_empty());
    february_likes(app).await;
    let all = vec![
        pair("bo", "ana", 2, 4, 1.0),
        pair("cy", "ana", 1, 2, 0.5),
        pair("cy", "bo", 1, 2, 0.5),
    ];
    assert_eq!(month_pairs(app).await, all);
    // cy's like of bo's post taken back: the pair goes, cy's share grows.
    let undo = json!({"id": "f3-undo", "kind": "post.unliked", "actor": "cy",
                      "occurred_at": "2026-02-10T18:00:00Z", "revokes": "f3"});
    let (got, _) = take(app, undo).await;
    assert_eq!(got, award("bo", "liked", -2));
    let left = vec![pair("bo", "ana", 2, 4, 1.0), pair("cy", "ana", 1, 2, 1.0)];
    assert_eq!(month_pairs(app).await, left);
    // Revoking the pair of two events takes both.
    let revoke =
        json!({"pairs": [{"from": "bo", "to": "ana"}], "period": "month", "at": "2026-02-10"});
    let (status, done) = admin_post(app, "/v1/admin/fair-play/revoke", &revoke).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["revoked"], 2);
    assert_eq!(month_pairs(app).await, vec![pair("cy", "ana", 1, 2, 1.0)]);
    let (status, _) = admin_post(app, "/v1/admin/replay", &json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(month_pairs(app).await, vec![pair("cy", "ana", 1, 2, 1.0)]);
}

/// The week of 9 to 15 February, as (from, to, events, points, share).
async fn week_pairs(app: &TestApp) -> Vec<(String, String, i64, i64, f64)> {
    let (status, report) = admin_get(app, "/v1/admin/fair-play?period=week&at=2026-02-11").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report["bucket"],
        json!({"start": "2026-02-09", "end": "2026-02-16"})
    );
    report_pairs(&report)
}

/// With pairs strong from two events, a pair of one event a day on two
/// days of a week is strong in the week: a week is read as its days.
async fn a_weeks_pairs_are_those_of_its_days(app: &TestApp) {
    for (id, giver, author, at) in [
        ("w1", "bo", "ana", "2026-02-09T17:00:00Z"),
        ("w2", "cy", "ana", "2026-02-10T17:00:00Z"),
        ("w3", "bo", "ana", "2026-02-15T17:00:00Z"),
        // The Monday after: another week.
        ("w4", "cy", "ana", "2026-02-16T17:00:00Z"),
    ] {
        let (got, _) = take(app, event_on(id, "post.liked", giver, at, id, author)).await;
        assert_eq!(got, award(author, "liked", 2), "{id}");
    }
    assert_eq!(week_pairs(app).await, vec![pair("bo", "ana", 2, 4, 1.0)]);
    let (_, day) = admin_get(app, "/v1/admin/fair-play?period=day&at=2026-02-15").await;
    assert_eq!(day["pairs"], json!([]), "one event in a day: weak");
    // A replay builds the same week.
    let (status, _) = admin_post(app, "/v1/admin/replay", &json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(week_pairs(app).await, vec![pair("bo", "ana", 2, 4, 1.0)]);
    // Sunday's like taken back: one event left in the week.
    let undo = json!({"id": "w3-undo", "kind": "post.unliked", "actor": "bo",
                      "occurred_at": "2026-02-15T18:00:00Z", "revokes": "w3"});
    let (got, _) = take(app, undo).await;
    assert_eq!(got, award("ana", "liked", -2));
    assert_eq!(week_pairs(app).await, vec![]);
}

mod weeks_from_days {
    use super::*;

    #[tokio::test]
    async fn on_the_embedded_store() {
        let f = Fixture::embedded(|s| settings_with(s, 2)).await;
        a_weeks_pairs_are_those_of_its_days(&f.app).await;
    }

    #[tokio::test]
    async fn on_redis() {
        let f = Fixture::redis("fair-play-weeks", |s| settings_with(s, 2)).await;
        a_weeks_pairs_are_those_of_its_days(&f.app).await;
        // Only days and months are written.
        let weeks = f.redis_cli(&["--scan", "--pattern", "*:fp:w*"]);
        assert_eq!(weeks.trim(), "", "no week keys");
        let days = f.redis_cli(&["--scan", "--pattern", "*:fp:d2026-02-09*"]);
        assert!(!days.trim().is_empty(), "the Monday's keys");
    }
}

mod one_event_is_enough {
    use super::*;

    #[tokio::test]
    async fn on_the_embedded_store() {
        let f = Fixture::embedded(|s| settings_with(s, 1)).await;
        pairs_of_one_event_are_reported_when_one_event_is_enough(&f.app).await;
    }

    #[tokio::test]
    async fn on_redis() {
        let f = Fixture::redis("fair-play-one", |s| settings_with(s, 1)).await;
        pairs_of_one_event_are_reported_when_one_event_is_enough(&f.app).await;
    }

    /// Tallies written before weak pairs and givers moved to hashes (every
    /// pair in the sorted set `:e`, givers in the sorted set `:g`) are
    /// still read and added in.
    #[tokio::test]
    async fn tallies_in_the_earlier_layout_still_count_on_redis() {
        let f = Fixture::redis("fair-play-earlier", |s| settings_with(s, 1)).await;
        february_likes(&f.app).await;
        let month = f.redis_cli(&["--scan", "--pattern", "*:fp:m2026-02:e"]);
        let e = month.trim();
        assert!(e.ends_with(":fp:m2026-02:e"), "{month}");
        let g = format!("{}:g", e.strip_suffix(":e").unwrap());
        // di liked ana's post once, and gave one more like that month.
        let one_event = ((1i64 << 32) + 2).to_string();
        f.redis_cli(&["ZADD", e, &one_event, "di:ana"]);
        f.redis_cli(&["ZADD", &g, "2", "di", "2", "bo"]);
        assert_eq!(
            month_pairs(&f.app).await,
            vec![
                pair("bo", "ana", 2, 4, 0.5),
                pair("cy", "ana", 1, 2, 0.5),
                pair("cy", "bo", 1, 2, 0.5),
                pair("di", "ana", 1, 2, 0.5),
            ]
        );
        // A like more from di moves the pair on from where it was.
        let e5 = event_on(
            "f5",
            "post.liked",
            "di",
            "2026-02-11T17:00:00Z",
            "f5",
            "ana",
        );
        take(&f.app, e5).await;
        let got = month_pairs(&f.app).await;
        assert_eq!(got[3], pair("di", "ana", 2, 4, 0.667));
    }
}

/// With `ENGAGEMENT_FAIR_PLAY=false` nothing is tallied and the report is
/// refused, on both stores; the pair cap of the rule file still holds.
async fn when_fair_play_is_off_the_report_is_refused_and_the_pair_cap_holds(app: &TestApp) {
    let (status, body) = admin_get(app, FEBRUARY).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "fair_play_disabled");
    let revoke = json!({"pairs": ring_pairs()});
    let (status, body) = admin_post(app, "/v1/admin/fair-play/revoke", &revoke).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("fair_play_disabled"))
    );
    let (_, page) = app.get_text("/insights").await;
    assert!(!page.contains(r#"action="/fair-play""#));
    let pairs = r#"[{"from":"bo","to":"ana"}]"#;
    for path in ["/fair-play", "/fair-play/revoke"] {
        let (status, _) = form(app, path, &[("admin_token", ADMIN), ("pairs", pairs)]).await;
        assert_eq!(status, 404, "{path}");
    }
    let (got, _) = take(
        app,
        event_on("acc-1", "answer.accepted", "bo", NOON, "a1", "ana"),
    )
    .await;
    assert_eq!(got, award("ana", "accepted", 10));
}

#[tokio::test]
async fn when_fair_play_is_off_on_the_embedded_store() {
    let f = Fixture::embedded(|s| {
        settings(s);
        s.fair_play = false;
    })
    .await;
    when_fair_play_is_off_the_report_is_refused_and_the_pair_cap_holds(&f.app).await;
}

#[tokio::test]
async fn when_fair_play_is_off_on_redis() {
    let f = Fixture::redis("fair-play-off", |s| {
        settings(s);
        s.fair_play = false;
    })
    .await;
    when_fair_play_is_off_the_report_is_refused_and_the_pair_cap_holds(&f.app).await;
}
