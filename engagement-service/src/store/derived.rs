//! Derived state built in memory from log entries: what the embedded store
//! serves, and what a Redis replay builds before writing a new generation.

use std::collections::{HashMap, VecDeque};
use std::io::BufRead;

use engagement_core::fair_play::Pairs;
use engagement_core::memory::Observed;
use engagement_core::{
    BoardKey, Bucket, Event, Increment, Insights, Interner, MemberId, MemberState, Memory, Name,
    Outcome, RuleSet, Status,
};

use super::aliases::AliasTable;
use super::listing::{Listing, Special};
use super::retention::{Expiry, Retention};
use super::{
    LEDGER_KEEP, LedgerEntry, LogEntry, ManualGrant, StoreError, ledger_lines, version_name,
};

/// Members, outcomes, boards, ledgers and listing of a whole deployment.
#[derive(Debug, Default)]
pub struct Derived {
    pub memory: Memory,
    pub ledger: Ledgers,
    pub listing: Listing,
    pub aliases: AliasTable,
    /// When set, day and week boards past it are not kept.
    pub retention: Option<Retention>,
    replay_expiry: Option<Option<Expiry>>,
    /// The version ledger lines share (see [`version_name`]).
    version: Option<Name>,
    /// The insights and fair-play tallies, when taken in on a thread of
    /// their own (see [`Derived::tally_apart`]).
    apart: Option<Apart>,
}

/// Each member's last ledger lines, newest first. Keyed by ids, whose hash
/// is already their text's (see `Name`): a fixed fast hash of that number.
pub type Ledgers = HashMap<MemberId, VecDeque<LedgerEntry>, foldhash::fast::FixedState>;

/// Steps handed to the tallies' thread at once.
const HANDED_CHUNK: usize = 4096;

/// The thread taking in the steps a [`Derived`] hands off, and what it
/// gives back once the sender is dropped.
#[derive(Debug)]
struct Apart {
    steps: std::sync::mpsc::SyncSender<Vec<Observed>>,
    thread: std::thread::JoinHandle<Tallies>,
}

/// The insights and fair-play tallies, each when kept.
type Tallies = (Option<Box<Insights>>, Option<Box<Pairs>>);

impl Derived {
    /// For rebuilding from the log: boards sorted once at the end;
    /// knowledge-flow insights kept when `insights`, fair-play tallies when
    /// `fair_play`, each as the embedded store keeps them (the periods a
    /// report reads the others from).
    pub fn deferred(insights: bool, fair_play: bool) -> Derived {
        let mut memory = Memory::deferred();
        memory.insights = insights.then(|| Box::new(Insights::compact(true)));
        memory.fair_play = fair_play.then(|| Box::new(Pairs::compact()));
        Derived {
            memory,
            ..Derived::default()
        }
    }

    /// Ready to serve: boards kept in order on every change from now on,
    /// and the insights of buckets past their retention let go.
    pub fn settle(&mut self) {
        self.memory.boards.settle();
        let expiry = self.expiry();
        if let (Some(insights), Some(expiry)) = (&mut self.memory.insights, expiry) {
            insights.retain(|b| !expiry.expired_with_week(b));
        }
        if let (Some(pairs), Some(expiry)) = (&mut self.memory.fair_play, expiry) {
            pairs.retain(|b| !expiry.expired_with_week(b));
        }
    }

    /// From now on, until [`Derived::tally_together`], the insights and
    /// fair-play tallies take the steps [`Derived::apply`] records in on a
    /// thread of their own, a few thousand steps behind, while the next
    /// events are applied: for rebuilding from the log.
    pub fn tally_apart(&mut self, rules: &RuleSet) {
        let memory = &mut self.memory;
        if self.apart.is_some() || (memory.insights.is_none() && memory.fair_play.is_none()) {
            return;
        }
        let (insights, pairs) = (memory.insights.take(), memory.fair_play.take());
        let (steps, handed) = std::sync::mpsc::sync_channel::<Vec<Observed>>(4);
        let rules = rules.clone();
        let thread = std::thread::spawn(move || {
            let (mut insights, mut pairs) = (insights, pairs);
            for chunk in handed {
                for step in &chunk {
                    step.feed(&rules, insights.as_deref_mut(), pairs.as_deref_mut());
                }
            }
            (insights, pairs)
        });
        self.memory.hand_off();
        self.apart = Some(Apart { steps, thread });
    }

