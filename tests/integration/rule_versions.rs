//! One rule set for the deployment: rule versions stored in the store,
//! followed by every instance, checked by every write, listed and rolled
//! back; on both stores, with two instances sharing one Redis.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Backend, RedisServer, TestApp, event, prefix};

const RULES: &str = include_str!("../../rules/knowledge-sharing.toml");

/// The canonical rules with a question worth `points`.
fn asking_pays(points: u32) -> String {
    let old = "id = \"ask\"\non = \"question.asked\"\nto = \"actor\"\npoints = 1";
    assert!(RULES.contains(old), "the canonical rules changed");
    RULES.replace(
        old,
        &format!("id = \"ask\"\non = \"question.asked\"\nto = \"actor\"\npoints = {points}"),
    )
}

async fn version(app: &TestApp) -> String {
    let (status, rules) = app.get("/v1/admin/rules").await;
    assert_eq!(status, 200, "{rules}");
    rules["summary"]["version"].as_str().unwrap().to_owned()
}

async fn put(app: &TestApp, source: &str) -> String {
    let (status, body) = app.put_toml("/v1/admin/rules", source).await;
    assert_eq!(status, 200, "{body}");
    body["summary"]["version"].as_str().unwrap().to_owned()
}

async fn versions(app: &TestApp) -> Value {
    let (status, body) = app.get("/v1/admin/rules/versions").await;
    assert_eq!(status, 200, "{body}");
    body
}

