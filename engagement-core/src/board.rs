//! In-memory leaderboards with shared ranks and first-to-reach tie order.
//!
//! Used by the embedded store and by simulations. Redis keeps the same
//! ordering with sorted sets.

use std::cmp::Reverse;
use std::collections::hash_map::Entry;

/// An entry of a board's order: highest score first, then whoever reached
/// it first.
type Key = (Reverse<i64>, u64, Slot);

// A fixed-seed fast hash: these maps are hit a dozen times per event, and
// their keys come from the rule file and validated ids.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
use std::sync::Arc;

use crate::calendar::{Bucket, Period};
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

/// A leaderboard scope: 0 for global, `n + 1` for the community numbered `n`.
type Scope = u32;

#[derive(Debug, Default, Clone)]
struct Board {
    scores: HashMap<Slot, (i64, u64)>,
    order: Order,
}

/// A board's rank order. A plain ordered set while nobody reads the board
/// by position; from its first such read ([`Boards::index`]) an
/// order-statistic tree, where the position of an entry and the entry at a
/// position are found in O(log n). The tree costs more to keep as scores
/// change, so boards nobody reads (old buckets, unread periods) never pay
/// for it.
#[derive(Debug, Clone)]
enum Order {
    Plain(std::collections::BTreeSet<Key>),
    Indexed(indexset::BTreeSet<Key>),
}

impl Default for Order {
    fn default() -> Order {
        Order::Plain(std::collections::BTreeSet::new())
    }
}

impl Order {
    fn insert(&mut self, key: Key) {
        match self {
            Order::Plain(set) => set.insert(key),
            Order::Indexed(set) => set.insert(key),
        };
    }

    fn remove(&mut self, key: &Key) {
        match self {
            Order::Plain(set) => set.remove(key),
            Order::Indexed(set) => set.remove(key),
        };
    }

    fn iter(&self) -> Box<dyn Iterator<Item = &Key> + Send + '_> {
        match self {
            Order::Plain(set) => Box::new(set.iter()),
            Order::Indexed(set) => Box::new(set.iter()),
        }
    }

    fn indexed(&self) -> Option<&indexset::BTreeSet<Key>> {
        match self {
            Order::Plain(_) => None,
            Order::Indexed(set) => Some(set),
        }
    }
}

/// Entries of `order` with a higher score than `score`.
fn above(order: &indexset::BTreeSet<Key>, score: i64) -> usize {
    order.rank(&(Reverse(score), 0, 0))
}

/// A page of a board: how many members it lists, and the entries asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub total: u64,
    pub entries: Vec<Ranked>,
}

/// For each period, the bucket last written and its board.
type Current = [Option<(Bucket, usize)>; Period::ALL.len()];

