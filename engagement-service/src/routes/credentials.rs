//! Badges members can take with them (SPEC §11): the issuer's Profile and
//! the Achievements under `/ob/`, public so that anyone can check a
//! credential; the members' credentials under `/v1/members/{m}/credentials`,
//! read like profiles. JSON, or a compact JWS with `Accept:
//! application/vc+jwt` (or `?format=jwt`, for a download link).

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use engagement_core::rules::{Badge, OpenBadges};
use engagement_core::{MemberId, MemberState, RuleSet};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::{Access, authorize, authorize_page, member_id};
use crate::app::{AppState, LoadedRules};
use crate::credentials::{CONTEXT, Issuer, VC_JWT, tier_name};
use crate::error::ApiError;
use crate::store::Store;

/// The issuer, the rules in force and their `[openbadges]`, or why
/// credentials are off.
fn setup(state: &AppState) -> Result<(Arc<Issuer>, Arc<LoadedRules>, OpenBadges), ApiError> {
    let Some(issuer) = state.credentials.clone() else {
        return Err(ApiError::CredentialsDisabled(
            "credentials are not issued by this deployment: set ENGAGEMENT_PUBLIC_URL and ENGAGEMENT_SIGNING_KEY".to_owned(),
        ));
    };
    let loaded = state.rules();
    let Some(ob) = loaded.rules.openbadges.clone() else {
        return Err(ApiError::CredentialsDisabled(
            "credentials are not issued by this deployment: the rule file has no [openbadges] section".to_owned(),
        ));
    };
    Ok((issuer, loaded, ob))
}

/// The badge and the index of the tier a path names: the tier's name, or
/// nothing for a badge whose one tier has no name.
fn badge_tier<'r>(
    rules: &'r RuleSet,
    badge: &str,
    tier: Option<&str>,
) -> Result<(&'r Badge, usize), ApiError> {
    let b = rules
        .badge(badge)
        .ok_or_else(|| ApiError::NotFound(format!("no badge \"{badge}\"")))?;
    let at = b.tiers.iter().position(|t| t.name.as_deref() == tier);
    at.map(|i| (b, i)).ok_or_else(|| {
        let names: Vec<&str> = b.tiers.iter().filter_map(|t| t.name.as_deref()).collect();
        ApiError::NotFound(match (tier, names.is_empty()) {
            (_, true) => format!("badge \"{badge}\" has no tiers"),
            (None, false) => format!("badge \"{badge}\" has tiers: {}", names.join(", ")),
            (Some(t), false) => format!("badge \"{badge}\" has no tier \"{t}\""),
        })
    })
}

/// A path naming a badge tier (and, under `/v1/members`, its holder).
#[derive(Debug, Deserialize)]
pub struct BadgePath {
    member: Option<String>,
    badge: String,
    tier: Option<String>,
}

#[utoipa::path(get, path = "/ob/issuer", tag = "credentials",
    responses((status = 200, description = "the issuer's Open Badges Profile with its public key"),
        (status = 404, description = "credentials_disabled")))]
pub async fn issuer(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (issuer, _, ob) = setup(&state)?;
    Ok(HttpResponse::Ok().json(issuer.profile(&ob)))
}

#[utoipa::path(get, path = "/ob/keys/{thumbprint}", tag = "credentials",
    params(("thumbprint" = String, Path, description = "the key's RFC 7638 thumbprint, as the credentials' kid ends")),
    responses((status = 200, description = "the issuer's public key as a bare JWK"),
        (status = 404, description = "another key, or credentials_disabled")))]
pub async fn key(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (issuer, _, _) = setup(&state)?;
    if path.into_inner() != issuer.thumbprint() {
        return Err(ApiError::NotFound(
            "no such key: the issuer signs with another one".to_owned(),
        ));
    }
    Ok(HttpResponse::Ok()
        .content_type("application/jwk+json")
        .body(issuer.jwk().to_string()))
}

#[utoipa::path(get, path = "/ob/achievements/{badge}/{tier}", tag = "credentials",
    params(("badge" = String, Path), ("tier" = String, Path, description = "left out for a badge with one unnamed tier")),
    responses((status = 200, description = "the badge tier as an Open Badges Achievement"),
        (status = 404, description = "unknown badge or tier, or credentials_disabled")))]
