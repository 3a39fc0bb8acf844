//! The compliance report (`iopd report`): for a period, every required
//! checkpoint with its evidence and the reminders sent, on-time rates per
//! committee and per kind, and the silent partnerships. It also answers the
//! pre-study's four questions: which guidelines are in force, how the work is
//! organised, which agreements exist, and which committees decided what.
//!
//! Statuses are the engine's at *now* (what is known today); silence is
//! judged at the end of the period.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use crate::clock::Now;
use crate::config::Config;
use crate::digest::model::{Silence, SilentCommittee, SilentPartnership};
use crate::domain::{CommitteeKey, Event, EventKind, Partnership};
use crate::engine::{self, Checkpoint, Input, Kind, Policy, Status};
use crate::guideline::Guideline as Words;
use crate::mail::MailError;
use crate::store::{Store, StoreError};

/// What the report covers.
#[derive(Debug, Clone)]
pub struct Scope {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The end asked for, when it was after today (`to` is then today).
    pub asked_to: Option<NaiveDate>,
    pub committee: Option<CommitteeKey>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Md,
    Csv,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("rapporten kan inte skapas: {0}")]
    Render(#[from] MailError),
    #[error("rapporten kan inte skrivas: {0}")]
    Write(String),
}

/// The committee's rules as configured (the guideline in force).
#[derive(Debug, Clone, Serialize)]
pub struct Guideline {
    pub committee: String,
    pub preset: &'static str,
    pub checkins_per_year: u32,
    pub committee_followup_years: u32,
    pub notice_months: u32,
    pub minutes_days: u32,
    pub submission_days: u32,
    pub tracking_start: NaiveDate,
}

#[derive(Debug, Clone, Serialize)]
pub struct Organisation {
    pub iop_ansvarig: String,
    pub advisory: Option<String>,
    pub jurist: String,
    pub admin_support: String,
    pub committees: Vec<CommitteeInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CommitteeInfo {
    pub key: String,
    pub name: String,
    pub secretary: String,
    pub meetings_in_period: Vec<NaiveDate>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Agreement {
    pub partnership: String,
    pub organisation: String,
    pub committee: String,
    pub officer: String,
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
    pub annual_amount: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub committee: String,
    pub partnership: String,
    pub organisation: String,
    pub meeting: NaiveDate,
    pub paragraph: String,
    pub what: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reminder {
    pub sent_on: NaiveDate,
    pub recipient: String,
    pub stage: String,
}

/// One required checkpoint due in the period.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub committee: String,
    pub partnership: String,
    pub organisation: String,
    pub key: String,
    pub kind: Kind,
    pub what: String,
    pub due: NaiveDate,
    pub status: Status,
    pub status_label: &'static str,
    /// The date of the evidence (for a committee decision, its meeting).
    pub evidence_on: Option<NaiveDate>,
    pub diarienummer: Option<String>,
    pub paragraph: Option<String>,
    pub meeting: Option<NaiveDate>,
    /// Done: days late by the evidence (0 = on time); open: days past due.
    pub days_late: Option<i64>,
    /// Why IOP-ansvarig waived it (RULES 17).
    pub waiver_reason: Option<String>,
    pub reminders: Vec<Reminder>,
}

/// On-time completion for one committee or kind.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rate {
    pub name: String,
    /// Checkpoints whose due date has passed (or that are done, missed or
    /// waived); never those before `tracking_start` (RULES 18).
    pub required: u32,
    pub on_time: u32,
    pub late: u32,
    /// Past due and still open.
    pub open: u32,
    /// RULES 17: required and not done.
    pub missed: u32,
    pub waived: u32,
    /// Whole per cent on time; `None` when nothing was required.
    pub percent: Option<u32>,
    /// The stacked bar the HTML report draws, in thousandths of its width.
    pub bar: Vec<Segment>,
}

/// One part of a stacked bar: done on time, done late, missed, waived, open.
#[derive(Debug, Clone, Serialize)]
pub struct Segment {
    pub label: &'static str,
    pub count: u32,
    /// Start and width in thousandths of the bar.
    pub x: u32,
    pub width: u32,
    pub color: &'static str,
}

impl Rate {
    fn count(&mut self, r: &Row, today: NaiveDate) {
        match (r.status, r.days_late) {
            // RULES 18: "neither required nor missed".
            (Status::BeforeTracking | Status::Cancelled, _) => return,
            (Status::Done, Some(0)) => self.on_time += 1,
            (Status::Done, _) => self.late += 1,
            (Status::Missed, _) => self.missed += 1,
            (Status::Waived, _) => self.waived += 1,
            _ if r.due >= today => return, // not yet required
            _ => self.open += 1,
        }
        self.required += 1;
        self.percent = Some(self.on_time * 100 / self.required);
    }

