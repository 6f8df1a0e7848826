//! Where derived state and the event log live: Redis, or the embedded
//! store (memory plus an append-only log file).
//!
//! Both implement [`Store`] and pass the same conformance suite
//! (`tests/store_conformance.rs`).

pub mod aliases;
pub mod compact;
mod derived;
mod embedded;
pub mod keys;
mod listing;
mod outbox;
mod redis;
pub mod retention;
pub mod rule_versions;

use std::future::Future;
use std::sync::Arc;

use arcstr::ArcStr;
use engagement_core::{
    BoardKey, Bucket, CommunityId, Event, EventId, Interner, MemberId, MemberState, Name, Outcome,
    Profile, Reason, Report, RuleSet, Status,
};
use serde::{Deserialize, Serialize};

use crate::notify::{Delivery, Status as DeliveryStatus};

pub use self::aliases::AliasRefused;
pub use self::embedded::{EmbeddedStore, Options as EmbeddedOptions};
pub use self::listing::Listing;
pub use self::redis::{Archive, ArchiveError, RedisSettings, RedisStore};
pub use self::retention::Retention;
pub use self::rule_versions::{Activation, RulesOrigin};

/// Why a store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached right now; the client may retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back; a bug or a foreign writer.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The deployment's rules changed to `in_force` since the request's
    /// were read; nothing was written.
    #[error("the deployment's rules are now version {in_force}; retry")]
    RulesChanged { in_force: String },
}

/// One line of the event log: everything replay needs, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LogEntry {
    Event {
        event: Event,
    },
    Profile {
        member: MemberId,
        profile: Profile,
    },
    Badge {
        member: MemberId,
        grant: ManualGrant,
    },
    /// The member's aliases from now on (replacing earlier ones).
    Aliases {
        member: MemberId,
        aliases: Vec<MemberId>,
    },
}

impl LogEntry {
    /// Shares the ids of an event with the entries read before it (see
    /// [`Interner`]): readers of the whole log do so, so that the engine
    /// compares ids by address.
    pub fn intern(&mut self, ids: &mut Interner) {
        if let LogEntry::Event { event } = self {
            ids.event(event);
        }
    }
}

/// A badge granted by hand by an admin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManualGrant {
    pub badge: String,
    pub tier: usize,
    pub at: jiff::Timestamp,
    pub reason: Option<String>,
}

/// One line of a member's points history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub event: EventId,
    /// Shared with the rule set, as the version: a member's last thousand
    /// lines are kept, and copying them was a third of keeping them. The
    /// text alone, without the hash of a [`Name`], which no line looks up:
    /// the in-memory stores keep those lines, at 96 bytes each.
    pub rule: ArcStr,
    pub points: i64,
    pub at: jiff::Timestamp,
    /// Rule-file version that produced the award.
    pub rules_version: ArcStr,
    /// Set on the entry that takes back a revoked award.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revokes: Option<EventId>,
    /// Why an admin adjusted the points, on an adjustment's entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Box<str>>,
    /// How the award came about, when not in full (`partial`, or
    /// `revoked_event` on a take-back); `None` reads `awarded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<Reason>,
}

/// What a replay rebuilt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReplaySummary {
    /// Distinct events in the log.
    pub events: usize,
    pub members: usize,
}

/// Ledger entries kept per member, newest first.
pub const LEDGER_KEEP: usize = 1000;

/// A page of a leaderboard, already filtered for visibility.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub total: u64,
    pub entries: Vec<Entry>,
}

/// A listed entry; `member` and `name` are `None` for anonymous members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub rank: u64,
    pub member: Option<MemberId>,
    pub name: Option<String>,
    pub score: i64,
}

/// Where a member stands on a board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub rank: Option<u64>,
    pub score: i64,
    pub total: u64,
    pub entries: Vec<Entry>,
}

/// The store contract shared by Redis and the embedded store.
pub trait Store: Send + Sync {
    /// Applies events in order, each exactly once: an id seen before gets
    /// its first outcome back with status `duplicate`. All or nothing per call.
    fn ingest(
        &self,
        rules: &RuleSet,
        events: &[Event],
    ) -> impl Future<Output = Result<Vec<Outcome>, StoreError>> + Send;

