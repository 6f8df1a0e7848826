//! Fair play for admins (SPEC §9): `GET /v1/admin/fair-play` lists the
//! pairs whose points come suspiciously often from one member and the
//! rings they form; `POST /v1/admin/fair-play/revoke` takes those pairs'
//! events back by appending a revocation of each to the log (ids
//! `fair-play:<event id>`), so a replay reproduces it and asking twice
//! changes nothing more.

use actix_web::{HttpRequest, HttpResponse, web};
use engagement_core::fair_play::{self, PERIODS, Report};
use engagement_core::{Bucket, Event, EventId, MemberId, Period, Status};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Access, authorize, from_json, json_body, query_date, still_kept};
use crate::app::AppState;
use crate::error::{ApiError, Invalid};
use crate::ingest::{IngestError, Origin};
use crate::store::Store;

/// The kind of the revocations fair play appends.
pub const REVOCATION_KIND: &str = "fair_play.revoked";

/// Pairs one revoke request may name.
pub const MAX_PAIRS: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FairPlayQuery {
    pub period: Option<String>,
    pub at: Option<String>,
}

/// The bucket a request names: a day, week or month (`month` when absent)
/// holding `at` (today when absent), still kept.
pub fn bucket_of(
    state: &AppState,
    period: Option<&str>,
    at: Option<&str>,
    invalid: Invalid,
) -> Result<Bucket, ApiError> {
    let kept: Vec<&str> = PERIODS.iter().map(|p| p.as_str()).collect();
    let period = match period {
        None => Period::Month,
        Some(p) => Period::parse(p)
            .filter(|p| fair_play::kept(*p))
            .ok_or_else(|| {
                ApiError::invalid(
                    invalid,
                    format!("period: fair play is kept for {} buckets", kept.join(", ")),
                )
            })?,
    };
    let rules = state.rules();
    let date = query_date(&rules.rules, at).map_err(|e| match e {
        ApiError::Invalid { message, .. } => ApiError::invalid(invalid, message),
        other => other,
    })?;
    let bucket = Bucket::containing(period, date, rules.rules.week_starts);
    still_kept(state, &bucket, "fair-play report", date)?;
    Ok(bucket)
}

/// Refuses when fair play is not kept (`fair_play_disabled`).
pub fn kept(state: &AppState) -> Result<(), ApiError> {
    if state.fair_play {
        Ok(())
    } else {
        Err(ApiError::FairPlayDisabled)
    }
}

/// The report of one bucket.
pub async fn report_of(state: &AppState, bucket: Bucket) -> Result<Report, ApiError> {
    kept(state)?;
    let rules = state.rules();
    Ok(state.store.fair_play(&rules.rules, bucket).await?)
}

#[utoipa::path(get, path = "/v1/admin/fair-play", tag = "admin",
    params(("period" = Option<String>, Query, description = "day, week or month (default)"),
        ("at" = Option<String>, Query, description = "a date of the bucket, YYYY-MM-DD; today by default")),
    responses((status = 200, description = "the bucket's strong pairs and rings, most events first"),
        (status = 404, description = "bucket_expired or fair_play_disabled"),
        (status = 422, description = "bad period or date")))]
pub async fn report(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<FairPlayQuery>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, Access::Admin)?;
    let bucket = bucket_of(&state, q.period.as_deref(), q.at.as_deref(), Invalid::Query)?;
    Ok(HttpResponse::Ok().json(report_of(&state, bucket).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// The pairs whose events to take back (at most 100).
    pub pairs: Vec<PairName>,
    /// `day`, `week` or `month` (default).
    pub period: Option<String>,
    /// A date of the bucket, `YYYY-MM-DD`; today by default.
    pub at: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PairName {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevokeResponse {
    pub period: String,
    #[schema(value_type = Object)]
    pub bucket: engagement_core::insights::BucketSpan,
    pub pairs: Vec<PairRevoked>,
    /// Events taken back by this request, all pairs together.
    pub revoked: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PairRevoked {
    pub from: String,
    pub to: String,
    /// The pair's events found in the bucket, not revoked before.
    pub events: usize,
    /// Of those, the ones this request took back (the others were taken
    /// back by a request running at the same time).
    pub revoked: usize,
}

#[utoipa::path(post, path = "/v1/admin/fair-play/revoke", tag = "admin",
    request_body = RevokeRequest,
    responses((status = 200, body = RevokeResponse),
        (status = 404, description = "bucket_expired or fair_play_disabled"),
        (status = 422, description = "invalid_fair_play: bad pairs, period or date")))]
pub async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, Access::Admin)?;
    let invalid = |message: String| ApiError::invalid(Invalid::FairPlay, message);
    let body: RevokeRequest = from_json(json_body(&req, payload).await?).map_err(invalid)?;
    let pairs = checked_pairs(&body.pairs)?;
    let bucket = bucket_of(
        &state,
        body.period.as_deref(),
        body.at.as_deref(),
        Invalid::FairPlay,
    )?;
    Ok(HttpResponse::Ok().json(take_back(&state, bucket, &pairs).await?))
}

