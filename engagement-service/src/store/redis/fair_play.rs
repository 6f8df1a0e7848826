//! Fair play on Redis. Each kept bucket (day, week, month; see
//! `engagement_core::fair_play`) has two sorted sets under
//! `Keys::fair_play`:
//!
//! - `:e`, every (giver, recipient) pair with its events and points packed
//!   in one score, `events × 2³² + points`, so that the strong pairs of a
//!   bucket are one `ZRANGEBYSCORE` from `ring_min_events × 2³²`, however
//!   many weak pairs the bucket holds (exact while a pair has fewer than
//!   2²¹ events and ±2³¹ points in one bucket);
//! - `:g`, every giver with their events that earned anyone else points.
//!
//! A request's changes are summed per key and member and written as plain
//! commands in its transaction; a take-back then removes what fell to zero.
//! Day and week keys expire with `ENGAGEMENT_RETENTION_DAYS`, as boards do.

use std::collections::{BTreeMap, HashMap};

use deadpool_redis::redis::{self, Pipeline};
use engagement_core::fair_play::{self, Change, Report, Sink, Strong};
use engagement_core::{Bucket, EventId, MemberId, RuleSet};

use super::super::LogEntry;
use super::super::keys::Keys;
use super::{RedisStore, StoreError, corrupt, unavailable};

/// What one event adds to a pair's packed score.
const PACK: f64 = 4_294_967_296.0;

/// A pair's events and points as one sorted-set score (or the change of
/// one); [`unpack`] reads it back.
pub(super) fn pack(events: i64, points: i64) -> f64 {
    events as f64 * PACK + points as f64
}

/// One bucket's changes: packed deltas per pair, deltas per giver.
type Deltas = (HashMap<String, f64>, HashMap<String, i64>);

/// The changes of one transaction to the fair-play sets, summed.
pub(super) struct FairWrites<'k> {
    keys: &'k Keys,
    expire_at: &'k (dyn Fn(&Bucket) -> i64 + Sync),
    buckets: BTreeMap<Bucket, Deltas>,
    /// Whether any change took something back.
    takes_back: bool,
}

impl<'k> FairWrites<'k> {
    pub(super) fn new(keys: &'k Keys, expire_at: &'k (dyn Fn(&Bucket) -> i64 + Sync)) -> Self {
        FairWrites {
            keys,
            expire_at,
            buckets: BTreeMap::new(),
            takes_back: false,
        }
    }

    /// Adds the changes to `pipe`.
    pub(super) fn write(self, pipe: &mut Pipeline) {
        for (bucket, (pairs, gave)) in self.buckets {
            let base = self.keys.fair_play(&bucket);
            let (e, g) = (format!("{base}:e"), format!("{base}:g"));
            for (pair, delta) in pairs.iter().filter(|(_, d)| **d != 0.0) {
                pipe.zincr(&e, pair, *delta).ignore();
            }
            for (giver, delta) in gave.iter().filter(|(_, d)| **d != 0) {
                pipe.zincr(&g, giver, *delta).ignore();
            }
            if self.takes_back {
                // A pair or giver with no event left goes.
                pipe.zrembyscore(&e, "-inf", 0).ignore();
                pipe.zrembyscore(&g, "-inf", 0).ignore();
            }
            let at = (self.expire_at)(&bucket);
            if at > 0 {
                for key in [&e, &g] {
                    // Set once, when the key is new.
                    pipe.cmd("EXPIREAT").arg(key).arg(at).arg("NX").ignore();
                }
            }
        }
    }
}

impl Sink for FairWrites<'_> {
    fn change(&mut self, bucket: Bucket, change: Change<'_>) {
        let (pairs, gave) = self.buckets.entry(bucket).or_default();
        match change {
            Change::Pair {
                from,
                to,
                events,
                points,
            } => {
                self.takes_back |= events < 0;
                *pairs.entry(self.keys.pair(from, to)).or_default() += pack(events, points);
            }
            Change::Gave { from, events } => {
                self.takes_back |= events < 0;
                *gave.entry(from.to_string()).or_default() += events;
            }
        }
    }
}

