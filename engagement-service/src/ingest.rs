//! The one road every write takes into the store: `POST /v1/events`, both
//! forum webhooks, admin adjustments and `engagement events import` all
//! come through [`Ingest::run`], which validates, resolves identities,
//! applies and commits (through [`Store::ingest`], whose stores all run the
//! core's [`engagement_core::step`]) and counts what it did; an admin's
//! badge grant through [`Ingest::grant`], a rebuild through
//! [`Ingest::replay`].
//!
//! A capability that reacts to outcomes (insights, fair play,
//! notifications) plugs in here, after the commit, where every outcome
//! passes exactly once.

use engagement_core::event::MAX_REASON_BYTES;
use engagement_core::fair_play;
use engagement_core::{Event, EventId, MemberId, Outcome, RuleSet, Status};

use crate::app::{AnyStore, AppState};
use crate::metrics::Metrics;
use crate::store::{ManualGrant, ReplaySummary, Store, StoreError};
use crate::webhooks::{MAX_GENERATIONS, Step, StepKind};

/// The ids of an admin's adjustments start so...
pub const ADJUSTMENT_ID_PREFIX: &str = "adjustment:";
/// ...and the ids of their revocations so: two spaces, so that no
/// adjustment id can be another one's revocation.
pub const ADJUSTMENT_UNDO_PREFIX: &str = "adjustment-undone:";

/// Longest id an admin may give an adjustment: its event id, and its
/// revocation's, stay within an event id's 200 bytes.
pub const MAX_ADJUSTMENT_ID_BYTES: usize = 200 - ADJUSTMENT_UNDO_PREFIX.len();

/// Generations of an object's chain looked up per store round trip.
const PROBE: usize = 8;

/// Where events come from: what they may carry and how their members are
/// named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `POST /v1/events`: members are named as meant; no adjustments.
    Api,
    /// A forum webhook: platform identities are linked to their members.
    Webhook,
    /// An admin's adjustment of points.
    Admin,
    /// An admin's fair-play revocations (`POST /v1/admin/fair-play/revoke`).
    FairPlay,
    /// `engagement events import`: events as a log or an export holds them.
    Import,
}

/// Why events were not taken; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// An event breaks a rule; `index` in the request.
    #[error("{message}")]
    Invalid { index: usize, message: String },
    /// A take-back larger than the member's points.
    #[error("{member} holds {holds} points: taking {taking} would leave them below zero")]
    BelowZero {
        member: MemberId,
        holds: i64,
        taking: i64,
    },
    /// A manual grant of a badge or tier the rules do not have.
    #[error("{0}")]
    Grant(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The store, the rules in force and the metrics to count into.
#[derive(Debug, Clone, Copy)]
pub struct Ingest<'a> {
    pub store: &'a AnyStore,
    pub rules: &'a RuleSet,
    pub metrics: Option<&'a Metrics>,
    /// The service the rules come from: when the deployment's rules change
    /// while a request is under way, it is applied again under the new
    /// ones instead of failing.
    pub service: Option<&'a AppState>,
}

