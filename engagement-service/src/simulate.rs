//! Trying rule files on past activity, in memory: `rules simulate` reports
//! what a rule file gives; `rules diff` what changes for each member if one
//! rule file replaced another.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};

use engagement_core::rules::Leaderboard;
use engagement_core::{BoardKey, Bucket, Event, Increment, MemberId, Memory, Period, RuleSet};
use serde::Serialize;

/// The state a rule file reaches on a stream of events.
#[derive(Debug)]
pub struct Simulation {
    pub memory: Memory,
    /// Events read (duplicates included).
    pub events: usize,
    /// The latest event time, which "the last period" is relative to.
    pub last: Option<jiff::Timestamp>,
}

/// Runs events through rules as they come (the stream is never held
/// whole); `progress` is told how many are done.
pub fn run<E: Borrow<Event>>(
    rules: &RuleSet,
    events: impl IntoIterator<Item = E>,
    mut progress: impl FnMut(usize),
) -> Simulation {
    let mut sim = Simulation {
        memory: Memory::deferred(),
        events: 0,
        last: None,
    };
    // The report and the diff read global boards only, all time and the
    // board's shortest period: the other boards are not kept, which saves
    // most of the work.
    let read: Vec<(&str, [bool; Period::ALL.len()])> = (rules.leaderboards.iter())
        .map(|b| {
            let shortest = shortest_period(b);
            (
                &*b.id,
                Period::ALL.map(|p| p == Period::AllTime || Some(p) == shortest),
            )
        })
        .collect();
    let keep = |inc: &Increment<'_>| {
        inc.community.is_none()
            && (read.iter())
                .any(|(id, periods)| *id == inc.board && periods[inc.bucket.period as usize])
    };
    for e in events {
        let e = e.borrow();
        sim.memory.apply_keeping(rules, e, keep);
        sim.last = sim.last.max(Some(e.occurred_at));
        sim.events += 1;
        if sim.events.is_multiple_of(65_536) {
            progress(sim.events);
        }
    }
    progress(sim.events);
    sim
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub events: usize,
    pub members: usize,
    pub boards: Vec<BoardTop>,
    /// Members holding each badge tier, as `badge` or `badge/tier`.
    pub badges: BTreeMap<String, usize>,
    pub levels: Vec<(String, usize)>,
    pub streaks: StreakStats,
}

#[derive(Debug, Serialize)]
pub struct BoardTop {
    pub board: String,
    pub period: String,
    pub bucket_start: Option<String>,
    pub top: Vec<Row>,
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub rank: u64,
    pub member: String,
    pub score: i64,
}

#[derive(Debug, Serialize)]
pub struct StreakStats {
    /// Members whose streak is alive on the day of the last event.
    pub alive: usize,
    pub longest: u32,
    pub mean_longest: f64,
    pub holding_freezes: usize,
}

/// The day of the last event, which "the last period" is relative to.
fn last_day(rules: &RuleSet, sim: &Simulation) -> Option<jiff::civil::Date> {
    sim.last.map(|t| rules.timezone.to_datetime(t).date())
}

fn top(memory: &Memory, board: &Leaderboard, bucket: Bucket, n: usize) -> BoardTop {
    let key = BoardKey {
        board: board.id.clone(),
        community: None,
        bucket,
    };
    BoardTop {
        board: board.id.to_string(),
        period: bucket.period.to_string(),
        bucket_start: bucket.start.map(|d| d.to_string()),
        top: memory
            .boards
            .ranked(&key, |_| true)
            .take(n)
            .map(|r| Row {
                rank: r.rank,
                member: r.member.to_string(),
                score: r.score,
            })
            .collect(),
    }
}

/// The shortest period a board keeps besides all time.
fn shortest_period(board: &Leaderboard) -> Option<Period> {
    (board.periods.iter().copied())
        .filter(|p| *p != Period::AllTime)
        .max()
}

pub fn report(rules: &RuleSet, sim: &Simulation) -> Report {
    let (memory, last) = (&sim.memory, last_day(rules, sim));
    let mut boards = Vec::new();
    for board in &rules.leaderboards {
        if board.periods.contains(&Period::AllTime) {
            boards.push(top(memory, board, Bucket::ALL_TIME, 10));
        }
        // The shortest period the board keeps, in the bucket of the last event.
        if let (Some(period), Some(day)) = (shortest_period(board), last) {
            boards.push(top(
                memory,
                board,
                Bucket::containing(period, day, rules.week_starts),
                10,
            ));
        }
    }
    let mut badges = BTreeMap::new();
    let mut levels = vec![0usize; rules.levels.len()];
    let (mut alive, mut longest, mut sum_longest, mut holding) = (0, 0, 0u64, 0);
    let today = last.map(engagement_core::Day::from_date);
    for state in memory.members.values() {
        for held in &state.badges {
            let tier = rules
                .badge(&held.badge)
                .and_then(|b| b.tiers.get(held.tier))
                .and_then(|t| t.name.clone());
            let label = match tier {
                Some(t) => format!("{}/{t}", held.badge),
                None => held.badge.to_string(),
            };
            *badges.entry(label).or_default() += 1;
        }
        levels[rules.level_index(state.points)] += 1;
        if today.is_some_and(|d| state.streak.current_on(d) > 0) {
            alive += 1;
        }
        longest = longest.max(state.streak.longest);
        sum_longest += u64::from(state.streak.longest);
        holding += usize::from(state.streak.freezes > 0);
    }
    let members = memory.members.len();
    Report {
        events: sim.events,
        members,
        boards,
        badges,
        levels: rules
            .levels
            .iter()
            .map(|l| l.name.clone())
            .zip(levels)
            .collect(),
        streaks: StreakStats {
            alive,
            longest,
            mean_longest: if members == 0 {
                0.0
            } else {
                sum_longest as f64 / members as f64
            },
            holding_freezes: holding,
        },
    }
}

