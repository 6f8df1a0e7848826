//! Discourse deliveries: `{"post": …}`, `{"topic": …}`, `{"like": …}`,
//! `{"solved": …}` into events, as `[sources.discourse]` says.
//!
//! Discourse sends no time for a like, an acceptance or a deletion: those
//! take the time the delivery arrived (deliveries go out as things happen;
//! a retry is recognised by its object, whatever time it brings).

use engagement_core::rules::{Platform, SourceMap};
use engagement_core::{CommunityId, MemberId, Target};
use jiff::Timestamp;
use serde::Deserialize;

use super::{MapError, Mapped, StepKind, chain, draft, field, member, parse_body, step};

/// One delivery as the handler read it.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// `X-Discourse-Event`, e.g. `post_created`.
    pub event: &'a str,
    /// `X-Discourse-Instance`, e.g. `https://forum.example.com`.
    pub instance: &'a str,
    pub body: &'a [u8],
    pub received_at: Timestamp,
}

/// Maps a delivery under the rule file's `[sources.discourse]` (if any).
pub fn map(source: Option<&SourceMap>, d: &Delivery<'_>) -> Result<Mapped, MapError> {
    if d.event == "ping" {
        return Ok(Mapped::Ping);
    }
    let body = parse_body(d.body)?;
    let Some(source) = source else {
        return ignored("the rule file has no [sources.discourse] section");
    };
    let platform = Platform::Discourse;
    let known = platform.earning().contains(&d.event) || platform.following().contains(&d.event);
    if !known {
        return ignored(format!(
            "discourse event \"{}\" earns nothing here",
            d.event
        ));
    }
    if source.ignores(d.event) {
        return ignored(format!("\"{}\" is ignored by [sources.discourse]", d.event));
    }
    // A recovery earns what its creation earned.
    let earning = match d.event {
        "topic_recovered" => Some("topic_created"),
        "post_recovered" => Some("post_created"),
        e if platform.earning().contains(&e) => Some(e),
        _ => None,
    };
    let kind = earning.and_then(|e| source.kind(e));
    if let (Some(earning), None) = (earning, kind) {
        return ignored(format!(
            "\"{earning}\" is not mapped in [sources.discourse.events]"
        ));
    }
    let kind = kind.unwrap_or_default().to_owned();
    let instance = instance_name(d.instance)?;
    let object = |what: &str, id: String| chain(&["discourse", &instance, what, &id]);
    let revocation = format!("discourse.{}", d.event);

    match d.event {
        "topic_created" | "topic_destroyed" | "topic_recovered" => {
            let topic: Topic = field(&body, "topic")?;
            if topic.archetype.as_deref() == Some(PRIVATE) {
                return ignored("private messages earn nothing");
            }
            if topic.created_by.id < 1 {
                return ignored("system users earn nothing");
            }
            let chain = object("topic", topic.id.to_string())?;
            let actor = member("discourse", &topic.created_by.username)?;
            let (how, mut event) = match d.event {
                "topic_created" => {
                    let mut e = draft(&chain, kind, actor, topic.created_at)?;
                    e.actor_name = display(topic.created_by.name);
                    (StepKind::Create, e)
                }
                "topic_recovered" => (
                    StepKind::Restore,
                    draft(&chain, kind, actor, topic.created_at)?,
                ),
                _ => (
                    StepKind::Revoke,
                    draft(&chain, revocation, actor, d.received_at)?,
                ),
            };
            let category = topic.category_id.map(|c| c.to_string());
            event.community = source.community(category.as_deref()).cloned();
            event.target = Some(Target {
                id: chain.clone(),
                author: None,
            });
            step(how, chain, event)
        }
        "post_created" | "post_destroyed" | "post_recovered" => {
            let post: Post = field(&body, "post")?;
            if let Some(reason) = post.earns_nothing() {
                return ignored(reason);
            }
            if post.post_number == 1 {
                return ignored(
                    "a topic's first post is the topic: it earns through topic_created",
                );
            }
            let chain = object("post", post.id.to_string())?;
            let actor = member("discourse", &post.username)?;
            let (how, mut event) = match d.event {
                "post_created" => {
                    let mut e = draft(&chain, kind, actor, post.created_at)?;
                    e.actor_name = display(post.name.clone());
                    (StepKind::Create, e)
                }
                "post_recovered" => (
                    StepKind::Restore,
                    draft(&chain, kind, actor, post.created_at)?,
                ),
                _ => (
                    StepKind::Revoke,
                    draft(&chain, revocation, actor, d.received_at)?,
                ),
            };
            // A reply acts on its topic, whose author the payload does not name.
            event.community = post.community(source);
            event.target = Some(Target {
                id: object("topic", post.topic_id.to_string())?,
                author: None,
            });
            step(how, chain, event)
        }
        "post_liked" => {
            let like: Like = field(&body, "like")?;
            if let Some(reason) = like.post.earns_nothing() {
                return ignored(reason);
            }
            if like.user.id < 1 {
                return ignored("system users earn nothing");
            }
            let chain = object("like", format!("{}:{}", like.post.id, like.user.id))?;
            let actor = member("discourse", &like.user.username)?;
            let mut event = draft(&chain, kind, actor, d.received_at)?;
            event.actor_name = display(like.user.name);
            event.community = like.post.community(source);
            event.target = Some(
                like.post
                    .as_target(&object("post", like.post.id.to_string())?)?,
            );
            step(StepKind::Create, chain, event)
        }
        _ => {
            // accepted_solution / unaccepted_solution: the payload is the
            // answer post, and who accepted it is not said.
            let post: Post = field(&body, "solved")?;
            if let Some(reason) = post.earns_nothing() {
                return ignored(reason);
            }
            let chain = object("solution", post.id.to_string())?;
            let target = post.as_target(&object("post", post.id.to_string())?)?;
            let (how, mut event) = if d.event == "unaccepted_solution" {
                let author = member("discourse", &post.username)?;
                let e = draft(&chain, revocation, author, d.received_at)?;
                (StepKind::Revoke, e)
            } else {
                if target.author.is_none() {
                    return ignored("system users earn nothing");
                }
                let mut e = draft(&chain, kind, unknown()?, d.received_at)?;
                e.actor_unknown = true;
                (StepKind::Again, e)
            };
            event.community = post.community(source);
            event.target = Some(target);
            step(how, chain, event)
        }
    }
}

