//! What every section's checks share, and what the rule file's loading and
//! its `[sources.*]` checks both import: the [`Checker`] that collects
//! located errors, the spanned value type, and action-kind lookups.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use arcstr::ArcStr;
use toml::Spanned;

use super::RuleError;

pub(super) type S<T> = Spanned<T>;

pub(super) struct Checker<'s> {
    pub(super) source: &'s str,
    pub(super) errors: Vec<RuleError>,
}

impl Checker<'_> {
    pub(super) fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.errors
            .push(RuleError::at(self.source, Some(span), message));
    }

    pub(super) fn kind(&mut self, kinds: &Kinds<'_>, kind: &S<String>) -> Option<usize> {
        let found = kinds.index.get(kind.get_ref().as_str()).copied();
        // A kind listed with a bad stage is already reported there; calling it
        // unlisted here would be false.
        if found.is_none() && !kinds.bad_stage.contains(kind.get_ref()) {
            let hint = kinds
                .closest(kind.get_ref())
                .map(|k| format!(" (did you mean \"{k}\"?)"))
                .unwrap_or_default();
            self.error(
                kind.span(),
                format!(
                    "unknown action kind \"{}\": expected one listed in [actions]{hint}",
                    kind.get_ref()
                ),
            );
        }
        found
    }
}

pub(super) struct Kinds<'a> {
    pub(super) index: &'a HashMap<ArcStr, usize, foldhash::fast::FixedState>,
    /// Kinds listed in `[actions]` whose stage is unknown.
    pub(super) bad_stage: &'a HashSet<String>,
}

impl Kinds<'_> {
    /// The listed kind's shared name, to keep without copying it.
    pub(super) fn shared(&self, kind: &str) -> Option<ArcStr> {
        self.index.get_key_value(kind).map(|(k, _)| k.clone())
    }

    /// The known kind closest to a misspelt one, when it is close enough.
    fn closest(&self, kind: &str) -> Option<&str> {
        self.index
            .keys()
            .map(|k| (strsim::levenshtein(k, kind), &**k))
            .filter(|(d, _)| *d <= 3)
            .min()
            .map(|(_, k)| k)
    }
}
