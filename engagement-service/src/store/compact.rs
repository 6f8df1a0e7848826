//! The compact encoding of what Redis keeps for every event: the
//! idempotency record (an event's first outcome, which a duplicate is
//! answered with and a revocation undoes) and the log entry (the event, which
//! a replay applies again); of the lines of members' ledgers; and of member
//! states and the insights' questions, kept for every member and question.
//!
//! Both are kept for every event ever received, so they dominate Redis
//! memory. JSON spelled every field name and every timestamp out (about 470
//! bytes a record); this encoding writes fields in a fixed order, numbers as
//! varints and timestamps as seconds (`postcard`), behind one leading format
//! byte. Data written as JSON before still reads: JSON starts with `{`,
//! which no format byte is.
//!
//! The mirrors below exist because the core's types leave empty fields out
//! of their JSON, which a format without field names cannot do; a test
//! checks that every field goes through. Values are read into owned
//! mirrors (`…V1`) and written from borrowing ones (`…Ref`), field for
//! field the same.

use engagement_core::engine::{BadgeGranted, Counted, LevelUp, Slot};
use engagement_core::insights::{Asked, Question, Reply};
use engagement_core::notify::Recognition;
use engagement_core::rules::Stage;
use engagement_core::state::{CapUse, Count, HeldBadge, Table};
use engagement_core::{
    Adjustment, Award, CommunityId, Day, Effects, Event, EventId, MemberId, MemberState, Name,
    Note, Outcome, Profile, Reason, Status, Streak, Target, Visibility,
};
use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{LedgerEntry, LogEntry};

/// The first byte of a record or log entry in this encoding.
const V1: u8 = 1;

/// Encodes an idempotency record.
pub fn record(outcome: &Outcome) -> Vec<u8> {
    encode(&RecordRef::from(outcome))
}

/// Decodes an idempotency record, compact or JSON.
pub fn read_record(raw: &[u8]) -> Result<Outcome, String> {
    decode(raw, "record", |r: RecordV1| Outcome::try_from(r))
}

/// Encodes a log entry: events compactly, the rare profile, badge and alias
/// changes as JSON.
pub fn entry(entry: &LogEntry) -> Vec<u8> {
    match entry {
        LogEntry::Event { event } => encode(&EventRef::from(event)),
        other => serde_json::to_vec(other).unwrap_or_default(),
    }
}

/// Decodes a log entry, compact or JSON.
pub fn read_entry(raw: &[u8]) -> Result<LogEntry, String> {
    decode(raw, "log entry", |e: EventV1| {
        Event::try_from(e).map(|event| LogEntry::Event { event })
    })
}

/// Encodes a line of a member's ledger (kept for each of their last
/// thousand awards).
pub fn ledger_line(line: &LedgerEntry) -> Vec<u8> {
    encode(&LedgerRef::from(line))
}

/// Decodes a ledger line, compact or JSON.
pub fn read_ledger_line(raw: &[u8]) -> Result<LedgerEntry, String> {
    decode(raw, "ledger line", |l: LedgerV1| LedgerEntry::try_from(l))
}

/// Encodes a member's state.
pub fn state(state: &MemberState) -> Vec<u8> {
    encode(&StateRef::from(state))
}

/// Decodes a member's state, compact or JSON.
pub fn read_state(raw: &[u8]) -> Result<MemberState, String> {
    decode(raw, "member state", |s: StateV1| MemberState::try_from(s))
}

/// Encodes what is kept of a question.
pub fn question(question: &Question) -> Vec<u8> {
    encode(&QuestionRef::from(question))
}

/// Decodes what is kept of a question, compact or JSON.
pub fn read_question(raw: &[u8]) -> Result<Question, String> {
    decode(raw, "question", |q: QuestionV1| Question::try_from(q))
}

/// Decodes `raw` (`what` names it in errors): the compact mirror `V`
/// turned into `T` by `from`, or `T` as JSON.
fn decode<V: DeserializeOwned, T: DeserializeOwned, E: std::fmt::Display>(
    raw: &[u8],
    what: &str,
    from: impl FnOnce(V) -> Result<T, E>,
) -> Result<T, String> {
    let read = match raw.split_first() {
        Some((&V1, rest)) => postcard::from_bytes::<V>(rest)
            .map_err(|e| e.to_string())
            .and_then(|v| from(v).map_err(|e| e.to_string())),
        _ => serde_json::from_slice(raw).map_err(|e| e.to_string()),
    };
    read.map_err(|e| format!("{what}: {e}"))
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.push(V1);
    // Serializing these plain structs into a Vec cannot fail.
    postcard::to_extend(value, out).unwrap_or_default()
}