pub async fn achievement(
    state: web::Data<AppState>,
    path: web::Path<BadgePath>,
) -> Result<HttpResponse, ApiError> {
    let (issuer, loaded, ob) = setup(&state)?;
    let rules = &loaded.rules;
    let BadgePath { badge, tier, .. } = path.into_inner();
    let (badge, tier) = badge_tier(rules, &badge, tier.as_deref())?;
    let mut achievement = issuer.achievement(rules, &ob, badge, tier);
    achievement["@context"] = json!(CONTEXT);
    Ok(HttpResponse::Ok().json(achievement))
}

/// One of a member's credentials, in both forms.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeldCredential {
    pub badge: String,
    pub tier: Option<String>,
    /// "Mentor (silver)".
    pub name: String,
    pub awarded_at: String,
    /// Where the credential is read.
    pub id: String,
    #[schema(value_type = Object)]
    pub credential: Value,
    /// The credential signed, as a compact JWS.
    pub jwt: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialList {
    pub member: String,
    pub credentials: Vec<HeldCredential>,
}

/// The member's state, refused when unknown or hidden.
async fn holder(state: &AppState, member: &MemberId) -> Result<MemberState, ApiError> {
    let found = state.store.member(member).await?;
    match found {
        Some(s) if s.profile.visibility != engagement_core::Visibility::Hidden => Ok(s),
        Some(_) => Err(ApiError::NotFound(format!(
            "member \"{member}\" is hidden and has no credentials"
        ))),
        None => Err(ApiError::NotFound(format!("no member \"{member}\""))),
    }
}

#[utoipa::path(get, path = "/v1/members/{member}/credentials", tag = "credentials",
    params(("member" = String, Path)),
    responses((status = 200, body = CredentialList),
        (status = 404, description = "unknown or hidden member, or credentials_disabled")))]
pub async fn list(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, Access::Read)?;
    let (issuer, loaded, ob) = setup(&state)?;
    let rules = &loaded.rules;
    let member = member_id(path.into_inner())?;
    let held = holder(&state, &member).await?;
    let credentials = (held.badges.iter())
        .filter_map(|b| {
            let credential = issuer.credential(rules, &ob, &member, &held, b)?;
            let badge = rules.badge(&b.badge)?;
            Some(HeldCredential {
                badge: b.badge.to_string(),
                tier: badge.tiers.get(b.tier).and_then(|t| t.name.clone()),
                name: tier_name(badge, b.tier),
                awarded_at: credential["validFrom"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                id: issuer.credential_id(&member, badge, b.tier),
                jwt: issuer.sign(&credential),
                credential,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(CredentialList {
        member: member.to_string(),
        credentials,
    }))
}

#[derive(Debug, Deserialize)]
pub struct CredentialQuery {
    /// `jwt` or `json`; else the `Accept` header decides.
    pub format: Option<String>,
    /// Served as a file to save.
    pub download: Option<bool>,
    /// The read token, for links from the members' pages.
    pub token: Option<String>,
}

#[utoipa::path(get, path = "/v1/members/{member}/credentials/{badge}/{tier}", tag = "credentials",
    params(("member" = String, Path), ("badge" = String, Path),
        ("tier" = String, Path, description = "left out for a badge with one unnamed tier"),
        ("format" = Option<String>, Query, description = "jwt or json; else Accept: application/vc+jwt asks for the JWS"),
        ("download" = Option<bool>, Query)),
    responses((status = 200, description = "the OpenBadgeCredential, as JSON or as a compact JWS (application/vc+jwt)"),
        (status = 404, description = "a badge tier the member does not hold, an unknown or hidden member, or credentials_disabled")))]
pub async fn one(
    req: HttpRequest,
    path: web::Path<BadgePath>,
    q: web::Query<CredentialQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // A download link from the members' pages carries the read token.
    authorize_page(&req, &state, q.token.as_deref())?;
    let (issuer, loaded, ob) = setup(&state)?;
    let rules = &loaded.rules;
    let BadgePath {
        member,
        badge,
        tier,
    } = path.into_inner();
    let member = member_id(member.unwrap_or_default())?;
    let (badge, tier) = badge_tier(rules, &badge, tier.as_deref())?;
    let asked = Asked {
        issuer: &issuer,
        rules,
        ob: &ob,
        member,
        badge,
        tier,
    };
    asked.answer(&req, &q, &state).await
}

#[utoipa::path(get, path = "/ob/credentials/{sealed}", tag = "credentials",
    params(("sealed" = String, Path, description = "the last segment of a credential's id"),
        ("format" = Option<String>, Query, description = "jwt or json; else Accept: application/vc+jwt asks for the JWS")),
    responses((status = 200, description = "the credential, while its member holds it: what `engagement credentials verify --online` asks"),
        (status = 404, description = "no such credential, or one its member no longer holds or shows, or credentials_disabled")))]
