//! Knowledge-flow insights in Redis, kept at the smallest cost per event.
//!
//! Only day and month buckets are written; a week is read as its seven
//! days, a quarter, a year and all time as their months (sums and unions,
//! exact). Each scope and stored bucket has:
//! - its counters (`rev` first, then [`Counter::ALL`]) in the counter
//!   string of its scope and year (`i:c<year>:…`), which holds every day's
//!   and month's of that year: an event moves its day's and its month's
//!   with one `BITFIELD`, and these strings stay (about 42 KB per scope and
//!   year);
//! - `:a` events per actor, `:h` acceptances per answer author, `:w`
//!   seconds to a first answer per question and, for the whole deployment,
//!   `:f` answers per home and answering community (hashes; a field goes at
//!   zero). A day's `:a` and `:w`, most of what insights keep, are spread by
//!   a hash of the field over [`day_shards`] hashes (`:a<n>`, `:w<n>`), so
//!   that each stays small enough for Redis's compact encoding
//!   (`hash-max-listpack-entries`, 128 by default): a few bytes a field
//!   instead of about seventy. Versions before kept them in one `:a` and
//!   one `:w`, which are still read and added in;
//! - `:p` net points per member (sorted set), only when some period or
//!   scope has no points leaderboard: the participation figures read the
//!   points board itself, which already holds exactly that distribution.
//!
//! Questions and their live answers are JSON under `q:<id>`, read and
//! watched by the transactions that touch them. A day bucket stays as long
//! as the week holding it (at most six days past the day's own retention).
//!
//! A transaction sums its changes per key and field and writes them as
//! plain commands in its MULTI/EXEC (`insights.lua` takes back what a
//! revocation undoes, removing the fields it leaves at zero).
//!
//! A report reads the keys of its buckets in one atomic round trip; the last
//! report of each bucket is kept with the sum of its buckets' `rev`, so
//! asking again costs one round trip of small reads (two for all time, whose
//! months are read first) until something changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arcstr::ArcStr;
use deadpool_redis::redis::{self, Pipeline, Value};
pub(super) use engagement_core::insights::keeps_points;
use engagement_core::insights::{Change, Counter, Counts, Parts, Question, Sink, points_board};
use engagement_core::{BoardKey, Bucket, CommunityId, MemberId, Period, Report, RuleSet};
use jiff::civil::Date;

use super::super::compact;
use super::super::keys::Keys;
use super::super::retention::Retention;
use super::{RedisStore, SHIFT, ScriptCall, StoreError, corrupt, unavailable};

pub(super) const INSIGHTS_SCRIPT: &str = include_str!("insights.lua");

/// Reports kept per instance before the cache starts again.
const CACHED_REPORTS: usize = 512;

/// The periods whose buckets Redis writes: the others are read from them.
pub(super) const STORED: [Period; 2] = [Period::Day, Period::Month];

/// Whether Redis writes the buckets of `period`.
fn stored(period: Period) -> bool {
    STORED.contains(&period)
}

/// When a stored bucket's keys go (Unix seconds; 0: never): a day with the
/// week that holds it, so that the week can still be read from its days.
pub(super) fn stored_expiry(
    retention: Retention,
    bucket: &Bucket,
    week_starts: jiff::civil::Weekday,
) -> i64 {
    let bucket = match (bucket.period, bucket.start) {
        (Period::Day, Some(day)) => Bucket::containing(Period::Week, day, week_starts),
        _ => *bucket,
    };
    retention.expires_at(&bucket).map_or(0, |t| t.as_second())
}

/// Hashes a day's actors (`:a`) and waits (`:w`) are spread over: a busy
/// day of a hundred thousand members' deployment (about 8,000 actors)
/// stays near sixty fields a hash; 0 for the buckets kept in one hash.
pub(super) fn day_shards(community: bool, period: Period) -> u64 {
    match (period, community) {
        (Period::Day, false) => 128,
        (Period::Day, true) => 16,
        _ => 0,
    }
}

/// Whether a day's tally under `suffix` is spread over shards.
fn spread(suffix: &str) -> bool {
    matches!(suffix, ":a" | ":w")
}

