//! Recording from the workspace: the evidence for one checkpoint (the same
//! form and checks as the page from the mail, by the signed-in person,
//! channel `workspace`), and IOP-ansvarig's write-off with a reason.
//!
//! Who may: IOP-ansvarig for every partnership, an officer for their own
//! (another's is answered as missing), a reader never.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Value, json};

use super::access::{Role, Signed};
use super::guard::{Changer, Posted, Undoer, Visit, Waiver};
use super::pages::{urlencode, who};
use crate::config::Config;
use crate::domain::{Channel, EventKind};
use crate::store::{NewEvent, StoreError};
use crate::web::WebState;
use crate::web::form::{FieldError, Fields};
use crate::web::pages::{
    Found, Recorder, checkpoint_json, done_offer, find, form_state, message, parse_evidence,
    render, server_error, split_key, submit_done,
};

#[derive(Debug, Default, Deserialize)]
pub struct KeyQuery {
    #[serde(default)]
    key: String,
}

/// The checkpoint behind `key` if this person may see it; otherwise the
/// answer (missing, or gone).
async fn checkpoint(
    st: &WebState,
    cfg: &Config,
    s: &Signed,
    today: NaiveDate,
    key: &str,
) -> Result<Found, Box<Response>> {
    let missing = || {
        Box::new(message(
            StatusCode::NOT_FOUND,
            Some(cfg),
            "Kontrollpunkten finns inte",
            &["Det finns ingen kontrollpunkt med den nyckeln som du kan se.".into()],
        ))
    };
    let Some((id, _)) = split_key(key) else {
        return Err(missing());
    };
    match s.scope(&st.store).await {
        Err(e) => return Err(Box::new(server_error(cfg, &e))),
        Ok(Some(ids)) if !ids.contains(id.as_str()) => return Err(missing()),
        Ok(_) => {}
    }
    find(st, cfg, today, key).await
}

fn back(f: &Found) -> String {
    format!(
        "/arbetsyta/partnerskap?id={}",
        urlencode(f.partnership.id.as_str())
    )
}

struct Shown<'a> {
    values: &'a Fields,
    errors: &'a [FieldError],
    general: Option<String>,
}

fn page(
    status: StatusCode,
    cfg: &Config,
    s: &Signed,
    f: &Found,
    today: NaiveDate,
    shown: Shown<'_>,
) -> Response {
    let may_record = s.role != Role::Reader && !f.cp.status.is_closed();
    let extra: Value = if may_record {
        done_offer(cfg, &f.cp, &f.partnership, today).unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let (values, errors) = form_state(&extra, shown.values, shown.errors);
    let officer = f.partnership.officer.email == s.email;
    render(
        status,
        "workspace/record.html",
        json!({
            "title": if shown.errors.is_empty() && shown.general.is_none() { "Registrera".to_string() } else { "Fel i formuläret: Registrera".to_string() },
            "heading": "Registrera",
            "body_name": cfg.body.name,
            "css": "../iopd.css",
            "who": who(s),
            "back": back(f),
            "cp": checkpoint_json(cfg, f),
            "today": today.to_string(),
            "extra": extra,
            "on_behalf": s.role == Role::Coordinator && !officer,
            "may_waive": s.role == Role::Coordinator && f.cp.status.is_open(),
            "values": values,
            "errors": errors,
            "error_list": shown.errors,
            "general": shown.general,
        }),
    )
}

/// The form for one checkpoint.
pub async fn record_page(
    State(st): State<WebState>,
    Query(q): Query<KeyQuery>,
    Visit { cfg, s, today, .. }: Visit,
) -> Response {
    let f = match checkpoint(&st, &cfg, &s, today, &q.key).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let none = Fields::default();
    let shown = Shown {
        values: &none,
        errors: &[],
        general: None,
    };
    page(StatusCode::OK, &cfg, &s, &f, today, shown)
}

/// The evidence, recorded by the signed-in person.
pub async fn record_submit(
    State(st): State<WebState>,
    Query(q): Query<KeyQuery>,
    Posted {
        cfg,
        s,
        today,
        fields,
        ..
    }: Posted<Changer>,
) -> Response {
    let f = match checkpoint(&st, &cfg, &s, today, &q.key).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let now = st.clock.now();
    let invalid = |errors: Vec<FieldError>, general: Option<String>| {
        page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &cfg,
            &s,
            &f,
            today,
            Shown {
                values: &fields,
                errors: &errors,
                general,
            },
        )
    };
    match parse_evidence(&cfg, &f, &fields, today) {
        Ok(events) => {
            let who = Recorder {
                cfg: &cfg,
                now: &now,
                by: s.email.to_string(),
                channel: Channel::Workspace,
            };
            submit_done(&st, &who, &f, events, invalid).await
        }
        Err(e) => invalid(e, None),
    }
}

