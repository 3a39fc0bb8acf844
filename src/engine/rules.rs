//! Which checkpoints exist and when each is due: one function per rule.

use std::fmt;
use std::ops::Range;

use chrono::{Datelike, Days, NaiveDate};

use crate::calendar::{add_months, anniversary, last_day_of_month, working_day_on_or_before};
use crate::domain::{CheckinsPerYear, Event, EventKind, FollowupDecision, MonthDay, Partnership};

use super::ending::{Ending, minus_months};
use super::{Checkpoint, CommitteeCalendar, Kind, Policy, Role, Status};

/// No agreement runs for centuries; bounds the loops against an absurd horizon.
const MAX_YEARS: i32 = 200;

/// Day counts beyond this (about 270 years) are configuration mistakes;
/// clamping keeps every date inside chrono's range.
const MAX_DAYS: u32 = 100_000;

/// `d` plus `n` days (clamped to [`MAX_DAYS`]).
pub(super) fn plus_days(d: NaiveDate, n: u32) -> NaiveDate {
    d.checked_add_days(Days::new(n.min(MAX_DAYS).into()))
        .unwrap_or(NaiveDate::MAX)
}

/// `d` minus `n` days (clamped to [`MAX_DAYS`]).
pub(super) fn minus_days(d: NaiveDate, n: u32) -> NaiveDate {
    d.checked_sub_days(Days::new(n.min(MAX_DAYS).into()))
        .unwrap_or(NaiveDate::MIN)
}

/// A submission deadline: issue rule 3, "meeting date minus the committee's
/// submission days", moved back to a working day (issue rule 8).
pub fn submission_deadline(meeting: NaiveDate, submission_days: u32) -> NaiveDate {
    working_day_on_or_before(minus_days(meeting, submission_days))
}

/// RULES 10: who a checkpoint of `kind` is for. The notice checkpoints go to
/// the officer, jurist and administrativt stöd; payments are administrativt
/// stöd's with the officer in copy; everything else is the officer's (the
/// deputy covers while the officer is absent, and once overdue).
pub(super) fn roles(kind: Kind, parent: Option<Kind>) -> &'static [Role] {
    const OFFICER: &[Role] = &[Role::Officer, Role::Deputy];
    const NOTICE: &[Role] = &[
        Role::Officer,
        Role::Deputy,
        Role::Jurist,
        Role::AdminSupport,
    ];
    const PAYMENTS: &[Role] = &[Role::AdminSupport, Role::Officer];
    match kind {
        Kind::TerminationDecision | Kind::WindDownPlan | Kind::AgreementEnd => NOTICE,
        Kind::PaymentsStop | Kind::PaymentChange => PAYMENTS,
        // RULES 6b: "same period, same roles" as its item.
        Kind::CommitteeMinutes => match parent {
            Some(Kind::TerminationDecision) => NOTICE,
            _ => OFFICER,
        },
        Kind::Checkin
        | Kind::AnnualReport
        | Kind::AnnualEvaluation
        | Kind::CommitteeFollowup
        | Kind::ExpiryEvaluation
        | Kind::RenegotiatedAgreementSigned => OFFICER,
    }
}

/// A rough count, to allocate the output once.
pub(super) fn estimate(start: NaiveDate, horizon: NaiveDate, n: CheckinsPerYear) -> usize {
    let years = (horizon.year() - start.year() + 2).clamp(1, MAX_YEARS) as usize;
    years * (n.get() as usize + 4) + 8
}

fn key(p: &Partnership, kind: Kind, period: fmt::Arguments) -> String {
    format!("{}/{}/{}", p.id, kind.name(), period)
}

fn single_key(p: &Partnership, kind: Kind) -> String {
    format!("{}/{}", p.id, kind.name())
}

/// A checkpoint with its period; status, evidence and meeting are filled in later.
fn checkpoint(
    p: &Partnership,
    kind: Kind,
    key: String,
    period: (NaiveDate, NaiveDate),
    due: NaiveDate,
) -> Checkpoint {
    Checkpoint {
        key,
        partnership: p.id.clone(),
        kind,
        parent: None,
        period_start: period.0,
        period_end: period.1,
        exists_from: period.0,
        due,
        status: Status::Upcoming,
        evidence: None,
        waiver: None,
        meeting: None,
        no_meeting: false,
        roles: roles(kind, None).to_vec(),
        documents: None,
    }
}

fn cancel_if(mut cp: Checkpoint, cancelled: bool) -> Checkpoint {
    if cancelled {
        cp.status = Status::Cancelled;
    }
    cp
}