    /// The tallies taken in on their thread since [`Derived::tally_apart`]
    /// back here, every step handed taken in.
    pub fn tally_together(&mut self) -> Result<(), StoreError> {
        let Some(Apart { steps, thread }) = self.apart.take() else {
            return Ok(());
        };
        // A thread that stopped says so below.
        let _ = steps.send(self.memory.take_in_place());
        drop(steps);
        let (insights, pairs) = thread.join().map_err(|_| {
            StoreError::Unavailable("the insights and fair-play tallies stopped".into())
        })?;
        (self.memory.insights, self.memory.fair_play) = (insights, pairs);
        Ok(())
    }

    /// Applies one log entry (replays need no outcome back).
    pub fn apply(&mut self, rules: &RuleSet, entry: &LogEntry) {
        if let Some(apart) = &self.apart
            && self.memory.handed_len() >= HANDED_CHUNK
        {
            // A thread that stopped says so in `tally_together`.
            let _ = apart.steps.send(self.memory.handed());
        }
        match entry {
            LogEntry::Event { event } => {
                // A rebuild reckons which boards have gone once, as it starts.
                if self.replay_expiry.is_none() {
                    self.replay_expiry = Some(self.expiry());
                }
                let expiry = self.replay_expiry.flatten();
                let keep = |inc: &Increment<'_>| expiry.is_none_or(|x| !x.expired(&inc.bucket));
                if self.memory.apply_keeping(rules, event, keep) != Status::Duplicate {
                    self.keep_ledger(rules, event);
                }
            }
            change => self.apply_change(change),
        }
    }

    /// Applies an event and answers its outcome.
    pub fn apply_event(&mut self, rules: &RuleSet, event: &Event) -> Outcome {
        let expiry = self.expiry();
        let keep = |inc: &Increment<'_>| expiry.is_none_or(|x| !x.expired(&inc.bucket));
        let outcome = self.memory.ingest_keeping(rules, event, keep);
        if outcome.status != Status::Duplicate {
            self.keep_ledger(rules, event);
        }
        outcome
    }

    /// Applies events as they come live: their outcomes, and the
    /// deliveries they cause (badge tiers, levels, and members entering
    /// the top of a watched board in its current bucket, reckoned over the
    /// whole request).
    pub fn apply_live(
        &mut self,
        rules: &RuleSet,
        events: &[Event],
    ) -> (Vec<Outcome>, Vec<crate::notify::Delivery>) {
        if rules.notify.is_empty() {
            let outcomes = events.iter().map(|e| self.apply_event(rules, e)).collect();
            return (outcomes, Vec::new());
        }
        let now = jiff::Timestamp::now();
        let watched = self.watched(rules, events, now);
        let before: Vec<Option<u64>> = watched
            .iter()
            .map(|(key, member, unlisted)| self.listed_rank(key, unlisted, member))
            .collect();
        let outcomes: Vec<Outcome> = events.iter().map(|e| self.apply_event(rules, e)).collect();
        let mut found: Vec<crate::notify::Delivery> = (events.iter().zip(&outcomes))
            .flat_map(|(event, outcome)| self.deliveries(rules, event, outcome))
            .collect();
        for ((key, member, unlisted), before) in watched.iter().zip(before) {
            let Some(after) = self.listed_rank(key, unlisted, member) else {
                continue;
            };
            let top = engagement_core::notify::widest_top(rules, &key.board, key.bucket.period);
            if after > top || before.is_some_and(|b| b <= after) {
                continue;
            }
            // The request's last applied event naming the member caused it.
            let Some(cause) = (events.iter().zip(&outcomes))
                .rev()
                .find(|(e, o)| o.status == Status::Applied && o.sign > 0 && names(e, member))
            else {
                continue;
            };
            let notice = engagement_core::notify::rank_notice(
                rules,
                &key.board,
                key.bucket.period,
                member,
                cause.0.id.as_str(),
                cause.0.occurred_at,
                cause.0.community.clone(),
                after,
                before,
            );
            let profile = (self.memory.members.get(member)).map(|s| s.profile.clone());
            let profile = profile.unwrap_or_default();
            found.extend(
                engagement_core::notify::notifications(rules, &notice, &profile)
                    .into_iter()
                    .map(|n| crate::notify::Delivery::new(n, now)),
            );
        }
        (outcomes, found)
    }

