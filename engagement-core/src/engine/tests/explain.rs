//! One test per explanation reason, and the adjustments' rules.

use super::*;

/// The explanation of `event` once ingested, as (rule, member, points, reason).
fn explained(
    r: &RuleSet,
    m: &mut Memory,
    event: &Event,
) -> Vec<(String, Option<String>, i64, Reason)> {
    m.ingest(r, event)
        .explain(r)
        .into_iter()
        .map(|l| (l.rule, l.member.map(|m| m.to_string()), l.points, l.reason))
        .collect()
}

pub(super) fn line(
    rule: &str,
    member: Option<&str>,
    points: i64,
    reason: Reason,
) -> (String, Option<String>, i64, Reason) {
    (rule.to_owned(), member.map(str::to_owned), points, reason)
}

#[test]
fn a_full_award_is_explained_as_awarded() {
    let (r, mut m) = (rules(), Memory::default());
    let got = explained(&r, &mut m, &ev("a1", "answer.posted", "ana", NOON));
    assert_eq!(got, vec![line("answer", Some("ana"), 5, Reason::Awarded)]);
}

#[test]
fn an_award_cut_by_the_daily_cap_is_partial_and_the_next_one_reached_it() {
    let src = CANONICAL.replace("points = 1\ndaily_cap = 3", "points = 2\ndaily_cap = 3");
    let (r, mut m) = (RuleSet::from_toml(&src).unwrap(), Memory::default());
    explained(&r, &mut m, &ev("q0", "question.asked", "ana", NOON));
    let cut = explained(&r, &mut m, &ev("q1", "question.asked", "ana", NOON));
    assert_eq!(cut, vec![line("ask", Some("ana"), 1, Reason::Partial)]);
    let none = explained(&r, &mut m, &ev("q2", "question.asked", "ana", NOON));
    assert_eq!(
        none,
        vec![line("ask", Some("ana"), 0, Reason::DailyCapReached)]
    );
}

#[test]
fn a_second_like_of_the_same_post_is_once_per_used() {
    let (r, mut m) = (rules(), Memory::default());
    let first = explained(
        &r,
        &mut m,
        &on(ev("l1", "post.liked", "bo", NOON), "p1", "ana"),
    );
    assert_eq!(first, vec![line("liked", Some("ana"), 2, Reason::Awarded)]);
    let again = explained(
        &r,
        &mut m,
        &on(ev("l2", "post.liked", "bo", NOON), "p1", "ana"),
    );
    assert_eq!(
        again,
        vec![line("liked", Some("ana"), 0, Reason::OncePerUsed)]
    );
}

#[test]
fn liking_ones_own_post_is_not_self() {
    let (r, mut m) = (rules(), Memory::default());
    let got = explained(
        &r,
        &mut m,
        &on(ev("l1", "post.liked", "ana", NOON), "p1", "ana"),
    );
    assert_eq!(got, vec![line("liked", Some("ana"), 0, Reason::NotSelf)]);
}

#[test]
fn a_rule_limited_to_other_communities_says_community() {
    let (r, mut m) = (rules(), Memory::default());
    let got = explained(
        &r,
        &mut m,
        &inside(ev("c1", "resource.curated", "ana", NOON), "customs"),
    );
    assert_eq!(got, vec![line("curate", Some("ana"), 0, Reason::Community)]);
}

#[test]
fn a_variable_reward_that_did_not_fire_says_chance_in_file_order() {
    let (r, mut m) = (rules(), Memory::default());
    // The first share whose id the 10 % bonus skips.
    let id = (0..)
        .map(|i| format!("s{i}"))
        .find(|id| !fires(id, "surprise-bonus", 0.10))
        .unwrap();
    let got = explained(&r, &mut m, &ev(&id, "resource.shared", "ana", NOON));
    assert_eq!(
        got,
        vec![
            line("share-resource", Some("ana"), 10, Reason::Awarded),
            line("surprise-bonus", Some("ana"), 0, Reason::Chance),
        ]
    );
}