/// Appends a revocation of each of the pairs' events in `bucket` through
/// the one ingest path, and says what was taken back.
pub async fn take_back(
    state: &AppState,
    bucket: Bucket,
    pairs: &[(MemberId, MemberId)],
) -> Result<RevokeResponse, ApiError> {
    kept(state)?;
    let rules = state.rules();
    let found = state.store.pair_events(&rules.rules, bucket, pairs).await?;
    let now = jiff::Timestamp::now();
    let mut events = Vec::new();
    for ((from, _), ids) in pairs.iter().zip(&found) {
        events.extend(ids.iter().filter_map(|id| revocation(id, from, now)));
    }
    let mut applied: std::collections::HashSet<EventId> = std::collections::HashSet::new();
    for chunk in events.chunks(super::events::MAX_BATCH) {
        let taken = state
            .ingest(&rules.rules)
            .run(Origin::FairPlay, chunk.to_vec())
            .await
            .map_err(|e| match e {
                IngestError::Invalid { message, .. } => {
                    ApiError::invalid(Invalid::FairPlay, message)
                }
                other => other.into(),
            })?;
        for (event, outcome) in taken {
            if outcome.status == Status::Applied
                && let Some(x) = event.revokes
            {
                applied.insert(x);
            }
        }
    }
    let pairs: Vec<PairRevoked> = pairs
        .iter()
        .zip(&found)
        .map(|((from, to), ids)| PairRevoked {
            from: from.to_string(),
            to: to.to_string(),
            events: ids.len(),
            revoked: ids.iter().filter(|id| applied.contains(*id)).count(),
        })
        .collect();
    Ok(RevokeResponse {
        period: bucket.period.as_str().to_owned(),
        bucket: engagement_core::insights::BucketSpan::of(&bucket),
        revoked: pairs.iter().map(|p| p.revoked).sum(),
        pairs,
    })
}

/// The pairs named, checked: 1 to [`MAX_PAIRS`] of two distinct members,
/// each once.
pub fn checked_pairs(named: &[PairName]) -> Result<Vec<(MemberId, MemberId)>, ApiError> {
    let invalid = |message: String| ApiError::invalid(Invalid::FairPlay, message);
    if named.is_empty() || named.len() > MAX_PAIRS {
        return Err(invalid(format!("pairs: 1 to {MAX_PAIRS} pairs")));
    }
    let mut pairs: Vec<(MemberId, MemberId)> = Vec::with_capacity(named.len());
    for (i, p) in named.iter().enumerate() {
        let id = |raw: &str, field: &str| {
            MemberId::parse(raw).map_err(|e| invalid(format!("pairs[{i}].{field}: {e}")))
        };
        let pair = (id(&p.from, "from")?, id(&p.to, "to")?);
        if pair.0 == pair.1 {
            return Err(invalid(format!("pairs[{i}]: from and to are one member")));
        }
        if !pairs.contains(&pair) {
            pairs.push(pair);
        }
    }
    Ok(pairs)
}

/// The revocation of event `id` of `from`, as fair play appends it (its
/// id is within 200 bytes by construction: see `revocation_id`).
pub fn revocation(id: &EventId, from: &MemberId, at: jiff::Timestamp) -> Option<Event> {
    Some(Event {
        id: EventId::parse(fair_play::revocation_id(id.as_str())).ok()?,
        kind: REVOCATION_KIND.to_owned(),
        actor: from.clone(),
        actor_name: None,
        occurred_at: at,
        community: None,
        target: None,
        revokes: Some(id.clone()),
        actor_unknown: false,
        adjustment: None,
    })
}