/// Every leaderboard of a deployment, in memory.
///
/// Served boards keep their rank order up to date on every change. A
/// simulation or a replay only needs the order at the end, so it starts
/// [`Boards::deferred`] and sorts when asked (or once, on [`Boards::settle`]).
///
/// Board ids, communities and members are numbered as they first appear. An
/// increment finds its board through the bucket last written for its board
/// id, scope and period, which is nearly always the right one, as events
/// come roughly in time order.
#[derive(Debug, Default, Clone)]
pub struct Boards {
    ids: Vec<Arc<str>>,
    communities: Vec<CommunityId>,
    scopes: HashMap<CommunityId, Scope>,
    /// Board by board id number, scope and bucket.
    index: HashMap<(usize, Scope, Bucket), usize>,
    boards: Vec<Board>,
    /// By board id number, then scope.
    current: Vec<Vec<Current>>,
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
        for board in &mut self.boards {
            board.order = Order::Plain(
                board
                    .scores
                    .iter()
                    .map(|(slot, (score, seq))| (Reverse(*score), *seq, *slot))
                    .collect(),
            );
        }
        self.deferred = false;
    }

    /// Applies leaderboard increments in order; members at zero or below leave.
    pub fn apply<'a>(&mut self, increments: impl IntoIterator<Item = Increment<'a>>) {
        let mut applying = self.applying();
        for inc in increments {
            applying.take(inc);
        }
    }

    /// Applies increments one by one, as they are handed over (see
    /// [`crate::Outcome::for_each_increment`]).
    pub fn applying<'b, 'a>(&'b mut self) -> Applying<'b, 'a> {
        Applying {
            boards: self,
            last_id: None,
            last_scope: None,
            last_member: None,
        }
    }

    fn id_number(&mut self, board: &str) -> usize {
        if let Some(n) = self.ids.iter().position(|id| **id == *board) {
            return n;
        }
        self.ids.push(Arc::from(board));
        self.current
            .push(vec![Current::default(); self.communities.len() + 1]);
        self.ids.len() - 1
    }

    fn scope(&mut self, community: &CommunityId) -> Scope {
        if let Some(n) = self.scopes.get(community) {
            return *n;
        }
        self.communities.push(community.clone());
        let n = self.communities.len() as Scope;
        self.scopes.insert(community.clone(), n);
        for scopes in &mut self.current {
            scopes.push(Current::default());
        }
        n
    }

    /// The board of a board id number, scope and bucket, created when new.
    fn board_for(&mut self, id: usize, scope: Scope, bucket: Bucket) -> usize {
        let current = &mut self.current[id][scope as usize][bucket.period as usize];
        if let Some((last, board)) = *current
            && last == bucket
        {
            return board;
        }
        let next = self.boards.len();
        let board = *self.index.entry((id, scope, bucket)).or_insert(next);
        if board == next {
            self.boards.push(Board::default());
        }
        *current = Some((bucket, board));
        board
    }

    fn slot(&mut self, member: &MemberId) -> Slot {
        if let Some(slot) = self.slots.get(member) {
            return *slot;
        }
        let slot = self.members.len() as Slot;
        self.members.push(member.clone());
        self.slots.insert(member.clone(), slot);
        slot
    }

    fn board_at(&self, key: &BoardKey) -> Option<usize> {
        let id = self.ids.iter().position(|id| **id == *key.board)?;
        let scope = match &key.community {
            None => 0,
            Some(c) => *self.scopes.get(c)?,
        };
        self.index.get(&(id, scope, key.bucket)).copied()
    }

    fn board(&self, key: &BoardKey) -> Option<&Board> {
        self.boards.get(self.board_at(key)?)
    }

    /// A member's score on a board (0 when absent).
    pub fn score(&self, key: &BoardKey, member: &MemberId) -> i64 {
        let slot = self.slots.get(member);
        self.board(key)
            .zip(slot)
            .and_then(|(b, slot)| b.scores.get(slot))
            .map_or(0, |(s, _)| *s)
    }

    /// Every member's score on a board, in no particular order.
    pub fn scores(&self, key: &BoardKey) -> impl Iterator<Item = i64> + '_ {
        (self.board(key).into_iter()).flat_map(|b| b.scores.values().map(|(score, _)| *score))
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

    /// Makes a board readable by position from now on (see [`Order`]): a
    /// store calls it before [`Boards::page`] and [`Boards::standing`].
    /// Once per board; O(n log n) then, nothing after.
    pub fn index(&mut self, key: &BoardKey) {
        if self.deferred {
            return;
        }
        let Some(at) = self.board_at(key) else {
            return;
        };
        let board = &mut self.boards[at];
        if let Order::Plain(set) = &mut board.order {
            board.order = Order::Indexed(std::mem::take(set).into_iter().collect());
        }
    }

    /// `limit` listed entries of a board from the `offset`-th, in rank
    /// order with shared ranks (as [`Boards::ranked`] gives them), and how
    /// many members it lists. `unlisted` names the members kept off it
    /// (hidden, or in an excluded group): few, whatever the board's size.
    /// O((unlisted + limit) log n + limit × unlisted) on boards indexed
    /// ([`Boards::index`]); a walk of the board on the others.
    pub fn page(&self, key: &BoardKey, unlisted: &[&MemberId], offset: u64, limit: u64) -> Listed {
        let indexed = self
            .board(key)
            .filter(|_| !self.deferred)
            .and_then(|b| Some((b, b.order.indexed()?)));
        let Some((board, order)) = indexed else {
            let unlisted: std::collections::HashSet<&MemberId> = unlisted.iter().copied().collect();
            // Borrows only: the closure is `Copy`, and serves both walks.
            let listed = |m: &MemberId| !unlisted.contains(m);
            let total = self.ranked(key, listed).count() as u64;
            let entries = (self.ranked(key, listed))
                .skip(offset as usize)
                .take(limit as usize)
                .collect();
            return Listed { total, entries };
        };
        let hidden = self.hidden(board, order, unlisted);
        let total = (order.len() - hidden.len()) as u64;
        // The listed index `offset` as a position among all entries.
        let mut from = usize::try_from(offset).unwrap_or(usize::MAX);
        for (at, _, _) in &hidden {
            if *at <= from {
                from = from.saturating_add(1);
            } else {
                break;
            }
        }
        let entries = (order.range_idx(from.min(order.len())..))
            .filter(|(_, _, slot)| !hidden.iter().any(|(_, s, _)| s == slot))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|(score, _, slot)| {
                let score = score.0;
                let hidden_above = hidden.iter().filter(|(_, _, s)| *s > score).count();
                Ranked {
                    rank: (above(order, score) - hidden_above) as u64 + 1,
                    member: self.members[*slot as usize].clone(),
                    score,
                }
            })
            .collect();
        Listed { total, entries }
    }

    /// Where `member` stands on a board: its entry and the `radius` listed
    /// entries on each side, and how many members the board lists; `None`
    /// in the first when the member is not listed on it.
    pub fn standing(
        &self,
        key: &BoardKey,
        unlisted: &[&MemberId],
        member: &MemberId,
        radius: u64,
    ) -> (Option<Ranked>, Listed) {
        let indexed = self
            .board(key)
            .filter(|_| !self.deferred)
            .and_then(|b| Some((b, b.order.indexed()?)));
        let Some((board, order)) = indexed else {
            let all = self.page(key, unlisted, 0, u64::MAX);
            let Some(p) = all.entries.iter().position(|r| &r.member == member) else {
                return (
                    None,
                    Listed {
                        total: all.total,
                        entries: Vec::new(),
                    },
                );
            };
            let from = p.saturating_sub(radius as usize);
            let to = (p + radius as usize + 1).min(all.entries.len());
            let me = all.entries[p].clone();
            return (
                Some(me),
                Listed {
                    total: all.total,
                    entries: all.entries[from..to].to_vec(),
                },
            );
        };
        let hidden = self.hidden(board, order, unlisted);
        let total = (order.len() - hidden.len()) as u64;
        let found = self.slots.get(member).and_then(|slot| {
            let (score, seq) = board.scores.get(slot)?;
            let listed = !hidden.iter().any(|(_, s, _)| s == slot);
            listed.then(|| order.rank(&(Reverse(*score), *seq, *slot)))
        });
        let Some(at) = found else {
            return (
                None,
                Listed {
                    total,
                    entries: Vec::new(),
                },
            );
        };
        let before = hidden.iter().filter(|(h, _, _)| *h < at).count();
        let p = (at - before) as u64;
        let from = p.saturating_sub(radius);
        let around = self.page(key, unlisted, from, (p - from) + radius + 1);
        let me = around.entries.get((p - from) as usize).cloned();
        (me, around)
    }

    /// The positions, slots and scores of `unlisted` members on `board`, by
    /// position.
    fn hidden(
        &self,
        board: &Board,
        order: &indexset::BTreeSet<Key>,
        unlisted: &[&MemberId],
    ) -> Vec<(usize, Slot, i64)> {
        let mut hidden: Vec<(usize, Slot, i64)> = unlisted
            .iter()
            .filter_map(|m| {
                let slot = *self.slots.get(*m)?;
                let (score, seq) = board.scores.get(&slot)?;
                Some((order.rank(&(Reverse(*score), *seq, slot)), slot, *score))
            })
            .collect();
        hidden.sort_unstable();
        hidden.dedup();
        hidden
    }

    /// Every board key, for exports and tests.
    pub fn keys(&self) -> impl Iterator<Item = BoardKey> + '_ {
        self.index.keys().map(|(id, scope, bucket)| BoardKey {
            board: self.ids[*id].clone(),
            community: match *scope {
                0 => None,
                n => Some(self.communities[n as usize - 1].clone()),
            },
            bucket: *bucket,
        })
    }
}

