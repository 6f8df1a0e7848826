//! Recognition that reaches people: the `[[notify]]` channels of a rule
//! file, what an outcome tells them ([`Notice`]s: a badge tier granted, a
//! level reached, a member entering the top of a board), and who each
//! channel may tell, as the member chose (`recognition`) and as their
//! visibility allows.
//!
//! Pure: a store turns outcomes into notices in the same write as the
//! outcome, and the service delivers them.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::calendar::Period;
use crate::engine::Outcome;
use crate::ids::{CommunityId, MemberId};
use crate::rules::RuleSet;
use crate::state::{Profile, Visibility};

/// What a notification is about (`on = [...]` in a channel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    #[serde(rename = "badge.granted")]
    BadgeGranted,
    #[serde(rename = "level.reached")]
    LevelReached,
    #[serde(rename = "rank.entered")]
    RankEntered,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::BadgeGranted, Kind::LevelReached, Kind::RankEntered];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::BadgeGranted => "badge.granted",
            Kind::LevelReached => "level.reached",
            Kind::RankEntered => "rank.entered",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a channel speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Standard Webhooks: signed JSON.
    Standard,
    /// A Slack incoming-webhook message.
    Slack,
    /// Grants the mapped Discourse badge.
    Discourse,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Standard => "standard",
            Format::Slack => "slack",
            Format::Discourse => "discourse",
        }
    }
}

/// The board bucket whose top a `rank.entered` channel watches: the
/// board's global scope, in the current bucket of `period`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankWatch {
    pub board: String,
    pub period: Period,
    pub top: u32,
}

/// One `[[notify]]` channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: String,
    pub url: String,
    pub format: Format,
    pub on: Vec<Kind>,
    /// Reaches only the member (a direct message): private members and
    /// hidden ones are told here only.
    pub private: bool,
    /// Lets `url` be a loopback or private address.
    pub allow_private: bool,
    pub rank: Option<RankWatch>,
    /// The variable holding the `whsec_` secret (`standard`).
    pub secret_env: Option<String>,
    /// The variable holding the Discourse API key (`discourse`).
    pub api_key_env: Option<String>,
    pub api_username: Option<String>,
    /// Our `badge` or `badge:tier` → the Discourse badge id (`discourse`).
    pub badges: BTreeMap<String, u64>,
}

impl Channel {
    /// The Discourse badge granted for `badge` at `tier`: the tier's own
    /// mapping first, then the badge's.
    pub fn discourse_badge(&self, badge: &str, tier: Option<&str>) -> Option<u64> {
        tier.and_then(|t| self.badges.get(&format!("{badge}:{t}")))
            .or_else(|| self.badges.get(badge))
            .copied()
    }
}

/// How a member wants to be recognised (`PUT /v1/members/{m}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recognition {
    /// On every channel.
    #[default]
    Public,
    /// Only on channels that reach the member alone.
    Private,
    /// Never.
    None,
}

impl Recognition {
    pub fn is_public(&self) -> bool {
        *self == Recognition::Public
    }
}

/// What happened, by kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum What {
    #[serde(rename = "badge.granted")]
    Badge {
        badge: String,
        /// The badge's name in the rules.
        badge_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tier: Option<String>,
    },
    #[serde(rename = "level.reached")]
    Level { level: String },
    #[serde(rename = "rank.entered")]
    Rank {
        board: String,
        board_name: String,
        period: Period,
        rank: u64,
    },
}

impl What {
    pub fn kind(&self) -> Kind {
        match self {
            What::Badge { .. } => Kind::BadgeGranted,
            What::Level { .. } => Kind::LevelReached,
            What::Rank { .. } => Kind::RankEntered,
        }
    }
}

/// Something worth telling one member, before any channel is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub member: MemberId,
    pub at: Timestamp,
    pub community: Option<CommunityId>,
    /// What causes it: an event id, or a manual grant.
    pub cause: String,
    pub what: What,
    /// For a rank: the member's rank before (`None`: not on the board);
    /// a channel watching the top N is told when this was below N.
    pub rank_before: Option<u64>,
}

/// One notice for one channel: what a store writes to its outbox, in the
/// same write as the outcome, and what the service delivers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Stable: the same notice for the same channel always has this id
    /// (Standard Webhooks' `webhook-id`).
    pub id: String,
    pub channel: String,
    pub member: MemberId,
    /// The member's name, when the channel may name them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether the member's id may be shown (not on a shared channel for
    /// an anonymous member).
    pub named: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community: Option<CommunityId>,
    pub at: Timestamp,
    #[serde(flatten)]
    pub what: What,
}

/// The notices of an event's outcome: its badge tiers and levels. (Ranks
/// are the store's to tell, from its boards.)
pub fn notices(rules: &RuleSet, cause: &str, outcome: &Outcome) -> Vec<Notice> {
    if rules.notify.is_empty() {
        return Vec::new();
    }
    let Some(effects) = &outcome.effects else {
        return Vec::new();
    };
    let at = effects.occurred_at;
    let community = effects.community.clone();
    let notice = |member: &MemberId, what| Notice {
        member: member.clone(),
        at,
        community: community.clone(),
        cause: cause.to_owned(),
        what,
        rank_before: None,
    };
    let badges = outcome.badges.iter().map(|b| {
        let badge_name = rules
            .badge(&b.badge)
            .map_or_else(|| b.badge.to_string(), |x| x.name.clone());
        notice(
            &b.member,
            What::Badge {
                badge: b.badge.to_string(),
                badge_name,
                tier: b.tier.clone(),
            },
        )
    });
    let levels = (outcome.level_ups.iter()).map(|l| {
        notice(
            &l.member,
            What::Level {
                level: l.level.clone(),
            },
        )
    });
    badges.chain(levels).collect()
}

