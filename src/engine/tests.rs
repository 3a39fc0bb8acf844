//! Table tests written from the rule documents: issue 3 ("issue rule n") and
//! RULES.md ("RULES n"). Every expected date is worked out from the rule and
//! the almanac, not taken from the code.

use chrono::NaiveDate;

use super::*;
use crate::domain::{
    Amount, Channel, CheckinsPerYear, CommitteeKey, Email, Event, EventKind, FollowupDecision,
    MonthDay, NoticeParty, Partnership, PartnershipId, Person, apply_retractions,
};

pub(crate) fn d(s: &str) -> NaiveDate {
    crate::domain::parse_date(s).unwrap()
}

pub(crate) fn partnership(start: &str) -> Partnership {
    Partnership {
        id: PartnershipId::parse("P1").unwrap(),
        organisation: "Fritidsbanken".into(),
        committee: CommitteeKey::parse("kbn").unwrap(),
        officer: Person {
            name: "Anna Svensson".into(),
            email: Email::parse("anna@example.org").unwrap(),
        },
        deputy: Some(Email::parse("bo@example.org").unwrap()),
        partner_contact: None,
        start: d(start),
        end: None,
        annual_amount: Some(Amount::from_ore(100_000_000).unwrap()),
        checkins_per_year: None,
        notice_months: None,
        notes: String::new(),
    }
}

/// Region Värmland's defaults (issue 3, "defaults are Region Värmland's").
pub(crate) fn varmland(tracking_start: &str) -> Policy {
    Policy {
        checkins_per_year: CheckinsPerYear::new(2).unwrap(),
        committee_followup_years: 2,
        notice_months: 6,
        wind_down_plan_days: 30,
        expiry_evaluation_months: 6,
        renegotiation_sign_days: 60,
        minutes_days: 14,
        annual_anchor: None,
        annual_evaluation: true,
        yearly_documents: Vec::new(),
        tracking_start: d(tracking_start),
    }
}

pub(crate) fn calendar(meetings: &[&str], submission_days: u32) -> CommitteeCalendar {
    CommitteeCalendar {
        key: CommitteeKey::parse("kbn").unwrap(),
        meetings: meetings.iter().map(|m| d(m)).collect(),
        submission_days,
    }
}

pub(crate) fn ev(id: i64, on: &str, kind: EventKind) -> Event {
    Event {
        id,
        partnership: PartnershipId::parse("P1").unwrap(),
        on: d(on),
        kind,
        recorded_at: 0,
        recorded_by: "test".into(),
        channel: Channel::Cli,
        target: None,
        retracted: false,
    }
}

impl Event {
    /// The event named for checkpoint `P1/{key}` (RULES 15).
    pub(crate) fn aimed(mut self, key: &str) -> Event {
        self.target = Some(format!("P1/{key}"));
        self
    }
}

fn waived(reason: &str) -> EventKind {
    EventKind::CheckpointWaived {
        reason: reason.into(),
    }
}

fn decided(meeting: &str, paragraph: &str, decision: FollowupDecision) -> EventKind {
    EventKind::CommitteeFollowupReported {
        meeting: d(meeting),
        paragraph: paragraph.into(),
        decision,
    }
}

fn memo(diarienummer: &str, meeting: &str) -> EventKind {
    EventKind::CommitteeFollowupSubmitted {
        diarienummer: diarienummer.into(),
        meeting: d(meeting),
    }
}

struct Scenario {
    p: Partnership,
    events: Vec<Event>,
    policy: Policy,
    committee: CommitteeCalendar,
    today: NaiveDate,
    horizon: NaiveDate,
}

impl Scenario {
    fn new(start: &str, today: &str, horizon: &str) -> Scenario {
        Scenario {
            p: partnership(start),
            events: Vec::new(),
            policy: varmland("2025-01-01"),
            committee: calendar(&[], 28),
            today: d(today),
            horizon: d(horizon),
        }
    }

    fn run(&self) -> Vec<Checkpoint> {
        let mut events = self.events.clone();
        apply_retractions(&mut events);
        checkpoints(&Input {
            partnership: &self.p,
            events: &events,
            policy: &self.policy,
            committee: &self.committee,
            today: self.today,
            horizon: self.horizon,
        })
    }

    /// RULES 15: why `e` (named for a checkpoint) would be refused, if it would.
    fn unfit(&self, e: Event) -> Option<Unfit> {
        let mut events = self.events.clone();
        apply_retractions(&mut events);
        unfit(
            &Input {
                partnership: &self.p,
                events: &events,
                policy: &self.policy,
                committee: &self.committee,
                today: self.today,
                horizon: self.horizon,
            },
            &e,
        )
    }

    fn at(&self, today: &str) -> Vec<Checkpoint> {
        Scenario {
            today: d(today),
            p: self.p.clone(),
            events: self.events.clone(),
            policy: self.policy.clone(),
            committee: self.committee.clone(),
            horizon: self.horizon,
        }
        .run()
    }
}

/// The checkpoint `P1/{key}`.
fn get<'a>(cps: &'a [Checkpoint], key: &str) -> &'a Checkpoint {
    let full = format!("P1/{key}");
    cps.iter().find(|c| c.key == full).unwrap_or_else(|| {
        let keys: Vec<&str> = cps.iter().map(|c| c.key.as_str()).collect();
        panic!("no checkpoint {full} among {keys:?}")
    })
}

fn has(cps: &[Checkpoint], key: &str) -> bool {
    let full = format!("P1/{key}");
    cps.iter().any(|c| c.key == full)
}

fn late(cp: &Checkpoint) -> Option<i64> {
    cp.evidence.as_ref().map(|e| e.days_late)
}

/// (key, period start, period end, due)
type Row = (&'static str, &'static str, &'static str, &'static str);

fn assert_rows(cps: &[Checkpoint], rows: &[Row]) {
    for (key, start, end, due) in rows {
        let cp = get(cps, key);
        assert_eq!(
            (cp.period_start, cp.period_end),
            (d(start), d(end)),
            "{key} period"
        );
        assert_eq!(cp.due, d(due), "{key} due");
    }
}

#[test]
fn checkin_windows_count_from_the_original_start_date() {
    // Issue rule 1: "`checkins_per_year` (…; per partnership; must divide 12)";
    // this partnership has four 3-month windows instead of the policy's two.
    let mut s = Scenario::new("2025-01-31", "2025-01-31", "2025-12-31");
    s.p.checkins_per_year = Some(CheckinsPerYear::new(4).unwrap());
    let cps = s.run();
    assert_rows(
        &cps,
        &[
            // RULES 4: window i starts at start + i·12/n months from the original date.
            ("checkin/y0-w1", "2025-01-31", "2025-04-29", "2025-04-29"),
            // RULES 4: 31 Jan + 3 months = 30 April (clamped).
            ("checkin/y0-w2", "2025-04-30", "2025-07-30", "2025-07-30"),
            // RULES 4: "never chained": 31 Jan + 6 months = 31 July, not 30 July.
            ("checkin/y0-w3", "2025-07-31", "2025-10-30", "2025-10-30"),
            ("checkin/y0-w4", "2025-10-31", "2026-01-30", "2026-01-30"),
        ],
    );
    // Issue 3: "every checkpoint … whose period starts on or before the horizon".
    assert!(!has(&cps, "checkin/y1-w1"));
}

