#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The knowledge-flow insights kept as events arrive (and are revoked)
//! equal the same figures worked out from scratch over the applied,
//! non-revoked events, for every scope and bucket, after any stream.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::LazyLock;

use engagement_core::fair_play::Pairs;
use engagement_core::insights::{Counter, Insights, Parts, Report, buckets, question_id};
use engagement_core::{
    Bucket, CommunityId, Event, EventId, InsightRole, MemberId, Memory, Outcome, Period, RuleSet,
    Target,
};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

static RULES: LazyLock<RuleSet> = LazyLock::new(|| {
    RuleSet::from_toml(include_str!("../../rules/knowledge-sharing.toml")).unwrap()
});

const MEMBERS: [&str; 5] = ["ana", "bo", "cy", "di", "ed"];
const COMMUNITIES: [Option<&str>; 4] = [None, Some("customs"), Some("origin"), Some("policy")];
const QUESTIONS: usize = 4;
/// The periods a Redis generation keeps insights of.
const STORED: [Period; 2] = [Period::Day, Period::Month];

#[derive(Debug, Clone)]
enum Op {
    Ask {
        actor: usize,
        question: usize,
        /// Asked through a target naming the question, or as the event itself.
        targeted: bool,
        community: usize,
        minute: i64,
    },
    Answer {
        actor: usize,
        question: Option<usize>,
        community: usize,
        minute: i64,
        unknown_actor: bool,
    },
    Accept {
        actor: usize,
        author: Option<usize>,
        community: usize,
        minute: i64,
    },
    /// Any other action kind (or, past the last, an unknown one).
    Other {
        kind: usize,
        actor: usize,
        author: Option<usize>,
        community: usize,
        minute: i64,
    },
    Revoke {
        earlier: usize,
    },
    Redeliver {
        earlier: usize,
    },
}

fn minute() -> impl Strategy<Value = i64> {
    // About two months, so that days, weeks and months all split.
    prop_oneof![2 => 0..3000i64, 1 => 0..90_000i64]
}

fn op() -> impl Strategy<Value = Op> {
    let m = || 0..MEMBERS.len();
    let c = || 0..COMMUNITIES.len();
    prop_oneof![
        3 => (m(), 0..QUESTIONS, any::<bool>(), c(), minute()).prop_map(
            |(actor, question, targeted, community, minute)| Op::Ask {
                actor, question, targeted, community, minute
            }
        ),
        4 => (m(), prop::option::weighted(0.9, 0..QUESTIONS), c(), minute(), prop::bool::weighted(0.1))
            .prop_map(|(actor, question, community, minute, unknown_actor)| Op::Answer {
                actor, question, community, minute, unknown_actor
            }),
        2 => (m(), prop::option::weighted(0.8, m()), c(), minute()).prop_map(
            |(actor, author, community, minute)| Op::Accept { actor, author, community, minute }
        ),
        3 => (0..RULES.actions.len() + 1, m(), prop::option::of(m()), c(), minute()).prop_map(
            |(kind, actor, author, community, minute)| Op::Other {
                kind, actor, author, community, minute
            }
        ),
        2 => any::<usize>().prop_map(|earlier| Op::Revoke { earlier }),
        1 => any::<usize>().prop_map(|earlier| Op::Redeliver { earlier }),
    ]
}

fn at(minute: i64) -> Timestamp {
    let start: Timestamp = "2026-03-28T00:00:00Z".parse().unwrap();
    start
        .checked_add(SignedDuration::from_mins(minute))
        .unwrap()
}

fn kind_of(role: InsightRole) -> String {
    role.default_kind().to_owned()
}