/// A timestamp as seconds and nanoseconds since the Unix epoch.
#[derive(Serialize, Deserialize)]
struct Time(i64, i32);

impl From<Timestamp> for Time {
    fn from(t: Timestamp) -> Time {
        Time(t.as_second(), t.subsec_nanosecond())
    }
}

impl TryFrom<Time> for Timestamp {
    type Error = jiff::Error;
    fn try_from(Time(s, n): Time) -> Result<Timestamp, jiff::Error> {
        Timestamp::new(s, n)
    }
}

#[derive(Deserialize)]
struct RecordV1 {
    status: Status,
    sign: i64,
    effects: Option<EffectsV1>,
    badges: Vec<BadgeGranted>,
    level_ups: Vec<LevelUp>,
}

#[derive(Deserialize)]
struct EffectsV1 {
    occurred_at: Time,
    community: Option<CommunityId>,
    awards: Vec<AwardV1>,
    counted: Option<Counted>,
    slots: Vec<Slot>,
    notes: Vec<NoteV1>,
    target: Option<TargetV1>,
    revoked: bool,
}

#[derive(Deserialize)]
struct AwardV1 {
    member: MemberId,
    rule: Name,
    points: i64,
    day: Day,
    pair: bool,
}

#[derive(Deserialize)]
struct NoteV1 {
    rule: Name,
    member: Option<MemberId>,
    reason: Reason,
}

#[derive(Deserialize)]
struct TargetV1 {
    id: String,
    author: Option<MemberId>,
}

#[derive(Deserialize)]
struct EventV1 {
    id: EventId,
    kind: String,
    actor: MemberId,
    actor_name: Option<String>,
    occurred_at: Time,
    community: Option<CommunityId>,
    target: Option<TargetV1>,
    revokes: Option<EventId>,
    actor_unknown: bool,
    adjustment: Option<Adjustment>,
}

#[derive(Deserialize)]
struct LedgerV1 {
    event: EventId,
    rule: String,
    points: i64,
    at: Time,
    rules_version: String,
    revokes: Option<EventId>,
    reason: Option<String>,
    why: Option<Reason>,
}

#[derive(Deserialize)]
struct StateV1 {
    profile: ProfileV1,
    points: i64,
    by_rule: Table<i64>,
    counts: Table<Count>,
    /// Actions per knowledge-cycle stage, in the order of `Stage::ALL`.
    stages: Vec<u32>,
    communities: Table<Table<u32>>,
    badges: Vec<BadgeV1>,
    streak: Streak,
    caps: Vec<CapV1>,
    caps_forgotten_before: Option<Day>,
    home: Option<CommunityId>,
    /// The `once_per` slots, eight bytes each (little-endian), in order: a
    /// slot is a hash, which would take ten bytes as a varint.
    slots: Vec<u8>,
}

#[derive(Deserialize)]
struct ProfileV1 {
    name: Option<String>,
    timezone: Option<String>,
    groups: Vec<String>,
    visibility: Visibility,
    recognition: Recognition,
}

#[derive(Deserialize)]
struct BadgeV1 {
    badge: Name,
    tier: usize,
    awarded_at: Time,
    reason: Option<String>,
}

#[derive(Deserialize)]
struct CapV1 {
    rule: Name,
    day: Day,
    used: i64,
    pair: bool,
}

#[derive(Deserialize)]
struct QuestionV1 {
    asked: Vec<AskedV1>,
    answers: Vec<ReplyV1>,
}

#[derive(Deserialize)]
struct AskedV1 {
    event: EventId,
    asker: Option<MemberId>,
    at: Time,
    community: Option<CommunityId>,
}

#[derive(Deserialize)]
struct ReplyV1 {
    event: EventId,
    actor: Option<MemberId>,
    at: Time,
}

impl TryFrom<StateV1> for MemberState {
    type Error = String;
    fn try_from(s: StateV1) -> Result<MemberState, String> {
        let mut state = MemberState::default();
        state.profile = Profile {
            name: s.profile.name,
            timezone: s.profile.timezone,
            groups: s.profile.groups,
            visibility: s.profile.visibility,
            recognition: s.profile.recognition,
        };
        state.points = s.points;
        state.by_rule = s.by_rule;
        state.counts = s.counts;
        for (stage, n) in Stage::ALL.into_iter().zip(s.stages) {
            state.stages.add(stage, n);
        }
        state.communities = s.communities;
        state.badges = (s.badges.into_iter())
            .map(|b| {
                Ok(HeldBadge {
                    badge: b.badge,
                    tier: b.tier,
                    awarded_at: b.awarded_at.try_into()?,
                    reason: b.reason,
                })
            })
            .collect::<Result<_, jiff::Error>>()
            .map_err(|e| e.to_string())?;
        state.streak = s.streak;
        state.caps = (s.caps.into_iter())
            .map(|c| CapUse {
                rule: c.rule,
                day: c.day,
                used: c.used,
                pair: c.pair,
            })
            .collect();
        state.caps_forgotten_before = s.caps_forgotten_before;
        state.home = s.home;
        let slots = s.slots.chunks_exact(8);
        if !slots.remainder().is_empty() {
            return Err(format!("{} bytes of slots", s.slots.len()));
        }
        for slot in slots {
            let mut bytes = [0; 8];
            bytes.copy_from_slice(slot);
            state.slots.insert(u64::from_le_bytes(bytes));
        }
        Ok(state)
    }
}

