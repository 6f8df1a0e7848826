//! The embedded store's outbox: deliveries in memory, every change
//! appended to `outbox.log` (JSON lines) beside the event log.
//!
//! A delivery is written after the events that cause it, and the outbox
//! records how much of the event log it has seen (a mark written after
//! every request): at start, deliveries of events past that mark (a crash
//! between the two writes) are worked out again from the log, under the
//! same ids, and those already known are left alone. So an acknowledged
//! outcome never loses its notification, and nothing is sent twice.

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

/// The file is rewritten with only what is kept once it grows past this
/// and past four times what the last rewrite left.
const COMPACT_AT: u64 = 16 << 20;

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
    /// Order of arrival: kept through compaction.
    seq: HashMap<String, u64>,
    next_seq: u64,
    /// Pending ids of each member on each channel, oldest first.
    queues: HashMap<Queue, VecDeque<String>>,
    /// The head of each queue with a pending delivery, by when it is due
    /// (milliseconds; a claim moves it a lease ahead).
    due: BTreeSet<(i64, String)>,
    due_at: HashMap<String, i64>,
    /// Delivered and failed ids, oldest first.
    settled: HashMap<Status, VecDeque<String>>,
    pub disabled: HashMap<String, String>,
    /// Bytes of the event log whose deliveries are written here...
    pub covered: u64,
    /// ...and as the file says, synced.
    durable: u64,
    /// Whether deliveries were written since the last sync.
    dirty: bool,
    /// Deliveries kept in memory that a failed write did not save: saved
    /// with the next write, and the mark stays behind them until then.
    unsaved: Vec<Delivery>,
    file: File,
    /// Bytes of complete lines in the file...
    len: u64,
    /// ...and after the last rewrite.
    compacted: u64,
    compact_at: u64,
    path: PathBuf,
}

fn unavailable(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("{}: {e}", path.display()))
}

