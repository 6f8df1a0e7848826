//! The event log and the generations of derived state built from it:
//! export reads the log back; replay rebuilds a generation beside the live
//! one, catches up with what arrived meanwhile and then switches to it.

use std::collections::BTreeMap;
use std::time::Duration;

use deadpool_redis::redis::{self, AsyncCommands, Value};
use engagement_core::fair_play::Pairs;
use engagement_core::insights::Insights;
use engagement_core::{EventId, Interner, MemberState, Outcome, Period, RuleSet};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::super::compact;
use super::super::derived::Derived;
use super::super::keys::{Keys, record_bucket};
use super::super::retention::Retention;
use super::super::{LogEntry, ReplaySummary};
use super::archive::{Archive, read_archives};
use super::fair_play::{in_sorted_set, pack, shard_key};
use super::insights::{
    SLOTS, STORED, day_shards, flow_member, keeps_points, slot, stored_expiry, tally_key,
};
use super::pool::Connection;
use super::{
    GENERATION_CACHE, MAX_ATTEMPTS, RedisStore, SHIFT, StoreError, Target, corrupt, unavailable,
};

/// Log entries read at once: few enough that decoding them holds the
/// runtime for a millisecond or so, so that a service's worker running a
/// replay keeps answering requests in between (ten times as many made its
/// slowest reads twice as slow, and the replay no faster).
const LOG_CHUNK: usize = 1_000;

/// Entries of the log with their stream ids.
type LogChunk = Vec<(String, LogEntry)>;

/// What reading the whole log hands over: entries, then where it ended
/// (the last live entry's id) and the archives read.
enum Read {
    Chunk(Vec<LogEntry>),
    Done(String, Vec<Archive>),
}

impl RedisStore {
    pub(super) async fn read_log(&self) -> Result<Vec<LogEntry>, StoreError> {
        let mut out = Vec::new();
        self.read_everything(|entry| out.push(entry)).await?;
        Ok(out)
    }

    /// Calls `each` on every entry of the log, oldest first: the archived
    /// ones, then the live log after them. Returns the id of the last live
    /// entry read ("-" for none) and the archives read.
    pub(super) async fn read_everything(
        &self,
        mut each: impl FnMut(LogEntry),
    ) -> Result<(String, Vec<Archive>), StoreError> {
        let mut read = self.everything();
        while let Some(item) = read.recv().await {
            match item? {
                Read::Chunk(chunk) => chunk.into_iter().for_each(&mut each),
                Read::Done(last, archives) => return Ok((last, archives)),
            }
        }
        Err(unavailable("the log reader stopped"))
    }

    /// The whole log in chunks, read and decoded ahead by a task of its own
    /// (archives on a thread of theirs), then where it ended.
    fn everything(&self) -> mpsc::Receiver<Result<Read, StoreError>> {
        let (tx, rx) = mpsc::channel(4);
        let store = self.clone();
        tokio::spawn(async move {
            let read = async {
                let mut ids = Interner::default();
                let mut interned = |mut chunk: Vec<LogEntry>| {
                    chunk.iter_mut().for_each(|e| e.intern(&mut ids));
                    chunk
                };
                // No connection is held while the readers take theirs.
                let archives = store.archives(&mut store.conn().await?).await?;
                let mut last = archives.last().map_or("-".to_owned(), |a| a.last.clone());
                let mut chunks = read_archives(archives.clone());
                while let Some(chunk) = chunks.recv().await {
                    if tx.send(Ok(Read::Chunk(interned(chunk?)))).await.is_err() {
                        return Ok(None);
                    }
                }
                let mut chunks = store.log_chunks(last.clone());
                while let Some(chunk) = chunks.recv().await {
                    let chunk = chunk?;
                    if let Some((newest, _)) = chunk.last() {
                        last.clone_from(newest);
                    }
                    let entries = chunk.into_iter().map(|(_, entry)| entry).collect();
                    if tx.send(Ok(Read::Chunk(interned(entries)))).await.is_err() {
                        return Ok(None);
                    }
                }
                store
                    .unchanged_archives(&mut store.conn().await?, &archives)
                    .await?;
                Ok(Some(Read::Done(last, archives)))
            };
            if let Some(end) = read.await.transpose() {
                let _ = tx.send(end).await;
            }
        });
        rx
    }

