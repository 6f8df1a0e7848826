//! The insights of a whole deployment in memory: what the embedded store
//! serves and what `engagement insights --events` reads.

use crate::calendar::{Bucket, Period};
use crate::engine::Outcome;
use crate::event::Event;
use crate::ids::{CommunityId, EventId, MemberId};
use crate::rules::RuleSet;

use super::{Change, Counts, Parts, Question, Report, Sink, observe_subject, subject};

type HashMap<K, V> = hashbrown::HashMap<K, V, foldhash::fast::FixedState>;

/// The tallies of one scope and bucket.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub counts: Counts,
    pub actors: HashMap<MemberId, i64>,
    pub points: HashMap<MemberId, i64>,
    pub holders: HashMap<MemberId, i64>,
    pub waits: HashMap<Box<str>, i64>,
    pub flow: HashMap<(CommunityId, CommunityId), i64>,
}

impl Tally {
    fn change(&mut self, change: Change<'_>) {
        fn add(map: &mut HashMap<MemberId, i64>, member: &MemberId, delta: i64) {
            let n = map.entry_ref(member).or_default();
            *n += delta;
            // Only a change taking back can leave nothing.
            if delta < 0 && *n == 0 {
                map.remove(member);
            }
        }
        match change {
            Change::Count(counter, delta) => self.counts[counter.index()] += delta,
            Change::Actor(m, delta) => add(&mut self.actors, m, delta),
            // Net points, below zero too: a bucket read as the sum of
            // several (a week as its days) sums them exactly.
            Change::Points(m, delta) => {
                let n = self.points.entry_ref(m).or_default();
                *n += delta;
                if *n == 0 {
                    self.points.remove(m);
                }
            }
            Change::Holder(m, delta) => add(&mut self.holders, m, delta),
            Change::Wait(q, Some(seconds)) => {
                self.waits.insert(q.into(), seconds);
            }
            Change::Wait(q, None) => {
                self.waits.remove(q);
            }
            Change::Flow(from, to, delta) => {
                let key = (from.clone(), to.clone());
                let n = self.flow.entry(key.clone()).or_default();
                *n += delta;
                if *n == 0 {
                    self.flow.remove(&key);
                }
            }
        }
    }

    /// What [`Report::build`] reads.
    pub fn parts(&self) -> Parts {
        Parts {
            counts: self.counts,
            active: self.actors.values().filter(|n| **n > 0).count() as u64,
            points: self.points.values().copied().filter(|p| *p > 0).collect(),
            holders: (self.holders.iter())
                .map(|(m, n)| (m.clone(), *n))
                .collect(),
            waits: self.waits.values().copied().collect(),
            flow: (self.flow.iter())
                .map(|((from, to), n)| (from.clone(), to.clone(), *n))
                .collect(),
        }
    }
}

/// Every scope and bucket's tallies, and the questions that link them.
#[derive(Debug, Clone, Default)]
pub struct Insights {
    tallies: Tallies,
    questions: HashMap<String, Question>,
    /// Every community an applied event named, sorted.
    communities: std::collections::BTreeSet<CommunityId>,
    /// Only these periods' buckets are kept, when set.
    only: Option<Kept>,
    /// Whether points are left out: read from the points boards instead
    /// (see [`Insights::compact`]).
    without_points: bool,
}

/// The periods whose buckets [`Insights::compact`] keeps: weeks are read
/// from days, quarters from months. Years and all time are kept: few
/// buckets, each read whole rather than as a dozen months or more.
pub const COMPACT: [Period; 4] = [Period::Day, Period::Month, Period::Year, Period::AllTime];

/// Several buckets' tallies of one scope summed, by member, question and
/// pair of communities: a bucket read from those it holds.
#[derive(Default)]
struct Sum<'a> {
    with_points: bool,
    counts: Counts,
    actors: HashMap<&'a MemberId, i64>,
    points: HashMap<&'a MemberId, i64>,
    holders: HashMap<&'a MemberId, i64>,
    waits: HashMap<&'a str, i64>,
    flow: HashMap<(&'a CommunityId, &'a CommunityId), i64>,
}

impl<'a> Sum<'a> {
    fn add(&mut self, tally: &'a Tally) {
        fn sum<'a, K: std::hash::Hash + Eq>(
            into: &mut HashMap<K, i64>,
            from: impl Iterator<Item = (K, &'a i64)>,
        ) {
            for (k, n) in from {
                *into.entry(k).or_default() += n;
            }
        }
        for (total, n) in self.counts.iter_mut().zip(tally.counts) {
            *total += n;
        }
        sum(&mut self.actors, tally.actors.iter());
        if self.with_points {
            sum(&mut self.points, tally.points.iter());
        }
        sum(&mut self.holders, tally.holders.iter());
        // A question's wait is kept in the buckets it was asked in only.
        (self.waits).extend(tally.waits.iter().map(|(q, s)| (&**q, *s)));
        sum(
            &mut self.flow,
            tally.flow.iter().map(|((a, b), n)| ((a, b), n)),
        );
    }

