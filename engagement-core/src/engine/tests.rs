//! One test per rule of SPEC §4, with hand-worked expectations.

use super::*;
use crate::calendar::{Bucket, Period};
use crate::memory::Memory;
use crate::rules::RuleSet;
use crate::rules::Stage;
use crate::state::Profile;

mod explain;
mod fair_play;

const CANONICAL: &str = include_str!("../../../rules/knowledge-sharing.toml");

fn rules() -> RuleSet {
    RuleSet::from_toml(CANONICAL).unwrap()
}

fn ev(id: &str, kind: &str, actor: &str, at: &str) -> Event {
    serde_json::from_value(serde_json::json!({
        "id": id, "kind": kind, "actor": actor, "occurred_at": at,
    }))
    .unwrap()
}

fn on(mut e: Event, target: &str, author: &str) -> Event {
    e.target = Some(crate::event::Target {
        id: target.to_owned(),
        author: Some(MemberId::parse(author).unwrap()),
    });
    e
}

fn inside(mut e: Event, community: &str) -> Event {
    e.community = Some(CommunityId::parse(community).unwrap());
    e
}

fn revoking(id: &str, revoked: &str, at: &str) -> Event {
    let mut e = ev(id, "answer.unaccepted", "admin", at);
    e.revokes = Some(crate::ids::EventId::parse(revoked).unwrap());
    e
}

fn points(m: &Memory, member: &str) -> i64 {
    m.members.get(&id(member)).map_or(0, |s| s.points)
}

fn id(member: &str) -> MemberId {
    MemberId::parse(member).unwrap()
}

/// Every leaderboard change `o` makes, in the order they are handed over.
fn increments<'a>(o: &'a Outcome, r: &'a RuleSet) -> Vec<Increment<'a>> {
    let mut out = Vec::new();
    o.for_each_increment(r, |inc| out.push(inc));
    out
}

fn awarded(o: &Outcome) -> Vec<i64> {
    o.awards().map(|(_, _, p)| p).collect()
}

const NOON: &str = "2026-11-20T17:00:00Z"; // noon in Bogota

#[test]
fn daily_cap_cuts_the_award_that_crosses_it() {
    // answer: 5 points, cap 25 → the sixth answer of the day gets 0.
    let (r, mut m) = (rules(), Memory::default());
    let got: Vec<Vec<i64>> = (0..6)
        .map(|i| awarded(&m.ingest(&r, &ev(&format!("a{i}"), "answer.posted", "ana", NOON))))
        .collect();
    assert_eq!(
        got,
        vec![vec![5], vec![5], vec![5], vec![5], vec![5], vec![]]
    );
    assert_eq!(points(&m, "ana"), 25);
}

#[test]
fn cap_30_with_four_shares_of_10_gives_10_10_10_0() {
    let src = CANONICAL.replace("points = 5\nchance = 0.10", "points = 5\nchance = 0.000001");
    let r = RuleSet::from_toml(&src).unwrap();
    let mut m = Memory::default();
    let got: Vec<i64> = (0..4)
        .map(|i| {
            awarded(&m.ingest(&r, &ev(&format!("s{i}"), "resource.shared", "ana", NOON)))
                .iter()
                .sum()
        })
        .collect();
    assert_eq!(got, vec![10, 10, 10, 0]);
}

#[test]
fn a_partial_award_fills_the_cap_exactly() {
    let src = CANONICAL.replace("points = 1\ndaily_cap = 3", "points = 2\ndaily_cap = 3");
    let (r, mut m) = (RuleSet::from_toml(&src).unwrap(), Memory::default());
    let got: Vec<Vec<i64>> = (0..3)
        .map(|i| awarded(&m.ingest(&r, &ev(&format!("q{i}"), "question.asked", "ana", NOON))))
        .collect();
    assert_eq!(got, vec![vec![2], vec![1], vec![]]);
}

