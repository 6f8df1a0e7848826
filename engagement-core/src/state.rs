//! What the engine remembers about one member.
//!
//! Growth: `counts`, `stages` and `communities` are bounded by the rule file
//! and the number of communities; `badges` by the badge tiers; `caps` keeps
//! only the rule file's `cap_window_days` days (default [`CAP_WINDOW_DAYS`]); `slots` (the `once_per` memory) grows with
//! every distinct thing a member liked or attended, 8 bytes each, because
//! "at most once per target, ever" cannot be kept with less.

use std::collections::{BTreeMap, HashSet};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::calendar::Day;
use crate::ids::{CommunityId, MemberId};
use crate::name::Name;
use crate::notify::Recognition;
use crate::rules::{Stage, StreakRule};

/// Days of daily-cap usage kept per member unless the rule file's
/// `[engine] cap_window_days` says otherwise. An event more than this many
/// days older than the member's newest capped award gets nothing from capped
/// rules (explained as `cap_window_passed`): its cap room can no longer be
/// checked, and caps must hold.
pub const CAP_WINDOW_DAYS: i64 = 35;

/// How visible a member chooses to be on leaderboards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    #[default]
    Public,
    /// Listed without id or name.
    Anonymous,
    /// Not listed at all.
    Hidden,
}

/// What a member (or an admin) says about them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// IANA time zone for daily caps and streak days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default)]
    pub visibility: Visibility,
    /// How the member wants to be recognised by notifications.
    #[serde(default, skip_serializing_if = "Recognition::is_public")]
    pub recognition: Recognition,
}

/// Events of one kind done and received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    pub actor: u32,
    pub received: u32,
}

/// One badge tier held by a member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldBadge {
    pub badge: Name,
    /// Index of the tier in the badge's tier list.
    pub tier: usize,
    pub awarded_at: Timestamp,
    /// Why an admin granted it by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Points a capped rule gave a member on one local day, or, for the pair
/// cap of `[fair_play]`, points the member earned through one other
/// member's actions that day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapUse {
    /// The capped rule; for the pair cap, the member whose actions paid.
    pub rule: Name,
    pub day: Day,
    pub used: i64,
    /// Whether this is pair-cap room (and `rule` the paying member).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pair: bool,
}

/// Whose room a [`CapUse`] counts: a capped rule's, or the pair cap's
/// between the member and the one whose actions paid them.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CapKey<'a> {
    Rule(&'a Name),
    Pair(&'a MemberId),
}

impl CapKey<'_> {
    fn matches(self, c: &CapUse) -> bool {
        match self {
            CapKey::Rule(rule) => !c.pair && c.rule == *rule,
            CapKey::Pair(from) => c.pair && c.rule == *from.name(),
        }
    }

    fn entry(self, day: Day, used: i64) -> CapUse {
        let (rule, pair) = match self {
            CapKey::Rule(rule) => (rule.clone(), false),
            CapKey::Pair(from) => (from.name().clone(), true),
        };
        CapUse {
            rule,
            day,
            used,
            pair,
        }
    }
}

/// A daily streak.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Streak {
    pub current: u32,
    pub longest: u32,
    pub freezes: u32,
    pub last_active: Option<Day>,
}

impl Streak {
    /// Records activity on `day`. Earlier days than the last active one
    /// change nothing; missed days are covered by freezes when there are
    /// enough, otherwise the streak starts again.
    pub fn record(&mut self, day: Day, rule: &StreakRule) {
        let gap = self.last_active.map(|last| last.days_until(day));
        match gap {
            Some(g) if g <= 0 => return,
            Some(1) => self.current += 1,
            Some(g) if g - 1 <= i64::from(self.freezes) => {
                self.freezes -= (g - 1) as u32;
                self.current += 1;
            }
            _ => self.current = 1,
        }
        self.last_active = Some(day);
        if self.current.is_multiple_of(rule.earn_every_days) {
            self.freezes = (self.freezes + 1).min(rule.max_freezes);
        }
        self.longest = self.longest.max(self.current);
    }

    /// The streak as shown on `today`: 0 once more days were missed than
    /// freezes can cover.
    pub fn current_on(&self, today: Day) -> u32 {
        match self.last_active {
            Some(last) if last.days_until(today) - 1 <= i64::from(self.freezes) => self.current,
            _ => 0,
        }
    }
}

