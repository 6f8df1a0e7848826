//! The zero-setup store: all derived state in memory, every accepted event
//! appended to `events.log` (JSON lines) in the data directory and replayed
//! at start.
//!
//! Durability: a write is flushed with `fdatasync` before the request is
//! answered, so an acknowledged event survives a crash of the process or of
//! the machine. One sync per request (a batch shares it) keeps that cheap
//! enough for the small communities this store is meant for.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use engagement_core::fair_play::{self, Pairs};
use engagement_core::{
    BoardKey, Bucket, CommunityId, Event, EventId, MemberId, MemberState, Outcome, Profile, Report,
    RuleSet,
};

use super::derived::{Derived, holds, read_batches, read_lines, read_lines_ahead};
use super::listing::Listing;
use super::outbox::Outbox;
use super::retention::Retention;
use super::rule_versions::RulesLog;
use super::{
    Activation, AliasRefused, Entry, LedgerEntry, LogEntry, ManualGrant, Page, ReplaySummary,
    Standing, Store, StoreError,
};
use crate::notify::{Delivery, Status as DeliveryStatus};

const LOG_FILE: &str = "events.log";

/// What the embedded store keeps besides what every store keeps.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Day and week boards and insights are kept only as long as this says
    /// (as Redis does); `None` keeps them all.
    pub retention: Option<Retention>,
    /// Whether knowledge-flow insights are kept.
    pub insights: bool,
    /// Whether fair-play tallies are kept.
    pub fair_play: bool,
}

/// In-process state plus an append-only log file.
#[derive(Debug)]
pub struct EmbeddedStore {
    inner: Mutex<Inner>,
    /// The deployment's rule versions, apart from the store's lock.
    rules: Mutex<RulesLog>,
}

#[derive(Debug)]
struct Inner {
    derived: Derived,
    log: File,
    path: PathBuf,
    /// Bytes of complete entries in the log.
    len: u64,
    outbox: Outbox,
}

fn unavailable(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("{}: {e}", path.display()))
}

/// Applies the log's entries from byte `from` to `to` onto `derived`;
/// returns where the complete entries end.
fn replay_range(
    path: &Path,
    from: u64,
    to: u64,
    rules: &RuleSet,
    derived: &mut Derived,
) -> Result<u64, StoreError> {
    let mut file = File::open(path).map_err(|e| unavailable(path, e))?;
    file.seek(SeekFrom::Start(from))
        .map_err(|e| unavailable(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file.take(to.saturating_sub(from)));
    derived.tally_apart(rules);
    let read = read_lines_ahead(&mut reader, &path.display().to_string(), |entry| {
        derived.apply(rules, &entry);
    });
    derived.tally_together()?;
    Ok(from + read?)
}

/// Applies the log's entries from byte `from` to `to` as they were
/// applied live, adding the deliveries they cause to `outbox`; returns
/// where the complete entries end.
fn replay_tail(
    path: &Path,
    from: u64,
    to: u64,
    rules: &RuleSet,
    derived: &mut Derived,
    outbox: &mut Outbox,
) -> Result<u64, StoreError> {
    let mut file = File::open(path).map_err(|e| unavailable(path, e))?;
    file.seek(SeekFrom::Start(from))
        .map_err(|e| unavailable(path, e))?;
    let mut reader = BufReader::new(file.take(to.saturating_sub(from)));
    let mut found = Vec::new();
    // One logged line is one request: applied as one, as it was live, so
    // that ranks compare as they did then.
    let read = read_batches(&mut reader, &path.display().to_string(), |entries| {
        let mut events = Vec::new();
        for entry in entries {
            match entry {
                LogEntry::Event { event } => events.push(event),
                change => {
                    found.extend(derived.apply_live(rules, &std::mem::take(&mut events)).1);
                    derived.apply_change(&change);
                    found.extend(derived.change_deliveries(rules, &change));
                }
            }
        }
        found.extend(derived.apply_live(rules, &events).1);
    })?;
    let end = from + read;
    if !found.is_empty() {
        tracing::info!(
            deliveries = found.len(),
            "outbox: recovered deliveries of events logged before a stop"
        );
    }
    outbox.add(found, end);
    Ok(end)
}

impl EmbeddedStore {
    /// Opens (or creates) the data directory and replays its log under
    /// `rules`, keeping every board and the insights.
    pub fn open(dir: &Path, rules: &RuleSet) -> Result<EmbeddedStore, StoreError> {
        let options = Options {
            retention: None,
            insights: true,
            fair_play: true,
        };
        EmbeddedStore::open_with(dir, rules, options)
    }

    /// [`EmbeddedStore::open`] with `options`.
    pub fn open_with(
        dir: &Path,
        rules: &RuleSet,
        options: Options,
    ) -> Result<EmbeddedStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| unavailable(dir, e))?;
        let path = dir.join(LOG_FILE);
        let log = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| unavailable(&path, e))?;
        let size = log.metadata().map_err(|e| unavailable(&path, e))?.len();
        let mut derived = Derived::deferred(options.insights, options.fair_play);
        derived.retention = options.retention;
        let mut outbox = Outbox::open(dir, size)?;
        // Up to the outbox's mark (or the last whole line before it)...
        let seen = replay_range(&path, 0, outbox.covered.min(size), rules, &mut derived)?;
        derived.settle();
        // ...then as live: events logged past it (a crash between the two
        // writes) have their deliveries worked out again.
        let len = replay_tail(&path, seen, size, rules, &mut derived, &mut outbox)?;
        // A line cut short by a crash was never acknowledged: drop it.
        log.set_len(len).map_err(|e| unavailable(&path, e))?;
        Ok(EmbeddedStore {
            inner: Mutex::new(Inner {
                derived,
                log,
                path,
                len,
                outbox,
            }),
            rules: Mutex::new(RulesLog::open(dir)?),
        })
    }

    /// What the derived state holds.
    pub fn summary(&self) -> ReplaySummary {
        let inner = self.lock();
        ReplaySummary {
            events: inner.derived.memory.events_seen(),
            members: inner.derived.memory.members.len(),
        }
    }

    fn rule_versions(&self) -> MutexGuard<'_, RulesLog> {
        self.rules
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Syncs the outbox's file on a thread that may block.
async fn sync(file: File) -> Result<(), StoreError> {
    let synced = tokio::task::spawn_blocking(move || file.sync_data()).await;
    match synced {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(StoreError::Unavailable(format!("outbox: {e}"))),
        Err(e) => Err(StoreError::Unavailable(format!("outbox: {e}"))),
    }
}

