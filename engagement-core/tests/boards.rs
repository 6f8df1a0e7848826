#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Pages and standings read in O(log n) from a board kept in order equal
//! the same read by walking the whole board in rank order (shared ranks,
//! first-to-reach among ties, unlisted members taking no place), after any
//! stream of score changes.

use std::sync::Arc;

use engagement_core::{BoardKey, Boards, Bucket, Increment, MemberId};
use proptest::prelude::*;

const MEMBERS: usize = 12;

fn member(i: usize) -> MemberId {
    MemberId::parse(format!("m{i}")).unwrap()
}

fn key() -> BoardKey {
    BoardKey {
        board: Arc::from("contributors"),
        community: None,
        bucket: Bucket::ALL_TIME,
    }
}

/// Applies each `(member, delta)` change to the all-time board, reading it
/// by position (which indexes a board kept in order) before the change
/// numbered `indexed_after`.
fn apply(
    boards: &mut Boards,
    changes: &[(usize, i64)],
    members: &[MemberId],
    indexed_after: Option<usize>,
) {
    let board: Arc<str> = Arc::from("contributors");
    for (i, (m, delta)) in changes.iter().enumerate() {
        if indexed_after == Some(i) {
            boards.index(&key());
        }
        boards.apply([Increment {
            board: &board,
            community: None,
            bucket: Bucket::ALL_TIME,
            member: &members[*m],
            delta: *delta,
        }]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn pages_and_standings_equal_a_walk_of_the_whole_board(
        changes in prop::collection::vec((0..MEMBERS, -6i64..12), 1..80),
        unlisted in prop::collection::vec(0..MEMBERS, 0..4),
        offset in 0u64..14,
        limit in 1u64..6,
        radius in 0u64..3,
        // When the board is first read by position (and indexed): after
        // this many changes, or never.
        indexed_after in prop::option::of(0usize..80),
    ) {
        let members: Vec<MemberId> = (0..MEMBERS).map(member).collect();
        let mut live = Boards::default();
        apply(&mut live, &changes, &members, indexed_after);
        let unlisted: Vec<&MemberId> = unlisted.iter().map(|i| &members[*i]).collect();
        let listed = |m: &MemberId| !unlisted.contains(&m);
        let walk: Vec<_> = live.ranked(&key(), listed).collect();

        let page = live.page(&key(), &unlisted, offset, limit);
        prop_assert_eq!(page.total, walk.len() as u64);
        let expected: Vec<_> = walk.iter().skip(offset as usize).take(limit as usize).cloned().collect();
        prop_assert_eq!(&page.entries, &expected);

        for m in &members {
            let (me, around) = live.standing(&key(), &unlisted, m, radius);
            prop_assert_eq!(around.total, walk.len() as u64);
            match walk.iter().position(|r| &r.member == m) {
                None => {
                    prop_assert_eq!(me, None);
                    prop_assert!(around.entries.is_empty());
                }
                Some(p) => {
                    prop_assert_eq!(me.as_ref(), Some(&walk[p]));
                    let from = p.saturating_sub(radius as usize);
                    let to = (p + radius as usize + 1).min(walk.len());
                    prop_assert_eq!(&around.entries, &walk[from..to].to_vec());
                }
            }
        }
    }
}

/// What a board must hold after `changes`, worked out the plain way: each
/// member's score and the increment that last changed it, members leaving
/// at zero or below.
fn expected(changes: &[(usize, i64)], members: &[MemberId]) -> Vec<(MemberId, i64)> {
    let mut held: std::collections::HashMap<usize, (i64, usize)> = Default::default();
    for (seq, (m, delta)) in changes.iter().enumerate() {
        let score = held.get(m).map_or(0, |(s, _)| *s) + delta;
        if score > 0 {
            held.insert(*m, (score, seq));
        } else {
            held.remove(m);
        }
    }
    let mut order: Vec<(i64, usize, usize)> = held.iter().map(|(m, (s, q))| (*s, *q, *m)).collect();
    order.sort_by_key(|(s, q, _)| (std::cmp::Reverse(*s), *q));
    order
        .into_iter()
        .map(|(s, _, m)| (members[m].clone(), s))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(60))]

    /// Boards of hundreds of members, kept in order or sorted at the end,
    /// read by walking or by position, rank every member as the plain
    /// computation does.
    #[test]
    fn large_boards_rank_every_member_as_a_plain_computation_does(
        members in 64usize..240,
        changes in prop::collection::vec((0usize..240, -8i64..14), 300..2500),
        indexed_after in prop::option::of(0usize..2500),
        offset in 0u64..200,
    ) {
        let changes: Vec<(usize, i64)> = changes.into_iter().map(|(m, d)| (m % members, d)).collect();
        let ids: Vec<MemberId> = (0..members).map(member).collect();
        let mut live = Boards::default();
        apply(&mut live, &changes, &ids, indexed_after);
        let mut deferred = Boards::deferred();
        apply(&mut deferred, &changes, &ids, indexed_after);
        let expected = expected(&changes, &ids);
        for boards in [&live, &deferred] {
            let ranked: Vec<(MemberId, i64)> = boards
                .ranked(&key(), |_| true)
                .map(|r| (r.member, r.score))
                .collect();
            prop_assert_eq!(&ranked, &expected);
            for (i, m) in ids.iter().enumerate() {
                let score = expected.iter().find(|(e, _)| e == m).map_or(0, |(_, s)| *s);
                prop_assert_eq!(boards.score(&key(), m), score, "member {}", i);
            }
            let mut scores: Vec<i64> = boards.scores(&key()).collect();
            scores.sort_unstable_by(|a, b| b.cmp(a));
            let want: Vec<i64> = expected.iter().map(|(_, s)| *s).collect();
            prop_assert_eq!(scores, want);
        }
        let page = live.page(&key(), &[], offset, 10);
        prop_assert_eq!(page.total, expected.len() as u64);
        let listed: Vec<(MemberId, i64)> = page.entries.into_iter().map(|r| (r.member, r.score)).collect();
        let want: Vec<(MemberId, i64)> = expected.iter().skip(offset as usize).take(10).cloned().collect();
        prop_assert_eq!(listed, want);
        // Settled, the deferred boards read in order as the live ones do.
        deferred.settle();
        deferred.index(&key());
        let page = deferred.page(&key(), &[], offset, 10);
        prop_assert_eq!(page.total, expected.len() as u64);
    }
}