impl Outbox {
    /// Reads `outbox.log` in `dir` and writes it back compacted; a new
    /// outbox has seen the `log_len` bytes already logged (no notification
    /// for the past).
    pub fn open(dir: &Path, log_len: u64) -> Result<Outbox, StoreError> {
        let path = dir.join(OUTBOX_FILE);
        let file = match File::open(&path) {
            Ok(file) => Some(file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(unavailable(&path, e)),
        };
        let mut outbox = Outbox {
            records: HashMap::new(),
            seq: HashMap::new(),
            next_seq: 0,
            queues: HashMap::new(),
            due: BTreeSet::new(),
            due_at: HashMap::new(),
            settled: HashMap::new(),
            disabled: HashMap::new(),
            covered: if file.is_some() { 0 } else { log_len },
            durable: 0,
            dirty: false,
            unsaved: Vec::new(),
            file: File::open("/dev/null").map_err(|e| unavailable(&path, e))?,
            len: 0,
            compacted: 0,
            compact_at: COMPACT_AT,
            path: path.clone(),
        };
        if let Some(file) = file {
            let mut reader = BufReader::new(file);
            let mut line = Vec::new();
            let mut number = 0usize;
            loop {
                line.clear();
                let n = (reader.read_until(b'\n', &mut line)).map_err(|e| unavailable(&path, e))?;
                if n == 0 {
                    break;
                }
                number += 1;
                // A line cut short by a crash was never relied on.
                match serde_json::from_slice::<Line>(line.strip_suffix(b"\n").unwrap_or(&line)) {
                    Ok(parsed) if line.ends_with(b"\n") => outbox.load(parsed),
                    _ => tracing::warn!(line = number, "outbox: skipping a line cut short"),
                }
            }
        }
        outbox.compact()?;
        outbox.durable = outbox.covered;
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
        let mut lines = vec![Line::Covered { upto: self.covered }];
        for (channel, reason) in &self.disabled {
            lines.push(Line::Disabled {
                channel: channel.clone(),
                reason: reason.clone(),
            });
        }
        let mut records: Vec<&Delivery> = self.records.values().collect();
        records.sort_by_key(|d| self.seq.get(d.id()).copied().unwrap_or(u64::MAX));
        lines.extend(records.into_iter().map(|d| Line::Put {
            delivery: Box::new(d.clone()),
        }));
        let buf = encode(&lines)?;
        let mut file = File::create(&tmp).map_err(|e| unavailable(&tmp, e))?;
        (file.write_all(&buf))
            .and_then(|()| file.sync_all())
            .map_err(|e| unavailable(&tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| unavailable(&self.path, e))?;
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| unavailable(&self.path, e))?;
        self.len = buf.len() as u64;
        self.compacted = self.len;
        // Everything kept is in the new file, synced.
        self.durable = self.covered;
        self.dirty = false;
        self.unsaved.clear();
        Ok(())
    }

    /// Rewrites the file when it has grown enough (see [`COMPACT_AT`]).
    pub fn maybe_compact(&mut self) -> Result<(), StoreError> {
        if self.len > self.compact_at.max(4 * self.compacted) {
            self.compact()?;
        }
        Ok(())
    }

    /// Appends lines, synced when `sync`; on failure the file is cut back
    /// so that nothing of a failed write remains.
    fn write(&mut self, lines: &[Line], sync: bool) -> Result<(), StoreError> {
        let buf = encode(lines)?;
        let written = self
            .file
            .write_all(&buf)
            .and_then(|()| if sync { self.file.sync_data() } else { Ok(()) });
        if let Err(e) = written {
            let _ = self.file.set_len(self.len);
            return Err(unavailable(&self.path, e));
        }
        self.len += buf.len() as u64;
        Ok(())
    }

    pub fn knows(&self, id: &str) -> bool {
        self.records.contains_key(id)
    }

    /// Adds new deliveries (known ids are left alone) caused by the event
    /// log up to `covered`. They are written at once but not synced: the
    /// request that caused them waits for the event log's sync only. The
    /// mark of what the outbox has seen moves on disk in [`Outbox::flush`],
    /// after a sync, so a crash before then only means the events past
    /// the mark are looked at again at start (and their deliveries, being
    /// known, are left alone). When the file cannot be written, the
    /// deliveries are kept in memory, saved with the next write, and the
    /// mark stays behind them.
    pub fn add(&mut self, deliveries: Vec<Delivery>, covered: u64) {
        let fresh: Vec<Delivery> = deliveries
            .into_iter()
            .filter(|d| !self.knows(d.id()))
            .collect();
        // Deliveries a failed write left unsaved, as they now stand (the
        // worker may have settled them meanwhile).
        let mut saving: Vec<Delivery> = std::mem::take(&mut self.unsaved)
            .into_iter()
            .map(|d| self.records.get(d.id()).cloned().unwrap_or(d))
            .collect();
        saving.extend(fresh.iter().cloned());
        if saving.is_empty() {
            self.covered = covered;
        } else {
            let lines: Vec<Line> = (saving.iter())
                .map(|d| Line::Put {
                    delivery: Box::new(d.clone()),
                })
                .collect();
            match self.write(&lines, false) {
                Ok(()) => {
                    self.covered = covered;
                    self.dirty = true;
                }
                Err(e) => {
                    tracing::error!(error = %e, "outbox: could not write; a restart recovers new deliveries from the event log");
                    self.unsaved = saving;
                }
            }
        }
        for d in fresh {
            self.put(d);
        }
    }

    /// Syncs what was written, then records the mark reached: the mark
    /// on disk never runs ahead of the deliveries on disk. (The mark line
    /// itself is synced by the next flush; lost, it only means a few more
    /// events looked at again at start.)
    pub fn flush(&mut self) -> Result<(), StoreError> {
        let Some((covered, dirty)) = self.begin_flush() else {
            return Ok(());
        };
        if dirty {
            (self.file.sync_data()).map_err(|e| unavailable(&self.path, e))?;
        }
        self.end_flush(covered)
    }

    /// What a flush records, and whether it must sync first; `None` when
    /// there is nothing to do. The sync may then run without the store's
    /// lock, on [`Outbox::handle`], before [`Outbox::end_flush`].
    pub fn begin_flush(&mut self) -> Option<(u64, bool)> {
        if !self.dirty && self.covered == self.durable {
            return None;
        }
        let dirty = std::mem::take(&mut self.dirty);
        Some((self.covered, dirty))
    }

    pub fn end_flush(&mut self, covered: u64) -> Result<(), StoreError> {
        self.write(&[Line::Covered { upto: covered }], false)?;
        self.durable = covered;
        Ok(())
    }

    /// The file, to sync without holding the store.
    pub fn handle(&self) -> Result<File, StoreError> {
        self.file
            .try_clone()
            .map_err(|e| unavailable(&self.path, e))
    }

    /// Puts a failed sync's claim back: the next flush syncs again.
    pub fn sync_failed(&mut self) {
        self.dirty = true;
    }

    /// Keeps `d` as it now stands, in its queue and the due set.
    fn put(&mut self, d: Delivery) {
        let id = d.id().to_owned();
        let queue: Queue = (
            d.notification.channel.clone(),
            d.notification.member.clone(),
        );
        if !self.seq.contains_key(&id) {
            self.seq.insert(id.clone(), self.next_seq);
            self.next_seq += 1;
        }
        let before = self.records.insert(id.clone(), d.clone()).map(|b| b.status);
        if let Some(at) = self.due_at.remove(&id) {
            self.due.remove(&(at, id.clone()));
        }
        // Out of the list of what it was, when that changes.
        if let Some(was @ (Status::Delivered | Status::Failed)) = before
            && was != d.status
            && let Some(list) = self.settled.get_mut(&was)
        {
            list.retain(|x| *x != id);
        }
        match d.status {
            Status::Pending => {
                let q = self.queues.entry(queue.clone()).or_default();
                if !q.contains(&id) {
                    q.push_back(id);
                }
            }
            Status::Delivered | Status::Failed => {
                if let Some(q) = self.queues.get_mut(&queue) {
                    q.retain(|x| *x != id);
                    if q.is_empty() {
                        self.queues.remove(&queue);
                    }
                }
                if before != Some(d.status) {
                    let list = self.settled.entry(d.status).or_default();
                    list.push_back(id);
                    while list.len() > KEEP_SETTLED {
                        if let Some(old) = list.pop_front() {
                            self.records.remove(&old);
                            self.seq.remove(&old);
                        }
                    }
                }
            }
        }
        self.schedule_head(&queue);
    }

    /// Puts the queue's head in the due set, at its own time.
    fn schedule_head(&mut self, queue: &Queue) {
        let Some(head) = self.queues.get(queue).and_then(|q| q.front()).cloned() else {
            return;
        };
        if self.due_at.contains_key(&head) {
            return;
        }
        let at = (self.records.get(&head)).map_or(0, |d| d.next_at.as_millisecond());
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
            self.due_at.remove(&id);
            match self.records.get(&id) {
                Some(d) => {
                    out.push(d.clone());
                    self.due.insert((until, id.clone()));
                    self.due_at.insert(id, until);
                }
                // Not kept any more: the queue moves on.
                None => {
                    let stale = self.queues.iter_mut().find(|(_, q)| q.front() == Some(&id));
                    if let Some((queue, q)) = stale {
                        q.pop_front();
                        let queue = queue.clone();
                        self.schedule_head(&queue);
                    }
                }
            }
        }
        out
    }

