//! Checks of the `[[leaderboards]]`: metric, periods and scopes.

use std::collections::HashSet;
use std::sync::Arc;

use super::super::checker::{Checker, Kinds, S};
use super::super::load::list;
use super::super::raw::RawBoard;
use super::super::{Leaderboard, Metric};
use crate::calendar::Period;

impl Checker<'_> {
    pub(in crate::rules) fn boards(
        &mut self,
        raw: &[S<RawBoard>],
        kinds: &Kinds<'_>,
    ) -> Vec<Leaderboard> {
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
}
