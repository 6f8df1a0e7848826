//! Who is listed on a board, and how: hidden members and excluded groups
//! take no place; anonymous members are shown without id or name.

use std::collections::HashMap;

use engagement_core::rules::Leaderboard;
use engagement_core::{MemberId, Visibility};
use serde::{Deserialize, Serialize};

/// The few members whose visibility is not public or who belong to groups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    pub special: HashMap<MemberId, Special>,
    /// Groups kept off the board this listing is for.
    #[serde(skip)]
    pub exclude_groups: Vec<String>,
}

/// Visibility and groups of one member, kept beside the boards.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Special {
    pub visibility: Visibility,
    pub groups: Vec<String>,
}

impl Special {
    /// Whether the member needs a place in the listing at all.
    pub fn is_plain(&self) -> bool {
        self.visibility == Visibility::Public && self.groups.is_empty()
    }
}

impl Listing {
    /// The listing for one board, with that board's excluded groups.
    pub fn for_board(mut self, board: &Leaderboard) -> Listing {
        self.exclude_groups.clone_from(&board.exclude_groups);
        self
    }

    /// Whether `member` is listed.
    pub fn listed(&self, member: &MemberId) -> bool {
        self.special.get(member).is_none_or(|s| {
            s.visibility != Visibility::Hidden
                && !s.groups.iter().any(|g| self.exclude_groups.contains(g))
        })
    }

    pub fn anonymous(&self, member: &MemberId) -> bool {
        self.special
            .get(member)
            .is_some_and(|s| s.visibility == Visibility::Anonymous)
    }

    /// Members kept off the board.
    pub fn unlisted(&self) -> impl Iterator<Item = &MemberId> + '_ {
        self.special.keys().filter(|m| !self.listed(m))
    }
}
