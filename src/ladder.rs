//! The reminder ladder: which mails one checkpoint gets, and on which day.
//!
//! Pure like the engine: values in, dates out; no clock, no IO, no
//! configuration parsing. `RULES n` in comments refers to the project's rule
//! decisions, which win over the delivery issue where the two differ.
//!
//! # Stages (days relative to the due date)
//!
//! | checkpoint | stages |
//! |---|---|
//! | actions (check-ins, annual items, wind-down plan, payments, evaluations, …) | planera −28 (only if the checkpoint existed ≥ 31 days before its due date), −7, 0, +7, escalation +21, follow-ups |
//! | `committee_followup`, `termination_decision` (due = submission deadline) | planera −56, −28, −7, 0, escalation +1, follow-ups |
//! | `committee_minutes` | +7, escalation +21, follow-ups |
//! | `agreement_end` | planera −28 (same existence rule), −7 |
//!
//! Follow-ups come 7, 14, … 56 days after the escalation stage's configured
//! day (+28 … +77 with the defaults: 8 weekly mails), then every 28 days
//! (+105, +133, …) until the checkpoint is done (RULES 11, 12).
//!
//! # Send dates
//!
//! A stage's *nominal* date is due + offset. Stages with offset ≤ 0 go out on
//! the nearest allowed day on or before it, stages with offset > 0 on the
//! nearest allowed day on or after it; an allowed day is a working day outside
//! every quiet period (RULES 13). Because both moves are monotone and point
//! away from the due date, a before-due stage is never sent after the due date
//! nor an after-due stage on or before it, and the order of stages is kept.
//! Stages that land on the same day merge into the latest (RULES 14).
//!
//! # Stage keys
//!
//! [`Stage::key`] is the offset written `d-28`, `d-7`, `d0`, `d+1`, `d+7`,
//! `d+21`, `d+28`, … `d+105`. Offsets are unique within one checkpoint's
//! ladder, so together with the checkpoint key and due date it names one mail
//! (RULES 8: a moved due date runs its stages again). Changing the ladder's
//! numbers in configuration changes the keys of the affected stages.

use chrono::{Datelike, Days, NaiveDate, TimeDelta};
use serde::{Deserialize, Serialize};

use crate::calendar::is_working_day;
use crate::domain::MonthDay;
use crate::engine::{Checkpoint, Kind, Role};

/// Follow-ups after the escalation: this many weekly mails (RULES 11: "+28,
/// +35, … +77 days (8 weekly mails)") …
const WEEKLY_FOLLOWUPS: i32 = 8;
const WEEKLY_STEP: i32 = 7;
/// … and then one every 28 days (RULES 11: "+105, +133, …").
const MONTHLY_STEP: i32 = 28;
/// RULES 12: the committee escalation goes out the first working day after
/// the missed deadline.
const COMMITTEE_ESCALATION_OFFSET: i32 = 1;
/// How far a stage is moved looking for a working day outside the quiet
/// periods. Quiet periods that leave no working day in a whole year would
/// otherwise move forever; such a stage is dropped instead.
const SEARCH_DAYS: u32 = 400;

/// The ladder's numbers; the config layer fills it from `[reminders]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ladder {
    /// RULES 11: *planera* this many days before the due date.
    pub planning_days: u32,
    /// RULES 11: *planera* only when the checkpoint existed at least this many
    /// days before its due date.
    pub planning_min_existence_days: u32,
    /// RULES 11: the reminder this many days before the due date.
    pub before_days: u32,
    /// RULES 11: overdue, to officer and deputy, this many days after.
    pub overdue_days: u32,
    /// RULES 11: the escalation to IOP-ansvarig this many days after.
    pub escalation_days: u32,
    /// RULES 12: committee items start this many days before the deadline.
    pub committee_planning_days: u32,
    /// Yearly periods during which nothing is sent (issue 4 item 2).
    pub quiet: Vec<Quiet>,
    /// Per-stage recipients replacing `default_routing` (issue 4 item 1:
    /// "which roles get which kind and stage is configuration data").
    pub routing: Vec<(StageKind, Recipients)>,
}

impl Default for Ladder {
    fn default() -> Self {
        Self {
            planning_days: 28,
            planning_min_existence_days: 31,
            before_days: 7,
            overdue_days: 7,
            escalation_days: 21,
            committee_planning_days: 56,
            quiet: Vec::new(),
            routing: Vec::new(),
        }
    }
}

/// A yearly quiet period, both ends included; `from` after `to` wraps the
/// year end (`12-20..01-06`). Days compare as (month, day), so a period
/// ending `02-29` ends with 28 February in common years.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quiet {
    pub from: MonthDay,
    pub to: MonthDay,
}

impl Quiet {
    pub fn contains(self, d: NaiveDate) -> bool {
        let md = (d.month(), d.day());
        let from = (self.from.month, self.from.day);
        let to = (self.to.month, self.to.day);
        if from <= to {
            from <= md && md <= to
        } else {
            md >= from || md <= to
        }
    }
}

/// Whether `d` falls inside any of the quiet periods.
pub fn in_quiet(d: NaiveDate, quiet: &[Quiet]) -> bool {
    quiet.iter().any(|q| q.contains(d))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    /// *planera*: time to book the meeting or start the memo.
    Planning,
    Reminder,
    DueToday,
    Overdue,
    Escalation,
    Followup,
}

impl StageKind {
    pub const ALL: [StageKind; 6] = [
        StageKind::Planning,
        StageKind::Reminder,
        StageKind::DueToday,
        StageKind::Overdue,
        StageKind::Escalation,
        StageKind::Followup,
    ];

    /// The documented snake_case name (as in JSON).
    pub fn name(self) -> &'static str {
        match self {
            StageKind::Planning => "planning",
            StageKind::Reminder => "reminder",
            StageKind::DueToday => "due_today",
            StageKind::Overdue => "overdue",
            StageKind::Escalation => "escalation",
            StageKind::Followup => "followup",
        }
    }

    /// Swedish label used in mails and pages.
    pub fn label_sv(self) -> &'static str {
        match self {
            StageKind::Planning => "Planera",
            StageKind::Reminder => "Påminnelse",
            StageKind::DueToday => "Sista dag i dag",
            StageKind::Overdue => "Försenad",
            StageKind::Escalation => "Eskalering",
            StageKind::Followup => "Försenad – uppföljning",
        }
    }
}

/// One rung of the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stage {
    pub kind: StageKind,
    /// Days relative to the due date; negative = before.
    pub offset_days: i32,
}