    /// Replaces a member's profile.
    fn set_profile(
        &self,
        member: &MemberId,
        profile: Profile,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Grants a badge tier by hand; `false` when the member already holds it.
    fn grant_badge(
        &self,
        rules: &RuleSet,
        member: &MemberId,
        grant: ManualGrant,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn member(
        &self,
        member: &MemberId,
    ) -> impl Future<Output = Result<Option<MemberState>, StoreError>> + Send;

    /// Newest first.
    fn ledger(
        &self,
        member: &MemberId,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<LedgerEntry>, StoreError>> + Send;

    fn page(
        &self,
        key: &BoardKey,
        listing: &Listing,
        offset: u64,
        limit: u64,
    ) -> impl Future<Output = Result<Page, StoreError>> + Send;

    fn standing(
        &self,
        key: &BoardKey,
        listing: &Listing,
        member: &MemberId,
        radius: u64,
    ) -> impl Future<Output = Result<Standing, StoreError>> + Send;

    /// The communities `board` has scores in, sorted: what it can be shown for.
    fn communities(
        &self,
        board: &str,
    ) -> impl Future<Output = Result<Vec<CommunityId>, StoreError>> + Send;

    /// Members whose visibility or groups may keep them off boards.
    fn listing(&self) -> impl Future<Output = Result<Listing, StoreError>> + Send;

    /// Rebuilds all derived state from the log under `rules`, beside the
    /// state being served, and switches to it when complete.
    fn replay(
        &self,
        rules: &RuleSet,
    ) -> impl Future<Output = Result<ReplaySummary, StoreError>> + Send;

    /// Links `aliases` to `member`, replacing the ones it had: an event that
    /// names an alias is credited to `member`. Refused, changing nothing,
    /// when an alias belongs to another member or the links would chain.
    fn set_aliases(
        &self,
        member: &MemberId,
        aliases: Vec<MemberId>,
    ) -> impl Future<Output = Result<Result<(), AliasRefused>, StoreError>> + Send;

    /// The member each id is an alias of (`None`: not an alias), in order.
    fn resolve_aliases(
        &self,
        ids: &[MemberId],
    ) -> impl Future<Output = Result<Vec<Option<MemberId>>, StoreError>> + Send;

    /// A member's aliases.
    fn aliases(
        &self,
        member: &MemberId,
    ) -> impl Future<Output = Result<Vec<MemberId>, StoreError>> + Send;

    /// The first outcome recorded for each event id (`None`: never seen),
    /// revocation marks included.
    fn outcomes(
        &self,
        ids: &[EventId],
    ) -> impl Future<Output = Result<Vec<Option<Outcome>>, StoreError>> + Send;

    /// The whole event log, oldest first.
    fn export(&self) -> impl Future<Output = Result<Vec<LogEntry>, StoreError>> + Send;

    /// The knowledge-flow report of `community` (`None`: the whole
    /// deployment) in `bucket`; `None`
    /// when insights are not kept or no applied event named `community`.
    /// Who holds the accepted answers is listed only for `admin`.
    /// It reflects every event acknowledged before it was asked for.
    fn insights(
        &self,
        rules: &RuleSet,
        community: Option<&CommunityId>,
        bucket: Bucket,
        admin: bool,
    ) -> impl Future<Output = Result<Option<Arc<Report>>, StoreError>> + Send;

    /// Every community an applied event named, sorted: what insights can
    /// be shown for.
    fn insight_communities(
        &self,
    ) -> impl Future<Output = Result<Vec<CommunityId>, StoreError>> + Send;

    /// The fair-play report of `bucket`, a day, week or month (see
    /// [`engagement_core::fair_play`]), under `rules`' thresholds. It
    /// reflects every event acknowledged before it was asked for.
    fn fair_play(
        &self,
        rules: &RuleSet,
        bucket: Bucket,
    ) -> impl Future<Output = Result<engagement_core::fair_play::Report, StoreError>> + Send;

    /// For each (giver, recipient) pair, the applied events in `bucket`
    /// through which the giver earned the recipient points and that have
    /// not been revoked, oldest first: what revoking the pair takes back.
    /// Read from the log, not from tallies: an admin's action, not a page.
    fn pair_events(
        &self,
        rules: &RuleSet,
        bucket: Bucket,
        pairs: &[(MemberId, MemberId)],
    ) -> impl Future<Output = Result<Vec<Vec<EventId>>, StoreError>> + Send;

    /// Up to `limit` deliveries due at `now`, each the oldest pending one
    /// of its member on its channel, claimed for [`crate::notify::LEASE`]:
    /// no other worker (of any instance) gets them meanwhile.
    fn claim_deliveries(
        &self,
        now: jiff::Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Delivery>, StoreError>> + Send;

    /// Writes claimed deliveries' new states: delivered, failed, or
    /// pending until their `next_at`.
    fn settle_deliveries(
        &self,
        deliveries: Vec<Delivery>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Makes new deliveries durable where the store writes them lazily
    /// (the embedded store); the delivery worker calls it every round.
    fn flush_outbox(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deliveries with `status`, the most recently scheduled or settled
    /// first.
    fn deliveries(
        &self,
        status: DeliveryStatus,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Delivery>, StoreError>> + Send;

    /// A failed delivery made pending again (its channel enabled again);
    /// `None` when no failed delivery has this id.
    fn retry_delivery(
        &self,
        id: &str,
        now: jiff::Timestamp,
    ) -> impl Future<Output = Result<Option<Delivery>, StoreError>> + Send;

    /// Stops sending to a channel that answered 410 Gone.
    fn disable_channel(
        &self,
        channel: &str,
        reason: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Channels disabled, with why.
    fn disabled_channels(
        &self,
    ) -> impl Future<Output = Result<std::collections::HashMap<String, String>, StoreError>> + Send;

    /// The version of the deployment's rules in force, `None` before any
    /// was stored. Every instance follows it (see `rules_sync`).
    fn active_rules(&self) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Every activation of a rule version, newest first.
    fn rules_history(&self) -> impl Future<Output = Result<Vec<Activation>, StoreError>> + Send;

    /// The text of a stored rule version.
    fn rules_source(
        &self,
        version: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Puts a rule version in force for the whole deployment. On Redis, a
    /// write computed under another version aborts from then on.
    fn activate_rules(
        &self,
        activation: Activation,
        source: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Whether the backend answers.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The ledger lines an outcome adds, per member, as they are made; none
/// for a duplicate, whose awards were recorded when it was first applied.
/// `version` is the rule set's version (see [`version_name`]).
pub(crate) fn ledger_lines<'a>(
    version: &'a Name,
    event: &'a Event,
    outcome: &'a Outcome,
) -> impl Iterator<Item = (MemberId, LedgerEntry)> + 'a {
    let effects = match outcome.status {
        Status::Duplicate => None,
        _ => outcome.effects.as_deref(),
    };
    (effects.into_iter())
        .flat_map(|e| &e.awards)
        .map(move |award| {
            let (member, rule) = (&award.member, &award.rule);
            let entry = LedgerEntry {
                event: event.id.clone(),
                rule: rule.shared(),
                points: award.points * outcome.sign,
                at: event.occurred_at,
                rules_version: version.shared(),
                revokes: (outcome.sign < 0).then(|| event.revokes.clone()).flatten(),
                reason: event.adjustment.as_ref().map(|a| a.reason.as_str().into()),
                why: if outcome.sign < 0 {
                    Some(Reason::RevokedEvent)
                } else {
                    outcome.partial(member, rule).then_some(Reason::Partial)
                },
            };
            (member.clone(), entry)
        })
}

/// The rule set's version as ledger lines share it: `kept` when it is that
/// version already.
pub(crate) fn version_name(rules: &RuleSet, kept: &mut Option<Name>) -> Name {
    match kept {
        Some(name) if name.is(&rules.version) => name.clone(),
        _ => kept.insert(Name::new(&rules.version)).clone(),
    }
}
