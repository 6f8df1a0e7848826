//! Fair play on Redis. Each stored bucket (day, month; see
//! `engagement_core::fair_play`) is kept under `Keys::fair_play`:
//!
//! - every (giver, recipient) pair with its events and points packed in
//!   one number, `events × 2³² + points` (exact while a pair has fewer
//!   than 2²¹ events and ±2³¹ points in one bucket);
//!   - `:e`, a sorted set of the pairs with two events or more, so that the
//!     strong pairs of a bucket are one `ZRANGEBYSCORE` however many weak
//!     pairs the bucket holds;
//!   - `:w<n>`, hashes of the pairs with one event (most pairs: one
//!     member's answer to another's question), spread over
//!     [`shards`] hashes by a hash of the pair, so that each stays small
//!     enough for Redis to keep as a compact list (`hash-max-listpack-entries`,
//!     128 by default), a few bytes per pair instead of a sorted set's
//!     hundred. A pair moves to `:e` on its second event (`fair_play.lua`)
//!     and stays there until it has none left;
//! - `:v<n>`, hashes of every giver with their events that earned anyone
//!   else points, spread the same way. Versions before these hashes kept
//!   givers in a sorted set `:g`, which is still read and added in.
//!
//! A request's changes are summed per key and member and written by one
//! `fair_play.lua` call in its transaction; a take-back removes what falls
//! to zero. Only days and months are written: a week is read as the sum of
//! its seven days, whose keys stay until the week goes (at most six days
//! past the day's own `ENGAGEMENT_RETENTION_DAYS`). Versions before wrote
//! week keys too; those are left to expire, unread.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use deadpool_redis::redis::{self, Pipeline, Value};
use engagement_core::fair_play::{self, Change, Report, Sink, Strong};
use engagement_core::{Bucket, EventId, MemberId, Period, RuleSet};

use super::super::LogEntry;
use super::super::keys::Keys;
use super::insights::parts_of;
use super::{RedisStore, ScriptCall, StoreError, corrupt, unavailable};

static FAIR_PLAY_SCRIPT: LazyLock<String> =
    LazyLock::new(|| super::compact_script(include_str!("fair_play.lua")));

/// What one event adds to a pair's packed score.
const PACK: i64 = 1 << 32;

/// A pair's events and points as one number (or the change of one);
/// [`unpack`] reads it back.
pub(super) fn pack(events: i64, points: i64) -> i64 {
    events * PACK + points
}

/// The least packed number of a pair with `events` events, whatever its
/// points.
fn least(events: i64) -> i64 {
    events * PACK - PACK / 2
}

/// Hashes a bucket's weak pairs, and its givers, are spread over: enough
/// for a few hundred thousand pairs a month to stay in compact hashes of
/// about a hundred.
pub(super) fn shards(period: Period) -> u64 {
    match period {
        Period::Day => 64,
        Period::Week => 256,
        _ => 1024,
    }
}

/// The hash of `base` (a bucket's `Keys::fair_play`) holding `field`: `w`
/// for weak pairs, `v` for givers.
pub(super) fn shard_key(base: &str, kind: char, period: Period, field: &str) -> String {
    format!("{base}:{kind}{}", super::shard(field, shards(period)))
}

/// One bucket's changes: packed deltas per pair, deltas per giver.
type Deltas = (HashMap<String, i64>, HashMap<String, i64>);

/// The changes of one transaction to the fair-play tallies, summed.
pub(super) struct FairWrites<'k> {
    keys: &'k Keys,
    expire_at: &'k (dyn Fn(&Bucket) -> i64 + Sync),
    buckets: BTreeMap<Bucket, Deltas>,
}

impl<'k> FairWrites<'k> {
    pub(super) fn new(keys: &'k Keys, expire_at: &'k (dyn Fn(&Bucket) -> i64 + Sync)) -> Self {
        FairWrites {
            keys,
            expire_at,
            buckets: BTreeMap::new(),
        }
    }