/// IOP-ansvarig writes a checkpoint off, with a reason (RULES 17).
pub async fn waive(
    State(st): State<WebState>,
    Posted {
        cfg,
        s,
        today,
        fields,
        ..
    }: Posted<Waiver>,
) -> Response {
    let f = match checkpoint(&st, &cfg, &s, today, fields.get("key")).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let reason = match crate::record::reason("motivering", fields.get("motivering")) {
        Ok(r) => r,
        Err(msg) => {
            let errors = [FieldError {
                field: "motivering",
                message: format!("Skriv en motivering ({msg})."),
            }];
            return page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &cfg,
                &s,
                &f,
                today,
                Shown {
                    values: &fields,
                    errors: &errors,
                    general: None,
                },
            );
        }
    };
    let now = st.clock.now();
    let new = NewEvent {
        partnership: f.partnership.id.clone(),
        on: today,
        kind: EventKind::CheckpointWaived { reason },
        recorded_at: now.instant,
        recorded_by: s.email.to_string(),
        channel: Channel::Workspace,
        target: Some(f.cp.key.clone()),
    };
    match crate::record::record(&cfg, &st.store, today, new).await {
        Ok(e) => {
            tracing::info!(event = e.id, checkpoint = %f.cp.key, "checkpoint waived in the workspace");
            if let Err(e) = st.store.cancel_pending(&f.cp.key).await {
                tracing::error!(checkpoint = %f.cp.key, "pending reminders not withdrawn: {e}");
            }
            message(
                StatusCode::OK,
                Some(&cfg),
                "Avskriven",
                &[format!(
                    "{} för {} med sista dag {} är avskriven. Påminnelserna upphör, och \
                     kalenderposten tas bort.",
                    cfg.guideline.label_with_parent(f.cp.kind, f.cp.parent),
                    f.partnership.organisation,
                    f.cp.due
                )],
            )
        }
        Err(StoreError::Refused(m)) => message(
            StatusCode::CONFLICT,
            Some(&cfg),
            "Det gick inte att skriva av",
            &[m],
        ),
        Err(e) => server_error(&cfg, &e),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct RetractQuery {
    #[serde(default)]
    id: String,
    #[serde(default)]
    event: i64,
}

/// The event behind `id` and `event`, for IOP-ansvarig; otherwise the answer.
async fn retractable(
    st: &WebState,
    cfg: &Config,
    _s: &Signed,
    id: &str,
    event: i64,
) -> Result<(crate::domain::Partnership, crate::domain::Event), Box<Response>> {
    let missing = || {
        Box::new(message(
            StatusCode::NOT_FOUND,
            Some(cfg),
            "Registreringen finns inte",
            &["Det finns ingen sådan registrering för partnerskapet.".into()],
        ))
    };
    let Ok(pid) = crate::domain::PartnershipId::parse(id) else {
        return Err(missing());
    };
    let (p, events) = match (
        st.store.partnership(&pid).await,
        st.store.events(&pid).await,
    ) {
        (Ok(p), Ok(e)) => (p, e),
        (Err(StoreError::UnknownPartnership(_)), _) => return Err(missing()),
        (Err(e), _) | (_, Err(e)) => return Err(Box::new(server_error(cfg, &e))),
    };
    let e = events
        .into_iter()
        .find(|e| e.id == event && !matches!(e.kind, EventKind::Retraction { .. }))
        .ok_or_else(missing)?;
    Ok((p, e))
}

fn retract_page(
    status: StatusCode,
    cfg: &Config,
    s: &Signed,
    p: &crate::domain::Partnership,
    e: &crate::domain::Event,
    error: Option<String>,
) -> Response {
    render(
        status,
        "workspace/retract.html",
        json!({
            "title": "Ångra en registrering",
            "body_name": cfg.body.name,
            "css": "../iopd.css",
            "who": who(s),
            "back": format!("/arbetsyta/partnerskap?id={}", urlencode(p.id.as_str())),
            "organisation": p.organisation,
            "partnership": p.id.as_str(),
            "event": {
                "id": e.id,
                "on": e.on.to_string(),
                "what": crate::delivery::event_sv(&cfg.guideline, &e.kind),
                "by": e.recorded_by,
                "retracted": e.retracted,
            },
            "values": {},
            "errors": error.map(|m| json!({"motivering": m})).unwrap_or(json!({})),
        }),
    )
}

/// The confirmation page for undoing one event.
pub async fn retract_page_get(
    State(st): State<WebState>,
    Query(q): Query<RetractQuery>,
    Visit { cfg, s, .. }: Visit<Undoer>,
) -> Response {
    match retractable(&st, &cfg, &s, &q.id, q.event).await {
        Ok((p, e)) => retract_page(StatusCode::OK, &cfg, &s, &p, &e, None),
        Err(r) => *r,
    }
}

/// IOP-ansvarig undoes an event with a reason; the history keeps both.
pub async fn retract(
    State(st): State<WebState>,
    Posted {
        cfg,
        s,
        today,
        fields,
        ..
    }: Posted<Undoer>,
) -> Response {
    let event: i64 = fields.get("event").parse().unwrap_or(0);
    let (p, e) = match retractable(&st, &cfg, &s, fields.get("id"), event).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let reason = match crate::record::reason("motivering", fields.get("motivering")) {
        Ok(r) => r,
        Err(_) => {
            return retract_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &cfg,
                &s,
                &p,
                &e,
                Some("Skriv varför registreringen ångras.".into()),
            );
        }
    };
    let now = st.clock.now();
    let new = NewEvent {
        partnership: p.id.clone(),
        on: today,
        kind: EventKind::Retraction {
            event: e.id,
            reason,
        },
        recorded_at: now.instant,
        recorded_by: s.email.to_string(),
        channel: Channel::Workspace,
        target: None,
    };
    match crate::record::record(&cfg, &st.store, today, new).await {
        Ok(r) => {
            tracing::info!(event = r.id, retracted = e.id, partnership = %p.id, "event retracted in the workspace");
            message(
                StatusCode::OK,
                Some(&cfg),
                "Ångrad",
                &[format!(
                    "Registreringen #{} ({}, {}) för {} är ångrad. Den finns kvar i historiken, \
                     och kontrollpunkterna räknas om från det som gäller nu.",
                    e.id,
                    crate::delivery::event_sv(&cfg.guideline, &e.kind),
                    e.on,
                    p.organisation
                )],
            )
        }
        Err(StoreError::Refused(m)) => message(
            StatusCode::CONFLICT,
            Some(&cfg),
            "Det gick inte att ångra",
            &[m],
        ),
        Err(err) => server_error(&cfg, &err),
    }
}

