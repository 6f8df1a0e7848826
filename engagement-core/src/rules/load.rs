//! Loading a rule file: TOML into a raw model that keeps spans, then checks
//! that turn it into a [`RuleSet`] or a list of located errors.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use crate::name::Name;

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use serde::Deserialize;
use toml::Spanned;

use super::sources::{RawIdentities, RawSources};
use super::{
    Action, Badge, Criterion, Leaderboard, Level, Metric, PointsRule, Role, RuleError, RuleErrors,
    RuleSet, Stage, StreakRule, Tier,
};
use crate::calendar::Period;
use crate::engine::ADJUSTMENT_RULE;
use crate::state::CAP_WINDOW_DAYS;

/// Longest cap window a rule file may ask for: every day of it is kept per
/// member who used a capped rule then.
const MAX_CAP_WINDOW_DAYS: i64 = 3660;

type S<T> = Spanned<T>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    version: S<i64>,
    engine: RawEngine,
    actions: BTreeMap<S<String>, RawAction>,
    #[serde(default)]
    points: Vec<S<RawPoints>>,
    #[serde(default)]
    levels: Vec<S<RawLevel>>,
    #[serde(default)]
    badges: Vec<S<RawBadge>>,
    streaks: Option<S<RawStreaks>>,
    #[serde(default)]
    leaderboards: Vec<S<RawBoard>>,
    sources: Option<RawSources>,
    identities: Option<RawIdentities>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEngine {
    timezone: S<String>,
    #[serde(default)]
    week_starts: Option<S<String>>,
    cap_window_days: Option<S<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    stage: S<String>,
    #[serde(default)]
    label: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPoints {
    id: S<String>,
    on: S<String>,
    to: S<String>,
    points: S<i64>,
    daily_cap: Option<S<i64>>,
    #[serde(default)]
    not_self: bool,
    once_per: Option<S<String>>,
    #[serde(default)]
    communities: Vec<String>,
    chance: Option<S<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLevel {
    name: String,
    at: S<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBadge {
    id: S<String>,
    name: String,
    #[serde(default)]
    description: String,
    count: Option<S<String>>,
    role: Option<S<String>>,
    at_least: Option<S<i64>>,
    tiers: Option<S<Vec<S<RawTier>>>>,
    streak_days: Option<S<i64>>,
    distinct_communities: Option<S<i64>>,
    all_stages: Option<S<bool>>,
    points: Option<S<i64>>,
    manual: Option<S<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTier {
    name: String,
    at_least: S<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStreaks {
    period: S<String>,
    counts: Vec<S<String>>,
    max_freezes: Option<S<i64>>,
    earn_every_days: Option<S<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBoard {
    id: S<String>,
    name: String,
    metric: S<String>,
    count: Option<S<String>>,
    role: Option<S<String>>,
    periods: S<Vec<S<String>>>,
    scopes: S<Vec<S<String>>>,
    #[serde(default)]
    exclude_groups: Vec<String>,
}

pub(super) fn load(source: &str) -> Result<RuleSet, RuleErrors> {
    let raw: RawFile = toml::from_str(source).map_err(|e| {
        let message = e.message().trim_end_matches('\n').replace('\n', "; ");
        RuleErrors(vec![RuleError::at(source, e.span(), message)])
    })?;
    let mut c = Checker {
        source,
        errors: Vec::new(),
    };
    let rules = c.compile(raw);
    match rules {
        Some(rules) if c.errors.is_empty() => Ok(rules),
        _ => {
            c.errors.sort_by_key(|e| (e.line, e.column));
            Err(RuleErrors(c.errors))
        }
    }
}

pub(super) struct Checker<'s> {
    source: &'s str,
    errors: Vec<RuleError>,
}

impl Checker<'_> {
    pub(super) fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.errors
            .push(RuleError::at(self.source, Some(span), message));
    }

    fn compile(&mut self, raw: RawFile) -> Option<RuleSet> {
        if *raw.version.get_ref() != 1 {
            self.error(raw.version.span(), "unsupported version: expected 1");
        }
        let (timezone_name, timezone) = self.timezone(&raw.engine.timezone);
        let week_starts = self.week_starts(raw.engine.week_starts.as_ref());
        let cap_window_days = self.cap_window(raw.engine.cap_window_days.as_ref());

        let mut actions = Vec::new();
        // Looked up for every event: a fast fixed-seed hash, not SipHash.
        let mut action_index = HashMap::default();
        let mut bad_stage = HashSet::new();
        for (kind, action) in raw.actions {
            let Some(stage) = Stage::parse(action.stage.get_ref()) else {
                self.error(
                    action.stage.span(),
                    format!(
                        "unknown stage \"{}\": expected one of {}",
                        action.stage.get_ref(),
                        list(Stage::ALL.iter().map(|s| s.as_str()))
                    ),
                );
                bad_stage.insert(kind.get_ref().clone());
                continue;
            };
            let kind_name: Arc<str> = Arc::from(kind.get_ref().as_str());
            action_index.insert(kind_name.clone(), actions.len());
            actions.push(Action {
                label: action.label.unwrap_or_else(|| kind.get_ref().clone()),
                kind: Name::from(kind_name),
                stage,
            });
        }
        let kinds = Kinds {
            index: &action_index,
            bad_stage: &bad_stage,
        };

        let points = self.points(&raw.points, &kinds);
        let levels = self.levels(&raw.levels);
        let badges = self.badges(&raw.badges, &kinds, &actions);
        let streak = raw
            .streaks
            .as_ref()
            .map(|s| self.streaks(s, &kinds, actions.len()));
        let leaderboards = self.boards(&raw.leaderboards, &kinds);
        let sources = self.sources(raw.sources.as_ref(), &kinds);
        let identities = self.identities(raw.identities.as_ref());

        let mut rules_by_action = vec![Vec::new(); actions.len()];
        for (i, rule) in points.iter().enumerate() {
            rules_by_action[rule.on].push(i);
        }
        let mut tracks_communities = vec![false; actions.len()];
        for badge in &badges {
            if let Criterion::DistinctCommunities { action } = badge.criterion {
                tracks_communities[action] = true;
            }
        }
        let fingerprint = xxhash_rust::xxh3::xxh3_64(self.source.as_bytes());
        let periods_kept = Period::ALL.map(|p| leaderboards.iter().any(|b| b.periods.contains(&p)));
        Some(RuleSet {
            version: format!("{fingerprint:016x}"),
            // Zero stands for "no rule set" in member states.
            fingerprint: fingerprint.max(1),
            timezone_name,
            timezone: timezone?,
            week_starts,
            cap_window_days,
            actions,
            points,
            levels,
            badges,
            streak,
            leaderboards,
            sources,
            identities,
            action_index,
            rules_by_action,
            periods_kept,
            tracks_communities,
        })
    }

    fn timezone(&mut self, name: &S<String>) -> (String, Option<TimeZone>) {
        match TimeZone::get(name.get_ref()) {
            Ok(tz) => (name.get_ref().clone(), Some(tz)),
            Err(_) => {
                self.error(
                    name.span(),
                    format!(
                        "unknown time zone \"{}\": expected an IANA name such as \"America/Bogota\"",
                        name.get_ref()
                    ),
                );
                (name.get_ref().clone(), None)
            }
        }
    }

    fn week_starts(&mut self, day: Option<&S<String>>) -> Weekday {
        let Some(day) = day else {
            return Weekday::Monday;
        };
        match parse_weekday(day.get_ref()) {
            Some(w) => w,
            None => {
                self.error(
                    day.span(),
                    format!(
                        "unknown weekday \"{}\": expected \"monday\" … \"sunday\"",
                        day.get_ref()
                    ),
                );
                Weekday::Monday
            }
        }
    }

    fn cap_window(&mut self, days: Option<&S<i64>>) -> i64 {
        let Some(days) = days else {
            return CAP_WINDOW_DAYS;
        };
        if !(1..=MAX_CAP_WINDOW_DAYS).contains(days.get_ref()) {
            self.error(
                days.span(),
                format!("cap_window_days must be 1 to {MAX_CAP_WINDOW_DAYS} days"),
            );
            return CAP_WINDOW_DAYS;
        }
        *days.get_ref()
    }

    fn unique(&mut self, seen: &mut HashSet<String>, id: &S<String>, what: &str) -> bool {
        let fresh = seen.insert(id.get_ref().clone());
        if !fresh {
            self.error(
                id.span(),
                format!("duplicate {what} id \"{}\"", id.get_ref()),
            );
        }
        let valid = !id.get_ref().is_empty() && id.get_ref().len() <= 100;
        if !valid {
            self.error(id.span(), format!("{what} id must be 1 to 100 bytes"));
        }
        fresh && valid
    }

    fn points(&mut self, raw: &[S<RawPoints>], kinds: &Kinds<'_>) -> Vec<PointsRule> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for r in raw {
            let r = r.get_ref();
            let mut ok = self.unique(&mut seen, &r.id, "points rule");
            if r.id.get_ref() == ADJUSTMENT_RULE {
                self.error(
                    r.id.span(),
                    format!("the points rule id \"{ADJUSTMENT_RULE}\" is reserved for manual adjustments"),
                );
                ok = false;
            }
            let on = self.kind(kinds, &r.on);
            let to = match r.to.get_ref().as_str() {
                "actor" => Some(Role::Actor),
                "target.author" => Some(Role::Received),
                other => {
                    self.error(
                        r.to.span(),
                        format!(
                            "unknown recipient \"{other}\": expected \"actor\" or \"target.author\""
                        ),
                    );
                    None
                }
            };
            if *r.points.get_ref() < 1 {
                self.error(r.points.span(), "points must be at least 1");
            }
            if let Some(cap) = &r.daily_cap
                && *cap.get_ref() < 1
            {
                self.error(cap.span(), "daily_cap must be at least 1");
            }
            if let Some(chance) = &r.chance {
                let p = *chance.get_ref();
                if !(p > 0.0 && p <= 1.0) {
                    self.error(
                        chance.span(),
                        "chance must be in (0, 1]: above 0 and at most 1",
                    );
                }
            }
            let once_per_target = match &r.once_per {
                None => false,
                Some(o) if o.get_ref() == "actor-target" => true,
                Some(o) => {
                    self.error(
                        o.span(),
                        format!(
                            "unknown once_per \"{}\": expected \"actor-target\"",
                            o.get_ref()
                        ),
                    );
                    false
                }
            };
            if let (true, Some(on), Some(to)) = (ok, on, to) {
                out.push(PointsRule {
                    id: Name::new(r.id.get_ref()),
                    on,
                    to,
                    points: *r.points.get_ref(),
                    daily_cap: r.daily_cap.as_ref().map(|c| *c.get_ref()),
                    not_self: r.not_self,
                    once_per_target,
                    communities: r.communities.clone(),
                    chance: r.chance.as_ref().map(|c| *c.get_ref()),
                });
            }
        }
        out
    }

    fn levels(&mut self, raw: &[S<RawLevel>]) -> Vec<Level> {
        let mut out: Vec<Level> = Vec::new();
        for (i, level) in raw.iter().enumerate() {
            let at = *level.get_ref().at.get_ref();
            let span = level.get_ref().at.span();
            if i == 0 && at != 0 {
                self.error(span, "the first level must be at 0 points");
            } else if let Some(prev) = out.last()
                && at <= prev.at
            {
                self.error(
                    span,
                    format!("levels must increase: {at} is not above {}", prev.at),
                );
            }
            out.push(Level {
                name: level.get_ref().name.clone(),
                at,
            });
        }
        if out.is_empty() {
            out.push(Level {
                name: "Member".to_owned(),
                at: 0,
            });
        }
        out
    }

    fn badges(&mut self, raw: &[S<RawBadge>], kinds: &Kinds<'_>, actions: &[Action]) -> Vec<Badge> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for spanned in raw {
            let b = spanned.get_ref();
            let ok = self.unique(&mut seen, &b.id, "badge");
            if let (true, Some((criterion, tiers))) = (ok, self.criterion(spanned, kinds, actions))
            {
                out.push(Badge {
                    id: Name::new(b.id.get_ref()),
                    name: b.name.clone(),
                    description: b.description.clone(),
                    criterion,
                    tiers,
                });
            }
        }
        out
    }

    fn criterion(
        &mut self,
        spanned: &S<RawBadge>,
        kinds: &Kinds<'_>,
        actions: &[Action],
    ) -> Option<(Criterion, Vec<Tier>)> {
        let b = spanned.get_ref();
        let flag = |f: &Option<S<bool>>| f.as_ref().is_some_and(|v| *v.get_ref());
        let chosen = [
            b.streak_days.is_some(),
            b.distinct_communities.is_some(),
            flag(&b.all_stages),
            b.points.is_some(),
            flag(&b.manual),
            b.count.is_some() && b.distinct_communities.is_none(),
        ];
        if chosen.iter().filter(|c| **c).count() != 1 {
            self.error(
                b.id.span(),
                "a badge needs exactly one criterion: count, streak_days, distinct_communities (with count), all_stages, points or manual",
            );
            return None;
        }
        let single = |n: i64| {
            vec![Tier {
                name: None,
                at_least: n,
            }]
        };
        if let Some(days) = &b.streak_days {
            return self
                .positive(days, "streak_days")
                .map(|n| (Criterion::StreakDays, single(n)));
        }
        if let Some(points) = &b.points {
            return self
                .positive(points, "points")
                .map(|n| (Criterion::Points, single(n)));
        }
        if flag(&b.manual) {
            return Some((Criterion::Manual, single(1)));
        }
        if flag(&b.all_stages) {
            for stage in Stage::ALL {
                if !actions.iter().any(|a| a.stage == stage) {
                    self.error(
                        b.id.span(),
                        format!(
                            "no action serves the \"{}\" stage, so all_stages can never be earned",
                            stage.as_str()
                        ),
                    );
                    return None;
                }
            }
            return Some((Criterion::AllStages, single(Stage::ALL.len() as i64)));
        }
        let Some(count) = &b.count else {
            self.error(b.id.span(), "distinct_communities needs `count = KIND`");
            return None;
        };
        let action = self.kind(kinds, count)?;
        if let Some(n) = &b.distinct_communities {
            return self
                .positive(n, "distinct_communities")
                .map(|n| (Criterion::DistinctCommunities { action }, single(n)));
        }
        let role = self.role(b.role.as_ref())?;
        let tiers = match (&b.at_least, &b.tiers) {
            (Some(n), None) => single(self.positive(n, "at_least")?),
            (None, Some(tiers)) => self.tiers(tiers)?,
            _ => {
                self.error(
                    count.span(),
                    "a count badge needs either `at_least` or `tiers`",
                );
                return None;
            }
        };
        Some((Criterion::Count { action, role }, tiers))
    }

    fn tiers(&mut self, tiers: &S<Vec<S<RawTier>>>) -> Option<Vec<Tier>> {
        let list = tiers.get_ref();
        if list.is_empty() {
            self.error(tiers.span(), "tiers must not be empty");
            return None;
        }
        let mut out: Vec<Tier> = Vec::new();
        for t in list {
            let at_least = *t.get_ref().at_least.get_ref();
            let name = &t.get_ref().name;
            let bad = at_least < 1 || out.last().is_some_and(|p| at_least <= p.at_least);
            if bad {
                // At the tier's own threshold, not at the list.
                self.error(
                    t.get_ref().at_least.span(),
                    format!(
                        "tier \"{name}\": at_least must be at least 1 and above the tier before it"
                    ),
                );
                return None;
            }
            out.push(Tier {
                name: Some(name.clone()),
                at_least,
            });
        }
        Some(out)
    }

    fn streaks(&mut self, s: &S<RawStreaks>, kinds: &Kinds<'_>, n_actions: usize) -> StreakRule {
        let s = s.get_ref();
        if s.period.get_ref() != "day" {
            self.error(
                s.period.span(),
                "unsupported streak period: expected \"day\"",
            );
        }
        let mut counts = vec![false; n_actions];
        for kind in &s.counts {
            if let Some(a) = self.kind(kinds, kind) {
                counts[a] = true;
            }
        }
        let max_freezes = s.max_freezes.as_ref().map_or(0, |m| *m.get_ref());
        if let Some(m) = &s.max_freezes
            && !(0..=365).contains(&max_freezes)
        {
            self.error(m.span(), "max_freezes must be between 0 and 365");
        }
        let earn_every_days = match &s.earn_every_days {
            Some(n) => self.positive(n, "earn_every_days").unwrap_or(1),
            None => 7,
        };
        StreakRule {
            counts,
            max_freezes: max_freezes.clamp(0, 365) as u32,
            earn_every_days: earn_every_days.clamp(1, i64::from(u32::MAX)) as u32,
        }
    }

    fn boards(&mut self, raw: &[S<RawBoard>], kinds: &Kinds<'_>) -> Vec<Leaderboard> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for b in raw {
            let b = b.get_ref();
            let ok = self.unique(&mut seen, &b.id, "leaderboard");
            let metric = match (b.metric.get_ref().as_str(), &b.count) {
                ("points", None) => Some(Metric::Points),
                ("points", Some(c)) => {
                    self.error(c.span(), "`count` is only for metric = \"count\"");
                    None
                }
                ("count", Some(c)) => {
                    let action = self.kind(kinds, c);
                    let role = self.role(b.role.as_ref());
                    action
                        .zip(role)
                        .map(|(action, role)| Metric::Count { action, role })
                }
                ("count", None) => {
                    self.error(b.metric.span(), "metric = \"count\" needs `count = KIND`");
                    None
                }
                (other, _) => {
                    self.error(
                        b.metric.span(),
                        format!("unknown metric \"{other}\": expected \"points\" or \"count\""),
                    );
                    None
                }
            };
            let mut periods = Vec::new();
            for p in b.periods.get_ref() {
                match Period::parse(p.get_ref()) {
                    Some(period) if periods.contains(&period) => {
                        self.error(p.span(), format!("period \"{}\" listed twice", p.get_ref()));
                    }
                    Some(period) => periods.push(period),
                    None => self.error(
                        p.span(),
                        format!(
                            "unknown period \"{}\": expected one of {}",
                            p.get_ref(),
                            list(Period::ALL.iter().map(|p| p.as_str()))
                        ),
                    ),
                }
            }
            if b.periods.get_ref().is_empty() {
                self.error(b.periods.span(), "a leaderboard needs at least one period");
            }
            let (mut global, mut community) = (false, false);
            for s in b.scopes.get_ref() {
                match s.get_ref().as_str() {
                    "global" => global = true,
                    "community" => community = true,
                    other => self.error(
                        s.span(),
                        format!("unknown scope \"{other}\": expected \"global\" or \"community\""),
                    ),
                }
            }
            if b.scopes.get_ref().is_empty() {
                self.error(b.scopes.span(), "a leaderboard needs at least one scope");
            }
            if let (true, Some(metric)) = (ok, metric) {
                out.push(Leaderboard {
                    id: Arc::from(b.id.get_ref().as_str()),
                    name: b.name.clone(),
                    metric,
                    periods,
                    global,
                    community,
                    exclude_groups: b.exclude_groups.clone(),
                });
            }
        }
        out
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

    fn role(&mut self, role: Option<&S<String>>) -> Option<Role> {
        match role.map(|r| (r.get_ref().as_str(), r.span())) {
            None | Some(("actor", _)) => Some(Role::Actor),
            Some(("received", _)) => Some(Role::Received),
            Some((other, span)) => {
                self.error(
                    span,
                    format!("unknown role \"{other}\": expected \"actor\" or \"received\""),
                );
                None
            }
        }
    }

    fn positive(&mut self, n: &S<i64>, field: &str) -> Option<i64> {
        if *n.get_ref() < 1 {
            self.error(n.span(), format!("{field} must be at least 1"));
            return None;
        }
        Some(*n.get_ref())
    }
}

pub(super) struct Kinds<'a> {
    index: &'a HashMap<Arc<str>, usize, foldhash::fast::FixedState>,
    /// Kinds listed in `[actions]` whose stage is unknown.
    bad_stage: &'a HashSet<String>,
}

impl Kinds<'_> {
    /// The listed kind's shared name, to keep without copying it.
    pub(super) fn shared(&self, kind: &str) -> Option<Arc<str>> {
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

fn parse_weekday(s: &str) -> Option<Weekday> {
    Some(match s.to_ascii_lowercase().as_str() {
        "monday" => Weekday::Monday,
        "tuesday" => Weekday::Tuesday,
        "wednesday" => Weekday::Wednesday,
        "thursday" => Weekday::Thursday,
        "friday" => Weekday::Friday,
        "saturday" => Weekday::Saturday,
        "sunday" => Weekday::Sunday,
        _ => return None,
    })
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}