/// Increments applied one at a time to [`Boards`].
///
/// The increments of one outcome repeat the same board id, community and
/// member: the same references, so the last ones found are recognised by
/// address before anything is looked up.
#[derive(Debug)]
pub struct Applying<'b, 'a> {
    boards: &'b mut Boards,
    last_id: Option<(&'a str, usize)>,
    last_scope: Option<(&'a CommunityId, Scope)>,
    last_member: Option<(&'a MemberId, Slot)>,
}

impl<'a> Applying<'_, 'a> {
    /// Applies one increment; a member at zero or below leaves the board.
    pub fn take(&mut self, inc: Increment<'a>) {
        self.boards.seq += 1;
        let id = match self.last_id {
            Some((board, n)) if std::ptr::eq(board, inc.board) => n,
            _ => self.boards.id_number(inc.board),
        };
        self.last_id = Some((inc.board, id));
        let scope = match (inc.community, self.last_scope) {
            (None, _) => 0,
            (Some(c), Some((last, n))) if std::ptr::eq(c, last) => n,
            (Some(c), _) => {
                let n = self.boards.scope(c);
                self.last_scope = Some((c, n));
                n
            }
        };
        let slot = match self.last_member {
            Some((m, n)) if std::ptr::eq(m, inc.member) => n,
            _ => self.boards.slot(inc.member),
        };
        self.last_member = Some((inc.member, slot));
        let board = self.boards.board_for(id, scope, inc.bucket);
        let seq = self.boards.seq;
        let board = &mut self.boards.boards[board];
        // One lookup of the member's score whether it changes, appears or goes.
        let (old, score) = match board.scores.entry(slot) {
            Entry::Occupied(mut held) => {
                let old = *held.get();
                let score = old.0 + inc.delta;
                if score > 0 {
                    held.insert((score, seq));
                } else {
                    held.remove();
                }
                (Some(old), score)
            }
            Entry::Vacant(free) => {
                if inc.delta > 0 {
                    free.insert((inc.delta, seq));
                }
                (None, inc.delta)
            }
        };
        if self.boards.deferred {
            return;
        }
        if let Some((s, seq)) = old {
            board.order.remove(&(Reverse(s), seq, slot));
        }
        if score > 0 {
            board.order.insert((Reverse(score), seq, slot));
        }
    }
}
