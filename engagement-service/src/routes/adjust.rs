//! `POST /v1/admin/members/{member}/points`: an admin gives or takes
//! points by hand. The adjustment is an event of the log like any other
//! (replayed, exported, simulated), idempotent by its `id`, whose event id
//! is `adjustment:<id>`; `POST .../points/{id}/revoke` undoes it.

use actix_web::{HttpRequest, HttpResponse, web};
use engagement_core::{Adjustment, Event, EventId};
use serde::Deserialize;
use utoipa::ToSchema;

use super::events::{EventResult, IngestResponse};
use super::{Access, authorize, from_json, json_body, member_id};
use crate::app::AppState;
use crate::error::{ApiError, Invalid};
use crate::ingest::{
    ADJUSTMENT_ID_PREFIX, ADJUSTMENT_UNDO_PREFIX, IngestError, MAX_ADJUSTMENT_ID_BYTES, Origin,
};
use crate::store::Store;

/// The kind of an adjustment's event in the log.
pub const ADJUSTMENT_KIND: &str = "points.adjusted";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustRequest {
    /// The adjustment's event id: sending the same id again changes nothing.
    pub id: String,
    /// Points to give, or (negative) to take; never below zero in all.
    pub points: i64,
    /// Why: shown in the member's ledger.
    pub reason: String,
}

#[utoipa::path(post, path = "/v1/admin/members/{member}/points", tag = "admin",
    params(("member" = String, Path)), request_body = AdjustRequest,
    responses((status = 200, body = IngestResponse),
        (status = 422, description = "invalid adjustment, or a take-back larger than the member's points")))]
pub async fn adjust(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, Access::Admin)?;
    let member = member_id(path.into_inner())?;
    let body: AdjustRequest = from_json(json_body(&req, payload).await?)
        .map_err(|e| ApiError::invalid(Invalid::Adjustment, e))?;
    if body.id.is_empty() || body.id.len() > MAX_ADJUSTMENT_ID_BYTES {
        return Err(ApiError::invalid(
            Invalid::Adjustment,
            format!("id: must be 1 to {MAX_ADJUSTMENT_ID_BYTES} bytes"),
        ));
    }
    let id = EventId::parse(format!("{ADJUSTMENT_ID_PREFIX}{}", body.id))
        .map_err(|e| ApiError::invalid(Invalid::Adjustment, format!("id: {e}")))?;
    let event = Event {
        id,
        kind: ADJUSTMENT_KIND.to_owned(),
        actor: member,
        actor_name: None,
        occurred_at: jiff::Timestamp::now(),
        community: None,
        target: None,
        revokes: None,
        actor_unknown: false,
        adjustment: Some(Adjustment {
            points: body.points,
            reason: body.reason,
        }),
    };
    admin_ingest(&state, event).await
}

#[utoipa::path(post, path = "/v1/admin/members/{member}/points/{id}/revoke", tag = "admin",
    params(("member" = String, Path), ("id" = String, Path, description = "the adjustment's id, as it was sent")),
    responses((status = 200, body = IngestResponse),
        (status = 404, description = "no such adjustment of this member"),
        (status = 422, description = "undoing it would leave the member below zero")))]
pub async fn revoke(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, Access::Admin)?;
    let (member, id) = path.into_inner();
    let member = member_id(member)?;
    let parse = |id: String| {
        EventId::parse(id).map_err(|e| ApiError::invalid(Invalid::Path, format!("id: {e}")))
    };
    let adjustment = parse(format!("{ADJUSTMENT_ID_PREFIX}{id}"))?;
    let recorded = state
        .store
        .outcomes(std::slice::from_ref(&adjustment))
        .await?
        .pop()
        .flatten();
    // The adjustment's member is named by its award, or by its note when
    // a take-back found nothing left to take.
    let of_member = recorded
        .as_ref()
        .and_then(|o| o.revocable())
        .is_some_and(|e| {
            let named = e.awards.iter().map(|a| Some(&a.member));
            let noted = e.notes.iter().map(|n| n.member.as_ref());
            let mut members = named.chain(noted).peekable();
            members.peek().is_some() && members.all(|m| m == Some(&member))
        });
    if !of_member {
        return Err(ApiError::NotFound(format!(
            "no adjustment \"{id}\" of member \"{member}\""
        )));
    }
    let event = Event {
        id: parse(format!("{ADJUSTMENT_UNDO_PREFIX}{id}"))?,
        kind: "adjustment.revoked".to_owned(),
        actor: member,
        actor_name: None,
        occurred_at: jiff::Timestamp::now(),
        community: None,
        target: None,
        revokes: Some(adjustment),
        actor_unknown: false,
        adjustment: None,
    };
    admin_ingest(&state, event).await
}

/// Ingests an admin's event and answers it explained.
async fn admin_ingest(state: &AppState, event: Event) -> Result<HttpResponse, ApiError> {
    let rules = state.rules();
    let taken = state
        .ingest(&rules.rules)
        .run(Origin::Admin, vec![event])
        .await
        .map_err(|e| match e {
            IngestError::Invalid { message, .. } => ApiError::invalid(Invalid::Adjustment, message),
            other => other.into(),
        })?;
    let results = taken
        .iter()
        .map(|(e, o)| EventResult::new(e, o).explained(Some(&rules.rules), o))
        .collect();
    Ok(HttpResponse::Ok().json(IngestResponse { results }))
}
