//! The handlers and their pages. Each request reads the configuration once,
//! checks the link before anything else, and only a POST with a valid form
//! token writes.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, Form, Path, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::{Datelike, Duration, NaiveDate};
use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Value, json};

use super::absence;
use super::form::{self, Evidence, FieldError, Fields};
use super::token::{self, Action, Claims, TokenError};
use super::{WebState, client_ip, secrets};
use crate::clock::Now;
use crate::config::Config;
use crate::domain::{Channel, Event, EventKind, Partnership, PartnershipId};
use crate::engine::{self, Checkpoint, Input, Kind, Status};
use crate::ladder;
use crate::store::{NewEvent, Postponement, StoreError};

const TEMPLATES: [(&str, &str); 19] = [
    (
        "layout.html",
        include_str!("../../templates/web/layout.html"),
    ),
    (
        "macros.html",
        include_str!("../../templates/web/macros.html"),
    ),
    (
        "action.html",
        include_str!("../../templates/web/action.html"),
    ),
    (
        "evidence.html",
        include_str!("../../templates/web/evidence.html"),
    ),
    (
        "message.html",
        include_str!("../../templates/web/message.html"),
    ),
    (
        "overview.html",
        include_str!("../../templates/web/overview.html"),
    ),
    // The signed-in workspace (`crate::workspace`) shares the layout.
    (
        "workspace/list.html",
        include_str!("../../templates/workspace/list.html"),
    ),
    (
        "workspace/partnership.html",
        include_str!("../../templates/workspace/partnership.html"),
    ),
    (
        "workspace/signin.html",
        include_str!("../../templates/workspace/signin.html"),
    ),
    (
        "workspace/record.html",
        include_str!("../../templates/workspace/record.html"),
    ),
    (
        "workspace/coming.html",
        include_str!("../../templates/workspace/coming.html"),
    ),
    (
        "workspace/report.html",
        include_str!("../../templates/workspace/report.html"),
    ),
    (
        "workspace/retract.html",
        include_str!("../../templates/workspace/retract.html"),
    ),
    (
        "workspace/committees.html",
        include_str!("../../templates/workspace/committees.html"),
    ),
    (
        "workspace/absence.html",
        include_str!("../../templates/workspace/absence.html"),
    ),
    (
        "workspace/edit.html",
        include_str!("../../templates/workspace/edit.html"),
    ),
    (
        "workspace/officer.html",
        include_str!("../../templates/workspace/officer.html"),
    ),
    (
        "workspace/plan.html",
        include_str!("../../templates/workspace/plan.html"),
    ),
    (
        "workspace/import.html",
        include_str!("../../templates/workspace/import.html"),
    ),
];

const CSS: &str = include_str!("../../templates/web/iopd.css");

/// What the guard in the write transaction answers when the work is done.
const ALREADY: &str = "redan registrerat";

static ENV: OnceLock<Result<Environment<'static>, String>> = OnceLock::new();

fn env() -> Result<&'static Environment<'static>, String> {
    ENV.get_or_init(|| {
        // Printing a missing value is a bug; testing for one is not.
        crate::mail::environment(&TEMPLATES, UndefinedBehavior::SemiStrict)
            .map_err(|e| format!("{e:#}"))
    })
    .as_ref()
    .map_err(Clone::clone)
}

pub(crate) fn render(status: StatusCode, template: &str, ctx: Value) -> Response {
    let html = env().and_then(|e| {
        e.get_template(template)
            .and_then(|t| t.render(&ctx))
            .map_err(|e| format!("{template}: {e:#}"))
    });
    match html {
        Ok(h) => (status, Html(h)).into_response(),
        Err(e) => {
            tracing::error!("page template failed: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><html lang=\"sv\"><head><meta charset=\"utf-8\"><title>Fel</title></head>\
                      <body><main><h1>Något gick fel</h1><p>Försök igen om en stund.</p></main></body></html>"),
            )
                .into_response()
        }
    }
}

/// A page with a heading and a few paragraphs (errors, confirmations).
pub(crate) fn message(
    status: StatusCode,
    cfg: Option<&Config>,
    title: &str,
    paras: &[String],
) -> Response {
    render(
        status,
        "message.html",
        json!({
            "body_name": cfg.map_or("", |c| c.body.name.as_str()),
            "css": "../iopd.css",
            "title": title,
            "paras": paras,
            "ok": status.is_success(),
        }),
    )
}

pub async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS).into_response()
}

pub async fn not_found() -> Response {
    message(
        StatusCode::NOT_FOUND,
        None,
        "Sidan finns inte",
        &["Kontrollera adressen, eller öppna länken i mejlet igen.".into()],
    )
}

pub(crate) fn server_error(cfg: &Config, e: &dyn std::fmt::Display) -> Response {
    tracing::error!("web page failed: {e}");
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        Some(cfg),
        "Något gick fel",
        &[
            "Det gick inte att hämta eller spara uppgifterna just nu. Ingenting har registrerats. \
           Försök igen om en stund."
                .into(),
        ],
    )
}

/// The request's link, checked: the configuration, the client's failures so
/// far, the signature, the expiry and the action.
struct Checked {
    cfg: std::sync::Arc<Config>,
    now: Now,
    claims: Claims,
}

