//! Signatures (against the platforms' own test vectors) and how a step
//! picks its event id from the object's history.

use engagement_core::RuleSet;
use engagement_core::engine::Effects;

use super::*;

const CANONICAL: &str = include_str!("../../../rules/knowledge-sharing.toml");

/// The canonical rules with communities mapped for the fixtures' forums
/// and repository, and GitHub issue comments and reviews counted.
pub(super) fn fixture_rules() -> RuleSet {
    let source = CANONICAL
        .replacen(
            "# \"12\" = \"rules-of-origin\"",
            "\"97\" = \"fedora-ask\"\n\"project\" = \"fedora-project\"",
            1,
        )
        .replacen(
            "# \"example-org/rules-of-origin\" = \"rules-of-origin\"",
            "\"Codertocat/Hello-World\" = \"hello\"\n\"Codertocat/Hello-World/q-a\" = \"hello-qa\"",
            1,
        )
        .replacen(
            "ignore = [\"issue_comment.created\", \"pull_request_review.submitted\"]",
            "ignore = []",
            1,
        )
        .replacen(
            "\"discussion.created\"         = \"question.asked\"",
            "\"discussion.created\" = \"question.asked\"\n\"issue_comment.created\" = \"answer.posted\"\n\"pull_request_review.submitted\" = \"resource.curated\"",
            1,
        );
    RuleSet::from_toml(&source).unwrap()
}

pub(super) fn canonical_rules() -> RuleSet {
    RuleSet::from_toml(CANONICAL).unwrap()
}

/// When the tests say a delivery arrived.
pub(super) fn received() -> jiff::Timestamp {
    "2026-11-20T17:00:00Z".parse().unwrap()
}

/// A fixture body, byte for byte.
pub(super) fn fixture(path: &str) -> Vec<u8> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/webhooks/");
    std::fs::read(format!("{dir}{path}")).unwrap()
}

