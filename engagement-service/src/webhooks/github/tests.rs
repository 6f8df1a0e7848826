//! Every GitHub fixture, byte for byte, through the mapping: which action,
//! member, target author, community and time it becomes.

use engagement_core::RuleSet;
use engagement_core::rules::Platform;

use super::super::tests::{canonical_rules, fixture, fixture_rules, received, step_of};
use super::*;
use crate::webhooks::Step;

fn map_with(rules: &RuleSet, event: &str, body: &[u8]) -> Result<Mapped, MapError> {
    map(
        rules.sources.get(Platform::GitHub),
        &Delivery {
            event,
            body,
            received_at: received(),
        },
    )
}

/// The fixture `name` (`discussion.created`) delivered as its headers say.
fn deliver(rules: &RuleSet, name: &str) -> Mapped {
    let headers = String::from_utf8(fixture(&format!("github/{name}.headers"))).unwrap();
    let event = headers
        .lines()
        .find_map(|l| l.strip_prefix("X-GitHub-Event: "))
        .unwrap();
    map_with(rules, event, &fixture(&format!("github/{name}.json"))).unwrap()
}

/// `(chain, step, kind, actor, target id, target author, community, time)`.
fn seen(step: &Step) -> [Option<String>; 8] {
    let e = &step.event;
    [
        Some(step.chain.clone()),
        Some(format!("{:?}", step.kind)),
        Some(e.kind.clone()),
        (!e.actor_unknown).then(|| e.actor.to_string()),
        e.target.as_ref().map(|t| t.id.clone()),
        e.target
            .as_ref()
            .and_then(|t| t.author.as_ref())
            .map(ToString::to_string),
        e.community.as_ref().map(ToString::to_string),
        Some(e.occurred_at.to_string()),
    ]
}

fn all(v: [&str; 8]) -> [Option<String>; 8] {
    v.map(|s| (!s.is_empty()).then(|| s.to_owned()))
}

#[test]
fn a_new_discussion_is_a_question_asked_by_its_author() {
    let step = step_of(deliver(&fixture_rules(), "discussion.created"));
    assert_eq!(
        seen(&step),
        all([
            "github:discussion:3299614",
            "Create",
            "question.asked",
            "github:Codertocat",
            "github:discussion:3299614",
            "",
            // Category "general" is not listed; the repository is.
            "hello",
            "2021-03-30T20:09:52Z",
        ])
    );
    assert_eq!(step.event.actor_name, None);
}

#[test]
fn a_chosen_answer_credits_its_author_from_the_chooser_at_the_time_chosen() {
    let step = step_of(deliver(&fixture_rules(), "discussion.answered"));
    assert_eq!(
        seen(&step),
        all([
            "github:answer:550561",
            "Again",
            "answer.accepted",
            "github:Codertocat",
            "github:discussion_comment:550561",
            "github:dan2wik",
            "hello-qa",
            // 19:17:18-04:00, the offset the payload uses.
            "2021-03-30T23:17:18Z",
        ])
    );
}

#[test]
fn a_discussion_comment_is_an_answer_received_by_the_discussions_author() {
    let step = step_of(deliver(&fixture_rules(), "discussion_comment.created"));
    assert_eq!(
        seen(&step),
        all([
            "github:discussion_comment:550062",
            "Create",
            "answer.posted",
            "github:Codertocat",
            "github:discussion:3299614",
            "github:Codertocat",
            "hello",
            "2021-03-30T20:21:30Z",
        ])
    );
}

#[test]
fn an_issue_comment_counts_when_the_rule_file_maps_it() {
    let step = step_of(deliver(&fixture_rules(), "issue_comment.created"));
    assert_eq!(
        seen(&step),
        all([
            "github:issue_comment:492700400",
            "Create",
            "answer.posted",
            "github:Codertocat",
            "github:issue:444500041",
            "github:Codertocat",
            "hello",
            "2019-05-15T15:20:21Z",
        ])
    );
}

#[test]
fn a_pull_request_review_counts_when_the_rule_file_maps_it() {
    let step = step_of(deliver(&fixture_rules(), "pull_request_review.submitted"));
    assert_eq!(
        seen(&step),
        all([
            "github:review:237895671",
            "Create",
            "resource.curated",
            "github:Codertocat",
            "github:pull_request:279147437",
            "github:Codertocat",
            "hello",
            "2019-05-15T15:20:38Z",
        ])
    );
}

