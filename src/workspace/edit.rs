//! Changing the register from the workspace: a partnership's fields (checked
//! exactly as a spreadsheet row), a new partnership, and a new officer from
//! a date (an `officer_replaced` event, so earlier reminders stay with the
//! person who had them). IOP-ansvarig only. Every change is stored with its
//! change record (who, when, field, old, new, channel `workspace`).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use serde_json::{Value, json};

use super::access::Signed;
use super::guard::{Posted, RegisterEditor, Visit};
use super::pages::{IdQuery, urlencode, who};
use crate::config::Config;
use crate::domain::{Channel, Email, EventKind, Partnership, PartnershipId};
use crate::import::{FORM_COLUMNS, parse_fields};
use crate::store::{Actor, NewEvent, StoreError};
use crate::web::WebState;
use crate::web::form::{FieldError, Fields};
use crate::web::pages::{message, render, server_error};

/// The form's fields: column, label, hint.
const LABELS: [(&str, &str, &str); 13] = [
    (
        "id",
        "Id (diarienummer)",
        "Som i kalkylarkets id-kolumn. Kan inte ändras efteråt.",
    ),
    ("organisation", "Idéburen part", "Organisationens namn."),
    ("committee", "Nämnd", ""),
    ("officer_name", "Handläggarens namn", ""),
    (
        "officer_email",
        "Handläggarens e-postadress",
        "Får påminnelserna.",
    ),
    ("start_date", "Startdatum", "ÅÅÅÅ-MM-DD."),
    (
        "deputy_email",
        "Ersättarens e-postadress",
        "Får påminnelserna när handläggaren är frånvarande. Frivilligt.",
    ),
    (
        "partner_email",
        "Kontaktperson hos parten, e-postadress",
        "Frivilligt.",
    ),
    (
        "end_date",
        "Slutdatum",
        "ÅÅÅÅ-MM-DD. Lämna tomt om överenskommelsen gäller tills vidare.",
    ),
    (
        "annual_amount",
        "Årligt belopp i kronor",
        "Till exempel 250 000. Frivilligt.",
    ),
    (
        "checkins_per_year",
        "Uppföljningsmöten per år",
        "Lämna tomt för riktlinjens antal.",
    ),
    (
        "notice_months",
        "Uppsägningstid i månader",
        "Lämna tomt för riktlinjens uppsägningstid.",
    ),
    ("notes", "Anteckningar", "Frivilligt."),
];

fn label(column: &str) -> &'static str {
    LABELS
        .iter()
        .find(|(c, _, _)| *c == column)
        .map_or("Formuläret", |(_, l, _)| l)
}

fn missing(cfg: &Config) -> Response {
    message(
        StatusCode::NOT_FOUND,
        Some(cfg),
        "Partnerskapet finns inte",
        &["Det finns inget partnerskap med det id:t.".into()],
    )
}

/// A row as the form shows it, so that sending it back unchanged changes
/// nothing.
fn values_of(p: &Partnership) -> Value {
    json!({
        "id": p.id.as_str(),
        "organisation": p.organisation,
        "committee": p.committee.as_str(),
        "officer_name": p.officer.name,
        "officer_email": p.officer.email.as_str(),
        "start_date": p.start.to_string(),
        "deputy_email": p.deputy.as_ref().map(Email::as_str),
        "partner_email": p.partner_contact.as_ref().map(Email::as_str),
        "end_date": p.end.map(|d| d.to_string()),
        "annual_amount": p.annual_amount.map(|a| a.to_string()),
        "checkins_per_year": p.checkins_per_year.map(|c| c.get()),
        "notice_months": p.notice_months,
        "notes": p.notes,
    })
}

/// A column's value as sent; the notes keep their own spacing.
fn sent<'a>(fields: &'a Fields, column: &str) -> &'a str {
    if column == "notes" {
        fields.raw(column)
    } else {
        fields.get(column)
    }
}