#[test]
fn a_29_february_start() {
    let s = Scenario::new("2024-02-29", "2024-02-29", "2028-03-01");
    let cps = s.run();
    assert_rows(
        &cps,
        &[
            ("checkin/y0-w1", "2024-02-29", "2024-08-28", "2024-08-28"),
            ("checkin/y0-w2", "2024-08-29", "2025-02-27", "2025-02-27"),
            // RULES 5: anniversaries on 28 February in common years.
            ("checkin/y1-w1", "2025-02-28", "2025-08-28", "2025-08-28"),
            // RULES 4: "29 Feb 2024 + 18 months = 29 Aug 2025".
            ("checkin/y1-w2", "2025-08-29", "2026-02-27", "2026-02-27"),
            // RULES 5: agreement year k runs to the day before the next anniversary.
            ("annual_report/y0", "2024-02-29", "2025-02-27", "2025-02-27"),
            ("annual_report/y1", "2025-02-28", "2026-02-27", "2026-02-27"),
            // Issue rule 8: the last day, Saturday 27 Feb 2027, moves to Friday.
            (
                "annual_evaluation/y2",
                "2026-02-28",
                "2027-02-27",
                "2027-02-26",
            ),
            // RULES 5: … "and 29 February in leap years": year 3 ends on 28 Feb 2028.
            (
                "annual_evaluation/y3",
                "2027-02-28",
                "2028-02-28",
                "2028-02-28",
            ),
            ("annual_report/y4", "2028-02-29", "2029-02-27", "2029-02-27"),
        ],
    );
}

#[test]
fn leap_years() {
    let s = Scenario::new("2023-03-01", "2023-03-01", "2024-03-01");
    let cps = s.run();
    assert_rows(
        &cps,
        &[
            // RULES 5: the year from 1 March 2023 ends on 29 February 2024, a Thursday.
            ("annual_report/y0", "2023-03-01", "2024-02-29", "2024-02-29"),
            ("checkin/y0-w2", "2023-09-01", "2024-02-29", "2024-02-29"),
            (
                "annual_evaluation/y1",
                "2024-03-01",
                "2025-02-28",
                "2025-02-28",
            ),
        ],
    );
}

#[test]
fn action_due_dates_move_back_over_holidays() {
    // Issue rule 8: an action due on a non-working day "moves to the previous
    // working day, so nobody loses lead time".
    let rows = [
        // Midsummer Eve (Friday 25 June 2027) → Thursday 24 June.
        ("2026-12-26", "checkin/y0-w1", "2027-06-25", "2027-06-24"),
        // Christmas Day 2027 is a Saturday; Christmas Eve is off too → 23 Dec.
        ("2026-12-26", "annual_report/y0", "2027-12-25", "2027-12-23"),
        // Easter Monday 29 March 2027 → over Easter and Good Friday to Thursday 25 March.
        ("2026-09-30", "checkin/y0-w1", "2027-03-29", "2027-03-25"),
        // Sunday 27 Dec 2026 → over Boxing Day, Christmas Day, Christmas Eve → 23 Dec.
        ("2026-06-28", "checkin/y0-w1", "2026-12-27", "2026-12-23"),
        // New Year's Day 2027 → over New Year's Eve → 30 Dec 2026.
        ("2026-07-02", "checkin/y0-w1", "2027-01-01", "2026-12-30"),
    ];
    for (start, key, last_day, due) in rows {
        let cps = Scenario::new(start, start, "2028-12-31").run();
        let cp = get(&cps, key);
        assert_eq!(
            (cp.period_end, cp.due),
            (d(last_day), d(due)),
            "{start} {key}"
        );
    }
}

#[test]
fn a_checkin_counts_for_the_window_it_falls_in() {
    // Windows of a 1 March 2025 start: y0-w1 1 Mar–31 Aug 2025 (due Fri 29
    // Aug), y0-w2 1 Sep 2025–28 Feb 2026 (due Fri 27 Feb), y1-w1 1 Mar–31 Aug
    // 2026, y1-w2 1 Sep 2026–28 Feb 2027.
    use Status::*;
    /// (key, status, (evidence event, days late))
    type Want = (&'static str, Status, Option<(i64, i64)>);
    /// (today, check-ins (id, date), expected)
    type Case = (
        &'static str,
        &'static [(i64, &'static str)],
        &'static [Want],
    );
    let rows: [Case; 5] = [
        // RULES 16: "a check-in closes the window whose unmoved span contains
        // its date"; RULES 17: window 1 is missed, no longer done late
        // (RULES 1 alone closed window 1, 47 days late, and left window 2 open).
        (
            "2025-11-01",
            &[(1, "2025-10-15")],
            &[
                ("checkin/y0-w1", Missed, None),
                ("checkin/y0-w2", Done, Some((1, 0))),
            ],
        ),
        // RULES 16: "if it is already done (a second meeting in one window),
        // it closes the oldest open earlier window, late" (1 Dec − 29 Aug = 94).
        (
            "2026-01-10",
            &[(1, "2025-10-15"), (2, "2025-12-01")],
            &[
                ("checkin/y0-w1", Done, Some((2, 94))),
                ("checkin/y0-w2", Done, Some((1, 0))),
            ],
        ),
        // RULES 16 (the partnership): one missed window, then every
        // meeting on time: each closes its own window and nothing escalates.
        (
            "2026-10-02",
            &[(1, "2025-10-15"), (2, "2026-04-10"), (3, "2026-10-01")],
            &[
                ("checkin/y0-w1", Missed, None),
                ("checkin/y0-w2", Done, Some((1, 0))),
                ("checkin/y1-w1", Done, Some((2, 0))),
                ("checkin/y1-w2", Done, Some((3, 0))),
            ],
        ),
        // RULES 16 details: outside every window (before the start) closes nothing.
        (
            "2025-04-01",
            &[(1, "2025-02-10")],
            &[("checkin/y0-w1", Upcoming, None)],
        ),
        // RULES 16: a second meeting with no open earlier window counts for nothing.
        (
            "2025-10-01",
            &[(1, "2025-03-10"), (2, "2025-04-10")],
            &[
                ("checkin/y0-w1", Done, Some((1, 0))),
                ("checkin/y0-w2", Upcoming, None),
            ],
        ),
    ];
    for (today, checkins, want) in rows {
        let mut s = Scenario::new("2025-03-01", today, "2027-03-01");
        for (id, on) in checkins {
            s.events.push(ev(*id, on, EventKind::CheckinHeld));
        }
        let cps = s.run();
        for (key, status, evidence) in want {
            let cp = get(&cps, key);
            let got = cp.evidence.as_ref().map(|e| (e.event, e.days_late));
            assert_eq!((cp.status, got), (*status, *evidence), "{today} {key}");
        }
    }
}

#[test]
fn evidence_never_closes_a_period_that_has_not_started() {
    // RULES 1: "Evidence never closes a period that has not started yet;
    // evidence with nothing open to close is kept and counts for nothing."
    let mut s = Scenario::new("2025-03-01", "2025-10-01", "2026-03-01");
    s.events.push(ev(1, "2025-03-10", EventKind::CheckinHeld));
    s.events.push(ev(2, "2025-04-10", EventKind::CheckinHeld));
    let cps = s.run();
    assert_eq!(
        get(&cps, "checkin/y0-w1")
            .evidence
            .as_ref()
            .map(|e| e.event),
        Some(1)
    );
    assert_eq!(get(&cps, "checkin/y0-w2").status, Status::Upcoming);
}

#[test]
fn days_late() {
    // Window y0-w2 of a 1 March 2025 start ends Saturday 28 Feb 2026, due Friday 27 Feb.
    let rows = [
        // RULES 1: "a check-in on a window's last day, a Saturday, is on time
        // although the due date moved to Friday".
        ("2026-02-28", Some(0)),
        // RULES 1: on or before the due date is on time.
        ("2026-02-27", Some(0)),
        // RULES 1: "otherwise days late = evidence date − due date" (3 Mar −
        // 27 Feb), for a check-in named for the window (RULES 15).
        ("2026-03-03", Some(4)),
    ];
    for (on, expected) in rows {
        let mut s = Scenario::new("2025-03-01", "2026-03-10", "2026-03-10");
        s.events.push(ev(1, "2025-05-05", EventKind::CheckinHeld));
        s.events
            .push(ev(2, on, EventKind::CheckinHeld).aimed("checkin/y0-w2"));
        let cps = s.run();
        assert_eq!(late(get(&cps, "checkin/y0-w2")), expected, "{on}");
    }
}

