//! One tick: compute the stage due for every open checkpoint, enqueue one
//! outbox row per (checkpoint key, due date, stage, recipient), cancel what is
//! closed, then deliver what is waiting.
//!
//! Exactly once: rows are unique on that key and inserted with
//! `ON CONFLICT DO NOTHING` in one transaction, so a second tick, a
//! concurrent one or one after a restart enqueues nothing new. Delivery claims
//! rows under a lease; the only possible repeat is a crash after the server
//! accepted a mail and before the row was marked sent, and that repeat carries
//! the same Message-ID (derived from the outbox key).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::clock::Now;
use crate::config::Config;
use crate::domain::{CommitteeKey, Email, Event, EventKind, Partnership};
use crate::engine::{self, Checkpoint, CommitteeCalendar, Input, Role, Status};
use crate::ical;
use crate::ladder::{self, Ladder, Planned, StageKind};
use crate::mail::{self, ReminderContext};
use crate::recheck;
use crate::store::{CHUNK, Enqueue, Evaluation, ForTick, InviteState, NewInvite, NewMail, Store};

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot render the mail for {key}: {source}")]
    Mail {
        key: String,
        source: mail::MailError,
    },
    #[error("cannot set up mail delivery: {0}")]
    Transport(String),
}

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

/// What a tick found for one checkpoint before rendering.
struct Candidate {
    partnership: Partnership,
    committee_name: String,
    cp: Checkpoint,
    /// None for a cancellation of the calendar entry.
    stage: Option<(Planned, bool)>,
    recipients: Vec<To>,
    recent: Vec<(NaiveDate, String)>,
}

impl Config {
    pub fn ladder(&self) -> Ladder {
        self.reminders.clone()
    }
}

/// The outbox key: unique per (checkpoint key, due date, stage, recipient)
/// (RULES 8), so a moved due date runs its stages again.
pub fn outbox_key(checkpoint_key: &str, due: NaiveDate, stage: &str, recipient: &Email) -> String {
    format!("{checkpoint_key}|{due}|{stage}|{recipient}")
}

/// Whether reminders may be enqueued at `now`: a working day, outside quiet
/// periods, at or after `send_at`, with mail enabled; otherwise why not, in
/// the operator's Swedish (`outlook`).
pub fn sending_window(cfg: &Config, now: &Now) -> Result<(), String> {
    crate::outlook::closed_sv(cfg, now).map_or(Ok(()), Err)
}