impl Stage {
    /// Stable text for outbox keys and Message-IDs: `d-28`, `d-7`, `d0`,
    /// `d+1`, `d+7`, `d+21`, `d+28`, …, `d+105`. Only the offset: it is unique
    /// within one checkpoint's ladder (see the module documentation).
    pub fn key(&self) -> String {
        if self.offset_days == 0 {
            "d0".to_owned()
        } else {
            format!("d{:+}", self.offset_days)
        }
    }

    /// Stages up to and including the due date move backwards (RULES 13).
    fn before_due(self) -> bool {
        self.offset_days <= 0
    }
}

/// A stage with its dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub stage: Stage,
    /// Due date + offset.
    pub nominal: NaiveDate,
    /// After moving off non-working days and quiet periods.
    pub send_on: NaiveDate,
}

/// Which rungs a kind of checkpoint has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// RULES 11: the whole ladder.
    Action,
    /// RULES 12: due at the submission deadline.
    Committee,
    /// RULES 6b: nothing before the due date, then RULES 11's after-due stages.
    AfterDueOnly,
    /// RULES 2: a fact, never overdue; only the reminders before it.
    BeforeDueOnly,
}

fn shape(kind: Kind) -> Shape {
    match kind {
        Kind::CommitteeFollowup | Kind::TerminationDecision => Shape::Committee,
        Kind::CommitteeMinutes => Shape::AfterDueOnly,
        Kind::AgreementEnd => Shape::BeforeDueOnly,
        Kind::Checkin
        | Kind::AnnualReport
        | Kind::AnnualEvaluation
        | Kind::WindDownPlan
        | Kind::PaymentsStop
        | Kind::ExpiryEvaluation
        | Kind::RenegotiatedAgreementSigned
        | Kind::PaymentChange => Shape::Action,
    }
}

/// Configured day counts are small; a nonsensical one saturates rather than wraps.
fn days(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn shift(d: NaiveDate, offset: i32) -> Option<NaiveDate> {
    d.checked_add_signed(TimeDelta::days(i64::from(offset)))
}

/// RULES 11: *planera* only when the checkpoint existed at least
/// `planning_min_existence_days` before its due date.
fn planning_allowed(cp: &Checkpoint, ladder: &Ladder) -> bool {
    cp.due
        .checked_sub_days(Days::new(u64::from(ladder.planning_min_existence_days)))
        .is_some_and(|latest| cp.exists_from <= latest)
}

/// The rungs of `cp`'s ladder, the open-ended follow-up tail cut where its
/// nominal date passes `until` (after-due stages only ever move later, so a
/// later one cannot be sent by `until`).
fn stages(cp: &Checkpoint, ladder: &Ladder, until: NaiveDate) -> Vec<Stage> {
    let stage = |kind, offset_days| Stage { kind, offset_days };
    let planning = planning_allowed(cp, ladder);
    let mut out = Vec::new();
    match shape(cp.kind) {
        Shape::Action => {
            if planning {
                out.push(stage(StageKind::Planning, -days(ladder.planning_days)));
            }
            out.push(stage(StageKind::Reminder, -days(ladder.before_days)));
            out.push(stage(StageKind::DueToday, 0));
        }
        Shape::BeforeDueOnly => {
            if planning {
                out.push(stage(StageKind::Planning, -days(ladder.planning_days)));
            }
            out.push(stage(StageKind::Reminder, -days(ladder.before_days)));
        }
        Shape::Committee => {
            // RULES 12: "planera 56 days before the submission deadline …, then
            // 28 and 7 days before, on the deadline day". RULES 11's existence
            // rule is not repeated here; the nominal-date rule below still
            // drops rungs from before the item existed (a late notice).
            out.push(stage(
                StageKind::Planning,
                -days(ladder.committee_planning_days),
            ));
            out.push(stage(StageKind::Reminder, -days(ladder.planning_days)));
            out.push(stage(StageKind::Reminder, -days(ladder.before_days)));
            out.push(stage(StageKind::DueToday, 0));
        }
        Shape::AfterDueOnly => {}
    }
    // A reminder to prepare for something that did not exist yet is never
    // sent: a notice ten days before its deadline gets the 7-day reminder,
    // not the 28-day one. Rungs on or after the due date stay: a checkpoint
    // that comes into existence already due is reminded at once at its
    // current rung (catch-up, RULES 14).
    out.retain(|s| {
        !(s.offset_days < 0 && shift(cp.due, s.offset_days).is_none_or(|n| n < cp.exists_from))
    });

    match shape(cp.kind) {
        Shape::Action | Shape::AfterDueOnly => {
            out.push(stage(StageKind::Overdue, days(ladder.overdue_days)));
            out.push(stage(StageKind::Escalation, days(ladder.escalation_days)));
        }
        // RULES 12: the escalation "takes the place of the 7- and 21-day stages".
        Shape::Committee => out.push(stage(StageKind::Escalation, COMMITTEE_ESCALATION_OFFSET)),
        Shape::BeforeDueOnly => return out,
    }
    // RULES 11 (and 12: "then as in 11"): the follow-ups count from the
    // ordinary escalation day, also for committee items.
    let mut offset = days(ladder.escalation_days);
    let mut n = 0;
    loop {
        let step = if n < WEEKLY_FOLLOWUPS {
            WEEKLY_STEP
        } else {
            MONTHLY_STEP
        };
        let Some(next) = offset.checked_add(step) else {
            break;
        };
        if shift(cp.due, next).is_none_or(|nominal| nominal > until) {
            break;
        }
        out.push(stage(StageKind::Followup, next));
        offset = next;
        n += 1;
    }
    out
}

/// RULES 13: before-due stages (and, defensively, the on-the-day one) go to
/// the nearest allowed day before, after-due stages to the nearest allowed
/// day after. Stepping one day at a time is the working-day move followed by
/// the quiet-period move ("the last working day before it", "the first
/// working day after it"), and also handles quiet periods that touch.
fn send_date(nominal: NaiveDate, stage: Stage, quiet: &[Quiet]) -> Option<NaiveDate> {
    let mut d = nominal;
    for _ in 0..=SEARCH_DAYS {
        if is_working_day(d) && !in_quiet(d, quiet) {
            return Some(d);
        }
        d = if stage.before_due() {
            d.pred_opt()?
        } else {
            d.succ_opt()?
        };
    }
    None
}

/// Every stage of one checkpoint whose send date is on or before `until`,
/// after moving (RULES 13) and merging (RULES 14), sorted by `send_on` (which
/// strictly increases). Status is not looked at: the ladder of a done
/// checkpoint is still its ladder; [`current`] decides what is sent.
pub fn plan(cp: &Checkpoint, ladder: &Ladder, until: NaiveDate) -> Vec<Planned> {
    let mut all: Vec<Planned> = stages(cp, ladder, until)
        .into_iter()
        .filter_map(|stage| {
            let nominal = shift(cp.due, stage.offset_days)?;
            let send_on = send_date(nominal, stage, &ladder.quiet)?;
            Some(Planned {
                stage,
                nominal,
                send_on,
            })
        })
        .collect();
    all.sort_by_key(|p| (p.send_on, p.stage.offset_days, p.stage.kind));

    // RULES 14: "never two mails about one checkpoint to one person on one
    // day: stages that land on the same send date merge into the latest".
    let mut out: Vec<Planned> = Vec::with_capacity(all.len());
    for p in all {
        match out.last_mut() {
            Some(last) if last.send_on == p.send_on => *last = p,
            _ => out.push(p),
        }
    }
    out.retain(|p| p.send_on <= until);
    out
}

/// The one stage to send for `cp` on `today`, if any, and whether it is late
/// (its send date has passed).
///
/// It is the latest planned stage sent on or before `today`: earlier ones it
/// supersedes are not sent on their own (RULES 14, catch-up without bursts).
/// Nothing is sent on a non-working day or in a quiet period (RULES 13), for
/// checkpoints that are done, cancelled or `before_tracking` (RULES 3; nothing
/// before `tracking_start` is ever sent), or before the checkpoint existed: a
/// stage moved back to before `exists_from` goes out, late, on the first
/// allowed day it exists.
pub fn current(cp: &Checkpoint, ladder: &Ladder, today: NaiveDate) -> Option<(Planned, bool)> {
    if !is_working_day(today) || in_quiet(today, &ladder.quiet) {
        return None;
    }
    latest(cp, ladder, today)
}

/// [`current`] without its day rule: what the next allowed day sends unless a
/// stage falls between (no stage is sent on a day that is not allowed, so the
/// latest one on or before a closed day is the latest on or before the next
/// open one). A tick on a closed day uses it to know whether work is waiting.
pub fn latest(cp: &Checkpoint, ladder: &Ladder, today: NaiveDate) -> Option<(Planned, bool)> {
    if cp.status.is_closed() {
        return None;
    }
    if today < cp.exists_from {
        return None;
    }
    let latest = plan(cp, ladder, today).pop()?;
    let late = latest.send_on < today;
    Some((latest, late))
}

/// The first send date of `cp`'s ladder after `after` and on or before
/// `until`: the next day on which [`latest`] can give another stage. `plan`
/// up to `until` holds every stage sent by then (the tail is cut by nominal
/// date and after-due stages only move later), and [`latest`] is the last of
/// them on or before its day, so it changes on these dates only.
pub fn next_send(
    cp: &Checkpoint,
    ladder: &Ladder,
    after: NaiveDate,
    until: NaiveDate,
) -> Option<NaiveDate> {
    plan(cp, ladder, until)
        .into_iter()
        .map(|p| p.send_on)
        .find(|d| *d > after)
}

/// The day the escalation to IOP-ansvarig goes out for `cp`, if its ladder
/// has one. A postponement never reaches past it (issue 10: "never past the
/// escalation to IOP-ansvarig").
pub fn escalation_on(cp: &Checkpoint, ladder: &Ladder) -> Option<NaiveDate> {
    // The escalation's nominal day is at most this far after the due date,
    // and `send_date` moves it at most `SEARCH_DAYS` further: a summer quiet
    // period moves it by weeks, past any shorter horizon (which then found
    // no escalation at all).
    let nominal = days(ladder.escalation_days).max(COMMITTEE_ESCALATION_OFFSET);
    let until = shift(cp.due, nominal.saturating_add(days(SEARCH_DAYS)))?;
    plan(cp, ladder, until)
        .into_iter()
        .find(|p| p.stage.kind >= StageKind::Escalation)
        .map(|p| p.send_on)
}

/// Roles that receive a stage; absence (officer or deputy) is resolved by the
/// caller with `responsible_on`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recipients {
    pub to: Vec<Role>,
    pub cc: Vec<Role>,
}

