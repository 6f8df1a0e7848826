//! The Redis store: sorted sets are the live leaderboards; member states,
//! idempotency records, ledgers and the event log (a stream) sit beside them
//! under one hash tag.
//!
//! Applying events is an optimistic transaction: WATCH the records and the
//! member states an event touches, read them, run the engine in process,
//! then MULTI/EXEC every write at once. When another instance wrote one of
//! those keys in between, EXEC aborts and the whole step runs again, so two
//! instances can never double-count, lose an award or exceed a cap.

use std::collections::hash_map;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use deadpool_redis::redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use deadpool_redis::redis::{self, AsyncCommands, Value};
use engagement_core::{
    BoardKey, Bucket, CommunityId, Effects, Event, EventId, MemberId, MemberState, Outcome,
    Profile, RuleSet, Status, Stepped, answer, members_touched, step,
};
use pool::{Connection, Pool};

use super::aliases::AliasRefused;
use super::derived::Derived;
use super::keys::Keys;
use super::listing::{Listing, Special};
use super::retention::Retention;
use super::{
    Entry, LEDGER_KEEP, LedgerEntry, LogEntry, ManualGrant, Page, ReplaySummary, Standing, Store,
    StoreError, ledger_lines,
};

const BOARD_SCRIPT: &str = include_str!("board.lua");
/// Sent by hash, and by body only when Redis does not know it yet.
static WINDOW_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(include_str!("window.lua")));
const SHIFT: f64 = 1_073_741_824.0;
/// Attempts of one optimistic transaction before answering 503.
const MAX_ATTEMPTS: u32 = 200;
/// Local lock stripes: events of the same members in one instance queue here
/// instead of aborting each other's transactions in Redis.
const STRIPES: usize = 256;
/// A request over this many stripes queues for its turn first.
const WIDE: usize = 16;
/// Multiplexed connections shared by reads.
const READERS: usize = 4;
/// How long readers trust the generation they last read.
const GENERATION_CACHE: Duration = Duration::from_secs(1);
/// Longest a store operation may take before it counts as unavailable.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// How to reach Redis and lay out keys.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub url: String,
    pub prefix: String,
    /// Days a day or week bucket is kept after it ends.
    pub retention_days: u32,
    pub pool_size: usize,
}

#[derive(Clone)]
pub struct RedisStore {
    pool: Pool,
    keys: Keys,
    retention_days: u32,
    stripes: std::sync::Arc<Vec<tokio::sync::Mutex<()>>>,
    /// Requests touching many members queue here first, in arrival order:
    /// each would take most stripes anyway, and without a queue they
    /// overtake each other stripe by stripe and some wait for seconds.
    wide: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// The live generation and when it was read.
    generation: std::sync::Arc<std::sync::Mutex<(u64, Option<Instant>)>>,
    /// The listing, read at most once a second per generation: a visibility
    /// change shows on other instances within that second.
    listing: std::sync::Arc<std::sync::Mutex<Option<(u64, Instant, Listing)>>>,
    /// Member states last read or written, found by their JSON.
    states: std::sync::Arc<states::ParsedStates>,
    client: redis::Client,
    readers: std::sync::Arc<Vec<tokio::sync::OnceCell<ConnectionManager>>>,
}

