//! The pages' view models, filled from the store the way the JSON API reads
//! it: the same board selection, visibility filter and profile figures.

use engagement_core::rules::{Leaderboard, Metric, Role, Stage};
use engagement_core::{ADJUSTMENT_RULE, Reason, RuleSet, Visibility};
use serde::Deserialize;

use crate::app::AppState;
use crate::error::{ApiError, Invalid};
use crate::pages::{self, BoardPage, BoardSummary, Viewer};
use crate::routes::leaderboards::{BoardQuery, Selection};
use crate::routes::members::ProfileView;
use crate::routes::{member_id, query_number};
use crate::store::{LedgerEntry, Store};

/// Rows on a board page.
const PER_PAGE: u64 = 20;
/// Rows in the embed unless `limit` says otherwise.
const EMBED_ROWS: u64 = 10;
const EMBED_MAX_ROWS: u64 = 25;

/// The pages' query: the API's board selection, the viewer, a page number
/// and the read token. Unknown fields are ignored: forums append their own.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageQuery {
    pub(super) period: Option<String>,
    pub(super) community: Option<String>,
    pub(super) at: Option<String>,
    pub(super) page: Option<String>,
    pub(super) limit: Option<String>,
    pub(super) member: Option<String>,
    pub(super) token: Option<String>,
}

impl PageQuery {
    /// An emptied form field counts as absent.
    pub(super) fn normalized(self) -> PageQuery {
        let set = |v: Option<String>| v.filter(|s| !s.is_empty());
        PageQuery {
            period: set(self.period),
            community: set(self.community),
            at: set(self.at),
            page: set(self.page),
            limit: set(self.limit),
            member: set(self.member),
            token: set(self.token),
        }
    }
}

/// Reads one page of a board as `GET /v1/leaderboards/{board}` does (same
/// selection, same visibility filter) and where the viewer stands.
pub(super) async fn board_view(
    state: &AppState,
    board: &str,
    q: &PageQuery,
    embed: bool,
) -> Result<BoardPage, ApiError> {
    let selection = BoardQuery {
        period: q.period.clone(),
        community: q.community.clone(),
        at: q.at.clone(),
        offset: None,
        limit: None,
        radius: None,
    };
    let sel = Selection::resolve(state, board, &selection)?;
    let (offset, limit) = if embed {
        let limit = query_number("limit", q.limit.as_deref())?.unwrap_or(EMBED_ROWS);
        if !(1..=EMBED_MAX_ROWS).contains(&limit) {
            return Err(ApiError::invalid(
                Invalid::Query,
                format!("limit: expected 1 to {EMBED_MAX_ROWS}"),
            ));
        }
        (0, limit)
    } else {
        let page: u64 = query_number("page", q.page.as_deref())?.unwrap_or(1);
        if page == 0 {
            return Err(ApiError::invalid(
                Invalid::Query,
                "page: expected 1 or more",
            ));
        }
        ((page - 1).saturating_mul(PER_PAGE), PER_PAGE)
    };
    let viewer = q.member.clone().map(member_id).transpose()?;
    let listing = state.store.listing().await?.for_board(&sel.board);
    // One row more than shown tells whether the last one ties with the next page.
    let mut page = state
        .store
        .page(&sel.key, &listing, offset, limit + 1)
        .await?;
    let next_rank = if page.entries.len() as u64 > limit {
        page.entries.pop().map(|e| e.rank)
    } else {
        None
    };
    let viewer = match viewer {
        None => None,
        Some(member) => {
            let s = state.store.standing(&sel.key, &listing, &member, 0).await?;
            Some(Viewer {
                member: member.to_string(),
                rank: s.rank,
                score: s.score,
                entry: s.entries.into_iter().next(),
            })
        }
    };
    let communities = if sel.board.community {
        state.store.communities(&sel.board.id).await?
    } else {
        Vec::new()
    };
    Ok(BoardPage {
        id: sel.board.id.to_string(),
        name: sel.board.name.clone(),
        points: matches!(sel.board.metric, Metric::Points),
        periods: sel.board.periods.clone(),
        global: sel.board.global,
        community_scope: sel.board.community,
        bucket: sel.key.bucket,
        community: sel.key.community.as_ref().map(|c| c.to_string()),
        communities: communities.iter().map(|c| c.to_string()).collect(),
        at: q.at.clone(),
        token: q.token.clone(),
        viewer,
        offset,
        limit,
        total: page.total,
        entries: page.entries,
        next_rank,
    })
}

pub(super) fn summary(rules: &RuleSet, b: &Leaderboard) -> BoardSummary {
    let measures = match b.metric {
        Metric::Points => "Points earned".to_owned(),
        Metric::Count { action, role } => {
            let label = rules
                .actions
                .get(action)
                .map_or("Actions", |a| a.label.as_str());
            match role {
                Role::Actor => format!("Count of “{label}”"),
                Role::Received => format!("Count of “{label}” received"),
            }
        }
    };
    BoardSummary {
        id: b.id.to_string(),
        name: b.name.clone(),
        measures,
        periods: b.periods.clone(),
        global: b.global,
        community: b.community,
        communities: Vec::new(),
    }
}

