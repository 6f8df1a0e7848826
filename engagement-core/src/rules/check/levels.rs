//! Checks of the `[[levels]]`: the path of participation, from 0 points up.

use super::super::Level;
use super::super::checker::{Checker, S};
use super::super::raw::RawLevel;

impl Checker<'_> {
    pub(in crate::rules) fn levels(&mut self, raw: &[S<RawLevel>]) -> Vec<Level> {
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
}
