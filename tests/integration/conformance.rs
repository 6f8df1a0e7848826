//! The store conformance suite: every test runs against the embedded store
//! and against a real Redis, and both must give the same answers.

use engagement_core::{
    BoardKey, Bucket, Event, EventId, MemberId, Period, Profile, RuleSet, Status, Visibility,
};
use engagement_service::store::{
    EmbeddedStore, Listing, ManualGrant, RedisSettings, RedisStore, Store,
};

use super::support::{RedisCluster, RedisServer, event, event_on, prefix};

const RULES: &str = include_str!("../../rules/knowledge-sharing.toml");
const NOON: &str = "2026-11-20T17:00:00Z";

fn rules() -> RuleSet {
    RuleSet::from_toml(RULES).unwrap()
}

fn ev(v: serde_json::Value) -> Event {
    serde_json::from_value(v).unwrap()
}

fn m(id: &str) -> MemberId {
    MemberId::parse(id).unwrap()
}

fn all_time(board: &str) -> BoardKey {
    BoardKey {
        board: board.into(),
        community: None,
        bucket: Bucket::ALL_TIME,
    }
}

fn listing_for(listing: Listing, rules: &RuleSet, board: &str) -> Listing {
    listing.for_board(rules.leaderboard(board).unwrap())
}

async fn rows<S: Store>(
    store: &S,
    rules: &RuleSet,
    key: &BoardKey,
    offset: u64,
    limit: u64,
) -> (u64, Vec<(u64, Option<String>, i64)>) {
    let listing = listing_for(store.listing().await.unwrap(), rules, &key.board);
    let page = store.page(key, &listing, offset, limit).await.unwrap();
    let rows = page
        .entries
        .into_iter()
        .map(|e| (e.rank, e.member.map(|m| m.to_string()), e.score))
        .collect();
    (page.total, rows)
}

/// `n` answers by `member`, 5 points each (cap 25 a day, so at most 5 a day).
fn answers(member: &str, tag: &str, n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            ev(event(
                &format!("{tag}-{member}-{i}"),
                "answer.posted",
                member,
                NOON,
            ))
        })
        .collect()
}

async fn delivering_an_event_twice_applies_it_once<S: Store>(store: &S) {
    let r = rules();
    let e = ev(event_on(
        "acc-1",
        "answer.accepted",
        "bo",
        NOON,
        "p1",
        "ana",
    ));
    let first = store.ingest(&r, std::slice::from_ref(&e)).await.unwrap();
    let again = store.ingest(&r, std::slice::from_ref(&e)).await.unwrap();
    assert_eq!(first[0].status, Status::Applied);
    assert_eq!(again[0].status, Status::Duplicate);
    assert_eq!(
        again[0].awards().collect::<Vec<_>>(),
        first[0].awards().collect::<Vec<_>>()
    );
    assert_eq!(store.member(&m("ana")).await.unwrap().unwrap().points, 15);
    let in_one_batch = store.ingest(&r, &[e.clone(), e]).await.unwrap();
    assert!(in_one_batch.iter().all(|o| o.status == Status::Duplicate));
    assert_eq!(
        rows(store, &r, &all_time("contributors"), 0, 10).await.1,
        vec![(1, Some("ana".into()), 15)]
    );
}

async fn a_duplicate_inside_one_batch_counts_once<S: Store>(store: &S) {
    let r = rules();
    let e = ev(event("a", "answer.posted", "ana", NOON));
    let out = store.ingest(&r, &[e.clone(), e]).await.unwrap();
    assert_eq!(
        (out[0].status, out[1].status),
        (Status::Applied, Status::Duplicate)
    );
    assert_eq!(store.member(&m("ana")).await.unwrap().unwrap().points, 5);
}