/// Which generation a write goes to: the live one (checked under WATCH and
/// logged), or one being rebuilt beside it by a replay (not logged again).
#[derive(Debug, Clone, Copy)]
enum Target {
    Live,
    Rebuild(u64),
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// Runs one optimistic transaction (`Ok(None)` = conflict) until it commits.
macro_rules! optimistic {
    ($store:expr, $conn:ident => $attempt:expr) => {{
        let mut $conn = $store.conn().await?;
        let mut outcome = Err(unavailable(
            "too many concurrent writers on the same members; retry",
        ));
        for attempt in 0..MAX_ATTEMPTS {
            match $attempt.await {
                Ok(Some(done)) => {
                    outcome = Ok(done);
                    break;
                }
                Ok(None) => {
                    // Another writer won: back off a random while, growing.
                    let cap = 50u64 << attempt.min(6);
                    tokio::time::sleep(Duration::from_micros(rand::random_range(0..cap))).await;
                    continue;
                }
                Err(e) => {
                    // Leave no WATCH behind on a connection going back to the pool.
                    let _: Result<(), _> = redis::cmd("UNWATCH").query_async(&mut $conn).await;
                    outcome = Err(e);
                    break;
                }
            }
        }
        outcome
    }};
}

// After `optimistic!`, which it uses.
mod links;
mod pool;
mod states;

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl RedisStore {
    /// Builds the pool; connections are made on first use, so a Redis that
    /// is down at start makes requests answer 503 until it is back.
    pub fn connect(settings: &RedisSettings) -> Result<RedisStore, StoreError> {
        let pool = Pool::builder(pool::Manager::new(&settings.url).map_err(unavailable)?)
            .max_size(settings.pool_size.max(1))
            .wait_timeout(Some(Duration::from_secs(2)))
            .create_timeout(Some(Duration::from_secs(2)))
            .recycle_timeout(Some(Duration::from_secs(2)))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(unavailable)?;
        Ok(RedisStore {
            pool,
            keys: Keys::new(&settings.prefix),
            retention_days: settings.retention_days,
            stripes: std::sync::Arc::new(
                (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            ),
            generation: std::sync::Arc::new(std::sync::Mutex::new((0, None))),
            listing: std::sync::Arc::new(std::sync::Mutex::new(None)),
            wide: std::sync::Arc::new(tokio::sync::Mutex::new(())),
            states: std::sync::Arc::default(),
            client: redis::Client::open(settings.url.as_str()).map_err(unavailable)?,
            readers: std::sync::Arc::new((0..READERS).map(|_| Default::default()).collect()),
        })
    }

    fn remember_generation(&self, generation: u64) {
        *self
            .generation
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = (generation, Some(Instant::now()));
    }

    /// The live generation of derived state. Readers may use a value up to
    /// a second old (the previous generation stays readable for a while
    /// after a switch); writers check it again under WATCH.
    async fn live_generation(
        &self,
        conn: &mut (impl ConnectionLike + Send + Sync),
    ) -> Result<u64, StoreError> {
        let cached = *self
            .generation
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let (generation, Some(at)) = cached
            && at.elapsed() < GENERATION_CACHE
        {
            return Ok(generation);
        }
        let generation: Option<u64> = conn
            .get(self.keys.generation())
            .await
            .map_err(unavailable)?;
        let generation = generation.unwrap_or(0);
        self.remember_generation(generation);
        Ok(generation)
    }

    /// Keys of the live generation.
    async fn live_keys(
        &self,
        conn: &mut (impl ConnectionLike + Send + Sync),
    ) -> Result<Keys, StoreError> {
        Ok(self.keys.at(self.live_generation(conn).await?))
    }

    async fn conn(&self) -> Result<Connection, StoreError> {
        self.pool.get().await.map_err(unavailable)
    }

    /// A connection for reads. Reads need no connection of their own (no
    /// WATCH), so they share a few multiplexed ones: concurrent reads go out
    /// together, and nothing is checked out of the pool, which costs a round
    /// trip each time. Each thread keeps to one of them, connected from that
    /// thread on first use and reconnected after a failure.
    async fn reader(&self) -> Result<ConnectionManager, StoreError> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        let slot = SLOT.with(|s| *s) % self.readers.len();
        self.readers[slot]
            .get_or_try_init(|| {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(2)))
                    .set_response_timeout(Some(OPERATION_TIMEOUT))
                    // Back within half a second of Redis.
                    .set_max_delay(Duration::from_millis(500));
                ConnectionManager::new_with_config(self.client.clone(), config)
            })
            .await
            .cloned()
            .map_err(unavailable)
    }

    /// Runs an operation with a deadline, so a hung Redis answers 503.
    async fn timed<T>(
        &self,
        op: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(OPERATION_TIMEOUT, op)
            .await
            .unwrap_or_else(|_| Err(unavailable("redis did not answer in time")))
    }

    /// In one round trip: WATCH `keys` and read them.
    async fn watch_and_get(
        &self,
        conn: &mut Connection,
        keys: &[String],
    ) -> Result<Vec<Option<String>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let (values,): (Vec<Option<String>>,) = redis::pipe()
            .cmd("WATCH")
            .arg(keys)
            .ignore()
            .cmd("MGET")
            .arg(keys)
            .query_async(conn)
            .await
            .map_err(unavailable)?;
        Ok(values)
    }

    /// For a write: the keys of the target generation with `keys(generation)`
    /// watched and read in one round trip. For the live generation the
    /// generation pointer is watched too; `None` when it moved (a replay
    /// switched), after which the caller starts again.
    async fn watch_target(
        &self,
        conn: &mut Connection,
        target: Target,
        keys_of: impl Fn(&Keys) -> Vec<String>,
    ) -> Result<Option<(Keys, Vec<Option<String>>)>, StoreError> {
        let generation = match target {
            Target::Rebuild(generation) => {
                let keys = self.keys.at(generation);
                let values = self.watch_and_get(conn, &keys_of(&keys)).await?;
                return Ok(Some((keys, values)));
            }
            Target::Live => self.live_generation(conn).await?,
        };
        let keys = self.keys.at(generation);
        let wanted = keys_of(&keys);
        let pointer = self.keys.generation();
        let (live, values): (Option<u64>, Vec<Option<String>>) = redis::pipe()
            .cmd("WATCH")
            .arg(&pointer)
            .arg(&wanted)
            .ignore()
            .get(&pointer)
            .cmd("MGET")
            .arg(&wanted)
            .query_async(conn)
            .await
            .map_err(unavailable)?;
        let live = live.unwrap_or(0);
        if live != generation {
            self.remember_generation(live);
            redis::cmd("UNWATCH")
                .query_async::<()>(conn)
                .await
                .map_err(unavailable)?;
            return Ok(None);
        }
        Ok(Some((keys, values)))
    }

    async fn try_ingest(
        &self,
        conn: &mut Connection,
        rules: &RuleSet,
        events: &[Event],
        target: Target,
    ) -> Result<Option<Vec<Outcome>>, StoreError> {
        // Records of the events and of the events they revoke.
        let mut seen: HashSet<&EventId> = HashSet::new();
        let ids: Vec<&EventId> = events
            .iter()
            .flat_map(|e| std::iter::once(&e.id).chain(e.revokes.as_ref()))
            .filter(|id| seen.insert(id))
            .collect();
        // Without revocations the members touched are known before any
        // record is read, and are watched and read in the same round trip.
        let known: Option<Vec<MemberId>> = events
            .iter()
            .all(|e| e.revokes.is_none())
            .then(|| touched(events, |_| None));
        let Some((keys, mut raw)) = self
            .watch_target(conn, target, |keys| {
                let records = ids.iter().map(|id| keys.event(id));
                let members = known.iter().flatten().map(|m| keys.member(m));
                records.chain(members).collect()
            })
            .await?
        else {
            return Ok(None);
        };
        let raw_states = raw.split_off(ids.len());
        let mut records: HashMap<EventId, Outcome> = HashMap::new();
        for (id, raw) in ids.iter().zip(raw) {
            if let Some(raw) = raw {
                records.insert((*id).clone(), serde_json::from_str(&raw).map_err(corrupt)?);
            }
        }

        let (touched, raw_states) = match known {
            Some(touched) => (touched, raw_states),
            None => {
                let touched = touched(events, |id| records.get(id).and_then(Outcome::revocable));
                let member_keys: Vec<String> = touched.iter().map(|m| keys.member(m)).collect();
                let raw_states = self.watch_and_get(conn, &member_keys).await?;
                (touched, raw_states)
            }
        };
        let mut states: HashMap<MemberId, MemberState> = HashMap::new();
        for (m, raw) in touched.iter().zip(raw_states) {
            let state = match raw {
                Some(raw) => self.states.take(&keys.member(m), &raw)?,
                None => MemberState::default(),
            };
            states.insert(m.clone(), state);
        }
        let names_before: HashMap<MemberId, Option<String>> = states
            .iter()
            .map(|(m, s)| (m.clone(), s.profile.name.clone()))
            .collect();

        let mut outcomes = Vec::with_capacity(events.len());
        let mut changed: Vec<EventId> = Vec::new();
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut changes = ScoreChanges::default();
        // Each board's key and expiry, worked out once per request.
        let mut boards: HashMap<BoardAt, (Arc<str>, i64)> = HashMap::new();
        for event in events {
            let stepped = step(rules, &mut states, &mut records, event);
            let outcome = answer(&records, event, stepped);
            let Stepped::Recorded { revoked, status } = stepped else {
                outcomes.push(outcome);
                continue;
            };
            if let (Status::Applied, Some(c)) = (status, &event.community) {
                pipe.sadd(keys.communities(), c.as_str()).ignore();
            }
            if let (true, Some(x)) = (revoked, &event.revokes) {
                changed.push(x.clone());
            }
            for inc in outcome.increments(rules) {
                let board = rules.leaderboards.iter().position(|b| *b.id == *inc.board);
                let (key, expire_at) = boards
                    .entry((board, inc.community.cloned(), inc.bucket))
                    .or_insert_with(|| {
                        let key = keys.board(&BoardKey {
                            board: inc.board.into(),
                            community: inc.community.cloned(),
                            bucket: inc.bucket,
                        });
                        (key.into(), self.expire_at(&inc.bucket))
                    });
                changes.add(key.clone(), inc.member, inc.delta, *expire_at);
            }
            for (member, line) in ledger_lines(rules, event, &outcome) {
                let key = keys.ledger(&member);
                pipe.lpush(&key, serde_json::to_string(&line).map_err(corrupt)?)
                    .ignore();
                pipe.ltrim(&key, 0, LEDGER_KEEP as isize - 1).ignore();
            }
            // A rebuild derives state from events already in the log.
            if let Target::Live = target {
                let entry = LogEntry::Event {
                    event: event.clone(),
                };
                pipe.xadd(
                    self.keys.log(),
                    "*",
                    &[("entry", serde_json::to_string(&entry).map_err(corrupt)?)],
                )
                .ignore();
            }
            changed.push(event.id.clone());
            outcomes.push(outcome);
        }
        for id in changed.iter().collect::<HashSet<_>>() {
            if let Some(record) = records.get(id) {
                pipe.set(
                    keys.event(id),
                    serde_json::to_string(record).map_err(corrupt)?,
                )
                .ignore();
            }
        }
        for (member, state) in states {
            if let Some(name) = &state.profile.name
                && names_before.get(&member) != Some(&state.profile.name)
            {
                pipe.hset(keys.names(), member.as_str(), name).ignore();
            }
            let key = keys.member(&member);
            let json = self.states.write(key.clone(), state)?;
            pipe.set(key, json).ignore();
        }
        if let Some((board_keys, board_args)) = changes.script_input(keys.seq()) {
            pipe.cmd("EVAL")
                .arg(BOARD_SCRIPT)
                .arg(board_keys.len())
                .arg(&board_keys)
                .arg(&board_args)
                .ignore();
        }
        let committed: Option<Value> = pipe.query_async(conn).await.map_err(unavailable)?;
        Ok(committed.map(|_| outcomes))
    }

    /// When a bucket's key may go (Unix seconds; 0: never).
    fn expire_at(&self, bucket: &engagement_core::Bucket) -> i64 {
        let retention = Retention {
            days: self.retention_days,
        };
        retention.expires_at(bucket).map_or(0, |t| t.as_second())
    }

    /// Rewrites a member's state under WATCH; `entry` returns `None` to write nothing.
    async fn update_member(
        &self,
        member: &MemberId,
        entry: impl Fn(&MemberState) -> Option<LogEntry> + Send + Sync,
    ) -> Result<bool, StoreError> {
        optimistic!(self, conn => self.try_update_member(&mut conn, member, &entry, Target::Live))
    }

    async fn try_update_member(
        &self,
        conn: &mut Connection,
        member: &MemberId,
        entry: &(impl Fn(&MemberState) -> Option<LogEntry> + Send + Sync),
        target: Target,
    ) -> Result<Option<bool>, StoreError> {
        let Some((keys, raw)) = self
            .watch_target(conn, target, |keys| vec![keys.member(member)])
            .await?
        else {
            return Ok(None);
        };
        let key = keys.member(member);
        {
            let mut state: MemberState = match raw.into_iter().next().flatten() {
                Some(raw) => self.states.take(&key, &raw)?,
                None => MemberState::default(),
            };
            let Some(log) = entry(&state) else {
                redis::cmd("UNWATCH")
                    .query_async::<()>(conn)
                    .await
                    .map_err(unavailable)?;
                return Ok(Some(false));
            };
            let mut pipe = redis::pipe();
            pipe.atomic();
            match &log {
                LogEntry::Profile { profile, .. } => {
                    state.set_profile(profile.clone());
                    let special = Special {
                        visibility: profile.visibility,
                        groups: profile.groups.clone(),
                    };
                    if special.is_plain() {
                        pipe.hdel(keys.special(), member.as_str()).ignore();
                    } else {
                        let json = serde_json::to_string(&special).map_err(corrupt)?;
                        pipe.hset(keys.special(), member.as_str(), json).ignore();
                    }
                    match &profile.name {
                        Some(name) => pipe.hset(keys.names(), member.as_str(), name).ignore(),
                        None => pipe.hdel(keys.names(), member.as_str()).ignore(),
                    };
                }
                LogEntry::Badge { grant, .. } => {
                    state.badges.push(engagement_core::state::HeldBadge {
                        badge: grant.badge.clone().into(),
                        tier: grant.tier,
                        awarded_at: grant.at,
                        reason: grant.reason.clone(),
                    });
                }
                LogEntry::Event { .. } => return Err(corrupt("events are applied by ingest")),
                LogEntry::Aliases { .. } => return Err(corrupt("aliases are set by set_aliases")),
            }
            pipe.set(&key, self.states.write(key.clone(), state)?)
                .ignore();
            if let Target::Live = target {
                pipe.xadd(
                    self.keys.log(),
                    "*",
                    &[("entry", serde_json::to_string(&log).map_err(corrupt)?)],
                )
                .ignore();
            }
            let committed: Option<Value> = pipe.query_async(conn).await.map_err(unavailable)?;
            Ok(committed.map(|_| true))
        }
    }

    /// Raw ranks (0-based, best first) of the unlisted members on a board.
    async fn unlisted_ranks(
        &self,
        conn: &mut (impl ConnectionLike + Send + Sync),
        key: &str,
        listing: &Listing,
    ) -> Result<Vec<u64>, StoreError> {
        let unlisted: Vec<&MemberId> = listing.unlisted().collect();
        if unlisted.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for m in &unlisted {
            pipe.zrevrank(key, m.as_str());
        }
        let ranks: Vec<Option<u64>> = pipe.query_async(conn).await.map_err(unavailable)?;
        let mut ranks: Vec<u64> = ranks.into_iter().flatten().collect();
        ranks.sort_unstable();
        Ok(ranks)
    }

    /// The listed entries of a window, ranked.
    async fn listed_window(
        &self,
        conn: &mut (impl ConnectionLike + Send + Sync),
        key: &str,
        listing: &Listing,
        window: Window<'_>,
    ) -> Result<(u64, Vec<Entry>), StoreError> {
        let Window {
            start,
            limit,
            ahead_listed,
            unlisted_ranks,
            names: window_names,
        } = window;
        // Enough raw rows to fill `limit` listed ones past the unlisted.
        let stop = start + limit.max(1) + unlisted_ranks.len() as u64 - 1;
        let raw: Vec<Value> = WINDOW_SCRIPT
            .key(key)
            .key(window_names)
            .arg(start)
            .arg(stop)
            .invoke_async(conn)
            .await
            .map_err(unavailable)?;
        let mut raw = raw.into_iter();
        let card: u64 = raw
            .next()
            .map(|v| redis::from_redis_value(v).map_err(corrupt))
            .transpose()?
            .unwrap_or(0);
        let mut rows = Vec::new();
        let mut names = Vec::new();
        while let (Some(member), Some(score), Some(name)) = (raw.next(), raw.next(), raw.next()) {
            if rows.len() as u64 == limit {
                break;
            }
            let member: String = redis::from_redis_value(member).map_err(corrupt)?;
            let score: f64 = redis::from_redis_value(score).map_err(corrupt)?;
            let name: Option<String> = redis::from_redis_value(name).map_err(corrupt)?;
            let member = MemberId::parse(member).map_err(corrupt)?;
            if listing.listed(&member) {
                rows.push((member, (score / SHIFT).floor() as i64));
                names.push(name);
            }
        }
        let Some((_, top)) = rows.first() else {
            return Ok((card, Vec::new()));
        };
        // Rank of the first row: one more than the listed members with more points.
        let first_rank = if ahead_listed == 0 {
            1
        } else {
            let above: u64 = conn
                .zcount(key, (*top as f64 + 1.0) * SHIFT, "+inf")
                .await
                .map_err(unavailable)?;
            let unlisted_above = self.unlisted_above(conn, key, listing, *top).await?;
            above - unlisted_above + 1
        };
        let mut out: Vec<Entry> = Vec::with_capacity(rows.len());
        for (i, ((member, points), name)) in rows.into_iter().zip(names).enumerate() {
            let rank = match out.last() {
                None => first_rank,
                Some(prev) if prev.score == points => prev.rank,
                Some(_) => ahead_listed + i as u64 + 1,
            };
            let anonymous = listing.anonymous(&member);
            out.push(Entry {
                rank,
                member: (!anonymous).then_some(member),
                name: if anonymous { None } else { name },
                score: points,
            });
        }
        Ok((card, out))
    }

    /// Up to `limit` listed entries from the `offset`-th listed one on.
    #[allow(clippy::too_many_arguments)]
    async fn listed_from(
        &self,
        conn: &mut (impl ConnectionLike + Send + Sync),
        keys: &Keys,
        key: &str,
        listing: &Listing,
        unlisted_ranks: &[u64],
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<Entry>), StoreError> {
        let window = Window {
            start: raw_start(offset, unlisted_ranks),
            limit,
            ahead_listed: offset,
            unlisted_ranks,
            names: &keys.names(),
        };
        self.listed_window(conn, key, listing, window).await
    }

    async fn unlisted_above(
        &self,
        conn: &mut (impl ConnectionLike + Send + Sync),
        key: &str,
        listing: &Listing,
        points: i64,
    ) -> Result<u64, StoreError> {
        let unlisted: Vec<&str> = listing.unlisted().map(MemberId::as_str).collect();
        if unlisted.is_empty() {
            return Ok(0);
        }
        let scores: Vec<Option<f64>> = redis::cmd("ZMSCORE")
            .arg(key)
            .arg(&unlisted)
            .query_async(conn)
            .await
            .map_err(unavailable)?;
        Ok(scores
            .into_iter()
            .flatten()
            .filter(|s| (s / SHIFT).floor() as i64 > points)
            .count() as u64)
    }

    /// Reads log entries after stream id `after` (exclusive; "-" for all),
    /// calling `each`; returns the last id read (or `after`).
    async fn read_log_after(
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
                let raw: String = item
                    .get("entry")
                    .ok_or_else(|| corrupt(format!("log entry {} has no body", item.id)))?;
                each(&item.id, serde_json::from_str(&raw).map_err(corrupt)?);
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
            let json = serde_json::to_string(outcome).map_err(corrupt)?;
            pipe.add().set(keys.event(id), json).ignore();
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
        if !derived.communities.is_empty() {
            let communities: Vec<&str> = derived.communities.iter().map(|c| c.as_str()).collect();
            pipe.add().sadd(keys.communities(), communities).ignore();
        }
        pipe.add().set(keys.seq(), seq).ignore();
        pipe.flush(conn).await
    }
}

