//! A member's profile page: level, badges, streak, progress toward the next
//! badge tiers, and an inline SVG chart of contributions per stage.

use engagement_core::Visibility;
use engagement_core::rules::Stage;
use maud::{Markup, html};

use super::{Href, layout};

/// Everything the profile page shows; the same figures as
/// `GET /v1/members/{member}`.
#[derive(Debug, Clone)]
pub struct ProfilePage {
    pub member: String,
    pub name: Option<String>,
    pub visibility: Visibility,
    /// `public`, `private` or `none`, as the API says it.
    pub recognition: String,
    pub points: i64,
    pub level: LevelLine,
    pub badges: Vec<BadgeLine>,
    pub streak: StreakLine,
    pub progress: Vec<ProgressLine>,
    /// Actions per knowledge-cycle stage, in cycle order.
    pub stages: Vec<(Stage, u32)>,
    /// How the points were earned: `(what, rule id, points)`, most first.
    pub earned: Vec<(String, String, i64)>,
    /// The last awards, newest first.
    pub recent: Vec<AwardLine>,
    /// `(id, name)` of the boards with a global scope, to find oneself on.
    pub boards: Vec<(String, String)>,
    pub token: Option<String>,
}

/// One award of the member's ledger, and why it was what it was.
#[derive(Debug, Clone)]
pub struct AwardLine {
    /// RFC 3339.
    pub at: String,
    pub rule: String,
    pub points: i64,
    /// In words: "in full", "cut by the daily cap", "taken back", or an
    /// admin's reason.
    pub why: String,
}

#[derive(Debug, Clone)]
pub struct LevelLine {
    pub name: String,
    /// Points where the current level starts.
    pub floor: i64,
    /// The next level's name and the points where it starts.
    pub next: Option<(String, i64)>,
}

#[derive(Debug, Clone)]
pub struct BadgeLine {
    /// The badge's id.
    pub badge: String,
    pub name: String,
    pub tier: Option<String>,
    /// RFC 3339.
    pub awarded_at: String,
    pub reason: Option<String>,
    /// Where its Open Badges credential is read, when credentials are issued.
    pub credential: Option<Href>,
}

#[derive(Debug, Clone)]
pub struct StreakLine {
    pub current: u32,
    pub longest: u32,
    pub freezes: u32,
    pub max_freezes: u32,
    pub last_active_day: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ProgressLine {
    pub badge: String,
    pub tier: Option<String>,
    pub current: i64,
    pub target: i64,
}

/// `/members/{member}`.
pub fn profile_page(p: &ProfilePage) -> Markup {
    let shown = p.name.as_deref().unwrap_or(&p.member);
    let content = html! {
        h1 { (shown) }
        @if p.name.is_some() { p.muted { "Member id " code { (p.member) } } }
        @match p.visibility {
            Visibility::Public => {},
            Visibility::Anonymous => p.note { "Listed on leaderboards as an anonymous member." },
            Visibility::Hidden => p.note { "Not listed on leaderboards." },
        }
        @match p.recognition.as_str() {
            "private" => p.note { "Recognised privately: notifications reach only this member." },
            "none" => p.note { "Not recognised by notifications." },
            _ => {},
        }
        div.grid {
            section.card aria-labelledby="level-title" {
                h2 #level-title { "Level" }
                p.big { (p.level.name) }
                p { strong { (p.points) } " points" }
                @match &p.level.next {
                    Some((next, at)) => {
                        label for="level-progress" { (at - p.points) " points to " (next) }
                        progress #level-progress max=((at - p.level.floor).max(1)) value=((p.points - p.level.floor).max(0)) {
                            (p.points) " of " (at)
                        }
                    }
                    None => p.muted { "Highest level reached." },
                }
            }
            section.card aria-labelledby="streak-title" {
                h2 #streak-title { "Streak" }
                dl.facts {
                    dt { "Current" } dd { (days(p.streak.current)) }
                    dt { "Longest" } dd { (days(p.streak.longest)) }
                    dt { "Freezes" } dd { (p.streak.freezes) " of " (p.streak.max_freezes) }
                    @if let Some(day) = &p.streak.last_active_day {
                        dt { "Last active" } dd { time datetime=(day) { (day) } }
                    }
                }
            }
            section.card aria-labelledby="badges-title" {
                h2 #badges-title { "Badges" }
                @if p.badges.is_empty() {
                    p.muted { "No badges yet." }
                } @else {
                    ul.badges {
                        @for b in &p.badges {
                            li {
                                span.badge-name { (b.name) }
                                @if let Some(tier) = &b.tier { " " span class=(tier_class(tier)) { (tier) } }
                                " " time.muted datetime=(b.awarded_at) { (b.awarded_at.get(..10).unwrap_or(&b.awarded_at)) }
                                @if let Some(reason) = &b.reason { br; span.muted { (reason) } }
                                @if let Some(href) = &b.credential {
                                    br;
                                    span.credential {
                                        "Credential: "
                                        a href=(href.clone().with("format", Some("json")).with("download", Some("true")).with("token", p.token.as_deref())) download { ".json" }
                                        " · "
                                        a href=(href.clone().with("format", Some("jwt")).with("download", Some("true")).with("token", p.token.as_deref())) download { ".jwt" }
                                    }
                                }
                            }
                        }
                    }
                    @if p.badges.iter().any(|b| b.credential.is_some()) {
                        p.muted {
                            "Each badge is also a signed Open Badges 3.0 credential: keep it in a digital wallet or show it on a CV, and anyone can check it came from this community."
                        }
                    }
                }
            }
            section.card aria-labelledby="next-title" {
                h2 #next-title { "Next badges" }
                @if p.progress.is_empty() {
                    p.muted { "Every badge earned." }
                } @else {
                    ul.progress {
                        @for (i, g) in p.progress.iter().enumerate() {
                            li {
                                label for={ "progress-" (i) } {
                                    (g.badge) @if let Some(tier) = &g.tier { " (" (tier) ")" }
                                    span.muted { " " (g.current) " / " (g.target) }
                                }
                                progress id={ "progress-" (i) } max=(g.target.max(1)) value=(g.current.max(0)) {
                                    (g.current) " of " (g.target)
                                }
                            }
                        }
                    }
                }
            }
            section.card aria-labelledby="earned-title" {
                h2 #earned-title { "How the points were earned" }
                @if p.earned.is_empty() {
                    p.muted { "No points yet." }
                } @else {
                    table.earned {
                        thead { tr { th scope="col" { "For" } th.num scope="col" { "Points" } } }
                        tbody {
                            @for (what, rule, points) in &p.earned {
                                tr { td { (what) br; code.muted { (rule) } } td.num { (points) } }
                            }
                        }
                    }
                }
            }
            section.card aria-labelledby="recent-title" {
                h2 #recent-title { "Last awards" }
                @if p.recent.is_empty() {
                    p.muted { "No awards yet." }
                } @else {
                    ul.awards {
                        @for a in &p.recent {
                            li {
                                strong { @if a.points > 0 { "+" } (a.points) }
                                " " (a.rule) " "
                                time.muted datetime=(a.at) { (a.at.get(..10).unwrap_or(&a.at)) }
                                br; span.muted { (a.why) }
                            }
                        }
                    }
                }
            }
            section.card.wide aria-labelledby="stages-heading" {
                h2 #stages-heading { "Contributions by knowledge-cycle stage" }
                (stage_chart(&p.stages))
            }
            @if !p.boards.is_empty() {
                section.card.wide aria-labelledby="boards-title" {
                    h2 #boards-title { "On the leaderboards" }
                    ul.links {
                        @for (id, name) in &p.boards {
                            li { a href=(Href::new(&["boards", id]).with("member", Some(&p.member)).with("token", p.token.as_deref())) { (name) } }
                        }
                    }
                }
            }
        }
    };
    layout(
        &format!("{shown} · profile"),
        false,
        p.token.as_deref(),
        content,
    )
}