#[test]
fn daily_caps_reset_on_the_recipients_local_day() {
    let (r, mut m) = (rules(), Memory::default());
    // 23:30 and 00:30 Bogota time are two days; in UTC both are the same day.
    for (i, at) in ["2026-11-21T04:30:00Z", "2026-11-21T05:30:00Z"]
        .iter()
        .enumerate()
    {
        for j in 0..3 {
            m.ingest(&r, &ev(&format!("q{i}{j}"), "question.asked", "ana", at));
        }
    }
    assert_eq!(points(&m, "ana"), 6);
    let mut utc = Memory::default();
    utc.members
        .entry(MemberId::parse("ana").unwrap())
        .or_default()
        .set_profile(Profile {
            timezone: Some("UTC".into()),
            ..Profile::default()
        });
    for (i, at) in ["2026-11-21T04:30:00Z", "2026-11-21T05:30:00Z"]
        .iter()
        .enumerate()
    {
        for j in 0..3 {
            utc.ingest(&r, &ev(&format!("q{i}{j}"), "question.asked", "ana", at));
        }
    }
    assert_eq!(points(&utc, "ana"), 3);
}

#[test]
fn a_second_like_by_the_same_member_on_the_same_post_gives_no_award() {
    let (r, mut m) = (rules(), Memory::default());
    let first = m.ingest(&r, &on(ev("l1", "post.liked", "bo", NOON), "post-1", "ana"));
    let second = m.ingest(&r, &on(ev("l2", "post.liked", "bo", NOON), "post-1", "ana"));
    let other_post = m.ingest(&r, &on(ev("l3", "post.liked", "bo", NOON), "post-2", "ana"));
    assert_eq!(
        (awarded(&first), awarded(&second), awarded(&other_post)),
        (vec![2], vec![], vec![2])
    );
    assert_eq!(m.members[&id("ana")].counts["post.liked"].received, 3);
}

#[test]
fn not_self_gives_nothing_for_accepting_your_own_answer() {
    let (r, mut m) = (rules(), Memory::default());
    let o = m.ingest(
        &r,
        &on(ev("acc", "answer.accepted", "ana", NOON), "post-1", "ana"),
    );
    assert_eq!(o.status, Status::Applied);
    assert!(awarded(&o).is_empty());
    assert_eq!(
        m.members[&id("ana")].counts["answer.accepted"],
        crate::state::Count {
            actor: 1,
            received: 0
        }
    );
}

#[test]
fn target_author_rules_credit_the_author_and_no_author_means_no_award() {
    let (r, mut m) = (rules(), Memory::default());
    let o = m.ingest(
        &r,
        &on(ev("acc", "answer.accepted", "bo", NOON), "post-1", "ana"),
    );
    assert_eq!(
        o.awards()
            .map(|(m, _, p)| (m.as_str(), p))
            .collect::<Vec<_>>(),
        vec![("ana", 15)]
    );
    let lonely = m.ingest(&r, &ev("acc2", "answer.accepted", "bo", NOON));
    assert!(awarded(&lonely).is_empty());
}

#[test]
fn community_limited_rules_fire_only_in_their_communities() {
    let (r, mut m) = (rules(), Memory::default());
    let inside_one = m.ingest(
        &r,
        &inside(ev("c1", "resource.curated", "ana", NOON), "rules-of-origin"),
    );
    let outside = m.ingest(
        &r,
        &inside(ev("c2", "resource.curated", "ana", NOON), "customs"),
    );
    let nowhere = m.ingest(&r, &ev("c3", "resource.curated", "ana", NOON));
    assert_eq!(
        (awarded(&inside_one), awarded(&outside), awarded(&nowhere)),
        (vec![4], vec![], vec![])
    );
}