/// The notifications `notice` makes, one per channel that listens for it
/// and may tell this member, as their profile says.
pub fn notifications(rules: &RuleSet, notice: &Notice, profile: &Profile) -> Vec<Notification> {
    let kind = notice.what.kind();
    let mut out = Vec::new();
    for channel in &rules.notify {
        if !channel.on.contains(&kind) {
            continue;
        }
        if let What::Rank {
            board,
            period,
            rank,
            ..
        } = &notice.what
        {
            let entered = channel.rank.as_ref().is_some_and(|r| {
                r.board == *board
                    && r.period == *period
                    && *rank <= u64::from(r.top)
                    && notice.rank_before.is_none_or(|b| b > u64::from(r.top))
            });
            if !entered {
                continue;
            }
        }
        let told = match profile.recognition {
            Recognition::None => false,
            Recognition::Private => channel.private,
            Recognition::Public => channel.private || profile.visibility != Visibility::Hidden,
        };
        if !told {
            continue;
        }
        // A shared channel shows an anonymous member nowhere (a private
        // one has their id to reach them, never their name); a Discourse
        // badge would show them on the forum.
        let public = profile.visibility == Visibility::Public;
        let named = channel.private || public;
        if !named && channel.format == Format::Discourse {
            continue;
        }
        if let (Format::Discourse, What::Badge { badge, tier, .. }) = (channel.format, &notice.what)
            && channel.discourse_badge(badge, tier.as_deref()).is_none()
        {
            continue;
        }
        out.push(Notification {
            id: notification_id(&channel.id, notice),
            channel: channel.id.clone(),
            member: notice.member.clone(),
            name: (profile.visibility != Visibility::Anonymous)
                .then(|| profile.name.clone())
                .flatten(),
            named,
            community: notice.community.clone(),
            at: notice.at,
            what: notice.what.clone(),
        });
    }
    out
}

/// The notice of a badge tier an admin granted by hand (`tier`: its index).
pub fn grant_notice(
    rules: &RuleSet,
    member: &MemberId,
    badge: &str,
    tier: usize,
    at: Timestamp,
) -> Option<Notice> {
    let b = rules.badge(badge)?;
    Some(Notice {
        member: member.clone(),
        at,
        community: None,
        cause: format!("grant\0{tier}"),
        what: What::Badge {
            badge: badge.to_owned(),
            badge_name: b.name.clone(),
            tier: b.tiers.get(tier).and_then(|t| t.name.clone()),
        },
        rank_before: None,
    })
}

/// The boards and periods some channel watches the top of, each once.
pub fn rank_watches(rules: &RuleSet) -> Vec<(&str, Period)> {
    let mut out: Vec<(&str, Period)> = Vec::new();
    for r in rules.notify.iter().filter_map(|c| c.rank.as_ref()) {
        if !out.contains(&(r.board.as_str(), r.period)) {
            out.push((r.board.as_str(), r.period));
        }
    }
    out
}

/// The most members some channel watching `board` and `period` tells.
pub fn widest_top(rules: &RuleSet, board: &str, period: Period) -> u64 {
    (rules.notify.iter().filter_map(|c| c.rank.as_ref()))
        .filter(|r| r.board == board && r.period == period)
        .map(|r| u64::from(r.top))
        .max()
        .unwrap_or(0)
}

/// A member now at `rank` (1-based, listed members only) on the global
/// scope of `board` in the current bucket of `period`, after `cause`;
/// `rank_before` as it was (`None`: not on the board).
#[allow(clippy::too_many_arguments)]
pub fn rank_notice(
    rules: &RuleSet,
    board: &str,
    period: Period,
    member: &MemberId,
    cause: &str,
    at: Timestamp,
    community: Option<CommunityId>,
    rank: u64,
    rank_before: Option<u64>,
) -> Notice {
    let board_name = (rules.leaderboards.iter())
        .find(|b| &*b.id == board)
        .map_or_else(|| board.to_owned(), |b| b.name.clone());
    Notice {
        member: member.clone(),
        at,
        community,
        cause: cause.to_owned(),
        what: What::Rank {
            board: board.to_owned(),
            board_name,
            period,
            rank,
        },
        rank_before,
    }
}

/// `msg_` and 26 hex digits of a hash of the channel, the cause, the
/// member and what happened: the same notice never gets two ids.
fn notification_id(channel: &str, notice: &Notice) -> String {
    let what = match &notice.what {
        What::Badge { badge, tier, .. } => format!("b\0{badge}\0{}", tier.as_deref().unwrap_or("")),
        What::Level { level } => format!("l\0{level}"),
        What::Rank { board, period, .. } => format!("r\0{board}\0{period}"),
    };
    let text = format!(
        "{channel}\0{}\0{}\0{what}",
        notice.cause,
        notice.member.as_str()
    );
    let a = xxhash_rust::xxh3::xxh3_128(text.as_bytes());
    format!("msg_{:026x}", a >> 24)
}

#[cfg(test)]
mod tests;
