//! `engagement insights`: the knowledge-flow report of SPEC §8 from an
//! event file (worked out in memory) or from the configured store, as a
//! table a manager reads or as the API's JSON.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use engagement_core::insights::{Insights, points_board};
use engagement_core::{Bucket, CommunityId, Increment, Memory, Period, Report};

use super::events::open_store;
use crate::settings::Settings;
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct InsightsArgs {
    /// Events to read (JSON lines); without it, the configured store.
    #[arg(long)]
    events: Option<PathBuf>,
    /// A community (default: the whole deployment).
    #[arg(long)]
    community: Option<String>,
    /// all_time, year, quarter, month, week or day.
    #[arg(long, default_value = "month")]
    period: String,
    /// A day of the bucket, YYYY-MM-DD (default: the day of the file's
    /// latest event, or today for the store).
    #[arg(long)]
    at: Option<jiff::civil::Date>,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    settings: Box<Settings>,
}

pub(super) fn insights(args: InsightsArgs) -> anyhow::Result<()> {
    let period = Period::parse(&args.period).with_context(|| {
        let known: Vec<&str> = Period::ALL.iter().map(|p| p.as_str()).collect();
        format!("--period: expected one of {}", known.join(", "))
    })?;
    let community = (args.community.clone())
        .map(CommunityId::parse)
        .transpose()
        .context("--community")?;
    let report = match &args.events {
        Some(file) => from_file(&args, file, period, community.as_ref())?,
        None => from_store(&args, period, community.as_ref())?,
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        out!("{}", table(&report));
    }
    Ok(())
}

fn unknown(community: &CommunityId) -> anyhow::Error {
    anyhow::anyhow!("no event names the community \"{community}\"")
}

fn from_file(
    args: &InsightsArgs,
    file: &std::path::Path,
    period: Period,
    community: Option<&CommunityId>,
) -> anyhow::Result<Report> {
    let rules = crate::startup::load_rules(&args.settings)?.rules;
    let mut memory = Memory::deferred();
    // Only the asked period's buckets are kept: a year of a large
    // community fits in a fraction of the memory. So is the points board
    // of the asked period and scope, which the participation figures read,
    // as on a store.
    memory.insights = Some(Box::new(Insights::only(period)));
    let board = points_board(&rules, period, community.is_some());
    let keep = |inc: &Increment<'_>| {
        Some(inc.board) == board && inc.bucket.period == period && inc.community == community
    };
    let date = super::observe_file(&rules, file, &mut memory, args.at, keep)?;
    let bucket = Bucket::containing(period, date, rules.week_starts);
    let insights = memory.insights.as_deref().context("insights are kept")?;
    if let Some(c) = community
        && !insights.knows(c)
    {
        return Err(unknown(c));
    }
    let report =
        (memory.insights_report(&rules, community, bucket, true)).context("insights are kept")?;
    // The command ends here: its memory goes back to the system whole.
    std::mem::forget(memory);
    Ok(report)
}

fn from_store(
    args: &InsightsArgs,
    period: Period,
    community: Option<&CommunityId>,
) -> anyhow::Result<Report> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let (store, rules) = open_store(&args.settings).await?;
        let date = args
            .at
            .unwrap_or_else(|| rules.timezone.to_datetime(jiff::Timestamp::now()).date());
        let bucket = Bucket::containing(period, date, rules.week_starts);
        let report = store.insights(&rules, community, bucket, true).await?;
        let report = match (report, community) {
            (Some(report), _) => (*report).clone(),
            (None, Some(c)) => return Err(unknown(c)),
            (None, None) => {
                anyhow::bail!("the store keeps no insights (ENGAGEMENT_INSIGHTS=false)")
            }
        };
        std::mem::forget(store);
        Ok(report)
    })
}

fn percent(ratio: f64) -> String {
    format!("{:.1} %", ratio * 100.0)
}

/// The report as a manager reads it.
fn table(r: &Report) -> String {
    let mut out = String::new();
    let scope = r.community.as_deref().unwrap_or("the whole deployment");
    let span = match (&r.bucket.start, &r.bucket.end) {
        (Some(start), Some(end)) => format!("{start} to {end} (exclusive)"),
        _ => "all time".to_owned(),
    };
    let _ = writeln!(
        out,
        "Knowledge flow in {scope}, {} {span}",
        r.period.as_str()
    );
    let _ = writeln!(out);
    let row = |out: &mut String, label: &str, value: String| {
        let _ = writeln!(out, "  {label:<40} {value}");
    };
    row(&mut out, "events", r.events.to_string());
    row(&mut out, "active members", r.members.active.to_string());
    row(
        &mut out,
        "contributors (earned points)",
        r.members.contributors.to_string(),
    );
    row(
        &mut out,
        "participation gini",
        format!("{:.3}", r.participation.gini),
    );
    row(
        &mut out,
        "points held by the top 1 %",
        percent(r.participation.top_1pct_share),
    );
    row(
        &mut out,
        "points held by the top 10 %",
        percent(r.participation.top_10pct_share),
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "  knowledge cycle");
    for stage in engagement_core::rules::Stage::ALL {
        row(
            &mut out,
            &format!("  {}", stage.as_str()),
            r.stages.get(stage).to_string(),
        );
    }
    let _ = writeln!(out);
    let q = &r.questions;
    row(&mut out, "questions asked", q.asked.to_string());
    let answered = match q.asked {
        0 => q.answered.to_string(),
        asked => format!(
            "{} ({})",
            q.answered,
            percent(q.answered as f64 / asked as f64)
        ),
    };
    row(&mut out, "answered by someone else", answered);
    row(&mut out, "acceptances", q.accepted.to_string());
    row(
        &mut out,
        "median time to a first answer",
        q.median_minutes_to_first_answer
            .map_or_else(|| "none answered".to_owned(), |m| format!("{m:.1} min")),
    );
    let _ = writeln!(out);
    let c = &r.concentration;
    row(&mut out, "accepted answers", c.accepted_answers.to_string());
    row(
        &mut out,
        "held by the top answerer",
        percent(c.top_answerer_share),
    );
    row(
        &mut out,
        "knowledge holders (hold half)",
        c.knowledge_holders.to_string(),
    );
    for h in c.holders.iter().flatten().take(10) {
        row(&mut out, &format!("  {}", h.member), h.accepted.to_string());
    }
    let _ = writeln!(out);
    let f = &r.flow;
    row(&mut out, "answers", f.answers.to_string());
    row(
        &mut out,
        "answered outside home community",
        format!("{} ({})", f.cross_community, percent(f.share)),
    );
    for cell in f.matrix.iter().flatten().take(20) {
        row(
            &mut out,
            &format!("  {} → {}", cell.from, cell.to),
            cell.answers.to_string(),
        );
    }
    out
}
