use std::collections::{HashMap, HashSet};

use engagement_core::{MemberId, Memory, RuleSet, Status};

use super::*;

fn params(seed: u64) -> GenerateParams {
    GenerateParams {
        members: 500,
        communities: 12,
        days: 60,
        seed,
        start: "2026-01-05T00:00:00Z".parse().unwrap(),
        events: None,
        rings: Vec::new(),
    }
}

fn rules() -> RuleSet {
    RuleSet::from_toml(include_str!("../../../rules/knowledge-sharing.toml")).unwrap()
}

fn position(events: &[Event]) -> HashMap<&str, usize> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| (e.id.as_str(), i))
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_events() {
    assert_eq!(generate(&params(3)), generate(&params(3)));
}

#[test]
fn different_seeds_give_different_activity() {
    let who_did_what = |seed| -> Vec<(String, MemberId)> {
        generate(&params(seed))
            .into_iter()
            .map(|e| (e.kind, e.actor))
            .collect()
    };
    assert_ne!(who_did_what(3), who_did_what(4));
}

#[test]
fn the_stream_has_the_asked_size_unique_ids_and_rising_times_within_the_days() {
    let p = params(1);
    let events = generate(&p);
    assert_eq!(events.len(), 500 * 60 / 4);
    assert_eq!(position(&events).len(), events.len());
    assert!(
        events
            .windows(2)
            .all(|w| w[0].occurred_at < w[1].occurred_at)
    );
    let end = p.start + SignedDuration::from_hours(24 * 60);
    assert!(events[0].occurred_at >= p.start);
    assert!(events[events.len() - 1].occurred_at < end);
    assert!(events.iter().all(|e| e.actor_name.is_some()));

    let exact = generate(&GenerateParams {
        events: Some(1234),
        ..p
    });
    assert_eq!(exact.len(), 1234);
}

#[test]
fn communities_are_named_then_numbered() {
    let events = generate(&params(1));
    let used: HashSet<&str> = events
        .iter()
        .filter_map(|e| e.community.as_ref())
        .map(|c| c.as_str())
        .collect();
    assert!(used.contains("rules-of-origin") && used.contains("export-promotion"));
    assert!(used.contains("community-11") && used.contains("community-12"));
    assert_eq!(used.len(), 12);
}

#[test]
fn the_top_tenth_of_members_makes_most_events_and_the_top_hundredth_most_content() {
    let events = generate(&params(5));
    let top_share = |kinds: &[&str], members: usize| {
        let mut by_actor: HashMap<&MemberId, usize> = HashMap::new();
        let matching = events
            .iter()
            .filter(|e| kinds.is_empty() || kinds.contains(&&*e.kind));
        for e in matching {
            *by_actor.entry(&e.actor).or_default() += 1;
        }
        let mut counts: Vec<usize> = by_actor.into_values().collect();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        let total: usize = counts.iter().sum();
        counts.iter().take(members).sum::<usize>() as f64 / total as f64
    };
    let everything = top_share(&[], 50);
    assert!(everything > 0.5, "top 10% made {everything:.2} of events");
    let content = ["resource.shared", "answer.posted", "webinar.hosted"];
    let content = top_share(&content, 5);
    assert!(content > 0.5, "top 1% made {content:.2} of content");
}

#[test]
fn every_action_of_the_canonical_rules_appears() {
    let events = generate(&params(2));
    let kinds: HashSet<&str> = events.iter().map(|e| &*e.kind).collect();
    for action in &rules().actions {
        assert!(kinds.contains(&*action.kind), "no {}", action.kind);
    }
}

#[test]
fn revocations_undo_an_earlier_event_of_the_same_member_once() {
    let events = generate(&params(6));
    let at = position(&events);
    let mut revoked = HashSet::new();
    for (i, e) in events.iter().enumerate() {
        let Some(id) = &e.revokes else { continue };
        let original = &events[at[id.as_str()]];
        assert!(at[id.as_str()] < i);
        assert_eq!((&original.actor, &original.target), (&e.actor, &e.target));
        let pair = (original.kind.as_str(), e.kind.as_str());
        assert!(matches!(
            pair,
            ("post.liked", "post.unliked")
                | ("answer.accepted", "answer.unaccepted")
                | ("resource.shared", "resource.unshared")
        ));
        assert!(revoked.insert(id.clone()), "{id} revoked twice");
    }
    let share = revoked.len() as f64 / events.len() as f64;
    assert!((0.005..0.03).contains(&share), "{share:.3} revoked");
}

#[test]
fn others_answer_questions_and_askers_accept_an_answer_to_their_question() {
    let events = generate(&params(7));
    let mut askers: HashMap<&str, &MemberId> = HashMap::new();
    let mut answers: HashMap<String, (&MemberId, &str)> = HashMap::new();
    let mut accepted = 0;
    for (i, e) in events.iter().enumerate() {
        let target = e.target.as_ref();
        let id = target.map_or("", |t| t.id.as_str());
        let author = target.and_then(|t| t.author.as_ref());
        match e.kind.as_str() {
            "question.asked" => {
                askers.insert(id, &e.actor);
            }
            "answer.posted" => {
                assert_eq!(author, Some(askers[id]));
                assert_ne!(&e.actor, askers[id]);
                answers.insert(format!("answer-{i}"), (&e.actor, id));
            }
            "answer.accepted" => {
                let (answerer, question) = answers[id];
                assert_eq!(author, Some(answerer));
                assert_eq!(&e.actor, askers[question]);
                accepted += 1;
            }
            _ => {}
        }
    }
    assert!(
        accepted * 5 > askers.len(),
        "{accepted} of {} accepted",
        askers.len()
    );
}