/// Everything the engine keeps about one member; stores persist it whole.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MemberState {
    #[serde(default)]
    pub profile: Profile,
    #[serde(default)]
    pub points: i64,
    /// Net points per points rule (an admin's adjustments under
    /// `adjustment`): how `points` was earned. Sums to `points`.
    #[serde(default, skip_serializing_if = "Table::is_empty")]
    pub by_rule: Table<i64>,
    #[serde(default, skip_serializing_if = "Table::is_empty")]
    pub counts: Table<Count>,
    /// Actions done per knowledge-cycle stage.
    #[serde(default, skip_serializing_if = "Stages::is_empty")]
    pub stages: Stages,
    /// Per action kind tracked by a `distinct_communities` badge: events per community.
    #[serde(default, skip_serializing_if = "Table::is_empty")]
    pub communities: Table<Table<u32>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub badges: Vec<HeldBadge>,
    #[serde(default)]
    pub streak: Streak,
    /// Oldest day first.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "oldest_first"
    )]
    pub caps: Vec<CapUse>,
    /// Cap use before this day was forgotten (it fell out of the window):
    /// a window made longer later does not bring that room back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caps_forgotten_before: Option<Day>,
    /// The community of the first applied event the member acted in that
    /// named one: where their knowledge comes from. It never changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<CommunityId>,
    /// `once_per` slots used by this member as actor.
    #[serde(default, skip_serializing_if = "Slots::is_empty")]
    pub slots: Slots,
    #[serde(skip)]
    tz: Option<TimeZone>,
    /// The rule set (by fingerprint) under which every badge was last
    /// checked; 0 when never, as after loading the state.
    #[serde(skip)]
    pub(crate) badges_checked: u64,
    /// How many tiers of each badge the member holds, counted from
    /// `badges`: see [`TiersHeld`].
    #[serde(skip)]
    pub(crate) held_by_badge: TiersHeld,
}

/// How many tiers of each badge of one rule set a member holds, by the
/// badge's position in the rule file: badge checks read it instead of
/// going through the member's badges for every badge reached.
///
/// Held badges are only ever added, so the entries of `badges` past those
/// already counted are counted when next asked; a different rule set, or
/// fewer entries than counted, counts them all again.
#[derive(Debug, Clone, Default)]
pub(crate) struct TiersHeld {
    /// The rule set counted for, by fingerprint; 0 when never counted.
    pub(crate) fingerprint: u64,
    /// Entries of `badges` counted.
    pub(crate) counted: usize,
    pub(crate) by_badge: Box<[u32]>,
}

impl MemberState {
    /// The member's own time zone, or `fallback` when unset or unknown.
    pub fn timezone<'a>(&'a mut self, fallback: &'a TimeZone) -> &'a TimeZone {
        if self.tz.is_none()
            && let Some(name) = &self.profile.timezone
        {
            self.tz = TimeZone::get(name).ok();
        }
        self.tz.as_ref().unwrap_or(fallback)
    }

    /// The member's local day at `at`: `engine_day`, the day in the engine's
    /// time zone `engine`, for members without a time zone of their own.
    pub fn local_day(&mut self, at: Timestamp, engine: &TimeZone, engine_day: Day) -> Day {
        if self.profile.timezone.is_none() {
            return engine_day;
        }
        Day::of(at, self.timezone(engine))
    }

    /// Replaces the profile (and forgets the cached time zone).
    pub fn set_profile(&mut self, profile: Profile) {
        self.profile = profile;
        self.tz = None;
    }

    /// Adds `points` (negative: takes them) earned through `rule`.
    pub(crate) fn earn(&mut self, rule: &Name, points: i64) {
        self.points += points;
        // One pass over the few rules a member earned by, on every award.
        let table = &mut self.by_rule.0;
        match table.iter().position(|(k, _)| k == rule) {
            Some(i) => {
                table[i].1 += points;
                if table[i].1 == 0 {
                    table.swap_remove(i);
                }
            }
            None => table.push((rule.clone(), points)),
        }
    }

    /// Number of tiers of `badge` held.
    pub fn tiers_held(&self, badge: &str) -> usize {
        self.badges.iter().filter(|b| b.badge.is(badge)).count()
    }

    // `caps` is kept oldest day first and searched from the end, so the
    // usual lookup (today) stops after the last few entries, and a new day
    // is a push, whatever the window holds.

    pub(crate) fn cap_used(&self, key: CapKey<'_>, day: Day) -> i64 {
        (self.caps.iter().rev())
            .take_while(|c| c.day >= day)
            .find(|c| c.day == day && key.matches(c))
            .map_or(0, |c| c.used)
    }

