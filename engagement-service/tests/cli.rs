//! The `engagement` command line, run as a user runs it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn engagement(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_engagement"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn canonical() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/knowledge-sharing.toml")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// The canonical file with `from` replaced by `to` (which must be there once).
fn edited(from: &str, to: &str) -> String {
    let source = std::fs::read_to_string(canonical()).unwrap();
    assert_eq!(source.matches(from).count(), 1, "{from:?}");
    source.replacen(from, to, 1)
}

/// Line and column (1-based) of the first occurrence of `needle`.
fn position(text: &str, needle: &str) -> (usize, usize) {
    let at = text.find(needle).expect("needle present");
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap().chars().count() + 1;
    (line, column)
}

#[test]
fn checking_the_canonical_rules_prints_a_summary_and_exits_0() {
    let out = engagement(&["rules", "check", canonical().to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ok: 8 actions, 9 points rules, 4 levels, 8 badges, 2 leaderboards"),
        "{text}"
    );
}

#[test]
fn every_error_class_is_reported_as_file_line_column_message_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    // Edit from, edit to, text whose first occurrence (plus an offset)
    // is where the error points, and what the message says.
    let cases = [
        (
            "week_starts = \"monday\"",
            "week_starts = \"someday\"",
            "\"someday\"",
            0,
            "unknown weekday",
        ),
        (
            "timezone = \"America/Bogota\"",
            "timezone = \"Mars/Olympus\"",
            "\"Mars/Olympus\"",
            0,
            "unknown time zone",
        ),
        (
            "on = \"answer.posted\"\nto = \"actor\"\npoints = 5",
            "on = \"answer.postd\"\nto = \"actor\"\npoints = 5",
            "\"answer.postd\"",
            0,
            "did you mean \"answer.posted\"",
        ),
        (
            "points = 5\nchance = 0.10",
            "points = 5\nchance = 1.5",
            "1.5",
            0,
            "chance must be in (0, 1]",
        ),
        (
            "points = 1\ndaily_cap = 3",
            "points = 1\ndaily_cap = 0",
            "daily_cap = 0",
            12,
            "daily_cap must be at least 1",
        ),
        (
            "name = \"Peripheral\"\nat = 0",
            "name = \"Peripheral\"\nat = 5",
            "at = 5",
            5,
            "first level must be at 0",
        ),
        (
            "id = \"steady\"",
            "id = \"mentor\"",
            "id = \"mentor\"\nname = \"Steady",
            5,
            "duplicate badge id",
        ),
        (
            "periods = [\"all_time\", \"month\"]",
            "periods = []",
            "[]",
            0,
            "at least one period",
        ),
        (
            "points = 10\ndaily_cap = 30",
            "points = 10\ndaily_cap = 30\ncolour = \"red\"",
            "colour",
            0,
            "unknown field",
        ),
    ];
    for (from, to, at, offset, says) in cases {
        let text = edited(from, to);
        let file = write(dir.path(), "rules.toml", &text);
        let out = engagement(&["rules", "check", &file]);
        assert_eq!(out.status.code(), Some(1), "{to}");
        let err = String::from_utf8_lossy(&out.stderr);
        let (line, column) = position(&text, at);
        let expected = format!("{file}:{line}:{}: ", column + offset);
        let reported = err
            .lines()
            .find(|l| l.contains(says))
            .unwrap_or_else(|| panic!("{says:?} not in {err}"));
        assert!(
            reported.starts_with(&expected),
            "{reported} should start with {expected}"
        );
    }
}

