//! The engine: `(rules, member states, event) -> outcome`.
//!
//! Pure and deterministic: time comes from the event, the variable reward
//! from a hash of the event id and rule id.

use std::cell::Cell;
use std::collections::HashMap;
use std::hash::BuildHasher;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::calendar::Day;
use crate::event::{Adjustment, Event, Target};
use crate::ids::{CommunityId, MemberId};
use crate::name::Name;
use crate::rules::{ActionIdx, PointsRule, Role, RuleSet, Stage};
use crate::state::{CapKey, MemberState, Table};

mod badges;
mod explain;
mod outcome;

pub(crate) use badges::BadgesMoved;
pub use explain::{Line, Note, Reason};
pub use outcome::{Increment, Outcome, members_touched};

/// The rule name of an admin's manual adjustment of points (reserved: no
/// points rule of a rule file may take it).
pub const ADJUSTMENT_RULE: &str = "adjustment";

/// Access to the states of the members an event touches. Stores load those
/// members (see [`members_touched`]) into a map before applying.
pub trait Members {
    /// The member's state, created empty when unknown.
    fn member(&mut self, id: &MemberId) -> &mut MemberState;
}

impl<S: BuildHasher> Members for HashMap<MemberId, MemberState, S> {
    fn member(&mut self, id: &MemberId) -> &mut MemberState {
        self.entry(id.clone()).or_default()
    }
}

/// Found by reference: the id is copied only for a new member.
impl<S: BuildHasher> Members for hashbrown::HashMap<MemberId, MemberState, S> {
    fn member(&mut self, id: &MemberId) -> &mut MemberState {
        self.entry_ref(id).or_default()
    }
}

/// How an event was taken.
///
/// Stores keep it by position in compact records: add variants at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Applied,
    Duplicate,
    Ignored,
}

/// Points given to (or, when negative, taken back from) a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Award {
    pub member: MemberId,
    pub rule: Name,
    pub points: i64,
    /// The recipient's local day, whose cap room the award used.
    pub day: Day,
    /// Whether the award used pair-cap room (`[fair_play] pair_daily_cap`)
    /// between the recipient and the event's actor.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pair: bool,
}

/// The counts an event added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counted {
    pub kind: Name,
    pub stage: Stage,
    /// `None` when the platform did not say who acted.
    #[serde(default)]
    pub actor: Option<MemberId>,
    pub received_by: Option<MemberId>,
    /// Whether the actor's per-community count of this kind was kept.
    pub by_community: bool,
}

/// A `once_per` slot an event used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub member: MemberId,
    pub key: u64,
}

/// What an applied event changed, kept so that a revocation can undo exactly that.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effects {
    pub occurred_at: Timestamp,
    pub community: Option<CommunityId>,
    /// Most events award once: that one is kept inline.
    pub awards: Awards,
    pub counted: Option<Counted>,
    /// Boxed slices, not `Vec`s, like `notes`: most events have none or
    /// one, and without a capacity beside them effects fit 192 bytes.
    pub slots: Box<[Slot]>,
    /// The points rules that paid less than their points, and why.
    #[serde(default, skip_serializing_if = "<[Note]>::is_empty")]
    pub notes: Box<[Note]>,
    /// The event's target, kept for the actions that ask, answer or accept
    /// questions: undoing their insights needs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Boxed: most events have none, and effects are kept for a long time.
    pub target: Option<Box<Target>>,
    /// Set once the event has been revoked.
    #[serde(default)]
    pub revoked: bool,
}

impl Effects {
    /// The effects of `event` before anything is applied.
    fn empty(event: &Event) -> Box<Effects> {
        Box::new(Effects {
            occurred_at: event.occurred_at,
            community: event.community.clone(),
            awards: Awards::new(),
            counted: None,
            slots: Box::default(),
            notes: Box::default(),
            target: None,
            revoked: false,
        })
    }
}

/// Adds `item` to the end of a boxed slice, which holds no room to spare.
fn push<T>(list: &mut Box<[T]>, item: T) {
    let mut items = std::mem::take(list).into_vec();
    items.reserve_exact(1);
    items.push(item);
    *list = items.into_boxed_slice();
}

/// The awards of one event: one inline, more on the heap.
pub type Awards = smallvec::SmallVec<[Award; 1]>;

/// A badge tier granted by an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadgeGranted {
    pub member: MemberId,
    pub badge: Name,
    pub tier: Option<String>,
}

/// A member reaching a higher level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelUp {
    pub member: MemberId,
    pub level: String,
}