    /// The (watched board bucket, member) pairs a request may move: the
    /// members its events name, on the current bucket of each watched
    /// board, with the members that board does not list.
    fn watched(
        &mut self,
        rules: &RuleSet,
        events: &[Event],
        now: jiff::Timestamp,
    ) -> Vec<(BoardKey, MemberId, std::sync::Arc<Vec<MemberId>>)> {
        let mut named: Vec<&MemberId> = Vec::new();
        for e in events {
            let actor = (!e.actor_unknown).then_some(&e.actor);
            let author = e.target.as_ref().and_then(|t| t.author.as_ref());
            for m in actor.into_iter().chain(author) {
                if !named.contains(&m) {
                    named.push(m);
                }
            }
        }
        let today = rules.timezone.to_datetime(now).date();
        let mut out = Vec::new();
        for (board, period) in engagement_core::notify::rank_watches(rules) {
            let Some(b) = rules.leaderboards.iter().find(|b| &*b.id == board) else {
                continue;
            };
            let key = BoardKey {
                board: board.into(),
                community: None,
                bucket: Bucket::containing(period, today, rules.week_starts),
            };
            self.memory.boards.index(&key);
            let listing = self.listing.clone().for_board(b);
            let unlisted = std::sync::Arc::new(listing.unlisted().cloned().collect::<Vec<_>>());
            for m in &named {
                out.push((key.clone(), (*m).clone(), unlisted.clone()));
            }
        }
        out
    }

    /// A member's rank among the members `key`'s board lists.
    fn listed_rank(
        &mut self,
        key: &BoardKey,
        unlisted: &[MemberId],
        member: &MemberId,
    ) -> Option<u64> {
        self.memory.boards.index(key);
        let unlisted: Vec<&MemberId> = unlisted.iter().collect();
        let (me, _) = self.memory.boards.standing(key, &unlisted, member, 0);
        me.map(|r| r.rank)
    }

    /// The deliveries of a logged change once applied: a badge tier an
    /// admin granted by hand.
    pub fn change_deliveries(
        &self,
        rules: &RuleSet,
        entry: &LogEntry,
    ) -> Vec<crate::notify::Delivery> {
        let LogEntry::Badge { member, grant } = entry else {
            return Vec::new();
        };
        if rules.notify.is_empty() {
            return Vec::new();
        }
        let profile = (self.memory.members.get(member)).map(|s| s.profile.clone());
        crate::notify::grant_deliveries(rules, member, grant, &profile.unwrap_or_default())
    }

    /// The deliveries an applied event's outcome causes, with the members'
    /// profiles as they now stand.
    pub fn deliveries(
        &self,
        rules: &RuleSet,
        event: &Event,
        outcome: &Outcome,
    ) -> Vec<crate::notify::Delivery> {
        let members = &self.memory.members;
        crate::notify::deliveries(
            rules,
            event,
            outcome,
            |m| members.get(m).map(|s| &s.profile),
            jiff::Timestamp::now(),
        )
    }

    /// Which boards have gone, as of now.
    fn expiry(&self) -> Option<Expiry> {
        self.retention.map(|r| r.as_of(jiff::Timestamp::now()))
    }

    fn keep_ledger(&mut self, rules: &RuleSet, event: &Event) {
        let Some(outcome) = self.memory.outcome(&event.id) else {
            return;
        };
        let version = version_name(rules, &mut self.version);
        for (member, line) in ledger_lines(&version, event, outcome) {
            let ledger = self.ledger.entry(member).or_default();
            ledger.push_front(line);
            ledger.truncate(LEDGER_KEEP);
        }
    }

