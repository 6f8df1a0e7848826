//! Checks of the `[[points]]` rules.

use std::collections::HashSet;

use super::super::checker::{Checker, Kinds, S};
use super::super::raw::RawPoints;
use super::super::{PointsRule, Role};
use crate::engine::ADJUSTMENT_RULE;
use crate::name::Name;

impl Checker<'_> {
    pub(in crate::rules) fn points(
        &mut self,
        raw: &[S<RawPoints>],
        kinds: &Kinds<'_>,
    ) -> Vec<PointsRule> {
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
                    id: Name::lasting(r.id.get_ref()),
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
}