#[test]
fn history_before_tracking_start_closes_only_its_own_period() {
    // RULES 9 (issue): checkpoints due before `tracking_start` are `before_tracking`.
    let mut s = Scenario::new("2024-03-01", "2026-01-15", "2026-03-01");
    s.policy.tracking_start = d("2026-01-01");
    s.events.extend([
        // RULES 1: history "closes the checkpoint whose period contains its date".
        ev(1, "2024-10-10", EventKind::CheckinHeld),
        ev(2, "2025-04-01", EventKind::CheckinHeld),
        // RULES 1: "… if that one is open, and nothing else" (not y0-w1).
        ev(3, "2025-05-01", EventKind::CheckinHeld),
        // RULES 1: current evidence skips `before_tracking` checkpoints.
        ev(4, "2026-01-10", EventKind::CheckinHeld),
    ]);
    let cps = s.run();
    let rows = [
        ("checkin/y0-w1", Status::BeforeTracking, None),
        // RULES 3: "Evidence before `tracking_start` still makes a checkpoint done."
        ("checkin/y0-w2", Status::Done, Some(1)),
        ("checkin/y1-w1", Status::Done, Some(2)),
        ("checkin/y1-w2", Status::Done, Some(4)),
    ];
    for (key, status, event) in rows {
        let cp = get(&cps, key);
        assert_eq!(
            (cp.status, cp.evidence.as_ref().map(|e| e.event)),
            (status, event),
            "{key}"
        );
    }
}

#[test]
fn statuses_at_now() {
    let cp = |kind: Kind, due: &str, status: Status, evidence: bool| Checkpoint {
        key: "P1/x".into(),
        partnership: PartnershipId::parse("P1").unwrap(),
        kind,
        parent: None,
        period_start: d("2025-01-01"),
        period_end: d("2025-12-31"),
        exists_from: d("2025-01-01"),
        due: d(due),
        status,
        evidence: evidence.then(|| Evidence {
            event: 1,
            on: d("2025-03-01"),
            days_late: 0,
        }),
        waiver: None,
        meeting: None,
        no_meeting: false,
        roles: Vec::new(),
        documents: None,
    };
    let (today, tracking) = (d("2026-06-10"), d("2026-01-01"));
    use Status::*;
    let rows = [
        // RULES 3: "first that applies: `cancelled`; `done`; `before_tracking`
        // (due before `tracking_start`); `overdue` (due < today); `due` (due =
        // today); `upcoming`".
        (Kind::Checkin, "2026-06-01", Cancelled, true, Cancelled),
        (Kind::Checkin, "2025-06-01", Upcoming, true, Done),
        (Kind::Checkin, "2025-06-01", Upcoming, false, BeforeTracking),
        (Kind::Checkin, "2026-06-09", Upcoming, false, Overdue),
        (Kind::Checkin, "2026-06-10", Upcoming, false, Due),
        (Kind::Checkin, "2026-06-11", Upcoming, false, Upcoming),
        // RULES 2: `agreement_end` is "upcoming before its date, done on it; it is never overdue".
        (Kind::AgreementEnd, "2026-06-11", Upcoming, false, Upcoming),
        (Kind::AgreementEnd, "2026-06-10", Upcoming, false, Done),
        (Kind::AgreementEnd, "2026-03-01", Upcoming, false, Done),
        (
            Kind::AgreementEnd,
            "2026-03-01",
            Cancelled,
            false,
            Cancelled,
        ),
    ];
    for (kind, due, before, evidence, expected) in rows {
        let got = status_at(&cp(kind, due, before, evidence), today, tracking);
        assert_eq!(got, expected, "{kind:?} due {due}");
    }
}

#[test]
fn events_after_now_are_ignored() {
    // RULES 3: "Events dated after *now* are ignored (simulation)."
    let mut s = Scenario::new("2025-03-01", "2025-08-01", "2026-03-01");
    s.events.push(ev(1, "2025-08-02", EventKind::CheckinHeld));
    s.events.push(ev(
        2,
        "2025-08-02",
        EventKind::NoticeGiven {
            by: NoticeParty::Body,
        },
    ));
    let cps = s.run();
    assert_eq!(get(&cps, "checkin/y0-w1").status, Status::Upcoming);
    assert!(!has(&cps, "agreement_end"));
    assert_eq!(
        get(&s.at("2025-08-02"), "checkin/y0-w1").status,
        Status::Done
    );
}

#[test]
fn committee_followup_at_the_last_meeting_of_its_span() {
    let mut s = Scenario::new("2025-03-01", "2025-03-01", "2027-06-30");
    s.committee = calendar(&["2026-12-10", "2027-03-01"], 28);
    let cps = s.run();
    let f1 = get(&cps, "committee_followup/f1");
    // RULES 6: "a meeting on the anniversary itself counts"; due at its
    // submission deadline, 1 March 2027 − 28 days = Monday 1 February.
    assert_eq!(
        (f1.meeting, f1.no_meeting, f1.due),
        (Some(d("2027-03-01")), false, d("2027-02-01"))
    );
    let f2 = get(&cps, "committee_followup/f2");
    // RULES 6: the span is "(previous follow-up anniversary, this anniversary]",
    // so 1 March 2027 belongs to f1 only; f2 has no meeting: issue rule 3,
    // "the anniversary minus the submission days, and the checkpoint is flagged".
    assert_eq!(
        (f2.meeting, f2.no_meeting, f2.due),
        (None, true, d("2029-02-01"))
    );
    assert_eq!(
        (f2.period_start, f2.period_end),
        (d("2027-03-02"), d("2029-03-01"))
    );
    // RULES 6b: minutes due `minutes_days` after the planned meeting.
    let m1 = get(&cps, "committee_minutes/committee_followup-f1");
    assert_eq!(
        (m1.parent, m1.due, m1.meeting),
        (Some(Kind::CommitteeFollowup), d("2027-03-15"), f1.meeting)
    );
    assert_eq!(
        (m1.period_start, m1.period_end, &m1.roles),
        (f1.period_start, f1.period_end, &f1.roles)
    );
    // Without a meeting, the minutes count from the anniversary (Thu 15 March 2029).
    assert_eq!(
        get(&cps, "committee_minutes/committee_followup-f2").due,
        d("2029-03-15")
    );
    // Issue rule 3: `committee_followup_years` 0 disables.
    s.policy.committee_followup_years = 0;
    assert!(
        !s.run()
            .iter()
            .any(|c| matches!(c.kind, Kind::CommitteeFollowup | Kind::CommitteeMinutes))
    );
}

#[test]
fn a_committee_without_meetings() {
    let mut s = Scenario::new("2025-01-27", "2025-01-27", "2025-06-30");
    s.committee = calendar(&[], 21);
    let cps = s.run();
    let f1 = get(&cps, "committee_followup/f1");
    // Issue rule 3: "without a configured meeting in that span, the
    // anniversary minus the submission days" (27 Jan 2027 − 21 = Epiphany,
    // 6 Jan), moved back to Tuesday 5 January (issue rule 8), flagged.
    assert_eq!(
        (f1.due, f1.meeting, f1.no_meeting),
        (d("2027-01-05"), None, true)
    );
    let m1 = get(&cps, "committee_minutes/committee_followup-f1");
    assert_eq!((m1.due, m1.no_meeting), (d("2027-02-10"), true));
}