/// The default routing of a stage of a checkpoint of `kind` (with `parent`
/// for `committee_minutes`). Both lists come sorted in `Role` order, without
/// duplicates, and no role is in both.
pub fn recipients(kind: Kind, parent: Option<Kind>, stage: StageKind) -> Recipients {
    route(&Ladder::default(), kind, parent, stage)
}

/// RULES 11: who gets each stage unless `[reminders.routing]` says otherwise.
pub fn default_routing(stage: StageKind) -> Recipients {
    let (to, cc) = match stage {
        StageKind::Planning | StageKind::Reminder | StageKind::DueToday | StageKind::Followup => {
            (vec![Role::Officer], vec![])
        }
        StageKind::Overdue => (vec![Role::Officer, Role::Deputy], vec![]),
        // RULES 11: "the escalation to IOP-ansvarig (copy to the advisory mailbox)".
        StageKind::Escalation => (vec![Role::IopAnsvarig], vec![Role::Advisory]),
    };
    Recipients { to, cc }
}

/// The recipients of a stage with the ladder's configured routing: the
/// stage's roles (configured or default), then the kind's own additions.
pub fn route(ladder: &Ladder, kind: Kind, parent: Option<Kind>, stage: StageKind) -> Recipients {
    let base = ladder
        .routing
        .iter()
        .find(|(s, _)| *s == stage)
        .map_or_else(|| default_routing(stage), |(_, r)| r.clone());
    let (mut to, mut cc) = (base.to, base.cc);
    // RULES 10: "`payments_stop` and `payment_change` are administrativt
    // stöd's, with the officer in copy"; the escalation still goes to
    // IOP-ansvarig.
    if matches!(kind, Kind::PaymentsStop | Kind::PaymentChange) {
        let officers = |r: &Role| matches!(r, Role::Officer | Role::Deputy);
        cc.extend(to.iter().copied().filter(officers));
        to.retain(|r| !officers(r));
        to.push(Role::AdminSupport);
        cc.push(Role::Officer);
    }
    // RULES 10: the notice checkpoints (and the decision minutes of a
    // termination) also go to the jurist and administrativt stöd.
    let notice = matches!(
        kind,
        Kind::TerminationDecision | Kind::WindDownPlan | Kind::AgreementEnd
    ) || kind == Kind::CommitteeMinutes && parent == Some(Kind::TerminationDecision);
    if notice {
        to.extend([Role::Jurist, Role::AdminSupport]);
    }
    to.sort_unstable();
    to.dedup();
    cc.retain(|r| !to.contains(r));
    cc.sort_unstable();
    cc.dedup();
    Recipients { to, cc }
}

