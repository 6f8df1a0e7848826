//! Admin: read, check and replace the rules; grant badges by hand.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Access, authorize, from_json, json_body, member_id, read_body};
use crate::app::{AppState, LoadedRules};
use crate::error::{ApiError, Invalid};
use crate::ingest::IngestError;
use crate::rules_file::{self, RulesFileError};
use crate::rules_sync::{self, ActivateError};
use crate::store::{Activation, RulesOrigin, Store};

/// Stores `loaded` as the deployment's rules and switches to them.
async fn put_in_force(
    state: &AppState,
    loaded: LoadedRules,
    origin: RulesOrigin,
) -> Result<(), ApiError> {
    rules_sync::activate(state, loaded, origin)
        .await
        .map_err(|e| match e {
            ActivateError::Refused(e) => ApiError::invalid(Invalid::Rules, e),
            ActivateError::Store(e) => e.into(),
        })
}

/// A rule version the deployment has put in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    pub version: String,
    /// What put it in force: `start`, `api`, `reload` or `rollback`.
    pub origin: RulesOrigin,
    pub activated_at: String,
    /// Whether it is the version in force now.
    pub active: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionsView {
    /// The version in force, which every instance follows within a second.
    pub active: Option<String>,
    /// Every activation, newest first.
    pub versions: Vec<VersionView>,
}

/// Every rule version the deployment has put in force, newest first.
#[utoipa::path(get, path = "/v1/admin/rules/versions", tag = "admin", responses((status = 200, body = VersionsView)))]
pub async fn rule_versions(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, Access::Admin)?;
    let history = state.store.rules_history().await?;
    let active = history.first().map(|a| a.version.clone());
    let versions = history
        .into_iter()
        .enumerate()
        .map(|(i, a): (usize, Activation)| VersionView {
            active: i == 0,
            version: a.version,
            origin: a.origin,
            activated_at: a.activated_at.to_string(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(VersionsView { active, versions }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The version to go back to; the one in force before the current one
    /// when absent.
    pub version: Option<String>,
}

/// Puts an earlier rule version back in force for the whole deployment.
#[utoipa::path(post, path = "/v1/admin/rules/rollback", tag = "admin", request_body(content = RollbackRequest, description = "optional"),
    responses((status = 200, body = RulesView), (status = 404), (status = 422)))]
pub async fn rollback_rules(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, Access::Admin)?;
    let body = read_body(&req, payload).await?;
    let asked: RollbackRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RollbackRequest::default()
    } else {
        let value: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::Malformed(format!("malformed JSON: {e}")))?;
        from_json(value).map_err(|e| ApiError::invalid(Invalid::Rules, e))?
    };
    let history = state.store.rules_history().await?;
    let current = history.first().map(|a| a.version.as_str());
    let version = match asked.version {
        Some(version) => version,
        None => history
            .iter()
            .map(|a| a.version.as_str())
            .find(|v| Some(*v) != current)
            .ok_or_else(|| {
                ApiError::invalid(Invalid::Rules, "no earlier rule version to go back to")
            })?
            .to_owned(),
    };
    if !history.iter().any(|a| a.version == version) {
        return Err(ApiError::NotFound(format!(
            "no stored rule version {version}"
        )));
    }
    let loaded = rules_sync::stored(&state.store, &version).await?;
    let view = RulesView {
        summary: loaded.rules.summary(),
        source: loaded.source.clone(),
    };
    put_in_force(&state, loaded, RulesOrigin::Rollback).await?;
    tracing::info!(%version, "rules rolled back");
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RulesView {
    #[schema(value_type = Object)]
    pub summary: engagement_core::Summary,
    pub source: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckFailure {
    pub error: CheckError,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckError {
    pub code: String,
    pub message: String,
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<engagement_core::RuleError>,
}

/// Checks a TOML body; a failure is a 422 listing every error with line and column.
async fn checked(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Result<LoadedRules, HttpResponse>, ApiError> {
    let body = read_body(req, payload).await?;
    let source = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::Malformed("rule file is not UTF-8".into()))?;
    Ok(match rules_file::parse("request body", source) {
        Ok(loaded) => Ok(loaded),
        Err(RulesFileError::Invalid { errors, .. }) => Err(HttpResponse::UnprocessableEntity()
            .json(CheckFailure {
                error: CheckError {
                    code: "invalid_rules".into(),
                    message: format!("the rule file has {} error(s)", errors.len()),
                    errors,
                },
            })),
        Err(e @ RulesFileError::Unreadable { .. }) => {
            return Err(ApiError::Internal(e.to_string()));
        }
    })
}

#[utoipa::path(get, path = "/v1/admin/rules", tag = "admin", responses((status = 200, body = RulesView)))]
pub async fn rules(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, Access::Admin)?;
    let loaded = state.rules();
    Ok(HttpResponse::Ok().json(RulesView {
        summary: loaded.rules.summary(),
        source: loaded.source.clone(),
    }))
}

#[utoipa::path(post, path = "/v1/admin/rules/check", tag = "admin", request_body(content = String, content_type = "application/toml"),
    responses((status = 200, body = RulesView), (status = 422, body = CheckFailure)))]
