//! What is due: the stage due now for every open checkpoint, rendered into
//! outbox rows (a section for the mail of the day, calendar mails on their
//! own) with the evaluation, one transaction per chunk of partnerships.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;

use super::{DeliveryError, sending_window};
use crate::clock::Now;
use crate::config::CalendarMode;
use crate::config::Config;
use crate::domain::{CommitteeKey, Email, Event, EventKind, Partnership};
use crate::engine::{self, Checkpoint, CommitteeCalendar, Input, Role, Status};
use crate::guideline::Guideline;
use crate::ical;
use crate::ladder::{self, Ladder, Planned, StageKind};
use crate::mail::{self, ReminderContext};
use crate::recheck;
use crate::store::{CHUNK, Enqueue, Evaluation, ForTick, InviteState, NewInvite, NewMail, Store};

/// One mail a tick would enqueue (what `--dry-run` prints).
#[derive(Debug, Clone)]
pub struct Planned1 {
    pub key: String,
    pub checkpoint_key: String,
    pub stage: String,
    pub stage_label: &'static str,
    pub recipient: Email,
    pub role: Role,
    pub late: bool,
    pub due: NaiveDate,
    pub subject: String,
    pub cancel: bool,
}

#[derive(Debug, Default)]
pub struct TickReport {
    /// Why nothing was enqueued today, if so.
    pub closed_reason: Option<String>,
    /// The mails rendered (only with `dry_run`, so a first tick over a long
    /// history does not hold them all).
    pub planned: Vec<Planned1>,
    /// Partnerships read and evaluated (the rest had nothing that could change).
    pub evaluated: usize,
    pub enqueued: u64,
    pub cancelled_checkpoints: usize,
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
    /// Partnerships skipped because their database row is unreadable.
    pub bad_rows: Vec<String>,
    /// Mails that could not be built (stored as failed with this reason).
    pub unrenderable: Vec<String>,
    /// Checkpoints of the whole register at today, by (status, kind) (for
    /// `/metrics`): the stored counts of every evaluation, summed (not
    /// filled with `dry_run`).
    pub checkpoints: BTreeMap<(Status, engine::Kind), u64>,
}

/// A recipient of one stage.
#[derive(Debug, Clone)]
struct To {
    email: Email,
    name: Option<String>,
    role: Role,
    cc: bool,
}

/// A calendar mail for one holder of a checkpoint's entry.
#[derive(Debug, Clone)]
enum Cal {
    /// REQUEST: the entry, first or changed (`updated`).
    Invite { state: InviteState, updated: bool },
    /// CANCEL, and why.
    Cancel {
        state: InviteState,
        why: mail::Withdrawal,
    },
}

impl Cal {
    fn state(&self) -> &InviteState {
        match self {
            Cal::Invite { state, .. } | Cal::Cancel { state, .. } => state,
        }
    }
    /// `invite-N` / `cancel-N`: each calendar message goes out once.
    fn stage_key(&self) -> String {
        match self {
            Cal::Invite { state, .. } => format!("invite-{}", state.sequence),
            Cal::Cancel { state, .. } => format!("cancel-{}", state.sequence),
        }
    }
}

/// What a tick found for one checkpoint before rendering.
struct Candidate {
    partnership: Partnership,
    committee_name: String,
    cp: Checkpoint,
    /// The reminder stage due now (and whether it is sent late), with the
    /// people it reaches; `None` when only calendar mail is due.
    stage: Option<(Planned, bool)>,
    recipients: Vec<To>,
    /// Invites and withdrawals, each to one holder.
    calendar: Vec<(To, Cal)>,
    recent: Vec<(NaiveDate, String)>,
    /// The assigned officer and the deputy (what an escalation names).
    officer: mail::Person,
    deputy: Option<Email>,
}

/// The outbox key: unique per (checkpoint key, due date, stage, recipient)
/// (RULES 8), so a moved due date runs its stages again.
pub fn outbox_key(checkpoint_key: &str, due: NaiveDate, stage: &str, recipient: &Email) -> String {
    format!("{checkpoint_key}|{due}|{stage}|{recipient}")
}