impl Ingest<'_> {
    /// Takes `events` in order, all or nothing, and answers each (as
    /// recorded: identities linked) with its outcome.
    pub async fn run(
        &self,
        origin: Origin,
        events: Vec<Event>,
    ) -> Result<Vec<(Event, Outcome)>, IngestError> {
        for (index, event) in events.iter().enumerate() {
            let invalid = |message| IngestError::Invalid { index, message };
            event.check().map_err(invalid)?;
            if !matches!(origin, Origin::Api | Origin::Webhook) {
                continue;
            }
            if event.adjustment.is_some() {
                return Err(invalid(
                    "adjustment: points are adjusted through POST /v1/admin/members/{member}/points"
                        .to_owned(),
                ));
            }
            // An admin's adjustments are made and undone by an admin only.
            let admins = |id: &EventId| {
                let id = id.as_str();
                id.starts_with(ADJUSTMENT_ID_PREFIX) || id.starts_with(ADJUSTMENT_UNDO_PREFIX)
            };
            if admins(&event.id) || event.revokes.as_ref().is_some_and(admins) {
                return Err(invalid(format!(
                    "ids starting with \"{ADJUSTMENT_ID_PREFIX}\" or \"{ADJUSTMENT_UNDO_PREFIX}\" are an admin's adjustments"
                )));
            }
            // Nor can anyone but an admin take an id fair play's revocations
            // use: a revocation already sent under it would stop the admin's.
            if fair_play::reserved(event.id.as_str()) {
                return Err(invalid(format!(
                    "ids starting with \"{}\" or \"{}\" are an admin's fair-play revocations",
                    fair_play::REVOCATION_PREFIX,
                    fair_play::HASHED_REVOCATION_PREFIX
                )));
            }
        }
        let events = match origin {
            Origin::Webhook => self.link(events).await?,
            Origin::Api | Origin::Admin | Origin::FairPlay | Origin::Import => events,
        };
        if origin == Origin::Admin {
            self.refuse_below_zero(&events).await?;
        }
        let outcomes = self.apply(&events).await?;
        if let Some(metrics) = self.metrics {
            for outcome in &outcomes {
                let status = match outcome.status {
                    Status::Applied => "applied",
                    Status::Duplicate => "duplicate",
                    Status::Ignored => "ignored",
                };
                metrics.events.with_label_values(&[status]).inc();
            }
        }
        Ok(events.into_iter().zip(outcomes).collect())
    }

    /// `Store::ingest` under the request's rules, or under the
    /// deployment's new ones when they changed meanwhile (nothing was
    /// written under the old ones: the store refused the whole request).
    async fn apply(&self, events: &[Event]) -> Result<Vec<Outcome>, StoreError> {
        let mut tried = 0;
        let mut result = self.store.ingest(self.rules, events).await;
        while let (Err(StoreError::RulesChanged { .. }), Some(service)) = (&result, self.service)
            && tried < 3
        {
            tried += 1;
            let fresh = crate::rules_sync::catch_up(service).await?;
            result = self.store.ingest(&fresh.rules, events).await;
        }
        result
    }

    /// Grants a badge tier by hand (the first tier when `tier` is `None`):
    /// the tier's name, and `false` when the member already held it.
    pub async fn grant(
        &self,
        member: &MemberId,
        badge_id: &str,
        tier: Option<&str>,
        reason: Option<String>,
    ) -> Result<(Option<String>, bool), IngestError> {
        let badge = self
            .rules
            .badge(badge_id)
            .ok_or_else(|| IngestError::Grant(format!("badge: no badge \"{badge_id}\"")))?;
        let index = match tier {
            None => 0,
            Some(name) => badge
                .tiers
                .iter()
                .position(|t| t.name.as_deref() == Some(name))
                .ok_or_else(|| {
                    IngestError::Grant(format!("tier: badge \"{badge_id}\" has no tier \"{name}\""))
                })?,
        };
        if reason.as_ref().is_some_and(|r| r.len() > MAX_REASON_BYTES) {
            return Err(IngestError::Grant(format!(
                "reason: at most {MAX_REASON_BYTES} bytes"
            )));
        }
        let grant = ManualGrant {
            badge: badge_id.to_owned(),
            tier: index,
            at: jiff::Timestamp::now(),
            reason,
        };
        let granted = self.store.grant_badge(self.rules, member, grant).await?;
        Ok((badge.tiers[index].name.clone(), granted))
    }

    /// Rebuilds all derived state from the log under these rules.
    pub async fn replay(&self) -> Result<ReplaySummary, StoreError> {
        let summary = self.store.replay(self.rules).await?;
        tracing::info!(events = summary.events, version = %self.rules.version, "replayed the log");
        Ok(summary)
    }

    /// The event id a webhook step takes, from the recorded generations of
    /// its object's chain; `Err` says why the step records nothing.
    pub async fn settle(&self, step: Step) -> Result<Result<Event, String>, StoreError> {
        let mut recorded = Vec::new();
        // A creation has one id whatever happened since; the rest look back.
        if step.kind != StepKind::Create {
            while recorded.len() < MAX_GENERATIONS {
                let found = self
                    .store
                    .outcomes(&step.generations(recorded.len() + 1, PROBE))
                    .await?;
                let complete = found.iter().any(Option::is_none) || found.is_empty();
                recorded.extend(found);
                if complete {
                    break;
                }
            }
        }
        Ok(step.settle(&recorded))
    }

    /// Credits linked identities to their member: the rule file's
    /// `[identities]` first, then aliases set through the API.
    async fn link(&self, mut events: Vec<Event>) -> Result<Vec<Event>, StoreError> {
        let mut ids: Vec<MemberId> = Vec::new();
        for event in &events {
            ids.extend(event.target.as_ref().and_then(|t| t.author.clone()));
            if !event.actor_unknown {
                ids.push(event.actor.clone());
            }
        }
        let stored = self.store.resolve_aliases(&ids).await?;
        let member = |id: &MemberId| {
            let i = ids.iter().position(|x| x == id);
            self.rules
                .identities
                .member(id.as_str())
                .cloned()
                .or_else(|| i.and_then(|i| stored.get(i).cloned().flatten()))
                .unwrap_or_else(|| id.clone())
        };
        for event in &mut events {
            if !event.actor_unknown {
                event.actor = member(&event.actor);
            }
            if let Some(target) = &mut event.target {
                target.author = target.author.as_ref().map(member);
            }
        }
        Ok(events)
    }

    /// Refuses an admin's take-back larger than what the member holds now:
    /// a negative adjustment, or undoing a positive one. (The engine never
    /// takes a member below zero with an adjustment either: should points
    /// go between this read and the write, the take-back is cut to fit.)
    async fn refuse_below_zero(&self, events: &[Event]) -> Result<(), IngestError> {
        for event in events {
            let mut ids = vec![event.id.clone()];
            ids.extend(event.revokes.clone());
            let records = self.store.outcomes(&ids).await?;
            // A repeated request is answered as the duplicate it is.
            if records.first().is_some_and(Option::is_some) {
                continue;
            }
            let taking = match (&event.adjustment, records.get(1)) {
                (Some(adjustment), _) => -adjustment.points,
                (None, Some(Some(revoked))) => {
                    revoked.revocable().filter(|e| !e.revoked).map_or(0, |e| {
                        let awards = e.awards.iter().filter(|a| a.member == event.actor);
                        awards.map(|a| a.points).sum()
                    })
                }
                _ => 0,
            };
            if taking <= 0 {
                continue;
            }
            let holds = self
                .store
                .member(&event.actor)
                .await?
                .map_or(0, |s| s.points);
            if holds < taking {
                return Err(IngestError::BelowZero {
                    member: event.actor.clone(),
                    holds,
                    taking,
                });
            }
        }
        Ok(())
    }
}
