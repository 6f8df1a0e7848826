//! Open Badges 3.0 credentials (SPEC §11) over HTTP on both stores, checked
//! independently of the service's own code: the fields the 1EdTech
//! validator requires (`../shared/fixtures/openbadges/README.md`), and the
//! ES256 signature with `p256` directly over the JWS signing input; then
//! `engagement credentials verify` refusing what it must.

use std::path::PathBuf;
use std::sync::OnceLock;

use data_encoding::BASE64URL_NOPAD;
use p256::ecdsa::signature::Verifier;
use serde_json::{Value, json};

use super::support::{Fixture, TestApp, event_on, free_port};
use engagement_service::cli::credentials::KeyOf;
use engagement_service::credentials::{Issuer, generate_pem};
use engagement_service::settings::Settings;

const NOON: &str = "2026-11-20T17:00:00Z";

/// One signing key for the module's services.
fn pem() -> &'static str {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(|| generate_pem().unwrap())
}

/// The bundled rules with an `[openbadges]` issuer, written once.
fn rules_file() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let source = format!(
            "{}\n[openbadges]\nissuer_name = \"Trade Rules Network\"\nurl = \"https://trade.example.org\"\n",
            include_str!("../../rules/knowledge-sharing.toml")
        );
        let path = std::env::temp_dir().join(format!("openbadges-rules-{}.toml", std::process::id()));
        std::fs::write(&path, source).unwrap();
        path
    })
    .clone()
}

/// A service issuing credentials as `http://127.0.0.1:<port>`, on that port.
fn issuing(port: u16) -> impl FnOnce(&mut Settings) {
    move |s: &mut Settings| {
        s.bind = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        s.rules = rules_file();
        s.public_url = Some(format!("http://127.0.0.1:{port}"));
        s.signing_key = Some(pem().to_owned());
    }
}

async fn embedded() -> Fixture {
    Fixture::embedded(issuing(free_port())).await
}

async fn redis(test: &str) -> Fixture {
    Fixture::redis(test, issuing(free_port())).await
}

