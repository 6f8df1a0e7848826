//! Fair-play tallies kept in memory, for the embedded store and the
//! command line.

use std::collections::hash_map::Entry;

use super::{Change, Report, Sink, Strong, kept, observe};
use crate::calendar::{Bucket, Period};
use crate::engine::Outcome;
use crate::ids::MemberId;
use crate::rules::RuleSet;

// Keyed by ids, whose hash is already their text's (see `Name`): a fixed
// fast hash of that number, as elsewhere in the core.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

/// One bucket's tallies.
#[derive(Debug, Clone, Default)]
struct Tally {
    /// Events and points per (giver, recipient).
    pairs: HashMap<(MemberId, MemberId), (i64, i64)>,
    /// Events per giver that earned anyone else points.
    gave: HashMap<MemberId, i64>,
}

/// A bucket's pairs: giver, recipient, events, points.
pub type PairRows<'a> = Vec<(&'a MemberId, &'a MemberId, i64, i64)>;
/// A bucket's givers and their events that earned anyone else points.
pub type GaveRows<'a> = Vec<(&'a MemberId, i64)>;

/// The fair-play tallies of every kept bucket.
#[derive(Debug, Clone, Default)]
pub struct Pairs {
    buckets: HashMap<Bucket, Tally>,
    /// Only this period's buckets, when set.
    only: Option<Period>,
    /// Weeks are read from their days rather than kept (see
    /// [`Pairs::compact`]).
    weeks_from_days: bool,
}

impl Sink for Pairs {
    fn keeps(&self, period: Period) -> bool {
        kept(period)
            && self.only.is_none_or(|p| p == period)
            && !(self.weeks_from_days && period == Period::Week)
    }

    fn change(&mut self, bucket: Bucket, change: Change<'_>) {
        let tally = self.buckets.entry(bucket).or_default();
        match change {
            Change::Pair {
                from,
                to,
                events,
                points,
            } => {
                // A pair with no event left goes.
                match tally.pairs.entry((from.clone(), to.clone())) {
                    Entry::Occupied(mut pair) => {
                        let (e, p) = pair.get_mut();
                        *e += events;
                        *p += points;
                        if *e <= 0 {
                            pair.remove();
                        }
                    }
                    Entry::Vacant(pair) => {
                        if events > 0 {
                            pair.insert((events, points));
                        }
                    }
                }
            }
            Change::Gave { from, events } => {
                let n = tally.gave.entry(from.clone()).or_default();
                *n += events;
                if *n <= 0 {
                    tally.gave.remove(from);
                }
            }
        }
    }
}

impl Pairs {
    /// Keeping only `period`'s buckets: what a one-off report needs.
    pub fn only(period: Period) -> Pairs {
        Pairs {
            only: Some(period),
            ..Pairs::default()
        }
    }

    /// What a store keeps in memory: days and months only, a week read as
    /// the sum of its seven days (exact: a pair's events and points in a
    /// week are those of its days), so that an event changes the tallies
    /// of two buckets rather than three.
    pub fn compact() -> Pairs {
        Pairs {
            weeks_from_days: true,
            ..Pairs::default()
        }
    }

    /// Takes in what one recorded step changed.
    pub fn observe(&mut self, rules: &RuleSet, outcome: &Outcome) {
        observe(rules, outcome, self);
    }

    /// The report of `bucket` under `rules`' thresholds.
    pub fn report(&self, rules: &RuleSet, bucket: &Bucket) -> Report {
        let min = i64::from(rules.fair_play.ring_min_events);
        let summed =
            (bucket.period == Period::Week && self.weeks_from_days).then(|| self.days_of(bucket));
        let tally = match &summed {
            Some(week) => Some(week),
            None => self.buckets.get(bucket),
        };
        let strong = (tally.iter().flat_map(|t| &t.pairs))
            .filter(|(_, (events, _))| *events >= min)
            .map(|((from, to), &(events, points))| Strong {
                from: from.clone(),
                to: to.clone(),
                events,
                points,
            })
            .collect();
        let gave = |m: &MemberId| tally.and_then(|t| t.gave.get(m)).copied().unwrap_or(0);
        Report::build(&rules.fair_play, bucket, strong, gave)
    }

    /// The tallies of a week's days, summed.
    fn days_of(&self, week: &Bucket) -> Tally {
        let mut sum = Tally::default();
        let days = (self.buckets.iter()).filter(|(b, _)| b.period == Period::Day && week.holds(b));
        for (_, day) in days {
            for (pair, (events, points)) in &day.pairs {
                let (e, p) = sum.pairs.entry(pair.clone()).or_default();
                *e += events;
                *p += points;
            }
            for (giver, n) in &day.gave {
                *sum.gave.entry(giver.clone()).or_default() += n;
            }
        }
        sum
    }

    /// Every bucket kept, with its pairs (giver, recipient, events, points)
    /// and its givers' events, in no particular order.
    pub fn tallies(&self) -> impl Iterator<Item = (&Bucket, PairRows<'_>, GaveRows<'_>)> {
        self.buckets.iter().map(|(bucket, tally)| {
            let pairs = (tally.pairs.iter())
                .map(|((from, to), &(events, points))| (from, to, events, points))
                .collect();
            let gave = tally.gave.iter().map(|(m, &n)| (m, n)).collect();
            (bucket, pairs, gave)
        })
    }

    /// Keeps only the buckets `keep` says.
    pub fn retain(&mut self, keep: impl Fn(&Bucket) -> bool) {
        self.buckets.retain(|b, _| keep(b));
    }
}
