#![allow(clippy::unwrap_used)]

use super::*;
use crate::Memory;
use crate::event::Event;
use crate::rules::tests::{CANONICAL, at, errors};
use crate::state::Visibility;

const FEED: &str = r#"
[[notify]]
id = "community-feed"
url = "https://hooks.example.org/engagement"
secret_env = "ENGAGEMENT_NOTIFY_FEED_SECRET"
on = ["badge.granted", "level.reached", "rank.entered"]
rank = { board = "contributors", period = "week", top = 10 }

[[notify]]
id = "dm"
url = "https://dm.example.org/hook"
format = "slack"
private = true
on = ["badge.granted"]

[[notify]]
id = "forum-badges"
format = "discourse"
url = "https://forum.example.org/"
api_key_env = "ENGAGEMENT_DISCOURSE_API_KEY"
api_username = "system"
on = ["badge.granted"]
[notify.badges]
"mentor:gold" = 104
"first-share" = 110
"#;

fn rules() -> RuleSet {
    RuleSet::from_toml(&format!("{CANONICAL}{FEED}")).unwrap()
}

fn share(id: &str, actor: &str) -> Event {
    serde_json::from_value(serde_json::json!({
        "id": id, "kind": "resource.shared", "actor": actor,
        "occurred_at": "2026-11-20T14:03:00Z", "community": "customs"
    }))
    .unwrap()
}

fn profile(recognition: Recognition, visibility: Visibility) -> Profile {
    Profile {
        name: Some("Ana Souza".to_owned()),
        recognition,
        visibility,
        ..Profile::default()
    }
}

#[test]
fn channels_are_read_as_written() {
    let rules = rules();
    let [feed, dm, forum] = &rules.notify[..] else {
        panic!("three channels: {:?}", rules.notify);
    };
    assert_eq!(feed.format, Format::Standard);
    assert_eq!(
        feed.secret_env.as_deref(),
        Some("ENGAGEMENT_NOTIFY_FEED_SECRET")
    );
    assert_eq!(
        feed.rank,
        Some(RankWatch {
            board: "contributors".to_owned(),
            period: Period::Week,
            top: 10
        })
    );
    assert!(dm.private && dm.format == Format::Slack && !dm.allow_private);
    assert_eq!(forum.url, "https://forum.example.org");
    assert_eq!(forum.discourse_badge("mentor", Some("gold")), Some(104));
    assert_eq!(forum.discourse_badge("mentor", Some("silver")), None);
    assert_eq!(forum.discourse_badge("first-share", None), Some(110));
}

#[test]
fn a_first_share_tells_every_listening_channel_once_with_a_stable_id() {
    let rules = rules();
    let mut memory = Memory::default();
    let outcome = memory.ingest(&rules, &share("e1", "ana"));
    let notices = notices(&rules, "e1", &outcome);
    let badge = notices
        .iter()
        .find(|n| matches!(&n.what, What::Badge { badge, .. } if badge == "first-share"))
        .unwrap();
    assert_eq!(badge.member.as_str(), "ana");
    assert_eq!(
        badge.community.as_ref().map(|c| c.as_str()),
        Some("customs")
    );
    let public = profile(Recognition::Public, Visibility::Public);
    let sent = notifications(&rules, badge, &public);
    let channels: Vec<&str> = sent.iter().map(|n| n.channel.as_str()).collect();
    assert_eq!(channels, ["community-feed", "dm", "forum-badges"]);
    assert!(
        sent.iter()
            .all(|n| n.name.as_deref() == Some("Ana Souza") && n.named)
    );
    let again = notifications(&rules, badge, &public);
    assert_eq!(sent, again, "ids are stable");
    let ids: std::collections::HashSet<&str> = sent.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids.len(), 3, "one id per channel");
    assert!(
        sent.iter()
            .all(|n| n.id.starts_with("msg_") && n.id.len() == 30)
    );
}

#[test]
fn members_are_told_only_the_way_they_chose() {
    let rules = rules();
    let mut memory = Memory::default();
    let outcome = memory.ingest(&rules, &share("e1", "ana"));
    let notice = &notices(&rules, "e1", &outcome)[0];
    let to = |recognition, visibility| {
        let sent = notifications(&rules, notice, &profile(recognition, visibility));
        sent.into_iter()
            .map(|n| (n.channel, n.named, n.name))
            .collect::<Vec<_>>()
    };
    assert_eq!(to(Recognition::None, Visibility::Public), []);
    let private = to(Recognition::Private, Visibility::Public);
    assert_eq!(
        private,
        [("dm".to_owned(), true, Some("Ana Souza".to_owned()))]
    );
    // Anonymous: named nowhere, shown on a shared channel without id, no
    // forum badge; a private channel has the id it needs to reach them.
    let anonymous = to(Recognition::Public, Visibility::Anonymous);
    assert_eq!(
        anonymous,
        [
            ("community-feed".to_owned(), false, None),
            ("dm".to_owned(), true, None)
        ]
    );
    // Hidden: privately only.
    let hidden = to(Recognition::Public, Visibility::Hidden);
    assert_eq!(
        hidden,
        [("dm".to_owned(), true, Some("Ana Souza".to_owned()))]
    );
}

