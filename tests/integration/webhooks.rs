//! Forum webhooks end to end: real Discourse and GitHub payloads, byte for
//! byte, signed here with a test secret the way the platforms sign them,
//! posted to the running service; then a scripted forum story whose points,
//! badges and ranks are worked out by hand.

use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use sha2::Sha256;

use super::support::{Fixture, TestApp};

const RULES: &str = include_str!("../../rules/knowledge-sharing.toml");
const DISCOURSE_SECRET: &str = "a discourse secret for the tests";
const GITHUB_SECRET: &str = "a github secret for the tests";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/webhooks");

// ------------------------------------------------------------------ helpers

fn with_secrets(s: &mut engagement_service::Settings) {
    s.discourse_secret = Some(DISCOURSE_SECRET.to_owned());
    s.github_secret = Some(GITHUB_SECRET.to_owned());
}

async fn embedded_with(tweak: impl FnOnce(&mut engagement_service::Settings)) -> Fixture {
    Fixture::embedded(tweak).await
}

async fn embedded() -> Fixture {
    Fixture::embedded(with_secrets).await
}

async fn redis(test: &str) -> Fixture {
    Fixture::redis(test, with_secrets).await
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap()
}

/// The headers a fixture was delivered with (no signature: tests add it).
fn fixture_headers(path: &str) -> Vec<(String, String)> {
    String::from_utf8(read(path))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let digest: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={digest}")
}