fn check_link(
    st: &WebState,
    token: &str,
    ext: &Extensions,
    headers: &HeaderMap,
    want: &[Action],
) -> Result<Checked, Box<Response>> {
    let cfg = st.config.borrow().clone();
    let now = st.clock.with_tz(cfg.body.time_zone).now();
    let ip = client_ip(ext.get::<ConnectInfo<SocketAddr>>(), headers);
    let t0 = Instant::now();
    if st.limiter.blocked(ip, t0) {
        return Err(Box::new(message(
            StatusCode::TOO_MANY_REQUESTS,
            Some(&cfg),
            "För många försök",
            &[
                "Det har kommit för många felaktiga länkar från din anslutning. Vänta tio minuter \
               och öppna sedan länken i mejlet igen."
                    .into(),
            ],
        )));
    }
    let keys = secrets(&cfg);
    if keys.is_empty() {
        return Err(Box::new(not_found_sync(&cfg)));
    }
    let refused = |why: TokenError| {
        // The token itself is never logged, only that one failed and why.
        tracing::info!(client = %ip, reason = ?why, "link refused");
        st.limiter.fail(ip, t0);
    };
    match token::verify(&keys, token, now.today) {
        Ok(claims) if want.contains(&claims.action) => Ok(Checked { cfg, now, claims }),
        Ok(_) => {
            refused(TokenError::Malformed);
            Err(Box::new(bad_link(&cfg)))
        }
        Err(TokenError::Expired) => {
            refused(TokenError::Expired);
            Err(Box::new(message(
                StatusCode::GONE,
                Some(&cfg),
                "Länken har gått ut",
                &[format!(
                    "Länkarna i påminnelserna gäller i {} dagar. Nästa påminnelse har nya länkar; \
                     du kan också kontakta IOP-ansvarig.",
                    cfg.web.link_days
                )],
            )))
        }
        Err(why) => {
            refused(why);
            Err(Box::new(bad_link(&cfg)))
        }
    }
}

fn not_found_sync(cfg: &Config) -> Response {
    message(
        StatusCode::NOT_FOUND,
        Some(cfg),
        "Sidan finns inte",
        &["Kontrollera adressen, eller öppna länken i mejlet igen.".into()],
    )
}

fn bad_link(cfg: &Config) -> Response {
    message(
        StatusCode::NOT_FOUND,
        Some(cfg),
        "Länken fungerar inte",
        &[
            "Länken är inte giltig. Kontrollera att hela länken från mejlet kom med, eller öppna \
           den direkt från mejlet igen."
                .into(),
        ],
    )
}

/// A checkpoint's partnership id and kind from its key
/// (`{partnership}/{kind}` or `{partnership}/{kind}/{period}`; the id may
/// itself contain `/`).
pub(crate) fn split_key(key: &str) -> Option<(PartnershipId, Kind)> {
    let parts: Vec<&str> = key.split('/').collect();
    let n = parts.len();
    for k in [1, 2] {
        if n > k
            && let Some(kind) = Kind::parse(parts[n - k])
        {
            return PartnershipId::parse(&parts[..n - k].join("/"))
                .ok()
                .map(|id| (id, kind));
        }
    }
    None
}

/// The partnership, its history and the checkpoint the link names, as the
/// engine sees them today.
pub(crate) struct Found {
    pub partnership: Partnership,
    pub committee_name: String,
    pub events: Vec<Event>,
    pub cp: Checkpoint,
    pub all: Vec<Checkpoint>,
}

pub(crate) async fn find(
    st: &WebState,
    cfg: &Config,
    today: NaiveDate,
    key: &str,
) -> Result<Found, Box<Response>> {
    let gone = || {
        Box::new(message(
            StatusCode::GONE,
            Some(cfg),
            "Kontrollpunkten finns inte längre",
            &[
                "Det som länken gällde finns inte längre i registret, så det finns inget att \
               registrera. Kontakta IOP-ansvarig om något ser fel ut."
                    .into(),
            ],
        ))
    };
    let Some((id, _)) = split_key(key) else {
        return Err(gone());
    };
    let partnership = match st.store.partnership(&id).await {
        Ok(p) => p,
        Err(StoreError::UnknownPartnership(_)) => return Err(gone()),
        Err(e) => return Err(Box::new(server_error(cfg, &e))),
    };
    let (events, tracking) = match (st.store.events(&id).await, st.store.created_on().await) {
        (Ok(e), Ok(t)) => (e, t),
        (Err(e), _) | (_, Err(e)) => return Err(Box::new(server_error(cfg, &e))),
    };
    let Some(committee) = cfg.committees.get(&partnership.committee) else {
        return Err(gone());
    };
    let all = checkpoints_of(cfg, &partnership, &events, tracking, today);
    let Some(cp) = all.iter().find(|c| c.key == key).cloned() else {
        return Err(gone());
    };
    Ok(Found {
        committee_name: committee.name.clone(),
        partnership,
        events,
        cp,
        all,
    })
}

