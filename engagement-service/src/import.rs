//! `engagement events import`: a backfill of past activity (JSON lines of
//! events, or an export's log entries) taken in time order through the one
//! ingest road, into the configured store or into a running service.
//!
//! Events are sorted by `occurred_at` (stable: events of the same instant
//! keep the file's order) and sent in batches. Every event id is idempotent,
//! so an import cut short is resumed by running it again: what was taken
//! answers `duplicate`.

use std::io::BufRead;
use std::time::Duration;

use engagement_core::{Event, Status};
use serde::Deserialize;

use crate::app::AnyStore;
use crate::ingest::{Ingest, IngestError, Origin};
use crate::store::LogEntry;

/// Most events in one batch (what `POST /v1/events` takes).
pub const MAX_BATCH: usize = 1000;

/// Attempts of one batch a running service answered 503 or could not be
/// reached for, about a minute in all.
const ATTEMPTS: u32 = 7;

/// A line of the file that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub line: usize,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub applied: usize,
    pub duplicate: usize,
    pub ignored: usize,
    /// Log entries that are not events (profiles, badges, aliases).
    pub skipped: usize,
    pub rejected: Vec<Rejected>,
}

impl Summary {
    fn count(&mut self, status: Status) {
        match status {
            Status::Applied => self.applied += 1,
            Status::Duplicate => self.duplicate += 1,
            Status::Ignored => self.ignored += 1,
        }
    }
}

/// The input itself, or its decompressed text when it is zstd-compressed
/// (an archive of `engagement events archive`).
pub fn decompressed<'a>(mut input: impl BufRead + 'a) -> std::io::Result<Box<dyn BufRead + 'a>> {
    use std::io::Read;
    const ZSTD: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
    // The first four bytes, however few at a time the input hands them over.
    let mut head = Vec::with_capacity(ZSTD.len());
    (&mut input)
        .take(ZSTD.len() as u64)
        .read_to_end(&mut head)?;
    let compressed = head == ZSTD;
    let whole = std::io::Cursor::new(head).chain(input);
    if compressed {
        return Ok(Box::new(std::io::BufReader::new(zstd::Decoder::new(
            whole,
        )?)));
    }
    Ok(Box::new(std::io::BufReader::new(whole)))
}

/// The events of a file, with their line numbers, in time order; lines
/// that are not valid events are rejected here, before anything is sent.
pub fn read(input: impl BufRead, summary: &mut Summary) -> std::io::Result<Vec<(usize, Event)>> {
    let mut events = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line?;
        let number = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let parsed = if line.trim_start().starts_with("{\"type\"") {
            serde_json::from_str::<LogEntry>(&line).map(|entry| match entry {
                LogEntry::Event { event } => Some(event),
                _ => None,
            })
        } else {
            serde_json::from_str::<Event>(&line).map(Some)
        };
        match parsed {
            Ok(Some(event)) => match event.check() {
                Ok(()) => events.push((number, event)),
                Err(reason) => summary.rejected.push(Rejected {
                    line: number,
                    reason,
                }),
            },
            Ok(None) => summary.skipped += 1,
            Err(e) => summary.rejected.push(Rejected {
                line: number,
                reason: e.to_string(),
            }),
        }
    }
    events.sort_by_key(|(_, e)| e.occurred_at);
    Ok(events)
}

/// Where the events go.
#[derive(Debug)]
pub enum Destination<'a> {
    /// The configured store, through the ingest road.
    Store(Ingest<'a>),
    /// A running service's `POST /v1/events`.
    Service {
        client: reqwest::Client,
        url: String,
        token: Option<String>,
    },
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error("{0}")]
    Service(String),
}

impl Destination<'_> {
    /// Sends one batch; events the destination refuses are taken out and
    /// reported, the rest sent again. Answers each sent event's status.
    pub async fn send(
        &self,
        mut batch: Vec<(usize, Event)>,
        summary: &mut Summary,
    ) -> Result<(), ImportError> {
        while !batch.is_empty() {
            let events: Vec<Event> = batch.iter().map(|(_, e)| e.clone()).collect();
            let answered = match self {
                Destination::Store(ingest) => ingest
                    .run(Origin::Import, events)
                    .await
                    .map(|taken| taken.into_iter().map(|(_, o)| o.status).collect())
                    .map_err(|e| match e {
                        IngestError::Invalid { index, message } => Refused { index, message },
                        other => Refused::stop(other.into()),
                    }),
                Destination::Service { client, url, token } => {
                    post(client, url, token.as_deref(), &events).await
                }
            };
            match answered {
                Ok(statuses) => {
                    statuses.into_iter().for_each(|s| summary.count(s));
                    return Ok(());
                }
                Err(Refused { index, message }) if index < batch.len() => {
                    let (line, _) = batch.remove(index);
                    summary.rejected.push(Rejected {
                        line,
                        reason: message,
                    });
                }
                Err(refused) => return Err(refused.into_error()),
            }
        }
        Ok(())
    }
}

