//! `engagement fair-play`: the fair-play report of SPEC §9 (strong pairs
//! and rings) from an event file, worked out in memory, or from the
//! configured store: a manager looks before revoking anything.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use engagement_core::fair_play::{self, PERIODS, Pairs, Report};
use engagement_core::{Bucket, Memory, Period};

use super::events::open_store;
use crate::settings::Settings;
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct FairPlayArgs {
    /// Events to read (JSON lines); without it, the configured store.
    #[arg(long)]
    events: Option<PathBuf>,
    /// day, week or month.
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

pub(super) fn fair_play(args: FairPlayArgs) -> anyhow::Result<()> {
    let period = Period::parse(&args.period)
        .filter(|p| fair_play::kept(*p))
        .with_context(|| {
            let kept: Vec<&str> = PERIODS.iter().map(|p| p.as_str()).collect();
            format!("--period: expected one of {}", kept.join(", "))
        })?;
    let report = match &args.events {
        Some(file) => from_file(&args, file, period)?,
        None => from_store(&args, period)?,
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        out!("{}", table(&report));
    }
    Ok(())
}

fn from_file(
    args: &FairPlayArgs,
    file: &std::path::Path,
    period: Period,
) -> anyhow::Result<Report> {
    let rules = crate::startup::load_rules(&args.settings)?.rules;
    let mut memory = Memory::default();
    memory.fair_play = Some(Box::new(Pairs::only(period)));
    let date = super::observe_file(&rules, file, &mut memory, args.at, |_| false)?;
    let bucket = Bucket::containing(period, date, rules.week_starts);
    let pairs = memory.fair_play.as_deref().context("fair play is kept")?;
    let report = pairs.report(&rules, &bucket);
    // The command ends here: its memory goes back to the system whole.
    std::mem::forget(memory);
    Ok(report)
}

fn from_store(args: &FairPlayArgs, period: Period) -> anyhow::Result<Report> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if !args.settings.fair_play {
        anyhow::bail!("the store keeps no fair-play tallies (ENGAGEMENT_FAIR_PLAY=false)");
    }
    rt.block_on(async {
        let (store, rules) = open_store(&args.settings).await?;
        let date = args
            .at
            .unwrap_or_else(|| rules.timezone.to_datetime(jiff::Timestamp::now()).date());
        let bucket = Bucket::containing(period, date, rules.week_starts);
        let report = store.fair_play(&rules, bucket).await?;
        std::mem::forget(store);
        Ok(report)
    })
}

/// The report as a manager reads it.
fn table(r: &Report) -> String {
    let mut out = String::new();
    let span = match (&r.bucket.start, &r.bucket.end) {
        (Some(start), Some(end)) => format!("{start} to {end} (exclusive)"),
        _ => "all time".to_owned(),
    };
    let _ = writeln!(out, "Fair play, {} {span}", r.period.as_str());
    let _ = writeln!(
        out,
        "A pair is listed at {} or more events through which one member earned the other points, \
         making at least {:.0} % of the giver's point-giving events.",
        r.ring_min_events,
        r.ring_min_share * 100.0
    );
    let _ = writeln!(out);
    if r.pairs.is_empty() {
        let _ = writeln!(out, "  no pair stands out");
        return out;
    }
    let _ = writeln!(
        out,
        "  {:<24} {:<24} {:>7} {:>7} {:>7}",
        "from", "to", "events", "points", "share"
    );
    for p in &r.pairs {
        let _ = writeln!(
            out,
            "  {:<24} {:<24} {:>7} {:>7} {:>6.1}%",
            p.from.as_str(),
            p.to.as_str(),
            p.events,
            p.points,
            p.share * 100.0
        );
    }
    let _ = writeln!(out);
    if r.rings.is_empty() {
        let _ = writeln!(out, "  no ring: every listed pair goes one way");
    }
    for ring in &r.rings {
        let members: Vec<&str> = ring.members.iter().map(|m| m.as_str()).collect();
        let _ = writeln!(
            out,
            "  ring: {} → {} ({} events)",
            members.join(" → "),
            members[0],
            ring.events
        );
    }
    out
}