fn checkpoints_of(
    cfg: &Config,
    p: &Partnership,
    events: &[Event],
    tracking: NaiveDate,
    today: NaiveDate,
) -> Vec<Checkpoint> {
    // A link can come from the planning stage, before the period starts.
    checkpoints_ahead(cfg, p, events, tracking, today, 120)
}

/// The partnership's checkpoints at `today`, with periods starting within
/// `ahead_days`; none when its committee is not configured.
pub(crate) fn checkpoints_ahead(
    cfg: &Config,
    p: &Partnership,
    events: &[Event],
    tracking: NaiveDate,
    today: NaiveDate,
    ahead_days: i64,
) -> Vec<Checkpoint> {
    let Some(committee) = cfg.committees.get(&p.committee) else {
        return Vec::new();
    };
    let calendar = committee.calendar();
    let policy = cfg.policy_for(&p.committee, tracking);
    engine::checkpoints(&Input {
        partnership: p,
        events,
        policy: &policy,
        committee: &calendar,
        today,
        horizon: today + Duration::days(ahead_days),
    })
}

pub(crate) fn status_sv(s: Status) -> &'static str {
    match s {
        Status::Upcoming => "Kommande",
        Status::Due => "Sista dag i dag",
        Status::Overdue => "Försenad",
        Status::Done => "Klar",
        Status::Cancelled => "Inte längre aktuell",
        Status::BeforeTracking => "Före uppföljningens start",
        Status::Missed => "Missad",
        Status::Waived => "Avskriven",
    }
}

pub(crate) fn checkpoint_json(cfg: &Config, f: &Found) -> Value {
    json!({
        "key": f.cp.key,
        "label": cfg.guideline.label(f.cp.kind),
        "due": f.cp.due.to_string(),
        "status": status_sv(f.cp.status),
        "overdue": f.cp.status == Status::Overdue,
        "period_start": f.cp.period_start.to_string(),
        "period_end": f.cp.period_end.to_string(),
        "meeting": f.cp.meeting.map(|d| d.to_string()),
        "rule": cfg.guideline.text(f.cp.kind, f.cp.parent).rule,
        "partnership": f.partnership.id.as_str(),
        "organisation": f.partnership.organisation,
        "committee": f.committee_name,
    })
}

/// The calm answer for a checkpoint that needs nothing more.
fn closed_page(cfg: &Config, f: &Found) -> Response {
    let what = format!(
        "{} för {} (senast {})",
        cfg.guideline.label(f.cp.kind),
        f.partnership.organisation,
        f.cp.due
    );
    let (title, text) = match f.cp.status {
        Status::Done => (
            "Det här är redan registrerat",
            format!(
                "Kontrollpunkten {what} är redan registrerad som klar. Du behöver inte göra \
                 något mer."
            ),
        ),
        Status::Missed => (
            "Räknas som missat",
            format!(
                "Perioden för {what} räknas som missad, eftersom ett möte i en senare period är \
                 registrerat. Påminnelserna om den har upphört. Har mötet ändå hållits registrerar du det med \
                 länken \"Registrera att det är gjort\" i mejlet."
            ),
        ),
        Status::Waived => (
            "Avskrivet av IOP-ansvarig",
            format!(
                "{what} är avskrivet av IOP-ansvarig, så det finns inget att registrera. \
                 Kontakta IOP-ansvarig om något ser fel ut."
            ),
        ),
        _ => (
            "Inte längre aktuellt",
            format!("{what} är inte längre aktuellt, så det finns inget att registrera."),
        ),
    };
    message(StatusCode::OK, Some(cfg), title, &[text])
}

/// Nothing to record from a page: RULES 17 details, a missed window "stays
/// open to evidence", so its page still records the check-in.
fn is_closed(s: Status) -> bool {
    s.is_closed() && s != Status::Missed
}

/// Nothing to do from a page with this action: a missed window takes
/// evidence, but no postponement (its reminders have stopped). An absence is
/// the person's, not the checkpoint's: its link works whatever the status.
fn closed_for(action: Action, s: Status) -> bool {
    match action {
        Action::Done => is_closed(s),
        Action::Absent => false,
        _ => s.is_closed(),
    }
}

/// The evidence form's data for `cp` (the fields `evidence.html` shows), or
/// `None` for a fact that takes no evidence. Shared with the workspace.
pub(crate) fn done_offer(
    cfg: &Config,
    cp: &Checkpoint,
    p: &Partnership,
    today: NaiveDate,
) -> Option<Value> {
    let evidence = form::evidence_for(cp.kind, cp.parent);
    if evidence == Evidence::Nothing {
        return None;
    }
    let year = today.year();
    let example = form::diarienummer_example(p.id.as_str(), year, 12);
    if let Some(docs) = &cp.documents {
        return Some(json!({
            "evidence": Evidence::Documents,
            "dnr_example": example,
            "documents": docs.missing.iter().map(|&d| {
                let (tick, dnr) = form::document_fields(d);
                json!({
                    "label": d.label_sv(),
                    "lower": d.label_sv().to_lowercase(),
                    "tick": tick,
                    "dnr": dnr,
                })
            }).collect::<Vec<_>>(),
            "received": docs.received.iter().map(|r| {
                format!("{} ({}, {})", r.document.label_sv(), r.diarienummer, r.on)
            }).collect::<Vec<_>>(),
            "defaults": {},
        }));
    }
    if evidence != Evidence::Memo {
        return Some(json!({
            "evidence": evidence,
            "dnr_example": example,
            "defaults": {},
        }));
    }
    // RULES 6b: the memo goes to one of the committee's planned
    // meetings on or after its submission deadline.
    let meetings = form::meetings_offered(&committee_plan(cfg, p), cp.due);
    let first = meetings
        .first()
        .map_or(form::OTHER_MEETING.to_string(), ToString::to_string);
    Some(json!({
        "evidence": evidence,
        "dnr_example": example,
        "meetings": meetings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "other": form::OTHER_MEETING,
        "defaults": { "sammantrade": first },
    }))
}

