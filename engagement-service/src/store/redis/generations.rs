//! The event log and the generations of derived state built from it:
//! export reads the log back; replay rebuilds a generation beside the live
//! one, catches up with what arrived meanwhile and then switches to it.

use std::time::Duration;

use deadpool_redis::redis::{self, AsyncCommands, Value};
use engagement_core::fair_play::Pairs;
use engagement_core::insights::Insights;
use engagement_core::{MemberState, Period, RuleSet};

use super::super::compact;
use super::super::derived::Derived;
use super::super::keys::Keys;
use super::super::retention::Retention;
use super::super::{LogEntry, ReplaySummary};
use super::archive::{Archive, read_archives};
use super::fair_play::pack;
use super::insights::{SLOTS, flow_member, keeps_points, slot, stored_expiry};
use super::pool::Connection;
use super::{
    GENERATION_CACHE, MAX_ATTEMPTS, RedisStore, SHIFT, StoreError, Target, corrupt, unavailable,
};

impl RedisStore {
    pub(super) async fn read_log(&self) -> Result<Vec<LogEntry>, StoreError> {
        let mut conn = self.conn().await?;
        let mut out = Vec::new();
        let archives = self.archives(&mut conn).await?;
        let mut from = match archives.last() {
            Some(newest) => format!("({}", newest.last),
            None => "-".to_owned(),
        };
        let mut chunks = read_archives(archives.clone());
        while let Some(chunk) = chunks.recv().await {
            out.extend(chunk?);
        }
        self.unchanged_archives(&mut conn, &archives).await?;
        loop {
            let reply: redis::streams::StreamRangeReply = conn
                .xrange_count(self.keys.log(), &from, "+", 10_000)
                .await
                .map_err(unavailable)?;
            let Some(last) = reply.ids.last().map(|i| i.id.clone()) else {
                self.unchanged_archives(&mut conn, &archives).await?;
                return Ok(out);
            };
            for item in &reply.ids {
                let raw: Vec<u8> = item
                    .get("entry")
                    .ok_or_else(|| corrupt(format!("log entry {} has no body", item.id)))?;
                out.push(compact::read_entry(&raw).map_err(corrupt)?);
            }
            from = format!("({last}");
        }
    }