#[test]
fn a_followup_taken_to_a_later_meeting_closes_the_overdue_one() {
    let mut s = Scenario::new("2025-03-01", "2027-05-01", "2027-06-30");
    s.committee = calendar(&["2027-03-01", "2027-04-19"], 28);
    s.events.extend([
        // RULES 1: "a follow-up taken to the first meeting after the
        // anniversary closes that overdue follow-up, not the next one".
        ev(1, "2027-03-20", memo("KBN 2027/31", "2027-04-19")),
        // RULES 1: "a recorded decision belongs to the memo for the same
        // meeting and closes that item's `committee_minutes`".
        ev(
            2,
            "2027-04-19",
            decided("2027-04-19", "§ 45", FollowupDecision::Approved),
        ),
    ]);
    let cps = s.run();
    let f1 = get(&cps, "committee_followup/f1");
    // Due 1 Feb 2027; memo on 20 March: 47 days late.
    assert_eq!(
        (
            f1.status,
            f1.evidence.as_ref().map(|e| (e.event, e.days_late))
        ),
        (Status::Done, Some((1, 47)))
    );
    let m1 = get(&cps, "committee_minutes/committee_followup-f1");
    // RULES 20: the memo names 19 April, so the minutes are due 14 days after
    // it, Monday 3 May (not 15 March after the planned meeting): on time.
    assert_eq!(
        (
            m1.due,
            m1.meeting,
            m1.status,
            m1.evidence.as_ref().map(|e| (e.event, e.days_late))
        ),
        (
            d("2027-05-03"),
            Some(d("2027-04-19")),
            Status::Done,
            Some((2, 0))
        )
    );
    assert_eq!(get(&cps, "committee_followup/f2").evidence, None);
    assert_eq!(
        get(&cps, "committee_minutes/committee_followup-f2").evidence,
        None
    );
}

#[test]
fn committee_items_and_their_minutes() {
    // f1 of a 1 March 2025 start: meeting 1 March 2027, deadline 1 Feb, minutes 15 March.
    let meeting = "2027-03-01";
    let memo = |diarienummer| memo(diarienummer, meeting);
    let decision = |paragraph| decided(meeting, paragraph, FollowupDecision::Approved);
    let rows = [
        // RULES 6b: the memo closes the item; the minutes wait for the §.
        ("2027-02-01", memo("KBN 2027/12"), Some(0), None),
        // RULES 1: "A committee memo after its submission deadline is late,
        // however early the meeting."
        ("2027-02-03", memo("KBN 2027/12"), Some(2), None),
        // RULES 1: "Memos need their diarienummer."
        ("2027-02-01", memo(" "), None, None),
        // RULES 6b: the item is closed "by the decision itself" (on time: it
        // made the planned meeting), and the minutes by its §.
        ("2027-03-01", decision("§ 12"), Some(0), Some(0)),
        // Issue rule 3: "Done only by a committee-follow-up event with meeting
        // date and minute paragraph": no §, no minutes.
        ("2027-03-01", decision(""), Some(0), None),
    ];
    for (on, kind, item_late, minutes_late) in rows {
        let mut s = Scenario::new("2025-03-01", "2027-03-20", "2027-03-20");
        s.committee = calendar(&[meeting, "2027-04-19"], 28);
        s.events.push(ev(1, on, kind));
        let cps = s.run();
        let f1 = get(&cps, "committee_followup/f1");
        let m1 = get(&cps, "committee_minutes/committee_followup-f1");
        assert_eq!((late(f1), late(m1)), (item_late, minutes_late), "{on}");
    }
}

#[test]
fn notice_on_the_31st() {
    let mut s = Scenario::new("2024-01-15", "2026-09-01", "2028-06-30");
    s.committee = calendar(&["2026-09-10", "2026-12-10", "2027-02-25"], 28);
    s.events.push(ev(
        7,
        "2026-08-31",
        EventKind::NoticeGiven {
            by: NoticeParty::Body,
        },
    ));
    let cps = s.run();
    // Issue rule 4: "D + `notice_months` …, clamped to the month's last day":
    // 31 Aug 2026 + 6 months = 28 Feb 2027, a Sunday, never moved (issue rule 8).
    assert_eq!(
        agreement_end(&s.p, &s.events, &s.policy, s.today),
        Some(d("2027-02-28"))
    );
    let rows: [(&str, &str, Option<&str>); 5] = [
        ("agreement_end", "2027-02-28", None),
        // Issue rule 8: payments stop is an action: Sunday → Friday 26 Feb.
        ("payments_stop", "2027-02-26", None),
        // Issue rule 4: 30 days before the end: Friday 29 January.
        ("wind_down_plan/n7", "2027-01-29", None),
        // RULES 7: the last meeting on or before the end (25 Feb), deadline 28 Jan.
        ("termination_decision/n7", "2027-01-28", Some("2027-02-25")),
        // RULES 6b: 14 days after that meeting.
        (
            "committee_minutes/termination_decision-n7",
            "2027-03-11",
            Some("2027-02-25"),
        ),
    ];
    for (key, due, meeting) in rows {
        let cp = get(&cps, key);
        assert_eq!(
            (cp.due, cp.meeting, cp.status),
            (d(due), meeting.map(d), Status::Upcoming),
            "{key}"
        );
        // RULES 10: the notice checkpoints' roles.
        let expected: &[Role] = match cp.kind {
            Kind::PaymentsStop => &[Role::AdminSupport, Role::Officer],
            _ => &[
                Role::Officer,
                Role::Deputy,
                Role::Jurist,
                Role::AdminSupport,
            ],
        };
        assert_eq!(cp.roles, expected, "{key}");
    }
    // RULES 9: started before the end but due after it → cancelled.
    assert_eq!(get(&cps, "checkin/y3-w1").status, Status::Cancelled);
    assert_eq!(get(&cps, "annual_report/y3").status, Status::Cancelled);
    // … due on or before the end stays.
    assert_eq!(get(&cps, "checkin/y2-w2").status, Status::Upcoming);
    // RULES 9: "periods starting on or after the end do not exist".
    assert!(!has(&cps, "checkin/y3-w2"));
    assert!(!has(&cps, "annual_report/y4"));
}

#[test]
fn a_retracted_notice() {
    let mut s = Scenario::new("2024-01-15", "2026-09-01", "2028-06-30");
    s.committee = calendar(&["2026-12-10", "2027-02-25"], 28);
    s.events.push(ev(
        7,
        "2026-08-31",
        EventKind::NoticeGiven {
            by: NoticeParty::Partner,
        },
    ));
    let given = s.run();
    s.events.push(ev(
        8,
        "2026-09-01",
        EventKind::Retraction {
            event: 7,
            reason: String::new(),
        },
    ));
    let cps = s.run();
    // RULES 9: "A retracted notice: its own checkpoints become `cancelled` …"
    for key in [
        "termination_decision/n7",
        "committee_minutes/termination_decision-n7",
        "wind_down_plan/n7",
        "payments_stop",
        "agreement_end",
    ] {
        assert_eq!(get(&cps, key).status, Status::Cancelled, "{key}");
        assert_eq!(get(&cps, key).due, get(&given, key).due, "{key}");
    }
    // "… and the recurring ones come back."
    assert_eq!(get(&cps, "checkin/y3-w1").status, Status::Upcoming);
    assert!(has(&cps, "checkin/y3-w2"));
    assert_eq!(
        agreement_end(&s.p, &s.events_retracted(), &s.policy, s.today),
        None
    );
}

impl Scenario {
    fn events_retracted(&self) -> Vec<Event> {
        let mut events = self.events.clone();
        apply_retractions(&mut events);
        events
    }
}

#[test]
fn several_notices_the_earliest_end_wins() {
    let mut s = Scenario::new("2024-01-15", "2026-05-01", "2027-06-30");
    s.events.push(ev(
        5,
        "2026-03-15",
        EventKind::NoticeGiven {
            by: NoticeParty::Partner,
        },
    ));
    s.events.push(ev(
        6,
        "2026-04-10",
        EventKind::NoticeGiven {
            by: NoticeParty::Body,
        },
    ));
    let cps = s.run();
    // RULES 8: "Several notices: the earliest end wins" (15 Mar + 6 months).
    assert_eq!(get(&cps, "agreement_end").due, d("2026-09-15"));
    assert_eq!(
        get(&cps, "termination_decision/n5").status,
        Status::Upcoming
    );
    // The later notice's checkpoints would duplicate the first's.
    assert_eq!(
        get(&cps, "termination_decision/n6").status,
        Status::Cancelled
    );
    assert_eq!(get(&cps, "wind_down_plan/n6").status, Status::Cancelled);
    // Issue rule 4: `notice_months` "per partnership": 3 months here.
    s.p.notice_months = Some(3);
    assert_eq!(
        agreement_end(&s.p, &s.events, &s.policy, s.today),
        Some(d("2026-06-15"))
    );
}