async fn a_revocation_takes_back_points_counts_and_scores<S: Store>(store: &S) {
    let r = rules();
    store.ingest(&r, &answers("ana", "x", 2)).await.unwrap();
    let mut undo = ev(event("undo", "post.deleted", "ana", NOON));
    undo.revokes = Some(EventId::parse("x-ana-0").unwrap());
    let out = store.ingest(&r, &[undo.clone()]).await.unwrap();
    assert_eq!(out[0].awards().map(|a| a.2).collect::<Vec<_>>(), vec![-5]);
    let state = store.member(&m("ana")).await.unwrap().unwrap();
    assert_eq!((state.points, state.counts["answer.posted"].actor), (5, 1));
    assert_eq!(
        rows(store, &r, &all_time("contributors"), 0, 10).await.1,
        vec![(1, Some("ana".into()), 5)]
    );
    // Revoking again, or revoking the revocation, changes nothing.
    let mut twice = undo.clone();
    twice.id = EventId::parse("undo-2").unwrap();
    let mut meta = undo;
    meta.id = EventId::parse("undo-3").unwrap();
    meta.revokes = Some(EventId::parse("undo").unwrap());
    let out = store.ingest(&r, &[twice, meta]).await.unwrap();
    assert!(out.iter().all(|o| o.status == Status::Ignored));
    assert_eq!(store.member(&m("ana")).await.unwrap().unwrap().points, 5);
}

async fn a_revocation_in_the_same_batch_as_its_event_undoes_it<S: Store>(store: &S) {
    let r = rules();
    let like = ev(event_on("like", "post.liked", "bo", NOON, "p", "ana"));
    let mut unlike = ev(event("unlike", "post.unliked", "bo", NOON));
    unlike.revokes = Some(like.id.clone());
    let relike = ev(event_on("relike", "post.liked", "bo", NOON, "p", "ana"));
    let out = store.ingest(&r, &[like, unlike, relike]).await.unwrap();
    let points: Vec<i64> = out.iter().map(|o| o.awards().map(|a| a.2).sum()).collect();
    assert_eq!(points, vec![2, -2, 2]);
    assert_eq!(store.member(&m("ana")).await.unwrap().unwrap().points, 2);
}

async fn equal_scores_share_a_rank_and_whoever_got_there_first_leads<S: Store>(store: &S) {
    let r = rules();
    let mut events = answers("bo", "t", 1);
    events.extend(answers("ana", "t", 1));
    events.push(ev(event("w", "webinar.hosted", "cy", NOON)));
    events.push(ev(event("q", "question.asked", "di", NOON)));
    store.ingest(&r, &events[..2]).await.unwrap();
    store.ingest(&r, &events[2..]).await.unwrap();
    let expected = vec![
        (1, Some("cy".into()), 50),
        (2, Some("bo".into()), 5),
        (2, Some("ana".into()), 5),
        (4, Some("di".into()), 1),
    ];
    let key = all_time("contributors");
    assert_eq!(rows(store, &r, &key, 0, 10).await, (4, expected.clone()));
    assert_eq!(
        rows(store, &r, &key, 2, 2).await,
        (4, expected[2..].to_vec())
    );
    assert_eq!(
        rows(store, &r, &key, 1, 1).await,
        (4, expected[1..2].to_vec())
    );
    assert_eq!(rows(store, &r, &key, 9, 5).await, (4, vec![]));
}

/// In one batch: ana and bo take turns, bo reaches 10 first; then ana
/// passes 10 and bo catches up last. Each tie goes to whoever got there
/// first, on every board bucket the batch touched.
async fn ties_reached_inside_one_batch_go_to_whoever_got_there_first<S: Store>(store: &S) {
    let r = rules();
    let (ana, bo) = (answers("ana", "x", 3), answers("bo", "x", 3));
    let first = vec![ana[0].clone(), bo[0].clone(), bo[1].clone(), ana[1].clone()];
    store.ingest(&r, &first).await.unwrap();
    let key = all_time("contributors");
    let expected = vec![(1, Some("bo".into()), 10), (1, Some("ana".into()), 10)];
    assert_eq!(rows(store, &r, &key, 0, 10).await, (2, expected));
    store
        .ingest(&r, &[ana[2].clone(), bo[2].clone()])
        .await
        .unwrap();
    let expected = vec![(1, Some("ana".into()), 15), (1, Some("bo".into()), 15)];
    assert_eq!(rows(store, &r, &key, 0, 10).await, (2, expected.clone()));
    let day = BoardKey {
        bucket: Bucket::containing(
            Period::Day,
            jiff::civil::date(2026, 11, 20),
            jiff::civil::Weekday::Monday,
        ),
        ..key
    };
    assert_eq!(rows(store, &r, &day, 0, 10).await, (2, expected));
}