/// Swedish words for an event in a mail's history list: its label and details.
pub fn event_sv(g: &Guideline, k: &EventKind) -> String {
    let label = g.event_label(k);
    match k {
        EventKind::AnnualReportReceived { diarienummer, .. }
        | EventKind::TerminationSubmitted { diarienummer, .. }
        | EventKind::WindDownPlanRegistered { diarienummer } => format!("{label} ({diarienummer})"),
        EventKind::CommitteeFollowupSubmitted {
            diarienummer,
            meeting,
        } => format!("{label} ({diarienummer}) till sammanträdet {meeting}"),
        EventKind::CommitteeFollowupReported {
            meeting, paragraph, ..
        }
        | EventKind::TerminationDecided { meeting, paragraph } => {
            format!("{label} {meeting}, {paragraph}")
        }
        EventKind::AgreementExtended { new_end } => format!("{label} till {new_end}"),
        EventKind::OfficerReplaced { name, .. } => format!("{label}: {name}"),
        EventKind::OfficerAbsent { from, to } => format!("{label} {from}–{to}"),
        EventKind::CheckpointWaived { reason } => format!("{label}: {reason}"),
        EventKind::Retraction { event, reason } if reason.is_empty() => {
            format!("Registrering #{event} ångrad")
        }
        EventKind::Retraction { event, reason } => {
            format!("Registrering #{event} ångrad: {reason}")
        }
        _ => label.to_string(),
    }
}

/// The address (and name, where known) behind one role of a partnership.
/// `officer` is the officer to use: the acting one for mail, the assigned
/// one for the calendar entry.
fn address_of(
    cfg: &Config,
    role: Role,
    officer: (&Email, Option<&String>),
    deputy: Option<&Email>,
    secretary: &Email,
) -> Option<(Email, Option<String>)> {
    let named = |r: &crate::domain::Person| (r.email.clone(), Some(r.name.clone()));
    match role {
        Role::Officer => Some((officer.0.clone(), officer.1.cloned())),
        Role::Deputy => deputy.map(|d| (d.clone(), None)),
        Role::IopAnsvarig => Some(named(&cfg.roles.iop_ansvarig)),
        Role::Advisory => cfg.roles.advisory.as_ref().map(named),
        Role::Jurist => Some(named(&cfg.roles.jurist)),
        Role::AdminSupport => Some(named(&cfg.roles.admin_support)),
        Role::CommitteeSecretary => Some((secretary.clone(), None)),
    }
}

/// The addresses behind the roles of a stage, resolved on its send date
/// (RULES 10): the deputy stands in for an absent officer.
fn resolve(
    cfg: &Config,
    p: &Partnership,
    events: &[Event],
    secretary: &Email,
    roles: &ladder::Recipients,
    on: NaiveDate,
) -> Vec<To> {
    let who = engine::responsible_on(p, events, on);
    let acting = who.acting().clone();
    let officer_name = (acting == who.officer.email).then_some(&who.officer.name);
    let mut out: Vec<To> = Vec::new();
    for (list, cc) in [(&roles.to, false), (&roles.cc, true)] {
        for role in list {
            let found = address_of(
                cfg,
                *role,
                (&acting, officer_name),
                p.deputy.as_ref(),
                secretary,
            );
            if let Some((email, name)) = found
                && !out.iter().any(|t| t.email == email)
            {
                out.push(To {
                    email,
                    name,
                    role: *role,
                    cc,
                });
            }
        }
    }
    out
}

/// Who holds a checkpoint's calendar entry on `on` (invites, the calendar
/// feed): the addresses of [`ladder::invitee_roles`], with the assigned
/// officer rather than the acting one, so an absence does not withdraw the
/// entry while a replacement does.
#[allow(clippy::too_many_arguments)]
pub fn holders(
    cfg: &Config,
    ladder: &Ladder,
    p: &Partnership,
    events: &[Event],
    secretary: &Email,
    kind: engine::Kind,
    parent: Option<engine::Kind>,
    on: NaiveDate,
) -> Vec<Email> {
    let who = engine::responsible_on(p, events, on);
    let mut out: Vec<Email> = Vec::new();
    for role in ladder::invitee_roles(ladder, kind, parent) {
        let found = address_of(
            cfg,
            role,
            (&who.officer.email, None),
            p.deputy.as_ref(),
            secretary,
        );
        if let Some((email, _)) = found
            && !out.contains(&email)
        {
            out.push(email);
        }
    }
    out
}

/// Which partnerships a tick evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pass {
    /// Those whose stored evaluation may be out of date (see [`enqueue`]).
    #[default]
    Incremental,
    /// Every partnership (`iopd tick --full`): the same mails, at the cost
    /// of reading the whole register.
    Full,
}