#[test]
fn a_file_that_cannot_be_read_is_an_error_not_a_panic() {
    let out = engagement(&["rules", "check", "/nonexistent/rules.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[test]
fn generated_events_are_the_same_for_a_seed_and_feed_simulate_and_diff() {
    let dir = tempfile::tempdir().unwrap();
    let generated = |seed: &str| {
        engagement(&[
            "events",
            "generate",
            "--members",
            "200",
            "--days",
            "10",
            "--seed",
            seed,
        ])
        .stdout
    };
    let (a, b, c) = (generated("5"), generated("5"), generated("6"));
    assert_eq!(a, b);
    assert_ne!(a, c);
    let events = write(dir.path(), "events.jsonl", &String::from_utf8(a).unwrap());
    let rules = canonical();
    let out = engagement(&[
        "rules",
        "simulate",
        rules.to_str().unwrap(),
        "--events",
        &events,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["events"].as_u64().unwrap() > 100);
    assert_eq!(report["boards"][0]["board"], "contributors");
    assert!(!report["boards"][0]["top"].as_array().unwrap().is_empty());

    let richer = write(
        dir.path(),
        "new.toml",
        &edited(
            "id = \"answer\"\non = \"answer.posted\"\nto = \"actor\"\npoints = 5",
            "id = \"answer\"\non = \"answer.posted\"\nto = \"actor\"\npoints = 9",
        ),
    );
    let out = engagement(&[
        "rules",
        "diff",
        rules.to_str().unwrap(),
        &richer,
        "--events",
        &events,
        "--json",
    ]);
    assert!(out.status.success());
    let diff: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let changes = diff["changes"].as_array().unwrap();
    assert!(!changes.is_empty());
    assert!(
        changes
            .iter()
            .all(|c| c["points_after"].as_i64() >= c["points_before"].as_i64())
    );
    let same = engagement(&[
        "rules",
        "diff",
        rules.to_str().unwrap(),
        rules.to_str().unwrap(),
        "--events",
        &events,
        "--json",
    ]);
    let same: serde_json::Value = serde_json::from_slice(&same.stdout).unwrap();
    assert_eq!(same["changed"], 0);
}

#[test]
fn explain_says_why_an_event_paid_what_it_paid_after_the_events_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let asks: Vec<String> = (0..4)
        .map(|i| {
            format!(
                r#"{{"id": "q{i}", "kind": "question.asked", "actor": "ana", "occurred_at": "2026-11-20T17:0{i}:00Z"}}"#
            )
        })
        .collect();
    let events = write(dir.path(), "events.jsonl", &(asks.join("\n") + "\n"));
    let rules = canonical();
    let run = |id: &str| {
        engagement(&[
            "rules",
            "explain",
            rules.to_str().unwrap(),
            "--events",
            &events,
            "--event",
            id,
            "--json",
        ])
    };
    let out = run("q3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        answer["explain"],
        serde_json::json!([{"rule": "ask", "member": "ana", "points": 0, "reason": "daily_cap_reached"}])
    );
    let first: serde_json::Value = serde_json::from_slice(&run("q0").stdout).unwrap();
    assert_eq!(first["explain"][0]["reason"], "awarded");
    let missing = run("q9");
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no event \"q9\""));
}

#[test]
fn output_read_only_in_part_ends_the_command_quietly() {
    use std::io::Read;
    // `engagement events generate | head -c 100`: the reader goes away
    // long before the command has written everything.
    let mut child = Command::new(env!("CARGO_BIN_EXE_engagement"))
        .args(["events", "generate", "--members", "2000", "--days", "60"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 100];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn archive_says_what_it_needs_instead_of_guessing() {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("old.jsonl.zst");
    let to = to.to_string_lossy();
    // A date that is neither a day nor an instant.
    let out = engagement(&["events", "archive", "--before", "last spring", "--to", &to]);
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("neither a day (2026-06-01) nor an RFC 3339 instant"),
        "{said}"
    );
    // The embedded store keeps its log on disk: nothing to archive there.
    let mut command = Command::new(env!("CARGO_BIN_EXE_engagement"));
    command
        .args(["events", "archive", "--before", "2026-01-01", "--to", &to])
        .env_remove("ENGAGEMENT_REDIS_URL")
        .env("ENGAGEMENT_DATA_DIR", dir.path().join("data"))
        .env("ENGAGEMENT_RULES", canonical());
    let out = command.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("archives are for the Redis store"), "{said}");
    assert!(!dir.path().join("old.jsonl.zst").exists());
}
