//! What applying an event gives back: the [`Outcome`] a store keeps and
//! answers, and the leaderboard [`Increment`]s it makes.

use std::cell::Cell;
use std::num::NonZeroU64;

use serde::{Deserialize, Serialize};

use super::{BadgeGranted, Effects, LevelUp, Status};
use crate::calendar::{Bucket, Day, Period};
use crate::event::Event;
use crate::ids::{CommunityId, MemberId};
use crate::rules::{Metric, Role, RuleSet};

/// The result of applying one event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub status: Status,
    /// +1 for an event, -1 for a revocation (whose `effects` are the revoked event's).
    pub sign: i64,
    /// Boxed: a store keeps it, often for a long time, and moves it into
    /// its map of revocable events without copying it.
    pub effects: Option<Box<Effects>>,
    /// Boxed slices, not `Vec`s, like the lists of effects: few events
    /// grant a badge or a level, and stores keep an outcome per event.
    pub badges: Box<[BadgeGranted]>,
    pub level_ups: Box<[LevelUp]>,
    /// The fingerprint of the rule set that reckoned [`Outcome::engine_day`],
    /// `None` when none did (or its fingerprint was 0). Kept apart from the
    /// day, not as one optional pair, so that an outcome takes 64 bytes.
    #[serde(skip)]
    pub(super) engine_rules: Option<NonZeroU64>,
    /// The event's day in the engine calendar, as the rule set of
    /// `engine_rules` reckoned it: leaderboard buckets need it again.
    #[serde(skip, default = "unreckoned")]
    pub(super) engine_day: Day,
}

/// The day of an outcome no rule set reckoned, never read.
fn unreckoned() -> Day {
    Day(0)
}

/// A leaderboard change for a store to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Increment<'a> {
    pub board: &'a str,
    /// `None` for the global scope.
    pub community: Option<&'a CommunityId>,
    pub bucket: Bucket,
    pub member: &'a MemberId,
    pub delta: i64,
}

/// Outcomes are equal when they say the same: how the engine reckoned the
/// day is left out.
impl PartialEq for Outcome {
    fn eq(&self, other: &Outcome) -> bool {
        self.status == other.status
            && self.sign == other.sign
            && self.effects == other.effects
            && self.badges == other.badges
            && self.level_ups == other.level_ups
    }
}

impl Outcome {
    /// An outcome with `status` that changed nothing.
    pub fn unchanged(status: Status) -> Outcome {
        Outcome {
            status,
            sign: 1,
            effects: None,
            badges: Box::default(),
            level_ups: Box::default(),
            engine_rules: None,
            engine_day: unreckoned(),
        }
    }

    /// An event's outcome as a store recorded it.
    pub fn recorded(sign: i64, effects: Option<Effects>) -> Outcome {
        Outcome {
            sign,
            effects: effects.map(Box::new),
            ..Outcome::unchanged(Status::Applied)
        }
    }

    /// An applied event's outcome, its day in the engine calendar reckoned
    /// by `rules` (of fingerprint `fingerprint`).
    pub(super) fn applied(fingerprint: u64, day: Day) -> Outcome {
        Outcome {
            engine_rules: NonZeroU64::new(fingerprint),
            engine_day: day,
            ..Outcome::unchanged(Status::Applied)
        }
    }

    pub(super) fn ignored() -> Outcome {
        Outcome::unchanged(Status::Ignored)
    }

    /// The awards to report, negative for a revocation.
    pub fn awards(&self) -> impl Iterator<Item = (&MemberId, &str, i64)> {
        self.effects
            .iter()
            .flat_map(|e| &e.awards)
            .map(|a| (&a.member, &*a.rule, a.points * self.sign))
    }

    /// Effects to keep for a later revocation: those of an applied event
    /// that is not itself a revocation.
    pub fn revocable(&self) -> Option<&Effects> {
        (self.sign > 0).then_some(self.effects.as_deref()).flatten()
    }

    /// The day of the event (at `occurred_at`) in the engine's calendar,
    /// as the engine reckoned it when it can tell.
    pub fn engine_date(&self, rules: &RuleSet, occurred_at: jiff::Timestamp) -> jiff::civil::Date {
        self.day_in_engine(rules, occurred_at).date()
    }

