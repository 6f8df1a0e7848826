//! `[fair_play] pair_daily_cap` (SPEC §9): points one member earns through
//! another member's actions, per the recipient's local day.

use super::explain::line;
use super::*;

/// The canonical rules with a pair cap: accepted answers pay 15 and likes 2
/// (at most 20 a day) to the target's author.
fn capped(cap: i64) -> RuleSet {
    RuleSet::from_toml(&format!(
        "{CANONICAL}\n[fair_play]\npair_daily_cap = {cap}\n"
    ))
    .unwrap()
}

fn like(id: &str, actor: &str, author: &str, at: &str) -> Event {
    on(
        ev(id, "post.liked", actor, at),
        &format!("post-{id}"),
        author,
    )
}

fn accept(id: &str, actor: &str, author: &str, at: &str) -> Event {
    on(
        ev(id, "answer.accepted", actor, at),
        &format!("answer-{id}"),
        author,
    )
}

fn lines(r: &RuleSet, o: &Outcome) -> Vec<(String, Option<String>, i64, Reason)> {
    o.explain(r)
        .into_iter()
        .map(|l| (l.rule, l.member.map(|m| m.to_string()), l.points, l.reason))
        .collect()
}

#[test]
fn the_award_that_crosses_the_pair_cap_is_partial_and_later_ones_reach_it() {
    let (r, mut m) = (capped(10), Memory::default());
    let cut = m.ingest(&r, &accept("acc", "bo", "ana", NOON));
    assert_eq!(
        lines(&r, &cut),
        vec![line("accepted", Some("ana"), 10, Reason::Partial)]
    );
    let none = m.ingest(&r, &like("l1", "bo", "ana", NOON));
    assert_eq!(
        lines(&r, &none),
        vec![line("liked", Some("ana"), 0, Reason::PairCapReached)]
    );
    assert!(
        none.effects.as_ref().unwrap().awards.is_empty(),
        "a zero award is not recorded"
    );
    // The cap is per pair: another member's like still pays in full.
    let other = m.ingest(&r, &like("l2", "cy", "ana", NOON));
    assert_eq!(awarded(&other), vec![2]);
    assert_eq!(points(&m, "ana"), 12);
}

#[test]
fn a_zero_award_under_the_pair_cap_leaves_the_once_per_slot_free() {
    let (r, mut m) = (capped(2), Memory::default());
    assert_eq!(
        awarded(&m.ingest(&r, &like("l1", "bo", "ana", NOON))),
        vec![2]
    );
    let post = |id: &str, at: &str| on(ev(id, "post.liked", "bo", at), "p2", "ana");
    assert!(awarded(&m.ingest(&r, &post("l2", NOON))).is_empty());
    // Next day the same post can still be liked for points: its slot was not used.
    assert_eq!(
        awarded(&m.ingest(&r, &post("l3", "2026-11-21T17:00:00Z"))),
        vec![2]
    );
}

#[test]
fn the_pair_cap_opens_again_the_next_local_day() {
    let (r, mut m) = (capped(10), Memory::default());
    assert_eq!(
        awarded(&m.ingest(&r, &accept("a1", "bo", "ana", NOON))),
        vec![10]
    );
    assert!(awarded(&m.ingest(&r, &like("l1", "bo", "ana", NOON))).is_empty());
    let tomorrow = "2026-11-21T17:00:00Z";
    assert_eq!(
        awarded(&m.ingest(&r, &accept("a2", "bo", "ana", tomorrow))),
        vec![10]
    );
    assert_eq!(points(&m, "ana"), 20);
}

#[test]
fn the_pair_cap_day_is_the_recipients_own() {
    // 23:30 and 00:30 in Bogota (the engine's zone) are two days; in UTC,
    // the recipient's own zone here, they are one.
    let (first, second) = ("2026-11-21T04:30:00Z", "2026-11-21T05:30:00Z");
    let r = capped(10);
    let mut engine_days = Memory::default();
    engine_days.ingest(&r, &accept("a1", "bo", "ana", first));
    engine_days.ingest(&r, &accept("a2", "bo", "ana", second));
    assert_eq!(points(&engine_days, "ana"), 20);

    let mut own = Memory::default();
    own.members
        .entry(id("ana"))
        .or_default()
        .set_profile(Profile {
            timezone: Some("UTC".into()),
            ..Profile::default()
        });
    own.ingest(&r, &accept("a1", "bo", "ana", first));
    let second = own.ingest(&r, &accept("a2", "bo", "ana", second));
    assert_eq!(
        lines(&r, &second),
        vec![line("accepted", Some("ana"), 0, Reason::PairCapReached)]
    );
    assert_eq!(points(&own, "ana"), 10);
}

