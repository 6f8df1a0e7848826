//! Notifications for admins (SPEC §10): `GET /v1/admin/deliveries` lists
//! pending, failed or delivered deliveries; `POST
//! /v1/admin/deliveries/{id}/retry` sends a failed one again (and enables
//! its channel again, should it have answered 410 Gone).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Access, authorize};
use crate::app::AppState;
use crate::error::{ApiError, Invalid};
use crate::notify::send::standard_body;
use crate::notify::{Delivery, KEEP_SETTLED, Status};
use crate::store::Store;

/// Deliveries listed by default, and at most.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    pub status: Option<String>,
    pub limit: Option<usize>,
}

/// One delivery as an admin sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// The notification's id: Standard Webhooks' `webhook-id`.
    pub id: String,
    pub channel: String,
    /// `badge.granted`, `level.reached` or `rank.entered`.
    #[serde(rename = "type")]
    pub kind: String,
    pub member: String,
    /// `pending`, `delivered` or `failed`.
    pub status: Status,
    pub attempts: u32,
    pub created_at: String,
    /// Pending: when it is tried next; otherwise when it was settled.
    pub next_attempt_at: Option<String>,
    pub settled_at: Option<String>,
    pub last_error: Option<String>,
    /// What a `standard` channel receives.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> DeliveryView {
        let pending = d.status == Status::Pending;
        DeliveryView {
            payload: standard_body(&d.notification),
            id: d.notification.id,
            channel: d.notification.channel,
            kind: d.notification.what.kind().as_str().to_owned(),
            member: d.notification.member.to_string(),
            status: d.status,
            attempts: d.attempts,
            created_at: d.created_at.to_string(),
            next_attempt_at: pending.then(|| d.next_at.to_string()),
            settled_at: (!pending).then(|| d.next_at.to_string()),
            last_error: d.last_error,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveriesView {
    pub status: Status,
    pub deliveries: Vec<DeliveryView>,
    /// Delivered and failed deliveries are kept this many each, newest.
    pub kept_settled: usize,
    /// Channels that answered 410 Gone, with why; a retry enables one again.
    #[schema(value_type = Object)]
    pub disabled_channels: std::collections::BTreeMap<String, String>,
}

#[utoipa::path(get, path = "/v1/admin/deliveries", tag = "admin",
    params(("status" = Option<String>, Query, description = "pending (default), failed or delivered"),
        ("limit" = Option<usize>, Query, description = "at most this many, newest first (default 100, at most 1000)")),
    responses((status = 200, body = DeliveriesView), (status = 422, description = "bad status or limit")))]
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<DeliveriesQuery>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, Access::Admin)?;
    let status = match q.status.as_deref() {
        None => Status::Pending,
        Some(s) => Status::parse(s).ok_or_else(|| {
            ApiError::invalid(
                Invalid::Query,
                "status: one of \"pending\", \"failed\", \"delivered\"",
            )
        })?,
    };
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            Invalid::Query,
            format!("limit: from 1 to {MAX_LIMIT}"),
        ));
    }
    let found = state.store.deliveries(status, limit).await?;
    let disabled = state.store.disabled_channels().await?;
    Ok(HttpResponse::Ok().json(DeliveriesView {
        status,
        deliveries: found.into_iter().map(DeliveryView::from).collect(),
        kept_settled: KEEP_SETTLED,
        disabled_channels: disabled.into_iter().collect(),
    }))
}

#[utoipa::path(post, path = "/v1/admin/deliveries/{id}/retry", tag = "admin",
    params(("id" = String, Path)),
    responses((status = 200, body = DeliveryView), (status = 404, description = "no failed delivery with this id")))]
pub async fn retry(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, Access::Admin)?;
    let id = path.into_inner();
    if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(ApiError::NotFound(format!(
            "no failed delivery \"{}\"",
            id.escape_debug()
        )));
    }
    match state
        .store
        .retry_delivery(&id, jiff::Timestamp::now())
        .await?
    {
        Some(d) => Ok(HttpResponse::Ok().json(DeliveryView::from(d))),
        None => Err(ApiError::NotFound(format!("no failed delivery \"{id}\""))),
    }
}