    pub(super) async fn rebuild(&self, rules: &RuleSet) -> Result<ReplaySummary, StoreError> {
        let mut conn = self.conn().await?;
        let live: Option<u64> = conn
            .get(self.keys.generation())
            .await
            .map_err(unavailable)?;
        let live = live.unwrap_or(0);
        let (old, next) = (self.keys.at(live), self.keys.at(live + 1));
        // Reading and writing take connections of their own.
        drop(conn);
        let started = std::time::Instant::now();
        // Leftovers of an interrupted replay are deleted while the events
        // are applied: nothing is written to the new generation before.
        let clearing = {
            let (store, next) = (self.clone(), next.clone());
            tokio::spawn(async move {
                let mut conn = store.conn().await?;
                store.delete_generation(&mut conn, &next).await
            })
        };
        // The events are applied on a thread of their own, off the
        // runtime that reads the log ahead and keeps serving meanwhile.
        let mut read = self.everything();
        let (rules_now, insights, fair_play) = (rules.clone(), self.insights, self.fair_play);
        let applying = tokio::task::spawn_blocking(move || {
            // Fair play as the embedded store keeps it: days and months,
            // which a generation holds (weeks are read from days).
            let mut derived = Derived::deferred(false, fair_play);
            if insights {
                // Only the periods a generation holds: the others are
                // read from them; and points only when written.
                let kept = Insights::periods(&STORED).with_points(keeps_points(&rules_now));
                derived.memory.insights = Some(Box::new(kept));
            }
            derived.tally_apart(&rules_now);
            while let Some(item) = read.blocking_recv() {
                match item? {
                    Read::Chunk(chunk) => {
                        for entry in chunk {
                            derived.apply(&rules_now, &entry);
                        }
                    }
                    Read::Done(last, archives) => {
                        derived.tally_together()?;
                        return Ok((derived, last, archives));
                    }
                }
            }
            Err(unavailable("the log reader stopped"))
        });
        let (derived, mut last, archives) = applying.await.map_err(unavailable)??;
        clearing.await.map_err(unavailable)??;
        let applied = started.elapsed();
        tracing::info!(
            events = derived.memory.events_seen(),
            applied_s = applied.as_secs_f64(),
            "replay: log applied, writing generation {}",
            live + 1
        );
        if let Err(e) = self.write_generation(&next, rules, &derived).await {
            // Keys written before the failure have no expiry yet.
            if let Ok(mut conn) = self.conn().await
                && let Err(e) = self.delete_generation(&mut conn, &next).await
            {
                tracing::warn!(error = %e, "unfinished generation not deleted");
            }
            return Err(e);
        }
        self.remember_in_buckets(live + 1);
        let mut summary = ReplaySummary {
            events: derived.memory.events_seen(),
            members: derived.memory.members.len(),
        };
        tracing::info!(
            events = summary.events,
            members = summary.members,
            applied_s = applied.as_secs_f64(),
            written_s = (started.elapsed() - applied).as_secs_f64(),
            "replay: generation {} built",
            live + 1
        );
        // A million events' state takes a second or more to free: not on
        // the way to the switch.
        tokio::task::spawn_blocking(move || drop(derived));
        // Catch up with what arrived while building, then switch once nothing
        // new came in between (WATCH on the log makes the switch abort
        // otherwise).
        let target = Target::Rebuild(live + 1);
        for _ in 0..MAX_ATTEMPTS {
            // A connection per round: the tail is applied on others.
            let mut conn = self.conn().await?;
            // Nor does it switch to state built under rules no longer in
            // force, or after an archive trimmed entries it has not read.
            let (in_force,): (Option<String>,) = redis::pipe()
                .cmd("WATCH")
                .arg(self.keys.log())
                .arg(self.keys.rules_active())
                .arg(self.keys.archives())
                .ignore()
                .get(self.keys.rules_active())
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            let refused = match in_force {
                Some(in_force) if in_force != rules.version => {
                    Some(StoreError::RulesChanged { in_force })
                }
                _ => self.unchanged_archives(&mut conn, &archives).await.err(),
            };
            if let Some(refused) = refused {
                redis::cmd("UNWATCH")
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(unavailable)?;
                if let Err(e) = self.delete_generation(&mut conn, &next).await {
                    tracing::warn!(error = %e, "unused generation not deleted");
                }
                return Err(refused);
            }
            let mut tail = Vec::new();
            let newest = self
                .read_log_after(&mut conn, &last, |_, e| tail.push(e))
                .await?;
            if tail.is_empty() {
                let switched: Option<Value> = redis::pipe()
                    .atomic()
                    .set(self.keys.generation(), live + 1)
                    .ignore()
                    .query_async(&mut conn)
                    .await
                    .map_err(unavailable)?;
                if switched.is_some() {
                    self.remember_generation(live + 1);
                    // Readers may still use the old generation for a moment.
                    let store = self.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(GENERATION_CACHE * 5).await;
                        if let Ok(mut conn) = store.conn().await
                            && let Err(e) = store.delete_generation(&mut conn, &old).await
                        {
                            tracing::warn!(error = %e, "old generation not deleted");
                        }
                    });
                    return Ok(summary);
                }
                continue;
            }
            redis::cmd("UNWATCH")
                .query_async::<()>(&mut conn)
                .await
                .map_err(unavailable)?;
            drop(conn);
            for entry in tail {
                match &entry {
                    LogEntry::Event { event } => {
                        let events = std::slice::from_ref(event);
                        optimistic!(self, c => self.try_ingest(&mut c, rules, events, target))?;
                        summary.events += 1;
                    }
                    change => {
                        let member = match change {
                            LogEntry::Profile { member, .. } | LogEntry::Badge { member, .. } => {
                                member
                            }
                            // Links live outside generations: nothing to rebuild.
                            LogEntry::Event { .. } | LogEntry::Aliases { .. } => continue,
                        };
                        let again = |_: &MemberState| Some(change.clone());
                        optimistic!(self, c => self.try_update_member(&mut c, member, None, &again, &|_| Vec::new(), target))?;
                    }
                }
            }
            last = newest;
        }
        Err(unavailable(
            "the log kept growing faster than the replay could catch up; retry",
        ))
    }

    /// Fails when an archive was written since `read` was listed: it may
    /// have trimmed entries before they were read.
    async fn unchanged_archives(
        &self,
        conn: &mut Connection,
        read: &[Archive],
    ) -> Result<(), StoreError> {
        if self.archives(conn).await? != read {
            return Err(unavailable(
                "the log was archived while it was being read; run the command again",
            ));
        }
        Ok(())
    }

    /// Reads log entries after stream id `after` (exclusive; "-" for all)
    /// on `conn`, calling `each`; returns the last id read (or `after`).
    pub(super) async fn read_log_after(
        &self,
        conn: &mut Connection,
        after: &str,
        mut each: impl FnMut(&str, LogEntry),
    ) -> Result<String, StoreError> {
        let mut last = after.to_owned();
        loop {
            let Some(chunk) = self.log_chunk(conn, &last, "+").await? else {
                return Ok(last);
            };
            for (id, entry) in chunk {
                each(&id, entry);
                last = id;
            }
        }
    }

    /// The entries after `last` ("-" for the first ones) up to `until`
    /// ("+" for the end, `(id` for those before `id`), decoded; `None`
    /// past the end.
    pub(super) async fn log_chunk(
        &self,
        conn: &mut Connection,
        last: &str,
        until: &str,
    ) -> Result<Option<LogChunk>, StoreError> {
        let from = if last == "-" {
            "-".to_owned()
        } else {
            format!("({last}")
        };
        // Each entry as its id and its fields and values in turn: read
        // without building a map per entry, a million times in a replay.
        let reply: Vec<(String, Vec<Vec<u8>>)> = redis::cmd("XRANGE")
            .arg(self.keys.log())
            .arg(&from)
            .arg(until)
            .arg("COUNT")
            .arg(LOG_CHUNK)
            .query_async(conn)
            .await
            .map_err(unavailable)?;
        if reply.is_empty() {
            return Ok(None);
        }
        let mut chunk = Vec::with_capacity(reply.len());
        for (id, fields) in reply {
            let body = (fields.chunks_exact(2))
                .find(|pair| pair[0] == b"entry")
                .map(|pair| &pair[1])
                .ok_or_else(|| corrupt(format!("log entry {id} has no body")))?;
            let entry = compact::read_entry(body).map_err(corrupt)?;
            chunk.push((id, entry));
        }
        Ok(Some(chunk))
    }

    /// The log after `after`, read ahead in chunks by a task of its own.
    fn log_chunks(&self, after: String) -> mpsc::Receiver<Result<LogChunk, StoreError>> {
        let (tx, rx) = mpsc::channel(2);
        let store = self.clone();
        tokio::spawn(async move {
            let read = async {
                let mut conn = store.conn().await?;
                let mut last = after;
                while let Some(chunk) = store.log_chunk(&mut conn, &last, "+").await? {
                    if let Some((newest, _)) = chunk.last() {
                        last.clone_from(newest);
                    }
                    if tx.send(Ok(chunk)).await.is_err() {
                        break;
                    }
                }
                Ok::<(), StoreError>(())
            };
            if let Err(e) = read.await {
                let _ = tx.send(Err(e)).await;
            }
        });
        rx
    }

    /// Deletes every key of one generation.
    async fn delete_generation(
        &self,
        conn: &mut Connection,
        keys: &Keys,
    ) -> Result<(), StoreError> {
        let mut cursor: u64 = 0;
        loop {
            let (next, found): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(keys.pattern())
                .arg("COUNT")
                .arg(1000)
                .query_async(conn)
                .await
                .map_err(unavailable)?;
            if !found.is_empty() {
                redis::cmd("UNLINK")
                    .arg(&found)
                    .query_async::<()>(conn)
                    .await
                    .map_err(unavailable)?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// Writes state built in memory as generation `keys`, in pipelined chunks.
    async fn write_generation(
        &self,
        keys: &Keys,
        rules: &RuleSet,
        derived: &Derived,
    ) -> Result<(), StoreError> {
        let mut pipe = Chunked::new(self.clone());
        for (member, state) in &derived.memory.members {
            let raw = compact::state(state);
            pipe.add().set(keys.member(member), raw).ignore();
            if let Some(name) = &state.profile.name {
                pipe.add()
                    .hset(keys.names(), member.as_str(), name)
                    .ignore();
            }
            pipe.flush_if_full().await?;
        }
        // Records bucket by bucket, a command for each.
        let mut records: Vec<(u64, &EventId, &Outcome)> = (derived.memory.outcomes())
            .map(|(id, outcome)| (record_bucket(id), id, outcome))
            .collect();
        records.sort_unstable_by_key(|(bucket, ..)| *bucket);
        for bucket in records.chunk_by(|a, b| a.0 == b.0) {
            let fields: Vec<(&str, Vec<u8>)> = (bucket.iter())
                .map(|(_, id, outcome)| (id.as_str(), compact::record(outcome)))
                .collect();
            pipe.add_entries(fields.len())
                .hset_multiple(keys.record_bucket(bucket[0].0), &fields)
                .ignore();
            pipe.flush_if_full().await?;
        }
        for (member, lines) in &derived.ledger {
            let lines: Vec<Vec<u8>> = lines.iter().map(compact::ledger_line).collect();
            pipe.add_entries(lines.len())
                .rpush(keys.ledger(member), lines)
                .ignore();
            pipe.flush_if_full().await?;
        }
        for (member, special) in &derived.listing.special {
            let json = serde_json::to_string(special).map_err(corrupt)?;
            pipe.add()
                .hset(keys.special(), member.as_str(), json)
                .ignore();
        }
        // Scores in rank order: a lower sequence number keeps a tie's first-comer ahead.
        let mut seq: u64 = 0;
        // What would go as soon as written, reckoned once for the whole write.
        let now = jiff::Timestamp::now().as_second();
        for key in derived.memory.boards.keys() {
            let board = keys.board(&key);
            let expire_at = self.expire_at(&key.bucket);
            // Built all the same, so that its community is listed below as
            // live ingest lists it; Redis would let the key go at once.
            if gone(expire_at, now) {
                continue;
            }
            let mut rows: Vec<(f64, String)> = Vec::with_capacity(500);
            for row in derived.memory.boards.ranked(&key, |_| true) {
                seq += 1;
                let score = row.score as f64 * SHIFT + (SHIFT - 1.0 - (seq % SHIFT as u64) as f64);
                rows.push((score, row.member.as_str().to_owned()));
                if rows.len() == 500 {
                    pipe.add_entries(rows.len())
                        .zadd_multiple(&board, &rows)
                        .ignore();
                    rows.clear();
                    pipe.flush_if_full().await?;
                }
            }
            if !rows.is_empty() {
                pipe.add_entries(rows.len())
                    .zadd_multiple(&board, &rows)
                    .ignore();
            }
            if expire_at > 0 {
                pipe.expire_at(&board, expire_at);
            }
        }
        for key in derived.memory.boards.keys() {
            if let Some(c) = &key.community {
                pipe.add()
                    .sadd(keys.communities(&key.board), c.as_str())
                    .ignore();
                pipe.flush_if_full().await?;
            }
        }
        pipe.add().set(keys.seq(), seq).ignore();
        pipe.add().set(keys.records_in_buckets(), 1).ignore();
        if let Some(insights) = &derived.memory.insights {
            self.write_insights(&mut pipe, keys, rules, insights, now)
                .await?;
        }
        if let Some(pairs) = &derived.memory.fair_play {
            self.write_fair_play(&mut pipe, keys, rules, pairs, now)
                .await?;
        }
        pipe.finish().await
    }

    /// Writes fair-play tallies built in memory into generation `keys`, as
    /// `fair_play.rs` lays them out.
    async fn write_fair_play(
        &self,
        pipe: &mut Chunked,
        keys: &Keys,
        rules: &RuleSet,
        pairs: &Pairs,
        now: i64,
    ) -> Result<(), StoreError> {
        let retention = Retention {
            days: self.retention_days,
        };
        for (bucket, rows, gave) in pairs.tallies() {
            // A day stays with the week read from it.
            let at = stored_expiry(retention, bucket, rules.week_starts);
            if gone(at, now) {
                continue;
            }
            let base = keys.fair_play(bucket);
            let e = format!("{base}:e");
            let mut strong: Vec<(f64, String)> = Vec::new();
            // Hashes of the weak pairs (`w`) and of the givers (`v`).
            let mut hashes: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
            for (from, to, events, points) in rows {
                let packed = pack(events, points);
                let pair = keys.pair(from, to);
                if in_sorted_set(packed) {
                    // Exact as a score: below 2⁵³ while a pair has fewer than 2²¹ events.
                    strong.push((packed as f64, pair));
                } else if packed > 0 {
                    let shard = shard_key(&base, 'w', bucket.period, &pair);
                    hashes.entry(shard).or_default().push((pair, packed));
                }
            }
            for (giver, n) in gave.iter().filter(|(_, n)| *n > 0) {
                let shard = shard_key(&base, 'v', bucket.period, giver.as_str());
                let row = (giver.as_str().to_owned(), *n);
                hashes.entry(shard).or_default().push(row);
            }
            for chunk in strong.chunks(500) {
                pipe.add_entries(chunk.len())
                    .zadd_multiple(&e, chunk)
                    .ignore();
                pipe.flush_if_full().await?;
            }
            for (hash, fields) in &hashes {
                pipe.add_entries(fields.len())
                    .hset_multiple(hash, fields)
                    .ignore();
                pipe.flush_if_full().await?;
            }
            if at > 0 {
                if !strong.is_empty() {
                    pipe.expire_at(&e, at);
                }
                for hash in hashes.keys() {
                    pipe.expire_at(hash, at);
                }
            }
        }
        Ok(())
    }

    /// Writes insights built in memory into generation `keys`: the day and
    /// month buckets, which the others are read from.
    async fn write_insights(
        &self,
        pipe: &mut Chunked,
        keys: &Keys,
        rules: &RuleSet,
        insights: &Insights,
        now: i64,
    ) -> Result<(), StoreError> {
        let retention = Retention {
            days: self.retention_days,
        };
        let own_points = keeps_points(rules);
        for (community, bucket, tally) in insights.tallies() {
            if !STORED.contains(&bucket.period) {
                continue;
            }
            let base = keys.insights(community, bucket);
            // The counters as BITFIELD keeps them, in their year's string:
            // `rev` 1, then each counter.
            if let Some((year, place)) = slot(bucket) {
                let mut counters: Vec<u8> = 1i64.to_be_bytes().to_vec();
                for n in tally.counts {
                    counters.extend_from_slice(&n.to_be_bytes());
                }
                pipe.add()
                    .setrange(
                        keys.insight_counters(community, year),
                        (place * SLOTS * 8) as isize,
                        counters,
                    )
                    .ignore();
            }
            let expire_at = stored_expiry(retention, bucket, rules.week_starts);
            // The counters stay with their year; the tallies go.
            if gone(expire_at, now) {
                pipe.flush_if_full().await?;
                continue;
            }
            let mut hashes = vec![
                (
                    ":a",
                    (tally.actors.iter())
                        .map(|(m, n)| (m.to_string(), *n))
                        .collect::<Vec<_>>(),
                ),
                (
                    ":h",
                    (tally.holders.iter())
                        .map(|(m, n)| (m.to_string(), *n))
                        .collect(),
                ),
                (
                    ":w",
                    (tally.waits.iter())
                        .map(|(q, n)| (q.to_string(), *n))
                        .collect(),
                ),
                (
                    ":f",
                    (tally.flow.iter())
                        .map(|((from, to), n)| (flow_member(keys, from, to), *n))
                        .collect(),
                ),
            ];
            if own_points {
                hashes.push((
                    ":p",
                    (tally.points.iter())
                        .map(|(m, n)| (m.to_string(), *n))
                        .collect(),
                ));
            }
            let shards = day_shards(community.is_some(), bucket.period);
            let mut written = Vec::new();
            for (suffix, fields) in hashes {
                // The hash of each field: one, or the day's shards.
                let mut spread: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
                for (field, n) in fields {
                    let key = tally_key(&base, suffix, shards, &field);
                    spread.entry(key).or_default().push((field, n));
                }
                for (key, fields) in spread {
                    for chunk in fields.chunks(500) {
                        if suffix == ":p" {
                            let items: Vec<(i64, &str)> =
                                chunk.iter().map(|(m, n)| (*n, m.as_str())).collect();
                            pipe.add_entries(items.len())
                                .zadd_multiple(&key, &items)
                                .ignore();
                        } else {
                            pipe.add_entries(chunk.len())
                                .hset_multiple(&key, chunk)
                                .ignore();
                        }
                        pipe.flush_if_full().await?;
                    }
                    written.push(key);
                }
            }
            if expire_at > 0 {
                for key in written {
                    pipe.expire_at(&key, expire_at);
                }
            }
            if let (Period::Month, Some(start), None) = (bucket.period, bucket.start, community) {
                pipe.add()
                    .sadd(keys.insight_months(), start.to_string())
                    .ignore();
            }
            pipe.flush_if_full().await?;
        }
        for community in insights.communities() {
            pipe.add()
                .sadd(keys.insight_communities(), community.as_str())
                .ignore();
        }
        for (id, question) in insights.questions() {
            let raw = compact::question(question);
            pipe.add().set(keys.question(id), raw).ignore();
            pipe.flush_if_full().await?;
        }
        Ok(())
    }
}

/// Whether a key expiring at `at` (Unix seconds; 0: never) would go as
/// soon as it was written, as of `now`: a generation leaves it out.
fn gone(at: i64, now: i64) -> bool {
    at > 0 && at <= now
}

/// Pipelines of bulk writes, each sent once it holds about a thousand
/// entries, a few at a time on connections of their own while the next is
/// filled; expiries go last, once every key they expire is written.
struct Chunked {
    store: RedisStore,
    pipe: redis::Pipeline,
    len: usize,
    sending: JoinSet<Result<(), StoreError>>,
    expiries: Vec<(String, i64)>,
}

/// Pipelines on their way to Redis at once.
const IN_FLIGHT: usize = 3;

impl Chunked {
    fn new(store: RedisStore) -> Chunked {
        Chunked {
            store,
            pipe: redis::Pipeline::new(),
            len: 0,
            sending: JoinSet::new(),
            expiries: Vec::new(),
        }
    }

    /// The pipeline, to add one command to.
    fn add(&mut self) -> &mut redis::Pipeline {
        self.len += 1;
        &mut self.pipe
    }

    /// The pipeline, to add one command writing `entries` entries to: it
    /// weighs as many commands, so that a pipeline of large writes is sent
    /// before Redis takes long over it.
    fn add_entries(&mut self, entries: usize) -> &mut redis::Pipeline {
        self.len += entries.max(1);
        &mut self.pipe
    }

    /// Expires `key` at `at` (Unix seconds), after everything is written:
    /// an expiry sent before its key exists would do nothing.
    fn expire_at(&mut self, key: &str, at: i64) {
        self.expiries.push((key.to_owned(), at));
    }

    async fn flush_if_full(&mut self) -> Result<(), StoreError> {
        if self.len >= 1000 {
            self.send().await?;
        }
        Ok(())
    }

    /// Sends the pipeline filled so far, once fewer than `IN_FLIGHT` are
    /// on their way.
    async fn send(&mut self) -> Result<(), StoreError> {
        if self.len == 0 {
            return Ok(());
        }
        while self.sending.len() >= IN_FLIGHT {
            self.landed().await?;
        }
        let pipe = std::mem::take(&mut self.pipe);
        self.len = 0;
        let store = self.store.clone();
        self.sending.spawn(async move {
            let mut conn = store.conn().await?;
            pipe.query_async::<()>(&mut conn).await.map_err(unavailable)
        });
        Ok(())
    }

    /// Waits for one pipeline on its way.
    async fn landed(&mut self) -> Result<(), StoreError> {
        match self.sending.join_next().await {
            Some(Ok(sent)) => sent,
            Some(Err(e)) => Err(unavailable(e)),
            None => Ok(()),
        }
    }

    /// Sends the rest and waits for all of it, then sets the expiries.
    async fn finish(mut self) -> Result<(), StoreError> {
        self.drain().await?;
        for (key, at) in std::mem::take(&mut self.expiries) {
            self.add().expire_at(key, at).ignore();
            self.flush_if_full().await?;
        }
        self.drain().await
    }

    /// Sends what is left and waits for everything on its way.
    async fn drain(&mut self) -> Result<(), StoreError> {
        self.send().await?;
        while !self.sending.is_empty() {
            self.landed().await?;
        }
        Ok(())
    }
}
