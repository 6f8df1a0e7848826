//! Knowledge-flow insights: is knowledge leaving its silos?
//!
//! Every applied event, and every revocation of one, changes a few tallies
//! of each bucket it falls in (every period, in the whole deployment and in
//! its community). [`observe`] says which, as [`Change`]s handed to a
//! [`Sink`]: the in-memory [`Insights`] keeps them for the embedded store
//! and the command line, the Redis store writes them beside the event's
//! other changes. A [`Report`] is then read from one bucket's tallies
//! without looking at the log again.
//!
//! Questions link across buckets (an answer may come months after its
//! question), so each question keeps its asker and its live answers in a
//! [`Question`] that stores load for the events that touch it.

mod questions;
mod report;
mod tally;

use jiff::Timestamp;
use jiff::civil::Date;

use crate::calendar::{Bucket, Period};
use crate::engine::{Effects, Outcome};
use crate::event::Event;
use crate::ids::{CommunityId, EventId, MemberId};
use crate::rules::{InsightRole, Metric, RuleSet, Stage};

pub use questions::{Asked, Link, Question, Questions, Reply, question_id};
pub use report::{
    BucketSpan, Cell, Concentration, Flow, Holder, MemberCounts, Participation, Parts,
    QuestionCounts, Report, StageCounts, round3,
};
pub use tally::{COMPACT, Insights, Tally};

/// A scalar tally of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counter {
    /// Applied events of known kinds.
    Events,
    /// Applied events of one knowledge-cycle stage.
    Stage(Stage),
    /// Questions asked.
    Asked,
    /// Questions asked that someone other than the asker answered.
    Answered,
    /// Acceptances.
    Accepted,
    /// Acceptances naming the accepted answer's author.
    Credited,
    /// Answers.
    Answers,
    /// Answers given outside the answerer's home community.
    Cross,
}

impl Counter {
    /// Every counter, in a fixed order (stages in cycle order).
    pub const ALL: [Counter; 13] = [
        Counter::Events,
        Counter::Stage(Stage::Create),
        Counter::Stage(Stage::Discover),
        Counter::Stage(Stage::Capture),
        Counter::Stage(Stage::Organize),
        Counter::Stage(Stage::Disseminate),
        Counter::Stage(Stage::Use),
        Counter::Asked,
        Counter::Answered,
        Counter::Accepted,
        Counter::Credited,
        Counter::Answers,
        Counter::Cross,
    ];

    /// Its position in [`Counter::ALL`].
    pub fn index(self) -> usize {
        match self {
            Counter::Events => 0,
            Counter::Stage(s) => 1 + s as usize,
            Counter::Asked => 7,
            Counter::Answered => 8,
            Counter::Accepted => 9,
            Counter::Credited => 10,
            Counter::Answers => 11,
            Counter::Cross => 12,
        }
    }
}

/// One bucket's counters, by [`Counter::index`].
pub type Counts = [i64; Counter::ALL.len()];

