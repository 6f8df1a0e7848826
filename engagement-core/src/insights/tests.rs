//! The hand-built streams of `tests/fixtures/insights`, applied in memory:
//! every figure of every report they expect, exactly. The service's tests
//! run the same streams through HTTP on both stores.

use serde::Deserialize;
use serde_json::Value;

use super::{Insights, Report};
use crate::calendar::{Bucket, Period};
use crate::ids::CommunityId;
use crate::{Event, Memory, RuleSet};

#[derive(Deserialize)]
struct Fixture {
    events: Vec<Event>,
    reports: Vec<Expected>,
}

#[derive(Deserialize)]
struct Expected {
    query: String,
    admin: bool,
    expect: Value,
}

const FIXTURES: [(&str, &str); 4] = [
    (
        "expert",
        include_str!("../../../tests/fixtures/insights/expert.json"),
    ),
    (
        "even",
        include_str!("../../../tests/fixtures/insights/even.json"),
    ),
    (
        "silo",
        include_str!("../../../tests/fixtures/insights/silo.json"),
    ),
    (
        "questions",
        include_str!("../../../tests/fixtures/insights/questions.json"),
    ),
];

/// How the report is read: from every period's tallies, or as a store
/// keeps them (see [`Insights::compact`]) with the points boards.
#[derive(Debug, Clone, Copy)]
enum Kept {
    Every,
    Compact,
}

fn kept(kept: Kept) -> Memory {
    let mut memory = Memory::default();
    memory.insights = Some(Box::new(match kept {
        Kept::Every => Insights::default(),
        Kept::Compact => Insights::compact(false),
    }));
    memory
}

fn report(rules: &RuleSet, memory: &Memory, how: Kept, query: &str, admin: bool) -> Report {
    let (mut community, mut period, mut at) = (None, Period::Month, None);
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap();
        match key {
            "community" => community = Some(CommunityId::parse(value).unwrap()),
            "period" => period = Period::parse(value).unwrap(),
            "at" => at = Some(value.parse().unwrap()),
            _ => panic!("unknown query key {key}"),
        }
    }
    let bucket = Bucket::containing(period, at.unwrap(), rules.week_starts);
    match how {
        Kept::Every => {
            (memory.insights.as_deref().unwrap()).report(community.as_ref(), bucket, admin)
        }
        Kept::Compact => {
            (memory.insights_report(rules, community.as_ref(), bucket, admin)).unwrap()
        }
    }
}

#[test]
fn every_figure_of_the_hand_built_streams() {
    let rules = RuleSet::from_toml(include_str!("../../../rules/knowledge-sharing.toml")).unwrap();
    for (name, text) in FIXTURES {
        let fixture: Fixture = serde_json::from_str(text).unwrap();
        for how in [Kept::Every, Kept::Compact] {
            let mut memory = kept(how);
            for event in &fixture.events {
                memory.ingest(&rules, event);
            }
            for expected in &fixture.reports {
                let got = report(&rules, &memory, how, &expected.query, expected.admin);
                assert_eq!(
                    serde_json::to_value(&got).unwrap(),
                    expected.expect,
                    "{name} ({how:?}): {}",
                    expected.query
                );
            }
        }
    }
}

#[test]
fn a_revoked_event_leaves_nothing_behind() {
    let rules = RuleSet::from_toml(include_str!("../../../rules/knowledge-sharing.toml")).unwrap();
    let fixture: Fixture = serde_json::from_str(FIXTURES[0].1).unwrap();
    let mut memory = kept(Kept::Every);
    for event in &fixture.events {
        memory.ingest(&rules, event);
    }
    for (i, event) in fixture.events.iter().enumerate() {
        let mut undo = event.clone();
        undo.id = crate::EventId::parse(format!("undo-{i}")).unwrap();
        undo.revokes = Some(event.id.clone());
        undo.target = None;
        memory.ingest(&rules, &undo);
    }
    let got = report(
        &rules,
        &memory,
        Kept::Every,
        "community=origin&period=month&at=2026-03-15",
        true,
    );
    let empty = Report::build(
        got.community
            .as_deref()
            .map(|c| CommunityId::parse(c).unwrap())
            .as_ref(),
        Bucket::containing(
            Period::Month,
            "2026-03-15".parse().unwrap(),
            rules.week_starts,
        ),
        super::Parts::default(),
        true,
    );
    assert_eq!(got, empty);
}
