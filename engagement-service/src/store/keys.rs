//! Redis key layout. Every key of a deployment starts with `{prefix}`, one
//! hash tag, so multi-key scripts and transactions stay valid on Redis
//! Cluster. Ids are percent-encoded: a member id holding `:`, `{`, `}`,
//! spaces or newlines cannot collide with or escape into another key.
//!
//! The event log and the generation pointer live outside generations; all
//! derived state lives under `{prefix}:g<N>:`, so a replay can build
//! generation N+1 beside the live one and switch with one write.

use std::borrow::Cow;

use engagement_core::{BoardKey, Bucket, CommunityId, EventId, MemberId};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but letters, digits, `-`, `.` and `_` is encoded.
const ID: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');

/// `s` as it goes into a key: borrowed as it is when nothing in it needs
/// encoding, as with most ids (a key is built for every record a replay
/// writes).
fn enc(s: &str) -> Cow<'_, str> {
    utf8_percent_encode(s, ID).into()
}

/// A scope in a key: `g` for the whole deployment, `c:<community>` for one.
fn scope(community: Option<&CommunityId>) -> String {
    match community {
        None => "g".to_owned(),
        Some(c) => format!("c:{}", enc(c.as_str())),
    }
}

/// How many hashes a generation's idempotency records are spread over (see
/// [`Keys::record`]). Fixed: a record's hash must not move. Two writes
/// whose events fall in the same hash retry one of them, as writes to the
/// same member do; at one event a request, one pair in 16,384.
pub const RECORD_BUCKETS: u64 = 16_384;

/// Which of the [`RECORD_BUCKETS`] hashes holds the record of event `id`.
pub fn record_bucket(id: &EventId) -> u64 {
    xxhash_rust::xxh3::xxh3_64(id.as_str().as_bytes()) % RECORD_BUCKETS
}