impl TryFrom<QuestionV1> for Question {
    type Error = jiff::Error;
    fn try_from(q: QuestionV1) -> Result<Question, jiff::Error> {
        Ok(Question {
            asked: (q.asked.into_iter())
                .map(|a| {
                    Ok(Asked {
                        event: a.event,
                        asker: a.asker,
                        at: a.at.try_into()?,
                        community: a.community,
                    })
                })
                .collect::<Result<_, jiff::Error>>()?,
            answers: (q.answers.into_iter())
                .map(|r| {
                    Ok(Reply {
                        event: r.event,
                        actor: r.actor,
                        at: r.at.try_into()?,
                    })
                })
                .collect::<Result<_, jiff::Error>>()?,
        })
    }
}

impl TryFrom<LedgerV1> for LedgerEntry {
    type Error = jiff::Error;
    fn try_from(l: LedgerV1) -> Result<LedgerEntry, jiff::Error> {
        Ok(LedgerEntry {
            event: l.event,
            rule: l.rule.into(),
            points: l.points,
            at: l.at.try_into()?,
            rules_version: l.rules_version.into(),
            revokes: l.revokes,
            reason: l.reason.map(String::into_boxed_str),
            why: l.why,
        })
    }
}

impl TryFrom<RecordV1> for Outcome {
    type Error = jiff::Error;
    fn try_from(r: RecordV1) -> Result<Outcome, jiff::Error> {
        let effects = r.effects.map(Effects::try_from).transpose()?;
        let mut outcome = Outcome::recorded(r.sign, effects);
        outcome.status = r.status;
        outcome.badges = r.badges.into();
        outcome.level_ups = r.level_ups.into();
        Ok(outcome)
    }
}

impl TryFrom<EffectsV1> for Effects {
    type Error = jiff::Error;
    fn try_from(e: EffectsV1) -> Result<Effects, jiff::Error> {
        Ok(Effects {
            occurred_at: e.occurred_at.try_into()?,
            community: e.community,
            awards: (e.awards.into_iter())
                .map(|a| Award {
                    member: a.member,
                    rule: a.rule,
                    points: a.points,
                    day: a.day,
                    pair: a.pair,
                })
                .collect(),
            counted: e.counted,
            slots: e.slots.into(),
            notes: (e.notes.into_iter())
                .map(|n| Note {
                    rule: n.rule,
                    member: n.member,
                    reason: n.reason,
                })
                .collect(),
            target: e.target.map(|t| Box::new(Target::from(t))),
            revoked: e.revoked,
        })
    }
}

impl From<TargetV1> for Target {
    fn from(t: TargetV1) -> Target {
        Target {
            id: t.id,
            author: t.author,
        }
    }
}

impl TryFrom<EventV1> for Event {
    type Error = jiff::Error;
    fn try_from(e: EventV1) -> Result<Event, jiff::Error> {
        Ok(Event {
            id: e.id,
            kind: e.kind,
            actor: e.actor,
            actor_name: e.actor_name,
            occurred_at: e.occurred_at.try_into()?,
            community: e.community,
            target: e.target.map(Target::from),
            revokes: e.revokes,
            actor_unknown: e.actor_unknown,
            adjustment: e.adjustment,
        })
    }
}

// What is written: the mirrors above, borrowing from the values encoded
// instead of copying them (a replay encodes a record for every event). The
// fields are the same, in the same order; the tests read every kind back
// through the mirrors above.

#[derive(Serialize)]
struct RecordRef<'a> {
    status: Status,
    sign: i64,
    effects: Option<EffectsRef<'a>>,
    badges: &'a [BadgeGranted],
    level_ups: &'a [LevelUp],
}

#[derive(Serialize)]
struct EffectsRef<'a> {
    occurred_at: Time,
    community: Option<&'a CommunityId>,
    awards: Each<'a, Award, AwardRef<'a>>,
    counted: &'a Option<Counted>,
    slots: &'a [Slot],
    notes: Each<'a, Note, NoteRef<'a>>,
    target: Option<TargetRef<'a>>,
    revoked: bool,
}

