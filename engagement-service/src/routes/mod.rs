//! Every route of the service, registered in one place.

mod adjust;
mod admin;
mod credentials;
pub(crate) mod deliveries;
mod events;
pub(crate) mod fair_play;
pub(crate) mod insights;
mod leaderboards;
mod ledger;
mod members;
mod ops;
mod pages;
mod webhooks;

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use futures_util::StreamExt;
use subtle::ConstantTimeEq;

use engagement_core::{Bucket, RuleSet};
use jiff::civil::Date;

use crate::app::AppState;
use crate::error::{ApiError, Invalid};

pub use events::ExplainLine;
pub use ops::ApiDoc;

/// Largest request body accepted (a batch of 1000 events fits easily).
pub const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::QueryConfig::default()
            .error_handler(|e, _| ApiError::invalid(Invalid::Query, e.to_string()).into()),
    )
    .app_data(
        web::PathConfig::default()
            .error_handler(|e, _| ApiError::invalid(Invalid::Path, e.to_string()).into()),
    )
    .route("/healthz", web::get().to(ops::healthz))
    .route("/readyz", web::get().to(ops::readyz))
    .route("/metrics", web::get().to(ops::metrics))
    .route("/openapi.json", web::get().to(ops::openapi))
    // Members' pages (HTML) and their live streams.
    .route("/", web::get().to(pages::index))
    .route("/boards/{board}", web::get().to(pages::board))
    .route("/boards/{board}/events", web::get().to(pages::board_events))
    .route("/embed/boards/{board}", web::get().to(pages::embed))
    .route(
        "/embed/boards/{board}/events",
        web::get().to(pages::embed_events),
    )
    .route("/insights", web::get().to(pages::insights))
    .route("/ob/issuer", web::get().to(credentials::issuer))
    .route("/ob/keys/{thumbprint}", web::get().to(credentials::key))
    .route(
        "/ob/credentials/{sealed}",
        web::get().to(credentials::sealed),
    )
    .route(
        "/ob/achievements/{badge}",
        web::get().to(credentials::achievement),
    )
    .route(
        "/ob/achievements/{badge}/{tier}",
        web::get().to(credentials::achievement),
    )
    .route("/fair-play", web::post().to(pages::fair_play))
    .route("/fair-play/revoke", web::post().to(pages::fair_play_revoke))
    .route("/members/{member}", web::get().to(pages::profile))
    .route(
        crate::pages::STYLESHEET_PATH,
        web::get().to(pages::stylesheet),
    )
    .route(crate::pages::SCRIPT_PATH, web::get().to(pages::script))
    .service(
        web::scope("/v1")
            .route("/events", web::post().to(events::ingest))
            .route("/webhooks/discourse", web::post().to(webhooks::discourse))
            .route("/webhooks/github", web::post().to(webhooks::github))
            .route("/insights", web::get().to(insights::report))
            .route("/leaderboards", web::get().to(leaderboards::list))
            .route("/leaderboards/{board}", web::get().to(leaderboards::page))
            .route(
                "/leaderboards/{board}/members/{member}",
                web::get().to(leaderboards::standing),
            )
            .route("/members/{member}", web::get().to(members::profile))
            .route("/members/{member}", web::put().to(members::update))
            .route("/members/{member}/ledger", web::get().to(ledger::ledger))
            .route(
                "/members/{member}/credentials",
                web::get().to(credentials::list),
            )
            .route(
                "/members/{member}/credentials/{badge}",
                web::get().to(credentials::one),
            )
            .route(
                "/members/{member}/credentials/{badge}/{tier}",
                web::get().to(credentials::one),
            )
            .route(
                "/members/{member}/ledger/{event}",
                web::get().to(ledger::explain),
            )
            .route("/admin/rules", web::get().to(admin::rules))
            .route("/admin/rules", web::put().to(admin::replace_rules))
            .route("/admin/rules/check", web::post().to(admin::check_rules))
            .route("/admin/rules/versions", web::get().to(admin::rule_versions))
            .route(
                "/admin/rules/rollback",
                web::post().to(admin::rollback_rules),
            )
            .route("/admin/replay", web::post().to(admin::replay))
            .route("/admin/deliveries", web::get().to(deliveries::list))
            .route(
                "/admin/deliveries/{id}/retry",
                web::post().to(deliveries::retry),
            )
            .route("/admin/fair-play", web::get().to(fair_play::report))
            .route("/admin/fair-play/revoke", web::post().to(fair_play::revoke))
            .route(
                "/admin/members/{member}/badges",
                web::post().to(admin::grant_badge),
            )
            .route(
                "/admin/members/{member}/points",
                web::post().to(adjust::adjust),
            )
            .route(
                "/admin/members/{member}/points/{id}/revoke",
                web::post().to(adjust::revoke),
            ),
    )
    .default_service(web::to(not_found));
}

