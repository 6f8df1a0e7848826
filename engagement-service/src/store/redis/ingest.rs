//! Applying events: the local lock stripes a request queues on, then one
//! optimistic step that reads the records and member states the events
//! touch, runs the engine in process and writes every change at once;
//! and the score changes and board-key expiry that step writes.

use std::collections::hash_map;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::redis::{self, Value};
use engagement_core::insights;
use engagement_core::{
    BoardKey, Bucket, CommunityId, Effects, Event, EventId, MemberId, MemberState, Name, Outcome,
    RuleSet, Stepped, answer, members_touched, step,
};

use super::super::compact;
use super::super::retention::Retention;
use super::super::{LEDGER_KEEP, LogEntry, ledger_lines};
use super::fair_play::FairWrites;
use super::insights::{ReadQuestions, Writes, keeps_points, stored_expiry};
use super::pool::Connection;
use super::rank::RankWatch;
use super::transaction::Reads;
use super::{
    BOARD_SCRIPT, MAX_ATTEMPTS, RedisStore, STRIPES, StoreError, Target, WIDE, corrupt, unavailable,
};

impl RedisStore {
    pub(super) async fn ingest_striped(
        &self,
        rules: &RuleSet,
        events: &[Event],
    ) -> Result<Vec<Outcome>, StoreError> {
        let mut stripes: Vec<usize> = events
            .iter()
            .flat_map(|e| {
                std::iter::once(&e.actor).chain(e.target.as_ref().and_then(|t| t.author.as_ref()))
            })
            .map(|m| (xxhash_rust::xxh3::xxh3_64(m.as_str().as_bytes()) % STRIPES as u64) as usize)
            .collect();
        stripes.sort_unstable();
        stripes.dedup();
        let wide = if stripes.len() > WIDE {
            Some(self.wide.lock().await)
        } else {
            None
        };
        // Taken in index order, so two requests never wait on each other in a cycle.
        let mut held = Vec::with_capacity(stripes.len());
        for i in stripes {
            held.push(self.stripes[i].lock().await);
        }
        let outcome = self
            .timed(async {
                optimistic!(self, conn => self.try_ingest(&mut conn, rules, events, Target::Live))
            })
            .await;
        drop(held);
        drop(wide);
        outcome
    }