/// The first anchor date on or after `d`; 02-29 clamps in common years.
fn anchor_on_or_after(anchor: MonthDay, d: NaiveDate) -> NaiveDate {
    let in_year = |y: i32| {
        let day = anchor.day.min(last_day_of_month(y, anchor.month));
        NaiveDate::from_ymd_opt(y, anchor.month, day).unwrap_or(NaiveDate::MAX)
    };
    let this = in_year(d.year());
    if this >= d {
        this
    } else {
        in_year(d.year() + 1)
    }
}

/// The last meeting in (after, until] and its deadline.
fn last_meeting_in(
    committee: &CommitteeCalendar,
    after: NaiveDate,
    until: NaiveDate,
) -> Option<(NaiveDate, NaiveDate)> {
    let i = committee.meetings.partition_point(|m| *m <= until);
    let meeting = *committee.meetings.get(i.checked_sub(1)?)?;
    (meeting > after).then(|| {
        (
            meeting,
            submission_deadline(meeting, committee.submission_days),
        )
    })
}

/// What the rules need to know to lay out one partnership's checkpoints.
pub(super) struct Schedule<'a> {
    pub p: &'a Partnership,
    pub policy: &'a Policy,
    pub committee: &'a CommitteeCalendar,
    pub horizon: NaiveDate,
    /// The effective end (RULES 8).
    pub end: Option<NaiveDate>,
}

