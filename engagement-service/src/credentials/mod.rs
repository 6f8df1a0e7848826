//! Badges members can take with them: every badge tier a member holds as an
//! Open Badges 3.0 credential (SPEC §11), a W3C Verifiable Credential (data
//! model 2.0) signed ES256 as a compact JWS whose header carries the
//! issuer's public key.
//!
//! Everything here is derived from the rule file, the member's state and
//! the signing key, so a credential is the same, byte for byte, every time
//! it is asked for: JSON objects keep their keys in order, and ECDSA
//! signatures are deterministic (RFC 6979). The member is named by a salted
//! hash of their id; the salt is derived from the signing key and the
//! member id, so it is stable for the member in this deployment and tells
//! nothing to anyone else.

mod verify;

use aes_siv::siv::Aes128Siv;
use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use engagement_core::rules::{Badge, Criterion, InsightRole, OpenBadges, Role, RuleSet};
use engagement_core::state::HeldBadge;
use engagement_core::{MemberId, MemberState, Visibility};
use hmac::{KeyInit, Mac};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use verify::{Verified, check_fields, verify_jws};

/// The VC data model 2.0 context, then the Open Badges 3.0.3 one.
pub const CONTEXT: [&str; 2] = [
    "https://www.w3.org/ns/credentials/v2",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
];

/// The media type of a signed credential.
pub const VC_JWT: &str = "application/vc+jwt";

/// The key and address credentials are issued with.
#[derive(Clone)]
pub struct Issuer {
    /// The service's public address, without a trailing `/`.
    public_url: String,
    key: SigningKey,
    /// The public key as a JWK (`kty`, `crv`, `x`, `y`).
    jwk: Value,
    /// Where the public key is published as a bare JWK:
    /// `<public url>/ob/keys/<JWK thumbprint>`. Validators fetch it.
    kid: String,
    thumbprint: String,
    /// Seals the member, badge and tier into a credential's id.
    ids: [u8; 32],
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("public_url", &self.public_url)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A new P-256 private key as PKCS#8 PEM.
pub fn generate_pem() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    // A scalar is valid unless zero or past the group order: draw again then.
    for _ in 0..16 {
        rand::fill(&mut bytes);
        if let Ok(key) = SigningKey::from_slice(&bytes) {
            return key
                .to_pkcs8_pem(LineEnding::LF)
                .map(|pem| pem.to_string())
                .map_err(|e| e.to_string());
        }
    }
    Err("no valid key drawn".to_owned())
}

/// The public part of `key` as a JWK, keys in order.
pub fn public_jwk(key: &p256::ecdsa::VerifyingKey) -> Value {
    let point = key.to_sec1_point(false);
    let bytes = point.as_bytes();
    // Uncompressed: 0x04, then x and y.
    let x = bytes.get(1..33).unwrap_or_default();
    let y = bytes.get(33..65).unwrap_or_default();
    json!({"crv": "P-256", "kty": "EC", "x": BASE64URL_NOPAD.encode(x), "y": BASE64URL_NOPAD.encode(y)})
}

/// The RFC 7638 thumbprint of a P-256 JWK.
pub fn thumbprint(jwk: &Value) -> String {
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["x"].as_str().unwrap_or_default(),
        jwk["y"].as_str().unwrap_or_default()
    );
    BASE64URL_NOPAD.encode(&Sha256::digest(canonical.as_bytes()))
}

impl Issuer {
    /// The issuer at `public_url` signing with the PKCS#8 PEM key `pem`.
    pub fn new(public_url: &str, pem: &str) -> Result<Issuer, String> {
        let url = public_url.trim_end_matches('/');
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        let plain = |r: &str| {
            !r.is_empty()
                && !r.starts_with('/')
                && !r
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#'))
        };
        if !rest.is_some_and(plain) {
            return Err(format!(
                "ENGAGEMENT_PUBLIC_URL must be an http:// or https:// address, got \"{public_url}\""
            ));
        }
        let key = SigningKey::from_pkcs8_pem(pem.trim()).map_err(|e| {
            format!("ENGAGEMENT_SIGNING_KEY is not a P-256 private key in PKCS#8 PEM ({e}); `engagement keys generate --out FILE` writes one")
        })?;
        let jwk = public_jwk(key.verifying_key());
        let thumbprint = thumbprint(&jwk);
        let mut ids = [0u8; 32];
        ids.copy_from_slice(&derive(&key, b"credential-ids\0", b""));
        let kid = format!("{url}/ob/keys/{thumbprint}");
        Ok(Issuer {
            public_url: url.to_owned(),
            key,
            jwk,
            kid,
            thumbprint,
            ids,
        })
    }

    /// `ENGAGEMENT_SIGNING_KEY`: the PEM itself, or the path of a file holding it.
    pub fn load(public_url: &str, key: &str) -> Result<Issuer, String> {
        let pem = if key.trim_start().starts_with("-----BEGIN") {
            key.to_owned()
        } else {
            std::fs::read_to_string(key)
                .map_err(|e| format!("ENGAGEMENT_SIGNING_KEY: cannot read {key}: {e}"))?
        };
        Issuer::new(public_url, &pem)
    }