async fn get_raw(app: &TestApp, path: &str, accept: &str) -> (u16, String, String) {
    let res = (app.client.get(format!("{}{path}", app.base)))
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let kind = (res.headers().get("content-type"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, kind, res.text().await.unwrap())
}

/// Ana holds Mentor (bronze) from an accepted answer, and First Share.
async fn ana_earns_two_badges(app: &TestApp) {
    let (status, _) = app
        .put_json("/v1/members/ana", &json!({"name": "Ana Souza"}))
        .await;
    assert_eq!(status, 200);
    let mut share = event_on("s1", "resource.shared", "ana", NOON, "doc-1", "ana");
    share["occurred_at"] = json!("2026-11-21T09:30:00Z");
    app.ingest(&json!({"events": [
        event_on("acc-1", "answer.accepted", "bo", "2026-11-20T14:03:00Z", "a1", "ana"),
        share,
    ]}))
    .await;
}

/// The fields the 1EdTech validator requires, checked here on their own.
fn assert_required_fields(vc: &Value) {
    let context = vc["@context"].as_array().unwrap();
    assert_eq!(context[0], "https://www.w3.org/ns/credentials/v2");
    assert_eq!(
        context[1],
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
    );
    let types = vc["type"].as_array().unwrap();
    assert!(
        types.contains(&json!("VerifiableCredential"))
            && types.contains(&json!("OpenBadgeCredential"))
    );
    for field in ["id", "name", "validFrom"] {
        assert!(vc[field].is_string(), "{field}: {vc}");
    }
    let issuer = &vc["issuer"];
    assert!(
        issuer["id"].is_string() && issuer["name"].is_string(),
        "{issuer}"
    );
    assert_eq!(issuer["type"], json!(["Profile"]));
    let subject = &vc["credentialSubject"];
    assert_eq!(subject["type"], json!(["AchievementSubject"]));
    assert!(
        subject["id"].is_string() || subject["identifier"].is_array(),
        "{subject}"
    );
    let achievement = &subject["achievement"];
    assert_eq!(achievement["type"], json!(["Achievement"]));
    for field in ["id", "description", "name"] {
        assert!(
            achievement[field].is_string(),
            "achievement.{field}: {achievement}"
        );
    }
    assert!(achievement["criteria"]["narrative"].is_string());
}

/// The JWS's header and payload, once its ES256 signature checks out with
/// the key in its header, worked by hand with `p256`.
fn open_jws(jws: &str) -> (Value, Value) {
    let parts: Vec<&str> = jws.split('.').collect();
    assert_eq!(parts.len(), 3);
    let decode = |s: &str| BASE64URL_NOPAD.decode(s.as_bytes()).unwrap();
    let header: Value = serde_json::from_slice(&decode(parts[0])).unwrap();
    assert_eq!(header["alg"], "ES256");
    let jwk = &header["jwk"];
    let mut point = vec![0x04];
    point.extend(decode(jwk["x"].as_str().unwrap()));
    point.extend(decode(jwk["y"].as_str().unwrap()));
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
    let signature = p256::ecdsa::Signature::from_slice(&decode(parts[2])).unwrap();
    let input = format!("{}.{}", parts[0], parts[1]);
    key.verify(input.as_bytes(), &signature)
        .expect("the signature checks out");
    (header, serde_json::from_slice(&decode(parts[1])).unwrap())
}

async fn credentials_carry_what_validators_require_and_their_signatures_check_out(app: &TestApp) {
    ana_earns_two_badges(app).await;
    let (status, list) = app.get("/v1/members/ana/credentials").await;
    assert_eq!(status, 200, "{list}");
    let held = list["credentials"].as_array().unwrap();
    let names: Vec<&str> = held.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Mentor (bronze)", "First Share"]);
    let (_, issuer) = app.get("/ob/issuer").await;
    assert_eq!(issuer["id"], format!("{}/ob/issuer", app.base));
    assert_eq!(issuer["name"], "Trade Rules Network");
    for entry in held {
        let vc = &entry["credential"];
        assert_required_fields(vc);
        let (header, payload) = open_jws(entry["jwt"].as_str().unwrap());
        // The payload is the credential with the JWT claims beside its fields.
        assert_eq!(payload["iss"], vc["issuer"]["id"]);
        assert_eq!(payload["iss"], issuer["id"]);
        assert_eq!(payload["jti"], vc["id"]);
        let valid_from: jiff::Timestamp = vc["validFrom"].as_str().unwrap().parse().unwrap();
        assert_eq!(payload["nbf"], valid_from.as_second());
        let mut fields = payload.clone();
        for claim in ["iss", "jti", "nbf"] {
            fields.as_object_mut().unwrap().remove(claim);
        }
        assert_eq!(&fields, vc);
        let published = &issuer["verificationMethod"][0];
        assert_eq!(published["publicKeyJwk"], header["jwk"]);
        assert_eq!(published["id"], header["kid"]);
        assert_eq!(published["controller"], issuer["id"]);
        // The kid is where the bare key is published, as validators fetch it.
        let kid = header["kid"].as_str().unwrap();
        let (status, jwk) = app.get(kid.strip_prefix(&app.base).unwrap()).await;
        assert_eq!((status, &jwk), (200, &header["jwk"]));
    }
    let mentor = &held[0]["credential"];
    assert_eq!(
        mentor["validFrom"], "2026-11-20T14:03:00Z",
        "the time it was granted"
    );
    assert_eq!(
        mentor["description"],
        "Ana Souza earned Mentor (bronze) in Trade Rules Network."
    );
    let achievement = &mentor["credentialSubject"]["achievement"];
    assert_eq!(
        achievement["criteria"]["narrative"],
        "Had an answer accepted by another member."
    );
    let identity = &mentor["credentialSubject"]["identifier"][0];
    let salt = identity["salt"].as_str().unwrap();
    use sha2::Digest;
    let hash =
        data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(format!("ana{salt}").as_bytes()));
    assert_eq!(identity["identityHash"], format!("sha256${hash}"));
    assert!(
        !mentor.to_string().contains("\"ana\""),
        "the member id is not in the subject"
    );

    // The same bytes every time, as JSON and as a JWS.
    let path = "/v1/members/ana/credentials/mentor/bronze";
    let (status, kind, json_once) = get_raw(app, path, "application/json").await;
    assert_eq!((status, kind.as_str()), (200, "application/json"));
    let (_, _, json_again) = get_raw(app, path, "application/json").await;
    assert_eq!(json_once, json_again);
    assert_eq!(serde_json::from_str::<Value>(&json_once).unwrap(), *mentor);
    let (status, kind, jwt_once) = get_raw(app, path, "application/vc+jwt").await;
    assert_eq!((status, kind.as_str()), (200, "application/vc+jwt"));
    let (_, _, jwt_again) = get_raw(app, &format!("{path}?format=jwt"), "*/*").await;
    assert_eq!(jwt_once, jwt_again);
    assert_eq!(jwt_once, held[0]["jwt"].as_str().unwrap());

    // The credential's id names nobody, and serves the credential publicly
    // while the member holds it: what `verify --online` asks.
    let id = mentor["id"].as_str().unwrap();
    assert!(
        id.starts_with(&format!("{}/ob/credentials/", app.base)),
        "{id}"
    );
    let sealed = id.strip_prefix(&app.base).unwrap();
    let (status, _, served) = get_raw(app, sealed, "application/vc+jwt").await;
    assert_eq!((status, served.as_str()), (200, jwt_once.as_str()));
    let (status, _) = app.get("/ob/credentials/not-a-credential").await;
    assert_eq!(status, 404);

    // The achievement is where the credential says.
    let id = achievement["id"].as_str().unwrap();
    let (status, published) = app.get(id.strip_prefix(&app.base).unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(published["name"], "Mentor (bronze)");
    assert_eq!(published["criteria"], achievement["criteria"]);

    // The profile page offers each badge's credential.
    let (_, page) = app.get_text("/members/ana").await;
    assert!(
        page.contains("/v1/members/ana/credentials/mentor/bronze?format=jwt&amp;download=true"),
        "{page}"
    );
    assert!(page.contains("Open Badges 3.0 credential"));
}

async fn anonymous_members_go_unnamed_hidden_ones_have_none_and_unheld_badges_are_404(
    app: &TestApp,
) {
    ana_earns_two_badges(app).await;
    let (status, _) = app
        .put_json("/v1/members/ana", &json!({"visibility": "anonymous"}))
        .await;
    assert_eq!(status, 200);
    let (_, list) = app.get("/v1/members/ana/credentials").await;
    let text = list["credentials"].to_string();
    assert!(!text.contains("Ana Souza"), "{text}");
    assert_eq!(
        list["credentials"][0]["credential"]["description"],
        "Earned Mentor (bronze) in Trade Rules Network."
    );
    for (path, code) in [
        ("/v1/members/ana/credentials/mentor/gold", 404),
        ("/v1/members/ana/credentials/mentor", 404),
        ("/v1/members/ana/credentials/nothing", 404),
        ("/v1/members/nobody/credentials", 404),
        ("/v1/members/ana/credentials/mentor/bronze?format=pdf", 422),
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, code, "{path}: {body}");
    }
    let (status, _) = app
        .put_json("/v1/members/ana", &json!({"visibility": "hidden"}))
        .await;
    assert_eq!(status, 200);
    let id = list["credentials"][0]["id"].as_str().unwrap();
    let sealed = id.strip_prefix(&app.base).unwrap().to_owned();
    for path in [
        "/v1/members/ana/credentials",
        "/v1/members/ana/credentials/mentor/bronze",
        &sealed,
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
}

on_both_stores!(
    credentials_carry_what_validators_require_and_their_signatures_check_out,
    anonymous_members_go_unnamed_hidden_ones_have_none_and_unheld_badges_are_404,
);

#[tokio::test]
async fn without_a_key_and_an_address_credentials_are_off_and_nothing_else_changes() {
    let f = Fixture::embedded(|s| s.rules = rules_file()).await;
    ana_earns_two_badges(&f.app).await;
    for path in [
        "/ob/issuer",
        "/ob/achievements/mentor/bronze",
        "/v1/members/ana/credentials",
    ] {
        let (status, body) = f.app.get(path).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (404, &json!("credentials_disabled")),
            "{path}"
        );
    }
    let (status, profile) = f.app.get("/v1/members/ana").await;
    assert_eq!(
        (status, profile["badges"].as_array().unwrap().len()),
        (200, 2)
    );
    let (_, page) = f.app.get_text("/members/ana").await;
    assert!(!page.contains("/credentials/"));
    // A key without the rule file's issuer: still off.
    let port = free_port();
    let g = Fixture::embedded(move |s| {
        issuing(port)(s);
        s.rules = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/rules/knowledge-sharing.toml"
        ));
    })
    .await;
    let (status, body) = g.app.get("/ob/issuer").await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[openbadges]")
    );
}

