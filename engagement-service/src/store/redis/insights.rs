//! Knowledge-flow insights in Redis. Each scope and bucket has a hash of
//! counters (`:n`, whose `rev` every transaction that changes the bucket
//! bumps) and sorted sets of actors (`:a`), net points (`:p`), answer
//! holders (`:h`), seconds to a first answer per question (`:w`) and, for
//! the whole deployment, answers per home and answering community (`:f`).
//! Questions and their live answers are JSON under `q:<id>`, read and
//! watched by the transactions that touch them.
//!
//! A transaction sums its changes per key and field and hands them to
//! `insights.lua` in one call. A report reads one bucket's keys in one
//! atomic round trip; the last report of each bucket is kept with the `rev`
//! it was read at, so asking again costs one `HGET` until the bucket changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use deadpool_redis::redis::{self, Pipeline};
use engagement_core::insights::{Change, Counter, Parts, Question, Sink};
use engagement_core::{Bucket, CommunityId, MemberId, Report};

use super::super::keys::Keys;
use super::{RedisStore, StoreError, corrupt, unavailable};

pub(super) const INSIGHTS_SCRIPT: &str = include_str!("insights.lua");

/// Reports kept per instance before the cache starts again.
const CACHED_REPORTS: usize = 512;

/// The field of the counter hash that changes with every write to the bucket.
const REV: &str = "rev";

/// Sorted-set tallies of a bucket, by the suffix of their key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Set {
    Actors,
    Points,
    Holders,
    Flow,
}

impl Set {
    fn suffix(self) -> &'static str {
        match self {
            Set::Actors => ":a",
            Set::Points => ":p",
            Set::Holders => ":h",
            Set::Flow => ":f",
        }
    }
}

/// One transaction's insights changes, summed per key and field.
pub(super) struct Writes<'k> {
    keys: &'k Keys,
    expire_at: &'k (dyn Fn(&Bucket) -> i64 + Sync),
    /// Each scope and bucket touched: its key start and expiry.
    buckets: HashMap<(Option<CommunityId>, Bucket), usize>,
    bases: Vec<(String, i64)>,
    counters: HashMap<(usize, Counter), i64>,
    sets: HashMap<(usize, Set, String), i64>,
    /// The last wait set (or removed) per bucket and question.
    waits: HashMap<(usize, String), Option<i64>>,
    communities: Vec<CommunityId>,
}

impl<'k> Writes<'k> {
    pub(super) fn new(
        keys: &'k Keys,
        expire_at: &'k (dyn Fn(&Bucket) -> i64 + Sync),
    ) -> Writes<'k> {
        Writes {
            keys,
            expire_at,
            buckets: HashMap::new(),
            bases: Vec::new(),
            counters: HashMap::new(),
            sets: HashMap::new(),
            waits: HashMap::new(),
            communities: Vec::new(),
        }
    }

    fn base(&mut self, scope: Option<&CommunityId>, bucket: Bucket) -> usize {
        if let Some(&i) = self.buckets.get(&(scope.cloned(), bucket)) {
            return i;
        }
        let i = self.bases.len();
        self.bases.push((
            self.keys.insights(scope, &bucket),
            (self.expire_at)(&bucket),
        ));
        self.buckets.insert((scope.cloned(), bucket), i);
        if let Some(c) = scope
            && !self.communities.contains(c)
        {
            self.communities.push(c.clone());
        }
        i
    }

    /// Adds the script call writing every change to `pipe`.
    pub(super) fn write(self, pipe: &mut Pipeline) {
        if self.bases.is_empty() {
            return;
        }
        let mut keys: Vec<String> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut args: Vec<String> = Vec::new();
        let mut key = |name: String, keys: &mut Vec<String>| -> String {
            let i = *index.entry(name.clone()).or_insert_with(|| {
                keys.push(name);
                keys.len()
            });
            i.to_string()
        };
        let op = |args: &mut Vec<String>, parts: [&str; 2], rest: &[&str]| {
            args.extend(parts.iter().map(|s| (*s).to_owned()));
            args.extend(rest.iter().map(|s| (*s).to_owned()));
        };
        for (base, expire_at) in &self.bases {
            let k = key(format!("{base}:n"), &mut keys);
            op(&mut args, ["h", &k], &[REV, "1"]);
            if *expire_at > 0 {
                for suffix in [":n", ":a", ":p", ":h", ":w", ":f"] {
                    let k = key(format!("{base}{suffix}"), &mut keys);
                    op(&mut args, ["x", &k], &[&expire_at.to_string()]);
                }
            }
        }
        for ((b, counter), delta) in &self.counters {
            if *delta != 0 {
                let k = key(format!("{}:n", self.bases[*b].0), &mut keys);
                op(&mut args, ["h", &k], &[counter.name(), &delta.to_string()]);
            }
        }
        for ((b, set, member), delta) in &self.sets {
            if *delta != 0 {
                let k = key(format!("{}{}", self.bases[*b].0, set.suffix()), &mut keys);
                op(&mut args, ["z", &k], &[member, &delta.to_string()]);
            }
        }
        for ((b, question), wait) in &self.waits {
            let k = key(format!("{}:w", self.bases[*b].0), &mut keys);
            match wait {
                Some(seconds) => op(&mut args, ["s", &k], &[question, &seconds.to_string()]),
                None => op(&mut args, ["r", &k], &[question]),
            }
        }
        for c in &self.communities {
            let k = key(self.keys.insight_communities(), &mut keys);
            op(&mut args, ["a", &k], &[c.as_str()]);
        }
        pipe.cmd("EVAL")
            .arg(INSIGHTS_SCRIPT)
            .arg(keys.len())
            .arg(&keys)
            .arg(&args)
            .ignore();
    }
}