#[test]
fn fixed_term_extension_and_notice() {
    let mut s = Scenario::new("2024-01-01", "2026-06-01", "2027-06-30");
    s.p.end = Some(d("2026-12-31"));
    s.events
        .push(ev(3, "2026-05-20", EventKind::ExpiryEvaluationHeld));
    let cps = s.run();
    let rows = [
        // Issue rule 5: `expiry_evaluation` "6 months before the end".
        ("expiry_evaluation", "2026-06-30", Status::Done),
        // RULES 8: "A fixed-term end also creates `payments_stop`" (New Year's Eve → 30 Dec).
        ("payments_stop", "2026-12-30", Status::Upcoming),
        ("agreement_end", "2026-12-31", Status::Upcoming),
    ];
    for (key, due, status) in rows {
        assert_eq!(
            (get(&cps, key).due, get(&cps, key).status),
            (d(due), status),
            "{key}"
        );
    }

    // RULES 8: "An extension moves the same `expiry_evaluation`,
    // `payments_stop` and `agreement_end` (same keys) …; an evaluation counts
    // only if dated after the last extension."
    s.events.push(ev(
        4,
        "2026-09-01",
        EventKind::AgreementExtended {
            new_end: d("2027-12-31"),
        },
    ));
    let extended = s.at("2026-09-01");
    let rows = [
        ("expiry_evaluation", "2027-06-30", Status::Upcoming),
        ("payments_stop", "2027-12-30", Status::Upcoming),
        ("agreement_end", "2027-12-31", Status::Upcoming),
    ];
    for (key, due, status) in rows {
        let cp = get(&extended, key);
        assert_eq!(
            (cp.due, cp.status, cp.evidence.is_some()),
            (d(due), status, false),
            "{key}"
        );
    }
    assert_eq!(
        extended
            .iter()
            .filter(|c| c.kind == Kind::AgreementEnd)
            .count(),
        1
    );

    // RULES 8: "A fixed-term agreement that gets notice ends at the earlier of the two."
    s.events.push(ev(
        9,
        "2027-01-20",
        EventKind::NoticeGiven {
            by: NoticeParty::Body,
        },
    ));
    let noticed = s.at("2027-02-01");
    assert_eq!(get(&noticed, "agreement_end").due, d("2027-07-20"));
    assert_eq!(get(&noticed, "payments_stop").due, d("2027-07-20"));
    assert_eq!(
        get(&noticed, "termination_decision/n9").status,
        Status::Upcoming
    );
    // Due 30 June, before the new end: still wanted.
    assert_eq!(get(&noticed, "expiry_evaluation").status, Status::Upcoming);
}

#[test]
fn a_notice_that_ends_after_the_fixed_term_changes_nothing() {
    let mut s = Scenario::new("2024-01-01", "2026-10-01", "2027-06-30");
    s.p.end = Some(d("2026-12-31"));
    s.events.push(ev(
        2,
        "2026-10-01",
        EventKind::NoticeGiven {
            by: NoticeParty::Partner,
        },
    ));
    let cps = s.run();
    // RULES 8: the earlier of the two: the fixed term (notice would end 1 April 2027).
    assert_eq!(get(&cps, "agreement_end").due, d("2026-12-31"));
    assert_eq!(
        get(&cps, "termination_decision/n2").status,
        Status::Cancelled
    );
}

#[test]
fn annual_anchor() {
    let mut s = Scenario::new("2025-03-01", "2026-05-01", "2028-03-01");
    s.policy.annual_anchor = Some(MonthDay::parse("06-30").unwrap());
    s.events.push(ev(
        1,
        "2026-04-20",
        EventKind::AnnualReportReceived {
            diarienummer: "RS 2026/88".into(),
            document: None,
        },
    ));
    let cps = s.run();
    let rows = [
        // RULES 8: "year *k*'s annual items are due on the first anchor date on
        // or after the end of agreement year *k*": year 0 ends 28 Feb 2026.
        ("annual_report/y0", "2026-06-30"),
        ("annual_evaluation/y0", "2026-06-30"),
        ("annual_report/y1", "2027-06-30"),
        // 30 June 2029 is a Saturday (issue rule 8) → Friday 29 June.
        ("annual_evaluation/y3", "2029-06-29"),
    ];
    for (key, due) in rows {
        assert_eq!(get(&cps, key).due, d(due), "{key}");
    }
    // RULES 1: on or before the due date is on time, though after the year ended.
    assert_eq!(late(get(&cps, "annual_report/y0")), Some(0));
    assert_eq!(get(&cps, "annual_evaluation/y0").status, Status::Upcoming);
    // Issue rule 2: the annual report must be registered (diarienummer required).
    s.events[0].kind = EventKind::AnnualReportReceived {
        diarienummer: String::new(),
        document: None,
    };
    assert_eq!(late(get(&s.run(), "annual_report/y0")), None);
}

#[test]
fn committee_decisions_that_create_work() {
    let mut s = Scenario::new("2025-03-01", "2027-05-01", "2027-06-30");
    s.committee = calendar(&["2026-11-19", "2027-04-26"], 28);
    let amount = Amount::from_ore(150_000_000).unwrap();
    s.events.extend([
        ev(
            21,
            "2026-11-19",
            decided(
                "2026-11-19",
                "§ 80",
                FollowupDecision::AmountChanged {
                    amount,
                    from: d("2027-01-01"),
                },
            ),
        ),
        ev(
            20,
            "2027-04-26",
            decided("2027-04-26", "§ 31", FollowupDecision::Renegotiation),
        ),
        ev(22, "2026-12-28", EventKind::PaymentChanged),
    ]);
    let cps = s.run();
    let sign = get(&cps, "renegotiated_agreement_signed/e20");
    // RULES 7: "60 days after the decision's meeting date": 26 April + 60 =
    // Midsummer Eve, 25 June 2027 → Thursday 24 June (issue rule 8).
    assert_eq!(
        (sign.due, sign.status, sign.meeting),
        (d("2027-06-24"), Status::Upcoming, Some(d("2027-04-26")))
    );
    let change = get(&cps, "payment_change/e21");
    // RULES 7: "the last working day before the new amount starts": 1 Jan 2027
    // → over New Year's Eve to Wednesday 30 December.
    assert_eq!(
        (change.due, change.status, late(change)),
        (d("2026-12-30"), Status::Done, Some(0))
    );
    // RULES 10: "`payments_stop` and `payment_change` are administrativt stöd's,
    // with the officer in copy".
    assert_eq!(change.roles, [Role::AdminSupport, Role::Officer]);
    // A retracted decision's checkpoint is cancelled, like a retracted notice's.
    s.events.push(ev(
        23,
        "2027-04-30",
        EventKind::Retraction {
            event: 20,
            reason: String::new(),
        },
    ));
    assert_eq!(
        get(&s.run(), "renegotiated_agreement_signed/e20").status,
        Status::Cancelled
    );
}

#[test]
fn termination_decision_without_a_usable_meeting() {
    let mut s = Scenario::new("2024-01-15", "2026-03-10", "2026-12-31");
    // The only meeting's deadline (20 Feb) is before the notice date.
    s.committee = calendar(&["2026-03-20"], 28);
    s.events.push(ev(
        3,
        "2026-03-10",
        EventKind::NoticeGiven {
            by: NoticeParty::Body,
        },
    ));
    let cps = s.run();
    let t = get(&cps, "termination_decision/n3");
    // RULES 7: "with no such meeting: end minus submission days, flagged
    // `no_meeting`": 10 Sep 2026 − 28 = 13 August.
    assert_eq!(
        (t.due, t.meeting, t.no_meeting),
        (d("2026-08-13"), None, true)
    );
    assert_eq!(
        get(&cps, "committee_minutes/termination_decision-n3").due,
        d("2026-09-24")
    );
    // RULES 6b for terminations: memo and decision close item and minutes.
    s.events.push(ev(
        4,
        "2026-08-10",
        EventKind::TerminationSubmitted {
            diarienummer: "KBN 2026/70".into(),
            meeting: d("2026-09-03"),
        },
    ));
    s.events.push(ev(
        5,
        "2026-09-03",
        EventKind::TerminationDecided {
            meeting: d("2026-09-03"),
            paragraph: "§ 61".into(),
        },
    ));
    let cps = s.at("2026-09-04");
    assert_eq!(late(get(&cps, "termination_decision/n3")), Some(0));
    assert_eq!(
        late(get(&cps, "committee_minutes/termination_decision-n3")),
        Some(0)
    );
}