pub async fn check_rules(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, Access::Admin)?;
    Ok(match checked(&req, payload).await? {
        Ok(loaded) => HttpResponse::Ok().json(RulesView {
            summary: loaded.rules.summary(),
            source: loaded.source,
        }),
        Err(failure) => failure,
    })
}

/// Checks, then puts the rules in force for the whole deployment (stored
/// with their version; every instance switches within a second); a bad
/// file leaves the old rules in force.
#[utoipa::path(put, path = "/v1/admin/rules", tag = "admin", request_body(content = String, content_type = "application/toml"),
    responses((status = 200, body = RulesView), (status = 422, body = CheckFailure)))]
pub async fn replace_rules(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, Access::Admin)?;
    Ok(match checked(&req, payload).await? {
        Ok(loaded) => {
            let view = RulesView {
                summary: loaded.rules.summary(),
                source: loaded.source.clone(),
            };
            put_in_force(&state, loaded, RulesOrigin::Api).await?;
            tracing::info!(version = %view.summary.version, "rules replaced");
            HttpResponse::Ok().json(view)
        }
        Err(failure) => failure,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub badge: String,
    /// Tier name; the first tier when absent.
    pub tier: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    pub member: String,
    pub badge: String,
    pub tier: Option<String>,
    /// False when the member already held that tier.
    pub granted: bool,
}

#[utoipa::path(post, path = "/v1/admin/members/{member}/badges", tag = "admin", request_body = GrantRequest,
    params(("member" = String, Path)), responses((status = 200, body = GrantView), (status = 422)))]
pub async fn grant_badge(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, Access::Admin)?;
    let member = member_id(path.into_inner())?;
    let body = json_body(&req, payload).await?;
    let grant: GrantRequest = from_json(body).map_err(|e| ApiError::invalid(Invalid::Grant, e))?;
    let loaded = state.rules();
    let (tier, granted) = state
        .ingest(&loaded.rules)
        .grant(&member, &grant.badge, grant.tier.as_deref(), grant.reason)
        .await
        .map_err(|e| match e {
            IngestError::Grant(message) => ApiError::invalid(Invalid::Grant, message),
            other => other.into(),
        })?;
    Ok(HttpResponse::Ok().json(GrantView {
        member: member.to_string(),
        badge: grant.badge,
        tier,
        granted,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayView {
    /// Distinct events in the log.
    pub events: usize,
    pub members: usize,
    pub rules_version: String,
    pub took_ms: u64,
}

/// Rebuilds all derived state from the log under the rules in force; the
/// old state is served until the new one is complete.
#[utoipa::path(post, path = "/v1/admin/replay", tag = "admin", responses((status = 200, body = ReplayView)))]
pub async fn replay(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, Access::Admin)?;
    let loaded = state.rules();
    let started = std::time::Instant::now();
    let summary = state.ingest(&loaded.rules).replay().await?;
    Ok(HttpResponse::Ok().json(ReplayView {
        events: summary.events,
        members: summary.members,
        rules_version: loaded.rules.version.clone(),
        took_ms: started.elapsed().as_millis() as u64,
    }))
}