#[test]
fn a_revocation_gives_the_pair_room_back() {
    let (r, mut m) = (capped(10), Memory::default());
    m.ingest(&r, &accept("acc", "bo", "ana", NOON));
    assert!(awarded(&m.ingest(&r, &like("l1", "bo", "ana", NOON))).is_empty());
    assert_eq!(
        awarded(&m.ingest(&r, &revoking("undo", "acc", NOON))),
        vec![-10]
    );
    assert_eq!(
        awarded(&m.ingest(&r, &like("l2", "bo", "ana", NOON))),
        vec![2]
    );
    assert_eq!(
        awarded(&m.ingest(&r, &accept("acc2", "bo", "ana", NOON))),
        vec![8]
    );
    assert_eq!(points(&m, "ana"), 10);
}

#[test]
fn the_rule_cap_and_the_pair_cap_both_apply_and_the_smaller_room_wins() {
    // Likes: 2 points, 20 a day by the rule. Pair cap 30: the eleventh like
    // meets the rule's cap first; an accepted answer then meets the pair's.
    let (r, mut m) = (capped(30), Memory::default());
    for i in 0..10 {
        assert_eq!(
            awarded(&m.ingest(&r, &like(&format!("l{i}"), "bo", "ana", NOON))),
            vec![2]
        );
    }
    let eleventh = m.ingest(&r, &like("l10", "bo", "ana", NOON));
    assert_eq!(
        lines(&r, &eleventh),
        vec![line("liked", Some("ana"), 0, Reason::DailyCapReached)]
    );
    let acc = m.ingest(&r, &accept("acc", "bo", "ana", NOON));
    assert_eq!(
        lines(&r, &acc),
        vec![line("accepted", Some("ana"), 10, Reason::Partial)]
    );
    assert_eq!(points(&m, "ana"), 30);

    // Pair cap 5 under the rule's 20: 2, 2, then 1 of 2, then nothing.
    let (r, mut m) = (capped(5), Memory::default());
    let got: Vec<Vec<i64>> = (0..4)
        .map(|i| awarded(&m.ingest(&r, &like(&format!("l{i}"), "bo", "ana", NOON))))
        .collect();
    assert_eq!(got, vec![vec![2], vec![2], vec![1], vec![]]);
    // The rule's cap counts what was paid, not what the pair cap held back:
    // three more givers fill it with 5 each (20 in all), and a fifth finds
    // the rule's cap reached.
    for giver in ["cy", "di", "ed"] {
        let paid: i64 = (0..4)
            .flat_map(|i| awarded(&m.ingest(&r, &like(&format!("{giver}{i}"), giver, "ana", NOON))))
            .sum();
        assert_eq!(paid, 5, "{giver} meets the pair cap");
    }
    let fifth = m.ingest(&r, &like("fi", "fi", "ana", NOON));
    assert_eq!(
        lines(&r, &fifth),
        vec![line("liked", Some("ana"), 0, Reason::DailyCapReached)]
    );
    assert_eq!(points(&m, "ana"), 20);
}

#[test]
fn the_pair_cap_leaves_points_members_earn_by_their_own_actions_alone() {
    let (r, mut m) = (capped(1), Memory::default());
    for i in 0..5 {
        m.ingest(&r, &ev(&format!("a{i}"), "answer.posted", "ana", NOON));
    }
    assert_eq!(points(&m, "ana"), 25);
}

#[test]
fn without_fair_play_there_is_no_pair_cap() {
    let (r, mut m) = (rules(), Memory::default());
    for i in 0..3 {
        m.ingest(&r, &accept(&format!("a{i}"), "bo", "ana", NOON));
    }
    assert_eq!(points(&m, "ana"), 45);
    assert_eq!(r.fair_play, crate::rules::FairPlay::default());
}

#[test]
fn events_without_a_known_actor_are_no_pair() {
    // Nobody paid the author: the source's name is no giver.
    let (r, mut m) = (capped(10), Memory::default());
    for id in ["u1", "u2"] {
        assert_eq!(
            awarded(&m.ingest(&r, &unattributed_acceptance(id, "ana"))),
            vec![15]
        );
    }
    assert_eq!(points(&m, "ana"), 30);
}