#[test]
fn every_end_checkpoint_can_be_closed() {
    let mut s = Scenario::new("2024-01-01", "2026-12-30", "2027-06-30");
    s.p.end = Some(d("2026-12-31"));
    // RULES 2: "Add the events `payments-stopped` and `payment-changed`".
    s.events
        .push(ev(1, "2026-12-30", EventKind::PaymentsStopped));
    let cps = s.run();
    assert_eq!(get(&cps, "payments_stop").status, Status::Done);
    // RULES 2: `agreement_end` "upcoming before its date, done on it; it is never overdue".
    assert_eq!(get(&cps, "agreement_end").status, Status::Upcoming);
    assert_eq!(
        get(&s.at("2026-12-31"), "agreement_end").status,
        Status::Done
    );
    assert_eq!(
        get(&s.at("2027-04-01"), "agreement_end").status,
        Status::Done
    );
}

#[test]
fn roles_per_kind() {
    use Role::*;
    let officer: &[Role] = &[Officer, Deputy];
    let notice: &[Role] = &[Officer, Deputy, Jurist, AdminSupport];
    let payments: &[Role] = &[AdminSupport, Officer];
    let rows: [(Kind, Option<Kind>, &[Role]); 13] = [
        (Kind::Checkin, None, officer),
        (Kind::AnnualReport, None, officer),
        (Kind::AnnualEvaluation, None, officer),
        (Kind::CommitteeFollowup, None, officer),
        // RULES 6b: minutes have "same roles" as their item.
        (
            Kind::CommitteeMinutes,
            Some(Kind::CommitteeFollowup),
            officer,
        ),
        (
            Kind::CommitteeMinutes,
            Some(Kind::TerminationDecision),
            notice,
        ),
        (Kind::ExpiryEvaluation, None, officer),
        (Kind::RenegotiatedAgreementSigned, None, officer),
        // RULES 10: "The notice checkpoints (`termination_decision`,
        // `wind_down_plan`, and `agreement_end` however the agreement ends) go
        // to the officer, jurist and administrativt stöd".
        (Kind::TerminationDecision, None, notice),
        (Kind::WindDownPlan, None, notice),
        (Kind::AgreementEnd, None, notice),
        // RULES 10: "`payments_stop` and `payment_change` are administrativt
        // stöd's, with the officer in copy".
        (Kind::PaymentsStop, None, payments),
        (Kind::PaymentChange, None, payments),
    ];
    for (kind, parent, expected) in rows {
        assert_eq!(rules::roles(kind, parent), expected, "{kind:?}");
    }
}

#[test]
fn who_is_responsible_on_a_date() {
    let p = partnership("2024-01-01");
    let new = Email::parse("cecilia@example.org").unwrap();
    let mut events = vec![
        ev(
            1,
            "2026-04-20",
            EventKind::OfficerAbsent {
                from: d("2026-04-01"),
                to: d("2026-05-15"),
            },
        ),
        ev(
            2,
            "2026-04-25",
            EventKind::OfficerReplaced {
                name: "Cecilia Ek".into(),
                email: new.clone(),
                from: d("2026-05-01"),
            },
        ),
        ev(
            3,
            "2026-06-01",
            EventKind::OfficerAbsent {
                from: d("2026-06-10"),
                to: d("2026-06-20"),
            },
        ),
        ev(
            4,
            "2026-06-02",
            EventKind::OfficerAbsent {
                from: d("2026-07-01"),
                to: d("2026-07-31"),
            },
        ),
        ev(
            5,
            "2026-06-03",
            EventKind::Retraction {
                event: 4,
                reason: String::new(),
            },
        ),
    ];
    apply_retractions(&mut events);
    let anna = Email::parse("anna@example.org").unwrap();
    let bo = Email::parse("bo@example.org").unwrap();
    let rows = [
        // Issue rule 7: "the officer on that date (replacement events)".
        ("2026-03-31", &anna, false, &anna),
        // "… the deputy while the officer is recorded absent".
        ("2026-04-30", &anna, true, &bo),
        // The replacement takes over from its `from` date; Anna's absence is hers.
        ("2026-05-01", &new, false, &new),
        ("2026-06-10", &new, true, &bo),
        ("2026-06-20", &new, true, &bo),
        ("2026-06-21", &new, false, &new),
        // A retracted absence does not count.
        ("2026-07-10", &new, false, &new),
    ];
    for (on, officer, absent, acting) in rows {
        let r = responsible_on(&p, &events, d(on));
        assert_eq!(
            (&r.officer.email, r.officer_absent, r.acting()),
            (officer, absent, acting),
            "{on}"
        );
        assert_eq!(r.deputy.as_ref(), Some(&bo));
    }
    // RULES 10: "Officer absent and no deputy: the officer still gets it".
    let mut alone = p.clone();
    alone.deputy = None;
    assert_eq!(
        responsible_on(&alone, &events, d("2026-04-30")).acting(),
        &anna
    );
}

#[test]
fn output_is_sorted_by_due_then_key() {
    let mut s = Scenario::new("2025-03-01", "2025-03-01", "2027-06-30");
    s.policy.annual_anchor = None;
    let cps = s.run();
    // Issue 3 (engine brief): sorted by (due, key); annual report and
    // evaluation share a due date, so the key decides.
    assert!(
        cps.windows(2)
            .all(|w| (w[0].due, &w[0].key) < (w[1].due, &w[1].key))
    );
    let y0: Vec<&str> = cps
        .iter()
        .filter(|c| c.due == d("2026-02-27"))
        .map(|c| c.key.as_str())
        .collect();
    assert_eq!(
        y0,
        [
            "P1/annual_evaluation/y0",
            "P1/annual_report/y0",
            "P1/checkin/y0-w2"
        ]
    );
}