fn values_from(fields: &Fields) -> Value {
    let mut m = serde_json::Map::new();
    for c in FORM_COLUMNS {
        m.insert(c.into(), Value::String(sent(fields, c).to_string()));
    }
    Value::Object(m)
}

/// A short fingerprint of the row the form was filled in from.
fn version_of(p: &Partnership) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("{p:?}").as_bytes());
    d[..8].iter().map(|b| format!("{b:02x}")).collect()
}

struct Form2<'a> {
    cfg: &'a Config,
    s: &'a Signed,
    /// The partnership being changed; none for a new one.
    existing: Option<&'a Partnership>,
    values: Value,
    errors: Vec<FieldError>,
    general: Option<String>,
}

fn form_page(status: StatusCode, f: Form2<'_>) -> Response {
    let mut error_map = serde_json::Map::new();
    for e in &f.errors {
        error_map.insert(e.field.into(), Value::String(e.message.clone()));
    }
    let fields: Vec<Value> = LABELS
        .iter()
        .filter(|(c, _, _)| f.existing.is_none() || *c != "id")
        .map(|(c, l, h)| json!({"name": c, "label": l, "hint": h}))
        .collect();
    let heading = match f.existing {
        Some(p) => format!("Ändra {}", p.organisation),
        None => "Nytt partnerskap".to_string(),
    };
    let failed = !f.errors.is_empty() || f.general.is_some();
    render(
        status,
        "workspace/edit.html",
        json!({
            "title": if failed { format!("Fel i formuläret: {heading}") } else { heading.clone() },
            "heading": heading,
            "body_name": f.cfg.body.name,
            "css": "../iopd.css",
            "who": who(f.s),
            "new": f.existing.is_none(),
            "id": f.existing.map(|p| p.id.as_str()),
            "version": f.existing.map(version_of),
            "officer_href": f.existing.map(|p| format!("/arbetsyta/byt-handlaggare?id={}", urlencode(p.id.as_str()))),
            "back": f.existing.map_or_else(|| "/arbetsyta".to_string(), |p| format!("/arbetsyta/partnerskap?id={}", urlencode(p.id.as_str()))),
            "fields": fields,
            "committees": f.cfg.committees.iter().map(|(k, c)| json!({"key": k.as_str(), "name": c.name})).collect::<Vec<_>>(),
            "values": f.values,
            "errors": Value::Object(error_map),
            "error_list": f.errors,
            "general": f.general,
        }),
    )
}

/// The form's fields as a partnership, checked as the import checks a row.
fn parse(
    cfg: &Config,
    fields: &Fields,
    id: &str,
) -> Result<Partnership, (Vec<FieldError>, Option<String>)> {
    let committee_of = crate::import::committees_of(cfg);
    let pairs: Vec<(&str, &str)> = FORM_COLUMNS
        .iter()
        .map(|c| (*c, if *c == "id" { id } else { sent(fields, c) }))
        .collect();
    parse_fields(&pairs, &committee_of).map_err(|problems| {
        let mut errors = Vec::new();
        let mut general = Vec::new();
        for (column, problem) in problems {
            match FORM_COLUMNS.iter().find(|c| **c == column) {
                Some(c) => errors.push(FieldError {
                    field: c,
                    message: format!("{}: {problem}", label(c)),
                }),
                None => general.push(problem),
            }
        }
        (errors, (!general.is_empty()).then(|| general.join(" ")))
    })
}

async fn existing(st: &WebState, cfg: &Config, id: &str) -> Result<Partnership, Box<Response>> {
    let Ok(pid) = PartnershipId::parse(id) else {
        return Err(Box::new(missing(cfg)));
    };
    match st.store.partnership(&pid).await {
        Ok(p) => Ok(p),
        Err(StoreError::UnknownPartnership(_)) => Err(Box::new(missing(cfg))),
        Err(e) => Err(Box::new(server_error(cfg, &e))),
    }
}

fn actor(st: &WebState, s: &Signed) -> Actor {
    Actor {
        by: s.email.to_string(),
        channel: Channel::Workspace,
        at: st.clock.now().instant,
    }
}

