//! `engagement events archive` on Redis: older log entries move to a
//! compressed file and out of the stream; replay and export read the file
//! and then the live log; duplicates of archived events are still known.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::time::Duration;

use engagement_core::{Event, RuleSet, Status};
use engagement_service::generate::{GenerateParams, generate};
use engagement_service::store::{ArchiveError, LogEntry, RedisSettings, RedisStore, Store};
use jiff::Timestamp;

use crate::support::{RedisServer, prefix};

fn rules() -> RuleSet {
    RuleSet::from_toml(include_str!("../../rules/knowledge-sharing.toml")).unwrap()
}

fn connect(redis: &RedisServer, prefix: &str) -> RedisStore {
    RedisStore::connect(&RedisSettings {
        url: redis.url(),
        prefix: prefix.into(),
        retention_days: 0,
        // The smallest pool: replay, export and archive must not wait on
        // a connection they hold themselves.
        pool_size: 1,
        insights: true,
        fair_play: true,
        min_replicas: 0,
    })
    .unwrap()
}

fn activity() -> Vec<Event> {
    generate(&GenerateParams {
        members: 120,
        communities: 4,
        days: 40,
        seed: 5,
        start: "2026-03-02T00:00:00Z".parse().unwrap(),
        events: Some(3_000),
        rings: Vec::new(),
    })
}

async fn points(store: &RedisStore, events: &[Event]) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for e in events {
        if !out.contains_key(e.actor.as_str()) {
            let state = store.member(&e.actor).await.unwrap().unwrap_or_default();
            out.insert(e.actor.to_string(), state.points);
        }
    }
    out
}

fn stream_length(redis: &RedisServer, prefix: &str) -> usize {
    let out = redis.cli(&["XLEN", &format!("{{{prefix}}}:log")]).unwrap();
    out.trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_entries_leave_the_stream_and_replay_and_export_still_read_them() {
    let redis = RedisServer::start();
    let prefix = prefix("archive");
    let store = connect(&redis, &prefix);
    let rules = rules();
    let events = activity();
    let (old, new) = events.split_at(1_800);
    for chunk in old.chunks(200) {
        store.ingest(&rules, chunk).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let cut = Timestamp::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    for chunk in new.chunks(200) {
        store.ingest(&rules, chunk).await.unwrap();
    }
    let exported = store.export().await.unwrap();
    assert_eq!(exported.len(), events.len());
    let before = points(&store, &events).await;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("log-2026.jsonl.zst");
    let archive = store.archive_log(cut, &file).await.unwrap().unwrap();
    assert_eq!(archive.entries, old.len() as u64);
    assert_eq!(stream_length(&redis, &prefix), new.len());

    // The file holds the archived entries as export prints them.
    let lines: Vec<LogEntry> =
        BufReader::new(zstd::Decoder::new(std::fs::File::open(&file).unwrap()).unwrap())
            .lines()
            .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
            .collect();
    assert_eq!(lines, exported[..old.len()]);

    // Export and replay read the archive, then the live log.
    assert_eq!(store.export().await.unwrap(), exported);
    let summary = store.replay(&rules).await.unwrap();
    assert_eq!(summary.events, events.len());
    assert_eq!(points(&store, &events).await, before);

    // Archived events are still known: sent again, they are duplicates.
    let again = store.ingest(&rules, &old[..50]).await.unwrap();
    assert!(again.iter().all(|o| o.status == Status::Duplicate));
    assert_eq!(points(&store, &events).await, before);

    // Nothing is older than the first archive's start: nothing to write.
    let none = dir.path().join("none.zst");
    let earlier = cut - jiff::SignedDuration::from_hours(24);
    assert!(store.archive_log(earlier, &none).await.unwrap().is_none());
    assert!(!none.exists());
    // An existing file is never overwritten; the future is refused.
    assert!(matches!(
        store.archive_log(Timestamp::now(), &file).await,
        Err(ArchiveError::Exists(_))
    ));
    let later = Timestamp::now() + jiff::SignedDuration::from_hours(1);
    assert!(matches!(
        store
            .archive_log(later, &dir.path().join("later.zst"))
            .await,
        Err(ArchiveError::Future(_))
    ));

    // A second archive takes the rest; both are read in order.
    let second = dir.path().join("rest.zst");
    let rest = store
        .archive_log(Timestamp::now(), &second)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rest.entries, new.len() as u64);
    assert_eq!(stream_length(&redis, &prefix), 0);
    assert_eq!(store.export().await.unwrap(), exported);
    store.replay(&rules).await.unwrap();
    assert_eq!(points(&store, &events).await, before);

    // A listed archive that is gone stops a replay, which names it, and
    // leaves the served state alone.
    let moved = dir.path().join("moved.zst");
    std::fs::rename(&file, &moved).unwrap();
    // Its path stays taken: a new archive there would hide the old one.
    assert!(matches!(
        store.archive_log(Timestamp::now(), &file).await,
        Err(ArchiveError::Listed(_))
    ));
    let err = store.replay(&rules).await.unwrap_err().to_string();
    assert!(err.contains("log-2026.jsonl.zst"), "{err}");
    assert!(store.export().await.is_err());
    assert_eq!(points(&store, &events).await, before);
    std::fs::rename(&moved, &file).unwrap();
    assert_eq!(store.replay(&rules).await.unwrap().events, events.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_archives_at_once_never_hold_the_same_entry() {
    let redis = RedisServer::start();
    let prefix = prefix("archive-race");
    let (one, two) = (connect(&redis, &prefix), connect(&redis, &prefix));
    let rules = rules();
    let events = activity();
    for chunk in events.chunks(300) {
        one.ingest(&rules, chunk).await.unwrap();
    }
    let exported = one.export().await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let now = Timestamp::now();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.zst"), dir.path().join("b.zst"));
    let (first, second) = tokio::join!(one.archive_log(now, &a), two.archive_log(now, &b));
    let mut archived = 0;
    for (result, file) in [(first, &a), (second, &b)] {
        match result {
            Ok(Some(archive)) => archived += archive.entries,
            Ok(None) | Err(ArchiveError::Conflict) => assert!(!file.exists()),
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(archived, events.len() as u64);
    assert_eq!(stream_length(&redis, &prefix), 0);
    assert_eq!(one.export().await.unwrap(), exported);
    // No partial file is left behind either.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "{left:?}");
}
