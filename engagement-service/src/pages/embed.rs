//! The compact board meant for an iframe in a forum sidebar.

use maud::{Markup, PreEscaped, html};

use super::board::{BoardPage, Route, bucket_label, row};
use super::{layout, live};

/// `/embed/boards/{board}`: the top rows and the viewer's own, for an iframe.
pub fn embed_page(p: &BoardPage) -> Markup {
    let region = embed_region(p).into_string();
    let full = p.href(Route::Board, p.bucket.period, p.community.as_deref(), 1);
    let limit = p.limit.to_string();
    let stream = p
        .href(
            Route::EmbedEvents,
            p.bucket.period,
            p.community.as_deref(),
            1,
        )
        .with("limit", Some(&limit));
    let content = html! {
        header.embed-head {
            a href=(full) target="_blank" rel="noopener" { (p.name) }
            span.muted { (bucket_label(&p.bucket)) }
        }
        div.live data-live=(stream) data-status="live-status" data-version=(live::version(&region)) {
            (PreEscaped(&region))
        }
        p.live-status #live-status role="status" {}
    };
    layout(&p.name, true, p.token.as_deref(), content)
}

/// The live part of the embed: the top rows, then the viewer's own row
/// when it is further down.
pub fn embed_region(p: &BoardPage) -> Markup {
    let shown_rank = p.entries.last().map_or(0, |e| e.rank);
    let own = p
        .viewer
        .as_ref()
        .and_then(|v| v.entry.as_ref())
        .filter(|e| match &e.member {
            Some(_) => !p.entries.iter().any(|shown| shown.member == e.member),
            None => e.rank > shown_rank,
        });
    html! {
        @if p.entries.is_empty() {
            p.empty { "No scores yet." }
        } @else {
            table.board.compact {
                caption.visually-hidden { (p.name) ", " (p.caption()) }
                thead { tr { th.rank scope="col" { "#" } th scope="col" { "Member" } th.score scope="col" { (p.score_word()) } } }
                tbody {
                    @for (i, e) in p.entries.iter().enumerate() { (row(p, e, p.tied(i), p.is_viewer(e))) }
                    @if let Some(e) = own {
                        tr.gap aria-hidden="true" { td colspan="3" { "…" } }
                        (row(p, e, false, true))
                    }
                }
            }
        }
    }
}
