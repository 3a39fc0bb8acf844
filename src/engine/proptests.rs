//! Property tests for the invariants the engine issue lists.

use std::collections::{BTreeMap, HashSet};

use chrono::{Days, NaiveDate};
use proptest::prelude::*;

use super::tests::{calendar, d, ev, partnership, varmland};
use super::*;
use crate::calendar::{add_months, anniversary, is_working_day};
use crate::domain::{
    Amount, CheckinsPerYear, Email, Event, EventKind, FollowupDecision, MonthDay, NoticeParty,
    Partnership, apply_retractions,
};

#[derive(Debug, Clone)]
pub(crate) struct World {
    pub(crate) p: Partnership,
    pub(crate) events: Vec<Event>,
    pub(crate) policy: Policy,
    pub(crate) committee: CommitteeCalendar,
    pub(crate) today: NaiveDate,
    pub(crate) horizon: NaiveDate,
}

impl World {
    fn run_at(&self, today: NaiveDate) -> Vec<Checkpoint> {
        checkpoints(&Input {
            partnership: &self.p,
            events: &self.events,
            policy: &self.policy,
            committee: &self.committee,
            today,
            horizon: self.horizon,
        })
    }

    fn run(&self) -> Vec<Checkpoint> {
        self.run_at(self.today)
    }

    fn end(&self, today: NaiveDate) -> Option<NaiveDate> {
        agreement_end(&self.p, &self.events, &self.policy, today)
    }
}

fn plus(date: NaiveDate, days: i64) -> NaiveDate {
    if days >= 0 {
        date.checked_add_days(Days::new(days as u64)).unwrap()
    } else {
        date.checked_sub_days(Days::new(days.unsigned_abs()))
            .unwrap()
    }
}

fn checkins() -> impl Strategy<Value = CheckinsPerYear> {
    prop::sample::select(vec![1u32, 2, 3, 4, 6, 12]).prop_map(|n| CheckinsPerYear::new(n).unwrap())
}

fn decision(meeting: NaiveDate) -> impl Strategy<Value = FollowupDecision> {
    prop_oneof![
        Just(FollowupDecision::Approved),
        Just(FollowupDecision::Renegotiation),
        (0i64..150).prop_map(move |n| FollowupDecision::AmountChanged {
            amount: Amount::from_ore(1_000_000).unwrap(),
            from: plus(meeting, n),
        }),
    ]
}

/// Evidence and officer events: they close checkpoints but never create one,
/// so they are "unrelated" to every key.
fn evidence_kind(on: NaiveDate) -> BoxedStrategy<EventKind> {
    let dnr = prop::sample::select(vec!["", "RS 2026/1"]).prop_map(String::from);
    let paragraph = prop::sample::select(vec!["", "§ 12"]).prop_map(String::from);
    prop_oneof![
        4 => Just(EventKind::CheckinHeld),
        1 => dnr.clone().prop_map(|diarienummer| EventKind::AnnualReportReceived { diarienummer, document: None }),
        1 => Just(EventKind::AnnualEvaluationHeld),
        1 => (dnr.clone(), 0i64..80).prop_map(move |(diarienummer, n)| {
            EventKind::CommitteeFollowupSubmitted { diarienummer, meeting: plus(on, n) }
        }),
        1 => (paragraph.clone(), 0i64..15).prop_map(move |(paragraph, n)| {
            EventKind::CommitteeFollowupReported {
                meeting: plus(on, -n),
                paragraph,
                decision: FollowupDecision::Approved,
            }
        }),
        1 => (dnr.clone(), 0i64..80).prop_map(move |(diarienummer, n)| {
            EventKind::TerminationSubmitted { diarienummer, meeting: plus(on, n) }
        }),
        1 => (paragraph, 0i64..15).prop_map(move |(paragraph, n)| EventKind::TerminationDecided {
            meeting: plus(on, -n),
            paragraph,
        }),
        1 => dnr.prop_map(|diarienummer| EventKind::WindDownPlanRegistered { diarienummer }),
        1 => Just(EventKind::ExpiryEvaluationHeld),
        1 => Just(EventKind::PaymentsStopped),
        1 => Just(EventKind::PaymentChanged),
        1 => Just(EventKind::RenegotiatedAgreementSigned),
        1 => (0i64..40).prop_map(move |n| EventKind::OfficerReplaced {
            name: "Cecilia Ek".into(),
            email: Email::parse("cecilia@example.org").unwrap(),
            from: plus(on, n),
        }),
        1 => (0i64..40).prop_map(move |n| EventKind::OfficerAbsent { from: on, to: plus(on, n) }),
    ]
    .boxed()
}