#[test]
fn recognition_defaults_to_public_and_is_left_out_of_stored_profiles_then() {
    let p: Profile = serde_json::from_str(r#"{"name":"Ana"}"#).unwrap();
    assert_eq!(p.recognition, Recognition::Public);
    assert_eq!(
        serde_json::to_string(&p).unwrap(),
        r#"{"name":"Ana","visibility":"public"}"#
    );
    let p: Profile = serde_json::from_str(r#"{"recognition":"none"}"#).unwrap();
    assert_eq!(p.recognition, Recognition::None);
}

#[test]
fn bad_channels_point_at_their_values() {
    let with = |body: &str| format!("{CANONICAL}\n{body}");
    let cases = [
        (
            "[[notify]]\nid = \"f\"\nurl = \"https://x.org\"\nformat = \"teams\"\nsecret_env = \"S\"\non = [\"badge.granted\"]\n",
            "\"teams\"",
            "unknown format",
        ),
        (
            "[[notify]]\nid = \"f\"\nurl = \"https://x.org\"\nsecret_env = \"S\"\non = [\"badge.lost\"]\n",
            "\"badge.lost\"",
            "unknown notification",
        ),
        (
            "[[notify]]\nid = \"f\"\nurl = \"https://x.org\"\nsecret_env = \"S\"\non = [\"rank.entered\"]\nrank = { board = \"contributors\", period = \"decade\", top = 10 }\n",
            "\"decade\"",
            "keeps no period",
        ),
        (
            "[[notify]]\nid = \"f\"\nurl = \"https://x.org\"\nsecret_env = \"S\"\non = [\"rank.entered\"]\nrank = { board = \"nope\", period = \"week\", top = 10 }\n",
            "\"nope\"",
            "unknown leaderboard",
        ),
        (
            "[[notify]]\nid = \"f\"\nurl = \"https://x.org\"\nsecret_env = \"S\"\non = [\"rank.entered\"]\nrank = { board = \"contributors\", period = \"week\", top = 0 }\n",
            "0 }\n",
            "top must be",
        ),
        (
            "[[notify]]\nid = \"f\"\nurl = \"https://x.org\"\nsecret_env = \"S\"\non = [\"rank.entered\"]\n",
            "[\"rank.entered\"]",
            "needs rank =",
        ),
        (
            "[[notify]]\nid = \"f\"\nurl = \"https://x.org\"\nsecret_env = \"1BAD\"\non = [\"badge.granted\"]\n",
            "\"1BAD\"",
            "environment variable",
        ),
        (
            "[[notify]]\nid = \"f\"\nurl = \"x.org\"\nsecret_env = \"S\"\non = [\"badge.granted\"]\n",
            "\"x.org\"",
            "url must be",
        ),
        (
            "[[notify]]\nid = \"f\"\nurl = \"https://x.org\"\nformat = \"discourse\"\napi_key_env = \"K\"\napi_username = \"system\"\non = [\"badge.granted\"]\n[notify.badges]\n\"mentor:platinum\" = 3\n",
            "\"mentor:platinum\"",
            "no badge or badge:tier",
        ),
    ];
    for (body, needle, message) in cases {
        let src = with(body);
        let errors = errors(&src);
        assert_eq!(errors.len(), 1, "{body}: {errors:?}");
        let e = &errors[0];
        assert!(e.message.contains(message), "{body}: {}", e.message);
        assert_eq!(
            (e.line, e.column),
            at(&src, needle),
            "{body}: {}",
            e.message
        );
    }
}

#[test]
fn a_standard_channel_without_a_secret_and_a_discourse_channel_without_a_key_are_refused() {
    let src = format!(
        "{CANONICAL}\n[[notify]]\nid = \"f\"\nurl = \"https://x.org\"\non = [\"badge.granted\"]\n"
    );
    let e = errors(&src);
    assert!(e[0].message.contains("needs secret_env"), "{e:?}");
    let src = format!(
        "{CANONICAL}\n[[notify]]\nid = \"f\"\nurl = \"https://x.org\"\nformat = \"discourse\"\non = [\"level.reached\"]\n[notify.badges]\n\"mentor\" = 1\n"
    );
    let messages: Vec<String> = errors(&src).into_iter().map(|e| e.message).collect();
    assert!(
        messages.iter().any(|m| m.contains("needs api_key_env")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("grants badges")),
        "{messages:?}"
    );
}

#[test]
fn a_rank_tells_a_channel_only_when_the_member_enters_its_top() {
    let rules = rules();
    let public = profile(Recognition::Public, Visibility::Public);
    let ana = crate::MemberId::parse("ana").unwrap();
    let at: Timestamp = "2026-11-20T14:03:00Z".parse().unwrap();
    let told = |rank, before, period| {
        let notice = rank_notice(
            &rules,
            "contributors",
            period,
            &ana,
            "e9",
            at,
            None,
            rank,
            before,
        );
        notifications(&rules, &notice, &public)
            .into_iter()
            .map(|n| n.channel)
            .collect::<Vec<_>>()
    };
    assert_eq!(told(3, None, Period::Week), ["community-feed"]);
    assert_eq!(told(10, Some(11), Period::Week), ["community-feed"]);
    assert_eq!(
        told(11, Some(40), Period::Week),
        Vec::<String>::new(),
        "still outside the top 10"
    );
    assert_eq!(
        told(2, Some(5), Period::Week),
        Vec::<String>::new(),
        "already inside"
    );
    assert_eq!(
        told(1, None, Period::Month),
        Vec::<String>::new(),
        "a period nobody watches"
    );
    assert_eq!(rank_watches(&rules), [("contributors", Period::Week)]);
    assert_eq!(widest_top(&rules, "contributors", Period::Week), 10);
}

#[test]
fn a_discourse_channel_cannot_be_private() {
    let src = format!(
        "{CANONICAL}\n[[notify]]\nid = \"f\"\nurl = \"https://x.org\"\nformat = \"discourse\"\nprivate = true\napi_key_env = \"K\"\napi_username = \"system\"\non = [\"badge.granted\"]\n[notify.badges]\n\"mentor\" = 1\n"
    );
    let messages: Vec<String> = errors(&src).into_iter().map(|e| e.message).collect();
    assert!(
        messages.iter().any(|m| m.contains("cannot be private")),
        "{messages:?}"
    );
}