#[test]
fn chance_is_decided_by_the_event_id_and_is_stable() {
    let hits = (0..2000)
        .filter(|i| fires(&format!("e{i}"), "surprise-bonus", 0.10))
        .count();
    assert!((150..=250).contains(&hits), "{hits}");
    assert_eq!(
        fires("e1", "surprise-bonus", 0.1),
        fires("e1", "surprise-bonus", 0.1)
    );
    assert!(fires("anything", "r", 1.0));
}

#[test]
fn rules_fire_in_file_order_and_unknown_kinds_are_ignored() {
    let (r, mut m) = (rules(), Memory::default());
    let id = (0..)
        .map(|i| format!("s{i}"))
        .find(|id| fires(id, "surprise-bonus", 0.10))
        .unwrap();
    let o = m.ingest(&r, &ev(&id, "resource.shared", "ana", NOON));
    let rules_fired: Vec<&str> = o.awards().map(|(_, rule, _)| rule).collect();
    assert_eq!(rules_fired, vec!["share-resource", "surprise-bonus"]);
    let unknown = m.ingest(&r, &ev("x", "wiki.edited", "ana", NOON));
    assert_eq!(
        (unknown.status, unknown.effects.is_none()),
        (Status::Ignored, true)
    );
}

#[test]
fn counts_add_one_for_the_actor_and_one_received_for_another_author() {
    let (r, mut m) = (rules(), Memory::default());
    m.ingest(&r, &on(ev("a1", "answer.posted", "ana", NOON), "q-1", "bo"));
    m.ingest(
        &r,
        &on(ev("a2", "answer.posted", "ana", NOON), "q-2", "ana"),
    );
    assert_eq!(
        m.members[&id("ana")].counts["answer.posted"],
        crate::state::Count {
            actor: 2,
            received: 0
        }
    );
    assert_eq!(
        m.members[&id("bo")].counts["answer.posted"],
        crate::state::Count {
            actor: 0,
            received: 1
        }
    );
    assert_eq!(m.members[&id("ana")].stages.get(Stage::Disseminate), 2);
}

#[test]
fn a_duplicate_delivery_changes_nothing_and_returns_the_first_outcome() {
    let (r, mut m) = (rules(), Memory::default());
    let e = ev("a1", "answer.posted", "ana", NOON);
    let first = m.ingest(&r, &e);
    let again = m.ingest(&r, &e);
    assert_eq!(
        (again.status, awarded(&again)),
        (Status::Duplicate, awarded(&first))
    );
    assert_eq!(points(&m, "ana"), 5);
    assert_eq!(m.members[&id("ana")].counts["answer.posted"].actor, 1);
}

#[test]
fn badge_tiers_are_granted_once_in_order_and_never_taken_back() {
    let (r, mut m) = (rules(), Memory::default());
    let mut grants = Vec::new();
    for i in 0..10 {
        let o = m.ingest(
            &r,
            &on(
                ev(&format!("acc{i}"), "answer.accepted", "bo", NOON),
                &format!("p{i}"),
                "ana",
            ),
        );
        grants.extend(o.badges.into_iter().map(|b| (b.badge.to_string(), b.tier)));
    }
    let mentor: Vec<_> = grants.iter().filter(|(b, _)| b == "mentor").collect();
    assert_eq!(
        mentor,
        vec![
            &("mentor".to_owned(), Some("bronze".to_owned())),
            &("mentor".to_owned(), Some("silver".to_owned()))
        ]
    );
    assert!(grants.contains(&("centurion".to_owned(), None)));
    m.ingest(&r, &revoking("un9", "acc9", NOON));
    assert_eq!(m.members[&id("ana")].tiers_held("mentor"), 2);
    assert_eq!(m.members[&id("ana")].counts["answer.accepted"].received, 9);
}

