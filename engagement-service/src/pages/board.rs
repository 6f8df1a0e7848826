//! A board's page: period tabs, community filter, the viewer's place, the
//! rows with ties marked, and pages. The model and its links serve the
//! embed too.

use engagement_core::{Bucket, Period};
use maud::{Markup, PreEscaped, html};

use super::{Href, layout, live};
use crate::store::Entry;

/// One page of a board, already filtered for visibility by the store.
#[derive(Debug, Clone)]
pub struct BoardPage {
    pub id: String,
    pub name: String,
    /// Points board (else a count board).
    pub points: bool,
    pub periods: Vec<Period>,
    pub global: bool,
    pub community_scope: bool,
    pub bucket: Bucket,
    pub community: Option<String>,
    /// The communities the board can be shown for, sorted.
    pub communities: Vec<String>,
    /// The `at` date asked for, kept in every link.
    pub at: Option<String>,
    /// The read token given in the address, kept in every link.
    pub token: Option<String>,
    pub viewer: Option<Viewer>,
    pub offset: u64,
    pub limit: u64,
    pub total: u64,
    pub entries: Vec<Entry>,
    /// Rank of the first entry after this page: a tie across the page edge.
    pub next_rank: Option<u64>,
}

/// The member looking at the board (`?member=`) and where they stand.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub member: String,
    /// `None` when the member is not listed on this board.
    pub rank: Option<u64>,
    pub score: i64,
    /// Their own row as the board lists it (anonymous: without id or name).
    pub entry: Option<Entry>,
}

/// Where a board link leads.
#[derive(Debug, Clone, Copy)]
pub(super) enum Route {
    Board,
    BoardEvents,
    Embed,
    EmbedEvents,
}

impl BoardPage {
    /// A link to this board, its embed or their streams, keeping the
    /// viewer, date and token, with the given period, community and page.
    pub(super) fn href(
        &self,
        route: Route,
        period: Period,
        community: Option<&str>,
        page: u64,
    ) -> Href {
        let id = self.id.as_str();
        let segments: &[&str] = match route {
            Route::Board => &["boards", id],
            Route::BoardEvents => &["boards", id, "events"],
            Route::Embed => &["embed", "boards", id],
            Route::EmbedEvents => &["embed", "boards", id, "events"],
        };
        let page = (page > 1).then(|| page.to_string());
        Href::new(segments)
            .with("period", Some(period.as_str()))
            .with("community", community)
            .with("at", self.at.as_deref())
            .with("page", page.as_deref())
            .with("member", self.viewer.as_ref().map(|v| v.member.as_str()))
            .with("token", self.token.as_deref())
    }

    fn page_number(&self) -> u64 {
        self.offset / self.limit.max(1) + 1
    }

    fn link_to_page(&self, page: u64) -> Href {
        self.href(
            Route::Board,
            self.bucket.period,
            self.community.as_deref(),
            page,
        )
    }

    pub(super) fn is_viewer(&self, entry: &Entry) -> bool {
        match (&self.viewer, &entry.member) {
            (Some(v), Some(m)) => v.member == m.as_str(),
            _ => false,
        }
    }

    /// Whether the entry at `i` shares its rank with a neighbour.
    pub(super) fn tied(&self, i: usize) -> bool {
        let Some(entry) = self.entries.get(i) else {
            return false;
        };
        let position = self.offset + i as u64 + 1;
        let next = match self.entries.get(i + 1) {
            Some(e) => Some(e.rank),
            None => self.next_rank,
        };
        entry.rank < position || next == Some(entry.rank)
    }

    pub(super) fn score_word(&self) -> &'static str {
        if self.points { "Points" } else { "Count" }
    }

    pub(super) fn caption(&self) -> String {
        let mut caption = bucket_label(&self.bucket);
        match &self.community {
            Some(c) => caption.push_str(&format!(" · community {c}")),
            None => caption.push_str(" · all communities"),
        }
        caption
    }
}

/// `/boards/{board}`: tabs, community filter and the live region.
pub fn board_page(p: &BoardPage) -> Markup {
    let region = board_region(p).into_string();
    let stream = p.href(
        Route::BoardEvents,
        p.bucket.period,
        p.community.as_deref(),
        p.page_number(),
    );
    let content = html! {
        h1 { (p.name) }
        nav.tabs aria-label="Period" {
            ul {
                @for period in &p.periods {
                    li {
                        a href=(p.href(Route::Board, *period, p.community.as_deref(), 1))
                            aria-current=[(*period == p.bucket.period).then_some("page")] { (period_name(*period)) }
                    }
                }
            }
        }
        @if p.community_scope { (community_form(p)) }
        div.live #board data-live=(stream) data-status="live-status" data-version=(live::version(&region)) {
            (PreEscaped(&region))
        }
        p.live-status #live-status role="status" { "Reload the page to see new scores." }
        p.muted {
            a href=(p.href(Route::Embed, p.bucket.period, p.community.as_deref(), 1)) { "Compact view" }
            " (for embedding in a forum sidebar)"
        }
    };
    layout(
        &format!("{} · {}", p.name, bucket_label(&p.bucket)),
        false,
        p.token.as_deref(),
        content,
    )
}