/// The hash of a bucket (`base`, spread over `shards`) holding `field` of
/// the tally under `suffix`.
pub(super) fn tally_key(base: &str, suffix: &str, shards: u64, field: &str) -> String {
    if shards == 0 || !spread(suffix) {
        return format!("{base}{suffix}");
    }
    format!("{base}{suffix}{}", super::shard(field, shards))
}

/// Every hash of a bucket's tally under `suffix`: its shards, and the one
/// hash versions before the shards kept.
fn tally_keys(base: &str, suffix: &str, shards: u64) -> Vec<String> {
    let mut keys = vec![format!("{base}{suffix}")];
    if spread(suffix) {
        keys.extend((0..shards).map(|n| format!("{base}{suffix}{n}")));
    }
    keys
}

/// Hash tallies of a bucket, by the suffix of their key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Tally {
    Actors,
    Holders,
    Flow,
    /// A sorted set: the points board's kind of distribution.
    Points,
}

impl Tally {
    fn suffix(self) -> &'static str {
        match self {
            Tally::Actors => ":a",
            Tally::Holders => ":h",
            Tally::Flow => ":f",
            Tally::Points => ":p",
        }
    }
}

/// One transaction's insights changes, summed per key and field.
pub(super) struct Writes<'k> {
    keys: &'k Keys,
    expire_at: &'k (dyn Fn(&Bucket) -> i64 + Sync),
    own_points: bool,
    /// Each scope and bucket touched: its index in `bases`.
    buckets: HashMap<(Option<CommunityId>, Bucket), usize>,
    /// Key start, expiry, summed counters and [`day_shards`] of each scope
    /// and bucket.
    bases: Vec<(String, i64, Counts, u64)>,
    tallies: HashMap<(usize, Tally, ArcStr), i64>,
    /// The last wait set (or removed) per bucket and question.
    waits: HashMap<(usize, String), Option<i64>>,
    communities: Vec<CommunityId>,
    months: Vec<Date>,
    known: &'k Known,
}

/// The communities and months this instance saw in the insight sets of a
/// generation after a write that added them committed: adding them again
/// changes nothing, so it is not sent.
#[derive(Debug, Default)]
pub(super) struct Known(Mutex<(String, std::collections::HashSet<String>)>);

impl Known {
    fn entry(key: &str, member: &str) -> String {
        format!("{key}\n{member}")
    }

    fn has(&self, key: &str, member: &str) -> bool {
        let known = self.0.lock().unwrap_or_else(|p| p.into_inner());
        known.1.contains(&Known::entry(key, member))
    }

    /// Notes members a committed write added to sets.
    pub(super) fn note(&self, added: &[(String, String)]) {
        let mut known = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for (key, member) in added {
            // One generation at a time: a replay starts the sets again.
            let generation = key.split(":i:").next().unwrap_or_default();
            if known.0 != generation {
                *known = (generation.to_owned(), Default::default());
            }
            known.1.insert(Known::entry(key, member));
        }
    }
}