#[test]
fn first_share_speaker_and_silo_breaker_badges_follow_their_criteria() {
    let (r, mut m) = (rules(), Memory::default());
    let o = m.ingest(&r, &ev("s1", "resource.shared", "ana", NOON));
    assert!(o.badges.iter().any(|b| &*b.badge == "first-share"));
    let o = m.ingest(&r, &ev("w1", "webinar.hosted", "ana", NOON));
    assert!(o.badges.iter().any(|b| &*b.badge == "speaker"));
    let mut silo = Vec::new();
    for (i, c) in ["a", "b", "b", "c"].iter().enumerate() {
        let o = m.ingest(
            &r,
            &inside(ev(&format!("ans{i}"), "answer.posted", "ana", NOON), c),
        );
        silo.push(o.badges.iter().any(|b| &*b.badge == "silo-breaker"));
    }
    assert_eq!(silo, vec![false, false, false, true]);
}

#[test]
fn full_cycle_needs_one_action_of_every_stage() {
    let (r, mut m) = (rules(), Memory::default());
    let kinds = [
        "webinar.hosted",
        "question.asked",
        "resource.shared",
        "resource.curated",
        "answer.posted",
    ];
    for (i, k) in kinds.iter().enumerate() {
        let o = m.ingest(&r, &ev(&format!("k{i}"), k, "ana", NOON));
        assert!(!o.badges.iter().any(|b| &*b.badge == "full-cycle"));
    }
    let o = m.ingest(&r, &on(ev("use", "post.liked", "ana", NOON), "p", "bo"));
    assert!(
        o.badges
            .iter()
            .any(|b| b.member.as_str() == "ana" && &*b.badge == "full-cycle")
    );
}

#[test]
fn steady_badge_comes_with_a_seven_day_streak() {
    let (r, mut m) = (rules(), Memory::default());
    let mut got = Vec::new();
    for d in 1..=7 {
        let o = m.ingest(
            &r,
            &ev(
                &format!("q{d}"),
                "question.asked",
                "ana",
                &format!("2026-11-{d:02}T15:00:00Z"),
            ),
        );
        got.push(o.badges.iter().any(|b| &*b.badge == "steady"));
    }
    assert_eq!(got, vec![false, false, false, false, false, false, true]);
    assert_eq!(m.members[&id("ana")].streak.freezes, 1);
}

#[test]
fn a_streak_runs_across_a_dst_change_in_the_members_time_zone() {
    let (r, mut m) = (rules(), Memory::default());
    m.members
        .entry(MemberId::parse("ana").unwrap())
        .or_default()
        .set_profile(Profile {
            timezone: Some("Europe/Madrid".into()),
            ..Profile::default()
        });
    // Clocks go back on 2026-10-25 in Madrid; 23:30 local each night.
    let nights = [
        "2026-10-24T21:30:00Z",
        "2026-10-25T22:30:00Z",
        "2026-10-26T22:30:00Z",
    ];
    for (i, at) in nights.iter().enumerate() {
        m.ingest(&r, &ev(&format!("q{i}"), "question.asked", "ana", at));
    }
    let s = m.members[&id("ana")].streak;
    assert_eq!(
        (s.current, s.last_active.map(|d| d.to_string())),
        (3, Some("2026-10-26".into()))
    );
}

#[test]
fn events_that_do_not_count_for_streaks_leave_them_alone() {
    let (r, mut m) = (rules(), Memory::default());
    m.ingest(&r, &on(ev("l", "post.liked", "ana", NOON), "p", "bo"));
    assert_eq!(m.members[&id("ana")].streak.current, 0);
}

#[test]
fn levels_follow_points_up_and_down() {
    let (r, mut m) = (rules(), Memory::default());
    let o = m.ingest(&r, &ev("w1", "webinar.hosted", "ana", NOON));
    assert_eq!(
        *o.level_ups,
        [LevelUp {
            member: MemberId::parse("ana").unwrap(),
            level: "Active".into()
        }]
    );
    m.ingest(&r, &revoking("r", "w1", NOON));
    assert_eq!(
        r.levels[r.level_index(points(&m, "ana"))].name,
        "Peripheral"
    );
}

