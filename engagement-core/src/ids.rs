//! Validated identifiers: members, events, communities.
//!
//! Ids are opaque UTF-8 strings of 1..=200 bytes. They are never parsed or
//! split, so any character (`:`, `{`, spaces, newlines) is allowed; stores
//! encode them before building keys.

use std::fmt;
use std::sync::Arc;

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
            pub fn shared(&self) -> Arc<str> {
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
