//! When a tick must look at a partnership again (incremental ticks).
//!
//! Pure: values in, a date out. What a tick does for one partnership is a
//! function of its row, its events, its postponements, the configuration, the
//! outbox and *today*. The store notices when any of the first four change
//! (`partnerships.revision`, the rules hash); the outbox changes only through
//! the partnership's own evaluations. [`next_check`] gives the first day after
//! *today* on which the same inputs can give another answer, so until then a
//! tick may skip the partnership: a full evaluation would find every key it
//! could enqueue already in the outbox.
//!
//! # Why the dates are complete
//!
//! *today* reaches a tick's answer in these places only, and each adds its
//! dates:
//! - the engine ignores events dated after *today* and decisions whose meeting
//!   is after it (`visible_events`, `meeting <= today` in the rules and the
//!   evidence): every event's date and every date it carries
//!   ([`EventKind::dates`]);
//! - recurring periods exist from their start (the tick's horizon is
//!   *today*): every date of the checkpoints of a run whose horizon is the
//!   limit, which holds every period starting by then (nothing of a later
//!   period happens before its start: its `exists_from` is its start);
//! - a status compares the due date with *today* (`status_at`): every date of
//!   every checkpoint;
//! - the ladder sends the latest stage on or before *today*, nothing before
//!   `exists_from` ([`ladder::latest`]): the next send date of every open
//!   checkpoint;
//! - recipients on *today* (`responsible_on`): replacement and absence dates,
//!   which events carry;
//! - a postponement holds stages while *today* is before its end: that end.
//!
//! Comparisons are `<`, `<=` or `==`, so a date *d* can change the answer on
//! *d* or on the day after: both are taken for every date, which also covers
//! the partnership's start and end. Nothing later than the limit is looked
//! at: a partnership is evaluated again by then at the latest. A property
//! test checks that the answer is the same on every day before the date.

use chrono::{Days, NaiveDate};

use crate::domain::{Event, Partnership};
use crate::engine::Checkpoint;
use crate::ladder::{self, Ladder};

/// A partnership is evaluated at least this often, and the engine's second
/// run looks this far ahead for periods that start.
pub const LOOKAHEAD_DAYS: u64 = 92;

/// The latest day a partnership evaluated on `today` may wait for.
pub fn limit(today: NaiveDate) -> NaiveDate {
    today
        .checked_add_days(Days::new(LOOKAHEAD_DAYS))
        .unwrap_or(NaiveDate::MAX)
}

/// What [`next_check`] looks at for one partnership.
#[derive(Debug, Clone, Copy)]
pub struct Dates<'a> {
    pub partnership: &'a Partnership,
    pub events: &'a [Event],
    /// The checkpoints at *today* with the horizon *today*, as the tick saw them.
    pub now: &'a [Checkpoint],
    /// The same at *today* with the horizon [`limit`].
    pub ahead: &'a [Checkpoint],
    /// The end of each postponement of the partnership's checkpoints.
    pub postponed_until: &'a [NaiveDate],
}

