//! The `engagement` command line: serve, check and simulate rule files,
//! generate and export events.

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use engagement_core::{Event, EventId, RuleSet, Status};

use crate::app::AnyStore;
use crate::generate::{GenerateParams, generate};
use crate::import;
use crate::ingest::Ingest;
use crate::rules_file;
use crate::settings::Settings;
use crate::startup::Application;
use crate::store::{LogEntry, Store};

#[derive(Debug, Parser)]
#[command(
    name = "engagement",
    version,
    about = "Gamified engagement engine for knowledge-sharing communities"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP service (the default).
    Serve(Box<Settings>),
    /// Check and try rule files.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Generate or export activity events.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Rebuild all derived state from the log under the configured rules.
    Replay(Box<Settings>),
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Check a rule file: a summary, or every error as FILE:LINE:COLUMN: message.
    Check { file: PathBuf },
    /// Run events through a rule file in memory and print the boards and badges.
    Simulate {
        file: PathBuf,
        #[arg(long)]
        events: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Why one event gave the points it gave: the events are run through
    /// the rule file as `simulate` runs them, and the event's explanation
    /// printed, one line per points rule on its kind.
    Explain {
        file: PathBuf,
        #[arg(long)]
        events: PathBuf,
        /// The id of the event to explain.
        #[arg(long)]
        event: String,
        #[arg(long)]
        json: bool,
    },
    /// What would change for each member if NEW replaced OLD, on the same events.
    Diff {
        old: PathBuf,
        new: PathBuf,
        #[arg(long)]
        events: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum EventsCommand {
    /// A realistic synthetic activity stream as JSON lines on stdout.
    Generate {
        #[arg(long, default_value_t = 500)]
        members: usize,
        #[arg(long, default_value_t = 8)]
        communities: usize,
        #[arg(long, default_value_t = 30)]
        days: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of events (default: a size fitting members and days).
        #[arg(long)]
        count: Option<usize>,
        /// First day, RFC 3339 (default 2026-01-05T00:00:00Z).
        #[arg(long, default_value = "2026-01-05T00:00:00Z")]
        start: jiff::Timestamp,
    },
    /// The event log of the configured store as JSON lines on stdout.
    Export(Box<Settings>),
    /// Import past activity (JSON lines of events or an export's log
    /// entries; `-` reads stdin) in time order, in batches, into the
    /// configured store or, with --url, a running service (with the ingest
    /// token). Run it again to resume: what was taken answers duplicate.
    Import {
        file: PathBuf,
        /// A running service, e.g. http://127.0.0.1:8080 (else the store).
        #[arg(long)]
        url: Option<String>,
        /// Events per batch (1 to 1000).
        #[arg(long, default_value_t = 500)]
        batch: usize,
        #[command(flatten)]
        settings: Box<Settings>,
    },
}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        None => serve(cli.settings),
        Some(Command::Serve(settings)) => serve(*settings),
        Some(Command::Rules(RulesCommand::Check { file })) => return check(&file),
        Some(Command::Rules(RulesCommand::Simulate { file, events, json })) => {
            simulate(&file, &events, json)
        }
        Some(Command::Rules(RulesCommand::Explain {
            file,
            events,
            event,
            json,
        })) => explain(&file, &events, &event, json),
        Some(Command::Rules(RulesCommand::Diff {
            old,
            new,
            events,
            json,
        })) => diff(&old, &new, &events, json),
        Some(Command::Events(EventsCommand::Generate {
            members,
            communities,
            days,
            seed,
            count,
            start,
        })) => print_generated(&GenerateParams {
            members,
            communities,
            days,
            seed,
            start,
            events: count,
        }),
        Some(Command::Events(EventsCommand::Export(settings))) => export(*settings),
        Some(Command::Events(EventsCommand::Import {
            file,
            url,
            batch,
            settings,
        })) => return import(&file, url, batch, *settings),
        Some(Command::Replay(settings)) => replay(*settings),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    init_tracing();
    let workers = settings.workers;
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings)?;
        println!("engagement {}", app.description());
        let _ = workers;
        app.run_until_stopped().await?;
        Ok(())
    })
}