#[derive(Serialize)]
struct AwardRef<'a> {
    member: &'a MemberId,
    rule: &'a Name,
    points: i64,
    day: Day,
    pair: bool,
}

#[derive(Serialize)]
struct NoteRef<'a> {
    rule: &'a Name,
    member: Option<&'a MemberId>,
    reason: Reason,
}

#[derive(Serialize)]
struct TargetRef<'a> {
    id: &'a str,
    author: Option<&'a MemberId>,
}

#[derive(Serialize)]
struct EventRef<'a> {
    id: &'a EventId,
    kind: &'a str,
    actor: &'a MemberId,
    actor_name: Option<&'a str>,
    occurred_at: Time,
    community: Option<&'a CommunityId>,
    target: Option<TargetRef<'a>>,
    revokes: Option<&'a EventId>,
    actor_unknown: bool,
    adjustment: Option<&'a Adjustment>,
}

#[derive(Serialize)]
struct LedgerRef<'a> {
    event: &'a EventId,
    rule: &'a str,
    points: i64,
    at: Time,
    rules_version: &'a str,
    revokes: Option<&'a EventId>,
    reason: Option<&'a str>,
    why: Option<Reason>,
}

#[derive(Serialize)]
struct StateRef<'a> {
    profile: ProfileRef<'a>,
    points: i64,
    by_rule: &'a Table<i64>,
    counts: &'a Table<Count>,
    stages: StagesRef<'a>,
    communities: &'a Table<Table<u32>>,
    badges: Each<'a, HeldBadge, BadgeRef<'a>>,
    streak: &'a Streak,
    caps: Each<'a, CapUse, CapRef<'a>>,
    caps_forgotten_before: Option<Day>,
    home: Option<&'a CommunityId>,
    slots: Vec<u8>,
}

#[derive(Serialize)]
struct ProfileRef<'a> {
    name: Option<&'a str>,
    timezone: Option<&'a str>,
    groups: &'a [String],
    visibility: Visibility,
    recognition: Recognition,
}

/// A member's actions per stage, in the order of `Stage::ALL`.
struct StagesRef<'a>(&'a engagement_core::state::Stages);

impl Serialize for StagesRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(Stage::ALL.into_iter().map(|stage| self.0.get(stage)))
    }
}

#[derive(Serialize)]
struct BadgeRef<'a> {
    badge: &'a Name,
    tier: usize,
    awarded_at: Time,
    reason: Option<&'a str>,
}

#[derive(Serialize)]
struct CapRef<'a> {
    rule: &'a Name,
    day: Day,
    used: i64,
    pair: bool,
}

#[derive(Serialize)]
struct QuestionRef<'a> {
    asked: Each<'a, Asked, AskedRef<'a>>,
    answers: Each<'a, Reply, ReplyRef<'a>>,
}

#[derive(Serialize)]
struct AskedRef<'a> {
    event: &'a EventId,
    asker: Option<&'a MemberId>,
    at: Time,
    community: Option<&'a CommunityId>,
}

#[derive(Serialize)]
struct ReplyRef<'a> {
    event: &'a EventId,
    actor: Option<&'a MemberId>,
    at: Time,
}

/// A slice written as a sequence of its items' borrowed mirrors `R`.
struct Each<'a, T, R>(&'a [T], std::marker::PhantomData<R>);

impl<'a, T, R: From<&'a T> + Serialize> Serialize for Each<'a, T, R> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(R::from))
    }
}

fn each<'a, T, R>(items: &'a [T]) -> Each<'a, T, R> {
    Each(items, std::marker::PhantomData)
}

impl<'a> From<&'a Outcome> for RecordRef<'a> {
    fn from(o: &'a Outcome) -> RecordRef<'a> {
        RecordRef {
            status: o.status,
            sign: o.sign,
            effects: o.effects.as_deref().map(EffectsRef::from),
            badges: &o.badges,
            level_ups: &o.level_ups,
        }
    }
}

impl<'a> From<&'a Effects> for EffectsRef<'a> {
    fn from(e: &'a Effects) -> EffectsRef<'a> {
        EffectsRef {
            occurred_at: e.occurred_at.into(),
            community: e.community.as_ref(),
            awards: each(&e.awards),
            counted: &e.counted,
            slots: &e.slots,
            notes: each(&e.notes),
            target: e.target.as_deref().map(TargetRef::from),
            revoked: e.revoked,
        }
    }
}

impl<'a> From<&'a Award> for AwardRef<'a> {
    fn from(a: &'a Award) -> AwardRef<'a> {
        AwardRef {
            member: &a.member,
            rule: &a.rule,
            points: a.points,
            day: a.day,
            pair: a.pair,
        }
    }
}

