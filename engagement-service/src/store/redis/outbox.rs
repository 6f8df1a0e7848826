//! The Redis outbox. New deliveries are written in the ingest transaction
//! (`queue`); the delivery worker claims, settles and retries them with
//! `outbox.lua`, each move one atomic script, so several instances share
//! the work. A claim leases a queue to one worker under a token, timed by
//! Redis's clock; settling checks the token, so a worker whose lease ran
//! out writes nothing over the one that took over.
//!
//! Keys: the records (hash id → JSON); one list per member and channel
//! (the queue, oldest first); a sorted set of queues by when their oldest
//! delivery is due; the leases; sorted sets of pending, delivered and
//! failed ids.

use std::collections::HashMap;

use deadpool_redis::redis::{self, AsyncCommands};
use jiff::Timestamp;

use super::super::keys::Keys;
use super::{RedisStore, StoreError, corrupt, unavailable};
use crate::notify::{Delivery, KEEP_SETTLED, LEASE, Status};

static OUTBOX_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(include_str!("outbox.lua")));

/// Adds new deliveries to a transaction's pipeline.
pub(super) fn queue(
    keys: &Keys,
    pipe: &mut redis::Pipeline,
    deliveries: &[Delivery],
) -> Result<(), StoreError> {
    for d in deliveries {
        let (channel, member) = d.queue();
        let q = Keys::outbox_queue(channel, member);
        let ms = d.created_at.as_millisecond();
        pipe.hset_nx(
            keys.outbox(),
            d.id(),
            serde_json::to_string(d).map_err(corrupt)?,
        )
        .ignore();
        pipe.rpush(format!("{}{q}", keys.outbox_queues()), d.id())
            .ignore();
        pipe.zadd(keys.outbox_status(Status::Pending.as_str()), d.id(), ms)
            .ignore();
        pipe.cmd("ZADD")
            .arg(keys.outbox_due())
            .arg("NX")
            .arg(ms)
            .arg(&q)
            .ignore();
    }
    Ok(())
}

impl RedisStore {
    /// Claims due deliveries; each carries its lease's token.
    pub(super) async fn claim(&self, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        let keys = &self.keys;
        let token: u64 = rand::random();
        self.timed(async {
            let mut conn = self.conn().await?;
            let raw: Vec<String> = OUTBOX_SCRIPT
                .key(keys.outbox_due())
                .key(keys.outbox())
                .key(keys.outbox_leases())
                .key(keys.outbox_status(Status::Pending.as_str()))
                .arg("claim")
                .arg(LEASE.as_millis() as u64)
                .arg(limit)
                .arg(keys.outbox_queues())
                .arg(token)
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
            let mut out = Vec::new();
            for record in raw.chunks(2).filter_map(|pair| pair.get(1)) {
                // One unreadable record must not hold up the others.
                match serde_json::from_str::<Delivery>(record) {
                    Ok(mut d) => {
                        d.lease = Some(token);
                        out.push(d);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "outbox: an unreadable delivery is skipped");
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    /// Settles claimed deliveries in one round trip, each move atomic.
    pub(super) async fn settle(&self, settled: Vec<Delivery>) -> Result<(), StoreError> {
        if settled.is_empty() {
            return Ok(());
        }
        let keys = &self.keys;
        let mut invocations = Vec::with_capacity(settled.len());
        for d in &settled {
            let (channel, member) = d.queue();
            let q = Keys::outbox_queue(channel, member);
            let record = serde_json::to_string(d).map_err(corrupt)?;
            let mut invocation = OUTBOX_SCRIPT.key(keys.outbox_due());
            invocation
                .key(keys.outbox())
                .key(keys.outbox_status(Status::Pending.as_str()))
                .key(keys.outbox_status(d.status.as_str()))
                .key(format!("{}{q}", keys.outbox_queues()))
                .key(keys.outbox_leases())
                .arg("settle")
                .arg(d.id())
                .arg(&q)
                .arg(record)
                .arg(d.status.as_str())
                .arg(d.next_at.as_millisecond())
                .arg(KEEP_SETTLED)
                .arg(d.lease.unwrap_or_default());
            invocations.push(invocation);
        }
        let mut pipe = redis::pipe();
        // Loaded first, so that the calls after it find it.
        pipe.load_script(&OUTBOX_SCRIPT).ignore();
        for invocation in &invocations {
            pipe.invoke_script(invocation);
        }
        self.timed(async {
            let mut conn = self.conn().await?;
            let done: Vec<i64> = pipe.query_async(&mut conn).await.map_err(unavailable)?;
            for (d, done) in settled.iter().zip(done) {
                if done < 0 {
                    tracing::warn!(
                        id = d.id(),
                        "outbox: a lease ran out before its delivery was settled; another worker has it"
                    );
                }
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn list_deliveries(
        &self,
        status: Status,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let keys = &self.keys;
        self.timed(async {
            let mut conn = self.reader().await?;
            let stop = limit.max(1) as isize - 1;
            let ids: Vec<String> = conn
                .zrevrange(keys.outbox_status(status.as_str()), 0, stop)
                .await
                .map_err(unavailable)?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let raw: Vec<Option<String>> = redis::cmd("HMGET")
                .arg(keys.outbox())
                .arg(&ids)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            raw.into_iter()
                .flatten()
                .map(|r| serde_json::from_str(&r).map_err(corrupt))
                .collect()
        })
        .await
    }

    pub(super) async fn retry(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Result<Option<Delivery>, StoreError> {
        let keys = &self.keys;
        self.timed(async {
            let mut conn = self.conn().await?;
            let raw: Option<String> = conn.hget(keys.outbox(), id).await.map_err(unavailable)?;
            let Some(raw) = raw else {
                return Ok(None);
            };
            let d: Delivery = serde_json::from_str(&raw).map_err(corrupt)?;
            if d.status != Status::Failed {
                return Ok(None);
            }
            let d = d.retried(now);
            let (channel, member) = d.queue();
            let q = Keys::outbox_queue(channel, member);
            let done: i64 = OUTBOX_SCRIPT
                .key(keys.outbox())
                .key(keys.outbox_status(Status::Failed.as_str()))
                .key(keys.outbox_status(Status::Pending.as_str()))
                .key(keys.outbox_due())
                .key(format!("{}{q}", keys.outbox_queues()))
                .key(keys.outbox_disabled())
                .arg("retry")
                .arg(id)
                .arg(serde_json::to_string(&d).map_err(corrupt)?)
                .arg(&q)
                .arg(channel)
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
            Ok((done == 1).then_some(d))
        })
        .await
    }

    pub(super) async fn disable(&self, channel: &str, reason: &str) -> Result<(), StoreError> {
        self.timed(async {
            let mut conn = self.conn().await?;
            let _: i64 = conn
                .hset(self.keys.outbox_disabled(), channel, reason)
                .await
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    /// Read on a pooled connection, as every move of the worker is: the
    /// shared read connections stay out of its polling.
    pub(super) async fn disabled(&self) -> Result<HashMap<String, String>, StoreError> {
        self.timed(async {
            let mut conn = self.conn().await?;
            conn.hgetall(self.keys.outbox_disabled())
                .await
                .map_err(unavailable)
        })
        .await
    }
}