    pub(super) async fn rebuild(&self, rules: &RuleSet) -> Result<ReplaySummary, StoreError> {
        let mut conn = self.conn().await?;
        let live: Option<u64> = conn
            .get(self.keys.generation())
            .await
            .map_err(unavailable)?;
        let live = live.unwrap_or(0);
        let (old, next) = (self.keys.at(live), self.keys.at(live + 1));
        // Leftovers of an interrupted replay.
        self.delete_generation(&mut conn, &next).await?;
        let mut derived = Derived::deferred(self.insights, self.fair_play);
        // Archived entries first (read and parsed on a thread of their
        // own), then the live log after them.
        let archives = self.archives(&mut conn).await?;
        let after = archives.last().map_or("-".to_owned(), |a| a.last.clone());
        let mut chunks = read_archives(archives.clone());
        while let Some(chunk) = chunks.recv().await {
            for entry in chunk? {
                derived.apply(rules, &entry);
            }
        }
        let mut last = self
            .read_log_after(&mut conn, &after, |_, entry| {
                derived.apply(rules, &entry);
            })
            .await?;
        self.unchanged_archives(&mut conn, &archives).await?;
        self.write_generation(&mut conn, &next, rules, &derived)
            .await?;
        let mut summary = ReplaySummary {
            events: derived.memory.events_seen(),
            members: derived.memory.members.len(),
        };
        drop(derived);
        // Catch up with what arrived while building, then switch once nothing
        // new came in between (WATCH on the log makes the switch abort
        // otherwise).
        let target = Target::Rebuild(live + 1);
        for _ in 0..MAX_ATTEMPTS {
            // Nor does it switch to state built under rules no longer in force.
            let (in_force,): (Option<String>,) = redis::pipe()
                .cmd("WATCH")
                .arg(self.keys.log())
                .arg(self.keys.rules_active())
                .ignore()
                .get(self.keys.rules_active())
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            if let Some(in_force) = in_force
                && in_force != rules.version
            {
                redis::cmd("UNWATCH")
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(unavailable)?;
                if let Err(e) = self.delete_generation(&mut conn, &next).await {
                    tracing::warn!(error = %e, "unused generation not deleted");
                }
                return Err(StoreError::RulesChanged { in_force });
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

    /// Reads log entries after stream id `after` (exclusive; "-" for all),
    /// calling `each`; returns the last id read (or `after`).
    pub(super) async fn read_log_after(
        &self,
        conn: &mut Connection,
        after: &str,
        mut each: impl FnMut(&str, LogEntry),
    ) -> Result<String, StoreError> {
        let mut last = after.to_owned();
        loop {
            let from = if last == "-" {
                "-".to_owned()
            } else {
                format!("({last}")
            };
            let reply: redis::streams::StreamRangeReply = conn
                .xrange_count(self.keys.log(), &from, "+", 10_000)
                .await
                .map_err(unavailable)?;
            if reply.ids.is_empty() {
                return Ok(last);
            }
            for item in &reply.ids {
                let raw: Vec<u8> = item
                    .get("entry")
                    .ok_or_else(|| corrupt(format!("log entry {} has no body", item.id)))?;
                each(&item.id, compact::read_entry(&raw).map_err(corrupt)?);
                last.clone_from(&item.id);
            }
        }
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
        conn: &mut Connection,
        keys: &Keys,
        rules: &RuleSet,
        derived: &Derived,
    ) -> Result<(), StoreError> {
        let mut pipe = Chunked::default();
        for (member, state) in &derived.memory.members {
            let json = serde_json::to_string(state).map_err(corrupt)?;
            pipe.add().set(keys.member(member), json).ignore();
            if let Some(name) = &state.profile.name {
                pipe.add()
                    .hset(keys.names(), member.as_str(), name)
                    .ignore();
            }
            pipe.flush_if_full(conn).await?;
        }
        for (id, outcome) in derived.memory.outcomes() {
            pipe.add()
                .set(keys.event(id), compact::record(outcome))
                .ignore();
            pipe.flush_if_full(conn).await?;
        }
        for (member, lines) in &derived.ledger {
            let lines: Vec<String> = lines
                .iter()
                .map(|l| serde_json::to_string(l).map_err(corrupt))
                .collect::<Result<_, _>>()?;
            pipe.add().rpush(keys.ledger(member), lines).ignore();
            pipe.flush_if_full(conn).await?;
        }
        for (member, special) in &derived.listing.special {
            let json = serde_json::to_string(special).map_err(corrupt)?;
            pipe.add()
                .hset(keys.special(), member.as_str(), json)
                .ignore();
        }
        // Scores in rank order: a lower sequence number keeps a tie's first-comer ahead.
        let mut seq: u64 = 0;
        for key in derived.memory.boards.keys() {
            let board = keys.board(&key);
            let expire_at = self.expire_at(&key.bucket);
            for row in derived.memory.boards.ranked(&key, |_| true) {
                seq += 1;
                let score = row.score as f64 * SHIFT + (SHIFT - 1.0 - (seq % SHIFT as u64) as f64);
                pipe.add().zadd(&board, row.member.as_str(), score).ignore();
                pipe.flush_if_full(conn).await?;
            }
            if expire_at > 0 {
                pipe.add().expire_at(&board, expire_at).ignore();
            }
        }
        for key in derived.memory.boards.keys() {
            if let Some(c) = &key.community {
                pipe.add()
                    .sadd(keys.communities(&key.board), c.as_str())
                    .ignore();
                pipe.flush_if_full(conn).await?;
            }
        }
        pipe.add().set(keys.seq(), seq).ignore();
        if let Some(insights) = &derived.memory.insights {
            self.write_insights(&mut pipe, conn, keys, rules, insights)
                .await?;
        }
        if let Some(pairs) = &derived.memory.fair_play {
            self.write_fair_play(&mut pipe, conn, keys, pairs).await?;
        }
        pipe.flush(conn).await
    }

    /// Writes fair-play tallies built in memory into generation `keys`, as
    /// `fair_play.rs` lays them out.
    async fn write_fair_play(
        &self,
        pipe: &mut Chunked,
        conn: &mut Connection,
        keys: &Keys,
        pairs: &Pairs,
    ) -> Result<(), StoreError> {
        for (bucket, rows, gave) in pairs.tallies() {
            let base = keys.fair_play(bucket);
            let (e, g) = (format!("{base}:e"), format!("{base}:g"));
            let rows: Vec<(f64, String)> = (rows.into_iter())
                .map(|(from, to, events, points)| (pack(events, points), keys.pair(from, to)))
                .collect();
            for chunk in rows.chunks(500) {
                pipe.add_entries(chunk.len())
                    .zadd_multiple(&e, chunk)
                    .ignore();
                pipe.flush_if_full(conn).await?;
            }
            let gave: Vec<(i64, &str)> = gave.iter().map(|(m, n)| (*n, m.as_str())).collect();
            for chunk in gave.chunks(500) {
                pipe.add_entries(chunk.len())
                    .zadd_multiple(&g, chunk)
                    .ignore();
                pipe.flush_if_full(conn).await?;
            }
            let at = self.expire_at(bucket);
            if at > 0 {
                pipe.add().expire_at(&e, at).ignore();
                pipe.add().expire_at(&g, at).ignore();
            }
        }
        Ok(())
    }

    /// Writes insights built in memory into generation `keys`: the day and
    /// month buckets, which the others are read from.
    async fn write_insights(
        &self,
        pipe: &mut Chunked,
        conn: &mut Connection,
        keys: &Keys,
        rules: &RuleSet,
        insights: &Insights,
    ) -> Result<(), StoreError> {
        let retention = Retention {
            days: self.retention_days,
        };
        let own_points = keeps_points(rules);
        for (community, bucket, tally) in insights.tallies() {
            if !matches!(bucket.period, Period::Day | Period::Month) {
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
            let expire_at = stored_expiry(retention, bucket, rules.week_starts);
            let mut written = Vec::new();
            for (suffix, fields) in hashes {
                let key = format!("{base}{suffix}");
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
                    pipe.flush_if_full(conn).await?;
                }
                written.push(key);
            }
            if expire_at > 0 {
                for key in written {
                    pipe.add().expire_at(key, expire_at).ignore();
                }
            }
            if let (Period::Month, Some(start), None) = (bucket.period, bucket.start, community) {
                pipe.add()
                    .sadd(keys.insight_months(), start.to_string())
                    .ignore();
            }
            pipe.flush_if_full(conn).await?;
        }
        for community in insights.communities() {
            pipe.add()
                .sadd(keys.insight_communities(), community.as_str())
                .ignore();
        }
        for (id, question) in insights.questions() {
            let json = serde_json::to_string(question).map_err(corrupt)?;
            pipe.add().set(keys.question(id), json).ignore();
            pipe.flush_if_full(conn).await?;
        }
        Ok(())
    }
}

/// A pipeline sent every thousand commands, for bulk writes.
#[derive(Default)]
struct Chunked {
    pipe: redis::Pipeline,
    len: usize,
}

impl Chunked {
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

    async fn flush_if_full(&mut self, conn: &mut Connection) -> Result<(), StoreError> {
        if self.len >= 1000 {
            self.flush(conn).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, conn: &mut Connection) -> Result<(), StoreError> {
        if self.len > 0 {
            self.pipe
                .query_async::<()>(conn)
                .await
                .map_err(unavailable)?;
            self.pipe = redis::Pipeline::new();
            self.len = 0;
        }
        Ok(())
    }
}