impl<'k> Writes<'k> {
    pub(super) fn new(
        keys: &'k Keys,
        expire_at: &'k (dyn Fn(&Bucket) -> i64 + Sync),
        own_points: bool,
        known: &'k Known,
    ) -> Writes<'k> {
        Writes {
            keys,
            expire_at,
            own_points,
            known,
            buckets: HashMap::new(),
            bases: Vec::new(),
            tallies: HashMap::new(),
            waits: HashMap::new(),
            communities: Vec::new(),
            months: Vec::new(),
        }
    }

    fn base(&mut self, scope: Option<&CommunityId>, bucket: Bucket) -> usize {
        if let Some(&i) = self.buckets.get(&(scope.cloned(), bucket)) {
            return i;
        }
        let i = self.bases.len();
        let key = self.keys.insights(scope, &bucket);
        let shards = day_shards(scope.is_some(), bucket.period);
        self.bases.push((
            key,
            (self.expire_at)(&bucket),
            [0; Counter::ALL.len()],
            shards,
        ));
        self.buckets.insert((scope.cloned(), bucket), i);
        if let Some(c) = scope
            && !self.communities.contains(c)
        {
            self.communities.push(c.clone());
        }
        if let (Period::Month, Some(start)) = (bucket.period, bucket.start)
            && !self.months.contains(&start)
        {
            self.months.push(start);
        }
        i
    }

    /// Adds the script call writing every change to `pipe`; returns the
    /// members it adds to sets, for [`Known::note`] once it commits.
    pub(super) fn write(self, pipe: &mut Pipeline) -> Vec<(String, String)> {
        let mut added = Vec::new();
        if self.bases.is_empty() {
            return added;
        }
        // Plain commands inside the transaction: a script call costs more
        // than the few commands an event needs. Only a change that takes
        // back, which may leave a field at zero to remove, goes through
        // `insights.lua`.
        let mut takes_back = ScriptCall::default();
        let expire = |pipe: &mut Pipeline, key: &str, at: i64| {
            if at > 0 {
                // Set once, when the key is new.
                pipe.cmd("EXPIREAT").arg(key).arg(at).arg("NX").ignore();
            }
        };
        // One BITFIELD per scope and year, over every bucket touched in it.
        let mut strings: Vec<(String, redis::Cmd)> = Vec::new();
        for ((scope, bucket), b) in &self.buckets {
            let Some((year, place)) = slot(bucket) else {
                continue;
            };
            let key = self.keys.insight_counters(scope.as_ref(), year);
            let at = match strings.iter().position(|(k, _)| *k == key) {
                Some(at) => at,
                None => {
                    let mut cmd = redis::cmd("BITFIELD");
                    cmd.arg(&key).arg("OVERFLOW").arg("WRAP");
                    strings.push((key, cmd));
                    strings.len() - 1
                }
            };
            let cmd = &mut strings[at].1;
            let first = place * SLOTS;
            // `rev` first: every bucket touched moves, so cached reports of it go.
            cmd.arg("INCRBY").arg("i64").arg(format!("#{first}")).arg(1);
            let counts = &self.bases[*b].2;
            for (i, delta) in counts.iter().enumerate().filter(|(_, d)| **d != 0) {
                cmd.arg("INCRBY")
                    .arg("i64")
                    .arg(format!("#{}", first + 1 + i))
                    .arg(*delta);
            }
        }
        for (_, cmd) in strings {
            pipe.add_command(cmd).ignore();
        }
        for ((b, tally, field), delta) in &self.tallies {
            let (base, expire_at, _, shards) = &self.bases[*b];
            let key = tally_key(base, tally.suffix(), *shards, field);
            match (*delta, tally) {
                (0, _) => continue,
                (d, Tally::Points) if d > 0 => {
                    pipe.zincr(&key, &**field, d).ignore();
                }
                (d, _) if d > 0 => {
                    pipe.hincr(&key, &**field, d).ignore();
                }
                (d, _) => {
                    let code = if *tally == Tally::Points { "z" } else { "k" };
                    let k = takes_back.key(key.clone());
                    takes_back
                        .args
                        .extend([code.to_owned(), k, field.to_string(), d.to_string()]);
                }
            }
            expire(pipe, &key, *expire_at);
        }
        for ((b, question), wait) in &self.waits {
            let (base, expire_at, _, shards) = &self.bases[*b];
            let key = tally_key(base, ":w", *shards, question);
            match wait {
                Some(seconds) => pipe.hset(&key, question, *seconds).ignore(),
                None => pipe.hdel(&key, question).ignore(),
            };
            if *shards > 0 {
                // Where versions before the shards kept it: read and
                // added in, so it goes.
                pipe.hdel(format!("{base}:w"), question).ignore();
            }
            expire(pipe, &key, *expire_at);
        }
        let sets = [
            (
                self.keys.insight_communities(),
                (self.communities.iter())
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>(),
            ),
            (
                self.keys.insight_months(),
                self.months.iter().map(|m| m.to_string()).collect(),
            ),
        ];
        for (set, members) in sets {
            for member in members {
                if !self.known.has(&set, &member) {
                    pipe.sadd(&set, &member).ignore();
                    added.push((set.clone(), member));
                }
            }
        }
        if !takes_back.args.is_empty() {
            pipe.cmd("EVAL")
                .arg(INSIGHTS_SCRIPT)
                .arg(takes_back.keys.len())
                .arg(&takes_back.keys)
                .arg(&takes_back.args)
                .ignore();
        }
        added
    }
}

