//! Native webhook sources in the rule file: which platform event becomes
//! which action kind, which category or repository becomes which community,
//! and which platform identities are one member (`[sources.*]`,
//! `[identities]`).
//!
//! Only the model and its checks live here; turning a payload into an event
//! is the service's job, with these tables as its instructions.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use arcstr::ArcStr;
use serde::Deserialize;

use super::checker::{Checker, Kinds, S};
use crate::ids::{CommunityId, MemberId};

/// A platform whose own webhooks the service understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    Discourse,
    GitHub,
}

impl Platform {
    pub const ALL: [Platform; 2] = [Platform::Discourse, Platform::GitHub];

    /// The name used in the rule file and in member ids (`discourse:ana`).
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Discourse => "discourse",
            Platform::GitHub => "github",
        }
    }

    /// Events that can be mapped to an action kind.
    pub fn earning(self) -> &'static [&'static str] {
        match self {
            Platform::Discourse => &[
                "topic_created",
                "post_created",
                "post_liked",
                "accepted_solution",
            ],
            Platform::GitHub => &[
                "discussion.created",
                "discussion.answered",
                "discussion_comment.created",
                "issue_comment.created",
                "pull_request_review.submitted",
            ],
        }
    }

    /// Events that take back (or give back) what an earning event gave.
    /// They follow its mapping, so they can be ignored but not mapped.
    pub fn following(self) -> &'static [&'static str] {
        match self {
            Platform::Discourse => &[
                "topic_destroyed",
                "topic_recovered",
                "post_destroyed",
                "post_recovered",
                "unaccepted_solution",
            ],
            Platform::GitHub => &[
                "discussion.deleted",
                "discussion.unanswered",
                "discussion_comment.deleted",
                "issue_comment.deleted",
            ],
        }
    }

    fn known(self) -> impl Iterator<Item = &'static str> {
        self.earning().iter().chain(self.following()).copied()
    }
}

/// The `[sources.*]` sections, one per platform that has one.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub discourse: Option<SourceMap>,
    pub github: Option<SourceMap>,
}

impl Sources {
    pub fn get(&self, platform: Platform) -> Option<&SourceMap> {
        match platform {
            Platform::Discourse => self.discourse.as_ref(),
            Platform::GitHub => self.github.as_ref(),
        }
    }

    /// Names of the platforms configured, for summaries.
    pub fn names(&self) -> Vec<&'static str> {
        Platform::ALL
            .into_iter()
            .filter(|p| self.get(*p).is_some())
            .map(Platform::as_str)
            .collect()
    }
}

/// How one platform's events become events of this community.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    events: BTreeMap<String, ArcStr>,
    ignore: BTreeSet<String>,
    communities: BTreeMap<String, CommunityId>,
    default_community: Option<CommunityId>,
}

impl SourceMap {
    /// The action kind a platform event becomes; `None` when it is not
    /// mapped (or is ignored).
    pub fn kind(&self, event: &str) -> Option<&str> {
        self.events.get(event).map(|k| &**k)
    }

    /// Whether the rule file turns this event off on purpose.
    pub fn ignores(&self, event: &str) -> bool {
        self.ignore.contains(event)
    }

    /// The community of the first key listed in `communities` (most
    /// specific first, e.g. category id then slug), else the default one.
    pub fn community<'k>(&self, keys: impl IntoIterator<Item = &'k str>) -> Option<&CommunityId> {
        keys.into_iter()
            .find_map(|k| self.communities.get(k))
            .or(self.default_community.as_ref())
    }
}

/// Platform identities linked to members in the rule file.
#[derive(Debug, Clone, Default)]
pub struct Identities {
    by_alias: HashMap<String, MemberId>,
}

impl Identities {
    /// The member an identity such as `github:ana` is linked to.
    pub fn member(&self, identity: &str) -> Option<&MemberId> {
        self.by_alias.get(identity)
    }