fn check(file: &Path) -> ExitCode {
    match rules_file::read(file) {
        Ok(loaded) => {
            let s = loaded.rules.summary();
            println!(
                "{}: ok: {} actions, {} points rules, {} levels, {} badges, {} leaderboards, streaks {} (version {}, time zone {})",
                file.display(),
                s.actions,
                s.points_rules,
                s.levels,
                s.badges,
                s.leaderboards,
                if s.streaks { "on" } else { "off" },
                s.version,
                s.timezone
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Events streamed from a file of JSON lines: plain events (generated, or
/// from another system) or exported log entries (tagged). Reading stops at
/// the first bad line, which [`EventFile::finish`] then reports.
#[derive(Debug)]
pub struct EventFile {
    lines: std::io::Lines<std::io::BufReader<std::fs::File>>,
    path: PathBuf,
    line: usize,
    error: Option<anyhow::Error>,
}

impl EventFile {
    pub fn open(path: &Path) -> anyhow::Result<EventFile> {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(EventFile {
            lines: std::io::BufReader::with_capacity(1 << 20, file).lines(),
            path: path.to_owned(),
            line: 0,
            error: None,
        })
    }

    /// The error that stopped reading, if any.
    pub fn finish(self) -> anyhow::Result<()> {
        self.error.map_or(Ok(()), Err)
    }

    fn parse(&self, line: &str) -> anyhow::Result<Option<Event>> {
        let at = || format!("{}:{}", self.path.display(), self.line);
        if line.starts_with("{\"type\"") {
            let entry: LogEntry =
                serde_json::from_str(line).with_context(|| format!("{}: not a log entry", at()))?;
            Ok(match entry {
                LogEntry::Event { event } => Some(event),
                _ => None,
            })
        } else {
            Ok(Some(
                serde_json::from_str(line).with_context(|| format!("{}: not an event", at()))?,
            ))
        }
    }
}

impl Iterator for EventFile {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        while self.error.is_none() {
            let line = match self.lines.next()? {
                Ok(line) => line,
                Err(e) => {
                    self.error = Some(e.into());
                    return None;
                }
            };
            self.line += 1;
            if line.trim().is_empty() {
                continue;
            }
            match self.parse(&line) {
                Ok(Some(event)) => return Some(event),
                Ok(None) => continue,
                Err(e) => self.error = Some(e),
            }
        }
        None
    }
}

/// Runs a file of events through a rule file.
fn simulate_file(rules: &RuleSet, events: &Path) -> anyhow::Result<crate::simulate::Simulation> {
    let mut file = EventFile::open(events)?;
    let (read, sim) = crate::ahead::ahead(
        move |emit| {
            file.by_ref().for_each(emit);
            file.finish()
        },
        |events| crate::simulate::run(rules, events, progress()),
    );
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) && sim.events >= 65_536 {
        eprintln!();
    }
    read.map_err(|_| anyhow::anyhow!("the event reader stopped unexpectedly"))??;
    Ok(sim)
}

fn load_rule_file(file: &Path) -> anyhow::Result<RuleSet> {
    Ok(rules_file::read(file)?.rules)
}

/// A progress line on stderr for long inputs (only on a terminal).
fn progress() -> impl FnMut(usize) {
    let shown = std::io::IsTerminal::is_terminal(&std::io::stderr());
    move |done| {
        if shown && done >= 65_536 {
            eprint!("\r{done} events read");
        }
    }
}

fn simulate(file: &Path, events: &Path, json: bool) -> anyhow::Result<()> {
    let rules = load_rule_file(file)?;
    let sim = simulate_file(&rules, events)?;
    let report = crate::simulate::report(&rules, &sim);
    // The process ends next: freeing a million records would only cost time.
    std::mem::forget(sim);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("{} events, {} members", report.events, report.members);
    for board in &report.boards {
        let bucket = board
            .bucket_start
            .as_deref()
            .map(|s| format!(" from {s}"))
            .unwrap_or_default();
        println!("\n{} ({}{bucket})", board.board, board.period);
        println!("  {:>5}  {:<40} {:>8}", "rank", "member", "score");
        for row in &board.top {
            println!("  {:>5}  {:<40} {:>8}", row.rank, row.member, row.score);
        }
    }
    println!("\nbadges held");
    println!("  {:<32} {:>8}", "badge", "members");
    for (badge, n) in &report.badges {
        println!("  {badge:<32} {n:>8}");
    }
    println!("\nlevels");
    for (level, n) in &report.levels {
        println!("  {level:<32} {n:>8}");
    }
    let s = &report.streaks;
    println!(
        "\nstreaks: {} alive on the last day, longest {} days, mean longest {:.1}, {} members holding freezes",
        s.alive, s.longest, s.mean_longest, s.holding_freezes
    );
    Ok(())
}

fn explain(file: &Path, events: &Path, event: &str, json: bool) -> anyhow::Result<()> {
    let rules = load_rule_file(file)?;
    let id = EventId::parse(event).map_err(|e| anyhow::anyhow!("--event: {e}"))?;
    let sim = simulate_file(&rules, events)?;
    let outcome = sim
        .memory
        .outcome(&id)
        .ok_or_else(|| anyhow::anyhow!("no event \"{event}\" in {}", events.display()))?;
    let lines = crate::routes::ExplainLine::lines(&rules, outcome);
    let status = match outcome.status {
        Status::Ignored => "ignored",
        _ if outcome.sign < 0 => "applied, a revocation",
        _ if outcome.effects.as_ref().is_some_and(|e| e.revoked) => "applied, revoked since",
        _ => "applied",
    };
    if json {
        let answer = serde_json::json!({"event": event, "status": status, "explain": lines});
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        println!("{event}: {status}");
        if lines.is_empty() {
            println!("  nothing paid or taken back");
        } else {
            println!("  {:<24} {:<32} {:>7}  reason", "rule", "member", "points");
        }
        for l in &lines {
            let member = l.member.as_deref().unwrap_or("-");
            println!(
                "  {:<24} {member:<32} {:>7}  {}",
                l.rule, l.points, l.reason
            );
        }
    }
    std::mem::forget(sim);
    Ok(())
}

fn diff(old: &Path, new: &Path, events: &Path, json: bool) -> anyhow::Result<()> {
    let (old_rules, new_rules) = (load_rule_file(old)?, load_rule_file(new)?);
    let before = simulate_file(&old_rules, events)?;
    let after = simulate_file(&new_rules, events)?;
    let d = crate::simulate::diff(&old_rules, &new_rules, &before, &after);
    // The process ends next: freeing a million records would only cost time.
    std::mem::forget((before, after));
    if json {
        println!("{}", serde_json::to_string_pretty(&d)?);
        return Ok(());
    }
    println!(
        "{} events, {} members: {} would change if {} replaced {}",
        d.events,
        d.members,
        d.changed,
        new.display(),
        old.display()
    );
    if d.changes.is_empty() {
        return Ok(());
    }
    println!(
        "\n  {:<32} {:>8} {:>8} {:>7}  {:<28} badges",
        "member", "before", "after", "change", "all-time ranks"
    );
    for c in &d.changes {
        let rank = |r: &Option<u64>| r.map_or("-".to_owned(), |r| r.to_string());
        let ranks: Vec<String> = c
            .ranks
            .iter()
            .map(|(board, (b, a))| format!("{board} {}→{}", rank(b), rank(a)))
            .collect();
        let mut badges: Vec<String> = c.badges_gained.iter().map(|b| format!("+{b}")).collect();
        badges.extend(c.badges_lost.iter().map(|b| format!("-{b}")));
        println!(
            "  {:<32} {:>8} {:>8} {:>+7}  {:<28} {}",
            c.member,
            c.points_before,
            c.points_after,
            c.points_after - c.points_before,
            ranks.join(", "),
            badges.join(" ")
        );
    }
    Ok(())
}

fn print_generated(params: &GenerateParams) -> anyhow::Result<()> {
    let out = std::io::stdout().lock();
    let mut out = BufWriter::new(out);
    for event in generate(params) {
        serde_json::to_writer(&mut out, &event)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Opens the configured store from the command line.
async fn open_store(settings: &Settings) -> anyhow::Result<(AnyStore, RuleSet)> {
    let rules = crate::startup::load_rules(settings)?.rules;
    let store = AnyStore::open(settings, &rules, 4)?;
    Ok((store, rules))
}

fn replay(settings: Settings) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let started = std::time::Instant::now();
        let (store, rules) = open_store(&settings).await?;
        let summary = match &store {
            // Opening the embedded store has just rebuilt everything from its
            // log under these rules. A running service keeps its own copy in
            // memory: use POST /v1/admin/replay there.
            AnyStore::Embedded(embedded) => embedded.summary(),
            AnyStore::Redis(_) => {
                let ingest = Ingest {
                    store: &store,
                    rules: &rules,
                    metrics: None,
                };
                ingest.replay().await?
            }
        };
        println!(
            "replayed {} events for {} members under rules {} in {:.2} s",
            summary.events,
            summary.members,
            rules.version,
            started.elapsed().as_secs_f64()
        );
        // The command ends here: its memory goes back to the system whole
        // instead of value by value.
        std::mem::forget(store);
        Ok(())
    })
}

fn import(file: &Path, url: Option<String>, batch: usize, settings: Settings) -> ExitCode {
    let mut summary = import::Summary::default();
    // What was taken before a failure is told too: run it again to resume.
    let stopped = import_file(file, url, batch, settings, &mut summary).err();
    let name = file.display();
    for r in &summary.rejected {
        eprintln!("{name}:{}: {}", r.line, r.reason);
    }
    println!(
        "{} applied, {} duplicate, {} ignored, {} rejected{}",
        summary.applied,
        summary.duplicate,
        summary.ignored,
        summary.rejected.len(),
        match summary.skipped {
            0 => String::new(),
            n => format!(", {n} log entries that are not events skipped"),
        }
    );
    match stopped {
        Some(e) => {
            eprintln!("error: {e:#}\nthe import stopped there; run it again to resume");
            ExitCode::FAILURE
        }
        None if summary.rejected.is_empty() => ExitCode::SUCCESS,
        None => ExitCode::FAILURE,
    }
}

fn import_file(
    file: &Path,
    url: Option<String>,
    batch: usize,
    settings: Settings,
    summary: &mut import::Summary,
) -> anyhow::Result<()> {
    if !(1..=import::MAX_BATCH).contains(&batch) {
        anyhow::bail!("--batch: 1 to {} events", import::MAX_BATCH);
    }
    let events = if file.as_os_str() == "-" {
        import::read(std::io::stdin().lock(), summary)
    } else {
        let f =
            std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
        import::read(std::io::BufReader::new(f), summary)
    }
    .with_context(|| format!("cannot read {}", file.display()))?;
    let bar = indicatif::ProgressBar::new(events.len() as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} events  {per_sec}  ETA {eta}",
        )?,
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let opened;
        let destination = match url {
            Some(url) => import::Destination::Service {
                client: reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(60))
                    .build()?,
                url,
                token: settings.ingest_token.clone(),
            },
            None => {
                opened = open_store(&settings).await?;
                import::into_store(&opened.0, &opened.1)
            }
        };
        let mut events = events.into_iter().peekable();
        while events.peek().is_some() {
            let chunk: Vec<_> = events.by_ref().take(batch).collect();
            let n = chunk.len() as u64;
            destination.send(chunk, summary).await?;
            bar.inc(n);
        }
        bar.finish_and_clear();
        anyhow::Ok(())
    })?;
    Ok(())
}

fn export(settings: Settings) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let entries = rt.block_on(async {
        let (store, _) = open_store(&settings).await?;
        store.export().await.map_err(anyhow::Error::from)
    })?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    for entry in entries {
        serde_json::to_writer(&mut out, &entry)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
