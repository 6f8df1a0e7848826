//! Questions and their answers, linked by the question's id: whether a
//! question is answered, and how long the first answer took.

use std::hash::BuildHasher;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::engine::Effects;
use crate::event::Target;
use crate::ids::{CommunityId, EventId, MemberId};

/// A question's id: its event's `target.id`, or the event's own id when it
/// has no target.
pub fn question_id<'a>(event: &'a EventId, target: Option<&'a Target>) -> &'a str {
    target.map_or(event.as_str(), |t| t.id.as_str())
}

/// What a store keeps of one question id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// The live question events with this id, in arrival order: the first
    /// is the question (a second event asking the same id counts as asked,
    /// and takes over if the first is revoked).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub asked: Vec<Asked>,
    /// Its live answers, in arrival order (they may come before the question).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<Reply>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asked {
    pub event: EventId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asker: Option<MemberId>,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community: Option<CommunityId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub event: EventId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<MemberId>,
    pub at: Timestamp,
}

/// An answered question: where it counts, and how long the first answer took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub asked_at: Timestamp,
    pub community: Option<CommunityId>,
    /// Seconds.
    pub wait: i64,
}

impl Question {
    /// When nothing is left to keep.
    pub fn is_empty(&self) -> bool {
        self.asked.is_empty() && self.answers.is_empty()
    }

    /// For an asked question answered by someone other than the asker: when
    /// and where it was asked, and the seconds to the earliest such answer
    /// (0 for an answer dated before the question).
    pub fn linked_wait(&self) -> Option<Link> {
        let asked = self.asked.first()?;
        let first = self
            .answers
            .iter()
            // An answer whose author is unknown cannot be the asker's own.
            .filter(|r| r.actor.is_none() || r.actor != asked.asker)
            .map(|r| r.at)
            .min()?;
        let wait = first.duration_since(asked.at).as_secs().max(0);
        Some(Link {
            asked_at: asked.at,
            community: asked.community.clone(),
            wait,
        })
    }

    pub(super) fn ask(&mut self, event: &EventId, asker: Option<&MemberId>, effects: &Effects) {
        self.asked.push(Asked {
            event: event.clone(),
            asker: asker.cloned(),
            at: effects.occurred_at,
            community: effects.community.clone(),
        });
    }

    pub(super) fn unask(&mut self, event: &EventId) {
        self.asked.retain(|a| a.event != *event);
    }

    pub(super) fn reply(&mut self, event: &EventId, actor: Option<&MemberId>, at: Timestamp) {
        self.answers.push(Reply {
            event: event.clone(),
            actor: actor.cloned(),
            at,
        });
    }

    pub(super) fn unreply(&mut self, event: &EventId) {
        self.answers.retain(|r| r.event != *event);
    }
}

/// Where the questions an event touches are kept: stores load them before
/// [`observe`](super::observe) and save the ones it changed.
pub trait Questions {
    /// The question with this id, created empty when unknown.
    fn question(&mut self, id: &str) -> &mut Question;
}

impl<S: BuildHasher> Questions for hashbrown::HashMap<String, Question, S> {
    fn question(&mut self, id: &str) -> &mut Question {
        self.entry_ref(id).or_default()
    }
}

/// The questions one Redis transaction read.
impl<S: BuildHasher> Questions for std::collections::HashMap<String, Question, S> {
    fn question(&mut self, id: &str) -> &mut Question {
        self.entry(id.to_owned()).or_default()
    }
}
