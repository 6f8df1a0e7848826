//! The optimistic transaction every write runs as: WATCH what it reads and
//! read it in the same round trip, then MULTI/EXEC every write at once, from
//! the start again when another writer got there first (`optimistic!`).
//! Also the connections it runs on, and the deadline every operation has.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use deadpool_redis::redis;

use super::super::keys::Keys;
use super::pool::{Connection, Link};
use super::{OPERATION_TIMEOUT, RedisStore, StoreError, Target, unavailable};

/// How long a write waits for its replicas (`ENGAGEMENT_REDIS_MIN_REPLICAS`).
const REPLICA_WAIT: Duration = Duration::from_secs(2);

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

impl RedisStore {
    pub(super) async fn conn(&self) -> Result<Connection, StoreError> {
        self.pool.get().await.map_err(unavailable)
    }

    /// A connection for reads. Reads need no connection of their own (no
    /// WATCH), so they share a few multiplexed ones: concurrent reads go out
    /// together, and nothing is checked out of the pool, which costs a round
    /// trip each time. Each thread keeps to one of them, connected from that
    /// thread on first use and reconnected after a failure.
    pub(super) async fn reader(&self) -> Result<Link, StoreError> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        let slot = SLOT.with(|s| *s) % self.readers.len();
        self.readers[slot]
            .get_or_try_init(|| self.backend.reader())
            .await
            .cloned()
            .map_err(unavailable)
    }

    /// With `ENGAGEMENT_REDIS_MIN_REPLICAS`, waits until that many replicas
    /// hold everything written so far, so that a failover loses no acknowledged
    /// write; refuses (503) when they do not confirm in time. The write
    /// stands on the primary either way: a client's retry of the same
    /// events is answered as a duplicate, and waits again.
    pub(super) async fn replicated(&self, conn: &mut Connection) -> Result<(), StoreError> {
        if self.min_replicas == 0 {
            return Ok(());
        }
        // The replication stream is ordered: once replicas hold this one
        // write, they hold every write before it, whoever made it (a
        // duplicate's answer made no write of its own to wait for).
        let (confirmed,): (u32,) = redis::pipe()
            .set(self.keys.fence(), 1)
            .ignore()
            .cmd("WAIT")
            .arg(self.min_replicas)
            .arg(REPLICA_WAIT.as_millis() as u64)
            .query_async(conn)
            .await
            .map_err(unavailable)?;
        if confirmed < self.min_replicas {
            return Err(unavailable(format!(
                "{confirmed} of the {} replicas asked for confirmed the write within {} ms; retry",
                self.min_replicas,
                REPLICA_WAIT.as_millis()
            )));
        }
        Ok(())
    }

    /// Runs an operation with a deadline, so a hung Redis answers 503.
    pub(super) async fn timed<T>(
        &self,
        op: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(OPERATION_TIMEOUT, op)
            .await
            .unwrap_or_else(|_| Err(unavailable("redis did not answer in time")))
    }

    /// In one round trip: WATCH what `reads` names and read it.
    pub(super) async fn watch_and_get<V: redis::FromRedisValue>(
        &self,
        conn: &mut Connection,
        reads: &Reads<'_>,
    ) -> Result<Vec<Option<V>>, StoreError> {
        if reads.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        pipe.cmd("WATCH").arg(reads.watched()).ignore();
        reads.ask(&mut pipe);
        let values: Vec<redis::Value> = pipe.query_async(conn).await.map_err(unavailable)?;
        reads.answers(values)
    }

    /// For a write: the keys of the target generation with `keys(generation)`
    /// watched and read in one round trip. For the live generation the
    /// generation pointer is watched too; `None` when it moved (a replay
    /// switched), after which the caller starts again. With `rules`, the
    /// deployment's active rule version is watched as well, and a write
    /// computed under another version is refused: no event is applied
    /// under rules older than the ones put in force.
    pub(super) async fn watch_target<'a, V: redis::FromRedisValue>(
        &self,
        conn: &mut Connection,
        target: Target,
        rules: Option<&str>,
        reads_of: impl Fn(&Keys) -> Reads<'a>,
    ) -> Result<Option<(Keys, Vec<Option<V>>)>, StoreError> {
        let generation = match target {
            Target::Rebuild(generation) => {
                let keys = self.keys.at(generation);
                let values = self.watch_and_get(conn, &reads_of(&keys)).await?;
                return Ok(Some((keys, values)));
            }
            Target::Live => self.live_generation(conn).await?,
        };
        let keys = self.keys.at(generation);
        let reads = reads_of(&keys);
        let pointer = self.keys.generation();
        let active = self.keys.rules_active();
        let mut pipe = redis::pipe();
        pipe.cmd("WATCH")
            .arg(&pointer)
            .arg(&active)
            .arg(reads.watched())
            .ignore()
            .get(&pointer)
            .get(&active);
        reads.ask(&mut pipe);
        let mut answers: Vec<redis::Value> = pipe.query_async(conn).await.map_err(unavailable)?;
        if answers.len() < 2 {
            return Err(unavailable("redis answered a transaction's reads short"));
        }
        let values = answers.split_off(2);
        let mut answers = answers.into_iter();
        let (live, in_force): (Option<u64>, Option<String>) =
            (parse(answers.next())?, parse(answers.next())?);
        let values = reads.answers(values)?;
        if let (Some(expected), Some(in_force)) = (rules, &in_force)
            && expected != in_force
        {
            redis::cmd("UNWATCH")
                .query_async::<()>(conn)
                .await
                .map_err(unavailable)?;
            return Err(StoreError::RulesChanged {
                in_force: in_force.clone(),
            });
        }
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
}