/// A flow pair as one hash field: both ids percent-encoded, so the
/// separator cannot occur inside either.
pub(super) fn flow_member(keys: &Keys, from: &CommunityId, to: &CommunityId) -> String {
    format!("{}:{}", keys.community(from), keys.community(to))
}

impl Sink for Writes<'_> {
    fn keeps(&self, period: Period) -> bool {
        stored(period)
    }

    fn change(&mut self, scope: Option<&CommunityId>, bucket: Bucket, change: Change<'_>) {
        let b = self.base(scope, bucket);
        let mut tally = |tally: Tally, field: ArcStr, delta: i64| {
            *self.tallies.entry((b, tally, field)).or_default() += delta;
        };
        match change {
            Change::Count(counter, delta) => self.bases[b].2[counter.index()] += delta,
            // Member ids are shared strings: the field costs no copy.
            Change::Actor(m, delta) => tally(Tally::Actors, m.shared(), delta),
            // The points board holds these, unless some period has none.
            Change::Points(m, delta) => {
                if self.own_points {
                    tally(Tally::Points, m.shared(), delta);
                }
            }
            Change::Holder(m, delta) => tally(Tally::Holders, m.shared(), delta),
            Change::Flow(from, to, delta) => {
                let field = flow_member(self.keys, from, to);
                tally(Tally::Flow, field.into(), delta);
            }
            Change::Wait(question, wait) => {
                self.waits.insert((b, question.to_owned()), wait);
            }
        }
    }
}

/// Questions a transaction read, with the bytes they were read as.
#[derive(Default)]
pub(super) struct ReadQuestions {
    pub(super) questions: HashMap<String, Question>,
    read: HashMap<String, Option<Vec<u8>>>,
}

impl ReadQuestions {
    pub(super) fn new(
        ids: &[String],
        raw: Vec<Option<Vec<u8>>>,
    ) -> Result<ReadQuestions, StoreError> {
        let mut out = ReadQuestions::default();
        for (id, raw) in ids.iter().zip(raw) {
            if let Some(raw) = &raw {
                let question = compact::read_question(raw).map_err(corrupt)?;
                out.questions.insert(id.clone(), question);
            }
            out.read.insert(id.clone(), raw);
        }
        Ok(out)
    }

    /// Writes back the questions that changed; a question left with nothing
    /// is deleted.
    pub(super) fn write(&self, keys: &Keys, pipe: &mut Pipeline) {
        for (id, question) in &self.questions {
            let before = self.read.get(id).and_then(Option::as_deref);
            if question.is_empty() {
                if before.is_some() {
                    pipe.del(keys.question(id)).ignore();
                }
                continue;
            }
            let raw = compact::question(question);
            if before != Some(raw.as_slice()) {
                pipe.set(keys.question(id), raw).ignore();
            }
        }
    }
}

/// The stored buckets a bucket is read from; `months` lists every month
/// with insights (for all time). Fair play, which keeps days and months
/// too, reads its weeks through it.
pub(super) fn parts_of(
    bucket: &Bucket,
    months: &[Date],
    week_starts: jiff::civil::Weekday,
) -> Vec<Bucket> {
    let month = |d: Date| Bucket::containing(Period::Month, d, week_starts);
    let Some(start) = bucket.start else {
        return months.iter().map(|m| month(*m)).collect();
    };
    let (period, count) = match bucket.period {
        Period::Day | Period::Month => return vec![*bucket],
        Period::Week => (Period::Day, 7),
        Period::Quarter => (Period::Month, 3),
        Period::Year => (Period::Month, 12),
        Period::AllTime => return months.iter().map(|m| month(*m)).collect(),
    };
    let mut out = Vec::with_capacity(count);
    let mut at = start;
    for _ in 0..count {
        let b = Bucket::containing(period, at, week_starts);
        out.push(b);
        match b.end().and_then(|e| e.tomorrow().ok()) {
            Some(next) => at = next,
            None => break,
        }
    }
    out
}

/// Counters per stored bucket: `rev`, then [`Counter::ALL`].
pub(super) const SLOTS: usize = Counter::ALL.len() + 1;