    /// Applies a profile change or a manual grant.
    pub fn apply_change(&mut self, entry: &LogEntry) {
        match entry {
            LogEntry::Event { .. } => {}
            LogEntry::Profile { member, profile } => {
                let special = Special {
                    visibility: profile.visibility,
                    groups: profile.groups.clone(),
                };
                if special.is_plain() {
                    self.listing.special.remove(member);
                } else {
                    self.listing.special.insert(member.clone(), special);
                }
                self.memory
                    .members
                    .entry(member.clone())
                    .or_default()
                    .set_profile(profile.clone());
            }
            LogEntry::Badge { member, grant } => {
                let state = self.memory.members.entry(member.clone()).or_default();
                grant_to(state, grant);
            }
            LogEntry::Aliases { member, aliases } => self.aliases.set(member, aliases),
        }
    }
}

/// Whether `event` names `member` as its actor or its target's author.
fn names(event: &Event, member: &MemberId) -> bool {
    (!event.actor_unknown && event.actor == *member)
        || (event.target.as_ref()).is_some_and(|t| t.author.as_ref() == Some(member))
}

/// Adds a manual grant unless the tier is held; whether it was added.
pub fn grant_to(state: &mut MemberState, grant: &ManualGrant) -> bool {
    let held = holds(state, grant);
    if !held {
        state.badges.push(engagement_core::state::HeldBadge {
            badge: grant.badge.clone().into(),
            tier: grant.tier,
            awarded_at: grant.at,
            reason: grant.reason.clone(),
        });
    }
    !held
}

pub fn holds(state: &MemberState, grant: &ManualGrant) -> bool {
    state
        .badges
        .iter()
        .any(|b| b.badge.is(&grant.badge) && b.tier == grant.tier)
}

/// Reads complete JSON lines of log entries (an entry, or an array of the
/// entries of one batch) from `reader`, calling `each`; returns the bytes consumed. A last line without its newline (cut short
/// by a crash, so never acknowledged) is left out.
pub fn read_lines(
    reader: &mut impl BufRead,
    origin: &str,
    mut each: impl FnMut(LogEntry),
) -> Result<u64, StoreError> {
    read_requests(reader, origin, |line| parse_line(line, &mut each))
}

/// Reads complete log lines, one request each (a change, or the events of
/// one ingest), calling `each` with the entries of each line.
pub fn read_batches(
    reader: &mut impl BufRead,
    origin: &str,
    mut each: impl FnMut(Vec<LogEntry>),
) -> Result<u64, StoreError> {
    read_requests(reader, origin, |line| {
        let mut entries = Vec::new();
        parse_line(line, &mut |e| entries.push(e))?;
        each(entries);
        Ok(())
    })
}

/// The loop of [`read_lines`] and [`read_batches`]: each complete line
/// (without its newline) to `each`; bytes consumed.
fn read_requests(
    reader: &mut impl BufRead,
    origin: &str,
    mut each: impl FnMut(&[u8]) -> Result<(), serde_json::Error>,
) -> Result<u64, StoreError> {
    let mut kept = 0u64;
    let mut line = Vec::new();
    let mut number = 0usize;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        if n == 0 || line.last() != Some(&b'\n') {
            return Ok(kept);
        }
        number += 1;
        let corrupt =
            |e: serde_json::Error| StoreError::Corrupt(format!("{origin}: line {number}: {e}"));
        each(&line[..n - 1]).map_err(corrupt)?;
        kept += n as u64;
    }
}

/// [`read_lines`] with reading and parsing on a second thread, a few
/// thousand entries ahead of `each`: a replay then uses two cores.
pub fn read_lines_ahead(
    reader: &mut (impl BufRead + Send),
    origin: &str,
    mut each: impl FnMut(LogEntry),
) -> Result<u64, StoreError> {
    let (read, ()) = crate::ahead::ahead(
        |emit| {
            let mut ids = Interner::default();
            read_lines(reader, origin, |mut entry| {
                entry.intern(&mut ids);
                emit(entry);
            })
        },
        |entries| entries.for_each(&mut each),
    );
    read.unwrap_or_else(|_| {
        Err(StoreError::Unavailable(format!(
            "{origin}: the log reader stopped unexpectedly"
        )))
    })
}

/// The start of a log line holding one event, as the log writes it.
const EVENT_LINE: &str = r#"{"type":"event","event":"#;

