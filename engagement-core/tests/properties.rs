#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Property tests for the engine's laws, over generated event sequences
//! applied with the canonical rules: replay is deterministic, daily caps
//! hold, a revoke restores totals, the order of unrelated members does not
//! matter, and `chance` fires for about its share of event ids.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::LazyLock;

use engagement_core::engine::fires;
use engagement_core::state::Count;
use engagement_core::{
    BoardKey, CommunityId, Day, Event, EventId, MemberId, MemberState, Memory, Outcome, RuleSet,
    Status, Target,
};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

static RULES: LazyLock<RuleSet> = LazyLock::new(|| {
    RuleSet::from_toml(include_str!("../../rules/knowledge-sharing.toml")).unwrap()
});

const MEMBERS: [&str; 4] = ["ana", "bo", "cy", "di"];
const COMMUNITIES: [Option<&str>; 4] = [
    None,
    Some("rules-of-origin"),
    Some("trade-facilitation"),
    Some("customs"),
];
const POSTS: usize = 6;
/// Events fall within this many minutes of the start: about four days.
const MINUTES: i64 = 4 * 24 * 60;

/// How one generated event is built; indexes wrap around their lists.
#[derive(Debug, Clone)]
enum Op {
    /// An event of an action kind (or, past the last one, of an unknown kind).
    Act {
        kind: usize,
        actor: usize,
        /// Post and, when some, its author.
        target: Option<(usize, Option<usize>)>,
        community: usize,
        minute: i64,
    },
    /// A revocation of an earlier event (of an unknown id when there is none).
    Revoke { earlier: usize, minute: i64 },
    /// A second delivery of an earlier event.
    Redeliver { earlier: usize },
}

fn minute() -> impl Strategy<Value = i64> {
    // Most events crowd into the first evening so that daily caps bite.
    prop_oneof![3 => 0..300i64, 1 => 0..MINUTES]
}

fn member() -> impl Strategy<Value = usize> {
    // One busy member, for the same reason.
    prop_oneof![Just(0), 0..8usize]
}

fn op() -> impl Strategy<Value = Op> {
    let kinds = RULES.actions.len() + 1;
    let act = (
        0..kinds,
        member(),
        prop::option::weighted(0.8, (0..POSTS, prop::option::weighted(0.8, member()))),
        0..COMMUNITIES.len(),
        minute(),
    )
        .prop_map(|(kind, actor, target, community, minute)| Op::Act {
            kind,
            actor,
            target,
            community,
            minute,
        });
    prop_oneof![
        8 => act,
        1 => (any::<usize>(), minute())
            .prop_map(|(earlier, minute)| Op::Revoke { earlier, minute }),
        1 => any::<usize>().prop_map(|earlier| Op::Redeliver { earlier }),
    ]
}

fn ops(max: usize) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 0..max)
}

fn at(minute: i64) -> Timestamp {
    let start: Timestamp = "2026-11-20T00:00:00Z".parse().unwrap();
    start
        .checked_add(SignedDuration::from_mins(minute))
        .unwrap()
}

/// The events `ops` describe, among `members`, with ids starting with `prefix`.
fn events(ops: &[Op], members: &[&str], prefix: &str) -> Vec<Event> {
    let member = |i: usize| MemberId::parse(members[i % members.len()]).unwrap();
    let mut out: Vec<Event> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let id = EventId::parse(format!("{prefix}{i}")).unwrap();
        let event = match op {
            Op::Act {
                kind,
                actor,
                target,
                community,
                minute,
            } => Event {
                id,
                kind: RULES
                    .actions
                    .get(*kind)
                    .map_or("wiki.edited", |a| &a.kind)
                    .to_owned(),
                actor: member(*actor),
                actor_name: None,
                occurred_at: at(*minute),
                community: COMMUNITIES[*community].map(|c| CommunityId::parse(c).unwrap()),
                target: target.map(|(post, author)| Target {
                    id: format!("{prefix}post-{post}"),
                    author: author.map(member),
                }),
                revokes: None,
                actor_unknown: false,
                adjustment: None,
            },
            Op::Revoke { earlier, minute } => {
                let (actor, revoked) = out.get(earlier % out.len().max(1)).map_or_else(
                    || {
                        (
                            member(0),
                            EventId::parse(format!("{prefix}missing")).unwrap(),
                        )
                    },
                    |e| (e.actor.clone(), e.id.clone()),
                );
                revocation(id, actor, revoked, *minute)
            }
            Op::Redeliver { earlier } => match out.get(earlier % out.len().max(1)) {
                Some(e) => e.clone(),
                None => continue,
            },
        };
        out.push(event);
    }
    out
}