/// The roles that hold a checkpoint's calendar entry: everyone a stage
/// before the escalation reaches (the escalation's readers act on the
/// overdue item, they do not plan it). Sorted, without duplicates.
pub fn invitee_roles(ladder: &Ladder, kind: Kind, parent: Option<Kind>) -> Vec<Role> {
    let mut roles: Vec<Role> = StageKind::ALL
        .iter()
        .filter(|s| **s != StageKind::Escalation)
        .flat_map(|s| {
            let r = route(ladder, kind, parent, *s);
            r.to.into_iter().chain(r.cc)
        })
        .collect();
    roles.sort_unstable();
    roles.dedup();
    roles
}

#[cfg(test)]
mod tests {
    //! Expected dates are worked out by hand from RULES 10–14 and the 2026–2028
    //! almanac (2027: Good Friday 03-26, Easter Monday 03-29, Ascension 05-06,
    //! Midsummer Eve 06-25, All Saints' Day 11-06, Christmas Eve 12-24,
    //! New Year's Eve 12-31; 2028-01-06 Epiphany), never taken from the code.

    use super::*;
    use crate::domain::PartnershipId;
    use crate::engine::Status;
    use StageKind::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn md(s: &str) -> MonthDay {
        MonthDay::parse(s).unwrap()
    }

    fn cp(kind: Kind, due: &str, exists_from: &str) -> Checkpoint {
        Checkpoint {
            key: format!("P1/{}/t", kind.name()),
            partnership: PartnershipId::parse("P1").unwrap(),
            kind,
            parent: None,
            period_start: d(exists_from),
            period_end: d(due),
            exists_from: d(exists_from),
            due: d(due),
            status: Status::Upcoming,
            evidence: None,
            waiver: None,
            meeting: None,
            no_meeting: false,
            roles: vec![],
            documents: None,
        }
    }

    fn summer() -> Ladder {
        Ladder {
            quiet: vec![Quiet {
                from: md("06-19"),
                to: md("08-09"),
            }],
            ..Ladder::default()
        }
    }

    /// (stage, offset, send date) rows.
    fn rows(plan: &[Planned]) -> Vec<(StageKind, i32, NaiveDate)> {
        plan.iter()
            .map(|p| (p.stage.kind, p.stage.offset_days, p.send_on))
            .collect()
    }

    fn expect(rows: &[(StageKind, i32, &str)]) -> Vec<(StageKind, i32, NaiveDate)> {
        rows.iter().map(|&(k, o, s)| (k, o, d(s))).collect()
    }

    #[test]
    fn defaults_are_the_rules_numbers() {
        // RULES 11 (28, 31, 7, 7, 21) and RULES 12 (56).
        let l = Ladder::default();
        assert_eq!(
            (
                l.planning_days,
                l.planning_min_existence_days,
                l.before_days,
                l.overdue_days,
                l.escalation_days,
                l.committee_planning_days
            ),
            (28, 31, 7, 7, 21, 56)
        );
        assert!(l.quiet.is_empty());
    }

    #[test]
    fn plain_checkin_due_on_a_wednesday() {
        // Due Wednesday 2027-09-15; every rung a multiple of 7 days away is a
        // Wednesday and a working day, so nothing moves.
        let c = cp(Kind::Checkin, "2027-09-15", "2027-03-01");
        let got = plan(&c, &Ladder::default(), d("2028-01-26"));
        let want = expect(&[
            (Planning, -28, "2027-08-18"),  // RULES 11: planera 28 days before
            (Reminder, -7, "2027-09-08"),   // RULES 11: 7 days before
            (DueToday, 0, "2027-09-15"),    // RULES 11: on the day
            (Overdue, 7, "2027-09-22"),     // RULES 11: 7 days after
            (Escalation, 21, "2027-10-06"), // RULES 11: 21 days after
            (Followup, 28, "2027-10-13"),   // RULES 11: +28 …
            (Followup, 35, "2027-10-20"),   // RULES 11
            (Followup, 42, "2027-10-27"),   // RULES 11
            (Followup, 49, "2027-11-03"),   // RULES 11
            (Followup, 56, "2027-11-10"),   // RULES 11
            (Followup, 63, "2027-11-17"),   // RULES 11
            (Followup, 70, "2027-11-24"),   // RULES 11
            (Followup, 77, "2027-12-01"),   // RULES 11: … +77, the 8th weekly mail
            (Followup, 105, "2027-12-29"),  // RULES 11: then every 28 days
            (Followup, 133, "2028-01-26"),  // RULES 11
        ]);
        assert_eq!(rows(&got), want);
        for p in &got {
            assert_eq!(p.nominal, p.send_on, "{p:?} did not need to move");
        }
        assert_eq!(got[0].nominal, d("2027-08-18"));
    }

    #[test]
    fn the_long_tail_stops_at_until() {
        // RULES 11: the open-ended tail is produced only up to `until`.
        let c = cp(Kind::Checkin, "2027-09-15", "2027-03-01");
        let l = Ladder::default();
        let last = |until: &str| {
            plan(&c, &l, d(until))
                .last()
                .map(|p| (p.stage.key(), p.send_on))
        };
        assert_eq!(last("2027-12-28"), Some(("d+77".into(), d("2027-12-01"))));
        assert_eq!(last("2028-01-25"), Some(("d+105".into(), d("2027-12-29"))));
        assert_eq!(last("2028-01-26"), Some(("d+133".into(), d("2028-01-26"))));
        assert_eq!(last("2028-02-23"), Some(("d+161".into(), d("2028-02-23"))));
        assert_eq!(plan(&c, &l, d("2027-08-17")), vec![]);
    }

    #[test]
    fn weekend_stages_move_away_from_the_due_date() {
        // A due date on Saturday 2027-10-16 (defensive: actions are due on
        // working days) puts every rung on a Saturday.
        let c = cp(Kind::Checkin, "2027-10-16", "2027-04-01");
        let got = plan(&c, &Ladder::default(), d("2027-11-15"));
        let want = expect(&[
            (Planning, -28, "2027-09-17"), // RULES 13: Sat 09-18 before due → Friday
            (Reminder, -7, "2027-10-08"),  // RULES 13: Sat 10-09 → Friday
            (DueToday, 0, "2027-10-15"),   // RULES 13: on-the-day moved back defensively
            (Overdue, 7, "2027-10-25"),    // RULES 13: Sat 10-23 after due → Monday
            (Escalation, 21, "2027-11-08"), // RULES 13: Sat 11-06 (All Saints) → Monday
            (Followup, 28, "2027-11-15"),  // RULES 13: Sat 11-13 → Monday
        ]);
        assert_eq!(rows(&got), want);
    }

