//! The embedded store's outbox: deliveries in memory, every change
//! appended to `outbox.log` (JSON lines) beside the event log.
//!
//! A delivery is written after the events that cause it, and the outbox
//! records how much of the event log it covers: at start, deliveries of
//! events past that mark (a crash between the two writes) are worked out
//! again from the log, under the same ids. So an acknowledged outcome
//! never loses its notification.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use engagement_core::MemberId;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::notify::{Delivery, KEEP_SETTLED, LEASE, Status};

pub const OUTBOX_FILE: &str = "outbox.log";

/// One line of `outbox.log`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Line {
    /// A delivery as it now stands.
    Put {
        delivery: Box<Delivery>,
    },
    /// The event log up to this byte has its deliveries here.
    Covered {
        upto: u64,
    },
    /// A channel answered 410 Gone.
    Disabled {
        channel: String,
        reason: String,
    },
    Enabled {
        channel: String,
    },
}

type Queue = (String, MemberId);

#[derive(Debug)]
pub struct Outbox {
    records: HashMap<String, Delivery>,
    /// Pending ids of each member on each channel, oldest first.
    queues: HashMap<Queue, VecDeque<String>>,
    /// The head of each queue with a pending delivery, by when it is due
    /// (milliseconds; a claim moves it a lease ahead).
    due: BTreeSet<(i64, String)>,
    due_at: HashMap<String, i64>,
    /// Delivered and failed ids, oldest first.
    settled: HashMap<Status, VecDeque<String>>,
    pub disabled: HashMap<String, String>,
    /// Bytes of the event log whose deliveries are written here.
    pub covered: u64,
    file: File,
    path: PathBuf,
}

fn unavailable(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("{}: {e}", path.display()))
}