    /// Adds the changes to `pipe`: one `fair_play.lua` call, which also
    /// sets the expiries of the keys it makes.
    pub(super) fn write(self, pipe: &mut Pipeline) {
        let mut script = ScriptCall::default();
        // Expiry by KEYS index, for the keys that expire.
        let mut expiries: BTreeMap<String, i64> = BTreeMap::new();
        let mut key = |script: &mut ScriptCall, name: String, at: i64| {
            let i = script.key(name);
            if at > 0 {
                expiries.insert(i.clone(), at);
            }
            i
        };
        for (bucket, (pairs, gave)) in self.buckets {
            let base = self.keys.fair_play(&bucket);
            let at = (self.expire_at)(&bucket);
            let e = key(&mut script, format!("{base}:e"), at);
            for (pair, delta) in pairs.iter().filter(|(_, d)| **d != 0) {
                let w = key(&mut script, shard_key(&base, 'w', bucket.period, pair), at);
                script
                    .args
                    .extend(["p".into(), e.clone(), w, pair.clone(), delta.to_string()]);
            }
            for (giver, delta) in gave.iter().filter(|(_, d)| **d != 0) {
                let v = key(&mut script, shard_key(&base, 'v', bucket.period, giver), at);
                script
                    .args
                    .extend(["g".into(), v, giver.clone(), delta.to_string()]);
            }
        }
        if script.args.is_empty() {
            return;
        }
        let expiring: Vec<String> = (expiries.iter())
            .flat_map(|(i, at)| [i.clone(), at.to_string()])
            .collect();
        pipe.cmd("EVAL")
            .arg(&**FAIR_PLAY_SCRIPT)
            .arg(script.keys.len())
            .arg(&script.keys)
            .arg(least(2))
            .arg(expiries.len())
            .arg(&expiring)
            .arg(&script.args)
            .ignore();
    }
}

impl Sink for FairWrites<'_> {
    fn keeps(&self, period: Period) -> bool {
        stored(period)
    }

    fn change(&mut self, bucket: Bucket, change: Change<'_>) {
        let (pairs, gave) = self.buckets.entry(bucket).or_default();
        match change {
            Change::Pair {
                from,
                to,
                events,
                points,
            } => {
                *pairs.entry(self.keys.pair(from, to)).or_default() += pack(events, points);
            }
            Change::Gave { from, events } => {
                *gave.entry(from.to_string()).or_default() += events;
            }
        }
    }
}

/// Whether Redis writes fair play's buckets of `period`: days and months.
/// A week is read as its seven days (see `RedisStore::read_fair_play`).
pub(super) fn stored(period: Period) -> bool {
    fair_play::kept(period) && period != Period::Week
}

/// A packed number as (events, points): exact while a pair's points in one
/// bucket stay within ±2³¹ (a revocation can leave a bucket's points below
/// zero when the rules' calendar changed between an event and its undoing).
pub(super) fn unpack(packed: i64) -> (i64, i64) {
    let events = (packed + PACK / 2).div_euclid(PACK);
    (events, packed - events * PACK)
}

