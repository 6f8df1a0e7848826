//! Every point explained, and admins' adjustments, over HTTP on both stores.

use serde_json::{Value, json};

use super::support::{Fixture, TestApp, event, event_on};

/// Friday 2026-11-20, noon in Bogota.
const NOON: &str = "2026-11-20T17:00:00Z";

async fn embedded() -> Fixture {
    Fixture::embedded(|_| {}).await
}

async fn redis(test: &str) -> Fixture {
    Fixture::redis(test, |_| {}).await
}

async fn post(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    let res = app
        .client
        .post(format!("{}{path}", app.base))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn line(rule: &str, member: Option<&str>, points: i64, reason: &str) -> Value {
    json!({"rule": rule, "member": member, "points": points, "reason": reason})
}

/// A share id the 10 % surprise bonus skips, and one it pays.
fn share_ids() -> (String, String) {
    let fires = |id: &str| engagement_core::engine::fires(id, "surprise-bonus", 0.10);
    let skipped = (0..)
        .map(|i| format!("s{i}"))
        .find(|id| !fires(id))
        .unwrap();
    let paid = (0..).map(|i| format!("s{i}")).find(|id| fires(id)).unwrap();
    (skipped, paid)
}

async fn each_reason_is_explained_per_rule_in_file_order(app: &TestApp) {
    let (skipped, paid) = share_ids();
    let mut events = vec![
        event(&skipped, "resource.shared", "ana", NOON),
        event(&paid, "resource.shared", "ana", NOON),
        event_on("like-1", "post.liked", "bo", NOON, "p1", "ana"),
        event_on("like-2", "post.liked", "bo", NOON, "p1", "ana"),
        event_on("like-self", "post.liked", "ana", NOON, "p2", "ana"),
        event("acc-nobody", "answer.accepted", "bo", NOON),
        event("attend-nothing", "webinar.attended", "bo", NOON),
    ];
    let mut curate = event("curate-1", "resource.curated", "ana", NOON);
    curate["community"] = json!("customs");
    events.push(curate);
    events.push(
        json!({"id": "unlike-1", "kind": "post.unliked", "actor": "bo",
        "occurred_at": NOON, "revokes": "like-1"}),
    );
    let (status, body) = post(app, "/v1/events?explain=true", &json!({"events": events})).await;
    assert_eq!(status, 200, "{body}");
    let explained: Vec<Value> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["explain"].clone())
        .collect();
    assert_eq!(
        explained,
        vec![
            json!([
                line("share-resource", Some("ana"), 10, "awarded"),
                line("surprise-bonus", Some("ana"), 0, "chance"),
            ]),
            json!([
                line("share-resource", Some("ana"), 10, "awarded"),
                line("surprise-bonus", Some("ana"), 5, "awarded"),
            ]),
            json!([line("liked", Some("ana"), 2, "awarded")]),
            json!([line("liked", Some("ana"), 0, "once_per_used")]),
            json!([line("liked", Some("ana"), 0, "not_self")]),
            json!([line("accepted", None, 0, "no_recipient")]),
            json!([line("attend", Some("bo"), 0, "no_target")]),
            json!([line("curate", Some("ana"), 0, "community")]),
            json!([line("liked", Some("ana"), -2, "revoked_event")]),
        ]
    );
    // Without the flag, no explanation.
    let (_, plain) = post(
        app,
        "/v1/events",
        &event("a-plain", "answer.posted", "cy", NOON),
    )
    .await;
    assert!(plain["results"][0].get("explain").is_none(), "{plain}");
}

async fn a_daily_cap_reached_is_explained_and_so_is_any_past_event(app: &TestApp) {
    let asks: Vec<Value> = (0..4)
        .map(|i| event(&format!("q{i}"), "question.asked", "ana", NOON))
        .collect();
    let (status, body) = post(app, "/v1/events?explain=true", &json!({"events": asks})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["results"][3]["explain"],
        json!([line("ask", Some("ana"), 0, "daily_cap_reached")])
    );
    let (status, past) = app.get("/v1/members/ana/ledger/q3").await;
    assert_eq!(status, 200, "{past}");
    assert_eq!(
        past,
        json!({"member": "ana", "event": "q3", "status": "applied", "revocation": false,
               "revoked": false,
               "explain": [line("ask", Some("ana"), 0, "daily_cap_reached")]})
    );
    let (status, _) = app.get("/v1/members/ana/ledger/never-sent").await;
    assert_eq!(status, 404);
    let (status, _) = app.get("/v1/members/zed/ledger/q3").await;
    assert_eq!(status, 404, "an event that did not concern the member");
}

