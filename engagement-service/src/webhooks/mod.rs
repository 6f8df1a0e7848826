//! Native webhooks: Discourse and GitHub payloads in, events out.
//!
//! Checking a signature and mapping a payload are pure, and unit tested
//! against real payloads (`shared/fixtures/webhooks`). What needs the store
//! is left to the handlers (`routes::webhooks`): which generation of an
//! object's events is current, and which member an identity is linked to.
//!
//! Event ids are stable per object, never per delivery: Discourse gives a
//! retry a new `X-Discourse-Event-Id`, and one GitHub event can reach two
//! hooks under one GUID. An object that can earn again after a take-back (a
//! solution accepted again, a post recovered) has a chain of ids: the first
//! is `chain`, later ones `chain#2`, `chain#3`, and the take-back of one is
//! that id followed by `:revoked`.

pub mod discourse;
pub mod github;

use engagement_core::{Event, EventId, MemberId, Outcome};
use hmac::{Hmac, KeyInit, Mac};
use serde::de::DeserializeOwned;
use sha2::Sha256;

/// Generations an object's chain may have; more is answered `ignored`.
pub const MAX_GENERATIONS: usize = 32;

/// Why a delivery's signature was refused. Messages name the header, never
/// the secret or the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no webhook secret is configured for this platform: set {0}")]
    NoSecret(&'static str),
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the {0} header must be sha256=<hex digest>")]
    Malformed(&'static str),
    #[error("the {0} header does not match the body signed with the configured secret")]
    Mismatch(&'static str),
}

/// Checks a `sha256=<hex>` header against HMAC-SHA256 of the raw body, in
/// constant time.
pub fn verify(
    secret: Option<&str>,
    secret_variable: &'static str,
    header_name: &'static str,
    header: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let secret = secret
        .filter(|s| !s.is_empty())
        .ok_or(SignatureError::NoSecret(secret_variable))?;
    let header = header.ok_or(SignatureError::Missing(header_name))?;
    let tag = header
        .trim()
        .strip_prefix("sha256=")
        .and_then(decode_hex)
        .ok_or(SignatureError::Malformed(header_name))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| SignatureError::Mismatch(header_name))?;
    mac.update(body);
    mac.verify_slice(&tag)
        .map_err(|_| SignatureError::Mismatch(header_name))
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// What one delivery asks for, before the store is consulted.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    /// The platform checking that the hook works.
    Ping,
    /// Nothing to record; the reason is answered to the platform.
    Ignored(String),
    /// One step in the life of one object.
    Step(Box<Step>),
}

/// An event about one object, whose id depends on the object's history.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub kind: StepKind,
    /// The id of the object's first event, e.g. `discourse:forum.a:post:14`.
    pub chain: String,
    /// The event to record; `id` and `revokes` are set by [`Step::settle`].
    pub event: Event,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// The object's creation (a reply, a like): earns once, ever.
    Create,
    /// Earns, and earns again after a take-back (a solution accepted).
    Again,
    /// Gives back what a take-back took (a post recovered); nothing when
    /// nothing was taken.
    Restore,
    /// Takes back what the object's current generation earned.
    Revoke,
}

/// Why a delivery cannot be read: answered 400 with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MapError(pub String);

impl Step {
    /// Ids of the chain's generations `from..from + n` (1-based).
    pub fn generations(&self, from: usize, n: usize) -> Vec<EventId> {
        (from..from + n)
            .filter_map(|g| EventId::parse(generation(&self.chain, g)).ok())
            .collect()
    }

    /// The event to record, given the recorded outcomes of the chain's
    /// generations 1, 2, … up to the first never seen (`None`); or why
    /// there is nothing to record.
    pub fn settle(self, recorded: &[Option<Outcome>]) -> Result<Event, String> {
        let seen = recorded.iter().take_while(|o| o.is_some()).count();
        if seen >= MAX_GENERATIONS {
            return Err(format!(
                "{} was taken back and given back more than {MAX_GENERATIONS} times",
                self.chain
            ));
        }
        let live = seen
            .checked_sub(1)
            .and_then(|last| recorded.get(last))
            .and_then(Option::as_ref)
            .is_some_and(|o| o.effects.as_ref().is_none_or(|e| !e.revoked));
        let mut event = self.event;
        let (id, revokes) = match self.kind {
            StepKind::Create => (generation(&self.chain, 1), None),
            StepKind::Again | StepKind::Restore if live => (generation(&self.chain, seen), None),
            StepKind::Again => (generation(&self.chain, seen + 1), None),
            StepKind::Restore if seen == 0 => {
                return Err(format!("nothing was taken back from {}", self.chain));
            }
            StepKind::Restore => (generation(&self.chain, seen + 1), None),
            StepKind::Revoke if seen == 0 => {
                return Err(format!(
                    "nothing to take back: {} earned nothing here",
                    self.chain
                ));
            }
            StepKind::Revoke => {
                let current = generation(&self.chain, seen);
                (format!("{current}:revoked"), Some(current))
            }
        };
        // The chain was checked to leave room for every suffix.
        event.id = EventId::parse(id).map_err(|e| e.to_string())?;
        event.revokes = revokes
            .map(EventId::parse)
            .transpose()
            .map_err(|e| e.to_string())?;
        Ok(event)
    }
}

fn generation(chain: &str, n: usize) -> String {
    if n <= 1 {
        chain.to_owned()
    } else {
        format!("{chain}#{n}")
    }
}

/// A chain id from its parts, checked to fit an event id with any
/// generation and take-back suffix.
fn chain(parts: &[&str]) -> Result<String, MapError> {
    let id = parts.join(":");
    let longest = format!("{id}#{MAX_GENERATIONS}:revoked");
    EventId::parse(longest)
        .map(|_| id)
        .map_err(|e| MapError(format!("object id too long: {e}")))
}

/// An event about the object of `chain`, under the id of its first
/// generation; the caller adds what the payload tells.
fn draft(
    chain: &str,
    kind: String,
    actor: MemberId,
    occurred_at: jiff::Timestamp,
) -> Result<Event, MapError> {
    Ok(Event {
        id: EventId::parse(chain).map_err(|e| MapError(e.to_string()))?,
        kind,
        actor,
        actor_name: None,
        occurred_at,
        community: None,
        target: None,
        revokes: None,
        actor_unknown: false,
        adjustment: None,
    })
}

fn step(kind: StepKind, chain: String, event: Event) -> Result<Mapped, MapError> {
    Ok(Mapped::Step(Box::new(Step { kind, chain, event })))
}

/// A member id for a platform user: `discourse:ana`, `github:octocat`.
fn member(platform: &str, user: &str) -> Result<MemberId, MapError> {
    if user.is_empty() {
        return Err(MapError(format!("empty {platform} user name")));
    }
    MemberId::parse(format!("{platform}:{user}"))
        .map_err(|e| MapError(format!("{platform} user name: {e}")))
}

/// Deserializes the part of a payload at `path`; errors name the field.
fn field<T: DeserializeOwned>(body: &serde_json::Value, path: &str) -> Result<T, MapError> {
    let value = body.get(path).cloned().unwrap_or(serde_json::Value::Null);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let at = if inner == "." {
            path.to_owned()
        } else {
            format!("{path}.{inner}")
        };
        MapError(format!("{at}: {}", e.inner()))
    })
}

fn parse_body(body: &[u8]) -> Result<serde_json::Value, MapError> {
    serde_json::from_slice(body).map_err(|e| MapError(format!("malformed JSON: {e}")))
}

#[cfg(test)]
mod tests;
