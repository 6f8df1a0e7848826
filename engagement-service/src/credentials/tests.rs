use engagement_core::rules::RuleSet;
use engagement_core::state::HeldBadge;
use engagement_core::{MemberId, MemberState, Name, Profile, Visibility};
use serde_json::Value;

use super::*;

const RULES: &str = include_str!("../../../rules/knowledge-sharing.toml");

fn rules() -> RuleSet {
    RuleSet::from_toml(&format!(
        "{RULES}\n[openbadges]\nissuer_name = \"Trade Rules Network\"\nurl = \"https://trade.example.org\"\n"
    ))
    .unwrap()
}

fn issuer() -> Issuer {
    Issuer::new("https://engage.example.org/", &generate_pem().unwrap()).unwrap()
}

fn ana(visibility: Visibility) -> (MemberId, MemberState, HeldBadge) {
    let mut state = MemberState::default();
    state.set_profile(Profile {
        name: Some("Ana Souza".into()),
        visibility,
        ..Profile::default()
    });
    let held = HeldBadge {
        badge: Name::new("mentor"),
        tier: 1,
        awarded_at: "2026-11-20T14:03:00Z".parse().unwrap(),
        reason: None,
    };
    (MemberId::parse("ana").unwrap(), state, held)
}

#[test]
fn a_credential_says_what_was_earned_when_and_by_whom_without_naming_the_id() {
    let (rules, issuer) = (rules(), issuer());
    let ob = rules.openbadges.clone().unwrap();
    let (member, state, held) = ana(Visibility::Public);
    let vc = issuer
        .credential(&rules, &ob, &member, &state, &held)
        .unwrap();
    verify::check_fields(&vc).unwrap();
    assert_eq!(vc["@context"], serde_json::json!(CONTEXT));
    assert_eq!(vc["name"], "Mentor (silver)");
    assert_eq!(vc["validFrom"], "2026-11-20T14:03:00Z");
    assert_eq!(
        vc["description"],
        "Ana Souza earned Mentor (silver) in Trade Rules Network."
    );
    assert_eq!(vc["issuer"]["id"], "https://engage.example.org/ob/issuer");
    let achievement = &vc["credentialSubject"]["achievement"];
    assert_eq!(
        achievement["id"],
        "https://engage.example.org/ob/achievements/mentor/silver"
    );
    assert_eq!(
        achievement["criteria"]["narrative"],
        "Had 10 answers accepted by other members."
    );
    let identity = &vc["credentialSubject"]["identifier"][0];
    let salt = identity["salt"].as_str().unwrap();
    let expected = HEXLOWER.encode(&Sha256::digest(format!("ana{salt}").as_bytes()));
    assert_eq!(identity["identityHash"], format!("sha256${expected}"));
    // The same credential every time, and the same salt for the member.
    let again = issuer
        .credential(&rules, &ob, &member, &state, &held)
        .unwrap();
    assert_eq!(vc.to_string(), again.to_string());
    assert_eq!(issuer.sign(&vc), issuer.sign(&again));
}

#[test]
fn anonymous_members_are_not_named_and_hidden_members_have_none() {
    let (rules, issuer) = (rules(), issuer());
    let ob = rules.openbadges.clone().unwrap();
    let (member, state, held) = ana(Visibility::Anonymous);
    let vc = issuer
        .credential(&rules, &ob, &member, &state, &held)
        .unwrap();
    assert!(!vc.to_string().contains("Ana"), "{vc}");
    let (member, state, held) = ana(Visibility::Hidden);
    assert!(
        issuer
            .credential(&rules, &ob, &member, &state, &held)
            .is_none()
    );
}

#[test]
fn a_signed_credential_verifies_and_any_change_is_refused() {
    let (rules, issuer) = (rules(), issuer());
    let ob = rules.openbadges.clone().unwrap();
    let (member, state, held) = ana(Visibility::Public);
    let vc = issuer
        .credential(&rules, &ob, &member, &state, &held)
        .unwrap();
    let jws = issuer.sign(&vc);
    let verified = verify_jws(&jws).unwrap();
    assert_eq!(verified.credential, vc);
    assert_eq!(&verified.jwk, issuer.jwk());
    // One character of the payload changed.
    let parts: Vec<&str> = jws.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&BASE64URL_NOPAD.decode(parts[1].as_bytes()).unwrap()).unwrap();
    payload["vc"]["name"] = Value::from("Mentor (gold)");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        BASE64URL_NOPAD.encode(payload.to_string().as_bytes()),
        parts[2]
    );
    let err = verify_jws(&forged).unwrap_err();
    assert!(err.contains("signature does not match"), "{err}");
}

#[test]
fn narratives_follow_each_kind_of_criterion() {
    let rules = rules();
    let said = |badge: &str, tier: usize| narrative(&rules, rules.badge(badge).unwrap(), tier);
    assert_eq!(said("first-share", 0), "Shared a resource at least once.");
    assert_eq!(
        said("mentor", 0),
        "Had an answer accepted by another member."
    );
    assert_eq!(
        said("helpful", 1),
        "Received \"Found a post useful\" from other members at least 100 times."
    );
    assert_eq!(said("steady", 0), "Contributed on 7 days in a row.");
    assert_eq!(
        said("silo-breaker", 0),
        "Answered a question in 3 different communities."
    );
    assert_eq!(said("centurion", 0), "Earned 100 points.");
}

#[test]
fn a_credential_id_seals_whose_it_is_for_the_issuer_alone() {
    let (rules, issuer) = (rules(), issuer());
    let badge = rules.badge("mentor").unwrap();
    let member = MemberId::parse("ana: the 🦀 of {rules}").unwrap();
    let id = issuer.credential_id(&member, badge, 2);
    assert_eq!(
        id,
        issuer.credential_id(&member, badge, 2),
        "the same every time"
    );
    assert!(
        id.starts_with("https://engage.example.org/ob/credentials/"),
        "{id}"
    );
    let sealed = id.rsplit('/').next().unwrap();
    assert_eq!(
        issuer.open_credential_id(sealed),
        Some((member.clone(), "mentor".to_owned(), 2))
    );
    // Another issuer's key, a changed character, garbage: nobody's.
    assert_eq!(super::tests::issuer().open_credential_id(sealed), None);
    let mut changed = sealed.to_owned();
    let last = if changed.ends_with('A') { 'B' } else { 'A' };
    changed.pop();
    changed.push(last);
    assert_eq!(issuer.open_credential_id(&changed), None);
    assert_eq!(issuer.open_credential_id("!!"), None);
}
