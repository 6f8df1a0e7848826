//! Member profiles and the profile settings members choose.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use engagement_core::notify::Recognition;
use engagement_core::rules::Criterion;
use engagement_core::{Day, MemberId, MemberState, Profile, RuleSet, Visibility};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Access, authorize, from_json, json_body, member_id};
use crate::app::AppState;
use crate::error::{ApiError, Invalid};
use crate::store::Store;

#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileView {
    pub member: String,
    pub name: Option<String>,
    pub points: i64,
    /// How the points were earned: net points per points rule (`adjustment`
    /// for an admin's adjustments), most first.
    pub points_by_rule: Vec<RulePoints>,
    pub level: LevelView,
    pub badges: Vec<HeldBadgeView>,
    pub streak: StreakView,
    #[schema(value_type = Object)]
    pub counts: BTreeMap<String, engagement_core::state::Count>,
    pub stages: BTreeMap<String, u32>,
    pub progress: Vec<ProgressView>,
    pub timezone: Option<String>,
    pub groups: Vec<String>,
    /// `public`, `anonymous` or `hidden`.
    pub visibility: String,
    /// How the member wants to be recognised by notifications: `public`,
    /// `private` (only channels that reach the member alone) or `none`.
    pub recognition: String,
    /// Other ids (`discourse:ana`, `github:ana`) whose webhook activity is
    /// credited to this member.
    pub aliases: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RulePoints {
    pub rule: String,
    pub points: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LevelView {
    pub name: String,
    pub next: Option<String>,
    pub points_to_next: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HeldBadgeView {
    pub badge: String,
    pub name: String,
    pub tier: Option<String>,
    pub awarded_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StreakView {
    /// As of today in the member's time zone.
    pub current: u32,
    pub longest: u32,
    pub freezes: u32,
    pub last_active_day: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressView {
    pub badge: String,
    pub tier: Option<String>,
    pub current: i64,
    pub target: i64,
}

/// The profile of a member as of `now`.
pub fn profile_view(
    rules: &RuleSet,
    member: &str,
    mut state: MemberState,
    now: jiff::Timestamp,
) -> ProfileView {
    let level_idx = rules.level_index(state.points);
    let next = rules.levels.get(level_idx + 1);
    let today = Day::of(now, state.timezone(&rules.timezone));
    let streak_now = state.streak.current_on(today);
    let badges = state
        .badges
        .iter()
        .map(|held| {
            let badge = rules.badge(&held.badge);
            HeldBadgeView {
                badge: held.badge.to_string(),
                name: badge.map_or_else(|| held.badge.to_string(), |b| b.name.clone()),
                tier: badge
                    .and_then(|b| b.tiers.get(held.tier))
                    .and_then(|t| t.name.clone()),
                awarded_at: held.awarded_at.to_string(),
                reason: held.reason.clone(),
            }
        })
        .collect();
    let progress = rules
        .badges
        .iter()
        .filter(|b| !matches!(b.criterion, Criterion::Manual))
        .filter_map(|b| {
            let tier = b.tiers.get(state.tiers_held(&b.id))?;
            let current = match b.criterion {
                // Progress toward a streak badge is the streak shown now.
                Criterion::StreakDays => i64::from(streak_now),
                _ => rules.progress_value(&b.criterion, &state)?,
            };
            Some(ProgressView {
                badge: b.id.to_string(),
                tier: tier.name.clone(),
                current: current.min(tier.at_least),
                target: tier.at_least,
            })
        })
        .collect();
    let mut points_by_rule: Vec<RulePoints> = (state.by_rule.iter())
        .map(|(rule, points)| RulePoints {
            rule: rule.to_string(),
            points: *points,
        })
        .collect();
    points_by_rule.sort_by(|a, b| b.points.cmp(&a.points).then_with(|| a.rule.cmp(&b.rule)));
    ProfileView {
        member: member.to_owned(),
        name: state.profile.name.clone(),
        points: state.points,
        points_by_rule,
        level: LevelView {
            name: rules.levels[level_idx].name.clone(),
            next: next.map(|l| l.name.clone()),
            points_to_next: next.map(|l| l.at - state.points),
        },
        badges,
        streak: StreakView {
            current: streak_now,
            longest: state.streak.longest,
            freezes: state.streak.freezes,
            last_active_day: state.streak.last_active.map(|d| d.to_string()),
        },
        counts: (state.counts.iter())
            .map(|(kind, n)| (kind.to_string(), *n))
            .collect(),
        stages: (state.stages.iter())
            .map(|(stage, n)| (stage.as_str().to_owned(), n))
            .collect(),
        progress,
        timezone: state.profile.timezone.clone(),
        groups: state.profile.groups.clone(),
        visibility: visibility_name(state.profile.visibility).to_owned(),
        recognition: recognition_name(state.profile.recognition).to_owned(),
        aliases: Vec::new(),
    }
}

pub(crate) fn recognition_name(r: Recognition) -> &'static str {
    match r {
        Recognition::Public => "public",
        Recognition::Private => "private",
        Recognition::None => "none",
    }
}

fn visibility_name(v: Visibility) -> &'static str {
    match v {
        Visibility::Public => "public",
        Visibility::Anonymous => "anonymous",
        Visibility::Hidden => "hidden",
    }
}

#[utoipa::path(get, path = "/v1/members/{member}", tag = "read",
    params(("member" = String, Path)), responses((status = 200, body = ProfileView), (status = 404)))]