/// Posts a body with headers; the status and the JSON answer.
async fn post(
    app: &TestApp,
    path: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> (u16, Value) {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let res = app
        .client
        .post(format!("{}{path}", app.base))
        .headers(map)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Delivers a fixture (`discourse/post_liked`) signed as its platform
/// signs, with extra headers replacing the fixture's.
async fn deliver(app: &TestApp, name: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    deliver_body(app, name, read(&format!("{name}.json")), extra).await
}

/// Like [`deliver`], with a body of the test's own.
async fn deliver_body(
    app: &TestApp,
    name: &str,
    body: Vec<u8>,
    extra: &[(&str, &str)],
) -> (u16, Value) {
    let mut headers = fixture_headers(&format!("{name}.headers"));
    for (k, v) in extra {
        headers.retain(|(h, _)| !h.eq_ignore_ascii_case(k));
        headers.push((k.to_string(), v.to_string()));
    }
    let (path, header, secret) = if name.starts_with("discourse/") {
        (
            "/v1/webhooks/discourse",
            "X-Discourse-Event-Signature",
            DISCOURSE_SECRET,
        )
    } else {
        ("/v1/webhooks/github", "X-Hub-Signature-256", GITHUB_SECRET)
    };
    headers.push((header.to_owned(), signature(secret, &body)));
    post(app, path, &headers, body).await
}

/// Delivers a Discourse payload built by a test, signed.
async fn discourse(app: &TestApp, event: &str, payload: &Value) -> Value {
    let body = serde_json::to_vec(payload).unwrap();
    let headers = [
        ("Content-Type", "application/json"),
        ("X-Discourse-Instance", "https://forum.test"),
        ("X-Discourse-Event-Id", "1"),
        ("X-Discourse-Event", event),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let mut headers = headers.to_vec();
    headers.push((
        "X-Discourse-Event-Signature".into(),
        signature(DISCOURSE_SECRET, &body),
    ));
    let (status, answer) = post(app, "/v1/webhooks/discourse", &headers, body).await;
    assert_eq!(status, 200, "{event}: {answer}");
    answer
}

async fn get(app: &TestApp, path: &str) -> Value {
    let (status, body) = app.get(path).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

async fn points(app: &TestApp, member: &str) -> i64 {
    get(app, &format!("/v1/members/{member}")).await["points"]
        .as_i64()
        .unwrap()
}

/// `(rank, member, score)` of an all-time board.
async fn board(app: &TestApp, board: &str, community: Option<&str>) -> Vec<(u64, String, i64)> {
    let scope = community.map_or(String::new(), |c| format!("&community={c}"));
    let page = get(
        app,
        &format!("/v1/leaderboards/{board}?period=all_time{scope}"),
    )
    .await;
    page["entries"]
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
        .collect()
}

/// The single result of a processed delivery: `(id, status, awards)`.
fn result(answer: &Value) -> (String, String, Vec<(String, i64)>) {
    assert_eq!(answer["status"], "processed", "{answer}");
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{answer}");
    let r = &results[0];
    let awards = r["awards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["member"].as_str().unwrap().to_owned(),
                a["points"].as_i64().unwrap(),
            )
        })
        .collect();
    (
        r["id"].as_str().unwrap().to_owned(),
        r["status"].as_str().unwrap().to_owned(),
        awards,
    )
}

async fn put_rules(app: &TestApp, source: String) {
    let res = app
        .client
        .put(format!("{}/v1/admin/rules", app.base))
        .header("content-type", "application/toml")
        .body(source)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

/// The canonical rules with the fixtures' categories and repository mapped.
fn fixture_rules() -> String {
    RULES
        .replacen(
            "# \"12\" = \"rules-of-origin\"",
            "\"97\" = \"fedora-ask\"\n\"project\" = \"fedora-project\"\n\"12\" = \"rules-of-origin\"",
            1,
        )
        .replacen(
            "# \"example-org/rules-of-origin\" = \"rules-of-origin\"",
            "\"Codertocat/Hello-World\" = \"hello\"\n\"Codertocat/Hello-World/q-a\" = \"hello-qa\"",
            1,
        )
}

async fn ledger(app: &TestApp, member: &str) -> Vec<(String, String, i64, String)> {
    get(app, &format!("/v1/members/{member}/ledger")).await["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["event"].as_str().unwrap().to_owned(),
                l["rule"].as_str().unwrap().to_owned(),
                l["points"].as_i64().unwrap(),
                l["at"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

// ------------------------------------------------- scenarios on both stores

async fn every_fixture_is_answered_and_credited_as_mapped(app: &TestApp) {
    put_rules(app, fixture_rules()).await;
    let expectations: [(&str, &str, Option<&str>); 13] = [
        ("discourse/ping", "pong", None),
        (
            "discourse/topic_created",
            "processed",
            Some("discourse:ask.fedoraproject.org:topic:31739"),
        ),
        ("discourse/post_created", "ignored", None),
        ("discourse/post_created.private_message", "ignored", None),
        (
            "discourse/post_liked",
            "processed",
            Some("discourse:discussion.fedoraproject.org:like:79590:1605"),
        ),
        (
            "discourse/accepted_solution",
            "processed",
            Some("discourse:ask.fedoraproject.org:solution:127593"),
        ),
        ("discourse/post_destroyed", "ignored", None),
        // Topic 31274 was never recorded here: nothing to take back.
        ("discourse/topic_destroyed", "ignored", None),
        ("discourse/user_badge_granted", "ignored", None),
        (
            "github/discussion.created",
            "processed",
            Some("github:discussion:3299614"),
        ),
        (
            "github/discussion_comment.created",
            "processed",
            Some("github:discussion_comment:550062"),
        ),
        (
            "github/discussion.answered",
            "processed",
            Some("github:answer:550561"),
        ),
        ("github/issue_comment.created", "ignored", None),
    ];
    for (name, status, id) in expectations {
        let (code, answer) = deliver(app, name, &[]).await;
        assert_eq!(code, 200, "{name}: {answer}");
        assert_eq!(answer["status"], status, "{name}: {answer}");
        if let Some(id) = id {
            let (got, applied, _) = result(&answer);
            assert_eq!((got.as_str(), applied.as_str()), (id, "applied"), "{name}");
        } else {
            assert!(answer["results"].as_array().unwrap().is_empty(), "{name}");
        }
    }
    let (_, review) = deliver(app, "github/pull_request_review.submitted", &[]).await;
    assert_eq!(review["status"], "ignored", "{review}");

    // Who got what, when, and where.
    assert_eq!(
        ledger(app, "discourse:awarda").await,
        vec![(
            "discourse:ask.fedoraproject.org:topic:31739".into(),
            "ask".into(),
            1,
            "2023-02-13T08:39:01.337Z".into()
        )]
    );
    assert_eq!(points(app, "discourse:mattdm").await, 2);
    assert_eq!(points(app, "discourse:isudoajl").await, 15);
    assert_eq!(points(app, "github:dan2wik").await, 15);
    // Codertocat asked (1) and replied (5); choosing an answer earns nothing.
    assert_eq!(points(app, "github:Codertocat").await, 6);
    let liker = get(app, "/v1/members/discourse:t0xic0der").await;
    assert_eq!(
        (liker["points"].as_i64(), liker["name"].as_str()),
        (Some(0), Some("Akashdeep Dhar"))
    );
    let (status, _) = app.get("/v1/members/discourse").await;
    assert_eq!(status, 404, "the unnamed acceptor is nobody");
    let accepted = ledger(app, "github:dan2wik").await;
    assert_eq!(accepted[0].3, "2021-03-30T23:17:18Z");
    assert_eq!(
        board(app, "contributors", Some("fedora-ask")).await,
        vec![
            (1, "discourse:isudoajl".into(), 15),
            (2, "discourse:awarda".into(), 1)
        ]
    );
    assert_eq!(
        board(app, "contributors", Some("fedora-project")).await,
        vec![(1, "discourse:mattdm".into(), 2)]
    );
    assert_eq!(
        board(app, "answerers", Some("hello-qa")).await,
        vec![(1, "github:dan2wik".into(), 1)]
    );
}

async fn a_delivery_repeated_under_new_delivery_ids_awards_once(app: &TestApp) {
    for (name, retry) in [
        (
            "discourse/accepted_solution",
            ("X-Discourse-Event-Id", "83999"),
        ),
        ("discourse/post_liked", ("X-Discourse-Event-Id", "160000")),
        ("discourse/topic_created", ("X-Discourse-Event-Id", "90001")),
        (
            "github/discussion.answered",
            ("X-GitHub-Delivery", "0f0f0f0f-e749-11f1-9090-c9f479c8c292"),
        ),
        (
            "github/discussion_comment.created",
            ("X-GitHub-Delivery", "1e1e1e1e-e749-11f1-b698-eb7a9588532d"),
        ),
    ] {
        let (_, first) = deliver(app, name, &[]).await;
        let (code, again) = deliver(app, name, &[retry]).await;
        assert_eq!(code, 200, "{again}");
        let (first_id, first_status, first_awards) = result(&first);
        let (again_id, again_status, again_awards) = result(&again);
        assert_eq!(first_status, "applied", "{name}");
        assert_eq!(
            (again_id, again_status.as_str()),
            (first_id, "duplicate"),
            "{name}"
        );
        assert_eq!(
            again_awards, first_awards,
            "the first outcome is answered again"
        );
    }
    assert_eq!(points(app, "discourse:isudoajl").await, 15);
    assert_eq!(points(app, "discourse:mattdm").await, 2);
    assert_eq!(points(app, "discourse:awarda").await, 1);
    assert_eq!(points(app, "github:dan2wik").await, 15);
    assert_eq!(points(app, "github:Codertocat").await, 5);
}

/// The forum: ana asks, bo and cy answer, dee and ana like, bo's answer is
/// accepted then unaccepted, cy's is accepted, and bo's reply is deleted.
/// cy also answers on GitHub as Codertocat, linked to one profile.
async fn a_forum_story_ends_with_exact_points_badges_and_ranks(app: &TestApp) {
    put_rules(app, fixture_rules()).await;
    let link = json!({"aliases": ["discourse:cy", "github:Codertocat"]});
    let (status, linked) = app.put_json("/v1/members/cy", &link).await;
    assert_eq!(status, 200, "{linked}");
    assert_eq!(linked["aliases"], link["aliases"]);

    let at = |minute: u32| format!("2026-11-20T15:{minute:02}:00Z");
    let user =
        |name: &str, id: i64| json!({"id": id, "username": name, "name": name.to_uppercase()});
    let post = |id: u64, number: u64, (name, uid): (&str, i64), minute: u32| {
        json!({"post": {
            "id": id, "username": name, "name": name.to_uppercase(), "user_id": uid,
            "post_number": number, "post_type": 1, "topic_id": 100,
            "topic_archetype": "regular", "category_id": 12, "category_slug": "origin",
            "created_at": at(minute), "updated_at": at(minute),
        }})
    };
    let like = |reply: &Value, (name, id): (&str, i64)| json!({"like": {"post": reply["post"].clone(), "user": user(name, id)}});
    let solved = |reply: &Value| json!({"solved": reply["post"].clone()});
    let (ana, bo, cy, dee) = (("ana", 1), ("bo", 2), ("cy", 3), ("dee", 4));

    let topic = json!({"topic": {
        "id": 100, "archetype": "regular", "category_id": 12,
        "created_by": user("ana", 1), "created_at": at(0),
    }});
    let asked = discourse(app, "topic_created", &topic).await;
    assert_eq!(result(&asked).2, vec![("discourse:ana".to_owned(), 1)]);
    // Discourse also sends the topic's first post: it earns nothing more.
    let first = discourse(app, "post_created", &post(200, 1, ana, 0)).await;
    assert_eq!(first["status"], "ignored");
    let (bo_reply, cy_reply) = (post(201, 2, bo, 5), post(202, 3, cy, 9));
    let answered = discourse(app, "post_created", &bo_reply).await;
    assert_eq!(result(&answered).2, vec![("discourse:bo".to_owned(), 5)]);
    let answered = discourse(app, "post_created", &cy_reply).await;
    assert_eq!(result(&answered).2, vec![("cy".to_owned(), 5)]);
    for (reply, liker) in [(&bo_reply, dee), (&bo_reply, ana), (&cy_reply, dee)] {
        let answer = discourse(app, "post_liked", &like(reply, liker)).await;
        assert_eq!(result(&answer).1, "applied");
    }
    // The same like delivered again is the same like.
    let again = discourse(app, "post_liked", &like(&bo_reply, dee)).await;
    assert_eq!(result(&again).1, "duplicate");

    let accepted = discourse(app, "accepted_solution", &solved(&bo_reply)).await;
    assert_eq!(result(&accepted).2, vec![("discourse:bo".to_owned(), 15)]);
    let unaccepted = discourse(app, "unaccepted_solution", &solved(&bo_reply)).await;
    assert_eq!(
        result(&unaccepted),
        (
            "discourse:forum.test:solution:201:revoked".to_owned(),
            "applied".to_owned(),
            vec![("discourse:bo".to_owned(), -15)]
        )
    );
    let accepted = discourse(app, "accepted_solution", &solved(&cy_reply)).await;
    assert_eq!(result(&accepted).2, vec![("cy".to_owned(), 15)]);
    let deleted = discourse(app, "post_destroyed", &bo_reply).await;
    assert_eq!(result(&deleted).2, vec![("discourse:bo".to_owned(), -5)]);
    // On GitHub, as Codertocat, who also started that discussion; today,
    // for a 2021 answer would be past the answer cap's window.
    let today = String::from_utf8(read("github/discussion_comment.created.json"))
        .unwrap()
        .replacen("2021-03-30T20:21:30Z", "2026-11-20T16:00:00Z", 1);
    let name = "github/discussion_comment.created";
    let (_, comment) = deliver_body(app, name, today.into_bytes(), &[]).await;
    assert_eq!(result(&comment).2, vec![("cy".to_owned(), 5)]);

    // ana: asked 1. bo: reply 5, two likes 2 + 2, accepted 15 then taken
    // back, reply deleted −5: 4. cy: forum reply 5, like 2, accepted 15,
    // GitHub reply 5: 27. dee only liked: likes pay the post's author.
    assert_eq!(points(app, "discourse:ana").await, 1);
    assert_eq!(points(app, "discourse:bo").await, 4);
    assert_eq!(points(app, "cy").await, 27);
    assert_eq!(points(app, "discourse:dee").await, 0);
    let (status, _) = app.get("/v1/members/discourse:cy").await;
    assert_eq!(status, 404, "cy's forum identity has no profile of its own");
    assert_eq!(
        board(app, "contributors", None).await,
        vec![
            (1, "cy".to_owned(), 27),
            (2, "discourse:bo".to_owned(), 4),
            (3, "discourse:ana".to_owned(), 1),
        ]
    );
    assert_eq!(
        board(app, "contributors", Some("rules-of-origin")).await,
        vec![
            (1, "cy".to_owned(), 22),
            (2, "discourse:bo".to_owned(), 4),
            (3, "discourse:ana".to_owned(), 1),
        ]
    );
    // bo's acceptance was taken back: cy alone has an accepted answer.
    assert_eq!(
        board(app, "answerers", None).await,
        vec![(1, "cy".to_owned(), 1)]
    );
    // Badges stay: bo keeps the Mentor badge earned before the take-back.
    let badges = |profile: &Value| -> Vec<(String, String)> {
        profile["badges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                let tier = b["tier"].as_str().unwrap_or_default();
                (b["badge"].as_str().unwrap().to_owned(), tier.to_owned())
            })
            .collect()
    };
    let bo_profile = get(app, "/v1/members/discourse:bo").await;
    assert_eq!(
        badges(&bo_profile),
        vec![("mentor".into(), "bronze".into())]
    );
    assert_eq!(bo_profile["name"], "BO");
    assert_eq!(bo_profile["counts"]["answer.accepted"]["received"], 0);
    let cy_profile = get(app, "/v1/members/cy").await;
    assert_eq!(
        badges(&cy_profile),
        vec![("mentor".into(), "bronze".into())]
    );
    assert_eq!(cy_profile["counts"]["answer.accepted"]["received"], 1);
    assert_eq!(cy_profile["counts"]["answer.posted"]["actor"], 2);
    assert_eq!(cy_profile["aliases"], link["aliases"]);
    assert!(badges(&get(app, "/v1/members/discourse:ana").await).is_empty());
    assert!(badges(&get(app, "/v1/members/discourse:dee").await).is_empty());
}

on_both_stores!(
    every_fixture_is_answered_and_credited_as_mapped,
    a_delivery_repeated_under_new_delivery_ids_awards_once,
    a_forum_story_ends_with_exact_points_badges_and_ranks,
);

// ------------------------------------------- the HTTP surface (embedded)

#[tokio::test]
async fn a_tampered_body_a_wrong_or_missing_signature_is_a_401_and_records_nothing() {
    let f = embedded().await;
    let app = &f.app;
    let body = read("discourse/topic_created.json");
    let mut headers = fixture_headers("discourse/topic_created.headers");
    let good = signature(DISCOURSE_SECRET, &body);
    let mut tampered = body.clone();
    let at = tampered.iter().position(|b| *b == b'7').unwrap();
    tampered[at] = b'8';
    for (case, signed, sent) in [
        ("tampered body", good.clone(), tampered),
        (
            "other secret",
            signature("another secret", &body),
            body.clone(),
        ),
        ("sha1 digest", "sha1=0123".to_owned(), body.clone()),
    ] {
        let mut with = headers.clone();
        with.push(("X-Discourse-Event-Signature".into(), signed));
        let (status, answer) = post(app, "/v1/webhooks/discourse", &with, sent).await;
        assert_eq!(status, 401, "{case}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_signature", "{case}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("X-Discourse-Event-Signature"),
            "{case}: {message}"
        );
        assert!(!message.contains(DISCOURSE_SECRET));
    }
    let (status, answer) = post(app, "/v1/webhooks/discourse", &headers, body.clone()).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (401, Some("invalid_signature"))
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing")
    );
    // The GitHub secret does not sign Discourse deliveries.
    headers.push((
        "X-Discourse-Event-Signature".into(),
        signature(GITHUB_SECRET, &body),
    ));
    let (status, _) = post(app, "/v1/webhooks/discourse", &headers, body).await;
    assert_eq!(status, 401);
    let (status, _) = app.get("/v1/members/discourse:awarda").await;
    assert_eq!(status, 404, "nothing was recorded");

    let (status, answer) = {
        let body = read("github/discussion.created.json");
        let mut headers = fixture_headers("github/discussion.created.headers");
        headers.push((
            "X-Hub-Signature-256".into(),
            signature(DISCOURSE_SECRET, &body),
        ));
        post(app, "/v1/webhooks/github", &headers, body).await
    };
    assert_eq!(status, 401, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("X-Hub-Signature-256")
    );
}

#[tokio::test]
async fn without_a_configured_secret_every_delivery_is_a_401_naming_the_setting() {
    let f = embedded_with(|_| {}).await;
    for (name, variable) in [
        ("discourse/ping", "ENGAGEMENT_DISCOURSE_SECRET"),
        ("github/discussion.created", "ENGAGEMENT_GITHUB_SECRET"),
    ] {
        let (status, answer) = deliver(&f.app, name, &[]).await;
        assert_eq!(status, 401, "{answer}");
        assert_eq!(answer["error"]["code"], "invalid_signature");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains(variable),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn pings_are_answered_pong_and_unknown_events_ignored_with_a_200() {
    let f = embedded().await;
    let app = &f.app;
    let (status, answer) = deliver(app, "discourse/ping", &[]).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("pong")));
    let zen = br#"{"zen":"Keep it logically awesome.","hook_id":503118290}"#.to_vec();
    let headers = [
        ("X-GitHub-Event".to_owned(), "ping".to_owned()),
        (
            "X-Hub-Signature-256".to_owned(),
            signature(GITHUB_SECRET, &zen),
        ),
    ];
    let (status, answer) = post(app, "/v1/webhooks/github", &headers, zen).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("pong")));

    let (status, answer) = deliver(app, "discourse/user_badge_granted", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(answer["status"], "ignored");
    assert_eq!(answer["event"], "user_badge_granted");
    assert!(
        answer["reason"]
            .as_str()
            .unwrap()
            .contains("earns nothing here")
    );
    let (status, answer) = deliver(
        app,
        "discourse/topic_created",
        &[("X-Discourse-Event", "topic_edited")],
    )
    .await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("ignored")));
    let (status, answer) = deliver(app, "discourse/post_created.private_message", &[]).await;
    assert_eq!(
        (status, answer["reason"].as_str()),
        (200, Some("private messages earn nothing"))
    );
}

#[tokio::test]
async fn a_malformed_body_or_missing_event_header_is_a_400() {
    let f = embedded().await;
    let app = &f.app;
    let signed = |body: &[u8], event: &str| {
        vec![
            ("X-Discourse-Event".to_owned(), event.to_owned()),
            (
                "X-Discourse-Instance".to_owned(),
                "https://forum.test".to_owned(),
            ),
            (
                "X-Discourse-Event-Signature".to_owned(),
                signature(DISCOURSE_SECRET, body),
            ),
        ]
    };
    let broken = b"{\"topic\": {\"id\": ".to_vec();
    let (status, answer) = post(
        app,
        "/v1/webhooks/discourse",
        &signed(&broken, "topic_created"),
        broken,
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("malformed_request"))
    );
    let shapeless = br#"{"topic":{"id":"seven"}}"#.to_vec();
    let (status, answer) = post(
        app,
        "/v1/webhooks/discourse",
        &signed(&shapeless, "topic_created"),
        shapeless,
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("topic.id"),
        "{answer}"
    );
    let body = read("discourse/topic_created.json");
    let mut headers = signed(&body, "topic_created");
    headers.remove(0);
    let (status, answer) = post(app, "/v1/webhooks/discourse", &headers, body).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("X-Discourse-Event")
    );
    let empty = Vec::new();
    let headers = [(
        "X-Hub-Signature-256".to_owned(),
        signature(GITHUB_SECRET, &empty),
    )];
    let (status, answer) = post(app, "/v1/webhooks/github", &headers, empty).await;
    assert_eq!(status, 400, "{answer}");
}

