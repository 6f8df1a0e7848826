//! Member states, ledgers and the listing: a profile or badge written
//! under WATCH, and the reads of states, ledger lines and who is listed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use deadpool_redis::redis::{self, AsyncCommands, Value};
use engagement_core::{MemberId, MemberState};

use super::super::listing::{Listing, Special};
use super::super::{LedgerEntry, LogEntry, compact};
use super::pool::Connection;
use super::transaction::Reads;
use super::{GENERATION_CACHE, MAX_ATTEMPTS, RedisStore, StoreError, Target, corrupt, unavailable};
use crate::notify::Delivery;

impl RedisStore {
    /// Rewrites a member's state under WATCH; `entry` returns `None` to write nothing.
    pub(super) async fn update_member(
        &self,
        member: &MemberId,
        entry: impl Fn(&MemberState) -> Option<LogEntry> + Send + Sync,
    ) -> Result<bool, StoreError> {
        self.update_member_notifying(member, None, entry, &|_| Vec::new())
            .await
    }

    /// [`RedisStore::update_member`], with the deliveries the change causes
    /// (`notify`, from the state before it) written in the same transaction.
    /// With `rules`, the change was worked out under that rule version and
    /// is refused once another one is in force.
    pub(super) async fn update_member_notifying(
        &self,
        member: &MemberId,
        rules: Option<&str>,
        entry: impl Fn(&MemberState) -> Option<LogEntry> + Send + Sync,
        notify: &(dyn Fn(&MemberState) -> Vec<Delivery> + Send + Sync),
    ) -> Result<bool, StoreError> {
        optimistic!(self, conn => self.try_update_member(&mut conn, member, rules, &entry, notify, Target::Live))
    }

    pub(super) async fn try_update_member(
        &self,
        conn: &mut Connection,
        member: &MemberId,
        rules: Option<&str>,
        entry: &(impl Fn(&MemberState) -> Option<LogEntry> + Send + Sync),
        notify: &(dyn Fn(&MemberState) -> Vec<Delivery> + Send + Sync),
        target: Target,
    ) -> Result<Option<bool>, StoreError> {
        let Some((keys, raw)) = self
            .watch_target::<Vec<u8>>(conn, target, rules, |keys| {
                Reads::keys(vec![keys.member(member)])
            })
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
            if let Target::Live = target {
                super::outbox::queue(&self.keys, &mut pipe, &notify(&state))?;
            }
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
            pipe.set(&key, self.states.write(key.clone(), state))
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
            if committed.is_some() {
                self.replicated(conn).await?;
            }
            Ok(committed.map(|_| true))
        }
    }

    pub(super) async fn read_member(
        &self,
        member: &MemberId,
    ) -> Result<Option<MemberState>, StoreError> {
        self.timed(async {
            let mut conn = self.reader().await?;
            let keys = self.live_keys(&mut conn).await?;
            let key = keys.member(member);
            let raw: Option<Vec<u8>> = conn.get(&key).await.map_err(unavailable)?;
            raw.map(|r| self.states.read(&key, &r)).transpose()
        })
        .await
    }

    pub(super) async fn read_ledger(
        &self,
        member: &MemberId,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        self.timed(async {
            let mut conn = self.reader().await?;
            let keys = self.live_keys(&mut conn).await?;
            let raw: Vec<Vec<u8>> = conn
                .lrange(keys.ledger(member), 0, limit as isize - 1)
                .await
                .map_err(unavailable)?;
            raw.iter()
                .map(|r| compact::read_ledger_line(r).map_err(corrupt))
                .collect()
        })
        .await
    }

    pub(super) async fn read_listing(&self) -> Result<Listing, StoreError> {
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
}
