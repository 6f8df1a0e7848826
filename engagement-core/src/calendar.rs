//! Days, periods and leaderboard buckets in a time zone's calendar.

use std::fmt;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

const EPOCH: Date = Date::constant(1970, 1, 1);
const SECONDS_PER_DAY: i64 = 86_400;

/// A local calendar day, stored as days since 1970-01-01 so that state stays
/// small and "consecutive day" checks are plain integer maths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Day(pub i32);

impl Day {
    /// The day `at` falls on in `tz`.
    pub fn of(at: Timestamp, tz: &TimeZone) -> Day {
        Day::from_date(tz.to_datetime(at).date())
    }

    pub fn from_date(date: Date) -> Day {
        // Calendar maths stays with jiff. Dates are bounded (years
        // -9999..=9999), so the day count fits an i32.
        let days = date.duration_since(EPOCH).as_secs() / SECONDS_PER_DAY;
        Day(days as i32)
    }

    pub fn date(self) -> Date {
        EPOCH.saturating_add(SignedDuration::from_secs(
            i64::from(self.0) * SECONDS_PER_DAY,
        ))
    }

    /// Whole days from `self` to `later` (negative when `later` is earlier).
    pub fn days_until(self, later: Day) -> i64 {
        i64::from(later.0) - i64::from(self.0)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.date())
    }
}

/// A leaderboard period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    AllTime,
    Year,
    Quarter,
    Month,
    Week,
    Day,
}