    #[test]
    fn easter_2027() {
        let l = Ladder::default();
        // RULES 13: the 7-day reminder on Good Friday 03-26 goes Thursday 03-25.
        let c = cp(Kind::Checkin, "2027-04-02", "2026-10-01");
        assert_eq!(
            rows(&plan(&c, &l, d("2027-04-09"))),
            expect(&[
                (Planning, -28, "2027-03-05"),
                (Reminder, -7, "2027-03-25"),
                (DueToday, 0, "2027-04-02"),
                (Overdue, 7, "2027-04-09"),
            ])
        );
        // RULES 13: the overdue mail on Easter Monday 03-29 goes Tuesday 03-30.
        let c = cp(Kind::Checkin, "2027-03-22", "2026-10-01");
        assert_eq!(
            rows(&plan(&c, &l, d("2027-04-12"))),
            expect(&[
                (Planning, -28, "2027-02-22"),
                (Reminder, -7, "2027-03-15"),
                (DueToday, 0, "2027-03-22"),
                (Overdue, 7, "2027-03-30"),
                (Escalation, 21, "2027-04-12"),
            ])
        );
    }

    #[test]
    fn christmas_and_new_year() {
        let l = Ladder::default();
        // RULES 13: overdue on Christmas Eve (Fri 2027-12-24) → Monday 12-27;
        // the escalation on Friday 2028-01-07 (after Epiphany) stays.
        let c = cp(Kind::Checkin, "2027-12-17", "2027-06-01");
        assert_eq!(
            rows(&plan(&c, &l, d("2028-01-07"))),
            expect(&[
                (Planning, -28, "2027-11-19"),
                (Reminder, -7, "2027-12-10"),
                (DueToday, 0, "2027-12-17"),
                (Overdue, 7, "2027-12-27"),
                (Escalation, 21, "2028-01-07"),
            ])
        );
        // RULES 13: the reminder on New Year's Eve (Fri 2027-12-31) → Thu 12-30.
        let c = cp(Kind::Checkin, "2028-01-07", "2027-07-01");
        assert_eq!(
            rows(&plan(&c, &l, d("2028-01-07"))),
            expect(&[
                (Planning, -28, "2027-12-10"),
                (Reminder, -7, "2027-12-30"),
                (DueToday, 0, "2028-01-07"),
            ])
        );
    }

    #[test]
    fn summer_quiet_period_2027() {
        // Quiet 06-19..08-09: the last working day before it is Friday 06-18,
        // the first after it Tuesday 08-10.
        let c = cp(Kind::Checkin, "2027-08-20", "2027-02-20");
        assert_eq!(
            rows(&plan(&c, &summer(), d("2027-08-27"))),
            expect(&[
                (Planning, -28, "2027-06-18"), // RULES 13: 07-23 is quiet → before it
                (Reminder, -7, "2027-08-13"),
                (DueToday, 0, "2027-08-20"),
                (Overdue, 7, "2027-08-27"),
            ])
        );

        // Due Friday 2027-07-02. Without quiet periods the reminder on
        // Midsummer Eve (Fri 06-25) goes Thursday 06-24 (RULES 13).
        let c = cp(Kind::Checkin, "2027-07-02", "2027-01-01");
        assert_eq!(
            rows(&plan(&c, &Ladder::default(), d("2027-07-02"))),
            expect(&[
                (Planning, -28, "2027-06-04"),
                (Reminder, -7, "2027-06-24"),
                (DueToday, 0, "2027-07-02"),
            ])
        );
        // With the summer quiet, the reminder and the on-the-day mail both
        // go Friday 06-18 and merge into the on-the-day one (RULES 13+14).
        assert_eq!(
            rows(&plan(&c, &summer(), d("2027-07-02"))),
            expect(&[(Planning, -28, "2027-06-04"), (DueToday, 0, "2027-06-18")])
        );
    }

    #[test]
    fn stages_on_the_same_day_merge_into_the_latest() {
        // Due Wednesday 2027-06-30, inside the summer quiet period.
        let c = cp(Kind::Checkin, "2027-06-30", "2027-01-01");
        assert_eq!(
            rows(&plan(&c, &summer(), d("2027-08-11"))),
            expect(&[
                (Planning, -28, "2027-06-02"),
                // RULES 13+14: reminder (06-23) and on-the-day (06-30) both move
                // to 06-18 and merge into the later, the on-the-day mail.
                (DueToday, 0, "2027-06-18"),
                // RULES 13+14: +7 (07-07), +21 (07-21), +28 (07-28) and +35
                // (08-04) all move to 08-10 and merge into the latest, +35;
                // IOP-ansvarig follows it in the digest (RULES 11).
                (Followup, 35, "2027-08-10"),
                (Followup, 42, "2027-08-11"),
            ])
        );

        // Committee item due Thursday 2027-08-19: planera (06-24) and the
        // 28-day reminder (07-22) both move to 06-18 → the reminder is kept.
        let c = cp(Kind::CommitteeFollowup, "2027-08-19", "2026-08-19");
        assert_eq!(
            rows(&plan(&c, &summer(), d("2027-09-16"))),
            expect(&[
                (Reminder, -28, "2027-06-18"), // RULES 12+13+14
                (Reminder, -7, "2027-08-12"),  // RULES 12
                (DueToday, 0, "2027-08-19"),   // RULES 12
                (Escalation, 1, "2027-08-20"), // RULES 12
                (Followup, 28, "2027-09-16"),  // RULES 12: then as in 11
            ])
        );
    }

    #[test]
    fn committee_followup_ladder() {
        // Submission deadline Thursday 2027-02-25.
        let c = cp(Kind::CommitteeFollowup, "2027-02-25", "2026-02-25");
        let got = plan(&c, &Ladder::default(), d("2027-07-08"));
        let want = expect(&[
            (Planning, -56, "2026-12-30"), // RULES 12: 56 days before is 12-31 (New Year's Eve) → 12-30
            (Reminder, -28, "2027-01-28"), // RULES 12: 28 days before
            (Reminder, -7, "2027-02-18"),  // RULES 12: 7 days before
            (DueToday, 0, "2027-02-25"),   // RULES 12: on the deadline day
            (Escalation, 1, "2027-02-26"), // RULES 12: first working day after, no +7/+21
            (Followup, 28, "2027-03-25"),  // RULES 12: then as in 11
            (Followup, 35, "2027-04-01"),
            (Followup, 42, "2027-04-08"),
            (Followup, 49, "2027-04-15"),
            (Followup, 56, "2027-04-22"),
            (Followup, 63, "2027-04-29"),
            (Followup, 70, "2027-05-07"), // RULES 13: Ascension Thu 05-06 → Friday
            (Followup, 77, "2027-05-13"),
            (Followup, 105, "2027-06-10"),
            (Followup, 133, "2027-07-08"),
        ]);
        assert_eq!(rows(&got), want);
        assert_eq!(got[0].nominal, d("2026-12-31"));
        assert_eq!(got[4].stage.key(), "d+1");
    }

