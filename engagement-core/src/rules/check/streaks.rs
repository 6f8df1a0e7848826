//! Checks of the `[streaks]` section.

use super::super::StreakRule;
use super::super::checker::{Checker, Kinds, S};
use super::super::raw::RawStreaks;

impl Checker<'_> {
    pub(in crate::rules) fn streaks(
        &mut self,
        s: &S<RawStreaks>,
        kinds: &Kinds<'_>,
        n_actions: usize,
    ) -> StreakRule {
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
}