/// What the page for one action offers, before anything is submitted.
enum Offer {
    Form(Value),
    Page(Response),
}

async fn offer(st: &WebState, c: &Checked, f: &Found) -> Offer {
    let cfg = &c.cfg;
    let today = c.now.today;
    match c.claims.action {
        Action::Done => match done_offer(cfg, &f.cp, &f.partnership, today) {
            Some(extra) => Offer::Form(extra),
            None => Offer::Page(message(
                StatusCode::OK,
                Some(cfg),
                "Inget att registrera",
                &[format!(
                    "{} för {}: det här är ett datum i överenskommelsen och behöver inget \
                     underlag. Påminnelsen är för kännedom.",
                    cfg.guideline.label(f.cp.kind),
                    f.partnership.organisation
                )],
            )),
        },
        Action::Absent => {
            let list = match absence::officer_of(st, cfg, &c.claims.recipient, today).await {
                Ok(l) => l,
                Err(e) => return Offer::Page(server_error(cfg, &e)),
            };
            if list.is_empty() {
                return Offer::Page(message(
                    StatusCode::OK,
                    Some(cfg),
                    "Frånvaro anmäls av handläggaren",
                    &[
                        format!(
                            "{} står inte som handläggare för någon överenskommelse just nu, så \
                             det finns ingen frånvaro att anmäla här.",
                            c.claims.recipient
                        ),
                        "Är du ersättare får du påminnelserna när handläggaren är borta; \
                         handläggaren anmäler själv sin frånvaro. Kontakta IOP-ansvarig om \
                         något ser fel ut."
                            .into(),
                    ],
                ));
            }
            let feed = super::feed::link_for(st, cfg, &c.claims.recipient).await;
            Offer::Form(json!({
                "partnerships": list.iter().map(absence::Officed::to_json).collect::<Vec<_>>(),
                "feed": feed,
                "defaults": { "fran": today.to_string() },
            }))
        }
        Action::MoreTime => {
            match st.store.postponements().await {
                Ok(list) => {
                    if let Some(p) = list.iter().find(|p| p.checkpoint_key == f.cp.key) {
                        return Offer::Page(message(
                            StatusCode::OK,
                            Some(cfg),
                            "Redan uppskjutet",
                            &[format!(
                                "Påminnelserna om det här är redan uppskjutna till {} ({ALREADY}). \
                                 Det går att skjuta upp en gång.",
                                p.until
                            )],
                        ));
                    }
                }
                Err(e) => return Offer::Page(server_error(cfg, &e)),
            }
            let latest = latest_postpone(cfg, &f.cp);
            let limit = (today + Duration::days(i64::from(cfg.web.max_postpone_days))).min(latest);
            if limit <= today {
                return Offer::Page(message(
                    StatusCode::OK,
                    Some(cfg),
                    "Det går inte att skjuta upp längre",
                    &["Påminnelsen har redan gått vidare till IOP-ansvarig, så den kan inte skjutas \
                       upp. Registrera det som är gjort, eller kontakta IOP-ansvarig."
                        .into()],
                ));
            }
            Offer::Form(json!({
                "limit": limit.to_string(),
                "defaults": { "till": limit.to_string() },
            }))
        }
        Action::Overview => Offer::Page(not_found_sync(cfg)),
    }
}

/// The committee's sammanträdesplan for `p`.
fn committee_plan(cfg: &Config, p: &Partnership) -> Vec<NaiveDate> {
    cfg.committees
        .get(&p.committee)
        .map(|c| c.meetings.clone())
        .unwrap_or_default()
}

/// A postponement ends at the latest on the escalation's send day.
fn latest_postpone(cfg: &Config, cp: &Checkpoint) -> NaiveDate {
    ladder::escalation_on(cp, &cfg.ladder()).unwrap_or(cp.due)
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Done => "done",
        Action::Absent => "absent",
        Action::MoreTime => "more",
        Action::Overview => "overview",
    }
}

fn title_of(a: Action) -> &'static str {
    match a {
        Action::Done => "Registrera att det är gjort",
        Action::Absent => "Anmäl frånvaro",
        Action::MoreTime => "Jag behöver mer tid",
        Action::Overview => "Översikt",
    }
}

/// What a submitted form gets back: its values and what was wrong.
#[derive(Default)]
struct Answer<'a> {
    values: Fields,
    errors: &'a [FieldError],
    general: Option<String>,
}