/// Every member whose state applying `events` may read or change, each
/// once, in order of first mention; `revoked` finds the stored effects of a
/// revoked event.
fn touched<'r>(
    events: &[Event],
    revoked: impl Fn(&EventId) -> Option<&'r Effects>,
) -> Vec<MemberId> {
    let mut out: Vec<MemberId> = Vec::new();
    let mut seen: HashSet<MemberId> = HashSet::new();
    for e in events {
        let revoked = e.revokes.as_ref().and_then(&revoked);
        for m in members_touched(e, revoked) {
            if seen.insert(m.clone()) {
                out.push(m);
            }
        }
    }
    out
}

/// A leaderboard bucket: the board's place in the rules, scope and bucket.
type BoardAt = (Option<usize>, Option<CommunityId>, Bucket);

/// Score changes of one transaction, summed per board and member. Applying
/// the sums in the order of each pair's last change leaves the same scores,
/// and the same first-to-reach order among ties, as applying every change.
#[derive(Default)]
struct ScoreChanges {
    index: HashMap<(Arc<str>, MemberId), usize>,
    /// Board key, member, summed delta, expiry, order of the last change.
    rows: Vec<(Arc<str>, MemberId, i64, i64, usize)>,
    changes: usize,
}

impl ScoreChanges {
    fn add(&mut self, key: Arc<str>, member: &MemberId, delta: i64, expire_at: i64) {
        self.changes += 1;
        match self.index.entry((key.clone(), member.clone())) {
            hash_map::Entry::Occupied(i) => {
                let row = &mut self.rows[*i.get()];
                row.2 += delta;
                row.4 = self.changes;
            }
            hash_map::Entry::Vacant(slot) => {
                slot.insert(self.rows.len());
                self.rows
                    .push((key, member.clone(), delta, expire_at, self.changes));
            }
        }
    }

