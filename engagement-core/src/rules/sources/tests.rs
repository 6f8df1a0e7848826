//! The `[sources.*]` and `[identities]` sections: what the canonical file
//! maps, and where each kind of mistake is reported.

use super::super::tests::{CANONICAL, assert_only_error, at, edit, errors};
use super::*;
use crate::RuleSet;

fn canonical() -> RuleSet {
    RuleSet::from_toml(CANONICAL).unwrap()
}

#[test]
fn the_canonical_file_maps_forum_events_to_listed_action_kinds() {
    let rules = canonical();
    let discourse = rules.sources.get(Platform::Discourse).unwrap();
    let mapped: Vec<Option<&str>> = Platform::Discourse
        .earning()
        .iter()
        .map(|e| discourse.kind(e))
        .collect();
    assert_eq!(
        mapped,
        [
            Some("question.asked"),
            Some("answer.posted"),
            Some("post.liked"),
            Some("answer.accepted"),
        ]
    );
    assert_eq!(discourse.kind("post_destroyed"), None);
    assert!(!discourse.ignores("post_destroyed"));

    let github = rules.sources.get(Platform::GitHub).unwrap();
    assert_eq!(
        github.kind("discussion_comment.created"),
        Some("answer.posted")
    );
    assert_eq!(github.kind("issue_comment.created"), None);
    assert!(github.ignores("issue_comment.created"));
    assert!(github.ignores("pull_request_review.submitted"));
    assert_eq!(rules.summary().sources, ["discourse", "github"]);
    assert!(rules.identities.is_empty());
}

#[test]
fn every_mapped_kind_of_the_canonical_file_is_a_listed_action() {
    let rules = canonical();
    for platform in Platform::ALL {
        let map = rules.sources.get(platform).unwrap();
        for event in platform.earning() {
            if let Some(kind) = map.kind(event) {
                assert!(rules.action(kind).is_some(), "{event} -> {kind}");
            }
        }
    }
}

#[test]
fn a_mapping_to_a_misspelt_kind_is_refused_with_a_did_you_mean_hint() {
    let src = edit(
        "post_liked        = \"post.liked\"",
        "post_liked        = \"post.likd\"",
    );
    assert_only_error(
        &src,
        at(&src, "post_liked        = ^\"post.likd\""),
        &[
            "unknown action kind \"post.likd\"",
            "expected one listed in [actions]",
            "(did you mean \"post.liked\"?)",
        ],
    );
}

#[test]
fn an_unknown_platform_event_is_refused_with_the_mappable_ones_and_a_hint() {
    let src = edit("post_created      = ", "post_creatd      = ");
    assert_only_error(
        &src,
        at(&src, "post_creatd"),
        &[
            "unknown discourse event \"post_creatd\"",
            "expected one of \"topic_created\", \"post_created\"",
            "(did you mean \"post_created\"?)",
        ],
    );
}

#[test]
fn an_event_that_follows_another_cannot_be_mapped_but_can_be_ignored() {
    let src = edit(
        "\"discussion.answered\"        = \"answer.accepted\"",
        "\"discussion.unanswered\"      = \"answer.accepted\"",
    );
    assert_only_error(
        &src,
        at(&src, "\"discussion.unanswered\""),
        &[
            "github event \"discussion.unanswered\" cannot be mapped",
            "list it in `ignore`",
        ],
    );
    let ignored = edit(
        "ignore = [\"issue_comment.created\"",
        "ignore = [\"discussion.unanswered\", \"issue_comment.created\"",
    );
    let rules = RuleSet::from_toml(&ignored).unwrap();
    assert!(
        rules
            .sources
            .get(Platform::GitHub)
            .unwrap()
            .ignores("discussion.unanswered")
    );
}

#[test]
fn an_event_both_mapped_and_ignored_is_refused_at_the_ignore_entry() {
    let src = edit("ignore = []", "ignore = [\"post_liked\"]");
    assert_only_error(
        &src,
        at(&src, "ignore = [^\"post_liked\"]"),
        &["\"post_liked\" is both mapped in events and ignored"],
    );
}

#[test]
fn an_ignored_event_the_adapter_does_not_know_is_refused() {
    let src = edit("ignore = []", "ignore = [\"post_destroy\"]");
    assert_only_error(
        &src,
        at(&src, "^\"post_destroy\""),
        &[
            "unknown discourse event \"post_destroy\"",
            "(did you mean \"post_destroyed\"?)",
        ],
    );
}