    #[test]
    fn committee_escalation_after_a_friday_or_easter_deadline() {
        let l = Ladder::default();
        // RULES 12+13: deadline Friday 2027-03-19 → escalation Monday 03-22.
        let c = cp(Kind::CommitteeFollowup, "2027-03-19", "2026-03-19");
        assert_eq!(
            rows(&plan(&c, &l, d("2027-03-22"))),
            expect(&[
                (Planning, -56, "2027-01-22"),
                (Reminder, -28, "2027-02-19"),
                (Reminder, -7, "2027-03-12"),
                (DueToday, 0, "2027-03-19"),
                (Escalation, 1, "2027-03-22"),
            ])
        );
        // RULES 12+13: deadline Thursday 2027-03-25 → Good Friday, Easter
        // weekend and Easter Monday → escalation Tuesday 03-30.
        let c = cp(Kind::TerminationDecision, "2027-03-25", "2026-09-01");
        let esc = plan(&c, &l, d("2027-04-30"))
            .into_iter()
            .find(|p| p.stage.kind == Escalation);
        assert_eq!(
            esc.map(|p| (p.nominal, p.send_on)),
            Some((d("2027-03-26"), d("2027-03-30")))
        );
    }

    #[test]
    fn escalation_on_is_the_first_allowed_day_of_the_escalation() {
        // Issue 10: a postponement never reaches past this day. Ordinary
        // checkpoints escalate 21 days after the due date (RULES 11), committee
        // items the first working day after the missed deadline (RULES 12);
        // both move forwards off holidays and quiet periods (RULES 13).
        // +21 days keeps the weekday, so only holidays move an ordinary one.
        let none = Ladder::default();
        let summer = summer();
        let cases: [(Kind, &str, &Ladder, Option<&str>); 15] = [
            // RULES 11: due Wed 2027-03-03, +21 = Wed 03-24, a working day.
            (Kind::Checkin, "2027-03-03", &none, Some("2027-03-24")),
            // RULES 11+13: due Fri 2027-03-05, +21 = Good Friday 03-26 → Easter
            // weekend, Easter Monday 03-29 → Tuesday 03-30.
            (Kind::Checkin, "2027-03-05", &none, Some("2027-03-30")),
            // RULES 11+13: due Fri 2026-05-29, +21 = Midsummer Eve 2026-06-19
            // → Midsummer Day, Sunday → Monday 06-22.
            (Kind::AnnualReport, "2026-05-29", &none, Some("2026-06-22")),
            // RULES 11+13: due Fri 2027-12-03, +21 = Christmas Eve 12-24 →
            // Christmas Day Sat, Boxing Day Sun → Monday 12-27.
            (Kind::PaymentsStop, "2027-12-03", &none, Some("2027-12-27")),
            // RULES 6b+11: minutes due Wed 2027-04-14, +21 = Wed 05-05.
            (
                Kind::CommitteeMinutes,
                "2027-04-14",
                &none,
                Some("2027-05-05"),
            ),
            // RULES 12: deadline Thu 2027-02-25 → Friday 02-26.
            (
                Kind::CommitteeFollowup,
                "2027-02-25",
                &none,
                Some("2027-02-26"),
            ),
            // RULES 12+13: deadline Fri 2027-03-19 → weekend → Monday 03-22.
            (
                Kind::CommitteeFollowup,
                "2027-03-19",
                &none,
                Some("2027-03-22"),
            ),
            // RULES 12+13: deadline Thu 2027-03-25 → Good Friday, Easter
            // weekend, Easter Monday → Tuesday 03-30.
            (
                Kind::CommitteeFollowup,
                "2027-03-25",
                &none,
                Some("2027-03-30"),
            ),
            // RULES 12+13: deadline Wed 2027-05-05 → Ascension Thu 05-06 →
            // Friday 05-07.
            (
                Kind::TerminationDecision,
                "2027-05-05",
                &none,
                Some("2027-05-07"),
            ),
            // RULES 12+13: deadline Thu 2027-12-23 → Christmas Eve, Christmas
            // Day, Boxing Day (Sunday) → Monday 12-27.
            (
                Kind::CommitteeFollowup,
                "2027-12-23",
                &none,
                Some("2027-12-27"),
            ),
            // RULES 13, quiet 06-19..08-09 (Tuesday 08-10 is the first working
            // day after it): due Thu 2027-07-15, +21 = Thu 08-05 → 08-10.
            (Kind::Checkin, "2027-07-15", &summer, Some("2027-08-10")),
            // RULES 13: due Fri 2027-06-04, +21 = Midsummer Eve 06-25, also
            // quiet → 08-10 (the mails of +28 … +63 move there too and merge,
            // RULES 14; the day stays the same).
            (Kind::Checkin, "2027-06-04", &summer, Some("2027-08-10")),
            // RULES 12+13: deadline Fri 2027-06-18, the last working day
            // before the quiet period → Saturday 06-19 is quiet → 08-10.
            (
                Kind::CommitteeFollowup,
                "2027-06-18",
                &summer,
                Some("2027-08-10"),
            ),
            // RULES 13: a quiet period never pulls an after-due stage back:
            // due Wed 2027-05-26, +21 = Wed 06-16, before the quiet period.
            (Kind::Checkin, "2027-05-26", &summer, Some("2027-06-16")),
            // RULES 2: agreement_end is never overdue and has no escalation.
            (Kind::AgreementEnd, "2027-10-29", &none, None),
        ];
        for (kind, due, ladder, want) in cases {
            let c = cp(kind, due, "2025-01-01");
            assert_eq!(
                escalation_on(&c, ladder),
                want.map(d),
                "{} due {due}",
                kind.name()
            );
        }
    }

    #[test]
    fn committee_minutes_have_only_after_due_stages() {
        // RULES 6b: no stages before its due date, then RULES 11's after-due
        // stages (no on-the-day mail either).
        let mut c = cp(Kind::CommitteeMinutes, "2027-04-14", "2026-02-25");
        c.parent = Some(Kind::CommitteeFollowup);
        assert_eq!(
            rows(&plan(&c, &Ladder::default(), d("2027-05-12"))),
            expect(&[
                (Overdue, 7, "2027-04-21"),
                (Escalation, 21, "2027-05-05"),
                (Followup, 28, "2027-05-12"),
            ])
        );
    }

    #[test]
    fn agreement_end_has_only_reminders_before_it() {
        // RULES 2: never overdue, only the reminders before it; the end on
        // Sunday 2027-10-31 puts both on Sundays → Fridays (RULES 13).
        let c = cp(Kind::AgreementEnd, "2027-10-31", "2025-11-01");
        assert_eq!(
            rows(&plan(&c, &Ladder::default(), d("2028-12-31"))),
            expect(&[(Planning, -28, "2027-10-01"), (Reminder, -7, "2027-10-22")])
        );
    }

