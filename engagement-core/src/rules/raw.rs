//! The raw rule file: what TOML deserializes into, with the span of every
//! value kept so the checks can say where a mistake is.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::checker::S;
use super::sources::{RawIdentities, RawSources};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) version: S<i64>,
    pub(super) engine: RawEngine,
    pub(super) actions: BTreeMap<S<String>, RawAction>,
    #[serde(default)]
    pub(super) points: Vec<S<RawPoints>>,
    #[serde(default)]
    pub(super) levels: Vec<S<RawLevel>>,
    #[serde(default)]
    pub(super) badges: Vec<S<RawBadge>>,
    pub(super) streaks: Option<S<RawStreaks>>,
    #[serde(default)]
    pub(super) leaderboards: Vec<S<RawBoard>>,
    pub(super) sources: Option<RawSources>,
    pub(super) identities: Option<RawIdentities>,
    pub(super) insights: Option<RawInsights>,
    pub(super) fair_play: Option<RawFairPlay>,
    pub(super) openbadges: Option<RawOpenBadges>,
    #[serde(default)]
    pub(super) notify: Vec<S<RawNotify>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    pub(super) id: S<String>,
    pub(super) url: S<String>,
    pub(super) format: Option<S<String>>,
    pub(super) secret_env: Option<S<String>>,
    pub(super) api_key_env: Option<S<String>>,
    pub(super) api_username: Option<S<String>>,
    pub(super) on: S<Vec<S<String>>>,
    #[serde(default)]
    pub(super) private: bool,
    #[serde(default)]
    pub(super) allow_private: bool,
    pub(super) rank: Option<S<RawRankWatch>>,
    pub(super) badges: Option<S<BTreeMap<S<String>, S<i64>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRankWatch {
    pub(super) board: S<String>,
    pub(super) period: S<String>,
    pub(super) top: S<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOpenBadges {
    pub(super) issuer_name: S<String>,
    pub(super) url: S<String>,
    pub(super) image: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFairPlay {
    pub(super) pair_daily_cap: Option<S<i64>>,
    pub(super) ring_min_events: Option<S<i64>>,
    pub(super) ring_min_share: Option<S<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInsights {
    pub(super) question: Option<S<String>>,
    pub(super) answer: Option<S<String>>,
    pub(super) accepted: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEngine {
    pub(super) timezone: S<String>,
    #[serde(default)]
    pub(super) week_starts: Option<S<String>>,
    pub(super) cap_window_days: Option<S<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAction {
    pub(super) stage: S<String>,
    #[serde(default)]
    pub(super) label: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPoints {
    pub(super) id: S<String>,
    pub(super) on: S<String>,
    pub(super) to: S<String>,
    pub(super) points: S<i64>,
    pub(super) daily_cap: Option<S<i64>>,
    #[serde(default)]
    pub(super) not_self: bool,
    pub(super) once_per: Option<S<String>>,
    #[serde(default)]
    pub(super) communities: Vec<String>,
    pub(super) chance: Option<S<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLevel {
    pub(super) name: String,
    pub(super) at: S<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBadge {
    pub(super) id: S<String>,
    pub(super) name: String,
    #[serde(default)]
    pub(super) description: String,
    pub(super) count: Option<S<String>>,
    pub(super) role: Option<S<String>>,
    pub(super) at_least: Option<S<i64>>,
    pub(super) tiers: Option<S<Vec<S<RawTier>>>>,
    pub(super) streak_days: Option<S<i64>>,
    pub(super) distinct_communities: Option<S<i64>>,
    pub(super) all_stages: Option<S<bool>>,
    pub(super) points: Option<S<i64>>,
    pub(super) manual: Option<S<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTier {
    pub(super) name: String,
    pub(super) at_least: S<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStreaks {
    pub(super) period: S<String>,
    pub(super) counts: Vec<S<String>>,
    pub(super) max_freezes: Option<S<i64>>,
    pub(super) earn_every_days: Option<S<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBoard {
    pub(super) id: S<String>,
    pub(super) name: String,
    pub(super) metric: S<String>,
    pub(super) count: Option<S<String>>,
    pub(super) role: Option<S<String>>,
    pub(super) periods: S<Vec<S<String>>>,
    pub(super) scopes: S<Vec<S<String>>>,
    #[serde(default)]
    pub(super) exclude_groups: Vec<String>,
}