impl Outbox {
    /// Reads `outbox.log` in `dir` and writes it back compacted; a new
    /// outbox covers the `log_len` bytes already logged (no notification
    /// for the past).
    pub fn open(dir: &Path, log_len: u64) -> Result<Outbox, StoreError> {
        let path = dir.join(OUTBOX_FILE);
        let mut outbox = Outbox {
            records: HashMap::new(),
            queues: HashMap::new(),
            due: BTreeSet::new(),
            due_at: HashMap::new(),
            settled: HashMap::new(),
            disabled: HashMap::new(),
            covered: log_len,
            file: File::open("/dev/null").map_err(|e| unavailable(&path, e))?,
            path: path.clone(),
        };
        match File::open(&path) {
            Ok(file) => {
                outbox.covered = 0;
                for (number, line) in BufReader::new(file).lines().enumerate() {
                    let line = line.map_err(|e| unavailable(&path, e))?;
                    // A line cut short by a crash was never relied on.
                    let Ok(line) = serde_json::from_str::<Line>(&line) else {
                        tracing::warn!(line = number + 1, "outbox: skipping a line cut short");
                        continue;
                    };
                    outbox.load(line);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(unavailable(&path, e)),
        }
        outbox.compact()?;
        Ok(outbox)
    }

    fn load(&mut self, line: Line) {
        match line {
            Line::Put { delivery } => self.put(*delivery),
            Line::Covered { upto } => self.covered = self.covered.max(upto),
            Line::Disabled { channel, reason } => {
                self.disabled.insert(channel, reason);
            }
            Line::Enabled { channel } => {
                self.disabled.remove(&channel);
            }
        }
    }

    /// Rewrites the file with what is kept, and appends from then on.
    fn compact(&mut self) -> Result<(), StoreError> {
        let tmp = self.path.with_extension("log.tmp");
        let mut out =
            std::io::BufWriter::new(File::create(&tmp).map_err(|e| unavailable(&tmp, e))?);
        let mut lines = vec![Line::Covered { upto: self.covered }];
        for (channel, reason) in &self.disabled {
            lines.push(Line::Disabled {
                channel: channel.clone(),
                reason: reason.clone(),
            });
        }
        let mut records: Vec<&Delivery> = self.records.values().collect();
        records.sort_by(|a, b| (a.created_at, a.id()).cmp(&(b.created_at, b.id())));
        for line in lines
            .iter()
            .map(serde_json::to_vec)
            .chain(records.into_iter().map(|d| {
                serde_json::to_vec(&Line::Put {
                    delivery: Box::new(d.clone()),
                })
            }))
        {
            let mut line = line.map_err(|e| StoreError::Corrupt(e.to_string()))?;
            line.push(b'\n');
            out.write_all(&line).map_err(|e| unavailable(&tmp, e))?;
        }
        let file = out.into_inner().map_err(|e| unavailable(&tmp, e.error()))?;
        file.sync_all().map_err(|e| unavailable(&tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| unavailable(&self.path, e))?;
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| unavailable(&self.path, e))?;
        Ok(())
    }

    fn write(&mut self, lines: &[Line]) -> Result<(), StoreError> {
        let mut buf = Vec::new();
        for line in lines {
            serde_json::to_writer(&mut buf, line)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            buf.push(b'\n');
        }
        (self.file.write_all(&buf))
            .and_then(|()| self.file.sync_data())
            .map_err(|e| unavailable(&self.path, e))
    }

    pub fn knows(&self, id: &str) -> bool {
        self.records.contains_key(id)
    }

    /// Adds new deliveries (known ids are left alone) caused by the event
    /// log up to `covered`. They are kept in memory even when the file
    /// cannot be written: a restart works them out again from the log.
    pub fn add(&mut self, deliveries: Vec<Delivery>, covered: u64) {
        let fresh: Vec<Delivery> = deliveries
            .into_iter()
            .filter(|d| !self.knows(d.id()))
            .collect();
        if fresh.is_empty() {
            return;
        }
        let mut lines: Vec<Line> = fresh
            .iter()
            .map(|d| Line::Put {
                delivery: Box::new(d.clone()),
            })
            .collect();
        lines.push(Line::Covered { upto: covered });
        if let Err(e) = self.write(&lines) {
            tracing::error!(error = %e, "outbox: could not write new deliveries; a restart recovers them from the event log");
        } else {
            self.covered = covered;
        }
        for d in fresh {
            self.put(d);
        }
    }

    /// Keeps `d` as it now stands, in its queue and the due set.
    fn put(&mut self, d: Delivery) {
        let id = d.id().to_owned();
        let queue: Queue = (
            d.notification.channel.clone(),
            d.notification.member.clone(),
        );
        let before = self.records.insert(id.clone(), d.clone());
        if let Some(at) = self.due_at.remove(&id) {
            self.due.remove(&(at, id.clone()));
        }
        match d.status {
            Status::Pending => {
                let q = self.queues.entry(queue.clone()).or_default();
                if !q.contains(&id) {
                    q.push_back(id.clone());
                }
                self.schedule_head(&queue);
            }
            Status::Delivered | Status::Failed => {
                if let Some(q) = self.queues.get_mut(&queue) {
                    q.retain(|x| *x != id);
                    if q.is_empty() {
                        self.queues.remove(&queue);
                    }
                }
                if before.as_ref().is_none_or(|b| b.status != d.status) {
                    let list = self.settled.entry(d.status).or_default();
                    list.push_back(id.clone());
                    while list.len() > KEEP_SETTLED {
                        if let Some(old) = list.pop_front() {
                            self.records.remove(&old);
                        }
                    }
                }
                if let Some(Status::Delivered | Status::Failed) = before.map(|b| b.status)
                    && let Some(list) = self.settled.get_mut(&other(d.status))
                {
                    list.retain(|x| *x != id);
                }
                self.schedule_head(&queue);
            }
        }
    }

    /// Puts the queue's head in the due set, at its own time.
    fn schedule_head(&mut self, queue: &Queue) {
        let Some(head) = self.queues.get(queue).and_then(|q| q.front()).cloned() else {
            return;
        };
        if self.due_at.contains_key(&head) {
            return;
        }
        let at = self
            .records
            .get(&head)
            .map_or(0, |d| d.next_at.as_millisecond());
        self.due.insert((at, head.clone()));
        self.due_at.insert(head, at);
    }

    /// Up to `limit` due deliveries, claimed for a lease.
    pub fn claim(&mut self, now: Timestamp, limit: usize) -> Vec<Delivery> {
        let now_ms = now.as_millisecond();
        let taken: Vec<(i64, String)> = self
            .due
            .iter()
            .take_while(|(at, _)| *at <= now_ms)
            .take(limit)
            .cloned()
            .collect();
        let until = now_ms + LEASE.as_millis() as i64;
        let mut out = Vec::new();
        for (at, id) in taken {
            self.due.remove(&(at, id.clone()));
            self.due.insert((until, id.clone()));
            self.due_at.insert(id.clone(), until);
            out.extend(self.records.get(&id).cloned());
        }
        out
    }

    /// Writes a claimed delivery's new state.
    pub fn settle(&mut self, d: Delivery) -> Result<(), StoreError> {
        self.write(&[Line::Put {
            delivery: Box::new(d.clone()),
        }])?;
        self.put(d);
        Ok(())
    }

    /// Deliveries with `status`, newest first.
    pub fn list(&self, status: Status, limit: usize) -> Vec<Delivery> {
        let mut found: Vec<&Delivery> = match status {
            Status::Pending => self
                .records
                .values()
                .filter(|d| d.status == status)
                .collect(),
            _ => (self.settled.get(&status).into_iter().flatten())
                .filter_map(|id| self.records.get(id))
                .collect(),
        };
        found.sort_by(|a, b| (b.next_at, b.id()).cmp(&(a.next_at, a.id())));
        found.into_iter().take(limit).cloned().collect()
    }

    /// A failed delivery pending again; its channel enabled again.
    pub fn retry(&mut self, id: &str, now: Timestamp) -> Result<Option<Delivery>, StoreError> {
        let Some(d) = self
            .records
            .get(id)
            .filter(|d| d.status == Status::Failed)
            .cloned()
        else {
            return Ok(None);
        };
        let d = d.retried(now);
        let mut lines = vec![Line::Put {
            delivery: Box::new(d.clone()),
        }];
        let channel = d.notification.channel.clone();
        if self.disabled.contains_key(&channel) {
            lines.push(Line::Enabled {
                channel: channel.clone(),
            });
        }
        self.write(&lines)?;
        self.disabled.remove(&channel);
        if let Some(list) = self.settled.get_mut(&Status::Failed) {
            list.retain(|x| x != id);
        }
        self.put(d.clone());
        Ok(Some(d))
    }

    pub fn disable(&mut self, channel: &str, reason: &str) -> Result<(), StoreError> {
        self.write(&[Line::Disabled {
            channel: channel.to_owned(),
            reason: reason.to_owned(),
        }])?;
        self.disabled.insert(channel.to_owned(), reason.to_owned());
        Ok(())
    }
}

fn other(status: Status) -> Status {
    match status {
        Status::Delivered => Status::Failed,
        _ => Status::Delivered,
    }
}
