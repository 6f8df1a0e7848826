//! A whole deployment's derived state in memory: members, the outcome of
//! every event seen (for duplicates and revocations) and the leaderboards.
//!
//! The embedded store and `rules simulate` both run on this.

use std::collections::HashMap;

use crate::board::Boards;
use crate::engine::{Outcome, Status};
use crate::event::Event;
use crate::ids::{EventId, MemberId};
use crate::rules::RuleSet;
use crate::state::MemberState;

#[derive(Debug, Default, Clone)]
pub struct Memory {
    pub members: HashMap<MemberId, MemberState>,
    pub boards: Boards,
    outcomes: HashMap<EventId, Outcome>,
}

impl Memory {
    /// Applies an event once: a second delivery of the same id changes
    /// nothing and answers the first outcome marked `duplicate`.
    pub fn ingest(&mut self, rules: &RuleSet, event: &Event) -> Outcome {
        if let Some(first) = self.outcomes.get(&event.id) {
            let mut again = first.clone();
            again.status = Status::Duplicate;
            return again;
        }
        let revoked = event
            .revokes
            .as_ref()
            .and_then(|id| self.outcomes.get_mut(id))
            .filter(|o| o.sign > 0)
            .and_then(|o| o.effects.as_mut());
        let outcome = rules.apply(&mut self.members, event, revoked);
        self.boards.apply(&outcome.increments(rules));
        self.outcomes.insert(event.id.clone(), outcome.clone());
        outcome
    }

    /// The outcome first given for an event id.
    pub fn outcome(&self, id: &EventId) -> Option<&Outcome> {
        self.outcomes.get(id)
    }

    /// Every event id seen with its first outcome, in no particular order.
    pub fn outcomes(&self) -> impl Iterator<Item = (&EventId, &Outcome)> {
        self.outcomes.iter()
    }

    pub fn events_seen(&self) -> usize {
        self.outcomes.len()
    }
}
