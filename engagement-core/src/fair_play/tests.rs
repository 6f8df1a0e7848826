//! The fair-play report (SPEC §9) on small hand-made communities.

use super::*;
use crate::calendar::Bucket;
use crate::event::{Event, Target};
use crate::ids::EventId;
use crate::memory::Memory;

const CANONICAL: &str = include_str!("../../../rules/knowledge-sharing.toml");

fn rules(fair_play: &str) -> RuleSet {
    RuleSet::from_toml(&format!("{CANONICAL}\n[fair_play]\n{fair_play}")).unwrap()
}

fn id(m: &str) -> MemberId {
    MemberId::parse(m).unwrap()
}

/// `actor` likes a fresh post of `author` (2 points to the author).
fn like(n: usize, actor: &str, author: &str, day: u8) -> Event {
    let mut e: Event = serde_json::from_value(serde_json::json!({
        "id": format!("like-{n}"), "kind": "post.liked", "actor": actor,
        "occurred_at": format!("2026-11-{day:02}T17:00:00Z"),
    }))
    .unwrap();
    e.target = Some(Target {
        id: format!("post-{n}"),
        author: Some(id(author)),
    });
    e
}

fn month() -> Bucket {
    Bucket::containing(
        Period::Month,
        jiff::civil::date(2026, 11, 1),
        jiff::civil::Weekday::Monday,
    )
}

fn memory() -> Memory {
    let mut m = Memory::default();
    m.fair_play = Some(Box::default());
    m
}

/// Feeds `likes` as (actor, author) pairs, one a day cycling through the month.
fn feed(r: &RuleSet, m: &mut Memory, likes: &[(&str, &str)]) {
    for (n, (actor, author)) in likes.iter().enumerate() {
        m.ingest(r, &like(n, actor, author, 1 + (n % 28) as u8));
    }
}

fn report(r: &RuleSet, m: &Memory) -> Report {
    m.fair_play.as_ref().unwrap().report(r, &month())
}

fn pairs(report: &Report) -> Vec<(String, String, u64, i64, f64)> {
    (report.pairs.iter())
        .map(|p| {
            (
                p.from.to_string(),
                p.to.to_string(),
                p.events,
                p.points,
                p.share,
            )
        })
        .collect()
}

fn rings(report: &Report) -> Vec<(Vec<String>, u64)> {
    (report.rings.iter())
        .map(|r| (r.members.iter().map(|m| m.to_string()).collect(), r.events))
        .collect()
}

#[test]
fn a_pair_is_listed_at_enough_events_and_a_large_enough_share() {
    let r = rules("ring_min_events = 3\nring_min_share = 0.5\n");
    let mut m = memory();
    // bo: 3 of 4 point-giving likes to ana (0.75); cy: 3 of 7 to ana (0.43);
    // di: 2 of 2 to ana (too few).
    let mut likes = vec![("bo", "ana"); 3];
    likes.push(("bo", "ed"));
    likes.extend([("cy", "ana"); 3]);
    likes.extend([("cy", "ed"), ("cy", "fa"), ("cy", "gu"), ("cy", "hu")]);
    likes.extend([("di", "ana"); 2]);
    feed(&r, &mut m, &likes);
    let got = report(&r, &m);
    assert_eq!(pairs(&got), vec![("bo".into(), "ana".into(), 3, 6, 0.75)]);
    assert!(got.rings.is_empty());
    assert_eq!(
        (got.bucket.start.as_deref(), got.bucket.end.as_deref()),
        (Some("2026-11-01"), Some("2026-12-01"))
    );
}

#[test]
fn a_ring_of_three_and_a_mutual_pair_are_found_once_each() {
    let r = rules("ring_min_events = 2\nring_min_share = 0.5\n");
    let mut m = memory();
    let mut likes = Vec::new();
    for _ in 0..3 {
        likes.extend([("zoe", "kim"), ("kim", "max"), ("max", "zoe")]);
    }
    likes.extend([
        ("ana", "bo"),
        ("bo", "ana"),
        ("ana", "bo"),
        ("bo", "ana"),
        ("bo", "ana"),
    ]);
    // Ordinary traffic: many givers, each liking many.
    for g in ["g1", "g2", "g3", "g4"] {
        for a in ["ana", "bo", "kim", "max", "zoe", "p1", "p2", "p3"] {
            likes.push((g, a));
        }
    }
    feed(&r, &mut m, &likes);
    let got = report(&r, &m);
    assert_eq!(
        pairs(&got),
        vec![
            ("bo".into(), "ana".into(), 3, 6, 1.0),
            ("kim".into(), "max".into(), 3, 6, 1.0),
            ("max".into(), "zoe".into(), 3, 6, 1.0),
            ("zoe".into(), "kim".into(), 3, 6, 1.0),
            ("ana".into(), "bo".into(), 2, 4, 1.0),
        ]
    );
    assert_eq!(
        rings(&got),
        vec![
            (vec!["kim".into(), "max".into(), "zoe".into()], 9),
            (vec!["ana".into(), "bo".into()], 5),
        ]
    );
}

