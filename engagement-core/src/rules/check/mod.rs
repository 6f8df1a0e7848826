//! The checks of each section of the rule file, as `impl Checker` blocks
//! that `load` calls in turn.

mod badges;
mod boards;
mod engine;
mod fair_play;
mod insights;
mod levels;
mod notify;
mod openbadges;
mod points;
mod streaks;