async fn a_revoked_event_says_so_and_its_revocation_says_what_it_took(app: &TestApp) {
    app.ingest(&event_on("acc", "answer.accepted", "bo", NOON, "p1", "ana"))
        .await;
    app.ingest(
        &json!({"id": "unacc", "kind": "answer.unaccepted", "actor": "bo",
        "occurred_at": NOON, "revokes": "acc"}),
    )
    .await;
    let (_, first) = app.get("/v1/members/ana/ledger/acc").await;
    assert_eq!(first["revoked"], json!(true), "{first}");
    assert_eq!(
        first["explain"],
        json!([line("accepted", Some("ana"), 15, "awarded")])
    );
    let (_, ledger) = app.get("/v1/members/ana/ledger").await;
    assert_eq!(
        ledger["entries"][0]["explain"],
        json!("revoked_event"),
        "{ledger}"
    );
    assert_eq!(
        ledger["entries"][1]["explain"],
        json!("awarded"),
        "{ledger}"
    );
    let (_, undo) = app.get("/v1/members/ana/ledger/unacc").await;
    assert_eq!(undo["revocation"], json!(true), "{undo}");
    assert_eq!(
        undo["revoked"],
        json!(false),
        "a revocation is not itself revoked"
    );
    assert_eq!(
        undo["explain"],
        json!([line("accepted", Some("ana"), -15, "revoked_event")])
    );
}

async fn points(app: &TestApp, member: &str) -> i64 {
    let (_, profile) = app.get(&format!("/v1/members/{member}")).await;
    profile["points"].as_i64().unwrap_or(0)
}

async fn adjustments_count_on_boards_show_their_reason_and_survive_a_replay(app: &TestApp) {
    app.ingest(&event("a1", "answer.posted", "ana", NOON)).await;
    let adjust = json!({"id": "adj-1", "points": 40, "reason": "recorded the webinar"});
    let (status, body) = post(app, "/v1/admin/members/ana/points", &adjust).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["status"], json!("applied"));
    assert_eq!(
        body["results"][0]["explain"],
        json!([line("adjustment", Some("ana"), 40, "awarded")])
    );
    // The same id again changes nothing.
    let (status, again) = post(app, "/v1/admin/members/ana/points", &adjust).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["results"][0]["status"], json!("duplicate"));
    assert_eq!(points(app, "ana").await, 45);
    let (_, board) = app
        .get("/v1/leaderboards/contributors?period=all_time")
        .await;
    assert_eq!(board["entries"][0]["score"], json!(45), "{board}");
    let (_, ledger) = app.get("/v1/members/ana/ledger").await;
    assert_eq!(
        ledger["entries"][0]["rule"],
        json!("adjustment"),
        "{ledger}"
    );
    assert_eq!(
        ledger["entries"][0]["reason"],
        json!("recorded the webinar")
    );
    assert_eq!(ledger["entries"][0]["explain"], json!("awarded"));
    let (_, profile) = app.get("/v1/members/ana").await;
    assert_eq!(
        profile["points_by_rule"],
        json!([{"rule": "adjustment", "points": 40}, {"rule": "answer", "points": 5}])
    );
    let page = app
        .client
        .get(format!("{}/members/ana", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("How the points were earned"), "{page}");
    assert!(page.contains("Adjusted by an admin"), "{page}");
    assert!(page.contains("adjustment: recorded the webinar"), "{page}");

    // A take-back larger than what the member holds is refused, changing nothing.
    let too_much = json!({"id": "adj-2", "points": -46, "reason": "spam"});
    let (status, refused) = post(app, "/v1/admin/members/ana/points", &too_much).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], json!("below_zero"));
    assert_eq!(points(app, "ana").await, 45);
    let (status, _) = app.get("/v1/members/ana/ledger/adjustment:adj-2").await;
    assert_eq!(status, 404, "a refused adjustment is not recorded");
    let take = json!({"id": "adj-3", "points": -45, "reason": "spam"});
    let (status, _) = post(app, "/v1/admin/members/ana/points", &take).await;
    assert_eq!(status, 200);
    assert_eq!(points(app, "ana").await, 0);

    // Revocable by an admin (not on the ingest road), and kept by a replay.
    let smuggled = json!({"id": "adj-3-undo", "kind": "adjustment.revoked", "actor": "admin",
        "occurred_at": NOON, "revokes": "adjustment:adj-3"});
    assert_eq!(app.post_events(&smuggled).await.status(), 422);
    let (status, _) = post(app, "/v1/admin/members/bo/points/adj-3/revoke", &json!({})).await;
    assert_eq!(status, 404, "not bo's adjustment");
    let (status, undone) = post(app, "/v1/admin/members/ana/points/adj-3/revoke", &json!({})).await;
    assert_eq!(status, 200, "{undone}");
    assert_eq!(
        undone["results"][0]["explain"],
        json!([line("adjustment", Some("ana"), 45, "revoked_event")])
    );
    assert_eq!(points(app, "ana").await, 45);
    let (_, again) = post(app, "/v1/admin/members/ana/points/adj-3/revoke", &json!({})).await;
    assert_eq!(again["results"][0]["status"], json!("duplicate"), "{again}");
    let (status, replayed) = post(app, "/v1/admin/replay", &json!({})).await;
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(points(app, "ana").await, 45);
    let (_, ledger) = app.get("/v1/members/ana/ledger").await;
    let reasons: Vec<&Value> = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["reason"])
        .collect();
    assert!(
        reasons.contains(&&json!("recorded the webinar")),
        "{ledger}"
    );
}

