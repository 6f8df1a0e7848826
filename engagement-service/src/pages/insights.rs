//! The community managers' page: whether knowledge flows, one card per
//! figure of `GET /v1/insights`, with charts drawn on the server as SVG
//! (a Lorenz curve of points, the knowledge-cycle stages, the flow between
//! communities as a heat map, and each headline figure's last buckets as a
//! trend line). No script is needed to read it.

use engagement_core::insights::Cell;
use engagement_core::rules::Stage;
use engagement_core::{Bucket, Period, Report};
use maud::{Markup, html};

use super::board::{bucket_label, community_select, period_name};
use super::{FairPlayContext, Href, fair_play_card, layout, stage_chart};

/// Everything the page shows.
#[derive(Debug, Clone)]
pub struct InsightsPage {
    pub report: Report,
    pub bucket: Bucket,
    /// The communities insights can be shown for.
    pub communities: Vec<String>,
    /// The date asked for, as given.
    pub at: Option<String>,
    /// Answers per (home community, answering community) in the whole
    /// deployment for the same bucket, most first.
    pub matrix: Vec<Cell>,
    /// The reports of the buckets before, oldest first, ending with this one.
    pub trend: Vec<(Bucket, Report)>,
    pub token: Option<String>,
    /// Whether fair play is kept: its card is shown then.
    pub fair_play: bool,
}

/// A headline figure followed over the buckets.
struct Figure {
    name: &'static str,
    value: fn(&Report) -> Option<f64>,
    show: fn(f64) -> String,
}

