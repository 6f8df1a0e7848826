//! The rule file: its compiled model, and loading it from TOML.
//!
//! A [`RuleSet`] is built only through [`RuleSet::from_toml`], which checks
//! every reference and limit, so the engine never meets an inconsistent rule.

mod check;
mod checker;
mod error;
mod load;
mod raw;
pub mod sources;

use std::collections::HashMap;
use std::sync::Arc;

use arcstr::ArcStr;
use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::calendar::Period;
use crate::name::Name;

pub use error::{RuleError, RuleErrors};
pub use sources::{Identities, Platform, SourceMap, Sources};

/// The stages of the knowledge-management cycle an action can serve.
///
/// Stores keep it by position in compact records: add variants at the end.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Create,
    Discover,
    Capture,
    Organize,
    Disseminate,
    Use,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::Create,
        Stage::Discover,
        Stage::Capture,
        Stage::Organize,
        Stage::Disseminate,
        Stage::Use,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Create => "create",
            Stage::Discover => "discover",
            Stage::Capture => "capture",
            Stage::Organize => "organize",
            Stage::Disseminate => "disseminate",
            Stage::Use => "use",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// Index of an action in [`RuleSet::actions`].
pub type ActionIdx = usize;

/// A recognised action kind.
#[derive(Debug, Clone)]
pub struct Action {
    pub kind: Name,
    pub stage: Stage,
    pub label: String,
}

/// Who a points rule or a count refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The member who did the action.
    Actor,
    /// The author of the thing acted on, when that is someone else.
    Received,
}

/// A points rule.
#[derive(Debug, Clone)]
pub struct PointsRule {
    pub id: Name,
    pub on: ActionIdx,
    pub to: Role,
    pub points: i64,
    pub daily_cap: Option<i64>,
    pub not_self: bool,
    pub once_per_target: bool,
    /// Empty means every community (and events without one).
    pub communities: Vec<String>,
    pub chance: Option<f64>,
}

/// A level on the path of participation.
#[derive(Debug, Clone)]
pub struct Level {
    pub name: String,
    pub at: i64,
}

/// A tier of a badge. Badges without tiers have one tier with no name.
#[derive(Debug, Clone)]
pub struct Tier {
    pub name: Option<String>,
    pub at_least: i64,
}

/// What earns a badge.
#[derive(Debug, Clone)]
pub enum Criterion {
    Count {
        action: ActionIdx,
        role: Role,
    },
    StreakDays,
    DistinctCommunities {
        action: ActionIdx,
    },
    AllStages,
    Points,
    /// Granted by an admin only.
    Manual,
}

#[derive(Debug, Clone)]
pub struct Badge {
    pub id: Name,
    pub name: String,
    pub description: String,
    pub criterion: Criterion,
    /// Thresholds in increasing order; for `AllStages` the one threshold is
    /// the number of stages.
    pub tiers: Vec<Tier>,
}

#[derive(Debug, Clone)]
pub struct StreakRule {
    /// `counts[action]` is true when the action keeps a streak going.
    pub counts: Vec<bool>,
    pub max_freezes: u32,
    pub earn_every_days: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Points,
    Count { action: ActionIdx, role: Role },
}

#[derive(Debug, Clone)]
pub struct Leaderboard {
    pub id: Arc<str>,
    pub name: String,
    pub metric: Metric,
    pub periods: Vec<Period>,
    pub global: bool,
    pub community: bool,
    pub exclude_groups: Vec<String>,
}

/// What an action is to the knowledge-flow insights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsightRole {
    Question,
    Answer,
    Accepted,
}

impl InsightRole {
    pub const ALL: [InsightRole; 3] = [
        InsightRole::Question,
        InsightRole::Answer,
        InsightRole::Accepted,
    ];

    /// The key naming it in `[insights]`.
    pub fn as_str(self) -> &'static str {
        match self {
            InsightRole::Question => "question",
            InsightRole::Answer => "answer",
            InsightRole::Accepted => "accepted",
        }
    }

    /// The action kind it is when `[insights]` does not say.
    pub fn default_kind(self) -> &'static str {
        match self {
            InsightRole::Question => "question.asked",
            InsightRole::Answer => "answer.posted",
            InsightRole::Accepted => "answer.accepted",
        }
    }
}

/// The insights role of each action, by action index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InsightRoles(pub(crate) Vec<Option<InsightRole>>);

impl InsightRoles {
    pub fn of(&self, action: ActionIdx) -> Option<InsightRole> {
        self.0.get(action).copied().flatten()
    }
}