    #[test]
    fn planning_needs_31_days_of_existence() {
        let l = Ladder::default();
        let first = |kind, exists: &str| {
            plan(&cp(kind, "2027-09-15", exists), &l, d("2027-09-15"))
                .first()
                .map(|p| (p.stage.kind, p.send_on))
        };
        // RULES 11: existed 31 days before the due date → planera.
        assert_eq!(
            first(Kind::Checkin, "2027-08-15"),
            Some((Planning, d("2027-08-18")))
        );
        // RULES 11: 30 days → no planera; the 7-day reminder comes first.
        assert_eq!(
            first(Kind::Checkin, "2027-08-16"),
            Some((Reminder, d("2027-09-08")))
        );
        // A wind-down plan created by a notice 10 days before its due date:
        // the 7-day reminder is after it existed, so it stays.
        assert_eq!(
            first(Kind::WindDownPlan, "2027-09-05"),
            Some((Reminder, d("2027-09-08")))
        );
        // … created 5 days before: the 7-day reminder predates it.
        assert_eq!(
            first(Kind::WindDownPlan, "2027-09-10"),
            Some((DueToday, d("2027-09-15")))
        );
        // RULES 12: a termination decision after a notice on 2027-01-10,
        // deadline 2027-02-25: planera (2026-12-31) predates it, 28 days stays.
        let c = cp(Kind::TerminationDecision, "2027-02-25", "2027-01-10");
        assert_eq!(
            plan(&c, &l, d("2027-02-25"))
                .first()
                .map(|p| (p.stage, p.send_on)),
            Some((
                Stage {
                    kind: Reminder,
                    offset_days: -28
                },
                d("2027-01-28")
            ))
        );
    }

    #[test]
    fn current_sends_only_the_latest_stage() {
        let l = Ladder::default();
        let mut c = cp(Kind::Checkin, "2027-09-15", "2027-03-01");
        c.status = Status::Overdue;
        let now = |today: &str| current(&c, &l, d(today)).map(|(p, late)| (p.stage.key(), late));
        // RULES 14: two weeks after the overdue mail, with the reminder, the
        // on-the-day and the overdue mail missed: only the overdue one, late.
        assert_eq!(now("2027-10-05"), Some(("d+7".into(), true)));
        // RULES 14: missed escalation caught up on Monday 10-11, late.
        assert_eq!(now("2027-10-11"), Some(("d+21".into(), true)));
        // On its own day it is not late.
        assert_eq!(now("2027-10-06"), Some(("d+21".into(), false)));
        // RULES 13: Saturday 10-09 sends nothing.
        assert_eq!(now("2027-10-09"), None);
        // Before the first rung.
        assert_eq!(now("2027-08-17"), None);
        assert_eq!(now("2027-08-18"), Some(("d-28".into(), false)));

        // RULES 3: done, cancelled and before_tracking are never reminded;
        // RULES 17: "`missed` and `waived` checkpoints get no reminder stages at all".
        for status in [
            Status::Done,
            Status::Cancelled,
            Status::BeforeTracking,
            Status::Missed,
            Status::Waived,
        ] {
            c.status = status;
            assert_eq!(current(&c, &l, d("2027-10-06")), None, "{status:?}");
        }
    }

    #[test]
    fn current_respects_holidays_quiet_periods_and_existence() {
        // RULES 13: Midsummer Eve 2027-06-25 is not a working day.
        let c = cp(Kind::Checkin, "2027-07-02", "2027-01-01");
        assert_eq!(current(&c, &Ladder::default(), d("2027-06-25")), None);

        // RULES 13: nothing in the quiet period; the first day after it sends
        // the merged rung (+35) on time, the next day the +42 one.
        let mut c = cp(Kind::Checkin, "2027-06-30", "2027-01-01");
        c.status = Status::Overdue;
        let l = summer();
        let now = |today: &str| current(&c, &l, d(today)).map(|(p, late)| (p.stage.key(), late));
        assert_eq!(now("2027-07-15"), None);
        assert_eq!(now("2027-08-09"), None);
        assert_eq!(now("2027-08-10"), Some(("d+35".into(), false)));
        assert_eq!(now("2027-08-12"), Some(("d+42".into(), true)));

        // A notice dated Good Friday 2027-03-26 creates a wind-down plan due
        // 04-02: its 7-day reminder (nominal 03-26) moves back to 03-25, when
        // the checkpoint did not exist yet, so it goes out late on the next
        // working day, Tuesday 03-30.
        let c = cp(Kind::WindDownPlan, "2027-04-02", "2027-03-26");
        let l = Ladder::default();
        assert_eq!(
            rows(&plan(&c, &l, d("2027-04-02"))),
            expect(&[(Reminder, -7, "2027-03-25"), (DueToday, 0, "2027-04-02")])
        );
        assert_eq!(current(&c, &l, d("2027-03-25")), None);
        assert_eq!(
            current(&c, &l, d("2027-03-30")).map(|(p, late)| (p.stage.key(), late)),
            Some(("d-7".into(), true))
        );
    }