/// What an event changed for one member, to tell which badges may have
/// come within reach.
#[derive(Debug, Clone, Copy)]
enum Touch {
    /// The member did `action`; `streak` when it kept their streak going.
    Acted { action: ActionIdx, streak: bool },
    /// The member authored what `action` acted on.
    Received { action: ActionIdx },
    /// Points at most.
    Awarded,
    /// Unknown: every badge is checked.
    Any,
}

impl RuleSet {
    /// Applies one event to the members' states.
    ///
    /// `revoked` must be the stored effects of the event named by
    /// `event.revokes` (`None` when that event is unknown, was ignored, or was
    /// itself a revocation); it is marked revoked in place.
    pub fn apply<M: Members>(
        &self,
        members: &mut M,
        event: &Event,
        revoked: Option<&mut Effects>,
    ) -> Outcome {
        if let (None, Some(adjustment)) = (&event.revokes, &event.adjustment) {
            return self.adjust(members, event, adjustment);
        }
        let action = match event.revokes {
            Some(_) => None,
            None => self.action(&event.kind),
        };
        let Some(action) = action else {
            if event.actor_name.is_some() && !event.actor_unknown {
                take_name(members.member(&event.actor), event);
            }
            return match (&event.revokes, revoked) {
                (Some(_), Some(effects)) if !effects.revoked => self.revoke(members, effects),
                _ => Outcome::ignored(),
            };
        };
        let mut effects = Effects::empty(event);
        if self.insights.of(action).is_some() {
            effects.target = event.target.clone().map(Box::new);
        }
        // The event's day in the engine calendar: the local day of every
        // member without a time zone of their own.
        let today = self.engine_day(event.occurred_at);
        if event.actor_unknown {
            return self.apply_unattributed(members, event, action, effects, today);
        }
        for &rule_idx in &self.rules_by_action[action] {
            self.fire(members, event, rule_idx, &mut effects, today);
        }
        let mut outcome = Outcome::applied(self.fingerprint, today);

        // Each member's state is looked up once for counting and settling:
        // with every award made, settling one member reads only their state.
        let kind = &self.actions[action].kind;
        let stage = self.actions[action].stage;
        let by_community = self.tracks_communities[action] && event.community.is_some();
        let actor = members.member(&event.actor);
        take_name(actor, event);
        if actor.home.is_none() {
            actor.home.clone_from(&event.community);
        }
        actor.counts.update(kind, |n| n.actor += 1);
        actor.stages.add(stage, 1);
        if let (true, Some(c)) = (by_community, &event.community) {
            actor
                .communities
                .update(kind, |per| per.update(c.name(), |n| *n += 1));
        }
        let mut streak_kept = false;
        if let Some(streak) = &self.streak
            && streak.counts[action]
        {
            let day = actor.local_day(event.occurred_at, &self.timezone, today);
            actor.streak.record(day, streak);
            streak_kept = true;
        }
        let touch = Touch::Acted {
            action,
            streak: streak_kept,
        };
        self.settle_member(&event.actor, actor, &effects, &mut outcome, touch);
        let received_by = event.other_author();
        if let Some(author) = received_by {
            let state = members.member(author);
            state.counts.update(kind, |n| n.received += 1);
            let touch = Touch::Received { action };
            self.settle_member(author, state, &effects, &mut outcome, touch);
        }
        // Awards go to the actor or the author today; anyone else is settled
        // after them, as `settle` orders members.
        for (i, award) in effects.awards.iter().enumerate() {
            let m = &award.member;
            let seen = *m == event.actor
                || received_by == Some(m)
                || effects.awards[..i].iter().any(|a| a.member == *m);
            if !seen {
                let state = members.member(m);
                self.settle_member(m, state, &effects, &mut outcome, Touch::Awarded);
            }
        }
        effects.counted = Some(Counted {
            kind: kind.clone(),
            stage,
            actor: Some(event.actor.clone()),
            received_by: received_by.cloned(),
            by_community,
        });
        outcome.effects = Some(effects);
        outcome
    }

    /// Runs one points rule; records the award when it gives anything, and
    /// a note when it gives less than its points.
    fn fire<M: Members>(
        &self,
        members: &mut M,
        event: &Event,
        rule_idx: usize,
        effects: &mut Effects,
        today: Day,
    ) {
        let rule = &self.points[rule_idx];
        let missed = match self.try_fire(members, event, rule, effects, today) {
            Ok(None) => return,
            Ok(Some(member)) => Note {
                rule: rule.id.clone(),
                member: Some(member),
                reason: Reason::Partial,
            },
            Err((reason, member)) => Note {
                rule: rule.id.clone(),
                member: member.cloned(),
                reason,
            },
        };
        push(&mut effects.notes, missed);
    }