    /// Lays out the bar once every row is counted (issue 21: "a picture a
    /// committee member takes in at a glance").
    fn with_bar(mut self) -> Self {
        let parts = [
            ("i tid", self.on_time, "#2e7d32"),
            ("sent", self.late, "#f9a825"),
            ("missade", self.missed, "#b3261e"),
            ("avskrivna", self.waived, "#6d4c41"),
            ("ej gjorda", self.open, "#ef9a9a"),
        ];
        let total = self.required.max(1);
        let mut x = 0;
        self.bar = parts
            .into_iter()
            .filter(|p| p.1 > 0)
            .map(|(label, count, color)| {
                let width = count * 1000 / total;
                let s = Segment {
                    label,
                    count,
                    x,
                    width,
                    color,
                };
                x += width;
                s
            })
            .collect();
        self
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub body_name: String,
    pub generated: NaiveDate,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The period asked for ended after today; the report stops at today.
    pub asked_to: Option<NaiveDate>,
    pub committee: Option<String>,
    pub guidelines: Vec<Guideline>,
    pub organisation: Organisation,
    pub agreements: Vec<Agreement>,
    pub decisions: Vec<Decision>,
    pub checkpoints: Vec<Row>,
    /// Due in the period but before `tracking_start`: "ej följt (före
    /// start)", listed apart and never counted (RULES 18).
    pub untracked: Vec<Row>,
    pub total: Rate,
    pub by_committee: Vec<Rate>,
    pub by_kind: Vec<Rate>,
    /// The whole body per calendar year of the due dates.
    pub by_year: Vec<Rate>,
    /// Per partnership ("Nämnd: id organisation"), committee by committee.
    pub by_partnership: Vec<Rate>,
    pub silence_months: u32,
    pub silent_partnerships: Vec<SilentPartnership>,
    pub silent_committees: Vec<SilentCommittee>,
}

/// Diarienummer, minute § and meeting of the event that closed a checkpoint.
fn evidence_details(
    events: &[Event],
    id: i64,
) -> (Option<String>, Option<String>, Option<NaiveDate>) {
    let Some(e) = events.iter().find(|e| e.id == id) else {
        return (None, None, None);
    };
    match &e.kind {
        EventKind::AnnualReportReceived { diarienummer, .. }
        | EventKind::WindDownPlanRegistered { diarienummer } => {
            (Some(diarienummer.clone()), None, None)
        }
        EventKind::CommitteeFollowupSubmitted {
            diarienummer,
            meeting,
        }
        | EventKind::TerminationSubmitted {
            diarienummer,
            meeting,
        } => (Some(diarienummer.clone()), None, Some(*meeting)),
        EventKind::CommitteeFollowupReported {
            meeting, paragraph, ..
        }
        | EventKind::TerminationDecided { meeting, paragraph } => {
            (None, Some(paragraph.clone()), Some(*meeting))
        }
        _ => (None, None, None),
    }
}

/// Collects the report while the register streams past.
struct Builder<'a> {
    scope: &'a Scope,
    guideline: &'a Words,
    today: NaiveDate,
    agreements: Vec<Agreement>,
    decisions: Vec<Decision>,
    rows: Vec<Row>,
    untracked: Vec<Row>,
    silence: Silence,
}

impl Builder<'_> {
    fn add(
        &mut self,
        p: &Partnership,
        events: &[Event],
        policy: &Policy,
        committee: &str,
        cps: &[Checkpoint],
    ) {
        let (from, to) = (self.scope.from, self.scope.to);
        let end = engine::agreement_end(p, events, policy, self.today);
        if p.start > to || end.is_some_and(|e| e < from) {
            return;
        }
        let who = engine::responsible_on(p, events, to.min(self.today));
        self.agreements.push(Agreement {
            partnership: p.id.to_string(),
            organisation: p.organisation.clone(),
            committee: committee.to_string(),
            officer: format!("{} <{}>", who.officer.name, who.officer.email),
            start: p.start,
            end,
            annual_amount: p.annual_amount.map(|a| a.to_string()),
        });
        for e in events.iter().filter(|e| !e.retracted) {
            let (meeting, paragraph, what) = match &e.kind {
                EventKind::CommitteeFollowupReported {
                    meeting, paragraph, ..
                } => (*meeting, paragraph, "Uppföljning av IOP"),
                EventKind::TerminationDecided { meeting, paragraph } => {
                    (*meeting, paragraph, "Uppsägning av IOP")
                }
                _ => continue,
            };
            if meeting >= from && meeting <= to {
                self.decisions.push(Decision {
                    committee: committee.to_string(),
                    partnership: p.id.to_string(),
                    organisation: p.organisation.clone(),
                    meeting,
                    paragraph: paragraph.clone(),
                    what: what.to_string(),
                });
            }
        }
        for cp in cps {
            // Required: not cancelled, not a plain fact (the agreement's end).
            if cp.due < from
                || cp.due > to
                || cp.status == Status::Cancelled
                || cp.kind == Kind::AgreementEnd
            {
                continue;
            }
            let (diarienummer, paragraph, meeting) = cp
                .evidence
                .as_ref()
                .map_or((None, None, None), |ev| evidence_details(events, ev.event));
            let days_late = match (&cp.evidence, cp.status) {
                (Some(ev), _) => Some(ev.days_late),
                (None, Status::Overdue) => Some((self.today - cp.due).num_days()),
                _ => None,
            };
            let list = if cp.status == Status::BeforeTracking {
                &mut self.untracked
            } else {
                &mut self.rows
            };
            list.push(Row {
                committee: committee.to_string(),
                partnership: p.id.to_string(),
                organisation: p.organisation.clone(),
                key: cp.key.clone(),
                kind: cp.kind,
                what: self.guideline.label_with_parent(cp.kind, cp.parent),
                due: cp.due,
                status: cp.status,
                status_label: cp.status.label_sv(),
                evidence_on: cp
                    .evidence
                    .as_ref()
                    .map(|e| e.on)
                    .or(cp.waiver.as_ref().map(|w| w.on)),
                diarienummer,
                paragraph,
                meeting: meeting.or(cp.meeting),
                days_late,
                waiver_reason: cp.waiver.as_ref().map(|w| w.reason.clone()),
                reminders: Vec::new(),
            });
        }
        self.silence.add(p, events, policy, committee);
    }
}