/// An event that undoes the event `revoked`.
fn revocation(id: EventId, actor: MemberId, revoked: EventId, minute: i64) -> Event {
    Event {
        id,
        kind: "content.removed".to_owned(),
        actor,
        actor_name: None,
        occurred_at: at(minute),
        community: None,
        target: None,
        revokes: Some(revoked),
        actor_unknown: false,
        adjustment: None,
    }
}

fn ingest_all(memory: &mut Memory, events: &[Event]) -> Vec<Outcome> {
    events.iter().map(|e| memory.ingest(&RULES, e)).collect()
}

/// What a member holds that events add and revocations take back, without
/// the zero entries a revocation may leave behind.
#[derive(Debug, Default, PartialEq, Eq)]
struct Totals {
    points: i64,
    counts: BTreeMap<String, Count>,
    stages: BTreeMap<String, u32>,
    communities: BTreeMap<String, BTreeMap<String, u32>>,
    caps: BTreeSet<(String, Day, i64)>,
    slots: BTreeSet<u64>,
    by_rule: BTreeMap<String, i64>,
}

impl Totals {
    fn of(s: &MemberState) -> Totals {
        Totals {
            points: s.points,
            counts: s
                .counts
                .iter()
                .filter(|(_, c)| **c != Count::default())
                .map(|(k, c)| (k.to_string(), *c))
                .collect(),
            stages: s
                .stages
                .iter()
                .map(|(stage, n)| (stage.as_str().to_owned(), n))
                .collect(),
            communities: s
                .communities
                .iter()
                .filter(|(_, per)| !per.is_empty())
                .map(|(k, per)| {
                    let per = per.iter().map(|(c, n)| (c.to_string(), *n)).collect();
                    (k.to_string(), per)
                })
                .collect(),
            caps: s
                .caps
                .iter()
                .filter(|c| c.used != 0)
                .map(|c| (c.rule.to_string(), c.day, c.used))
                .collect(),
            slots: s.slots.iter().collect(),
            by_rule: s.by_rule.iter().map(|(r, n)| (r.to_string(), *n)).collect(),
        }
    }
}

/// Every member's totals; members with nothing are left out.
fn totals(memory: &Memory) -> BTreeMap<MemberId, Totals> {
    memory
        .members
        .iter()
        .map(|(id, s)| (id.clone(), Totals::of(s)))
        .filter(|(_, t)| *t != Totals::default())
        .collect()
}

/// Every listed score, on every board, scope and period bucket.
fn scores(memory: &Memory) -> BTreeMap<(BoardKey, MemberId), i64> {
    let mut out = BTreeMap::new();
    for key in memory.boards.keys() {
        for r in memory.boards.ranked(&key, |_| true) {
            out.insert((key.clone(), r.member), r.score);
        }
    }
    out
}

/// Every board in rank order, ties included.
fn standings(memory: &Memory) -> BTreeMap<BoardKey, Vec<(u64, MemberId, i64)>> {
    memory
        .boards
        .keys()
        .map(|key| {
            let rows = memory.boards.ranked(&key, |_| true);
            let rows = rows.map(|r| (r.rank, r.member, r.score)).collect();
            (key, rows)
        })
        .filter(|(_, rows): &(BoardKey, Vec<_>)| !rows.is_empty())
        .collect()
}

/// The members' order of events kept, two sequences merged as `take_first` says.
fn interleave(a: &[Event], b: &[Event], take_first: &[bool]) -> Vec<Event> {
    let (mut a, mut b) = (a.iter(), b.iter());
    let mut out: Vec<Event> = take_first
        .iter()
        .filter_map(|first| if *first { a.next() } else { b.next() })
        .cloned()
        .collect();
    out.extend(a.cloned());
    out.extend(b.cloned());
    out
}