/// A change to one bucket's tallies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    Count(Counter, i64),
    /// Events the member acted in (`members.active` counts those above zero).
    Actor(&'a MemberId, i64),
    /// Net points the member earned (the participation distribution).
    Points(&'a MemberId, i64),
    /// Acceptances credited to the member as the accepted answer's author.
    Holder(&'a MemberId, i64),
    /// The seconds from a question to its first answer by someone else;
    /// `None`: the question has no such answer (any more).
    Wait(&'a str, Option<i64>),
    /// Answers by members of home community `from` in community `to`
    /// (whole-deployment scope only).
    Flow(&'a CommunityId, &'a CommunityId, i64),
}

/// Where [`observe`] hands its changes.
pub trait Sink {
    /// `scope` is `None` for the whole deployment.
    fn change(&mut self, scope: Option<&CommunityId>, bucket: Bucket, change: Change<'_>);

    /// The changes of one step to one scope and bucket, in order: a sink
    /// that finds its tallies by scope and bucket can do so once for all.
    fn changes(&mut self, scope: Option<&CommunityId>, bucket: Bucket, changes: &[Change<'_>]) {
        for change in changes {
            self.change(scope, bucket, *change);
        }
    }

    /// Whether the buckets of `period` are kept at all: the others are not
    /// worked out.
    fn keeps(&self, period: Period) -> bool {
        let _ = period;
        true
    }
}

/// The points leaderboard holding the participation distribution of
/// `period` in a scope (`community`, or the whole deployment), if the rules
/// have one: each member's net points there, as a report reads them.
pub fn points_board(rules: &RuleSet, period: Period, community: bool) -> Option<&str> {
    rules
        .leaderboards
        .iter()
        .find(|b| {
            matches!(b.metric, Metric::Points)
                && b.periods.contains(&period)
                && if community { b.community } else { b.global }
        })
        .map(|b| &*b.id)
}

/// Whether insights keep points of their own: some period or scope has no
/// points board to read them from.
pub fn keeps_points(rules: &RuleSet) -> bool {
    Period::ALL.iter().any(|p| {
        [false, true]
            .iter()
            .any(|c| points_board(rules, *p, *c).is_none())
    })
}

/// The bucket of every period holding `at`, in the engine's calendar.
pub fn buckets(rules: &RuleSet, at: Timestamp) -> [Bucket; Period::ALL.len()] {
    let date = rules.timezone.to_datetime(at).date();
    Period::ALL.map(|p| Bucket::containing(p, date, rules.week_starts))
}

/// The question whose record [`observe`] reads for `event`, if any:
/// `revoked` is the stored effects of the event it revokes.
pub fn question_touched<'a>(
    rules: &RuleSet,
    event: &'a Event,
    revoked: Option<&'a Effects>,
) -> Option<&'a str> {
    let (id, kind, target) = match (&event.revokes, revoked) {
        (Some(x), Some(effects)) => (
            x,
            &*effects.counted.as_ref()?.kind,
            effects.target.as_deref(),
        ),
        (Some(_), None) => return None,
        (None, _) => (&event.id, event.kind.as_str(), event.target.as_ref()),
    };
    match rules.insights.of(rules.action(kind)?)? {
        InsightRole::Question => Some(question_id(id, target)),
        InsightRole::Answer => target.map(|t| t.id.as_str()),
        InsightRole::Accepted => None,
    }
}

/// Whose home community [`observe`] needs for `outcome`: its actor (the
/// revoked event's, for a revocation).
pub fn actor(outcome: &Outcome) -> Option<&MemberId> {
    outcome.effects.as_ref()?.counted.as_ref()?.actor.as_ref()
}

/// Hands `sink` what one recorded step changed in the insights: `outcome`
/// is what the step recorded for `event` (an applied event, or the
/// revocation of one), `home` the home community of its actor after the
/// step (see [`actor`]), `questions` where the questions it touches are kept.
pub fn observe<Q: Questions, S: Sink>(
    rules: &RuleSet,
    event: &Event,
    outcome: &Outcome,
    home: Option<&CommunityId>,
    questions: &mut Q,
    sink: &mut S,
) {
    if let Some(id) = subject(event, outcome) {
        observe_subject(rules, id, outcome, home, questions, sink);
    }
}

/// The event a recorded step applied, or undid: `event` itself, or the
/// one it revokes.
pub fn subject<'a>(event: &'a Event, outcome: &Outcome) -> Option<&'a EventId> {
    if outcome.sign > 0 {
        Some(&event.id)
    } else {
        event.revokes.as_ref()
    }
}

/// [`observe`] knowing the step's [`subject`]: all it reads of the event.
pub fn observe_subject<Q: Questions, S: Sink>(
    rules: &RuleSet,
    id: &EventId,
    outcome: &Outcome,
    home: Option<&CommunityId>,
    questions: &mut Q,
    sink: &mut S,
) {
    let Some(effects) = &outcome.effects else {
        return;
    };
    let sign = outcome.sign;
    let date = outcome.engine_date(rules, effects.occurred_at);
    let mut here = Place::on(rules, date, effects.community.as_ref(), sink);
    gather(rules, id, sign, effects, home, questions, sink, &mut here);
    here.flush(sink);
}

/// The changes [`observe`] makes where `effects` happened, gathered in
/// `here`; those to the questions' buckets go to `sink` directly.
#[allow(clippy::too_many_arguments)]
fn gather<'a, Q: Questions, S: Sink>(
    rules: &RuleSet,
    id: &'a EventId,
    sign: i64,
    effects: &'a Effects,
    home: Option<&'a CommunityId>,
    questions: &mut Q,
    sink: &mut S,
    here: &mut Place<'a>,
) {
    for award in &effects.awards {
        here.each(Change::Points(&award.member, award.points * sign));
    }
    // Adjustments and other events of no known kind count nowhere else.
    let Some(counted) = &effects.counted else {
        return;
    };
    here.each(Change::Count(Counter::Events, sign));
    here.each(Change::Count(Counter::Stage(counted.stage), sign));
    if let Some(actor) = &counted.actor {
        here.each(Change::Actor(actor, sign));
    }
    let role = rules
        .action(&counted.kind)
        .and_then(|a| rules.insights.of(a));
    let target = effects.target.as_deref();
    match role {
        None => {}
        Some(InsightRole::Question) => {
            here.each(Change::Count(Counter::Asked, sign));
            let qid = question_id(id, target);
            let question = questions.question(qid);
            let before = question.linked_wait();
            if sign > 0 {
                question.ask(id, counted.actor.as_ref(), effects);
            } else {
                question.unask(id);
            }
            relink(rules, qid, question, before, sink);
        }
        Some(InsightRole::Answer) => {
            here.each(Change::Count(Counter::Answers, sign));
            if let (Some(home), Some(community)) = (home, &effects.community)
                && counted.actor.is_some()
                && home != community
            {
                here.each(Change::Count(Counter::Cross, sign));
                here.global(Change::Flow(home, community, sign));
            }
            if let Some(target) = target {
                let question = questions.question(&target.id);
                let before = question.linked_wait();
                if sign > 0 {
                    question.reply(id, counted.actor.as_ref(), effects.occurred_at);
                } else {
                    question.unreply(id);
                }
                relink(rules, &target.id, question, before, sink);
            }
        }
        Some(InsightRole::Accepted) => {
            here.each(Change::Count(Counter::Accepted, sign));
            if let Some(author) = target.and_then(|t| t.author.as_ref()) {
                here.each(Change::Count(Counter::Credited, sign));
                here.each(Change::Holder(author, sign));
            }
        }
    }
}

