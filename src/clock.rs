//! *now*, passed in as a value. Only the command layer reads the system clock;
//! every command that depends on the time accepts `--now` for simulation.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;

use crate::calendar::{local_date, local_to_utc};

/// An instant and the civil date it falls on in the body's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub instant: DateTime<Utc>,
    pub today: NaiveDate,
    pub tz: Tz,
}

impl Now {
    pub fn at(instant: DateTime<Utc>, tz: Tz) -> Self {
        Self {
            instant,
            today: local_date(instant, tz),
            tz,
        }
    }

    /// `--now` if given, else the system clock.
    pub fn from_arg(arg: Option<&str>, tz: Tz) -> Result<Self, String> {
        match arg {
            None => Ok(Self::at(Utc::now(), tz)),
            Some(s) => parse_now(s, tz).map(|t| Self::at(t, tz)),
        }
    }
}

/// The service's clock: the system clock, or a simulated one that starts at
/// `--now` and then runs at the speed of the real one. Everything that asks
/// "what time is it" in a long-running process goes through this.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    offset: chrono::Duration,
    tz: Tz,
}

impl Clock {
    pub fn system(tz: Tz) -> Self {
        Self {
            offset: chrono::Duration::zero(),
            tz,
        }
    }

    /// `--now` if given (the simulation starts there), else the system clock.
    pub fn from_arg(arg: Option<&str>, tz: Tz) -> Result<Self, String> {
        match arg {
            None => Ok(Self::system(tz)),
            Some(s) => parse_now(s, tz).map(|t| Self {
                offset: t - Utc::now(),
                tz,
            }),
        }
    }

    pub fn now(&self) -> Now {
        Now::at(Utc::now() + self.offset, self.tz)
    }

    /// The same clock read in another zone (after a configuration reload).
    pub fn with_tz(self, tz: Tz) -> Self {
        Self { tz, ..self }
    }
}

/// An instant as people read it on pages and in `iopd show`:
/// `2027-03-01 08:05` in the body's zone.
pub fn local_minute(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// [`local_minute`] of unix seconds as the database stores them; empty for
/// a value no date can hold.
pub fn local_minute_of(unix: i64, tz: Tz) -> String {
    DateTime::from_timestamp(unix, 0).map_or_else(String::new, |t| local_minute(t, tz))
}

/// An RFC 3339 timestamp (`2027-03-01T08:05:00+01:00`), a local date-time
/// without offset (`2027-03-01T08:05`), or a date (`2027-03-01`, taken as
/// local midnight).
pub fn parse_now(s: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let t = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(local_to_utc(naive.date(), naive.time(), tz));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(local_to_utc(d, NaiveTime::MIN, tz));
    }
    Err(format!(
        "--now {t:?} is not a time: write an RFC 3339 timestamp (2027-03-01T08:05:00+01:00), \
         a local time (2027-03-01T08:05) or a date (2027-03-01)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_forms() {
        let tz = chrono_tz::Europe::Stockholm;
        let n = Now::at(parse_now("2027-03-01T08:05", tz).unwrap(), tz);
        assert_eq!(n.instant.to_rfc3339(), "2027-03-01T07:05:00+00:00");
        assert_eq!(n.today.to_string(), "2027-03-01");
        // 23:30 UTC on 31 March is already 1 April in Stockholm (CEST).
        let n = Now::at(parse_now("2027-03-31T23:30:00Z", tz).unwrap(), tz);
        assert_eq!(n.today.to_string(), "2027-04-01");
        let n = Now::at(parse_now("2027-06-01", tz).unwrap(), tz);
        assert_eq!(n.today.to_string(), "2027-06-01");
        assert!(parse_now("tomorrow", tz).unwrap_err().contains("--now"));
    }

    #[test]
    fn simulated_clock_starts_at_now_and_runs() {
        let tz = chrono_tz::Europe::Stockholm;
        let c = Clock::from_arg(Some("2027-03-28T01:59:59"), tz).unwrap();
        let a = c.now();
        assert_eq!(a.today.to_string(), "2027-03-28");
        let drift = a.instant - parse_now("2027-03-28T01:59:59", tz).unwrap();
        assert!(drift >= chrono::Duration::zero() && drift < chrono::Duration::seconds(5));
        assert!(c.now().instant >= a.instant);
    }
}