#[test]
fn a_revoked_event_leaves_its_pair_and_the_report_follows() {
    let r = rules("ring_min_events = 3\nring_min_share = 0.5\n");
    let mut m = memory();
    feed(&r, &mut m, &[("bo", "ana"); 3]);
    assert_eq!(report(&r, &m).pairs.len(), 1);
    let undo: Event = serde_json::from_value(serde_json::json!({
        "id": revocation_id("like-0"), "kind": "fair_play.revoked", "actor": "bo",
        "occurred_at": "2026-12-02T10:00:00Z", "revokes": "like-0",
    }))
    .unwrap();
    m.ingest(&r, &undo);
    assert!(report(&r, &m).pairs.is_empty());
    let pairs = m.fair_play.as_ref().unwrap();
    // The revoked event is no longer one of the pair's; the others are.
    let outcome = |n: &str| m.outcome(&EventId::parse(n).unwrap()).unwrap();
    assert!(!pair_event(
        &r,
        outcome("like-0"),
        &id("bo"),
        &id("ana"),
        &month()
    ));
    assert!(pair_event(
        &r,
        outcome("like-1"),
        &id("bo"),
        &id("ana"),
        &month()
    ));
    assert!(!pair_event(
        &r,
        outcome("like-1"),
        &id("ana"),
        &id("bo"),
        &month()
    ));
    let december = Bucket::containing(
        Period::Month,
        jiff::civil::date(2026, 12, 1),
        jiff::civil::Weekday::Monday,
    );
    assert!(!pair_event(
        &r,
        outcome("like-1"),
        &id("bo"),
        &id("ana"),
        &december
    ));
    assert!(pairs.report(&r, &december).pairs.is_empty());
}

#[test]
fn events_that_earn_only_the_actor_or_nothing_make_no_pair() {
    let r = rules("ring_min_events = 1\nring_min_share = 0.1\n");
    let mut m = memory();
    // Liking one's own post pays nobody (not_self); answering pays the actor.
    feed(&r, &mut m, &[("ana", "ana")]);
    let answer: Event = serde_json::from_value(serde_json::json!({
        "id": "a1", "kind": "answer.posted", "actor": "ana",
        "occurred_at": "2026-11-03T17:00:00Z",
    }))
    .unwrap();
    m.ingest(&r, &answer);
    assert!(report(&r, &m).pairs.is_empty());
}

#[test]
fn revocation_ids_name_the_event_and_stay_within_200_bytes() {
    assert_eq!(revocation_id("forum:post:9"), "fair-play:forum:post:9");
    let long = "x".repeat(195);
    let id = revocation_id(&long);
    assert!(id.starts_with("fair-play#:") && id.len() <= 200, "{id}");
    assert!(reserved(&id) && reserved("fair-play:x") && !reserved("fair-playground"));
    assert_eq!(id, revocation_id(&long), "stable");
}

#[test]
fn a_week_read_from_its_days_reports_what_a_kept_week_does() {
    let r = rules("ring_min_events = 2\nring_min_share = 0.5\n");
    let mut every = memory();
    let mut compact = Memory::default();
    compact.fair_play = Some(Box::new(Pairs::compact()));
    // A mutual pair and a ring, one like a day over November, so that each
    // pair reaches two events in a week only over several days; and a like
    // taken back.
    let mut likes = Vec::new();
    for _ in 0..4 {
        likes.extend([("zoe", "kim"), ("kim", "max"), ("max", "zoe")]);
        likes.extend([("ana", "bo"), ("bo", "ana"), ("g1", "ana")]);
    }
    feed(&r, &mut every, &likes);
    feed(&r, &mut compact, &likes);
    let mut undo = like(0, "zoe", "kim", 1);
    undo.id = EventId::parse("undo-0").unwrap();
    undo.revokes = Some(EventId::parse("like-0").unwrap());
    every.ingest(&r, &undo);
    compact.ingest(&r, &undo);
    let days = compact.fair_play.as_deref().unwrap();
    let kept = every.fair_play.as_deref().unwrap();
    let mut listed = 0;
    // Every week touching November, the first and the last across months.
    for day in [1, 2, 9, 16, 23, 30] {
        let week = Bucket::containing(
            Period::Week,
            jiff::civil::date(2026, 11, day),
            jiff::civil::Weekday::Monday,
        );
        let got = days.report(&r, &week);
        assert_eq!(got, kept.report(&r, &week), "week of November {day}");
        listed += got.pairs.len();
    }
    assert!(listed > 0, "some pair reaches two events in a week");
    // Weeks are not kept: only days and months.
    assert!(days.tallies().all(|(b, _, _)| b.period != Period::Week));
    assert_eq!(days.report(&r, &month()), kept.report(&r, &month()));
}