/// `(version, origin)` of every activation, newest first.
fn history(listing: &Value) -> Vec<(String, String)> {
    listing["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap().to_owned(),
                v["origin"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// How long `app` takes to put `wanted` in force; fails past 1 s.
async fn switches_to(app: &TestApp, wanted: &str, since: Instant) -> Duration {
    loop {
        if version(app).await == wanted {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(1),
            "{} still has rules {} more than a second after {wanted} was put in force",
            app.base,
            version(app).await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The points a member's question earned, and under which rule version.
async fn award(app: &TestApp, member: &str) -> (i64, String) {
    let (status, ledger) = app.get(&format!("/v1/members/{member}/ledger")).await;
    assert_eq!(status, 200, "{ledger}");
    let line = &ledger["entries"][0];
    (
        line["points"].as_i64().unwrap(),
        line["rules_version"].as_str().unwrap().to_owned(),
    )
}

fn question(id: &str, actor: &str) -> Value {
    json!({"events": [event(id, "question.asked", actor, "2026-11-20T15:00:00Z")]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_redis_follow_one_rule_set_within_a_second() {
    let redis = RedisServer::start();
    let p = prefix("versions");
    let a = TestApp::spawn(Backend::Redis(&redis, p.clone()), |_| {}).await;
    let b = TestApp::spawn(Backend::Redis(&redis, p.clone()), |_| {}).await;
    let first = version(&a).await;
    assert_eq!(version(&b).await, first);
    assert_eq!(
        history(&versions(&b).await),
        [(first.clone(), "start".into())]
    );

    // A change made on one instance...
    let started = Instant::now();
    let second = put(&a, &asking_pays(2)).await;
    // ...applies at once to an event the other one takes, even before it
    // has looked for the change: its write is refused under the old rules
    // and applied again under the new ones.
    a.ingest(&question("q-1", "ana")).await;
    b.ingest(&question("q-2", "bo")).await;
    assert_eq!(award(&a, "bo").await, (2, second.clone()));
    assert_eq!(award(&b, "ana").await, (2, second.clone()));
    let took = switches_to(&b, &second, started).await;
    eprintln!("rules version seen by the other instance after {took:?}");

    let listing = versions(&a).await;
    assert_eq!(listing["active"], json!(second));
    assert_eq!(
        history(&listing),
        [
            (second.clone(), "api".into()),
            (first.clone(), "start".into())
        ]
    );
    assert_eq!(listing["versions"][0]["active"], json!(true));
    assert_eq!(listing["versions"][1]["active"], json!(false));

    // Rolling back on the other instance: everyone goes back.
    let started = Instant::now();
    let (status, body) = b.post_json("/v1/admin/rules/rollback", &json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["summary"]["version"], json!(first));
    switches_to(&a, &first, started).await;
    a.ingest(&question("q-3", "cy")).await;
    assert_eq!(award(&b, "cy").await, (1, first.clone()));
    assert_eq!(
        history(&versions(&a).await)[0],
        (first.clone(), "rollback".into())
    );

    // By version, forward again.
    let (status, body) = a
        .post_json("/v1/admin/rules/rollback", &json!({"version": second}))
        .await;
    assert_eq!(status, 200, "{body}");
    switches_to(&b, &second, Instant::now()).await;

    // An instance starting with a rule file the deployment has moved on
    // from follows the deployment; one with a new file puts it in force.
    let old_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(old_file.path(), RULES).unwrap();
    let c = TestApp::spawn(Backend::Redis(&redis, p.clone()), |s| {
        s.rules = old_file.path().into()
    })
    .await;
    assert_eq!(version(&c).await, second);
    let new_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(new_file.path(), asking_pays(3)).unwrap();
    let d = TestApp::spawn(Backend::Redis(&redis, p.clone()), |s| {
        s.rules = new_file.path().into()
    })
    .await;
    let fourth = version(&d).await;
    assert_ne!(fourth, second);
    let started = Instant::now();
    for app in [&a, &b, &c] {
        switches_to(app, &fourth, started).await;
    }
    assert_eq!(history(&versions(&a).await)[0], (fourth, "start".into()));
    for app in [a, b, c, d] {
        app.stop().await;
    }
}

async fn embedded(dir: &Path, rules: &Path) -> TestApp {
    let rules = rules.to_owned();
    TestApp::spawn(Backend::Embedded(dir.into()), move |s| s.rules = rules).await
}

#[tokio::test]
async fn the_embedded_store_keeps_its_rule_versions_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), RULES).unwrap();
    let app = embedded(dir.path(), file.path()).await;
    let first = version(&app).await;
    app.ingest(&question("q-1", "ana")).await;
    let second = put(&app, &asking_pays(2)).await;
    app.ingest(&question("q-2", "bo")).await;
    app.stop().await;

    // Restarted with the same (older) file: the deployment's rules stay,
    // and the log is replayed under them.
    let app = embedded(dir.path(), file.path()).await;
    assert_eq!(version(&app).await, second);
    assert_eq!(award(&app, "ana").await, (2, second.clone()));
    assert_eq!(
        history(&versions(&app).await),
        [
            (second.clone(), "api".into()),
            (first.clone(), "start".into())
        ]
    );
    app.stop().await;

    // A new file is put in force at start.
    std::fs::write(file.path(), asking_pays(3)).unwrap();
    let app = embedded(dir.path(), file.path()).await;
    let third = version(&app).await;
    assert_eq!(history(&versions(&app).await)[0], (third, "start".into()));
    assert_eq!(award(&app, "bo").await.0, 3);
    app.stop().await;
}

#[tokio::test]
async fn a_rollback_that_cannot_be_made_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(Backend::Embedded(dir.path().into()), |_| {}).await;
    let only = version(&app).await;
    let (status, body) = app.post_json("/v1/admin/rules/rollback", &json!({})).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no earlier rule version"),
        "{body}"
    );
    let (status, body) = app
        .post_json(
            "/v1/admin/rules/rollback",
            &json!({"version": "0000000000000000"}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = app
        .post_json("/v1/admin/rules/rollback", &json!({"versio": only}))
        .await;
    assert_eq!(status, 422, "{body}");
    let res = app
        .client
        .post(format!("{}/v1/admin/rules/rollback", app.base))
        .header("content-type", "application/json")
        .body("{\"version\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // Nothing changed.
    assert_eq!(history(&versions(&app).await), [(only, "start".into())]);
    app.stop().await;
}

/// The store itself refuses, and writes nothing of, a write worked out
/// under a rule version other than the one in force: events, a badge
/// granted by hand, and the switch to a replayed generation.
#[tokio::test]
async fn redis_refuses_writes_made_under_rules_no_longer_in_force() {
    use engagement_core::{Event, MemberId, RuleSet};
    use engagement_service::store::{
        Activation, ManualGrant, RedisSettings, RedisStore, RulesOrigin, Store, StoreError,
    };

    let redis = RedisServer::start();
    let store = RedisStore::connect(&RedisSettings {
        url: redis.url(),
        prefix: prefix("refused"),
        retention_days: 90,
        pool_size: 2,
        insights: true,
        fair_play: true,
        min_replicas: 0,
    })
    .unwrap();
    let old = RuleSet::from_toml(RULES).unwrap();
    let new_source = asking_pays(2);
    let new = RuleSet::from_toml(&new_source).unwrap();
    let asked = |id: &str| -> Vec<Event> {
        let e = event(id, "question.asked", "ana", "2026-11-20T15:00:00Z");
        vec![serde_json::from_value(e).unwrap()]
    };
    // Before any version is stored (a deployment older than rule
    // versions), nothing is checked.
    store.ingest(&old, &asked("q-0")).await.unwrap();

    let activation = Activation {
        version: new.version.clone(),
        origin: RulesOrigin::Api,
        activated_at: jiff::Timestamp::now(),
    };
    store.activate_rules(activation, &new_source).await.unwrap();
    let refused = |result: Result<_, StoreError>| match result {
        Err(StoreError::RulesChanged { in_force }) => assert_eq!(in_force, new.version),
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("a write under rules no longer in force went through"),
    };
    refused(store.ingest(&old, &asked("q-1")).await.map(|_| ()));
    let grant = ManualGrant {
        badge: "mentor".into(),
        tier: 0,
        at: jiff::Timestamp::now(),
        reason: None,
    };
    let ana = MemberId::parse("ana").unwrap();
    refused(store.grant_badge(&old, &ana, grant).await.map(|_| ()));
    refused(store.replay(&old).await.map(|_| ()));
    // Nothing of them was written.
    assert_eq!(store.member(&ana).await.unwrap().unwrap().points, 1);
    assert_eq!(store.export().await.unwrap().len(), 1);

    // Under the rules in force, the same event goes through.
    store.ingest(&new, &asked("q-1")).await.unwrap();
    assert_eq!(store.member(&ana).await.unwrap().unwrap().points, 3);
}
