//! How long day and week leaderboards stay after they end
//! (`ENGAGEMENT_RETENTION_DAYS`): Redis lets their keys expire, the
//! embedded store stops keeping them, and a read of one that has gone
//! answers `bucket_expired` on both. Longer periods stay for good.

use engagement_core::{Bucket, Period};
use jiff::civil::Date;
use jiff::{Span, Timestamp};

/// Days a day or week board stays after its last day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub days: u32,
}

impl Retention {
    /// When a bucket's board goes: the midnight (UTC) `days` + 1 days after
    /// its last day, for day and week buckets; `None` for the others (and
    /// for a retention past the calendar's end).
    pub fn expires_at(self, bucket: &Bucket) -> Option<Timestamp> {
        if !matches!(bucket.period, Period::Day | Period::Week) {
            return None;
        }
        let keep = Span::new().try_days(i64::from(self.days) + 1).ok()?;
        let gone = bucket.end()?.saturating_add(keep);
        gone.to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp())
    }

    /// Which buckets have gone as of `now`: worked out once, then cheap
    /// enough to ask for every leaderboard increment of a replay.
    pub fn as_of(self, now: Timestamp) -> Expiry {
        let today = jiff::tz::TimeZone::UTC.to_datetime(now).date();
        let back = |days: i64| match Span::new().try_days(days) {
            Ok(span) => today.saturating_sub(span),
            // Longer than the calendar: nothing has gone.
            Err(_) => Date::MIN,
        };
        let days = i64::from(self.days);
        Expiry {
            last_day: back(days + 1),
            last_week: back(days + 7),
        }
    }
}

/// The latest start of a day, and of a week, bucket that has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    last_day: Date,
    last_week: Date,
}

impl Expiry {
    pub fn expired(&self, bucket: &Bucket) -> bool {
        match (bucket.period, bucket.start) {
            (Period::Day, Some(start)) => start <= self.last_day,
            (Period::Week, Some(start)) => start <= self.last_week,
            _ => false,
        }
    }

    /// [`Expiry::expired`], a day counting as gone only once every week
    /// that may hold it has: the insights of a week are read from its days.
    pub fn expired_with_week(&self, bucket: &Bucket) -> bool {
        match (bucket.period, bucket.start) {
            (Period::Day, Some(start)) => start <= self.last_week,
            _ => self.expired(bucket),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn bucket(period: Period, start: Date) -> Bucket {
        Bucket {
            period,
            start: Some(start),
        }
    }

    #[test]
    fn a_day_board_goes_the_midnight_after_its_retention_and_not_before() {
        let r = Retention { days: 90 };
        let day = bucket(Period::Day, date(2026, 1, 1));
        let gone: Timestamp = "2026-04-02T00:00:00Z".parse().unwrap();
        assert_eq!(r.expires_at(&day), Some(gone));
        let just_before: Timestamp = "2026-04-01T23:59:59Z".parse().unwrap();
        assert!(!r.as_of(just_before).expired(&day));
        assert!(r.as_of(gone).expired(&day));
    }

    #[test]
    fn a_week_board_goes_with_its_last_day_and_months_never_go() {
        let r = Retention { days: 0 };
        let week = bucket(Period::Week, date(2026, 11, 16));
        // Its last day is the 22nd: with no retention it goes at the
        // midnight (UTC) that ends it.
        let on_22: Timestamp = "2026-11-22T23:59:59Z".parse().unwrap();
        let on_23: Timestamp = "2026-11-23T00:00:00Z".parse().unwrap();
        assert_eq!(r.expires_at(&week), Some(on_23));
        assert!(!r.as_of(on_22).expired(&week));
        assert!(r.as_of(on_23).expired(&week));
        let month = bucket(Period::Month, date(2020, 1, 1));
        assert!(!r.as_of(on_23).expired(&month));
        assert_eq!(r.expires_at(&month), None);
    }

    #[test]
    fn a_days_insights_stay_while_a_week_that_may_hold_it_can_be_read() {
        let r = Retention { days: 0 };
        // The week of the 16th to the 22nd goes at the midnight ending the
        // 22nd; its last day's own board went a day after it ended.
        let sunday = bucket(Period::Day, date(2026, 11, 22));
        let week = bucket(Period::Week, date(2026, 11, 16));
        let on_23: Timestamp = "2026-11-23T23:59:59Z".parse().unwrap();
        assert!(r.as_of(on_23).expired(&sunday));
        assert!(!r.as_of(on_23).expired_with_week(&sunday));
        // Gone only once any week holding it (one starting up to six days
        // before) has gone too.
        let on_28: Timestamp = "2026-11-28T23:59:59Z".parse().unwrap();
        let on_29: Timestamp = "2026-11-29T00:00:00Z".parse().unwrap();
        assert!(!r.as_of(on_28).expired_with_week(&sunday));
        assert!(r.as_of(on_29).expired_with_week(&sunday));
        assert!(r.as_of(on_29).expired_with_week(&week));
    }
}
