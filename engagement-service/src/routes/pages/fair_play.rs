//! `POST /fair-play` and `POST /fair-play/revoke`: the fair-play report on
//! the managers' page and taking points back from it, with the admin
//! token in the form's body (see `crate::pages::fair_play`).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{PageError, html};
use crate::app::AppState;
use crate::error::{ApiError, Invalid};
use crate::pages::{self, FairPlayContext};
use crate::routes::authorize_page;
use crate::routes::fair_play::{PairName, bucket_of, checked_pairs, report_of, take_back};
use crate::store::Store;

/// What the fair-play forms post.
#[derive(Debug, Deserialize)]
pub struct FairPlayForm {
    admin_token: Option<String>,
    period: Option<String>,
    at: Option<String>,
    /// The pages' read token, carried along.
    token: Option<String>,
    /// The pairs to take back, as JSON `[{"from", "to"}]`.
    pairs: Option<String>,
    /// `yes` once the admin has confirmed.
    confirm: Option<String>,
}

impl FairPlayForm {
    /// Checks read access and the admin token; the context the next forms
    /// carry, and the admin token they carry.
    fn check(
        self,
        req: &HttpRequest,
        state: &AppState,
    ) -> Result<(FairPlayContext, String, Option<String>, bool), ApiError> {
        let set = |v: Option<String>| v.filter(|s| !s.is_empty());
        same_site(req)?;
        let token = set(self.token);
        authorize_page(req, state, token.as_deref())?;
        let admin = self.admin_token.unwrap_or_default();
        if let Some(expected) = &state.tokens.admin
            && !bool::from(admin.as_bytes().ct_eq(expected.as_bytes()))
        {
            return Err(ApiError::Unauthorized);
        }
        let context = FairPlayContext {
            period: set(self.period),
            at: set(self.at),
            token,
        };
        Ok((
            context,
            admin,
            self.pairs,
            self.confirm.as_deref() == Some("yes"),
        ))
    }
}

/// Refuses a form posted from another site: with no admin token set (a
/// deployment on loopback), a page elsewhere could otherwise post one.
fn same_site(req: &HttpRequest) -> Result<(), ApiError> {
    let headers = req.headers();
    let fetched_from_elsewhere = (headers.get("sec-fetch-site"))
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site" || v == "same-site");
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let foreign = match (origin, host) {
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            origin_host != host
        }
        _ => false,
    };
    if foreign || fetched_from_elsewhere {
        return Err(ApiError::Unauthorized);
    }
    Ok(())
}

/// A page carrying the admin token in its forms: never stored by a browser.
fn private(markup: maud::Markup) -> HttpResponse {
    let mut res = html(markup);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

pub async fn report(
    req: HttpRequest,
    form: web::Form<FairPlayForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let (context, admin, _, _) = form.into_inner().check(&req, &state)?;
    let bucket = bucket_of(
        &state,
        context.period.as_deref(),
        context.at.as_deref(),
        Invalid::Query,
    )?;
    let report = report_of(&state, bucket).await?;
    Ok(private(pages::fair_play_page(
        &report, &bucket, &context, &admin,
    )))
}

pub async fn revoke(
    req: HttpRequest,
    form: web::Form<FairPlayForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let (context, admin, pairs, confirmed) = form.into_inner().check(&req, &state)?;
    let bucket = bucket_of(
        &state,
        context.period.as_deref(),
        context.at.as_deref(),
        Invalid::FairPlay,
    )?;
    let named: Vec<PairName> = serde_json::from_str(pairs.as_deref().unwrap_or("[]"))
        .map_err(|e| ApiError::invalid(Invalid::FairPlay, format!("pairs: {e}")))?;
    let pairs = checked_pairs(&named)?;
    if confirmed {
        let done = take_back(&state, bucket, &pairs).await?;
        return Ok(private(pages::revoked_page(
            &bucket,
            &context,
            &admin,
            done.revoked,
        )));
    }
    crate::routes::fair_play::kept(&state)?;
    let rules = state.rules();
    let found = state
        .store
        .pair_events(&rules.rules, bucket, &pairs)
        .await?;
    let counted: Vec<(&str, &str, usize)> = (pairs.iter().zip(&found))
        .map(|((from, to), ids)| (from.as_str(), to.as_str(), ids.len()))
        .collect();
    Ok(private(pages::confirm_page(
        &bucket, &context, &admin, &counted,
    )))
}
