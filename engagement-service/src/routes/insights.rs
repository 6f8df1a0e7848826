//! `GET /v1/insights`: whether knowledge flows, for one community (or the
//! whole deployment) and one period bucket (SPEC §8).

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use engagement_core::{Bucket, CommunityId, Period, Report};
use serde::Deserialize;

use super::{Access, authorize, query_date, still_kept};
use crate::app::AppState;
use crate::error::{ApiError, Invalid};
use crate::store::Store;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsightsQuery {
    pub community: Option<String>,
    pub period: Option<String>,
    pub at: Option<String>,
}

/// What a request for insights names, checked.
pub struct Asked {
    pub community: Option<CommunityId>,
    pub bucket: Bucket,
    /// Whether the admin token came with it (who holds the answers is shown).
    pub admin: bool,
}

impl Asked {
    /// Checks the credentials (the read token or the admin token) and the
    /// query.
    pub fn resolve(
        req: &HttpRequest,
        state: &AppState,
        q: &InsightsQuery,
    ) -> Result<Asked, ApiError> {
        let admin = authorize(req, state, Access::Admin).is_ok();
        if !admin {
            authorize(req, state, Access::Read)?;
        }
        Asked::parse(state, q, admin)
    }

    /// Checks the query alone: a known period (`month` when absent) and a
    /// date.
    pub fn parse(state: &AppState, q: &InsightsQuery, admin: bool) -> Result<Asked, ApiError> {
        let period = match &q.period {
            None => Period::Month,
            Some(p) => Period::parse(p).ok_or_else(|| {
                let known: Vec<&str> = Period::ALL.iter().map(|p| p.as_str()).collect();
                ApiError::invalid(
                    Invalid::Query,
                    format!("period: expected one of {}", known.join(", ")),
                )
            })?,
        };
        let community = q
            .community
            .clone()
            .map(CommunityId::parse)
            .transpose()
            .map_err(|e| ApiError::invalid(Invalid::Query, format!("community: {e}")))?;
        let rules = state.rules();
        let date = query_date(&rules.rules, q.at.as_deref())?;
        let bucket = Bucket::containing(period, date, rules.rules.week_starts);
        still_kept(state, &bucket, "insights", date)?;
        Ok(Asked {
            community,
            bucket,
            admin,
        })
    }

    /// The report, or 404 when insights are off or the community unknown.
    pub async fn report(&self, state: &AppState) -> Result<Arc<Report>, ApiError> {
        self.report_of(state, self.bucket).await
    }

    /// [`Asked::report`] for another bucket of the same scope.
    pub async fn report_of(
        &self,
        state: &AppState,
        bucket: Bucket,
    ) -> Result<Arc<Report>, ApiError> {
        if !state.insights {
            return Err(ApiError::InsightsDisabled);
        }
        let rules = state.rules();
        let report = state
            .store
            .insights(&rules.rules, self.community.as_ref(), bucket, self.admin)
            .await?;
        report.ok_or_else(|| {
            let c = self.community.as_ref().map_or("", |c| c.as_str());
            ApiError::NotFound(format!("no event has named the community \"{c}\""))
        })
    }
}

/// The §8 report (its JSON shape is in the README and SPEC §8); with the
/// admin token it also lists who holds the accepted answers.
#[utoipa::path(get, path = "/v1/insights", tag = "read",
    params(("community" = Option<String>, Query), ("period" = Option<String>, Query),
        ("at" = Option<String>, Query)),
    responses((status = 200, description = "whether knowledge flows in the scope and bucket"),
        (status = 404, description = "unknown community, bucket_expired or insights_disabled"),
        (status = 422, description = "bad period, date or query")))]
pub async fn report(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<InsightsQuery>,
) -> Result<HttpResponse, ApiError> {
    let asked = Asked::resolve(&req, &state, &q)?;
    let report = asked.report(&state).await?;
    Ok(HttpResponse::Ok().json(&*report))
}
