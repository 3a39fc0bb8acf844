//! The checkpoint engine: the IOP follow-up rules as a pure function.
//!
//! Values in, checkpoints out: no database, no clock, no configuration files,
//! no logging. `RULES n` in comments refers to the project's rule decisions
//! (see ARCHITECTURE.md), `issue rule n` to the checkpoint-engine issue; the
//! guideline sentences are quoted where a rule is encoded.
//!
//! # Keys
//!
//! A checkpoint's key is `{partnership}/{kind}/{period}` (or `{partnership}/{kind}`
//! for the kinds a partnership has only one of). It depends only on the
//! partnership's start date and on the event that created the checkpoint, never
//! on evidence, dates computed from the calendar or other events, so delivery and
//! iCalendar UIDs survive recomputation.
//!
//! | kind | period | example |
//! |---|---|---|
//! | `checkin` | `y{k}-w{i}`: agreement year *k* from 0, window *i* from 1 | `RS/2023:145/checkin/y1-w2` |
//! | `annual_report`, `annual_evaluation` | `y{k}` | `RS/2023:145/annual_report/y0` |
//! | `committee_followup` | `f{n}`: the *n*-th follow-up from 1 | `RS/2023:145/committee_followup/f1` |
//! | `termination_decision`, `wind_down_plan` | `n{id}`: the notice event's id | `RS/2023:145/wind_down_plan/n42` |
//! | `committee_minutes` | `{parent kind}-{parent period}` | `RS/2023:145/committee_minutes/committee_followup-f1` |
//! | `renegotiated_agreement_signed`, `payment_change` | `e{id}`: the deciding event's id | `RS/2023:145/payment_change/e57` |
//! | `agreement_end`, `payments_stop`, `expiry_evaluation` | none: one per partnership, so an extension or a later notice moves the same key (RULES 8) | `RS/2023:145/agreement_end` |
//!
//! # Per-partnership values
//!
//! `Input::policy` comes resolved from configuration; the partnership's own
//! `checkins_per_year` and `notice_months` columns, where set, still override it
//! here, so every caller of the engine gets the same answer.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::{
    CheckinsPerYear, CommitteeKey, Email, Event, MonthDay, Partnership, PartnershipId, Person,
    YearlyDocument,
};

mod ending;
mod evidence;
mod responsible;
mod rules;
mod target;

#[cfg(test)]
pub(crate) mod proptests;
#[cfg(test)]
pub(crate) mod tests;

pub use ending::agreement_end;
pub use responsible::responsible_on;
pub use rules::submission_deadline;
pub use target::{Unfit, unfit};

/// The body's follow-up policy with every number resolved (preset, then
/// `[policy]`, then `[committees.KEY.policy]`, then the partnership's own columns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub checkins_per_year: CheckinsPerYear,
    /// 0 disables the committee follow-up.
    pub committee_followup_years: u32,
    pub notice_months: u32,
    pub wind_down_plan_days: u32,
    pub expiry_evaluation_months: u32,
    pub renegotiation_sign_days: u32,
    /// Days after the planned meeting by which the minutes (the §) are expected.
    pub minutes_days: u32,
    /// Anchors `annual_report` and `annual_evaluation` to a fixed calendar date.
    pub annual_anchor: Option<MonthDay>,
    /// Whether there is a yearly evaluation besides the check-ins (Region
    /// Värmland: yes; Örebro kommun: the styrgrupp's follow-up is the yearly one).
    pub annual_evaluation: bool,
    /// The yearly documents that close `annual_report` together, each
    /// registered with its diarienummer; empty: one registration closes it
    /// (Region Värmland's annual report).
    pub yearly_documents: Vec<YearlyDocument>,
    /// Checkpoints due before this date are `before_tracking` and never reminded.
    pub tracking_start: NaiveDate,
}

impl Policy {
    /// Check-in windows per agreement year: the partnership's own column wins
    /// (issue rule 1: "`checkins_per_year` … per partnership").
    pub fn checkins_for(&self, p: &Partnership) -> CheckinsPerYear {
        p.checkins_per_year.unwrap_or(self.checkins_per_year)
    }

