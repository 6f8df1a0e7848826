//! Linked identities and idempotency records in Redis: what the webhook
//! adapters ask the store, beside the writes of the parent module.
//!
//! The link hashes live outside generations (see `Keys::aliases`): links do
//! not depend on the rules, so a replay neither rebuilds nor drops them.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use deadpool_redis::redis::{self, AsyncCommands, Value};
use engagement_core::{EventId, MemberId, Outcome};

use super::super::aliases::{self, AliasRefused};
use super::super::{LogEntry, compact};
use super::pool::Connection;
use super::transaction::Reads;
use super::{MAX_ATTEMPTS, RedisStore, StoreError, corrupt, unavailable};

impl RedisStore {
    pub(super) async fn link_aliases(
        &self,
        member: &MemberId,
        aliases: &[MemberId],
    ) -> Result<Result<(), AliasRefused>, StoreError> {
        self.timed(async {
            optimistic!(self, conn => self.try_set_aliases(&mut conn, member, aliases))
        })
        .await
    }

    pub(super) async fn alias_owners(
        &self,
        ids: &[MemberId],
    ) -> Result<Vec<Option<MemberId>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.timed(async {
            let mut conn = self.reader().await?;
            let raw: Vec<Option<String>> = redis::cmd("HMGET")
                .arg(self.keys.aliases())
                .arg(ids.iter().map(MemberId::as_str).collect::<Vec<_>>())
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            raw.into_iter()
                .map(|m| m.map(MemberId::parse).transpose().map_err(corrupt))
                .collect()
        })
        .await
    }

    pub(super) async fn aliases_of(&self, member: &MemberId) -> Result<Vec<MemberId>, StoreError> {
        self.timed(async {
            let mut conn = self.reader().await?;
            let raw: Option<String> = conn
                .hget(self.keys.linked(), member.as_str())
                .await
                .map_err(unavailable)?;
            raw.map_or(Ok(Vec::new()), |r| {
                serde_json::from_str(&r).map_err(corrupt)
            })
        })
        .await
    }

    /// Idempotency records of the live generation.
    pub(super) async fn records(
        &self,
        ids: &[EventId],
    ) -> Result<Vec<Option<Outcome>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.timed(async {
            let mut conn = self.reader().await?;
            let generation = self.live_generation(&mut conn).await?;
            let keys = self.keys.at(generation);
            // Each record in its bucket, else where earlier versions kept it.
            let reads = Reads::records(&keys, ids.iter(), Vec::new())
                .looking_former(!self.in_buckets(generation));
            let mut pipe = redis::pipe();
            reads.ask(&mut pipe);
            let answers: Vec<Value> = pipe.query_async(&mut conn).await.map_err(unavailable)?;
            let mut raw: Vec<Option<Vec<u8>>> = reads.answers(answers)?;
            let former = raw.split_off(ids.len());
            raw.into_iter()
                .zip(former)
                .map(|(r, former)| {
                    r.or(former)
                        .map(|r| compact::read_record(&r))
                        .transpose()
                        .map_err(corrupt)
                })
                .collect()
        })
        .await
    }

    /// Replaces a member's aliases under WATCH of both link hashes.
    async fn try_set_aliases(
        &self,
        conn: &mut Connection,
        member: &MemberId,
        aliases: &[MemberId],
    ) -> Result<Option<Result<(), AliasRefused>>, StoreError> {
        let (owners, linked) = (self.keys.aliases(), self.keys.linked());
        redis::cmd("WATCH")
            .arg(&owners)
            .arg(&linked)
            .query_async::<()>(conn)
            .await
            .map_err(unavailable)?;
        let ids: Vec<&str> = std::iter::once(member)
            .chain(aliases)
            .map(MemberId::as_str)
            .collect();
        let owner_of: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(&owners)
            .arg(&ids)
            .query_async(conn)
            .await
            .map_err(unavailable)?;
        let lists: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(&linked)
            .arg(&ids)
            .query_async(conn)
            .await
            .map_err(unavailable)?;
        let owner_of: HashMap<&str, MemberId> = ids
            .iter()
            .zip(owner_of)
            .filter_map(|(id, o)| Some((*id, MemberId::parse(o?).ok()?)))
            .collect();
        let has_list: HashSet<&str> = ids
            .iter()
            .zip(&lists)
            .filter(|(_, l)| l.is_some())
            .map(|(id, _)| *id)
            .collect();
        let checked = aliases::check(
            member,
            aliases,
            |id| owner_of.get(id.as_str()).cloned(),
            |id| has_list.contains(id.as_str()),
        );
        if let Err(refused) = checked {
            redis::cmd("UNWATCH")
                .query_async::<()>(conn)
                .await
                .map_err(unavailable)?;
            return Ok(Some(Err(refused)));
        }
        let before: Vec<MemberId> = match lists.first().cloned().flatten() {
            Some(raw) => serde_json::from_str(&raw).map_err(corrupt)?,
            None => Vec::new(),
        };
        let mut pipe = redis::pipe();
        pipe.atomic();
        for old in before.iter().filter(|o| !aliases.contains(o)) {
            pipe.hdel(&owners, old.as_str()).ignore();
        }
        for alias in aliases {
            pipe.hset(&owners, alias.as_str(), member.as_str()).ignore();
        }
        if aliases.is_empty() {
            pipe.hdel(&linked, member.as_str()).ignore();
        } else {
            let json = serde_json::to_string(aliases).map_err(corrupt)?;
            pipe.hset(&linked, member.as_str(), json).ignore();
        }
        let entry = LogEntry::Aliases {
            member: member.clone(),
            aliases: aliases.to_vec(),
        };
        pipe.xadd(
            self.keys.log(),
            "*",
            &[("entry", serde_json::to_string(&entry).map_err(corrupt)?)],
        )
        .ignore();
        let committed: Option<Value> = pipe.query_async(conn).await.map_err(unavailable)?;
        if committed.is_some() {
            self.replicated(conn).await?;
        }
        Ok(committed.map(|_| Ok(())))
    }
}