const PRIVATE: &str = "private_message";

fn ignored(reason: impl Into<String>) -> Result<Mapped, MapError> {
    Ok(Mapped::Ignored(reason.into()))
}

/// The instance without its scheme: `https://forum.a/` → `forum.a`.
fn instance_name(raw: &str) -> Result<String, MapError> {
    let name = raw
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    if name.is_empty() {
        return Err(MapError(
            "the X-Discourse-Instance header is missing or empty".into(),
        ));
    }
    Ok(name.to_owned())
}

/// Stands for the actor Discourse does not name; it is never credited.
fn unknown() -> Result<MemberId, MapError> {
    MemberId::parse("discourse").map_err(|e| MapError(e.to_string()))
}

fn display(name: Option<String>) -> Option<String> {
    name.filter(|n| !n.trim().is_empty() && n.len() <= engagement_core::event::MAX_TEXT_BYTES)
}

#[derive(Debug, Deserialize)]
struct User {
    id: i64,
    username: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Topic {
    id: u64,
    #[serde(default)]
    archetype: Option<String>,
    #[serde(default)]
    category_id: Option<u64>,
    created_by: User,
    created_at: Timestamp,
}

#[derive(Debug, Deserialize)]
struct Post {
    id: u64,
    username: String,
    #[serde(default)]
    name: Option<String>,
    user_id: i64,
    post_number: u64,
    #[serde(default = "regular_post")]
    post_type: u8,
    topic_id: u64,
    #[serde(default)]
    topic_archetype: Option<String>,
    #[serde(default)]
    category_id: Option<u64>,
    #[serde(default)]
    category_slug: Option<String>,
    created_at: Timestamp,
}

#[derive(Debug, Deserialize)]
struct Like {
    post: Post,
    user: User,
}

fn regular_post() -> u8 {
    1
}

impl Post {
    /// Why this post can earn nobody anything, if it cannot.
    fn earns_nothing(&self) -> Option<&'static str> {
        if self.topic_archetype.as_deref() == Some(PRIVATE) {
            Some("private messages earn nothing")
        } else if self.post_type != 1 {
            Some("whispers, small actions and moderator actions earn nothing")
        } else {
            None
        }
    }

    /// The post as the target of a like or an acceptance; a system user
    /// as author is nobody to credit.
    fn as_target(&self, id: &str) -> Result<Target, MapError> {
        let author = if self.user_id < 1 {
            None
        } else {
            Some(member("discourse", &self.username)?)
        };
        Ok(Target {
            id: id.to_owned(),
            author,
        })
    }

    /// The community of the post's category, by id first, then slug.
    fn community(&self, source: &SourceMap) -> Option<CommunityId> {
        let id = self.category_id.map(|c| c.to_string());
        source
            .community(
                id.as_deref()
                    .into_iter()
                    .chain(self.category_slug.as_deref()),
            )
            .cloned()
    }
}

#[cfg(test)]
mod tests;
