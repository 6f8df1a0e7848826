//! Activity events as forums and platforms report them.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::{CommunityId, EventId, MemberId};

/// One thing a member did, reported by a platform.
///
/// `occurred_at` is RFC 3339 with an offset; time in the engine always comes
/// from here, never from a clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub id: EventId,
    pub kind: String,
    pub actor: MemberId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_name: Option<String>,
    #[serde(deserialize_with = "rfc3339")]
    pub occurred_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community: Option<CommunityId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// The id of an earlier event this one undoes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revokes: Option<EventId>,
    /// The platform did not say who acted (a Discourse accepted solution
    /// names only the answer). `actor` then only names the source: no
    /// actor rule, count, stage or streak applies, and the target author
    /// alone is credited.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub actor_unknown: bool,
    /// A manual change of the actor's points by an admin
    /// (`POST /v1/admin/members/{member}/points`). Such an event is no
    /// action: no rule, count, stage or streak applies; the points go to the
    /// actor as the rule [`ADJUSTMENT_RULE`](crate::engine::ADJUSTMENT_RULE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adjustment: Option<Adjustment>,
}

/// Points an admin gives or (when negative) takes, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Adjustment {
    pub points: i64,
    pub reason: String,
}

/// Largest number of points one adjustment gives or takes.
pub const MAX_ADJUSTMENT: i64 = 1_000_000;

/// Longest adjustment reason accepted, in bytes.
pub const MAX_REASON_BYTES: usize = 500;

/// The thing an event acted on (a post, a resource, a webinar).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<MemberId>,
}

/// Longest kind, target id or display name accepted, in bytes.
pub const MAX_TEXT_BYTES: usize = 200;

impl Event {
    /// Checks what the types alone do not: lengths of the free-text fields.
    /// The error names the field.
    pub fn check(&self) -> Result<(), String> {
        let text = |field: &str, value: &str, min: usize| {
            if value.len() < min || value.len() > MAX_TEXT_BYTES {
                Err(format!("{field}: must be {min} to {MAX_TEXT_BYTES} bytes"))
            } else {
                Ok(())
            }
        };
        text("kind", &self.kind, 1)?;
        if let Some(name) = &self.actor_name {
            text("actor_name", name, 0)?;
        }
        if let Some(target) = &self.target {
            text("target.id", &target.id, 1)?;
        }
        if let Some(adjustment) = &self.adjustment {
            // Only the admin's own kind of event: nothing else to credit or undo.
            if self.actor_unknown || self.revokes.is_some() || self.target.is_some() {
                return Err(
                    "adjustment: an adjustment names its member as actor, with no target and no revokes"
                        .to_owned(),
                );
            }
            if adjustment.points == 0
                || !(-MAX_ADJUSTMENT..=MAX_ADJUSTMENT).contains(&adjustment.points)
            {
                return Err(format!(
                    "points: must be -{MAX_ADJUSTMENT} to {MAX_ADJUSTMENT}, and not 0"
                ));
            }
            let reason = adjustment.reason.trim();
            if reason.is_empty() || adjustment.reason.len() > MAX_REASON_BYTES {
                return Err(format!("reason: must be 1 to {MAX_REASON_BYTES} bytes"));
            }
        }
        Ok(())
    }

    /// The member credited as target author, if it is someone else than the actor.
    pub fn other_author(&self) -> Option<&MemberId> {
        self.target
            .as_ref()
            .and_then(|t| t.author.as_ref())
            .filter(|a| **a != self.actor)
    }
}

/// Reads an RFC 3339 timestamp strictly: `YYYY-MM-DDTHH:MM:SS[.fraction]`
/// then `Z` or an offset `±HH:MM` within a day. Other ISO 8601 forms (basic
/// format, week dates, offsets past 23:59) are refused, as platforms that send
/// them are more likely wrong than meant.
fn rfc3339<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
    let text = String::deserialize(d)?;
    if !is_rfc3339(&text) {
        return Err(serde::de::Error::custom(format!(
            "expected an RFC 3339 timestamp such as 2026-11-20T14:03:00Z, got {text:?}"
        )));
    }
    text.parse().map_err(serde::de::Error::custom)
}

fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let at = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    let date_time = b.len() >= 20
        && digits(0..4)
        && at(4, b"-")
        && digits(5..7)
        && at(7, b"-")
        && digits(8..10)
        && at(10, b"Tt")
        && digits(11..13)
        && at(13, b":")
        && digits(14..16)
        && at(16, b":")
        && digits(17..19);
    if !date_time {
        return false;
    }
    let mut i = 19;
    if at(i, b".") {
        let start = i + 1;
        i = start;
        while at(i, b"0123456789") {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    let offset = &b[i..];
    match offset {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            let hours = (h1.wrapping_sub(b'0')) * 10 + h2.wrapping_sub(b'0');
            let minutes = (m1.wrapping_sub(b'0')) * 10 + m2.wrapping_sub(b'0');
            [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()) && hours < 24 && minutes < 60
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_rfc3339;

    #[test]
    fn timestamps_must_be_rfc_3339_with_an_offset() {
        for ok in [
            "2026-11-20T14:03:00Z",
            "2026-11-20t14:03:00.123456z",
            "2026-11-20T14:03:00-05:00",
            "2026-11-20T14:03:00+23:59",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "20261120T170000Z",
            "2026-11-20T14:03:00",
            "2026-11-20 14:03:00Z",
            "2026-11-20T14:03:00+25:00",
            "2026-11-20T14:03:00+0500",
            "2026-11-20T14:03:00.Z",
            "2026-W47-5T14:03:00Z",
            "",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }
}