impl Drop for EmbeddedStore {
    /// A stop records how far the outbox has seen the log (the delivery
    /// worker does so every round meanwhile).
    fn drop(&mut self) {
        if let Err(e) = self.lock().outbox.flush() {
            tracing::warn!(error = %e, "outbox: the mark was not recorded at stop");
        }
    }
}

impl Inner {
    /// Logs then applies one profile change or manual grant.
    fn record(&mut self, entry: LogEntry) -> Result<(), StoreError> {
        self.append(std::slice::from_ref(&entry))?;
        self.derived.apply_change(&entry);
        Ok(())
    }

    /// Appends entries and syncs; on failure the file is cut back so that
    /// nothing of a failed write remains.
    fn append(&mut self, entries: &[LogEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        // One line per request: a torn write loses the whole batch, never part of it.
        let mut buf = match entries {
            [one] => serde_json::to_vec(one),
            many => serde_json::to_vec(many),
        }
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        buf.push(b'\n');
        let written = self.log.write_all(&buf).and_then(|()| self.log.sync_data());
        if let Err(e) = written {
            let _ = self.log.set_len(self.len);
            return Err(unavailable(&self.path, e));
        }
        self.len += buf.len() as u64;
        Ok(())
    }

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
            .derived
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

impl Store for EmbeddedStore {
    async fn ingest(&self, rules: &RuleSet, events: &[Event]) -> Result<Vec<Outcome>, StoreError> {
        let mut inner = self.lock();
        let mut fresh: HashSet<&EventId> = HashSet::new();
        let mut entries = Vec::new();
        for event in events {
            if inner.derived.memory.outcome(&event.id).is_none() && fresh.insert(&event.id) {
                entries.push(LogEntry::Event {
                    event: event.clone(),
                });
            }
        }
        inner.append(&entries)?;
        // Memory answers a second delivery as a duplicate by itself.
        let (outcomes, found) = inner.derived.apply_live(rules, events);
        let covered = inner.len;
        inner.outbox.add(found, covered);
        Ok(outcomes)
    }

    async fn set_profile(&self, member: &MemberId, profile: Profile) -> Result<(), StoreError> {
        self.lock().record(LogEntry::Profile {
            member: member.clone(),
            profile,
        })
    }

    async fn grant_badge(
        &self,
        rules: &RuleSet,
        member: &MemberId,
        grant: ManualGrant,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if inner
            .derived
            .memory
            .members
            .get(member)
            .is_some_and(|s| holds(s, &grant))
        {
            return Ok(false);
        }
        let entry = LogEntry::Badge {
            member: member.clone(),
            grant,
        };
        inner.record(entry.clone())?;
        let found = inner.derived.change_deliveries(rules, &entry);
        let covered = inner.len;
        inner.outbox.add(found, covered);
        Ok(true)
    }

    async fn member(&self, member: &MemberId) -> Result<Option<MemberState>, StoreError> {
        Ok(self.lock().derived.memory.members.get(member).cloned())
    }

    async fn ledger(
        &self,
        member: &MemberId,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .derived
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
        let unlisted: Vec<&MemberId> = listing.unlisted().collect();
        let mut inner = self.lock();
        inner.derived.memory.boards.index(key);
        let page = (inner.derived.memory.boards).page(key, &unlisted, offset, limit);
        let entries = (page.entries.into_iter())
            .map(|r| inner.entry(listing, r))
            .collect();
        Ok(Page {
            total: page.total,
            entries,
        })
    }

    async fn standing(
        &self,
        key: &BoardKey,
        listing: &Listing,
        member: &MemberId,
        radius: u64,
    ) -> Result<Standing, StoreError> {
        let unlisted: Vec<&MemberId> = listing.unlisted().collect();
        let mut inner = self.lock();
        inner.derived.memory.boards.index(key);
        let (me, around) = (inner.derived.memory.boards).standing(key, &unlisted, member, radius);
        let entries = (around.entries.into_iter())
            .map(|r| inner.entry(listing, r))
            .collect();
        Ok(Standing {
            rank: me.as_ref().map(|r| r.rank),
            score: me.map_or(0, |r| r.score),
            total: around.total,
            entries,
        })
    }

    async fn communities(&self, board: &str) -> Result<Vec<CommunityId>, StoreError> {
        let inner = self.lock();
        let scopes = inner.derived.memory.boards.keys();
        let of_board = scopes
            .filter(|k| &*k.board == board)
            .filter_map(|k| k.community);
        let set: std::collections::BTreeSet<CommunityId> = of_board.collect();
        Ok(set.into_iter().collect())
    }

    async fn listing(&self) -> Result<Listing, StoreError> {
        Ok(self.lock().derived.listing.clone())
    }

    async fn set_aliases(
        &self,
        member: &MemberId,
        aliases: Vec<MemberId>,
    ) -> Result<Result<(), AliasRefused>, StoreError> {
        let mut inner = self.lock();
        if let Err(refused) = inner.derived.aliases.check(member, &aliases) {
            return Ok(Err(refused));
        }
        inner.record(LogEntry::Aliases {
            member: member.clone(),
            aliases,
        })?;
        Ok(Ok(()))
    }

    async fn resolve_aliases(&self, ids: &[MemberId]) -> Result<Vec<Option<MemberId>>, StoreError> {
        let inner = self.lock();
        Ok(ids
            .iter()
            .map(|id| inner.derived.aliases.resolve(id).cloned())
            .collect())
    }

    async fn aliases(&self, member: &MemberId) -> Result<Vec<MemberId>, StoreError> {
        Ok(self.lock().derived.aliases.of(member))
    }

    async fn outcomes(&self, ids: &[EventId]) -> Result<Vec<Option<Outcome>>, StoreError> {
        let inner = self.lock();
        Ok(ids
            .iter()
            .map(|id| inner.derived.memory.outcome(id).cloned())
            .collect())
    }

    async fn export(&self) -> Result<Vec<LogEntry>, StoreError> {
        let (path, len) = {
            let inner = self.lock();
            (inner.path.clone(), inner.len)
        };
        let file = File::open(&path).map_err(|e| unavailable(&path, e))?;
        let mut out = Vec::new();
        read_lines(
            &mut BufReader::new(file.take(len)),
            &path.display().to_string(),
            |e| out.push(e),
        )?;
        Ok(out)
    }

    /// Builds the new state beside the served one, then catches up with
    /// what arrived meanwhile and switches under the lock.
    async fn replay(&self, rules: &RuleSet) -> Result<ReplaySummary, StoreError> {
        let (path, len) = {
            let inner = self.lock();
            (inner.path.clone(), inner.len)
        };
        let (retention, insights, fair_play) = {
            let inner = self.lock();
            let memory = &inner.derived.memory;
            (
                inner.derived.retention,
                memory.insights.is_some(),
                memory.fair_play.is_some(),
            )
        };
        let mut fresh = Derived::deferred(insights, fair_play);
        fresh.retention = retention;
        let built = replay_range(&path, 0, len, rules, &mut fresh)?;
        fresh.settle();
        let replaced = {
            let mut inner = self.lock();
            replay_range(&path, built, inner.len, rules, &mut fresh)?;
            std::mem::replace(&mut inner.derived, fresh)
        };
        // Freed after the lock is released: requests wait for the switch only.
        drop(replaced);
        Ok(self.summary())
    }

    async fn insights(
        &self,
        rules: &RuleSet,
        community: Option<&CommunityId>,
        bucket: Bucket,
        admin: bool,
    ) -> Result<Option<Arc<Report>>, StoreError> {
        // The tallies are copied under the lock, the figures worked out after.
        let parts = {
            let inner = self.lock();
            let memory = &inner.derived.memory;
            let Some(insights) = memory.insights.as_deref() else {
                return Ok(None);
            };
            if community.is_some_and(|c| !insights.knows(c)) {
                return Ok(None);
            }
            memory.insight_parts(rules, community, bucket)
        };
        let Some(parts) = parts else {
            return Ok(None);
        };
        Ok(Some(Arc::new(Report::build(
            community, bucket, parts, admin,
        ))))
    }

    async fn insight_communities(&self) -> Result<Vec<CommunityId>, StoreError> {
        let inner = self.lock();
        Ok((inner.derived.memory.insights.iter())
            .flat_map(|i| i.communities().cloned())
            .collect())
    }

    async fn fair_play(
        &self,
        rules: &RuleSet,
        bucket: Bucket,
    ) -> Result<engagement_core::fair_play::Report, StoreError> {
        let inner = self.lock();
        Ok((inner.derived.memory.fair_play.as_deref())
            .map(|pairs| pairs.report(rules, &bucket))
            .unwrap_or_else(|| Pairs::default().report(rules, &bucket)))
    }

    async fn pair_events(
        &self,
        rules: &RuleSet,
        bucket: Bucket,
        pairs: &[(MemberId, MemberId)],
    ) -> Result<Vec<Vec<EventId>>, StoreError> {
        let givers: HashSet<&MemberId> = pairs.iter().map(|(from, _)| from).collect();
        let inner = self.lock();
        let mut found: Vec<Vec<(jiff::Timestamp, EventId)>> = vec![Vec::new(); pairs.len()];
        for (id, outcome) in inner.derived.memory.outcomes() {
            // Most events are no giver's: one look at the actor passes them by.
            let actor = (outcome.effects.as_ref())
                .and_then(|e| e.counted.as_ref())
                .and_then(|c| c.actor.as_ref());
            if !actor.is_some_and(|a| givers.contains(a)) {
                continue;
            }
            for (i, (from, to)) in pairs.iter().enumerate() {
                if fair_play::pair_event(rules, outcome, from, to, &bucket)
                    && let Some(effects) = &outcome.effects
                {
                    found[i].push((effects.occurred_at, id.clone()));
                }
            }
        }
        Ok(found
            .into_iter()
            .map(|mut events| {
                events.sort();
                events.into_iter().map(|(_, id)| id).collect()
            })
            .collect())
    }

    async fn claim_deliveries(
        &self,
        now: jiff::Timestamp,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        Ok(self.lock().outbox.claim(now, limit))
    }

    /// The sync runs without the lock: ingest goes on meanwhile. One
    /// caller at a time (the delivery worker): a second one could record
    /// the mark before the first one's sync is done.
    async fn flush_outbox(&self) -> Result<(), StoreError> {
        let (covered, dirty, file) = {
            let mut inner = self.lock();
            let Some((covered, dirty)) = inner.outbox.begin_flush() else {
                return Ok(());
            };
            (covered, dirty, inner.outbox.handle()?)
        };
        if dirty && let Err(e) = sync(file).await {
            self.lock().outbox.sync_failed();
            return Err(e);
        }
        let mut inner = self.lock();
        inner.outbox.end_flush(covered)?;
        inner.outbox.maybe_compact()
    }

    async fn settle_deliveries(&self, deliveries: Vec<Delivery>) -> Result<(), StoreError> {
        let file = {
            let mut inner = self.lock();
            inner.outbox.settle(deliveries)?;
            inner.outbox.handle()?
        };
        sync(file).await
    }

    async fn deliveries(
        &self,
        status: DeliveryStatus,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        Ok(self.lock().outbox.list(status, limit))
    }

    async fn retry_delivery(
        &self,
        id: &str,
        now: jiff::Timestamp,
    ) -> Result<Option<Delivery>, StoreError> {
        self.lock().outbox.retry(id, now)
    }

    async fn disable_channel(&self, channel: &str, reason: &str) -> Result<(), StoreError> {
        self.lock().outbox.disable(channel, reason)
    }

    async fn disabled_channels(
        &self,
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        Ok(self.lock().outbox.disabled.clone())
    }

    async fn active_rules(&self) -> Result<Option<String>, StoreError> {
        Ok(self.rule_versions().active().map(str::to_owned))
    }

    async fn rules_history(&self) -> Result<Vec<Activation>, StoreError> {
        Ok(self.rule_versions().history())
    }

    async fn rules_source(&self, version: &str) -> Result<Option<String>, StoreError> {
        Ok(self.rule_versions().source(version).map(str::to_owned))
    }

    async fn activate_rules(&self, activation: Activation, source: &str) -> Result<(), StoreError> {
        self.rule_versions().activate(activation, source)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
