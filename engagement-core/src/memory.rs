//! A whole deployment's derived state in memory: members, the outcome of
//! every event seen (for duplicates and revocations) and the leaderboards.
//!
//! The embedded store and `rules simulate` both run on this.

// A fixed-seed fast hash: one lookup per member and per event id on every event.
type HashMap<K, V> = hashbrown::HashMap<K, V, foldhash::fast::FixedState>;

use crate::board::{BoardKey, Boards};
use crate::calendar::Bucket;
use crate::engine::{Increment, Outcome, Status};
use crate::event::Event;
use crate::fair_play::Pairs;
use crate::ids::{CommunityId, EventId, MemberId};
use crate::insights::{self, Insights, Parts, Report};
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
    /// When set, recorded steps are gathered here for tallies kept
    /// elsewhere (see [`Memory::hand_off`]) instead of taken in above.
    handed: Option<Vec<Observed>>,
}

/// What the insights and fair-play tallies take in of one recorded step,
/// owned: a replay hands these to a thread of their own.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The event the step applied or undid ([`insights::subject`]).
    subject: Option<EventId>,
    outcome: Outcome,
    /// The home community of the step's actor after it.
    home: Option<CommunityId>,
}

impl Observed {
    /// Takes the step in, in the same order as the steps were recorded.
    pub fn feed(
        &self,
        rules: &RuleSet,
        insights: Option<&mut Insights>,
        pairs: Option<&mut Pairs>,
    ) {
        if let Some(tally) = insights {
            let home = self.home.as_ref();
            tally.observe_subject(rules, self.subject.as_ref(), &self.outcome, home);
        }
        if let Some(pairs) = pairs {
            pairs.observe(rules, &self.outcome);
        }
    }
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

    /// What the insights report on a scope and bucket reads, when insights
    /// are kept: the tallies (see [`Insights::parts`]), with the points of
    /// the board that keeps that period and scope when the rules have one,
    /// which holds exactly the distribution asked.
    pub fn insight_parts(
        &self,
        rules: &RuleSet,
        community: Option<&CommunityId>,
        bucket: Bucket,
    ) -> Option<Parts> {
        let board = insights::points_board(rules, bucket.period, community.is_some());
        let insights = self.insights.as_deref()?;
        let mut parts = insights.parts_with(community, &bucket, board.is_none());
        if let Some(board) = board {
            let key = BoardKey {
                board: board.into(),
                community: community.cloned(),
                bucket,
            };
            parts.points = self.boards.scores(&key).filter(|p| *p > 0).collect();
        }
        Some(parts)
    }

    /// The insights report on a scope and bucket (see [`Memory::insight_parts`]).
    pub fn insights_report(
        &self,
        rules: &RuleSet,
        community: Option<&CommunityId>,
        bucket: Bucket,
        admin: bool,
    ) -> Option<Report> {
        let parts = self.insight_parts(rules, community, bucket)?;
        Some(Report::build(community, bucket, parts, admin))
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
            let mut applying = self.boards.applying();
            outcome.for_each_increment(rules, |inc| {
                if keep(&inc) {
                    applying.take(inc);
                }
            });
            let home = || {
                insights::actor(outcome)
                    .and_then(|a| self.members.get(a))
                    .and_then(|m| m.home.as_ref())
            };
            if let Some(handed) = &mut self.handed {
                handed.push(Observed {
                    subject: insights::subject(event, outcome).cloned(),
                    outcome: (**outcome).clone(),
                    home: home().cloned(),
                });
                return stepped;
            }
            if let Some(tally) = &mut self.insights {
                tally.observe(rules, event, outcome, home());
            }
            if let Some(pairs) = &mut self.fair_play {
                pairs.observe(rules, outcome);
            }
        }
        stepped
    }

    /// From now on, recorded steps are gathered for [`Memory::handed`]
    /// instead of taken in by the tallies kept here: a replay takes them
    /// in on another thread (with [`Observed::feed`]) while the next
    /// events are applied.
    pub fn hand_off(&mut self) {
        self.handed = Some(Vec::new());
    }

    /// Steps are taken in by the tallies kept here again; those still
    /// gathered are handed back.
    pub fn take_in_place(&mut self) -> Vec<Observed> {
        self.handed.take().unwrap_or_default()
    }

    /// The steps gathered since the last call (see [`Memory::hand_off`]).
    pub fn handed(&mut self) -> Vec<Observed> {
        self.handed.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// How many steps are gathered (see [`Memory::hand_off`]).
    pub fn handed_len(&self) -> usize {
        self.handed.as_ref().map_or(0, Vec::len)
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