    /// Writes claimed deliveries' new states, unsynced: the caller syncs
    /// [`Outbox::handle`] (a settle lost in a crash only means a delivery
    /// sent again, as at least once allows).
    pub fn settle(&mut self, settled: Vec<Delivery>) -> Result<(), StoreError> {
        let lines: Vec<Line> = (settled.iter())
            .map(|d| Line::Put {
                delivery: Box::new(d.clone()),
            })
            .collect();
        self.write(&lines, false)?;
        for d in settled {
            self.put(d);
        }
        Ok(())
    }

    /// Deliveries with `status`, newest first.
    pub fn list(&self, status: Status, limit: usize) -> Vec<Delivery> {
        let mut found: Vec<&Delivery> = match status {
            Status::Pending => (self.records.values())
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
        let Some(d) = (self.records.get(id))
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
        self.write(&lines, true)?;
        self.disabled.remove(&channel);
        self.put(d.clone());
        Ok(Some(d))
    }

    pub fn disable(&mut self, channel: &str, reason: &str) -> Result<(), StoreError> {
        self.write(
            &[Line::Disabled {
                channel: channel.to_owned(),
                reason: reason.to_owned(),
            }],
            true,
        )?;
        self.disabled.insert(channel.to_owned(), reason.to_owned());
        Ok(())
    }
}

fn encode(lines: &[Line]) -> Result<Vec<u8>, StoreError> {
    let mut buf = Vec::new();
    for line in lines {
        serde_json::to_writer(&mut buf, line).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        buf.push(b'\n');
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use engagement_core::notify::{Notification, What};

    fn delivery(id: &str, member: &str) -> Delivery {
        let n = Notification {
            id: id.to_owned(),
            channel: "feed".to_owned(),
            member: MemberId::parse(member).unwrap(),
            name: None,
            named: true,
            community: None,
            at: "2026-12-01T10:00:00Z".parse().unwrap(),
            what: What::Level {
                level: "Contributor".to_owned(),
            },
        };
        Delivery::new(n, "2026-12-01T10:00:00Z".parse().unwrap())
    }

    #[test]
    fn a_retried_delivery_leaves_the_failed_list_through_a_restart_and_keeps_its_order() {
        let dir = tempfile::tempdir().unwrap();
        let now: Timestamp = "2026-12-01T10:00:01Z".parse().unwrap();
        let mut outbox = Outbox::open(dir.path(), 0).unwrap();
        outbox.add(vec![delivery("msg_b", "ana"), delivery("msg_a", "ana")], 10);
        let claimed = outbox.claim(now, 10);
        assert_eq!(claimed.len(), 1, "one at a time per member and channel");
        assert_eq!(claimed[0].id(), "msg_b", "in the order they came");
        let failed = claimed[0].clone().failed("gone".to_owned(), now);
        outbox.settle(vec![failed]).unwrap();
        assert_eq!(outbox.list(Status::Failed, 10).len(), 1);
        outbox.retry("msg_b", now).unwrap().unwrap();
        outbox.flush().unwrap();
        drop(outbox);

        let mut outbox = Outbox::open(dir.path(), 0).unwrap();
        assert_eq!(outbox.covered, 10, "the mark, once flushed");
        assert!(
            outbox.list(Status::Failed, 10).is_empty(),
            "retried: not failed any more"
        );
        let claimed = outbox.claim(now, 10);
        let ids: Vec<&str> = claimed.iter().map(Delivery::id).collect();
        assert_eq!(
            ids,
            ["msg_a"],
            "msg_b went to the back of the line when retried"
        );
    }

    #[test]
    fn the_file_is_rewritten_once_it_has_grown_and_keeps_what_it_held() {
        let dir = tempfile::tempdir().unwrap();
        let now: Timestamp = "2026-12-01T10:00:01Z".parse().unwrap();
        let mut outbox = Outbox::open(dir.path(), 0).unwrap();
        outbox.compact_at = 4096;
        for i in 0..40 {
            let d = delivery(&format!("msg_{i:02}"), "ana");
            outbox.add(vec![d.clone()], i);
            outbox
                .settle(vec![d.clone().after_failure("503".into(), None, now)])
                .unwrap();
            outbox.settle(vec![d.delivered(now)]).unwrap();
            outbox.flush().unwrap();
            outbox.maybe_compact().unwrap();
        }
        let size = std::fs::metadata(dir.path().join(OUTBOX_FILE))
            .unwrap()
            .len();
        assert!(
            size < 4 * 4096 + 4096,
            "rewritten along the way: {size} bytes"
        );
        assert!(outbox.compacted > 0);
        drop(outbox);
        let outbox = Outbox::open(dir.path(), 0).unwrap();
        assert_eq!(outbox.list(Status::Delivered, 100).len(), 40);
        assert_eq!(outbox.covered, 39);
    }

    #[test]
    fn a_line_cut_short_inside_a_character_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut outbox = Outbox::open(dir.path(), 0).unwrap();
        let mut d = delivery("msg_a", "ana");
        d.notification.name = Some("Zoë".to_owned());
        outbox.add(vec![d], 5);
        drop(outbox);
        let path = dir.path().join(OUTBOX_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let mut torn = serde_json::to_vec(&Line::Put {
            delivery: Box::new({
                let mut d = delivery("msg_b", "bo");
                d.notification.name = Some("Zoë".to_owned());
                d
            }),
        })
        .unwrap();
        let cut = torn.iter().position(|b| *b == 0xc3).unwrap() + 1;
        torn.truncate(cut);
        bytes.extend(torn);
        std::fs::write(&path, bytes).unwrap();
        let outbox = Outbox::open(dir.path(), 0).unwrap();
        assert!(outbox.knows("msg_a") && !outbox.knows("msg_b"));
    }
}
