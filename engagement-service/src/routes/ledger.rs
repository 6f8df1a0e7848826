//! A member's points history, and why any one event paid them what it did.

use actix_web::{HttpRequest, HttpResponse, web};
use engagement_core::{EventId, Reason, Status};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::events::ExplainLine;
use super::{Access, authorize, member_id, query_number};
use crate::app::AppState;
use crate::error::{ApiError, Invalid};
use crate::store::Store;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerQuery {
    limit: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerView {
    pub member: String,
    pub entries: Vec<LedgerLine>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerLine {
    pub event: String,
    pub rule: String,
    pub points: i64,
    pub at: String,
    pub rules_version: String,
    /// The award was taken back by a later revocation.
    pub revoked: bool,
    /// On a take-back line: the event whose award it undoes.
    pub revokes: Option<String>,
    /// An admin's adjustment: why it was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `awarded`, `partial` (a cap cut it) or `revoked_event` (a take-back);
    /// `GET .../ledger/{event}` explains it fully.
    pub explain: String,
}

#[utoipa::path(get, path = "/v1/members/{member}/ledger", tag = "read",
    params(("member" = String, Path), ("limit" = Option<usize>, Query)), responses((status = 200, body = LedgerView)))]
pub async fn ledger(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<LedgerQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, Access::Read)?;
    let member = member_id(path.into_inner())?;
    let limit = query_number("limit", query.limit.as_deref())?.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid(
            Invalid::Query,
            "limit: expected 1 to 500",
        ));
    }
    let lines = state.store.ledger(&member, limit).await?;
    let revoked: Vec<(String, String)> = lines
        .iter()
        .filter_map(|l| {
            l.revokes
                .as_ref()
                .map(|r| (r.to_string(), l.rule.to_string()))
        })
        .collect();
    let entries = lines
        .into_iter()
        .map(|l| LedgerLine {
            revoked: l.revokes.is_none()
                && revoked.contains(&(l.event.to_string(), l.rule.to_string())),
            event: l.event.to_string(),
            rule: l.rule.to_string(),
            points: l.points,
            at: l.at.to_string(),
            rules_version: l.rules_version.to_string(),
            revokes: l.revokes.map(|r| r.to_string()),
            reason: l.reason.map(String::from),
            explain: l.why.unwrap_or(Reason::Awarded).as_str().to_owned(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(LedgerView {
        member: member.to_string(),
        entries,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventExplanation {
    pub member: String,
    pub event: String,
    /// `applied` or `ignored`, as first taken.
    pub status: String,
    /// The event is a revocation: its lines say what it took back.
    pub revocation: bool,
    /// The event was revoked since: what it paid was taken back.
    pub revoked: bool,
    /// The lines of the event's explanation about this member, one per
    /// points rule on its kind, in file order.
    pub explain: Vec<ExplainLine>,
}

#[utoipa::path(get, path = "/v1/members/{member}/ledger/{event}", tag = "read",
    params(("member" = String, Path), ("event" = String, Path)),
    responses((status = 200, body = EventExplanation),
        (status = 404, description = "no such event, or it did not concern the member")))]
pub async fn explain(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, Access::Read)?;
    let (member, event) = path.into_inner();
    let member = member_id(member)?;
    let event = EventId::parse(event)
        .map_err(|e| ApiError::invalid(Invalid::Path, format!("event: {e}")))?;
    let outcome = state
        .store
        .outcomes(std::slice::from_ref(&event))
        .await?
        .pop()
        .flatten()
        .ok_or_else(|| ApiError::NotFound(format!("no event \"{event}\" was received")))?;
    let rules = state.rules();
    let lines = ExplainLine::lines(&rules.rules, &outcome);
    let counted = outcome.effects.as_ref().and_then(|e| e.counted.as_ref());
    let involved = counted.is_some_and(|c| {
        c.actor.as_ref() == Some(&member) || c.received_by.as_ref() == Some(&member)
    }) || lines
        .iter()
        .any(|l| l.member.as_deref() == Some(member.as_str()));
    // An ignored event paid nobody; what it named is not known any more.
    if !involved && outcome.status != Status::Ignored {
        return Err(ApiError::NotFound(format!(
            "event \"{event}\" neither paid nor involved member \"{member}\""
        )));
    }
    let explain = lines
        .into_iter()
        .filter(|l| l.member.as_deref().is_none_or(|m| m == member.as_str()))
        .collect();
    Ok(HttpResponse::Ok().json(EventExplanation {
        member: member.to_string(),
        event: event.to_string(),
        status: match outcome.status {
            Status::Ignored => "ignored",
            _ => "applied",
        }
        .to_owned(),
        revocation: outcome.sign < 0,
        revoked: outcome.sign > 0 && outcome.effects.as_ref().is_some_and(|e| e.revoked),
        explain,
    }))
}