/// A hash of everything besides a partnership's own data that decides its
/// reminders: the rule-relevant configuration (roles, committees with their
/// meetings and policies, the policy, the ladder with quiet periods and
/// routing, whether officers get the Monday list, the time zone), the
/// tracking start, and the program's own source (a new version may change a
/// rule). A partnership evaluated under another hash is evaluated again, so
/// a configuration change or an upgrade makes the next tick a full pass.
pub fn rules_hash(cfg: &Config, tracking: NaiveDate) -> String {
    use sha2::{Digest, Sha256};
    let text = format!(
        "{}\n{:?}\n{:?}\n{:?}\n{:?}\n{}\n{}\n{}",
        env!("IOPD_SOURCE_HASH"),
        cfg.roles,
        cfg.committees,
        cfg.policy,
        cfg.reminders,
        cfg.digest.officers,
        cfg.body.time_zone,
        tracking
    );
    let digest = Sha256::digest(text.as_bytes());
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// One partnership as evaluated in a chunk, before its mails are rendered.
struct Evaluated {
    id: String,
    committee: String,
    revision: i64,
    /// False when part of its history could not be read: not marked
    /// evaluated, so every tick reads (and reports) it again.
    intact: bool,
    next_check: NaiveDate,
    counts: BTreeMap<String, u64>,
    /// The workspace's order: overdue checkpoints, the earliest open due date.
    overdue: i64,
    next_due: Option<NaiveDate>,
    /// In checkpoint order: the reminder due now for each open checkpoint
    /// and the withdrawal of the live calendar entries of each closed one
    /// (whether or not the sending window is open).
    candidates: Vec<Candidate>,
}

/// Computes, renders and enqueues this tick's mails; with `dry_run` it only
/// reports them and writes nothing. Delivery is separate (`deliver`).
///
/// Incremental: only partnerships that were never evaluated, changed since
/// (their revision), were evaluated under other rules ([`rules_hash`]) or
/// reached their `next_check` ([`recheck::next_check`]) are read. For every
/// other one a full evaluation would enqueue nothing: its answer has not
/// changed since an evaluation whose mails were enqueued. They are read
/// [`CHUNK`] at a time; each chunk's mails, invites, cancellations and
/// evaluations are written in one transaction, so a crash between chunks
/// leaves the rest to the next tick, and the outbox's unique keys keep every
/// mail to once.
///
/// Outside the sending window the reminders are not rendered; a partnership
/// with one waiting keeps `next_check` at today, so the first tick inside
/// the window sends it (catch-up after a weekend, a quiet period or an outage).
pub async fn enqueue(
    cfg: &Config,
    store: &Store,
    now: &Now,
    dry_run: bool,
    pass: Pass,
) -> Result<TickReport, DeliveryError> {
    let mut report = TickReport::default();
    let window = sending_window(cfg, now);
    if let Err(why) = &window {
        report.closed_reason = Some(why.clone());
    }
    let open = window.is_ok();
    let tracking = store.created_on().await?;
    let hash = rules_hash(cfg, tracking);
    // Small: only rows waiting to be sent, and running postponements.
    let pending = store.checkpoints_with_pending().await?;
    let postponed = store.postponed_until(now.today).await?;
    let ids = store
        .tick_selection(now.today, &hash, pass == Pass::Full)
        .await?;
    let ctx = TickContext {
        cfg,
        ladder: cfg.ladder(),
        rules: cfg.committee_rules(tracking),
        pending: &pending,
        postponed: &postponed,
        today: now.today,
    };
    for chunk in ids.chunks(CHUNK) {
        // The chunk's calendar entries: only evaluations of these same
        // partnerships write them, so they may be read first.
        let invites = store.invites_of(chunk).await?;
        let mut by_checkpoint: HashMap<&str, Vec<(&String, &InviteState)>> = HashMap::new();
        for ((cp, recipient), st) in &invites {
            by_checkpoint
                .entry(cp.as_str())
                .or_default()
                .push((recipient, st));
        }
        let mut evaluated: Vec<Evaluated> = Vec::with_capacity(chunk.len());
        let mut closed: Vec<String> = Vec::new();
        store
            .partnerships_for_tick(
                chunk,
                |read| evaluated.push(ctx.evaluate(read, &by_checkpoint, &mut closed)),
                |e| {
                    tracing::error!("partnership skipped: {e}");
                    report.bad_rows.push(e.to_string());
                },
            )
            .await?;
        report.evaluated += evaluated.len();
        report.cancelled_checkpoints += closed.len();

        // Keys first, so nothing already enqueued is rendered again.
        let mut keys = Vec::new();
        let mut escalated = Vec::new();
        for ev in &evaluated {
            for c in &ev.candidates {
                keys.extend(candidate_mails(c).into_iter().map(|(_, _, k)| k));
                if c.stage
                    .as_ref()
                    .is_some_and(|(p, _)| p.stage.kind == StageKind::Escalation)
                {
                    escalated.push(c.cp.key.clone());
                }
            }
        }
        let existing = store.existing_keys(&keys).await?;
        // What the escalation says about the reminders before it.
        let reminded = if open && !escalated.is_empty() {
            let escalation_readers = [
                Some(cfg.roles.iop_ansvarig.email.to_string()),
                cfg.roles.advisory.as_ref().map(|a| a.email.to_string()),
            ];
            let skip: Vec<String> = escalation_readers.into_iter().flatten().collect();
            store.reminders_sent(&escalated, &skip).await?
        } else {
            HashMap::new()
        };

        let mut batch = Enqueue {
            closed,
            ..Default::default()
        };
        for ev in &mut evaluated {
            let mut waiting = false;
            for c in &ev.candidates {
                for (t, cal, key) in candidate_mails(c) {
                    if existing.contains(&key) {
                        continue;
                    }
                    // Withdrawals too wait for the window: never on a holiday.
                    if !open {
                        waiting = true;
                        continue;
                    }
                    let rendered = match cal {
                        None => render_item(cfg, now, c, t, &key, reminded.get(&c.cp.key)),
                        Some(cal) => render_calendar(cfg, now, c, t, cal, &key),
                    };
                    match rendered {
                        Ok((mail, planned)) => {
                            if dry_run {
                                report.planned.push(planned);
                            }
                            if let Some(cal) = cal {
                                batch.invites.push(NewInvite {
                                    checkpoint_key: c.cp.key.clone(),
                                    partnership_id: ev.id.clone(),
                                    recipient: t.email.to_string(),
                                    state: cal.state().clone(),
                                });
                            }
                            batch.mails.push(mail);
                        }
                        // One mail that cannot be built costs that mail only:
                        // it is stored as failed with its reason (once, under
                        // its key) and the tick goes on with the others.
                        Err(e) => {
                            let reason = unrenderable_reason(c, t, &e);
                            tracing::error!(key = %key, "{reason}");
                            report.unrenderable.push(reason.clone());
                            batch.mails.push(failed_mail(cfg, now, c, t, &key, reason));
                        }
                    }
                }
            }
            // Outside the window nothing moves past today's waiting work.
            if waiting {
                ev.next_check = ev.next_check.min(now.today);
            }
            if ev.intact {
                batch.evaluations.push(Evaluation {
                    partnership_id: ev.id.clone(),
                    committee: ev.committee.clone(),
                    revision: ev.revision,
                    rules: hash.clone(),
                    next_check: ev.next_check,
                    counts: serde_json::to_string(&ev.counts).unwrap_or_else(|_| "{}".into()),
                    overdue: ev.overdue,
                    next_due: ev.next_due,
                });
            }
        }
        if !dry_run {
            report.enqueued += store.enqueue(&batch, now.instant).await?;
        }
    }
    if !dry_run {
        let sums = store.checkpoint_counts().await?;
        store.set_overview_counts(&sums.by_committee).await?;
        for (key, n) in sums.by_key {
            let parsed = key.split_once('/').and_then(|(status, kind)| {
                Some((Status::parse(status)?, engine::Kind::parse(kind)?))
            });
            match parsed {
                Some(k) => {
                    report.checkpoints.insert(k, u64::try_from(n).unwrap_or(0));
                }
                None => tracing::warn!("stored checkpoint count with an unknown key {key:?}"),
            }
        }
    }
    Ok(report)
}

/// What every partnership of a tick is evaluated against.
struct TickContext<'a> {
    cfg: &'a Config,
    ladder: Ladder,
    rules: HashMap<CommitteeKey, (CommitteeCalendar, engine::Policy)>,
    pending: &'a HashSet<String>,
    postponed: &'a HashMap<String, NaiveDate>,
    today: NaiveDate,
}