#[test]
fn a_revoke_restores_cap_room_the_same_day() {
    let (r, mut m) = (rules(), Memory::default());
    for i in 0..5 {
        m.ingest(&r, &ev(&format!("a{i}"), "answer.posted", "ana", NOON));
    }
    assert!(awarded(&m.ingest(&r, &ev("a5", "answer.posted", "ana", NOON))).is_empty());
    let undo = m.ingest(&r, &revoking("del", "a0", NOON));
    assert_eq!(awarded(&undo), vec![-5]);
    assert_eq!(
        awarded(&m.ingest(&r, &ev("a6", "answer.posted", "ana", NOON))),
        vec![5]
    );
    assert_eq!(points(&m, "ana"), 25);
}

#[test]
fn unlike_then_like_again_earns_once() {
    let (r, mut m) = (rules(), Memory::default());
    m.ingest(&r, &on(ev("l1", "post.liked", "bo", NOON), "p", "ana"));
    m.ingest(&r, &revoking("u1", "l1", NOON));
    let again = m.ingest(&r, &on(ev("l2", "post.liked", "bo", NOON), "p", "ana"));
    assert_eq!(awarded(&again), vec![2]);
    assert_eq!(points(&m, "ana"), 2);
}

#[test]
fn revoking_unknown_ignored_revoked_or_revocation_events_changes_nothing() {
    let (r, mut m) = (rules(), Memory::default());
    m.ingest(&r, &ev("a", "answer.posted", "ana", NOON));
    m.ingest(&r, &ev("x", "wiki.edited", "ana", NOON));
    m.ingest(&r, &revoking("r1", "a", NOON));
    for (id, target) in [("r2", "nope"), ("r3", "x"), ("r4", "a"), ("r5", "r1")] {
        let o = m.ingest(&r, &revoking(id, target, NOON));
        assert_eq!((id, o.status), (id, Status::Ignored));
    }
    assert_eq!(points(&m, "ana"), 0);
    assert_eq!(m.members[&id("ana")].counts["answer.posted"].actor, 0);
}

#[test]
fn a_revoke_undoes_counts_stages_and_communities_but_not_streaks() {
    let (r, mut m) = (rules(), Memory::default());
    m.ingest(&r, &inside(ev("a", "answer.posted", "ana", NOON), "c1"));
    m.ingest(&r, &revoking("r", "a", NOON));
    let s = &m.members[&id("ana")];
    assert_eq!(
        (
            s.counts["answer.posted"].actor,
            s.stages.get(Stage::Disseminate)
        ),
        (0, 0)
    );
    assert!(s.communities["answer.posted"].is_empty());
    assert_eq!(s.streak.current, 1);
}

#[test]
fn leaderboard_increments_cover_every_period_and_both_scopes() {
    let r = rules();
    let mut members = HashMap::new();
    let o = r.apply(
        &mut members,
        &inside(
            on(ev("acc", "answer.accepted", "bo", NOON), "p", "ana"),
            "c1",
        ),
        None,
    );
    let incs = increments(&o, &r);
    let contributors = incs.iter().filter(|i| i.board == "contributors").count();
    let answerers = incs.iter().filter(|i| i.board == "answerers").count();
    assert_eq!((contributors, answerers), (12, 4));
    assert!(incs.iter().all(|i| i.member.as_str() == "ana"));
    let week = incs
        .iter()
        .find(|i| i.bucket.period == Period::Week)
        .unwrap();
    assert_eq!(
        week.bucket.start.map(|d| d.to_string()),
        Some("2026-11-16".into())
    );
}

#[test]
fn period_buckets_use_the_engine_time_zone() {
    let r = rules();
    let mut members = HashMap::new();
    // 03:00 UTC on the 1st of December is still November 30th in Bogota.
    let o = r.apply(
        &mut members,
        &ev("a", "answer.posted", "ana", "2026-12-01T03:00:00Z"),
        None,
    );
    let month = increments(&o, &r)
        .into_iter()
        .find(|i| i.bucket.period == Period::Month)
        .unwrap();
    assert_eq!(month.bucket.label(), "m2026-11");
}