    /// KEYS and ARGV of `board.lua`, or `None` when nothing changed.
    fn script_input(mut self, seq_key: String) -> Option<(Vec<String>, Vec<String>)> {
        if self.rows.is_empty() {
            return None;
        }
        // Order of the last change first; then grouped by key, each key
        // where it first comes, each row keeping its order.
        self.rows.sort_by_key(|row| row.4);
        let mut groups: Vec<(Arc<str>, i64, Vec<usize>)> = Vec::new();
        let mut group_of: HashMap<Arc<str>, usize> = HashMap::new();
        for (i, (key, _, _, expire_at, _)) in self.rows.iter().enumerate() {
            let g = *group_of.entry(key.clone()).or_insert_with(|| {
                groups.push((key.clone(), *expire_at, Vec::new()));
                groups.len() - 1
            });
            groups[g].2.push(i);
        }
        let mut keys = Vec::with_capacity(groups.len() + 1);
        let mut args = Vec::with_capacity(1 + groups.len() * 2 + self.rows.len() * 3);
        keys.push(seq_key);
        args.push(self.rows.len().to_string());
        for (key, expire_at, rows) in groups {
            keys.push(key.to_string());
            args.push(rows.len().to_string());
            args.push(expire_at.to_string());
            for i in rows {
                let (_, member, delta, _, _) = &self.rows[i];
                args.push(member.to_string());
                args.push(delta.to_string());
                args.push((i + 1).to_string());
            }
        }
        Some((keys, args))
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

/// A run of listed entries: from raw index `start` on, at most `limit` of
/// them; `ahead_listed` listed members come before `start`.
struct Window<'a> {
    start: u64,
    limit: u64,
    ahead_listed: u64,
    unlisted_ranks: &'a [u64],
    /// The display-name hash of the generation read.
    names: &'a str,
}

/// Raw start index of the `offset`-th listed member, skipping unlisted ranks.
fn raw_start(offset: u64, unlisted_ranks: &[u64]) -> u64 {
    let mut start = offset;
    for r in unlisted_ranks {
        if *r <= start {
            start += 1;
        }
    }
    start
}

impl Store for RedisStore {
    async fn ingest(&self, rules: &RuleSet, events: &[Event]) -> Result<Vec<Outcome>, StoreError> {
        let mut stripes: Vec<usize> = events
            .iter()
            .flat_map(|e| {
                std::iter::once(&e.actor).chain(e.target.as_ref().and_then(|t| t.author.as_ref()))
            })
            .map(|m| (xxhash_rust::xxh3::xxh3_64(m.as_str().as_bytes()) % STRIPES as u64) as usize)
            .collect();
        stripes.sort_unstable();
        stripes.dedup();
        let wide = if stripes.len() > WIDE {
            Some(self.wide.lock().await)
        } else {
            None
        };
        // Taken in index order, so two requests never wait on each other in a cycle.
        let mut held = Vec::with_capacity(stripes.len());
        for i in stripes {
            held.push(self.stripes[i].lock().await);
        }
        let outcome = self
            .timed(async {
                optimistic!(self, conn => self.try_ingest(&mut conn, rules, events, Target::Live))
            })
            .await;
        drop(held);
        drop(wide);
        outcome
    }

