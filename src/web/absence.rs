//! "Jag är frånvarande": an absence is the person's, so it is recorded for
//! every partnership the link's recipient is officer for today (after
//! replacements), in one write transaction, and the page lists them first.

use chrono::NaiveDate;
use serde_json::{Value, json};

use super::WebState;
use crate::config::Config;
use crate::domain::{Channel, Email, Event, EventKind, Partnership};
use crate::engine;
use crate::store::{NewEvent, StoreError};

/// One partnership the person is officer for, as the page lists it.
pub struct Officed {
    pub partnership: Partnership,
    pub committee_name: String,
}

impl Officed {
    pub fn to_json(&self) -> Value {
        json!({
            "organisation": self.partnership.organisation,
            "id": self.partnership.id.as_str(),
            "committee": self.committee_name,
            "deputy": self.partnership.deputy.as_ref().map(|d| d.to_string()),
        })
    }
}

/// "1 överenskommelse", "3 överenskommelser".
pub fn agreements(n: usize) -> String {
    if n == 1 {
        "1 överenskommelse".into()
    } else {
        format!("{n} överenskommelser")
    }
}

/// Whether `email` is the officer in charge of `p` on `today`.
pub fn is_officer(p: &Partnership, events: &[Event], email: &Email, today: NaiveDate) -> bool {
    engine::responsible_on(p, events, today)
        .officer
        .email
        .as_str()
        .eq_ignore_ascii_case(email.as_str())
}

/// Whether `p`'s agreement ended before `today` (nothing left to cover).
fn ended(
    cfg: &Config,
    tracking: NaiveDate,
    p: &Partnership,
    events: &[Event],
    today: NaiveDate,
) -> bool {
    let policy = cfg.policy_for(&p.committee, tracking);
    engine::agreement_end(p, events, &policy, today).is_some_and(|end| end < today)
}

/// The running partnerships `email` is officer for on `today`, by id.
pub async fn officer_of(
    st: &WebState,
    cfg: &Config,
    email: &Email,
    today: NaiveDate,
) -> Result<Vec<Officed>, StoreError> {
    let tracking = st.store.created_on().await?;
    let mut out = Vec::new();
    for id in st.store.partnership_ids_of(email).await? {
        let p = st.store.partnership(&id).await?;
        let events = st.store.events(&id).await?;
        // Not yet started (nothing is reminded before the start, and an event
        // cannot be dated before it) or already ended: nothing to cover.
        if !is_officer(&p, &events, email, today)
            || p.start > today
            || ended(cfg, tracking, &p, &events, today)
        {
            continue;
        }
        let committee_name = cfg
            .committees
            .get(&p.committee)
            .map_or_else(|| p.committee.to_string(), |c| c.name.clone());
        out.push(Officed {
            partnership: p,
            committee_name,
        });
    }
    Ok(out)
}

/// Why an absence could not be recorded.
pub enum Refusal {
    /// Every partnership already had this absence: nothing new.
    Already,
    /// One partnership refused it (nothing was written).
    Refused(String),
    Store(StoreError),
}

/// Records `from`–`to` for each of `list` in one transaction; a partnership
/// that already has the same absence is left as it is.
#[allow(clippy::too_many_arguments)]
pub async fn record(
    st: &WebState,
    cfg: &Config,
    by: &Email,
    channel: Channel,
    now: &crate::clock::Now,
    list: &[Officed],
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Event>, Refusal> {
    let kind = EventKind::OfficerAbsent { from, to };
    let news: Vec<NewEvent> = list
        .iter()
        .map(|o| NewEvent {
            partnership: o.partnership.id.clone(),
            on: now.today,
            kind: kind.clone(),
            recorded_at: now.instant,
            recorded_by: by.to_string(),
            channel,
            target: None,
        })
        .collect();
    let today = now.today;
    // Checked again inside the transaction: a replacement recorded since the
    // page was shown refuses the whole absence rather than half of it.
    let guard = |p: &Partnership, events: &[Event]| {
        if !is_officer(p, events, by, today) {
            return Err(format!(
                "du är inte längre handläggare för {} ({})",
                p.organisation, p.id
            ));
        }
        Ok(!events.iter().any(|e| !e.retracted && e.kind == kind))
    };
    match crate::record::record_all_with(cfg, &st.store, today, news, guard).await {
        Ok(done) if done.is_empty() => Err(Refusal::Already),
        Ok(done) => Ok(done),
        Err(StoreError::Refused(m)) => Err(Refusal::Refused(m)),
        Err(e) => Err(Refusal::Store(e)),
    }
}