#[test]
fn boards_share_ranks_and_list_whoever_reached_a_score_first() {
    let (r, mut m) = (rules(), Memory::default());
    m.ingest(&r, &ev("1", "answer.posted", "bo", NOON));
    m.ingest(&r, &ev("2", "answer.posted", "ana", NOON));
    m.ingest(&r, &ev("3", "webinar.hosted", "cy", NOON));
    m.ingest(&r, &ev("4", "question.asked", "di", NOON));
    let key = crate::board::BoardKey {
        board: "contributors".into(),
        community: None,
        bucket: Bucket::ALL_TIME,
    };
    let rows: Vec<(u64, String, i64)> = m
        .boards
        .ranked(&key, |_| true)
        .map(|e| (e.rank, e.member.to_string(), e.score))
        .collect();
    assert_eq!(
        rows,
        vec![
            (1, "cy".into(), 50),
            (2, "bo".into(), 5),
            (2, "ana".into(), 5),
            (4, "di".into(), 1)
        ]
    );
    m.ingest(&r, &revoking("r", "4", NOON));
    assert_eq!(
        m.boards.ranked(&key, |_| true).count(),
        3,
        "a member at zero leaves the board"
    );
    let listed: Vec<u64> = m
        .boards
        .ranked(&key, |id| id.as_str() != "cy")
        .map(|e| e.rank)
        .collect();
    assert_eq!(listed, vec![1, 1]);
}

#[test]
fn revoking_takes_scores_out_of_the_revoked_events_own_buckets() {
    let (r, mut m) = (rules(), Memory::default());
    m.ingest(
        &r,
        &inside(
            ev("a", "answer.posted", "ana", "2026-10-10T15:00:00Z"),
            "c1",
        ),
    );
    m.ingest(&r, &revoking("r", "a", NOON));
    let oct = Bucket::containing(
        Period::Month,
        jiff::civil::date(2026, 10, 10),
        jiff::civil::Weekday::Monday,
    );
    for community in [None, Some(CommunityId::parse("c1").unwrap())] {
        let key = crate::board::BoardKey {
            board: "contributors".into(),
            community,
            bucket: oct,
        };
        assert_eq!(m.boards.score(&key, &MemberId::parse("ana").unwrap()), 0);
    }
}

#[test]
fn actor_names_from_events_become_display_names() {
    let (r, mut m) = (rules(), Memory::default());
    let mut e = ev("a", "answer.posted", "ana", NOON);
    e.actor_name = Some("Ana Souza".into());
    m.ingest(&r, &e);
    assert_eq!(
        m.members[&id("ana")].profile.name.as_deref(),
        Some("Ana Souza")
    );
}

/// An acceptance whose acceptor the platform did not name.
fn unattributed_acceptance(id: &str, author: &str) -> Event {
    let mut e = on(ev(id, "answer.accepted", "forum", NOON), "post-9", author);
    e.actor_unknown = true;
    e
}

#[test]
fn an_event_without_a_known_actor_credits_the_target_author_and_nobody_else() {
    let mut r = rules();
    // A rule paying the actor as well: it must not fire without one.
    let mut thanks = r.points[r.rules_by_action[r.action("answer.accepted").unwrap()][0]].clone();
    thanks.id = Name::new("thanks");
    thanks.to = Role::Actor;
    r.rules_by_action[thanks.on].push(r.points.len());
    r.points.push(thanks);
    let mut m = Memory::default();
    let outcome = m.ingest(&r, &unattributed_acceptance("acc", "ana"));
    assert_eq!(
        outcome.awards().collect::<Vec<_>>(),
        vec![(&MemberId::parse("ana").unwrap(), "accepted", 15)]
    );
    assert_eq!(m.members[&id("ana")].counts["answer.accepted"].received, 1);
    assert!(
        !m.members.contains_key(&id("forum")),
        "the placeholder actor has no state"
    );
    let event = unattributed_acceptance("acc", "ana");
    assert_eq!(
        members_touched(&event, None),
        vec![MemberId::parse("ana").unwrap()]
    );
    let boards: Vec<&str> = increments(&outcome, &r)
        .iter()
        .map(|i| i.member.as_str())
        .collect();
    assert!(boards.iter().all(|m| *m == "ana"), "{boards:?}");
    assert!(boards.len() > 1, "points and answerers boards move");
}