impl TickContext<'_> {
    /// The engine at today for one partnership: its counts, closed
    /// checkpoints with reminders to drop (into `closed`) or entries to
    /// withdraw, the stage due for each open one with its recipients on
    /// today, and the next day on which any of that can change.
    fn evaluate(
        &self,
        read: ForTick,
        invites: &HashMap<&str, Vec<(&String, &InviteState)>>,
        closed: &mut Vec<String>,
    ) -> Evaluated {
        let ForTick {
            partnership: p,
            revision,
            events,
            intact,
        } = read;
        let today = self.today;
        let cfg = self.cfg;
        let mut ev = Evaluated {
            id: p.id.to_string(),
            committee: p.committee.to_string(),
            revision,
            intact,
            next_check: recheck::limit(today),
            counts: BTreeMap::new(),
            overdue: 0,
            next_due: None,
            candidates: Vec::new(),
        };
        // A committee missing from the configuration: nothing to remind of
        // until the configuration (and with it the rules hash) changes.
        let (Some((calendar, policy)), Some(committee)) = (
            self.rules.get(&p.committee),
            cfg.committees.get(&p.committee),
        ) else {
            return ev;
        };
        let input = Input {
            partnership: &p,
            events: &events,
            policy,
            committee: calendar,
            today,
            horizon: today,
        };
        let recent = || {
            events
                .iter()
                .filter(|e| {
                    !e.retracted && e.on <= today && !matches!(e.kind, EventKind::Retraction { .. })
                })
                .rev()
                .take(5)
                .map(|e| (e.on, event_sv(&cfg.guideline, &e.kind)))
                .collect::<Vec<_>>()
        };
        let checkpoints = engine::checkpoints(&input);
        let mut postponed_until = Vec::new();
        let who = engine::responsible_on(&p, &events, today);
        let officer = mail::Person {
            name: Some(who.officer.name.clone()),
            email: who.officer.email.clone(),
        };
        let invites_on = cfg.mail.calendar == CalendarMode::Invites;
        for cp in &checkpoints {
            *ev.counts
                .entry(format!("{}/{}", cp.status.name(), cp.kind.name()))
                .or_default() += 1;
            if cp.status == Status::Overdue {
                ev.overdue += 1;
            }
            if cp.status.is_open() && ev.next_due.is_none_or(|d| cp.due < d) {
                ev.next_due = Some(cp.due);
            }
            if let Some(until) = self.postponed.get(&cp.key) {
                postponed_until.push(*until);
            }
            let mut held: Vec<(&String, &InviteState)> = invites
                .get(cp.key.as_str())
                .map(|v| {
                    v.iter()
                        .filter(|(_, s)| !s.cancelled)
                        .map(|(r, s)| (*r, *s))
                        .collect()
                })
                .unwrap_or_default();
            let mut calendar: Vec<(To, Cal)> = Vec::new();
            let holder = |r: &str| {
                Email::parse(r).ok().map(|email| To {
                    email,
                    name: None,
                    role: Role::Officer,
                    cc: false,
                })
            };
            let candidate = |stage, recipients, calendar: Vec<(To, Cal)>| Candidate {
                partnership: p.clone(),
                committee_name: committee.name.clone(),
                cp: cp.clone(),
                stage,
                recipients,
                calendar,
                recent: recent(),
                officer: officer.clone(),
                deputy: p.deputy.clone(),
            };
            if cp.status.is_closed() {
                if self.pending.contains(&cp.key) {
                    closed.push(cp.key.clone());
                }
                // Every entry still in someone's calendar is withdrawn, whatever
                // closed it, except one done on its own day (or a fact, the
                // agreement's end, reached): the entry is true as it stands.
                let on_the_day = cp.status == Status::Done
                    && cp.evidence.as_ref().is_none_or(|e| e.on == cp.due);
                if on_the_day {
                    held.clear();
                }
                let why = match cp.status {
                    Status::Done => mail::Withdrawal::Done,
                    Status::Missed => mail::Withdrawal::Missed,
                    Status::Waived => mail::Withdrawal::Waived,
                    _ => mail::Withdrawal::Cancelled,
                };
                for (r, st) in held {
                    if let Some(t) = holder(r) {
                        calendar.push((t, withdraw(st, cp, why)));
                    }
                }
                if !calendar.is_empty() {
                    ev.candidates.push(candidate(None, Vec::new(), calendar));
                }
                continue;
            }
            let holders = holders(
                cfg,
                &self.ladder,
                &p,
                &events,
                &committee.secretary,
                cp.kind,
                cp.parent,
                today,
            );
            let print = fingerprint(&cfg.guideline, cp, &p);
            for (r, st) in &held {
                let Some(t) = holder(r) else { continue };
                let changed = match &st.fingerprint {
                    Some(f) => *f != print,
                    None => st.due != cp.due,
                };
                if !holders.contains(&t.email) {
                    calendar.push((t, withdraw(st, cp, mail::Withdrawal::NotYours)));
                } else if changed && cp.due >= today && invites_on {
                    let state = InviteState {
                        sequence: st.sequence + 1,
                        due: cp.due,
                        cancelled: false,
                        fingerprint: Some(print.clone()),
                    };
                    calendar.push((
                        t,
                        Cal::Invite {
                            state,
                            updated: true,
                        },
                    ));
                } else if changed {
                    calendar.push((t, withdraw(st, cp, mail::Withdrawal::Moved)));
                }
            }
            let mut stage = None;
            let mut recipients = Vec::new();
            // `latest`, not `current`: on a closed day it tells whether
            // work waits for the next open one (they agree inside the window).
            if let Some((planned, late)) = ladder::latest(cp, &self.ladder, today)
                // The officer's Monday list takes the place of *planera* (issue 6 item 2).
                && !(cfg.digest.officers && planned.stage.kind == StageKind::Planning)
                // "Jag behöver mer tid": the checkpoint's own stages wait;
                // the escalation never does (the date is capped at it).
                && !(planned.stage.kind < StageKind::Escalation
                    && self
                        .postponed
                        .get(&cp.key)
                        .is_some_and(|until| today < *until))
            {
                let roles = ladder::route(&self.ladder, cp.kind, cp.parent, planned.stage.kind);
                recipients = resolve(cfg, &p, &events, &committee.secretary, &roles, today);
                // The entry goes with the first stage that reaches a holder:
                // never for a date already past, never with an escalation.
                if invites_on && planned.stage.kind != StageKind::Escalation && cp.due >= today {
                    for t in &recipients {
                        let live = held.iter().any(|(r, _)| **r == t.email.as_str());
                        if live || !holders.contains(&t.email) {
                            continue;
                        }
                        let previous = invites
                            .get(cp.key.as_str())
                            .and_then(|v| v.iter().find(|(r, _)| *r == t.email.as_str()));
                        let state = InviteState {
                            sequence: previous.map_or(0, |(_, s)| s.sequence + 1),
                            due: cp.due,
                            cancelled: false,
                            fingerprint: Some(print.clone()),
                        };
                        calendar.push((
                            t.clone(),
                            Cal::Invite {
                                state,
                                updated: false,
                            },
                        ));
                    }
                }
                stage = Some((planned, late));
            }
            if stage.is_some() || !calendar.is_empty() {
                ev.candidates.push(candidate(stage, recipients, calendar));
            }
        }
        // A second run with a later horizon: the periods that start before
        // the limit (recheck's completeness argument).
        let ahead = engine::checkpoints(&Input {
            horizon: recheck::limit(today),
            ..input
        });
        ev.next_check = recheck::next_check(
            &recheck::Dates {
                partnership: &p,
                events: &events,
                now: &checkpoints,
                ahead: &ahead,
                postponed_until: &postponed_until,
            },
            &self.ladder,
            today,
        );
        ev
    }
}

