//! A whole deployment's derived state in memory: members, the outcome of
//! every event seen (for duplicates and revocations) and the leaderboards.
//!
//! The embedded store and `rules simulate` both run on this.

// A fixed-seed fast hash: one lookup per member and per event id on every event.
type HashMap<K, V> = hashbrown::HashMap<K, V, foldhash::fast::FixedState>;

use crate::board::Boards;
use crate::engine::{Increment, Outcome, Status};
use crate::event::Event;
use crate::ids::{EventId, MemberId};
use crate::rules::RuleSet;
use crate::state::MemberState;

#[derive(Debug, Default, Clone)]
pub struct Memory {
    pub members: HashMap<MemberId, MemberState>,
    pub boards: Boards,
    /// Boxed: most of a million-event simulation's memory is this map, and
    /// its table then holds pointers, not whole outcomes at 1/8 vacancy.
    outcomes: HashMap<EventId, Box<Outcome>>,
}

impl Memory {
    /// For simulations and replays: leaderboards are sorted when read, not
    /// on every change (see [`Boards::deferred`]).
    pub fn deferred() -> Memory {
        Memory {
            boards: Boards::deferred(),
            ..Memory::default()
        }
    }

    /// Applies an event once: a second delivery of the same id changes
    /// nothing and answers the first outcome marked `duplicate`.
    pub fn ingest(&mut self, rules: &RuleSet, event: &Event) -> Outcome {
        let status = self.apply(rules, event);
        let mut outcome = self
            .outcomes
            .get(&event.id)
            .map_or_else(|| Outcome::unchanged(status), |o| Outcome::clone(o));
        outcome.status = status;
        outcome
    }

    /// [`Memory::ingest`] without handing back the outcome, for simulations
    /// and replays that only want the resulting state.
    pub fn apply(&mut self, rules: &RuleSet, event: &Event) -> Status {
        self.apply_keeping(rules, event, |_| true)
    }

    /// [`Memory::apply`] keeping only the leaderboard increments `keep`
    /// chooses: a simulation keeps the boards its report reads.
    pub fn apply_keeping(
        &mut self,
        rules: &RuleSet,
        event: &Event,
        keep: impl Fn(&Increment<'_>) -> bool,
    ) -> Status {
        if self.outcomes.contains_key(&event.id) {
            return Status::Duplicate;
        }
        let revoked = event
            .revokes
            .as_ref()
            .and_then(|id| self.outcomes.get_mut(id))
            .filter(|o| o.sign > 0)
            .and_then(|o| o.effects.as_deref_mut());
        let outcome = rules.apply(&mut self.members, event, revoked);
        let mut increments = outcome.increments(rules);
        increments.retain(keep);
        self.boards.apply(&increments);
        let status = outcome.status;
        self.outcomes.insert(event.id.clone(), Box::new(outcome));
        status
    }

    /// The outcome first given for an event id.
    pub fn outcome(&self, id: &EventId) -> Option<&Outcome> {
        self.outcomes.get(id).map(|o| &**o)
    }

    /// Every event id seen with its first outcome, in no particular order.
    pub fn outcomes(&self) -> impl Iterator<Item = (&EventId, &Outcome)> {
        self.outcomes.iter().map(|(id, o)| (id, &**o))
    }

    pub fn events_seen(&self) -> usize {
        self.outcomes.len()
    }
}
