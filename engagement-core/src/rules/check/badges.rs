//! Checks of the `[[badges]]`: ids, the one criterion of each, and tiers.

use std::collections::HashSet;

use super::super::checker::{Checker, Kinds, S};
use super::super::raw::{RawBadge, RawTier};
use super::super::{Action, Badge, Criterion, Stage, Tier};
use crate::name::Name;

impl Checker<'_> {
    pub(in crate::rules) fn badges(
        &mut self,
        raw: &[S<RawBadge>],
        kinds: &Kinds<'_>,
        actions: &[Action],
    ) -> Vec<Badge> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for spanned in raw {
            let b = spanned.get_ref();
            let ok = self.unique(&mut seen, &b.id, "badge");
            if let (true, Some((criterion, tiers))) = (ok, self.criterion(spanned, kinds, actions))
            {
                out.push(Badge {
                    id: Name::lasting(b.id.get_ref()),
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
}