#[tokio::test]
async fn a_solution_accepted_again_after_an_unaccept_earns_again_and_only_once() {
    let f = embedded().await;
    let app = &f.app;
    let unaccept = [("X-Discourse-Event", "unaccepted_solution")];
    let mut ids = Vec::new();
    for extra in [&[][..], &unaccept, &[], &[], &unaccept, &unaccept] {
        let (status, answer) = deliver(app, "discourse/accepted_solution", extra).await;
        assert_eq!(status, 200, "{answer}");
        let (id, status, _) = result(&answer);
        ids.push(format!("{id} {status}"));
    }
    let chain = "discourse:ask.fedoraproject.org:solution:127593";
    assert_eq!(
        ids,
        [
            format!("{chain} applied"),
            format!("{chain}:revoked applied"),
            format!("{chain}#2 applied"),
            format!("{chain}#2 duplicate"),
            format!("{chain}#2:revoked applied"),
            format!("{chain}#2:revoked duplicate"),
        ]
    );
    assert_eq!(points(app, "discourse:isudoajl").await, 0);
    let (_, answer) = deliver(app, "discourse/accepted_solution", &[]).await;
    assert_eq!(result(&answer).0, format!("{chain}#3"));
    assert_eq!(points(app, "discourse:isudoajl").await, 15);
}