    /// Notice period in months: the partnership's own column wins (issue rule 4:
    /// "`notice_months` (default 6; per partnership)").
    pub fn notice_months_for(&self, p: &Partnership) -> u32 {
        p.notice_months.unwrap_or(self.notice_months)
    }
}

/// The responsible committee's meeting plan (sammanträdesplan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitteeCalendar {
    pub key: CommitteeKey,
    /// Sorted ascending, no duplicates.
    pub meetings: Vec<NaiveDate>,
    /// Days before a meeting by which memos must be submitted.
    pub submission_days: u32,
}

/// Everything the engine needs to know about one partnership.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub partnership: &'a Partnership,
    /// The whole history, retractions included, with `retracted` already set
    /// (see `domain::apply_retractions`).
    pub events: &'a [Event],
    /// Already resolved for this partnership (its own columns applied).
    pub policy: &'a Policy,
    pub committee: &'a CommitteeCalendar,
    /// *now* as a civil date in the configured zone; events after it are ignored.
    pub today: NaiveDate,
    /// Recurring checkpoints are produced for periods starting on or before this date.
    pub horizon: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Checkin,
    AnnualReport,
    AnnualEvaluation,
    CommitteeFollowup,
    /// The recorded decision (meeting date and minute §) after a committee item;
    /// `Checkpoint::parent` names the item.
    CommitteeMinutes,
    TerminationDecision,
    WindDownPlan,
    PaymentsStop,
    AgreementEnd,
    ExpiryEvaluation,
    RenegotiatedAgreementSigned,
    PaymentChange,
}

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::Checkin,
        Kind::AnnualReport,
        Kind::AnnualEvaluation,
        Kind::CommitteeFollowup,
        Kind::CommitteeMinutes,
        Kind::TerminationDecision,
        Kind::WindDownPlan,
        Kind::PaymentsStop,
        Kind::AgreementEnd,
        Kind::ExpiryEvaluation,
        Kind::RenegotiatedAgreementSigned,
        Kind::PaymentChange,
    ];

    /// The documented snake_case name (as in JSON and keys).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Checkin => "checkin",
            Kind::AnnualReport => "annual_report",
            Kind::AnnualEvaluation => "annual_evaluation",
            Kind::CommitteeFollowup => "committee_followup",
            Kind::CommitteeMinutes => "committee_minutes",
            Kind::TerminationDecision => "termination_decision",
            Kind::WindDownPlan => "wind_down_plan",
            Kind::PaymentsStop => "payments_stop",
            Kind::AgreementEnd => "agreement_end",
            Kind::ExpiryEvaluation => "expiry_evaluation",
            Kind::RenegotiatedAgreementSigned => "renegotiated_agreement_signed",
            Kind::PaymentChange => "payment_change",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Upcoming,
    Due,
    Overdue,
    Done,
    Cancelled,
    BeforeTracking,
    /// A check-in window passed by: a check-in dated in a later window was
    /// recorded (RULES 17).
    Missed,
    /// Closed by IOP-ansvarig without evidence (RULES 17).
    Waived,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::Upcoming,
        Status::Due,
        Status::Overdue,
        Status::Done,
        Status::Cancelled,
        Status::BeforeTracking,
        Status::Missed,
        Status::Waived,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Status::Upcoming => "upcoming",
            Status::Due => "due",
            Status::Overdue => "overdue",
            Status::Done => "done",
            Status::Cancelled => "cancelled",
            Status::BeforeTracking => "before_tracking",
            Status::Missed => "missed",
            Status::Waived => "waived",
        }
    }
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The Swedish word in lists and tables (digest, report, `iopd plan`).
    pub fn label_sv(self) -> &'static str {
        match self {
            Status::Upcoming => "kommande",
            Status::Due => "förfaller i dag",
            Status::Overdue => "försenad",
            Status::Done => "klar",
            Status::Cancelled => "inställd",
            Status::BeforeTracking => "före uppföljningens start",
            Status::Missed => "missad",
            Status::Waived => "avskriven",
        }
    }

    /// Nothing more is reminded: no stages, pending ones dropped (RULES 3,
    /// 17: missed and waived stop reminders at once).
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            Status::Done
                | Status::Cancelled
                | Status::BeforeTracking
                | Status::Missed
                | Status::Waived
        )
    }

    /// Still waiting for evidence, with reminders.
    pub fn is_open(self) -> bool {
        matches!(self, Status::Upcoming | Status::Due | Status::Overdue)
    }

    /// Required by the guideline and not done (RULES 17: missed and waived
    /// count as not done everywhere).
    pub fn is_failure(self) -> bool {
        matches!(self, Status::Overdue | Status::Missed | Status::Waived)
    }
}

