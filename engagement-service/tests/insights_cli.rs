//! `engagement insights` as a manager runs it: over an event file and over
//! the configured store, the same figures as the API; and `rules diff`
//! telling how evenly points would be spread.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{BIN, RULES, configured};
use serde_json::Value;

const EXPERT: &str = include_str!("../../tests/fixtures/insights/expert.json");

/// The fixture's events as JSON lines in `dir`, and what it expects.
fn fixture(dir: &Path) -> (String, Value) {
    let fixture: Value = serde_json::from_str(EXPERT).unwrap();
    let lines: Vec<String> = (fixture["events"].as_array().unwrap().iter())
        .map(|e| e.to_string())
        .collect();
    let path = dir.join("events.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    (path.to_string_lossy().into_owned(), fixture)
}

fn run(dir: &Path, args: &[&str]) -> Output {
    let mut command = configured(Command::new(BIN), &dir.join("data"));
    command.args(args).output().expect("the binary runs")
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_report_from_a_file_and_from_the_store_equals_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let (events, fixture) = fixture(dir.path());
    // The first expected report is the admin's: the command line is the
    // manager's, and names the holders.
    let expected = &fixture["reports"][0]["expect"];
    let query = [
        "--community",
        "origin",
        "--period",
        "month",
        "--at",
        "2026-03-15",
        "--json",
    ];
    let from_file = json(&run(
        dir.path(),
        &[&["insights", "--events", &events][..], &query].concat(),
    ));
    assert_eq!(&from_file, expected);

    let imported = run(dir.path(), &["events", "import", &events]);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let from_store = json(&run(dir.path(), &[&["insights"][..], &query].concat()));
    assert_eq!(&from_store, expected);
}

#[test]
fn the_table_reads_as_sentences_and_a_bad_ask_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let (events, _) = fixture(dir.path());
    // Without --at: the month of the file's latest event.
    let out = run(dir.path(), &["insights", "--events", &events]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("Knowledge flow in the whole deployment, month 2026-03-01 to 2026-04-01"),
        "{text}"
    );
    for line in [
        "participation gini                       0.635",
        "answered by someone else                 2 (66.7 %)",
        "median time to a first answer            60.0 min",
        "knowledge holders (hold half)            1",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
    let out = run(
        dir.path(),
        &["insights", "--events", &events, "--community", "nowhere"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no event names the community \"nowhere\""),
        "{err}"
    );
    let out = run(
        dir.path(),
        &["insights", "--events", &events, "--period", "fortnight"],
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn rules_diff_tells_how_the_spread_of_points_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (events, _) = fixture(dir.path());
    // Accepted answers paying 100 instead of 15 concentrate points on the expert.
    let source = std::fs::read_to_string(RULES).unwrap();
    let from = "id = \"accepted\"\non = \"answer.accepted\"\nto = \"target.author\"\npoints = 15";
    assert_eq!(source.matches(from).count(), 1);
    let richer = dir.path().join("richer.toml");
    std::fs::write(
        &richer,
        source.replacen(from, &from.replace("15", "100"), 1),
    )
    .unwrap();
    let richer = richer.to_string_lossy().into_owned();
    let diff = json(&run(
        dir.path(),
        &[
            "rules", "diff", RULES, &richer, "--events", &events, "--json",
        ],
    ));
    let p = &diff["participation"];
    // All time: ana 6, bo 1, cy 1, ex 40, then ex 210 (210 / 218).
    assert_eq!(p["gini_before"], 0.635);
    assert_eq!(p["top_10pct_share_before"], 0.833);
    assert!(p["gini_after"].as_f64() > p["gini_before"].as_f64(), "{p}");
    assert_eq!(p["top_10pct_share_after"], 0.963);
    let out = run(
        dir.path(),
        &["rules", "diff", RULES, &richer, "--events", &events],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("participation (all-time points): gini 0.635 → "),
        "{text}"
    );
}
