//! Shared application state: the rules in force, the store, credentials, metrics.

use std::sync::{Arc, RwLock};

use engagement_core::{
    BoardKey, Bucket, CommunityId, Event, EventId, MemberId, MemberState, Outcome, Profile, Report,
    RuleSet,
};

use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::notify::send::Sender;
use crate::notify::{Delivery, Status as DeliveryStatus};
use crate::pages::live::LiveStreams;
use crate::settings::Settings;
use crate::store::{
    Activation, AliasRefused, EmbeddedOptions, EmbeddedStore, LedgerEntry, Listing, LogEntry,
    ManualGrant, Page, RedisSettings, RedisStore, ReplaySummary, Retention, Standing, Store,
    StoreError,
};

/// A checked rule file and the text it came from.
#[derive(Debug)]
pub struct LoadedRules {
    pub rules: RuleSet,
    pub source: String,
}

/// Bearer tokens; `None` leaves that group of endpoints open (loopback only).
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    pub ingest: Option<String>,
    pub admin: Option<String>,
    pub read: Option<String>,
    pub discourse: Option<String>,
    pub github: Option<String>,
}

#[derive(Debug)]
pub struct AppState {
    rules: RwLock<Arc<LoadedRules>>,
    pub store: AnyStore,
    pub tokens: Tokens,
    pub metrics: Metrics,
    /// Open live-update streams of the members' pages, bounded.
    pub live: LiveStreams,
    /// How long day and week boards stay after they end.
    pub retention: Retention,
    /// Whether knowledge-flow insights are kept (`ENGAGEMENT_INSIGHTS`).
    pub insights: bool,
    /// Whether fair-play tallies are kept (`ENGAGEMENT_FAIR_PLAY`).
    pub fair_play: bool,
    /// Who signs the members' Open Badges credentials, when set up
    /// (`ENGAGEMENT_PUBLIC_URL` and `ENGAGEMENT_SIGNING_KEY`).
    pub credentials: Option<Arc<crate::credentials::Issuer>>,
    /// The rules' notification channels, with their credentials.
    sender: RwLock<Arc<Sender>>,
    /// Held while this instance switches to the deployment's rules.
    pub(crate) following: tokio::sync::Mutex<()>,
}

impl AppState {
    pub fn new(
        rules: LoadedRules,
        store: AnyStore,
        tokens: Tokens,
        metrics: Metrics,
        retention: Retention,
        sender: Sender,
    ) -> AppState {
        AppState {
            sender: RwLock::new(Arc::new(sender)),
            rules: RwLock::new(Arc::new(rules)),
            store,
            tokens,
            metrics,
            live: LiveStreams::default(),
            retention,
            insights: true,
            fair_play: true,
            credentials: None,
            following: tokio::sync::Mutex::new(()),
        }
    }