async fn a_member_at_zero_leaves_the_board<S: Store>(store: &S) {
    let r = rules();
    store.ingest(&r, &answers("ana", "z", 1)).await.unwrap();
    let mut undo = ev(event("undo", "answer.deleted", "ana", NOON));
    undo.revokes = Some(EventId::parse("z-ana-0").unwrap());
    store.ingest(&r, &[undo]).await.unwrap();
    assert_eq!(
        rows(store, &r, &all_time("contributors"), 0, 10).await,
        (0, vec![])
    );
}

async fn standings_work_at_the_first_the_last_and_among_ties<S: Store>(store: &S) {
    let r = rules();
    // a: 25, b: 15, c: 15, d: 5, e: 5 (answers: 5 points each)
    let mut events = Vec::new();
    for (who, n) in [("a", 5), ("b", 3), ("c", 3), ("d", 1), ("e", 1)] {
        events.extend(answers(who, "s", n));
    }
    store.ingest(&r, &events).await.unwrap();
    let key = all_time("contributors");
    let listing = listing_for(store.listing().await.unwrap(), &r, "contributors");
    let at = |member: &'static str, radius: u64| {
        let listing = listing.clone();
        let key = key.clone();
        async move {
            let s = store
                .standing(&key, &listing, &m(member), radius)
                .await
                .unwrap();
            let around: Vec<(u64, String)> = s
                .entries
                .iter()
                .map(|e| (e.rank, e.member.as_ref().unwrap().to_string()))
                .collect();
            (s.rank, s.score, s.total, around)
        }
    };
    assert_eq!(
        at("a", 1).await,
        (Some(1), 25, 5, vec![(1, "a".into()), (2, "b".into())])
    );
    assert_eq!(
        at("e", 1).await,
        (Some(4), 5, 5, vec![(4, "d".into()), (4, "e".into())])
    );
    assert_eq!(
        at("c", 2).await,
        (
            Some(2),
            15,
            5,
            vec![
                (1, "a".into()),
                (2, "b".into()),
                (2, "c".into()),
                (4, "d".into()),
                (4, "e".into())
            ]
        )
    );
    assert_eq!(at("nobody", 2).await, (None, 0, 5, vec![]));
}

async fn hidden_and_excluded_members_are_not_listed_and_anonymous_ones_have_no_id<S: Store>(
    store: &S,
) {
    let r = rules();
    let mut events = Vec::new();
    for (who, n) in [
        ("top", 5),
        ("staff", 4),
        ("anon", 3),
        ("hid", 2),
        ("low", 1),
    ] {
        events.extend(answers(who, "v", n));
    }
    store.ingest(&r, &events).await.unwrap();
    let set = |visibility, groups: &[&str]| Profile {
        visibility,
        groups: groups.iter().map(|g| g.to_string()).collect(),
        ..Profile::default()
    };
    store
        .set_profile(&m("staff"), set(Visibility::Public, &["staff"]))
        .await
        .unwrap();
    store
        .set_profile(&m("anon"), set(Visibility::Anonymous, &[]))
        .await
        .unwrap();
    store
        .set_profile(&m("hid"), set(Visibility::Hidden, &[]))
        .await
        .unwrap();
    let key = all_time("contributors");
    let expected = vec![
        (1, Some("top".into()), 25),
        (2, None, 15),
        (3, Some("low".into()), 5),
    ];
    assert_eq!(rows(store, &r, &key, 0, 10).await, (3, expected.clone()));
    assert_eq!(
        rows(store, &r, &key, 1, 1).await,
        (3, expected[1..2].to_vec())
    );
    assert_eq!(
        rows(store, &r, &key, 2, 5).await,
        (3, expected[2..].to_vec())
    );
    let listing = listing_for(store.listing().await.unwrap(), &r, "contributors");
    let low = store.standing(&key, &listing, &m("low"), 1).await.unwrap();
    assert_eq!((low.rank, low.total, low.entries.len()), (Some(3), 3, 2));
    let hid = store.standing(&key, &listing, &m("hid"), 1).await.unwrap();
    assert_eq!(hid.rank, None);
    // Staff are excluded from "contributors" only; "answerers" lists everyone.
    let back = Profile::default();
    store.set_profile(&m("staff"), back).await.unwrap();
    assert_eq!(rows(store, &r, &key, 0, 10).await.0, 4);
}

