//! The optimistic transaction every write runs as: WATCH what it reads and
//! read it in the same round trip, then MULTI/EXEC every write at once, from
//! the start again when another writer got there first (`optimistic!`).
//! Also the connections it runs on, and the deadline every operation has.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use deadpool_redis::redis;
use engagement_core::EventId;

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
                let reads = reads_of(&keys).looking_former(!self.in_buckets(generation));
                let values = self.watch_and_get(conn, &reads).await?;
                return Ok(Some((keys, values)));
            }
            Target::Live => self.live_generation(conn).await?,
        };
        let keys = self.keys.at(generation);
        let reads = reads_of(&keys).looking_former(!self.in_buckets(generation));
        // Until the generation is known to keep its records in buckets
        // only: whether it says so, and whether the deployment is new.
        let checking = reads.look_former && !reads.former.is_empty();
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
        let asked = if checking {
            pipe.get(keys.records_in_buckets())
                .exists(&[self.keys.log(), self.keys.archives()]);
            4
        } else {
            2
        };
        reads.ask(&mut pipe);
        let mut answers: Vec<redis::Value> = pipe.query_async(conn).await.map_err(unavailable)?;
        if answers.len() < asked {
            return Err(unavailable("redis answered a transaction's reads short"));
        }
        let values = answers.split_off(asked);
        let mut answers = answers.into_iter();
        let (live, in_force): (Option<u64>, Option<String>) =
            (parse(answers.next())?, parse(answers.next())?);
        if checking {
            let (marked, logged): (Option<u8>, u8) =
                (parse(answers.next())?, parse(answers.next())?);
            if marked.is_some() {
                self.remember_in_buckets(generation);
            } else if live.is_none() && logged == 0 {
                // Nothing was ever written: every record will be in buckets.
                redis::cmd("SET")
                    .arg(keys.records_in_buckets())
                    .arg(1)
                    .query_async::<()>(conn)
                    .await
                    .map_err(unavailable)?;
                self.remember_in_buckets(generation);
            }
        }
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
/// records in their buckets, see `Keys::record`), the keys where earlier
/// versions kept records, and other whole keys. Their values come back in
/// that order; the former keys' as none when the generation keeps its
/// records in buckets only, where they are neither watched nor read.
pub(super) struct Reads<'a> {
    fields: Vec<(String, &'a str)>,
    former: Vec<String>,
    keys: Vec<String>,
    look_former: bool,
}

impl<'a> Reads<'a> {
    /// The records of events `ids` in generation `at` (each in its bucket,
    /// and where earlier versions kept it), then whole keys `keys`.
    pub fn records(
        at: &Keys,
        ids: impl Iterator<Item = &'a EventId> + Clone,
        keys: Vec<String>,
    ) -> Self {
        Reads {
            fields: ids.clone().map(|id| at.record(id)).collect(),
            former: ids.map(|id| at.former_record(id)).collect(),
            keys,
            look_former: true,
        }
    }

    /// Whole keys only.
    pub fn keys(keys: Vec<String>) -> Reads<'a> {
        Reads {
            fields: Vec::new(),
            former: Vec::new(),
            keys,
            look_former: true,
        }
    }

    /// Whether the former keys are watched and read: not in a generation
    /// known to keep its records in buckets only.
    pub fn looking_former(mut self, look: bool) -> Self {
        self.look_former = look;
        self
    }

    fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.whole().next().is_none()
    }

    /// The whole keys read.
    fn whole(&self) -> impl Iterator<Item = &String> {
        let former = self.former.iter().filter(|_| self.look_former);
        former.chain(&self.keys)
    }

    /// Every key read, each once.
    fn watched(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        (self.fields.iter().map(|(hash, _)| hash.as_str()))
            .chain(self.whole().map(String::as_str))
            .filter(|k| seen.insert(*k))
            .collect()
    }

    /// Adds the reads to `pipe`: a HGET a field, then one MGET.
    pub fn ask(&self, pipe: &mut redis::Pipeline) {
        for (hash, field) in &self.fields {
            pipe.hget(hash, *field);
        }
        let whole: Vec<&String> = self.whole().collect();
        if !whole.is_empty() {
            pipe.cmd("MGET").arg(whole);
        }
    }

    /// The values read, from what Redis answered to [`Reads::ask`].
    pub fn answers<V: redis::FromRedisValue>(
        &self,
        answers: Vec<redis::Value>,
    ) -> Result<Vec<Option<V>>, StoreError> {
        let whole = self.whole().count();
        let expected = self.fields.len() + usize::from(whole > 0);
        if answers.len() != expected {
            return Err(unavailable("redis answered a transaction's reads short"));
        }
        let mut answers = answers.into_iter();
        let mut values =
            Vec::with_capacity(self.fields.len() + self.former.len() + self.keys.len());
        for _ in &self.fields {
            values.push(parse(answers.next())?);
        }
        if !self.look_former {
            values.extend(self.former.iter().map(|_| None));
        }
        if let Some(read) = answers.next() {
            let read: Vec<Option<V>> = parse(Some(read))?;
            if read.len() != whole {
                return Err(unavailable("redis answered a transaction's reads short"));
            }
            values.extend(read);
        }
        Ok(values)
    }
}

/// One value of a pipeline's answer.
fn parse<T: redis::FromRedisValue>(value: Option<redis::Value>) -> Result<T, StoreError> {
    redis::from_redis_value(value.unwrap_or(redis::Value::Nil)).map_err(unavailable)
}