    /// `Ok(None)`: the rule paid in full; `Ok(Some(member))`: a cap cut what
    /// it paid `member`; `Err`: why it paid nothing, and whom it would have.
    fn try_fire<'e, M: Members>(
        &self,
        members: &mut M,
        event: &'e Event,
        rule: &PointsRule,
        effects: &mut Effects,
        today: Day,
    ) -> Result<Option<MemberId>, (Reason, Option<&'e MemberId>)> {
        let recipient = match rule.to {
            Role::Actor if event.actor_unknown => return Err((Reason::NoRecipient, None)),
            Role::Actor => &event.actor,
            Role::Received => match event.target.as_ref().and_then(|t| t.author.as_ref()) {
                Some(author) => author,
                None => return Err((Reason::NoRecipient, None)),
            },
        };
        let missed = |reason| Err((reason, Some(recipient)));
        if !rule.communities.is_empty()
            && !event
                .community
                .as_ref()
                .is_some_and(|c| rule.communities.iter().any(|r| r == c.as_str()))
        {
            return missed(Reason::Community);
        }
        if rule.not_self && *recipient == event.actor {
            return missed(Reason::NotSelf);
        }
        if let Some(chance) = rule.chance
            && !fires(event.id.as_str(), &rule.id, chance)
        {
            return missed(Reason::Chance);
        }
        let slot = if rule.once_per_target {
            // Without a target the limit cannot be kept, so the rule gives nothing.
            let Some(target) = &event.target else {
                return missed(Reason::NoTarget);
            };
            // Nor without an actor to keep it for.
            if event.actor_unknown {
                return Err((Reason::NoRecipient, None));
            }
            Some(slot_key(&rule.id, &target.id))
        } else {
            None
        };
        // The slot is taken before the award is known, and given back when
        // nothing is awarded: one lookup of the actor fewer, none when the
        // actor is the recipient.
        let own = *recipient == event.actor;
        if let Some(key) = slot
            && !own
            && !members.member(&event.actor).slots.insert(key)
        {
            return missed(Reason::OncePerUsed);
        }
        let state = members.member(recipient);
        if let Some(key) = slot
            && own
            && !state.slots.insert(key)
        {
            return missed(Reason::OncePerUsed);
        }
        let day = state.local_day(event.occurred_at, &self.timezone, today);
        // The pair cap holds between two members: a known actor paying the
        // target's author, never a member paying themselves.
        let pair = match self.fair_play.pair_daily_cap {
            Some(cap) if rule.to == Role::Received && !own && !event.actor_unknown => {
                Some((&event.actor, cap))
            }
            _ => None,
        };
        let points = match within_caps(rule, pair, state, day, self.cap_window_days) {
            Ok(points) => points,
            Err(reason) => {
                if let Some(key) = slot {
                    members.member(&event.actor).slots.remove(&key);
                }
                return missed(reason);
            }
        };
        state.earn(&rule.id, points);
        // Effects are kept for a long time: a second award sizes the list
        // to the most this event can award (one per rule of its action),
        // not to what a push would reserve.
        if effects.awards.len() == effects.awards.capacity() {
            let most = self.rules_by_action[rule.on].len();
            effects
                .awards
                .reserve_exact(most.saturating_sub(effects.awards.len()));
        }
        effects.awards.push(Award {
            member: recipient.clone(),
            rule: rule.id.clone(),
            points,
            day,
            pair: pair.is_some(),
        });
        if let Some(key) = slot {
            let slot = Slot {
                member: event.actor.clone(),
                key,
            };
            push(&mut effects.slots, slot);
        }
        Ok((points < rule.points).then(|| recipient.clone()))
    }

    /// Applies an admin's adjustment to the actor's points. A take-back
    /// never leaves the member below zero points: it takes what they hold.
    fn adjust<M: Members>(
        &self,
        members: &mut M,
        event: &Event,
        adjustment: &Adjustment,
    ) -> Outcome {
        let today = self.engine_day(event.occurred_at);
        let member = &event.actor;
        let state = members.member(member);
        take_name(state, event);
        let points = adjustment.points.max(-state.points.max(0));
        let day = state.local_day(event.occurred_at, &self.timezone, today);
        let rule = Name::new(ADJUSTMENT_RULE);
        state.earn(&rule, points);
        let mut effects = Effects::empty(event);
        if points != 0 {
            effects.awards.push(Award {
                member: member.clone(),
                rule: rule.clone(),
                points,
                day,
                pair: false,
            });
        }
        if points != adjustment.points {
            let note = Note {
                rule,
                member: Some(member.clone()),
                reason: Reason::Partial,
            };
            push(&mut effects.notes, note);
        }
        let mut outcome = Outcome::applied(self.fingerprint, today);
        self.settle_member(member, state, &effects, &mut outcome, Touch::Awarded);
        outcome.effects = Some(effects);
        outcome
    }

    /// Undoes what an event did. Badges stay; streaks are not rewound.
    fn revoke<M: Members>(&self, members: &mut M, effects: &mut Effects) -> Outcome {
        effects.revoked = true;
        for award in &effects.awards {
            let state = members.member(&award.member);
            state.earn(&award.rule, -award.points);
            // Only positive awards used cap room (a negative adjustment used none).
            if award.points > 0 {
                let window = self.cap_window_days;
                state.use_cap(CapKey::Rule(&award.rule), award.day, -award.points, window);
                if let (
                    true,
                    Some(Counted {
                        actor: Some(from), ..
                    }),
                ) = (award.pair, &effects.counted)
                {
                    state.use_cap(CapKey::Pair(from), award.day, -award.points, window);
                }
            }
        }
        for slot in &effects.slots {
            members.member(&slot.member).slots.remove(&slot.key);
        }
        if let Some(c) = &effects.counted {
            // An event without a known actor counted nothing for one.
            let mut nobody = MemberState::default();
            let actor = match &c.actor {
                Some(a) => members.member(a),
                None => &mut nobody,
            };
            if let Some(n) = actor.counts.get_mut(&c.kind) {
                n.actor = n.actor.saturating_sub(1);
            }
            actor.stages.take(c.stage, 1);
            if let (true, Some(community)) = (c.by_community, &effects.community)
                && let Some(per) = actor.communities.get_mut(&c.kind)
            {
                decrement(per, community.name());
            }
            if let Some(author) = &c.received_by
                && let Some(n) = members.member(author).counts.get_mut(&c.kind)
            {
                n.received = n.received.saturating_sub(1);
            }
        }
        let mut outcome = Outcome {
            sign: -1,
            ..Outcome::unchanged(Status::Applied)
        };
        self.settle(members, effects, &mut outcome);
        outcome.effects = Some(Box::new(effects.clone()));
        outcome
    }

    /// Applies an event whose actor the platform did not name: only rules
    /// paying the target author fire (not those limited `once_per` actor,
    /// which cannot be kept without one), and only the author's received
    /// count moves, so nobody but the author is credited.
    fn apply_unattributed<M: Members>(
        &self,
        members: &mut M,
        event: &Event,
        action: usize,
        mut effects: Box<Effects>,
        today: Day,
    ) -> Outcome {
        // Rules paying the actor, or limited `once_per` actor, find nobody
        // to pay or keep the limit for, and say so.
        for &rule_idx in &self.rules_by_action[action] {
            self.fire(members, event, rule_idx, &mut effects, today);
        }
        let kind = &self.actions[action].kind;
        let received_by = event.target.as_ref().and_then(|t| t.author.clone());
        if let Some(author) = &received_by {
            members
                .member(author)
                .counts
                .update(kind, |n| n.received += 1);
        }
        effects.counted = Some(Counted {
            kind: kind.clone(),
            stage: self.actions[action].stage,
            actor: None,
            received_by,
            by_community: false,
        });
        let mut outcome = Outcome::unchanged(Status::Applied);
        self.settle(members, &effects, &mut outcome);
        outcome.effects = Some(effects);
        outcome
    }
}