/// Any event, including those that create or move checkpoints.
fn any_kind(on: NaiveDate, count: i64) -> BoxedStrategy<EventKind> {
    let by = prop::sample::select(vec![NoticeParty::Body, NoticeParty::Partner]);
    prop_oneof![
        6 => evidence_kind(on),
        1 => by.prop_map(|by| EventKind::NoticeGiven { by }),
        1 => (100i64..1500).prop_map(move |n| EventKind::AgreementExtended { new_end: plus(on, n) }),
        1 => (0i64..15, "§ [0-9]{0,2}").prop_flat_map(move |(n, paragraph)| {
            let meeting = plus(on, -n);
            decision(meeting).prop_map(move |decision| EventKind::CommitteeFollowupReported {
                meeting,
                paragraph: paragraph.clone(),
                decision,
            })
        }),
        1 => (1..=count.max(1)).prop_map(|event| EventKind::Retraction { event, reason: String::new() }),
        1 => Just(EventKind::CheckpointWaived { reason: "Ersatt av revisionen".into() }),
    ]
    .boxed()
}

/// A checkpoint key an event may name (RULES 15): often one that exists,
/// sometimes one of another kind or not yet started.
fn target_key() -> BoxedStrategy<String> {
    prop_oneof![
        3 => (0u32..8, 1u32..=4).prop_map(|(k, i)| format!("P1/checkin/y{k}-w{i}")),
        1 => (0u32..8).prop_map(|k| format!("P1/annual_report/y{k}")),
        1 => (0u32..8).prop_map(|k| format!("P1/annual_evaluation/y{k}")),
        1 => (1u32..4).prop_map(|n| format!("P1/committee_followup/f{n}")),
        1 => (1u32..4).prop_map(|n| format!("P1/committee_minutes/committee_followup-f{n}")),
    ]
    .boxed()
}

fn events(start: NaiveDate, max: usize) -> impl Strategy<Value = Vec<Event>> {
    prop::collection::vec(-100i64..3500, 0..max).prop_flat_map(move |offsets| {
        let count = offsets.len() as i64;
        offsets
            .into_iter()
            .enumerate()
            .map(|(i, offset)| {
                let on = plus(start, offset);
                (
                    any_kind(on, count),
                    prop::option::weighted(0.25, target_key()),
                )
                    .prop_map(move |(kind, target)| {
                        let s = on.format("%Y-%m-%d").to_string();
                        let mut e = ev(i as i64 + 1, &s, kind);
                        e.target = target;
                        e
                    })
            })
            .collect::<Vec<_>>()
    })
}