#[tokio::test]
async fn a_recovered_reply_earns_again_and_a_take_back_needs_something_to_take() {
    let f = embedded().await;
    let app = &f.app;
    let reply = json!({"post": {
        "id": 77, "username": "bo", "name": "Bo", "user_id": 2, "post_number": 2,
        "post_type": 1, "topic_id": 5, "topic_archetype": "regular",
        "category_id": 3, "created_at": "2026-11-20T15:00:00Z",
    }});
    let gone = discourse(app, "post_destroyed", &reply).await;
    assert_eq!(
        gone["status"], "ignored",
        "nothing was recorded to take back"
    );
    let back = discourse(app, "post_recovered", &reply).await;
    assert_eq!(back["status"], "ignored", "nothing was taken back");
    discourse(app, "post_created", &reply).await;
    discourse(app, "post_destroyed", &reply).await;
    assert_eq!(points(app, "discourse:bo").await, 0);
    let back = discourse(app, "post_recovered", &reply).await;
    assert_eq!(result(&back).0, "discourse:forum.test:post:77#2");
    assert_eq!(points(app, "discourse:bo").await, 5);
    let again = discourse(app, "post_recovered", &reply).await;
    assert_eq!(result(&again).1, "duplicate");
    discourse(app, "post_destroyed", &reply).await;
    assert_eq!(points(app, "discourse:bo").await, 0);
    // Given back at the time it was first earned: the same day's buckets.
    let lines = ledger(app, "discourse:bo").await;
    let earned: Vec<&str> = lines
        .iter()
        .filter(|l| l.2 > 0)
        .map(|l| l.3.as_str())
        .collect();
    assert_eq!(earned, ["2026-11-20T15:00:00Z", "2026-11-20T15:00:00Z"]);
}

