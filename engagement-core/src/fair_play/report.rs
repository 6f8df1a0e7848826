//! One bucket's fair-play report: the strong pairs and their rings.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::calendar::{Bucket, Period};
use crate::ids::MemberId;
use crate::insights::{BucketSpan, round3};
use crate::rules::FairPlay;

/// A pair with at least `ring_min_events` events in a bucket, as a store
/// reads it: [`Report::build`] decides whether it is listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Strong {
    pub from: MemberId,
    pub to: MemberId,
    pub events: i64,
    pub points: i64,
}

/// `GET /v1/admin/fair-play`: who earns whom points, suspiciously often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub period: Period,
    pub bucket: BucketSpan,
    /// The thresholds the pairs were listed by (`[fair_play]`).
    pub ring_min_events: u32,
    pub ring_min_share: f64,
    /// Most events first.
    pub pairs: Vec<Pair>,
    /// Most events first.
    pub rings: Vec<Ring>,
}

/// Events in the bucket whose actor `from` earned `to` points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    pub from: MemberId,
    pub to: MemberId,
    pub events: u64,
    pub points: i64,
    /// `events` over `from`'s events that earned anyone else points.
    pub share: f64,
}

/// A cycle of two or three members, each earning the next points as a
/// listed pair: starting from the smallest id, in the cycle's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ring {
    pub members: Vec<MemberId>,
    /// The events of the ring's pairs.
    pub events: u64,
}

impl Report {
    /// The report of `bucket` from its strong pairs (every pair with at
    /// least `fair.ring_min_events` events, in any order; weaker ones are
    /// ignored) and `gave`, each giver's events that earned anyone else
    /// points in the bucket.
    pub fn build(
        fair: &FairPlay,
        bucket: &Bucket,
        strong: Vec<Strong>,
        gave: impl Fn(&MemberId) -> i64,
    ) -> Report {
        let mut pairs: Vec<Pair> = strong
            .into_iter()
            .filter(|p| p.events >= i64::from(fair.ring_min_events))
            .filter_map(|p| {
                let gave = gave(&p.from).max(p.events);
                let share = p.events as f64 / gave as f64;
                (share >= fair.ring_min_share).then(|| Pair {
                    share: round3(share),
                    events: p.events as u64,
                    points: p.points,
                    from: p.from,
                    to: p.to,
                })
            })
            .collect();
        pairs.sort_by(|a, b| {
            (b.events.cmp(&a.events))
                .then_with(|| a.from.cmp(&b.from))
                .then_with(|| a.to.cmp(&b.to))
        });
        let rings = rings(&pairs);
        Report {
            period: bucket.period,
            bucket: BucketSpan::of(bucket),
            ring_min_events: fair.ring_min_events,
            ring_min_share: fair.ring_min_share,
            pairs,
            rings,
        }
    }
}

/// Every cycle of two or three distinct members through listed pairs,
/// each set of members once.
fn rings(pairs: &[Pair]) -> Vec<Ring> {
    let mut next: HashMap<&MemberId, Vec<(&MemberId, u64)>> = HashMap::new();
    for p in pairs {
        next.entry(&p.from).or_default().push((&p.to, p.events));
    }
    let edge = |a: &MemberId, b: &MemberId| {
        next.get(a)
            .and_then(|out| out.iter().find(|(to, _)| *to == b))
            .map(|(_, events)| *events)
    };
    let mut seen: HashSet<Vec<&MemberId>> = HashSet::new();
    let mut rings = Vec::new();
    for p in pairs {
        let (a, b) = (&p.from, &p.to);
        if a == b {
            continue;
        }
        // Each cycle is found from its smallest member.
        if a < b
            && let Some(back) = edge(b, a)
        {
            rings.push(Ring {
                members: vec![a.clone(), b.clone()],
                events: p.events + back,
            });
        }
        for &(c, bc) in next.get(b).into_iter().flatten() {
            if c == a || c == b || a > b || a > c {
                continue;
            }
            let Some(ca) = edge(c, a) else {
                continue;
            };
            let mut set = vec![a, b, c];
            set.sort();
            if seen.insert(set) {
                rings.push(Ring {
                    members: vec![a.clone(), b.clone(), c.clone()],
                    events: p.events + bc + ca,
                });
            }
        }
    }
    rings.sort_by(|x, y| (y.events.cmp(&x.events)).then_with(|| x.members.cmp(&y.members)));
    rings
}
