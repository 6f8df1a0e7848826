//! Names from the rule file (action kinds, rule and badge ids) and the
//! communities, as member states hold them.
//!
//! A member's state looks the same few names up on every event. A [`Name`]
//! carries a hash of its text, so telling two names apart is one integer
//! comparison instead of a string comparison, and copying one is a count.
//! Hash maps keyed by names (or by the ids built on them) hash that number,
//! never the text: growing a map of a million events reads no string.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone)]
pub struct Name {
    hash: u64,
    text: Arc<str>,
}

impl Name {
    pub fn new(text: &str) -> Name {
        Name::from(Arc::<str>::from(text))
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The text, shared.
    pub fn shared(&self) -> Arc<str> {
        self.text.clone()
    }

    /// Whether the name reads `text`.
    pub fn is(&self, text: &str) -> bool {
        &*self.text == text
    }
}

impl From<Arc<str>> for Name {
    fn from(text: Arc<str>) -> Name {
        Name {
            hash: xxhash_rust::xxh3::xxh3_64(text.as_bytes()),
            text,
        }
    }
}

impl From<String> for Name {
    fn from(text: String) -> Name {
        Name::from(Arc::<str>::from(text))
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.hash == other.hash && (Arc::ptr_eq(&self.text, &other.text) || self.text == other.text)
    }
}

impl Eq for Name {}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// In the order of the text, so that whatever lists names sorted reads
/// alphabetically.
impl Ord for Name {
    fn cmp(&self, other: &Name) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

/// The hash of the text, computed once: consistent with `Eq`, since equal
/// texts hash alike.
impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.text, f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
        String::deserialize(d).map(Name::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_equal_when_their_text_is_whatever_their_origin() {
        let a = Name::new("answer.posted");
        let b: Name = serde_json::from_str("\"answer.posted\"").unwrap_or_else(|_| Name::new(""));
        assert_eq!(a, b);
        assert_ne!(a, Name::new("answer.accepted"));
        assert_eq!(
            serde_json::to_string(&a).ok().as_deref(),
            Some("\"answer.posted\"")
        );
    }

    #[test]
    fn names_sort_by_their_text() {
        let mut names = [Name::new("b"), Name::new("c"), Name::new("a")];
        names.sort();
        let texts: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
        assert_eq!(texts, ["a", "b", "c"]);
    }
}
