//! Recognition that reaches people: the outbox's records ([`Delivery`]),
//! when a failed one is tried again, and the worker that sends them
//! ([`worker`]) in each channel's format ([`send`]).
//!
//! A store writes a delivery in the same write as the outcome that causes
//! it (see [`deliveries`]), so an acknowledged outcome never loses its
//! notification and a failed write never sends one. The worker claims due
//! deliveries for a while (a lease), sends each at least once, in order
//! per member and channel, and settles it.

pub mod send;
pub mod worker;

use std::time::Duration;

use engagement_core::notify::{self, Notification};
use engagement_core::{Event, MemberId, Outcome, Profile, RuleSet, Status as Applied};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How long a delivery is tried before it is marked failed.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Delivered and failed deliveries kept for `GET /v1/admin/deliveries`,
/// each; older ones are forgotten.
pub const KEEP_SETTLED: usize = 10_000;
/// How long a claimed delivery is someone's before another worker may
/// take it: longer than a send may take.
pub const LEASE: Duration = Duration::from_secs(60);

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Delivered,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Delivered => "delivered",
            Status::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [Status::Pending, Status::Delivered, Status::Failed]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// One notification for one channel, as the outbox keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub notification: Notification,
    pub status: Status,
    /// Attempts made so far.
    pub attempts: u32,
    pub created_at: Timestamp,
    /// When it is next tried (pending), or was settled.
    pub next_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The claim this copy was taken under (Redis): settling it must
    /// still hold the lease.
    #[serde(skip)]
    pub lease: Option<u64>,
}

impl Delivery {
    pub fn new(notification: Notification, now: Timestamp) -> Delivery {
        Delivery {
            notification,
            status: Status::Pending,
            attempts: 0,
            created_at: now,
            next_at: now,
            last_error: None,
            lease: None,
        }
    }

    pub fn id(&self) -> &str {
        &self.notification.id
    }

    /// Deliveries of one member on one channel go out in order.
    pub fn queue(&self) -> (&str, &MemberId) {
        (&self.notification.channel, &self.notification.member)
    }

    /// After a failed attempt: tried again later, or failed for good.
    pub fn after_failure(
        mut self,
        error: String,
        retry_after: Option<Duration>,
        now: Timestamp,
    ) -> Delivery {
        self.attempts += 1;
        self.last_error = Some(error);
        let end = self.created_at + GIVE_UP_AFTER;
        let wait = backoff(self.attempts).max(retry_after.unwrap_or_default());
        match now.checked_add(wait).ok().filter(|t| *t <= end) {
            Some(next) => self.next_at = next,
            None => {
                self.status = Status::Failed;
                self.next_at = now;
            }
        }
        self
    }

    pub fn delivered(mut self, now: Timestamp) -> Delivery {
        self.attempts += 1;
        self.status = Status::Delivered;
        self.last_error = None;
        self.next_at = now;
        self
    }

    /// Failed for good, as when the channel is gone.
    pub fn failed(mut self, error: String, now: Timestamp) -> Delivery {
        self.status = Status::Failed;
        self.last_error = Some(error);
        self.next_at = now;
        self
    }

    /// An admin's retry: pending again, from the first attempt's schedule.
    pub fn retried(mut self, now: Timestamp) -> Delivery {
        self.status = Status::Pending;
        self.attempts = 0;
        self.created_at = now;
        self.next_at = now;
        self
    }
}

/// The wait before attempt `n + 1` after `n` failed ones: about 1 s, 5 s,
/// 30 s, 2 min, 10 min, 1 h, then hourly, each jittered by up to 20 %.
pub fn backoff(failed: u32) -> Duration {
    let base = match failed {
        0 => 0,
        1 => 1,
        2 => 5,
        3 => 30,
        4 => 120,
        5 => 600,
        _ => 3600,
    };
    let jitter = rand::random_range(0.8..=1.2);
    Duration::from_secs_f64(f64::from(base) * jitter)
}

/// The deliveries `outcome` causes under `rules`' channels, with each
/// member's profile as it stands (`profile_of`).
pub fn deliveries<'p>(
    rules: &RuleSet,
    event: &Event,
    outcome: &Outcome,
    profile_of: impl Fn(&MemberId) -> Option<&'p Profile>,
    now: Timestamp,
) -> Vec<Delivery> {
    if rules.notify.is_empty() || outcome.status != Applied::Applied || outcome.sign < 0 {
        return Vec::new();
    }
    let default = Profile::default();
    let mut out = Vec::new();
    for notice in notify::notices(rules, event.id.as_str(), outcome) {
        let profile = profile_of(&notice.member).unwrap_or(&default);
        for n in notify::notifications(rules, &notice, profile) {
            out.push(Delivery::new(n, now));
        }
    }
    out
}

/// The deliveries of a badge tier an admin granted by hand.
pub fn grant_deliveries(
    rules: &RuleSet,
    member: &MemberId,
    grant: &crate::store::ManualGrant,
    profile: &Profile,
) -> Vec<Delivery> {
    let now = Timestamp::now();
    notify::grant_notice(rules, member, &grant.badge, grant.tier, grant.at)
        .map(|notice| notify::notifications(rules, &notice, profile))
        .unwrap_or_default()
        .into_iter()
        .map(|n| Delivery::new(n, now))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_follow_the_schedule_within_their_jitter() {
        let expected = [0.0, 1.0, 5.0, 30.0, 120.0, 600.0, 3600.0, 3600.0];
        for (n, base) in expected.into_iter().enumerate() {
            let wait = backoff(n as u32).as_secs_f64();
            assert!(
                wait >= base * 0.8 && wait <= base * 1.2,
                "attempt {n}: {wait} s, expected about {base} s"
            );
        }
    }
}