/// Builds the report for `scope` at `now`.
pub async fn build(
    cfg: &Config,
    store: &Store,
    now: &Now,
    scope: &Scope,
) -> Result<Report, ReportError> {
    let today = now.today;
    let tracking = store.created_on().await?;
    let mut b = Builder {
        scope,
        guideline: &cfg.guideline,
        today,
        agreements: Vec::new(),
        decisions: Vec::new(),
        rows: Vec::new(),
        untracked: Vec::new(),
        silence: Silence::new(scope.to, cfg.digest.silence_months),
    };
    let rules = cfg.committee_rules(tracking);
    store
        .each_partnership(
            |p, events| {
                if scope.committee.as_ref().is_some_and(|k| k != &p.committee) {
                    return;
                }
                let (Some((calendar, policy)), Some(c)) =
                    (rules.get(&p.committee), cfg.committees.get(&p.committee))
                else {
                    tracing::warn!(partnership = %p.id, "committee {} is not configured; left out of the report", p.committee);
                    return;
                };
                let input = Input {
                    partnership: &p,
                    events: &events,
                    policy,
                    committee: calendar,
                    today,
                    horizon: scope.to.max(today),
                };
                let cps = engine::checkpoints(&input);
                b.add(&p, &events, policy, &c.name, &cps);
            },
            |e| tracing::error!("partnership left out of the report: {e}"),
        )
        .await?;

    let keys: Vec<String> = b.rows.iter().map(|r| r.key.clone()).collect();
    let sent = store.sent_reminders(&keys).await?;
    let tz = cfg.body.time_zone;
    for r in &mut b.rows {
        if let Some(list) = sent.get(&r.key) {
            r.reminders = list
                .iter()
                .map(|s| Reminder {
                    sent_on: crate::calendar::local_date(s.sent_at, tz),
                    recipient: s.recipient.clone(),
                    stage: s.stage.clone(),
                })
                .collect();
        }
    }
    let Builder {
        mut rows,
        mut untracked,
        mut agreements,
        mut decisions,
        silence,
        ..
    } = b;
    rows.sort_by(|a, b| {
        (&a.committee, &a.partnership, a.due, &a.key).cmp(&(
            &b.committee,
            &b.partnership,
            b.due,
            &b.key,
        ))
    });
    untracked.sort_by(|a, b| {
        (&a.committee, &a.partnership, a.due, &a.key).cmp(&(
            &b.committee,
            &b.partnership,
            b.due,
            &b.key,
        ))
    });
    agreements.sort_by(|a, b| (&a.committee, &a.partnership).cmp(&(&b.committee, &b.partnership)));
    decisions.sort_by(|a, b| (a.meeting, &a.partnership).cmp(&(b.meeting, &b.partnership)));

    let mut total = Rate {
        name: "Alla".into(),
        ..Default::default()
    };
    let mut by_committee: BTreeMap<String, Rate> = BTreeMap::new();
    let mut by_kind: BTreeMap<Kind, Rate> = BTreeMap::new();
    let mut by_year: BTreeMap<i32, Rate> = BTreeMap::new();
    let mut by_partnership: BTreeMap<(String, String), Rate> = BTreeMap::new();
    for r in &rows {
        total.count(r, today);
        by_partnership
            .entry((r.committee.clone(), r.partnership.clone()))
            .or_insert_with(|| Rate {
                name: format!("{}: {} {}", r.committee, r.partnership, r.organisation),
                ..Default::default()
            })
            .count(r, today);
        by_year
            .entry(r.due.year())
            .or_insert_with(|| Rate {
                name: r.due.year().to_string(),
                ..Default::default()
            })
            .count(r, today);
        by_committee
            .entry(r.committee.clone())
            .or_insert_with(|| Rate {
                name: r.committee.clone(),
                ..Default::default()
            })
            .count(r, today);
        by_kind
            .entry(r.kind)
            .or_insert_with(|| Rate {
                name: cfg.guideline.label(r.kind).to_string(),
                ..Default::default()
            })
            .count(r, today);
    }
    let (silent_partnerships, silent_committees) = silence.finish(cfg);
    let wanted = |k: &CommitteeKey| scope.committee.as_ref().is_none_or(|c| c == k);
    let silent_committees = match &scope.committee {
        None => silent_committees,
        Some(k) => {
            let name = cfg.committees.get(k).map(|c| c.name.clone());
            silent_committees
                .into_iter()
                .filter(|c| Some(&c.committee) == name.as_ref())
                .collect()
        }
    };
    Ok(Report {
        body_name: cfg.body.name.clone(),
        generated: today,
        from: scope.from,
        to: scope.to,
        asked_to: scope.asked_to,
        committee: scope
            .committee
            .as_ref()
            .and_then(|k| cfg.committees.get(k))
            .map(|c| c.name.clone()),
        guidelines: cfg
            .committees
            .iter()
            .filter(|(k, _)| wanted(k))
            .map(|(k, c)| {
                let p = cfg.policy_for(k, tracking);
                Guideline {
                    committee: c.name.clone(),
                    preset: cfg.policy.preset.name(),
                    checkins_per_year: p.checkins_per_year.get(),
                    committee_followup_years: p.committee_followup_years,
                    notice_months: p.notice_months,
                    minutes_days: p.minutes_days,
                    submission_days: c.submission_days,
                    tracking_start: p.tracking_start,
                }
            })
            .collect(),
        organisation: Organisation {
            iop_ansvarig: person(&cfg.roles.iop_ansvarig),
            advisory: cfg.roles.advisory.as_ref().map(person),
            jurist: person(&cfg.roles.jurist),
            admin_support: person(&cfg.roles.admin_support),
            committees: cfg
                .committees
                .iter()
                .filter(|(k, _)| wanted(k))
                .map(|(k, c)| CommitteeInfo {
                    key: k.to_string(),
                    name: c.name.clone(),
                    secretary: c.secretary.to_string(),
                    meetings_in_period: c
                        .meetings
                        .iter()
                        .copied()
                        .filter(|m| *m >= scope.from && *m <= scope.to)
                        .collect(),
                })
                .collect(),
        },
        agreements,
        decisions,
        checkpoints: rows,
        untracked,
        total: total.with_bar(),
        by_committee: by_committee.into_values().map(Rate::with_bar).collect(),
        by_kind: by_kind.into_values().map(Rate::with_bar).collect(),
        by_year: by_year.into_values().map(Rate::with_bar).collect(),
        by_partnership: by_partnership.into_values().map(Rate::with_bar).collect(),
        silence_months: cfg.digest.silence_months,
        silent_partnerships,
        silent_committees,
    })
}