/// The CANCEL of an entry a holder has, one sequence on.
fn withdraw(st: &InviteState, cp: &Checkpoint, why: mail::Withdrawal) -> Cal {
    Cal::Cancel {
        state: InviteState {
            sequence: st.sequence + 1,
            due: cp.due,
            cancelled: true,
            fingerprint: st.fingerprint.clone(),
        },
        why,
    }
}

/// What a calendar entry says: its date, meeting and title. An invite goes
/// again only when this changes.
fn fingerprint(g: &Guideline, cp: &Checkpoint, p: &Partnership) -> String {
    let meeting = cp.meeting.map(|m| m.to_string()).unwrap_or_default();
    format!("{}|{meeting}|{}", cp.due, summary(g, cp, p))
}

/// The calendar entry's title: "[IOP] Avstämningsmöte – Fritidsbanken".
pub fn summary(g: &Guideline, cp: &Checkpoint, p: &Partnership) -> String {
    format!(
        "[IOP] {} – {}",
        g.label(cp.kind),
        mail::one_line(&p.organisation)
    )
}

/// Each mail a candidate makes, with its outbox key: the reminder stage's
/// item for each recipient (`None`), and each calendar mail.
fn candidate_mails(c: &Candidate) -> Vec<(&To, Option<&Cal>, String)> {
    let mut mails = Vec::new();
    if let Some((planned, _)) = &c.stage {
        let stage = planned.stage.key();
        for t in &c.recipients {
            mails.push((t, None, outbox_key(&c.cp.key, c.cp.due, &stage, &t.email)));
        }
    }
    for (t, cal) in &c.calendar {
        let key = outbox_key(&c.cp.key, c.cp.due, &cal.stage_key(), &t.email);
        mails.push((t, Some(cal), key));
    }
    mails
}

