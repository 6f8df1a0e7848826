//! In-memory leaderboards with shared ranks and first-to-reach tie order.
//!
//! Used by the embedded store and by simulations. Redis keeps the same
//! ordering with sorted sets.

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::calendar::Bucket;
use crate::engine::Increment;
use crate::ids::{CommunityId, MemberId};

/// Which leaderboard: board id, scope and period bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BoardKey {
    pub board: Arc<str>,
    pub community: Option<CommunityId>,
    pub bucket: Bucket,
}

/// One ranked entry of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranked {
    pub rank: u64,
    pub member: MemberId,
    pub score: i64,
}

#[derive(Debug, Default, Clone)]
struct Board {
    scores: HashMap<MemberId, (i64, u64)>,
    /// Highest score first, then whoever reached it first.
    order: BTreeSet<(Reverse<i64>, u64, MemberId)>,
}

/// Every leaderboard of a deployment, in memory.
#[derive(Debug, Default, Clone)]
pub struct Boards {
    boards: HashMap<BoardKey, Board>,
    seq: u64,
}

impl Boards {
    /// Applies leaderboard increments in order; members at zero or below leave.
    pub fn apply(&mut self, increments: &[Increment<'_>]) {
        for inc in increments {
            self.seq += 1;
            let key = BoardKey {
                board: Arc::from(inc.board),
                community: inc.community.cloned(),
                bucket: inc.bucket,
            };
            let board = self.boards.entry(key).or_default();
            // One lookup of the member's score whether it changes, appears or goes.
            let (old, score) = match board.scores.entry(inc.member.clone()) {
                Entry::Occupied(mut held) => {
                    let old = *held.get();
                    let score = old.0 + inc.delta;
                    if score > 0 {
                        held.insert((score, self.seq));
                    } else {
                        held.remove();
                    }
                    (Some(old), score)
                }
                Entry::Vacant(free) => {
                    if inc.delta > 0 {
                        free.insert((inc.delta, self.seq));
                    }
                    (None, inc.delta)
                }
            };
            if let Some((s, seq)) = old {
                board.order.remove(&(Reverse(s), seq, inc.member.clone()));
            }
            if score > 0 {
                board
                    .order
                    .insert((Reverse(score), self.seq, inc.member.clone()));
            }
        }
    }

    /// A member's score on a board (0 when absent).
    pub fn score(&self, key: &BoardKey, member: &MemberId) -> i64 {
        self.boards
            .get(key)
            .and_then(|b| b.scores.get(member))
            .map_or(0, |(s, _)| *s)
    }

    /// The listed entries in rank order, with shared ranks (1, 2, 2, 4).
    /// `listed` decides who appears; the others take no rank.
    pub fn ranked<'a>(
        &'a self,
        key: &BoardKey,
        listed: impl Fn(&MemberId) -> bool + 'a,
    ) -> impl Iterator<Item = Ranked> + 'a {
        let mut position = 0u64;
        let mut last: Option<(i64, u64)> = None;
        self.boards
            .get(key)
            .into_iter()
            .flat_map(|b| b.order.iter())
            .filter(move |(_, _, m)| listed(m))
            .map(move |(Reverse(score), _, member)| {
                position += 1;
                let rank = match last {
                    Some((s, r)) if s == *score => r,
                    _ => position,
                };
                last = Some((*score, rank));
                Ranked {
                    rank,
                    member: member.clone(),
                    score: *score,
                }
            })
    }

    /// Every board key, for exports and tests.
    pub fn keys(&self) -> impl Iterator<Item = &BoardKey> {
        self.boards.keys()
    }
}
