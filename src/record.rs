//! Recording an event: the checks shared by `iopd record` and the pages
//! reached from reminder mails, so both refuse the same things and write
//! through one path (check and insert in one write transaction).

use chrono::{Duration, NaiveDate};

use crate::config::Config;
use crate::domain::{Channel, Event, EventKind, Partnership, clean_text};
use crate::engine::{self, Checkpoint, Input, Kind, Status, Unfit};
use crate::guideline::Guideline;
use crate::store::{NewEvent, Store, StoreError};

/// A short reference (diarienummer, minute §): one line, no markup.
pub fn reference(field: &str, s: &str) -> Result<String, String> {
    let t = clean_text(field, s, 64).map_err(|e| e.0)?;
    if t.is_empty() {
        return Err(format!("{field} är tomt"));
    }
    if t.contains(['<', '>']) {
        return Err(format!("{field} {t:?} innehåller < eller >"));
    }
    Ok(t)
}

/// A reason (a waiver's, a retraction's): one line of text, at most 500
/// characters, not empty.
pub fn reason(field: &str, s: &str) -> Result<String, String> {
    let t = clean_text(field, s, 500).map_err(|e| e.0)?;
    if t.is_empty() {
        return Err(format!("{field} är tomt"));
    }
    Ok(t)
}

/// Whether an event may be recorded against this partnership and history;
/// `target` is the checkpoint key it is for (RULES 15).
#[allow(clippy::too_many_arguments)]
pub fn check(
    cfg: &Config,
    tracking: NaiveDate,
    today: NaiveDate,
    on: NaiveDate,
    kind: &EventKind,
    target: Option<&str>,
    p: &Partnership,
    events: &[Event],
) -> Result<(), String> {
    // One day of slack for a time zone or a clock set slightly wrong.
    if on > today + Duration::days(1) {
        return Err(format!(
            "--on {on} ligger efter i morgon (i dag är det {today}): registrera det som har hänt"
        ));
    }
    if on < p.start {
        return Err(format!(
            "--on {on} ligger före överenskommelsens start ({})",
            p.start
        ));
    }
    let policy = cfg.policy_for(&p.committee, tracking);
    let end = engine::agreement_end(p, events, &policy, today);
    match kind {
        EventKind::NoticeGiven { .. } => {
            if let Some(end) = end
                && end <= on
            {
                return Err(format!(
                    "överenskommelsen {} har redan upphört ({end}); den kan inte sägas upp",
                    p.id
                ));
            }
        }
        EventKind::AgreementExtended { new_end } => {
            let Some(current) = end else {
                return Err(format!(
                    "överenskommelsen {} gäller tills vidare och har inget slutdatum att förlänga",
                    p.id
                ));
            };
            if *new_end <= current {
                return Err(format!(
                    "--new-end {new_end} ligger inte efter nuvarande slutdatum {current}"
                ));
            }
        }
        EventKind::Retraction { event, .. } => {
            let Some(target) = events.iter().find(|e| e.id == *event) else {
                return Err(format!(
                    "händelse #{event} finns inte för {} (se `iopd show {}`)",
                    p.id, p.id
                ));
            };
            if target.retracted {
                return Err(format!("händelse #{event} är redan ångrad"));
            }
        }
        EventKind::CheckpointWaived { .. } if target.is_none() => {
            return Err("en avskrivning behöver kontrollpunkten den stänger (--for KEY)".into());
        }
        _ => {}
    }
    match target {
        Some(key) => check_target(cfg, &policy, today, on, kind, key, p, events),
        None => Ok(()),
    }
}

/// RULES 15: evidence named for a checkpoint must close exactly that one;
/// the refusal names the checkpoint and says why, in Swedish (the pages show
/// it as it is).
#[allow(clippy::too_many_arguments)]
fn check_target(
    cfg: &Config,
    policy: &engine::Policy,
    today: NaiveDate,
    on: NaiveDate,
    kind: &EventKind,
    key: &str,
    p: &Partnership,
    events: &[Event],
) -> Result<(), String> {
    let Some(committee) = cfg.committees.get(&p.committee) else {
        return Err(format!(
            "nämnden {} finns inte i konfigurationen",
            p.committee
        ));
    };
    let calendar = committee.calendar();
    let input = Input {
        partnership: p,
        events,
        policy,
        committee: &calendar,
        today,
        // Far enough to tell a period that has not started from a wrong key.
        horizon: today + Duration::days(800),
    };
    let event = Event {
        id: 0,
        partnership: p.id.clone(),
        on,
        kind: kind.clone(),
        recorded_at: 0,
        recorded_by: String::new(),
        channel: Channel::Cli,
        target: Some(key.to_string()),
        retracted: false,
    };
    let Some(why) = engine::unfit(&input, &event) else {
        return Ok(());
    };
    let cp = engine::checkpoints(&input)
        .into_iter()
        .find(|c| c.key == key);
    Err(refusal_sv(&cfg.guideline, key, cp.as_ref(), &why))
}