    fn parts(self) -> Parts {
        Parts {
            counts: self.counts,
            active: self.actors.values().filter(|n| **n > 0).count() as u64,
            points: self.points.into_values().filter(|p| *p > 0).collect(),
            holders: (self.holders.into_iter())
                .filter(|(_, n)| *n > 0)
                .map(|(m, n)| (m.clone(), n))
                .collect(),
            waits: self.waits.into_values().collect(),
            flow: (self.flow.into_iter())
                .filter(|(_, n)| *n > 0)
                .map(|((from, to), n)| (from.clone(), to.clone(), n))
                .collect(),
        }
    }
}

/// A set of periods, by their place in [`Period::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kept([bool; Period::ALL.len()]);

impl Kept {
    fn of(periods: &[Period]) -> Kept {
        Kept(Period::ALL.map(|p| periods.contains(&p)))
    }

    fn has(self, period: Period) -> bool {
        (Period::ALL.iter().zip(self.0)).any(|(p, kept)| kept && *p == period)
    }
}

/// Every bucket's tallies, found through the bucket last changed in its
/// period first: events come in time order, so that is nearly always the
/// one, and a step changes a bucket of every period in two scopes.
#[derive(Debug, Clone, Default)]
struct Tallies {
    at: HashMap<Bucket, usize>,
    scopes: Vec<(Bucket, Scopes)>,
    /// By period, the bucket last changed and its place in `scopes`.
    last: [Option<(Bucket, usize)>; Period::ALL.len()],
}

impl Tallies {
    fn get(&self, bucket: &Bucket) -> Option<&Scopes> {
        let place = *self.at.get(bucket)?;
        self.scopes.get(place).map(|(_, s)| s)
    }

    /// The bucket's tallies, created when new.
    fn entry(&mut self, bucket: Bucket) -> &mut Scopes {
        let last = &mut self.last[bucket.period as usize];
        let place = match *last {
            Some((b, place)) if b == bucket => place,
            _ => {
                let next = self.scopes.len();
                let place = *self.at.entry(bucket).or_insert(next);
                if place == next {
                    self.scopes.push((bucket, Scopes::default()));
                }
                *last = Some((bucket, place));
                place
            }
        };
        &mut self.scopes[place].1
    }

    fn retain(&mut self, keep: impl Fn(&Bucket) -> bool) {
        self.scopes.retain(|(b, _)| keep(b));
        self.at = (self.scopes.iter().enumerate())
            .map(|(place, (b, _))| (*b, place))
            .collect();
        self.last = Default::default();
    }

    fn iter(&self) -> impl Iterator<Item = (&Bucket, &Scopes)> {
        self.scopes.iter().map(|(b, s)| (b, s))
    }
}

/// One bucket's tallies: the whole deployment's, and each community's.
#[derive(Debug, Clone, Default)]
struct Scopes {
    global: Tally,
    communities: HashMap<CommunityId, Tally>,
}

/// Changes for one step, to the buckets kept.
struct Keeping<'a> {
    tallies: &'a mut Tallies,
    only: Option<Kept>,
    without_points: bool,
}

impl Sink for Keeping<'_> {
    fn keeps(&self, period: Period) -> bool {
        self.only.is_none_or(|k| k.has(period))
    }

    fn change(&mut self, scope: Option<&CommunityId>, bucket: Bucket, change: Change<'_>) {
        self.changes(scope, bucket, &[change]);
    }

    fn changes(&mut self, scope: Option<&CommunityId>, bucket: Bucket, changes: &[Change<'_>]) {
        // Found by bucket first: the whole deployment's tally, half of all
        // changes, needs no community id hashed.
        let scopes = self.tallies.entry(bucket);
        let tally = match scope {
            None => &mut scopes.global,
            Some(c) => scopes.communities.entry_ref(c).or_default(),
        };
        for change in changes {
            if self.without_points && matches!(change, Change::Points(..)) {
                continue;
            }
            tally.change(*change);
        }
    }
}

impl Insights {
    /// Keeping the buckets of one period only: what a report on that period
    /// needs, for a fraction of the memory.
    pub fn only(period: Period) -> Insights {
        Insights::periods(&[period])
    }

    /// Keeping the buckets of these periods only: a Redis replay keeps
    /// days and months, which the stores read the other periods from.
    pub fn periods(periods: &[Period]) -> Insights {
        Insights {
            only: Some(Kept::of(periods)),
            ..Insights::default()
        }
    }

    /// What a store keeps: the buckets of days, months, years and all time
    /// ([`COMPACT`]), so that an event changes eight tallies rather than
    /// twelve and the many weeks are not held beside their days; a week is
    /// read as its seven days, a quarter as its months (sums and unions,
    /// exact: see [`Insights::parts`]). Without `points`,
    /// the participation points are left out, for a store that reads them
    /// from the points boards (see [`super::points_board`]).
    pub fn compact(points: bool) -> Insights {
        Insights::periods(&COMPACT).with_points(points)
    }

