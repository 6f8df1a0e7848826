//! Deterministic synthetic activity: a seeded event stream shaped like a
//! community of practice, for benchmarks, load tests and rule simulations.
//!
//! Participation follows the 90-9-1 pattern: about 1% of members create most
//! of the content, 9% contribute now and then, and the rest mostly read, like
//! and attend. Questions are answered by others and some answers accepted by
//! the asker; resources are shared and curated; webinars draw attendees; a
//! small share of likes, accepts and shares is revoked later. Activity has a
//! daily rhythm, quiet weekends and slow growth.
//!
//! The same parameters always give the same events: the generator is a named
//! algorithm (xoshiro256++), not `StdRng`, whose algorithm may change between
//! `rand` versions. Content ids (`question-12`, `answer-40`, ...) carry the
//! number of the event that created the content.

mod activity;
mod population;

use engagement_core::{Event, EventId, IdError, MemberId, Target};
use jiff::{SignedDuration, Timestamp};
use rand::rngs::Xoshiro256PlusPlus as Rng;
use rand::{RngExt, SeedableRng};

use activity::Generator;
use population::Population;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateParams {
    pub members: usize,
    /// Communities the activity is spread over (at least one is used).
    pub communities: usize,
    pub days: u32,
    pub seed: u64,
    /// Start of the first day; every event falls within `days` days of it.
    pub start: Timestamp,
    /// How many events; `None` for one per member every four days.
    pub events: Option<usize>,
    /// Like rings to hide in the activity, by their number of members (2 is
    /// a mutual pair): see [`rings`].
    pub rings: Vec<usize>,
}

impl GenerateParams {
    /// The number of events [`generate`] returns.
    pub fn event_count(&self) -> usize {
        if self.members == 0 || self.days == 0 {
            return 0;
        }
        let default = self.members.saturating_mul(self.days as usize) / 4;
        self.events.unwrap_or(default)
    }
}

/// Generates [`GenerateParams::event_count`] events in time order, each
/// timestamp later than the one before.
pub fn generate(params: &GenerateParams) -> Vec<Event> {
    let mut out = Vec::with_capacity(params.event_count());
    let made: Result<(), std::convert::Infallible> = generate_each(params, |e| {
        out.push(e);
        Ok(())
    });
    let Ok(()) = made;
    out
}

/// The events [`generate`] returns, handed to `each` one at a time as they
/// are made: a stream of any size in the memory of its members and posts.
/// The first error `each` returns ends it.
pub fn generate_each<E>(
    params: &GenerateParams,
    mut each: impl FnMut(Event) -> Result<(), E>,
) -> Result<(), E> {
    let total = params.event_count();
    if total == 0 {
        return Ok(());
    }
    let ring_events = rings(params);
    let ordinary = total.saturating_sub(ring_events.len());
    let mut rng = Rng::seed_from_u64(params.seed);
    let people = Population::new(params, &mut rng);
    let slots = slots(&mut rng, params, ordinary);
    let mut generator = Generator::new(rng, params.seed, people);
    // The rings' likes woven in by time, the whole cut to `total` and each
    // timestamp kept after the one before.
    let mut ring = ring_events.into_iter().peekable();
    let (mut given, mut last) = (0, None);
    let mut give = |mut event: Event| {
        if given == total {
            return Ok(());
        }
        if let Some(last) = last {
            let floor = last + SignedDuration::from_millis(1);
            if event.occurred_at < floor {
                event.occurred_at = floor;
            }
        }
        last = Some(event.occurred_at);
        given += 1;
        each(event)
    };
    for at in slots {
        generator.step(at);
        for event in generator.take() {
            while let Some(r) = ring.next_if(|r| r.occurred_at <= event.occurred_at) {
                give(r)?;
            }
            give(event)?;
        }
    }
    ring.try_for_each(give)
}

/// The likes of [`GenerateParams::rings`]: ring `r` of `n` members
/// (`ring<r>-<i>`, new to the community) has each member like a fresh post
/// of the next one in the ring, the last the first's, once a day in the
/// evening, every day: points that go round in a circle. Ids are
/// `ring<r>-like-<day>-<i>`.
pub fn rings(params: &GenerateParams) -> Vec<Event> {
    let mut out = Vec::new();
    for (r, &n) in params.rings.iter().enumerate() {
        let member = |i: usize| valid(MemberId::parse(format!("ring{}-{}", r + 1, i % n + 1)));
        for day in 0..i64::from(params.days) {
            for i in 0..n {
                // 19:00 plus a few minutes per ring and member, on each day.
                let offset = day * DAY_MS + 19 * HOUR_MS + (r * 7 + i) as i64 * MINUTE_MS;
                let Ok(at) = params
                    .start
                    .checked_add(SignedDuration::from_millis(offset))
                else {
                    return out;
                };
                out.push(Event {
                    id: valid(EventId::parse(format!(
                        "ring{}-like-{day}-{}",
                        r + 1,
                        i + 1
                    ))),
                    kind: "post.liked".to_owned(),
                    actor: member(i),
                    actor_name: None,
                    occurred_at: at,
                    community: None,
                    target: Some(Target {
                        id: format!("ring{}-post-{day}-{}", r + 1, i % n + 2),
                        author: Some(member(i + 1)),
                    }),
                    revokes: None,
                    actor_unknown: false,
                    adjustment: None,
                });
            }
        }
    }
    out.sort_by_key(|e| e.occurred_at);
    out
}