/// Swedish words for a status in a sentence ("den är …").
fn status_sv(s: Status) -> &'static str {
    match s {
        Status::Upcoming => "kommande",
        Status::Due => "förfaller i dag",
        Status::Overdue => "försenad",
        Status::Done => "redan klar",
        Status::Cancelled => "inte längre aktuell",
        Status::BeforeTracking => "från före uppföljningens start",
        Status::Missed => "missad (ett möte i en senare period är registrerat)",
        Status::Waived => "redan avskriven av IOP-ansvarig",
    }
}

/// The one-line refusal for evidence that does not fit its checkpoint.
fn refusal_sv(g: &Guideline, key: &str, cp: Option<&Checkpoint>, why: &Unfit) -> String {
    let named = |kind: Kind| match cp {
        Some(c) => format!(
            "{} {key} (period {}–{}, sista dag {})",
            g.label(kind),
            c.period_start,
            c.period_end,
            c.due
        ),
        None => format!("{} {key}", g.label(kind)),
    };
    let text = match why {
        Unfit::Unknown => {
            format!("Kontrollpunkten {key} finns inte. Se nycklarna med `iopd plan --format json`.")
        }
        Unfit::WrongKind(kind) => format!(
            "{} kan inte stängas med den här registreringen: den kräver annat underlag.",
            named(*kind)
        ),
        Unfit::Closed(kind, status) => format!(
            "{} är inte öppen: den är {}.",
            named(*kind),
            status_sv(*status)
        ),
        Unfit::BeforePeriod(kind, start) => format!(
            "{}: datumet passar inte, perioden börjar {start}.",
            named(*kind)
        ),
        Unfit::BeforeMemoMeeting(kind, meeting) => format!(
            "{}: datumet passar inte, beslutet är före sammanträdet {meeting} som \
             tjänsteskrivelsen gick till.",
            named(*kind)
        ),
        Unfit::AlreadyRegistered(doc) => format!(
            "{} är redan registrerad för {}.",
            doc.label_sv(),
            named(Kind::AnnualReport)
        ),
        Unfit::DoesNotFit(kind) => format!(
            "{}: registreringen passar inte den här kontrollpunkten.",
            named(*kind)
        ),
    };
    format!("{text} Ingenting har registrerats.")
}

/// Checks `new` against the partnership and its history inside the write
/// transaction and appends it; `today` is *now* in the configured zone.
pub async fn record(
    cfg: &Config,
    store: &Store,
    today: NaiveDate,
    new: NewEvent,
) -> Result<Event, StoreError> {
    record_with(cfg, store, today, new, |_, _| Ok(())).await
}

/// Several events in one write transaction, all or nothing, each through
/// [`check`] and then `guard` (which may skip one that is already there by
/// answering `Ok(false)`); returns those inserted.
pub async fn record_all_with(
    cfg: &Config,
    store: &Store,
    today: NaiveDate,
    news: Vec<NewEvent>,
    mut guard: impl FnMut(&Partnership, &[Event]) -> Result<bool, String>,
) -> Result<Vec<Event>, StoreError> {
    let tracking = store.created_on().await?;
    store
        .record_all(news, |new, p, events| {
            check(
                cfg,
                tracking,
                today,
                new.on,
                &new.kind,
                new.target.as_deref(),
                p,
                events,
            )?;
            guard(p, events)
        })
        .await
}

/// [`record`] with one more condition checked in the same transaction (a
/// page makes sure its checkpoint is still open, so two submissions of one
/// form cannot both record).
pub async fn record_with(
    cfg: &Config,
    store: &Store,
    today: NaiveDate,
    new: NewEvent,
    guard: impl FnOnce(&Partnership, &[Event]) -> Result<(), String>,
) -> Result<Event, StoreError> {
    let tracking = store.created_on().await?;
    let on = new.on;
    let kind = new.kind.clone();
    let target = new.target.clone();
    store
        .record(new, |p, events| {
            check(
                cfg,
                tracking,
                today,
                on,
                &kind,
                target.as_deref(),
                p,
                events,
            )?;
            guard(p, events)
        })
        .await
}
