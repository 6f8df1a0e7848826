//! Loading a rule file: TOML into a raw model that keeps spans, then checks
//! that turn it into a [`RuleSet`] or a list of located errors.

use std::collections::{HashMap, HashSet};

use crate::name::Name;

use super::checker::{Checker, Kinds, S};
use super::raw::RawFile;
use super::{Action, Criterion, Role, RuleError, RuleErrors, RuleSet, Stage};
use crate::calendar::Period;

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

impl Checker<'_> {
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
            let kind_name = Name::lasting(kind.get_ref());
            action_index.insert(kind_name.shared(), actions.len());
            actions.push(Action {
                label: action.label.unwrap_or_else(|| kind.get_ref().clone()),
                kind: kind_name,
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
        let insights = self.insights(raw.insights.as_ref(), &kinds);
        let fair_play = self.fair_play(raw.fair_play.as_ref());
        let openbadges = raw.openbadges.as_ref().and_then(|o| self.openbadges(o));
        let notify = self.notify(&raw.notify, &badges, &leaderboards);

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
        let badges_moved = crate::engine::BadgesMoved::new(&badges, actions.len());
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
            insights,
            fair_play,
            openbadges,
            notify,
            action_index,
            rules_by_action,
            periods_kept,
            tracks_communities,
            badges_moved,
        })
    }

    pub(super) fn unique(
        &mut self,
        seen: &mut HashSet<String>,
        id: &S<String>,
        what: &str,
    ) -> bool {
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

    pub(super) fn role(&mut self, role: Option<&S<String>>) -> Option<Role> {
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

    pub(super) fn positive(&mut self, n: &S<i64>, field: &str) -> Option<i64> {
        if *n.get_ref() < 1 {
            self.error(n.span(), format!("{field} must be at least 1"));
            return None;
        }
        Some(*n.get_ref())
    }
}

pub(super) fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}