pub async fn sealed(
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<CredentialQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (issuer, loaded, ob) = setup(&state)?;
    let rules = &loaded.rules;
    let unknown = || ApiError::NotFound("no such credential".to_owned());
    let (member, badge, tier) = issuer
        .open_credential_id(&path.into_inner())
        .ok_or_else(unknown)?;
    let badge = rules.badge(&badge).ok_or_else(unknown)?;
    let asked = Asked {
        issuer: &issuer,
        rules,
        ob: &ob,
        member,
        badge,
        tier,
    };
    asked.answer(&req, &q, &state).await
}

/// Whether an `Accept` header asks for the JWS before JSON: the media range
/// `application/vc+jwt` with a quality above zero and at least that of any
/// JSON range.
fn prefers_jwt(accept: &str) -> bool {
    let quality = |wanted: &[&str]| -> f32 {
        accept
            .split(',')
            .filter_map(|range| {
                let mut parts = range.split(';').map(str::trim);
                let media = parts.next()?.to_ascii_lowercase();
                if !wanted.contains(&media.as_str()) {
                    return None;
                }
                let q = parts
                    .find_map(|p| p.strip_prefix("q="))
                    .map_or(1.0, |q| q.trim().parse::<f32>().unwrap_or(0.0));
                Some(q)
            })
            .fold(0.0, f32::max)
    };
    let jwt = quality(&[VC_JWT]);
    jwt > 0.0 && jwt >= quality(&["application/json", "application/ld+json", "application/vc"])
}

/// One credential asked for: whose, which badge and tier.
struct Asked<'a> {
    issuer: &'a Issuer,
    rules: &'a RuleSet,
    ob: &'a OpenBadges,
    member: MemberId,
    badge: &'a Badge,
    tier: usize,
}

impl Asked<'_> {
    /// The credential as JSON or as a JWS, as the request asks; 404 when the
    /// member does not hold it or is hidden.
    async fn answer(
        &self,
        req: &HttpRequest,
        q: &CredentialQuery,
        state: &AppState,
    ) -> Result<HttpResponse, ApiError> {
        let (issuer, rules, member) = (self.issuer, self.rules, &self.member);
        let (badge, tier) = (self.badge, self.tier);
        let held = holder(state, member).await?;
        let title = tier_name(badge, tier);
        let credential = (held.badges.iter())
            .find(|b| b.badge == badge.id && b.tier == tier)
            .and_then(|b| issuer.credential(rules, self.ob, member, &held, b))
            .ok_or_else(|| {
                ApiError::NotFound(format!("member \"{member}\" does not hold {title}"))
            })?;
        let accepts_jwt = (req.headers().get(header::ACCEPT))
            .and_then(|v| v.to_str().ok())
            .is_some_and(prefers_jwt);
        let jwt = match q.format.as_deref() {
            Some("jwt") => true,
            Some("json") => false,
            Some(other) => {
                return Err(ApiError::invalid(
                    crate::error::Invalid::Query,
                    format!("format: expected jwt or json, got \"{other}\""),
                ));
            }
            None => accepts_jwt,
        };
        let mut res = HttpResponse::Ok();
        if q.download == Some(true) {
            let name: String = (title.chars())
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '-'
                    }
                })
                .collect();
            let file = format!("{name}.{}", if jwt { "jwt" } else { "json" });
            res.insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ));
        }
        Ok(if jwt {
            res.content_type(VC_JWT).body(issuer.sign(&credential))
        } else {
            res.json(credential)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::prefers_jwt;

    #[test]
    fn accept_headers_choose_the_jws_only_when_they_prefer_it() {
        assert!(prefers_jwt("application/vc+jwt"));
        assert!(prefers_jwt("application/json;q=0.5, application/vc+jwt"));
        assert!(!prefers_jwt("application/vc+jwt;q=0"));
        assert!(!prefers_jwt("application/vc+jwt;q=0.4, application/json"));
        assert!(!prefers_jwt("*/*"));
        assert!(!prefers_jwt("application/json"));
    }
}
