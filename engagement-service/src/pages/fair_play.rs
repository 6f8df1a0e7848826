//! Fair play on the community managers' page (SPEC §9). The insights page
//! offers a card that asks for the admin token; the token then travels in
//! the body of form posts only (never in an address, a link or a log), to
//! the report of the period shown, and from there to taking a pair's or a
//! ring's events back, which asks for a confirmation first.

use engagement_core::Bucket;
use engagement_core::fair_play::{PERIODS, Report};
use maud::{Markup, html};

use super::board::{bucket_label, period_name};
use super::{Href, layout};

/// The period, day and read token a fair-play form carries along.
#[derive(Debug, Clone, Default)]
pub struct FairPlayContext {
    pub period: Option<String>,
    pub at: Option<String>,
    /// The read token of the pages, when there is one.
    pub token: Option<String>,
}

/// The card on the insights page leading to the fair-play report.
pub fn fair_play_card(context: &FairPlayContext) -> Markup {
    html! {
        li.card.wide #fair-play {
            h2 { "Fair play" }
            p {
                "Pairs of members where one earns the other points suspiciously often, "
                "and the rings they form, for a day, a week or a month. For admins."
            }
            form.admin method="post" action=(Href::new(&["fair-play"])) {
                (carried(context))
                span.field {
                    label for="admin_token" { "Admin token" }
                    input type="password" id="admin_token" name="admin_token" autocomplete="off" required;
                }
                span.field {
                    label for="fair-period" { "Period" }
                    select id="fair-period" name="period" {
                        @for period in PERIODS {
                            option value=(period.as_str()) selected[context.period.as_deref().unwrap_or("month") == period.as_str()] {
                                (period_name(period))
                            }
                        }
                    }
                }
                button type="submit" { "Show fair play" }
            }
        }
    }
}

/// The read token and the day, as hidden fields.
fn carried(context: &FairPlayContext) -> Markup {
    html! {
        @if let Some(t) = &context.token { input type="hidden" name="token" value=(t); }
        @if let Some(at) = &context.at { input type="hidden" name="at" value=(at); }
    }
}

/// The fields that name the bucket and carry the admin token.
fn hidden(context: &FairPlayContext, admin: &str, bucket: &Bucket) -> Markup {
    html! {
        (carried(context))
        input type="hidden" name="admin_token" value=(admin);
        input type="hidden" name="period" value=(bucket.period.as_str());
    }
}

/// The pairs a revoke form names, as the JSON the API takes.
fn pairs_field(pairs: &[(&str, &str)]) -> String {
    let named: Vec<serde_json::Value> = pairs
        .iter()
        .map(|(from, to)| serde_json::json!({"from": from, "to": to}))
        .collect();
    serde_json::Value::from(named).to_string()
}