/// What a section or calendar mail says, for one reader.
fn context(
    cfg: &Config,
    now: &Now,
    c: &Candidate,
    t: &To,
    reminded: Option<&(i64, NaiveDate)>,
) -> ReminderContext {
    let person = |x: &To| mail::Person {
        name: x.name.clone(),
        email: x.email.clone(),
    };
    let stage = c.stage.as_ref().map(|(p, _)| p.stage.kind);
    let escalation = stage == Some(StageKind::Escalation);
    let reader = match t.role {
        Role::IopAnsvarig => mail::Reader::Coordinator,
        Role::Advisory if escalation => mail::Reader::AdvisoryCopy,
        _ => mail::Reader::Officer,
    };
    let links = match (&c.stage, reader) {
        (None, _) | (_, mail::Reader::AdvisoryCopy) => None,
        _ => crate::web::links(cfg, &c.cp.key, &t.email, now.today),
    };
    ReminderContext {
        body_name: cfg.body.name.clone(),
        partnership_id: c.partnership.id.to_string(),
        organisation: c.partnership.organisation.clone(),
        committee_name: c.committee_name.clone(),
        kind: c.cp.kind,
        parent: c.cp.parent,
        due: c.cp.due,
        period_start: c.cp.period_start,
        period_end: c.cp.period_end,
        meeting: c.cp.meeting,
        no_meeting: c.cp.no_meeting,
        stage,
        today: now.today,
        sent_late: c.stage.as_ref().is_some_and(|(_, late)| *late),
        recent_events: c.recent.clone(),
        reader,
        recipient: person(t),
        to: c.recipients.iter().filter(|x| !x.cc).map(person).collect(),
        cc: c.recipients.iter().filter(|x| x.cc).map(person).collect(),
        coordinator: (&cfg.roles.iop_ansvarig).into(),
        redirected_from: if cfg.mail.redirect_all_to.is_some() {
            vec![t.email.clone()]
        } else {
            Vec::new()
        },
        overview_link: if escalation && links.is_some() {
            crate::web::overview_link(cfg, &t.email, now.today)
        } else {
            None
        },
        links,
        escalation: escalation.then(|| mail::Escalation {
            officer: c.officer.clone(),
            deputy: c.deputy.clone(),
            reminded: reminded.map_or(0, |r| r.0),
            last_reminded: reminded.map(|r| r.1),
        }),
        diarienummer_hint: None,
        guideline: cfg.guideline.clone(),
        documents: c.cp.documents.clone(),
    }
}