    pub fn is_empty(&self) -> bool {
        self.by_alias.is_empty()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSources {
    discourse: Option<RawSource>,
    github: Option<RawSource>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    #[serde(default)]
    events: BTreeMap<S<String>, S<String>>,
    #[serde(default)]
    ignore: Vec<S<String>>,
    #[serde(default)]
    communities: BTreeMap<S<String>, S<String>>,
    default_community: Option<S<String>>,
}

/// `member = ["platform:identity", ...]`.
pub(super) type RawIdentities = BTreeMap<S<String>, Vec<S<String>>>;

impl Checker<'_> {
    pub(super) fn sources(&mut self, raw: Option<&RawSources>, kinds: &Kinds<'_>) -> Sources {
        let Some(raw) = raw else {
            return Sources::default();
        };
        Sources {
            discourse: raw
                .discourse
                .as_ref()
                .map(|s| self.source(Platform::Discourse, s, kinds)),
            github: raw
                .github
                .as_ref()
                .map(|s| self.source(Platform::GitHub, s, kinds)),
        }
    }

    fn source(&mut self, platform: Platform, raw: &RawSource, kinds: &Kinds<'_>) -> SourceMap {
        let mut map = SourceMap::default();
        for (event, kind) in &raw.events {
            if !self.platform_event(platform, event, true) {
                continue;
            }
            if self.kind(kinds, kind).is_some()
                && let Some(name) = kinds.shared(kind.get_ref())
            {
                map.events.insert(event.get_ref().clone(), name);
            }
        }
        for event in &raw.ignore {
            if !self.platform_event(platform, event, false) {
                continue;
            }
            let name = event.get_ref();
            if raw.events.keys().any(|k| k.get_ref() == name) {
                self.error(
                    event.span(),
                    format!("\"{name}\" is both mapped in events and ignored"),
                );
            } else if !map.ignore.insert(name.clone()) {
                self.error(event.span(), format!("\"{name}\" is ignored twice"));
            }
        }
        for (key, community) in &raw.communities {
            if let Err(message) = community_key(platform, key.get_ref()) {
                self.error(key.span(), message);
            }
            if let Some(id) = self.community_id(community) {
                map.communities.insert(key.get_ref().clone(), id);
            }
        }
        map.default_community = raw
            .default_community
            .as_ref()
            .and_then(|c| self.community_id(c));
        map
    }

    /// Whether `event` is one the adapter knows; reports it otherwise.
    /// `mapping` refuses the events that only follow another one.
    fn platform_event(&mut self, platform: Platform, event: &S<String>, mapping: bool) -> bool {
        let name = event.get_ref().as_str();
        if platform.earning().contains(&name) {
            return true;
        }
        if platform.following().contains(&name) {
            if mapping {
                self.error(
                    event.span(),
                    format!(
                        "{} event \"{name}\" cannot be mapped: it takes back or gives back what the event it follows earned (list it in `ignore` to turn that off)",
                        platform.as_str()
                    ),
                );
                return false;
            }
            return true;
        }
        let expected: Vec<&str> = if mapping {
            platform.earning().to_vec()
        } else {
            platform.known().collect()
        };
        let hint = expected
            .iter()
            .map(|k| (strsim::levenshtein(k, name), *k))
            .filter(|(d, _)| *d <= 3)
            .min()
            .map(|(_, k)| format!(" (did you mean \"{k}\"?)"))
            .unwrap_or_default();
        let list: Vec<String> = expected.iter().map(|k| format!("\"{k}\"")).collect();
        self.error(
            event.span(),
            format!(
                "unknown {} event \"{name}\": expected one of {}{hint}",
                platform.as_str(),
                list.join(", ")
            ),
        );
        false
    }

    fn community_id(&mut self, raw: &S<String>) -> Option<CommunityId> {
        match CommunityId::parse(raw.get_ref().as_str()) {
            Ok(id) => Some(id),
            Err(e) => {
                self.error(raw.span(), format!("community id {e}"));
                None
            }
        }
    }

    pub(super) fn identities(&mut self, raw: Option<&RawIdentities>) -> Identities {
        let mut out = Identities::default();
        let Some(raw) = raw else {
            return out;
        };
        let members: BTreeSet<&str> = raw.keys().map(|k| k.get_ref().as_str()).collect();
        for (member, aliases) in raw {
            let id = match MemberId::parse(member.get_ref().as_str()) {
                Ok(id) => Some(id),
                Err(e) => {
                    self.error(member.span(), format!("member id {e}"));
                    None
                }
            };
            for alias in aliases {
                let name = alias.get_ref().as_str();
                if let Err(e) = MemberId::parse(name) {
                    self.error(alias.span(), format!("identity {e}"));
                } else if name == member.get_ref() {
                    self.error(
                        alias.span(),
                        format!("\"{name}\" is the member itself, not another identity"),
                    );
                } else if members.contains(name) {
                    self.error(
                        alias.span(),
                        format!(
                            "\"{name}\" has identities of its own: link those to \"{}\" directly",
                            member.get_ref()
                        ),
                    );
                } else if let Some(first) = out.by_alias.get(name) {
                    self.error(
                        alias.span(),
                        format!("\"{name}\" is already linked to member \"{first}\""),
                    );
                } else if let Some(id) = &id {
                    out.by_alias.insert(name.to_owned(), id.clone());
                }
            }
        }
        out
    }
}

/// Checks the shape of a `communities` key: a Discourse category id or
/// slug, or a GitHub `owner/repo` or `owner/repo/category-slug`.
fn community_key(platform: Platform, key: &str) -> Result<(), String> {
    let ok = match platform {
        Platform::Discourse => !key.is_empty() && !key.contains(char::is_whitespace),
        Platform::GitHub => {
            let parts: Vec<&str> = key.split('/').collect();
            (2..=3).contains(&parts.len()) && parts.iter().all(|p| !p.is_empty())
        }
    };
    if ok {
        return Ok(());
    }
    Err(match platform {
        Platform::Discourse => {
            format!("unknown category \"{key}\": expected a category id (\"12\") or slug")
        }
        Platform::GitHub => format!(
            "unknown repository \"{key}\": expected \"owner/repo\" or \"owner/repo/category-slug\""
        ),
    })
}

#[cfg(test)]
mod tests;