fn share(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

fn whole(x: f64) -> String {
    format!("{x:.0}")
}

fn answered_share(r: &Report) -> Option<f64> {
    (r.questions.asked > 0).then(|| r.questions.answered as f64 / r.questions.asked as f64)
}

const EVENTS: Figure = Figure {
    name: "Events",
    value: |r| Some(r.events as f64),
    show: whole,
};
const ACTIVE: Figure = Figure {
    name: "Active members",
    value: |r| Some(r.members.active as f64),
    show: whole,
};
const GINI: Figure = Figure {
    name: "Participation Gini",
    value: |r| Some(r.participation.gini),
    show: |x| format!("{x:.3}"),
};
const ANSWERED: Figure = Figure {
    name: "Questions answered",
    value: answered_share,
    show: share,
};
const WAIT: Figure = Figure {
    name: "Median minutes to a first answer",
    value: |r| r.questions.median_minutes_to_first_answer,
    show: |x| format!("{x:.0} min"),
};
const TOP_ANSWERER: Figure = Figure {
    name: "Top answerer's share",
    value: |r| (r.concentration.accepted_answers > 0).then_some(r.concentration.top_answerer_share),
    show: share,
};
const CROSS: Figure = Figure {
    name: "Answers across communities",
    value: |r| (r.flow.answers > 0).then_some(r.flow.share),
    show: share,
};

pub fn insights_page(p: &InsightsPage) -> Markup {
    let r = &p.report;
    let scope = r.community.as_deref().unwrap_or("All communities");
    let title = format!("Knowledge flow · {scope} · {}", bucket_label(&p.bucket));
    let q = &r.questions;
    let c = &r.concentration;
    let content = html! {
        h1 { "Knowledge flow" }
        p.muted { (scope) " · " (bucket_label(&p.bucket)) }
        (choose(p))
        ul.cards {
            li.card {
                h2 { "Activity" }
                p.big { (r.events) " events" }
                p { (r.members.active) " members acted; " (r.members.contributors) " earned points." }
                (trend(p, &EVENTS))
                (trend(p, &ACTIVE))
            }
            li.card {
                h2 { "Participation" }
                p.big { "Gini " (format!("{:.3}", r.participation.gini)) }
                p {
                    "The top 10 % of contributors hold " (share(r.participation.top_10pct_share))
                    " of the points; the top 1 % hold " (share(r.participation.top_1pct_share)) "."
                }
                p.muted { "0: everyone earns alike. Near 1: a few earn nearly everything." }
                (lorenz_chart(&r.lorenz))
                (trend(p, &GINI))
            }
            li.card {
                h2 { "Knowledge cycle" }
                p.muted { "Actions per stage: a stage with none is a gap in the cycle." }
                (stage_chart(&Stage::ALL.map(|s| (s, u32::try_from(r.stages.get(s)).unwrap_or(u32::MAX)))))
            }
            li.card {
                h2 { "Questions" }
                p.big { (q.answered) " of " (q.asked) " answered" }
                p {
                    (q.accepted) " acceptances. "
                    @match q.median_minutes_to_first_answer {
                        Some(m) => { "Half the answered questions had a first answer within " (format!("{m:.0}")) " minutes." }
                        None => { "No question asked in this period has an answer from someone else yet." }
                    }
                }
                (trend(p, &ANSWERED))
                (trend(p, &WAIT))
            }
            li.card {
                h2 { "Who holds the knowledge" }
                p.big { (c.knowledge_holders) " " (if c.knowledge_holders == 1 { "member holds" } else { "members hold" }) " half" }
                p {
                    "of the " (c.accepted_answers) " accepted answers; the top answerer alone holds "
                    (share(c.top_answerer_share)) "."
                }
                p.muted { "Few holders: ask them to turn their answers into resources, and pair them with newer members." }
                (trend(p, &TOP_ANSWERER))
            }
            li.card.wide {
                h2 { "Flow between communities" }
                p.big { (share(r.flow.share)) " of answers cross communities" }
                p { (r.flow.cross_community) " of " (r.flow.answers) " answers came from members whose home is another community." }
                (trend(p, &CROSS))
                (heat_map(&p.matrix, r.community.as_deref()))
            }
            @if p.fair_play {
                (fair_play_card(&FairPlayContext {
                    period: None,
                    at: p.at.clone(),
                    token: p.token.clone(),
                }))
            }
        }
    };
    layout(&title, false, p.token.as_deref(), content)
}

/// The form choosing the community, period and date.
fn choose(p: &InsightsPage) -> Markup {
    html! {
        form.community method="get" action=(Href::new(&["insights"])) {
            @if let Some(t) = &p.token { input type="hidden" name="token" value=(t); }
            span.field {
                label for="community" { "Community" }
                (community_select("community", true, p.report.community.as_deref(), &p.communities))
            }
            span.field {
                label for="period" { "Period" }
                select id="period" name="period" {
                    @for period in Period::ALL {
                        option value=(period.as_str()) selected[period == p.bucket.period] { (period_name(period)) }
                    }
                }
            }
            span.field {
                label for="at" { "Day in it" }
                input type="date" id="at" name="at" value=[p.at.as_deref()];
            }
            button type="submit" { "Show" }
        }
    }
}

/// A figure over the buckets, as a small line with its last value; the
/// values are also in the description, for screen readers.
fn trend(p: &InsightsPage, figure: &Figure) -> Markup {
    const W: f64 = 240.0;
    const H: f64 = 40.0;
    let values: Vec<(String, Option<f64>)> = (p.trend.iter())
        .map(|(b, r)| (bucket_label(b), (figure.value)(r)))
        .collect();
    let known: Vec<f64> = values.iter().filter_map(|v| v.1).collect();
    let max = known.iter().copied().fold(0.0_f64, f64::max);
    let min = known.iter().copied().fold(max, f64::min).min(0.0);
    let span = (max - min).max(f64::EPSILON);
    let steps = (values.len().max(2) - 1) as f64;
    let points: Vec<String> = (values.iter().enumerate())
        .filter_map(|(i, (_, v))| {
            v.map(|v| {
                let x = 4.0 + (W - 8.0) * i as f64 / steps;
                let y = H - 4.0 - (H - 8.0) * (v - min) / span;
                format!("{x:.1},{y:.1}")
            })
        })
        .collect();
    let described: Vec<String> = (values.iter())
        .map(|(b, v)| format!("{b}: {}", v.map_or("none".to_owned(), figure.show)))
        .collect();
    html! {
        figure.trend {
            svg role="img" viewBox={ "0 0 " (W) " " (H) } {
                title { (figure.name) " over the last " (values.len()) " periods" }
                desc { (described.join("; ")) }
                line.axis x1="0" y1=(H - 2.0) x2=(W) y2=(H - 2.0) {}
                @if points.len() > 1 { polyline.line points=(points.join(" ")) {} }
                @if let Some(last) = points.last() {
                    @let (x, y) = last.split_once(',').unwrap_or(("0", "0"));
                    circle.dot cx=(x) cy=(y) r="3" {}
                }
            }
            figcaption {
                (figure.name) ": "
                strong { (values.last().and_then(|v| v.1).map_or("none".to_owned(), figure.show)) }
            }
        }
    }
}

/// The Lorenz curve: how far points are from being shared alike.
fn lorenz_chart(curve: &[(f64, f64)]) -> Markup {
    const S: f64 = 200.0;
    const PAD: f64 = 28.0;
    let at = |(x, y): (f64, f64)| format!("{:.1},{:.1}", PAD + x * S, PAD + S - y * S);
    let points: Vec<String> = curve.iter().copied().map(at).collect();
    let half = curve
        .iter()
        .find(|(x, _)| *x >= 0.5)
        .map_or(0.0, |(_, y)| *y);
    html! {
        svg.lorenz role="img" viewBox={ "0 0 " (S + PAD * 2.0) " " (S + PAD * 2.0) } {
            title { "Lorenz curve of the points earned" }
            desc {
                "The half of contributors who earned least hold "
                (share(half)) " of the points; shared alike they would hold 50 %."
            }
            rect.frame x=(PAD) y=(PAD) width=(S) height=(S) {}
            line.equal x1=(PAD) y1=(PAD + S) x2=(PAD + S) y2=(PAD) {}
            @if points.len() > 1 { polyline.curve points=(points.join(" ")) {} }
            text x=(PAD) y=(PAD + S + 18.0) { "contributors, least first →" }
            text x="4" y=(PAD - 8.0) { "↑ share of points" }
        }
    }
}

/// Answers per home community (rows) and answering community (columns),
/// darker for more.
fn heat_map(matrix: &[Cell], chosen: Option<&str>) -> Markup {
    if matrix.is_empty() {
        return html! { p.muted { "No answer crossed communities in this period." } };
    }
    let mut rows: Vec<&str> = matrix.iter().map(|c| c.from.as_str()).collect();
    let mut cols: Vec<&str> = matrix.iter().map(|c| c.to.as_str()).collect();
    rows.sort_unstable();
    rows.dedup();
    cols.sort_unstable();
    cols.dedup();
    const CELL: usize = 34;
    const LABEL: usize = 150;
    let top = LABEL - 30;
    // Room on the right for the last column's slanted label.
    let width = LABEL + CELL * cols.len() + 100;
    let height = top + CELL * rows.len() + 8;
    let max = matrix.iter().map(|c| c.answers).max().unwrap_or(1).max(1);
    let short = |s: &str| -> String {
        if s.chars().count() > 18 {
            format!("{}…", s.chars().take(17).collect::<String>())
        } else {
            s.to_owned()
        }
    };
    let described: Vec<String> = (matrix.iter())
        .map(|c| format!("{} → {}: {}", c.from, c.to, c.answers))
        .collect();
    html! {
        div.scroll {
            svg.flow role="img" width=(width) height=(height) viewBox={ "0 0 " (width) " " (height) } {
                title { "Answers by home community (rows) in other communities (columns)" }
                desc { (described.join("; ")) }
                @for (j, col) in cols.iter().enumerate() {
                    @let x = LABEL + CELL * j + CELL / 2;
                    text.col x=(x) y=(top - 6) transform={ "rotate(-45 " (x) " " (top - 6) ")" }
                        class=[(chosen == Some(*col)).then_some("chosen")] { (short(col)) }
                }
                @for (i, row) in rows.iter().enumerate() {
                    @let y = top + CELL * i;
                    text.row x=(LABEL - 6) y=(y + CELL / 2 + 5)
                        class=[(chosen == Some(*row)).then_some("chosen")] { (short(row)) }
                    @for (j, col) in cols.iter().enumerate() {
                        @let n = matrix.iter().find(|c| c.from == *row && c.to == *col).map_or(0, |c| c.answers);
                        @let x = LABEL + CELL * j;
                        rect.cell x=(x + 1) y=(y + 1) width=(CELL - 2) height=(CELL - 2) rx="3"
                            fill-opacity=(format!("{:.2}", if n == 0 { 0.0 } else { 0.15 + 0.85 * n as f64 / max as f64 })) {}
                        @if n > 0 {
                            text.n x=(x + CELL / 2) y=(y + CELL / 2 + 5) { (n) }
                        }
                    }
                }
            }
        }
    }
}
