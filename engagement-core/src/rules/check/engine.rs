//! Checks of the `[engine]` section: time zone, first day of the week and
//! cap window.

use jiff::civil::Weekday;
use jiff::tz::TimeZone;

use super::super::checker::{Checker, S};
use crate::state::CAP_WINDOW_DAYS;

/// Longest cap window a rule file may ask for: every day of it is kept per
/// member who used a capped rule then.
const MAX_CAP_WINDOW_DAYS: i64 = 3660;

impl Checker<'_> {
    pub(in crate::rules) fn timezone(&mut self, name: &S<String>) -> (String, Option<TimeZone>) {
        match TimeZone::get(name.get_ref()) {
            Ok(tz) => (name.get_ref().clone(), Some(tz)),
            Err(_) => {
                self.error(
                    name.span(),
                    format!(
                        "unknown time zone \"{}\": expected an IANA name such as \"America/Bogota\"",
                        name.get_ref()
                    ),
                );
                (name.get_ref().clone(), None)
            }
        }
    }

    pub(in crate::rules) fn week_starts(&mut self, day: Option<&S<String>>) -> Weekday {
        let Some(day) = day else {
            return Weekday::Monday;
        };
        match parse_weekday(day.get_ref()) {
            Some(w) => w,
            None => {
                self.error(
                    day.span(),
                    format!(
                        "unknown weekday \"{}\": expected \"monday\" … \"sunday\"",
                        day.get_ref()
                    ),
                );
                Weekday::Monday
            }
        }
    }

    pub(in crate::rules) fn cap_window(&mut self, days: Option<&S<i64>>) -> i64 {
        let Some(days) = days else {
            return CAP_WINDOW_DAYS;
        };
        if !(1..=MAX_CAP_WINDOW_DAYS).contains(days.get_ref()) {
            self.error(
                days.span(),
                format!("cap_window_days must be 1 to {MAX_CAP_WINDOW_DAYS} days"),
            );
            return CAP_WINDOW_DAYS;
        }
        *days.get_ref()
    }
}

fn parse_weekday(s: &str) -> Option<Weekday> {
    Some(match s.to_ascii_lowercase().as_str() {
        "monday" => Weekday::Monday,
        "tuesday" => Weekday::Tuesday,
        "wednesday" => Weekday::Wednesday,
        "thursday" => Weekday::Thursday,
        "friday" => Weekday::Friday,
        "saturday" => Weekday::Saturday,
        "sunday" => Weekday::Sunday,
        _ => return None,
    })
}