#[test]
fn missed_and_waived() {
    use Status::*;
    // Windows of a 1 March 2025 start as in the RULES 16 table; annual_report/y0
    // is due Friday 27 Feb 2026.
    let run = |today: &str, events: Vec<Event>| {
        let mut s = Scenario::new("2025-03-01", today, "2027-03-01");
        s.events = events;
        s.run()
    };
    let status = |cps: &[Checkpoint], key: &str| get(cps, key).status;
    // RULES 17: "An open check-in window becomes `missed` as soon as a check-in
    // dated in a later window is recorded"; the day before, it was overdue.
    let checkin = ev(1, "2025-10-15", EventKind::CheckinHeld);
    assert_eq!(
        status(&run("2025-11-01", vec![checkin.clone()]), "checkin/y0-w1"),
        Missed
    );
    assert_eq!(
        status(&run("2025-10-14", vec![checkin.clone()]), "checkin/y0-w1"),
        Overdue
    );
    // RULES 17: "Retracting the later check-in … reopens the checkpoint."
    let retracted = vec![
        checkin.clone(),
        ev(
            2,
            "2025-10-20",
            EventKind::Retraction {
                event: 1,
                reason: String::new(),
            },
        ),
    ];
    assert_eq!(
        status(&run("2025-11-01", retracted), "checkin/y0-w1"),
        Overdue
    );
    // RULES 17 details: "A `missed` window stays open to evidence": named for
    // it, a check-in closes it late (1 Nov − 29 Aug = 64 days).
    let cps = run(
        "2025-11-02",
        vec![
            checkin.clone(),
            ev(2, "2025-11-01", EventKind::CheckinHeld).aimed("checkin/y0-w1"),
        ],
    );
    assert_eq!(
        (
            status(&cps, "checkin/y0-w1"),
            late(get(&cps, "checkin/y0-w1"))
        ),
        (Done, Some(64))
    );
    // RULES 17: IOP-ansvarig "can close any open checkpoint as `waived` with a
    // reason"; retracting the waiver reopens it.
    let waiver = ev(
        1,
        "2026-03-10",
        waived("Årsredovisningen ersätts av revisionen"),
    )
    .aimed("annual_report/y0");
    let cps = run("2026-03-20", vec![waiver.clone()]);
    let report = get(&cps, "annual_report/y0");
    assert_eq!(report.status, Waived);
    assert_eq!(
        report.waiver.as_ref().map(|w| (w.event, w.reason.as_str())),
        Some((1, "Årsredovisningen ersätts av revisionen"))
    );
    let undone = vec![
        waiver.clone(),
        ev(
            2,
            "2026-03-11",
            EventKind::Retraction {
                event: 1,
                reason: String::new(),
            },
        ),
    ];
    assert_eq!(
        status(&run("2026-03-20", undone), "annual_report/y0"),
        Overdue
    );
    // RULES 17 details: "evidence recorded after it finds that checkpoint
    // closed (… an untargeted one passes it by)": the check-in dated in the
    // waived window closes nothing (no open earlier window).
    let cps = run(
        "2025-07-01",
        vec![
            ev(1, "2025-06-01", waived("Partnern bytte ordförande")).aimed("checkin/y0-w1"),
            ev(2, "2025-05-05", EventKind::CheckinHeld),
        ],
    );
    assert_eq!(
        (
            status(&cps, "checkin/y0-w1"),
            get(&cps, "checkin/y0-w1").evidence.clone()
        ),
        (Waived, None)
    );
    // RULES 17: "An open check-in window becomes `missed`": a waived one is
    // closed and stays waived when a later check-in comes.
    let cps = run(
        "2025-11-01",
        vec![
            ev(1, "2025-09-10", waived("Partnern bytte ordförande")).aimed("checkin/y0-w1"),
            checkin,
        ],
    );
    assert_eq!(status(&cps, "checkin/y0-w1"), Waived);
}

#[test]
fn a_waiver_closes_an_untracked_checkpoint_too() {
    // RULES 17 details: "A waiver closes any open checkpoint, `before_tracking`
    // ones included."
    let mut s = Scenario::new("2024-03-01", "2026-01-15", "2026-03-01");
    s.policy.tracking_start = d("2026-01-01");
    assert_eq!(
        get(&s.run(), "checkin/y0-w1").status,
        Status::BeforeTracking
    );
    s.events
        .push(ev(1, "2026-01-10", waived("Före iopd")).aimed("checkin/y0-w1"));
    assert_eq!(get(&s.run(), "checkin/y0-w1").status, Status::Waived);
}

#[test]
fn before_tracking_is_not_a_failure() {
    // f1 of a 1 March 2025 start: meeting 1 March 2027, deadline Monday 1 Feb,
    // minutes due 15 March; f2 at the 19 April meeting, deadline 22 March.
    let scenario = |today: &str| {
        let mut s = Scenario::new("2025-03-01", today, "2027-06-30");
        s.committee = calendar(&["2027-03-01", "2027-04-19"], 28);
        s.policy.tracking_start = d("2027-02-10");
        s
    };
    let s = scenario("2027-03-20");
    let cps = s.run();
    use Status::*;
    // RULES 18: "A `committee_minutes` checkpoint whose parent item is
    // `before_tracking` is `before_tracking` too" (was overdue since 15 March).
    assert_eq!(get(&cps, "committee_followup/f1").status, BeforeTracking);
    assert_eq!(
        get(&cps, "committee_minutes/committee_followup-f1").status,
        BeforeTracking
    );
    // RULES 18: a window due before tracking started is never missed.
    let mut s = Scenario::new("2025-03-01", "2025-11-01", "2026-03-01");
    s.policy.tracking_start = d("2025-09-01");
    s.events.push(ev(1, "2025-10-15", EventKind::CheckinHeld));
    assert_eq!(get(&s.run(), "checkin/y0-w1").status, BeforeTracking);
}

#[test]
fn a_decision_without_a_memo() {
    use Status::*;
    let mut s = Scenario::new("2025-03-01", "2027-05-01", "2027-06-30");
    s.committee = calendar(&["2027-03-01", "2027-04-19"], 28);
    s.policy.tracking_start = d("2027-02-10");
    s.events.push(ev(
        1,
        "2027-04-19",
        decided("2027-04-19", "§ 45", FollowupDecision::Approved),
    ));
    let cps = s.run();
    let state = |key: &str| {
        let cp = get(&cps, key);
        (
            cp.status,
            cp.evidence.as_ref().map(|e| (e.event, e.days_late)),
        )
    };
    // RULES 19: "closes the oldest open committee item … and that item's
    // `committee_minutes`, never the minutes of an item that is
    // `before_tracking`" (the independent rules' one real disagreement).
    assert_eq!(
        state("committee_minutes/committee_followup-f1"),
        (BeforeTracking, None)
    );
    // f2: deadline 22 March = the 19 April meeting's, so on time; its minutes
    // are due 3 May.
    assert_eq!(state("committee_followup/f2"), (Done, Some((1, 0))));
    assert_eq!(
        state("committee_minutes/committee_followup-f2"),
        (Done, Some((1, 0)))
    );
}

#[test]
fn minutes_follow_the_memo_meeting() {
    let mut s = Scenario::new("2025-03-01", "2027-03-20", "2027-06-30");
    s.committee = calendar(&["2027-03-01", "2027-04-19"], 28);
    let minutes = "committee_minutes/committee_followup-f1";
    // #6b: without a memo, 14 days after the planned meeting (1 March).
    assert_eq!(get(&s.run(), minutes).due, d("2027-03-15"));
    // RULES 20: "When the memo names a meeting, `committee_minutes` is due
    // `minutes_days` after that meeting": 19 April + 14 = Monday 3 May, so
    // they are not overdue on 20 March.
    s.events
        .push(ev(1, "2027-03-18", memo("KBN 2027/31", "2027-04-19")));
    let cps = s.run();
    let m = get(&cps, minutes);
    assert_eq!((m.due, m.status), (d("2027-05-03"), Status::Upcoming));
    // "moved back to a working day": 11 April 2027 + 14 = Sunday 25 April → Friday 23.
    s.events[0].kind = memo("KBN 2027/31", "2027-04-11");
    assert_eq!(get(&s.run(), minutes).due, d("2027-04-23"));
}

#[test]
fn evidence_named_for_its_checkpoint() {
    use Status::*;
    let mut s = Scenario::new("2025-03-01", "2025-11-01", "2027-12-31");
    // RULES 15: "closes exactly that checkpoint, if it is open and the evidence
    // fits it (a check-in dated inside or after its window's start)": window 1,
    // 47 days late (15 Oct − 29 Aug), and window 2 stays open.
    let for_w1 = ev(1, "2025-10-15", EventKind::CheckinHeld).aimed("checkin/y0-w1");
    assert_eq!(s.unfit(for_w1.clone()), None);
    s.events.push(for_w1);
    let cps = s.run();
    assert_eq!(
        (
            get(&cps, "checkin/y0-w1").status,
            late(get(&cps, "checkin/y0-w1"))
        ),
        (Done, Some(47))
    );
    assert_eq!(get(&cps, "checkin/y0-w2").status, Upcoming);
    let rows = [
        // RULES 15: "otherwise it is refused with a message that names the
        // checkpoint and why": a window that has not started …
        (
            ev(2, "2025-10-20", EventKind::CheckinHeld).aimed("checkin/y1-w1"),
            Some(Unfit::BeforePeriod(Kind::Checkin, d("2026-03-01"))),
        ),
        // … one that is not open …
        (
            ev(2, "2025-10-20", EventKind::CheckinHeld).aimed("checkin/y0-w1"),
            Some(Unfit::Closed(Kind::Checkin, Done)),
        ),
        // … evidence of another kind, and a key that does not exist.
        (
            ev(2, "2025-10-20", EventKind::AnnualEvaluationHeld).aimed("checkin/y0-w2"),
            Some(Unfit::WrongKind(Kind::Checkin)),
        ),
        (
            ev(2, "2025-10-20", EventKind::CheckinHeld).aimed("checkin/y9-w1"),
            Some(Unfit::Unknown),
        ),
        (
            ev(2, "2025-10-20", EventKind::CheckinHeld).aimed("checkin/y0-w2"),
            None,
        ),
    ];
    for (e, want) in rows {
        assert_eq!(s.unfit(e.clone()), want, "{:?}", e.target);
    }
    // RULES 17 details: a missed window takes evidence, not a waiver.
    let mut s = Scenario::new("2025-03-01", "2025-11-01", "2027-12-31");
    s.events.push(ev(1, "2025-10-15", EventKind::CheckinHeld));
    assert_eq!(
        s.unfit(ev(2, "2025-10-20", waived("x")).aimed("checkin/y0-w1")),
        Some(Unfit::Closed(Kind::Checkin, Missed))
    );
    assert_eq!(
        s.unfit(ev(2, "2025-10-20", EventKind::CheckinHeld).aimed("checkin/y0-w1")),
        None
    );
}