/// Builds the keys of one deployment, in one generation of derived state.
#[derive(Debug, Clone)]
pub struct Keys {
    tag: String,
    scope: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        let tag = format!("{{{}}}", enc(prefix));
        Keys {
            scope: format!("{tag}:g0"),
            tag,
        }
    }

    /// The deployment's hash tag, `{prefix}`: every key holds it, so the
    /// deployment lives in one Redis Cluster slot.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The keys of generation `generation` of the derived state.
    pub fn at(&self, generation: u64) -> Keys {
        Keys {
            tag: self.tag.clone(),
            scope: format!("{}:g{generation}", self.tag),
        }
    }

    /// Which generation of derived state is live (a number).
    pub fn generation(&self) -> String {
        format!("{}:generation", self.tag)
    }

    /// The version of the deployment's rules in force (a string). Rule
    /// versions live outside generations: a replay does not change them.
    pub fn rules_active(&self) -> String {
        format!("{}:rules:active", self.tag)
    }

    /// Every activation of a rule version, newest first (list of JSON).
    pub fn rules_history(&self) -> String {
        format!("{}:rules:history", self.tag)
    }

    /// The text of every rule version (hash version → TOML).
    pub fn rules_sources(&self) -> String {
        format!("{}:rules:sources", self.tag)
    }

    /// Written before each `WAIT` for replicas, so that the wait covers
    /// every earlier write of the deployment.
    pub fn fence(&self) -> String {
        format!("{}:fence", self.tag)
    }

    /// A SCAN pattern matching every key of this generation.
    pub fn pattern(&self) -> String {
        format!("{}:*", self.scope)
    }

    /// State of one member (JSON).
    pub fn member(&self, m: &MemberId) -> String {
        format!("{}:m:{}", self.scope, enc(m.as_str()))
    }

    /// Where the first outcome of one event, its idempotency record, is
    /// kept: a field (the event id) of one of [`RECORD_BUCKETS`] hashes,
    /// picked by a hash of the id. A million records then add thousands of
    /// keys to Redis's keyspace rather than a million: Redis takes them in
    /// well under half the time, in less memory.
    pub fn record<'a>(&self, id: &'a EventId) -> (String, &'a str) {
        (self.record_bucket(record_bucket(id)), id.as_str())
    }

    /// One of the hashes of records (see [`Keys::record`]).
    pub fn record_bucket(&self, bucket: u64) -> String {
        format!("{}:r:{bucket}", self.scope)
    }

    /// Where versions before the record buckets kept an event's record, a
    /// key of its own: still read, for a generation built before them.
    pub fn former_record(&self, id: &EventId) -> String {
        format!("{}:e:{}", self.scope, enc(id.as_str()))
    }

    /// Set on a generation whose records are all in buckets (every one a
    /// replay writes, and a new deployment's first): the former keys are
    /// not looked at there.
    pub fn records_in_buckets(&self) -> String {
        format!("{}:records", self.scope)
    }

    /// A member's points history (list, newest first).
    pub fn ledger(&self, m: &MemberId) -> String {
        format!("{}:l:{}", self.scope, enc(m.as_str()))
    }

    /// Linked identities (hash alias → member). Links do not depend on the
    /// rules, so they live outside generations and a replay keeps them.
    pub fn aliases(&self) -> String {
        format!("{}:aliases", self.tag)
    }

    /// Each member's aliases (hash member → JSON list), beside `aliases`.
    pub fn linked(&self) -> String {
        format!("{}:linked", self.tag)
    }

    /// The outbox's deliveries (hash id → JSON). The outbox lives outside
    /// generations: a replay sends nothing again.
    pub fn outbox(&self) -> String {
        format!("{}:outbox", self.tag)
    }

    /// Queues with a pending delivery, by when their oldest is due
    /// (sorted set of queue names, milliseconds).
    pub fn outbox_due(&self) -> String {
        format!("{}:outbox:due", self.tag)
    }

    /// Deliveries with `status` (sorted set of ids, milliseconds).
    pub fn outbox_status(&self, status: &str) -> String {
        format!("{}:outbox:{status}", self.tag)
    }

    /// Which worker holds each claimed queue (hash queue → lease token).
    pub fn outbox_leases(&self) -> String {
        format!("{}:outbox:leases", self.tag)
    }

    /// Channels answering 410 Gone (hash channel → why).
    pub fn outbox_disabled(&self) -> String {
        format!("{}:outbox:disabled", self.tag)
    }

    /// Where the queues' lists are: this, then a queue's name.
    pub fn outbox_queues(&self) -> String {
        format!("{}:outbox:q:", self.tag)
    }

    /// The name of one member's queue on one channel.
    pub fn outbox_queue(channel: &str, member: &MemberId) -> String {
        format!("{}:{}", enc(channel), enc(member.as_str()))
    }

    /// The event log (stream).
    pub fn log(&self) -> String {
        format!("{}:log", self.tag)
    }

    /// The archives of older log entries (hash file → JSON description).
    pub fn archives(&self) -> String {
        format!("{}:archives", self.tag)
    }

    /// Display names (hash member → name).
    pub fn names(&self) -> String {
        format!("{}:names", self.scope)
    }

    /// The communities a board has scores in (set): its page's filter.
    pub fn communities(&self, board: &str) -> String {
        format!("{}:communities:{}", self.scope, enc(board))
    }

    /// Non-public or grouped members (hash member → JSON).
    pub fn special(&self) -> String {
        format!("{}:special", self.scope)
    }

    /// Processing counter that orders equal scores.
    pub fn seq(&self) -> String {
        format!("{}:seq", self.scope)
    }

    /// One leaderboard: board, scope and bucket.
    pub fn board(&self, key: &BoardKey) -> String {
        let scope = scope(key.community.as_ref());
        format!(
            "{}:b:{}:{}:{}",
            self.scope,
            enc(&key.board),
            key.bucket.label(),
            scope
        )
    }

    /// The knowledge-flow tallies of one scope and bucket share this start
    /// (see `store/redis/insights.rs`).
    pub fn insights(&self, community: Option<&CommunityId>, bucket: &Bucket) -> String {
        let scope = scope(community);
        format!("{}:i:{}:{}", self.scope, bucket.label(), scope)
    }

    /// The insight counters of every day and month of `year` in a scope
    /// (a string of 64-bit integers, see `store/redis/insights.rs`).
    pub fn insight_counters(&self, community: Option<&CommunityId>, year: i16) -> String {
        let scope = scope(community);
        format!("{}:i:c{year}:{scope}", self.scope)
    }

    /// Every community an applied event named (set).
    pub fn insight_communities(&self) -> String {
        format!("{}:i:communities", self.scope)
    }

    /// The months with insights (set of first days): what all time is read from.
    pub fn insight_months(&self) -> String {
        format!("{}:i:months", self.scope)
    }

    /// A question and its live answers (JSON), by question id.
    pub fn question(&self, id: &str) -> String {
        format!("{}:q:{}", self.scope, enc(id))
    }

    pub fn community(&self, c: &CommunityId) -> String {
        enc(c.as_str()).into_owned()
    }

    /// The fair-play tallies of one bucket share this start (see
    /// `store/redis/fair_play.rs`).
    pub fn fair_play(&self, bucket: &Bucket) -> String {
        format!("{}:fp:{}", self.scope, bucket.label())
    }

    /// A (giver, recipient) pair as a member of a fair-play sorted set.
    pub fn pair(&self, from: &MemberId, to: &MemberId) -> String {
        format!("{}:{}", enc(from.as_str()), enc(to.as_str()))
    }

    /// The pair [`Keys::pair`] wrote.
    pub fn unpair(&self, member: &str) -> Option<(MemberId, MemberId)> {
        let (from, to) = member.split_once(':')?;
        let dec = |s: &str| {
            let text = percent_encoding::percent_decode_str(s).decode_utf8().ok()?;
            MemberId::parse(text.into_owned()).ok()
        };
        Some((dec(from)?, dec(to)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_ids_stay_inside_their_own_key() {
        let keys = Keys::new("engagement").at(3);
        let a = MemberId::parse("x:l:y").unwrap();
        let b = MemberId::parse("x").unwrap();
        assert_eq!(keys.member(&a), "{engagement}:g3:m:x%3Al%3Ay");
        assert_ne!(keys.member(&a), keys.ledger(&b));
        let braces = MemberId::parse("}{other}\n ").unwrap();
        assert_eq!(
            keys.member(&braces),
            "{engagement}:g3:m:%7D%7Bother%7D%0A%20"
        );
    }

    #[test]
    fn every_key_shares_one_hash_tag() {
        let keys = Keys::new("my app");
        let board = BoardKey {
            board: "b".into(),
            community: Some(CommunityId::parse("c:1").unwrap()),
            bucket: Bucket::ALL_TIME,
        };
        for k in [
            keys.board(&board),
            keys.log(),
            keys.names(),
            keys.seq(),
            keys.generation(),
        ] {
            assert!(k.starts_with("{my%20app}:"), "{k}");
        }
        assert_eq!(keys.board(&board), "{my%20app}:g0:b:b:all:c:c%3A1");
    }
}
