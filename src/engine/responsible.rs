//! Who is responsible for a partnership on a date (issue rule 7, RULES 10).

use chrono::NaiveDate;

use crate::domain::{Event, EventKind, Partnership, Person};

use super::Responsible;

/// The `officer_replaced` event in force on `date` (the latest `from` on or
/// before it; a later-recorded one wins a tie), or `None` for the imported officer.
fn replacement_on<'a>(p: &Partnership, events: &'a [Event], date: NaiveDate) -> Option<&'a Event> {
    events
        .iter()
        .filter(|e| !e.retracted && e.partnership == p.id)
        .filter(|e| matches!(e.kind, EventKind::OfficerReplaced { from, .. } if from <= date))
        .max_by_key(|e| match e.kind {
            EventKind::OfficerReplaced { from, .. } => (from, e.id),
            _ => (NaiveDate::MIN, e.id),
        })
}

/// The officer on `date` after `officer_replaced` events (each effective from
/// its `from` date), the partnership's deputy, and whether the officer is
/// recorded absent on `date`. An absence belongs to the officer in charge when
/// it began, so it does not carry over to a replacement. Retracted events and
/// other partnerships' events do not count.
pub fn responsible_on(p: &Partnership, events: &[Event], date: NaiveDate) -> Responsible {
    let current = replacement_on(p, events, date);
    let officer = match current.map(|e| &e.kind) {
        Some(EventKind::OfficerReplaced { name, email, .. }) => Person {
            name: name.clone(),
            email: email.clone(),
        },
        _ => p.officer.clone(),
    };
    let current_id = current.map(|e| e.id);
    let officer_absent = events
        .iter()
        .filter(|e| !e.retracted && e.partnership == p.id)
        .any(|e| match e.kind {
            EventKind::OfficerAbsent { from, to } => {
                from <= date
                    && date <= to
                    && replacement_on(p, events, from).map(|r| r.id) == current_id
            }
            _ => false,
        });
    Responsible {
        officer,
        deputy: p.deputy.clone(),
        officer_absent,
    }
}
