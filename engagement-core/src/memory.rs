//! A whole deployment's derived state in memory: members, the outcome of
//! every event seen (for duplicates and revocations) and the leaderboards.
//!
//! The embedded store and `rules simulate` both run on this.

// A fixed-seed fast hash: one lookup per member and per event id on every event.
type HashMap<K, V> = hashbrown::HashMap<K, V, foldhash::fast::FixedState>;

use crate::board::Boards;
use crate::engine::{Increment, Outcome, Status};
use crate::event::Event;
use crate::fair_play::Pairs;
use crate::ids::{EventId, MemberId};
use crate::insights::{self, Insights};
use crate::rules::RuleSet;
use crate::state::MemberState;
use crate::step::{Stepped, answer, step};

#[derive(Debug, Default, Clone)]
pub struct Memory {
    pub members: HashMap<MemberId, MemberState>,
    pub boards: Boards,
    /// Boxed: most of a million-event simulation's memory is this map, and
    /// its table then holds pointers, not whole outcomes at 1/8 vacancy.
    outcomes: HashMap<EventId, Box<Outcome>>,
    /// Knowledge-flow insights, when kept.
    pub insights: Option<Box<Insights>>,
    /// Fair-play tallies, when kept.
    pub fair_play: Option<Box<Pairs>>,
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
        let stepped = self.take(rules, event, |_| true);
        answer(&self.outcomes, event, stepped)
    }

    /// [`Memory::ingest`] keeping only the leaderboard increments `keep`
    /// chooses (a store that lets old boards go).
    pub fn ingest_keeping(
        &mut self,
        rules: &RuleSet,
        event: &Event,
        keep: impl Fn(&Increment<'_>) -> bool,
    ) -> Outcome {
        let stepped = self.take(rules, event, keep);
        answer(&self.outcomes, event, stepped)
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
        match self.take(rules, event, keep) {
            Stepped::Duplicate => Status::Duplicate,
            Stepped::Recorded { status, .. } => status,
        }
    }

    /// One [`step`], then the leaderboard increments of what it recorded.
    fn take(
        &mut self,
        rules: &RuleSet,
        event: &Event,
        keep: impl Fn(&Increment<'_>) -> bool,
    ) -> Stepped {
        let stepped = step(rules, &mut self.members, &mut self.outcomes, event);
        if let (Stepped::Recorded { .. }, Some(outcome)) = (stepped, self.outcomes.get(&event.id)) {
            let mut increments = outcome.increments(rules);
            increments.retain(keep);
            self.boards.apply(&increments);
            if let Some(tally) = &mut self.insights {
                let home = insights::actor(outcome)
                    .and_then(|a| self.members.get(a))
                    .and_then(|m| m.home.as_ref());
                tally.observe(rules, event, outcome, home);
            }
            if let Some(pairs) = &mut self.fair_play {
                pairs.observe(rules, outcome);
            }
        }
        stepped
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
