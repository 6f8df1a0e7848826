//! Files of events: read as JSON lines (plain events or exported log
//! entries), and run through a rule file as a simulation does.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::Context;
use engagement_core::{Event, RuleSet};

use crate::store::LogEntry;

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
pub(super) fn simulate_file(
    rules: &RuleSet,
    events: &Path,
) -> anyhow::Result<crate::simulate::Simulation> {
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

/// A progress line on stderr for long inputs (only on a terminal).
fn progress() -> impl FnMut(usize) {
    let shown = std::io::IsTerminal::is_terminal(&std::io::stderr());
    move |done| {
        if shown && done >= 65_536 {
            eprint!("\r{done} events read");
        }
    }
}
