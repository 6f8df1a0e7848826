//! A catalogue of hostile requests, generated from a fixed seed: broken and
//! oversized bodies, wrong types, deep nesting, invalid UTF-8, bad
//! timestamps and ids, wrong or absent credentials, unknown boards and
//! periods, out-of-range numbers, weird paths, wrong methods and content
//! types, garbage rule files. Every answer must be a 4xx in the documented
//! error shape (never a 5xx, never a hang), the service must stay healthy,
//! and nothing may reach the store.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engagement_service::store::{RedisSettings, RedisStore, Store};
use reqwest::Method;
use serde_json::{Value, json};

use super::support::{Backend, RedisServer, TestApp, event, event_on, prefix};

const RULES: &str = include_str!("../../rules/knowledge-sharing.toml");
const INGEST: &str = "ingest-secret";
const ADMIN: &str = "admin-secret";
const READ: &str = "read-secret";
const NOON: &str = "2026-11-20T17:00:00Z";
const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------- generator

/// SplitMix64: a tiny seeded generator, so the catalogue is the same on
/// every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `range`.
    fn range(&mut self, range: std::ops::Range<usize>) -> usize {
        range.start + (self.next() % (range.end - range.start) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0..items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// Alphanumeric text of a length in `range`.
    fn word_in(&mut self, range: std::ops::Range<usize>) -> String {
        let len = self.range(range);
        self.word(len)
    }

    /// Alphanumeric text of `len` bytes.
    fn word(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_";
        (0..len).map(|_| *self.pick(ALPHABET) as char).collect()
    }
}

/// One request of the catalogue.
#[derive(Clone)]
struct Case {
    label: String,
    method: Method,
    path: String,
    /// The raw `Authorization` header, if any.
    auth: Option<Vec<u8>>,
    content_type: Option<String>,
    body: Vec<u8>,
    /// The status it must get, when only one is right.
    expect: Option<u16>,
}

impl Case {
    fn new(label: impl Into<String>, method: Method, path: impl Into<String>) -> Case {
        Case {
            label: label.into(),
            method,
            path: path.into(),
            auth: None,
            content_type: None,
            body: Vec::new(),
            expect: None,
        }
    }

    fn token(mut self, token: &str) -> Case {
        self.auth = Some(format!("Bearer {token}").into_bytes());
        self
    }

    fn raw_auth(mut self, auth: Option<Vec<u8>>) -> Case {
        self.auth = auth;
        self
    }

    fn json(mut self, body: impl Into<Vec<u8>>) -> Case {
        self.content_type = Some("application/json".into());
        self.body = body.into();
        self
    }

    fn toml(mut self, body: impl Into<Vec<u8>>) -> Case {
        self.content_type = Some("application/toml".into());
        self.body = body.into();
        self
    }

    fn expect(mut self, status: u16) -> Case {
        self.expect = Some(status);
        self
    }

    fn ingest(label: impl Into<String>, body: impl Into<Vec<u8>>) -> Case {
        Case::new(label, Method::POST, "/v1/events")
            .token(INGEST)
            .json(body)
    }
}

const MEMBERS: [&str; 3] = ["ana", "bo", "cy"];
const KINDS: [&str; 5] = [
    "answer.posted",
    "answer.accepted",
    "resource.shared",
    "webinar.hosted",
    "post.liked",
];

/// A valid event with a fresh id: if any hostile request carrying it got
/// through, the log would grow.
fn valid_event(rng: &mut Rng, n: usize) -> Value {
    let (kind, actor, author) = (*rng.pick(&KINDS), *rng.pick(&MEMBERS), *rng.pick(&MEMBERS));
    let post = format!("post-{}", rng.range(0..9));
    let mut e = event_on(&format!("hostile-{n}"), kind, actor, NOON, &post, author);
    if rng.chance(50) {
        e["community"] = json!("customs");
    }
    e
}

fn text(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// Every field of an event, with values of the wrong type for it.
fn wrong_type(rng: &mut Rng, field: &str) -> Value {
    let strings = [
        json!(1),
        json!(-1),
        json!(1.5),
        json!(true),
        json!([]),
        json!(["ana"]),
        json!({}),
        json!({"id": "x"}),
    ];
    match field {
        // Required: null is wrong too.
        "id" | "kind" | "actor" | "occurred_at" => {
            let mut v = rng.pick(&strings).clone();
            if rng.chance(15) {
                v = Value::Null;
            }
            v
        }
        "target" => rng
            .pick(&[
                json!("post-1"),
                json!(7),
                json!([{"id": "p"}]),
                json!({"id": 7}),
                json!({"author": "ana"}),
                json!({"id": "p", "author": 3}),
                json!(true),
            ])
            .clone(),
        _ => rng.pick(&strings).clone(),
    }
}

const FIELDS: [&str; 8] = [
    "id",
    "kind",
    "actor",
    "actor_name",
    "occurred_at",
    "community",
    "target",
    "revokes",
];

const BAD_TIMESTAMPS: [&str; 16] = [
    "",
    "yesterday",
    "2026-11-20",
    "2026-11-20T17:00:00",
    "2026-11-20 17:00:00",
    "2026-13-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-11-20T25:00:00Z",
    "2026-11-20T17:61:00Z",
    "+10000-01-01T00:00:00Z",
    "-10000-01-01T00:00:00Z",
    "2026-11-20T17:00:00ZZ",
    "2026-11-20T17:00:00.Z",
    "1700000000",
    "\u{0}",
    "2026-11-20T17:00:00Z\n",
];

/// A JSON text whose value at `field` is the raw `literal`.
fn with_literal(rng: &mut Rng, n: usize, field: &str, literal: &str) -> Vec<u8> {
    let mut e = valid_event(rng, n);
    e[field] = json!("__LITERAL__");
    let text = serde_json::to_string(&e).unwrap();
    text.replace("\"__LITERAL__\"", literal).into_bytes()
}

/// The endpoints and a request that each would accept with the right token.
fn authorized_requests(rng: &mut Rng, n: usize) -> Vec<(Case, &'static str)> {
    let changed_rules = RULES.replace("points = 50\n", "points = 51\n");
    vec![
        (
            Case::new("auth ingest", Method::POST, "/v1/events").json(text(&valid_event(rng, n))),
            INGEST,
        ),
        (
            Case::new("auth batch", Method::POST, "/v1/events")
                .json(text(&json!({"events": [valid_event(rng, n)]}))),
            INGEST,
        ),
        (
            Case::new("auth profile", Method::PUT, "/v1/members/ana")
                .json(text(&json!({"name": "Mallory"}))),
            INGEST,
        ),
        (
            Case::new("auth rules", Method::PUT, "/v1/admin/rules").toml(changed_rules.clone()),
            ADMIN,
        ),
        (
            Case::new("auth check", Method::POST, "/v1/admin/rules/check").toml(changed_rules),
            ADMIN,
        ),
        (
            Case::new("auth read rules", Method::GET, "/v1/admin/rules"),
            ADMIN,
        ),
        (
            Case::new("auth replay", Method::POST, "/v1/admin/replay"),
            ADMIN,
        ),
        (
            Case::new("auth grant", Method::POST, "/v1/admin/members/ana/badges")
                .json(text(&json!({"badge": "speaker"}))),
            ADMIN,
        ),
        (
            Case::new("auth boards", Method::GET, "/v1/leaderboards"),
            READ,
        ),
        (
            Case::new("auth board", Method::GET, "/v1/leaderboards/contributors"),
            READ,
        ),
        (
            Case::new(
                "auth standing",
                Method::GET,
                "/v1/leaderboards/answerers/members/ana?period=month",
            ),
            READ,
        ),
        (
            Case::new("auth profile read", Method::GET, "/v1/members/ana"),
            READ,
        ),
        (
            Case::new("auth ledger", Method::GET, "/v1/members/ana/ledger"),
            READ,
        ),
        (
            Case::new("auth explain", Method::GET, "/v1/members/ana/ledger/e-1"),
            READ,
        ),
        (
            Case::new("auth adjust", Method::POST, "/v1/admin/members/ana/points")
                .json(text(&json!({"id": "auth", "points": 5, "reason": "auth"}))),
            ADMIN,
        ),
    ]
}

/// Authorization headers that are not the right one for `token`.
fn wrong_auth(rng: &mut Rng, token: &str) -> Option<Vec<u8>> {
    let others: Vec<&str> = [INGEST, ADMIN, READ]
        .into_iter()
        .filter(|t| *t != token)
        .collect();
    let choices: Vec<Option<Vec<u8>>> = vec![
        None,
        Some(b"Bearer".to_vec()),
        Some(b"Bearer ".to_vec()),
        Some(b"Bearer wrong".to_vec()),
        Some(format!("bearer {token}").into_bytes()),
        Some(format!("Bearer  {token}").into_bytes()),
        Some(format!("Bearer {}", &token[..token.len() - 1]).into_bytes()),
        Some(format!("Bearer {token}x").into_bytes()),
        Some(format!("Bearer {}", token.to_uppercase()).into_bytes()),
        Some(token.as_bytes().to_vec()),
        Some(format!("Basic {token}").into_bytes()),
        Some(format!("Bearer {}", rng.pick(&others)).into_bytes()),
        Some(format!("Bearer {}", "x".repeat(10 * 1024)).into_bytes()),
        Some([b"Bearer ".as_slice(), token.as_bytes(), &[0xff]].concat()),
        Some([b"Bearer \xc3".as_slice(), token.as_bytes()].concat()),
    ];
    rng.pick(&choices).clone()
}

/// A string that is not a rule file: TOML-looking garbage without the
/// mandatory `[engine]` table.
fn garbage_toml(rng: &mut Rng) -> String {
    let lines = rng.range(0..60);
    (0..lines)
        .map(|_| match rng.range(0..8) {
            0 => format!("[{}]", rng.word(6)),
            1 => format!("[[{}]]", rng.word(5)),
            2 => format!("{} = {}", rng.word(4), rng.range(0..1000)),
            3 => format!("{} = \"{}", rng.word(4), rng.word(8)),
            4 => format!("{} = [{}", rng.word(3), "[".repeat(rng.range(0..200))),
            5 => "version = 1".to_owned(),
            6 => format!("points = {}", "9".repeat(rng.range(1..60))),
            _ => rng.word_in(0..30),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The canonical file, mutated, with its `[engine]` table removed so it
/// can never load (the engine's keys then stand at the top level).
fn broken_rules(rng: &mut Rng) -> String {
    let mut lines: Vec<String> = RULES
        .lines()
        .filter(|l| l.trim() != "[engine]")
        .map(str::to_owned)
        .collect();
    for _ in 0..rng.range(0..5) {
        let i = rng.range(0..lines.len());
        match rng.range(0..3) {
            0 => {
                lines.remove(i);
            }
            1 => {
                let copy = lines[i].clone();
                lines.insert(i, copy);
            }
            _ => lines[i] = rng.word(10),
        }
    }
    lines.join("\n")
}

/// The cases written out once: the extremes.
fn fixed_cases() -> Vec<Case> {
    let valid = event("fixed-1", "answer.posted", "ana", NOON);
    let batch_of = |n: usize| json!({"events": (0..n).map(|i| event(&format!("fixed-b{i}"), "answer.posted", "ana", NOON)).collect::<Vec<_>>()});
    // 10 MB: a batch of valid events, padded past the limit.
    let mut ten_mb = text(&batch_of(1000));
    ten_mb.resize(10 * MIB, b' ');
    let mut over_limit = text(&valid);
    over_limit.resize(4 * MIB + 1, b' ');
    let deep = |open: &str, close: &str, depth: usize| {
        format!("{}1{}", open.repeat(depth), close.repeat(depth)).into_bytes()
    };
    let mut cases = vec![
        Case::ingest("10 MB batch", ten_mb.clone()).expect(413),
        Case::ingest("4 MiB + 1", over_limit).expect(413),
        Case::new("10 MB profile", Method::PUT, "/v1/members/ana")
            .token(INGEST)
            .json(ten_mb.clone())
            .expect(413),
        Case::new("10 MB grant", Method::POST, "/v1/admin/members/ana/badges")
            .token(ADMIN)
            .json(ten_mb.clone())
            .expect(413),
        Case::new(
            "10 MB adjustment",
            Method::POST,
            "/v1/admin/members/ana/points",
        )
        .token(ADMIN)
        .json(ten_mb.clone())
        .expect(413),
        Case::new("10 MB rules", Method::PUT, "/v1/admin/rules")
            .token(ADMIN)
            .toml(RULES.repeat(10 * MIB / RULES.len() + 1))
            .expect(413),
        Case::new("10 MB rules check", Method::POST, "/v1/admin/rules/check")
            .token(ADMIN)
            .toml(vec![0xff; 10 * MIB])
            .expect(413),
        Case::new("3 MB garbage rules", Method::PUT, "/v1/admin/rules")
            .token(ADMIN)
            .toml("[[points]]\nid = 1\n".repeat(3 * MIB / 18))
            .expect(422),
        Case::new("deep rules", Method::PUT, "/v1/admin/rules")
            .token(ADMIN)
            .toml(format!("version = {}", "[".repeat(10_000)))
            .expect(422),
        Case::new("deep inline tables", Method::POST, "/v1/admin/rules/check")
            .token(ADMIN)
            .toml(format!("version = {}", "{a = ".repeat(10_000)))
            .expect(422),
        Case::new("binary rules", Method::PUT, "/v1/admin/rules")
            .token(ADMIN)
            .toml((0..=255u8).cycle().take(4096).collect::<Vec<u8>>())
            .expect(400),
        Case::new("empty rules", Method::PUT, "/v1/admin/rules")
            .token(ADMIN)
            .toml(Vec::new())
            .expect(422),
        Case::ingest("10k [", deep("[", "]", 10_000)).expect(400),
        Case::ingest("10k {", deep("{\"a\":", "}", 10_000)).expect(400),
        Case::ingest("10k [ unclosed", "[".repeat(10_000)).expect(400),
        Case::ingest(
            "10k [ in events",
            format!("{{\"events\": {}{}", "[".repeat(10_000), "]".repeat(10_000)),
        )
        .expect(400),
        Case::ingest(
            "10k [ in target",
            format!(
                "{{\"id\": \"x\", \"target\": {}{}}}",
                "[".repeat(10_000),
                "]".repeat(10_000)
            ),
        )
        .expect(400),
        Case::new("10k [ profile", Method::PUT, "/v1/members/ana")
            .token(INGEST)
            .json(deep("[", "]", 10_000))
            .expect(400),
        Case::new("10k { grant", Method::POST, "/v1/admin/members/ana/badges")
            .token(ADMIN)
            .json(deep("{\"a\":", "}", 10_000))
            .expect(400),
        Case::new(
            "10k { adjustment",
            Method::POST,
            "/v1/admin/members/ana/points",
        )
        .token(ADMIN)
        .json(deep("{\"a\":", "}", 10_000))
        .expect(400),
        Case::new(
            "adjustment of i64::MIN",
            Method::POST,
            "/v1/admin/members/ana/points",
        )
        .token(ADMIN)
        .json(text(
            &json!({"id": "min", "points": i64::MIN, "reason": "min"}),
        ))
        .expect(422),
        Case::new(
            "adjustment past i64",
            Method::POST,
            "/v1/admin/members/ana/points",
        )
        .token(ADMIN)
        .json(
            b"{\"id\": \"big\", \"points\": 99999999999999999999999, \"reason\": \"big\"}".to_vec(),
        )
        .expect(422),
        Case::new(
            "take-back below zero",
            Method::POST,
            "/v1/admin/members/nobody/points",
        )
        .token(ADMIN)
        .json(text(
            &json!({"id": "below", "points": -5, "reason": "none to take"}),
        ))
        .expect(422),
        Case::ingest(
            "an adjustment on the ingest road",
            text(
                &json!({"id": "sneak", "kind": "points.adjusted", "actor": "ana",
                "occurred_at": NOON, "adjustment": {"points": 900, "reason": "me"}}),
            ),
        )
        .expect(422),
        Case::ingest(
            "revoking an adjustment on the ingest road",
            text(&json!({"id": "sneak-2", "kind": "x", "actor": "ana",
                "occurred_at": NOON, "revokes": "adjustment:any"})),
        )
        .expect(422),
        Case::ingest("1001 events", text(&batch_of(1001))).expect(422),
        Case::ingest("empty batch", text(&json!({"events": []}))).expect(422),
        Case::ingest("empty body", Vec::new()).expect(400),
        Case::ingest("null", "null").expect(422),
        Case::ingest("array", "[]").expect(422),
        Case::ingest("events array", text(&json!([valid]))).expect(422),
        Case::ingest("number", "1e400").expect(400),
        Case::ingest("2^64", "18446744073709551616").expect(422),
        Case::ingest("string", "\"event\"").expect(422),
        Case::ingest("events object", text(&json!({"events": {"0": valid}}))).expect(422),
        Case::ingest(
            "events and more",
            text(&json!({"events": [valid], "more": 1})),
        )
        .expect(422),
        Case::ingest(
            "events and id",
            text(&json!({"events": [valid], "id": "x"})),
        )
        .expect(422),
        Case::ingest("BOM", [b"\xef\xbb\xbf".as_slice(), &text(&valid)].concat()).expect(400),
        Case::ingest("UTF-16", {
            let s = serde_json::to_string(&valid).unwrap();
            s.encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect::<Vec<u8>>()
        })
        .expect(400),
        Case::ingest(
            "lone surrogate",
            r#"{"id": "\ud800", "kind": "answer.posted", "actor": "ana", "occurred_at": "2026-11-20T17:00:00Z"}"#,
        ),
        Case::new(
            "GET ledger limit 0",
            Method::GET,
            "/v1/members/ana/ledger?limit=0",
        )
        .token(READ)
        .expect(422),
        Case::new(
            "GET ledger limit 10000",
            Method::GET,
            "/v1/members/ana/ledger?limit=10000",
        )
        .token(READ)
        .expect(422),
    ];
    // Wrong methods on every route.
    for (method, path) in [
        ("GET", "/v1/events"),
        ("PUT", "/v1/events"),
        ("DELETE", "/v1/events"),
        ("PATCH", "/v1/events"),
        ("OPTIONS", "/v1/events"),
        ("POST", "/v1/leaderboards"),
        ("DELETE", "/v1/leaderboards/contributors"),
        ("PUT", "/v1/leaderboards/contributors/members/ana"),
        ("DELETE", "/v1/members/ana"),
        ("POST", "/v1/members/ana"),
        ("PATCH", "/v1/members/ana"),
        ("POST", "/v1/members/ana/ledger"),
        ("DELETE", "/v1/admin/rules"),
        ("POST", "/v1/admin/rules"),
        ("GET", "/v1/admin/rules/check"),
        ("PUT", "/v1/admin/rules/check"),
        ("GET", "/v1/admin/replay"),
        ("DELETE", "/v1/admin/replay"),
        ("GET", "/v1/admin/members/ana/badges"),
        ("DELETE", "/v1/admin/members/ana/badges"),
        ("POST", "/healthz"),
        ("DELETE", "/readyz"),
        ("POST", "/metrics"),
        ("PUT", "/openapi.json"),
        ("BREW", "/v1/events"),
        ("PROPFIND", "/v1/members/ana"),
    ] {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        cases.push(
            Case::new(format!("{method} {path}"), method, path)
                .token(ADMIN)
                .json(text(&valid)),
        );
    }
    cases
}

/// The generated part of the catalogue.
fn generated_cases(rng: &mut Rng, count: usize) -> Vec<Case> {
    let mut cases = Vec::with_capacity(count);
    for n in 0..count {
        let case = match rng.range(0..22) {
            // Broken JSON: a valid event or batch cut short.
            0 => {
                let body = if rng.chance(50) {
                    text(&valid_event(rng, n))
                } else {
                    text(&json!({"events": [valid_event(rng, n), valid_event(rng, n + count)]}))
                };
                let cut = rng.range(0..body.len());
                Case::ingest(format!("cut at {cut}"), &body[..cut]).expect(400)
            }
            // Broken JSON: trailing junk, or a quote made single (an odd
            // number of quotes is never JSON).
            1 => {
                let mut body = text(&valid_event(rng, n));
                if rng.chance(50) {
                    let junk = rng.pick(&["}", ",", "x", "]", "{}", "\"", "\0", ", {}"]);
                    body.extend_from_slice(junk.as_bytes());
                    Case::ingest(format!("trailing {junk:?}"), body).expect(400)
                } else {
                    let quotes: Vec<usize> = (0..body.len()).filter(|i| body[*i] == b'"').collect();
                    let i = *rng.pick(&quotes);
                    body[i] = b'\'';
                    Case::ingest(format!("single quote at {i}"), body).expect(400)
                }
            }
            // Wrong types.
            2 | 3 => {
                let field = *rng.pick(&FIELDS);
                let mut e = valid_event(rng, n);
                e[field] = wrong_type(rng, field);
                let body = if rng.chance(30) {
                    json!({"events": [valid_event(rng, n + count), e]})
                } else {
                    e
                };
                Case::ingest(format!("{field} of the wrong type"), text(&body)).expect(422)
            }
            // Huge and odd numbers, raw.
            4 => {
                let field = *rng.pick(&FIELDS);
                let literal = *rng.pick(&[
                    "1e400",
                    "-1e400",
                    "18446744073709551616",
                    "-9223372036854775809",
                    "1e-400",
                    "0.000000000000000000000000000001",
                    "123456789012345678901234567890123456789012345678901234567890",
                    "NaN",
                    "Infinity",
                    "-0",
                    "0x10",
                    "01",
                    "1.",
                ]);
                let body = with_literal(rng, n, field, literal);
                Case::ingest(format!("{field} = {literal}"), body)
            }
            // Nesting deeper than JSON parsing allows.
            5 => {
                let depth = rng.range(129..10_000);
                let open = rng.pick(&["[", "{\"a\":", "{\"events\":"]).to_owned();
                let close = if open == "[" { "]" } else { "}" };
                let body = format!("{}1{}", open.repeat(depth), close.repeat(depth));
                Case::ingest(format!("nesting {open} {depth}"), body).expect(400)
            }
            // Invalid UTF-8 inside a string.
            6 => {
                let field = *rng.pick(&["id", "kind", "actor", "actor_name", "community"]);
                let bad = *rng.pick(&[
                    b"\xff".as_slice(),
                    b"\xc3",
                    b"\xc0\xaf",
                    b"\xed\xa0\x80",
                    b"\xf8\x88\x80\x80\x80",
                    b"a\xfe\xfeb",
                    b"\xe2\x82",
                ]);
                let mut e = valid_event(rng, n);
                e[field] = json!("@@");
                let body = text(&e);
                let at = body.windows(2).position(|w| w == b"@@").unwrap();
                let body = [&body[..at], bad, &body[at + 2..]].concat();
                Case::ingest(format!("invalid UTF-8 in {field}"), body).expect(400)
            }
            // Bad timestamps.
            7 | 8 => {
                let ts = *rng.pick(&BAD_TIMESTAMPS);
                let mut e = valid_event(rng, n);
                e["occurred_at"] = json!(ts);
                Case::ingest(format!("occurred_at {ts:?}"), text(&e)).expect(422)
            }
            // Ids and texts past their bounds (200 bytes), up to 10 KB.
            9 => {
                let field = *rng.pick(&FIELDS);
                let len = if rng.chance(50) {
                    201
                } else {
                    rng.range(201..10 * 1024 + 1)
                };
                let long = rng.word(len);
                let mut e = valid_event(rng, n);
                match field {
                    "target" => e["target"] = json!({"id": long, "author": "bo"}),
                    "occurred_at" => e["target"] = json!({"id": "p", "author": long}),
                    _ => e[field] = json!(long),
                }
                Case::ingest(format!("{field} of {len} bytes"), text(&e)).expect(422)
            }
            // Empty ids and unknown fields.
            10 => {
                let mut e = valid_event(rng, n);
                if rng.chance(50) {
                    let field = *rng.pick(&["id", "kind", "actor", "community", "revokes"]);
                    e[field] = json!("");
                    Case::ingest(format!("empty {field}"), text(&e)).expect(422)
                } else {
                    let field = rng.word_in(1..12);
                    e[&field] = json!(1);
                    Case::ingest(format!("unknown field {field}"), text(&e)).expect(422)
                }
            }
            // Raw control characters inside strings.
            11 => {
                let field = *rng.pick(&["id", "kind", "actor", "occurred_at"]);
                let control = rng.range(0..32) as u8;
                let mut e = valid_event(rng, n);
                e[field] = json!("@@");
                let body = text(&e);
                let at = body.windows(2).position(|w| w == b"@@").unwrap();
                let body = [&body[..at], &[b'x', control, b'y'], &body[at + 2..]].concat();
                Case::ingest(format!("control {control:#04x} in {field}"), body).expect(400)
            }
            // A batch with one invalid event among valid ones: nothing applied.
            12 => {
                let size = rng.range(2..20);
                let bad = rng.range(0..size);
                let events: Vec<Value> = (0..size)
                    .map(|i| {
                        let mut e = valid_event(rng, n * 100 + i);
                        if i == bad {
                            let field = *rng.pick(&["id", "actor", "occurred_at", "kind"]);
                            e[field] = if rng.chance(50) { json!("") } else { json!(42) };
                        }
                        e
                    })
                    .collect();
                Case::ingest(
                    format!("batch of {size}, {bad} invalid"),
                    text(&json!({"events": events})),
                )
                .expect(422)
            }
            // Wrong or absent credentials on a request that would succeed.
            13 | 14 => {
                let mut requests = authorized_requests(rng, n);
                let i = rng.range(0..requests.len());
                let (case, token) = requests.swap_remove(i);
                let auth = wrong_auth(rng, token);
                let label = format!(
                    "{} with {:?}",
                    case.label,
                    auth.as_ref()
                        .map(|a| String::from_utf8_lossy(&a[..a.len().min(30)]).into_owned())
                );
                Case {
                    label,
                    ..case.raw_auth(auth).expect(401)
                }
            }
            // Unknown boards, periods, scopes; out-of-range numbers.
            15 | 16 => {
                let board = *rng.pick(&["contributors", "answerers"]);
                let (query, status) = match rng.range(0..12) {
                    0 => (
                        format!(
                            "period={}",
                            rng.pick(&["hour", "decade", "", "ALL_TIME", "day%00", "%FF"])
                        ),
                        422,
                    ),
                    1 => (format!("offset=-{}", rng.range(1..1000)), 422),
                    2 => (
                        format!(
                            "limit={}",
                            rng.pick(&[
                                "0",
                                "101",
                                "10000",
                                "-1",
                                "1e3",
                                "18446744073709551616",
                                "ten",
                                ""
                            ])
                        ),
                        422,
                    ),
                    3 => (
                        format!(
                            "offset={}",
                            rng.pick(&["1.5", "18446744073709551616", "0x10", "", "NaN"])
                        ),
                        422,
                    ),
                    4 => (
                        format!(
                            "at={}",
                            rng.pick(&[
                                "2026-13-01",
                                "tomorrow",
                                "2026-02-30",
                                "20261120",
                                "",
                                "99999-01-01"
                            ])
                        ),
                        422,
                    ),
                    5 => (format!("community={}", rng.word_in(201..2201)), 422),
                    6 => ("community=".to_owned(), 422),
                    7 => (format!("x-{}=1", rng.word_in(1..10)), 422),
                    8 => ("limit=1&limit=2".to_owned(), 422),
                    9 => (
                        format!("radius={}", rng.pick(&["51", "-1", "10000", "x"])),
                        422,
                    ),
                    10 => {
                        let path = format!("/v1/leaderboards/{}", rng.word_in(1..40));
                        let case = Case::new(format!("GET {path}"), Method::GET, path)
                            .token(READ)
                            .expect(404);
                        cases.push(case);
                        continue;
                    }
                    _ => {
                        let path = format!(
                            "/v1/leaderboards/{}/members/ana",
                            rng.pick(&[
                                "helpers",
                                "%E2%9C%93",
                                "%00",
                                "contributors%20",
                                "CONTRIBUTORS"
                            ])
                        );
                        let case = Case::new(format!("GET {path}"), Method::GET, path)
                            .token(READ)
                            .expect(404);
                        cases.push(case);
                        continue;
                    }
                };
                // A standing reads no offset or limit; the other parameters it shares.
                let paging = query.starts_with("offset") || query.starts_with("limit=");
                let path = if query.starts_with("radius") || (!paging && rng.chance(30)) {
                    format!("/v1/leaderboards/{board}/members/ana?{query}")
                } else {
                    format!("/v1/leaderboards/{board}?{query}")
                };
                Case::new(format!("GET {path:.80}"), Method::GET, path)
                    .token(READ)
                    .expect(status)
            }
            // Weird paths: ids past their bounds, percent-encoded junk.
            17 | 18 => {
                let long = rng.word_in(201..10 * 1024);
                let junk = *rng.pick(&[
                    "%FF%FE%FD",
                    "%C3",
                    "%ED%A0%80",
                    "%00",
                    "%2e%2e",
                    "..%2F..%2Fetc%2Fpasswd",
                    "%25%25%25",
                    "%",
                    "%Z1",
                    "%F0%9F",
                ]);
                let (method, path, body, token) = match rng.range(0..11) {
                    0 => (Method::GET, format!("/v1/members/{long}"), None, READ),
                    1 => (
                        Method::GET,
                        format!("/v1/members/{long}/ledger"),
                        None,
                        READ,
                    ),
                    2 => (
                        Method::GET,
                        format!("/v1/leaderboards/contributors/members/{long}"),
                        None,
                        READ,
                    ),
                    3 => (
                        Method::PUT,
                        format!("/v1/members/{long}"),
                        Some(json!({"name": "Long"})),
                        INGEST,
                    ),
                    4 => (
                        Method::POST,
                        format!("/v1/admin/members/{long}/badges"),
                        Some(json!({"badge": "speaker"})),
                        ADMIN,
                    ),
                    5 => (Method::GET, format!("/v1/members/{junk}"), None, READ),
                    9 => (
                        Method::GET,
                        format!("/v1/members/ana/ledger/{long}"),
                        None,
                        READ,
                    ),
                    10 => (
                        Method::POST,
                        format!("/v1/admin/members/{long}/points"),
                        Some(json!({"id": "long", "points": 5, "reason": "long"})),
                        ADMIN,
                    ),
                    6 => (
                        Method::PUT,
                        format!("/v1/members/{junk}x{junk}"),
                        Some(json!({"name": "Junk", "visibility": "nobody"})),
                        INGEST,
                    ),
                    7 => (
                        Method::GET,
                        format!("/v1/leaderboards/{junk}/members/{junk}"),
                        None,
                        READ,
                    ),
                    _ => (
                        Method::GET,
                        format!(
                            "/v1/{}",
                            rng.pick(&[
                                "events/1",
                                "members",
                                "members/",
                                "members/ana/ledger/all",
                                "leaderboards/contributors/members",
                                "admin",
                                "admin/members/ana",
                                "%2Fevents",
                                "events%2F",
                                "./events",
                                "EVENTS",
                            ])
                        ),
                        None,
                        READ,
                    ),
                };
                let mut case = Case::new(format!("{method} {path:.60}"), method, path).token(token);
                if let Some(body) = body {
                    case = case.json(text(&body));
                }
                case
            }
            // Wrong content types on a request that would succeed.
            19 => {
                let content_type = rng
                    .pick(&[
                        "",
                        "text/plain",
                        "application/x-www-form-urlencoded",
                        "application/jsonx",
                        "json",
                        "application/xml",
                        "multipart/form-data; boundary=x",
                        "text/json",
                        "application/ld+json",
                        "application/json-patch+json",
                        "application/octet-stream",
                        ";application/json",
                    ])
                    .to_string();
                let (path, method, token, body) = match rng.range(0..3) {
                    0 => (
                        "/v1/events",
                        Method::POST,
                        INGEST,
                        text(&valid_event(rng, n)),
                    ),
                    1 => (
                        "/v1/members/ana",
                        Method::PUT,
                        INGEST,
                        text(&json!({"name": "Typed"})),
                    ),
                    _ => (
                        "/v1/admin/members/ana/badges",
                        Method::POST,
                        ADMIN,
                        text(&json!({"badge": "speaker"})),
                    ),
                };
                let mut case =
                    Case::new(format!("{method} {path} as {content_type:?}"), method, path)
                        .token(token)
                        .expect(415);
                case.body = body;
                case.content_type = (!content_type.is_empty()).then_some(content_type);
                case
            }
            // Rule files that are garbage, binary or broken.
            20 => {
                let (path, method) = rng
                    .pick(&[
                        ("/v1/admin/rules", Method::PUT),
                        ("/v1/admin/rules/check", Method::POST),
                    ])
                    .clone();
                let (label, body, status) = match rng.range(0..3) {
                    0 => ("garbage", garbage_toml(rng).into_bytes(), 422),
                    1 => {
                        let mut bytes: Vec<u8> =
                            (0..rng.range(1..5000)).map(|_| rng.next() as u8).collect();
                        let i = rng.range(0..bytes.len());
                        bytes[i] = 0xff;
                        ("binary", bytes, 400)
                    }
                    _ => ("broken canonical", broken_rules(rng).into_bytes(), 422),
                };
                Case::new(format!("{method} {path} {label}"), method, path)
                    .token(ADMIN)
                    .toml(body)
                    .expect(status)
            }
            // Profile updates and badge grants that break a rule.
            _ => {
                if rng.chance(50) {
                    let body = rng
                        .pick(&[
                            json!({"name": ""}),
                            json!({"name": "n".repeat(201)}),
                            json!({"name": 7}),
                            json!({"timezone": "Mars/Olympus_Mons"}),
                            json!({"timezone": ""}),
                            json!({"timezone": "../../etc/passwd"}),
                            json!({"groups": "staff"}),
                            json!({"groups": [""]}),
                            json!({"groups": vec!["g"; 51]}),
                            json!({"groups": ["g".repeat(101)]}),
                            json!({"visibility": "invisible"}),
                            json!({"visibility": null, "points": 1000}),
                            json!({"points": 1000}),
                            json!([{"name": "x"}]),
                        ])
                        .clone();
                    Case::new(
                        "bad profile",
                        Method::PUT,
                        format!("/v1/members/{}", rng.pick(&MEMBERS)),
                    )
                    .token(INGEST)
                    .json(text(&body))
                    .expect(422)
                } else {
                    let body = rng
                        .pick(&[
                            json!({"badge": "nope"}),
                            json!({"badge": ""}),
                            json!({"badge": "mentor", "tier": "platinum"}),
                            json!({"badge": "speaker", "tier": 0}),
                            json!({"badge": "speaker", "reason": "r".repeat(501)}),
                            json!({"badge": "speaker", "extra": true}),
                            json!({"tier": "gold"}),
                            json!({"badge": ["speaker"]}),
                            json!("speaker"),
                        ])
                        .clone();
                    Case::new(
                        "bad grant",
                        Method::POST,
                        format!("/v1/admin/members/{}/badges", rng.pick(&MEMBERS)),
                    )
                    .token(ADMIN)
                    .json(text(&body))
                    .expect(422)
                }
            }
        };
        cases.push(case);
    }
    cases
}

// ---------------------------------------------------------------- running

/// Sends one case; `Err` describes what was wrong with the answer.
async fn send(client: &reqwest::Client, base: &str, case: &Case) -> Result<u16, String> {
    let mut request = client.request(case.method.clone(), format!("{base}{}", case.path));
    if let Some(auth) = &case.auth {
        let value = reqwest::header::HeaderValue::from_bytes(auth).map_err(|e| e.to_string())?;
        request = request.header(reqwest::header::AUTHORIZATION, value);
    }
    if let Some(content_type) = &case.content_type {
        let value = reqwest::header::HeaderValue::from_bytes(content_type.as_bytes())
            .map_err(|e| e.to_string())?;
        request = request.header(reqwest::header::CONTENT_TYPE, value);
    }
    if !case.body.is_empty() {
        request = request.body(case.body.clone());
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("{status} and no body: {e}"))?;
    let shown = || String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    if !(400..500).contains(&status) {
        return Err(format!("{status}: {}", shown()));
    }
    if case.expect.is_some_and(|e| e != status) {
        return Err(format!(
            "{status} instead of {:?}: {}",
            case.expect,
            shown()
        ));
    }
    let json: Value =
        serde_json::from_slice(&body).map_err(|_| format!("{status}, not JSON: {}", shown()))?;
    let error = json
        .get("error")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("{status}, no error object: {}", shown()))?;
    let text = |key: &str| error.get(key).and_then(Value::as_str).unwrap_or_default();
    if json.as_object().map(|o| o.len()) != Some(1)
        || text("code").is_empty()
        || text("message").is_empty()
        || !text("code")
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_')
    {
        return Err(format!("{status}, not the error shape: {}", shown()));
    }
    Ok(status)
}

/// Runs the cases, 8 at a time; returns the failures and how long it took.
async fn run(base: &str, cases: Vec<Case>) -> (Vec<String>, Duration) {
    let client = engagement_service::http_client()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let started = Instant::now();
    let cases = Arc::new(cases);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (client, base, cases, next) =
            (client.clone(), base.to_owned(), cases.clone(), next.clone());
        workers.spawn(async move {
            let mut failures = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(case) = cases.get(i) else {
                    return failures;
                };
                if let Err(e) = send(&client, &base, case).await {
                    failures.push(format!(
                        "#{i} {} {} [{}]: {e}",
                        case.method,
                        &case.path[..case.path.len().min(80)],
                        case.label
                    ));
                }
            }
        });
    }
    let mut failures = Vec::new();
    while let Some(done) = workers.join_next().await {
        failures.extend(done.unwrap());
    }
    failures.sort();
    (failures, started.elapsed())
}

/// Where the log's length is read from.
enum Log {
    File(PathBuf),
    Redis(Box<RedisStore>),
}

impl Log {
    async fn len(&self) -> usize {
        match self {
            Log::File(path) => std::fs::metadata(path).unwrap().len() as usize,
            Log::Redis(store) => store.export().await.unwrap().len(),
        }
    }
}

/// What hostile requests must not change: boards, a profile and its
/// ledger, the rules in force, the log.
async fn snapshot(app: &TestApp, log: &Log) -> Value {
    let get = |path: &'static str, token: &'static str| {
        let request = app
            .client
            .get(format!("{}{path}", app.base))
            .bearer_auth(token);
        async move {
            let res = request.send().await.unwrap();
            assert_eq!(res.status(), 200, "GET {path}");
            res.json::<Value>().await.unwrap()
        }
    };
    let mut profile = get("/v1/members/ana", READ).await;
    // The only part that moves with the clock.
    profile["streak"]["current"] = Value::Null;
    json!({
        "contributors": get("/v1/leaderboards/contributors?limit=100", READ).await,
        "contributors in customs": get("/v1/leaderboards/contributors?community=customs&period=month&at=2026-11-20", READ).await,
        "answerers": get("/v1/leaderboards/answerers/members/ana", READ).await,
        "ana": profile,
        "ana's ledger": get("/v1/members/ana/ledger", READ).await,
        "rules": get("/v1/admin/rules", ADMIN).await["source"],
        "log": log.len().await,
    })
}

async fn seed(app: &TestApp) {
    let mut accepted = event_on("seed-2", "answer.accepted", "bo", NOON, "post-1", "ana");
    accepted["community"] = json!("customs");
    let events = json!({"events": [
        event("seed-1", "answer.posted", "ana", NOON),
        accepted,
        event("seed-3", "webinar.hosted", "cy", NOON),
    ]});
    let res = app
        .client
        .post(format!("{}/v1/events", app.base))
        .bearer_auth(INGEST)
        .json(&events)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .put(format!("{}/v1/members/ana", app.base))
        .bearer_auth(INGEST)
        .json(&json!({"name": "Ana", "groups": ["trade"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// Seeds, snapshots, runs the catalogue, checks the answers and that
/// nothing changed, and that the service still works.
async fn survive(app: &TestApp, log: &Log, cases: Vec<Case>) -> (usize, Duration) {
    seed(app).await;
    let before = snapshot(app, log).await;
    assert!(before["log"].as_u64().unwrap() > 0);
    let count = cases.len();
    let (failures, took) = run(&app.base, cases).await;
    assert!(
        failures.is_empty(),
        "{} of {count} hostile requests were not answered with a 4xx in the error shape:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        app.client
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let after = snapshot(app, log).await;
    assert_eq!(before, after, "hostile requests changed the store");
    // And it still takes a good event.
    let res = app
        .client
        .post(format!("{}/v1/events", app.base))
        .bearer_auth(INGEST)
        .json(&event("after-1", "answer.posted", "bo", NOON))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    (count, took)
}

fn with_tokens(s: &mut engagement_service::Settings) {
    s.ingest_token = Some(INGEST.into());
    s.admin_token = Some(ADMIN.into());
    s.read_token = Some(READ.into());
}

fn catalogue(seed: u64, generated: usize) -> Vec<Case> {
    let mut rng = Rng(seed);
    let mut cases = fixed_cases();
    cases.extend(generated_cases(&mut rng, generated));
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_hostile_requests_get_4xx_errors_and_leave_the_embedded_store_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(Backend::Embedded(dir.path().to_path_buf()), with_tokens).await;
    let cases = catalogue(0x5eed, 1200);
    assert!(cases.len() >= 1000);
    let log = Log::File(dir.path().join("events.log"));
    let (count, took) = survive(&app, &log, cases).await;
    eprintln!("hostile catalogue (embedded): {count} requests in {took:.1?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_4xx_errors_and_leave_redis_unchanged() {
    let redis = RedisServer::start();
    let p = prefix("hostile");
    let app = TestApp::spawn(Backend::Redis(&redis, p.clone()), with_tokens).await;
    // A representative subset: the fixed extremes and every fourth
    // generated case of another seed.
    let fixed = fixed_cases().len();
    let cases: Vec<Case> = catalogue(0xbad5eed, 1200)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i < fixed || i % 4 == 0)
        .map(|(_, c)| c)
        .collect();
    let store = RedisStore::connect(&RedisSettings {
        url: redis.url(),
        prefix: p,
        retention_days: 90,
        pool_size: 2,
        insights: true,
        fair_play: true,
        min_replicas: 0,
    })
    .unwrap();
    let (count, took) = survive(&app, &Log::Redis(Box::new(store)), cases).await;
    eprintln!("hostile catalogue (redis): {count} requests in {took:.1?}");
    app.stop().await;
}