/// A small deterministic generator for the ids of the `chance` property.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn replaying_the_same_events_gives_the_same_outcomes_totals_and_boards(ops in ops(60)) {
        let events = events(&ops, &MEMBERS, "e");
        let (mut first, mut again) = (Memory::default(), Memory::default());
        let first_outcomes = ingest_all(&mut first, &events);
        let again_outcomes = ingest_all(&mut again, &events);
        prop_assert_eq!(first_outcomes, again_outcomes);
        // Points by rule always add up to the points.
        for (member, state) in &first.members {
            let by_rule: i64 = state.by_rule.values().sum();
            prop_assert_eq!(by_rule, state.points, "{}", member);
        }
        prop_assert_eq!(totals(&first), totals(&again));
        prop_assert_eq!(standings(&first), standings(&again));
    }

    #[test]
    fn after_every_event_no_member_has_reached_a_badge_tier_without_holding_it(
        ops in ops(120),
    ) {
        let mut memory = Memory::default();
        for event in &events(&ops, &MEMBERS, "e") {
            memory.ingest(&RULES, event);
            for (member, state) in &memory.members {
                for badge in &RULES.badges {
                    let Some(value) = RULES.progress_value(&badge.criterion, state) else {
                        continue;
                    };
                    let reached = badge.tiers.iter().filter(|t| value >= t.at_least).count();
                    let held = state.tiers_held(&badge.id);
                    prop_assert!(
                        held >= reached,
                        "{member} reached {reached} tiers of {} but holds {held}, after {}",
                        badge.id,
                        event.id
                    );
                }
            }
        }
    }

    #[test]
    fn daily_caps_are_never_exceeded_net_of_revocations(ops in ops(80)) {
        let events = events(&ops, &MEMBERS, "e");
        let bogota = TimeZone::get("America/Bogota").unwrap();
        let caps: HashMap<&str, i64> = RULES
            .points
            .iter()
            .filter_map(|r| Some((&*r.id, r.daily_cap?)))
            .collect();
        let mut memory = Memory::default();
        let mut used: HashMap<(MemberId, String, Day), i64> = HashMap::new();
        for event in &events {
            let outcome = memory.ingest(&RULES, event);
            let applied = outcome.effects.as_ref().filter(|_| outcome.status == Status::Applied);
            let Some(effects) = applied else { continue };
            let day = Day::of(effects.occurred_at, &bogota);
            for award in &effects.awards {
                prop_assert!(award.points > 0, "{award:?}");
                prop_assert_eq!(award.day, day);
                let Some(cap) = caps.get(&*award.rule) else { continue };
                let key = (award.member.clone(), award.rule.to_string(), day);
                let net = used.entry(key).or_default();
                *net += award.points * outcome.sign;
                prop_assert!(
                    (0..=*cap).contains(net),
                    "{} used {net} of {cap} on {day} after {}",
                    award.rule,
                    event.id
                );
            }
        }
    }

    #[test]
    fn applying_an_event_then_revoking_it_restores_totals_and_board_scores(
        before in ops(40),
        kind in 0..RULES.actions.len(),
        actor in 0..MEMBERS.len(),
        target in prop::option::of((0..POSTS, prop::option::of(0..MEMBERS.len()))),
        community in 0..COMMUNITIES.len(),
        minute in minute(),
        revoke_minute in minute(),
    ) {
        let history = events(&before, &MEMBERS, "e");
        let mut memory = Memory::default();
        ingest_all(&mut memory, &history);
        let (totals_before, scores_before) = (totals(&memory), scores(&memory));

        let act = Op::Act { kind, actor, target, community, minute };
        let e = events(&[act], &MEMBERS, "new-").remove(0);
        let applied = memory.ingest(&RULES, &e);
        prop_assert_eq!(applied.status, Status::Applied);
        let undo = revocation(
            EventId::parse("undo").unwrap(),
            e.actor.clone(),
            e.id.clone(),
            revoke_minute,
        );
        let undone = memory.ingest(&RULES, &undo);
        prop_assert_eq!((undone.status, undone.sign), (Status::Applied, -1));

        prop_assert_eq!(totals(&memory), totals_before);
        prop_assert_eq!(scores(&memory), scores_before);
    }

    #[test]
    fn the_order_of_events_of_unrelated_members_does_not_change_their_totals(
        group_a in ops(40),
        group_b in ops(40),
        one in prop::collection::vec(any::<bool>(), 0..80),
        other in prop::collection::vec(any::<bool>(), 0..80),
    ) {
        let a = events(&group_a, &["ana", "bo"], "a-");
        let b = events(&group_b, &["cy", "di"], "b-");
        let (mut first, mut second, mut apart) =
            (Memory::default(), Memory::default(), Memory::default());
        ingest_all(&mut first, &interleave(&a, &b, &one));
        ingest_all(&mut second, &interleave(&a, &b, &other));
        ingest_all(&mut apart, &[a, b].concat());
        let points = |m: &Memory| -> BTreeMap<MemberId, i64> {
            m.members.iter().map(|(id, s)| (id.clone(), s.points)).collect()
        };
        prop_assert_eq!(points(&first), points(&second));
        prop_assert_eq!(points(&first), points(&apart));
        prop_assert_eq!(totals(&first), totals(&second));
        prop_assert_eq!(totals(&first), totals(&apart));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn a_chance_of_ten_percent_fires_for_ten_percent_of_random_ids_give_or_take_two(
        seed in any::<u64>(),
        rule in "[a-z-]{1,20}",
    ) {
        let mut state = seed;
        let hits = (0..10_000)
            .filter(|_| {
                let len = 1 + splitmix64(&mut state) % 40;
                let id: String = (0..len)
                    .map(|_| char::from(b' ' + (splitmix64(&mut state) % 95) as u8))
                    .collect();
                fires(&id, &rule, 0.10)
            })
            .count();
        prop_assert!((800..=1200).contains(&hits), "{hits} of 10000 fired");
    }
}
