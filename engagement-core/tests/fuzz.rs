#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Fuzzing the two parsers that see outside input: the rule file
//! (`RuleSet::from_toml`) and event decoding (`serde_json` into `Event`,
//! then `Event::check`). Neither may panic; a refused rule file points at
//! a line and column inside the file. Seeds are fixed so a run is
//! deterministic, and case counts keep it to a couple of seconds.

use engagement_core::{Event, RuleSet};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};

const RULES: &str = include_str!("../../rules/knowledge-sharing.toml");

fn runner(cases: u32, seed: u8) -> TestRunner {
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]),
    )
}

/// Loads `source`; every error must sit inside it: line 1..=lines and
/// column 1..=length of that line + 1 (in characters).
fn check_rules(source: &str) -> Result<(), TestCaseError> {
    let Err(errors) = RuleSet::from_toml(source) else {
        return Ok(());
    };
    prop_assert!(!errors.0.is_empty(), "a refusal lists at least one error");
    let lines: Vec<&str> = source.split('\n').collect();
    for e in &errors.0 {
        prop_assert!(e.line >= 1 && e.column >= 1, "{e}");
        prop_assert!(
            e.line <= lines.len(),
            "{e}: the file has {} lines",
            lines.len()
        );
        let width = lines[e.line - 1].chars().count();
        prop_assert!(
            e.column <= width + 1,
            "{e}: line {} has {width} characters",
            e.line
        );
        prop_assert!(!e.message.is_empty(), "{e}");
    }
    Ok(())
}