    async fn set_profile(&self, member: &MemberId, profile: Profile) -> Result<(), StoreError> {
        let entry = LogEntry::Profile {
            member: member.clone(),
            profile,
        };
        self.timed(self.update_member(member, |_| Some(entry.clone())))
            .await?;
        // This instance shows the change at once; others within a second.
        *self.listing.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(())
    }

    async fn grant_badge(&self, member: &MemberId, grant: ManualGrant) -> Result<bool, StoreError> {
        let entry = LogEntry::Badge {
            member: member.clone(),
            grant: grant.clone(),
        };
        let held = |s: &MemberState| {
            s.badges
                .iter()
                .any(|b| b.badge.is(&grant.badge) && b.tier == grant.tier)
        };
        self.timed(self.update_member(member, |s| (!held(s)).then(|| entry.clone())))
            .await
    }

    async fn member(&self, member: &MemberId) -> Result<Option<MemberState>, StoreError> {
        self.timed(async {
            let mut conn = self.reader().await?;
            let keys = self.live_keys(&mut conn).await?;
            let key = keys.member(member);
            let raw: Option<String> = conn.get(&key).await.map_err(unavailable)?;
            raw.map(|r| self.states.read(&key, &r)).transpose()
        })
        .await
    }

    async fn ledger(
        &self,
        member: &MemberId,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        self.timed(async {
            let mut conn = self.reader().await?;
            let keys = self.live_keys(&mut conn).await?;
            let raw: Vec<String> = conn
                .lrange(keys.ledger(member), 0, limit as isize - 1)
                .await
                .map_err(unavailable)?;
            raw.iter()
                .map(|r| serde_json::from_str(r).map_err(corrupt))
                .collect()
        })
        .await
    }