    pub(super) async fn try_ingest(
        &self,
        conn: &mut Connection,
        rules: &RuleSet,
        events: &[Event],
        target: Target,
    ) -> Result<Option<Vec<Outcome>>, StoreError> {
        // Who the watched boards list, when a channel watches one.
        let listing = if matches!(target, Target::Live)
            && !engagement_core::notify::rank_watches(rules).is_empty()
        {
            Some(self.read_listing().await?)
        } else {
            None
        };
        // Records of the events and of the events they revoke.
        let mut seen: HashSet<&EventId> = HashSet::new();
        let ids: Vec<&EventId> = events
            .iter()
            .flat_map(|e| std::iter::once(&e.id).chain(e.revokes.as_ref()))
            .filter(|id| seen.insert(id))
            .collect();
        // Without revocations the members and questions touched are known
        // before any record is read, and are watched and read in the same
        // round trip.
        let known: Option<(Vec<MemberId>, Vec<String>)> =
            events.iter().all(|e| e.revokes.is_none()).then(|| {
                (
                    touched(events, |_| None),
                    self.questions(rules, events, |_| None),
                )
            });
        let Some((keys, mut raw)) = self
            .watch_target::<Vec<u8>>(conn, target, Some(&rules.version), |keys| {
                let members = known.iter().flat_map(|k| &k.0).map(|m| keys.member(m));
                let questions = known.iter().flat_map(|k| &k.1).map(|q| keys.question(q));
                let others = members.chain(questions).collect();
                Reads::records(keys, ids.iter().copied(), others)
            })
            .await?
        else {
            return Ok(None);
        };
        let mut raw_states = raw.split_off(2 * ids.len());
        let former = raw.split_off(ids.len());
        let mut records: HashMap<EventId, Outcome> = HashMap::new();
        // Records read where earlier versions kept them: moved to their
        // bucket when they change.
        let mut moved: HashSet<&EventId> = HashSet::new();
        for ((id, raw), former) in ids.iter().zip(raw).zip(former) {
            if raw.is_none() && former.is_some() {
                moved.insert(id);
            }
            if let Some(raw) = raw.or(former) {
                records.insert((*id).clone(), compact::read_record(&raw).map_err(corrupt)?);
            }
        }

        let (touched, questions, raw_states, raw_questions) = match known {
            Some((touched, questions)) => {
                let raw_questions = raw_states.split_off(touched.len());
                (touched, questions, raw_states, raw_questions)
            }
            None => {
                let revoked = |id: &EventId| records.get(id).and_then(Outcome::revocable);
                let touched = touched(events, revoked);
                let questions = self.questions(rules, events, revoked);
                let wanted = Reads::keys(
                    (touched.iter().map(|m| keys.member(m)))
                        .chain(questions.iter().map(|q| keys.question(q)))
                        .collect(),
                );
                let mut raw_states: Vec<Option<Vec<u8>>> =
                    self.watch_and_get(conn, &wanted).await?;
                let raw_questions = raw_states.split_off(touched.len());
                (touched, questions, raw_states, raw_questions)
            }
        };
        let mut questions = ReadQuestions::new(&questions, raw_questions)?;
        let mut states: HashMap<MemberId, MemberState> = HashMap::new();
        for (m, raw) in touched.iter().zip(raw_states) {
            let state = match raw {
                Some(raw) => self.states.take(&keys.member(m), &raw)?,
                None => MemberState::default(),
            };
            states.insert(m.clone(), state);
        }
        let names_before: HashMap<MemberId, Option<String>> = states
            .iter()
            .map(|(m, s)| (m.clone(), s.profile.name.clone()))
            .collect();

        let mut outcomes = Vec::with_capacity(events.len());
        let mut changed: Vec<EventId> = Vec::new();
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut changes = ScoreChanges::default();
        let retention = Retention {
            days: self.retention_days,
        };
        let expire_at = |bucket: &Bucket| stored_expiry(retention, bucket, rules.week_starts);
        let mut insight_writes = Writes::new(&keys, &expire_at, keeps_points(rules), &self.known);
        // Fair play keeps days and months; a day's keys stay with the week
        // that is read from them, as insights' do.
        let mut fair_writes = FairWrites::new(&keys, &expire_at);
        // Each board's key and expiry, worked out once per request.
        let mut boards: HashMap<BoardAt, (Arc<str>, i64)> = HashMap::new();
        // The (board, community) scopes this request scores in, added once.
        let mut scoped: HashSet<(Option<usize>, CommunityId)> = HashSet::new();
        // The version ledger lines share, made once a request.
        let version = Name::new(&rules.version);
        for event in events {
            let stepped = step(rules, &mut states, &mut records, event);
            let outcome = answer(&records, event, stepped);
            let Stepped::Recorded { revoked, .. } = stepped else {
                outcomes.push(outcome);
                continue;
            };
            if let (true, Some(x)) = (revoked, &event.revokes) {
                changed.push(x.clone());
            }
            if self.insights {
                let home = insights::actor(&outcome)
                    .and_then(|a| states.get(a))
                    .and_then(|s| s.home.as_ref());
                insights::observe(
                    rules,
                    event,
                    &outcome,
                    home,
                    &mut questions.questions,
                    &mut insight_writes,
                );
            }
            if self.fair_play {
                engagement_core::fair_play::observe(rules, &outcome, &mut fair_writes);
            }
            outcome.for_each_increment(rules, |inc| {
                let board = rules.leaderboards.iter().position(|b| *b.id == *inc.board);
                if let Some(c) = inc.community
                    && scoped.insert((board, c.clone()))
                {
                    pipe.sadd(keys.communities(inc.board), c.as_str()).ignore();
                }
                let (key, expire_at) = boards
                    .entry((board, inc.community.cloned(), inc.bucket))
                    .or_insert_with(|| {
                        let key = keys.board(&BoardKey {
                            board: inc.board.into(),
                            community: inc.community.cloned(),
                            bucket: inc.bucket,
                        });
                        (key.into(), self.expire_at(&inc.bucket))
                    });
                changes.add(key.clone(), inc.member, inc.delta, *expire_at);
            });
            for (member, line) in ledger_lines(&version, event, &outcome) {
                let key = keys.ledger(&member);
                pipe.lpush(&key, compact::ledger_line(&line)).ignore();
                pipe.ltrim(&key, 0, LEDGER_KEEP as isize - 1).ignore();
            }
            // A rebuild derives state from events already in the log.
            if let Target::Live = target {
                let entry = LogEntry::Event {
                    event: event.clone(),
                };
                pipe.xadd(self.keys.log(), "*", &[("entry", compact::entry(&entry))])
                    .ignore();
            }
            if !rules.notify.is_empty() && matches!(target, Target::Live) {
                let found = crate::notify::deliveries(
                    rules,
                    event,
                    &outcome,
                    |m| states.get(m).map(|s| &s.profile),
                    jiff::Timestamp::now(),
                );
                super::outbox::queue(&keys, &mut pipe, &found)?;
            }
            changed.push(event.id.clone());
            outcomes.push(outcome);
        }
        for id in changed.iter().collect::<HashSet<_>>() {
            if let Some(record) = records.get(id) {
                let (bucket, field) = keys.record(id);
                pipe.hset(bucket, field, compact::record(record)).ignore();
                if moved.contains(id) {
                    pipe.del(keys.former_record(id)).ignore();
                }
            }
        }
        let ranks = match (&target, &listing) {
            (Target::Live, Some(listing)) => {
                RankWatch::new(rules, &keys, listing, events, &outcomes, &states)
            }
            _ => None,
        };
        for (member, state) in states {
            if let Some(name) = &state.profile.name
                && names_before.get(&member) != Some(&state.profile.name)
            {
                pipe.hset(keys.names(), member.as_str(), name).ignore();
            }
            let key = keys.member(&member);
            let raw = self.states.write(key.clone(), state);
            pipe.set(key, raw).ignore();
        }
        questions.write(&keys, &mut pipe);
        let added = insight_writes.write(&mut pipe);
        fair_writes.write(&mut pipe);
        if let Some(ranks) = &ranks {
            ranks.call(&keys, &mut pipe, "before")?;
        }
        if let Some((board_keys, board_args)) = changes.script_input(keys.seq()) {
            pipe.cmd("EVAL")
                .arg(BOARD_SCRIPT)
                .arg(board_keys.len())
                .arg(&board_keys)
                .arg(&board_args)
                .ignore();
        }
        if let Some(ranks) = &ranks {
            ranks.call(&keys, &mut pipe, "after")?;
        }
        let committed: Option<Value> = pipe.query_async(conn).await.map_err(unavailable)?;
        if committed.is_some() {
            self.known.note(&added);
            self.replicated(conn).await?;
        }
        Ok(committed.map(|_| outcomes))
    }