/// Parses one log line (without its newline): an entry, or the array of the
/// entries of one batch.
fn parse_line(line: &[u8], each: &mut impl FnMut(LogEntry)) -> Result<(), serde_json::Error> {
    // The line is checked to be UTF-8 once, whole: read as bytes, each
    // string and field name in it would be checked on its own.
    let line = std::str::from_utf8(line).map_err(serde::de::Error::custom)?;
    // Event lines, nearly all of a log, are read as the event they wrap:
    // the tagged form would first be buffered whole, then read again.
    if let Some(inner) = line
        .strip_prefix(EVENT_LINE)
        .and_then(|rest| rest.strip_suffix('}'))
        && let Ok(event) = serde_json::from_str::<Event>(inner)
    {
        each(LogEntry::Event { event });
        return Ok(());
    }
    // A batch is one line, so a crash keeps all of it or none.
    if line.starts_with('[') {
        let batch: Vec<LogEntry> = serde_json::from_str(line)?;
        batch.into_iter().for_each(each);
    } else {
        each(serde_json::from_str(line)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn event() -> Event {
        serde_json::from_str(
            r#"{"id":"e1","kind":"answer.posted","actor":"ana","occurred_at":"2026-11-20T14:03:00Z","community":"customs"}"#,
        )
        .unwrap()
    }

    fn read(log: &str) -> (Result<u64, StoreError>, Vec<LogEntry>) {
        let mut entries = Vec::new();
        let read = read_lines_ahead(&mut log.as_bytes(), "log", |e| entries.push(e));
        (read, entries)
    }

    #[test]
    fn every_form_of_log_line_reads_back_as_written_in_order() {
        let profile = LogEntry::Profile {
            member: MemberId::parse("bo").unwrap(),
            profile: engagement_core::Profile::default(),
        };
        let event = LogEntry::Event { event: event() };
        let single = serde_json::to_string(&event).unwrap();
        assert!(single.starts_with(EVENT_LINE), "{single}");
        let batch = serde_json::to_string(&[&profile, &event]).unwrap();
        let other = serde_json::to_string(&profile).unwrap();
        let log = format!("{single}\n{batch}\n{other}\n");
        let (read, entries) = read(&log);
        assert_eq!(read.unwrap(), log.len() as u64);
        assert_eq!(entries, [event.clone(), profile.clone(), event, profile]);
    }

    #[test]
    fn a_broken_event_line_is_refused_with_its_line_number() {
        let good = serde_json::to_string(&LogEntry::Event { event: event() }).unwrap();
        // The event lacks its time: neither the event nor the entry reads.
        let bad = good.replace(r#","occurred_at":"2026-11-20T14:03:00Z""#, "");
        assert_ne!(bad, good);
        let (read, entries) = read(&format!("{good}\n{bad}\n{good}\n"));
        let Err(StoreError::Corrupt(message)) = read else {
            panic!("expected a corrupt log, got {read:?}");
        };
        assert!(message.starts_with("log: line 2:"), "{message}");
        assert_eq!(entries.len(), 1, "entries before the bad line are applied");
    }

    #[test]
    fn a_line_that_is_not_utf8_is_refused_with_its_line_number() {
        let good = serde_json::to_string(&LogEntry::Event { event: event() }).unwrap();
        let mut log = format!("{good}\n").into_bytes();
        let mut bad = good.clone().into_bytes();
        // A lone continuation byte inside the actor's id.
        let at = good.find("ana").unwrap();
        bad[at] = 0x80;
        log.extend_from_slice(&bad);
        log.push(b'\n');
        let mut entries = Vec::new();
        let read = read_lines_ahead(&mut log.as_slice(), "log", |e| entries.push(e));
        let Err(StoreError::Corrupt(message)) = read else {
            panic!("expected a corrupt log, got {read:?}");
        };
        assert!(message.starts_with("log: line 2:"), "{message}");
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn a_last_line_without_its_newline_is_left_out() {
        let line = serde_json::to_string(&LogEntry::Event { event: event() }).unwrap();
        let (read, entries) = read(&format!("{line}\n{line}"));
        assert_eq!(read.unwrap(), line.len() as u64 + 1);
        assert_eq!(entries.len(), 1);
    }
}