/// A batch the destination did not take: the index of the event it
/// refused (`usize::MAX` when the whole import must stop) and why.
struct Refused {
    index: usize,
    message: String,
}

impl Refused {
    fn stop(e: ImportError) -> Refused {
        Refused {
            index: usize::MAX,
            message: e.to_string(),
        }
    }

    fn into_error(self) -> ImportError {
        ImportError::Service(self.message)
    }
}

#[derive(Deserialize)]
struct Answer {
    results: Vec<AnsweredEvent>,
}

#[derive(Deserialize)]
struct AnsweredEvent {
    status: Status,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

/// Posts a batch to a running service, retrying while it is unavailable.
async fn post(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    events: &[Event],
) -> Result<Vec<Status>, Refused> {
    let endpoint = format!("{}/v1/events", url.trim_end_matches('/'));
    let body = serde_json::json!({ "events": events });
    let mut wait = Duration::from_millis(500);
    for attempt in 1..=ATTEMPTS {
        let mut request = client.post(&endpoint).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) if attempt < ATTEMPTS => {
                tracing::warn!(error = %e, "service unreachable, retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
                continue;
            }
            Err(e) => {
                return Err(Refused::stop(ImportError::Service(format!(
                    "{endpoint}: {e}"
                ))));
            }
        };
        let status = response.status();
        if status.is_success() {
            let answer: Answer = response.json().await.map_err(|e| {
                Refused::stop(ImportError::Service(format!(
                    "{endpoint}: unreadable answer: {e}"
                )))
            })?;
            return Ok(answer.results.into_iter().map(|r| r.status).collect());
        }
        if status.as_u16() == 503 && attempt < ATTEMPTS {
            tokio::time::sleep(wait).await;
            wait *= 2;
            continue;
        }
        let text = response.text().await.unwrap_or_default();
        let detail = serde_json::from_str::<ErrorBody>(&text)
            .ok()
            .map(|b| b.error);
        // A 422 names the refused event: `events[i]: why`.
        if let Some(d) = &detail
            && status.as_u16() == 422
            && let Some((index, why)) = batch_index(&d.message)
        {
            return Err(Refused {
                index,
                message: why.to_owned(),
            });
        }
        let said = detail.map_or(text, |d| format!("{}: {}", d.code, d.message));
        return Err(Refused::stop(ImportError::Service(format!(
            "{endpoint} answered {status}: {said}"
        ))));
    }
    Err(Refused::stop(ImportError::Service(format!(
        "{endpoint}: still unavailable"
    ))))
}

/// `events[12]: id: ...` → (12, "id: ...").
fn batch_index(message: &str) -> Option<(usize, &str)> {
    let rest = message.strip_prefix("events[")?;
    let (index, why) = rest.split_once("]: ")?;
    Some((index.parse().ok()?, why))
}

/// The store's ingest road, without service metrics.
pub fn into_store<'a>(store: &'a AnyStore, rules: &'a engagement_core::RuleSet) -> Destination<'a> {
    Destination::Store(Ingest {
        store,
        rules,
        metrics: None,
        service: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_in_time_order_keeping_the_files_order_for_ties_and_bad_lines_are_named() {
        let file = concat!(
            r#"{"id": "b", "kind": "answer.posted", "actor": "m", "occurred_at": "2026-11-20T10:00:00Z"}"#,
            "\n",
            "\n",
            r#"{"id": "a", "kind": "answer.posted", "actor": "m", "occurred_at": "2026-11-19T10:00:00Z"}"#,
            "\n",
            "not json\n",
            r#"{"id": "c", "kind": "answer.posted", "actor": "m", "occurred_at": "2026-11-20T10:00:00Z"}"#,
            "\n",
            r#"{"type": "profile", "member": "m", "profile": {}}"#,
            "\n",
            r#"{"id": "d", "kind": "", "actor": "m", "occurred_at": "2026-11-20T10:00:00Z"}"#,
            "\n",
        );
        let mut summary = Summary::default();
        let events = read(file.as_bytes(), &mut summary).unwrap();
        let order: Vec<(usize, &str)> = events.iter().map(|(n, e)| (*n, e.id.as_str())).collect();
        assert_eq!(order, vec![(3, "a"), (1, "b"), (5, "c")]);
        assert_eq!(summary.skipped, 1);
        let lines: Vec<usize> = summary.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![4, 7]);
        assert!(
            summary.rejected[1].reason.contains("kind"),
            "{:?}",
            summary.rejected
        );
    }

    #[test]
    fn a_refusal_names_its_batch_index() {
        assert_eq!(
            batch_index("events[12]: id: too long"),
            Some((12, "id: too long"))
        );
        assert_eq!(batch_index("id: too long"), None);
    }
}