fn community_form(p: &BoardPage) -> Markup {
    html! {
        form.community method="get" action=(Href::new(&["boards", &p.id])) {
            input type="hidden" name="period" value=(p.bucket.period.as_str());
            @if let Some(at) = &p.at { input type="hidden" name="at" value=(at); }
            @if let Some(v) = &p.viewer { input type="hidden" name="member" value=(v.member); }
            @if let Some(t) = &p.token { input type="hidden" name="token" value=(t); }
            label for="community" { "Community" }
            (community_select("community", p.global, p.community.as_deref(), &p.communities))
            button type="submit" { "Show" }
            @if p.global && p.community.is_some() {
                a href=(p.href(Route::Board, p.bucket.period, None, 1)) { "All communities" }
            }
        }
    }
}

/// A list of the communities to choose from: "All communities" first
/// when the board has a global scope; a community asked for that is not
/// (yet) listed is kept as chosen.
pub fn community_select(
    id: &str,
    global: bool,
    chosen: Option<&str>,
    communities: &[String],
) -> Markup {
    let unlisted = chosen.filter(|c| !communities.iter().any(|x| x == c));
    html! {
        select id=(id) name="community" required[!global] {
            @if global {
                option value="" selected[chosen.is_none()] { "All communities" }
            } @else if chosen.is_none() {
                option value="" disabled selected { "Choose a community" }
            }
            @if let Some(c) = unlisted { option value=(c) selected { (c) } }
            @for c in communities {
                option value=(c) selected[chosen == Some(c.as_str())] { (c) }
            }
        }
    }
}

/// The part of the board page that live updates replace: the viewer's
/// place, the table and the pager.
pub fn board_region(p: &BoardPage) -> Markup {
    html! {
        @if let Some(v) = &p.viewer { (viewer_line(p, v)) }
        @if p.entries.is_empty() {
            p.empty {
                @if p.total > 0 {
                    "No one is listed on this page. "
                    a href=(p.link_to_page(1)) { "Back to the first page" }
                } @else {
                    "No scores yet (" (bucket_label(&p.bucket)) ")."
                }
            }
        } @else {
            table.board {
                caption { (p.caption()) }
                thead { tr { th.rank scope="col" { "Rank" } th scope="col" { "Member" } th.score scope="col" { (p.score_word()) } } }
                tbody {
                    @for (i, e) in p.entries.iter().enumerate() { (row(p, e, p.tied(i), p.is_viewer(e))) }
                }
            }
            (pager(p))
        }
    }
}

pub(super) fn row(p: &BoardPage, e: &Entry, tied: bool, me: bool) -> Markup {
    html! {
        tr class=[me.then_some("me")] aria-current=[me.then_some("true")] {
            td.rank { (e.rank) @if tied { " " span.tied { "tied" } } }
            td.member {
                @match &e.member {
                    None => span.anonymous { "Anonymous member" },
                    Some(m) => a href=(Href::new(&["members", m.as_str()]).with("token", p.token.as_deref())) {
                        (e.name.as_deref().unwrap_or(m.as_str()))
                    },
                }
                @if me { " " span.you { "you" } }
            }
            td.score { (e.score) }
        }
    }
}

fn viewer_line(p: &BoardPage, v: &Viewer) -> Markup {
    let score = if p.points {
        format!("{} points", v.score)
    } else {
        format!("a count of {}", v.score)
    };
    html! {
        p.viewer {
            @match v.rank {
                Some(rank) => {
                    "You are " strong { "#" (rank) } " of " (p.total) " with " (score) "."
                    @let page = (rank - 1) / p.limit.max(1) + 1;
                    @if page != p.page_number() {
                        " " a href=(p.link_to_page(page)) { "Show my place" }
                    }
                }
                None => "You are not listed on this board for this period.",
            }
        }
    }
}

fn pager(p: &BoardPage) -> Markup {
    let pages = p.total.div_ceil(p.limit.max(1)).max(1);
    let page = p.page_number();
    html! {
        @if pages > 1 {
            nav.pager aria-label="Pages" {
                @if page > 1 { a rel="prev" href=(p.link_to_page(page - 1)) { "← Previous" } }
                span { "Page " (page) " of " (pages) }
                @if page < pages { a rel="next" href=(p.link_to_page(page + 1)) { "Next →" } }
            }
        }
    }
}

/// A bucket in words: `All time`, `Week of 16 November 2026`, …
pub fn bucket_label(b: &Bucket) -> String {
    match (b.period, b.start) {
        (Period::AllTime, _) | (_, None) => "All time".to_owned(),
        (Period::Year, Some(d)) => format!("Year {}", d.year()),
        (Period::Quarter, Some(d)) => format!("Q{} {}", (d.month() - 1) / 3 + 1, d.year()),
        (Period::Month, Some(d)) => d.strftime("%B %Y").to_string(),
        (Period::Week, Some(d)) => format!("Week of {}", d.strftime("%-d %B %Y")),
        (Period::Day, Some(d)) => d.strftime("%-d %B %Y").to_string(),
    }
}

pub fn period_name(p: Period) -> &'static str {
    match p {
        Period::AllTime => "All time",
        Period::Year => "Year",
        Period::Quarter => "Quarter",
        Period::Month => "Month",
        Period::Week => "Week",
        Period::Day => "Day",
    }
}