/// How one mutation of the canonical rule file is made; positions wrap.
#[derive(Debug, Clone)]
enum Mutation {
    FlipByte { at: usize, bit: u8 },
    SetByte { at: usize, byte: u8 },
    Truncate { at: usize },
    DeleteLine { line: usize },
    DuplicateLine { line: usize },
    SwapLines { a: usize, b: usize },
    Insert { at: usize, text: String },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipByte { at, bit }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::SetByte { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        any::<usize>().prop_map(|line| Mutation::DeleteLine { line }),
        any::<usize>().prop_map(|line| Mutation::DuplicateLine { line }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
        (
            any::<usize>(),
            prop_oneof![
                Just("[".to_owned()),
                Just("\"".to_owned()),
                Just("]]".to_owned()),
                Just("= =".to_owned()),
                Just("\n[[points]]\n".to_owned()),
                Just("\nversion = 1\n".to_owned()),
                Just("é🎉\u{0}".to_owned()),
                Just("99999999999999999999999".to_owned()),
                "\\PC{0,12}",
            ]
        )
            .prop_map(|(at, text)| Mutation::Insert { at, text }),
    ]
}

/// Applies mutations to the bytes of the file; the result is read back as
/// UTF-8 with invalid sequences replaced, as a server reading text would.
fn mutate(source: &str, mutations: &[Mutation]) -> String {
    let mut bytes = source.as_bytes().to_vec();
    for m in mutations {
        let lines =
            || -> Vec<Vec<u8>> { bytes.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect() };
        match m {
            Mutation::FlipByte { at, bit } if !bytes.is_empty() => {
                let i = at % bytes.len();
                bytes[i] ^= 1 << bit;
            }
            Mutation::SetByte { at, byte } if !bytes.is_empty() => {
                let i = at % bytes.len();
                bytes[i] = *byte;
            }
            Mutation::Truncate { at } => bytes.truncate(at % (bytes.len() + 1)),
            Mutation::DeleteLine { line } => {
                let mut all = lines();
                all.remove(line % all.len());
                bytes = all.join(&b'\n');
            }
            Mutation::DuplicateLine { line } => {
                let mut all = lines();
                let i = line % all.len();
                all.insert(i, all[i].clone());
                bytes = all.join(&b'\n');
            }
            Mutation::SwapLines { a, b } => {
                let mut all = lines();
                let n = all.len();
                all.swap(a % n, b % n);
                bytes = all.join(&b'\n');
            }
            Mutation::Insert { at, text } => {
                let i = at % (bytes.len() + 1);
                bytes.splice(i..i, text.bytes());
            }
            _ => {}
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn the_canonical_rule_file_loads() {
    assert!(RuleSet::from_toml(RULES).is_ok());
}

#[test]
fn mutations_of_the_canonical_rule_file_load_or_point_inside_the_file() {
    let mut refused = 0;
    let mut runner = runner(600, 1);
    runner
        .run(&prop::collection::vec(mutation(), 1..6), |mutations| {
            let source = mutate(RULES, &mutations);
            check_rules(&source)
        })
        .unwrap();
    // The mutations must actually reach the checks: most files are refused.
    for seed in 0..200usize {
        let source = mutate(RULES, &[Mutation::DeleteLine { line: seed * 7 }]);
        if RuleSet::from_toml(&source).is_err() {
            refused += 1;
        }
    }
    assert!(
        refused > 20,
        "deleting lines breaks the file often ({refused})"
    );
}

#[test]
fn arbitrary_text_as_a_rule_file_loads_or_points_inside_it() {
    let mut runner = runner(400, 2);
    let text = prop_oneof![
        "\\PC{0,200}",
        ".{0,200}",
        // TOML-looking lines.
        prop::collection::vec(
            prop_oneof![
                "[a-z_.]{1,12} = [0-9a-z\"\\[\\]{}.,=-]{0,20}",
                "\\[\\[?[a-z_.]{0,12}\\]?\\]?",
                "#.{0,20}",
                Just(String::new()),
            ],
            0..30
        )
        .prop_map(|lines| lines.join("\n")),
    ];
    runner.run(&text, |s| check_rules(&s)).unwrap();
}

#[test]
fn pathological_rule_files_are_refused_with_a_location() {
    let deep_array = format!("version = {}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_open = format!("version = {}", "[".repeat(10_000));
    let deep_table = format!("version = {}", "{a = ".repeat(10_000));
    let long_key = format!("{} = 1", "k".repeat(100_000));
    let many_tables = "[[points]]\n".repeat(20_000);
    let huge_number = format!("version = {}", "9".repeat(5_000));
    let cases = [
        String::new(),
        "\u{0}".to_owned(),
        "\u{feff}version = 1".to_owned(),
        "version = 1\r\n[engine]\r\ntimezone = \"Nowhere/Land\"\r\n".to_owned(),
        deep_array,
        deep_open,
        deep_table,
        long_key,
        many_tables,
        huge_number,
    ];
    for source in &cases {
        let result = RuleSet::from_toml(source);
        assert!(
            result.is_err(),
            "{:?} is not a rule file",
            &source[..source.len().min(40)]
        );
        check_rules(source).unwrap();
    }
}

/// A JSON value of any shape, with the event's field names likely.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,30}".prop_map(Value::String),
        Just(json!("2026-11-20T17:00:00Z")),
        Just(json!("2026-11-20T17:00:00")),
        Just(json!("9999-12-31T23:59:59Z")),
        Just(json!("-009999-01-01T00:00:00Z")),
        Just(json!("x".repeat(201))),
        Just(json!("")),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        let key = prop_oneof![
            Just("id".to_owned()),
            Just("kind".to_owned()),
            Just("actor".to_owned()),
            Just("actor_name".to_owned()),
            Just("occurred_at".to_owned()),
            Just("community".to_owned()),
            Just("target".to_owned()),
            Just("author".to_owned()),
            Just("revokes".to_owned()),
            "[a-z]{0,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..9)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Decodes and checks; either step may refuse, neither may panic. Returns
/// whether the event was accepted.
fn decode(text: &str) -> bool {
    match serde_json::from_str::<Event>(text) {
        Ok(event) => event.check().is_ok(),
        Err(_) => false,
    }
}

#[test]
fn arbitrary_json_values_decode_to_an_event_or_an_error() {
    let mut runner = runner(1500, 3);
    runner
        .run(&json_value(), |value| {
            let text = value.to_string();
            decode(&text);
            // The same value as an event object with fields replaced.
            let mut event = json!({"id": "e-1", "kind": "answer.posted", "actor": "ana",
                "occurred_at": "2026-11-20T17:00:00Z"});
            if let Value::Object(fields) = &value {
                for (k, v) in fields {
                    event[k] = v.clone();
                }
            }
            decode(&event.to_string());
            Ok(())
        })
        .unwrap();
}

#[test]
fn mutated_event_text_decodes_to_an_event_or_an_error() {
    let valid = json!({"id": "forum-1:post:981", "kind": "answer.accepted", "actor": "m-42",
        "actor_name": "Ana Souza", "occurred_at": "2026-11-20T14:03:00Z",
        "community": "rules-of-origin", "target": {"id": "post-981", "author": "m-7"},
        "revokes": null})
    .to_string();
    assert!(decode(&valid), "the example event of the spec is accepted");
    let mut runner = runner(1500, 4);
    let edits = prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..8);
    runner
        .run(&edits, |edits| {
            let mut bytes = valid.clone().into_bytes();
            for (at, byte, op) in edits {
                let i = at % (bytes.len() + 1);
                match op {
                    0 if i < bytes.len() => bytes[i] = byte,
                    1 => bytes.insert(i, byte),
                    _ => bytes.truncate(i),
                }
            }
            decode(&String::from_utf8_lossy(&bytes));
            Ok(())
        })
        .unwrap();
    // Arbitrary text too.
    runner
        .run(&"\\PC{0,300}", |s| {
            prop_assert!(!decode(&s) || s.contains("occurred_at"));
            Ok(())
        })
        .unwrap();
}

#[test]
fn events_out_of_bounds_are_refused() {
    let base = || {
        json!({"id": "e-1", "kind": "answer.posted", "actor": "ana",
            "occurred_at": "2026-11-20T17:00:00Z"})
    };
    let mut cases = Vec::new();
    for (field, value) in [
        ("id", json!("")),
        ("id", json!("i".repeat(201))),
        ("actor", json!("")),
        ("actor", json!("a".repeat(10_000))),
        ("kind", json!("")),
        ("kind", json!("k".repeat(201))),
        ("occurred_at", json!("2026-11-20T17:00:00")),
        ("occurred_at", json!("2026-13-45T17:00:00Z")),
        ("occurred_at", json!(1_700_000_000)),
        ("occurred_at", json!("yesterday")),
        ("id", json!(18_446_744_073_709_551_615u64)),
        ("target", json!({"id": ""})),
        ("target", json!({"id": "t", "author": ""})),
        ("target", json!({"id": "t", "extra": 1})),
        ("actor_name", json!("n".repeat(201))),
        ("unknown", json!(1)),
    ] {
        let mut e = base();
        e[field] = value;
        cases.push(e.to_string());
    }
    cases.push(format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000)));
    cases.push(r#"{"id": 1e400}"#.to_owned());
    for text in &cases {
        assert!(!decode(text), "refused: {}", &text[..text.len().min(80)]);
    }
    assert!(decode(&base().to_string()));
}