/// A flow pair as one sorted-set member: both ids percent-encoded, so the
/// separator cannot occur inside either.
pub(super) fn flow_member(keys: &Keys, from: &CommunityId, to: &CommunityId) -> String {
    format!("{}:{}", keys.community(from), keys.community(to))
}

impl Sink for Writes<'_> {
    fn change(&mut self, scope: Option<&CommunityId>, bucket: Bucket, change: Change<'_>) {
        let b = self.base(scope, bucket);
        let mut set = |set: Set, member: String, delta: i64| {
            *self.sets.entry((b, set, member)).or_default() += delta;
        };
        match change {
            Change::Count(counter, delta) => {
                *self.counters.entry((b, counter)).or_default() += delta
            }
            Change::Actor(m, delta) => set(Set::Actors, m.to_string(), delta),
            Change::Points(m, delta) => set(Set::Points, m.to_string(), delta),
            Change::Holder(m, delta) => set(Set::Holders, m.to_string(), delta),
            Change::Flow(from, to, delta) => {
                let member = flow_member(self.keys, from, to);
                *self.sets.entry((b, Set::Flow, member)).or_default() += delta;
            }
            Change::Wait(question, wait) => {
                self.waits.insert((b, question.to_owned()), wait);
            }
        }
    }
}

/// Questions a transaction read, with the JSON they were read as.
#[derive(Default)]
pub(super) struct ReadQuestions {
    pub(super) questions: HashMap<String, Question>,
    read: HashMap<String, Option<String>>,
}

impl ReadQuestions {
    pub(super) fn new(
        ids: &[String],
        raw: Vec<Option<String>>,
    ) -> Result<ReadQuestions, StoreError> {
        let mut out = ReadQuestions::default();
        for (id, raw) in ids.iter().zip(raw) {
            if let Some(json) = &raw {
                let question: Question = serde_json::from_str(json).map_err(corrupt)?;
                out.questions.insert(id.clone(), question);
            }
            out.read.insert(id.clone(), raw);
        }
        Ok(out)
    }

    /// Writes back the questions that changed; a question left with nothing
    /// is deleted.
    pub(super) fn write(&self, keys: &Keys, pipe: &mut Pipeline) -> Result<(), StoreError> {
        for (id, question) in &self.questions {
            let before = self.read.get(id).cloned().flatten();
            if question.is_empty() {
                if before.is_some() {
                    pipe.del(keys.question(id)).ignore();
                }
                continue;
            }
            let json = serde_json::to_string(question).map_err(corrupt)?;
            if before.as_deref() != Some(json.as_str()) {
                pipe.set(keys.question(id), json).ignore();
            }
        }
        Ok(())
    }
}

/// The last reports read, by generation, scope and bucket, with their `rev`.
#[derive(Debug, Default)]
pub(super) struct ReportCache(Mutex<HashMap<CacheKey, Cached>>);

type CacheKey = (u64, Option<CommunityId>, Bucket);

/// A report as read at `rev`: in full, and without who holds the answers.
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
            let base = keys.insights(community, &bucket);
            let counters = format!("{base}:n");
            let (known, rev): (bool, Option<i64>) = redis::pipe()
                .sismember(
                    keys.insight_communities(),
                    community.map_or("", |c| c.as_str()),
                )
                .hget(&counters, REV)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            if community.is_some() && !known {
                return Ok(None);
            }
            let cache_key = (generation, community.cloned(), bucket);
            let rev = rev.unwrap_or(0);
            if let Some(report) = self.reports.get(&cache_key, rev, admin) {
                return Ok(Some(report));
            }
            let mut pipe = redis::pipe();
            pipe.atomic()
                .hgetall(&counters)
                .zcard(format!("{base}:a"))
                .cmd("ZRANGE")
                .arg(format!("{base}:p"))
                .arg("(0")
                .arg("+inf")
                .arg("BYSCORE")
                .arg("WITHSCORES")
                .zrange_withscores(format!("{base}:h"), 0, -1)
                .zrange_withscores(format!("{base}:w"), 0, -1)
                .zrange_withscores(format!("{base}:f"), 0, -1);
            type Read = (
                HashMap<String, i64>,
                u64,
                Vec<(String, i64)>,
                Vec<(String, i64)>,
                Vec<(String, i64)>,
                Vec<(String, i64)>,
            );
            let (counts, active, points, holders, waits, flow): Read =
                pipe.query_async(&mut conn).await.map_err(unavailable)?;
            let mut parts = Parts {
                active,
                points: points.into_iter().map(|(_, p)| p).collect(),
                waits: waits.into_iter().map(|(_, w)| w).collect(),
                ..Parts::default()
            };
            for (name, n) in &counts {
                if let Some(counter) = Counter::parse(name) {
                    parts.counts[counter.index()] = *n;
                }
            }
            for (member, n) in holders {
                parts
                    .holders
                    .push((MemberId::parse(member).map_err(corrupt)?, n));
            }
            for (pair, n) in flow {
                let (from, to) = pair
                    .split_once(':')
                    .ok_or_else(|| corrupt(format!("flow member {pair}")))?;
                let decode = |s: &str| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8()
                        .map_err(corrupt)
                        .and_then(|s| CommunityId::parse(s.into_owned()).map_err(corrupt))
                };
                parts.flow.push((decode(from)?, decode(to)?, n));
            }
            let rev = counts.get(REV).copied().unwrap_or(0);
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