async fn undoing_a_give_that_was_since_spent_is_refused_below_zero(app: &TestApp) {
    let give = json!({"id": "give", "points": 30, "reason": "bonus"});
    assert_eq!(
        post(app, "/v1/admin/members/ana/points", &give).await.0,
        200
    );
    let take = json!({"id": "take", "points": -20, "reason": "spam"});
    assert_eq!(
        post(app, "/v1/admin/members/ana/points", &take).await.0,
        200
    );
    let (status, body) = post(app, "/v1/admin/members/ana/points/give/revoke", &json!({})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], json!("below_zero"));
    assert_eq!(points(app, "ana").await, 10);
    // An adjustment is undone under its own member only.
    let more = json!({"id": "more", "points": -10, "reason": "spam"});
    assert_eq!(
        post(app, "/v1/admin/members/ana/points", &more).await.0,
        200
    );
    let nothing = json!({"id": "nothing", "points": -10, "reason": "spam"});
    let (status, body) = post(app, "/v1/admin/members/ana/points", &nothing).await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = post(app, "/v1/admin/members/bo/points/more/revoke", &json!({})).await;
    assert_eq!(status, 404);
    // An id that reads like another's revocation is just another id.
    let odd = json!({"id": "give:revoked", "points": 1, "reason": "odd"});
    let (_, body) = post(app, "/v1/admin/members/ana/points", &odd).await;
    assert_eq!(body["results"][0]["status"], json!("applied"), "{body}");
    let (_, body) = post(app, "/v1/admin/members/ana/points/more/revoke", &json!({})).await;
    assert_eq!(body["results"][0]["status"], json!("applied"), "{body}");
    assert_eq!(points(app, "ana").await, 11);
}

async fn adjustments_are_refused_on_the_ingest_road_and_when_malformed(app: &TestApp) {
    let mut smuggled = event("x", "points.adjusted", "ana", NOON);
    smuggled["adjustment"] = json!({"points": 1000, "reason": "me"});
    let res = app.post_events(&smuggled).await;
    assert_eq!(res.status(), 422);
    for bad in [
        json!({"id": "z", "points": 0, "reason": "nothing"}),
        json!({"id": "z", "points": 5, "reason": ""}),
        json!({"id": "z", "points": 5_000_000, "reason": "a lot"}),
        json!({"id": "z", "points": i64::MIN, "reason": "the least"}),
        // Too long for its revocation's id to fit in an event id.
        json!({"id": "x".repeat(185), "points": 5, "reason": "long"}),
        json!({"id": "", "points": 5, "reason": "no id"}),
        json!({"id": "z", "points": 5}),
    ] {
        let (status, body) = post(app, "/v1/admin/members/ana/points", &bad).await;
        assert_eq!(status, 422, "{bad} → {body}");
        assert_eq!(body["error"]["code"], json!("invalid_adjustment"), "{body}");
    }
    assert_eq!(points(app, "ana").await, 0);
}

on_both_stores!(
    each_reason_is_explained_per_rule_in_file_order,
    a_daily_cap_reached_is_explained_and_so_is_any_past_event,
    a_revoked_event_says_so_and_its_revocation_says_what_it_took,
    adjustments_count_on_boards_show_their_reason_and_survive_a_replay,
    adjustments_are_refused_on_the_ingest_road_and_when_malformed,
    undoing_a_give_that_was_since_spent_is_refused_below_zero,
);