    #[test]
    fn routing() {
        use Kind as K;
        use Role::*;
        let r = |to: &[Role], cc: &[Role]| Recipients {
            to: to.to_vec(),
            cc: cc.to_vec(),
        };
        let rows: &[(Kind, Option<Kind>, StageKind, Recipients)] = &[
            // RULES 11: the officer, both before and in the long tail.
            (K::Checkin, None, Planning, r(&[Officer], &[])),
            (K::Checkin, None, Reminder, r(&[Officer], &[])),
            (K::Checkin, None, DueToday, r(&[Officer], &[])),
            (K::Checkin, None, Followup, r(&[Officer], &[])),
            // RULES 11: 7 days after to officer and deputy.
            (K::Checkin, None, Overdue, r(&[Officer, Deputy], &[])),
            // RULES 11: escalation to IOP-ansvarig, copy to the advisory mailbox.
            (K::Checkin, None, Escalation, r(&[IopAnsvarig], &[Advisory])),
            (
                K::CommitteeFollowup,
                None,
                Escalation,
                r(&[IopAnsvarig], &[Advisory]),
            ),
            // RULES 10: notice checkpoints also go to jurist and administrativt stöd.
            (
                K::TerminationDecision,
                None,
                Reminder,
                r(&[Officer, Jurist, AdminSupport], &[]),
            ),
            (
                K::WindDownPlan,
                None,
                Overdue,
                r(&[Officer, Deputy, Jurist, AdminSupport], &[]),
            ),
            (
                K::AgreementEnd,
                None,
                Planning,
                r(&[Officer, Jurist, AdminSupport], &[]),
            ),
            (
                K::TerminationDecision,
                None,
                Escalation,
                r(&[IopAnsvarig, Jurist, AdminSupport], &[Advisory]),
            ),
            // RULES 6b+10: the decision minutes of a termination are a notice
            // checkpoint too; those of a follow-up are not.
            (
                K::CommitteeMinutes,
                Some(K::TerminationDecision),
                Overdue,
                r(&[Officer, Deputy, Jurist, AdminSupport], &[]),
            ),
            (
                K::CommitteeMinutes,
                Some(K::CommitteeFollowup),
                Overdue,
                r(&[Officer, Deputy], &[]),
            ),
            // RULES 10: payments are administrativt stöd's, officer in copy;
            // the escalation still reaches IOP-ansvarig.
            (
                K::PaymentsStop,
                None,
                DueToday,
                r(&[AdminSupport], &[Officer]),
            ),
            (
                K::PaymentChange,
                None,
                Reminder,
                r(&[AdminSupport], &[Officer]),
            ),
            (
                K::PaymentsStop,
                None,
                Overdue,
                r(&[AdminSupport], &[Officer, Deputy]),
            ),
            (
                K::PaymentChange,
                None,
                Escalation,
                r(&[IopAnsvarig, AdminSupport], &[Officer, Advisory]),
            ),
            (
                K::PaymentsStop,
                None,
                Followup,
                r(&[AdminSupport], &[Officer]),
            ),
        ];
        for (kind, parent, stage, want) in rows {
            assert_eq!(
                &recipients(*kind, *parent, *stage),
                want,
                "{kind:?} {stage:?}"
            );
        }
    }

    #[test]
    fn quiet_periods_include_both_ends_and_may_wrap() {
        let summer = [Quiet {
            from: md("06-19"),
            to: md("08-09"),
        }];
        let winter = [Quiet {
            from: md("12-20"),
            to: md("01-06"),
        }];
        for (day, quiet, want) in [
            ("2027-06-18", &summer, false),
            ("2027-06-19", &summer, true),
            ("2027-08-09", &summer, true),
            ("2027-08-10", &summer, false),
            ("2027-12-19", &winter, false),
            ("2027-12-20", &winter, true),
            ("2027-12-31", &winter, true),
            ("2028-01-06", &winter, true),
            ("2028-01-07", &winter, false),
            ("2027-07-01", &winter, false),
        ] {
            assert_eq!(in_quiet(d(day), quiet), want, "{day}");
        }
        assert!(!in_quiet(d("2027-07-01"), &[]));
    }

    #[test]
    fn a_year_without_an_allowed_day_drops_the_stage() {
        // Configuration should reject it; the ladder must not loop forever.
        let l = Ladder {
            quiet: vec![Quiet {
                from: md("01-01"),
                to: md("12-31"),
            }],
            ..Ladder::default()
        };
        let c = cp(Kind::Checkin, "2027-09-15", "2027-01-01");
        assert_eq!(plan(&c, &l, d("2028-12-31")), vec![]);
    }

    #[test]
    fn keys_and_labels() {
        let key = |kind, offset_days| Stage { kind, offset_days }.key();
        assert_eq!(key(Planning, -56), "d-56");
        assert_eq!(key(Planning, -28), "d-28");
        assert_eq!(key(Reminder, -7), "d-7");
        assert_eq!(key(DueToday, 0), "d0");
        assert_eq!(key(Escalation, 1), "d+1");
        assert_eq!(key(Overdue, 7), "d+7");
        assert_eq!(key(Escalation, 21), "d+21");
        assert_eq!(key(Followup, 105), "d+105");
        let labels: Vec<&str> = StageKind::ALL.iter().map(|k| k.label_sv()).collect();
        assert_eq!(
            labels,
            [
                "Planera",
                "Påminnelse",
                "Sista dag i dag",
                "Försenad",
                "Eskalering",
                "Försenad – uppföljning"
            ]
        );
        assert_eq!(
            serde_json::to_string(&DueToday).unwrap(),
            format!("\"{}\"", DueToday.name())
        );
    }

    mod props {
        use proptest::prelude::*;

        use super::super::*;
        use super::{Status, cp, md};

        fn quiet_sets() -> Vec<Vec<Quiet>> {
            let q = |a: &str, b: &str| Quiet {
                from: md(a),
                to: md(b),
            };
            vec![
                vec![],
                vec![q("06-19", "08-09")],
                vec![q("12-20", "01-06")],
                vec![
                    q("06-19", "08-09"),
                    q("12-20", "01-06"),
                    q("08-10", "08-12"),
                ],
                vec![q("02-29", "03-01")],
            ]
        }

        proptest! {
            #[test]
            fn send_dates_are_allowed_strictly_increasing_and_on_their_side(
                due_day in 0u64..3652,
                kind in 0usize..Kind::ALL.len(),
                existed in 0u64..500,
                quiet in 0usize..5,
                span in 0u64..500,
            ) {
                let due = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Days::new(due_day);
                let kind = Kind::ALL[kind];
                let mut c = cp(kind, "2026-01-01", "2026-01-01");
                c.due = due;
                c.exists_from = due - Days::new(existed);
                c.status = Status::Overdue;
                let ladder = Ladder { quiet: quiet_sets()[quiet].clone(), ..Ladder::default() };
                let until = due + Days::new(span);
                let planned = plan(&c, &ladder, until);
                for p in &planned {
                    // RULES 13: a working day outside every quiet period.
                    prop_assert!(is_working_day(p.send_on), "{p:?}");
                    prop_assert!(!in_quiet(p.send_on, &ladder.quiet), "{p:?}");
                    prop_assert!(p.send_on <= until);
                    // RULES 13: before-due stages never after the due date,
                    // after-due stages never on or before it.
                    if p.stage.offset_days <= 0 {
                        prop_assert!(p.send_on <= c.due, "{p:?}");
                    } else {
                        prop_assert!(p.send_on > c.due, "{p:?}");
                    }
                }
                // RULES 14: one mail per day, in ladder order.
                for w in planned.windows(2) {
                    prop_assert!(w[0].send_on < w[1].send_on, "{w:?}");
                    prop_assert!(w[0].stage.offset_days < w[1].stage.offset_days, "{w:?}");
                }
                // RULES 14: what `current` sends on an allowed day is the
                // latest rung planned by then.
                if is_working_day(until) && !in_quiet(until, &ladder.quiet) && until >= c.exists_from {
                    prop_assert_eq!(
                        current(&c, &ladder, until).map(|(p, _)| p),
                        planned.last().cloned()
                    );
                }
            }
        }
    }
}