#[test]
fn an_event_older_than_the_cap_window_says_cap_window_passed() {
    let src = CANONICAL.replace(
        "week_starts = \"monday\"",
        "week_starts = \"monday\"\ncap_window_days = 10",
    );
    let (r, mut m) = (RuleSet::from_toml(&src).unwrap(), Memory::default());
    explained(
        &r,
        &mut m,
        &ev("q-new", "question.asked", "ana", "2026-11-20T17:00:00Z"),
    );
    let inside = explained(
        &r,
        &mut m,
        &ev("q-9", "question.asked", "ana", "2026-11-11T17:00:00Z"),
    );
    assert_eq!(inside, vec![line("ask", Some("ana"), 1, Reason::Awarded)]);
    let old = explained(
        &r,
        &mut m,
        &ev("q-old", "question.asked", "ana", "2026-11-05T17:00:00Z"),
    );
    assert_eq!(
        old,
        vec![line("ask", Some("ana"), 0, Reason::CapWindowPassed)]
    );
}

#[test]
fn an_acceptance_without_an_answer_author_has_no_recipient() {
    let (r, mut m) = (rules(), Memory::default());
    let got = explained(&r, &mut m, &ev("x1", "answer.accepted", "bo", NOON));
    assert_eq!(got, vec![line("accepted", None, 0, Reason::NoRecipient)]);
}

#[test]
fn attending_without_a_webinar_named_has_no_target() {
    let (r, mut m) = (rules(), Memory::default());
    let got = explained(&r, &mut m, &ev("w1", "webinar.attended", "bo", NOON));
    assert_eq!(got, vec![line("attend", Some("bo"), 0, Reason::NoTarget)]);
}

#[test]
fn a_revocation_explains_what_it_took_back() {
    let (r, mut m) = (rules(), Memory::default());
    explained(
        &r,
        &mut m,
        &on(ev("acc", "answer.accepted", "bo", NOON), "p1", "ana"),
    );
    let got = explained(&r, &mut m, &revoking("un", "acc", NOON));
    assert_eq!(
        got,
        vec![line("accepted", Some("ana"), -15, Reason::RevokedEvent)]
    );
}

#[test]
fn a_duplicate_explains_as_its_first_delivery() {
    let (r, mut m) = (rules(), Memory::default());
    let first = explained(&r, &mut m, &ev("a1", "answer.posted", "ana", NOON));
    let again = explained(&r, &mut m, &ev("a1", "answer.posted", "ana", NOON));
    assert_eq!(first, again);
}

#[test]
fn a_tiny_cap_window_is_refused_at_its_value() {
    let src = CANONICAL.replace(
        "week_starts = \"monday\"",
        "week_starts = \"monday\"\ncap_window_days = 0",
    );
    let errors = match RuleSet::from_toml(&src) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.0,
    };
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].message.contains("cap_window_days must be 1 to"),
        "{}",
        errors[0].message
    );
}

fn adjust(id: &str, member: &str, points: i64) -> Event {
    let mut e = ev(id, "points.adjusted", member, NOON);
    e.adjustment = Some(crate::event::Adjustment {
        points,
        reason: "webinar recording".to_owned(),
    });
    e
}

#[test]
fn an_adjustment_pays_the_member_and_is_revocable() {
    let (r, mut m) = (rules(), Memory::default());
    let got = explained(&r, &mut m, &adjust("adj1", "ana", 40));
    assert_eq!(
        got,
        vec![line(ADJUSTMENT_RULE, Some("ana"), 40, Reason::Awarded)]
    );
    assert_eq!(points(&m, "ana"), 40);
    // No action: nothing counted.
    assert!(m.members[&id("ana")].counts.is_empty());
    explained(&r, &mut m, &revoking("adj1-undo", "adj1", NOON));
    assert_eq!(points(&m, "ana"), 0);
}

#[test]
fn a_take_back_never_leaves_a_member_below_zero() {
    let (r, mut m) = (rules(), Memory::default());
    explained(&r, &mut m, &ev("a1", "answer.posted", "ana", NOON));
    let got = explained(&r, &mut m, &adjust("adj1", "ana", -8));
    assert_eq!(
        got,
        vec![line(ADJUSTMENT_RULE, Some("ana"), -5, Reason::Partial)]
    );
    assert_eq!(points(&m, "ana"), 0);
    // Undoing the take-back gives back what it took, and uses no cap room.
    explained(&r, &mut m, &revoking("adj1-undo", "adj1", NOON));
    assert_eq!(points(&m, "ana"), 5);
    assert_eq!(m.members[&id("ana")].caps.len(), 1);
}

#[test]
fn a_rule_file_may_not_name_a_rule_adjustment() {
    let src = CANONICAL.replace("id = \"host\"", "id = \"adjustment\"");
    let errors = match RuleSet::from_toml(&src) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.0,
    };
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].message.contains("reserved"),
        "{}",
        errors[0].message
    );
}