fn person(p: &crate::domain::Person) -> String {
    format!("{} <{}>", p.name, p.email)
}

/// The CSV columns (Swedish, `;`-separated as Swedish Excel expects).
const CSV_HEADER: [&str; 13] = [
    "nämnd",
    "partnerskap",
    "organisation",
    "kontrollpunkt",
    "nyckel",
    "förfallodag",
    "status",
    "registrerat",
    "diarienummer",
    "paragraf",
    "sammanträde",
    "dagar_sen",
    "påminnelser",
];

/// The report in `format`.
pub fn render(r: &Report, format: Format) -> Result<String, ReportError> {
    match format {
        Format::Json => serde_json::to_string_pretty(r)
            .map(|s| s + "\n")
            .map_err(|e| ReportError::Write(e.to_string())),
        Format::Html => Ok(crate::digest::render::one("report.html", r)?),
        Format::Md => Ok(crate::digest::render::one("report.md", r)?),
        Format::Csv => csv(r),
    }
}

/// A cell a spreadsheet would run as a formula (`=HYPERLINK(…)`, `+`, `-`,
/// `@`, tab, CR) gets a leading `'` (OWASP, CSV injection): shown, not run.
pub(crate) fn csv_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

fn csv(r: &Report) -> Result<String, ReportError> {
    let err = |e: csv::Error| ReportError::Write(e.to_string());
    let mut w = csv::WriterBuilder::new()
        .delimiter(b';')
        .from_writer(Vec::new());
    w.write_record(CSV_HEADER).map_err(err)?;
    let opt = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    for row in &r.checkpoints {
        let reminders = row
            .reminders
            .iter()
            .map(|m| format!("{} {}", m.sent_on, m.recipient))
            .collect::<Vec<_>>()
            .join(", ");
        let cells = [
            row.committee.as_str(),
            &row.partnership,
            &row.organisation,
            &row.what,
            &row.key,
            &row.due.to_string(),
            row.status.name(),
            &opt(row.evidence_on),
            row.diarienummer.as_deref().unwrap_or(""),
            row.paragraph.as_deref().unwrap_or(""),
            &opt(row.meeting),
            &row.days_late.map(|d| d.to_string()).unwrap_or_default(),
            &reminders,
        ];
        w.write_record(cells.iter().map(|c| csv_safe(c).into_owned()))
            .map_err(err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ReportError::Write(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| ReportError::Write(e.to_string()))
}
