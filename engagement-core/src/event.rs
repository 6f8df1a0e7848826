//! Activity events as forums and platforms report them.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::{CommunityId, EventId, MemberId};

/// One thing a member did, reported by a platform.
///
/// `occurred_at` is RFC 3339 with an offset; time in the engine always comes
/// from here, never from a clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub id: EventId,
    pub kind: String,
    pub actor: MemberId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_name: Option<String>,
    pub occurred_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community: Option<CommunityId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// The id of an earlier event this one undoes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revokes: Option<EventId>,
    /// The platform did not say who acted (a Discourse accepted solution
    /// names only the answer). `actor` then only names the source: no
    /// actor rule, count, stage or streak applies, and the target author
    /// alone is credited.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub actor_unknown: bool,
}

/// The thing an event acted on (a post, a resource, a webinar).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<MemberId>,
}

/// Longest kind, target id or display name accepted, in bytes.
pub const MAX_TEXT_BYTES: usize = 200;

impl Event {
    /// Checks what the types alone do not: lengths of the free-text fields.
    /// The error names the field.
    pub fn check(&self) -> Result<(), String> {
        let text = |field: &str, value: &str, min: usize| {
            if value.len() < min || value.len() > MAX_TEXT_BYTES {
                Err(format!("{field}: must be {min} to {MAX_TEXT_BYTES} bytes"))
            } else {
                Ok(())
            }
        };
        text("kind", &self.kind, 1)?;
        if let Some(name) = &self.actor_name {
            text("actor_name", name, 0)?;
        }
        if let Some(target) = &self.target {
            text("target.id", &target.id, 1)?;
        }
        Ok(())
    }

    /// The member credited as target author, if it is someone else than the actor.
    pub fn other_author(&self) -> Option<&MemberId> {
        self.target
            .as_ref()
            .and_then(|t| t.author.as_ref())
            .filter(|a| **a != self.actor)
    }
}
