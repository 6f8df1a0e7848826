//! One bucket's insights report, worked out from its tallies.

use serde::{Deserialize, Serialize};

use super::{Counter, Counts};
use crate::calendar::{Bucket, Period};
use crate::ids::{CommunityId, MemberId};
use crate::rules::Stage;

/// What a store read from one bucket's tallies; [`Report::build`] turns it
/// into figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parts {
    pub counts: Counts,
    /// Members who acted in the bucket.
    pub active: u64,
    /// The net points of every member who earned more than zero, any order.
    pub points: Vec<i64>,
    /// Acceptances credited per answer author (above zero), any order.
    pub holders: Vec<(MemberId, i64)>,
    /// Seconds to the first answer of each answered question, any order.
    pub waits: Vec<i64>,
    /// Answers per (home community, answer's community), home ≠ community,
    /// above zero, any order; whole-deployment scope only.
    pub flow: Vec<(CommunityId, CommunityId, i64)>,
}

/// `GET /v1/insights`: whether knowledge flows in one scope and bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `None` for the whole deployment.
    pub community: Option<String>,
    pub period: Period,
    pub bucket: BucketSpan,
    pub events: u64,
    pub members: MemberCounts,
    pub participation: Participation,
    pub stages: StageCounts,
    pub questions: QuestionCounts,
    pub concentration: Concentration,
    pub flow: Flow,
    /// The Lorenz curve of the contributors' points, for charts: the share
    /// of points (y) held by the poorest share of contributors (x), from
    /// (0, 0) to (1, 1) in at most [`LORENZ_POINTS`] steps. Not part of
    /// the API's answer.
    #[serde(skip)]
    pub lorenz: Vec<(f64, f64)>,
}

/// Steps of [`Report::lorenz`].
pub const LORENZ_POINTS: usize = 50;

/// First day, and the day after the last (`None` for all time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketSpan {
    pub start: Option<String>,
    pub end: Option<String>,
}