/// What `engagement credentials verify` says of a file: what it asserts,
/// or why it is refused. In a thread of its own: it runs its own runtime
/// for `online`.
fn verify(file: &std::path::Path, key_of: &KeyOf) -> Result<String, String> {
    let (file, key_of) = (file.to_path_buf(), key_of.clone());
    std::thread::spawn(move || {
        engagement_service::cli::credentials::verify(&file, &key_of).map_err(|e| format!("{e:#}"))
    })
    .join()
    .unwrap()
}

fn refused(result: Result<String, String>, reason: &str) {
    match result {
        Ok(said) => panic!("accepted, expected refused ({reason}): {said}"),
        Err(e) => assert!(e.contains(reason), "expected \"{reason}\" in: {e}"),
    }
}

#[tokio::test]
async fn credentials_verify_accepts_the_issued_and_refuses_the_tampered_the_foreign_and_the_unheld()
{
    let port = free_port();
    let f = Fixture::embedded(issuing(port)).await;
    ana_earns_two_badges(&f.app).await;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let url = format!("http://127.0.0.1:{port}");
    let offline = KeyOf::Deployment {
        public_url: url.clone(),
        signing_key: pem().to_owned(),
    };
    let online = KeyOf::Online;
    let (_, profile) = f.app.get("/ob/issuer").await;
    let saved = KeyOf::Profile(profile);

    let (_, _, jwt) = get_raw(
        &f.app,
        "/v1/members/ana/credentials/mentor/bronze",
        "application/vc+jwt",
    )
    .await;
    let issued = write("mentor.jwt", &jwt);
    let said = verify(&issued, &offline).unwrap();
    assert!(said.starts_with("valid: Mentor (bronze)"), "{said}");
    assert!(
        said.contains("criteria: Had an answer accepted by another member."),
        "{said}"
    );
    verify(&issued, &online).unwrap();
    verify(&issued, &saved).unwrap();
    let (_, list) = f.app.get("/v1/members/ana/credentials").await;
    let entry = write("entry.json", &list["credentials"][0].to_string());
    verify(&entry, &online).unwrap();
    let bare = write(
        "bare.json",
        &list["credentials"][0]["credential"].to_string(),
    );
    refused(verify(&bare, &online), "carries no signature");

    // Tampered: one character of the payload changed.
    let parts: Vec<&str> = jwt.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&BASE64URL_NOPAD.decode(parts[1].as_bytes()).unwrap()).unwrap();
    payload["name"] = json!("Mentor (gold)");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        BASE64URL_NOPAD.encode(payload.to_string().as_bytes()),
        parts[2]
    );
    let tampered = write("tampered.jwt", &tampered);
    refused(verify(&tampered, &offline), "signature does not match");
    refused(verify(&tampered, &online), "signature does not match");

    // Signed by another key, under the same issuer's name.
    let rules =
        engagement_core::RuleSet::from_toml(&std::fs::read_to_string(rules_file()).unwrap())
            .unwrap();
    let ob = rules.openbadges.clone().unwrap();
    let vc = payload_vc(&jwt);
    let other = Issuer::new(&url, &generate_pem().unwrap()).unwrap();
    let foreign = write("foreign.jwt", &other.sign(&vc));
    refused(
        verify(&foreign, &offline),
        "signed by another key than the issuer's",
    );
    refused(
        verify(&foreign, &online),
        "a key the issuer does not publish",
    );

    // Signed with the issuer's own key, for a tier Ana does not hold.
    let ours = Issuer::new(&url, pem()).unwrap();
    let member = engagement_core::MemberId::parse("ana").unwrap();
    let state = engagement_core::MemberState::default();
    let gold = engagement_core::state::HeldBadge {
        badge: engagement_core::Name::new("mentor"),
        tier: 2,
        awarded_at: NOON.parse().unwrap(),
        reason: None,
    };
    let unheld = ours
        .credential(&rules, &ob, &member, &state, &gold)
        .unwrap();
    let unheld = write("unheld.jwt", &ours.sign(&unheld));
    verify(&unheld, &offline).expect("offline, a credential signed with the key is the issuer's");
    refused(
        verify(&unheld, &online),
        "the issuer does not hold this credential (404",
    );

    // Signed with the key, but naming another issuer.
    let elsewhere = Issuer::new("https://elsewhere.example.org", pem()).unwrap();
    let mut renamed = vc.clone();
    renamed["issuer"]["id"] = json!(elsewhere.id());
    let renamed = write("renamed.jwt", &elsewhere.sign(&renamed));
    refused(
        verify(&renamed, &offline),
        "not by this deployment's issuer",
    );
    // And a JWS whose iss claim is not its credential's issuer.
    let mut claims: Value =
        serde_json::from_slice(&BASE64URL_NOPAD.decode(parts[1].as_bytes()).unwrap()).unwrap();
    claims["iss"] = json!("https://elsewhere.example.org/ob/issuer");
    let key =
        <p256::ecdsa::SigningKey as p256::pkcs8::DecodePrivateKey>::from_pkcs8_pem(pem()).unwrap();
    let input = format!(
        "{}.{}",
        parts[0],
        BASE64URL_NOPAD.encode(claims.to_string().as_bytes())
    );
    let signature: p256::ecdsa::Signature =
        p256::ecdsa::signature::Signer::sign(&key, input.as_bytes());
    let mismatched = write(
        "mismatched.jwt",
        &format!("{input}.{}", BASE64URL_NOPAD.encode(&signature.to_bytes())),
    );
    refused(
        verify(&mismatched, &offline),
        "is not the credential's issuer",
    );
}

