//! Badges and levels: what a member reached after an event.

use jiff::Timestamp;

use super::{BadgeGranted, Effects, LevelUp, Members, Outcome, Touch};
use crate::ids::MemberId;
use crate::rules::{Badge, Criterion, Role, RuleSet};
use crate::state::{MemberState, TiersHeld};

impl RuleSet {
    /// Grants the badges and reports the level-ups of every member touched.
    pub(super) fn settle<M: Members>(
        &self,
        members: &mut M,
        effects: &Effects,
        outcome: &mut Outcome,
    ) {
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
    pub(super) fn settle_member(
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
        // Levels rise with points: only a gain can reach a new one.
        if gained > 0 {
            let before = self.level_index(state.points - gained);
            let after = self.level_index(state.points);
            if after > before {
                let level = LevelUp {
                    member: member.clone(),
                    level: self.levels[after].name.clone(),
                };
                super::push(&mut outcome.level_ups, level);
            }
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
        out: &mut Box<[BadgeGranted]>,
        touch: Touch,
        points_moved: bool,
    ) {
        let every = state.badges_checked != self.fingerprint;
        state.badges_checked = self.fingerprint;
        let checked = match every {
            true => self.badges_moved.list(Touch::Any, true),
            false => self.badges_moved.list(touch, points_moved),
        };
        for &i in checked {
            let badge = &self.badges[i];
            let Some(value) = self.progress_value(&badge.criterion, state) else {
                continue;
            };
            // Tiers ask for more and more: the member's held ones are read
            // only when the value reaches one at all.
            let reached = badge.tiers.partition_point(|t| t.at_least <= value);
            if reached == 0 {
                continue;
            }
            // Holding every tier reached is the common case, and then
            // nothing is granted.
            let held = self.tiers_held(state, i).min(reached);
            for (tier_idx, tier) in badge.tiers.iter().enumerate().take(reached).skip(held) {
                state.badges.push(crate::state::HeldBadge {
                    badge: badge.id.clone(),
                    tier: tier_idx,
                    awarded_at: at,
                    reason: None,
                });
                let granted = BadgeGranted {
                    member: member.clone(),
                    badge: badge.id.clone(),
                    tier: tier.name.clone(),
                };
                super::push(out, granted);
            }
        }
    }

    /// How many tiers of the badge at position `badge` the member holds
    /// (entries of their badges that name it).
    fn tiers_held(&self, state: &mut MemberState, badge: usize) -> usize {
        let held = &mut state.held_by_badge;
        if held.fingerprint != self.fingerprint || held.counted > state.badges.len() {
            *held = TiersHeld {
                fingerprint: self.fingerprint,
                counted: 0,
                by_badge: vec![0; self.badges.len()].into(),
            };
        }
        for h in &state.badges[held.counted..] {
            if let Some(n) = self.badges.iter().position(|b| b.id == h.badge) {
                held.by_badge[n] += 1;
            }
        }
        held.counted = state.badges.len();
        held.by_badge[badge] as usize
    }

    /// The member's current value for a badge criterion (`None` for manual badges).
    #[inline]
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

/// For every kind of change an event makes to a member, the badges (by
/// position, in rule-file order) whose value it may move: the badges an
/// event checks, without asking each one.
#[derive(Debug, Clone)]
pub(crate) struct BadgesMoved {
    /// By action, by whether the streak was kept, by whether points moved.
    acted: Vec<[[Vec<usize>; 2]; 2]>,
    /// By action, by whether points moved.
    received: Vec<[Vec<usize>; 2]>,
    /// By whether points moved.
    awarded: [Vec<usize>; 2],
    any: [Vec<usize>; 2],
}

impl BadgesMoved {
    pub(crate) fn new(badges: &[Badge], actions: usize) -> BadgesMoved {
        let moved = |touch: Touch, points: bool| -> Vec<usize> {
            (badges.iter().enumerate())
                .filter(|(_, b)| may_move(&b.criterion, touch, points))
                .map(|(i, _)| i)
                .collect()
        };
        let both = |touch: Touch| [moved(touch, false), moved(touch, true)];
        BadgesMoved {
            acted: (0..actions)
                .map(|action| [false, true].map(|streak| both(Touch::Acted { action, streak })))
                .collect(),
            received: (0..actions)
                .map(|action| both(Touch::Received { action }))
                .collect(),
            awarded: both(Touch::Awarded),
            any: both(Touch::Any),
        }
    }

    /// The badges `touch` (and a change of points, when `points_moved`)
    /// may move, in rule-file order.
    fn list(&self, touch: Touch, points_moved: bool) -> &[usize] {
        let p = usize::from(points_moved);
        let lists = match touch {
            Touch::Acted { action, streak } => {
                self.acted.get(action).map(|a| &a[usize::from(streak)])
            }
            Touch::Received { action } => self.received.get(action),
            Touch::Awarded => Some(&self.awarded),
            Touch::Any => Some(&self.any),
        };
        lists.map_or(&self.any[1], |l| &l[p])
    }
}

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
