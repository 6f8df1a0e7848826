//! The deployment's rule files: which version is in force, and every
//! version that was, so that every instance awards under the same rules,
//! a ledger line's `rules_version` can be looked up, and an admin can go
//! back to an earlier file.
//!
//! The embedded store keeps them in `rules.jsonl` in its data directory,
//! one line per activation (the file's text on the first activation of a
//! version); Redis keeps them beside the deployment's other keys.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::StoreError;

/// File of the embedded store's rule versions.
pub const RULES_FILE: &str = "rules.jsonl";

/// What put a rule version in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RulesOrigin {
    /// The rule file an instance started with, new to the deployment.
    Start,
    /// `PUT /v1/admin/rules`.
    Api,
    /// The rule file read again on `SIGHUP`.
    Reload,
    /// `POST /v1/admin/rules/rollback`.
    Rollback,
}

/// One time a rule version was put in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Activation {
    pub version: String,
    pub origin: RulesOrigin,
    #[schema(value_type = String)]
    pub activated_at: jiff::Timestamp,
}

/// One line of `rules.jsonl`.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    #[serde(flatten)]
    activation: Activation,
    /// The file's text, on the first activation of its version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
}

/// The embedded store's rule versions: all in memory, each activation
/// appended to the file and synced before it counts.
#[derive(Debug)]
pub struct RulesLog {
    path: PathBuf,
    /// Oldest first.
    history: Vec<Activation>,
    sources: HashMap<String, String>,
}

fn unavailable(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("{}: {e}", path.display()))
}

impl RulesLog {
    /// Reads `rules.jsonl` in `dir` (none yet is an empty history). A line
    /// cut short by a crash was never acknowledged and is skipped.
    pub fn open(dir: &Path) -> Result<RulesLog, StoreError> {
        let path = dir.join(RULES_FILE);
        let mut log = RulesLog {
            path,
            history: Vec::new(),
            sources: HashMap::new(),
        };
        let text = match std::fs::read(&log.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(log),
            Err(e) => return Err(unavailable(&log.path, e)),
        };
        // A line cut short by a crash was never acknowledged: cut it off,
        // so that the next activation starts a line of its own.
        let whole = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if whole < text.len() {
            OpenOptions::new()
                .write(true)
                .open(&log.path)
                .and_then(|f| f.set_len(whole as u64))
                .map_err(|e| unavailable(&log.path, e))?;
        }
        for (n, line) in text[..whole].lines().enumerate() {
            let line = line.map_err(|e| unavailable(&log.path, e))?;
            match serde_json::from_str::<Line>(&line) {
                Ok(line) => log.note(line),
                Err(e) => tracing::warn!(
                    file = %log.path.display(), line = n + 1, error = %e,
                    "rule versions: a line that cannot be read is skipped"
                ),
            }
        }
        Ok(log)
    }

    fn note(&mut self, line: Line) {
        if let Some(source) = line.source {
            self.sources
                .entry(line.activation.version.clone())
                .or_insert(source);
        }
        if self.sources.contains_key(&line.activation.version) {
            self.history.push(line.activation);
        }
    }

    /// The version in force.
    pub fn active(&self) -> Option<&str> {
        self.history.last().map(|a| a.version.as_str())
    }

    /// Every activation, newest first.
    pub fn history(&self) -> Vec<Activation> {
        self.history.iter().rev().cloned().collect()
    }

    pub fn source(&self, version: &str) -> Option<&str> {
        self.sources.get(version).map(String::as_str)
    }

    /// Puts `activation` in force, recording `source` with its version the
    /// first time it is seen.
    pub fn activate(&mut self, activation: Activation, source: &str) -> Result<(), StoreError> {
        let line = Line {
            source: (!self.sources.contains_key(&activation.version)).then(|| source.to_owned()),
            activation,
        };
        let mut buf = serde_json::to_vec(&line).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        buf.push(b'\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| unavailable(&self.path, e))?;
        file.write_all(&buf)
            .and_then(|()| file.sync_data())
            .map_err(|e| unavailable(&self.path, e))?;
        self.note(line);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activation(version: &str, origin: RulesOrigin) -> Activation {
        Activation {
            version: version.into(),
            origin,
            activated_at: jiff::Timestamp::from_second(1_700_000_000).unwrap(),
        }
    }

    #[test]
    fn versions_survive_a_reopen_and_a_torn_last_line_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = RulesLog::open(dir.path()).unwrap();
        assert_eq!(log.active(), None);
        log.activate(activation("a", RulesOrigin::Start), "A")
            .unwrap();
        log.activate(activation("b", RulesOrigin::Api), "B")
            .unwrap();
        log.activate(activation("a", RulesOrigin::Rollback), "A")
            .unwrap();
        let text = std::fs::read_to_string(dir.path().join(RULES_FILE)).unwrap();
        // The text of a version is written once.
        assert_eq!(text.matches("\"source\"").count(), 2);
        std::fs::write(dir.path().join(RULES_FILE), format!("{text}{{\"vers")).unwrap();

        let mut log = RulesLog::open(dir.path()).unwrap();
        assert_eq!(log.active(), Some("a"));
        let history: Vec<(String, RulesOrigin)> = log
            .history()
            .into_iter()
            .map(|a| (a.version, a.origin))
            .collect();
        assert_eq!(
            history,
            [
                ("a".to_owned(), RulesOrigin::Rollback),
                ("b".to_owned(), RulesOrigin::Api),
                ("a".to_owned(), RulesOrigin::Start)
            ]
        );
        assert_eq!(log.source("b"), Some("B"));
        assert_eq!(log.source("c"), None);

        // The torn line was cut off: what is written next is read back.
        log.activate(activation("b", RulesOrigin::Rollback), "B")
            .unwrap();
        let log = RulesLog::open(dir.path()).unwrap();
        assert_eq!(log.active(), Some("b"));
        assert_eq!(log.history().len(), 4);
    }
}
