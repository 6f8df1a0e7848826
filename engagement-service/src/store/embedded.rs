//! The zero-setup store: all derived state in memory, every accepted event
//! appended to `events.log` (JSON lines) in the data directory and replayed
//! at start.
//!
//! Durability: a write is flushed with `fdatasync` before the request is
//! answered, so an acknowledged event survives a crash of the process or of
//! the machine. One sync per request (a batch shares it) keeps that cheap
//! enough for the small communities this store is meant for.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use engagement_core::{
    BoardKey, Event, EventId, MemberId, MemberState, Memory, Outcome, Profile, RuleSet,
};

use super::listing::{Listing, Special};
use super::{
    Entry, LEDGER_KEEP, LedgerEntry, LogEntry, ManualGrant, Page, Standing, Store, StoreError,
    ledger_lines,
};

const LOG_FILE: &str = "events.log";

/// In-process state plus an append-only log file.
#[derive(Debug)]
pub struct EmbeddedStore {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    memory: Memory,
    ledger: HashMap<MemberId, VecDeque<LedgerEntry>>,
    listing: Listing,
    log: File,
    path: PathBuf,
}

impl EmbeddedStore {
    /// Opens (or creates) the data directory and replays its log under `rules`.
    pub fn open(dir: &Path, rules: &RuleSet) -> Result<EmbeddedStore, StoreError> {
        let unavailable =
            |e: std::io::Error| StoreError::Unavailable(format!("{}: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(unavailable)?;
        let path = dir.join(LOG_FILE);
        let mut log = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(unavailable)?;
        let mut inner = Inner {
            memory: Memory::default(),
            ledger: HashMap::new(),
            listing: Listing::default(),
            log: log.try_clone().map_err(unavailable)?,
            path: path.clone(),
        };
        let kept = inner.replay(&mut log, rules)?;
        // A line cut short by a crash was never acknowledged: drop it.
        log.set_len(kept).map_err(unavailable)?;
        Ok(EmbeddedStore {
            inner: Mutex::new(inner),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    /// Applies every complete line; returns the length of the valid prefix.
    fn replay(&mut self, log: &mut File, rules: &RuleSet) -> Result<u64, StoreError> {
        log.seek(SeekFrom::Start(0))
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut reader = BufReader::new(log);
        let mut kept = 0u64;
        let mut line = Vec::new();
        let mut number = 0usize;
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            if n == 0 || line.last() != Some(&b'\n') {
                return Ok(kept);
            }
            number += 1;
            let entry: LogEntry = serde_json::from_slice(&line).map_err(|e| {
                StoreError::Corrupt(format!("{}: line {number}: {e}", self.path.display()))
            })?;
            self.apply(rules, &entry);
            kept += n as u64;
        }
    }

    fn apply(&mut self, rules: &RuleSet, entry: &LogEntry) {
        match entry {
            LogEntry::Event { event } => {
                self.apply_event(rules, event);
            }
            change => self.apply_change(change),
        }
    }

    /// Applies a profile change or a manual grant.
    fn apply_change(&mut self, entry: &LogEntry) {
        match entry {
            LogEntry::Event { .. } => {}
            LogEntry::Profile { member, profile } => {
                let special = Special {
                    visibility: profile.visibility,
                    groups: profile.groups.clone(),
                };
                if special.is_plain() {
                    self.listing.special.remove(member);
                } else {
                    self.listing.special.insert(member.clone(), special);
                }
                self.memory
                    .members
                    .entry(member.clone())
                    .or_default()
                    .set_profile(profile.clone());
            }
            LogEntry::Badge { member, grant } => {
                let state = self.memory.members.entry(member.clone()).or_default();
                grant_to(state, grant);
            }
        }
    }

    fn apply_event(&mut self, rules: &RuleSet, event: &Event) -> Outcome {
        let outcome = self.memory.ingest(rules, event);
        for (member, line) in ledger_lines(rules, event, &outcome) {
            let ledger = self.ledger.entry(member).or_default();
            ledger.push_front(line);
            ledger.truncate(LEDGER_KEEP);
        }
        outcome
    }

    /// Logs then applies one profile change or manual grant.
    fn record(&mut self, entry: LogEntry) -> Result<(), StoreError> {
        self.append(std::slice::from_ref(&entry))?;
        self.apply_change(&entry);
        Ok(())
    }

    /// Appends entries and syncs; on failure the file is cut back so that
    /// nothing of a failed write remains.
    fn append(&mut self, entries: &[LogEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for e in entries {
            serde_json::to_writer(&mut buf, e).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            buf.push(b'\n');
        }
        let before = self
            .log
            .metadata()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?
            .len();
        let written = self.log.write_all(&buf).and_then(|()| self.log.sync_data());
        if let Err(e) = written {
            let _ = self.log.set_len(before);
            return Err(StoreError::Unavailable(format!(
                "{}: {e}",
                self.path.display()
            )));
        }
        Ok(())
    }
}

/// Adds a manual grant unless the tier is held; whether it was added.
fn grant_to(state: &mut MemberState, grant: &ManualGrant) -> bool {
    let held = state
        .badges
        .iter()
        .any(|b| b.badge == grant.badge && b.tier == grant.tier);
    if !held {
        state.badges.push(engagement_core::state::HeldBadge {
            badge: grant.badge.clone(),
            tier: grant.tier,
            awarded_at: grant.at,
            reason: grant.reason.clone(),
        });
    }
    !held
}

impl Store for EmbeddedStore {
    async fn ingest(&self, rules: &RuleSet, events: &[Event]) -> Result<Vec<Outcome>, StoreError> {
        let mut inner = self.lock();
        let mut fresh: HashSet<&EventId> = HashSet::new();
        let mut entries = Vec::new();
        for event in events {
            if inner.memory.outcome(&event.id).is_none() && fresh.insert(&event.id) {
                entries.push(LogEntry::Event {
                    event: event.clone(),
                });
            }
        }
        inner.append(&entries)?;
        let mut outcomes = Vec::with_capacity(events.len());
        for event in events {
            // Memory answers a second delivery as a duplicate by itself.
            outcomes.push(inner.apply_event(rules, event));
        }
        Ok(outcomes)
    }

    async fn set_profile(&self, member: &MemberId, profile: Profile) -> Result<(), StoreError> {
        self.lock().record(LogEntry::Profile {
            member: member.clone(),
            profile,
        })
    }

    async fn grant_badge(&self, member: &MemberId, grant: ManualGrant) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let held = inner.memory.members.get(member).is_some_and(|s| {
            s.badges
                .iter()
                .any(|b| b.badge == grant.badge && b.tier == grant.tier)
        });
        if held {
            return Ok(false);
        }
        inner.record(LogEntry::Badge {
            member: member.clone(),
            grant,
        })?;
        Ok(true)
    }

    async fn member(&self, member: &MemberId) -> Result<Option<MemberState>, StoreError> {
        Ok(self.lock().memory.members.get(member).cloned())
    }

    async fn ledger(
        &self,
        member: &MemberId,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .ledger
            .get(member)
            .map(|l| l.iter().take(limit).cloned().collect())
            .unwrap_or_default())
    }

    async fn page(
        &self,
        key: &BoardKey,
        listing: &Listing,
        offset: u64,
        limit: u64,
    ) -> Result<Page, StoreError> {
        let inner = self.lock();
        let listed = |m: &MemberId| listing.listed(m);
        let total = inner.memory.boards.ranked(key, listed).count() as u64;
        let entries = inner
            .memory
            .boards
            .ranked(key, listed)
            .skip(offset as usize)
            .take(limit as usize)
            .map(|r| inner.entry(listing, r))
            .collect();
        Ok(Page { total, entries })
    }

    async fn standing(
        &self,
        key: &BoardKey,
        listing: &Listing,
        member: &MemberId,
        radius: u64,
    ) -> Result<Standing, StoreError> {
        let inner = self.lock();
        let all: Vec<_> = inner
            .memory
            .boards
            .ranked(key, |m| listing.listed(m))
            .collect();
        let position = all.iter().position(|r| &r.member == member);
        let (rank, score, entries) = match position {
            None => (None, 0, Vec::new()),
            Some(p) => {
                let from = p.saturating_sub(radius as usize);
                let to = (p + radius as usize + 1).min(all.len());
                let entries = all[from..to]
                    .iter()
                    .cloned()
                    .map(|r| inner.entry(listing, r))
                    .collect();
                (Some(all[p].rank), all[p].score, entries)
            }
        };
        Ok(Standing {
            rank,
            score,
            total: all.len() as u64,
            entries,
        })
    }

    async fn listing(&self) -> Result<Listing, StoreError> {
        Ok(self.lock().listing.clone())
    }

    async fn export(&self) -> Result<Vec<LogEntry>, StoreError> {
        let inner = self.lock();
        let file = File::open(&inner.path).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut out = Vec::new();
        for line in BufReader::new(file).lines() {
            let line = line.map_err(|e| StoreError::Unavailable(e.to_string()))?;
            out.push(serde_json::from_str(&line).map_err(|e| StoreError::Corrupt(e.to_string()))?);
        }
        Ok(out)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl Inner {
    fn entry(&self, listing: &Listing, r: engagement_core::Ranked) -> Entry {
        if listing.anonymous(&r.member) {
            return Entry {
                rank: r.rank,
                member: None,
                name: None,
                score: r.score,
            };
        }
        let name = self
            .memory
            .members
            .get(&r.member)
            .and_then(|s| s.profile.name.clone());
        Entry {
            rank: r.rank,
            member: Some(r.member),
            name,
            score: r.score,
        }
    }
}
