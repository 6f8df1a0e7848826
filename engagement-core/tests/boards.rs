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
        let board: Arc<str> = Arc::from("contributors");
        for (i, (m, delta)) in changes.iter().enumerate() {
            if indexed_after == Some(i) {
                live.index(&key());
            }
            let inc = Increment {
                board: &board,
                community: None,
                bucket: Bucket::ALL_TIME,
                member: &members[*m],
                delta: *delta,
            };
            live.apply([inc]);
        }
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
