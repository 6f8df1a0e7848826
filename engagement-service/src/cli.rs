//! The `engagement` command line: serve, check and simulate rule files,
//! generate and export events.

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use engagement_core::{BoardKey, Bucket, Event, Memory, RuleSet};

use crate::generate::{GenerateParams, generate};
use crate::settings::Settings;
use crate::startup::Application;
use crate::store::{EmbeddedStore, LogEntry, RedisSettings, RedisStore, Store};

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
    Serve(Settings),
    /// Check and try rule files.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Generate or export activity events.
    #[command(subcommand)]
    Events(EventsCommand),
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
    Export(Settings),
}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        None => serve(cli.settings),
        Some(Command::Serve(settings)) => serve(settings),
        Some(Command::Rules(RulesCommand::Check { file })) => return check(&file),
        Some(Command::Rules(RulesCommand::Simulate { file, events, json })) => {
            simulate(&file, &events, json)
        }
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
        Some(Command::Events(EventsCommand::Export(settings))) => export(settings),
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
    let source = match std::fs::read_to_string(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}: cannot read: {e}", file.display());
            return ExitCode::FAILURE;
        }
    };
    match RuleSet::from_toml(&source) {
        Ok(rules) => {
            let s = rules.summary();
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
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{}:{}:{}: {}", file.display(), e.line, e.column, e.message);
            }
            ExitCode::FAILURE
        }
    }
}

/// Reads JSON lines of events (or of exported log entries).
pub fn read_events(path: &Path) -> anyhow::Result<Vec<Event>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut events = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let event = match serde_json::from_str::<LogEntry>(&line) {
            Ok(LogEntry::Event { event }) => event,
            Ok(_) => continue,
            Err(_) => serde_json::from_str(&line)
                .with_context(|| format!("{}:{}: not an event", path.display(), n + 1))?,
        };
        events.push(event);
    }
    Ok(events)
}

fn simulate(file: &Path, events: &Path, json: bool) -> anyhow::Result<()> {
    let source =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let rules =
        RuleSet::from_toml(&source).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let events = read_events(events)?;
    let mut memory = Memory::default();
    for e in &events {
        memory.ingest(&rules, e);
    }
    let mut boards = serde_json::Map::new();
    for board in &rules.leaderboards {
        let key = BoardKey {
            board: board.id.clone(),
            community: None,
            bucket: Bucket::ALL_TIME,
        };
        let top: Vec<serde_json::Value> = memory
            .boards
            .ranked(&key, |_| true)
            .take(10)
            .map(|r| serde_json::json!({"rank": r.rank, "member": r.member, "score": r.score}))
            .collect();
        boards.insert(board.id.to_string(), serde_json::Value::Array(top));
    }
    let mut badges = std::collections::BTreeMap::<String, usize>::new();
    for state in memory.members.values() {
        for b in &state.badges {
            *badges.entry(format!("{}#{}", b.badge, b.tier)).or_default() += 1;
        }
    }
    if json {
        println!(
            "{}",
            serde_json::json!({"events": events.len(), "members": memory.members.len(), "boards": boards, "badges": badges})
        );
        return Ok(());
    }
    println!("{} events, {} members", events.len(), memory.members.len());
    for (board, rows) in &boards {
        println!("\n{board} (all time)");
        for row in rows.as_array().into_iter().flatten() {
            println!(
                "  {:>4}  {:<30} {:>8}",
                row["rank"],
                row["member"].as_str().unwrap_or(""),
                row["score"]
            );
        }
    }
    println!("\nbadges granted");
    for (badge, n) in &badges {
        println!("  {badge:<30} {n:>8}");
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

fn export(settings: Settings) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let entries = rt.block_on(async {
        match &settings.redis_url {
            Some(url) => {
                let store = RedisStore::connect(&RedisSettings {
                    url: url.clone(),
                    prefix: settings.key_prefix.clone(),
                    retention_days: settings.retention_days,
                    pool_size: 2,
                })?;
                store.export().await.map_err(anyhow::Error::from)
            }
            None => {
                let rules = crate::startup::load_rules(&settings)?;
                let store = EmbeddedStore::open(&settings.data_dir, &rules.rules)?;
                store.export().await.map_err(anyhow::Error::from)
            }
        }
    })?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    for entry in entries {
        serde_json::to_writer(&mut out, &entry)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