/// A role that receives mail about a checkpoint; delivery resolves addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Officer,
    Deputy,
    IopAnsvarig,
    Advisory,
    Jurist,
    AdminSupport,
    CommitteeSecretary,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Officer,
        Role::Deputy,
        Role::IopAnsvarig,
        Role::Advisory,
        Role::Jurist,
        Role::AdminSupport,
        Role::CommitteeSecretary,
    ];

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == s)
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Officer => "officer",
            Role::Deputy => "deputy",
            Role::IopAnsvarig => "iop_ansvarig",
            Role::Advisory => "advisory",
            Role::Jurist => "jurist",
            Role::AdminSupport => "admin_support",
            Role::CommitteeSecretary => "committee_secretary",
        }
    }
}

/// The event that closed a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub event: i64,
    /// The event's date; for a recorded committee decision, its meeting date (RULES 1).
    pub on: NaiveDate,
    /// 0 when on time (RULES 1).
    pub days_late: i64,
}

/// The waiver that closed a checkpoint without evidence (RULES 17).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiver {
    pub event: i64,
    pub on: NaiveDate,
    pub reason: String,
}

/// Who is responsible for a partnership on a date (RULES 10, issue 3 rule 7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Responsible {
    /// The officer on that date (after any `officer_replaced`).
    pub officer: Person,
    pub deputy: Option<Email>,
    /// The officer is recorded absent on that date.
    pub officer_absent: bool,
}