    /// Whether `day` is too old for its cap room to be known.
    pub(crate) fn cap_forgotten(&self, day: Day, window: i64) -> bool {
        self.caps
            .last()
            .is_some_and(|newest| day.days_until(newest.day) >= window)
            || self
                .caps_forgotten_before
                .is_some_and(|before| day < before)
    }

    pub(crate) fn use_cap(&mut self, key: CapKey<'_>, day: Day, points: i64, window: i64) {
        // The first entry, from the newest, on `day` for `key` or older than `day`.
        let at = (self
            .caps
            .iter()
            .rposition(|c| c.day < day || (c.day == day && key.matches(c))))
        .filter(|&i| self.caps[i].day == day);
        match at {
            Some(i) => {
                self.caps[i].used += points;
                if self.caps[i].used <= 0 {
                    self.caps.remove(i);
                }
            }
            None if points <= 0 => {}
            None => {
                let newest = self.caps.last().is_none_or(|c| c.day < day);
                let i = (self.caps.iter().rposition(|c| c.day <= day)).map_or(0, |i| i + 1);
                self.caps.insert(i, key.entry(day, points));
                if newest {
                    // A new newest day: forget days that fell out of the window.
                    // Oldest first: nothing to forget unless the oldest goes.
                    let stale = |c: &CapUse| c.day.days_until(day) >= window;
                    if self.caps.first().is_some_and(stale) {
                        // Oldest first: the stale entries are the first ones.
                        let fresh = self.caps.partition_point(stale);
                        self.caps.drain(..fresh);
                        let span = i32::try_from(window - 1).unwrap_or(i32::MAX);
                        let before = Day(day.0.saturating_sub(span));
                        self.caps_forgotten_before = self.caps_forgotten_before.max(Some(before));
                    }
                }
            }
        }
    }
}

/// Cap use as stored, in whatever order it was written, oldest day first.
fn oldest_first<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<CapUse>, D::Error> {
    let mut caps = Vec::<CapUse>::deserialize(d)?;
    caps.sort_by_key(|c| c.day);
    Ok(caps)
}

/// A small map from names to values, as a member's state holds them: a
/// handful of action kinds or communities, so a linear search comparing
/// name hashes beats any tree or table. Serialised as a map in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table<V>(Vec<(Name, V)>);

impl<V> Default for Table<V> {
    fn default() -> Self {
        Table(Vec::new())
    }
}

impl<V> Table<V> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The value under `key`.
    pub fn get(&self, key: &Name) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value under the name reading `key`.
    pub fn get_str(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k.is(key)).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &Name) -> Option<&mut V> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Changes the value under `key` in place, starting from the default
    /// when it is missing.
    pub fn update(&mut self, key: &Name, f: impl FnOnce(&mut V))
    where
        V: Default,
    {
        match self.get_mut(key) {
            Some(value) => f(value),
            None => {
                let mut value = V::default();
                f(&mut value);
                self.0.push((key.clone(), value));
            }
        }
    }

    pub fn remove(&mut self, key: &Name) -> Option<V> {
        let at = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.swap_remove(at).1)
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&Name, &V)> {
        let mut entries: Vec<(&Name, &V)> = self.0.iter().map(|(k, v)| (k, v)).collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        entries.into_iter()
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }
}

impl<V> std::ops::Index<&str> for Table<V> {
    type Output = V;

    /// # Panics
    /// When no entry reads `key`, as maps do.
    #[allow(clippy::panic)]
    fn index(&self, key: &str) -> &V {
        match self.get_str(key) {
            Some(v) => v,
            None => panic!("no entry {key:?}"),
        }
    }
}

impl<V: Serialize> Serialize for Table<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Table<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, V>::deserialize(d)?;
        Ok(Table(
            map.into_iter().map(|(k, v)| (Name::from(k), v)).collect(),
        ))
    }
}

/// Actions done per knowledge-cycle stage. Serialised as a map of the
/// stages with actions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stages([u32; Stage::ALL.len()]);

impl Stages {
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|n| *n == 0)
    }

    pub fn get(&self, stage: Stage) -> u32 {
        self.0[stage as usize]
    }

    pub fn add(&mut self, stage: Stage, n: u32) {
        let held = &mut self.0[stage as usize];
        *held = held.saturating_add(n);
    }

    pub fn take(&mut self, stage: Stage, n: u32) {
        let held = &mut self.0[stage as usize];
        *held = held.saturating_sub(n);
    }

    /// Stages with at least one action.
    pub fn reached(&self) -> usize {
        self.0.iter().filter(|n| **n > 0).count()
    }

    /// Stages with actions and their counts, in cycle order.
    pub fn iter(&self) -> impl Iterator<Item = (Stage, u32)> + '_ {
        Stage::ALL
            .into_iter()
            .map(|s| (s, self.get(s)))
            .filter(|(_, n)| *n > 0)
    }
}

