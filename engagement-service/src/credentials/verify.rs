//! Checking a signed credential: the JWS signature with the key its header
//! carries, that the `iss` claim is the credential's issuer, and the fields
//! the 1EdTech validator requires of an Open Badges 3.0 credential. Whose
//! key it is (the issuer's) is for the caller to decide: `engagement
//! credentials verify` compares it with the issuer's published key or the
//! configured one.

use data_encoding::BASE64URL_NOPAD;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use serde_json::Value;

use super::CONTEXT;

/// What a valid signature vouches for.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The public key the header carried, as a JWK.
    pub jwk: Value,
    pub kid: String,
    /// The credential (`vc`).
    pub credential: Value,
}

fn part(jws: &str, i: usize, what: &str) -> Result<Vec<u8>, String> {
    let raw = jws.split('.').nth(i).unwrap_or_default();
    BASE64URL_NOPAD
        .decode(raw.as_bytes())
        .map_err(|e| format!("the {what} is not base64url: {e}"))
}

/// Checks a compact JWS credential; why not, otherwise.
pub fn verify_jws(jws: &str) -> Result<Verified, String> {
    let jws = jws.trim();
    if jws.split('.').count() != 3 {
        return Err("not a compact JWS: expected three parts separated by dots".to_owned());
    }
    let header: Value = serde_json::from_slice(&part(jws, 0, "header")?)
        .map_err(|e| format!("the header is not JSON: {e}"))?;
    if header["alg"] != "ES256" {
        return Err(format!(
            "the signature algorithm is {}, not ES256",
            header["alg"]
        ));
    }
    let jwk = header["jwk"].clone();
    let coordinate = |name: &str| -> Result<Vec<u8>, String> {
        let c = jwk[name]
            .as_str()
            .ok_or("the header carries no P-256 jwk")?;
        let bytes = BASE64URL_NOPAD
            .decode(c.as_bytes())
            .map_err(|e| format!("jwk.{name} is not base64url: {e}"))?;
        if bytes.len() == 32 {
            Ok(bytes)
        } else {
            Err(format!("jwk.{name} is not a P-256 coordinate"))
        }
    };
    if jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
        return Err("the header's jwk is not a P-256 key".to_owned());
    }
    let mut point = vec![0x04];
    point.extend(coordinate("x")?);
    point.extend(coordinate("y")?);
    let key = VerifyingKey::from_sec1_bytes(&point)
        .map_err(|_| "the header's jwk is not a point of P-256".to_owned())?;
    let signature = Signature::from_slice(&part(jws, 2, "signature")?)
        .map_err(|_| "the signature is not an ES256 signature".to_owned())?;
    let input = &jws[..jws.rfind('.').unwrap_or(0)];
    key.verify(input.as_bytes(), &signature).map_err(|_| {
        "the signature does not match: the credential was changed, or signed with another key"
            .to_owned()
    })?;
    let payload: Value = serde_json::from_slice(&part(jws, 1, "payload")?)
        .map_err(|e| format!("the payload is not JSON: {e}"))?;
    // The payload is the credential (VC data model 2.0), or, in the older
    // form, holds it under `vc`.
    let mut credential = match &payload["vc"] {
        Value::Object(_) => payload["vc"].clone(),
        _ => payload.clone(),
    };
    if let Value::Object(fields) = &mut credential {
        for claim in ["iss", "jti", "nbf", "exp", "sub", "iat"] {
            fields.remove(claim);
        }
    }
    check_fields(&credential)?;
    if payload["iss"] != credential["issuer"]["id"] {
        return Err(format!(
            "the iss claim {} is not the credential's issuer {}",
            payload["iss"], credential["issuer"]["id"]
        ));
    }
    if payload["jti"] != credential["id"] {
        return Err(format!(
            "the jti claim {} is not the credential's id {}",
            payload["jti"], credential["id"]
        ));
    }
    if payload["nbf"] != super::nbf(&credential) {
        return Err(format!(
            "the nbf claim {} is not the credential's validFrom {}",
            payload["nbf"], credential["validFrom"]
        ));
    }
    let kid = header["kid"].as_str().unwrap_or_default().to_owned();
    if kid.is_empty() {
        return Err("the header carries no kid".to_owned());
    }
    Ok(Verified {
        jwk,
        kid,
        credential,
    })
}

/// The fields the 1EdTech validator requires of an OpenBadgeCredential.
pub fn check_fields(vc: &Value) -> Result<(), String> {
    let missing = |what: &str| Err(format!("not an Open Badges 3.0 credential: {what}"));
    let context = vc["@context"].as_array();
    if context.and_then(|c| c.first()).and_then(Value::as_str) != Some(CONTEXT[0]) {
        return missing("@context must start with https://www.w3.org/ns/credentials/v2");
    }
    let ob = context.is_some_and(|c| {
        c.iter()
            .skip(1)
            .filter_map(Value::as_str)
            .any(|u| u.starts_with("https://purl.imsglobal.org/spec/ob/v3p0/context"))
    });
    if !ob {
        return missing("@context has no Open Badges 3.0 context");
    }
    let has_type = |v: &Value, t: &str| {
        v["type"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == t))
            || v["type"] == t
    };
    // AchievementCredential is the other name Open Badges 3.0 gives it.
    let badge = has_type(vc, "OpenBadgeCredential") || has_type(vc, "AchievementCredential");
    if !(has_type(vc, "VerifiableCredential") && badge) {
        return missing("type must hold VerifiableCredential and OpenBadgeCredential");
    }
    for field in ["id", "name", "validFrom"] {
        if !vc[field].is_string() {
            return missing(&format!("no {field}"));
        }
    }
    let issuer = &vc["issuer"];
    if !(issuer["id"].is_string() && issuer["name"].is_string() && has_type(issuer, "Profile")) {
        return missing("issuer must be a Profile with id, type and name");
    }
    let subject = &vc["credentialSubject"];
    if !has_type(subject, "AchievementSubject") {
        return missing("credentialSubject must be an AchievementSubject");
    }
    if !(subject["id"].is_string() || subject["identifier"].is_array()) {
        return missing("credentialSubject needs an id or an identifier");
    }
    let achievement = &subject["achievement"];
    let complete = achievement["id"].is_string()
        && has_type(achievement, "Achievement")
        && achievement["criteria"].is_object()
        && achievement["description"].is_string()
        && achievement["name"].is_string();
    if !complete {
        return missing("the achievement needs id, type, criteria, description and name");
    }
    Ok(())
}
