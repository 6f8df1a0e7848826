//! GitHub deliveries: discussions, discussion comments, issue comments and
//! pull request reviews into events, as `[sources.github]` says. The
//! platform event is `X-GitHub-Event` plus the body's `action`, e.g.
//! `discussion.answered`.
//!
//! Ids come from the objects (discussion, comment, review), never from the
//! delivery GUID alone: a redelivery, or the same event reaching a second
//! hook, is then the same event.

use engagement_core::rules::{Platform, SourceMap};
use engagement_core::{CommunityId, MemberId, Target};
use jiff::Timestamp;
use serde::Deserialize;

use super::{MapError, Mapped, StepKind, chain, draft, field, member, parse_body, step};

/// One delivery as the handler read it.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// `X-GitHub-Event`, e.g. `discussion_comment`.
    pub event: &'a str,
    pub body: &'a [u8],
    pub received_at: Timestamp,
}

/// Maps a delivery under the rule file's `[sources.github]` (if any).
pub fn map(source: Option<&SourceMap>, d: &Delivery<'_>) -> Result<Mapped, MapError> {
    if d.event == "ping" {
        return Ok(Mapped::Ping);
    }
    let body = parse_body(d.body)?;
    let Some(source) = source else {
        return ignored("the rule file has no [sources.github] section");
    };
    let action = body.get("action").and_then(|a| a.as_str()).unwrap_or("");
    let name = if action.is_empty() {
        d.event.to_owned()
    } else {
        format!("{}.{action}", d.event)
    };
    let platform = Platform::GitHub;
    let earning = platform.earning().contains(&name.as_str());
    if !earning && !platform.following().contains(&name.as_str()) {
        return ignored(format!("github event \"{name}\" earns nothing here"));
    }
    if source.ignores(&name) {
        return ignored(format!("\"{name}\" is ignored by [sources.github]"));
    }
    let kind = match (earning, source.kind(&name)) {
        (true, None) => {
            return ignored(format!(
                "\"{name}\" is not mapped in [sources.github.events]"
            ));
        }
        (_, kind) => kind.unwrap_or_default().to_owned(),
    };
    let revocation = format!("github.{name}");
    let repository: Repository = field(&body, "repository")?;
    let sender: Option<User> = field(&body, "sender")?;
    // An object's creation earns; its deletion takes back what it earned.
    let create_or_revoke = |created: bool, chain: &str, actor: MemberId, created_at| {
        Ok::<_, MapError>(if created {
            (
                StepKind::Create,
                draft(chain, kind.clone(), actor, created_at)?,
            )
        } else {
            (
                StepKind::Revoke,
                draft(chain, revocation.clone(), actor, d.received_at)?,
            )
        })
    };

    match name.as_str() {
        "discussion.created" | "discussion.deleted" => {
            let discussion: Discussion = field(&body, "discussion")?;
            let chain = chain(&["github", "discussion", &discussion.id.to_string()])?;
            let author = discussion.user.member()?;
            let Some(actor) = author.clone() else {
                return ignored("bots earn nothing");
            };
            let created = name == "discussion.created";
            let (how, mut event) = create_or_revoke(created, &chain, actor, discussion.created_at)?;
            event.community = discussion.community(source, &repository);
            event.target = Some(Target {
                id: chain.clone(),
                author: None,
            });
            step(how, chain, event)
        }
        "discussion.answered" | "discussion.unanswered" => {
            let discussion: Discussion = field(&body, "discussion")?;
            let answered = name == "discussion.answered";
            let answer: Comment = field(&body, if answered { "answer" } else { "old_answer" })?;
            let chain = chain(&["github", "answer", &answer.id.to_string()])?;
            let Some(author) = answer.user.member()? else {
                return ignored("bots earn nothing");
            };
            let target = Target {
                id: chain_id("discussion_comment", answer.id)?,
                author: Some(author.clone()),
            };
            let (how, mut event) = if answered {
                // Whoever chose the answer; a bot or an unnamed chooser
                // credits the answer's author alone.
                let chooser = discussion.answer_chosen_by.as_ref().or(sender.as_ref());
                let at = discussion.answer_chosen_at.unwrap_or(d.received_at);
                let mut e = match chooser.map(User::member).transpose()?.flatten() {
                    Some(actor) => draft(&chain, kind, actor, at)?,
                    None => {
                        let mut e = draft(&chain, kind, unknown()?, at)?;
                        e.actor_unknown = true;
                        e
                    }
                };
                e.target = Some(target);
                (StepKind::Again, e)
            } else {
                let mut e = draft(&chain, revocation, author, d.received_at)?;
                e.target = Some(target);
                (StepKind::Revoke, e)
            };
            event.community = discussion.community(source, &repository);
            step(how, chain, event)
        }
        "discussion_comment.created" | "discussion_comment.deleted" => {
            let discussion: Discussion = field(&body, "discussion")?;
            let comment: Comment = field(&body, "comment")?;
            let chain = chain(&["github", "discussion_comment", &comment.id.to_string()])?;
            let Some(actor) = comment.user.member()? else {
                return ignored("bots earn nothing");
            };
            let created = name == "discussion_comment.created";
            let (how, mut event) = create_or_revoke(created, &chain, actor, comment.created_at)?;
            // A reply acts on its discussion, whose author receives it.
            event.target = Some(Target {
                id: chain_id("discussion", discussion.id)?,
                author: discussion.user.member()?,
            });
            event.community = discussion.community(source, &repository);
            step(how, chain, event)
        }
        "issue_comment.created" | "issue_comment.deleted" => {
            let issue: Parent = field(&body, "issue")?;
            let comment: Comment = field(&body, "comment")?;
            let chain = chain(&["github", "issue_comment", &comment.id.to_string()])?;
            let Some(actor) = comment.user.member()? else {
                return ignored("bots earn nothing");
            };
            let created = name == "issue_comment.created";
            let (how, mut event) = create_or_revoke(created, &chain, actor, comment.created_at)?;
            event.target = Some(Target {
                id: chain_id("issue", issue.id)?,
                author: issue.user.member()?,
            });
            event.community = source.community([repository.full_name.as_str()]).cloned();
            step(how, chain, event)
        }
        _ => {
            // pull_request_review.submitted
            let pull: Parent = field(&body, "pull_request")?;
            let review: Review = field(&body, "review")?;
            let chain = chain(&["github", "review", &review.id.to_string()])?;
            let Some(actor) = review.user.member()? else {
                return ignored("bots earn nothing");
            };
            let at = review.submitted_at.unwrap_or(d.received_at);
            let mut event = draft(&chain, kind, actor, at)?;
            event.target = Some(Target {
                id: chain_id("pull_request", pull.id)?,
                author: pull.user.member()?,
            });
            event.community = source.community([repository.full_name.as_str()]).cloned();
            step(StepKind::Create, chain, event)
        }
    }
}

