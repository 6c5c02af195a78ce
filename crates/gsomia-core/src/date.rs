//! Civil dates (`YYYY-MM-DD`) and the calendar arithmetic of terms and notices.
//!
//! Treaty terms are counted in whole days and years of the Gregorian calendar, with no time of
//! day: "the state at day D" is the state after everything dated on or before D.
//!
//! **29 February.** An anniversary of 29 February falls on **1 March** in a common year, so a
//! term that began on 29 February has 28 February as its last day. This is how the Civil Codes
//! of the model parties count a period of years whose corresponding day does not exist (Japan,
//! Civil Code Art. 143(2); Republic of Korea, Civil Act Art. 160(3): the period ends on the last
//! day of that month), and it keeps every term a full year long rather than a day short.
//!
//! Dates are accepted from 1000-01-01 to 8999-12-31, which leaves room for every sum of a date
//! and a term the formats allow.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::Month;

/// A civil date.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date(time::Date);

/// Why a string is not a date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a date (YYYY-MM-DD, from 1000-01-01 to 8999-12-31)")]
pub struct BadDate(pub String);

impl Date {
    /// The date `year-month-day`, if it exists and is in range.
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        if !(1000..=8999).contains(&year) {
            return None;
        }
        let month = Month::try_from(month).ok()?;
        time::Date::from_calendar_date(year, month, day)
            .ok()
            .map(Date)
    }

    /// The calendar year.
    pub fn year(self) -> i32 {
        self.0.year()
    }

    /// This date plus `days` (which may be negative).
    ///
    /// Saturates at the ends of the calendar the `time` crate supports; in-range inputs with the
    /// terms the formats allow never reach them.
    pub fn add_days(self, days: i64) -> Date {
        let d = self.0.checked_add(time::Duration::days(days));
        Date(d.unwrap_or(if days < 0 {
            time::Date::MIN
        } else {
            time::Date::MAX
        }))
    }

    /// The same day `years` later: the anniversary. 29 February becomes 1 March in a common
    /// year (see the module documentation).
    pub fn add_years(self, years: i32) -> Date {
        let year = self.0.year().saturating_add(years);
        match self.0.replace_year(year) {
            Ok(d) => Date(d),
            // Only 29 February in a common year has no same day; the year itself is in range
            // for every input the formats allow.
            Err(_) => {
                let first_of_march = time::Date::from_calendar_date(year, Month::March, 1);
                Date(first_of_march.unwrap_or(time::Date::MAX))
            }
        }
    }

    /// The day before.
    pub fn previous(self) -> Date {
        self.add_days(-1)
    }

    /// Days from `earlier` to `self`.
    pub fn days_since(self, earlier: Date) -> i64 {
        (self.0 - earlier.0).whole_days()
    }
}

impl FromStr for Date {
    type Err = BadDate;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadDate(s.to_owned());
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let digits = |r: std::ops::Range<usize>| -> Result<u32, BadDate> {
            let part = &s[r];
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse().map_err(|_| bad())
        };
        let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
        Date::new(y as i32, m as u8, d as u8).ok_or_else(bad)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.0.to_calendar_date();
        write!(f, "{y:04}-{:02}-{d:02}", m as u8)
    }
}

impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