    /// The rules in force; a request keeps the ones it started with.
    pub fn rules(&self) -> Arc<LoadedRules> {
        self.rules
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The road into the store under `rules`, counted in this service's metrics.
    pub fn ingest<'a>(&'a self, rules: &'a RuleSet) -> Ingest<'a> {
        Ingest {
            store: &self.store,
            rules,
            metrics: Some(&self.metrics),
            service: Some(self),
        }
    }

    /// The notification channels of the rules in force.
    pub fn sender(&self) -> Arc<Sender> {
        self.sender
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Puts new (already checked) rules in force on this instance for the
    /// next requests, unless a notification channel's credential is
    /// missing from the environment: then the rules in force stay, and the
    /// error says which variable. For the whole deployment, see
    /// [`crate::rules_sync::activate`].
    pub fn swap_rules(&self, rules: LoadedRules) -> Result<(), String> {
        let sender = Sender::from_env(&rules.rules)?;
        self.install_rules(rules, sender);
        Ok(())
    }

    /// Puts `rules` in force on this instance, with their channels.
    pub fn install_rules(&self, rules: LoadedRules, sender: Sender) {
        let mut held = self
            .rules
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *self
            .sender
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(sender);
        *held = Arc::new(rules);
    }
}

/// The store chosen at start.
#[derive(Debug)]
pub enum AnyStore {
    Embedded(Box<EmbeddedStore>),
    Redis(Box<RedisStore>),
}

impl AnyStore {
    /// The store the settings name: Redis when a URL is set (with up to
    /// `pool_size` write connections), else the embedded store, whose
    /// opening replays its log under `rules`.
    pub fn open(
        settings: &Settings,
        rules: &RuleSet,
        pool_size: usize,
    ) -> Result<AnyStore, StoreError> {
        Ok(match &settings.redis_url {
            Some(url) => AnyStore::Redis(Box::new(RedisStore::connect(&RedisSettings {
                url: url.clone(),
                prefix: settings.key_prefix.clone(),
                retention_days: settings.retention_days,
                pool_size,
                insights: settings.insights,
                fair_play: settings.fair_play,
                min_replicas: settings.redis_min_replicas,
            })?)),
            None => AnyStore::Embedded(Box::new(EmbeddedStore::open_with(
                &settings.data_dir,
                rules,
                EmbeddedOptions {
                    retention: Some(settings.retention()),
                    insights: settings.insights,
                    fair_play: settings.fair_play,
                },
            )?)),
        })
    }

    /// Which store this is, for the start-up line.
    pub fn describe(&self, settings: &Settings) -> String {
        match self {
            AnyStore::Redis(store) => format!(
                "{} (key prefix \"{}\")",
                if store.is_cluster() {
                    "redis cluster"
                } else {
                    "redis"
                },
                settings.key_prefix
            ),
            AnyStore::Embedded(_) => format!("embedded ({})", settings.data_dir.display()),
        }
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            AnyStore::Embedded($s) => $call.await,
            AnyStore::Redis($s) => $call.await,
        }
    };
}

impl Store for AnyStore {
    async fn ingest(&self, rules: &RuleSet, events: &[Event]) -> Result<Vec<Outcome>, StoreError> {
        delegate!(self, s => s.ingest(rules, events))
    }
    async fn set_profile(&self, member: &MemberId, profile: Profile) -> Result<(), StoreError> {
        delegate!(self, s => s.set_profile(member, profile))
    }
    async fn grant_badge(
        &self,
        rules: &RuleSet,
        member: &MemberId,
        grant: ManualGrant,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.grant_badge(rules, member, grant))
    }
    async fn member(&self, member: &MemberId) -> Result<Option<MemberState>, StoreError> {
        delegate!(self, s => s.member(member))
    }
    async fn ledger(
        &self,
        member: &MemberId,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        delegate!(self, s => s.ledger(member, limit))
    }
    async fn page(
        &self,
        key: &BoardKey,
        listing: &Listing,
        offset: u64,
        limit: u64,
    ) -> Result<Page, StoreError> {
        delegate!(self, s => s.page(key, listing, offset, limit))
    }
    async fn standing(
        &self,
        key: &BoardKey,
        listing: &Listing,
        member: &MemberId,
        radius: u64,
    ) -> Result<Standing, StoreError> {
        delegate!(self, s => s.standing(key, listing, member, radius))
    }
    async fn communities(&self, board: &str) -> Result<Vec<CommunityId>, StoreError> {
        delegate!(self, s => s.communities(board))
    }
    async fn listing(&self) -> Result<Listing, StoreError> {
        delegate!(self, s => s.listing())
    }
    async fn replay(&self, rules: &RuleSet) -> Result<ReplaySummary, StoreError> {
        delegate!(self, s => s.replay(rules))
    }
    async fn set_aliases(
        &self,
        member: &MemberId,
        aliases: Vec<MemberId>,
    ) -> Result<Result<(), AliasRefused>, StoreError> {
        delegate!(self, s => s.set_aliases(member, aliases))
    }
    async fn resolve_aliases(&self, ids: &[MemberId]) -> Result<Vec<Option<MemberId>>, StoreError> {
        delegate!(self, s => s.resolve_aliases(ids))
    }
    async fn aliases(&self, member: &MemberId) -> Result<Vec<MemberId>, StoreError> {
        delegate!(self, s => s.aliases(member))
    }
    async fn outcomes(&self, ids: &[EventId]) -> Result<Vec<Option<Outcome>>, StoreError> {
        delegate!(self, s => s.outcomes(ids))
    }
    async fn export(&self) -> Result<Vec<LogEntry>, StoreError> {
        delegate!(self, s => s.export())
    }
    async fn insights(
        &self,
        rules: &RuleSet,
        community: Option<&CommunityId>,
        bucket: Bucket,
        admin: bool,
    ) -> Result<Option<Arc<Report>>, StoreError> {
        delegate!(self, s => s.insights(rules, community, bucket, admin))
    }
    async fn insight_communities(&self) -> Result<Vec<CommunityId>, StoreError> {
        delegate!(self, s => s.insight_communities())
    }
    async fn fair_play(
        &self,
        rules: &RuleSet,
        bucket: Bucket,
    ) -> Result<engagement_core::fair_play::Report, StoreError> {
        delegate!(self, s => s.fair_play(rules, bucket))
    }
    async fn pair_events(
        &self,
        rules: &RuleSet,
        bucket: Bucket,
        pairs: &[(MemberId, MemberId)],
    ) -> Result<Vec<Vec<EventId>>, StoreError> {
        delegate!(self, s => s.pair_events(rules, bucket, pairs))
    }
    async fn claim_deliveries(
        &self,
        now: jiff::Timestamp,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        delegate!(self, s => s.claim_deliveries(now, limit))
    }

    async fn settle_deliveries(&self, deliveries: Vec<Delivery>) -> Result<(), StoreError> {
        delegate!(self, s => s.settle_deliveries(deliveries))
    }

    async fn flush_outbox(&self) -> Result<(), StoreError> {
        delegate!(self, s => s.flush_outbox())
    }

    async fn deliveries(
        &self,
        status: DeliveryStatus,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        delegate!(self, s => s.deliveries(status, limit))
    }

    async fn retry_delivery(
        &self,
        id: &str,
        now: jiff::Timestamp,
    ) -> Result<Option<Delivery>, StoreError> {
        delegate!(self, s => s.retry_delivery(id, now))
    }

    async fn disable_channel(&self, channel: &str, reason: &str) -> Result<(), StoreError> {
        delegate!(self, s => s.disable_channel(channel, reason))
    }

    async fn disabled_channels(
        &self,
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        delegate!(self, s => s.disabled_channels())
    }

    async fn active_rules(&self) -> Result<Option<String>, StoreError> {
        delegate!(self, s => s.active_rules())
    }
    async fn rules_history(&self) -> Result<Vec<Activation>, StoreError> {
        delegate!(self, s => s.rules_history())
    }
    async fn rules_source(&self, version: &str) -> Result<Option<String>, StoreError> {
        delegate!(self, s => s.rules_source(version))
    }
    async fn activate_rules(&self, activation: Activation, source: &str) -> Result<(), StoreError> {
        delegate!(self, s => s.activate_rules(activation, source))
    }
    async fn ping(&self) -> Result<(), StoreError> {
        delegate!(self, s => s.ping())
    }
}