impl Schedule<'_> {
    /// Recurring periods up to the horizon. RULES 9: "periods starting on or
    /// after the end do not exist".
    fn exists(&self, period_start: NaiveDate) -> bool {
        period_start <= self.horizon && self.end.is_none_or(|e| period_start < e)
    }

    /// RULES 9: "a recurring checkpoint whose period started before the end but
    /// is due after it is `cancelled`".
    fn due_after_end(&self, due: NaiveDate) -> bool {
        self.end.is_some_and(|e| due > e)
    }

    /// Issue rule 1 and RULES 4: `n` equal windows per agreement year, window
    /// *i* of year *k* starting at start + (12·k + i·12/n) months, "one month
    /// arithmetic from the original date, clamped …; never chained from the
    /// previous window". Due on the window's last day moved back to a working day.
    pub fn checkins(&self, n: CheckinsPerYear, out: &mut Vec<Checkpoint>) {
        let per_year = n.get() as i32;
        let months = n.window_months() as i32;
        for k in 0..MAX_YEARS {
            for i in 1..=per_year {
                let start = add_months(self.p.start, 12 * k + (i - 1) * months);
                if !self.exists(start) {
                    return;
                }
                let last = minus_days(add_months(self.p.start, 12 * k + i * months), 1);
                let due = working_day_on_or_before(last);
                let key = key(self.p, Kind::Checkin, format_args!("y{k}-w{i}"));
                let cp = checkpoint(self.p, Kind::Checkin, key, (start, last), due);
                out.push(cancel_if(cp, self.due_after_end(due)));
            }
        }
    }

    /// Issue rule 2 and RULES 5: per agreement year (the *k*-th anniversary to
    /// the day before the next), due on its last day; RULES 8: with
    /// `annual_anchor`, "on the first anchor date on or after the end of
    /// agreement year *k*". Either moves back to a working day.
    pub fn annual(&self, kind: Kind, out: &mut Vec<Checkpoint>) {
        for k in 0..MAX_YEARS {
            let start = anniversary(self.p.start, k);
            if !self.exists(start) {
                return;
            }
            let last = minus_days(anniversary(self.p.start, k + 1), 1);
            let due = working_day_on_or_before(match self.policy.annual_anchor {
                Some(anchor) => anchor_on_or_after(anchor, last),
                None => last,
            });
            let key = key(self.p, kind, format_args!("y{k}"));
            let cp = checkpoint(self.p, kind, key, (start, last), due);
            out.push(cancel_if(cp, self.due_after_end(due)));
        }
    }

    /// Issue rule 3 and RULES 6: follow-up *n* covers (anniversary (n−1)·Y,
    /// anniversary n·Y]; due at the submission deadline of the committee's last
    /// meeting in that span, else at the anniversary minus the submission days,
    /// flagged `no_meeting`. The period also covers the deadline, so a memo for
    /// an early meeting in the span counts (RULES 1).
    pub fn committee_followups(&self, out: &mut Vec<Checkpoint>) {
        let years = self.policy.committee_followup_years;
        if years == 0 || years > MAX_YEARS as u32 {
            return;
        }
        let years = years as i32;
        let submission_days = self.committee.submission_days;
        for n in 1..=MAX_YEARS / years {
            let previous = anniversary(self.p.start, (n - 1) * years);
            let this = anniversary(self.p.start, n * years);
            let meeting = last_meeting_in(self.committee, previous, this);
            let due = match meeting {
                Some((_, deadline)) => deadline,
                None => submission_deadline(this, submission_days),
            };
            let start = plus_days(previous, 1).min(due);
            if !self.exists(start) {
                return;
            }
            let key = key(self.p, Kind::CommitteeFollowup, format_args!("f{n}"));
            let mut cp = checkpoint(self.p, Kind::CommitteeFollowup, key, (start, this), due);
            cp.meeting = meeting.map(|(m, _)| m);
            cp.no_meeting = meeting.is_none();
            out.push(cancel_if(cp, self.due_after_end(due)));
        }
    }

    /// Issue rule 4 and RULES 7: the committee's decision on a notice, due at
    /// "the submission deadline of the last meeting on or before the end date
    /// whose deadline is on or after the notice date; with no such meeting: end
    /// minus submission days, flagged `no_meeting`". Only the notice that ends
    /// the agreement has live checkpoints: a retracted one's are cancelled
    /// (RULES 9), and so are those of a notice superseded by an earlier end
    /// (RULES 8), which come back if that end goes away.
    pub fn termination_decisions(&self, ending: &Ending, out: &mut Vec<Checkpoint>) {
        let submission_days = self.committee.submission_days;
        for (i, notice) in ending.notices.iter().enumerate() {
            let meeting = last_meeting_in(self.committee, NaiveDate::MIN, notice.end)
                .filter(|(_, deadline)| *deadline >= notice.on);
            let due = match meeting {
                Some((_, deadline)) => deadline,
                None => submission_deadline(notice.end, submission_days),
            };
            let kind = Kind::TerminationDecision;
            let key = key(self.p, kind, format_args!("n{}", notice.id));
            let mut cp = checkpoint(self.p, kind, key, (notice.on, notice.end), due);
            cp.meeting = meeting.map(|(m, _)| m);
            cp.no_meeting = meeting.is_none();
            out.push(cancel_if(cp, ending.winner != Some(i)));
        }
    }

    /// Issue rule 4: the wind-down plan, registered with a diarienummer,
    /// "due `wind_down_plan_days` = 30 before the end", moved back to a working day.
    pub fn wind_down_plans(&self, ending: &Ending, out: &mut Vec<Checkpoint>) {
        for (i, notice) in ending.notices.iter().enumerate() {
            let due =
                working_day_on_or_before(minus_days(notice.end, self.policy.wind_down_plan_days));
            let kind = Kind::WindDownPlan;
            let key = key(self.p, kind, format_args!("n{}", notice.id));
            let cp = checkpoint(self.p, kind, key, (notice.on, notice.end), due);
            out.push(cancel_if(cp, ending.winner != Some(i)));
        }
    }

    /// Where the end checkpoints' dates come from: the effective end, or, when
    /// every notice was retracted and there is no fixed term, the first
    /// notice's end, so that its checkpoints are emitted `cancelled` (RULES 9).
    fn end_basis(&self, ending: &Ending) -> Option<(NaiveDate, NaiveDate, bool)> {
        match (ending.end, ending.notices.first()) {
            (Some(end), _) => {
                let from = match (ending.fixed_end, ending.winning_notice()) {
                    (None, Some(notice)) => notice.on,
                    _ => self.p.start,
                };
                Some((from, end, false))
            }
            (None, Some(notice)) => Some((notice.on, notice.end, true)),
            (None, None) => None,
        }
    }

    /// Issue rule 4 and RULES 8: payments stop on the end date, whichever way
    /// the agreement ends, moved back to a working day (it is an action). As
    /// for the expiry evaluation, only evidence after the last extension counts.
    pub fn payments_stop(&self, ending: &Ending, out: &mut Vec<Checkpoint>) {
        if let Some((from, end, cancelled)) = self.end_basis(ending) {
            let start = ending
                .last_extension
                .map_or(from, |x| plus_days(x, 1).max(from));
            let kind = Kind::PaymentsStop;
            let due = working_day_on_or_before(end);
            let mut cp = checkpoint(self.p, kind, single_key(self.p, kind), (start, end), due);
            cp.exists_from = from;
            out.push(cancel_if(cp, cancelled));
        }
    }

    /// RULES 2: the end is a legal fact, due on the end date itself, never moved
    /// (issue rule 8).
    pub fn agreement_end(&self, ending: &Ending, out: &mut Vec<Checkpoint>) {
        if let Some((from, end, cancelled)) = self.end_basis(ending) {
            let kind = Kind::AgreementEnd;
            let cp = checkpoint(self.p, kind, single_key(self.p, kind), (from, end), end);
            out.push(cancel_if(cp, cancelled));
        }
    }

    /// Issue rule 5: a fixed term gets an evaluation `expiry_evaluation_months`
    /// before its end, moved back to a working day. RULES 8: "an evaluation counts
    /// only if dated after the last extension", so the period starts the day
    /// after it. Cancelled when a notice ends the agreement before it is due.
    pub fn expiry_evaluation(&self, ending: &Ending, out: &mut Vec<Checkpoint>) {
        if let Some(fixed_end) = ending.fixed_end {
            let due = working_day_on_or_before(minus_months(
                fixed_end,
                self.policy.expiry_evaluation_months,
            ));
            let start = ending
                .last_extension
                .map_or(self.p.start, |x| plus_days(x, 1));
            let kind = Kind::ExpiryEvaluation;
            let mut cp = checkpoint(
                self.p,
                kind,
                single_key(self.p, kind),
                (start, fixed_end),
                due,
            );
            cp.exists_from = self.p.start;
            out.push(cancel_if(cp, self.due_after_end(due)));
        }
    }

    /// Committee decisions that create work (issue rule 6), with the meeting
    /// they were taken at; a decision dated after *now* does not exist yet.
    fn decisions<'e>(
        events: &'e [&'e Event],
        today: NaiveDate,
    ) -> impl Iterator<Item = (&'e Event, NaiveDate, &'e FollowupDecision)> {
        events.iter().filter_map(move |e| match &e.kind {
            EventKind::CommitteeFollowupReported {
                meeting, decision, ..
            } if *meeting <= today => Some((*e, *meeting, decision)),
            _ => None,
        })
    }

    /// RULES 7: "`renegotiated_agreement_signed`: 60 days after the decision's
    /// meeting date" (`renegotiation_sign_days`), moved back to a working day.
    /// A retracted decision's checkpoint is cancelled, like a retracted
    /// notice's; so is one due after the agreement has ended.
    pub fn renegotiations(&self, events: &[&Event], today: NaiveDate, out: &mut Vec<Checkpoint>) {
        for (e, meeting, decision) in Self::decisions(events, today) {
            if *decision != FollowupDecision::Renegotiation {
                continue;
            }
            let signed_by = plus_days(meeting, self.policy.renegotiation_sign_days);
            let due = working_day_on_or_before(signed_by);
            let kind = Kind::RenegotiatedAgreementSigned;
            let key = key(self.p, kind, format_args!("e{}", e.id));
            let mut cp = checkpoint(self.p, kind, key, (meeting, signed_by), due);
            cp.exists_from = e.on;
            cp.meeting = Some(meeting);
            out.push(cancel_if(cp, e.retracted || self.due_after_end(due)));
        }
    }

    /// RULES 7: "`payment_change`: the last working day before the new amount
    /// starts". Cancelled like a renegotiation.
    pub fn payment_changes(&self, events: &[&Event], today: NaiveDate, out: &mut Vec<Checkpoint>) {
        for (e, meeting, decision) in Self::decisions(events, today) {
            let FollowupDecision::AmountChanged { from, .. } = decision else {
                continue;
            };
            let day_before = minus_days(*from, 1);
            let due = working_day_on_or_before(day_before);
            let kind = Kind::PaymentChange;
            let key = key(self.p, kind, format_args!("e{}", e.id));
            let mut cp = checkpoint(self.p, kind, key, (meeting, day_before), due);
            cp.exists_from = e.on;
            cp.meeting = Some(meeting);
            out.push(cancel_if(cp, e.retracted || self.due_after_end(due)));
        }
    }
}