    /// The questions whose records applying `events` reads, each once
    /// (none when insights are not kept).
    fn questions<'r>(
        &self,
        rules: &RuleSet,
        events: &[Event],
        revoked: impl Fn(&EventId) -> Option<&'r Effects>,
    ) -> Vec<String> {
        if !self.insights {
            return Vec::new();
        }
        let mut out: Vec<String> = Vec::new();
        for e in events {
            let effects = e.revokes.as_ref().and_then(&revoked);
            if let Some(q) = insights::question_touched(rules, e, effects)
                && !out.iter().any(|o| o == q)
            {
                out.push(q.to_owned());
            }
        }
        out
    }

    /// When a bucket's key may go (Unix seconds; 0: never).
    pub(super) fn expire_at(&self, bucket: &engagement_core::Bucket) -> i64 {
        let retention = Retention {
            days: self.retention_days,
        };
        retention.expires_at(bucket).map_or(0, |t| t.as_second())
    }
}

/// Every member whose state applying `events` may read or change, each
/// once, in order of first mention; `revoked` finds the stored effects of a
/// revoked event.
fn touched<'r>(
    events: &[Event],
    revoked: impl Fn(&EventId) -> Option<&'r Effects>,
) -> Vec<MemberId> {
    let mut out: Vec<MemberId> = Vec::new();
    let mut seen: HashSet<MemberId> = HashSet::new();
    for e in events {
        let revoked = e.revokes.as_ref().and_then(&revoked);
        for m in members_touched(e, revoked) {
            if seen.insert(m.clone()) {
                out.push(m);
            }
        }
    }
    out
}

/// A leaderboard bucket: the board's place in the rules, scope and bucket.
type BoardAt = (Option<usize>, Option<CommunityId>, Bucket);

/// Score changes of one transaction, summed per board and member. Applying
/// the sums in the order of each pair's last change leaves the same scores,
/// and the same first-to-reach order among ties, as applying every change.
#[derive(Default)]
struct ScoreChanges {
    index: HashMap<(Arc<str>, MemberId), usize>,
    /// Board key, member, summed delta, expiry, order of the last change.
    rows: Vec<(Arc<str>, MemberId, i64, i64, usize)>,
    changes: usize,
}

impl ScoreChanges {
    fn add(&mut self, key: Arc<str>, member: &MemberId, delta: i64, expire_at: i64) {
        self.changes += 1;
        match self.index.entry((key.clone(), member.clone())) {
            hash_map::Entry::Occupied(i) => {
                let row = &mut self.rows[*i.get()];
                row.2 += delta;
                row.4 = self.changes;
            }
            hash_map::Entry::Vacant(slot) => {
                slot.insert(self.rows.len());
                self.rows
                    .push((key, member.clone(), delta, expire_at, self.changes));
            }
        }
    }

    /// KEYS and ARGV of `board.lua`, or `None` when nothing changed.
    fn script_input(mut self, seq_key: String) -> Option<(Vec<String>, Vec<String>)> {
        if self.rows.is_empty() {
            return None;
        }
        // Order of the last change first; then grouped by key, each key
        // where it first comes, each row keeping its order.
        self.rows.sort_by_key(|row| row.4);
        let mut groups: Vec<(Arc<str>, i64, Vec<usize>)> = Vec::new();
        let mut group_of: HashMap<Arc<str>, usize> = HashMap::new();
        for (i, (key, _, _, expire_at, _)) in self.rows.iter().enumerate() {
            let g = *group_of.entry(key.clone()).or_insert_with(|| {
                groups.push((key.clone(), *expire_at, Vec::new()));
                groups.len() - 1
            });
            groups[g].2.push(i);
        }
        let mut keys = Vec::with_capacity(groups.len() + 1);
        let mut args = Vec::with_capacity(1 + groups.len() * 2 + self.rows.len() * 3);
        keys.push(seq_key);
        args.push(self.rows.len().to_string());
        for (key, expire_at, rows) in groups {
            keys.push(key.to_string());
            args.push(rows.len().to_string());
            args.push(expire_at.to_string());
            for i in rows {
                let (_, member, delta, _, _) = &self.rows[i];
                args.push(member.to_string());
                args.push(delta.to_string());
                args.push((i + 1).to_string());
            }
        }
        Some((keys, args))
    }
}