async fn names_come_from_events_and_profiles<S: Store>(store: &S) {
    let r = rules();
    let mut e = event("n1", "answer.posted", "ana", NOON);
    e["actor_name"] = "Ana Souza".into();
    store.ingest(&r, &[ev(e)]).await.unwrap();
    let listing = listing_for(store.listing().await.unwrap(), &r, "contributors");
    let page = store
        .page(&all_time("contributors"), &listing, 0, 1)
        .await
        .unwrap();
    assert_eq!(page.entries[0].name.as_deref(), Some("Ana Souza"));
    let renamed = Profile {
        name: Some("Ana S.".into()),
        ..Profile::default()
    };
    store.set_profile(&m("ana"), renamed).await.unwrap();
    let page = store
        .page(&all_time("contributors"), &listing, 0, 1)
        .await
        .unwrap();
    assert_eq!(page.entries[0].name.as_deref(), Some("Ana S."));
}

async fn the_ledger_lists_awards_newest_first_with_take_backs<S: Store>(store: &S) {
    let r = rules();
    store.ingest(&r, &answers("ana", "l", 2)).await.unwrap();
    let mut undo = ev(event("l-undo", "answer.deleted", "ana", NOON));
    undo.revokes = Some(EventId::parse("l-ana-0").unwrap());
    store.ingest(&r, &[undo]).await.unwrap();
    let ledger = store.ledger(&m("ana"), 10).await.unwrap();
    let lines: Vec<(String, i64, Option<String>)> = ledger
        .iter()
        .map(|l| {
            (
                l.event.to_string(),
                l.points,
                l.revokes.as_ref().map(|r| r.to_string()),
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            ("l-undo".into(), -5, Some("l-ana-0".into())),
            ("l-ana-1".into(), 5, None),
            ("l-ana-0".into(), 5, None),
        ]
    );
    assert!(ledger.iter().all(|l| l.rules_version.as_str() == r.version));
    assert_eq!(store.ledger(&m("ana"), 1).await.unwrap().len(), 1);
}

async fn a_members_time_zone_moves_their_daily_cap_day<S: Store>(store: &S) {
    let r = rules();
    let tz = Profile {
        timezone: Some("Asia/Tokyo".into()),
        ..Profile::default()
    };
    store.set_profile(&m("ana"), tz).await.unwrap();
    // 14:00 and 16:00 UTC are one day in Bogota but two in Tokyo (23:00, 01:00).
    let mut events = Vec::new();
    for (i, at) in ["2026-11-20T14:00:00Z", "2026-11-20T16:00:00Z"]
        .iter()
        .enumerate()
    {
        for j in 0..3 {
            events.push(ev(event(&format!("q{i}{j}"), "question.asked", "ana", at)));
        }
    }
    store.ingest(&r, &events).await.unwrap();
    assert_eq!(store.member(&m("ana")).await.unwrap().unwrap().points, 6);
}

async fn a_manual_badge_is_granted_once<S: Store>(store: &S) {
    let grant = ManualGrant {
        badge: "speaker".into(),
        tier: 0,
        at: NOON.parse().unwrap(),
        reason: Some("keynote at the annual meeting".into()),
    };
    assert!(
        store
            .grant_badge(&rules(), &m("ana"), grant.clone())
            .await
            .unwrap()
    );
    assert!(!store.grant_badge(&rules(), &m("ana"), grant).await.unwrap());
    let state = store.member(&m("ana")).await.unwrap().unwrap();
    assert_eq!(state.badges.len(), 1);
    assert_eq!(
        state.badges[0].reason.as_deref(),
        Some("keynote at the annual meeting")
    );
}

async fn the_log_holds_every_accepted_event_and_profile_change_in_order<S: Store>(store: &S) {
    let r = rules();
    let e1 = ev(event("log-1", "answer.posted", "ana", NOON));
    let unknown = ev(event("log-2", "wiki.edited", "ana", NOON));
    let out = store
        .ingest(&r, &[e1.clone(), unknown.clone(), e1.clone()])
        .await
        .unwrap();
    assert_eq!(out[1].status, Status::Ignored);
    store
        .set_profile(&m("ana"), Profile::default())
        .await
        .unwrap();
    let log = store.export().await.unwrap();
    let kinds: Vec<String> = log
        .iter()
        .map(|entry| match entry {
            engagement_service::store::LogEntry::Event { event } => event.id.to_string(),
            engagement_service::store::LogEntry::Profile { member, .. } => {
                format!("profile:{member}")
            }
            engagement_service::store::LogEntry::Badge { member, .. } => format!("badge:{member}"),
            engagement_service::store::LogEntry::Aliases { member, .. } => {
                format!("aliases:{member}")
            }
        })
        .collect();
    assert_eq!(kinds, vec!["log-1", "log-2", "profile:ana"]);
}

async fn hostile_ids_never_collide<S: Store>(store: &S) {
    let r = rules();
    let ids = ["a:b", "a", "a%3Ab", "}{x}\n y", "😀 名前", &"z".repeat(200)];
    let events: Vec<Event> = ids
        .iter()
        .enumerate()
        .flat_map(|(i, id)| {
            (0..=i).map(move |j| ev(event(&format!("h{i}-{j}"), "answer.posted", id, NOON)))
        })
        .collect();
    store.ingest(&r, &events).await.unwrap();
    for (i, id) in ids.iter().enumerate() {
        let state = store.member(&m(id)).await.unwrap().unwrap();
        // Answers earn 5 each, up to the daily cap of 25.
        assert_eq!(state.points, (5 * (i as i64 + 1)).min(25), "{id:?}");
    }
    let (total, listed) = rows(store, &r, &all_time("contributors"), 0, 10).await;
    assert_eq!(total, ids.len() as u64);
    // Both capped at 25: whoever got there first leads.
    assert_eq!(listed[0].1.as_deref(), Some("😀 名前"));
    assert_eq!(listed[1].1.as_deref(), Some("z".repeat(200).as_str()));
}

async fn periods_and_communities_have_their_own_boards<S: Store>(store: &S) {
    let r = rules();
    let mut oct = event("old", "answer.posted", "ana", "2026-10-10T15:00:00Z");
    oct["community"] = "customs".into();
    let mut nov = event("new", "answer.posted", "bo", NOON);
    nov["community"] = "trade".into();
    store.ingest(&r, &[ev(oct), ev(nov)]).await.unwrap();
    let month = |d: jiff::civil::Date, community: Option<&str>| BoardKey {
        board: "contributors".into(),
        community: community.map(|c| engagement_core::CommunityId::parse(c).unwrap()),
        bucket: Bucket::containing(Period::Month, d, jiff::civil::Weekday::Monday),
    };
    let nov_global = rows(
        store,
        &r,
        &month(jiff::civil::date(2026, 11, 1), None),
        0,
        10,
    )
    .await;
    assert_eq!(nov_global, (1, vec![(1, Some("bo".into()), 5)]));
    let oct_customs = rows(
        store,
        &r,
        &month(jiff::civil::date(2026, 10, 31), Some("customs")),
        0,
        10,
    )
    .await;
    assert_eq!(oct_customs, (1, vec![(1, Some("ana".into()), 5)]));
    let nov_customs = rows(
        store,
        &r,
        &month(jiff::civil::date(2026, 11, 1), Some("customs")),
        0,
        10,
    )
    .await;
    assert_eq!(nov_customs, (0, vec![]));
    assert_eq!(rows(store, &r, &all_time("contributors"), 0, 10).await.0, 2);
}

/// Feeds exported log entries to a fresh in-memory deployment.
fn fed(rules: &RuleSet, log: &[engagement_service::store::LogEntry]) -> engagement_core::Memory {
    let mut memory = engagement_core::Memory::default();
    for entry in log {
        match entry {
            engagement_service::store::LogEntry::Event { event } => {
                memory.ingest(rules, event);
            }
            engagement_service::store::LogEntry::Profile { member, profile } => {
                memory
                    .members
                    .entry(member.clone())
                    .or_default()
                    .set_profile(profile.clone());
            }
            engagement_service::store::LogEntry::Badge { .. }
            | engagement_service::store::LogEntry::Aliases { .. } => {}
        }
    }
    memory
}

async fn a_replay_under_new_rules_matches_a_fresh_deployment_fed_the_log<S: Store>(store: &S) {
    let old = rules();
    let events =
        engagement_service::generate::generate(&engagement_service::generate::GenerateParams {
            members: 60,
            communities: 4,
            days: 10,
            seed: 9,
            start: "2026-11-01T00:00:00Z".parse().unwrap(),
            events: Some(600),
            rings: Vec::new(),
        });
    let (first, rest) = events.split_at(300);
    for chunk in first.chunks(50) {
        store.ingest(&old, chunk).await.unwrap();
    }
    let tz = Profile {
        timezone: Some("Asia/Tokyo".into()),
        ..Profile::default()
    };
    store.set_profile(&events[0].actor, tz).await.unwrap();
    for chunk in rest.chunks(50) {
        store.ingest(&old, chunk).await.unwrap();
    }
    let new = RuleSet::from_toml(&RULES.replace(
        "id = \"answer\"\non = \"answer.posted\"\nto = \"actor\"\npoints = 5",
        "id = \"answer\"\non = \"answer.posted\"\nto = \"actor\"\npoints = 7",
    ))
    .unwrap();
    assert_ne!(new.version, old.version);

    let summary = store.replay(&new).await.unwrap();
    let log = store.export().await.unwrap();
    let expected = fed(&new, &log);
    assert_eq!(
        (summary.events, summary.members),
        (expected.events_seen(), expected.members.len())
    );
    let before_replay = fed(&old, &log);
    let mut moved = 0;
    for (member, state) in &expected.members {
        let got = store.member(member).await.unwrap().unwrap();
        assert_eq!(got.points, state.points, "{member}");
        assert_eq!(got.badges.len(), state.badges.len(), "{member}");
        moved += usize::from(before_replay.members[member].points != state.points);
    }
    assert!(moved > 0, "the new rules changed someone's points");
    let board = all_time("contributors");
    let want: Vec<(u64, Option<String>, i64)> = expected
        .boards
        .ranked(&board, |_| true)
        .take(50)
        .map(|r| (r.rank, Some(r.member.to_string()), r.score))
        .collect();
    assert_eq!(rows(store, &new, &board, 0, 50).await.1, want);
    // Ids seen before the replay are still known, and new events apply on top.
    let again = store.ingest(&new, &events[..1]).await.unwrap();
    assert_eq!(again[0].status, Status::Duplicate);
    let fresh = ev(event("after-replay", "answer.posted", "newcomer", NOON));
    let out = store.ingest(&new, &[fresh]).await.unwrap();
    assert_eq!(out[0].awards().map(|a| a.2).collect::<Vec<_>>(), vec![7]);
    let ledger = store.ledger(&m("newcomer"), 5).await.unwrap();
    assert_eq!(ledger[0].rules_version.as_str(), new.version);
}

async fn aliases_link_ids_to_a_member_and_can_be_replaced<S: Store>(store: &S) {
    let linked = vec![m("discourse:ana"), m("github:ana")];
    assert_eq!(
        store.set_aliases(&m("ana"), linked.clone()).await.unwrap(),
        Ok(())
    );
    let ids = [m("discourse:ana"), m("github:ana"), m("bo")];
    assert_eq!(
        store.resolve_aliases(&ids).await.unwrap(),
        vec![Some(m("ana")), Some(m("ana")), None]
    );
    assert_eq!(store.aliases(&m("ana")).await.unwrap(), linked);
    assert!(store.aliases(&m("bo")).await.unwrap().is_empty());

    let replaced = vec![m("github:ana-s")];
    assert_eq!(
        store
            .set_aliases(&m("ana"), replaced.clone())
            .await
            .unwrap(),
        Ok(())
    );
    assert_eq!(
        store
            .resolve_aliases(&[m("discourse:ana"), m("github:ana-s")])
            .await
            .unwrap(),
        vec![None, Some(m("ana"))]
    );
    assert_eq!(store.aliases(&m("ana")).await.unwrap(), replaced);
    // The released alias can go to someone else now.
    assert_eq!(
        store
            .set_aliases(&m("bo"), vec![m("discourse:ana")])
            .await
            .unwrap(),
        Ok(())
    );
    assert_eq!(
        store.set_aliases(&m("ana"), Vec::new()).await.unwrap(),
        Ok(())
    );
    assert!(store.aliases(&m("ana")).await.unwrap().is_empty());
    assert_eq!(
        store.resolve_aliases(&[m("github:ana-s")]).await.unwrap(),
        vec![None]
    );
}

async fn an_alias_of_another_member_or_a_chain_is_refused_and_changes_nothing<S: Store>(store: &S) {
    use engagement_service::store::AliasRefused;
    store
        .set_aliases(&m("ana"), vec![m("github:ana")])
        .await
        .unwrap()
        .unwrap();
    let taken = store
        .set_aliases(&m("bo"), vec![m("discourse:bo"), m("github:ana")])
        .await
        .unwrap();
    assert_eq!(
        taken,
        Err(AliasRefused::Taken {
            alias: m("github:ana"),
            member: m("ana")
        })
    );
    assert_eq!(
        store.resolve_aliases(&[m("discourse:bo")]).await.unwrap(),
        vec![None]
    );
    assert!(store.aliases(&m("bo")).await.unwrap().is_empty());
    let chained = store
        .set_aliases(&m("github:ana"), vec![m("x")])
        .await
        .unwrap();
    assert!(
        matches!(chained, Err(AliasRefused::IsAlias { .. })),
        "{chained:?}"
    );
    let nested = store.set_aliases(&m("bo"), vec![m("ana")]).await.unwrap();
    assert_eq!(nested, Err(AliasRefused::HasAliases { alias: m("ana") }));
    let log = store.export().await.unwrap();
    let links = log
        .iter()
        .filter(|e| matches!(e, engagement_service::store::LogEntry::Aliases { .. }))
        .count();
    assert_eq!(links, 1, "refused links are not logged");
}

async fn aliases_are_kept_in_the_log_and_through_a_replay<S: Store>(store: &S) {
    let r = rules();
    store.ingest(&r, &answers("ana", "al", 1)).await.unwrap();
    store
        .set_aliases(&m("ana"), vec![m("github:ana")])
        .await
        .unwrap()
        .unwrap();
    let log = store.export().await.unwrap();
    assert_eq!(
        log.last(),
        Some(&engagement_service::store::LogEntry::Aliases {
            member: m("ana"),
            aliases: vec![m("github:ana")],
        })
    );
    store.replay(&r).await.unwrap();
    assert_eq!(
        store.resolve_aliases(&[m("github:ana")]).await.unwrap(),
        vec![Some(m("ana"))]
    );
    assert_eq!(
        store.aliases(&m("ana")).await.unwrap(),
        vec![m("github:ana")]
    );
    assert_eq!(store.member(&m("ana")).await.unwrap().unwrap().points, 5);
}

async fn a_board_lists_the_communities_it_has_scores_in_sorted_and_kept_by_a_replay<S: Store>(
    store: &S,
) {
    let r = rules();
    let mut a = event("c1", "answer.posted", "ana", NOON);
    a["community"] = serde_json::json!("rules-of-origin");
    let mut b = event("c2", "answer.posted", "bo", NOON);
    b["community"] = serde_json::json!("customs");
    // Ignored (a kind the rules do not know): no board scores it.
    let mut c = event("c3", "wiki.edited", "bo", NOON);
    c["community"] = serde_json::json!("zzz");
    // Accepted answers count on `answerers` too, in their community only.
    let mut d = event_on("c4", "answer.accepted", "cy", NOON, "p1", "ana");
    d["community"] = serde_json::json!("trade");
    let events: Vec<Event> = [a, b, c, d].into_iter().map(ev).collect();
    store.ingest(&r, &events).await.unwrap();
    let listed = |l: Vec<engagement_core::CommunityId>| -> Vec<String> {
        l.iter().map(|c| c.to_string()).collect()
    };
    let contributors = vec![
        "customs".to_owned(),
        "rules-of-origin".to_owned(),
        "trade".to_owned(),
    ];
    let answerers = vec!["trade".to_owned()];
    assert_eq!(
        listed(store.communities("contributors").await.unwrap()),
        contributors
    );
    assert_eq!(
        listed(store.communities("answerers").await.unwrap()),
        answerers
    );
    store.replay(&r).await.unwrap();
    assert_eq!(
        listed(store.communities("contributors").await.unwrap()),
        contributors
    );
    assert_eq!(
        listed(store.communities("answerers").await.unwrap()),
        answerers
    );
}

async fn recorded_outcomes_say_which_events_were_revoked<S: Store>(store: &S) {
    let r = rules();
    let like = ev(event_on("o-like", "post.liked", "bo", NOON, "p", "ana"));
    let mut unlike = ev(event("o-unlike", "post.unliked", "bo", NOON));
    unlike.revokes = Some(like.id.clone());
    let answer = ev(event("o-answer", "answer.posted", "ana", NOON));
    store.ingest(&r, &[like, unlike, answer]).await.unwrap();
    let ids = ["o-like", "o-answer", "o-never"].map(|i| EventId::parse(i).unwrap());
    let found = store.outcomes(&ids).await.unwrap();
    let revoked: Vec<Option<bool>> = found
        .iter()
        .map(|o| {
            o.as_ref()
                .map(|o| o.effects.as_ref().is_some_and(|e| e.revoked))
        })
        .collect();
    assert_eq!(revoked, vec![Some(true), Some(false), None]);
    assert!(store.outcomes(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_embedded_store_keeps_aliases_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedStore::open(dir.path(), &rules()).unwrap();
        store
            .set_aliases(&m("ana"), vec![m("discourse:ana")])
            .await
            .unwrap()
            .unwrap();
    }
    let reopened = EmbeddedStore::open(dir.path(), &rules()).unwrap();
    assert_eq!(
        reopened
            .resolve_aliases(&[m("discourse:ana")])
            .await
            .unwrap(),
        vec![Some(m("ana"))]
    );
}

/// A store under test and what keeps it alive.
struct Harness<S> {
    store: S,
    _redis: Option<RedisServer>,
    _dir: Option<tempfile::TempDir>,
}

fn embedded() -> Harness<EmbeddedStore> {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), &rules()).unwrap();
    Harness {
        store,
        _redis: None,
        _dir: Some(dir),
    }
}