/// The changes of a question's link to its first answer, in the buckets
/// where it was asked: `before` is the link before the step.
fn relink<S: Sink>(
    rules: &RuleSet,
    qid: &str,
    question: &Question,
    before: Option<Link>,
    sink: &mut S,
) {
    let after = question.linked_wait();
    if before == after {
        return;
    }
    let place = |link: &Link| (link.asked_at, link.community.clone());
    if let (Some(b), Some(a)) = (&before, &after)
        && place(b) == place(a)
    {
        let mut there = Place::new(rules, a.asked_at, a.community.as_ref(), sink);
        there.each(Change::Wait(qid, Some(a.wait)));
        there.flush(sink);
        return;
    }
    if let Some(b) = &before {
        let mut there = Place::new(rules, b.asked_at, b.community.as_ref(), sink);
        there.each(Change::Count(Counter::Answered, -1));
        there.each(Change::Wait(qid, None));
        there.flush(sink);
    }
    if let Some(a) = &after {
        let mut there = Place::new(rules, a.asked_at, a.community.as_ref(), sink);
        there.each(Change::Count(Counter::Answered, 1));
        there.each(Change::Wait(qid, Some(a.wait)));
        there.flush(sink);
    }
}

/// The buckets (of the periods kept) and scopes an instant in a community
/// falls in, and the changes gathered there: [`Place::flush`] hands them to
/// the sink a scope and bucket at a time, so that each tally is found once
/// per step rather than once per change.
struct Place<'c> {
    buckets: [Option<Bucket>; Period::ALL.len()],
    community: Option<&'c CommunityId>,
    /// Changes in the whole deployment and the community.
    each: Vec<Change<'c>>,
    /// Changes in the whole deployment only.
    global: Vec<Change<'c>>,
}

impl<'c> Place<'c> {
    fn new<S: Sink>(
        rules: &RuleSet,
        at: Timestamp,
        community: Option<&'c CommunityId>,
        sink: &S,
    ) -> Place<'c> {
        Place::on(
            rules,
            rules.timezone.to_datetime(at).date(),
            community,
            sink,
        )
    }

    /// At `date` in the engine's calendar.
    fn on<S: Sink>(
        rules: &RuleSet,
        date: Date,
        community: Option<&'c CommunityId>,
        sink: &S,
    ) -> Place<'c> {
        Place {
            buckets: Period::ALL.map(|p| {
                sink.keeps(p)
                    .then(|| Bucket::containing(p, date, rules.week_starts))
            }),
            community,
            each: Vec::new(),
            global: Vec::new(),
        }
    }

    /// The change in every bucket, in the whole deployment and the community.
    fn each(&mut self, change: Change<'c>) {
        self.each.push(change);
    }

    /// The change in every bucket of the whole deployment only.
    fn global(&mut self, change: Change<'c>) {
        self.global.push(change);
    }

    /// Hands the changes gathered to `sink`. Those of one tally keep their
    /// order; the whole deployment's own ones (flows) go after the others,
    /// which never touch them.
    fn flush<S: Sink>(self, sink: &mut S) {
        for bucket in self.buckets.into_iter().flatten() {
            // A tally no change reaches is not created either.
            if !self.each.is_empty() {
                sink.changes(None, bucket, &self.each);
            }
            if !self.global.is_empty() {
                sink.changes(None, bucket, &self.global);
            }
            if let Some(c) = self.community
                && !self.each.is_empty()
            {
                sink.changes(Some(c), bucket, &self.each);
            }
        }
    }
}

#[cfg(test)]
mod tests;