/// A packed score as (events, points): exact while a pair's points in one
/// bucket stay within ±2³¹ (a revocation can leave a bucket's points below
/// zero when the rules' calendar changed between an event and its undoing).
pub(super) fn unpack(score: f64) -> (i64, i64) {
    let events = (score / PACK).round();
    (events as i64, (score - events * PACK) as i64)
}

impl RedisStore {
    pub(super) async fn read_fair_play(
        &self,
        rules: &RuleSet,
        bucket: Bucket,
    ) -> Result<Report, StoreError> {
        self.timed(async {
            let mut conn = self.reader().await?;
            let keys = self.live_keys(&mut conn).await?;
            let base = keys.fair_play(&bucket);
            let min = pack(i64::from(rules.fair_play.ring_min_events), 0);
            let scored: Vec<(String, f64)> = redis::cmd("ZRANGEBYSCORE")
                .arg(format!("{base}:e"))
                .arg(min)
                .arg("+inf")
                .arg("WITHSCORES")
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            let mut strong = Vec::with_capacity(scored.len());
            for (pair, score) in scored {
                let (from, to) = keys
                    .unpair(&pair)
                    .ok_or_else(|| corrupt(format!("fair-play pair {pair:?}")))?;
                let (events, points) = unpack(score);
                strong.push(Strong {
                    from,
                    to,
                    events,
                    points,
                });
            }
            let mut givers: Vec<MemberId> = strong.iter().map(|s| s.from.clone()).collect();
            givers.sort();
            givers.dedup();
            let gave: HashMap<MemberId, i64> = if givers.is_empty() {
                HashMap::new()
            } else {
                let scores: Vec<Option<f64>> = redis::cmd("ZMSCORE")
                    .arg(format!("{base}:g"))
                    .arg(givers.iter().map(|m| m.as_str()).collect::<Vec<_>>())
                    .query_async(&mut conn)
                    .await
                    .map_err(unavailable)?;
                (givers.into_iter())
                    .zip(scores)
                    .map(|(m, n)| (m, n.unwrap_or(0.0) as i64))
                    .collect()
            };
            let gave = |m: &MemberId| gave.get(m).copied().unwrap_or(0);
            Ok(Report::build(&rules.fair_play, &bucket, strong, gave))
        })
        .await
    }

    /// The pairs' events in `bucket`, read from the log in pages
    /// (candidates by actor, target author and day) and confirmed by their
    /// recorded outcomes.
    pub(super) async fn read_pair_events(
        &self,
        rules: &RuleSet,
        bucket: Bucket,
        pairs: &[(MemberId, MemberId)],
    ) -> Result<Vec<Vec<EventId>>, StoreError> {
        let index: HashMap<(&MemberId, &MemberId), usize> = (pairs.iter().enumerate())
            .map(|(i, (from, to))| ((from, to), i))
            .collect();
        let mut candidates: Vec<(usize, jiff::Timestamp, EventId)> = Vec::new();
        self.read_everything(|entry| {
            let LogEntry::Event { event } = entry else {
                return;
            };
            let Some(author) = event.target.as_ref().and_then(|t| t.author.as_ref()) else {
                return;
            };
            if event.revokes.is_some() {
                return;
            }
            let Some(&i) = index.get(&(&event.actor, author)) else {
                return;
            };
            let date = rules.timezone.to_datetime(event.occurred_at).date();
            if Bucket::containing(bucket.period, date, rules.week_starts) == bucket {
                candidates.push((i, event.occurred_at, event.id));
            }
        })
        .await?;
        // Oldest first, as the embedded store lists them.
        candidates.sort_by(|a, b| (a.1, &a.2).cmp(&(b.1, &b.2)));
        let mut out = vec![Vec::new(); pairs.len()];
        for chunk in candidates.chunks(1000) {
            let ids: Vec<EventId> = chunk.iter().map(|(_, _, id)| id.clone()).collect();
            let outcomes = self.records(&ids).await?;
            for ((i, _, id), outcome) in chunk.iter().zip(outcomes) {
                let (from, to) = &pairs[*i];
                if outcome.is_some_and(|o| fair_play::pair_event(rules, &o, from, to, &bucket)) {
                    out[*i].push(id.clone());
                }
            }
        }
        Ok(out)
    }
}