    pub fn id(&self) -> String {
        format!("{}/ob/issuer", self.public_url)
    }

    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The RFC 7638 thumbprint of the public key: the last segment of `kid`.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// `GET /ob/issuer`: the issuer's Profile with its public key.
    pub fn profile(&self, ob: &OpenBadges) -> Value {
        let mut profile = json!({
            "@context": CONTEXT,
            "id": self.id(),
            "type": ["Profile"],
            "name": ob.issuer_name,
            "url": ob.url,
            "verificationMethod": [{
                "id": self.kid,
                "type": "JsonWebKey",
                "controller": self.id(),
                "publicKeyJwk": self.jwk,
            }],
        });
        if let Some(image) = &ob.image {
            profile["image"] = json!({"id": image, "type": "Image"});
        }
        profile
    }

    /// The short Profile a credential names its issuer by.
    fn issuer_ref(&self, ob: &OpenBadges) -> Value {
        json!({"id": self.id(), "type": ["Profile"], "name": ob.issuer_name, "url": ob.url})
    }

    /// The address of a badge tier's Achievement.
    pub fn achievement_id(&self, badge: &Badge, tier: usize) -> String {
        let mut id = format!("{}/ob/achievements/{}", self.public_url, segment(&badge.id));
        if let Some(name) = badge.tiers.get(tier).and_then(|t| t.name.as_deref()) {
            id.push('/');
            id.push_str(&segment(name));
        }
        id
    }

    /// `GET /ob/achievements/{badge}[/{tier}]`: a badge tier as an Achievement.
    pub fn achievement(
        &self,
        rules: &RuleSet,
        ob: &OpenBadges,
        badge: &Badge,
        tier: usize,
    ) -> Value {
        let mut achievement = json!({
            "id": self.achievement_id(badge, tier),
            "type": ["Achievement"],
            "name": tier_name(badge, tier),
            "description": description(badge),
            "criteria": {"narrative": narrative(rules, badge, tier)},
            "creator": self.issuer_ref(ob),
        });
        if let Some(image) = &ob.image {
            achievement["image"] = json!({"id": image, "type": "Image"});
        }
        achievement
    }

    /// The credential of a held badge tier, or `None` for a hidden member
    /// or a badge the rules no longer have.
    pub fn credential(
        &self,
        rules: &RuleSet,
        ob: &OpenBadges,
        member: &MemberId,
        state: &MemberState,
        held: &HeldBadge,
    ) -> Option<Value> {
        if state.profile.visibility == Visibility::Hidden {
            return None;
        }
        let badge = rules.badge(&held.badge)?;
        badge.tiers.get(held.tier)?;
        let title = tier_name(badge, held.tier);
        let salt = self.salt(member);
        let hash = HEXLOWER.encode(&Sha256::digest(format!("{member}{salt}").as_bytes()));
        let named = match state.profile.visibility {
            Visibility::Public => state.profile.name.as_deref(),
            Visibility::Anonymous | Visibility::Hidden => None,
        };
        let description = match named {
            Some(name) => format!("{name} earned {title} in {}.", ob.issuer_name),
            None => format!("Earned {title} in {}.", ob.issuer_name),
        };
        Some(json!({
            "@context": CONTEXT,
            "id": self.credential_id(member, badge, held.tier),
            "type": ["VerifiableCredential", "OpenBadgeCredential"],
            "name": title,
            "description": description,
            "issuer": self.issuer_ref(ob),
            "validFrom": held.awarded_at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "credentialSubject": {
                "type": ["AchievementSubject"],
                "identifier": [{
                    "type": "IdentityObject",
                    "identityType": "identifier",
                    "hashed": true,
                    "identityHash": format!("sha256${hash}"),
                    "salt": salt,
                }],
                "achievement": self.achievement(rules, ob, badge, held.tier),
            },
        }))
    }

    /// Where the credential of a member's badge tier is read, publicly:
    /// `/ob/credentials/<sealed>`, the member, badge and tier sealed with
    /// AES-SIV under a key derived from the signing key. The same every
    /// time; only the issuer can tell whose it is.
    pub fn credential_id(&self, member: &MemberId, badge: &Badge, tier: usize) -> String {
        let plain = format!("{SEALED}{member}\0{}\0{tier}", badge.id);
        let sealed = <Aes128Siv as KeyInit>::new_from_slice(&self.ids)
            .ok()
            .and_then(|mut siv| siv.encrypt::<[&[u8]; 0], &[u8]>([], plain.as_bytes()).ok())
            .unwrap_or_default();
        format!(
            "{}/ob/credentials/{}",
            self.public_url,
            BASE64URL_NOPAD.encode(&sealed)
        )
    }

