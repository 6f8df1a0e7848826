//! `POST /v1/events`: one event, or a batch validated whole before any is applied.

use actix_web::{HttpRequest, HttpResponse, web};
use engagement_core::{Event, Outcome, RuleSet, Status};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Access, authorize, from_json, json_body};
use crate::app::AppState;
use crate::error::{ApiError, Invalid};
use crate::ingest::{IngestError, Origin};

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
    /// With `?explain=true`: one line per points rule on the event's kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<Vec<ExplainLine>>,
}

/// Why a points rule paid what it paid.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExplainLine {
    pub rule: String,
    /// Whom the rule paid or would have paid; null when nobody.
    pub member: Option<String>,
    pub points: i64,
    /// `awarded`, `partial`, `daily_cap_reached`, `pair_cap_reached`, `once_per_used`,
    /// `not_self`, `community`, `chance`, `cap_window_passed`,
    /// `no_recipient`, `no_target` or `revoked_event`.
    pub reason: String,
}

impl ExplainLine {
    pub fn lines(rules: &RuleSet, outcome: &Outcome) -> Vec<ExplainLine> {
        outcome
            .explain(rules)
            .into_iter()
            .map(|l| ExplainLine {
                rule: l.rule,
                member: l.member.map(|m| m.to_string()),
                points: l.points,
                reason: l.reason.as_str().to_owned(),
            })
            .collect()
    }
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
            explain: None,
        }
    }

    /// With the explanation when `rules` are given.
    pub fn explained(mut self, rules: Option<&RuleSet>, outcome: &Outcome) -> EventResult {
        self.explain = rules.map(|r| ExplainLine::lines(r, outcome));
        self
    }
}

/// Turns a JSON body into events: one object, or `{"events": [...]}`.
/// Errors name the batch index and the field.
pub fn parse_events(body: serde_json::Value) -> Result<(Vec<Event>, bool), ApiError> {
    let (items, batch) = match body {
        serde_json::Value::Object(mut obj)
            if obj.contains_key("events") && !obj.contains_key("id") =>
        {
            match obj.remove("events") {
                Some(serde_json::Value::Array(items)) if obj.is_empty() => (items, true),
                Some(serde_json::Value::Array(_)) => {
                    return Err(ApiError::invalid(
                        Invalid::Batch,
                        "a batch holds only `events`",
                    ));
                }
                _ => {
                    return Err(ApiError::invalid(
                        Invalid::Batch,
                        "events: expected an array",
                    ));
                }
            }
        }
        single @ serde_json::Value::Object(_) => (vec![single], false),
        _ => {
            return Err(ApiError::invalid(
                Invalid::Event,
                "expected an event object or {\"events\": [...]}",
            ));
        }
    };
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            Invalid::Batch,
            format!(
                "events: a batch holds 1 to {MAX_BATCH} events, got {}",
                items.len()
            ),
        ));
    }
    let events = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            from_json(item).map_err(|msg: String| {
                let msg = if batch {
                    format!("events[{i}]: {msg}")
                } else {
                    msg
                };
                ApiError::invalid(Invalid::Event, msg)
            })
        })
        .collect::<Result<Vec<Event>, ApiError>>()?;
    Ok((events, batch))
}

/// `?explain=true` adds each result's explanation.
#[derive(Debug, Deserialize)]
pub struct IngestQuery {
    #[serde(default)]
    pub explain: bool,
}

#[utoipa::path(post, path = "/v1/events", tag = "ingest",
    params(("explain" = Option<bool>, Query, description = "add `explain`: one line per points rule on each event's kind, with the points and the reason")),
    responses((status = 200, body = IngestResponse), (status = 422, description = "invalid event, index named")))]
pub async fn ingest(
    req: HttpRequest,
    payload: web::Payload,
    query: web::Query<IngestQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, Access::Ingest)?;
    let (events, batch) = parse_events(json_body(&req, payload).await?)?;
    let rules = state.rules();
    let taken = state
        .ingest(&rules.rules)
        .run(Origin::Api, events)
        .await
        .map_err(|e| match e {
            IngestError::Invalid { index, message } if batch => {
                ApiError::invalid(Invalid::Event, format!("events[{index}]: {message}"))
            }
            other => other.into(),
        })?;
    let results = taken
        .iter()
        .map(|(e, o)| EventResult::new(e, o).explained(query.explain.then_some(&rules.rules), o))
        .collect();
    Ok(HttpResponse::Ok().json(IngestResponse { results }))
}