/// The outbox row of one reminder stage for one recipient: an item whose
/// message is its section of the recipient's mail of the day.
fn render_item(
    cfg: &Config,
    now: &Now,
    c: &Candidate,
    t: &To,
    key: &str,
    reminded: Option<&(i64, NaiveDate)>,
) -> Result<(NewMail, Planned1), DeliveryError> {
    let Some((planned, late)) = &c.stage else {
        return Err(DeliveryError::Transport(
            "a reminder item without a stage".into(),
        ));
    };
    let map_err = |source| DeliveryError::Mail {
        key: key.to_string(),
        source,
    };
    let section = mail::render_section(&context(cfg, now, c, t, reminded)).map_err(map_err)?;
    let message = serde_json::to_vec(&section)
        .map_err(|e| DeliveryError::Transport(format!("cannot store the section: {e}")))?;
    let envelope_to = cfg
        .mail
        .redirect_all_to
        .clone()
        .unwrap_or_else(|| t.email.clone());
    let rank = i32::from(section.rank);
    let planned1 = Planned1 {
        key: key.to_string(),
        checkpoint_key: c.cp.key.clone(),
        stage: planned.stage.key(),
        stage_label: planned.stage.kind.label_sv(),
        recipient: t.email.clone(),
        role: t.role,
        late: *late,
        due: c.cp.due,
        subject: section.headline.clone(),
        cancel: false,
    };
    let mail = NewMail {
        key: key.to_string(),
        checkpoint_key: c.cp.key.clone(),
        partnership_id: c.partnership.id.to_string(),
        kind: c.cp.kind.name().to_string(),
        stage: planned.stage.key(),
        due: c.cp.due,
        recipient: t.email.to_string(),
        envelope_to: envelope_to.to_string(),
        send_on: planned.send_on,
        late: *late,
        message_id: mail::message_id(key, &cfg.mail.from),
        subject: section.headline,
        message,
        failed: None,
        item: true,
        rank,
    };
    Ok((mail, planned1))
}