/// *Frånvaro*: an officer reports an absence for every partnership they are
/// officer for (the page from the mail's form and checks); the deputy gets
/// the reminders meanwhile.
pub async fn absence_page(
    State(st): State<WebState>,
    Visit { cfg, s, today, .. }: Visit,
) -> Response {
    let none = Fields::default();
    absence_form(&st, &cfg, &s, today, StatusCode::OK, &none, &[]).await
}

#[allow(clippy::too_many_arguments)]
async fn absence_form(
    st: &WebState,
    cfg: &Config,
    s: &Signed,
    today: NaiveDate,
    status: StatusCode,
    values: &Fields,
    errors: &[FieldError],
) -> Response {
    let list = match crate::web::absence::officer_of(st, cfg, &s.email, today).await {
        Ok(l) => l,
        Err(e) => return server_error(cfg, &e),
    };
    let (vals, errs) = form_state(&Value::Null, values, errors);
    render(
        status,
        "workspace/absence.html",
        json!({
            "title": "Frånvaro",
            "body_name": cfg.body.name,
            "css": "../iopd.css",
            "who": who(s),
            "partnerships": list.iter().map(|o| o.to_json()).collect::<Vec<_>>(),
            "may": s.role != Role::Reader && !list.is_empty(),
            "values": vals,
            "errors": errs,
            "error_list": errors,
            "general": Value::Null,
        }),
    )
}

/// The absence, recorded by the signed-in officer for all their partnerships.
pub async fn absence_submit(
    State(st): State<WebState>,
    Posted {
        cfg,
        s,
        today,
        fields,
        ..
    }: Posted<Changer>,
) -> Response {
    let (from, to) = match crate::web::form::parse_absence(&fields, today) {
        Ok(v) => v,
        Err(e) => {
            return absence_form(
                &st,
                &cfg,
                &s,
                today,
                StatusCode::UNPROCESSABLE_ENTITY,
                &fields,
                &e,
            )
            .await;
        }
    };
    let now = st.clock.now();
    crate::web::pages::submit_absence(
        &st,
        &cfg,
        &s.email,
        Channel::Workspace,
        &now,
        from,
        to,
        |_, general| {
            message(
                StatusCode::CONFLICT,
                Some(&cfg),
                "Frånvaron kunde inte registreras",
                &[general.unwrap_or_default()],
            )
        },
    )
    .await
}