    async fn page(
        &self,
        key: &BoardKey,
        listing: &Listing,
        offset: u64,
        limit: u64,
    ) -> Result<Page, StoreError> {
        self.timed(async {
            let mut conn = self.reader().await?;
            let keys = self.live_keys(&mut conn).await?;
            let key = keys.board(key);
            let ranks = self.unlisted_ranks(&mut conn, &key, listing).await?;
            let (card, entries) = self
                .listed_from(&mut conn, &keys, &key, listing, &ranks, offset, limit)
                .await?;
            Ok(Page {
                total: card - ranks.len() as u64,
                entries,
            })
        })
        .await
    }

    async fn standing(
        &self,
        key: &BoardKey,
        listing: &Listing,
        member: &MemberId,
        radius: u64,
    ) -> Result<Standing, StoreError> {
        self.timed(async {
            let mut conn = self.reader().await?;
            let keys = self.live_keys(&mut conn).await?;
            let key = keys.board(key);
            let ranks = self.unlisted_ranks(&mut conn, &key, listing).await?;
            let (card, raw_rank): (u64, Option<u64>) = redis::pipe()
                .zcard(&key)
                .zrevrank(&key, member.as_str())
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            let total = card - ranks.len() as u64;
            let (Some(raw_rank), true) = (raw_rank, listing.listed(member)) else {
                return Ok(Standing {
                    rank: None,
                    score: 0,
                    total,
                    entries: Vec::new(),
                });
            };
            let position = raw_rank - ranks.iter().filter(|r| **r < raw_rank).count() as u64;
            let offset = position.saturating_sub(radius);
            let limit = position - offset + radius + 1;
            let (_, entries) = self
                .listed_from(&mut conn, &keys, &key, listing, &ranks, offset, limit)
                .await?;
            let me = entries.get((position - offset) as usize);
            Ok(Standing {
                rank: me.map(|e| e.rank),
                score: me.map_or(0, |e| e.score),
                total,
                entries,
            })
        })
        .await
    }

