//! Checks of the `[fair_play]` section: the pair cap and the thresholds of
//! the fair-play report.

use super::super::FairPlay;
use super::super::checker::Checker;
use super::super::raw::RawFairPlay;

impl Checker<'_> {
    pub(in crate::rules) fn fair_play(&mut self, raw: Option<&RawFairPlay>) -> FairPlay {
        let mut fair = FairPlay::default();
        let Some(raw) = raw else {
            return fair;
        };
        if let Some(cap) = &raw.pair_daily_cap {
            fair.pair_daily_cap = self.positive(cap, "pair_daily_cap");
        }
        if let Some(events) = &raw.ring_min_events {
            match u32::try_from(*events.get_ref()) {
                Ok(n) if n >= 1 => fair.ring_min_events = n,
                _ => self.error(
                    events.span(),
                    "ring_min_events must be a whole number of events from 1",
                ),
            }
        }
        if let Some(share) = &raw.ring_min_share {
            let s = *share.get_ref();
            if s > 0.0 && s <= 1.0 {
                fair.ring_min_share = s;
            } else {
                self.error(
                    share.span(),
                    "ring_min_share must be a share above 0 and at most 1 (0.5 is half)",
                );
            }
        }
        fair
    }
}
