//! Every Discourse fixture, byte for byte, through the mapping: which
//! action, member, target author, community and time it becomes.

use engagement_core::rules::Platform;
use engagement_core::{Event, RuleSet};

use super::super::tests::{canonical_rules, fixture, fixture_rules, received, step_of};
use super::*;

fn map_with(rules: &RuleSet, event: &str, instance: &str, body: &[u8]) -> Mapped {
    let source = rules.sources.get(Platform::Discourse);
    map(
        source,
        &Delivery {
            event,
            instance,
            body,
            received_at: received(),
        },
    )
    .unwrap()
}

/// The fixture `name` delivered as the headers file says.
fn deliver(name: &str) -> Mapped {
    let headers = String::from_utf8(fixture(&format!("discourse/{name}.headers"))).unwrap();
    let header = |h: &str| {
        headers
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{h}: ")))
            .unwrap()
            .to_owned()
    };
    let body = fixture(&format!("discourse/{name}.json"));
    map_with(
        &fixture_rules(),
        &header("X-Discourse-Event"),
        &header("X-Discourse-Instance"),
        &body,
    )
}

/// `(event id, kind, actor, actor name, target id, target author, community, time)`.
type Seen = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

fn seen(e: &Event) -> Seen {
    (
        e.id.to_string(),
        e.kind.clone(),
        (!e.actor_unknown).then(|| e.actor.to_string()),
        e.actor_name.clone(),
        e.target.as_ref().map(|t| t.id.clone()),
        e.target
            .as_ref()
            .and_then(|t| t.author.as_ref())
            .map(ToString::to_string),
        e.community.as_ref().map(ToString::to_string),
        e.occurred_at.to_string(),
    )
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

#[test]
fn ping_is_answered_without_reading_the_mapping() {
    assert_eq!(deliver("ping"), Mapped::Ping);
    let none = RuleSet::from_toml(&fixture_rules_source_without_sources()).unwrap();
    assert_eq!(
        map_with(
            &none,
            "ping",
            "https://forum.example.com",
            b"{\"ping\":\"OK\"}"
        ),
        Mapped::Ping
    );
}

fn fixture_rules_source_without_sources() -> String {
    let full = include_str!("../../../../rules/knowledge-sharing.toml");
    let cut =
        full.find("# ---------------------------------------------------------------- sources");
    full[..cut.unwrap()].to_owned()
}

#[test]
fn a_new_topic_is_a_question_asked_by_its_author() {
    let step = step_of(deliver("topic_created"));
    assert_eq!(step.kind, StepKind::Create);
    assert_eq!(
        seen(&step.event),
        (
            "discourse:ask.fedoraproject.org:topic:31739".into(),
            "question.asked".into(),
            s("discourse:awarda"),
            s("Armin Warda"),
            s("discourse:ask.fedoraproject.org:topic:31739"),
            None,
            s("fedora-ask"),
            "2023-02-13T08:39:01.337Z".into(),
        )
    );
}

#[test]
fn a_topics_first_post_earns_through_the_topic_not_twice() {
    let Mapped::Ignored(reason) = deliver("post_created") else {
        panic!("the first post must be ignored");
    };
    assert!(reason.contains("first post"), "{reason}");
}

#[test]
fn a_reply_is_an_answer_posted_by_its_author_on_the_topic() {
    let body = String::from_utf8(fixture("discourse/post_created.json")).unwrap();
    let reply = body.replacen("\"post_number\":1,", "\"post_number\":2,", 1);
    assert_ne!(reply, body);
    let step = step_of(map_with(
        &fixture_rules(),
        "post_created",
        "http://forum.a",
        reply.as_bytes(),
    ));
    assert_eq!(step.kind, StepKind::Create);
    assert_eq!(
        seen(&step.event),
        (
            "discourse:forum.a:post:14".into(),
            "answer.posted".into(),
            s("discourse:Anillc"),
            s("Anillc"),
            s("discourse:forum.a:topic:11"),
            None,
            // Category 1, "uncategorized", is not mapped and there is no default.
            None,
            "2023-01-15T19:29:25.79Z".into(),
        )
    );
}

#[test]
fn private_messages_never_earn_anything() {
    let Mapped::Ignored(reason) = deliver("post_created.private_message") else {
        panic!("a private message must be ignored");
    };
    assert_eq!(reason, "private messages earn nothing");
    let body = String::from_utf8(fixture("discourse/post_created.private_message.json")).unwrap();
    let reply = body.replacen("\"post_number\":1,", "\"post_number\":5,", 1);
    for event in ["post_created", "post_recovered", "post_destroyed"] {
        let mapped = map_with(&fixture_rules(), event, "http://forum.a", reply.as_bytes());
        assert_eq!(
            mapped,
            Mapped::Ignored("private messages earn nothing".into())
        );
    }
}

#[test]
fn a_like_credits_the_liked_posts_author_at_the_time_it_arrived() {
    let step = step_of(deliver("post_liked"));
    assert_eq!(step.kind, StepKind::Create);
    assert_eq!(
        seen(&step.event),
        (
            "discourse:discussion.fedoraproject.org:like:79590:1605".into(),
            "post.liked".into(),
            s("discourse:t0xic0der"),
            s("Akashdeep Dhar"),
            s("discourse:discussion.fedoraproject.org:post:79590"),
            s("discourse:mattdm"),
            // By slug: category 7 is not listed, "project" is.
            s("fedora-project"),
            received().to_string(),
        )
    );
}

#[test]
fn an_accepted_solution_credits_its_author_and_names_no_acceptor() {
    let step = step_of(deliver("accepted_solution"));
    assert_eq!(step.kind, StepKind::Again);
    assert!(step.event.actor_unknown);
    assert_eq!(
        seen(&step.event),
        (
            "discourse:ask.fedoraproject.org:solution:127593".into(),
            "answer.accepted".into(),
            None,
            None,
            s("discourse:ask.fedoraproject.org:post:127593"),
            s("discourse:isudoajl"),
            s("fedora-ask"),
            received().to_string(),
        )
    );
}

#[test]
fn an_unaccepted_solution_takes_back_the_acceptance() {
    let body = fixture("discourse/accepted_solution.json");
    let step = step_of(map_with(
        &fixture_rules(),
        "unaccepted_solution",
        "https://ask.fedoraproject.org",
        &body,
    ));
    assert_eq!(step.kind, StepKind::Revoke);
    assert_eq!(
        step.chain,
        "discourse:ask.fedoraproject.org:solution:127593"
    );
    assert_eq!(step.event.kind, "discourse.unaccepted_solution");
    assert_eq!(step.event.actor.as_str(), "discourse:isudoajl");
}

#[test]
fn a_destroyed_topic_takes_back_the_question() {
    let step = step_of(deliver("topic_destroyed"));
    assert_eq!(step.kind, StepKind::Revoke);
    assert_eq!(step.chain, "discourse:ask.fedoraproject.org:topic:31274");
    assert_eq!(
        (step.event.kind.as_str(), step.event.actor.as_str()),
        ("discourse.topic_destroyed", "discourse:pnietzsche")
    );
    assert_eq!(step.event.occurred_at, received());
}

#[test]
fn a_destroyed_first_post_leaves_the_take_back_to_its_topic() {
    // The fixture deletes post #1 of topic 31274; topic_destroyed follows.
    let Mapped::Ignored(reason) = deliver("post_destroyed") else {
        panic!("post #1 is the topic");
    };
    assert!(reason.contains("first post"), "{reason}");
}

#[test]
fn a_destroyed_or_recovered_reply_follows_the_replys_chain() {
    let body = String::from_utf8(fixture("discourse/post_destroyed.json")).unwrap();
    let reply = body.replacen("\"post_number\":1,", "\"post_number\":4,", 1);
    let at = "https://ask.fedoraproject.org";
    let gone = step_of(map_with(
        &fixture_rules(),
        "post_destroyed",
        at,
        reply.as_bytes(),
    ));
    let back = step_of(map_with(
        &fixture_rules(),
        "post_recovered",
        at,
        reply.as_bytes(),
    ));
    assert_eq!(gone.kind, StepKind::Revoke);
    assert_eq!(back.kind, StepKind::Restore);
    assert_eq!(gone.chain, "discourse:ask.fedoraproject.org:post:126080");
    assert_eq!(back.chain, gone.chain);
    // Given back as it was earned: the reply's kind and time.
    assert_eq!(back.event.kind, "answer.posted");
    assert_eq!(
        back.event.occurred_at.to_string(),
        "2023-01-29T01:22:59.114Z"
    );
}

#[test]
fn events_the_service_does_not_map_are_ignored_with_a_reason() {
    let Mapped::Ignored(reason) = deliver("user_badge_granted") else {
        panic!("badge grants earn nothing here");
    };
    assert_eq!(
        reason,
        "discourse event \"user_badge_granted\" earns nothing here"
    );
}

#[test]
fn an_ignored_or_unmapped_event_is_answered_as_such() {
    let rules = RuleSet::from_toml(
        &include_str!("../../../../rules/knowledge-sharing.toml")
            .replacen("ignore = []", "ignore = [\"post_liked\"]", 1)
            .replacen("post_liked        = \"post.liked\"", "", 1),
    )
    .unwrap();
    let body = fixture("discourse/post_liked.json");
    let mapped = map_with(&rules, "post_liked", "https://d.org", &body);
    assert_eq!(
        mapped,
        Mapped::Ignored("\"post_liked\" is ignored by [sources.discourse]".into())
    );
    let unmapped = RuleSet::from_toml(
        &include_str!("../../../../rules/knowledge-sharing.toml").replacen(
            "post_liked        = \"post.liked\"",
            "",
            1,
        ),
    )
    .unwrap();
    let mapped = map_with(&unmapped, "post_liked", "https://d.org", &body);
    assert_eq!(
        mapped,
        Mapped::Ignored("\"post_liked\" is not mapped in [sources.discourse.events]".into())
    );
}

#[test]
fn without_a_discourse_section_nothing_is_mapped() {
    let none = RuleSet::from_toml(&fixture_rules_source_without_sources()).unwrap();
    let body = fixture("discourse/topic_created.json");
    assert_eq!(
        map_with(&none, "topic_created", "https://a.org", &body),
        Mapped::Ignored("the rule file has no [sources.discourse] section".into())
    );
}

#[test]
fn a_malformed_payload_is_an_error_naming_the_field() {
    let rules = canonical_rules();
    let err = |body: &[u8]| {
        map(
            rules.sources.get(Platform::Discourse),
            &Delivery {
                event: "topic_created",
                instance: "https://a.org",
                body,
                received_at: received(),
            },
        )
        .unwrap_err()
        .0
    };
    assert!(err(b"{not json").starts_with("malformed JSON"));
    assert_eq!(
        err(b"{\"post\":{}}"),
        "topic: invalid type: null, expected struct Topic"
    );
    let no_author = br#"{"topic":{"id":1,"created_at":"2026-01-01T00:00:00Z"}}"#;
    assert!(err(no_author).starts_with("topic"), "{}", err(no_author));
    assert!(err(no_author).contains("created_by"), "{}", err(no_author));
}

#[test]
fn a_missing_instance_header_is_an_error() {
    let rules = canonical_rules();
    let body = fixture("discourse/topic_created.json");
    let got = map(
        rules.sources.get(Platform::Discourse),
        &Delivery {
            event: "topic_created",
            instance: "",
            body: &body,
            received_at: received(),
        },
    );
    assert!(got.unwrap_err().0.contains("X-Discourse-Instance"));
}

#[test]
fn system_users_and_whispers_earn_nothing() {
    let body = String::from_utf8(fixture("discourse/post_created.json")).unwrap();
    let whisper = body
        .replacen("\"post_number\":1,", "\"post_number\":3,", 1)
        .replacen("\"post_type\":1,", "\"post_type\":4,", 1);
    let mapped = map_with(
        &fixture_rules(),
        "post_created",
        "http://forum.a",
        whisper.as_bytes(),
    );
    assert!(matches!(mapped, Mapped::Ignored(r) if r.contains("whispers")));
    let like = String::from_utf8(fixture("discourse/post_liked.json")).unwrap();
    let by_system = like.replacen("\"id\":1605,", "\"id\":-1,", 1);
    let mapped = map_with(
        &fixture_rules(),
        "post_liked",
        "https://d.org",
        by_system.as_bytes(),
    );
    assert_eq!(mapped, Mapped::Ignored("system users earn nothing".into()));
}

#[test]
fn every_event_the_rule_file_may_name_is_handled_here() {
    // The rule file's lists and this adapter must agree, or a mapping
    // could be accepted and never used.
    let rules = fixture_rules();
    let body = fixture("discourse/accepted_solution.json");
    for event in Platform::Discourse
        .earning()
        .iter()
        .chain(Platform::Discourse.following())
    {
        let delivery = Delivery {
            event,
            instance: "https://a.org",
            body: &body,
            received_at: received(),
        };
        // A body of another shape is an error; what matters is that the
        // event is not turned away as unknown.
        if let Ok(Mapped::Ignored(reason)) = map(rules.sources.get(Platform::Discourse), &delivery)
        {
            assert!(!reason.contains("earns nothing here"), "{event}: {reason}");
        }
    }
}
