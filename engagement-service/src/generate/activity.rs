//! What members do, one event at a time: each action refers only to content
//! and events that came before it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

use engagement_core::{Event, EventId, Target};
use jiff::{SignedDuration, Timestamp};
use rand::RngExt;

use super::population::{ASK, CONSUME, CREATE, Population};
use super::{DAY_MS, MINUTE_MS, Picker, Rng, recent, valid};

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

/// A community's content so far.
#[derive(Debug, Default)]
struct Feed {
    /// Likeable content: questions, answers, resources.
    posts: Vec<u32>,
    resources: Vec<u32>,
    /// Questions still drawing answers, oldest first.
    open_questions: Vec<u32>,
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
pub(super) struct Generator {
    rng: Rng,
    seed: u64,
    people: Population,
    acts: Picker,
    feeds: Vec<Feed>,
    posts: Vec<Post>,
    questions: Vec<Question>,
    /// Answered questions whose asker has not accepted an answer yet.
    awaiting: Vec<u32>,
    liked: HashSet<(u32, u32)>,
    likes: Vec<Revocable>,
    accepts: Vec<Revocable>,
    shares: Vec<Revocable>,
    attendance: BinaryHeap<Attendance>,
    /// Events emitted and not yet taken.
    events: Vec<Event>,
    /// Events emitted so far: the next event's number.
    emitted: usize,
}

impl Generator {
    pub(super) fn new(rng: Rng, seed: u64, people: Population) -> Generator {
        Generator {
            rng,
            seed,
            acts: Picker::new(MIX.iter().enumerate().map(|(i, (_, w))| (i as u32, *w))),
            feeds: people.communities.iter().map(|_| Feed::default()).collect(),
            people,
            posts: Vec::new(),
            questions: Vec::new(),
            awaiting: Vec::new(),
            liked: HashSet::new(),
            likes: Vec::new(),
            accepts: Vec::new(),
            shares: Vec::new(),
            attendance: BinaryHeap::new(),
            events: Vec::with_capacity(2),
            emitted: 0,
        }
    }

    /// The events emitted since the last call, in order.
    pub(super) fn take(&mut self) -> std::vec::Drain<'_, Event> {
        self.events.drain(..)
    }

    /// One event at `at`: a due webinar attendance, else a fresh action
    /// (a question when the chosen action has nothing to act on).
    pub(super) fn step(&mut self, at: Timestamp) {
        if let Some(Reverse((due, webinar, c, attendee))) = self.attendance.peek().copied()
            && due <= at
        {
            self.attendance.pop();
            let target = self.target(webinar, true);
            self.emit(at, "webinar.attended", attendee, c, Some(target), None);
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
        let c = self.people.community_weights.pick(&mut self.rng)? as usize;
        match act {
            Act::Ask => self.ask(c, at),
            Act::Answer => self.answer(c, at),
            Act::Accept => self.accept(at),
            Act::Like => self.like(c, at),
            Act::Share => self.share(c, at),
            Act::Curate => {
                let list = &self.feeds[c].resources;
                let resource = list[recent(&mut self.rng, list.len())?];
                let curator = self.member(c, CREATE)?;
                let target = self.target(resource, true);
                self.emit(at, "resource.curated", curator, c, Some(target), None);
                Some(())
            }
            Act::Host => self.host(c, at),
            Act::Unlike | Act::Unaccept | Act::Unshare => self.revoke(act, at),
        }
    }

    fn ask(&mut self, c: usize, at: Timestamp) -> Option<()> {
        let asker = self.member(c, ASK)?;
        let post = self.new_post("question", asker);
        self.feeds[c].posts.push(post);
        self.feeds[c]
            .open_questions
            .push(self.questions.len() as u32);
        self.questions.push(Question {
            post,
            community: c,
            at,
            answers: Vec::new(),
        });
        let target = self.target(post, false);
        self.emit(at, "question.asked", asker, c, Some(target), None);
        Some(())
    }

    /// An answer by someone else than the asker to a recent open question.
    fn answer(&mut self, c: usize, at: Timestamp) -> Option<()> {
        let open = &mut self.feeds[c].open_questions;
        let window = SignedDuration::from_millis(ANSWER_WINDOW_MS);
        let stale =
            open.partition_point(|q| self.questions[*q as usize].at.duration_until(at) > window);
        open.drain(..stale);
        let i = recent(&mut self.rng, open.len())?;
        let q = open[i] as usize;
        let question = &self.questions[q];
        let asker = self.posts[question.post as usize].author;
        let answerer = (0..4).find_map(|_| {
            let m = self.people.communities[c].pickers[CREATE].pick(&mut self.rng)?;
            let answered = question
                .answers
                .iter()
                .any(|a| self.posts[*a as usize].author == m);
            (m != asker && !answered).then_some(m)
        })?;
        let target = self.target(question.post, true);
        let post = self.new_post("answer", answerer);
        self.feeds[c].posts.push(post);
        let question = &mut self.questions[q];
        question.answers.push(post);
        if question.answers.len() == 1 {
            self.awaiting.push(q as u32);
        }
        if question.answers.len() == MAX_ANSWERS {
            self.feeds[c].open_questions.remove(i);
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
        // The first answer is the one most often accepted.
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
        let list = &self.feeds[c].posts;
        let post = list[recent(&mut self.rng, list.len())?];
        let author = self.posts[post as usize].author;
        let liker = (0..3).find_map(|_| {
            let m = self.people.communities[c].pickers[CONSUME].pick(&mut self.rng)?;
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

    fn share(&mut self, c: usize, at: Timestamp) -> Option<()> {
        let sharer = self.member(c, CREATE)?;
        let post = self.new_post("resource", sharer);
        self.feeds[c].posts.push(post);
        self.feeds[c].resources.push(post);
        let target = self.target(post, false);
        let event = self.emit(at, "resource.shared", sharer, c, Some(target.clone()), None);
        self.shares.push(Revocable {
            event,
            actor: sharer,
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
                &self.people.everyone
            } else {
                &self.people.communities[c].pickers[CONSUME]
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
        let revokes = self.id(done.event);
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
        self.people.communities[c].pickers[class].pick(&mut self.rng)
    }

    /// New content, named after the event about to be emitted.
    fn new_post(&mut self, what: &str, author: u32) -> u32 {
        let id = format!("{what}-{}", self.emitted);
        self.posts.push(Post { id, author });
        (self.posts.len() - 1) as u32
    }

    fn target(&self, post: u32, with_author: bool) -> Target {
        let post = &self.posts[post as usize];
        Target {
            id: post.id.clone(),
            author: with_author.then(|| self.people.ids[post.author as usize].clone()),
        }
    }

    /// The id of event number `n`.
    fn id(&self, n: usize) -> EventId {
        valid(EventId::parse(format!("gen-{}-{n}", self.seed)))
    }

    /// Appends an event; answers its position.
    fn emit(
        &mut self,
        at: Timestamp,
        kind: &str,
        actor: u32,
        community: usize,
        target: Option<Target>,
        revokes: Option<EventId>,
    ) -> usize {
        let n = self.emitted;
        self.emitted += 1;
        self.events.push(Event {
            id: self.id(n),
            kind: kind.to_owned(),
            actor: self.people.ids[actor as usize].clone(),
            actor_name: Some(self.people.names[actor as usize].clone()),
            occurred_at: at,
            community: Some(self.people.communities[community].id.clone()),
            target,
            revokes,
            actor_unknown: false,
            adjustment: None,
        });
        n
    }
}
