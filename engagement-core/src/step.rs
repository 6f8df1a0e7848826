//! The one protocol by which a store takes an event: an id seen before is
//! a duplicate and changes nothing; a revocation undoes the effects its
//! target recorded, once; every outcome is recorded under its event's id.
//!
//! Every store runs this: the in-memory deployment ([`Memory`](crate::Memory),
//! hence the embedded store, replays and simulations) and the Redis store
//! (over the records it read in its transaction).

use std::hash::BuildHasher;

use crate::engine::{Members, Outcome, Status};
use crate::event::Event;
use crate::ids::EventId;
use crate::rules::RuleSet;

/// The first outcome recorded for each event id a store has seen.
pub trait Records {
    fn first(&self, id: &EventId) -> Option<&Outcome>;
    fn first_mut(&mut self, id: &EventId) -> Option<&mut Outcome>;
    fn record(&mut self, id: EventId, outcome: Outcome);
}

/// Boxed outcomes: the in-memory deployment keeps millions.
impl<S: BuildHasher> Records for hashbrown::HashMap<EventId, Box<Outcome>, S> {
    fn first(&self, id: &EventId) -> Option<&Outcome> {
        self.get(id).map(|o| &**o)
    }
    fn first_mut(&mut self, id: &EventId) -> Option<&mut Outcome> {
        self.get_mut(id).map(|o| &mut **o)
    }
    fn record(&mut self, id: EventId, outcome: Outcome) {
        self.insert(id, Box::new(outcome));
    }
}

/// The records one Redis transaction read.
impl<S: BuildHasher> Records for std::collections::HashMap<EventId, Outcome, S> {
    fn first(&self, id: &EventId) -> Option<&Outcome> {
        self.get(id)
    }
    fn first_mut(&mut self, id: &EventId) -> Option<&mut Outcome> {
        self.get_mut(id)
    }
    fn record(&mut self, id: EventId, outcome: Outcome) {
        self.insert(id, outcome);
    }
}

/// What a step did to the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stepped {
    /// Seen before: nothing changed; the first outcome stands.
    Duplicate,
    /// A new outcome is recorded under the event's id (`applied` or
    /// `ignored`); `revoked` when it also marked the record of the event it
    /// revoked.
    Recorded { status: Status, revoked: bool },
}

/// Takes one event: see the module's description. The outcome is then
/// `records.first(&event.id)`.
pub fn step<M: Members, R: Records>(
    rules: &RuleSet,
    members: &mut M,
    records: &mut R,
    event: &Event,
) -> Stepped {
    if records.first(&event.id).is_some() {
        return Stepped::Duplicate;
    }
    // Only an applied event that is not itself a revocation can be undone.
    let revoked = event
        .revokes
        .as_ref()
        .and_then(|id| records.first_mut(id))
        .filter(|o| o.sign > 0)
        .and_then(|o| o.effects.as_deref_mut());
    let outcome = rules.apply(members, event, revoked);
    let status = outcome.status;
    let revoked = outcome.sign < 0;
    records.record(event.id.clone(), outcome);
    Stepped::Recorded { status, revoked }
}

/// The outcome to answer for `event` after [`step`]: the recorded one, marked
/// `duplicate` when the step found it there already.
pub fn answer<R: Records>(records: &R, event: &Event, stepped: Stepped) -> Outcome {
    let mut outcome = records
        .first(&event.id)
        .cloned()
        .unwrap_or_else(|| Outcome::unchanged(Status::Ignored));
    if stepped == Stepped::Duplicate {
        outcome.status = Status::Duplicate;
    }
    outcome
}
