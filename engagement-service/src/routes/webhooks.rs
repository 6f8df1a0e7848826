//! `POST /v1/webhooks/discourse` and `POST /v1/webhooks/github`: a forum's
//! own webhooks, checked by their HMAC signature over the raw body, mapped
//! by the rule file's `[sources.*]`, and ingested like `POST /v1/events`.
//!
//! Everything that is not an error is a 200 (an event the service does not
//! map included), so a platform never retries what can only fail again.

use actix_web::{HttpRequest, HttpResponse, web};
use engagement_core::RuleSet;
use serde::Serialize;
use utoipa::ToSchema;

use super::events::EventResult;
use super::read_body;
use crate::app::AppState;
use crate::error::ApiError;
use crate::ingest::{IngestError, Origin};
use crate::webhooks::{self, Mapped, SignatureError};

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAnswer {
    /// The platform's event: `post_created`, `discussion.answered`, …
    pub event: String,
    /// `pong`, `ignored` or `processed`.
    pub status: String,
    /// Why nothing was recorded, when nothing was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What was recorded, as `POST /v1/events` answers it.
    pub results: Vec<EventResult>,
}

#[utoipa::path(post, path = "/v1/webhooks/discourse", tag = "ingest",
    request_body(content = String, description = "a Discourse webhook payload, signed in X-Discourse-Event-Signature"),
    responses((status = 200, body = WebhookAnswer), (status = 400, description = "malformed payload or headers"),
        (status = 401, description = "missing or wrong signature, or no secret configured")))]
pub async fn discourse(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload).await?;
    let signature = header(&req, "x-discourse-event-signature");
    let secret = state.tokens.discourse.as_deref();
    webhooks::verify(
        secret,
        "ENGAGEMENT_DISCOURSE_SECRET",
        "X-Discourse-Event-Signature",
        signature,
        &body,
    )
    .map_err(|e| refused("discourse", e))?;
    let event = required(&req, "X-Discourse-Event")?;
    let rules = state.rules();
    let delivery = webhooks::discourse::Delivery {
        event,
        instance: header(&req, "x-discourse-instance").unwrap_or_default(),
        body: &body,
        received_at: jiff::Timestamp::now(),
    };
    let mapped = webhooks::discourse::map(rules.rules.sources.discourse.as_ref(), &delivery)
        .map_err(|e| ApiError::Malformed(e.0))?;
    answer(&state, &rules.rules, event, mapped).await
}

#[utoipa::path(post, path = "/v1/webhooks/github", tag = "ingest",
    request_body(content = String, description = "a GitHub webhook payload, signed in X-Hub-Signature-256"),
    responses((status = 200, body = WebhookAnswer), (status = 400, description = "malformed payload or headers"),
        (status = 401, description = "missing or wrong signature, or no secret configured")))]
pub async fn github(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload).await?;
    let signature = header(&req, "x-hub-signature-256");
    let secret = state.tokens.github.as_deref();
    webhooks::verify(
        secret,
        "ENGAGEMENT_GITHUB_SECRET",
        "X-Hub-Signature-256",
        signature,
        &body,
    )
    .map_err(|e| refused("github", e))?;
    let event = required(&req, "X-GitHub-Event")?;
    let rules = state.rules();
    let delivery = webhooks::github::Delivery {
        event,
        body: &body,
        received_at: jiff::Timestamp::now(),
    };
    let mapped = webhooks::github::map(rules.rules.sources.github.as_ref(), &delivery)
        .map_err(|e| ApiError::Malformed(e.0))?;
    answer(&state, &rules.rules, event, mapped).await
}

/// Settles, links and ingests what a delivery mapped to.
async fn answer(
    state: &AppState,
    rules: &RuleSet,
    event: &str,
    mapped: Mapped,
) -> Result<HttpResponse, ApiError> {
    let reply = |status: &str, reason: Option<String>, results| {
        HttpResponse::Ok().json(WebhookAnswer {
            event: event.to_owned(),
            status: status.to_owned(),
            reason,
            results,
        })
    };
    let step = match mapped {
        Mapped::Ping => return Ok(reply("pong", None, Vec::new())),
        Mapped::Ignored(reason) => return Ok(reply("ignored", Some(reason), Vec::new())),
        Mapped::Step(step) => *step,
    };
    let ingest = state.ingest(rules);
    let recorded = match ingest.settle(step).await? {
        Ok(recorded) => recorded,
        Err(reason) => return Ok(reply("ignored", Some(reason), Vec::new())),
    };
    let taken = ingest
        .run(Origin::Webhook, vec![recorded])
        .await
        .map_err(|e| match e {
            // A mapped payload that breaks an event rule is the payload's fault.
            IngestError::Invalid { message, .. } => ApiError::Malformed(message),
            other => other.into(),
        })?;
    let results: Vec<EventResult> = taken.iter().map(|(e, o)| EventResult::new(e, o)).collect();
    tracing::debug!(event, "webhook delivery recorded");
    Ok(reply("processed", None, results))
}

fn header<'r>(req: &'r HttpRequest, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn required<'r>(req: &'r HttpRequest, name: &str) -> Result<&'r str, ApiError> {
    header(req, name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::Malformed(format!("the {name} header is missing")))
}

/// A 401 that says what to fix; logged without the secret or the body.
fn refused(platform: &str, e: SignatureError) -> ApiError {
    tracing::warn!(platform, reason = %e, "webhook refused");
    ApiError::BadSignature(e.to_string())
}