/// Swedish words for an event in a mail's history list.
fn event_sv(k: &EventKind) -> String {
    match k {
        EventKind::CheckinHeld => "Avstämningsmöte hållet".into(),
        EventKind::AnnualReportReceived { diarienummer } => {
            format!("Årsredovisning diarieförd ({diarienummer})")
        }
        EventKind::AnnualEvaluationHeld => "Årlig utvärdering hållen".into(),
        EventKind::CommitteeFollowupSubmitted {
            diarienummer,
            meeting,
        } => {
            format!("Tjänsteskrivelse inlämnad ({diarienummer}) till sammanträdet {meeting}")
        }
        EventKind::CommitteeFollowupReported {
            meeting, paragraph, ..
        } => {
            format!("Uppföljning behandlad i nämnden {meeting}, {paragraph}")
        }
        EventKind::RenegotiatedAgreementSigned => {
            "Omförhandlad överenskommelse undertecknad".into()
        }
        EventKind::NoticeGiven { .. } => "Uppsägning".into(),
        EventKind::TerminationSubmitted { diarienummer, .. } => {
            format!("Tjänsteskrivelse om uppsägning ({diarienummer})")
        }
        EventKind::TerminationDecided { meeting, paragraph } => {
            format!("Nämnden beslutade om uppsägning {meeting}, {paragraph}")
        }
        EventKind::WindDownPlanRegistered { diarienummer } => {
            format!("Avvecklingsplan diarieförd ({diarienummer})")
        }
        EventKind::ExpiryEvaluationHeld => "Djupare utvärdering hållen".into(),
        EventKind::AgreementExtended { new_end } => {
            format!("Överenskommelsen förlängd till {new_end}")
        }
        EventKind::OfficerReplaced { name, .. } => format!("Ny handläggare: {name}"),
        EventKind::OfficerAbsent { from, to } => format!("Handläggaren frånvarande {from}–{to}"),
        EventKind::PaymentsStopped => "Utbetalningarna har upphört".into(),
        EventKind::PaymentChanged => "Ändrat belopp infört".into(),
        EventKind::CheckpointWaived { reason } => format!("Avskriven av IOP-ansvarig: {reason}"),
        EventKind::Retraction { event } => format!("Registrering #{event} ångrad"),
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
    revision: i64,
    /// False when part of its history could not be read: not marked
    /// evaluated, so every tick reads (and reports) it again.
    intact: bool,
    next_check: NaiveDate,
    counts: BTreeMap<String, u64>,
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
        let mut live: HashMap<&str, Vec<&str>> = HashMap::new();
        for ((cp, recipient), st) in &invites {
            if !st.cancelled {
                live.entry(cp.as_str())
                    .or_default()
                    .push(recipient.as_str());
            }
        }
        let mut evaluated: Vec<Evaluated> = Vec::with_capacity(chunk.len());
        let mut closed: Vec<String> = Vec::new();
        store
            .partnerships_for_tick(
                chunk,
                |read| evaluated.push(ctx.evaluate(read, &live, &mut closed)),
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
        for ev in &evaluated {
            for c in &ev.candidates {
                for t in &c.recipients {
                    keys.push(candidate_key(c, t, &invites));
                }
            }
        }
        let existing = store.existing_keys(&keys).await?;

        let mut batch = Enqueue {
            closed,
            ..Default::default()
        };
        for ev in &mut evaluated {
            let mut waiting = false;
            for c in &ev.candidates {
                for t in &c.recipients {
                    let key = candidate_key(c, t, &invites);
                    if existing.contains(&key) {
                        continue;
                    }
                    // Withdrawals too wait for the window: never on a holiday.
                    if !open {
                        waiting = true;
                        continue;
                    }
                    match render_one(cfg, now, c, t, &key, &invites) {
                        Ok((mail, state, planned)) => {
                            if dry_run {
                                report.planned.push(planned);
                            }
                            batch.invites.push(NewInvite {
                                checkpoint_key: c.cp.key.clone(),
                                partnership_id: ev.id.clone(),
                                recipient: t.email.to_string(),
                                state,
                            });
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
                    revision: ev.revision,
                    rules: hash.clone(),
                    next_check: ev.next_check,
                    counts: serde_json::to_string(&ev.counts).unwrap_or_else(|_| "{}".into()),
                });
            }
        }
        if !dry_run {
            report.enqueued += store.enqueue(&batch, now.instant).await?;
        }
    }
    if !dry_run {
        for (key, n) in store.checkpoint_counts().await? {
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
        live: &HashMap<&str, Vec<&str>>,
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
            revision,
            intact,
            next_check: recheck::limit(today),
            counts: BTreeMap::new(),
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
                .map(|e| (e.on, event_sv(&e.kind)))
                .collect::<Vec<_>>()
        };
        let checkpoints = engine::checkpoints(&input);
        let mut postponed_until = Vec::new();
        for cp in &checkpoints {
            *ev.counts
                .entry(format!("{}/{}", cp.status.name(), cp.kind.name()))
                .or_default() += 1;
            if let Some(until) = self.postponed.get(&cp.key) {
                postponed_until.push(*until);
            }
            let is_closed = cp.status.is_closed();
            if is_closed {
                if self.pending.contains(&cp.key) {
                    closed.push(cp.key.clone());
                }
                // RULES 17: a missed or waived checkpoint's invite is cancelled.
                let withdraw = matches!(
                    cp.status,
                    Status::Cancelled | Status::Missed | Status::Waived
                ) || cp.status == Status::Done
                    && cp.evidence.as_ref().is_some_and(|e| e.on < cp.due);
                if let (true, Some(holders)) = (withdraw, live.get(cp.key.as_str())) {
                    let recipients: Vec<To> = holders
                        .iter()
                        .filter_map(|r| Email::parse(r).ok())
                        .map(|email| To {
                            email,
                            name: None,
                            role: Role::Officer,
                            cc: false,
                        })
                        .collect();
                    ev.candidates.push(Candidate {
                        partnership: p.clone(),
                        committee_name: committee.name.clone(),
                        cp: cp.clone(),
                        stage: None,
                        recipients,
                        recent: recent(),
                    });
                }
                continue;
            }
            // `latest`, not `current`: on a closed day it tells whether
            // work waits for the next open one (they agree inside the window).
            let Some((planned, late)) = ladder::latest(cp, &self.ladder, today) else {
                continue;
            };
            // The officer's Monday list takes the place of *planera* (issue 6 item 2).
            if cfg.digest.officers && planned.stage.kind == StageKind::Planning {
                continue;
            }
            // "Jag behöver mer tid": the checkpoint's own stages wait;
            // the escalation never does (the date is capped at it).
            if planned.stage.kind < StageKind::Escalation
                && self
                    .postponed
                    .get(&cp.key)
                    .is_some_and(|until| today < *until)
            {
                continue;
            }
            let roles = ladder::route(&self.ladder, cp.kind, cp.parent, planned.stage.kind);
            let recipients = resolve(cfg, &p, &events, &committee.secretary, &roles, today);
            ev.candidates.push(Candidate {
                partnership: p.clone(),
                committee_name: committee.name.clone(),
                cp: cp.clone(),
                stage: Some((planned, late)),
                recipients,
                recent: recent(),
            });
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

fn invite_of<'a>(
    c: &Candidate,
    t: &To,
    invites: &'a HashMap<(String, String), InviteState>,
) -> Option<&'a InviteState> {
    invites.get(&(c.cp.key.clone(), t.email.to_string()))
}

/// A cancellation is keyed by the entry's new sequence, so each withdrawal
/// goes out once, and a later re-issue can be withdrawn again.
fn candidate_key(
    c: &Candidate,
    t: &To,
    invites: &HashMap<(String, String), InviteState>,
) -> String {
    match &c.stage {
        Some((planned, _)) => outbox_key(&c.cp.key, c.cp.due, &planned.stage.key(), &t.email),
        None => {
            let seq = invite_of(c, t, invites).map_or(0, |s| s.sequence) + 1;
            outbox_key(&c.cp.key, c.cp.due, &format!("cancel-{seq}"), &t.email)
        }
    }
}

fn render_one(
    cfg: &Config,
    now: &Now,
    c: &Candidate,
    t: &To,
    key: &str,
    invites: &HashMap<(String, String), InviteState>,
) -> Result<(NewMail, InviteState, Planned1), DeliveryError> {
    let previous = invite_of(c, t, invites);
    let cancel = c.stage.is_none();
    // SEQUENCE rises whenever the date moves or the entry is withdrawn or re-issued.
    let state = match (previous, cancel) {
        (None, false) => InviteState {
            sequence: 0,
            due: c.cp.due,
            cancelled: false,
        },
        (Some(s), false) if s.due == c.cp.due && !s.cancelled => *s,
        (Some(s), false) => InviteState {
            sequence: s.sequence + 1,
            due: c.cp.due,
            cancelled: false,
        },
        (prev, true) => InviteState {
            sequence: prev.map_or(0, |s| s.sequence) + 1,
            due: c.cp.due,
            cancelled: true,
        },
    };
    let redirect = cfg.mail.redirect_all_to.clone();
    let person = |x: &To| mail::Person {
        name: x.name.clone(),
        email: x.email.clone(),
    };
    let (stage_label, stage_key, late, is_planning) = match &c.stage {
        Some((p, late)) => (
            p.stage.kind.label_sv(),
            p.stage.key(),
            *late,
            p.stage.kind == StageKind::Planning,
        ),
        None => (
            "Inställd",
            format!("cancel-{}", state.sequence),
            false,
            false,
        ),
    };
    let ctx = ReminderContext {
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
        stage_label: stage_label.to_string(),
        stage_is_planning: is_planning,
        today: now.today,
        sent_late: late,
        recent_events: c.recent.clone(),
        to: c.recipients.iter().filter(|x| !x.cc).map(person).collect(),
        cc: c.recipients.iter().filter(|x| x.cc).map(person).collect(),
        redirected_from: if redirect.is_some() {
            vec![t.email.clone()]
        } else {
            Vec::new()
        },
        // Signed links for this recipient when `[web]` is configured.
        links: if cancel {
            None
        } else {
            crate::web::links(cfg, &c.cp.key, &t.email, now.today)
        },
        diarienummer_hint: None,
    };
    let map_err = |source| DeliveryError::Mail {
        key: key.to_string(),
        source,
    };
    let rendered = if cancel {
        mail::render_cancel(&ctx)
    } else {
        mail::render_reminder(&ctx)
    }
    .map_err(map_err)?;
    let from = mail::Person {
        name: Some(cfg.body.name.clone()),
        email: cfg.mail.from.clone(),
    };
    let method = if cancel {
        ical::Method::Cancel
    } else {
        ical::Method::Request
    };
    let event = ical::EventSpec {
        uid: format!("{}@iopd", c.cp.key),
        sequence: state.sequence as u32,
        dtstamp: now.instant,
        date: c.cp.due,
        summary: format!(
            "[IOP] {} – {}",
            c.cp.kind.label_sv(),
            mail::one_line(&c.partnership.organisation)
        ),
        description: rendered.text.clone(),
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
    let envelope_to = redirect.clone().unwrap_or_else(|| t.email.clone());
    let env = mail::Envelope {
        from,
        to: vec![mail::Person {
            name: t.name.clone(),
            email: envelope_to.clone(),
        }],
        cc: Vec::new(),
        outbox_key: Some(key.to_string()),
    };
    let message_id = mail::message_id(key, &cfg.mail.from);
    let msg =
        mail::build(&env, &rendered, Some(&invite), &message_id, now.instant).map_err(map_err)?;
    let planned = Planned1 {
        key: key.to_string(),
        checkpoint_key: c.cp.key.clone(),
        stage: stage_key.clone(),
        stage_label,
        recipient: t.email.clone(),
        role: t.role,
        late,
        due: c.cp.due,
        subject: rendered.subject.clone(),
        cancel,
    };
    let mail = NewMail {
        key: key.to_string(),
        checkpoint_key: c.cp.key.clone(),
        partnership_id: c.partnership.id.to_string(),
        kind: c.cp.kind.name().to_string(),
        stage: stage_key,
        due: c.cp.due,
        recipient: t.email.to_string(),
        envelope_to: envelope_to.to_string(),
        send_on: c.stage.as_ref().map_or(now.today, |(p, _)| p.send_on),
        late,
        message_id,
        subject: rendered.subject,
        message: msg.formatted(),
        failed: None,
    };
    Ok((mail, state, planned))
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
    let (stage, late) = match &c.stage {
        Some((p, late)) => (p.stage.key(), *late),
        None => ("cancel".to_string(), false),
    };
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
        late,
        message_id: mail::message_id(key, &cfg.mail.from),
        subject: String::new(),
        message: Vec::new(),
        failed: Some(reason),
    }
}

/// What one full tick did (`iopd tick` and the service's tick job).
#[derive(Debug, Default)]
pub struct TickOutcome {
    pub report: TickReport,
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
}

/// One tick: enqueue what is due at `now`, deliver what is waiting, and log
/// the tick. `stop` is polled between mails (a shutdown stops claiming).
/// The command line and the service both come through here, so a simulated
/// day and a real one do the same work.
pub async fn tick(
    cfg: &Config,
    store: &Store,
    sender: &mail::transport::Sender,
    now: &Now,
    pass: Pass,
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<TickOutcome, DeliveryError> {
    // Logged on the (possibly simulated) clock the tick ran on.
    let began = std::time::Instant::now();
    let mut report = enqueue(cfg, store, now, false, pass).await?;
    report.enqueued += crate::digest::heads_up(cfg, store, now, false)
        .await?
        .enqueued;
    let (sent, retried, failed) = deliver(cfg, store, sender, now.instant, stop).await?;
    store
        .record_tick(
            now.instant,
            now.instant + Duration::from_std(began.elapsed()).unwrap_or_default(),
            report.enqueued,
            sent,
            failed,
        )
        .await?;
    Ok(TickOutcome {
        report,
        sent,
        retried,
        failed,
    })
}

/// Backoff after `attempts` transient failures: 1, 2, 4 … minutes, at most an hour.
pub fn backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 7) - 1;
    Duration::minutes((1i64 << exp).min(60))
}

/// Rows claimed at once for each concurrent session: enough that claiming costs little
/// next to sending, few enough that replicas share the work and a shutdown gives back little.
const CLAIM_PER_SESSION: usize = 64;

/// At most one "mark sent" statement this often while sends go on, so each carries many
/// rows (a statement a mail cost more than the send itself on one connection).
const MARK_EVERY: std::time::Duration = std::time::Duration::from_millis(5);

/// Sends what is waiting, in batches, until nothing is left that is due now.
///
/// Each batch is sent over [`Sender::concurrency`](mail::transport::Sender::concurrency)
/// sessions at once (for SMTP, `mail.smtp.pool_size` connections, each kept open across
/// its mails). Rows the server accepted are marked sent together, one statement for all
/// accepted since the last one (at most every [`MARK_EVERY`]), so a crash repeats at most
/// the mails in flight and those accepted in the last few milliseconds, each with its
/// Message-ID.
pub async fn deliver(
    cfg: &Config,
    store: &Store,
    sender: &mail::transport::Sender,
    now: DateTime<Utc>,
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<(u64, u64, u64), DeliveryError> {
    let run = Run {
        cfg,
        store,
        sender,
        now,
        stop,
        give_up: Duration::hours(i64::from(cfg.mail.max_retry_hours)),
        lease: cfg.mail.claim_lease,
        accepted: Mutex::new(Vec::new()),
        wake: tokio::sync::Notify::new(),
        finished: AtomicBool::new(false),
        counts: Mutex::new(Counts::default()),
    };
    let sessions = sender.concurrency().max(1);
    let lease = Duration::from_std(cfg.mail.claim_lease).unwrap_or(Duration::minutes(5));
    let claim = || async {
        if stop() {
            return Ok((Vec::new(), std::time::Instant::now()));
        }
        let rows = store
            .claim(now, lease, (sessions * CLAIM_PER_SESSION) as i64)
            .await?;
        Ok::<_, DeliveryError>((rows, std::time::Instant::now()))
    };
    let batches = async {
        let result = async {
            let mut next = claim().await?;
            while !next.0.is_empty() {
                let (batch, claimed_at) = next;
                // The next batch is claimed while this one is sent, so the connections do
                // not wait for the database between batches.
                let (sent, claimed) =
                    futures_util::future::join(run.batch(batch, claimed_at, sessions), claim())
                        .await;
                next = match (sent, claimed) {
                    (Ok(()), Ok(next)) => next,
                    (Err(e), Ok((rows, _))) => {
                        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
                        store.release(&ids).await?;
                        return Err(e);
                    }
                    (_, Err(e)) => return Err(e),
                };
            }
            Ok::<_, DeliveryError>(())
        }
        .await;
        run.finished.store(true, Ordering::SeqCst);
        run.wake.notify_one();
        result
    };
    let (sent, marked) = futures_util::future::join(batches, run.mark()).await;
    // What the servers accepted is marked even when a database write above failed.
    let flushed = run.mark_accepted().await;
    // The connections are not needed until the next run.
    sender.close().await;
    sent?;
    marked?;
    flushed?;
    let counts = std::mem::take(&mut *lock(&run.counts));
    Ok((counts.sent, counts.retried, counts.failed))
}

#[derive(Debug, Default)]
struct Counts {
    sent: u64,
    retried: u64,
    failed: u64,
}

/// One delivery run: its settings, and the rows accepted but not yet marked sent.
struct Run<'a> {
    cfg: &'a Config,
    store: &'a Store,
    sender: &'a mail::transport::Sender,
    now: DateTime<Utc>,
    stop: &'a (dyn Fn() -> bool + Sync),
    give_up: Duration,
    lease: std::time::Duration,
    /// Rows whose mail a server accepted, not yet marked sent.
    accepted: Mutex<Vec<i64>>,
    /// Raised for each accepted row and when the batches are done.
    wake: tokio::sync::Notify,
    /// No more rows will be accepted.
    finished: AtomicBool,
    counts: Mutex<Counts>,
}

/// What became of one claimed row.
enum Outcome {
    Sent,
    Retry,
    Failed,
}

impl Run<'_> {
    /// Marks what the servers accepted, all rows accepted since the last statement in one,
    /// until the batches are done: once a mark is written, it waits up to [`MARK_EVERY`] for
    /// more acceptances to join the next.
    async fn mark(&self) -> Result<(), DeliveryError> {
        let mut last = tokio::time::Instant::now();
        loop {
            let finished = self.finished.load(Ordering::SeqCst);
            if self.mark_accepted().await? {
                last = tokio::time::Instant::now();
            } else if finished {
                return Ok(());
            } else {
                self.wake.notified().await;
                // More acceptances for the same statement, unless the batches are done.
                while !self.finished.load(Ordering::SeqCst) {
                    let more = tokio::time::timeout_at(last + MARK_EVERY, self.wake.notified());
                    if more.await.is_err() {
                        break;
                    }
                }
            }
        }
    }

    /// Marks the rows accepted so far; whether there were any.
    async fn mark_accepted(&self) -> Result<bool, DeliveryError> {
        let ids = std::mem::take(&mut *lock(&self.accepted));
        if ids.is_empty() {
            return Ok(false);
        }
        self.store.mark_sent(&ids, self.now).await?;
        lock(&self.counts).sent += ids.len() as u64;
        Ok(true)
    }

    /// Sends one claimed batch over `sessions` sessions; rows not started (shutdown, or
    /// too close to the end of their lease) are given back.
    async fn batch(
        &self,
        batch: Vec<crate::store::Claimed>,
        claimed_at: std::time::Instant,
        sessions: usize,
    ) -> Result<(), DeliveryError> {
        let queue = &Mutex::new(VecDeque::from(batch));
        let workers = (0..sessions).map(|_| self.work(claimed_at, queue));
        futures_util::future::try_join_all(workers).await?;
        let left: Vec<i64> = lock(queue).iter().map(|r| r.id).collect();
        self.store.release(&left).await?;
        Ok(())
    }

    /// One session's share of a batch: takes rows until none is left, the stop flag is up,
    /// or a send started now could outlast the rows' lease (another process may take them
    /// after it: the lease is at least twice the send timeout, so this leaves half of it).
    async fn work(
        &self,
        claimed_at: std::time::Instant,
        queue: &Mutex<VecDeque<crate::store::Claimed>>,
    ) -> Result<(), DeliveryError> {
        let mut session = self.sender.session().await;
        let bound = self.sender.send_timeout();
        loop {
            if (self.stop)() || claimed_at.elapsed() + bound > self.lease {
                return Ok(());
            }
            let Some(row) = lock(queue).pop_front() else {
                return Ok(());
            };
            match self.send(&mut session, &row).await? {
                Outcome::Sent => {
                    lock(&self.accepted).push(row.id);
                    self.wake.notify_one();
                }
                Outcome::Retry => lock(&self.counts).retried += 1,
                Outcome::Failed => lock(&self.counts).failed += 1,
            }
        }
    }

    /// Sends one row; a failure is recorded on it at once (retry with backoff, or failed).
    async fn send(
        &self,
        session: &mut mail::transport::Session<'_>,
        row: &crate::store::Claimed,
    ) -> Result<Outcome, DeliveryError> {
        let to = match Email::parse(&row.envelope_to) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(key = %row.key, recipient = %row.recipient, "refused address: {}", e.0);
                self.store
                    .mark_failed(
                        row.id,
                        row.attempts + 1,
                        &format!("refused address: {}", e.0),
                    )
                    .await?;
                return Ok(Outcome::Failed);
            }
        };
        let stem = format!("{:08}", row.id);
        match session
            .send_raw(&self.cfg.mail.from, &to, &row.message, &stem)
            .await
        {
            Ok(()) => {
                tracing::info!(key = %row.key, recipient = %row.recipient, "mail sent");
                Ok(Outcome::Sent)
            }
            Err(e)
                if e.kind == mail::transport::FailureKind::Transient
                    && self.now - row.created_at < self.give_up =>
            {
                let attempts = row.attempts + 1;
                self.store
                    .mark_retry(row.id, attempts, self.now + backoff(attempts), &e.message)
                    .await?;
                tracing::warn!(key = %row.key, recipient = %row.recipient, attempts, "mail not sent, will retry: {}", e.message);
                Ok(Outcome::Retry)
            }
            Err(e) => {
                self.store
                    .mark_failed(row.id, row.attempts + 1, &e.message)
                    .await?;
                tracing::error!(key = %row.key, recipient = %row.recipient, "mail failed: {}", e.message);
                Ok(Outcome::Failed)
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