pub(crate) fn world() -> impl Strategy<Value = World> {
    let base = d("2019-01-01");
    (
        0i64..3000,
        prop::option::of(checkins()),
        prop::option::of(1u32..=12),
        prop::option::of(150i64..3000),
        (
            checkins(),
            0u32..=3,
            1u32..=12,
            0u32..60,
            1u32..=12,
            10u32..90,
            0u32..30,
        ),
        prop::option::of((1u32..=12, 1u32..=29)),
        (
            0i64..4000,
            prop::collection::vec(0i64..6000, 0..40),
            0u32..40,
        ),
        (-100i64..3000, 0i64..1200),
    )
        .prop_flat_map(
            move |(start, own_checkins, own_notice, fixed, numbers, anchor, cal, times)| {
                let start = plus(base, start);
                let mut p = partnership(&start.format("%Y-%m-%d").to_string());
                p.checkins_per_year = own_checkins;
                p.notice_months = own_notice;
                p.end = fixed.map(|n| plus(start, n));
                let (n, followup, notice, wind_down, expiry, sign, minutes) = numbers;
                let mut policy = varmland("2020-01-01");
                policy.checkins_per_year = n;
                policy.committee_followup_years = followup;
                policy.notice_months = notice;
                policy.wind_down_plan_days = wind_down;
                policy.expiry_evaluation_months = expiry;
                policy.renegotiation_sign_days = sign;
                policy.minutes_days = minutes;
                policy.annual_anchor =
                    anchor.and_then(|(m, day)| MonthDay::parse(&format!("{m:02}-{day:02}")).ok());
                let (tracking, meetings, submission_days) = cal;
                policy.tracking_start = plus(base, tracking);
                let mut meetings: Vec<NaiveDate> =
                    meetings.into_iter().map(|n| plus(base, n)).collect();
                meetings.sort();
                meetings.dedup();
                let mut committee = calendar(&[], submission_days);
                committee.meetings = meetings;
                let (today, ahead) = times;
                let today = plus(start, today);
                let horizon = plus(today, ahead);
                events(start, 20).prop_map(move |mut events| {
                    apply_retractions(&mut events);
                    World {
                        p: p.clone(),
                        events,
                        policy: policy.clone(),
                        committee: committee.clone(),
                        today,
                        horizon,
                    }
                })
            },
        )
}