pub async fn profile(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, Access::Read)?;
    let member = member_id(path.into_inner())?;
    let found = state.store.member(&member).await?;
    let found = found.ok_or_else(|| ApiError::NotFound(format!("no member \"{member}\"")))?;
    let rules = state.rules();
    let mut view = profile_view(&rules.rules, member.as_str(), found, jiff::Timestamp::now());
    view.aliases = aliases_of(&state, &member).await?;
    Ok(HttpResponse::Ok().json(view))
}

async fn aliases_of(state: &AppState, member: &MemberId) -> Result<Vec<String>, ApiError> {
    let aliases = state.store.aliases(member).await?;
    Ok(aliases.iter().map(ToString::to_string).collect())
}

/// Most aliases one member may have.
pub const MAX_ALIASES: usize = 20;

/// Checks a new alias list: ids of 1 to 200 bytes, distinct, not the
/// member, none linked elsewhere by the rule file. The store checks the
/// rest (links set through the API) when it records them.
fn aliases_for(
    rules: &RuleSet,
    member: &MemberId,
    raw: Vec<String>,
) -> Result<Vec<MemberId>, ApiError> {
    let invalid = |m: String| ApiError::invalid(Invalid::Profile, m);
    if raw.len() > MAX_ALIASES {
        return Err(invalid(format!("aliases: at most {MAX_ALIASES} aliases")));
    }
    let mut out: Vec<MemberId> = Vec::with_capacity(raw.len());
    for (i, alias) in raw.into_iter().enumerate() {
        let alias = MemberId::parse(alias).map_err(|e| invalid(format!("aliases[{i}]: {e}")))?;
        if &alias == member {
            return Err(invalid(format!(
                "aliases[{i}]: \"{alias}\" is the member itself"
            )));
        }
        if out.contains(&alias) {
            return Err(invalid(format!(
                "aliases[{i}]: \"{alias}\" is listed twice"
            )));
        }
        if let Some(other) = rules
            .identities
            .member(alias.as_str())
            .filter(|o| *o != member)
        {
            return Err(ApiError::invalid(
                Invalid::AliasTaken,
                format!("aliases[{i}]: the rule file links \"{alias}\" to member \"{other}\""),
            ));
        }
        out.push(alias);
    }
    Ok(out)
}

/// What a member may set; absent fields keep their value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    pub name: Option<String>,
    /// IANA time zone, e.g. `Europe/Madrid`.
    pub timezone: Option<String>,
    pub groups: Option<Vec<String>>,
    /// `public`, `anonymous` or `hidden`.
    #[schema(value_type = Option<String>)]
    pub visibility: Option<Visibility>,
    /// `public` (default), `private` or `none`: how notifications may
    /// recognise the member.
    #[schema(value_type = Option<String>)]
    pub recognition: Option<Recognition>,
    /// Ids whose webhook activity is credited to this member, e.g.
    /// `["discourse:ana_souza", "github:anasouza"]`; replaces the earlier
    /// list (`[]` unlinks them all).
    pub aliases: Option<Vec<String>>,
}

impl ProfileUpdate {
    fn apply_to(self, mut profile: Profile) -> Result<Profile, ApiError> {
        let invalid = |m: String| ApiError::invalid(Invalid::Profile, m);
        if let Some(name) = self.name {
            if name.is_empty() || name.len() > 200 {
                return Err(invalid("name: must be 1 to 200 bytes".into()));
            }
            profile.name = Some(name);
        }
        if let Some(tz) = self.timezone {
            jiff::tz::TimeZone::get(&tz)
                .map_err(|_| invalid(format!("timezone: unknown IANA time zone \"{tz}\"")))?;
            profile.timezone = Some(tz);
        }
        if let Some(groups) = self.groups {
            if groups.len() > 50 || groups.iter().any(|g| g.is_empty() || g.len() > 100) {
                return Err(invalid(
                    "groups: at most 50 groups of 1 to 100 bytes".into(),
                ));
            }
            profile.groups = groups;
        }
        if let Some(v) = self.visibility {
            profile.visibility = v;
        }
        if let Some(r) = self.recognition {
            profile.recognition = r;
        }
        Ok(profile)
    }
}

#[utoipa::path(put, path = "/v1/members/{member}", tag = "ingest", request_body = ProfileUpdate,
    params(("member" = String, Path)), responses((status = 200, body = ProfileView), (status = 422)))]
pub async fn update(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, Access::Ingest)?;
    let member = member_id(path.into_inner())?;
    let body = json_body(&req, payload).await?;
    let mut update: ProfileUpdate =
        from_json(body).map_err(|e| ApiError::invalid(Invalid::Profile, e))?;
    let rules = state.rules();
    let aliases = update
        .aliases
        .take()
        .map(|raw| aliases_for(&rules.rules, &member, raw))
        .transpose()?;
    let current = state.store.member(&member).await?.unwrap_or_default();
    let profile = update.apply_to(current.profile.clone())?;
    if let Some(aliases) = aliases {
        state
            .store
            .set_aliases(&member, aliases)
            .await?
            .map_err(|refused| {
                ApiError::invalid(Invalid::AliasTaken, format!("aliases: {refused}"))
            })?;
    }
    state.store.set_profile(&member, profile).await?;
    let updated = state.store.member(&member).await?.unwrap_or_default();
    let mut view = profile_view(
        &rules.rules,
        member.as_str(),
        updated,
        jiff::Timestamp::now(),
    );
    view.aliases = aliases_of(&state, &member).await?;
    Ok(HttpResponse::Ok().json(view))
}
