//! `engagement fair-play` and `events generate --ring` as a manager runs
//! them: a generated community with a ring hidden in it, looked at from
//! the file and from the store it was imported into.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{BIN, configured};
use serde_json::{Value, json};

fn run(dir: &Path, args: &[&str]) -> Output {
    let mut command = configured(Command::new(BIN), &dir.join("data"));
    command.args(args).output().expect("the binary runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn a_generated_ring_is_reported_from_the_file_and_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let generated = ok(&run(
        dir.path(),
        &[
            "events",
            "generate",
            "--members",
            "150",
            "--days",
            "31",
            "--count",
            "2000",
            "--start",
            "2026-03-01T00:00:00Z",
            "--ring",
            "3",
        ],
    ));
    assert_eq!(generated.lines().count(), 2000);
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, &generated).unwrap();
    let events = events.to_string_lossy().into_owned();

    let query = ["--period", "month", "--at", "2026-03-15", "--json"];
    let from_file: Value = serde_json::from_str(&ok(&run(
        dir.path(),
        &[&["fair-play", "--events", &events][..], &query].concat(),
    )))
    .unwrap();
    assert_eq!(
        from_file["rings"],
        json!([{"members": ["ring1-1", "ring1-2", "ring1-3"], "events": 93}])
    );
    for (from, to) in [
        ("ring1-1", "ring1-2"),
        ("ring1-2", "ring1-3"),
        ("ring1-3", "ring1-1"),
    ] {
        let listed =
            from_file["pairs"].as_array().unwrap().iter().any(|p| {
                p["from"] == from && p["to"] == to && p["events"] == 31 && p["share"] == 1.0
            });
        assert!(listed, "{from} → {to}: {from_file}");
    }

    ok(&run(dir.path(), &["events", "import", &events]));
    let from_store: Value = serde_json::from_str(&ok(&run(
        dir.path(),
        &[&["fair-play"][..], &query].concat(),
    )))
    .unwrap();
    assert_eq!(from_store, from_file);

    let table = ok(&run(
        dir.path(),
        &["fair-play", "--events", &events, "--at", "2026-03-15"],
    ));
    assert!(
        table.contains("ring: ring1-1 → ring1-2 → ring1-3 → ring1-1 (93 events)"),
        "{table}"
    );
}

#[test]
fn a_period_fair_play_does_not_keep_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["fair-play", "--period", "all_time"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--period: expected one of day, week, month"),
        "{err}"
    );
    let out = run(dir.path(), &["events", "generate", "--ring", "1"]);
    assert!(!out.status.success(), "a ring has at least two members");
}

#[test]
fn the_pair_cap_is_checked_with_its_place_and_diffed_before_switching() {
    let dir = tempfile::tempdir().unwrap();
    let bundled = std::fs::read_to_string(common::RULES).unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        format!("{bundled}\n[fair_play]\npair_daily_cap = 0\n"),
    )
    .unwrap();
    let out = run(dir.path(), &["rules", "check", &bad.to_string_lossy()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let line = bundled.lines().count() + 3;
    assert!(
        err.contains(&format!(
            "bad.toml:{line}:18: pair_daily_cap must be at least 1"
        )),
        "{err}"
    );

    let capped = dir.path().join("capped.toml");
    std::fs::write(
        &capped,
        format!("{bundled}\n[fair_play]\npair_daily_cap = 10\n"),
    )
    .unwrap();
    let generated = ok(&run(
        dir.path(),
        &[
            "events",
            "generate",
            "--members",
            "150",
            "--days",
            "20",
            "--count",
            "2000",
        ],
    ));
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, generated).unwrap();
    let diff: Value = serde_json::from_str(&ok(&run(
        dir.path(),
        &[
            "rules",
            "diff",
            common::RULES,
            &capped.to_string_lossy(),
            "--events",
            &events.to_string_lossy(),
            "--json",
        ],
    )))
    .unwrap();
    // Accepted answers pay 15: under a pair cap of 10 their authors earn less.
    let changes = diff["changes"].as_array().unwrap();
    assert!(!changes.is_empty(), "{diff}");
    let sum = |field: &str| {
        changes
            .iter()
            .map(|c| c[field].as_i64().unwrap())
            .sum::<i64>()
    };
    assert!(sum("points_after") < sum("points_before"), "{diff}");
}