impl RuleSet {
    /// The day `at` falls on in the engine's time zone.
    ///
    /// Events come mostly in time order, so the instants of the last day
    /// found are kept, one day per thread, for the rule set (known by its
    /// fingerprint) that asked: the time-zone lookup was a twentieth of the
    /// engine's time per event.
    pub fn engine_day(&self, at: Timestamp) -> Day {
        /// The instants `[start, end)` of one local day, with no change of
        /// offset between them.
        type Span = (u64, Timestamp, Timestamp, Day);
        thread_local! {
            static LAST: Cell<Option<Span>> = const { Cell::new(None) };
        }
        LAST.with(|last| {
            if let Some((fingerprint, start, end, day)) = last.get()
                && fingerprint == self.fingerprint
                && start <= at
                && at < end
            {
                return day;
            }
            let day = Day::of(at, &self.timezone);
            let span = day_span(&self.timezone, day);
            if let Some((start, end)) = span.filter(|(start, end)| *start <= at && at < *end) {
                last.set(Some((self.fingerprint, start, end, day)));
            }
            day
        })
    }
}

/// The instants of `day` in `tz` up to the first change of offset, when
/// there is one within the day: every instant between the two falls on
/// `day`. `None` at the ends of the calendar.
fn day_span(tz: &TimeZone, day: Day) -> Option<(Timestamp, Timestamp)> {
    let first = |date: jiff::civil::Date| {
        let zoned = date.to_zoned_datetime(tz.clone()).ok()?;
        Some(zoned.start_of_day().ok()?.timestamp())
    };
    let date = day.date();
    let start = first(date)?;
    let mut end = first(date.tomorrow().ok()?)?;
    if let Some(change) = tz.following(start).next() {
        end = end.min(change.timestamp());
    }
    Some((start, end))
}