impl BucketSpan {
    pub fn of(bucket: &Bucket) -> BucketSpan {
        BucketSpan {
            start: bucket.start.map(|d| d.to_string()),
            // The day after the last, as §8 gives it.
            end: (bucket.end()).map(|d| d.saturating_add(jiff::Span::new().days(1)).to_string()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberCounts {
    pub active: u64,
    pub contributors: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Participation {
    pub gini: f64,
    pub top_1pct_share: f64,
    pub top_10pct_share: f64,
}

/// Applied events per knowledge-cycle stage, every stage named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageCounts {
    pub create: u64,
    pub discover: u64,
    pub capture: u64,
    pub organize: u64,
    pub disseminate: u64,
    #[serde(rename = "use")]
    pub use_: u64,
}

impl StageCounts {
    pub fn get(&self, stage: Stage) -> u64 {
        match stage {
            Stage::Create => self.create,
            Stage::Discover => self.discover,
            Stage::Capture => self.capture,
            Stage::Organize => self.organize,
            Stage::Disseminate => self.disseminate,
            Stage::Use => self.use_,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuestionCounts {
    pub asked: u64,
    pub answered: u64,
    pub accepted: u64,
    pub median_minutes_to_first_answer: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Concentration {
    pub accepted_answers: u64,
    pub top_answerer_share: f64,
    pub knowledge_holders: u64,
    /// Who holds the accepted answers, most first: for the admin only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holders: Option<Vec<Holder>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub member: String,
    pub accepted: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    pub answers: u64,
    pub cross_community: u64,
    pub share: f64,
    /// Whole-deployment scope only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix: Option<Vec<Cell>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    pub from: String,
    pub to: String,
    pub answers: u64,
}

/// Ratios are given to 3 decimals.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn ratio(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        0.0
    } else {
        round3(part as f64 / whole as f64)
    }
}

fn count(n: i64) -> u64 {
    n.max(0) as u64
}

impl Report {
    /// The report of `bucket` in `community` (`None`: the whole deployment);
    /// `admin` adds who holds the accepted answers.
    pub fn build(
        community: Option<&CommunityId>,
        bucket: Bucket,
        parts: Parts,
        admin: bool,
    ) -> Report {
        let Parts {
            counts,
            active,
            mut points,
            mut holders,
            mut waits,
            mut flow,
        } = parts;
        let c = |counter: Counter| count(counts[counter.index()]);
        points.retain(|p| *p > 0);
        // Most first.
        points.sort_unstable_by(|a, b| b.cmp(a));
        holders.retain(|(_, n)| *n > 0);
        holders.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        flow.retain(|cell| cell.2 > 0);
        flow.sort_by(|a, b| {
            (b.2.cmp(&a.2))
                .then_with(|| a.0.cmp(&b.0))
                .then_with(|| a.1.cmp(&b.1))
        });
        let lorenz = lorenz(&points);
        let stage = |s: Stage| c(Counter::Stage(s));
        let answers = counts[Counter::Answers.index()];
        let credited: i64 = holders.iter().map(|h| h.1).sum();
        Report {
            community: community.map(|c| c.to_string()),
            period: bucket.period,
            bucket: BucketSpan::of(&bucket),
            events: c(Counter::Events),
            members: MemberCounts {
                active,
                contributors: points.len() as u64,
            },
            participation: participation(&points),
            stages: StageCounts {
                create: stage(Stage::Create),
                discover: stage(Stage::Discover),
                capture: stage(Stage::Capture),
                organize: stage(Stage::Organize),
                disseminate: stage(Stage::Disseminate),
                use_: stage(Stage::Use),
            },
            questions: QuestionCounts {
                asked: c(Counter::Asked),
                answered: c(Counter::Answered),
                accepted: c(Counter::Accepted),
                median_minutes_to_first_answer: median_minutes(&mut waits),
            },
            concentration: Concentration {
                accepted_answers: count(credited),
                top_answerer_share: ratio(holders.first().map_or(0, |h| h.1), credited),
                knowledge_holders: knowledge_holders(&holders, credited),
                holders: admin.then(|| {
                    holders
                        .iter()
                        .map(|(m, n)| Holder {
                            member: m.to_string(),
                            accepted: count(*n),
                        })
                        .collect()
                }),
            },
            flow: Flow {
                answers: count(answers),
                cross_community: c(Counter::Cross),
                share: ratio(counts[Counter::Cross.index()], answers),
                matrix: community.is_none().then(|| {
                    flow.into_iter()
                        .map(|(from, to, n)| Cell {
                            from: from.to_string(),
                            to: to.to_string(),
                            answers: count(n),
                        })
                        .collect()
                }),
            },
            lorenz,
        }
    }
}

/// The Lorenz curve of `points` (most first, all above zero).
fn lorenz(points: &[i64]) -> Vec<(f64, f64)> {
    let n = points.len();
    let total: i128 = points.iter().map(|&p| i128::from(p)).sum();
    if n == 0 || total == 0 {
        return Vec::new();
    }
    let steps = n.min(LORENZ_POINTS);
    let mut out = vec![(0.0, 0.0)];
    let (mut held, mut taken) = (0i128, 0usize);
    // The poorest first: from the end of the list.
    let mut poorest = points.iter().rev();
    for step in 1..=steps {
        let upto = n * step / steps;
        for &p in poorest.by_ref().take(upto - taken) {
            held += i128::from(p);
        }
        taken = upto;
        out.push((taken as f64 / n as f64, held as f64 / total as f64));
    }
    out
}

/// Gini and top shares of `points`, sorted most first, all above zero.
fn participation(points: &[i64]) -> Participation {
    let n = points.len();
    let total: i128 = points.iter().map(|&p| i128::from(p)).sum();
    if n == 0 || total == 0 {
        return Participation {
            gini: 0.0,
            top_1pct_share: 0.0,
            top_10pct_share: 0.0,
        };
    }
    // Σᵢ Σⱼ |xᵢ − xⱼ| / (2 n² x̄) = (2 Σ i·x₍ᵢ₎ − (n + 1) Σ x) / (n Σ x), with
    // x₍ᵢ₎ in ascending order and i from 1: exact in integers until the
    // one division.
    let n_big = n as i128;
    let weighted: i128 = points
        .iter()
        .enumerate()
        // Most first: the i-th from the end is the (n − i)-th smallest.
        .map(|(i, &p)| (n_big - i as i128) * i128::from(p))
        .sum();
    let gini = if n < 2 {
        0.0
    } else {
        (2 * weighted - (n_big + 1) * total) as f64 / (n_big * total) as f64
    };
    let top = |pct: usize| {
        // ⌈pct % of n⌉ contributors.
        let k = (n * pct).div_ceil(100);
        let held: i128 = points[..k].iter().map(|&p| i128::from(p)).sum();
        round3(held as f64 / total as f64)
    };
    Participation {
        gini: round3(gini),
        top_1pct_share: top(1),
        top_10pct_share: top(10),
    }
}

/// The fewest holders who together hold at least half of `total`
/// (`holders` most first).
fn knowledge_holders(holders: &[(MemberId, i64)], total: i64) -> u64 {
    let mut held = 0;
    for (i, (_, n)) in holders.iter().enumerate() {
        held += n;
        if 2 * held >= total {
            return i as u64 + 1;
        }
    }
    0
}

/// The median of `waits` (seconds) in minutes; the mean of the two middle
/// values for an even count.
fn median_minutes(waits: &mut [i64]) -> Option<f64> {
    let n = waits.len();
    if n == 0 {
        return None;
    }
    waits.sort_unstable();
    let seconds = if n % 2 == 1 {
        waits[n / 2] as f64
    } else {
        (waits[n / 2 - 1] + waits[n / 2]) as f64 / 2.0
    };
    Some(seconds / 60.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gini_by_definition(xs: &[i64]) -> f64 {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<i64>() as f64 / n;
        let mut sum = 0.0;
        for a in xs {
            for b in xs {
                sum += (a - b).abs() as f64;
            }
        }
        sum / (2.0 * n * n * mean)
    }

    #[test]
    fn gini_matches_its_definition() {
        for xs in [
            vec![5, 5, 5, 5],
            vec![100, 1],
            vec![40, 30, 20, 10, 5, 5, 1],
            vec![1000, 1, 1, 1, 1, 1, 1, 1, 1, 1],
        ] {
            let mut sorted = xs.clone();
            sorted.sort_by(|a, b| b.cmp(a));
            let p = participation(&sorted);
            assert_eq!(p.gini, round3(gini_by_definition(&xs)), "{xs:?}");
        }
        assert_eq!(participation(&[7]).gini, 0.0);
        assert_eq!(participation(&[]).top_10pct_share, 0.0);
    }

    #[test]
    fn top_shares_take_the_rounded_up_number_of_contributors() {
        // 11 contributors: ⌈1.1⌉ = 2 make the top 10 %, ⌈0.11⌉ = 1 the top 1 %.
        let mut xs = vec![10; 9];
        xs.insert(0, 40);
        xs.insert(0, 50);
        let p = participation(&xs);
        assert_eq!(p.top_1pct_share, round3(50.0 / 180.0));
        assert_eq!(p.top_10pct_share, 0.5);
    }

    #[test]
    fn holders_are_the_fewest_holding_half() {
        let m = |s: &str| MemberId::parse(s).unwrap();
        let holders = vec![(m("a"), 5), (m("b"), 3), (m("c"), 2)];
        assert_eq!(knowledge_holders(&holders, 10), 1);
        let holders = vec![(m("a"), 4), (m("b"), 3), (m("c"), 3)];
        assert_eq!(knowledge_holders(&holders, 10), 2);
        assert_eq!(knowledge_holders(&[], 0), 0);
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median_minutes(&mut []), None);
        assert_eq!(median_minutes(&mut [600, 60, 6000]), Some(10.0));
        assert_eq!(median_minutes(&mut [60, 6000, 600, 5400]), Some(50.0));
        assert_eq!(median_minutes(&mut [0, 90]), Some(0.75));
    }
}
