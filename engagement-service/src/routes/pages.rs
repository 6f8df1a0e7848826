//! Members' web pages and their live streams: the store read as the JSON
//! API reads it, rendered by `crate::pages`.
//!
//! Read access is the API's: open unless `ENGAGEMENT_READ_TOKEN` is set.
//! Then a page takes the token from the `Authorization` header or from
//! `?token=`, since a link, a form or an `EventSource` cannot send a header;
//! the pages keep the token in the links they render.

use std::fmt;

use actix_web::body::BoxBody;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use maud::Markup;

use self::models::{PageQuery, board_view, profile_page, summary};
use super::insights::{Asked, InsightsQuery};
use super::members::profile_view;
use super::{authorize_page, member_id, still_kept};
use crate::app::AppState;
use crate::error::ApiError;
use crate::pages::live::{self, Update};
use crate::pages::{self, BoardSummary};
use crate::store::{Store, StoreError};

mod fair_play;
mod models;

pub use fair_play::{report as fair_play, revoke as fair_play_revoke};

/// An [`ApiError`] shown as a page: same status, headers and message.
#[derive(Debug)]
pub struct PageError(ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> PageError {
        PageError(e)
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> PageError {
        PageError(e.into())
    }
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        // The API's response logs the cause and sets Retry-After or
        // WWW-Authenticate; only the body changes.
        let mut res = self.0.error_response();
        let page = pages::error_page(self.0.status_code().as_u16(), &self.0.to_string());
        page_headers(res.headers_mut());
        res.set_body(BoxBody::new(page.into_string()))
    }
}

/// `GET /`: the boards.
pub async fn index(
    req: HttpRequest,
    query: web::Query<PageQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let q = query.into_inner().normalized();
    authorize_page(&req, &state, q.token.as_deref())?;
    let rules = state.rules();
    let mut boards: Vec<BoardSummary> = (rules.rules.leaderboards.iter())
        .map(|b| summary(&rules.rules, b))
        .collect();
    // A community-only board is shown for one community: offer its list.
    for b in boards.iter_mut().filter(|b| !b.global) {
        let listed = state.store.communities(&b.id).await?;
        b.communities = listed.iter().map(|c| c.to_string()).collect();
    }
    Ok(html(pages::index_page(&boards, q.token.as_deref())))
}

/// `GET /boards/{board}`.
pub async fn board(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let q = query.into_inner().normalized();
    authorize_page(&req, &state, q.token.as_deref())?;
    let view = board_view(&state, &path, &q, false).await?;
    Ok(html(pages::board_page(&view)))
}

/// `GET /embed/boards/{board}`: for an iframe.
pub async fn embed(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let q = query.into_inner().normalized();
    authorize_page(&req, &state, q.token.as_deref())?;
    let view = board_view(&state, &path, &q, true).await?;
    Ok(html(pages::embed_page(&view)))
}

/// `GET /boards/{board}/events`: the board page's live region (SSE).
pub async fn board_events(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    events(&req, path.into_inner(), query.into_inner(), state, false).await
}

/// `GET /embed/boards/{board}/events`: the embed's live region (SSE).
pub async fn embed_events(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    events(&req, path.into_inner(), query.into_inner(), state, true).await
}

async fn events(
    req: &HttpRequest,
    board: String,
    query: PageQuery,
    state: web::Data<AppState>,
    embed: bool,
) -> Result<HttpResponse, PageError> {
    let q = query.normalized();
    authorize_page(req, &state, q.token.as_deref())?;
    // A bad address fails here with its status, not inside the stream.
    board_view(&state, &board, &q, embed).await?;
    let slot = state.live.try_acquire().ok_or(ApiError::Busy)?;
    let render = move || {
        let (state, board, q) = (state.clone(), board.clone(), q.clone());
        async move {
            match board_view(&state, &board, &q, embed).await {
                Ok(v) if embed => Update::Region(pages::embed_region(&v).into_string()),
                Ok(v) => Update::Region(pages::board_region(&v).into_string()),
                Err(ApiError::Unavailable(cause) | ApiError::Internal(cause)) => {
                    Update::Unavailable(cause)
                }
                // What was valid at connect no longer is: the rules changed.
                Err(_) => Update::Gone,
            }
        }
    };
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Tells an nginx in front not to buffer the stream.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(live::feed(slot, live::Timing::default(), render)))
}