/// The step a mapping made, or a panic naming what it made instead.
pub(super) fn step_of(mapped: Mapped) -> Step {
    match mapped {
        Mapped::Step(step) => *step,
        other => panic!("expected a step, got {other:?}"),
    }
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

fn check(secret: Option<&str>, header: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
    verify(secret, "ENGAGEMENT_X_SECRET", "X-Signature", header, body)
}

#[test]
fn discourses_own_test_vector_verifies() {
    let header = "sha256=162f107f6b5022353274eb1a7197885cfd35744d8d08e5bcea025d309386b7d6";
    let body = fixture("discourse/ping.json");
    assert_eq!(body, br#"{"ping":"OK"}"#);
    assert_eq!(sign("my_lovely_secret_for_web_hook", &body), header);
    assert_eq!(
        check(Some("my_lovely_secret_for_web_hook"), Some(header), &body),
        Ok(())
    );
}

#[test]
fn githubs_documented_test_vector_verifies() {
    let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert_eq!(
        check(
            Some("It's a Secret to Everybody"),
            Some(header),
            b"Hello, World!"
        ),
        Ok(())
    );
}

#[test]
fn a_tampered_body_or_another_secret_does_not_verify() {
    let header = sign("the right secret", b"{\"a\":1}");
    assert_eq!(
        check(Some("the right secret"), Some(&header), b"{\"a\":2}"),
        Err(SignatureError::Mismatch("X-Signature"))
    );
    assert_eq!(
        check(Some("another secret"), Some(&header), b"{\"a\":1}"),
        Err(SignatureError::Mismatch("X-Signature"))
    );
}

#[test]
fn a_missing_secret_header_or_digest_is_refused_with_what_is_missing() {
    let body = b"{}";
    assert_eq!(
        check(None, Some("sha256=00"), body),
        Err(SignatureError::NoSecret("ENGAGEMENT_X_SECRET"))
    );
    assert_eq!(
        check(Some(""), Some("sha256=00"), body),
        Err(SignatureError::NoSecret("ENGAGEMENT_X_SECRET"))
    );
    assert_eq!(
        check(Some("s"), None, body),
        Err(SignatureError::Missing("X-Signature"))
    );
    for bad in ["sha1=abcd", "sha256=xyz", "sha256=abc", "abcd"] {
        assert_eq!(
            check(Some("s"), Some(bad), body),
            Err(SignatureError::Malformed("X-Signature")),
            "{bad}"
        );
    }
    let message = SignatureError::NoSecret("ENGAGEMENT_X_SECRET").to_string();
    assert_eq!(
        message,
        "no webhook secret is configured for this platform: set ENGAGEMENT_X_SECRET"
    );
}

#[test]
fn a_truncated_digest_does_not_verify() {
    let header = sign("s", b"{}");
    let short = &header[..header.len() - 2];
    assert_eq!(
        check(Some("s"), Some(short), b"{}"),
        Err(SignatureError::Mismatch("X-Signature"))
    );
}

// ------------------------------------------------------------- generations

fn a_step(kind: StepKind) -> Step {
    let event: Event = serde_json::from_value(serde_json::json!({
        "id": "forum:solution:9", "kind": "answer.accepted", "actor": "forum",
        "occurred_at": "2026-11-20T17:00:00Z",
    }))
    .unwrap();
    Step {
        kind,
        chain: "forum:solution:9".into(),
        event,
    }
}

fn recorded(revoked: bool) -> Option<Outcome> {
    Some(Outcome::recorded(
        1,
        Some(Effects {
            occurred_at: received(),
            community: None,
            awards: Default::default(),
            counted: None,
            slots: Box::default(),
            notes: Box::default(),
            target: None,
            revoked,
        }),
    ))
}

fn ids(step: StepKind, history: &[Option<Outcome>]) -> Result<(String, Option<String>), String> {
    a_step(step)
        .settle(history)
        .map(|e| (e.id.to_string(), e.revokes.map(|r| r.to_string())))
}

fn id(s: &str) -> Result<(String, Option<String>), String> {
    Ok((s.to_owned(), None))
}

#[test]
fn a_creation_always_has_the_chains_first_id() {
    assert_eq!(ids(StepKind::Create, &[None]), id("forum:solution:9"));
    let taken_back = [recorded(true), recorded(false), None];
    assert_eq!(ids(StepKind::Create, &taken_back), id("forum:solution:9"));
}

#[test]
fn accepting_again_earns_only_after_a_take_back() {
    assert_eq!(ids(StepKind::Again, &[None]), id("forum:solution:9"));
    // Still accepted: the same id, so a repeated delivery is a duplicate.
    assert_eq!(
        ids(StepKind::Again, &[recorded(false), None]),
        id("forum:solution:9")
    );
    assert_eq!(
        ids(StepKind::Again, &[recorded(true), None]),
        id("forum:solution:9#2")
    );
    assert_eq!(
        ids(StepKind::Again, &[recorded(true), recorded(false), None]),
        id("forum:solution:9#2")
    );
}

#[test]
fn a_recovery_gives_back_only_what_was_taken() {
    assert!(
        ids(StepKind::Restore, &[None])
            .unwrap_err()
            .contains("nothing was taken back")
    );
    assert_eq!(
        ids(StepKind::Restore, &[recorded(false), None]),
        id("forum:solution:9")
    );
    assert_eq!(
        ids(StepKind::Restore, &[recorded(true), None]),
        id("forum:solution:9#2")
    );
}

#[test]
fn a_take_back_revokes_the_current_generation() {
    assert!(
        ids(StepKind::Revoke, &[None])
            .unwrap_err()
            .contains("nothing to take back")
    );
    assert_eq!(
        ids(StepKind::Revoke, &[recorded(false), None]),
        Ok((
            "forum:solution:9:revoked".to_owned(),
            Some("forum:solution:9".to_owned())
        ))
    );
    // Already taken back: the same revocation id again, a duplicate.
    assert_eq!(
        ids(StepKind::Revoke, &[recorded(true), recorded(true), None]),
        Ok((
            "forum:solution:9#2:revoked".to_owned(),
            Some("forum:solution:9#2".to_owned())
        ))
    );
}

#[test]
fn a_chain_stops_after_its_last_generation() {
    let full = vec![recorded(true); MAX_GENERATIONS];
    assert!(
        ids(StepKind::Again, &full)
            .unwrap_err()
            .contains("more than 32 times")
    );
}

#[test]
fn object_ids_that_leave_no_room_for_suffixes_are_refused() {
    assert!(chain(&["discourse", &"x".repeat(180), "post", "1"]).is_err());
    assert_eq!(
        chain(&["discourse", "forum.a", "post", "1"]),
        Ok("discourse:forum.a:post:1".to_owned())
    );
}