async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}

/// The `at` query parameter (`YYYY-MM-DD`), today in the engine's time
/// zone when absent.
pub fn query_date(rules: &RuleSet, at: Option<&str>) -> Result<Date, ApiError> {
    match at {
        None => Ok(rules.timezone.to_datetime(jiff::Timestamp::now()).date()),
        // Only the extended form: jiff also reads `20261120`.
        Some(at) => (at.len() == 10 && at.as_bytes()[4] == b'-' && at.as_bytes()[7] == b'-')
            .then(|| at.parse::<Date>().ok())
            .flatten()
            .ok_or_else(|| ApiError::invalid(Invalid::Query, "at: expected a date as YYYY-MM-DD")),
    }
}

/// Refuses a day or week bucket kept no longer (`bucket_expired`); `what`
/// names what was asked for (a board, insights).
pub fn still_kept(
    state: &AppState,
    bucket: &Bucket,
    what: &str,
    date: Date,
) -> Result<(), ApiError> {
    if state
        .retention
        .as_of(jiff::Timestamp::now())
        .expired(bucket)
    {
        return Err(ApiError::BucketExpired(format!(
            "the {} {what} holding {date} was kept {} days after it ended and is gone",
            bucket.period, state.retention.days
        )));
    }
    Ok(())
}

/// The API's read check, or the read token given as `?token=`: a link, a
/// form or an `EventSource` cannot send a header.
pub fn authorize_page(
    req: &HttpRequest,
    state: &AppState,
    token: Option<&str>,
) -> Result<(), ApiError> {
    if let (Some(expected), Some(given)) = (&state.tokens.read, token)
        && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
    {
        return Ok(());
    }
    authorize(req, state, Access::Read)
}

/// Which credential an endpoint needs.
#[derive(Debug, Clone, Copy)]
pub enum Access {
    Ingest,
    Admin,
    Read,
}

/// Checks the bearer token in constant time; an unset token leaves the
/// endpoint open (start-up refuses that off loopback for ingest and admin).
pub fn authorize(req: &HttpRequest, state: &AppState, access: Access) -> Result<(), ApiError> {
    let expected = match access {
        Access::Ingest => &state.tokens.ingest,
        Access::Admin => &state.tokens.admin,
        Access::Read => &state.tokens.read,
    };
    let Some(expected) = expected else {
        return Ok(());
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

/// Reads a whole body, refusing more than [`BODY_LIMIT`] bytes (413).
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
) -> Result<web::Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return Err(ApiError::TooLarge(BODY_LIMIT));
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::Malformed(format!("could not read the body: {e}")))?;
        if body.len() + chunk.len() > BODY_LIMIT {
            return Err(ApiError::TooLarge(BODY_LIMIT));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Reads a JSON body: 415 unless the content type is JSON, 400 if it does not parse.
pub async fn json_body(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<serde_json::Value, ApiError> {
    require_content_type(req, "application/json")?;
    let body = read_body(req, payload).await?;
    serde_json::from_slice(&body).map_err(|e| ApiError::Malformed(format!("malformed JSON: {e}")))
}

pub fn require_content_type(req: &HttpRequest, wanted: &str) -> Result<(), ApiError> {
    let given = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = given.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case(wanted) {
        Ok(())
    } else {
        Err(ApiError::NotJson)
    }
}

/// Deserializes a JSON value; the error names the field that failed, e.g.
/// `target.author: invalid type: integer `7`, expected a string`.
pub fn from_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })
}

/// Parses an optional whole-number query parameter; the error names it.
pub fn query_number<T: std::str::FromStr>(
    name: &str,
    raw: Option<&str>,
) -> Result<Option<T>, ApiError> {
    raw.map(|s| {
        s.parse().map_err(|_| {
            ApiError::invalid(
                Invalid::Query,
                format!("{name}: expected a whole number, got \"{s}\""),
            )
        })
    })
    .transpose()
}

/// Parses a member id from a path segment (422 when out of bounds).
pub fn member_id(raw: String) -> Result<engagement_core::MemberId, ApiError> {
    engagement_core::MemberId::parse(raw)
        .map_err(|e| ApiError::invalid(Invalid::Member, format!("member: {e}")))
}