#[test]
fn revoking_an_event_without_a_known_actor_takes_back_only_what_the_author_got() {
    let (r, mut m) = (rules(), Memory::default());
    m.ingest(&r, &unattributed_acceptance("acc", "ana"));
    let undo = m.ingest(&r, &revoking("unacc", "acc", NOON));
    assert_eq!(awarded(&undo), vec![-15]);
    assert_eq!(points(&m, "ana"), 0);
    assert_eq!(m.members[&id("ana")].counts["answer.accepted"].received, 0);
    assert!(!m.members.contains_key(&id("forum")));
}

#[test]
fn a_badge_a_new_rule_file_puts_within_reach_is_granted_on_the_members_next_event_of_any_kind() {
    // Three likes received: short of "helpful" (10) under the canonical file.
    let (old, mut m) = (rules(), Memory::default());
    for i in 0..3 {
        let like = on(
            ev(&format!("l{i}"), "post.liked", "bo", NOON),
            &format!("p{i}"),
            "ana",
        );
        m.ingest(&old, &like);
    }
    assert_eq!(m.members[&id("ana")].tiers_held("helpful"), 0);
    let new = RuleSet::from_toml(&CANONICAL.replace(
        r#"{ name = "bronze", at_least = 10 },
  { name = "silver", at_least = 100 },"#,
        r#"{ name = "bronze", at_least = 3 },
  { name = "silver", at_least = 100 },"#,
    ))
    .unwrap();
    // Ana's next event has nothing to do with likes.
    let outcome = m.ingest(&new, &ev("w1", "webinar.attended", "ana", NOON));
    let granted: Vec<(&str, Option<&str>)> = (outcome.badges.iter())
        .map(|b| (b.badge.as_str(), b.tier.as_deref()))
        .collect();
    assert!(
        granted.contains(&("helpful", Some("bronze"))),
        "{granted:?}"
    );
}

#[test]
fn held_tiers_are_counted_again_under_a_new_rule_file_and_after_a_grant_by_hand() {
    let (r, mut m) = (rules(), Memory::default());
    let accepted = |i: usize| {
        on(
            ev(&format!("acc{i}"), "answer.accepted", "bo", NOON),
            &format!("p{i}"),
            "ana",
        )
    };
    let mentor = |o: &Outcome| -> Vec<Option<String>> {
        (o.badges.iter())
            .filter(|b| b.badge.as_str() == "mentor")
            .map(|b| b.tier.clone())
            .collect()
    };
    assert_eq!(
        mentor(&m.ingest(&r, &accepted(0))),
        vec![Some("bronze".to_owned())]
    );
    // Silver granted by hand, as a store adds it to the member's badges.
    (m.members.get_mut(&id("ana")).unwrap().badges).push(crate::state::HeldBadge {
        badge: crate::name::Name::new("mentor"),
        tier: 1,
        awarded_at: NOON.parse().unwrap(),
        reason: Some("helped at the meetup".to_owned()),
    });
    for i in 1..10 {
        assert_eq!(
            mentor(&m.ingest(&r, &accepted(i))),
            Vec::<Option<String>>::new(),
            "{i}"
        );
    }
    // A new rule file: mentor comes last, and has a tier at 11.
    let mentor_block = CANONICAL
        .split("[[badges]]")
        .find(|b| b.contains("id = \"mentor\""))
        .unwrap();
    let new = CANONICAL.replace(&format!("[[badges]]{mentor_block}"), "")
        + "\n[[badges]]"
        + &mentor_block.replace(
            r#"{ name = "gold",   at_least = 50 },"#,
            r#"{ name = "gold",   at_least = 11 },"#,
        );
    let new = RuleSet::from_toml(&new).unwrap();
    assert_eq!(new.badges.last().map(|b| b.id.as_str()), Some("mentor"));
    assert_eq!(
        mentor(&m.ingest(&new, &accepted(10))),
        vec![Some("gold".to_owned())]
    );
    assert_eq!(
        mentor(&m.ingest(&new, &accepted(11))),
        Vec::<Option<String>>::new()
    );
    assert_eq!(m.members[&id("ana")].tiers_held("mentor"), 3);
}

