//! The list of leaderboards on `/`.

use engagement_core::Period;
use maud::{Markup, html};

use super::board::{community_select, period_name};
use super::{Href, layout};

/// A board as listed on `/`.
#[derive(Debug, Clone)]
pub struct BoardSummary {
    pub id: String,
    pub name: String,
    /// What the score counts, in words.
    pub measures: String,
    pub periods: Vec<Period>,
    pub global: bool,
    pub community: bool,
    /// The communities it has scores in (filled for community-only boards).
    pub communities: Vec<String>,
}

/// `/`: every board, with a link per period.
pub fn index_page(boards: &[BoardSummary], token: Option<&str>) -> Markup {
    let content = html! {
        h1 { "Leaderboards" }
        @if boards.is_empty() {
            p.empty { "No leaderboards are configured yet." }
        }
        ul.cards {
            @for b in boards {
                li.card {
                    h2 { a href=(Href::new(&["boards", &b.id]).with("token", token)) { (b.name) } }
                    p.muted { (b.measures) }
                    @if b.global {
                        ul.periods aria-label={ (b.name) ": periods" } {
                            @for p in &b.periods {
                                li { a href=(Href::new(&["boards", &b.id]).with("period", Some(p.as_str())).with("token", token)) { (period_name(*p)) } }
                            }
                        }
                    } @else {
                        // A community-only board cannot be shown without one.
                        form.community method="get" action=(Href::new(&["boards", &b.id])) {
                            @if let Some(t) = token { input type="hidden" name="token" value=(t); }
                            label for={ "community-" (b.id) } { "Community" }
                            (community_select(&format!("community-{}", b.id), false, None, &b.communities))
                            button type="submit" { "Show" }
                        }
                    }
                }
            }
        }
    };
    layout("Leaderboards", false, token, content)
}