fn to_partnership(id: &PartnershipId) -> Response {
    Redirect::to(&format!(
        "/arbetsyta/partnerskap?id={}#andringar",
        urlencode(id.as_str())
    ))
    .into_response()
}

/// The form for a partnership's fields.
pub async fn edit_page(
    State(st): State<WebState>,
    Query(q): Query<IdQuery>,
    Visit { cfg, s, .. }: Visit<RegisterEditor>,
) -> Response {
    let p = match existing(&st, &cfg, &q.id).await {
        Ok(p) => p,
        Err(r) => return *r,
    };
    form_page(
        StatusCode::OK,
        Form2 {
            cfg: &cfg,
            s: &s,
            existing: Some(&p),
            values: values_of(&p),
            errors: Vec::new(),
            general: None,
        },
    )
}

/// The changed fields, stored with their change records.
pub async fn edit_submit(
    State(st): State<WebState>,
    Posted { cfg, s, fields, .. }: Posted<RegisterEditor>,
) -> Response {
    let current = match existing(&st, &cfg, fields.get("id")).await {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let again = |errors: Vec<FieldError>, general: Option<String>| {
        form_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            Form2 {
                cfg: &cfg,
                s: &s,
                existing: Some(&current),
                values: values_from(&fields),
                errors,
                general,
            },
        )
    };
    if fields.get("version") != version_of(&current) {
        return form_page(
            StatusCode::CONFLICT,
            Form2 {
                cfg: &cfg,
                s: &s,
                existing: Some(&current),
                values: values_of(&current),
                errors: Vec::new(),
                general: Some(
                    "Någon annan har ändrat partnerskapet sedan du öppnade formuläret. Formuläret visar nu uppgifterna som de är; gör din ändring på nytt."
                        .into(),
                ),
            },
        );
    }
    let new = match parse(&cfg, &fields, current.id.as_str()) {
        Ok(p) => p,
        Err((errors, general)) => return again(errors, general),
    };
    match st
        .store
        .update_partnership(&current, &new, &actor(&st, &s))
        .await
    {
        Ok(changed) => {
            tracing::info!(
                partnership = %new.id,
                fields = changed.len(),
                by = %s.email,
                "partnership changed in the workspace"
            );
            to_partnership(&new.id)
        }
        Err(StoreError::Refused(m)) => again(Vec::new(), Some(m)),
        Err(e) => server_error(&cfg, &e),
    }
}

/// The form for a new partnership.
pub async fn new_page(Visit { cfg, s, .. }: Visit<RegisterEditor>) -> Response {
    form_page(
        StatusCode::OK,
        Form2 {
            cfg: &cfg,
            s: &s,
            existing: None,
            values: values_from(&Fields::default()),
            errors: Vec::new(),
            general: None,
        },
    )
}

/// A new partnership, added with its change record.
pub async fn new_submit(
    State(st): State<WebState>,
    Posted { cfg, s, fields, .. }: Posted<RegisterEditor>,
) -> Response {
    let again = |errors: Vec<FieldError>, general: Option<String>| {
        form_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            Form2 {
                cfg: &cfg,
                s: &s,
                existing: None,
                values: values_from(&fields),
                errors,
                general,
            },
        )
    };
    let p = match parse(&cfg, &fields, fields.get("id")) {
        Ok(p) => p,
        Err((errors, general)) => return again(errors, general),
    };
    match st.store.add_partnership(&p, &actor(&st, &s)).await {
        Ok(()) => {
            tracing::info!(partnership = %p.id, by = %s.email, "partnership added in the workspace");
            to_partnership(&p.id)
        }
        Err(StoreError::Refused(m)) => again(
            vec![FieldError {
                field: "id",
                message: format!("{}: {m}", label("id")),
            }],
            None,
        ),
        Err(e) => server_error(&cfg, &e),
    }
}

/// What the officer form shows besides the partnership: the values
/// entered, the problems with them, a problem with the whole.
struct Entered {
    values: Value,
    errors: Vec<FieldError>,
    general: Option<String>,
}