#[test]
fn a_platform_the_service_does_not_know_is_refused_at_its_name() {
    let src = edit("[sources.github]\n", "[sources.slack]\n");
    let errors = errors(&src);
    let first = &errors[0];
    assert_eq!((first.line, first.column), at(&src, "[sources.^slack]"));
    assert!(first.message.contains("unknown field `slack`"), "{first}");
    assert!(first.message.contains("`discourse`"), "{first}");
}

#[test]
fn communities_come_from_the_most_specific_key_listed_then_the_default() {
    let src = edit(
        "# \"12\" = \"rules-of-origin\"",
        "\"12\" = \"rules-of-origin\"\n\"customs\" = \"trade-facilitation\"",
    );
    let src = src.replacen(
        "# default_community = \"forum\"",
        "default_community = \"forum\"",
        1,
    );
    let rules = RuleSet::from_toml(&src).unwrap();
    let discourse = rules.sources.get(Platform::Discourse).unwrap();
    let community = |keys: &[&str]| {
        discourse
            .community(keys.iter().copied())
            .map(|c| c.as_str())
    };
    assert_eq!(community(&["12", "customs"]), Some("rules-of-origin"));
    assert_eq!(community(&["7", "customs"]), Some("trade-facilitation"));
    assert_eq!(community(&["7", "other"]), Some("forum"));
    let github = rules.sources.get(Platform::GitHub).unwrap();
    assert_eq!(github.community(["org/repo"]), None);
}

#[test]
fn a_github_community_key_must_name_a_repository() {
    let src = edit(
        "# \"example-org/rules-of-origin\" = \"rules-of-origin\"",
        "\"rules-of-origin\" = \"rules-of-origin\"",
    );
    assert_only_error(
        &src,
        at(&src, "^\"rules-of-origin\" = \"rules-of-origin\""),
        &["expected \"owner/repo\" or \"owner/repo/category-slug\""],
    );
}

#[test]
fn an_empty_community_id_is_refused_at_the_value() {
    let src = edit(
        "# default_community = \"forum\"",
        "default_community = \"\"",
    );
    assert_only_error(
        &src,
        at(&src, "default_community = ^\"\""),
        &["community id must not be empty"],
    );
}

#[test]
fn identities_link_platform_ids_to_one_member() {
    let src = edit(
        "# [identities]\n# \"ana\" = [\"discourse:ana_souza\", \"github:anasouza\"]",
        "[identities]\n\"ana\" = [\"discourse:ana_souza\", \"github:anasouza\"]",
    );
    let rules = RuleSet::from_toml(&src).unwrap();
    let member = |id: &str| rules.identities.member(id).map(MemberId::as_str);
    assert_eq!(member("discourse:ana_souza"), Some("ana"));
    assert_eq!(member("github:anasouza"), Some("ana"));
    assert_eq!(member("github:bo"), None);
}

#[test]
fn an_identity_linked_to_two_members_is_refused_at_its_second_use() {
    let src = edit(
        "# [identities]\n# \"ana\" = [\"discourse:ana_souza\", \"github:anasouza\"]",
        "[identities]\n\"ana\" = [\"github:anasouza\"]\n\"bo\" = [\"github:anasouza\"]",
    );
    assert_only_error(
        &src,
        at(&src, "\"bo\" = [^\"github:anasouza\"]"),
        &["\"github:anasouza\" is already linked to member \"ana\""],
    );
}

#[test]
fn an_identity_that_has_identities_of_its_own_is_refused() {
    let src = edit(
        "# [identities]\n# \"ana\" = [\"discourse:ana_souza\", \"github:anasouza\"]",
        "[identities]\n\"ana\" = [\"bo\"]\n\"bo\" = [\"github:bo\"]",
    );
    assert_only_error(
        &src,
        at(&src, "\"ana\" = [^\"bo\"]"),
        &["\"bo\" has identities of its own: link those to \"ana\" directly"],
    );
}

#[test]
fn a_file_without_sources_maps_no_platform() {
    let cut = CANONICAL
        .find("# ---------------------------------------------------------------- sources")
        .unwrap();
    let rules = RuleSet::from_toml(&CANONICAL[..cut]).unwrap();
    assert!(rules.sources.get(Platform::Discourse).is_none());
    assert!(rules.sources.get(Platform::GitHub).is_none());
    assert!(rules.summary().sources.is_empty());
}
