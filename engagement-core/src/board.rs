//! In-memory leaderboards with shared ranks and first-to-reach tie order.
//!
//! Used by the embedded store and by simulations. Redis keeps the same
//! ordering with sorted sets.

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::collections::hash_map::Entry;

// A fixed-seed fast hash: these maps are hit a dozen times per event, and
// their keys come from the rule file and validated ids.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
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

/// Members are numbered once, so boards hold and compare plain integers.
type Slot = u32;

#[derive(Debug, Default, Clone)]
struct Board {
    scores: HashMap<Slot, (i64, u64)>,
    /// Highest score first, then whoever reached it first.
    order: BTreeSet<(Reverse<i64>, u64, Slot)>,
}

/// The boards of one leaderboard id: global, and one set per community.
#[derive(Debug, Default, Clone)]
struct Scopes {
    global: HashMap<Bucket, Board>,
    communities: HashMap<CommunityId, HashMap<Bucket, Board>>,
}

/// Every leaderboard of a deployment, in memory.
///
/// Served boards keep their rank order up to date on every change. A
/// simulation or a replay only needs the order at the end, so it starts
/// [`Boards::deferred`] and sorts when asked (or once, on [`Boards::settle`]).
#[derive(Debug, Default, Clone)]
pub struct Boards {
    boards: HashMap<Arc<str>, Scopes>,
    slots: HashMap<MemberId, Slot>,
    members: Vec<MemberId>,
    seq: u64,
    deferred: bool,
}

impl Boards {
    /// Boards that keep scores only, and sort when read.
    pub fn deferred() -> Boards {
        Boards {
            deferred: true,
            ..Boards::default()
        }
    }

    /// Sorts every board once and keeps the order up to date from now on.
    pub fn settle(&mut self) {
        if !self.deferred {
            return;
        }
        for scopes in self.boards.values_mut() {
            let communities = scopes.communities.values_mut().flat_map(|b| b.values_mut());
            for board in scopes.global.values_mut().chain(communities) {
                board.order = board
                    .scores
                    .iter()
                    .map(|(slot, (score, seq))| (Reverse(*score), *seq, *slot))
                    .collect();
            }
        }
        self.deferred = false;
    }

    /// Applies leaderboard increments in order; members at zero or below leave.
    pub fn apply(&mut self, increments: &[Increment<'_>]) {
        for inc in increments {
            self.seq += 1;
            let slot = self.slot(inc.member);
            let scopes = match self.boards.get_mut(inc.board) {
                Some(scopes) => scopes,
                None => self.boards.entry(Arc::from(inc.board)).or_default(),
            };
            let buckets = match inc.community {
                None => &mut scopes.global,
                Some(c) => match scopes.communities.get_mut(c.as_str()) {
                    Some(buckets) => buckets,
                    None => scopes.communities.entry(c.clone()).or_default(),
                },
            };
            let board = buckets.entry(inc.bucket).or_default();
            // One lookup of the member's score whether it changes, appears or goes.
            let (old, score) = match board.scores.entry(slot) {
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
            if self.deferred {
                continue;
            }
            if let Some((s, seq)) = old {
                board.order.remove(&(Reverse(s), seq, slot));
            }
            if score > 0 {
                board.order.insert((Reverse(score), self.seq, slot));
            }
        }
    }

    fn slot(&mut self, member: &MemberId) -> Slot {
        if let Some(slot) = self.slots.get(member.as_str()) {
            return *slot;
        }
        let slot = self.members.len() as Slot;
        self.members.push(member.clone());
        self.slots.insert(member.clone(), slot);
        slot
    }

    fn board(&self, key: &BoardKey) -> Option<&Board> {
        let scopes = self.boards.get(&*key.board)?;
        match &key.community {
            None => scopes.global.get(&key.bucket),
            Some(c) => scopes.communities.get(c.as_str())?.get(&key.bucket),
        }
    }

    /// A member's score on a board (0 when absent).
    pub fn score(&self, key: &BoardKey, member: &MemberId) -> i64 {
        let slot = self.slots.get(member.as_str());
        self.board(key)
            .zip(slot)
            .and_then(|(b, slot)| b.scores.get(slot))
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
        let order: Box<dyn Iterator<Item = (i64, Slot)> + Send + 'a> = match self.board(key) {
            None => Box::new(std::iter::empty()),
            Some(board) if self.deferred => {
                let mut sorted: Vec<(Reverse<i64>, u64, Slot)> = board
                    .scores
                    .iter()
                    .map(|(slot, (score, seq))| (Reverse(*score), *seq, *slot))
                    .collect();
                sorted.sort_unstable();
                Box::new(sorted.into_iter().map(|(score, _, slot)| (score.0, slot)))
            }
            Some(board) => Box::new(board.order.iter().map(|(score, _, slot)| (score.0, *slot))),
        };
        order
            .map(|(score, slot)| (score, &self.members[slot as usize]))
            .filter(move |(_, m)| listed(m))
            .map(move |(score, member)| {
                position += 1;
                let rank = match last {
                    Some((s, r)) if s == score => r,
                    _ => position,
                };
                last = Some((score, rank));
                Ranked {
                    rank,
                    member: member.clone(),
                    score,
                }
            })
    }

    /// Every board key, for exports and tests.
    pub fn keys(&self) -> impl Iterator<Item = BoardKey> + '_ {
        self.boards.iter().flat_map(|(board, scopes)| {
            let global = scopes.global.keys().map(move |bucket| BoardKey {
                board: board.clone(),
                community: None,
                bucket: *bucket,
            });
            let communities = scopes
                .communities
                .iter()
                .flat_map(move |(community, buckets)| {
                    buckets.keys().map(move |bucket| BoardKey {
                        board: board.clone(),
                        community: Some(community.clone()),
                        bucket: *bucket,
                    })
                });
            global.chain(communities)
        })
    }
}
