//! *Nämnder*: each committee's meeting plan (sammanträdesplan) and
//! submission days, and IOP-ansvarig's changes to them: add, move and remove
//! meetings, a list of dates or an iCalendar file read in, the submission
//! days. The first change moves the committee's plan from the configuration
//! into the database, where it stays (`store::changes`); every change is a
//! change record. The configuration every page and job of this process
//! reads is published again at once; other processes read it at their next
//! wake.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Value, json};

use super::access::{Role, Signed};
use super::guard::{PlanEditor, Posted, Uploaded, Visit};
use super::pages::{urlencode, who};
use crate::config::{Committee, Config};
use crate::domain::{Channel, CommitteeKey};
use crate::store::{Actor, PlanChange, StoreError, Subject};
use crate::web::WebState;
use crate::web::form::Fields;
use crate::web::pages::{message, render, server_error};

/// The next follow-up to the committee of one partnership: the first
/// anniversary of its start, every `years` years, on or after `today` and
/// not after the agreement's end.
fn next_anniversary(
    start: NaiveDate,
    end: Option<NaiveDate>,
    years: u32,
    today: NaiveDate,
) -> Option<NaiveDate> {
    use chrono::Datelike;
    let years = i32::try_from(years).ok().filter(|y| *y > 0)?;
    let mut k = ((today.year() - start.year()) / years).max(1);
    let mut at = crate::calendar::anniversary(start, k * years);
    while at < today {
        k += 1;
        at = crate::calendar::anniversary(start, k * years);
    }
    end.is_none_or(|e| at <= e).then_some(at)
}

type Followups = BTreeMap<String, (NaiveDate, String)>;
type FollowupKey = (NaiveDate, (i64, i64), Vec<(String, u32)>);

/// Each committee's next follow-up (date, organisation), worked out from
/// every running partnership and kept for one day, one state of the
/// register (`Store::register_version`) and one set of intervals.
#[derive(Clone, Default)]
pub struct FollowupCache(Arc<tokio::sync::Mutex<Option<Cached>>>);

type Cached = (FollowupKey, Arc<Followups>);

async fn next_followups(
    st: &WebState,
    cfg: &Config,
    today: NaiveDate,
) -> Result<Arc<Followups>, StoreError> {
    // Only the interval is read from the policy.
    let years: Vec<(String, u32)> = cfg
        .committees
        .keys()
        .map(|k| {
            (
                k.to_string(),
                cfg.policy_for(k, today).committee_followup_years,
            )
        })
        .collect();
    let key = (today, st.store.register_version().await?, years);
    // Held while the answer is worked out: requests arriving meanwhile
    // wait for it instead of each reading the register again.
    let mut kept = st.followups.0.lock().await;
    if let Some((k, v)) = &*kept
        && *k == key
    {
        return Ok(v.clone());
    }
    let mut next: Followups = BTreeMap::new();
    for (committee, org, start, end) in st.store.running_terms(today).await? {
        let Some((_, y)) = key.2.iter().find(|(c, _)| *c == committee) else {
            continue;
        };
        let Some(at) = next_anniversary(start, end, *y, today) else {
            continue;
        };
        if next
            .get(&committee)
            .is_none_or(|(d, o)| (at, &org) < (*d, o))
        {
            next.insert(committee, (at, org));
        }
    }
    let next = Arc::new(next);
    *kept = Some((key, next.clone()));
    Ok(next)
}

/// The plan as shown: meetings from `today` on with their submission days.
fn coming(c: &Committee, today: NaiveDate) -> Vec<Value> {
    c.meetings
        .iter()
        .filter(|m| **m >= today)
        .map(|m| {
            json!({
                "on": m.to_string(),
                "deadline": crate::engine::submission_deadline(*m, c.submission_days).to_string(),
            })
        })
        .collect()
}

/// What a committee's plan should warn of, in Swedish.
fn warnings(c: &Committee, next: &Followups, today: NaiveDate) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((due, org)) = next.get(c.key.as_str())
        && !c.meetings.iter().any(|m| *m >= today && m <= due)
    {
        out.push(format!(
            "Nästa uppföljning till nämnden ska vara gjord senast {due} ({org}), men det finns inget sammanträde inlagt från i dag till dess. Lägg in nämndens kommande sammanträden."
        ));
    }
    let horizon = crate::calendar::add_months(today, 12);
    if c.meetings.last().is_none_or(|d| *d < horizon) {
        let last = c.meetings.last().map_or_else(
            || "Planen är tom".to_string(),
            |d| format!("Planen tar slut {d}"),
        );
        out.push(format!(
            "{last}: det finns inga sammanträden inlagda till och med {horizon}. Uppsägningar och uppföljningar som ska till nämnden efter det får sista dag efter överenskommelsens datum i stället för efter ett sammanträde. Lägg in nästa sammanträdesplan."
        ));
    }
    out
}