/// A form's values as shown again (the offer's defaults, then what was sent)
/// and its errors by field.
pub(crate) fn form_state<'e>(
    extra: &Value,
    values: &Fields,
    errors: &'e [FieldError],
) -> (BTreeMap<String, String>, BTreeMap<&'e str, &'e str>) {
    let mut vals: BTreeMap<String, String> = BTreeMap::new();
    if let Some(d) = extra.get("defaults").and_then(Value::as_object) {
        for (k, v) in d {
            vals.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
        }
    }
    for (k, v) in &values.0 {
        if k != "skydd" {
            vals.insert(k.clone(), v.chars().take(200).collect());
        }
    }
    let errs = errors
        .iter()
        .map(|e| (e.field, e.message.as_str()))
        .collect();
    (vals, errs)
}

fn form_page(
    status: StatusCode,
    c: &Checked,
    f: &Found,
    token: &str,
    extra: Value,
    answer: Answer<'_>,
) -> Response {
    let Answer {
        values,
        errors,
        general,
    } = answer;
    let secret = c
        .cfg
        .web
        .link_secret
        .as_ref()
        .map(|s| token::form_token(s.expose().as_bytes(), token, c.now.instant))
        .unwrap_or_default();
    let (vals, errs) = form_state(&extra, &values, errors);
    let title = title_of(c.claims.action);
    render(
        status,
        "action.html",
        json!({
            "body_name": c.cfg.body.name,
            "css": "../iopd.css",
            "title": if errors.is_empty() && general.is_none() { title.to_string() } else { format!("Fel i formuläret: {title}") },
            "heading": title,
            "action": action_name(c.claims.action),
            "cp": checkpoint_json(&c.cfg, f),
            "recipient": c.claims.recipient.as_str(),
            "today": c.now.today.to_string(),
            "form_token": secret,
            "values": vals,
            "errors": errs,
            "error_list": errors,
            "general": general,
            "max_postpone_days": c.cfg.web.max_postpone_days,
            "extra": extra,
        }),
    )
}

pub async fn action_page(
    State(st): State<WebState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
) -> Response {
    let c = match check_link(
        &st,
        &token,
        &ext,
        &headers,
        &[Action::Done, Action::Absent, Action::MoreTime],
    ) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let f = match find(&st, &c.cfg, c.now.today, &c.claims.checkpoint).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    if closed_for(c.claims.action, f.cp.status) {
        return closed_page(&c.cfg, &f);
    }
    match offer(&st, &c, &f).await {
        Offer::Page(r) => r,
        Offer::Form(extra) => form_page(StatusCode::OK, &c, &f, &token, extra, Answer::default()),
    }
}

pub async fn action_submit(
    State(st): State<WebState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
    body: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let c = match check_link(
        &st,
        &token,
        &ext,
        &headers,
        &[Action::Done, Action::Absent, Action::MoreTime],
    ) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let cfg = c.cfg.clone();
    let fields = match body {
        Ok(Form(v)) => Fields(v),
        Err(rej) => {
            let (status, text) = if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Formuläret är för stort. Ingenting har registrerats.",
                )
            } else {
                (
                    StatusCode::BAD_REQUEST,
                    "Formuläret kunde inte läsas. Ingenting har registrerats.",
                )
            };
            return message(
                status,
                Some(&cfg),
                "Formuläret kunde inte tas emot",
                &[
                    text.into(),
                    "Öppna länken i mejlet igen och fyll i formuläret där.".into(),
                ],
            );
        }
    };
    if !token::form_ok(&secrets(&cfg), &token, fields.get("skydd"), c.now.instant) {
        return message(
            StatusCode::BAD_REQUEST,
            Some(&cfg),
            "Formuläret har gått ut",
            &[format!(
                "Formuläret måste skickas inom {} timmar från att sidan öppnades. Ingenting har \
                 registrerats. Öppna länken i mejlet igen.",
                token::FORM_HOURS
            )],
        );
    }
    let f = match find(&st, &cfg, c.now.today, &c.claims.checkpoint).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    if closed_for(c.claims.action, f.cp.status) {
        return closed_page(&cfg, &f);
    }
    let extra = match offer(&st, &c, &f).await {
        Offer::Page(r) => return r,
        Offer::Form(extra) => extra,
    };
    let invalid = |errors: Vec<FieldError>, general: Option<String>| {
        form_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &c,
            &f,
            &token,
            extra.clone(),
            Answer {
                values: fields.clone(),
                errors: &errors,
                general,
            },
        )
    };
    let today = c.now.today;
    match c.claims.action {
        Action::Done => match parse_evidence(&cfg, &f, &fields, today) {
            Ok(events) => {
                let who = Recorder {
                    cfg: &cfg,
                    now: &c.now,
                    by: c.claims.recipient.to_string(),
                    channel: Channel::Web,
                };
                submit_done(&st, &who, &f, events, invalid).await
            }
            Err(e) => invalid(e, None),
        },
        Action::Absent => {
            let (from, to) = match form::parse_absence(&fields, today) {
                Ok(v) => v,
                Err(e) => return invalid(e, None),
            };
            submit_absence(
                &st,
                &c.cfg,
                &c.claims.recipient,
                Channel::Web,
                &c.now,
                from,
                to,
                invalid,
            )
            .await
        }
        Action::MoreTime => {
            let latest = latest_postpone(&cfg, &f.cp);
            let until =
                match form::parse_postpone(&fields, today, cfg.web.max_postpone_days, latest) {
                    Ok(v) => v,
                    Err(e) => return invalid(e, None),
                };
            submit_postpone(&st, &c, &f, until).await
        }
        Action::Overview => not_found_sync(&cfg),
    }
}

