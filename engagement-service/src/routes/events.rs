//! `POST /v1/events`: one event, or a batch validated whole before any is applied.

use actix_web::{HttpRequest, HttpResponse, web};
use engagement_core::{Event, Outcome, Status};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Access, authorize, from_json, json_body};
use crate::app::AppState;
use crate::error::ApiError;
use crate::store::Store;

/// Most events in one batch.
pub const MAX_BATCH: usize = 1000;

#[derive(Debug, Serialize, ToSchema)]
pub struct IngestResponse {
    pub results: Vec<EventResult>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventResult {
    pub id: String,
    /// `applied`, `duplicate` or `ignored`.
    pub status: String,
    pub awards: Vec<AwardView>,
    pub badges: Vec<BadgeView>,
    pub level_ups: Vec<LevelUpView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AwardView {
    pub member: String,
    pub rule: String,
    pub points: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BadgeView {
    pub member: String,
    pub badge: String,
    pub tier: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LevelUpView {
    pub member: String,
    pub level: String,
}

impl EventResult {
    pub fn new(event: &Event, outcome: &Outcome) -> EventResult {
        let status = match outcome.status {
            Status::Applied => "applied",
            Status::Duplicate => "duplicate",
            Status::Ignored => "ignored",
        };
        EventResult {
            id: event.id.to_string(),
            status: status.to_owned(),
            awards: outcome
                .awards()
                .map(|(member, rule, points)| AwardView {
                    member: member.to_string(),
                    rule: rule.to_owned(),
                    points,
                })
                .collect(),
            badges: outcome
                .badges
                .iter()
                .map(|b| BadgeView {
                    member: b.member.to_string(),
                    badge: b.badge.to_string(),
                    tier: b.tier.clone(),
                })
                .collect(),
            level_ups: outcome
                .level_ups
                .iter()
                .map(|l| LevelUpView {
                    member: l.member.to_string(),
                    level: l.level.clone(),
                })
                .collect(),
        }
    }
}

/// Turns a JSON body into events: one object, or `{"events": [...]}`.
/// Errors name the batch index and the field.
pub fn parse_events(body: serde_json::Value) -> Result<Vec<Event>, ApiError> {
    let (items, batch) = match body {
        serde_json::Value::Object(mut obj)
            if obj.contains_key("events") && !obj.contains_key("id") =>
        {
            match obj.remove("events") {
                Some(serde_json::Value::Array(items)) if obj.is_empty() => (items, true),
                Some(serde_json::Value::Array(_)) => {
                    return Err(ApiError::invalid(
                        "invalid_batch",
                        "a batch holds only `events`",
                    ));
                }
                _ => {
                    return Err(ApiError::invalid(
                        "invalid_batch",
                        "events: expected an array",
                    ));
                }
            }
        }
        single @ serde_json::Value::Object(_) => (vec![single], false),
        _ => {
            return Err(ApiError::invalid(
                "invalid_event",
                "expected an event object or {\"events\": [...]}",
            ));
        }
    };
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "invalid_batch",
            format!(
                "events: a batch holds 1 to {MAX_BATCH} events, got {}",
                items.len()
            ),
        ));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let at = |msg: String| {
                let msg = if batch {
                    format!("events[{i}]: {msg}")
                } else {
                    msg
                };
                ApiError::invalid("invalid_event", msg)
            };
            let event: Event = from_json(item).map_err(at)?;
            event.check().map_err(at)?;
            Ok(event)
        })
        .collect()
}

#[utoipa::path(post, path = "/v1/events", tag = "ingest",
    responses((status = 200, body = IngestResponse), (status = 422, description = "invalid event, index named")))]
pub async fn ingest(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, Access::Ingest)?;
    let events = parse_events(json_body(&req, payload).await?)?;
    let rules = state.rules();
    let outcomes = state.store.ingest(&rules.rules, &events).await?;
    let results: Vec<EventResult> = events
        .iter()
        .zip(&outcomes)
        .map(|(e, o)| {
            let r = EventResult::new(e, o);
            state
                .metrics
                .events
                .with_label_values(&[r.status.as_str()])
                .inc();
            r
        })
        .collect();
    Ok(HttpResponse::Ok().json(IngestResponse { results }))
}
