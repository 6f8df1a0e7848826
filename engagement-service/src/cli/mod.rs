//! The `engagement` command line: serve; check, simulate, explain and diff
//! rule files (`rules.rs`, over event files read by `files.rs`); generate,
//! export and import events, and replay (`events.rs`); insights
//! (`insights.rs`), fair play (`fair_play.rs`), keys and credentials
//! (`credentials.rs`).

/// `println!` for what a command prints: standard output closed early (a
/// pipe into `head`) comes back as an error, which [`run`] ends on quietly,
/// instead of a panic.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

/// [`outln!`] in a command that answers an exit code: a closed standard
/// output is ignored.
macro_rules! sayln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `print!` as [`outln!`] is `println!`.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)?
    }};
}

pub mod credentials;
mod events;
mod fair_play;
mod files;
mod insights;
mod rules;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::generate::GenerateParams;
use crate::settings::Settings;
use crate::startup::Application;

use events::{archive, export, import, print_generated, replay};
pub use files::EventFile;
use rules::{check, diff, explain, simulate};

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
    /// Whether knowledge flows: participation, the knowledge cycle,
    /// questions, concentration and cross-community answers, for one
    /// period bucket, from an event file or the configured store.
    Insights(insights::InsightsArgs),
    /// Whether points are gamed: pairs of members where one earns the
    /// other points suspiciously often, and the rings they form, for one
    /// day, week or month, from an event file or the configured store.
    FairPlay(fair_play::FairPlayArgs),
    /// The key members' Open Badges credentials are signed with.
    #[command(subcommand)]
    Keys(credentials::KeysCommand),
    /// Check an Open Badges credential this service issued.
    #[command(subcommand)]
    Credentials(credentials::CredentialsCommand),
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
        /// Hides a like ring of N members (2 to 50; 2 is a mutual pair) in
        /// the activity: each likes the next one's posts every day, within
        /// the same number of events. Repeat for several rings.
        #[arg(long = "ring", value_name = "N", value_parser = clap::value_parser!(u16).range(2..=50))]
        rings: Vec<u16>,
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
    /// Moves the log entries Redis received before DATE to a
    /// zstd-compressed JSON-lines file (what `events export` prints) and
    /// trims them from the log; replay and export read the file from then
    /// on. Idempotency records stay: duplicates are still recognised.
    Archive {
        /// A day (YYYY-MM-DD, from midnight UTC) or an RFC 3339 instant.
        #[arg(long, value_name = "DATE", value_parser = parse_before)]
        before: jiff::Timestamp,
        /// The archive to write; it must not exist yet.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        #[command(flatten)]
        settings: Box<Settings>,
    },
}

/// `--before`: a day, from midnight UTC, or an instant.
fn parse_before(s: &str) -> Result<jiff::Timestamp, String> {
    if let Ok(day) = s.parse::<jiff::civil::Date>() {
        return jiff::tz::TimeZone::UTC
            .to_timestamp(day.to_datetime(jiff::civil::Time::midnight()))
            .map_err(|e| e.to_string());
    }
    s.parse::<jiff::Timestamp>()
        .map_err(|_| format!("{s:?} is neither a day (2026-06-01) nor an RFC 3339 instant"))
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
            rings,
        })) => print_generated(&GenerateParams {
            members,
            communities,
            days,
            seed,
            start,
            events: count,
            rings: rings.into_iter().map(usize::from).collect(),
        }),
        Some(Command::Events(EventsCommand::Export(settings))) => export(*settings),
        Some(Command::Events(EventsCommand::Import {
            file,
            url,
            batch,
            settings,
        })) => return import(&file, url, batch, *settings),
        Some(Command::Events(EventsCommand::Archive {
            before,
            to,
            settings,
        })) => archive(before, &to, *settings),
        Some(Command::Replay(settings)) => replay(*settings),
        Some(Command::Insights(args)) => insights::insights(args),
        Some(Command::FairPlay(args)) => fair_play::fair_play(args),
        Some(Command::Keys(command)) => credentials::keys(command),
        Some(Command::Credentials(command)) => credentials::credentials(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of the output stopped reading (`| head`): nothing to say.
        Err(e) if closed_output(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn closed_output(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let kind = match (
            cause.downcast_ref::<std::io::Error>(),
            cause.downcast_ref::<serde_json::Error>(),
        ) {
            (Some(io), _) => Some(io.kind()),
            (_, Some(json)) => json.io_error_kind(),
            _ => None,
        };
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
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
        let app = Application::build(settings).await?;
        outln!("engagement {}", app.description());
        let _ = workers;
        app.run_until_stopped().await?;
        Ok(())
    })
}

/// Runs an event file through `memory` under `rules`, read and parsed on a
/// second thread ahead of the engine (as `rules simulate` does), keeping no
/// leaderboard; the day `at` names, or else the day of the file's latest
/// event (today for an empty file), in the engine's calendar.
pub(crate) fn observe_file(
    rules: &engagement_core::RuleSet,
    file: &std::path::Path,
    memory: &mut engagement_core::Memory,
    at: Option<jiff::civil::Date>,
    keep: impl Fn(&engagement_core::Increment<'_>) -> bool,
) -> anyhow::Result<jiff::civil::Date> {
    let mut events = EventFile::open(file)?;
    let (read, last) = crate::ahead::ahead(
        move |emit| {
            events.by_ref().for_each(emit);
            events.finish()
        },
        |events| {
            let mut last = None;
            for event in events {
                last = last.max(Some(event.occurred_at));
                memory.apply_keeping(rules, &event, &keep);
            }
            last
        },
    );
    read.map_err(|_| anyhow::anyhow!("the event reader stopped unexpectedly"))??;
    Ok(match (at, last) {
        (Some(at), _) => at,
        (None, Some(last)) => rules.timezone.to_datetime(last).date(),
        (None, None) => rules.timezone.to_datetime(jiff::Timestamp::now()).date(),
    })
}