#[test]
fn the_canonical_rules_ignore_issue_comments_and_reviews() {
    let rules = canonical_rules();
    for (name, event) in [
        ("issue_comment.created", "issue_comment.created"),
        (
            "pull_request_review.submitted",
            "pull_request_review.submitted",
        ),
    ] {
        assert_eq!(
            deliver(&rules, name),
            Mapped::Ignored(format!("\"{event}\" is ignored by [sources.github]"))
        );
    }
}

#[test]
fn deleting_or_unmarking_takes_back_what_the_object_earned() {
    let rules = fixture_rules();
    let comment = String::from_utf8(fixture("github/discussion_comment.created.json")).unwrap();
    let deleted = comment.replacen("\"action\": \"created\"", "\"action\": \"deleted\"", 1);
    let step = step_of(map_with(&rules, "discussion_comment", deleted.as_bytes()).unwrap());
    assert_eq!(
        (step.kind, step.chain.as_str(), step.event.kind.as_str()),
        (
            StepKind::Revoke,
            "github:discussion_comment:550062",
            "github.discussion_comment.deleted"
        )
    );
    let answered = String::from_utf8(fixture("github/discussion.answered.json")).unwrap();
    let unanswered = answered
        .replacen("\"action\": \"answered\"", "\"action\": \"unanswered\"", 1)
        .replacen("\"answer\": {", "\"old_answer\": {", 1);
    let step = step_of(map_with(&rules, "discussion", unanswered.as_bytes()).unwrap());
    assert_eq!(
        (step.kind, step.chain.as_str(), step.event.actor.as_str()),
        (StepKind::Revoke, "github:answer:550561", "github:dan2wik")
    );
    let created = String::from_utf8(fixture("github/discussion.created.json")).unwrap();
    let gone = created.replacen("\"action\": \"created\"", "\"action\": \"deleted\"", 1);
    let step = step_of(map_with(&rules, "discussion", gone.as_bytes()).unwrap());
    assert_eq!(
        (step.kind, step.chain.as_str()),
        (StepKind::Revoke, "github:discussion:3299614")
    );
}

#[test]
fn bots_earn_nothing() {
    let comment = String::from_utf8(fixture("github/discussion_comment.created.json")).unwrap();
    let by_bot = comment.replacen("\"type\": \"User\"", "\"type\": \"Bot\"", 1);
    assert_ne!(by_bot, comment);
    let mapped = map_with(&fixture_rules(), "discussion_comment", by_bot.as_bytes()).unwrap();
    assert_eq!(mapped, Mapped::Ignored("bots earn nothing".into()));
}

#[test]
fn ping_and_unknown_events_are_answered_without_an_event() {
    let rules = fixture_rules();
    let ping = br#"{"zen":"Design for failure.","hook_id":1}"#;
    assert_eq!(map_with(&rules, "ping", ping).unwrap(), Mapped::Ping);
    let push = br#"{"ref":"refs/heads/main"}"#;
    assert_eq!(
        map_with(&rules, "push", push).unwrap(),
        Mapped::Ignored("github event \"push\" earns nothing here".into())
    );
    let edited = String::from_utf8(fixture("github/discussion.created.json"))
        .unwrap()
        .replacen("\"action\": \"created\"", "\"action\": \"edited\"", 1);
    assert_eq!(
        map_with(&rules, "discussion", edited.as_bytes()).unwrap(),
        Mapped::Ignored("github event \"discussion.edited\" earns nothing here".into())
    );
}

#[test]
fn a_malformed_payload_is_an_error_naming_the_field() {
    let rules = fixture_rules();
    let err = |body: &[u8]| map_with(&rules, "discussion", body).unwrap_err().0;
    assert!(err(b"[1,").starts_with("malformed JSON"));
    let no_discussion = br#"{"action":"created","repository":{"full_name":"a/b"}}"#;
    assert_eq!(
        err(no_discussion),
        "discussion: invalid type: null, expected struct Discussion"
    );
    let bad_time = String::from_utf8(fixture("github/discussion.created.json"))
        .unwrap()
        .replacen("\"2021-03-30T20:09:52Z\"", "\"yesterday\"", 1);
    assert!(err(bad_time.as_bytes()).starts_with("discussion.created_at"));
}