/// The report, each pair and ring with a button to take its events back.
pub fn fair_play_page(
    report: &Report,
    bucket: &Bucket,
    context: &FairPlayContext,
    admin: &str,
) -> Markup {
    let title = format!("Fair play · {}", bucket_label(bucket));
    let content = html! {
        h1 { "Fair play" }
        p.muted { (bucket_label(bucket)) }
        p {
            "A pair is listed when one member's actions earned the other points at least "
            (report.ring_min_events) " times in this " (bucket.period.as_str()) ", making at least "
            (format!("{:.0} %", report.ring_min_share * 100.0)) " of the giver's point-giving actions. "
            "A ring is two or three members who each earn the next one points that way."
        }
        p.muted {
            "A listed pair is a question, not a verdict: a reader who likes mostly one prolific "
            "author is listed too. Rings are the stronger sign."
        }
        @if report.rings.is_empty() {
            p { "No ring in this " (bucket.period.as_str()) "." }
        } @else {
            h2 { "Rings" }
            ul.rings {
                @for ring in &report.rings {
                    @let members: Vec<&str> = ring.members.iter().map(|m| m.as_str()).collect();
                    @let cycle: Vec<(&str, &str)> = (0..members.len())
                        .map(|i| (members[i], members[(i + 1) % members.len()]))
                        .collect();
                    li {
                        (members.join(" → ")) " → " (members[0])
                        " · " (ring.events) " events "
                        (revoke_button(context, admin, bucket, &cycle, "Take the ring's points back…"))
                    }
                }
            }
        }
        h2 { "Pairs" }
        @if report.pairs.is_empty() {
            p { "No pair stands out in this " (bucket.period.as_str()) "." }
        } @else {
            table.pairs {
                thead { tr { th { "From" } th { "To" } th { "Events" } th { "Points" } th { "Share" } th {} } }
                tbody {
                    @for p in &report.pairs {
                        tr {
                            td { (p.from.as_str()) }
                            td { (p.to.as_str()) }
                            td.num { (p.events) }
                            td.num { (p.points) }
                            td.num { (format!("{:.0} %", p.share * 100.0)) }
                            td { (revoke_button(context, admin, bucket, &[(p.from.as_str(), p.to.as_str())], "Take back…")) }
                        }
                    }
                }
            }
        }
        p { a href=(Href::new(&["insights"]).with("token", context.token.as_deref()).with("at", context.at.as_deref())) { "Back to knowledge flow" } }
    };
    layout(&title, false, context.token.as_deref(), content)
}

fn revoke_button(
    context: &FairPlayContext,
    admin: &str,
    bucket: &Bucket,
    pairs: &[(&str, &str)],
    label: &str,
) -> Markup {
    html! {
        form.inline method="post" action=(Href::new(&["fair-play", "revoke"])) {
            (hidden(context, admin, bucket))
            input type="hidden" name="pairs" value=(pairs_field(pairs));
            button type="submit" { (label) }
        }
    }
}

/// Asks before taking anything back: what would go, and a button that does it.
pub fn confirm_page(
    bucket: &Bucket,
    context: &FairPlayContext,
    admin: &str,
    pairs: &[(&str, &str, usize)],
) -> Markup {
    let total: usize = pairs.iter().map(|p| p.2).sum();
    let named: Vec<(&str, &str)> = pairs.iter().map(|p| (p.0, p.1)).collect();
    let content = html! {
        h1 { "Take these points back?" }
        p.muted { (bucket_label(bucket)) }
        ul {
            @for (from, to, events) in pairs {
                li { (events) " events through which " (from) " earned " (to) " points" }
            }
        }
        p {
            "Each of the " (total) " events gets a revocation in the event log, as if it had been "
            "undone where it happened: its points, counts and leaderboard scores go; badges stay. "
            "A replay of the log gives the same result. Asking again takes nothing more."
        }
        form method="post" action=(Href::new(&["fair-play", "revoke"])) {
            (hidden(context, admin, bucket))
            input type="hidden" name="pairs" value=(pairs_field(&named));
            input type="hidden" name="confirm" value="yes";
            button.danger type="submit" disabled[total == 0] { "Take back " (total) " events" }
        }
        form method="post" action=(Href::new(&["fair-play"])) {
            (hidden(context, admin, bucket))
            button type="submit" { "Cancel" }
        }
    };
    layout(
        "Take these points back?",
        false,
        context.token.as_deref(),
        content,
    )
}

/// What a confirmed revocation took back.
pub fn revoked_page(
    bucket: &Bucket,
    context: &FairPlayContext,
    admin: &str,
    revoked: usize,
) -> Markup {
    let content = html! {
        h1 { "Points taken back" }
        p.muted { (bucket_label(bucket)) }
        p { (revoked) " events were revoked through the event log." }
        form method="post" action=(Href::new(&["fair-play"])) {
            (hidden(context, admin, bucket))
            button type="submit" { "Back to fair play" }
        }
    };
    layout(
        "Points taken back",
        false,
        context.token.as_deref(),
        content,
    )
}