impl<'a> From<&'a Note> for NoteRef<'a> {
    fn from(n: &'a Note) -> NoteRef<'a> {
        NoteRef {
            rule: &n.rule,
            member: n.member.as_ref(),
            reason: n.reason,
        }
    }
}

impl<'a> From<&'a Target> for TargetRef<'a> {
    fn from(t: &'a Target) -> TargetRef<'a> {
        TargetRef {
            id: &t.id,
            author: t.author.as_ref(),
        }
    }
}

impl<'a> From<&'a Event> for EventRef<'a> {
    fn from(e: &'a Event) -> EventRef<'a> {
        EventRef {
            id: &e.id,
            kind: &e.kind,
            actor: &e.actor,
            actor_name: e.actor_name.as_deref(),
            occurred_at: e.occurred_at.into(),
            community: e.community.as_ref(),
            target: e.target.as_ref().map(TargetRef::from),
            revokes: e.revokes.as_ref(),
            actor_unknown: e.actor_unknown,
            adjustment: e.adjustment.as_ref(),
        }
    }
}

impl<'a> From<&'a LedgerEntry> for LedgerRef<'a> {
    fn from(l: &'a LedgerEntry) -> LedgerRef<'a> {
        LedgerRef {
            event: &l.event,
            rule: l.rule.as_str(),
            points: l.points,
            at: l.at.into(),
            rules_version: l.rules_version.as_str(),
            revokes: l.revokes.as_ref(),
            reason: l.reason.as_deref(),
            why: l.why,
        }
    }
}

impl<'a> From<&'a MemberState> for StateRef<'a> {
    fn from(s: &'a MemberState) -> StateRef<'a> {
        let mut slots: Vec<u64> = s.slots.iter().collect();
        slots.sort_unstable();
        StateRef {
            profile: ProfileRef {
                name: s.profile.name.as_deref(),
                timezone: s.profile.timezone.as_deref(),
                groups: &s.profile.groups,
                visibility: s.profile.visibility,
                recognition: s.profile.recognition,
            },
            points: s.points,
            by_rule: &s.by_rule,
            counts: &s.counts,
            stages: StagesRef(&s.stages),
            communities: &s.communities,
            badges: each(&s.badges),
            streak: &s.streak,
            caps: each(&s.caps),
            caps_forgotten_before: s.caps_forgotten_before,
            home: s.home.as_ref(),
            slots: slots.iter().flat_map(|slot| slot.to_le_bytes()).collect(),
        }
    }
}

impl<'a> From<&'a HeldBadge> for BadgeRef<'a> {
    fn from(b: &'a HeldBadge) -> BadgeRef<'a> {
        BadgeRef {
            badge: &b.badge,
            tier: b.tier,
            awarded_at: b.awarded_at.into(),
            reason: b.reason.as_deref(),
        }
    }
}

impl<'a> From<&'a CapUse> for CapRef<'a> {
    fn from(c: &'a CapUse) -> CapRef<'a> {
        CapRef {
            rule: &c.rule,
            day: c.day,
            used: c.used,
            pair: c.pair,
        }
    }
}

impl<'a> From<&'a Question> for QuestionRef<'a> {
    fn from(q: &'a Question) -> QuestionRef<'a> {
        QuestionRef {
            asked: each(&q.asked),
            answers: each(&q.answers),
        }
    }
}

impl<'a> From<&'a Asked> for AskedRef<'a> {
    fn from(a: &'a Asked) -> AskedRef<'a> {
        AskedRef {
            event: &a.event,
            asker: a.asker.as_ref(),
            at: a.at.into(),
            community: a.community.as_ref(),
        }
    }
}