/// `target`: the checkpoint the page was reached from, for evidence (RULES 15).
/// The evidence a submitted form gives for `f.cp`: one event, or one per
/// yearly document ticked. Shared with the workspace.
pub(crate) fn parse_evidence(
    cfg: &Config,
    f: &Found,
    fields: &Fields,
    today: NaiveDate,
) -> Result<Vec<(NaiveDate, EventKind)>, Vec<FieldError>> {
    match &f.cp.documents {
        Some(docs) => form::parse_documents(fields, &docs.missing, today),
        None => form::parse_done(
            f.cp.kind,
            f.cp.parent,
            fields,
            today,
            f.partnership.start,
            &committee_plan(cfg, &f.partnership),
        )
        .map(|one| vec![one]),
    }
}

/// Who records, through which door.
pub(crate) struct Recorder<'a> {
    pub cfg: &'a Config,
    pub now: &'a Now,
    pub by: String,
    pub channel: Channel,
}

/// Records the form's evidence (one event, or one per yearly document) in one
/// transaction, for the checkpoint the page is about.
pub(crate) async fn submit_done(
    st: &WebState,
    who: &Recorder<'_>,
    f: &Found,
    evidence: Vec<(NaiveDate, EventKind)>,
    invalid: impl Fn(Vec<FieldError>, Option<String>) -> Response,
) -> Response {
    let cfg = who.cfg;
    let today = who.now.today;
    let tracking = match st.store.created_on().await {
        Ok(t) => t,
        Err(e) => return server_error(cfg, &e),
    };
    let key = f.cp.key.clone();
    // Inside the write transaction: the checkpoint must still be open, so a
    // second submission (or two at once) records nothing.
    let guard = |p: &Partnership, events: &[Event]| {
        let now_open = checkpoints_of(cfg, p, events, tracking, today)
            .iter()
            .any(|cp| cp.key == key && !is_closed(cp.status));
        if now_open {
            Ok(true)
        } else {
            Err(ALREADY.to_string())
        }
    };
    let news = evidence
        .into_iter()
        .map(|(on, kind)| NewEvent {
            partnership: f.partnership.id.clone(),
            on,
            kind,
            recorded_at: who.now.instant,
            recorded_by: who.by.clone(),
            channel: who.channel,
            target: Some(key.clone()),
        })
        .collect();
    let recorded = match crate::record::record_all_with(cfg, &st.store, today, news, guard).await {
        Ok(e) => e,
        Err(StoreError::Refused(m)) if m == ALREADY => {
            return message(
                StatusCode::OK,
                Some(cfg),
                "Det här är redan registrerat",
                &["Det här var redan registrerat, så ingenting nytt har sparats.".into()],
            );
        }
        Err(StoreError::Refused(m)) => {
            return invalid(
                Vec::new(),
                Some(format!("Det gick inte att registrera: {m}")),
            );
        }
        Err(e) => return server_error(cfg, &e),
    };
    for event in &recorded {
        tracing::info!(event = event.id, checkpoint = %f.cp.key, "evidence recorded from a page");
    }
    // Which checkpoints this closed: its own (RULES 15), and earlier windows
    // it made missed (RULES 17).
    let mut events = f.events.clone();
    events.extend(recorded.iter().cloned());
    let after = checkpoints_of(cfg, &f.partnership, &events, tracking, today);
    let was_open: HashMap<&str, &Checkpoint> = f
        .all
        .iter()
        .filter(|cp| !cp.status.is_closed() || cp.key == key)
        .map(|cp| (cp.key.as_str(), cp))
        .collect();
    let closed: Vec<&Checkpoint> = after
        .iter()
        .filter(|cp| {
            cp.status.is_closed()
                && was_open
                    .get(cp.key.as_str())
                    .is_some_and(|before| before.status != cp.status)
        })
        .collect();
    for cp in &closed {
        // The waiting reminders go now; the next tick cancels the calendar entry.
        if let Err(e) = st.store.cancel_pending(&cp.key).await {
            tracing::error!(checkpoint = %cp.key, "pending reminders not withdrawn: {e}");
        }
    }
    let mut paras = vec![format!(
        "Tack! Det är registrerat för {} ({}).",
        f.partnership.organisation, f.partnership.id
    )];
    let documents = after
        .iter()
        .find(|cp| cp.key == f.cp.key)
        .and_then(|cp| cp.documents.as_ref());
    if let Some(docs) = documents {
        let now: Vec<String> = docs
            .received
            .iter()
            .filter(|r| recorded.iter().any(|e| e.id == r.event))
            .map(|r| format!("{} ({})", r.document.label_sv(), r.diarienummer))
            .collect();
        paras.push(format!("Registrerade nu: {}.", now.join(", ")));
        if !docs.missing.is_empty() {
            paras.push(format!(
                "Saknas fortfarande: {}. Påminnelserna fortsätter tills de är registrerade; \
                 använd länken i mejlet igen när de kommer in.",
                crate::guideline::document_list(&docs.missing).to_lowercase()
            ));
        }
    }
    if closed.iter().any(|cp| cp.key == f.cp.key) {
        paras.push(format!(
            "{} med sista dag {} är nu klar. Påminnelserna om den upphör, och kalenderposten tas bort.",
            cfg.guideline.label(f.cp.kind),
            f.cp.due
        ));
    }
    for other in closed.iter().filter(|cp| cp.status == Status::Missed) {
        paras.push(format!(
            "Perioden för {} med sista dag {} räknas nu som missad, eftersom ett möte i en \
             senare period är registrerat. Påminnelserna om den upphör.",
            cfg.guideline.label(other.kind),
            other.due
        ));
    }
    paras.push(format!("Registrerad av {} den {}.", who.by, today));
    message(StatusCode::OK, Some(cfg), "Registrerat", &paras)
}