impl Responsible {
    /// The deputy covers while the officer is absent; with no deputy the
    /// officer still gets it (and the digest flags it).
    pub fn acting(&self) -> &Email {
        match (&self.deputy, self.officer_absent) {
            (Some(d), true) => d,
            _ => &self.officer.email,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Stable: partnership id + kind + period; never changes when unrelated
    /// data changes (delivery and iCalendar UIDs depend on it).
    pub key: String,
    pub partnership: PartnershipId,
    pub kind: Kind,
    /// For `committee_minutes`: the item it belongs to.
    pub parent: Option<Kind>,
    /// The period the evidence is judged against (inclusive).
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// From when the checkpoint existed (period start, or the event that created it).
    pub exists_from: NaiveDate,
    pub due: NaiveDate,
    pub status: Status,
    pub evidence: Option<Evidence>,
    /// Closed without evidence by IOP-ansvarig (RULES 17).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<Waiver>,
    /// The planned committee meeting, where there is one; for
    /// `committee_minutes` after a memo, the memo's meeting (RULES 20).
    pub meeting: Option<NaiveDate>,
    /// No configured meeting in the span: due date fell back to the anniversary.
    pub no_meeting: bool,
    pub roles: Vec<Role>,
    /// `annual_report` under a guideline that lists several yearly
    /// documents: which are registered and which are still missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documents: Option<Documents>,
}

/// The yearly documents of one `annual_report` checkpoint; it is done when
/// `missing` is empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Documents {
    pub received: Vec<ReceivedDocument>,
    /// In the guideline's order.
    pub missing: Vec<YearlyDocument>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedDocument {
    pub document: YearlyDocument,
    pub diarienummer: String,
    pub on: NaiveDate,
    pub event: i64,
}

/// Every checkpoint of one partnership whose period starts on or before
/// `input.horizon`, plus those created by events (notices, committee decisions)
/// and by the agreement's end, with their status at `input.today`, sorted by
/// (due, key).
pub fn checkpoints(input: &Input) -> Vec<Checkpoint> {
    let p = input.partnership;
    let policy = input.policy;
    let events = ending::visible_events(p, input.events, input.today);
    let ending = ending::Ending::of(p, &events, policy.notice_months_for(p));
    let schedule = rules::Schedule {
        p,
        policy,
        committee: input.committee,
        horizon: input.horizon,
        end: ending.end,
    };
    let checkins = policy.checkins_for(p);

    let mut out = Vec::with_capacity(rules::estimate(p.start, input.horizon, checkins));
    let o = &mut out;
    let checkin = section(o, |o| schedule.checkins(checkins, o));
    let annual_report = section(o, |o| schedule.annual(Kind::AnnualReport, o));
    if !policy.yearly_documents.is_empty() {
        for cp in &mut o[annual_report.clone()] {
            cp.documents = Some(Documents {
                received: Vec::new(),
                missing: policy.yearly_documents.clone(),
            });
        }
    }
    let annual_evaluation = section(o, |o| {
        if policy.annual_evaluation {
            schedule.annual(Kind::AnnualEvaluation, o);
        }
    });
    let followup = section(o, |o| schedule.committee_followups(o));
    let followup_minutes = section(o, |o| {
        rules::minutes(followup.clone(), policy.minutes_days, o)
    });
    let termination = section(o, |o| schedule.termination_decisions(&ending, o));
    let termination_minutes = section(o, |o| {
        rules::minutes(termination.clone(), policy.minutes_days, o)
    });
    let sections = evidence::Sections {
        checkin,
        annual_report,
        annual_evaluation,
        followup,
        followup_minutes,
        termination,
        termination_minutes,
        wind_down: section(o, |o| schedule.wind_down_plans(&ending, o)),
        payments_stop: section(o, |o| schedule.payments_stop(&ending, o)),
        expiry: section(o, |o| schedule.expiry_evaluation(&ending, o)),
        renegotiation: section(o, |o| schedule.renegotiations(&events, input.today, o)),
        payment_change: section(o, |o| schedule.payment_changes(&events, input.today, o)),
    };
    section(o, |o| schedule.agreement_end(&ending, o));

    evidence::close(&mut out, &sections, &events, input);
    let missed = evidence::missed(&out, &sections.checkin, &events, policy.tracking_start);
    for cp in &mut out {
        cp.status = status_at(cp, input.today, policy.tracking_start);
    }
    for i in missed {
        out[i].status = Status::Missed;
    }
    // RULES 18: minutes whose item is `before_tracking` are too.
    for (items, minutes) in [
        (&sections.followup, &sections.followup_minutes),
        (&sections.termination, &sections.termination_minutes),
    ] {
        for (i, m) in items.clone().zip(minutes.clone()) {
            let untracked = out
                .get(i)
                .is_some_and(|c| c.status == Status::BeforeTracking);
            if let Some(m) = out.get_mut(m).filter(|m| untracked && m.status.is_open()) {
                m.status = Status::BeforeTracking;
            }
        }
    }
    out.sort_unstable_by(|a, b| a.due.cmp(&b.due).then_with(|| a.key.cmp(&b.key)));
    out
}

/// Runs one rule and returns where its checkpoints landed in `out`.
fn section(
    out: &mut Vec<Checkpoint>,
    rule: impl FnOnce(&mut Vec<Checkpoint>),
) -> std::ops::Range<usize> {
    let from = out.len();
    rule(out);
    from..out.len()
}

/// RULES 3 and 17: the first status that applies: cancelled, done, (missed:
/// open windows only, set by the caller), waived, before_tracking, overdue,
/// due, upcoming.
/// RULES 2: `agreement_end` is a fact, done on its date and never overdue.
fn status_at(cp: &Checkpoint, today: NaiveDate, tracking_start: NaiveDate) -> Status {
    if cp.status == Status::Cancelled {
        Status::Cancelled
    } else if cp.evidence.is_some() || cp.kind == Kind::AgreementEnd && cp.due <= today {
        Status::Done
    } else if cp.waiver.is_some() {
        Status::Waived
    } else if cp.due < tracking_start {
        Status::BeforeTracking
    } else if cp.kind == Kind::AgreementEnd || cp.due > today {
        Status::Upcoming
    } else if cp.due == today {
        Status::Due
    } else {
        Status::Overdue
    }
}