/// What a transaction reads, and so watches: fields of hashes (events'
/// records in their buckets, see `Keys::record`) and whole keys. Their
/// values come back in that order.
#[derive(Default)]
pub(super) struct Reads<'a> {
    pub fields: Vec<(String, &'a str)>,
    pub keys: Vec<String>,
}

impl<'a> Reads<'a> {
    /// Whole keys only.
    pub fn keys(keys: Vec<String>) -> Reads<'a> {
        Reads {
            fields: Vec::new(),
            keys,
        }
    }

    fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.keys.is_empty()
    }

    /// Every key read, each once.
    fn watched(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        (self.fields.iter().map(|(hash, _)| hash.as_str()))
            .chain(self.keys.iter().map(String::as_str))
            .filter(|k| seen.insert(*k))
            .collect()
    }

    /// Adds the reads to `pipe`: a HGET a field, then one MGET.
    fn ask(&self, pipe: &mut redis::Pipeline) {
        for (hash, field) in &self.fields {
            pipe.hget(hash, *field);
        }
        if !self.keys.is_empty() {
            pipe.cmd("MGET").arg(&self.keys);
        }
    }

    /// The values read, from what Redis answered to [`Reads::ask`].
    fn answers<V: redis::FromRedisValue>(
        &self,
        answers: Vec<redis::Value>,
    ) -> Result<Vec<Option<V>>, StoreError> {
        let expected = self.fields.len() + usize::from(!self.keys.is_empty());
        if answers.len() != expected {
            return Err(unavailable("redis answered a transaction's reads short"));
        }
        let mut answers = answers.into_iter();
        let mut values = Vec::with_capacity(self.fields.len() + self.keys.len());
        for _ in &self.fields {
            values.push(parse(answers.next())?);
        }
        if let Some(keys) = answers.next() {
            values.extend(parse::<Vec<Option<V>>>(Some(keys))?);
        }
        Ok(values)
    }
}

/// One value of a pipeline's answer.
fn parse<T: redis::FromRedisValue>(value: Option<redis::Value>) -> Result<T, StoreError> {
    redis::from_redis_value(value.unwrap_or(redis::Value::Nil)).map_err(unavailable)
}
