//! Why an event gave the points it gave: one line per points rule on its
//! kind, in file order, each with the member it would pay and a reason.
//!
//! Awards are kept with an event's effects anyway; a rule that paid less
//! than its points (or nothing) leaves a [`Note`] beside them, so the
//! explanation of any past event is read back, never recomputed.

use serde::{Deserialize, Serialize};

use super::{Effects, Outcome};
use crate::ids::MemberId;
use crate::name::Name;
use crate::rules::RuleSet;

/// Why a points rule paid what it paid.
///
/// Stores keep it by position in compact records: add variants at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The rule's full points.
    Awarded,
    /// A cap cut the award (or, for an adjustment, the floor of zero points).
    Partial,
    /// The recipient had used the rule's daily cap that day.
    DailyCapReached,
    /// The recipient had earned `[fair_play] pair_daily_cap` points through
    /// the actor's actions that day.
    PairCapReached,
    /// The actor had already been paid by this rule for this target.
    OncePerUsed,
    /// The actor would have paid themselves.
    NotSelf,
    /// The event's community is not one the rule pays in.
    Community,
    /// The variable reward did not fire for this event.
    Chance,
    /// The event is older than the cap window before the recipient's newest
    /// capped award: its cap room is no longer known.
    CapWindowPassed,
    /// Nobody to pay: no target author, or no known actor.
    NoRecipient,
    /// A `once_per` rule on an event without a target.
    NoTarget,
    /// A revocation took back what the revoked event gave.
    RevokedEvent,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Awarded => "awarded",
            Reason::Partial => "partial",
            Reason::DailyCapReached => "daily_cap_reached",
            Reason::PairCapReached => "pair_cap_reached",
            Reason::OncePerUsed => "once_per_used",
            Reason::NotSelf => "not_self",
            Reason::Community => "community",
            Reason::Chance => "chance",
            Reason::CapWindowPassed => "cap_window_passed",
            Reason::NoRecipient => "no_recipient",
            Reason::NoTarget => "no_target",
            Reason::RevokedEvent => "revoked_event",
        }
    }
}

/// A points rule on an event's kind that paid less than its points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub rule: Name,
    /// Whom the rule would have paid; `None` when there was nobody.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<MemberId>,
    pub reason: Reason,
}

/// One line of an explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub rule: String,
    pub member: Option<MemberId>,
    pub points: i64,
    pub reason: Reason,
}

impl Outcome {
    /// Whether a cap cut what `rule` paid `member`.
    pub fn partial(&self, member: &MemberId, rule: &str) -> bool {
        self.effects
            .as_ref()
            .is_some_and(|e| e.partial(member, rule))
    }

    /// The explanation of this outcome, one line per points rule that looked
    /// at the event, in the order of `rules` (rules the file no longer has
    /// come last, as recorded). A revocation explains what it took back.
    pub fn explain(&self, rules: &RuleSet) -> Vec<Line> {
        let Some(effects) = &self.effects else {
            return Vec::new();
        };
        if self.sign < 0 {
            return effects
                .awards
                .iter()
                .map(|a| Line {
                    rule: a.rule.to_string(),
                    member: Some(a.member.clone()),
                    points: -a.points,
                    reason: Reason::RevokedEvent,
                })
                .collect();
        }
        explain_effects(rules, effects)
    }
}

impl Effects {
    /// Whether a cap cut what `rule` paid `member`.
    pub fn partial(&self, member: &MemberId, rule: &str) -> bool {
        self.notes.iter().any(|n| {
            n.reason == Reason::Partial && n.rule.is(rule) && n.member.as_ref() == Some(member)
        })
    }
}

fn explain_effects(rules: &RuleSet, effects: &Effects) -> Vec<Line> {
    let mut lines: Vec<(usize, Line)> = effects
        .awards
        .iter()
        .map(|a| {
            let partial = effects.partial(&a.member, &a.rule);
            let line = Line {
                rule: a.rule.to_string(),
                member: Some(a.member.clone()),
                points: a.points,
                reason: if partial {
                    Reason::Partial
                } else {
                    Reason::Awarded
                },
            };
            (position(rules, &a.rule), line)
        })
        .collect();
    for note in &effects.notes {
        let paid = effects
            .awards
            .iter()
            .any(|a| a.rule == note.rule && Some(&a.member) == note.member.as_ref());
        if !paid {
            let line = Line {
                rule: note.rule.to_string(),
                member: note.member.clone(),
                points: 0,
                reason: note.reason,
            };
            lines.push((position(rules, &note.rule), line));
        }
    }
    // Stable: lines of one rule, and of rules the file lost, keep their order.
    lines.sort_by_key(|(at, _)| *at);
    lines.into_iter().map(|(_, line)| line).collect()
}

fn position(rules: &RuleSet, rule: &Name) -> usize {
    rules
        .points
        .iter()
        .position(|r| r.id == *rule)
        .unwrap_or(usize::MAX)
}
