//! Idempotency records on Redis are fields of a few thousand hashes;
//! records that earlier versions kept one key each are still read, and
//! move to their hash when a revocation changes them. A generation that
//! holds records in hashes only says so, and there the former keys are
//! not looked at.

use engagement_core::{Event, EventId, MemberId, RuleSet, Status};
use engagement_service::store::{RedisSettings, RedisStore, Store};

use super::support::{RedisServer, event, event_on, prefix};

const NOON: &str = "2026-11-20T17:00:00Z";

fn ev(v: serde_json::Value) -> Event {
    serde_json::from_value(v).unwrap()
}

async fn points(store: &RedisStore, member: &str) -> i64 {
    let member = MemberId::parse(member).unwrap();
    store.member(&member).await.unwrap().unwrap().points
}

fn connect(redis: &RedisServer, prefix: &str) -> RedisStore {
    RedisStore::connect(&RedisSettings {
        url: redis.url(),
        prefix: prefix.into(),
        retention_days: 90,
        pool_size: 2,
        insights: true,
        fair_play: true,
        min_replicas: 0,
    })
    .unwrap()
}

fn rules() -> RuleSet {
    RuleSet::from_toml(include_str!("../../rules/knowledge-sharing.toml")).unwrap()
}

#[tokio::test]
async fn a_new_deployment_and_every_replay_keep_records_in_hashes_only_and_say_so() {
    let redis = RedisServer::start();
    let prefix = prefix("records-marked");
    let store = connect(&redis, &prefix);
    let mark = |generation: u32| {
        let key = format!("{{{prefix}}}:g{generation}:records");
        redis.cli(&["EXISTS", &key]).unwrap().trim().to_owned()
    };
    assert_eq!(mark(0), "0", "nothing written yet");
    let e = ev(event("a-1", "answer.posted", "ana", NOON));
    store.ingest(&rules(), &[e]).await.unwrap();
    assert_eq!(mark(0), "1", "a new deployment's first generation");
    store.replay(&rules()).await.unwrap();
    assert_eq!(mark(1), "1", "a replayed generation");
    let again = ev(event("a-1", "answer.posted", "ana", NOON));
    let out = store.ingest(&rules(), &[again]).await.unwrap();
    assert_eq!(out[0].status, Status::Duplicate);
}

#[tokio::test]
async fn records_kept_one_key_each_before_still_answer_duplicates_and_revocations() {
    let redis = RedisServer::start();
    let prefix = prefix("former-records");
    let first_store = connect(&redis, &prefix);
    let rules = rules();
    let accepted = ev(event_on(
        "acc-1",
        "answer.accepted",
        "bo",
        NOON,
        "p1",
        "ana",
    ));
    let first = first_store
        .ingest(&rules, std::slice::from_ref(&accepted))
        .await
        .unwrap();
    assert_eq!(first[0].status, Status::Applied);
    assert_eq!(points(&first_store, "ana").await, 15);

    // The record is a field of one hash: move it where earlier versions
    // kept it, a key of its own, in the JSON they first wrote.
    let buckets = redis
        .cli(&["--scan", "--pattern", &format!("{{{prefix}}}:g0:r:*")])
        .unwrap();
    let buckets: Vec<&str> = buckets.lines().collect();
    assert_eq!(buckets.len(), 1, "one event, one hash of records");
    let bucket = buckets[0];
    let former = format!("{{{prefix}}}:g0:e:acc-1");
    let json = serde_json::to_string(&first[0]).unwrap();
    assert_eq!(redis.cli(&["HDEL", bucket, "acc-1"]).unwrap().trim(), "1");
    assert_eq!(redis.cli(&["SET", &former, &json]).unwrap().trim(), "OK");
    // Nor does the generation say that it keeps records in hashes only,
    // as none built by an earlier version does; an instance started since
    // reads it.
    let mark = format!("{{{prefix}}}:g0:records");
    assert_eq!(redis.cli(&["DEL", &mark]).unwrap().trim(), "1");
    let store = connect(&redis, &prefix);

    // Sent again, the event is known: nothing is counted twice.
    let again = store
        .ingest(&rules, std::slice::from_ref(&accepted))
        .await
        .unwrap();
    assert_eq!(again[0].status, Status::Duplicate);
    assert_eq!(
        again[0].awards().collect::<Vec<_>>(),
        first[0].awards().collect::<Vec<_>>()
    );
    assert_eq!(points(&store, "ana").await, 15);
    let id = EventId::parse("acc-1").unwrap();
    let found = store.outcomes(std::slice::from_ref(&id)).await.unwrap();
    assert_eq!(found[0].as_ref().map(|o| o.status), Some(Status::Applied));

    // A revocation undoes it once, and the record moves to its hash.
    let mut undo = ev(event("undo", "post.deleted", "bo", NOON));
    undo.revokes = Some(id.clone());
    let out = store.ingest(&rules, &[undo.clone()]).await.unwrap();
    assert_eq!(out[0].status, Status::Applied);
    assert_eq!(points(&store, "ana").await, 0);
    assert_eq!(redis.cli(&["EXISTS", &former]).unwrap().trim(), "0");
    assert_eq!(
        redis.cli(&["HEXISTS", bucket, "acc-1"]).unwrap().trim(),
        "1"
    );
    let found = store.outcomes(std::slice::from_ref(&id)).await.unwrap();
    let revoked = found[0].as_ref().and_then(|o| o.effects.as_ref());
    assert!(
        revoked.is_some_and(|e| e.revoked),
        "the record says revoked"
    );
    let mut twice = undo;
    twice.id = EventId::parse("undo-2").unwrap();
    let out = store.ingest(&rules, &[twice]).await.unwrap();
    assert_eq!(out[0].status, Status::Ignored);
    assert_eq!(points(&store, "ana").await, 0);
}