/// Relative activity per hour of the day, counted from `start`.
const HOURS: [f64; 24] = [
    0.1, 0.05, 0.05, 0.05, 0.1, 0.2, 0.5, 1.0, 1.6, 2.0, 2.0, 1.8, 1.4, 1.7, 1.9, 1.8, 1.5, 1.1,
    0.8, 0.6, 0.5, 0.4, 0.3, 0.2,
];
const WEEKEND: f64 = 0.35;
/// Activity on the last day relative to the first.
const GROWTH: f64 = 1.5;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Content and revocations pick among this many newest items.
const RECENT: usize = 400;

/// The timestamps of the events: days weighted by weekday, growth and
/// noise, hours by [`HOURS`]; strictly increasing.
fn slots(rng: &mut Rng, params: &GenerateParams, total: usize) -> Vec<Timestamp> {
    let first_day = params.start.as_second().div_euclid(86_400);
    let weights: Vec<f64> = (0..params.days)
        .map(|d| {
            // 1970-01-01 was a Thursday; 0 is Sunday.
            let weekday = (first_day + i64::from(d) + 4).rem_euclid(7);
            let weekend = if weekday == 0 || weekday == 6 {
                WEEKEND
            } else {
                1.0
            };
            let growth = 1.0 + (GROWTH - 1.0) * f64::from(d) / f64::from(params.days);
            weekend * growth * rng.random_range(0.8..1.2)
        })
        .collect();
    let sum: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights.iter().map(|w| w / sum * total as f64).collect();
    let mut per_day: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut by_fraction: Vec<usize> = (0..per_day.len()).collect();
    by_fraction.sort_by(|a, b| (exact[*b].fract()).total_cmp(&exact[*a].fract()));
    let short = total.saturating_sub(per_day.iter().sum());
    for d in by_fraction.into_iter().cycle().take(short) {
        per_day[d] += 1;
    }

    let hours = Picker::new((0..24).map(|h| (h, HOURS[h as usize])));
    let mut out = Vec::with_capacity(total);
    let mut last = -1;
    for (day, n) in per_day.into_iter().enumerate() {
        let mut times: Vec<i64> = (0..n)
            .map(|_| {
                let hour = i64::from(hours.pick(rng).unwrap_or(12));
                day as i64 * DAY_MS + hour * HOUR_MS + rng.random_range(0..HOUR_MS)
            })
            .collect();
        times.sort_unstable();
        for t in times {
            last = t.max(last + 1);
            match params.start.checked_add(SignedDuration::from_millis(last)) {
                Ok(at) => out.push(at),
                Err(_) => return out,
            }
        }
    }
    out.truncate(total);
    out
}

/// Weighted choice among ids (members, communities, hours).
#[derive(Debug, Default)]
struct Picker {
    ids: Vec<u32>,
    cumulative: Vec<f64>,
}

impl Picker {
    fn new(weighted: impl IntoIterator<Item = (u32, f64)>) -> Picker {
        let mut p = Picker::default();
        for (id, weight) in weighted {
            p.push(id, weight);
        }
        p
    }

    fn push(&mut self, id: u32, weight: f64) {
        let total = self.cumulative.last().copied().unwrap_or(0.0) + weight;
        self.ids.push(id);
        self.cumulative.push(total);
    }

    fn pick(&self, rng: &mut Rng) -> Option<u32> {
        let total = *self.cumulative.last()?;
        let x = rng.random::<f64>() * total;
        let i = self.cumulative.partition_point(|c| *c <= x);
        self.ids.get(i.min(self.ids.len() - 1)).copied()
    }
}

/// An index into a list of `len` items, favouring the newest.
fn recent(rng: &mut Rng, len: usize) -> Option<usize> {
    let window = len.min(RECENT);
    if window == 0 {
        return None;
    }
    let back = (rng.random::<f64>().powi(2) * window as f64) as usize;
    Some(len - 1 - back.min(window - 1))
}

/// Ids built here are short and never empty.
fn valid<T>(id: Result<T, IdError>) -> T {
    id.unwrap_or_else(|e| unreachable!("generated id refused: {e}"))
}

#[cfg(test)]
mod tests;