    async fn communities(&self) -> Result<Vec<CommunityId>, StoreError> {
        self.timed(async {
            let mut conn = self.reader().await?;
            let keys = self.live_keys(&mut conn).await?;
            let raw: Vec<String> = conn
                .smembers(keys.communities())
                .await
                .map_err(unavailable)?;
            let mut out = raw
                .into_iter()
                .map(|c| CommunityId::parse(c).map_err(corrupt))
                .collect::<Result<Vec<_>, _>>()?;
            out.sort_unstable();
            Ok(out)
        })
        .await
    }

    async fn listing(&self) -> Result<Listing, StoreError> {
        self.timed(async {
            let mut conn = self.reader().await?;
            let generation = self.live_generation(&mut conn).await?;
            if let Some((g, at, listing)) = &*self.listing.lock().unwrap_or_else(|p| p.into_inner())
                && *g == generation
                && at.elapsed() < GENERATION_CACHE
            {
                return Ok(listing.clone());
            }
            let raw: HashMap<String, String> = conn
                .hgetall(self.keys.at(generation).special())
                .await
                .map_err(unavailable)?;
            let mut listing = Listing::default();
            for (member, json) in raw {
                let member = MemberId::parse(member).map_err(corrupt)?;
                listing
                    .special
                    .insert(member, serde_json::from_str(&json).map_err(corrupt)?);
            }
            *self.listing.lock().unwrap_or_else(|p| p.into_inner()) =
                Some((generation, Instant::now(), listing.clone()));
            Ok(listing)
        })
        .await
    }