/// RULES 6b: each committee item in `items` gets its `committee_minutes`: same
/// period, roles and meeting, the parent's kind in its key, due `minutes_days`
/// after the planned meeting (without one: the anniversary or end date the
/// deadline was counted from), moved back to a working day. It shares its
/// item's fate: an item that goes ahead has its decision recorded even when
/// the minutes come after the agreement's end.
pub(super) fn minutes(items: Range<usize>, minutes_days: u32, out: &mut Vec<Checkpoint>) {
    for i in items {
        let Some(item) = out.get(i) else { continue };
        let meeting = item.meeting.unwrap_or(item.period_end);
        let parent_period = item.key.rsplit_once('/').map_or("", |(_, period)| period);
        let key = format!(
            "{}/{}/{}-{}",
            item.partnership,
            Kind::CommitteeMinutes.name(),
            item.kind.name(),
            parent_period
        );
        let cp = Checkpoint {
            key,
            partnership: item.partnership.clone(),
            kind: Kind::CommitteeMinutes,
            parent: Some(item.kind),
            period_start: item.period_start,
            period_end: item.period_end,
            exists_from: item.exists_from,
            due: working_day_on_or_before(plus_days(meeting, minutes_days)),
            status: if item.status == Status::Cancelled {
                Status::Cancelled
            } else {
                Status::Upcoming
            },
            evidence: None,
            waiver: None,
            meeting: item.meeting,
            no_meeting: item.no_meeting,
            documents: None,
            roles: item.roles.clone(),
        };
        out.push(cp);
    }
}
