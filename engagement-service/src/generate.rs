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

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

use engagement_core::{CommunityId, Event, EventId, IdError, MemberId, Target};
use jiff::{SignedDuration, Timestamp};
use rand::rngs::Xoshiro256PlusPlus as Rng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

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
    let total = params.event_count();
    if total == 0 {
        return Vec::new();
    }
    let mut g = Generator::new(params, total);
    for at in slots(&mut g.rng, params, total) {
        g.step(at);
    }
    g.events
}

/// Community ids in order of size; later ones are `community-N`.
const NAMED_COMMUNITIES: [&str; 10] = [
    "rules-of-origin",
    "trade-facilitation",
    "customs",
    "sps-measures",
    "tariffs",
    "digital-trade",
    "trade-remedies",
    "market-access",
    "logistics",
    "export-promotion",
];

const FIRST_NAMES: [&str; 24] = [
    "Ana",
    "Luis",
    "María",
    "Carlos",
    "Sofía",
    "Jorge",
    "Lucía",
    "Andrés",
    "Valentina",
    "Diego",
    "Camila",
    "Pedro",
    "Amina",
    "Kwame",
    "Chen",
    "Priya",
    "Olga",
    "Tomás",
    "Fatima",
    "Ivan",
    "Grace",
    "Noah",
    "Leila",
    "Mateo",
];

const LAST_NAMES: [&str; 24] = [
    "Gómez",
    "Rodríguez",
    "Martínez",
    "López",
    "García",
    "Pérez",
    "Sánchez",
    "Ramírez",
    "Torres",
    "Mensah",
    "Okafor",
    "Wang",
    "Patel",
    "Ivanova",
    "Silva",
    "Haddad",
    "Nguyen",
    "Müller",
    "Rossi",
    "Dubois",
    "Kim",
    "Costa",
    "Mendoza",
    "Vargas",
];

/// Relative activity per hour of the day, counted from `start`.
const HOURS: [f64; 24] = [
    0.1, 0.05, 0.05, 0.05, 0.1, 0.2, 0.5, 1.0, 1.6, 2.0, 2.0, 1.8, 1.4, 1.7, 1.9, 1.8, 1.5, 1.1,
    0.8, 0.6, 0.5, 0.4, 0.3, 0.2,
];

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

/// Who does what: the weight of one member of each tier when choosing who
/// creates content, who asks and who consumes (likes, attends).
const CREATE: usize = 0;
const ASK: usize = 1;
const CONSUME: usize = 2;

/// Where a member stands in the 90-9-1 pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    Creator,
    Contributor,
    Reader,
}

impl Tier {
    fn weights(self) -> [f64; 3] {
        match self {
            Tier::Creator => [300.0, 20.0, 30.0],
            Tier::Contributor => [10.0, 6.0, 10.0],
            Tier::Reader => [0.15, 0.6, 1.0],
        }
    }
}

/// Share of each action among the events that are not webinar attendance
/// (attendance follows from hosted webinars).
const MIX: [(Act, f64); 10] = [
    (Act::Like, 40.0),
    (Act::Answer, 16.0),
    (Act::Ask, 10.0),
    (Act::Share, 9.0),
    (Act::Accept, 5.0),
    (Act::Curate, 4.0),
    (Act::Host, 0.55),
    (Act::Unlike, 1.0),
    (Act::Unaccept, 0.3),
    (Act::Unshare, 0.15),
];

/// Questions stop drawing answers after this long, or with this many.
const ANSWER_WINDOW_MS: i64 = 14 * DAY_MS;
const MAX_ANSWERS: usize = 5;
/// Content and revocations pick among this many newest items.
const RECENT: usize = 400;

#[derive(Debug, Clone, Copy)]
enum Act {
    Like,
    Answer,
    Ask,
    Share,
    Accept,
    Curate,
    Host,
    Unlike,
    Unaccept,
    Unshare,
}