/// Where a stored bucket's counters sit in its year's counter string: the
/// year, and the bucket's place (days of the year first, then the months).
/// One string per scope and year keeps the day's and the month's counters,
/// so an event moves both with one `BITFIELD`.
pub(super) fn slot(bucket: &Bucket) -> Option<(i16, usize)> {
    let start = bucket.start?;
    let place = match bucket.period {
        Period::Day => usize::try_from(start.day_of_year()).ok()? - 1,
        Period::Month => 366 + usize::try_from(start.month()).ok()? - 1,
        _ => return None,
    };
    Some((start.year(), place))
}

/// A bucket's counters as `BITFIELD` keeps them: big-endian signed 64-bit
/// integers, `rev` first.
fn counters(raw: &[u8]) -> (i64, Counts) {
    let slot = |i: usize| -> i64 {
        raw.get(i * 8..i * 8 + 8)
            .map_or(0, |b| i64::from_be_bytes(b.try_into().unwrap_or([0; 8])))
    };
    let mut counts = [0; Counter::ALL.len()];
    for (i, c) in counts.iter_mut().enumerate() {
        *c = slot(i + 1);
    }
    (slot(0), counts)
}

/// The last reports read, by generation, scope and bucket, with the revision
/// they were read at.
#[derive(Debug, Default)]
pub(super) struct ReportCache(Mutex<HashMap<CacheKey, Cached>>);

type CacheKey = (u64, Option<CommunityId>, Bucket);

/// A report as read at a revision: in full, and without who holds the answers.
type Cached = (i64, Arc<Report>, Arc<Report>);

impl ReportCache {
    fn get(&self, key: &CacheKey, rev: i64, admin: bool) -> Option<Arc<Report>> {
        let cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (kept, full, public) = cache.get(key)?;
        (*kept == rev).then(|| if admin { full.clone() } else { public.clone() })
    }

    fn put(&self, key: CacheKey, rev: i64, full: Arc<Report>, public: Arc<Report>) {
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHED_REPORTS {
            cache.clear();
        }
        cache.insert(key, (rev, full, public));
    }
}

/// Sums hash tallies read from several buckets.
fn merge(into: &mut HashMap<String, i64>, read: HashMap<String, i64>) {
    for (k, v) in read {
        *into.entry(k).or_default() += v;
    }
}

impl RedisStore {
    pub(super) async fn read_insight_communities(&self) -> Result<Vec<CommunityId>, StoreError> {
        if !self.insights {
            return Ok(Vec::new());
        }
        self.timed(async {
            let mut conn = self.reader().await?;
            let keys = self.live_keys(&mut conn).await?;
            let names: Vec<String> = redis::cmd("SMEMBERS")
                .arg(keys.insight_communities())
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            let mut out = (names.into_iter())
                .map(|c| CommunityId::parse(c).map_err(corrupt))
                .collect::<Result<Vec<_>, _>>()?;
            out.sort();
            Ok(out)
        })
        .await
    }