/// The credential a JWS carries: its payload without the JWT claims.
fn payload_vc(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    let payload: Value =
        serde_json::from_slice(&BASE64URL_NOPAD.decode(payload.as_bytes()).unwrap()).unwrap();
    let mut vc = payload;
    for claim in ["iss", "jti", "nbf"] {
        vc.as_object_mut().unwrap().remove(claim);
    }
    vc
}

/// The field check `credentials verify` applies agrees with the 1EdTech
/// validator's own test inputs: its valid credentials pass, the one it
/// must reject (a bad `@context`) does not.
#[test]
fn the_field_check_agrees_with_the_validators_reference_credentials() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/openbadges");
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/{name}")).unwrap()).unwrap()
    };
    for valid in ["simple.json", "simple-did-key-method.json", "complete.json"] {
        engagement_service::credentials::check_fields(&read(valid))
            .unwrap_or_else(|e| panic!("{valid}: {e}"));
    }
    let err = engagement_service::credentials::check_fields(&read("simple-err-context.json"))
        .unwrap_err();
    assert!(err.contains("@context"), "{err}");
}

#[tokio::test]
async fn with_a_read_token_credentials_need_it_and_download_links_carry_it() {
    let port = free_port();
    let f = Fixture::embedded(move |s| {
        issuing(port)(s);
        s.read_token = Some("reader".into());
        s.ingest_token = Some("writer".into());
    })
    .await;
    let app = &f.app;
    let res = (app.client.post(format!("{}/v1/events", app.base)))
        .bearer_auth("writer")
        .json(&json!({"events": [event_on("acc-1", "answer.accepted", "bo", NOON, "a1", "ana")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let path = "/v1/members/ana/credentials/mentor/bronze";
    let (status, _) = app.get(path).await;
    assert_eq!(status, 401);
    let (status, _) = app.get(&format!("{path}?format=jwt&token=wrong")).await;
    assert_eq!(status, 401);
    let (status, _, jwt) = get_raw(
        app,
        &format!("{path}?format=jwt&download=true&token=reader"),
        "*/*",
    )
    .await;
    assert_eq!(status, 200);
    open_jws(&jwt);
    let (_, page) = app.get_text("/members/ana?token=reader").await;
    assert!(
        page.contains("format=jwt&amp;download=true&amp;token=reader"),
        "{page}"
    );
    // The issuer and the credential at its id stay public: anyone checks them.
    let (status, _) = app.get("/ob/issuer").await;
    assert_eq!(status, 200);
}
