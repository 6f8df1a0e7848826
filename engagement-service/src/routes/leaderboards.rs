//! Leaderboards: the list, one board's page, and a member's standing.

use actix_web::{HttpRequest, HttpResponse, web};
use engagement_core::rules::{Leaderboard, Metric};
use engagement_core::{BoardKey, Bucket, CommunityId, Period};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Access, authorize, member_id, query_date, query_number, still_kept};
use crate::app::AppState;
use crate::error::{ApiError, Invalid};
use crate::store::{Entry, Store};

#[derive(Debug, Serialize, ToSchema)]
pub struct BoardInfo {
    pub id: String,
    pub name: String,
    /// `points` or `count`.
    pub metric: String,
    pub periods: Vec<String>,
    pub scopes: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BoardList {
    pub leaderboards: Vec<BoardInfo>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BucketView {
    pub start: Option<String>,
    pub end: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    pub rank: u64,
    /// Absent for anonymous members.
    pub member: Option<String>,
    pub name: Option<String>,
    pub score: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PageView {
    pub board: String,
    pub period: String,
    pub bucket: BucketView,
    pub community: Option<String>,
    pub total: u64,
    pub entries: Vec<EntryView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StandingView {
    pub board: String,
    pub period: String,
    pub bucket: BucketView,
    pub community: Option<String>,
    pub member: String,
    /// `null` when the member is not listed on this board.
    pub rank: Option<u64>,
    pub score: i64,
    pub total: u64,
    pub entries: Vec<EntryView>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardQuery {
    pub(super) period: Option<String>,
    pub(super) community: Option<String>,
    pub(super) at: Option<String>,
    pub(super) offset: Option<String>,
    pub(super) limit: Option<String>,
    pub(super) radius: Option<String>,
}

fn entries(list: Vec<Entry>) -> Vec<EntryView> {
    list.into_iter()
        .map(|e| EntryView {
            rank: e.rank,
            member: e.member.map(|m| m.to_string()),
            name: e.name,
            score: e.score,
        })
        .collect()
}

fn info(b: &Leaderboard) -> BoardInfo {
    let mut scopes = Vec::new();
    if b.global {
        scopes.push("global".to_owned());
    }
    if b.community {
        scopes.push("community".to_owned());
    }
    BoardInfo {
        id: b.id.to_string(),
        name: b.name.clone(),
        metric: match b.metric {
            Metric::Points => "points",
            Metric::Count { .. } => "count",
        }
        .to_owned(),
        periods: b.periods.iter().map(|p| p.to_string()).collect(),
        scopes,
    }
}

/// Resolves board, period, scope and bucket from the path and query.
/// The members' pages resolve theirs the same way, so both agree.
pub(super) struct Selection {
    pub(super) board: Leaderboard,
    pub(super) key: BoardKey,
}

impl Selection {
    pub(super) fn resolve(
        state: &AppState,
        board: &str,
        q: &BoardQuery,
    ) -> Result<Selection, ApiError> {
        let loaded = state.rules();
        let rules = &loaded.rules;
        let board = rules
            .leaderboard(board)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("no leaderboard \"{board}\"")))?;
        let period = match &q.period {
            None if board.periods.contains(&Period::AllTime) => Period::AllTime,
            None => board.periods[0],
            Some(p) => Period::parse(p)
                .filter(|p| board.periods.contains(p))
                .ok_or_else(|| {
                    let known: Vec<&str> = board.periods.iter().map(|p| p.as_str()).collect();
                    ApiError::invalid(
                        Invalid::Query,
                        format!("period: expected one of {}", known.join(", ")),
                    )
                })?,
        };
        let community = match &q.community {
            None if !board.global => {
                return Err(ApiError::invalid(
                    Invalid::Query,
                    "community: this board has only community scopes",
                ));
            }
            None => None,
            Some(_) if !board.community => {
                return Err(ApiError::invalid(
                    Invalid::Query,
                    "community: this board has no community scope",
                ));
            }
            Some(c) => Some(
                CommunityId::parse(c.clone())
                    .map_err(|e| ApiError::invalid(Invalid::Query, format!("community: {e}")))?,
            ),
        };
        let date = query_date(rules, q.at.as_deref())?;
        let bucket = Bucket::containing(period, date, rules.week_starts);
        still_kept(state, &bucket, "board", date)?;
        Ok(Selection {
            key: BoardKey {
                board: board.id.clone(),
                community,
                bucket,
            },
            board,
        })
    }

    fn bucket(&self) -> BucketView {
        BucketView {
            start: self.key.bucket.start.map(|d| d.to_string()),
            end: self.key.bucket.end().map(|d| d.to_string()),
        }
    }
}

#[utoipa::path(get, path = "/v1/leaderboards", tag = "read", responses((status = 200, body = BoardList)))]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, Access::Read)?;
    let rules = state.rules();
    Ok(HttpResponse::Ok().json(BoardList {
        leaderboards: rules.rules.leaderboards.iter().map(info).collect(),
    }))
}

#[utoipa::path(get, path = "/v1/leaderboards/{board}", tag = "read",
    params(("board" = String, Path), ("period" = Option<String>, Query), ("community" = Option<String>, Query),
        ("at" = Option<String>, Query), ("offset" = Option<u64>, Query), ("limit" = Option<u64>, Query)),
    responses((status = 200, body = PageView), (status = 404), (status = 422)))]