    /// Keeping the members' points, or leaving them out (see
    /// [`Insights::compact`]).
    pub fn with_points(self, points: bool) -> Insights {
        Insights {
            without_points: !points,
            ..self
        }
    }

    /// Whether the tallies keep the members' points.
    pub fn keeps_points(&self) -> bool {
        !self.without_points
    }

    /// Takes in one recorded step (see [`observe`]).
    pub fn observe(
        &mut self,
        rules: &RuleSet,
        event: &Event,
        outcome: &Outcome,
        home: Option<&CommunityId>,
    ) {
        self.observe_subject(rules, subject(event, outcome), outcome, home);
    }

    /// [`Insights::observe`] knowing the step's [`subject`], all it reads
    /// of the event.
    pub fn observe_subject(
        &mut self,
        rules: &RuleSet,
        id: Option<&EventId>,
        outcome: &Outcome,
        home: Option<&CommunityId>,
    ) {
        if let Some(id) = id {
            let mut sink = Keeping {
                tallies: &mut self.tallies,
                only: self.only,
                without_points: self.without_points,
            };
            observe_subject(rules, id, outcome, home, &mut self.questions, &mut sink);
        }
        if let Some(c) = outcome.effects.as_ref().and_then(|e| e.community.as_ref())
            && !self.communities.contains(c)
        {
            self.communities.insert(c.clone());
        }
    }

    /// The tallies of a scope and bucket, if anything happened there.
    pub fn tally(&self, community: Option<&CommunityId>, bucket: &Bucket) -> Option<&Tally> {
        let scopes = self.tallies.get(bucket)?;
        match community {
            None => Some(&scopes.global),
            Some(c) => scopes.communities.get(c),
        }
    }

    /// What a report on a scope and bucket reads: the bucket's own tallies
    /// when its period is kept, else the sum of the kept buckets it holds
    /// (a week's days; a quarter's, a year's or all time's months). Empty
    /// when nothing happened there, or when neither is kept.
    pub fn parts(&self, community: Option<&CommunityId>, bucket: &Bucket) -> Parts {
        self.parts_with(community, bucket, true)
    }

    /// [`Insights::parts`], leaving the points out unless `points`: a store
    /// reading them from a board does not sum them.
    pub fn parts_with(
        &self,
        community: Option<&CommunityId>,
        bucket: &Bucket,
        points: bool,
    ) -> Parts {
        let kept = |p| self.only.is_none_or(|k| k.has(p));
        if kept(bucket.period) {
            return (self.tally(community, bucket))
                .map(Tally::parts)
                .unwrap_or_default();
        }
        let from = match bucket.period {
            Period::Week => Period::Day,
            Period::Quarter | Period::Year | Period::AllTime => Period::Month,
            Period::Day | Period::Month => return Parts::default(),
        };
        if !kept(from) {
            return Parts::default();
        }
        let within = |b: &Bucket| b.period == from && bucket.holds(b);
        let mut sum = Sum {
            with_points: points,
            ..Sum::default()
        };
        for (_, scopes) in self.tallies.iter().filter(|(b, _)| within(b)) {
            let tally = match community {
                None => Some(&scopes.global),
                Some(c) => scopes.communities.get(c),
            };
            if let Some(tally) = tally {
                sum.add(tally);
            }
        }
        sum.parts()
    }

    /// The report of a scope and bucket (empty when nothing happened there),
    /// from the tallies alone.
    pub fn report(&self, community: Option<&CommunityId>, bucket: Bucket, admin: bool) -> Report {
        Report::build(community, bucket, self.parts(community, &bucket), admin)
    }

    /// Whether an applied event named `community`.
    pub fn knows(&self, community: &CommunityId) -> bool {
        self.communities.contains(community)
    }

    /// Every community an applied event named, sorted.
    pub fn communities(&self) -> impl Iterator<Item = &CommunityId> {
        self.communities.iter()
    }

    /// Drops the buckets `keep` no longer chooses.
    pub fn retain(&mut self, keep: impl Fn(&Bucket) -> bool) {
        self.tallies.retain(keep);
    }

    /// Every scope and bucket's tallies, in no particular order.
    pub fn tallies(&self) -> impl Iterator<Item = (Option<&CommunityId>, &Bucket, &Tally)> {
        self.tallies.iter().flat_map(|(b, s)| {
            std::iter::once((None, b, &s.global))
                .chain(s.communities.iter().map(move |(c, t)| (Some(c), b, t)))
        })
    }

    /// Every question kept, by id, in no particular order.
    pub fn questions(&self) -> impl Iterator<Item = (&str, &Question)> {
        (self.questions.iter())
            .filter(|(_, q)| !q.is_empty())
            .map(|(id, q)| (id.as_str(), q))
    }

    /// The question with this id, if any event named it.
    pub fn question(&self, id: &str) -> Option<&Question> {
        self.questions.get(id)
    }
}
