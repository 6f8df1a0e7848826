//! The Redis store: sorted sets are the live leaderboards; member states,
//! idempotency records, ledgers and the event log (a stream) sit beside them
//! under one hash tag.
//!
//! Applying events is an optimistic transaction: WATCH the records and the
//! member states an event touches, read them, run the engine in process,
//! then MULTI/EXEC every write at once. When another instance wrote one of
//! those keys in between, EXEC aborts and the whole step runs again, so two
//! instances can never double-count, lose an award or exceed a cap.
//!
//! This file holds the store itself, its settings and the `Store` methods;
//! the work is in the modules below: `transaction` (WATCH/MULTI/EXEC and
//! connections), `ingest`, `members`, `boards`, `links` and `generations`
//! (export and replay).

use std::time::{Duration, Instant};

use deadpool_redis::redis::aio::ConnectionLike;
use deadpool_redis::redis::{self, AsyncCommands};
use std::sync::Arc;

pub use archive::{Archive, ArchiveError};
use engagement_core::{
    BoardKey, Bucket, CommunityId, Event, EventId, MemberId, MemberState, Outcome, Profile, Report,
    RuleSet,
};
use pool::Pool;

use super::aliases::AliasRefused;
use super::keys::Keys;
use super::listing::Listing;
use super::{
    Activation, LedgerEntry, LogEntry, ManualGrant, Page, ReplaySummary, Standing, Store,
    StoreError,
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
    /// One `redis://` URL, or the comma-separated nodes of a Redis Cluster.
    pub url: String,
    pub prefix: String,
    /// Days a day or week bucket is kept after it ends.
    pub retention_days: u32,
    pub pool_size: usize,
    /// Whether knowledge-flow insights are kept.
    pub insights: bool,
    /// Whether fair-play tallies are kept.
    pub fair_play: bool,
    /// Replicas that must confirm a write before it is acknowledged
    /// (`WAIT`); 0 acknowledges once the primary has it.
    pub min_replicas: u32,
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
    /// Generations known to hold their records in buckets only
    /// (`Keys::records_in_buckets`).
    in_buckets: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<u64>>>,
    /// The listing, read at most once a second per generation: a visibility
    /// change shows on other instances within that second.
    listing: std::sync::Arc<std::sync::Mutex<Option<(u64, Instant, Listing)>>>,
    /// Member states last read or written, found by their JSON.
    states: std::sync::Arc<states::ParsedStates>,
    backend: pool::Backend,
    /// Replicas that must confirm a write before it is acknowledged.
    min_replicas: u32,
    /// Whether knowledge-flow insights are kept.
    insights: bool,
    /// Whether fair-play tallies are kept.
    fair_play: bool,
    /// The last insights report of each bucket read.
    reports: std::sync::Arc<insights::ReportCache>,
    /// Communities and months already in the insight sets.
    known: std::sync::Arc<insights::Known>,
    readers: std::sync::Arc<Vec<tokio::sync::OnceCell<pool::Link>>>,
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

// First: it defines `optimistic!`, which the modules after it use.
#[macro_use]
mod transaction;

mod archive;
mod boards;
mod fair_play;
mod generations;
mod ingest;
mod insights;
mod links;
mod members;
mod outbox;
mod pool;
mod rank;
mod rule_versions;
mod states;

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// KEYS and ARGV of one script call that names its keys by their KEYS
/// index (`insights.lua`, `fair_play.lua`).
#[derive(Default)]
struct ScriptCall {
    keys: Vec<String>,
    index: std::collections::HashMap<String, usize>,
    args: Vec<String>,
}

impl ScriptCall {
    /// The KEYS index of `name`, as an argument.
    fn key(&mut self, name: String) -> String {
        let n = self.keys.len() + 1;
        let i = *self.index.entry(name.clone()).or_insert_with(|| {
            self.keys.push(name);
            n
        });
        i.to_string()
    }
}

/// Which of `shards` small hashes holds `field` (fair-play and insights
/// tallies spread this way).
fn shard(field: &str, shards: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64(field.as_bytes()) % shards
}

/// A script sent with every transaction, without its comment lines and
/// indentation: Redis reads and hashes the whole text at each `EVAL`.
fn compact_script(source: &str) -> String {
    (source.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl RedisStore {
    /// Builds the pool; connections are made on first use, so a Redis that
    /// is down at start makes requests answer 503 until it is back.
    pub fn connect(settings: &RedisSettings) -> Result<RedisStore, StoreError> {
        if settings.prefix.is_empty() {
            // `{}` is no hash tag: keys would spread over a cluster's slots.
            return Err(StoreError::Unavailable(
                "ENGAGEMENT_KEY_PREFIX must not be empty: it is the hash tag that keeps a deployment's keys together".into(),
            ));
        }
        let keys = Keys::new(&settings.prefix);
        let backend = pool::Backend::new(&settings.url, keys.tag()).map_err(unavailable)?;
        let pool = Pool::builder(pool::Manager::new(backend.clone()))
            .max_size(settings.pool_size.max(1))
            .wait_timeout(Some(Duration::from_secs(2)))
            .create_timeout(Some(Duration::from_secs(2)))
            .recycle_timeout(Some(Duration::from_secs(2)))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(unavailable)?;
        Ok(RedisStore {
            pool,
            keys,
            retention_days: settings.retention_days,
            stripes: std::sync::Arc::new(
                (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            ),
            generation: std::sync::Arc::new(std::sync::Mutex::new((0, None))),
            in_buckets: std::sync::Arc::default(),
            listing: std::sync::Arc::new(std::sync::Mutex::new(None)),
            wide: std::sync::Arc::new(tokio::sync::Mutex::new(())),
            states: std::sync::Arc::default(),
            backend,
            min_replicas: settings.min_replicas,
            insights: settings.insights,
            fair_play: settings.fair_play,
            reports: std::sync::Arc::default(),
            known: std::sync::Arc::default(),
            readers: std::sync::Arc::new((0..READERS).map(|_| Default::default()).collect()),
        })
    }

    /// Whether the deployment lives on a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.backend.is_cluster()
    }

    fn remember_generation(&self, generation: u64) {
        *self
            .generation
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = (generation, Some(Instant::now()));
    }

    /// Whether generation `generation` is known to hold its records in
    /// buckets only.
    fn in_buckets(&self, generation: u64) -> bool {
        (self.in_buckets.lock())
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(&generation)
    }

    fn remember_in_buckets(&self, generation: u64) {
        (self.in_buckets.lock())
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(generation);
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
}

impl Store for RedisStore {
    // Lock stripes and the optimistic step: see `ingest.rs`.
    async fn ingest(&self, rules: &RuleSet, events: &[Event]) -> Result<Vec<Outcome>, StoreError> {
        self.ingest_striped(rules, events).await
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

    async fn grant_badge(
        &self,
        rules: &RuleSet,
        member: &MemberId,
        grant: ManualGrant,
    ) -> Result<bool, StoreError> {
        let entry = LogEntry::Badge {
            member: member.clone(),
            grant: grant.clone(),
        };
        let held = |s: &MemberState| {
            s.badges
                .iter()
                .any(|b| b.badge.is(&grant.badge) && b.tier == grant.tier)
        };
        let notify =
            |s: &MemberState| crate::notify::grant_deliveries(rules, member, &grant, &s.profile);
        self.timed(self.update_member_notifying(
            member,
            Some(&rules.version),
            |s| (!held(s)).then(|| entry.clone()),
            &notify,
        ))
        .await
    }

    // Member, ledger and listing reads: see `members.rs`.
    async fn member(&self, member: &MemberId) -> Result<Option<MemberState>, StoreError> {
        self.read_member(member).await
    }

    async fn ledger(
        &self,
        member: &MemberId,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        self.read_ledger(member, limit).await
    }

    // Pages, standings and communities: see `boards.rs`.
    async fn page(
        &self,
        key: &BoardKey,
        listing: &Listing,
        offset: u64,
        limit: u64,
    ) -> Result<Page, StoreError> {
        self.read_page(key, listing, offset, limit).await
    }

    async fn standing(
        &self,
        key: &BoardKey,
        listing: &Listing,
        member: &MemberId,
        radius: u64,
    ) -> Result<Standing, StoreError> {
        self.read_standing(key, listing, member, radius).await
    }

    async fn communities(&self, board: &str) -> Result<Vec<CommunityId>, StoreError> {
        self.read_communities(board).await
    }

    async fn listing(&self) -> Result<Listing, StoreError> {
        self.read_listing().await
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

    // The log and the generations built from it: see `generations.rs`.
    async fn export(&self) -> Result<Vec<LogEntry>, StoreError> {
        self.read_log().await
    }

    async fn replay(&self, rules: &RuleSet) -> Result<ReplaySummary, StoreError> {
        self.rebuild(rules).await
    }

    // Knowledge-flow reports: see `insights.rs`.
    async fn insights(
        &self,
        rules: &RuleSet,
        community: Option<&CommunityId>,
        bucket: Bucket,
        admin: bool,
    ) -> Result<Option<Arc<Report>>, StoreError> {
        self.read_insights(rules, community, bucket, admin).await
    }

    async fn insight_communities(&self) -> Result<Vec<CommunityId>, StoreError> {
        self.read_insight_communities().await
    }

    // Fair play: see `fair_play.rs`.
    async fn fair_play(
        &self,
        rules: &RuleSet,
        bucket: Bucket,
    ) -> Result<engagement_core::fair_play::Report, StoreError> {
        self.read_fair_play(rules, bucket).await
    }

    async fn pair_events(
        &self,
        rules: &RuleSet,
        bucket: Bucket,
        pairs: &[(MemberId, MemberId)],
    ) -> Result<Vec<Vec<EventId>>, StoreError> {
        self.read_pair_events(rules, bucket, pairs).await
    }

    async fn claim_deliveries(
        &self,
        now: jiff::Timestamp,
        limit: usize,
    ) -> Result<Vec<crate::notify::Delivery>, StoreError> {
        let _ = now;
        self.claim(limit).await
    }

    async fn flush_outbox(&self) -> Result<(), StoreError> {
        // Deliveries are written in the transaction of their outcome.
        Ok(())
    }

    async fn settle_deliveries(
        &self,
        deliveries: Vec<crate::notify::Delivery>,
    ) -> Result<(), StoreError> {
        self.settle(deliveries).await
    }

    async fn deliveries(
        &self,
        status: crate::notify::Status,
        limit: usize,
    ) -> Result<Vec<crate::notify::Delivery>, StoreError> {
        self.list_deliveries(status, limit).await
    }

    async fn retry_delivery(
        &self,
        id: &str,
        now: jiff::Timestamp,
    ) -> Result<Option<crate::notify::Delivery>, StoreError> {
        self.retry(id, now).await
    }

    async fn disable_channel(&self, channel: &str, reason: &str) -> Result<(), StoreError> {
        self.disable(channel, reason).await
    }

    async fn disabled_channels(
        &self,
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        self.disabled().await
    }

    // The deployment's rule versions: see `rule_versions.rs`.
    async fn active_rules(&self) -> Result<Option<String>, StoreError> {
        self.read_active_rules().await
    }

    async fn rules_history(&self) -> Result<Vec<Activation>, StoreError> {
        self.read_rules_history().await
    }

    async fn rules_source(&self, version: &str) -> Result<Option<String>, StoreError> {
        self.read_rules_source(version).await
    }

    async fn activate_rules(&self, activation: Activation, source: &str) -> Result<(), StoreError> {
        self.store_activation(activation, source).await
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