/// `[fair_play]`: points between two members kept in proportion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FairPlay {
    /// Points one member can earn through one other member's actions per
    /// local day, across all rules; `None`: no pair cap.
    pub pair_daily_cap: Option<i64>,
    /// Events in a bucket at which a pair is strong enough to be listed.
    pub ring_min_events: u32,
    /// The least share of the giver's point-giving events in a bucket a
    /// listed pair has.
    pub ring_min_share: f64,
}

impl FairPlay {
    pub const DEFAULT_RING_MIN_EVENTS: u32 = 10;
    pub const DEFAULT_RING_MIN_SHARE: f64 = 0.5;
}

impl Default for FairPlay {
    fn default() -> Self {
        FairPlay {
            pair_daily_cap: None,
            ring_min_events: FairPlay::DEFAULT_RING_MIN_EVENTS,
            ring_min_share: FairPlay::DEFAULT_RING_MIN_SHARE,
        }
    }
}

/// `[openbadges]`: who issues the members' portable credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenBadges {
    pub issuer_name: String,
    /// The community's own address (http or https).
    pub url: String,
    /// An image of the issuer (http or https).
    pub image: Option<String>,
}

/// A checked, compiled rule file.
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// Short hash of the source text: which rule file produced an award.
    pub version: String,
    /// The same hash as a number, never 0.
    pub(crate) fingerprint: u64,
    pub timezone_name: String,
    pub timezone: TimeZone,
    pub week_starts: Weekday,
    /// Days of daily-cap room kept per member (`[engine] cap_window_days`).
    pub cap_window_days: i64,
    pub actions: Vec<Action>,
    pub points: Vec<PointsRule>,
    pub levels: Vec<Level>,
    pub badges: Vec<Badge>,
    pub streak: Option<StreakRule>,
    pub leaderboards: Vec<Leaderboard>,
    /// How native webhooks (Discourse, GitHub) become events.
    pub sources: Sources,
    /// Platform identities linked to members by the rule file.
    pub identities: Identities,
    /// Which actions ask, answer and accept questions (`[insights]`).
    pub insights: InsightRoles,
    /// The pair cap and what makes a pair suspicious (`[fair_play]`).
    pub fair_play: FairPlay,
    /// The issuer of the members' Open Badges credentials (`[openbadges]`).
    pub openbadges: Option<OpenBadges>,
    /// Where recognition is sent (`[[notify]]`).
    pub notify: Vec<crate::notify::Channel>,
    pub(crate) action_index: HashMap<ArcStr, ActionIdx, foldhash::fast::FixedState>,
    /// Points rules of each action, in file order.
    pub(crate) rules_by_action: Vec<Vec<usize>>,
    /// Whether some board keeps each period, by [`Period`] order.
    pub(crate) periods_kept: [bool; Period::ALL.len()],
    /// Actions counted per community by a `distinct_communities` badge.
    pub(crate) tracks_communities: Vec<bool>,
    /// The badges whose value each kind of change may move, worked out
    /// once from `badges` when the rule file is loaded.
    pub(crate) badges_moved: crate::engine::BadgesMoved,
}

/// What a valid rule file holds, for `rules check` and the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub version: String,
    pub timezone: String,
    pub actions: usize,
    pub points_rules: usize,
    pub levels: usize,
    pub badges: usize,
    pub leaderboards: usize,
    pub streaks: bool,
    /// Platforms whose webhooks the file maps (`discourse`, `github`).
    pub sources: Vec<String>,
}

impl RuleSet {
    /// Parses and checks a rule file.
    pub fn from_toml(source: &str) -> Result<RuleSet, RuleErrors> {
        load::load(source)
    }

    pub fn action(&self, kind: &str) -> Option<ActionIdx> {
        self.action_index.get(kind).copied()
    }

    pub fn leaderboard(&self, id: &str) -> Option<&Leaderboard> {
        self.leaderboards.iter().find(|b| &*b.id == id)
    }

    pub fn badge(&self, id: &str) -> Option<&Badge> {
        self.badges.iter().find(|b| &*b.id == id)
    }

    /// Index of the level held with `points`.
    pub fn level_index(&self, points: i64) -> usize {
        self.levels
            .iter()
            .rposition(|l| points >= l.at)
            .unwrap_or_default()
    }

    pub fn summary(&self) -> Summary {
        Summary {
            version: self.version.clone(),
            timezone: self.timezone_name.clone(),
            actions: self.actions.len(),
            points_rules: self.points.len(),
            levels: self.levels.len(),
            badges: self.badges.len(),
            leaderboards: self.leaderboards.len(),
            streaks: self.streak.is_some(),
            sources: self
                .sources
                .names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