    /// The member, badge id and tier index a credential id's last segment
    /// seals; `None` for anything this issuer did not seal.
    pub fn open_credential_id(&self, sealed: &str) -> Option<(MemberId, String, usize)> {
        let bytes = BASE64URL_NOPAD.decode(sealed.as_bytes()).ok()?;
        let mut siv = <Aes128Siv as KeyInit>::new_from_slice(&self.ids).ok()?;
        let plain = siv.decrypt::<[&[u8]; 0], &[u8]>([], &bytes).ok()?;
        let plain = String::from_utf8(plain).ok()?;
        let mut parts = plain.strip_prefix(SEALED)?.split('\0');
        let (member, badge, tier) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        Some((
            MemberId::parse(member).ok()?,
            badge.to_owned(),
            tier.parse().ok()?,
        ))
    }

    /// The member's salt: stable per member and signing key, meaningless
    /// without the key.
    fn salt(&self, member: &MemberId) -> String {
        HEXLOWER.encode(&derive(&self.key, b"openbadges-salt\0", member.as_str().as_bytes())[..16])
    }

    /// The credential as a compact JWS (Open Badges 3.0.3 §8.2, VC data
    /// model 2.0): ES256, with `kid` and the public `jwk` in the header; the
    /// payload is the credential itself with the JWT claims `iss` (the
    /// issuer), `jti` (its id) and `nbf` (`validFrom`) beside its fields.
    pub fn sign(&self, credential: &Value) -> String {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": self.kid, "jwk": self.jwk});
        let mut payload = credential.clone();
        payload["iss"] = credential["issuer"]["id"].clone();
        payload["jti"] = credential["id"].clone();
        payload["nbf"] = Value::from(nbf(credential));
        let input = format!(
            "{}.{}",
            BASE64URL_NOPAD.encode(header.to_string().as_bytes()),
            BASE64URL_NOPAD.encode(payload.to_string().as_bytes())
        );
        let signature: Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", BASE64URL_NOPAD.encode(&signature.to_bytes()))
    }
}

/// What every sealed credential id starts with: a domain of its own, and
/// never too short for AES-SIV.
const SEALED: &str = "engagement-credential\0";

/// HMAC-SHA256 under the signing key of `label` then `data`: keys and
/// salts of their own for each use, telling nothing of the signing key.
fn derive(key: &SigningKey, label: &[u8], data: &[u8]) -> Vec<u8> {
    let secret = key.to_bytes();
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_slice())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(label);
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// `validFrom` as a JWT NumericDate.
pub fn nbf(credential: &Value) -> i64 {
    credential["validFrom"]
        .as_str()
        .and_then(|v| v.parse::<jiff::Timestamp>().ok())
        .map_or(0, |t| t.as_second())
}

/// Everything but RFC 3986's unreserved characters is encoded in a path
/// segment, as the members' pages build links.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A path segment: ids and tier names percent-encoded.
fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

/// "Mentor (silver)", or the badge's name when it has one unnamed tier.
pub fn tier_name(badge: &Badge, tier: usize) -> String {
    match badge.tiers.get(tier).and_then(|t| t.name.as_deref()) {
        Some(t) => format!("{} ({t})", badge.name),
        None => badge.name.clone(),
    }
}

fn description(badge: &Badge) -> String {
    if badge.description.is_empty() {
        badge.name.clone()
    } else {
        badge.description.clone()
    }
}

/// What earned the tier, in words, from the rule file.
pub fn narrative(rules: &RuleSet, badge: &Badge, tier: usize) -> String {
    let n = badge.tiers.get(tier).map_or(1, |t| t.at_least);
    let times = |n: i64| match n {
        1 => "at least once".to_owned(),
        n => format!("at least {n} times"),
    };
    let label = |action: usize| {
        rules
            .actions
            .get(action)
            .map_or_else(String::new, |a| a.label.clone())
    };
    let how = match badge.criterion {
        Criterion::Count {
            action,
            role: Role::Actor,
        } => format!("{} {}", label(action), times(n)),
        Criterion::Count {
            action,
            role: Role::Received,
        } => {
            if rules.insights.of(action) == Some(InsightRole::Accepted) {
                match n {
                    1 => "Had an answer accepted by another member".to_owned(),
                    n => format!("Had {n} answers accepted by other members"),
                }
            } else {
                format!(
                    "Received \"{}\" from other members {}",
                    label(action),
                    times(n)
                )
            }
        }
        Criterion::StreakDays => format!("Contributed on {n} days in a row"),
        Criterion::DistinctCommunities { action } => {
            format!("{} in {n} different communities", label(action))
        }
        Criterion::AllStages => format!(
            "Took part in all {n} stages of the knowledge cycle: create, discover, capture, organize, disseminate and use"
        ),
        Criterion::Points => format!("Earned {n} points"),
        Criterion::Manual => "Granted by the community's managers".to_owned(),
    };
    format!("{how}.")
}

#[cfg(test)]
mod tests;