    pub(super) async fn read_insights(
        &self,
        rules: &RuleSet,
        community: Option<&CommunityId>,
        bucket: Bucket,
        admin: bool,
    ) -> Result<Option<Arc<Report>>, StoreError> {
        if !self.insights {
            return Ok(None);
        }
        self.timed(async {
            let mut conn = self.reader().await?;
            let generation = self.live_generation(&mut conn).await?;
            let keys = self.keys.at(generation);
            // First the small reads, in one round trip: whether the community
            // is known and the counters with their revisions (all time first
            // needs the months kept, which say which counters to read).
            let all_time = bucket.start.is_none();
            let counters_of = |pipe: &mut Pipeline, ranges: &[(String, usize)]| {
                for (key, place) in ranges {
                    let from = place * SLOTS * 8;
                    pipe.getrange(key, from as isize, (from + SLOTS * 8 - 1) as isize);
                }
            };
            let ranges_of = |parts: &[Bucket]| -> Vec<(String, usize)> {
                (parts.iter())
                    .filter_map(slot)
                    .map(|(year, place)| (keys.insight_counters(community, year), place))
                    .collect()
            };
            let mut parts = parts_of(&bucket, &[], rules.week_starts);
            let mut ranges = ranges_of(&parts);
            let mut small = redis::pipe();
            if let Some(c) = community {
                small.sismember(keys.insight_communities(), c.as_str());
            }
            if all_time {
                small.smembers(keys.insight_months());
            }
            counters_of(&mut small, &ranges);
            let read: Vec<Value> = small.query_async(&mut conn).await.map_err(unavailable)?;
            let mut read = read.into_iter();
            if community.is_some() {
                let known: bool =
                    redis::from_redis_value(read.next().unwrap_or(Value::Nil)).map_err(corrupt)?;
                if !known {
                    return Ok(None);
                }
            }
            let mut revs: Vec<Vec<u8>> = Vec::new();
            if all_time {
                let months: Vec<String> =
                    redis::from_redis_value(read.next().unwrap_or(Value::Nil)).map_err(corrupt)?;
                let mut months: Vec<Date> =
                    (months.iter()).filter_map(|m| m.parse().ok()).collect();
                months.sort();
                parts = parts_of(&bucket, &months, rules.week_starts);
                ranges = ranges_of(&parts);
                if !ranges.is_empty() {
                    let mut pipe = redis::pipe();
                    counters_of(&mut pipe, &ranges);
                    revs = pipe.query_async(&mut conn).await.map_err(unavailable)?;
                }
            } else {
                revs = (read.map(redis::from_redis_value))
                    .collect::<Result<_, _>>()
                    .map_err(corrupt)?;
            }
            let bases: Vec<String> = parts.iter().map(|b| keys.insights(community, b)).collect();
            let rev: i64 = revs.iter().map(|raw| counters(raw).0).sum();
            let cache_key = (generation, community.cloned(), bucket);
            if let Some(report) = self.reports.get(&cache_key, rev, admin) {
                return Ok(Some(report));
            }
            // Then everything, at once and atomically.
            let mut pipe = redis::pipe();
            pipe.atomic();
            counters_of(&mut pipe, &ranges);
            // Each hash read, by the tally it holds.
            let mut hashes: Vec<&str> = Vec::new();
            for (base, part) in bases.iter().zip(&parts) {
                let shards = day_shards(community.is_some(), part.period);
                for suffix in [":a", ":h", ":w", ":f"] {
                    for key in tally_keys(base, suffix, shards) {
                        pipe.hgetall(key);
                        hashes.push(suffix);
                    }
                }
            }
            let board = points_board(rules, bucket.period, community.is_some());
            match board {
                Some(board) => {
                    let key = keys.board(&BoardKey {
                        board: board.into(),
                        community: community.cloned(),
                        bucket,
                    });
                    pipe.cmd("ZRANGE")
                        .arg(key)
                        .arg(SHIFT)
                        .arg("+inf")
                        .arg("BYSCORE")
                        .arg("WITHSCORES");
                }
                None => {
                    for base in &bases {
                        pipe.zrange_withscores(format!("{base}:p"), 0, -1);
                    }
                }
            }
            let read: Vec<Value> = pipe.query_async(&mut conn).await.map_err(unavailable)?;
            let mut read = read.into_iter();
            let mut next = || read.next().unwrap_or(Value::Nil);
            let mut counts = [0; Counter::ALL.len()];
            let mut rev = 0;
            let (mut actors, mut holders, mut waits, mut flow) = (
                HashMap::new(),
                HashMap::new(),
                HashMap::new(),
                HashMap::new(),
            );
            for _ in &ranges {
                let raw: Vec<u8> = redis::from_redis_value(next()).map_err(corrupt)?;
                let (r, c) = counters(&raw);
                rev += r;
                for (sum, n) in counts.iter_mut().zip(c) {
                    *sum += n;
                }
            }
            for suffix in hashes {
                let into = match suffix {
                    ":a" => &mut actors,
                    ":h" => &mut holders,
                    ":w" => &mut waits,
                    _ => &mut flow,
                };
                merge(into, redis::from_redis_value(next()).map_err(corrupt)?);
            }
            let mut points: HashMap<String, i64> = HashMap::new();
            match board {
                Some(_) => {
                    let rows: Vec<(String, f64)> =
                        redis::from_redis_value(next()).map_err(corrupt)?;
                    points.extend(
                        rows.into_iter()
                            .map(|(m, s)| (m, (s / SHIFT).floor() as i64)),
                    );
                }
                None => {
                    for _ in &bases {
                        let rows: Vec<(String, i64)> =
                            redis::from_redis_value(next()).map_err(corrupt)?;
                        merge(&mut points, rows.into_iter().collect());
                    }
                }
            }
            let mut parts = Parts {
                counts,
                active: actors.values().filter(|n| **n > 0).count() as u64,
                points: points.into_values().filter(|p| *p > 0).collect(),
                waits: waits.into_values().collect(),
                ..Parts::default()
            };
            for (member, n) in holders {
                parts
                    .holders
                    .push((MemberId::parse(member).map_err(corrupt)?, n));
            }
            for (pair, n) in flow {
                let (from, to) = pair
                    .split_once(':')
                    .ok_or_else(|| corrupt(format!("flow field {pair}")))?;
                let decode = |s: &str| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8()
                        .map_err(corrupt)
                        .and_then(|s| CommunityId::parse(s.into_owned()).map_err(corrupt))
                };
                parts.flow.push((decode(from)?, decode(to)?, n));
            }
            let full = Report::build(community, bucket, parts, true);
            let mut public = full.clone();
            public.concentration.holders = None;
            let (full, public) = (Arc::new(full), Arc::new(public));
            self.reports
                .put(cache_key, rev, full.clone(), public.clone());
            Ok(Some(if admin { full } else { public }))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{Weekday, date};

    #[test]
    fn weeks_are_read_from_days_and_longer_periods_from_months() {
        let months = [date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1)];
        let week = Bucket::containing(Period::Week, date(2026, 3, 4), Weekday::Monday);
        let days = parts_of(&week, &months, Weekday::Monday);
        assert_eq!(days.len(), 7);
        assert_eq!(days[0].start, Some(date(2026, 3, 2)));
        assert_eq!(days[6].start, Some(date(2026, 3, 8)));
        let quarter = Bucket::containing(Period::Quarter, date(2026, 5, 20), Weekday::Monday);
        let starts: Vec<_> = (parts_of(&quarter, &months, Weekday::Monday).iter())
            .map(|b| (b.period, b.start))
            .collect();
        assert_eq!(
            starts,
            [4, 5, 6].map(|m| (Period::Month, Some(date(2026, m, 1))))
        );
        assert_eq!(
            parts_of(&Bucket::ALL_TIME, &months, Weekday::Monday).len(),
            3
        );
        let year = Bucket::containing(Period::Year, date(2026, 5, 20), Weekday::Monday);
        assert_eq!(parts_of(&year, &months, Weekday::Monday).len(), 12);
    }

    #[test]
    fn every_day_and_month_of_a_year_has_its_own_place() {
        let day = |d| Bucket::containing(Period::Day, d, Weekday::Monday);
        let month = |d| Bucket::containing(Period::Month, d, Weekday::Monday);
        assert_eq!(slot(&day(date(2028, 1, 1))), Some((2028, 0)));
        // A leap year's last day, then the months after every day.
        assert_eq!(slot(&day(date(2028, 12, 31))), Some((2028, 365)));
        assert_eq!(slot(&month(date(2028, 1, 9))), Some((2028, 366)));
        assert_eq!(slot(&month(date(2028, 12, 9))), Some((2028, 377)));
        let week = Bucket::containing(Period::Week, date(2028, 1, 9), Weekday::Monday);
        assert_eq!(slot(&week), None);
        assert_eq!(slot(&Bucket::ALL_TIME), None);
    }

    #[test]
    fn counters_read_back_as_bitfield_writes_them() {
        let mut raw = Vec::new();
        for v in [3i64, 7, -2] {
            raw.extend_from_slice(&v.to_be_bytes());
        }
        let (rev, counts) = counters(&raw);
        assert_eq!(rev, 3);
        assert_eq!(counts[0], 7);
        assert_eq!(counts[1], -2);
        assert_eq!(counts[2], 0, "past the end reads zero");
    }
}