fn events(ops: &[Op]) -> Vec<Event> {
    let member = |i: usize| MemberId::parse(MEMBERS[i]).unwrap();
    let community = |i: usize| COMMUNITIES[i].map(|c| CommunityId::parse(c).unwrap());
    let qid = |q: usize| format!("question-{q}");
    let mut out: Vec<Event> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let id = EventId::parse(format!("e{i}")).unwrap();
        let base = |kind: String, actor: usize, c: usize, minute: i64| Event {
            id: id.clone(),
            kind,
            actor: member(actor),
            actor_name: None,
            occurred_at: at(minute),
            community: community(c),
            target: None,
            revokes: None,
            actor_unknown: false,
            adjustment: None,
        };
        let event = match op {
            Op::Ask {
                actor,
                question,
                targeted,
                community,
                minute,
            } => {
                let mut e = base(kind_of(InsightRole::Question), *actor, *community, *minute);
                if *targeted {
                    e.target = Some(Target {
                        id: qid(*question),
                        author: None,
                    });
                } else {
                    e.id = EventId::parse(format!("{}-{i}", qid(*question))).unwrap();
                }
                e
            }
            Op::Answer {
                actor,
                question,
                community,
                minute,
                unknown_actor,
            } => {
                let mut e = base(kind_of(InsightRole::Answer), *actor, *community, *minute);
                e.target = question.map(|q| Target {
                    id: qid(q),
                    author: None,
                });
                e.actor_unknown = *unknown_actor;
                e
            }
            Op::Accept {
                actor,
                author,
                community,
                minute,
            } => {
                let mut e = base(kind_of(InsightRole::Accepted), *actor, *community, *minute);
                e.target = Some(Target {
                    id: format!("answer-{i}"),
                    author: author.map(member),
                });
                e
            }
            Op::Other {
                kind,
                actor,
                author,
                community,
                minute,
            } => {
                let kind = RULES
                    .actions
                    .get(*kind)
                    .map_or("wiki.edited", |a| &a.kind)
                    .to_owned();
                let mut e = base(kind, *actor, *community, *minute);
                e.target = Some(Target {
                    id: format!("post-{i}"),
                    author: author.map(member),
                });
                e
            }
            Op::Revoke { earlier } => {
                let Some(target) = out.get(earlier % out.len().max(1)) else {
                    continue;
                };
                let mut e = base("post.deleted".to_owned(), 0, 0, 0);
                e.revokes = Some(target.id.clone());
                e
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

/// The insights worked out from scratch over the applied, non-revoked
/// events, in arrival order, as the engine recorded them.
fn from_scratch(stream: &[(Event, Outcome)], scope: Option<&CommunityId>, bucket: Bucket) -> Parts {
    let role = |o: &Outcome| {
        let kind = &o.effects.as_ref()?.counted.as_ref()?.kind;
        RULES.insights.of(RULES.action(kind)?)
    };
    // Home: the community of each actor's first applied event naming one.
    let mut home: HashMap<&MemberId, &CommunityId> = HashMap::new();
    for (e, o) in stream {
        if let (Some(c), false) = (&e.community, e.actor_unknown)
            && o.effects.as_ref().is_some_and(|x| x.counted.is_some())
        {
            home.entry(&e.actor).or_insert(c);
        }
    }
    let live: Vec<&(Event, Outcome)> = stream
        .iter()
        .filter(|(_, o)| o.sign > 0 && o.effects.as_ref().is_some_and(|e| !e.revoked))
        .collect();
    let here = |e: &Event| {
        buckets(&RULES, e.occurred_at).contains(&bucket)
            && (scope.is_none() || e.community.as_ref() == scope)
    };
    let mut parts = Parts::default();
    let mut add = |c: Counter| parts.counts[c.index()] += 1;
    let mut actors: HashSet<&MemberId> = HashSet::new();
    let mut points: HashMap<&MemberId, i64> = HashMap::new();
    let mut holders: HashMap<&MemberId, i64> = HashMap::new();
    let mut flow: HashMap<(&CommunityId, &CommunityId), i64> = HashMap::new();
    for (e, o) in live.iter().filter(|(e, _)| here(e)) {
        let effects = o.effects.as_ref().unwrap();
        for a in &effects.awards {
            *points.entry(&a.member).or_default() += a.points;
        }
        let Some(counted) = &effects.counted else {
            continue;
        };
        add(Counter::Events);
        add(Counter::Stage(counted.stage));
        if !e.actor_unknown {
            actors.insert(&e.actor);
        }
        match role(o) {
            Some(InsightRole::Question) => add(Counter::Asked),
            Some(InsightRole::Accepted) => {
                add(Counter::Accepted);
                if let Some(author) = e.target.as_ref().and_then(|t| t.author.as_ref()) {
                    add(Counter::Credited);
                    *holders.entry(author).or_default() += 1;
                }
            }
            Some(InsightRole::Answer) => {
                add(Counter::Answers);
                if let (Some(c), false) = (&e.community, e.actor_unknown)
                    && home[&e.actor] != c
                {
                    add(Counter::Cross);
                    *flow.entry((home[&e.actor], c)).or_default() += 1;
                }
            }
            None => {}
        }
    }
    // Each question id's first live question event is the question.
    let mut seen: HashSet<&str> = HashSet::new();
    for (q, qo) in &live {
        if role(qo) != Some(InsightRole::Question) {
            continue;
        }
        let id = question_id(&q.id, q.target.as_ref());
        if !seen.insert(id) || !here(q) {
            continue;
        }
        let first = live
            .iter()
            .filter(|(a, ao)| {
                role(ao) == Some(InsightRole::Answer)
                    && a.target.as_ref().is_some_and(|t| t.id == id)
                    && (a.actor_unknown || q.actor_unknown || a.actor != q.actor)
            })
            .map(|(a, _)| a.occurred_at)
            .min();
        if let Some(first) = first {
            add(Counter::Answered);
            let wait = first.duration_since(q.occurred_at).as_secs().max(0);
            parts.waits.push(wait);
        }
    }
    parts.active = actors.len() as u64;
    parts.points = points.into_values().filter(|p| *p > 0).collect();
    parts.holders = holders.into_iter().map(|(m, n)| (m.clone(), n)).collect();
    parts.flow = flow
        .into_iter()
        .map(|((a, b), n)| (a.clone(), b.clone(), n))
        .collect();
    parts
}

fn check(ops: &[Op]) -> Result<(), TestCaseError> {
    let stream = events(ops);
    let mut memory = Memory::default();
    memory.insights = Some(Box::default());
    memory.fair_play = Some(Box::default());
    // The same steps handed off and taken in elsewhere, as a replay does,
    // keeping the periods a Redis generation holds.
    let mut handing = Memory::default();
    handing.hand_off();
    let mut elsewhere = Insights::periods(&STORED);
    let mut pairs = Pairs::default();
    for e in &stream {
        handing.ingest(&RULES, e);
    }
    for step in handing.handed() {
        step.feed(&RULES, Some(&mut elsewhere), Some(&mut pairs));
    }
    // What a store keeps: days, months and all time, with points of their
    // own or read from the points boards.
    let mut compact = Memory::default();
    compact.insights = Some(Box::new(Insights::compact(true)));
    compact.fair_play = Some(Box::new(Pairs::compact()));
    let mut lean = Memory::default();
    lean.insights = Some(Box::new(Insights::compact(false)));
    let mut firsts: Vec<(Event, Outcome)> = Vec::new();
    let mut ids = HashSet::new();
    for e in &stream {
        compact.ingest(&RULES, e);
        lean.ingest(&RULES, e);
        memory.ingest(&RULES, e);
        if ids.insert(e.id.clone()) {
            firsts.push((
                e.clone(),
                Outcome::unchanged(engagement_core::Status::Ignored),
            ));
        }
    }
    // What each event's record says now (revoked or not).
    for (e, o) in &mut firsts {
        *o = memory.outcome(&e.id).unwrap().clone();
    }
    let insights: &Insights = memory.insights.as_deref().unwrap();
    let mut scopes: Vec<Option<CommunityId>> = vec![None];
    scopes.extend(insights.communities().cloned().map(Some));
    let all: BTreeSet<Bucket> = stream
        .iter()
        .flat_map(|e| buckets(&RULES, e.occurred_at))
        .collect();
    for scope in &scopes {
        for bucket in &all {
            let kept = insights.report(scope.as_ref(), *bucket, true);
            let scratch = Report::build(
                scope.as_ref(),
                *bucket,
                from_scratch(&firsts, scope.as_ref(), *bucket),
                true,
            );
            if STORED.contains(&bucket.period) {
                let handed = elsewhere.report(scope.as_ref(), *bucket, true);
                prop_assert_eq!(
                    &handed,
                    &kept,
                    "handed off: scope {:?} bucket {:?}",
                    scope,
                    bucket
                );
            } else {
                prop_assert!(elsewhere.tally(scope.as_ref(), bucket).is_none());
            }
            for (name, store) in [("compact", &compact), ("lean", &lean)] {
                let read = store.insights_report(&RULES, scope.as_ref(), *bucket, true);
                prop_assert_eq!(
                    read.as_ref(),
                    Some(&scratch),
                    "{}: scope {:?} bucket {:?}",
                    name,
                    scope,
                    bucket
                );
            }
            prop_assert_eq!(kept, scratch, "scope {:?} bucket {:?}", scope, bucket);
            if scope.is_none() && engagement_core::fair_play::kept(bucket.period) {
                // Weeks read from their days.
                let every = memory.fair_play.as_deref().unwrap();
                let days = compact.fair_play.as_deref().unwrap();
                prop_assert_eq!(
                    days.report(&RULES, bucket),
                    every.report(&RULES, bucket),
                    "fair play: bucket {:?}",
                    bucket
                );
            }
        }
    }
    prop_assert_eq!(
        fair_play_tallies(&pairs),
        fair_play_tallies(memory.fair_play.as_deref().unwrap()),
        "fair play handed off"
    );
    Ok(())
}

/// Every fair-play tally, in order.
fn fair_play_tallies(pairs: &Pairs) -> Vec<String> {
    let mut all: Vec<String> = (pairs.tallies())
        .map(|(bucket, mut rows, mut gave)| {
            rows.sort();
            gave.sort();
            format!("{bucket:?} {rows:?} {gave:?}")
        })
        .collect();
    all.sort();
    all
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn kept_insights_equal_a_computation_from_scratch(ops in prop::collection::vec(op(), 0..60)) {
        check(&ops)?;
    }
}