/// The timestamps of the events: days weighted by weekday, growth and
/// noise, hours by [`HOURS`]; strictly increasing.
fn slots(rng: &mut Rng, params: &GenerateParams, total: usize) -> Vec<Timestamp> {
    let first_day = params.start.as_second().div_euclid(86_400);
    let weights: Vec<f64> = (0..params.days)
        .map(|d| {
            // 1970-01-01 was a Thursday; 0 is Sunday.
            let weekday = (first_day + i64::from(d) + 4).rem_euclid(7);
            let weekend = if weekday == 0 || weekday == 6 {
                0.35
            } else {
                1.0
            };
            let growth = 1.0 + 0.5 * f64::from(d) / f64::from(params.days);
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
                day as i64 * DAY_MS + hour * 60 * MINUTE_MS + rng.random_range(0..60 * MINUTE_MS)
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

#[derive(Debug)]
struct Community {
    id: CommunityId,
    /// Members weighted for [`CREATE`], [`ASK`] and [`CONSUME`].
    pickers: [Picker; 3],
    /// Likeable content: questions, answers, resources.
    posts: Vec<u32>,
    resources: Vec<u32>,
    /// Questions still drawing answers, oldest first.
    questions: Vec<u32>,
}

#[derive(Debug)]
struct Post {
    id: String,
    author: u32,
}

#[derive(Debug)]
struct Question {
    post: u32,
    community: usize,
    at: Timestamp,
    answers: Vec<u32>,
}

/// An event that a later one may revoke.
#[derive(Debug)]
struct Revocable {
    event: usize,
    actor: u32,
    community: usize,
    target: Target,
}

/// A webinar attendance due at a time: (due, webinar post, community, attendee).
type Attendance = Reverse<(Timestamp, u32, usize, u32)>;

#[derive(Debug)]
struct Generator {
    rng: Rng,
    seed: u64,
    ids: Vec<MemberId>,
    names: Vec<String>,
    communities: Vec<Community>,
    community_weights: Picker,
    everyone: Picker,
    acts: Picker,
    posts: Vec<Post>,
    questions: Vec<Question>,
    /// Answered questions whose asker has not accepted an answer yet.
    awaiting: Vec<u32>,
    liked: HashSet<(u32, u32)>,
    likes: Vec<Revocable>,
    accepts: Vec<Revocable>,
    shares: Vec<Revocable>,
    attendance: BinaryHeap<Attendance>,
    events: Vec<Event>,
}

impl Generator {
    fn new(params: &GenerateParams, total: usize) -> Generator {
        let mut rng = Rng::seed_from_u64(params.seed);
        let n_communities = params.communities.max(1);
        let community_weights =
            Picker::new((0..n_communities as u32).map(|c| (c, 1.0 / f64::from(c + 1).powf(0.8))));

        let n = params.members;
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng);
        let creators = (n / 100).max(1);
        let contributors = (n * 9).div_ceil(100);
        let mut tier = vec![Tier::Reader; n];
        for (rank, m) in order.into_iter().enumerate() {
            if rank < creators {
                tier[m] = Tier::Creator;
            } else if rank < creators + contributors {
                tier[m] = Tier::Contributor;
            }
        }

        let mut members_of: Vec<Vec<u32>> = vec![Vec::new(); n_communities];
        let mut factor = Vec::with_capacity(n);
        for (m, t) in tier.iter().enumerate() {
            let (extra, spread) = match t {
                Tier::Creator => (rng.random_range(2..=5), -0.7..0.7),
                Tier::Contributor => (rng.random_range(0..=2), -0.7..0.7),
                Tier::Reader => (usize::from(rng.random_bool(0.25)), -2.0..1.0),
            };
            factor.push(rng.random_range::<f64, _>(spread).exp());
            let mut joined: Vec<u32> = Vec::new();
            for _ in 0..(1 + extra) * 3 {
                if joined.len() > extra {
                    break;
                }
                if let Some(c) = community_weights.pick(&mut rng)
                    && !joined.contains(&c)
                {
                    joined.push(c);
                }
            }
            for c in joined {
                members_of[c as usize].push(m as u32);
            }
        }
        for (c, list) in members_of.iter_mut().enumerate() {
            if list.is_empty() {
                list.push((c % n) as u32);
            }
        }

        let weighted = |list: &[u32], class: usize| {
            Picker::new(
                list.iter()
                    .map(|&m| (m, tier[m as usize].weights()[class] * factor[m as usize])),
            )
        };
        let communities = members_of
            .iter()
            .enumerate()
            .map(|(c, list)| Community {
                id: valid(CommunityId::parse(match NAMED_COMMUNITIES.get(c) {
                    Some(name) => (*name).to_owned(),
                    None => format!("community-{}", c + 1),
                })),
                pickers: [CREATE, ASK, CONSUME].map(|class| weighted(list, class)),
                posts: Vec::new(),
                resources: Vec::new(),
                questions: Vec::new(),
            })
            .collect();
        let all: Vec<u32> = (0..n as u32).collect();
        let everyone = weighted(&all, CONSUME);

        let names = (0..n)
            .map(|_| {
                let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
                let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
                format!("{first} {last}")
            })
            .collect();
        Generator {
            rng,
            seed: params.seed,
            ids: (1..=n)
                .map(|i| valid(MemberId::parse(format!("m-{i}"))))
                .collect(),
            names,
            communities,
            community_weights,
            everyone,
            acts: Picker::new(MIX.iter().enumerate().map(|(i, (_, w))| (i as u32, *w))),
            posts: Vec::new(),
            questions: Vec::new(),
            awaiting: Vec::new(),
            liked: HashSet::new(),
            likes: Vec::new(),
            accepts: Vec::new(),
            shares: Vec::new(),
            attendance: BinaryHeap::new(),
            events: Vec::with_capacity(total),
        }
    }

    /// One event at `at`: a due webinar attendance, else a fresh action
    /// (a question when the chosen action has nothing to act on).
    fn step(&mut self, at: Timestamp) {
        if let Some(Reverse((due, webinar, community, attendee))) = self.attendance.peek().copied()
            && due <= at
        {
            self.attendance.pop();
            let target = self.target(webinar, true);
            self.emit(
                at,
                "webinar.attended",
                attendee,
                community,
                Some(target),
                None,
            );
            return;
        }
        let act = self
            .acts
            .pick(&mut self.rng)
            .and_then(|i| MIX.get(i as usize))
            .map_or(Act::Ask, |(act, _)| *act);
        if self.act(act, at).is_none() {
            self.act(Act::Ask, at);
        }
    }

    fn act(&mut self, act: Act, at: Timestamp) -> Option<()> {
        let c = self.community_weights.pick(&mut self.rng)? as usize;
        match act {
            Act::Ask => {
                let asker = self.member(c, ASK)?;
                let post = self.new_post("question", asker);
                self.communities[c]
                    .questions
                    .push(self.questions.len() as u32);
                self.questions.push(Question {
                    post,
                    community: c,
                    at,
                    answers: Vec::new(),
                });
                self.communities[c].posts.push(post);
                let target = self.target(post, false);
                self.emit(at, "question.asked", asker, c, Some(target), None);
            }
            Act::Answer => self.answer(c, at)?,
            Act::Accept => self.accept(at)?,
            Act::Like => self.like(c, at)?,
            Act::Share => {
                let sharer = self.member(c, CREATE)?;
                let post = self.new_post("resource", sharer);
                self.communities[c].posts.push(post);
                self.communities[c].resources.push(post);
                let target = self.target(post, false);
                let event = self.emit(at, "resource.shared", sharer, c, Some(target.clone()), None);
                self.shares.push(Revocable {
                    event,
                    actor: sharer,
                    community: c,
                    target,
                });
            }
            Act::Curate => {
                let list = &self.communities[c].resources;
                let resource = list[recent(&mut self.rng, list.len())?];
                let curator = self.member(c, CREATE)?;
                let target = self.target(resource, true);
                self.emit(at, "resource.curated", curator, c, Some(target), None);
            }
            Act::Host => self.host(c, at)?,
            Act::Unlike => self.revoke(Act::Unlike, at)?,
            Act::Unaccept => self.revoke(Act::Unaccept, at)?,
            Act::Unshare => self.revoke(Act::Unshare, at)?,
        }
        Some(())
    }

    /// An answer by someone else than the asker to a recent open question.
    fn answer(&mut self, c: usize, at: Timestamp) -> Option<()> {
        let open = &mut self.communities[c].questions;
        let window = SignedDuration::from_millis(ANSWER_WINDOW_MS);
        let stale =
            open.partition_point(|q| self.questions[*q as usize].at.duration_until(at) > window);
        open.drain(..stale);
        let i = recent(&mut self.rng, open.len())?;
        let q = open[i] as usize;
        let question = &self.questions[q];
        let asker = self.posts[question.post as usize].author;
        let answerer = (0..4).find_map(|_| {
            let m = self.communities[c].pickers[CREATE].pick(&mut self.rng)?;
            let answered = question
                .answers
                .iter()
                .any(|a| self.posts[*a as usize].author == m);
            (m != asker && !answered).then_some(m)
        })?;
        let target = self.target(question.post, true);
        let post = self.new_post("answer", answerer);
        self.communities[c].posts.push(post);
        let question = &mut self.questions[q];
        question.answers.push(post);
        if question.answers.len() == 1 {
            self.awaiting.push(q as u32);
        }
        if question.answers.len() == MAX_ANSWERS {
            self.communities[c].questions.remove(i);
        }
        self.emit(at, "answer.posted", answerer, c, Some(target), None);
        Some(())
    }

    /// The asker of an answered question accepts one of its answers.
    fn accept(&mut self, at: Timestamp) -> Option<()> {
        let q = self
            .awaiting
            .remove(recent(&mut self.rng, self.awaiting.len())?) as usize;
        let question = &self.questions[q];
        let answer = if self.rng.random_bool(0.5) {
            question.answers[0]
        } else {
            question.answers[self.rng.random_range(0..question.answers.len())]
        };
        let (asker, c) = (
            self.posts[question.post as usize].author,
            question.community,
        );
        let target = self.target(answer, true);
        let event = self.emit(at, "answer.accepted", asker, c, Some(target.clone()), None);
        self.accepts.push(Revocable {
            event,
            actor: asker,
            community: c,
            target,
        });
        Some(())
    }

    /// A like by someone else than the author, once per member and post.
    fn like(&mut self, c: usize, at: Timestamp) -> Option<()> {
        let list = &self.communities[c].posts;
        let post = list[recent(&mut self.rng, list.len())?];
        let author = self.posts[post as usize].author;
        let liker = (0..3).find_map(|_| {
            let m = self.communities[c].pickers[CONSUME].pick(&mut self.rng)?;
            (m != author && !self.liked.contains(&(m, post))).then_some(m)
        })?;
        self.liked.insert((liker, post));
        let target = self.target(post, true);
        let event = self.emit(at, "post.liked", liker, c, Some(target.clone()), None);
        self.likes.push(Revocable {
            event,
            actor: liker,
            community: c,
            target,
        });
        Some(())
    }

    /// A webinar, and its attendance reported during the hours after it.
    fn host(&mut self, c: usize, at: Timestamp) -> Option<()> {
        let host = self.member(c, CREATE)?;
        let post = self.new_post("webinar", host);
        let target = self.target(post, false);
        self.emit(at, "webinar.hosted", host, c, Some(target), None);
        let wanted = self.rng.random_range(8..=60);
        let mut attendees: Vec<u32> = Vec::with_capacity(wanted);
        for _ in 0..wanted * 2 {
            // Some come from other communities.
            let picker = if self.rng.random_bool(0.15) {
                &self.everyone
            } else {
                &self.communities[c].pickers[CONSUME]
            };
            if let Some(m) = picker.pick(&mut self.rng)
                && m != host
                && !attendees.contains(&m)
            {
                attendees.push(m);
            }
            if attendees.len() == wanted {
                break;
            }
        }
        for attendee in attendees {
            let delay = 45 * MINUTE_MS + self.rng.random_range(0..120 * MINUTE_MS);
            if let Ok(due) = at.checked_add(SignedDuration::from_millis(delay)) {
                self.attendance.push(Reverse((due, post, c, attendee)));
            }
        }
        Some(())
    }

    /// Undoes a recent like, accept or share, by the member who did it.
    fn revoke(&mut self, act: Act, at: Timestamp) -> Option<()> {
        let (list, kind) = match act {
            Act::Unlike => (&mut self.likes, "post.unliked"),
            Act::Unaccept => (&mut self.accepts, "answer.unaccepted"),
            _ => (&mut self.shares, "resource.unshared"),
        };
        let done = list.remove(recent(&mut self.rng, list.len())?);
        let revokes = self.events[done.event].id.clone();
        self.emit(
            at,
            kind,
            done.actor,
            done.community,
            Some(done.target),
            Some(revokes),
        );
        Some(())
    }

    fn member(&mut self, c: usize, class: usize) -> Option<u32> {
        self.communities[c].pickers[class].pick(&mut self.rng)
    }

    /// New content, named after the event about to be emitted.
    fn new_post(&mut self, what: &str, author: u32) -> u32 {
        let id = format!("{what}-{}", self.events.len());
        self.posts.push(Post { id, author });
        (self.posts.len() - 1) as u32
    }

    fn target(&self, post: u32, with_author: bool) -> Target {
        let post = &self.posts[post as usize];
        Target {
            id: post.id.clone(),
            author: with_author.then(|| self.ids[post.author as usize].clone()),
        }
    }

    fn emit(
        &mut self,
        at: Timestamp,
        kind: &str,
        actor: u32,
        community: usize,
        target: Option<Target>,
        revokes: Option<EventId>,
    ) -> usize {
        let n = self.events.len();
        self.events.push(Event {
            id: valid(EventId::parse(format!("gen-{}-{n}", self.seed))),
            kind: kind.to_owned(),
            actor: self.ids[actor as usize].clone(),
            actor_name: Some(self.names[actor as usize].clone()),
            occurred_at: at,
            community: Some(self.communities[community].id.clone()),
            target,
            revokes,
        });
        n
    }
}

#[cfg(test)]
mod tests;