/// A calendar mail (REQUEST or CANCEL) for one holder: its own small mail,
/// one UID per iTIP message (RFC 5546), no personal link in the calendar data.
fn render_calendar(
    cfg: &Config,
    now: &Now,
    c: &Candidate,
    t: &To,
    cal: &Cal,
    key: &str,
) -> Result<(NewMail, Planned1), DeliveryError> {
    let map_err = |source| DeliveryError::Mail {
        key: key.to_string(),
        source,
    };
    let ctx = ReminderContext {
        stage: None,
        links: None,
        ..context(cfg, now, c, t, None)
    };
    let (rendered, method) = match cal {
        Cal::Invite { updated, .. } => (
            mail::render_invite(&ctx, *updated).map_err(map_err)?,
            ical::Method::Request,
        ),
        Cal::Cancel { why, .. } => (
            mail::render_cancel(&ctx, *why).map_err(map_err)?,
            ical::Method::Cancel,
        ),
    };
    let cancel = method == ical::Method::Cancel;
    let g = &cfg.guideline.text(c.cp.kind, c.cp.parent).rule;
    let event = ical::EventSpec {
        uid: format!("{}@iopd", c.cp.key),
        sequence: u32::try_from(cal.state().sequence).unwrap_or(0),
        dtstamp: now.instant,
        date: c.cp.due,
        summary: summary(&cfg.guideline, &c.cp, &c.partnership),
        description: format!(
            "{} {}, {}. {g}",
            c.partnership.id,
            mail::one_line(&c.partnership.organisation),
            c.committee_name
        ),
        location: None,
        url: None,
        organizer: Some((cfg.body.name.clone(), cfg.mail.from.clone())),
        attendees: vec![(t.name.clone(), t.email.clone())],
        cancelled: cancel,
        alarm_days_before: if cancel { None } else { Some(1) },
        categories: vec!["IOP".into()],
    };
    let invite = mail::Invite {
        method,
        ics: ical::calendar(method, &cfg.body.name, &[event]),
    };
    let envelope_to = cfg
        .mail
        .redirect_all_to
        .clone()
        .unwrap_or_else(|| t.email.clone());
    let env = mail::Envelope {
        from: cfg.sender(),
        to: vec![mail::Person {
            name: t.name.clone(),
            email: envelope_to.clone(),
        }],
        cc: Vec::new(),
        outbox_key: Some(key.to_string()),
        items: Vec::new(),
    };
    let message_id = mail::message_id(key, &cfg.mail.from);
    let msg =
        mail::build(&env, &rendered, Some(&invite), &message_id, now.instant).map_err(map_err)?;
    let stage = cal.stage_key();
    let planned = Planned1 {
        key: key.to_string(),
        checkpoint_key: c.cp.key.clone(),
        stage: stage.clone(),
        stage_label: if cancel {
            "Kalenderpost tas bort"
        } else {
            "Kalenderpost"
        },
        recipient: t.email.clone(),
        role: t.role,
        late: false,
        due: c.cp.due,
        subject: rendered.subject.clone(),
        cancel,
    };
    let mail = NewMail {
        key: key.to_string(),
        checkpoint_key: c.cp.key.clone(),
        partnership_id: c.partnership.id.to_string(),
        kind: c.cp.kind.name().to_string(),
        stage,
        due: c.cp.due,
        recipient: t.email.to_string(),
        envelope_to: envelope_to.to_string(),
        send_on: now.today,
        late: false,
        message_id,
        subject: rendered.subject,
        message: msg.formatted(),
        failed: None,
        item: false,
        rank: 0,
    };
    Ok((mail, planned))
}

/// Names the partnership, the recipient's role and address, and what is wrong.
fn unrenderable_reason(c: &Candidate, t: &To, e: &DeliveryError) -> String {
    let detail = match e {
        DeliveryError::Mail { source, .. } => source.to_string(),
        other => other.to_string(),
    };
    format!(
        "partnership {}: {} {:?}: cannot build the mail: {detail}",
        c.partnership.id,
        t.role.name(),
        t.email.as_str()
    )
}

/// The outbox row of a mail that could not be built: never claimed, listed
/// with `iopd outbox --status failed` and in the digest's data problems.
fn failed_mail(
    cfg: &Config,
    now: &Now,
    c: &Candidate,
    t: &To,
    key: &str,
    reason: String,
) -> NewMail {
    let stage = key.split('|').nth(2).unwrap_or("stage").to_string();
    NewMail {
        key: key.to_string(),
        checkpoint_key: c.cp.key.clone(),
        partnership_id: c.partnership.id.to_string(),
        kind: c.cp.kind.name().to_string(),
        stage,
        due: c.cp.due,
        recipient: t.email.to_string(),
        envelope_to: t.email.to_string(),
        send_on: now.today,
        late: c.stage.as_ref().is_some_and(|(_, late)| *late),
        message_id: mail::message_id(key, &cfg.mail.from),
        subject: String::new(),
        message: Vec::new(),
        failed: Some(reason),
        item: false,
        rank: 0,
    }
}