#[cfg(test)]
mod tests;

/// Whether a `chance` rule fires for an event: a stable hash of the event
/// id and rule id, read as a number in [0, 1).
pub fn fires(event_id: &str, rule_id: &str, chance: f64) -> bool {
    let unit = (hash_joined(event_id, rule_id) >> 11) as f64 / (1u64 << 53) as f64;
    unit < chance
}

/// The xxh3 hash of `a`, a 0xff byte and `b`, read as one text. Stored
/// slots and drawn chances depend on its value: it is the value the
/// streaming hasher gives for the three parts in turn, computed in one
/// pass over a copy on the stack, without the streaming hasher's set-up.
fn hash_joined(a: &str, b: &str) -> u64 {
    // Ids and rule names are mostly short: a small buffer is cheap to clear.
    let mut joined = [0u8; 160];
    let len = a.len() + 1 + b.len();
    if let Some(buf) = joined.get_mut(..len) {
        let (head, tail) = buf.split_at_mut(a.len());
        head.copy_from_slice(a.as_bytes());
        if let Some((sep, rest)) = tail.split_first_mut() {
            *sep = 0xff;
            rest.copy_from_slice(b.as_bytes());
        }
        return xxhash_rust::xxh3::xxh3_64(buf);
    }
    let mut h = xxhash_rust::xxh3::Xxh3Default::new();
    h.update(a.as_bytes());
    h.update(&[0xff]);
    h.update(b.as_bytes());
    h.digest()
}

/// The points a rule gives on `day`, cut to the room left under its daily
/// cap and under the pair cap between the recipient and `pair`'s member
/// (whose use it records); why it gives nothing when there is no room.
/// Both caps apply: the smaller room wins.
fn within_caps(
    rule: &PointsRule,
    pair: Option<(&MemberId, i64)>,
    state: &mut MemberState,
    day: Day,
    window: i64,
) -> Result<i64, Reason> {
    if rule.daily_cap.is_none() && pair.is_none() {
        return Ok(rule.points);
    }
    if state.cap_forgotten(day, window) {
        return Err(Reason::CapWindowPassed);
    }
    let mut points = rule.points;
    if let Some(cap) = rule.daily_cap {
        points = points.min(cap - state.cap_used(CapKey::Rule(&rule.id), day));
        if points <= 0 {
            return Err(Reason::DailyCapReached);
        }
    }
    if let Some((from, cap)) = pair {
        points = points.min(cap - state.cap_used(CapKey::Pair(from), day));
        if points <= 0 {
            return Err(Reason::PairCapReached);
        }
        state.use_cap(CapKey::Pair(from), day, points, window);
    }
    if rule.daily_cap.is_some() {
        state.use_cap(CapKey::Rule(&rule.id), day, points, window);
    }
    Ok(points)
}

/// Keeps the display name the platform reports for the actor.
fn take_name(actor: &mut MemberState, event: &Event) {
    if let Some(name) = &event.actor_name
        && actor.profile.name.as_ref() != Some(name)
    {
        actor.profile.name = Some(name.clone());
    }
}

fn slot_key(rule_id: &str, target_id: &str) -> u64 {
    hash_joined(rule_id, target_id)
}

fn decrement(per: &mut Table<u32>, key: &Name) {
    if let Some(n) = per.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            per.remove(key);
        }
    }
}
