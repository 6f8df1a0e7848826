//! Operations: liveness, readiness, metrics and the OpenAPI document.

use actix_web::{HttpResponse, web};
use utoipa::OpenApi;

use crate::app::AppState;
use crate::error::ApiError;
use crate::store::Store;

/// The API description, generated from the handlers and their types.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Engagement engine",
        description = "Points, badges, streaks and leaderboards for knowledge-sharing communities"
    ),
    paths(
        super::events::ingest,
        super::webhooks::discourse,
        super::webhooks::github,
        super::insights::report,
        super::leaderboards::list,
        super::leaderboards::page,
        super::leaderboards::standing,
        super::members::profile,
        super::members::update,
        super::ledger::ledger,
        super::ledger::explain,
        super::admin::rules,
        super::admin::check_rules,
        super::admin::replace_rules,
        super::admin::rule_versions,
        super::admin::rollback_rules,
        super::admin::grant_badge,
        super::adjust::adjust,
        super::adjust::revoke,
        super::admin::replay,
        super::deliveries::list,
        super::deliveries::retry,
        super::fair_play::report,
        super::fair_play::revoke,
        super::credentials::issuer,
        super::credentials::key,
        super::credentials::achievement,
        super::credentials::list,
        super::credentials::one,
        super::credentials::sealed,
    )
)]
pub struct ApiDoc;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store.ping().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"})))
}

pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let text = state
        .metrics
        .render()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text))
}

pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