#[test]
fn attendees_attend_a_webinar_hosted_earlier_by_someone_else_once() {
    let events = generate(&params(8));
    let mut hosts: HashMap<&str, &MemberId> = HashMap::new();
    let mut seen = HashSet::new();
    for e in &events {
        let Some(target) = &e.target else { continue };
        match e.kind.as_str() {
            "webinar.hosted" => {
                hosts.insert(&target.id, &e.actor);
            }
            "webinar.attended" => {
                let host = hosts[target.id.as_str()];
                assert_eq!(target.author.as_ref(), Some(host));
                assert_ne!(&e.actor, host);
                assert!(seen.insert((&e.actor, &target.id)));
            }
            "post.liked" => assert_ne!(target.author.as_ref(), Some(&e.actor)),
            _ => {}
        }
    }
    assert!(seen.len() > 5 * hosts.len());
}

#[test]
fn the_stream_applies_cleanly_under_the_canonical_rules() {
    let rules = rules();
    let mut memory = Memory::default();
    for e in generate(&params(9)) {
        assert_eq!(memory.ingest(&rules, &e).status, Status::Applied, "{e:?}");
    }
}

#[test]
fn rings_hide_in_the_same_number_of_events_and_the_report_finds_exactly_them() {
    let p = GenerateParams {
        rings: vec![3, 2],
        ..params(5)
    };
    let events = generate(&p);
    assert_eq!(events.len(), p.event_count());
    assert!(
        events
            .windows(2)
            .all(|w| w[0].occurred_at < w[1].occurred_at),
        "in time order"
    );
    let ring_likes = events
        .iter()
        .filter(|e| e.id.as_str().starts_with("ring"))
        .count();
    assert_eq!(ring_likes, 60 * 5, "one like per ring member and day");

    // Ordinary traffic has fans: readers who like mostly one prolific
    // author, a dozen times a month. With the default thresholds (10
    // events, half the giver's) they are listed as pairs, but only the
    // planted rings form rings; a manager who sets `ring_min_events` above
    // what fans reach sees the rings' pairs alone.
    let report = |fair_play: &str| {
        let source = format!(
            "{}\n[fair_play]\n{fair_play}",
            include_str!("../../../rules/knowledge-sharing.toml")
        );
        let rules = RuleSet::from_toml(&source).unwrap();
        let mut memory = Memory::default();
        memory.fair_play = Some(Box::default());
        for e in &events {
            memory.apply(&rules, e);
        }
        let bucket = engagement_core::Bucket::containing(
            engagement_core::Period::Month,
            jiff::civil::date(2026, 2, 1),
            rules.week_starts,
        );
        memory.fair_play.as_ref().unwrap().report(&rules, &bucket)
    };
    let rings = |report: &engagement_core::fair_play::Report| -> Vec<(Vec<String>, u64)> {
        (report.rings.iter())
            .map(|r| (r.members.iter().map(|m| m.to_string()).collect(), r.events))
            .collect()
    };
    let planted = vec![
        (
            vec!["ring1-1".to_owned(), "ring1-2".into(), "ring1-3".into()],
            84,
        ),
        (vec!["ring2-1".to_owned(), "ring2-2".into()], 56),
    ];
    let defaults = report("");
    assert!(
        defaults.pairs.len() > 5,
        "fans are listed too: {:?}",
        defaults.pairs
    );
    assert_eq!(rings(&defaults), planted);

    let tuned = report("ring_min_events = 20\n");
    let pairs: Vec<(&str, &str, u64, f64)> = (tuned.pairs.iter())
        .map(|p| (p.from.as_str(), p.to.as_str(), p.events, p.share))
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("ring1-1", "ring1-2", 28, 1.0),
            ("ring1-2", "ring1-3", 28, 1.0),
            ("ring1-3", "ring1-1", 28, 1.0),
            ("ring2-1", "ring2-2", 28, 1.0),
            ("ring2-2", "ring2-1", 28, 1.0),
        ]
    );
    assert_eq!(rings(&tuned), planted);
}

#[test]
fn a_stream_ends_at_the_first_error_of_its_reader() {
    let p = GenerateParams {
        rings: vec![3],
        ..params(4)
    };
    let whole = generate(&p);
    let mut seen = Vec::new();
    let stopped = generate_each(&p, |e| {
        if seen.len() == 10 {
            return Err("reader gone");
        }
        seen.push(e);
        Ok(())
    });
    assert_eq!(stopped, Err("reader gone"));
    assert_eq!(seen, whole[..10]);
    // Rings woven in keep every timestamp after the one before.
    assert!(whole.iter().any(|e| e.id.as_str().starts_with("ring1-")));
    assert!(
        whole
            .windows(2)
            .all(|w| w[0].occurred_at < w[1].occurred_at)
    );
}
