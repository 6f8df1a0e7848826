//! Names from the rule file (action kinds, rule and badge ids) and the
//! communities, as member states hold them.
//!
//! A member's state looks the same few names up on every event. A [`Name`]
//! carries a hash of its text, so telling two names apart is one integer
//! comparison instead of a string comparison, and copying one is a count.
//! Hash maps keyed by names (or by the ids built on them) hash that number,
//! never the text: growing a map of a million events reads no string.
//!
//! The text is held through one pointer (an [`ArcStr`] keeps its length
//! with the text): a name takes 16 bytes, where a hash beside an
//! `Arc<str>` took 24. Effects, awards and member states hold several
//! names each, and stores keep one effects per event.

use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::{LazyLock, Mutex, PoisonError};

use arcstr::ArcStr;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone)]
pub struct Name {
    hash: u64,
    text: ArcStr,
}

impl Name {
    pub fn new(text: &str) -> Name {
        Name::from(ArcStr::from(text))
    }

    /// A name of a rule file (an action kind, a rule or badge id): kept
    /// for the life of the process, one copy per distinct text, so that
    /// copying it (into every award and counted event) touches no count.
    /// Only rule files load these, which managers write and only admins
    /// send (`PUT /v1/admin/rules`, `POST /v1/admin/rules/check`): what is
    /// kept is every distinct name of the files loaded, a few bytes each.
    pub fn lasting(text: &str) -> Name {
        static LASTING: LazyLock<Mutex<HashSet<ArcStr>>> = LazyLock::new(Mutex::default);
        // A poisoned set is still a set of whole texts.
        let mut kept = LASTING.lock().unwrap_or_else(PoisonError::into_inner);
        let text = match kept.get(text) {
            Some(found) => found.clone(),
            None => {
                let made = ArcStr::from(text);
                made.leak();
                kept.insert(made.clone());
                made
            }
        };
        Name::from(text)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The text, shared.
    pub fn shared(&self) -> ArcStr {
        self.text.clone()
    }

    /// Whether both are copies of one shared text (not only equal texts).
    #[inline]
    pub fn same_copy(&self, other: &Name) -> bool {
        ArcStr::ptr_eq(&self.text, &other.text)
    }

    /// Whether the name reads `text`.
    pub fn is(&self, text: &str) -> bool {
        &*self.text == text
    }
}

impl From<ArcStr> for Name {
    fn from(text: ArcStr) -> Name {
        Name {
            hash: xxhash_rust::xxh3::xxh3_64(text.as_bytes()),
            text,
        }
    }
}

impl From<String> for Name {
    fn from(text: String) -> Name {
        Name::from(ArcStr::from(text))
    }
}

impl PartialEq for Name {
    #[inline]
    fn eq(&self, other: &Name) -> bool {
        self.hash == other.hash && (self.same_copy(other) || self.text == other.text)
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
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl Deref for Name {
    type Target = str;
    #[inline]
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
    fn lasting_names_are_one_copy_per_text_and_equal_to_any_other() {
        let (a, b) = (
            Name::lasting("answer.posted"),
            Name::lasting("answer.posted"),
        );
        assert!(a.same_copy(&b));
        assert!(ArcStr::is_static(&a.shared()));
        let other = Name::new("answer.posted");
        assert!(!a.same_copy(&other));
        assert_eq!(a, other);
        let hash =
            |n: &Name| std::hash::BuildHasher::hash_one(&foldhash::fast::FixedState::default(), n);
        assert_eq!(hash(&a), hash(&other));
        assert!(!Name::lasting("answer.accepted").same_copy(&a));
        assert_ne!(Name::lasting("answer.accepted"), a);
    }

    #[test]
    fn names_sort_by_their_text() {
        let mut names = [Name::new("b"), Name::new("c"), Name::new("a")];
        names.sort();
        let texts: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
        assert_eq!(texts, ["a", "b", "c"]);
    }
}