fn ignored(reason: impl Into<String>) -> Result<Mapped, MapError> {
    Ok(Mapped::Ignored(reason.into()))
}

fn chain_id(what: &str, id: u64) -> Result<String, MapError> {
    chain(&["github", what, &id.to_string()])
}

/// Stands for an actor GitHub does not name; it is never credited.
fn unknown() -> Result<MemberId, MapError> {
    MemberId::parse("github").map_err(|e| MapError(e.to_string()))
}

#[derive(Debug, Deserialize)]
struct User {
    login: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

impl User {
    /// `github:<login>`, or `None` for a bot: bots earn nothing.
    fn member(&self) -> Result<Option<MemberId>, MapError> {
        if self.kind.as_deref() == Some("Bot") {
            return Ok(None);
        }
        member("github", &self.login).map(Some)
    }
}

#[derive(Debug, Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Debug, Deserialize)]
struct Category {
    slug: String,
}

#[derive(Debug, Deserialize)]
struct Discussion {
    id: u64,
    user: User,
    created_at: Timestamp,
    #[serde(default)]
    category: Option<Category>,
    #[serde(default)]
    answer_chosen_at: Option<Timestamp>,
    #[serde(default)]
    answer_chosen_by: Option<User>,
}

impl Discussion {
    /// The community of the discussion's category, else of its repository.
    fn community(&self, source: &SourceMap, repository: &Repository) -> Option<CommunityId> {
        let repo = repository.full_name.as_str();
        let category = self.category.as_ref().map(|c| format!("{repo}/{}", c.slug));
        source
            .community(category.as_deref().into_iter().chain([repo]))
            .cloned()
    }
}

#[derive(Debug, Deserialize)]
struct Comment {
    id: u64,
    user: User,
    created_at: Timestamp,
}

/// An issue or a pull request.
#[derive(Debug, Deserialize)]
struct Parent {
    id: u64,
    user: User,
}

#[derive(Debug, Deserialize)]
struct Review {
    id: u64,
    user: User,
    #[serde(default)]
    submitted_at: Option<Timestamp>,
}

#[cfg(test)]
mod tests;