/// Participation Gini and top-10 % share of all-time points, before and after.
#[derive(Debug, Serialize, PartialEq)]
pub struct ParticipationChange {
    pub gini_before: f64,
    pub gini_after: f64,
    pub top_10pct_share_before: f64,
    pub top_10pct_share_after: f64,
}

/// The §8 participation figures over every member's all-time points.
fn participation(memory: &Memory) -> engagement_core::insights::Participation {
    let parts = engagement_core::insights::Parts {
        points: memory.members.values().map(|s| s.points).collect(),
        ..Default::default()
    };
    engagement_core::Report::build(None, Bucket::ALL_TIME, parts, false).participation
}

/// What changes for one member.
#[derive(Debug, Serialize, PartialEq)]
pub struct MemberChange {
    pub member: String,
    pub points_before: i64,
    pub points_after: i64,
    /// All-time rank per board, before and after (`None`: not on the board).
    pub ranks: BTreeMap<String, (Option<u64>, Option<u64>)>,
    pub badges_gained: Vec<String>,
    pub badges_lost: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Diff {
    pub events: usize,
    pub members: usize,
    /// How evenly all-time points are spread (§8 participation), before
    /// and after.
    pub participation: ParticipationChange,
    pub changed: usize,
    pub changes: Vec<MemberChange>,
}

fn ranks(rules: &RuleSet, memory: &Memory) -> HashMap<(String, MemberId), u64> {
    let mut out = HashMap::new();
    for board in &rules.leaderboards {
        let key = BoardKey {
            board: board.id.clone(),
            community: None,
            bucket: Bucket::ALL_TIME,
        };
        for r in memory.boards.ranked(&key, |_| true) {
            out.insert((board.id.to_string(), r.member), r.rank);
        }
    }
    out
}

fn badge_set(memory: &Memory, member: &MemberId) -> Vec<String> {
    let mut held: Vec<String> = memory
        .members
        .get(member)
        .map(|s| {
            s.badges
                .iter()
                .map(|b| format!("{}#{}", b.badge, b.tier + 1))
                .collect()
        })
        .unwrap_or_default();
    held.sort();
    held
}

/// Compares two rule files on the same events; changes sorted by the
/// largest point movement first.
pub fn diff(old: &RuleSet, new: &RuleSet, before: &Simulation, after: &Simulation) -> Diff {
    let events = before.events;
    let (before, after) = (&before.memory, &after.memory);
    let (old_ranks, new_ranks) = (ranks(old, before), ranks(new, after));
    let mut boards: Vec<String> = old.leaderboards.iter().map(|b| b.id.to_string()).collect();
    for b in &new.leaderboards {
        if !boards.contains(&b.id.to_string()) {
            boards.push(b.id.to_string());
        }
    }
    let mut members: Vec<&MemberId> = before.members.keys().chain(after.members.keys()).collect();
    members.sort();
    members.dedup();
    let mut changes = Vec::new();
    for m in &members {
        let points = |mem: &Memory| mem.members.get(*m).map_or(0, |s| s.points);
        let (b, a) = (badge_set(before, m), badge_set(after, m));
        let ranks: BTreeMap<String, (Option<u64>, Option<u64>)> = boards
            .iter()
            .map(|board| {
                let key = (board.clone(), (*m).clone());
                (
                    board.clone(),
                    (old_ranks.get(&key).copied(), new_ranks.get(&key).copied()),
                )
            })
            .collect();
        let change = MemberChange {
            member: m.to_string(),
            points_before: points(before),
            points_after: points(after),
            badges_gained: a.iter().filter(|x| !b.contains(x)).cloned().collect(),
            badges_lost: b.iter().filter(|x| !a.contains(x)).cloned().collect(),
            ranks: ranks.into_iter().filter(|(_, (x, y))| x != y).collect(),
        };
        let moved = change.points_before != change.points_after
            || !change.ranks.is_empty()
            || !change.badges_gained.is_empty()
            || !change.badges_lost.is_empty();
        if moved {
            changes.push(change);
        }
    }
    changes.sort_by_key(|c| {
        (
            std::cmp::Reverse((c.points_after - c.points_before).abs()),
            c.member.clone(),
        )
    });
    let (b, a) = (participation(before), participation(after));
    Diff {
        events,
        members: members.len(),
        participation: ParticipationChange {
            gini_before: b.gini,
            gini_after: a.gini,
            top_10pct_share_before: b.top_10pct_share,
            top_10pct_share_after: a.top_10pct_share,
        },
        changed: changes.len(),
        changes,
    }
}