fn redis(test: &str) -> Harness<RedisStore> {
    let server = RedisServer::start();
    let store = RedisStore::connect(&RedisSettings {
        url: server.url(),
        prefix: prefix(test),
        retention_days: 90,
        pool_size: 4,
        insights: true,
        fair_play: true,
        min_replicas: 0,
    })
    .unwrap();
    Harness {
        store,
        _redis: Some(server),
        _dir: None,
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod embedded_store {
            $(
                #[tokio::test]
                async fn $name() {
                    let h = super::embedded();
                    super::$name(&h.store).await;
                }
            )*
        }
        mod redis_store {
            $(
                #[tokio::test]
                async fn $name() {
                    let h = super::redis(stringify!($name));
                    super::$name(&h.store).await;
                }
            )*
        }
        /// One cluster for all of them (six servers each would crowd the
        /// machine), each scenario in a deployment of its own.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn every_scenario_passes_on_a_redis_cluster() {
            let cluster = RedisCluster::start();
            let mut shards = std::collections::HashSet::new();
            $(
                let deployment = prefix(stringify!($name));
                shards.insert(cluster.primary_of(&format!("{{{deployment}}}")));
                let store = RedisStore::connect(&RedisSettings {
                    url: cluster.url(),
                    prefix: deployment,
                    retention_days: 90,
                    pool_size: 4,
                    insights: true,
                    fair_play: true,
                    min_replicas: 1,
                })
                .unwrap();
                assert!(store.is_cluster());
                $name(&store).await;
            )*
            // The deployments spread over the primaries.
            assert!(shards.len() > 1, "{shards:?}");
        }
    };
}