    fn day_in_engine(&self, rules: &RuleSet, occurred_at: jiff::Timestamp) -> Day {
        match self.engine_rules {
            Some(fingerprint) if fingerprint.get() == rules.fingerprint => self.engine_day,
            _ => rules.engine_day(occurred_at),
        }
    }

    /// Hands `take` every leaderboard change this outcome makes, under
    /// `rules`, board by board in rule-file order.
    ///
    /// Handed over as they are made, never gathered: a list of them was an
    /// allocation every applied event paid for, and an iterator over the
    /// nested loops below copied its state at every step.
    pub fn for_each_increment<'a>(
        &'a self,
        rules: &'a RuleSet,
        mut take: impl FnMut(Increment<'a>),
    ) {
        let Some(effects) = &self.effects else {
            return;
        };
        let buckets = buckets_kept(rules, self.day_in_engine(rules, effects.occurred_at));
        for board in &rules.leaderboards {
            let mut push = |member: &'a MemberId, delta: i64| {
                for period in &board.periods {
                    let Some(bucket) = buckets[*period as usize] else {
                        continue;
                    };
                    if board.global {
                        take(Increment {
                            board: &board.id,
                            community: None,
                            bucket,
                            member,
                            delta,
                        });
                    }
                    if let (true, Some(c)) = (board.community, &effects.community) {
                        take(Increment {
                            board: &board.id,
                            community: Some(c),
                            bucket,
                            member,
                            delta,
                        });
                    }
                }
            };
            match board.metric {
                Metric::Points => {
                    for a in &effects.awards {
                        push(&a.member, a.points * self.sign);
                    }
                }
                Metric::Count { action, role } => {
                    let Some(c) = &effects.counted else { continue };
                    if c.kind != rules.actions[action].kind {
                        continue;
                    }
                    let member = match role {
                        Role::Actor => c.actor.as_ref(),
                        Role::Received => c.received_by.as_ref(),
                    };
                    if let Some(m) = member {
                        push(m, self.sign);
                    }
                }
            }
        }
    }
}

/// The bucket holding `day` of every period some board keeps (`None` for
/// the others).
///
/// Events come mostly in time order, so the buckets of the last day asked
/// are kept, one day per thread: calendar arithmetic was a tenth of the
/// engine's time per event.
fn buckets_kept(rules: &RuleSet, day: Day) -> [Option<Bucket>; Period::ALL.len()] {
    type Key = (u64, jiff::civil::Weekday, [bool; Period::ALL.len()], Day);
    type Buckets = [Option<Bucket>; Period::ALL.len()];
    thread_local! {
        // Apart, so that the usual case reads the key and the buckets once.
        static KEY: Cell<Option<Key>> = const { Cell::new(None) };
        static BUCKETS: Cell<Buckets> = const { Cell::new([None; Period::ALL.len()]) };
    }
    let key: Key = (
        rules.fingerprint,
        rules.week_starts,
        rules.periods_kept,
        day,
    );
    if KEY.get() == Some(key) {
        return BUCKETS.get();
    }
    let date = day.date();
    let buckets = Period::ALL.map(|p| {
        let used = rules.periods_kept[p as usize];
        used.then(|| Bucket::containing(p, date, rules.week_starts))
    });
    BUCKETS.set(buckets);
    KEY.set(Some(key));
    buckets
}

/// The members whose state applying `event` may read or change: stores load
/// these before calling [`RuleSet::apply`]. `revoked` is the stored effects
/// of the event that `event.revokes` names, if any.
pub fn members_touched(event: &Event, revoked: Option<&Effects>) -> Vec<MemberId> {
    let mut out: Vec<MemberId> = Vec::new();
    let mut add = |m: &MemberId| {
        if !out.contains(m) {
            out.push(m.clone());
        }
    };
    if !event.actor_unknown {
        add(&event.actor);
    }
    if let Some(author) = event.target.as_ref().and_then(|t| t.author.as_ref()) {
        add(author);
    }
    if let Some(e) = revoked {
        e.awards.iter().for_each(|a| add(&a.member));
        e.slots.iter().for_each(|s| add(&s.member));
        if let Some(c) = &e.counted {
            c.actor.iter().for_each(&mut add);
            c.received_by.iter().for_each(&mut add);
        }
    }
    out
}
