//! Members' web pages: leaderboards, an embeddable board and profiles, and
//! the community managers' insights page,
//! rendered on the server with maud (which escapes every value it prints).
//!
//! Templates here are pure functions of small view models; the handlers in
//! `routes/pages.rs` fill those from the store. A page needs no JavaScript:
//! `live.js` only swaps a board's `[data-live]` region for the one the
//! server streams when scores change (`live.rs`).

mod board;
mod embed;
mod fair_play;
mod index;
mod insights;
pub mod live;
mod profile;
#[cfg(test)]
mod tests;

use std::fmt;

use maud::{DOCTYPE, Markup, html};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

pub use board::{BoardPage, Viewer, board_page, board_region};
pub use embed::{embed_page, embed_region};
pub use fair_play::{FairPlayContext, confirm_page, fair_play_card, fair_play_page, revoked_page};
pub use index::{BoardSummary, index_page};
pub use insights::{InsightsPage, insights_page};
pub use profile::{
    AwardLine, BadgeLine, LevelLine, ProfilePage, ProgressLine, StreakLine, profile_page,
    stage_chart,
};

/// The pages' stylesheet, served at [`STYLESHEET_PATH`].
pub const STYLESHEET: &str = include_str!("pages.css");
/// The live-update script, served at [`SCRIPT_PATH`].
pub const SCRIPT: &str = include_str!("live.js");
pub const STYLESHEET_PATH: &str = "/assets/pages.css";
pub const SCRIPT_PATH: &str = "/assets/live.js";

/// Sent with every page: styles and scripts come only from this service, so
/// markup that slipped through escaping still could not run a script.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; script-src 'self'; \
     connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'";

/// Unreserved characters (RFC 3986) stay; everything else in an id is
/// percent-encoded, so ids with `/`, `?`, `&` or `#` cannot change a link.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A link within the service: a path built from encoded segments and a query
/// of the parameters that are set.
#[derive(Debug, Clone)]
pub struct Href {
    path: String,
    query: Vec<(&'static str, String)>,
}

impl Href {
    /// `segments` are joined with `/` after encoding each one.
    pub fn new(segments: &[&str]) -> Href {
        let mut path = String::new();
        for s in segments {
            path.push('/');
            path.extend(utf8_percent_encode(s, COMPONENT));
        }
        if path.is_empty() {
            path.push('/');
        }
        Href {
            path,
            query: Vec::new(),
        }
    }

    /// Adds `name=value` when the value is set.
    pub fn with(mut self, name: &'static str, value: Option<&str>) -> Href {
        if let Some(v) = value {
            self.query.push((name, v.to_owned()));
        }
        self
    }
}

impl fmt::Display for Href {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)?;
        for (i, (name, value)) in self.query.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            write!(f, "{sep}{name}={}", utf8_percent_encode(value, COMPONENT))?;
        }
        Ok(())
    }
}

/// The frame every page shares. `embed` drops the site header and footer
/// and tightens spacing for an iframe in a forum sidebar.
fn layout(title: &str, embed: bool, token: Option<&str>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) }
                link rel="stylesheet" href=(STYLESHEET_PATH);
                script src=(SCRIPT_PATH) defer {}
            }
            body class=[embed.then_some("embed")] {
                @if embed {
                    main #main { (content) }
                } @else {
                    a.skip href="#main" { "Skip to content" }
                    header.site {
                        nav aria-label="Site" {
                            a.home href=(Href::new(&[]).with("token", token)) { "Leaderboards" }
                        }
                    }
                    main #main { (content) }
                    footer.site {
                        p { "Points, badges and streaks for sharing what you know." }
                    }
                }
            }
        }
    }
}

/// The page shown instead of a JSON error: the same status and message.
pub fn error_page(status: u16, message: &str) -> Markup {
    let title = match status {
        401 => "Access needs a token",
        404 => "Not found",
        400 | 422 => "This address does not work",
        503 => "Try again in a moment",
        _ => "Something went wrong",
    };
    let content = html! {
        h1 { (title) }
        p { (message) }
        p { a href="/" { "All leaderboards" } }
    };
    layout(title, false, None, content)
}