/// Records an absence for every partnership `who` is officer for, and the
/// answer page. Shared with the workspace.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn submit_absence(
    st: &WebState,
    cfg: &Config,
    who: &crate::domain::Email,
    channel: Channel,
    now: &Now,
    from: NaiveDate,
    to: NaiveDate,
    invalid: impl Fn(Vec<FieldError>, Option<String>) -> Response,
) -> Response {
    let list = match absence::officer_of(st, cfg, who, now.today).await {
        Ok(l) => l,
        Err(e) => return server_error(cfg, &e),
    };
    match absence::record(st, cfg, who, channel, now, &list, from, to).await {
        Ok(events) => {
            tracing::info!(events = events.len(), "absence recorded from a page");
            let mut paras = vec![format!(
                "Du är registrerad som frånvarande från {from} till och med {to} för {}:",
                absence::agreements(list.len())
            )];
            for o in &list {
                let p = &o.partnership;
                paras.push(match &p.deputy {
                    Some(d) => format!(
                        "{} ({}), {}: ersättaren {d} får påminnelserna under tiden.",
                        p.organisation, p.id, o.committee_name
                    ),
                    None => format!(
                        "{} ({}), {}: det finns ingen ersättare angiven, så du får \
                         påminnelserna ändå. Kontakta IOP-ansvarig om någon annan ska ta över.",
                        p.organisation, p.id, o.committee_name
                    ),
                });
            }
            message(
                StatusCode::OK,
                Some(cfg),
                "Frånvaron är registrerad",
                &paras,
            )
        }
        Err(absence::Refusal::Already) => message(
            StatusCode::OK,
            Some(cfg),
            "Det här är redan registrerat",
            &[format!(
                "Frånvaron {from}–{to} var redan registrerad, så ingenting nytt har sparats."
            )],
        ),
        Err(absence::Refusal::Refused(m)) => invalid(
            Vec::new(),
            Some(format!("Det gick inte att registrera: {m}.")),
        ),
        Err(absence::Refusal::Store(e)) => server_error(cfg, &e),
    }
}

async fn submit_postpone(st: &WebState, c: &Checked, f: &Found, until: NaiveDate) -> Response {
    let cfg = &c.cfg;
    let p = Postponement {
        checkpoint_key: f.cp.key.clone(),
        partnership_id: f.partnership.id.to_string(),
        due: f.cp.due,
        until,
        recorded_at: c.now.instant,
        recorded_by: c.claims.recipient.to_string(),
    };
    match st.store.postpone(&p).await {
        Ok(true) => {
            tracing::info!(checkpoint = %f.cp.key, %until, "reminders postponed from a page");
            if let Err(e) = st.store.cancel_pending(&f.cp.key).await {
                tracing::error!(checkpoint = %f.cp.key, "pending reminders not withdrawn: {e}");
            }
            message(
                StatusCode::OK,
                Some(cfg),
                "Påminnelserna väntar",
                &[
                    format!(
                        "Påminnelserna om {} för {} väntar till {until}.",
                        cfg.guideline.label(f.cp.kind).to_lowercase(),
                        f.partnership.organisation
                    ),
                    format!(
                        "Sista dagen är fortfarande {}. Är det inte gjort går eskaleringen till \
                         IOP-ansvarig ut som vanligt, och uppskjutningen syns i veckosammanställningen.",
                        f.cp.due
                    ),
                ],
            )
        }
        Ok(false) => message(
            StatusCode::OK,
            Some(cfg),
            "Det här är redan registrerat",
            &[
                "Påminnelserna var redan uppskjutna, så ingenting nytt har sparats. Det går att \
               skjuta upp en gång."
                    .into(),
            ],
        ),
        Err(e) => server_error(cfg, &e),
    }
}

