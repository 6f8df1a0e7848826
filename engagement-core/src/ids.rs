//! Validated identifiers: members, events, communities.
//!
//! Ids are opaque UTF-8 strings of 1..=200 bytes. They are never parsed or
//! split, so any character (`:`, `{`, spaces, newlines) is allowed; stores
//! encode them before building keys.

use std::fmt;

use crate::name::Name;

use serde::{Deserialize, Deserializer, Serialize};

/// Longest id accepted, in bytes.
pub const MAX_ID_BYTES: usize = 200;

/// Why an id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_ID_BYTES} bytes, got {0}")]
    TooLong(usize),
}

fn check(s: &str) -> Result<(), IdError> {
    match s.len() {
        0 => Err(IdError::Empty),
        n if n > MAX_ID_BYTES => Err(IdError::TooLong(n)),
        _ => Ok(()),
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        // Shared, not owned: outcomes, effects and leaderboards copy ids
        // all the time, and a copy is then a count, not an allocation. The
        // id's hash is computed once, when it is read (see [`Name`]).
        pub struct $name(Name);

        impl $name {
            /// Validates and wraps an id.
            pub fn parse(s: impl Into<String>) -> Result<Self, IdError> {
                let s: String = s.into();
                check(&s)?;
                Ok(Self(Name::from(s)))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id's text, shared.
            pub fn shared(&self) -> arcstr::ArcStr {
                self.0.shared()
            }

            /// The id as a name, hash included.
            pub fn name(&self) -> &Name {
                &self.0
            }
        }

        impl From<&$name> for $name {
            fn from(id: &$name) -> $name {
                id.clone()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// A member of the community, as the platform names them.
    MemberId
);
id_type!(
    /// The idempotency key of an event.
    EventId
);
id_type!(
    /// A community (forum category, repository, working group).
    CommunityId
);

/// One shared copy of each member and community id read.
///
/// Ids decoded from a log are fresh copies of the same few texts. The
/// engine, the boards and the tallies compare and look ids up many times
/// per event; two copies of one id compare their text, two clones of it
/// only their address. A reader that hands every event through
/// [`Interner::event`] makes each id a clone of the first copy read. It
/// holds one entry per distinct member and community read, as the
/// engine's own state does.
#[derive(Debug, Default)]
pub struct Interner {
    members: Kept<MemberId>,
    communities: Kept<CommunityId>,
}

type Kept<T> = std::collections::HashSet<T, foldhash::fast::FixedState>;

impl Interner {
    /// Makes the event's actor, community and target author clones of
    /// the copies kept.
    pub fn event(&mut self, event: &mut crate::Event) {
        intern(&mut self.members, &mut event.actor);
        if let Some(c) = &mut event.community {
            intern(&mut self.communities, c);
        }
        if let Some(author) = event.target.as_mut().and_then(|t| t.author.as_mut()) {
            intern(&mut self.members, author);
        }
    }
}

fn intern<T: Clone + Eq + std::hash::Hash>(kept: &mut Kept<T>, id: &mut T) {
    match kept.get(id) {
        Some(first) => id.clone_from(first),
        None => {
            kept.insert(id.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_any_utf8_up_to_200_bytes() {
        let hostile = "a:{b}\n c\u{0}é".to_string();
        assert_eq!(
            MemberId::parse(hostile.clone()).map(|m| m.as_str().to_string()),
            Ok(hostile)
        );
        assert!(MemberId::parse("x".repeat(200)).is_ok());
    }

    #[test]
    fn ids_refuse_empty_and_oversized_strings() {
        assert_eq!(MemberId::parse(""), Err(IdError::Empty));
        assert_eq!(EventId::parse("é".repeat(101)), Err(IdError::TooLong(202)));
    }

    #[test]
    fn interned_events_share_one_copy_of_each_id_and_read_the_same() {
        let read = |json: &str| -> crate::Event { serde_json::from_str(json).unwrap() };
        let first = r#"{"id":"e1","kind":"answer.posted","actor":"ana","occurred_at":"2026-11-20T14:03:00Z","community":"customs","target":{"id":"t1","author":"bo"}}"#;
        let second = r#"{"id":"e2","kind":"post.liked","actor":"bo","occurred_at":"2026-11-20T15:03:00Z","community":"customs","target":{"id":"t2","author":"ana"}}"#;
        let (mut a, mut b) = (read(first), read(second));
        let author = |e: &crate::Event| e.target.as_ref().and_then(|t| t.author.clone()).unwrap();
        let same = |x: &MemberId, y: &MemberId| x.name().same_copy(y.name());
        assert!(!same(&a.actor, &author(&b)), "two reads are two copies");
        let mut ids = Interner::default();
        ids.event(&mut a);
        ids.event(&mut b);
        assert!(same(&a.actor, &author(&b)));
        assert!(same(&author(&a), &b.actor));
        let (ca, cb) = (a.community.clone().unwrap(), b.community.clone().unwrap());
        assert!(ca.name().same_copy(cb.name()));
        // Nothing else changes.
        assert_eq!((a, b), (read(first), read(second)));
    }

    #[test]
    fn an_id_read_twice_finds_the_same_map_entry() {
        let mut map = std::collections::HashMap::new();
        map.insert(MemberId::parse("ana").unwrap(), 1);
        let again: MemberId = serde_json::from_str("\"ana\"").unwrap();
        assert_eq!(map.get(&again), Some(&1));
        assert_eq!(map.get(&MemberId::parse("bo").unwrap()), None);
    }

    #[test]
    fn deserializing_an_id_validates_it() {
        let err = serde_json::from_str::<CommunityId>("\"\"").map(|_| ());
        assert!(err.is_err());
    }
}