fn days(n: u32) -> String {
    if n == 1 {
        "1 day".to_owned()
    } else {
        format!("{n} days")
    }
}

/// Tier names come from the rule file: only known ones pick a colour class.
fn tier_class(tier: &str) -> &'static str {
    match tier {
        "bronze" => "tier tier-bronze",
        "silver" => "tier tier-silver",
        "gold" => "tier tier-gold",
        _ => "tier",
    }
}

fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Create => "Create",
        Stage::Discover => "Discover",
        Stage::Capture => "Capture",
        Stage::Organize => "Organize",
        Stage::Disseminate => "Disseminate",
        Stage::Use => "Use",
    }
}

/// Horizontal bars, one per stage, scaled to the largest; the numbers are
/// printed beside the bars and in the description for screen readers.
pub fn stage_chart(stages: &[(Stage, u32)]) -> Markup {
    const ROW: u64 = 30;
    const LABEL: u64 = 110;
    const BAR: u64 = 200;
    let max = u64::from(stages.iter().map(|s| s.1).max().unwrap_or(0).max(1));
    let height = ROW * stages.len() as u64 + 6;
    let described: Vec<String> = stages
        .iter()
        .map(|(s, n)| format!("{}: {n}", stage_name(*s)))
        .collect();
    html! {
        svg.stages role="img" aria-labelledby="stages-title stages-desc"
            viewBox={ "0 0 " (LABEL + BAR + 48) " " (height) } {
            title #stages-title { "Contributions per knowledge-cycle stage" }
            desc #stages-desc { (described.join(", ")) }
            @for (i, (stage, n)) in stages.iter().enumerate() {
                @let y = ROW * i as u64 + 4;
                // SVG elements are written open and closed: the HTML parser
                // does not treat them as void elements.
                text.label x="0" y=(y + 17) { (stage_name(*stage)) }
                rect.track x=(LABEL) y=(y + 3) width=(BAR) height="18" rx="3" {}
                rect.bar data-stage=(stage.as_str()) x=(LABEL) y=(y + 3) width=(u64::from(*n) * BAR / max) height="18" rx="3" {}
                text.value x=(LABEL + BAR + 8) y=(y + 17) { (n) }
            }
        }
    }
}