/// The digest's overview: overdue and soon-due checkpoints by committee, live.
pub async fn overview(
    State(st): State<WebState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
) -> Response {
    let c = match check_link(&st, &token, &ext, &headers, &[Action::Overview]) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let cfg = &c.cfg;
    let today = c.now.today;
    let soon = today + Duration::weeks(i64::from(cfg.digest.heads_up_weeks.max(1)));
    let tracking = match st.store.created_on().await {
        Ok(t) => t,
        Err(e) => return server_error(cfg, &e),
    };
    // committee name → (overdue rows, due-soon rows)
    let mut groups: BTreeMap<String, (Vec<Value>, Vec<Value>)> = BTreeMap::new();
    // Whether the reader holds any calendar entry: only then does the page
    // offer their feed (IOP-ansvarig holds none under the default routing).
    let ladder = cfg.ladder();
    let mut holds_any = false;
    let walked = st
        .store
        .each_partnership(
            |p, events| {
                let Some(committee) = cfg.committees.get(&p.committee) else {
                    return;
                };
                for cp in checkpoints_of(cfg, &p, &events, tracking, today) {
                    holds_any = holds_any
                        || super::feed::holds(
                            cfg,
                            &ladder,
                            &p,
                            &events,
                            &committee.secretary,
                            &cp,
                            &c.claims.recipient,
                            today,
                        );
                    let row = || {
                        json!({
                            "organisation": p.organisation,
                            "partnership": p.id.as_str(),
                            "label": cfg.guideline.label(cp.kind),
                            "due": cp.due.to_string(),
                            "days_late": (today - cp.due).num_days(),
                        })
                    };
                    let g = groups.entry(committee.name.clone()).or_default();
                    match cp.status {
                        Status::Overdue => g.0.push(row()),
                        Status::Due | Status::Upcoming if cp.due <= soon => g.1.push(row()),
                        _ => {}
                    }
                }
            },
            |e| tracing::error!("partnership skipped on the overview: {e}"),
        )
        .await;
    if let Err(e) = walked {
        return server_error(cfg, &e);
    }
    let feed = if holds_any {
        super::feed::link_for(&st, cfg, &c.claims.recipient).await
    } else {
        None
    };
    let committees: Vec<Value> = groups
        .into_iter()
        .filter(|(_, (o, s))| !o.is_empty() || !s.is_empty())
        .map(|(name, (overdue, soon))| json!({ "name": name, "overdue": overdue, "soon": soon }))
        .collect();
    render(
        StatusCode::OK,
        "overview.html",
        json!({
            "body_name": cfg.body.name,
            "css": "../iopd.css",
            "title": "Översikt över IOP-uppföljningen",
            "today": today.to_string(),
            "soon": soon.to_string(),
            "committees": committees,
            "feed": feed,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missed_window_takes_evidence_but_nothing_else() {
        // RULES 17 details: "A `missed` window stays open to evidence"; its
        // reminders have stopped, so there is nothing to postpone.
        assert!(!closed_for(Action::Done, Status::Missed));
        assert!(closed_for(Action::MoreTime, Status::Missed));
        // Issue 15 item 8: an absence is the person's, whatever the status
        // of the checkpoint whose mail carried the link.
        assert!(!closed_for(Action::Absent, Status::Missed));
        assert!(!closed_for(Action::Absent, Status::Done));
        // "evidence recorded after it finds that checkpoint closed".
        assert!(closed_for(Action::Done, Status::Waived));
        assert!(!closed_for(Action::Done, Status::Overdue));
    }

    #[test]
    fn keys_name_their_partnership_even_with_slashes_in_the_id() {
        for (key, id, kind) in [
            ("T1/checkin/y0-w1", "T1", Kind::Checkin),
            (
                "KUB/2021:101/annual_report/y3",
                "KUB/2021:101",
                Kind::AnnualReport,
            ),
            (
                "RS/2023:145/agreement_end",
                "RS/2023:145",
                Kind::AgreementEnd,
            ),
            (
                "RS/2023:145/committee_minutes/committee_followup-f1",
                "RS/2023:145",
                Kind::CommitteeMinutes,
            ),
        ] {
            let (p, k) = split_key(key).unwrap();
            assert_eq!((p.as_str(), k), (id, kind), "{key}");
        }
        assert!(split_key("nothing").is_none());
        assert!(split_key("T1/nokind/y0").is_none());
    }

    #[test]
    fn every_template_parses() {
        env().unwrap();
    }

    #[test]
    fn the_memo_form_renders_its_warning() {
        let html = env()
            .unwrap()
            .get_template("action.html")
            .unwrap()
            .render(json!({
                "body_name": "Region", "css": "x", "title": "t", "heading": "h",
                "action": "done", "recipient": "a@example.org", "today": "2026-05-22",
                "form_token": "f", "max_postpone_days": 14,
                "cp": {"label": "L", "due": "2026-05-21", "organisation": "O", "partnership": "P",
                       "committee": "C", "period_start": "a", "period_end": "b", "rule": "r"},
                "values": {"sammantrade": "annat", "annat_datum": "2026-09-18"},
                "errors": {"utanfor_plan": "2026-09-18 finns inte"},
                "error_list": [{"field": "utanfor_plan", "message": "2026-09-18 finns inte"}],
                "general": null,
                "extra": {"evidence": "memo", "dnr_example": "KUB/2026:12",
                          "meetings": ["2026-06-11"], "other": "annat"},
            }))
            .unwrap();
        assert!(html.contains("id=\"f-utanfor_plan\""), "{html}");
    }
}
