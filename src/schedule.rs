//! Local-time schedules for the service's jobs, decided in our own code.
//!
//! tokio-cron-scheduler only wakes the process (in UTC, every few seconds):
//! its time-zone jobs keep the UTC offset they were created with and run an
//! hour off after a DST change, and runs missed while the process was down are
//! lost. Here a cron expression is read in *local wall-clock time*: its
//! occurrences are found on naive local times (no DST there), then each is
//! placed on the time line with [`local_to_utc`] (a skipped time runs just
//! after the gap, a repeated one at its first occurrence). A job is due when
//! its latest occurrence at or before *now* is later than the one it last
//! completed, which the database remembers; so a slot runs once across DST
//! changes, restarts and replicas, and after downtime only the latest missed
//! slot runs.

use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};

use crate::calendar::local_to_utc;

/// A six-field cron expression (seconds first) in local time.
#[derive(Debug, Clone)]
pub struct LocalSchedule {
    text: String,
    cron: Cron,
}

/// One occurrence: the wall-clock time it names and the instant it runs at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub local: NaiveDateTime,
    pub at: DateTime<Utc>,
}

impl FromStr for LocalSchedule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let text = s.trim().to_string();
        if text.split_whitespace().count() != 6 {
            return Err(format!(
                "{text:?} must have six fields (seconds minutes hours day month weekday), e.g. \"0 0 7 * * Mon\""
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .build()
            .parse(&text)
            .map_err(|e| format!("{text:?} is not a cron expression: {e}"))?;
        Ok(Self { text, cron })
    }
}

impl std::fmt::Display for LocalSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Naive local times are searched as if they were UTC: UTC has no gaps.
/// Whole seconds only: the search keeps the probe's fraction, and slots are
/// stored in whole seconds.
fn as_utc(t: NaiveDateTime) -> DateTime<Utc> {
    Utc.from_utc_datetime(&t.with_nanosecond(0).unwrap_or(t))
}

impl LocalSchedule {
    fn slot(&self, local: NaiveDateTime, tz: Tz) -> Slot {
        Slot {
            local,
            at: local_to_utc(local.date(), local.time(), tz),
        }
    }

    /// The latest occurrence that runs at or before `now`, if any in the last
    /// year (a schedule that never matches gives `None`).
    pub fn latest(&self, now: DateTime<Utc>, tz: Tz) -> Option<Slot> {
        // Start a little after now's wall-clock time: around a DST change an
        // occurrence named later on the wall clock can run earlier.
        let mut probe = as_utc(now.with_timezone(&tz).naive_local() + Duration::hours(2));
        let floor = probe - Duration::days(366);
        while probe > floor {
            let prev = self.cron.find_previous_occurrence(&probe, true).ok()?;
            let slot = self.slot(prev.naive_utc(), tz);
            if slot.at <= now {
                return Some(slot);
            }
            probe = prev - Duration::seconds(1);
        }
        None
    }

    /// The first occurrence that runs after `now`.
    pub fn next(&self, now: DateTime<Utc>, tz: Tz) -> Option<Slot> {
        let mut probe = as_utc(now.with_timezone(&tz).naive_local() - Duration::hours(2));
        let ceiling = probe + Duration::days(366);
        while probe < ceiling {
            let next = self.cron.find_next_occurrence(&probe, false).ok()?;
            let slot = self.slot(next.naive_utc(), tz);
            if slot.at > now {
                return Some(slot);
            }
            probe = next;
        }
        None
    }

    /// The slot to run now, given the instant of the last completed one.
    pub fn due(
        &self,
        now: DateTime<Utc>,
        tz: Tz,
        last_done: Option<DateTime<Utc>>,
    ) -> Option<Slot> {
        let slot = self.latest(now, tz)?;
        match last_done {
            Some(done) if done >= slot.at => None,
            _ => Some(slot),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_now;

    const TZ: Tz = chrono_tz::Europe::Stockholm;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Wakes every minute from `from` for `minutes`, running whatever is due
    /// (as the service does) and returning the instants it ran at.
    fn simulate(
        s: &LocalSchedule,
        from: DateTime<Utc>,
        minutes: i64,
    ) -> Vec<(DateTime<Utc>, Slot)> {
        let mut done: Option<DateTime<Utc>> = s.latest(from, TZ).map(|x| x.at);
        assert_eq!(done.map(|d| d.timestamp_subsec_nanos()), Some(0));
        let mut runs = Vec::new();
        for m in 1..=minutes {
            // Wakes never fall on whole seconds.
            let now = from + Duration::minutes(m) + Duration::milliseconds(437);
            if let Some(slot) = s.due(now, TZ, done) {
                runs.push((now, slot));
                // As the database keeps it: whole seconds.
                done = DateTime::from_timestamp(slot.at.timestamp(), 0);
            }
        }
        runs
    }

    #[test]
    fn rejects_five_fields_and_nonsense() {
        assert!(
            "0 7 * * Mon"
                .parse::<LocalSchedule>()
                .unwrap_err()
                .contains("six fields")
        );
        assert!(
            "0 0 25 * * *"
                .parse::<LocalSchedule>()
                .unwrap_err()
                .contains("not a cron")
        );
        assert!("0 0 7 * * Mon".parse::<LocalSchedule>().is_ok());
    }

    #[test]
    fn monday_digest_is_local_seven_in_winter_and_summer() {
        let s: LocalSchedule = "0 0 7 * * Mon".parse().unwrap();
        // Winter: 07:00 CET = 06:00 UTC.
        let w = s.latest(at("2027-01-13T12:00:00Z"), TZ).unwrap();
        assert_eq!(w.at, at("2027-01-11T06:00:00Z"));
        // Summer: 07:00 CEST = 05:00 UTC, not 06:00 as a frozen offset would give.
        let su = s.latest(at("2027-04-07T12:00:00Z"), TZ).unwrap();
        assert_eq!(su.at, at("2027-04-05T05:00:00Z"));
        assert_eq!(
            s.next(at("2027-03-28T12:00:00Z"), TZ).unwrap().at,
            at("2027-03-29T05:00:00Z")
        );
    }

    #[test]
    fn a_job_in_the_skipped_spring_hour_runs_once() {
        // 2027-03-28: clocks go from 02:00 CET to 03:00 CEST; 02:30 never happens.
        let s: LocalSchedule = "0 30 2 * * *".parse().unwrap();
        let runs = simulate(&s, parse_now("2027-03-27T12:00", TZ).unwrap(), 48 * 60);
        let days: Vec<String> = runs
            .iter()
            .map(|(now, slot)| {
                assert!(*now - slot.at < Duration::minutes(1));
                slot.at.to_rfc3339()
            })
            .collect();
        assert_eq!(
            days,
            [
                // The skipped 02:30 runs at 03:00 CEST (the first instant after the gap), once.
                "2027-03-28T01:00:00+00:00",
                // The next night at 02:30 CEST.
                "2027-03-29T00:30:00+00:00",
            ]
        );
    }

    #[test]
    fn a_job_in_the_repeated_autumn_hour_runs_once() {
        // 2027-10-31: clocks go from 03:00 CEST back to 02:00 CET; 02:30 happens twice.
        let s: LocalSchedule = "0 30 2 * * *".parse().unwrap();
        let runs = simulate(&s, parse_now("2027-10-30T12:00", TZ).unwrap(), 48 * 60);
        let days: Vec<String> = runs
            .iter()
            .map(|(now, slot)| {
                assert!(*now - slot.at < Duration::minutes(1));
                slot.at.to_rfc3339()
            })
            .collect();
        assert_eq!(
            days,
            ["2027-10-31T00:30:00+00:00", "2027-11-01T01:30:00+00:00"]
        );
    }

    #[test]
    fn every_five_minutes_across_both_changes_never_repeats_a_slot() {
        let s: LocalSchedule = "0 */5 * * * *".parse().unwrap();
        // Six hours of real time from local midnight. Spring: every five real
        // minutes (the skipped 02:xx slots coincide with 03:xx). Autumn: the
        // repeated hour's slots ran on its first pass, so the second is quiet.
        for (day, expected) in [("2027-03-28T00:00", 72), ("2027-10-31T00:00", 60)] {
            let runs = simulate(&s, parse_now(day, TZ).unwrap(), 6 * 60);
            let mut locals: Vec<NaiveDateTime> = runs.iter().map(|(_, s)| s.local).collect();
            let n = locals.len();
            locals.dedup();
            assert_eq!(locals.len(), n, "a wall-clock slot ran twice on {day}");
            let mut instants: Vec<DateTime<Utc>> = runs.iter().map(|(now, _)| *now).collect();
            instants.dedup();
            assert_eq!(instants.len(), n);
            assert_eq!(n, expected, "runs on {day}");
        }
    }

    #[test]
    fn after_downtime_only_the_latest_missed_slot_runs_once() {
        let s: LocalSchedule = "0 0 7 * * Mon".parse().unwrap();
        // Last digest on Monday 4 January; down until Wednesday 20 January.
        let done = Some(at("2027-01-04T06:00:00Z"));
        let now = at("2027-01-20T09:00:00Z");
        let slot = s.due(now, TZ, done).unwrap();
        assert_eq!(slot.at, at("2027-01-18T06:00:00Z"));
        assert_eq!(s.due(now + Duration::minutes(1), TZ, Some(slot.at)), None);
    }
}