/// The profile page's model from the API's profile view.
pub(super) fn profile_page(
    rules: &RuleSet,
    view: ProfileView,
    ledger: Vec<LedgerEntry>,
    visibility: Visibility,
    token: Option<String>,
) -> pages::ProfilePage {
    let level = rules.level_index(view.points);
    let badge_name = |id: &str| {
        rules
            .badge(id)
            .map_or_else(|| id.to_owned(), |b| b.name.clone())
    };
    let earned = earned(rules, &view);
    pages::ProfilePage {
        level: pages::LevelLine {
            name: view.level.name,
            floor: rules.levels.get(level).map_or(0, |l| l.at),
            next: rules.levels.get(level + 1).map(|l| (l.name.clone(), l.at)),
        },
        badges: (view.badges.into_iter())
            .map(|b| pages::BadgeLine {
                badge: b.badge,
                credential: None,
                name: b.name,
                tier: b.tier,
                awarded_at: b.awarded_at,
                reason: b.reason,
            })
            .collect(),
        streak: pages::StreakLine {
            current: view.streak.current,
            longest: view.streak.longest,
            freezes: view.streak.freezes,
            max_freezes: rules.streak.as_ref().map_or(0, |s| s.max_freezes),
            last_active_day: view.streak.last_active_day,
        },
        progress: (view.progress.into_iter())
            .map(|p| pages::ProgressLine {
                badge: badge_name(&p.badge),
                tier: p.tier,
                current: p.current,
                target: p.target,
            })
            .collect(),
        stages: (Stage::ALL.into_iter())
            .map(|s| (s, view.stages.get(s.as_str()).copied().unwrap_or(0)))
            .collect(),
        earned,
        recent: ledger.into_iter().map(award_line).collect(),
        boards: (rules.leaderboards.iter().filter(|b| b.global))
            .map(|b| (b.id.to_string(), b.name.clone()))
            .collect(),
        member: view.member,
        name: view.name,
        visibility,
        recognition: view.recognition,
        points: view.points,
        token,
    }
}

/// Points per rule, most first; points a member earned before states kept
/// them by rule (until a replay) are shown as such, so the lines add up.
fn earned(rules: &RuleSet, view: &ProfileView) -> Vec<(String, String, i64)> {
    let mut lines: Vec<(String, String, i64)> = (view.points_by_rule.iter())
        .map(|r| (rule_label(rules, &r.rule), r.rule.clone(), r.points))
        .collect();
    let kept: i64 = view.points_by_rule.iter().map(|r| r.points).sum();
    if kept != view.points {
        let what = "Earned before points were kept by rule (a replay sorts them out)";
        lines.push((what.to_owned(), "-".to_owned(), view.points - kept));
    }
    lines
}

/// What a points rule pays for, in the words of its action's label.
fn rule_label(rules: &RuleSet, rule: &str) -> String {
    if rule == ADJUSTMENT_RULE {
        return "Adjusted by an admin".to_owned();
    }
    rules
        .points
        .iter()
        .find(|r| r.id.is(rule))
        .map_or_else(|| rule.to_owned(), |r| rules.actions[r.on].label.clone())
}

fn award_line(l: LedgerEntry) -> pages::AwardLine {
    let why = match (l.why, l.reason) {
        (Some(Reason::RevokedEvent), _) => "taken back: the event was revoked".to_owned(),
        (_, Some(reason)) => format!("adjustment: {reason}"),
        (Some(Reason::Partial), None) => "cut to fit a cap".to_owned(),
        _ => "in full".to_owned(),
    };
    pages::AwardLine {
        at: l.at.to_string(),
        rule: l.rule.to_string(),
        points: l.points,
        why,
    }
}

#[cfg(test)]
mod tests {
    use engagement_core::{MemberState, Name, RuleSet};

    use super::earned;
    use crate::routes::members::profile_view;
    use crate::settings::BUNDLED_RULES;

    #[test]
    fn points_from_before_points_were_kept_by_rule_show_so_the_lines_add_up() {
        let rules = RuleSet::from_toml(BUNDLED_RULES).unwrap();
        let mut state = MemberState::default();
        state.points = 50;
        state.by_rule.update(&Name::new("answer"), |n| *n += 20);
        let now = jiff::Timestamp::UNIX_EPOCH;
        let lines = earned(&rules, &profile_view(&rules, "m", state, now));
        let points: Vec<(&str, i64)> = lines.iter().map(|(_, r, n)| (r.as_str(), *n)).collect();
        assert_eq!(points, vec![("answer", 20), ("-", 30)]);
        assert_eq!(lines[0].0, "Answered a question");
    }
}