#[test]
fn committee_evidence_named_for_its_checkpoint() {
    use Status::*;
    let mut s = Scenario::new("2025-03-01", "2027-04-01", "2027-12-31");
    s.committee = calendar(&["2027-03-01", "2027-04-19"], 28);
    // RULES 15: a memo named for f2 closes f2 although f1 is overdue (RULES 1
    // would have closed f1).
    s.events.push(
        ev(1, "2027-03-20", memo("KBN 2027/40", "2027-04-19")).aimed("committee_followup/f2"),
    );
    let cps = s.run();
    assert_eq!(get(&cps, "committee_followup/f1").status, Overdue);
    assert_eq!(get(&cps, "committee_followup/f2").status, Done);
    // RULES 15: a decision fits when "dated on or after the memo's meeting".
    let minutes = "committee_minutes/committee_followup-f2";
    s.today = d("2027-05-01");
    assert_eq!(
        s.unfit(
            ev(
                2,
                "2027-04-01",
                decided("2027-03-15", "§ 9", FollowupDecision::Approved)
            )
            .aimed(minutes)
        ),
        Some(Unfit::BeforeMemoMeeting(
            Kind::CommitteeMinutes,
            d("2027-04-19")
        ))
    );
    let decision = ev(
        2,
        "2027-04-20",
        decided("2027-04-19", "§ 45", FollowupDecision::Approved),
    )
    .aimed(minutes);
    assert_eq!(s.unfit(decision.clone()), None);
    s.events.push(decision);
    let cps = s.run();
    assert_eq!(get(&cps, minutes).status, Done);
    assert_eq!(
        get(&cps, "committee_minutes/committee_followup-f1").status,
        Overdue
    );
}

/// Örebro kommun's numbers: one follow-up a year, no separate evaluation,
/// the six yearly documents.
fn orebro(s: &mut Scenario) {
    s.policy.checkins_per_year = CheckinsPerYear::new(1).unwrap();
    s.policy.committee_followup_years = 0;
    s.policy.annual_evaluation = false;
    s.policy.yearly_documents = crate::domain::YearlyDocument::ALL.to_vec();
}

fn document(dnr: &str, doc: Option<crate::domain::YearlyDocument>) -> EventKind {
    EventKind::AnnualReportReceived {
        diarienummer: dnr.into(),
        document: doc,
    }
}

#[test]
fn orebro_has_one_yearly_follow_up_and_no_evaluation_or_committee_item() {
    let mut s = Scenario::new("2025-03-01", "2026-01-10", "2027-02-28");
    orebro(&mut s);
    let cps = s.run();
    let kinds: Vec<Kind> = cps.iter().map(|c| c.kind).collect();
    assert!(!kinds.contains(&Kind::AnnualEvaluation), "{kinds:?}");
    assert!(!kinds.contains(&Kind::CommitteeFollowup), "{kinds:?}");
    // One window per agreement year, the whole year long.
    let y0 = get(&cps, "checkin/y0-w1");
    assert_eq!(
        (y0.period_start, y0.due),
        (d("2025-03-01"), d("2026-02-27"))
    );
    assert!(cps.iter().all(|c| c.key != "P1/checkin/y0-w2"));
    let docs = get(&cps, "annual_report/y0").documents.as_ref().unwrap();
    assert_eq!(docs.missing.len(), 6);
}

#[test]
fn yearly_documents_close_the_item_only_when_all_are_registered() {
    use crate::domain::YearlyDocument::*;
    let mut s = Scenario::new("2025-03-01", "2026-04-20", "2026-12-31");
    orebro(&mut s);
    s.events.push(ev(
        1,
        "2026-02-10",
        document("KS 2026/1", Some(Arsmotesprotokoll)),
    ));
    s.events.push(ev(
        2,
        "2026-02-11",
        document("KS 2026/2", Some(Revisionsberattelse)),
    ));
    let cps = s.run();
    let cp = get(&cps, "annual_report/y0");
    assert_eq!(cp.status, Status::Overdue, "four are still missing");
    let docs = cp.documents.as_ref().unwrap();
    assert_eq!(
        docs.missing,
        vec![
            Verksamhetsberattelse,
            EkonomiskBerattelse,
            Verksamhetsplan,
            Medlemsantal
        ]
    );
    assert_eq!(docs.received.len(), 2);
    assert_eq!(docs.received[1].diarienummer, "KS 2026/2");
    // The same document again goes to the next year, not this one.
    s.events.push(ev(
        3,
        "2026-03-05",
        document("KS 2026/3", Some(Arsmotesprotokoll)),
    ));
    let cps = s.run();
    assert_eq!(
        get(&cps, "annual_report/y0")
            .documents
            .as_ref()
            .unwrap()
            .received
            .len(),
        2
    );
    assert_eq!(
        get(&cps, "annual_report/y1")
            .documents
            .as_ref()
            .unwrap()
            .received
            .len(),
        1
    );
    // One registration without a document stands for every one still missing:
    // done on that date, late by its distance from the due date.
    s.events
        .push(ev(4, "2026-04-15", document("KS 2026/9", None)));
    let cps = s.run();
    let cp = get(&cps, "annual_report/y0");
    assert_eq!(cp.status, Status::Done);
    assert_eq!(
        cp.evidence.as_ref().map(|e| (e.event, e.days_late)),
        Some((4, 47))
    );
    assert!(cp.documents.as_ref().unwrap().missing.is_empty());
    assert_eq!(cp.documents.as_ref().unwrap().received.len(), 6);
    // Under Region Värmland's guideline any registration closes it at once.
    let mut v = Scenario::new("2025-03-01", "2026-04-20", "2026-12-31");
    v.events.push(ev(
        1,
        "2026-02-10",
        document("KS 2026/1", Some(Arsmotesprotokoll)),
    ));
    let cps = v.run();
    assert_eq!(get(&cps, "annual_report/y0").status, Status::Done);
    assert!(get(&cps, "annual_report/y0").documents.is_none());
}

#[test]
fn a_document_named_for_its_checkpoint_is_refused_twice() {
    use crate::domain::YearlyDocument::*;
    let mut s = Scenario::new("2025-03-01", "2026-04-20", "2026-12-31");
    orebro(&mut s);
    let key = "annual_report/y0";
    let first = ev(1, "2026-02-10", document("KS 2026/1", Some(Medlemsantal))).aimed(key);
    assert_eq!(s.unfit(first.clone()), None, "one document of six fits");
    s.events.push(first);
    let again = ev(2, "2026-02-11", document("KS 2026/2", Some(Medlemsantal))).aimed(key);
    assert_eq!(s.unfit(again), Some(Unfit::AlreadyRegistered(Medlemsantal)));
    let other = ev(
        2,
        "2026-02-11",
        document("KS 2026/2", Some(Verksamhetsplan)),
    )
    .aimed(key);
    assert_eq!(s.unfit(other), None);
}