fn officer_page(
    status: StatusCode,
    cfg: &Config,
    s: &Signed,
    p: &Partnership,
    today: NaiveDate,
    entered: Entered,
) -> Response {
    let Entered {
        values,
        errors,
        general,
    } = entered;
    let mut error_map = serde_json::Map::new();
    for e in &errors {
        error_map.insert(e.field.into(), Value::String(e.message.clone()));
    }
    let failed = !errors.is_empty() || general.is_some();
    render(
        status,
        "workspace/officer.html",
        json!({
            "title": if failed { "Fel i formuläret: Byt handläggare" } else { "Byt handläggare" },
            "body_name": cfg.body.name,
            "css": "../iopd.css",
            "who": who(s),
            "back": format!("/arbetsyta/partnerskap?id={}", urlencode(p.id.as_str())),
            "id": p.id.as_str(),
            "organisation": p.organisation,
            "officer": format!("{} <{}>", p.officer.name, p.officer.email),
            "today": today.to_string(),
            "values": values,
            "errors": Value::Object(error_map),
            "error_list": errors,
            "general": general,
        }),
    )
}

/// The form for a new officer from a date.
pub async fn officer_form(
    State(st): State<WebState>,
    Query(q): Query<IdQuery>,
    Visit { cfg, s, today, .. }: Visit<RegisterEditor>,
) -> Response {
    let p = match existing(&st, &cfg, &q.id).await {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let values = json!({"fran": today.to_string()});
    officer_page(
        StatusCode::OK,
        &cfg,
        &s,
        &p,
        today,
        Entered {
            values,
            errors: Vec::new(),
            general: None,
        },
    )
}

/// A new officer from a date: an `officer_replaced` event, checked and
/// stored as any event is.
pub async fn officer_submit(
    State(st): State<WebState>,
    Posted {
        cfg,
        s,
        today,
        fields,
        ..
    }: Posted<RegisterEditor>,
) -> Response {
    let p = match existing(&st, &cfg, fields.get("id")).await {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let values = json!({"namn": fields.get("namn"), "epost": fields.get("epost"), "fran": fields.get("fran")});
    let mut errors = Vec::new();
    let name = crate::domain::clean_text("namnet", fields.get("namn"), 200)
        .ok()
        .filter(|n| !n.is_empty());
    if name.is_none() {
        errors.push(FieldError {
            field: "namn",
            message: "Skriv den nya handläggarens namn, på en rad.".into(),
        });
    }
    let email = Email::parse(fields.get("epost"));
    if let Err(e) = &email {
        errors.push(FieldError {
            field: "epost",
            message: format!("Skriv den nya handläggarens e-postadress ({}).", e.0),
        });
    }
    let from = crate::domain::parse_date(fields.get("fran"));
    if from.is_err() {
        errors.push(FieldError {
            field: "fran",
            message: "Skriv från vilket datum, som ÅÅÅÅ-MM-DD.".into(),
        });
    }
    let (Some(name), Ok(email), Ok(from), true) = (name, email, from, errors.is_empty()) else {
        return officer_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &cfg,
            &s,
            &p,
            today,
            Entered {
                values,
                errors,
                general: None,
            },
        );
    };
    let now = st.clock.now();
    let new = NewEvent {
        partnership: p.id.clone(),
        on: from.min(today),
        kind: EventKind::OfficerReplaced { name, email, from },
        recorded_at: now.instant,
        recorded_by: s.email.to_string(),
        channel: Channel::Workspace,
        target: None,
    };
    match crate::record::record(&cfg, &st.store, today, new).await {
        Ok(e) => {
            tracing::info!(event = e.id, partnership = %p.id, "officer replaced in the workspace");
            to_partnership(&p.id)
        }
        Err(StoreError::Refused(m)) => officer_page(
            StatusCode::CONFLICT,
            &cfg,
            &s,
            &p,
            today,
            Entered {
                values,
                errors: Vec::new(),
                general: Some(m),
            },
        ),
        Err(e) => server_error(&cfg, &e),
    }
}