    // Linked identities and record lookups: see `links.rs`.
    async fn set_aliases(
        &self,
        member: &MemberId,
        aliases: Vec<MemberId>,
    ) -> Result<Result<(), AliasRefused>, StoreError> {
        self.link_aliases(member, &aliases).await
    }

    async fn resolve_aliases(&self, ids: &[MemberId]) -> Result<Vec<Option<MemberId>>, StoreError> {
        self.alias_owners(ids).await
    }

    async fn aliases(&self, member: &MemberId) -> Result<Vec<MemberId>, StoreError> {
        self.aliases_of(member).await
    }

    async fn outcomes(&self, ids: &[EventId]) -> Result<Vec<Option<Outcome>>, StoreError> {
        self.records(ids).await
    }

    async fn export(&self) -> Result<Vec<LogEntry>, StoreError> {
        let mut conn = self.conn().await?;
        let mut out = Vec::new();
        let mut from = "-".to_owned();
        loop {
            let reply: redis::streams::StreamRangeReply = conn
                .xrange_count(self.keys.log(), &from, "+", 10_000)
                .await
                .map_err(unavailable)?;
            let Some(last) = reply.ids.last().map(|i| i.id.clone()) else {
                return Ok(out);
            };
            for item in &reply.ids {
                let raw: String = item
                    .get("entry")
                    .ok_or_else(|| corrupt(format!("log entry {} has no body", item.id)))?;
                out.push(serde_json::from_str(&raw).map_err(corrupt)?);
            }
            from = format!("({last}");
        }
    }

    async fn replay(&self, rules: &RuleSet) -> Result<ReplaySummary, StoreError> {
        let mut conn = self.conn().await?;
        let live: Option<u64> = conn
            .get(self.keys.generation())
            .await
            .map_err(unavailable)?;
        let live = live.unwrap_or(0);
        let (old, next) = (self.keys.at(live), self.keys.at(live + 1));
        // Leftovers of an interrupted replay.
        self.delete_generation(&mut conn, &next).await?;
        let mut derived = Derived::deferred();
        let mut last = self
            .read_log_after(&mut conn, "-", |_, entry| {
                derived.apply(rules, &entry);
            })
            .await?;
        self.write_generation(&mut conn, &next, &derived).await?;
        let mut summary = ReplaySummary {
            events: derived.memory.events_seen(),
            members: derived.memory.members.len(),
        };
        drop(derived);
        // Catch up with what arrived while building, then switch once nothing
        // new came in between (WATCH on the log makes the switch abort otherwise).
        let target = Target::Rebuild(live + 1);
        for _ in 0..MAX_ATTEMPTS {
            redis::cmd("WATCH")
                .arg(self.keys.log())
                .query_async::<()>(&mut conn)
                .await
                .map_err(unavailable)?;
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
                        optimistic!(self, c => self.try_update_member(&mut c, member, &again, target))?;
                    }
                }
            }
            last = newest;
        }
        Err(unavailable(
            "the log kept growing faster than the replay could catch up; retry",
        ))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.timed(async {
            let mut conn = self.conn().await?;
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_skip_over_unlisted_members_ranked_before_them() {
        assert_eq!(raw_start(0, &[]), 0);
        assert_eq!(raw_start(0, &[0]), 1);
        assert_eq!(raw_start(2, &[0, 5]), 3);
        assert_eq!(raw_start(2, &[0, 1, 2]), 5);
        assert_eq!(raw_start(0, &[3]), 0);
    }
}