/// The first day after `today` on which a tick's answer for the partnership
/// can differ from today's, or [`limit`] if none comes before it.
pub fn next_check(d: &Dates, ladder: &Ladder, today: NaiveDate) -> NaiveDate {
    let limit = limit(today);
    let mut next = limit;
    let mut take = |date: NaiveDate| {
        if date > today && date < next {
            next = date;
        }
    };
    let mut take_both = |date: NaiveDate| {
        take(date);
        if let Some(after) = date.succ_opt() {
            take(after);
        }
    };
    let p = d.partnership;
    take_both(p.start);
    if let Some(end) = p.end {
        take_both(end);
    }
    for e in d.events {
        take_both(e.on);
        for date in e.kind.dates() {
            take_both(date);
        }
    }
    for cp in d.now.iter().chain(d.ahead) {
        for date in [cp.period_start, cp.period_end, cp.exists_from, cp.due] {
            take_both(date);
        }
        if let Some(m) = cp.meeting {
            take_both(m);
        }
        if let Some(e) = &cp.evidence {
            take_both(e.on);
        }
        let open = !cp.status.is_closed();
        if open && let Some(send) = ladder::next_send(cp, ladder, today, limit) {
            take_both(send);
        }
    }
    for until in d.postponed_until {
        take_both(*until);
    }
    next
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::domain::{MonthDay, PartnershipId};
    use crate::engine::proptests::{World, world};
    use crate::engine::{self, Input, Kind, responsible_on};
    use crate::ladder::{Quiet, StageKind};

    fn summer() -> Ladder {
        Ladder {
            quiet: vec![Quiet {
                from: MonthDay::parse("07-01").unwrap(),
                to: MonthDay::parse("08-09").unwrap(),
            }],
            ..Ladder::default()
        }
    }

    fn run(w: &World, today: NaiveDate, horizon: NaiveDate) -> Vec<Checkpoint> {
        engine::checkpoints(&Input {
            partnership: &w.p,
            events: &w.events,
            policy: &w.policy,
            committee: &w.committee,
            today,
            horizon,
        })
    }

    /// Everything a tick decides for the partnership on `day`, as the tick
    /// decides it: checkpoints with status (counts, closing, withdrawals), the
    /// stage each open one would send and to whom.
    fn answer(
        w: &World,
        ladder: &Ladder,
        postponed: &BTreeMap<String, NaiveDate>,
        day: NaiveDate,
    ) -> Vec<String> {
        let who = responsible_on(&w.p, &w.events, day);
        let mut out = Vec::new();
        for cp in run(w, day, day) {
            out.push(format!(
                "{} {:?} {:?} {:?}",
                cp.key, cp.status, cp.due, cp.evidence
            ));
            if let Some((planned, _)) = ladder::latest(&cp, ladder, day) {
                let held = planned.stage.kind < StageKind::Escalation
                    && postponed.get(&cp.key).is_some_and(|until| day < *until);
                out.push(format!(
                    "  {} on {} held {held} to {} absent {}",
                    planned.stage.key(),
                    planned.send_on,
                    who.acting(),
                    who.officer_absent
                ));
            }
        }
        out
    }

    fn next_for(w: &World, ladder: &Ladder, postponed: &BTreeMap<String, NaiveDate>) -> NaiveDate {
        let now = run(w, w.today, w.today);
        let ahead = run(w, w.today, limit(w.today));
        let untils: Vec<NaiveDate> = postponed.values().copied().collect();
        next_check(
            &Dates {
                partnership: &w.p,
                events: &w.events,
                now: &now,
                ahead: &ahead,
                postponed_until: &untils,
            },
            ladder,
            w.today,
        )
    }

    #[test]
    fn the_next_stage_of_an_open_checkin_is_the_next_check() {
        // delivery.rs's T1: the check-in due Friday 2026-05-29 sends its
        // reminder on 2026-05-22 and its due-day mail on 2026-05-29 (RULES 11).
        let p = engine_partnership("2025-12-01");
        let w = World {
            p,
            events: Vec::new(),
            policy: crate::engine::tests::varmland("2026-01-01"),
            committee: crate::engine::tests::calendar(&[], 21),
            today: d("2026-05-22"),
            horizon: d("2026-05-22"),
        };
        let none = BTreeMap::new();
        // Nothing between the reminder and the due day.
        assert_eq!(next_for(&w, &Ladder::default(), &none), d("2026-05-29"));
        let on_due_day = World {
            today: d("2026-05-29"),
            ..w.clone()
        };
        // The day after the due date it is overdue (RULES 3).
        assert_eq!(
            next_for(&on_due_day, &Ladder::default(), &none),
            d("2026-05-30")
        );
        let overdue = World {
            today: d("2026-05-30"),
            ..w
        };
        // Then the window's last day, Sunday 2026-05-31 (every date of a
        // checkpoint counts, even where no rule compares it with today), and
        // the second window opens on 2026-06-01, before the 7-day overdue
        // stage on Friday 2026-06-05.
        assert_eq!(
            next_for(&overdue, &Ladder::default(), &none),
            d("2026-05-31")
        );
        let june = World {
            today: d("2026-06-02"),
            ..overdue
        };
        assert_eq!(next_for(&june, &Ladder::default(), &none), d("2026-06-05"));
    }

    #[test]
    fn a_postponement_ends_on_its_day() {
        let w = World {
            p: engine_partnership("2025-12-01"),
            events: Vec::new(),
            policy: crate::engine::tests::varmland("2026-01-01"),
            committee: crate::engine::tests::calendar(&[], 21),
            today: d("2026-05-25"),
            horizon: d("2026-05-25"),
        };
        let mut held = BTreeMap::new();
        held.insert("T1/checkin/y0-w1".to_string(), d("2026-05-27"));
        assert_eq!(next_for(&w, &Ladder::default(), &held), d("2026-05-27"));
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn engine_partnership(start: &str) -> Partnership {
        let mut p = crate::engine::tests::partnership(start);
        p.id = PartnershipId::parse("T1").unwrap();
        p
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// On every day after *today* and before the next check, a tick
        /// decides exactly what it decided on *today*.
        #[test]
        fn nothing_changes_before_the_next_check(
            w in world(),
            quiet in any::<bool>(),
            hold in prop::option::of((0usize..40, 1u64..60)),
        ) {
            let ladder = if quiet { summer() } else { Ladder::default() };
            let mut postponed = BTreeMap::new();
            if let Some((i, days)) = hold {
                let cps = run(&w, w.today, w.today);
                let open: Vec<&Checkpoint> = cps
                    .iter()
                    .filter(|c| c.kind != Kind::AgreementEnd && c.evidence.is_none())
                    .collect();
                if !open.is_empty() {
                    let until = w.today.checked_add_days(Days::new(days)).unwrap();
                    postponed.insert(open[i % open.len()].key.clone(), until);
                }
            }
            let next = next_for(&w, &ladder, &postponed);
            prop_assert!(next > w.today && next <= limit(w.today));
            let first = answer(&w, &ladder, &postponed, w.today);
            let mut day = w.today.succ_opt().unwrap();
            while day < next {
                let later = answer(&w, &ladder, &postponed, day);
                prop_assert_eq!(
                    &later, &first,
                    "answer changed on {} before the next check {} (today {})",
                    day, next, w.today
                );
                day = day.succ_opt().unwrap();
            }
        }
    }
}