impl<'a> From<&'a Reply> for ReplyRef<'a> {
    fn from(r: &'a Reply) -> ReplyRef<'a> {
        ReplyRef {
            event: &r.event,
            actor: r.actor.as_ref(),
            at: r.at.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use engagement_core::{Memory, RuleSet};

    use super::*;
    use crate::generate::{GenerateParams, generate};

    fn activity() -> (Vec<Event>, Memory) {
        let rules = RuleSet::from_toml(include_str!("../../../rules/knowledge-sharing.toml"))
            .expect("canonical rules");
        let events = generate(&GenerateParams {
            members: 300,
            communities: 5,
            days: 30,
            seed: 11,
            start: "2026-08-01T00:00:00Z".parse().expect("start"),
            events: Some(5_000),
            rings: vec![2, 3],
        });
        let mut memory = Memory::default();
        for e in &events {
            memory.ingest(&rules, e);
        }
        (events, memory)
    }

    #[test]
    fn every_record_and_event_reads_back_as_it_was_written() {
        let (events, memory) = activity();
        let (mut notes, mut revoked, mut targets, mut badges, mut levels) = (0, 0, 0, 0, 0);
        for (_, outcome) in memory.outcomes() {
            let back = read_record(&record(outcome)).expect("compact record");
            assert_eq!(&back, outcome);
            // Equal as JSON too: nothing the comparison skips was lost.
            assert_eq!(
                serde_json::to_value(&back).ok(),
                serde_json::to_value(outcome).ok()
            );
            let effects = outcome.effects.as_deref();
            notes += effects.map_or(0, |e| e.notes.len());
            revoked += usize::from(effects.is_some_and(|e| e.revoked));
            targets += usize::from(effects.is_some_and(|e| e.target.is_some()));
            badges += outcome.badges.len();
            levels += outcome.level_ups.len();
        }
        // The sample exercises every optional part.
        assert!(notes > 0 && revoked > 0 && targets > 0 && badges > 0 && levels > 0);
        let mut revocations = 0;
        for event in &events {
            let logged = LogEntry::Event {
                event: event.clone(),
            };
            assert_eq!(read_entry(&entry(&logged)).expect("compact entry"), logged);
            revocations += usize::from(event.revokes.is_some());
        }
        assert!(revocations > 0);
    }

    #[test]
    fn adjustments_and_events_without_a_known_actor_read_back() {
        let rules = RuleSet::from_toml(include_str!("../../../rules/knowledge-sharing.toml"))
            .expect("canonical rules");
        let events: Vec<Event> = [
            serde_json::json!({"id": "adj-1", "kind": "adjustment", "actor": "ana",
                "occurred_at": "2026-11-20T10:00:00Z",
                "adjustment": {"points": -3, "reason": "duplicate post"}}),
            serde_json::json!({"id": "q-1", "kind": "question.asked", "actor": "bo",
                "occurred_at": "2026-11-20T11:00:00Z", "community": "customs",
                "target": {"id": "t-1", "author": "bo"}}),
            serde_json::json!({"id": "sol-1", "kind": "answer.accepted", "actor": "discourse",
                "occurred_at": "2026-11-20T12:00:00Z", "community": "customs",
                "target": {"id": "t-1", "author": "cy"}, "actor_unknown": true}),
        ]
        .into_iter()
        .map(|v| serde_json::from_value(v).expect("an event"))
        .collect();
        let mut memory = Memory::default();
        for event in &events {
            let logged = LogEntry::Event {
                event: event.clone(),
            };
            assert_eq!(read_entry(&entry(&logged)).expect("compact entry"), logged);
            let outcome = memory.ingest(&rules, event);
            let kept = memory.outcome(&event.id).unwrap_or(&outcome);
            assert_eq!(&read_record(&record(kept)).expect("compact record"), kept);
        }
        // The unattributed event counts nobody as its actor.
        let unattributed = memory.outcome(&events[2].id).expect("recorded");
        let counted = unattributed
            .effects
            .as_ref()
            .and_then(|e| e.counted.as_ref());
        assert!(counted.is_none_or(|c| c.actor.is_none()), "{counted:?}");
    }

    /// Enums are stored by their position: a variant moved or inserted
    /// before others would relabel every stored record.
    #[test]
    fn enums_keep_the_numbers_stored_records_use() {
        use engagement_core::rules::Stage;
        let number = |v: Vec<u8>| v.first().copied();
        let statuses = [Status::Applied, Status::Duplicate, Status::Ignored];
        for (i, s) in statuses.into_iter().enumerate() {
            assert_eq!(
                number(postcard::to_allocvec(&s).unwrap_or_default()),
                Some(i as u8)
            );
        }
        for (i, s) in Stage::ALL.into_iter().enumerate() {
            assert_eq!(
                number(postcard::to_allocvec(&s).unwrap_or_default()),
                Some(i as u8),
                "{}",
                s.as_str()
            );
        }
        let reasons = [
            Reason::Awarded,
            Reason::Partial,
            Reason::DailyCapReached,
            Reason::PairCapReached,
            Reason::OncePerUsed,
            Reason::NotSelf,
            Reason::Community,
            Reason::Chance,
            Reason::CapWindowPassed,
            Reason::NoRecipient,
            Reason::NoTarget,
            Reason::RevokedEvent,
        ];
        for (i, r) in reasons.into_iter().enumerate() {
            assert_eq!(
                number(postcard::to_allocvec(&r).unwrap_or_default()),
                Some(i as u8),
                "{}",
                r.as_str()
            );
        }
        let visibilities = [
            Visibility::Public,
            Visibility::Anonymous,
            Visibility::Hidden,
        ];
        for (i, v) in visibilities.into_iter().enumerate() {
            assert_eq!(
                number(postcard::to_allocvec(&v).unwrap_or_default()),
                Some(i as u8)
            );
        }
        let recognitions = [Recognition::Public, Recognition::Private, Recognition::None];
        for (i, r) in recognitions.into_iter().enumerate() {
            assert_eq!(
                number(postcard::to_allocvec(&r).unwrap_or_default()),
                Some(i as u8)
            );
        }
    }

    #[test]
    fn ledger_lines_read_back_compact_or_json() {
        let (events, memory) = activity();
        let rules = RuleSet::from_toml(include_str!("../../../rules/knowledge-sharing.toml"))
            .expect("canonical rules");
        let (mut revokes, mut why, mut lines) = (0, 0, 0);
        for event in &events {
            let Some(outcome) = memory.outcome(&event.id) else {
                continue;
            };
            let version = Name::new(&rules.version);
            for (_, line) in super::super::ledger_lines(&version, event, outcome) {
                assert_eq!(
                    read_ledger_line(&ledger_line(&line)).ok(),
                    Some(line.clone())
                );
                let json = serde_json::to_vec(&line).expect("json");
                assert_eq!(read_ledger_line(&json).ok(), Some(line.clone()));
                revokes += usize::from(line.revokes.is_some());
                why += usize::from(line.why.is_some());
                lines += 1;
            }
        }
        assert!(lines > 0 && revokes > 0 && why > 0);
        let adjusted = LedgerEntry {
            event: EventId::parse("adj-1").expect("an id"),
            rule: "adjustment".into(),
            points: -3,
            at: "2026-11-20T10:00:00.5Z".parse().expect("an instant"),
            rules_version: "7".into(),
            revokes: None,
            reason: Some("duplicate post".into()),
            why: Some(Reason::Partial),
        };
        assert_eq!(
            read_ledger_line(&ledger_line(&adjusted)).ok(),
            Some(adjusted)
        );
    }

    /// The embedded store keeps each member's last thousand ledger lines
    /// in memory: 96 bytes each (120 while their rule and version were
    /// names with a hash, and the reason a `String`).
    #[test]
    fn a_ledger_line_takes_96_bytes() {
        let size = std::mem::size_of::<LedgerEntry>();
        assert!(size <= 96, "{size}");
    }

    /// Every member state of the sample, and one with every field set.
    fn states() -> Vec<MemberState> {
        let (_, memory) = activity();
        let mut states: Vec<MemberState> = memory.members.values().cloned().collect();
        let mut full = states
            .iter()
            .max_by_key(|s| s.slots.len() + s.caps.len() + s.badges.len())
            .cloned()
            .expect("a member");
        full.set_profile(Profile {
            name: Some("Ana Souza".into()),
            timezone: Some("America/Bogota".into()),
            groups: vec!["staff".into(), "mentors".into()],
            visibility: Visibility::Anonymous,
            recognition: Recognition::Private,
        });
        full.badges.push(HeldBadge {
            badge: Name::new("mentor"),
            tier: 2,
            awarded_at: "2026-11-20T10:00:00.25Z".parse().expect("an instant"),
            reason: Some("ran the onboarding webinars".into()),
        });
        // Oldest day first, as a state keeps them.
        let day = full.caps.last().map_or(Day(20_400), |c| c.day);
        full.caps.push(CapUse {
            rule: Name::new("m-7"),
            day,
            used: 4,
            pair: true,
        });
        full.caps_forgotten_before = Some(Day(day.0 - 40));
        full.home = Some(CommunityId::parse("customs").expect("an id"));
        full.slots.insert(u64::MAX);
        full.slots.insert(0);
        states.push(full);
        states
    }

    fn questions() -> Vec<Question> {
        let at = |s: &str| s.parse::<Timestamp>().expect("an instant");
        let event = |s: &str| EventId::parse(s).expect("an id");
        let member = |s: &str| MemberId::parse(s).expect("an id");
        vec![
            Question {
                asked: vec![Asked {
                    event: event("q-1"),
                    asker: Some(member("ana")),
                    at: at("2026-11-20T10:00:00.5Z"),
                    community: Some(CommunityId::parse("customs").expect("an id")),
                }],
                answers: vec![
                    Reply {
                        event: event("a-1"),
                        actor: Some(member("bo")),
                        at: at("2026-11-20T11:00:00Z"),
                    },
                    Reply {
                        event: event("a-2"),
                        actor: None,
                        at: at("2026-11-21T09:30:00Z"),
                    },
                ],
            },
            // Answers that came before their question.
            Question {
                asked: Vec::new(),
                answers: vec![Reply {
                    event: event("a-3"),
                    actor: Some(member("cy")),
                    at: at("2026-11-22T08:00:00Z"),
                }],
            },
            Question {
                asked: vec![Asked {
                    event: event("q-2"),
                    asker: None,
                    at: at("2026-11-23T08:00:00Z"),
                    community: None,
                }],
                answers: Vec::new(),
            },
        ]
    }

    #[test]
    fn every_member_state_reads_back_as_it_was_written() {
        let states = states();
        let (mut slots, mut caps, mut badges, mut communities) = (0, 0, 0, 0);
        for state in &states {
            let back = read_state(&self::state(state)).expect("compact state");
            // Compared as JSON, which holds every field a state keeps.
            assert_eq!(
                serde_json::to_value(&back).ok(),
                serde_json::to_value(state).ok()
            );
            // The same state encodes to the same bytes (readers find states
            // and writers skip unchanged questions by them).
            assert_eq!(self::state(&back), self::state(state));
            let json = serde_json::to_vec(state).expect("json");
            let before = read_state(&json).expect("json state");
            assert_eq!(
                serde_json::to_value(&before).ok(),
                serde_json::to_value(state).ok()
            );
            slots += state.slots.len();
            caps += state.caps.len();
            badges += state.badges.len();
            communities += state.communities.len();
        }
        // The sample exercises every part.
        assert!(slots > 0 && caps > 0 && badges > 0 && communities > 0);
    }

    #[test]
    fn questions_read_back_compact_or_json() {
        for q in questions() {
            assert_eq!(read_question(&question(&q)).ok(), Some(q.clone()));
            let json = serde_json::to_vec(&q).expect("json");
            assert_eq!(read_question(&json).ok(), Some(q));
        }
    }

    #[test]
    fn a_state_and_a_question_are_a_fraction_of_their_json() {
        let (mut compact, mut json) = (0, 0);
        for state in states() {
            compact += self::state(&state).len();
            json += serde_json::to_vec(&state).map_or(0, |j| j.len());
        }
        assert!(compact * 2 < json, "{compact} bytes against {json} as JSON");
        let (mut compact, mut json) = (0, 0);
        for q in questions() {
            compact += question(&q).len();
            json += serde_json::to_vec(&q).map_or(0, |j| j.len());
        }
        assert!(compact * 2 < json, "{compact} bytes against {json} as JSON");
    }

    #[test]
    fn damaged_states_and_questions_are_an_error_not_a_panic() {
        let full = states().pop().expect("a state");
        let good = state(&full);
        for cut in 1..good.len() {
            assert!(read_state(&good[..cut]).is_err(), "cut at {cut}");
        }
        let q = question(&questions()[0]);
        for cut in 1..q.len() {
            assert!(read_question(&q[..cut]).is_err(), "cut at {cut}");
        }
        // Slots that are not a whole number of eight bytes.
        let mut odd = MemberState::default();
        odd.points = 1;
        let mut bytes = state(&odd);
        let last = bytes.len() - 1;
        bytes[last] = 3;
        bytes.extend([1, 2, 3]);
        assert!(read_state(&bytes).is_err());
        assert!(read_state(b"").is_err());
        assert!(read_question(&[V1, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn json_written_before_still_reads() {
        let (events, memory) = activity();
        let (_, outcome) = memory.outcomes().next().expect("an outcome");
        let json = serde_json::to_vec(outcome).expect("json");
        assert_eq!(&read_record(&json).expect("json record"), outcome);
        let logged = LogEntry::Event {
            event: events[0].clone(),
        };
        let json = serde_json::to_vec(&logged).expect("json");
        assert_eq!(read_entry(&json).expect("json entry"), logged);
    }

    #[test]
    fn a_record_is_a_fraction_of_its_json() {
        let (_, memory) = activity();
        let (mut compact, mut json) = (0, 0);
        for (_, outcome) in memory.outcomes() {
            compact += record(outcome).len();
            json += serde_json::to_vec(outcome).map_or(0, |j| j.len());
        }
        assert!(compact * 3 < json, "{compact} bytes against {json} as JSON");
    }

    #[test]
    fn damaged_bytes_are_an_error_not_a_panic() {
        let (events, memory) = activity();
        let (_, outcome) = memory.outcomes().next().expect("an outcome");
        let good = record(outcome);
        for cut in 0..good.len() {
            assert!(read_record(&good[..cut]).is_err());
        }
        let logged = entry(&LogEntry::Event {
            event: events[0].clone(),
        });
        for cut in 1..logged.len() {
            assert!(read_entry(&logged[..cut]).is_err());
        }
        assert!(read_record(&[V1, 0xff, 0xff, 0xff]).is_err());
        assert!(read_entry(b"").is_err());
    }
}