/// `GET /members/{member}`: the same figures as `GET /v1/members/{member}`.
/// Awards listed on a profile page.
const RECENT_AWARDS: usize = 10;

pub async fn profile(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let q = query.into_inner().normalized();
    authorize_page(&req, &state, q.token.as_deref())?;
    let member = member_id(path.into_inner())?;
    let found = state.store.member(&member).await?;
    let found = found.ok_or_else(|| ApiError::NotFound(format!("no member \"{member}\"")))?;
    let visibility = found.profile.visibility;
    let rules = state.rules();
    let view = profile_view(&rules.rules, member.as_str(), found, jiff::Timestamp::now());
    let ledger = state.store.ledger(&member, RECENT_AWARDS).await?;
    let mut page = profile_page(&rules.rules, view, ledger, visibility, q.token);
    let issued = state.credentials.is_some() && rules.rules.openbadges.is_some();
    if issued && visibility != engagement_core::Visibility::Hidden {
        for line in &mut page.badges {
            let mut segments = vec!["v1", "members", member.as_str(), "credentials", &line.badge];
            segments.extend(line.tier.as_deref());
            line.credential = Some(pages::Href::new(&segments));
        }
    }
    Ok(html(pages::profile_page(&page)))
}

/// Buckets a figure's trend line covers, this one included.
const TREND_BUCKETS: usize = 12;

/// `GET /insights`: the community managers' page, the figures of
/// `GET /v1/insights` (without who holds the answers: that needs the
/// admin token, which pages never carry).
pub async fn insights(
    req: HttpRequest,
    query: web::Query<PageQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let q = query.into_inner().normalized();
    authorize_page(&req, &state, q.token.as_deref())?;
    let asked = Asked::parse(
        &state,
        &InsightsQuery {
            community: q.community.clone(),
            period: q.period.clone(),
            at: q.at.clone(),
        },
        false,
    )?;
    let report = asked.report(&state).await?;
    // The buckets before, while they are kept.
    let mut trend = vec![(asked.bucket, (*report).clone())];
    let rules = state.rules();
    let mut bucket = asked.bucket;
    while trend.len() < TREND_BUCKETS {
        let Some(day_before) = bucket.start.and_then(|d| d.yesterday().ok()) else {
            break;
        };
        bucket =
            engagement_core::Bucket::containing(bucket.period, day_before, rules.rules.week_starts);
        if still_kept(&state, &bucket, "insights", day_before).is_err() {
            break;
        }
        trend.push((bucket, (*asked.report_of(&state, bucket).await?).clone()));
    }
    trend.reverse();
    let matrix = match &asked.community {
        None => report.flow.matrix.clone().unwrap_or_default(),
        Some(_) => {
            let global = Asked {
                community: None,
                ..asked
            };
            let all = global.report(&state).await?;
            all.flow.matrix.clone().unwrap_or_default()
        }
    };
    let communities = (state.store.insight_communities().await?)
        .iter()
        .map(|c| c.to_string())
        .collect();
    let page = pages::InsightsPage {
        bucket: asked.bucket,
        report: (*report).clone(),
        communities,
        at: q.at,
        matrix,
        trend,
        token: q.token,
        fair_play: state.fair_play,
    };
    Ok(html(pages::insights_page(&page)))
}

pub async fn stylesheet() -> HttpResponse {
    asset("text/css; charset=utf-8", pages::STYLESHEET)
}

pub async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", pages::SCRIPT)
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}

fn html(markup: Markup) -> HttpResponse {
    let mut res = HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(markup.into_string());
    page_headers(res.headers_mut());
    res
}

fn page_headers(headers: &mut HeaderMap) {
    let set = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (
            header::CONTENT_SECURITY_POLICY,
            pages::CONTENT_SECURITY_POLICY,
        ),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
}
