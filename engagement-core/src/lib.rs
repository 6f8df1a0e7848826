//! Points, badges, streaks, levels and leaderboard rules for
//! knowledge-sharing communities.
//!
//! The crate is pure: no IO, no clock, no threads, no global state but the
//! names of the rule files loaded, kept once per process. A
//! [`RuleSet`] is loaded from a rule file, and applying an [`Event`] to the
//! states of the members it touches yields an [`Outcome`]: point awards,
//! badge grants, level-ups and the leaderboard increments a store applies.
//!
//! ```
//! use engagement_core::{Event, Memory, RuleSet, Status};
//!
//! let rules = RuleSet::from_toml(include_str!("../../rules/knowledge-sharing.toml"))?;
//! let event: Event = serde_json::from_str(r#"{
//!     "id": "forum-1:post:981", "kind": "answer.posted", "actor": "m-42",
//!     "occurred_at": "2026-11-20T14:03:00Z", "community": "rules-of-origin"
//! }"#)?;
//!
//! let mut memory = Memory::default();
//! let outcome = memory.ingest(&rules, &event);
//! assert_eq!(outcome.status, Status::Applied);
//! assert_eq!(outcome.awards().map(|(_, _, p)| p).sum::<i64>(), 5);
//! assert_eq!(memory.ingest(&rules, &event).status, Status::Duplicate);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod board;
pub mod calendar;
pub mod engine;
pub mod event;
pub mod fair_play;
pub mod ids;
pub mod insights;
pub mod memory;
pub mod name;
pub mod notify;
pub mod rules;
pub mod state;
pub mod step;

pub use board::{Applying, BoardKey, Boards, Ranked};
pub use calendar::{Bucket, Day, Period};
pub use engine::{
    ADJUSTMENT_RULE, Award, Awards, Effects, Increment, Line, Members, Note, Outcome, Reason,
    Status, members_touched,
};
pub use event::{Adjustment, Event, Target};
pub use ids::{CommunityId, EventId, IdError, Interner, MemberId};
pub use insights::{Insights, Report};
pub use memory::Memory;
pub use name::Name;
pub use rules::{FairPlay, InsightRole, RuleError, RuleErrors, RuleSet, Summary};
pub use state::{MemberState, Profile, Streak, Visibility};
pub use step::{Records, Stepped, answer, step};
