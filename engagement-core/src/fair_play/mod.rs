//! Fair play: are points earned through arrangements between friends?
//!
//! Every applied event whose actor earned someone else points, and every
//! revocation of one, changes the tallies of the day, week and month it
//! falls in: the events and points of each (giver, recipient) pair, and the
//! giver's events that earned anyone else points. [`observe`] says which,
//! as [`Change`]s handed to a [`Sink`]: the in-memory [`Pairs`] keeps them
//! for the embedded store and the command line, the Redis store writes
//! them beside the event's other changes. A [`Report`] then lists the
//! strong pairs of one bucket and the rings they form, without looking at
//! the log again.

mod report;
mod tally;

use crate::calendar::{Bucket, Period};
use crate::engine::Outcome;
use crate::ids::MemberId;
use crate::rules::RuleSet;

pub use report::{Pair, Report, Ring, Strong};
pub use tally::Pairs;

/// The periods whose buckets fair play is kept for.
pub const PERIODS: [Period; 3] = [Period::Day, Period::Week, Period::Month];

/// Whether fair play is kept for `period`'s buckets.
pub fn kept(period: Period) -> bool {
    PERIODS.contains(&period)
}

/// Ids of the revocations an admin's fair-play action appends start so...
pub const REVOCATION_PREFIX: &str = "fair-play:";
/// ...or so, followed by a hash, for an event id too long to prefix: a
/// space of its own, which no prefixed id can fall in.
pub const HASHED_REVOCATION_PREFIX: &str = "fair-play#:";

/// Whether `id` lies in the space of fair play's revocation ids.
pub fn reserved(id: &str) -> bool {
    id.starts_with(REVOCATION_PREFIX) || id.starts_with(HASHED_REVOCATION_PREFIX)
}

/// A change to one bucket's fair-play tallies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// An event of `from` that earned `to` `points` (`events` -1 and
    /// negative points when it is revoked).
    Pair {
        from: &'a MemberId,
        to: &'a MemberId,
        events: i64,
        points: i64,
    },
    /// An event of `from` that earned anyone else points.
    Gave { from: &'a MemberId, events: i64 },
}

/// Where [`observe`] hands its changes.
pub trait Sink {
    fn change(&mut self, bucket: Bucket, change: Change<'_>);

    /// Whether the buckets of `period` are kept: the others are not worked out.
    fn keeps(&self, period: Period) -> bool {
        kept(period)
    }
}

/// Hands `sink` what one recorded step changed in the fair-play tallies:
/// `outcome` is what the step recorded for an applied event or for the
/// revocation of one.
pub fn observe<S: Sink>(rules: &RuleSet, outcome: &Outcome, sink: &mut S) {
    let Some((from, paid)) = paid(outcome) else {
        return;
    };
    let Some(effects) = &outcome.effects else {
        return;
    };
    let sign = outcome.sign;
    let date = outcome.engine_date(rules, effects.occurred_at);
    for period in PERIODS {
        if !sink.keeps(period) {
            continue;
        }
        let bucket = Bucket::containing(period, date, rules.week_starts);
        sink.change(bucket, Change::Gave { from, events: sign });
        for &(to, points) in &paid {
            sink.change(
                bucket,
                Change::Pair {
                    from,
                    to,
                    events: sign,
                    points: points * sign,
                },
            );
        }
    }
}

/// The actor of the event `outcome` applied or undid, and the points it
/// earned every other member, summed per member (none when it earned
/// nobody else anything).
fn paid(outcome: &Outcome) -> Option<(&MemberId, Vec<(&MemberId, i64)>)> {
    let effects = outcome.effects.as_ref()?;
    let from = effects.counted.as_ref()?.actor.as_ref()?;
    let mut paid: Vec<(&MemberId, i64)> = Vec::new();
    for award in &effects.awards {
        if award.member == *from {
            continue;
        }
        match paid.iter_mut().find(|(m, _)| *m == &award.member) {
            Some((_, points)) => *points += award.points,
            None => paid.push((&award.member, award.points)),
        }
    }
    paid.retain(|(_, points)| *points > 0);
    (!paid.is_empty()).then_some((from, paid))
}

/// Whether `outcome`, as recorded for an applied event, makes it one of the
/// pair's events in `bucket`: its actor `from` earned `to` points through
/// it, it fell in `bucket`, and it has not been revoked.
pub fn pair_event(
    rules: &RuleSet,
    outcome: &Outcome,
    from: &MemberId,
    to: &MemberId,
    bucket: &Bucket,
) -> bool {
    let Some(effects) = &outcome.effects else {
        return false;
    };
    if outcome.sign < 0 || effects.revoked {
        return false;
    }
    let Some((actor, paid)) = paid(outcome) else {
        return false;
    };
    actor == from
        && paid.iter().any(|(m, _)| *m == to)
        && Bucket::containing(
            bucket.period,
            outcome.engine_date(rules, effects.occurred_at),
            rules.week_starts,
        ) == *bucket
}

/// The id of the revocation that fair play appends for event `id`:
/// `fair-play:<id>`, or, when that would pass the 200 bytes of an event id,
/// `fair-play#:` and a hash of the id.
pub fn revocation_id(id: &str) -> String {
    if REVOCATION_PREFIX.len() + id.len() <= crate::ids::MAX_ID_BYTES {
        format!("{REVOCATION_PREFIX}{id}")
    } else {
        format!(
            "{HASHED_REVOCATION_PREFIX}{:032x}",
            xxhash_rust::xxh3::xxh3_128(id.as_bytes())
        )
    }
}

#[cfg(test)]
mod tests;
