//! Recording an event: the checks shared by `iopd record` and the pages
//! reached from reminder mails, so both refuse the same things and write
//! through one path (check and insert in one write transaction).

use chrono::{Duration, NaiveDate};

use crate::config::Config;
use crate::domain::{Event, EventKind, Partnership, clean_text};
use crate::engine;
use crate::store::{NewEvent, Store, StoreError};

/// A short reference (diarienummer, minute §): one line, no markup.
pub fn reference(field: &str, s: &str) -> Result<String, String> {
    let t = clean_text(field, s, 64).map_err(|e| e.0)?;
    if t.is_empty() {
        return Err(format!("{field} is empty"));
    }
    if t.contains(['<', '>']) {
        return Err(format!("{field} {t:?} contains < or >"));
    }
    Ok(t)
}

/// Whether an event may be recorded against this partnership and history.
pub fn check(
    cfg: &Config,
    tracking: NaiveDate,
    today: NaiveDate,
    on: NaiveDate,
    kind: &EventKind,
    p: &Partnership,
    events: &[Event],
) -> Result<(), String> {
    // One day of slack for a time zone or a clock set slightly wrong.
    if on > today + Duration::days(1) {
        return Err(format!(
            "--on {on} is after tomorrow ({today} today): record what has happened"
        ));
    }
    if on < p.start {
        return Err(format!(
            "--on {on} is before the agreement started ({})",
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
                    "{} has already ended ({end}); a notice cannot be given",
                    p.id
                ));
            }
        }
        EventKind::AgreementExtended { new_end } => {
            let Some(current) = end else {
                return Err(format!(
                    "{} runs until further notice and has no end date to extend",
                    p.id
                ));
            };
            if *new_end <= current {
                return Err(format!(
                    "--new-end {new_end} is not after the current end {current}"
                ));
            }
        }
        EventKind::Retraction { event } => {
            let Some(target) = events.iter().find(|e| e.id == *event) else {
                return Err(format!(
                    "event #{event} does not exist for {} (see `iopd show {}`)",
                    p.id, p.id
                ));
            };
            if target.retracted {
                return Err(format!("event #{event} is already retracted"));
            }
        }
        _ => {}
    }
    Ok(())
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
    store
        .record(new, |p, events| {
            check(cfg, tracking, today, on, &kind, p, events)?;
            guard(p, events)
        })
        .await
}