/// Slots and chances are stored and drawn from this hash: the one-pass
/// form must give the streaming hasher's value, at every length.
#[test]
fn joined_hashes_are_the_streaming_hashes_of_the_parts() {
    let streaming = |a: &str, b: &str| {
        let mut h = xxhash_rust::xxh3::Xxh3Default::new();
        h.update(a.as_bytes());
        h.update(&[0xff]);
        h.update(b.as_bytes());
        h.digest()
    };
    let text: String = (0..1100)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    for a in [0, 1, 14, 100, 200, 300, 511, 600] {
        for b in (0..=420).step_by(7) {
            let (a, b) = (&text[..a], &text[a..a + b]);
            assert_eq!(
                hash_joined(a, b),
                streaming(a, b),
                "{} + {}",
                a.len(),
                b.len()
            );
        }
    }
    assert_eq!(
        slot_key("like-bonus", "post-1"),
        streaming("like-bonus", "post-1")
    );
}

/// The engine's day of an instant is kept for the rest of that day:
/// asked in order, out of order and across offset changes (Santiago moves
/// its clocks at midnight), it is always the time zone's own answer.
#[test]
fn the_kept_engine_day_is_the_time_zones_day() {
    for zone in ["America/Bogota", "America/Santiago", "Europe/Paris", "UTC"] {
        let source = CANONICAL.replace(
            "timezone = \"America/Bogota\"",
            &format!("timezone = \"{zone}\""),
        );
        let r = RuleSet::from_toml(&source).unwrap();
        assert_eq!(r.timezone_name, zone);
        let start: Timestamp = "2025-03-25T00:00:00Z".parse().unwrap();
        // Every 37 minutes for 400 days, then the same instants shuffled.
        let mut instants: Vec<Timestamp> = (0..15_600)
            .map(|i| start + jiff::SignedDuration::from_mins(37 * i))
            .collect();
        let mut other_order = instants.clone();
        other_order.sort_by_key(|t| xxhash_rust::xxh3::xxh3_64(&t.as_second().to_le_bytes()));
        instants.extend(other_order);
        for at in instants {
            assert_eq!(r.engine_day(at), Day::of(at, &r.timezone), "{zone} at {at}");
        }
    }
}

/// Stores keep every applied event's effects: they fit the allocator's
/// 192-byte blocks (they took 256 before names became one pointer and a
/// hash, and the rarely used lists boxed slices).
#[test]
fn effects_fit_in_192_bytes() {
    assert!(
        std::mem::size_of::<Effects>() <= 192,
        "{}",
        std::mem::size_of::<Effects>()
    );
}

/// The in-memory stores keep every event's outcome around its effects:
/// one cache line (it took 96 bytes while its badges and level-ups were
/// `Vec`s and its engine day one optional pair).
#[test]
fn outcomes_fit_in_64_bytes() {
    let size = std::mem::size_of::<Outcome>();
    assert!(size <= 64, "{size}");
}
