//! The engine: `(rules, member states, event) -> outcome`.
//!
//! Pure and deterministic: time comes from the event, the variable reward
//! from a hash of the event id and rule id.

use std::collections::HashMap;
use std::hash::BuildHasher;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::calendar::{Bucket, Day, Period};
use crate::event::Event;
use crate::ids::{CommunityId, MemberId};
use crate::name::Name;
use crate::rules::{ActionIdx, Criterion, Metric, PointsRule, Role, RuleSet, Stage};
use crate::state::{MemberState, Table};

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
    pub awards: Vec<Award>,
    pub counted: Option<Counted>,
    pub slots: Vec<Slot>,
    /// Set once the event has been revoked.
    #[serde(default)]
    pub revoked: bool,
}

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

/// The result of applying one event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub status: Status,
    /// +1 for an event, -1 for a revocation (whose `effects` are the revoked event's).
    pub sign: i64,
    /// Boxed: a store keeps it, often for a long time, and moves it into
    /// its map of revocable events without copying it.
    pub effects: Option<Box<Effects>>,
    pub badges: Vec<BadgeGranted>,
    pub level_ups: Vec<LevelUp>,
    /// The event's day in the engine calendar, with the fingerprint of the
    /// rule set that reckoned it: leaderboard buckets need it again.
    #[serde(skip)]
    engine_day: Option<(u64, Day)>,
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
            badges: Vec::new(),
            level_ups: Vec::new(),
            engine_day: None,
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

    fn ignored() -> Outcome {
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

    /// Every leaderboard change this outcome makes, under `rules`.
    pub fn increments<'a>(&'a self, rules: &'a RuleSet) -> Vec<Increment<'a>> {
        let Some(effects) = &self.effects else {
            return Vec::new();
        };
        // Sized up front: growing the vector dominated the cost of this call.
        let capacity = rules
            .leaderboards
            .iter()
            .map(|b| {
                let scopes = usize::from(b.global) + usize::from(b.community);
                let members = match b.metric {
                    Metric::Points => effects.awards.len(),
                    Metric::Count { .. } => 1,
                };
                b.periods.len() * scopes * members
            })
            .sum();
        let mut out = Vec::with_capacity(capacity);
        let date = match self.engine_day {
            Some((fingerprint, day)) if fingerprint == rules.fingerprint => day.date(),
            _ => rules.timezone.to_datetime(effects.occurred_at).date(),
        };
        // Only the periods some board keeps.
        let buckets = Period::ALL.map(|p| {
            let used = rules.periods_kept[p as usize];
            used.then(|| Bucket::containing(p, date, rules.week_starts))
        });
        for board in &rules.leaderboards {
            let mut push = |member: &'a MemberId, delta: i64| {
                for period in &board.periods {
                    let Some(bucket) = buckets[*period as usize] else {
                        continue;
                    };
                    if board.global {
                        out.push(Increment {
                            board: &board.id,
                            community: None,
                            bucket,
                            member,
                            delta,
                        });
                    }
                    if let (true, Some(c)) = (board.community, &effects.community) {
                        out.push(Increment {
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
        out
    }
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
        let mut effects = Box::new(Effects {
            occurred_at: event.occurred_at,
            community: event.community.clone(),
            awards: Vec::new(),
            counted: None,
            slots: Vec::new(),
            revoked: false,
        });
        // The event's day in the engine calendar: the local day of every
        // member without a time zone of their own.
        let today = Day::of(event.occurred_at, &self.timezone);
        if event.actor_unknown {
            return self.apply_unattributed(members, event, action, effects, today);
        }
        for &rule_idx in &self.rules_by_action[action] {
            self.fire(members, event, rule_idx, &mut effects, today);
        }
        let mut outcome = Outcome {
            engine_day: Some((self.fingerprint, today)),
            ..Outcome::unchanged(Status::Applied)
        };

        // Each member's state is looked up once for counting and settling:
        // with every award made, settling one member reads only their state.
        let kind = &self.actions[action].kind;
        let stage = self.actions[action].stage;
        let by_community = self.tracks_communities[action] && event.community.is_some();
        let actor = members.member(&event.actor);
        take_name(actor, event);
        actor.counts.update(kind, |n| n.actor += 1);
        actor.stages.add(stage, 1);
        if let (true, Some(c)) = (by_community, &event.community) {
            let community = c.name().clone();
            actor
                .communities
                .update(kind, |per| per.update(&community, |n| *n += 1));
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

    /// Runs one points rule; records the award when it gives anything.
    fn fire<M: Members>(
        &self,
        members: &mut M,
        event: &Event,
        rule_idx: usize,
        effects: &mut Effects,
        today: Day,
    ) {
        let rule = &self.points[rule_idx];
        if !rule.communities.is_empty()
            && !event
                .community
                .as_ref()
                .is_some_and(|c| rule.communities.iter().any(|r| r == c.as_str()))
        {
            return;
        }
        let recipient = match rule.to {
            Role::Actor => &event.actor,
            Role::Received => match event.target.as_ref().and_then(|t| t.author.as_ref()) {
                Some(author) => author,
                None => return,
            },
        };
        if rule.not_self && *recipient == event.actor {
            return;
        }
        if let Some(chance) = rule.chance
            && !fires(event.id.as_str(), &rule.id, chance)
        {
            return;
        }
        let slot = if rule.once_per_target {
            // Without a target the limit cannot be kept, so the rule gives nothing.
            let Some(target) = &event.target else { return };
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
            return;
        }
        let state = members.member(recipient);
        if let Some(key) = slot
            && own
            && !state.slots.insert(key)
        {
            return;
        }
        let day = state.local_day(event.occurred_at, &self.timezone, today);
        let Some(points) = within_cap(rule, state, day) else {
            if let Some(key) = slot {
                members.member(&event.actor).slots.remove(&key);
            }
            return;
        };
        state.points += points;
        // Most events award once or twice, and effects are kept for a long
        // time: sized to the most this event can award (one per rule of its
        // action), not to the four a first push would reserve.
        if effects.awards.capacity() == 0 {
            effects
                .awards
                .reserve_exact(self.rules_by_action[rule.on].len());
        }
        effects.awards.push(Award {
            member: recipient.clone(),
            rule: rule.id.clone(),
            points,
            day,
        });
        if let Some(key) = slot {
            effects.slots.reserve_exact(1);
            effects.slots.push(Slot {
                member: event.actor.clone(),
                key,
            });
        }
    }

    /// Undoes what an event did. Badges stay; streaks are not rewound.
    fn revoke<M: Members>(&self, members: &mut M, effects: &mut Effects) -> Outcome {
        effects.revoked = true;
        for award in &effects.awards {
            let state = members.member(&award.member);
            state.points -= award.points;
            state.use_cap(&award.rule, award.day, -award.points);
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
        for &rule_idx in &self.rules_by_action[action] {
            let rule = &self.points[rule_idx];
            if rule.to == Role::Received && !rule.once_per_target {
                self.fire(members, event, rule_idx, &mut effects, today);
            }
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

    /// Grants the badges and reports the level-ups of every member touched.
    fn settle<M: Members>(&self, members: &mut M, effects: &Effects, outcome: &mut Outcome) {
        let counted = effects.counted.as_ref();
        let candidates = || {
            counted
                .and_then(|c| c.actor.as_ref())
                .into_iter()
                .chain(counted.and_then(|c| c.received_by.as_ref()))
                .chain(effects.awards.iter().map(|a| &a.member))
        };
        // Each member once, in order of first mention; the handful of
        // candidates makes rescanning cheaper than collecting them.
        for (i, member) in candidates().enumerate() {
            if candidates().take(i).any(|m| m == member) {
                continue;
            }
            self.settle_member(member, members.member(member), effects, outcome, Touch::Any);
        }
    }

    /// Reports a member's level-up and, for an event (not a revocation),
    /// grants the badges they earned. `effects.occurred_at` dates the badges.
    fn settle_member(
        &self,
        member: &MemberId,
        state: &mut MemberState,
        effects: &Effects,
        outcome: &mut Outcome,
        touch: Touch,
    ) {
        let gained: i64 = effects
            .awards
            .iter()
            .filter(|a| a.member == *member)
            .map(|a| a.points * outcome.sign)
            .sum();
        let before = self.level_index(state.points - gained);
        let after = self.level_index(state.points);
        if after > before {
            outcome.level_ups.push(LevelUp {
                member: member.clone(),
                level: self.levels[after].name.clone(),
            });
        }
        if outcome.sign > 0 {
            let at = effects.occurred_at;
            self.grant_earned(member, state, at, &mut outcome.badges, touch, gained != 0);
        }
    }

    /// Grants every badge tier the member has reached and does not hold.
    ///
    /// Once every badge has been checked under this rule set, a badge out of
    /// reach stays so until the value it counts moves: only badges whose
    /// value `touch` (or a change of points) may have moved are checked again.
    fn grant_earned(
        &self,
        member: &MemberId,
        state: &mut MemberState,
        at: Timestamp,
        out: &mut Vec<BadgeGranted>,
        touch: Touch,
        points_moved: bool,
    ) {
        let every = state.badges_checked != self.fingerprint;
        state.badges_checked = self.fingerprint;
        for badge in &self.badges {
            if !every && !may_move(&badge.criterion, touch, points_moved) {
                continue;
            }
            let held = state.badges.iter().filter(|h| h.badge == badge.id).count();
            if held >= badge.tiers.len() {
                continue;
            }
            let Some(value) = self.progress_value(&badge.criterion, state) else {
                continue;
            };
            for (tier_idx, tier) in badge.tiers.iter().enumerate().skip(held) {
                if value < tier.at_least {
                    break;
                }
                state.badges.push(crate::state::HeldBadge {
                    badge: badge.id.clone(),
                    tier: tier_idx,
                    awarded_at: at,
                    reason: None,
                });
                out.push(BadgeGranted {
                    member: member.clone(),
                    badge: badge.id.clone(),
                    tier: tier.name.clone(),
                });
            }
        }
    }

    /// The member's current value for a badge criterion (`None` for manual badges).
    pub fn progress_value(&self, criterion: &Criterion, state: &MemberState) -> Option<i64> {
        let kind = |a: usize| &self.actions[a].kind;
        Some(match criterion {
            Criterion::Count { action, role } => {
                let c = state.counts.get(kind(*action)).copied().unwrap_or_default();
                i64::from(match role {
                    Role::Actor => c.actor,
                    Role::Received => c.received,
                })
            }
            Criterion::StreakDays => i64::from(state.streak.current),
            Criterion::DistinctCommunities { action } => state
                .communities
                .get(kind(*action))
                .map_or(0, |m| m.len() as i64),
            Criterion::AllStages => state.stages.reached() as i64,
            Criterion::Points => state.points,
            Criterion::Manual => return None,
        })
    }
}

#[cfg(test)]
mod tests;

/// Whether what `touch` changed (or a change of points) can move the value
/// `criterion` counts.
fn may_move(criterion: &Criterion, touch: Touch, points_moved: bool) -> bool {
    match (criterion, touch) {
        (Criterion::Manual, _) => false,
        (Criterion::Points, _) => points_moved,
        (_, Touch::Any) => true,
        (Criterion::Count { action, role }, Touch::Acted { action: done, .. }) => {
            *role == Role::Actor && *action == done
        }
        (Criterion::Count { action, role }, Touch::Received { action: done }) => {
            *role == Role::Received && *action == done
        }
        (Criterion::DistinctCommunities { action }, Touch::Acted { action: done, .. }) => {
            *action == done
        }
        (Criterion::AllStages, Touch::Acted { .. }) => true,
        (Criterion::StreakDays, Touch::Acted { streak, .. }) => streak,
        _ => false,
    }
}

/// Whether a `chance` rule fires for an event: a stable hash of the event
/// id and rule id, read as a number in [0, 1).
pub fn fires(event_id: &str, rule_id: &str, chance: f64) -> bool {
    let mut h = xxhash_rust::xxh3::Xxh3Default::new();
    h.update(event_id.as_bytes());
    h.update(&[0xff]);
    h.update(rule_id.as_bytes());
    let unit = (h.digest() >> 11) as f64 / (1u64 << 53) as f64;
    unit < chance
}

/// The points a rule gives on `day`, cut to the room left under its daily
/// cap (whose use it records); `None` when there is no room.
fn within_cap(rule: &PointsRule, state: &mut MemberState, day: Day) -> Option<i64> {
    let Some(cap) = rule.daily_cap else {
        return Some(rule.points);
    };
    if state.cap_forgotten(day) {
        return None;
    }
    let points = rule.points.min(cap - state.cap_used(&rule.id, day));
    if points <= 0 {
        return None;
    }
    state.use_cap(&rule.id, day, points);
    Some(points)
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
    let mut h = xxhash_rust::xxh3::Xxh3Default::new();
    h.update(rule_id.as_bytes());
    h.update(&[0xff]);
    h.update(target_id.as_bytes());
    h.digest()
}

fn decrement(per: &mut Table<u32>, key: &Name) {
    if let Some(n) = per.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            per.remove(key);
        }
    }
}