/// Whether a pair with `packed` goes to the sorted set rather than a hash.
pub(super) fn in_sorted_set(packed: i64) -> bool {
    packed >= least(2)
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
            let min = i64::from(rules.fair_play.ring_min_events);
            // A week is read as its seven days: every pair of each, summed.
            let parts = parts_of(&bucket, &[], rules.week_starts);
            let summed = parts.len() > 1;
            // Pairs of one event are strong only when one event is enough,
            // or summed with the week's other days.
            let weak = summed || min < 2;
            let bases: Vec<(String, Period)> = (parts.iter())
                .map(|b| (keys.fair_play(b), b.period))
                .collect();
            let mut pipe = redis::pipe();
            for (base, period) in &bases {
                // A pair weak in each day may be strong in the week.
                let least_read = if summed { least(2) } else { least(min) };
                pipe.cmd("ZRANGEBYSCORE")
                    .arg(format!("{base}:e"))
                    .arg(least_read)
                    .arg("+inf")
                    .arg("WITHSCORES");
                if weak {
                    for n in 0..shards(*period) {
                        pipe.hgetall(format!("{base}:w{n}"));
                    }
                }
            }
            let replies: Vec<Value> = pipe.query_async(&mut conn).await.map_err(unavailable)?;
            let mut packed: HashMap<String, i64> = HashMap::new();
            let mut replies = replies.into_iter();
            for (_, period) in &bases {
                let sorted: Vec<(String, f64)> =
                    redis::from_redis_value(replies.next().unwrap_or(Value::Nil))
                        .map_err(corrupt)?;
                for (pair, score) in sorted {
                    *packed.entry(pair).or_default() += score as i64;
                }
                if weak {
                    for _ in 0..shards(*period) {
                        let hash: Vec<(String, i64)> =
                            redis::from_redis_value(replies.next().unwrap_or(Value::Nil))
                                .map_err(corrupt)?;
                        for (pair, n) in hash {
                            *packed.entry(pair).or_default() += n;
                        }
                    }
                }
            }
            let mut strong = Vec::with_capacity(packed.len());
            for (pair, packed) in packed {
                let (events, points) = unpack(packed);
                if events < min {
                    continue;
                }
                let (from, to) = keys
                    .unpair(&pair)
                    .ok_or_else(|| corrupt(format!("fair-play pair {pair:?}")))?;
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
            let mut gave: HashMap<MemberId, i64> = HashMap::new();
            if !givers.is_empty() {
                // Each giver's events in their hash, plus what versions
                // before the hashes kept in the sorted set `:g`, in each
                // bucket read.
                let names: Vec<&str> = givers.iter().map(|m| m.as_str()).collect();
                let mut pipe = redis::pipe();
                for (base, period) in &bases {
                    pipe.cmd("ZMSCORE").arg(format!("{base}:g")).arg(&names);
                    for giver in &names {
                        pipe.hget(shard_key(base, 'v', *period, giver), *giver);
                    }
                }
                let replies: Vec<Value> = pipe.query_async(&mut conn).await.map_err(unavailable)?;
                let mut replies = replies.into_iter();
                for _ in &bases {
                    let earlier: Vec<Option<f64>> =
                        redis::from_redis_value(replies.next().unwrap_or(Value::Nil))
                            .map_err(corrupt)?;
                    for (giver, earlier) in givers.iter().zip(earlier) {
                        let now: Option<i64> =
                            redis::from_redis_value(replies.next().unwrap_or(Value::Nil))
                                .map_err(corrupt)?;
                        *gave.entry(giver.clone()).or_default() +=
                            earlier.unwrap_or(0.0) as i64 + now.unwrap_or(0);
                    }
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_pairs_read_back_and_go_where_their_events_say() {
        for (events, points) in [
            (1, 2),
            (2, -7),
            (1, -2_000_000_000),
            (0, 5),
            (2_000_000, 2_000_000_000),
        ] {
            let packed = pack(events, points);
            assert_eq!(unpack(packed), (events, points));
            assert_eq!(in_sorted_set(packed), events >= 2, "{events} {points}");
            // As a sorted-set score, exactly.
            assert_eq!(unpack(packed as f64 as i64), (events, points));
        }
        assert!(
            least(2) > pack(1, i64::from(i32::MAX)) && least(2) <= pack(2, i64::from(i32::MIN))
        );
    }

    #[test]
    fn shards_spread_one_field_to_one_hash() {
        let a = shard_key("b", 'w', Period::Day, "bo:ana");
        assert_eq!(a, shard_key("b", 'w', Period::Day, "bo:ana"));
        let month: std::collections::HashSet<String> = (0..10_000)
            .map(|i| shard_key("b", 'v', Period::Month, &format!("m{i}")))
            .collect();
        assert!(month.len() > 900 && month.len() <= 1024, "{}", month.len());
    }
}