pub async fn page(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<BoardQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, Access::Read)?;
    let sel = Selection::resolve(&state, &path, &query)?;
    if query.radius.is_some() {
        return Err(ApiError::invalid(
            Invalid::Query,
            "radius: only for a member's standing",
        ));
    }
    let limit = query_number("limit", query.limit.as_deref())?.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid(
            Invalid::Query,
            "limit: expected 1 to 100",
        ));
    }
    let offset = query_number("offset", query.offset.as_deref())?.unwrap_or(0);
    let listing = state.store.listing().await?.for_board(&sel.board);
    let page = state.store.page(&sel.key, &listing, offset, limit).await?;
    Ok(HttpResponse::Ok().json(PageView {
        board: sel.board.id.to_string(),
        period: sel.key.bucket.period.to_string(),
        bucket: sel.bucket(),
        community: sel.key.community.as_ref().map(|c| c.to_string()),
        total: page.total,
        entries: entries(page.entries),
    }))
}

#[utoipa::path(get, path = "/v1/leaderboards/{board}/members/{member}", tag = "read",
    params(("board" = String, Path), ("member" = String, Path), ("period" = Option<String>, Query),
        ("community" = Option<String>, Query), ("at" = Option<String>, Query), ("radius" = Option<u64>, Query)),
    responses((status = 200, body = StandingView), (status = 404), (status = 422)))]
pub async fn standing(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<BoardQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, Access::Read)?;
    let (board, member) = path.into_inner();
    let member = member_id(member)?;
    let sel = Selection::resolve(&state, &board, &query)?;
    if query.offset.is_some() || query.limit.is_some() {
        return Err(ApiError::invalid(
            Invalid::Query,
            "offset, limit: not used here; radius sets how many neighbours are shown",
        ));
    }
    let radius = query_number("radius", query.radius.as_deref())?.unwrap_or(2);
    if radius > 50 {
        return Err(ApiError::invalid(
            Invalid::Query,
            "radius: expected 0 to 50",
        ));
    }
    let listing = state.store.listing().await?.for_board(&sel.board);
    let s = state
        .store
        .standing(&sel.key, &listing, &member, radius)
        .await?;
    Ok(HttpResponse::Ok().json(StandingView {
        board: sel.board.id.to_string(),
        period: sel.key.bucket.period.to_string(),
        bucket: sel.bucket(),
        community: sel.key.community.as_ref().map(|c| c.to_string()),
        member: member.to_string(),
        rank: s.rank,
        score: s.score,
        total: s.total,
        entries: entries(s.entries),
    }))
}