impl Serialize for Stages {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter().map(|(stage, n)| (stage.as_str(), n)))
    }
}

impl<'de> Deserialize<'de> for Stages {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<Stage, u32>::deserialize(d)?;
        let mut stages = Stages::default();
        for (stage, n) in map {
            stages.add(stage, n);
        }
        Ok(stages)
    }
}

/// The `once_per` slots a member used: hashes of rule and target. Serialised
/// as a sorted list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Slots(HashSet<u64, foldhash::fast::FixedState>);

impl Slots {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Takes a slot; false when it was already taken.
    pub fn insert(&mut self, slot: u64) -> bool {
        self.0.insert(slot)
    }

    pub fn remove(&mut self, slot: &u64) -> bool {
        self.0.remove(slot)
    }

    pub fn contains(&self, slot: &u64) -> bool {
        self.0.contains(slot)
    }

    /// The slots, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.0.iter().copied()
    }
}

impl Serialize for Slots {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut sorted: Vec<u64> = self.0.iter().copied().collect();
        sorted.sort_unstable();
        sorted.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Slots {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let list = Vec::<u64>::deserialize(d)?;
        Ok(Slots(list.into_iter().collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> StreakRule {
        StreakRule {
            counts: vec![],
            max_freezes: 2,
            earn_every_days: 7,
        }
    }

    fn run(days: &[i32]) -> Streak {
        let mut s = Streak::default();
        for d in days {
            s.record(Day(*d), &rule());
        }
        s
    }

    #[test]
    fn consecutive_days_grow_the_streak_and_same_day_counts_once() {
        let s = run(&[1, 1, 2, 3]);
        assert_eq!((s.current, s.longest, s.last_active), (3, 3, Some(Day(3))));
    }

    #[test]
    fn reaching_a_multiple_of_earn_every_days_earns_a_freeze_up_to_the_maximum() {
        let s = run(&(1..=7).collect::<Vec<_>>());
        assert_eq!((s.current, s.freezes), (7, 1));
        let s = run(&(1..=28).collect::<Vec<_>>());
        assert_eq!((s.current, s.freezes), (28, 2));
    }

    #[test]
    fn a_freeze_covers_one_missed_day_without_adding_to_the_streak() {
        let mut days: Vec<i32> = (1..=7).collect();
        days.push(9);
        let s = run(&days);
        assert_eq!((s.current, s.freezes, s.longest), (8, 0, 8));
    }

    #[test]
    fn missing_more_days_than_freezes_restarts_at_one() {
        let mut days: Vec<i32> = (1..=7).collect();
        days.push(10);
        let s = run(&days);
        assert_eq!((s.current, s.freezes, s.longest), (1, 1, 7));
    }

    #[test]
    fn an_event_before_the_last_active_day_does_not_change_the_streak() {
        let s = run(&[5, 6, 3]);
        assert_eq!((s.current, s.last_active), (2, Some(Day(6))));
    }

    #[test]
    fn the_streak_shown_now_is_zero_when_missed_days_exceed_freezes() {
        let s = run(&[1, 2, 3]);
        assert_eq!(s.current_on(Day(3)), 3);
        assert_eq!(s.current_on(Day(4)), 3);
        assert_eq!(s.current_on(Day(5)), 0);
        let frozen = run(&(1..=7).collect::<Vec<_>>());
        assert_eq!(frozen.current_on(Day(9)), 7);
        assert_eq!(frozen.current_on(Day(10)), 0);
    }

    #[test]
    fn cap_usage_older_than_the_window_is_forgotten() {
        let mut m = MemberState::default();
        let r = Name::new("r");
        m.use_cap(CapKey::Rule(&r), Day(0), 5, CAP_WINDOW_DAYS);
        m.use_cap(
            CapKey::Rule(&r),
            Day(CAP_WINDOW_DAYS as i32),
            5,
            CAP_WINDOW_DAYS,
        );
        assert_eq!(m.caps.len(), 1);
        assert!(m.cap_forgotten(Day(0), CAP_WINDOW_DAYS));
        assert!(!m.cap_forgotten(Day(1), CAP_WINDOW_DAYS));
        // A longer window later does not bring forgotten room back.
        assert!(m.cap_forgotten(Day(0), 100));
        assert!(!m.cap_forgotten(Day(1), 100));
    }
}