fn recurring(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Checkin | Kind::AnnualReport | Kind::AnnualEvaluation | Kind::CommitteeFollowup
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Issue rule 8: an action's due date on a non-working day moves to the
    /// previous working day; `agreement_end` is a legal fact and never moves.
    #[test]
    fn no_action_is_due_on_a_non_working_day(w in world()) {
        for cp in w.run() {
            if cp.kind != Kind::AgreementEnd {
                prop_assert!(is_working_day(cp.due), "{} due {}", cp.key, cp.due);
            }
        }
    }

    /// Issue 3: "keys unique, and identical across recomputation and after
    /// adding unrelated events".
    #[test]
    fn keys_are_unique_and_stable(
        w in world(),
        extra in prop::collection::vec(
            (0i64..6000).prop_flat_map(|n| {
                let on = plus(d("2019-01-01"), n);
                evidence_kind(on).prop_map(move |kind| (on, kind))
            }),
            1..6,
        ),
    ) {
        let first = w.run();
        let keys: Vec<&str> = first.iter().map(|c| c.key.as_str()).collect();
        let unique: HashSet<&str> = keys.iter().copied().collect();
        prop_assert_eq!(unique.len(), keys.len(), "duplicate keys in {:?}", keys);
        prop_assert!(keys.iter().all(|k| k.starts_with("P1/")));
        prop_assert_eq!(&first, &w.run());

        let mut more = w.clone();
        for (i, (on, kind)) in extra.into_iter().enumerate() {
            let on = on.format("%Y-%m-%d").to_string();
            more.events.push(ev(1000 + i as i64, &on, kind));
        }
        let after: HashSet<String> = more.run().into_iter().map(|c| c.key).collect();
        let before: HashSet<String> = first.into_iter().map(|c| c.key).collect();
        prop_assert_eq!(before, after);
    }

    /// Issue 3: "a done checkpoint never becomes due again" as *now* advances.
    /// RULES 8 is the one deliberate exception: an extension reopens the
    /// checkpoints it moves (`expiry_evaluation` "counts only if dated after
    /// the last extension").
    ///
    /// RULES 17: a missed or waived checkpoint is never reminded again either
    /// (a missed window may still be done late). RULES 15: events named for
    /// their checkpoint apply in the order recorded, so one dated after *now*
    /// may take a checkpoint once it is visible; such worlds are skipped.
    #[test]
    fn a_done_checkpoint_stays_done(w in world(), step in 1i64..800) {
        let later = plus(w.today, step);
        let before = w.run();
        let after: BTreeMap<String, Checkpoint> =
            w.run_at(later).into_iter().map(|c| (c.key.clone(), c)).collect();
        let appears = |e: &&Event| !e.retracted && e.on > w.today && e.on <= later;
        let extended = w.events.iter().filter(appears).any(|e| {
            matches!(e.kind, EventKind::AgreementExtended { .. })
        });
        if w.events.iter().filter(appears).any(|e| e.target.is_some()) {
            return Ok(());
        }
        let closed = |s: Status| {
            matches!(s, Status::Done | Status::Cancelled | Status::Missed | Status::Waived)
        };
        // RULES 9: a notice that appears may end the agreement before a
        // period the horizon showed early; a checkpoint waived ahead of its
        // period then no longer exists.
        let ends = w.events.iter().filter(appears).any(|e| {
            matches!(e.kind, EventKind::NoticeGiven { .. } | EventKind::TerminationDecided { .. })
        });
        for cp in before.iter().filter(|c| matches!(c.status, Status::Missed | Status::Waived)) {
            if ends && cp.period_start > w.today {
                continue;
            }
            let now = after.get(&cp.key);
            prop_assert!(
                now.is_some_and(|c| closed(c.status)),
                "{} was {:?} at {}, at {} it is {:?}", cp.key, cp.status, w.today, later, now.map(|c| c.status)
            );
        }
        for cp in before.iter().filter(|c| c.status == Status::Done) {
            let moved = matches!(
                cp.kind,
                Kind::ExpiryEvaluation | Kind::PaymentsStop | Kind::AgreementEnd
            );
            if extended && moved {
                continue;
            }
            let now = after.get(&cp.key);
            prop_assert!(
                now.is_some_and(|c| matches!(c.status, Status::Done | Status::Cancelled)),
                "{} was done at {}, at {} it is {:?}", cp.key, w.today, later, now.map(|c| c.status)
            );
        }
    }

    /// RULES 9: no recurring period starts on or after the end, and none that
    /// goes ahead is due after it.
    #[test]
    fn nothing_recurring_is_due_after_the_end(w in world()) {
        let Some(end) = w.end(w.today) else { return Ok(()) };
        for cp in w.run().into_iter().filter(|c| recurring(c.kind)) {
            prop_assert!(cp.period_start < end, "{} starts {} at or after the end {}", cp.key, cp.period_start, end);
            if cp.status != Status::Cancelled {
                prop_assert!(cp.due <= end, "{} due {} after the end {}", cp.key, cp.due, end);
            }
        }
    }

    /// Issue 3: "exactly `checkins_per_year` check-in windows per agreement
    /// year, covering it without gaps or overlaps".
    #[test]
    fn checkin_windows_cover_each_agreement_year(w in world()) {
        let n = w.policy.checkins_for(&w.p).get() as usize;
        let end = w.end(w.today);
        let mut years: BTreeMap<i32, Vec<&Checkpoint>> = BTreeMap::new();
        let cps = w.run();
        for cp in cps.iter().filter(|c| c.kind == Kind::Checkin) {
            let period = cp.key.rsplit('/').next().unwrap_or_default();
            let k: i32 = period.trim_start_matches('y').split('-').next().unwrap().parse().unwrap();
            years.entry(k).or_default().push(cp);
        }
        for (k, mut windows) in years {
            windows.sort_by_key(|c| c.period_start);
            prop_assert_eq!(windows[0].period_start, anniversary(w.p.start, k));
            for pair in windows.windows(2) {
                prop_assert_eq!(plus(pair[0].period_end, 1), pair[1].period_start);
            }
            let last = windows[windows.len() - 1];
            if windows.len() == n {
                prop_assert_eq!(plus(last.period_end, 1), anniversary(w.p.start, k + 1));
            } else {
                // Only the horizon or the end cuts a year short (RULES 9).
                prop_assert!(windows.len() < n);
                let next = add_months(w.p.start, 12 * k + (12 / n * windows.len()) as i32);
                prop_assert_eq!(next, plus(last.period_end, 1));
                prop_assert!(next > w.horizon || end.is_some_and(|e| next >= e));
            }
        }
    }

    /// RULES 1: days late are never negative, and evidence is a real,
    /// non-retracted event on or before *now*.
    #[test]
    fn evidence_is_real(w in world()) {
        for cp in w.run() {
            if let Some(e) = &cp.evidence {
                prop_assert!(e.days_late >= 0);
                let event = w.events.iter().find(|x| x.id == e.event);
                prop_assert!(event.is_some_and(|x| !x.retracted && x.on <= w.today));
            }
        }
    }

    /// RULES 15: an event named for a checkpoint closes that one or nothing
    /// (a committee decision: the item and its minutes, RULES 6b); RULES 17:
    /// so does a waiver.
    #[test]
    fn named_evidence_closes_only_its_checkpoint(w in world()) {
        let target = |id: i64| w.events.iter().find(|e| e.id == id).and_then(|e| e.target.clone());
        // The item a key belongs to: minutes name theirs in their period.
        let item = |key: &str| match key.split_once("/committee_minutes/") {
            Some((p, rest)) => rest
                .split_once('-')
                .map_or(key.to_string(), |(kind, period)| format!("{p}/{kind}/{period}")),
            None => key.to_string(),
        };
        for cp in w.run() {
            if let Some(t) = cp.evidence.as_ref().and_then(|e| target(e.event)) {
                prop_assert_eq!(item(&t), item(&cp.key));
            }
            if let Some(wv) = &cp.waiver {
                prop_assert_eq!(target(wv.event), Some(cp.key.clone()));
                let waiver = w.events.iter().find(|e| e.id == wv.event);
                prop_assert!(waiver.is_some_and(|e| !e.retracted && e.on <= w.today));
            }
        }
    }

    /// RULES 17 and 18: a window is missed exactly when it is tracked, not
    /// done, waived or cancelled, and a check-in dated in a later window is
    /// recorded.
    #[test]
    fn missed_means_a_later_checkin_was_held(w in world()) {
        let cps = w.run();
        let windows: Vec<&Checkpoint> = cps.iter().filter(|c| c.kind == Kind::Checkin).collect();
        let last_end = windows.iter().map(|c| c.period_end).max();
        let first_start = windows.iter().map(|c| c.period_start).min();
        for cp in &cps {
            let later_checkin = w.events.iter().any(|e| {
                !e.retracted
                    && e.kind == EventKind::CheckinHeld
                    && e.on <= w.today
                    && e.on > cp.period_end
                    && first_start.is_some_and(|s| e.on >= s)
                    && last_end.is_some_and(|l| e.on <= l)
            });
            let should = cp.kind == Kind::Checkin
                && cp.status != Status::Cancelled
                && cp.evidence.is_none()
                && cp.waiver.is_none()
                && cp.due >= w.policy.tracking_start
                && later_checkin;
            prop_assert_eq!(cp.status == Status::Missed, should, "{} {:?}", cp.key, cp.status);
        }
    }

    /// RULES 18: minutes waiting for a decision belong to a tracked item.
    #[test]
    fn untracked_items_have_untracked_minutes(w in world()) {
        let cps = w.run();
        for m in cps.iter().filter(|c| c.kind == Kind::CommitteeMinutes && c.status.is_open()) {
            let (kind, period) = m.key.rsplit('/').next().unwrap().split_once('-').unwrap();
            let item = format!("P1/{kind}/{period}");
            let parent = cps.iter().find(|c| c.key == item);
            prop_assert!(parent.is_some_and(|p| p.status != Status::BeforeTracking), "{}", m.key);
        }
    }

    /// RULES 17: "Retracting … the waiver reopens the checkpoint."
    #[test]
    fn a_retracted_waiver_reopens(w in world()) {
        for cp in w.run().into_iter().filter(|c| c.status == Status::Waived) {
            let id = cp.waiver.as_ref().map(|x| x.event);
            let mut undone = w.clone();
            for e in &mut undone.events {
                if Some(e.id) == id {
                    e.retracted = true;
                }
            }
            let now = undone.run().into_iter().find(|c| c.key == cp.key);
            prop_assert!(now.is_some_and(|c| c.waiver.as_ref().map(|x| x.event) != id), "{}", cp.key);
        }
    }
}