conformance!(
    delivering_an_event_twice_applies_it_once,
    a_duplicate_inside_one_batch_counts_once,
    a_revocation_takes_back_points_counts_and_scores,
    a_revocation_in_the_same_batch_as_its_event_undoes_it,
    equal_scores_share_a_rank_and_whoever_got_there_first_leads,
    ties_reached_inside_one_batch_go_to_whoever_got_there_first,
    a_member_at_zero_leaves_the_board,
    standings_work_at_the_first_the_last_and_among_ties,
    hidden_and_excluded_members_are_not_listed_and_anonymous_ones_have_no_id,
    names_come_from_events_and_profiles,
    the_ledger_lists_awards_newest_first_with_take_backs,
    a_members_time_zone_moves_their_daily_cap_day,
    a_manual_badge_is_granted_once,
    the_log_holds_every_accepted_event_and_profile_change_in_order,
    hostile_ids_never_collide,
    periods_and_communities_have_their_own_boards,
    a_replay_under_new_rules_matches_a_fresh_deployment_fed_the_log,
    aliases_link_ids_to_a_member_and_can_be_replaced,
    an_alias_of_another_member_or_a_chain_is_refused_and_changes_nothing,
    aliases_are_kept_in_the_log_and_through_a_replay,
    recorded_outcomes_say_which_events_were_revoked,
    a_board_lists_the_communities_it_has_scores_in_sorted_and_kept_by_a_replay,
);