fn source(cfg: &Config, c: &Committee) -> String {
    match c.plan_stored_since {
        Some(t) => {
            let on = chrono::DateTime::from_timestamp(t, 0)
                .map(|t| crate::calendar::local_date(t, cfg.body.time_zone).to_string())
                .unwrap_or_default();
            format!(
                "I arbetsytan sedan {on}. Planen i konfigurationsfilen gäller inte längre för nämnden."
            )
        }
        None => format!(
            "Från konfigurationsfilen (committees.{}). Efter den första ändringen här gäller planen i arbetsytan.",
            c.key
        ),
    }
}

/// *Nämnder*: every committee with its coming meetings and warnings.
pub async fn list(State(st): State<WebState>, Visit { cfg, s, today, .. }: Visit) -> Response {
    let next = match next_followups(&st, &cfg, today).await {
        Ok(n) => n,
        Err(e) => return server_error(&cfg, &e),
    };
    let mut rows = Vec::new();
    for (k, c) in &cfg.committees {
        let warn = warnings(c, &next, today);
        rows.push(json!({
            "key": k.as_str(),
            "href": format!("/arbetsyta/namnd?key={}", urlencode(k.as_str())),
            "name": c.name,
            "submission_days": c.submission_days,
            "secretary": c.secretary.to_string(),
            "coming": coming(c, today),
            "source": source(&cfg, c),
            "warnings": warn,
        }));
    }
    render(
        StatusCode::OK,
        "workspace/committees.html",
        json!({
            "title": "Nämnder",
            "body_name": cfg.body.name,
            "css": "../iopd.css",
            "who": who(&s),
            "committees": rows,
            "may_change": s.role == Role::Coordinator,
        }),
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct KeyQuery {
    #[serde(default)]
    key: String,
}

fn committee<'a>(cfg: &'a Config, key: &str) -> Result<&'a Committee, Box<Response>> {
    CommitteeKey::parse(key)
        .ok()
        .and_then(|k| cfg.committees.get(&k))
        .ok_or_else(|| {
            Box::new(message(
                StatusCode::NOT_FOUND,
                Some(cfg),
                "Nämnden finns inte",
                &["Det finns ingen nämnd med den nyckeln i konfigurationen.".into()],
            ))
        })
}

struct Shown {
    status: StatusCode,
    values: Value,
    errors: Vec<String>,
}

async fn plan_page(
    st: &WebState,
    cfg: &Config,
    s: &Signed,
    c: &Committee,
    today: NaiveDate,
    shown: Shown,
) -> Response {
    let warn = match next_followups(st, cfg, today).await {
        Ok(next) => warnings(c, &next, today),
        Err(e) => return server_error(cfg, &e),
    };
    let changes = match st.store.changes(Subject::Committee, c.key.as_str()).await {
        Ok(v) => v,
        Err(e) => return server_error(cfg, &e),
    };
    let history = super::pages::changes_json(cfg, &changes);
    let failed = !shown.errors.is_empty();
    render(
        shown.status,
        "workspace/plan.html",
        json!({
            "title": if failed { format!("Fel i formuläret: {}", c.name) } else { c.name.clone() },
            "body_name": cfg.body.name,
            "css": "../iopd.css",
            "who": who(s),
            "key": c.key.as_str(),
            "name": c.name,
            "secretary": c.secretary.to_string(),
            "submission_days": c.submission_days,
            "source": source(cfg, c),
            "coming": coming(c, today),
            "past": c.meetings.iter().filter(|m| **m < today).count(),
            "warnings": warn,
            "may_change": s.role == Role::Coordinator,
            "today": today.to_string(),
            "values": shown.values,
            "general_errors": shown.errors,
            "history": history,
        }),
    )
    .into_response()
}

/// One committee's plan, with IOP-ansvarig's forms.
pub async fn plan(
    State(st): State<WebState>,
    Query(q): Query<KeyQuery>,
    Visit { cfg, s, today, .. }: Visit,
) -> Response {
    let c = match committee(&cfg, &q.key) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let shown = Shown {
        status: StatusCode::OK,
        values: json!({"dagar": c.submission_days.to_string(), "fran": "", "till": "", "datum": ""}),
        errors: Vec::new(),
    };
    plan_page(&st, &cfg, &s, c, today, shown).await
}

/// What a form asks of the plan, or what is wrong with it.
fn change_of(fields: &Fields, tz: chrono_tz::Tz) -> Result<PlanChange, Vec<String>> {
    let date = |name: &str, what: &str| {
        crate::domain::parse_date(fields.get(name)).map_err(|e| vec![format!("{what}: {}", e.0)])
    };
    match fields.get("gora") {
        "lagg-till" => crate::meetings::parse_plan(fields.get("datum").as_bytes(), tz)
            .map(PlanChange::Add)
            .map_err(|p| {
                p.into_iter()
                    .map(|m| format!("Nya sammanträden: {m}"))
                    .collect()
            }),
        "flytta" => Ok(PlanChange::Move {
            from: date("fran", "Sammanträdet")?,
            to: date("till", "Nytt datum")?,
        }),
        "ta-bort" => Ok(PlanChange::Remove(date("datum", "Sammanträdet")?)),
        "dagar" => fields
            .get("dagar")
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= crate::config::MAX_SUBMISSION_DAYS)
            .map(PlanChange::SubmissionDays)
            .ok_or_else(|| {
                vec![format!(
                    "Dagar före sammanträdet: \"{}\" är inget heltal från 0 till {}",
                    fields.get("dagar"),
                    crate::config::MAX_SUBMISSION_DAYS
                )]
            }),
        _ => Err(vec!["Formuläret säger inte vad som ska ändras.".into()]),
    }
}