#[tokio::test]
async fn identities_linked_in_the_rule_file_are_credited_to_their_member() {
    let f = embedded().await;
    let app = &f.app;
    let rules = RULES.replacen(
        "# [identities]\n# \"ana\" = [\"discourse:ana_souza\", \"github:anasouza\"]",
        "[identities]\n\"armin\" = [\"discourse:awarda\"]\n\"matt\" = [\"discourse:mattdm\"]",
        1,
    );
    assert_ne!(rules, RULES);
    put_rules(app, rules).await;
    let (_, asked) = deliver(app, "discourse/topic_created", &[]).await;
    assert_eq!(result(&asked).2, vec![("armin".to_owned(), 1)]);
    let (_, liked) = deliver(app, "discourse/post_liked", &[]).await;
    assert_eq!(result(&liked).2, vec![("matt".to_owned(), 2)]);
    assert_eq!(get(app, "/v1/members/armin").await["name"], "Armin Warda");
    // The rule file's link wins over the API: it cannot be taken there.
    let (status, answer) = app
        .put_json("/v1/members/bo", &json!({"aliases": ["discourse:awarda"]}))
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (422, Some("alias_taken"))
    );
}

#[tokio::test]
async fn aliases_set_through_the_api_are_checked_and_can_be_replaced() {
    let f = embedded().await;
    let app = &f.app;
    let (status, ana) = app
        .put_json(
            "/v1/members/ana",
            &json!({"aliases": ["github:Codertocat"], "name": "Ana"}),
        )
        .await;
    assert_eq!(status, 200, "{ana}");
    assert_eq!(
        (ana["aliases"].clone(), ana["name"].clone()),
        (json!(["github:Codertocat"]), json!("Ana"))
    );
    for (body, code, fragment) in [
        (
            json!({"aliases": ["github:Codertocat"]}),
            "alias_taken",
            "already an alias of member \"ana\"",
        ),
        (
            json!({"aliases": ["bo"]}),
            "invalid_profile",
            "aliases[0]: \"bo\" is the member itself",
        ),
        (
            json!({"aliases": ["x", "x"]}),
            "invalid_profile",
            "aliases[1]: \"x\" is listed twice",
        ),
        (
            json!({"aliases": [""]}),
            "invalid_profile",
            "aliases[0]: must not be empty",
        ),
        (
            json!({"aliases": "github:bo"}),
            "invalid_profile",
            "aliases",
        ),
    ] {
        let (status, answer) = app.put_json("/v1/members/bo", &body).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(fragment), "{message}");
    }
    let (_, comment) = deliver(app, "github/discussion_comment.created", &[]).await;
    assert_eq!(result(&comment).2, vec![("ana".to_owned(), 5)]);
    let (status, ana) = app
        .put_json("/v1/members/ana", &json!({"aliases": []}))
        .await;
    assert_eq!((status, ana["aliases"].clone()), (200, json!([])));
    let (_, question) = deliver(app, "github/discussion.created", &[]).await;
    assert_eq!(
        result(&question).2,
        vec![("github:Codertocat".to_owned(), 1)]
    );
}