impl Period {
    pub const ALL: [Period; 6] = [
        Period::AllTime,
        Period::Year,
        Period::Quarter,
        Period::Month,
        Period::Week,
        Period::Day,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Period::AllTime => "all_time",
            Period::Year => "year",
            Period::Quarter => "quarter",
            Period::Month => "month",
            Period::Week => "week",
            Period::Day => "day",
        }
    }

    pub fn parse(s: &str) -> Option<Period> {
        Period::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One bucket of a period: all time, or the calendar span starting on `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Bucket {
    pub period: Period,
    /// First day of the bucket; `None` for all time.
    pub start: Option<Date>,
}

impl Bucket {
    pub const ALL_TIME: Bucket = Bucket {
        period: Period::AllTime,
        start: None,
    };

    /// The bucket of `period` that holds `date`, weeks starting on `week_starts`.
    pub fn containing(period: Period, date: Date, week_starts: Weekday) -> Bucket {
        let start = match period {
            Period::AllTime => return Bucket::ALL_TIME,
            Period::Year => date.first_of_year(),
            Period::Quarter => {
                let month = (date.month() - 1) / 3 * 3 + 1;
                Date::new(date.year(), month, 1).unwrap_or(date)
            }
            Period::Month => date.first_of_month(),
            Period::Week => {
                // A fixed-length duration: much cheaper in jiff than a
                // calendar span, and a day is always 24 hours on a civil date.
                let back = date.weekday().since(week_starts);
                date.saturating_sub(SignedDuration::from_hours(24 * i64::from(back)))
            }
            Period::Day => date,
        };
        Bucket {
            period,
            start: Some(start),
        }
    }

    /// Whether `other` starts within this bucket's days (all time holds
    /// every bucket): the days of a week, the months of a quarter.
    pub fn holds(&self, other: &Bucket) -> bool {
        let (Some(first), Some(start)) = (self.start, other.start) else {
            return self.start.is_none();
        };
        first <= start && self.end().is_some_and(|last| start <= last)
    }

    /// Last day of the bucket (inclusive); `None` for all time.
    pub fn end(&self) -> Option<Date> {
        let start = self.start?;
        let span = match self.period {
            Period::AllTime => return None,
            Period::Year => jiff::Span::new().years(1),
            Period::Quarter => jiff::Span::new().months(3),
            Period::Month => jiff::Span::new().months(1),
            Period::Week => jiff::Span::new().weeks(1),
            Period::Day => jiff::Span::new().days(1),
        };
        Some(
            start
                .saturating_add(span)
                .saturating_sub(jiff::Span::new().days(1)),
        )
    }

    /// A short stable label, used in store keys: `all`, `2026`, `2026-Q4`,
    /// `2026-11`, `2026-11-16` (week start, prefixed `w`), `2026-11-20`.
    pub fn label(&self) -> String {
        match (self.period, self.start) {
            (Period::AllTime, _) | (_, None) => "all".to_owned(),
            (Period::Year, Some(d)) => format!("y{}", d.year()),
            (Period::Quarter, Some(d)) => format!("q{}-{}", d.year(), (d.month() - 1) / 3 + 1),
            (Period::Month, Some(d)) => format!("m{:04}-{:02}", d.year(), d.month()),
            (Period::Week, Some(d)) => format!("w{d}"),
            (Period::Day, Some(d)) => format!("d{d}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn weeks_start_on_the_configured_weekday() {
        let friday = date(2026, 11, 20);
        let monday = Bucket::containing(Period::Week, friday, Weekday::Monday);
        assert_eq!(monday.start, Some(date(2026, 11, 16)));
        assert_eq!(monday.end(), Some(date(2026, 11, 22)));
        let sunday = Bucket::containing(Period::Week, friday, Weekday::Sunday);
        assert_eq!(sunday.start, Some(date(2026, 11, 15)));
        let same_day = Bucket::containing(Period::Week, date(2026, 11, 15), Weekday::Sunday);
        assert_eq!(same_day.start, Some(date(2026, 11, 15)));
    }

    #[test]
    fn quarters_months_and_years_have_their_calendar_bounds() {
        let d = date(2026, 8, 31);
        let q = Bucket::containing(Period::Quarter, d, Weekday::Monday);
        assert_eq!(
            (q.start, q.end()),
            (Some(date(2026, 7, 1)), Some(date(2026, 9, 30)))
        );
        assert_eq!(q.label(), "q2026-3");
        let m = Bucket::containing(Period::Month, date(2028, 2, 10), Weekday::Monday);
        assert_eq!(m.end(), Some(date(2028, 2, 29)));
        let y = Bucket::containing(Period::Year, d, Weekday::Monday);
        assert_eq!(
            (y.label(), y.end()),
            ("y2026".to_owned(), Some(date(2026, 12, 31)))
        );
    }

    #[test]
    fn a_bucket_holds_what_starts_within_its_days_and_all_time_holds_all() {
        let at = |p, d| Bucket::containing(p, d, Weekday::Monday);
        let week = at(Period::Week, date(2026, 11, 20));
        assert!(week.holds(&at(Period::Day, date(2026, 11, 16))));
        assert!(week.holds(&at(Period::Day, date(2026, 11, 22))));
        assert!(!week.holds(&at(Period::Day, date(2026, 11, 23))));
        assert!(!week.holds(&at(Period::Day, date(2026, 11, 15))));
        let quarter = at(Period::Quarter, date(2026, 8, 31));
        assert!(quarter.holds(&at(Period::Month, date(2026, 9, 1))));
        assert!(!quarter.holds(&at(Period::Month, date(2026, 10, 1))));
        assert!(Bucket::ALL_TIME.holds(&at(Period::Month, date(1999, 1, 1))));
        assert!(!quarter.holds(&Bucket::ALL_TIME));
    }

    #[test]
    fn days_count_from_the_epoch_and_round_trip() {
        let d = date(2026, 11, 20);
        let day = Day::from_date(d);
        assert_eq!(day.date(), d);
        assert_eq!(Day::from_date(date(1970, 1, 2)), Day(1));
        assert_eq!(Day::from_date(date(1969, 12, 31)), Day(-1));
    }

    #[test]
    fn the_day_of_an_instant_depends_on_the_time_zone() {
        let at: Timestamp = "2026-11-21T03:00:00Z".parse().unwrap_or_default();
        let bogota = TimeZone::get("America/Bogota").unwrap_or(TimeZone::UTC);
        assert_eq!(Day::of(at, &bogota).date(), date(2026, 11, 20));
        assert_eq!(Day::of(at, &TimeZone::UTC).date(), date(2026, 11, 21));
    }
}