/// Applies a change, publishes the configuration with it, and answers with
/// the plan (again, with the problem, when refused).
async fn apply(
    st: &WebState,
    cfg: &Config,
    s: &Signed,
    c: &Committee,
    today: NaiveDate,
    change: Result<PlanChange, Vec<String>>,
    values: Value,
) -> Response {
    let again = |errors: Vec<String>, status| Shown {
        status,
        values: values.clone(),
        errors,
    };
    let change = match change {
        Ok(ch) => ch,
        Err(errors) => {
            let shown = again(errors, StatusCode::UNPROCESSABLE_ENTITY);
            return plan_page(st, cfg, s, c, today, shown).await;
        }
    };
    let actor = Actor {
        by: s.email.to_string(),
        channel: Channel::Workspace,
        at: st.clock.now().instant,
    };
    let seed = (c.submission_days, c.meetings.as_slice());
    match st.store.change_plan(&c.key, seed, &change, &actor).await {
        Ok(changed) => {
            tracing::info!(committee = %c.key, changes = changed.len(), by = %s.email, "meeting plan changed in the workspace");
            if let Err(e) = crate::store::publish_plans(&st.store, &st.publish).await {
                tracing::error!(
                    "the changed meeting plan is stored but could not be read back: {e}"
                );
            }
            Redirect::to(&format!(
                "/arbetsyta/namnd?key={}&andrat={}",
                urlencode(c.key.as_str()),
                changed.len()
            ))
            .into_response()
        }
        Err(StoreError::Refused(m)) => {
            let shown = again(vec![format!("{}.", capitalise(&m))], StatusCode::CONFLICT);
            plan_page(st, cfg, s, c, today, shown).await
        }
        Err(e) => server_error(cfg, &e),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Add, move or remove meetings, or change the submission days.
pub async fn change(
    State(st): State<WebState>,
    Query(q): Query<KeyQuery>,
    Posted {
        cfg,
        s,
        today,
        fields,
        ..
    }: Posted<PlanEditor>,
) -> Response {
    let c = match committee(&cfg, &q.key) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let values = json!({
        "datum": fields.get("datum"),
        "dagar": fields.get("dagar"),
        "fran": fields.get("fran"),
        "till": fields.get("till"),
    });
    let change = change_of(&fields, cfg.body.time_zone);
    apply(&st, &cfg, &s, c, today, change, values).await
}

/// A plan read in from a file: a list of dates or an iCalendar file.
pub async fn upload(
    State(st): State<WebState>,
    Query(q): Query<KeyQuery>,
    Uploaded {
        cfg,
        s,
        today,
        file,
        ..
    }: Uploaded<PlanEditor>,
) -> Response {
    let c = match committee(&cfg, &q.key) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let change = match file {
        Some((name, bytes)) => crate::meetings::parse_plan(&bytes, cfg.body.time_zone)
            .map(PlanChange::Add)
            .map_err(|p| p.into_iter().map(|m| format!("{name}: {m}")).collect()),
        None => Err(vec!["Välj en fil att läsa in.".into()]),
    };
    let values =
        json!({"dagar": c.submission_days.to_string(), "fran": "", "till": "", "datum": ""});
    apply(&st, &cfg, &s, c, today, change, values).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_next_followup_is_the_first_anniversary_ahead_within_the_term() {
        let today = d("2026-12-06");
        // Every second year from 2024-03-01: 2026-03-01 is past, 2028-03-01 next.
        assert_eq!(
            next_anniversary(d("2024-03-01"), None, 2, today),
            Some(d("2028-03-01"))
        );
        assert_eq!(
            next_anniversary(d("2023-02-01"), None, 2, today),
            Some(d("2027-02-01"))
        );
        // Today counts; one ending before its next follow-up has none.
        assert_eq!(
            next_anniversary(d("2024-12-06"), None, 2, today),
            Some(today)
        );
        assert_eq!(
            next_anniversary(d("2025-01-15"), Some(d("2026-12-31")), 2, today),
            None
        );
        // A long-running one, and no follow-ups at all.
        assert_eq!(
            next_anniversary(d("1990-06-30"), None, 3, today),
            Some(d("2029-06-30"))
        );
        assert_eq!(next_anniversary(d("2023-02-01"), None, 0, today), None);
    }
}
