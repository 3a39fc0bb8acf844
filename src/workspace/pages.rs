//! The workspace's handlers: the overview (a filtered, paged list), one
//! partnership with its checkpoints and history, sign-in by one-time link,
//! and logout. Every handler reads the configuration once and decides access
//! before it reads anything else.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Value, json};

use super::access::{self, Role, Signed};
use super::guard::{Posted, Visit};
use crate::config::Config;
use crate::domain::{Event, Partnership, PartnershipId};
use crate::engine::{Checkpoint, Kind, Status};
use crate::store::{ListFilter, StoreError};
use crate::web::WebState;
use crate::web::pages::{checkpoints_ahead, message, render, server_error, status_sv};

/// Rows per page of the overview.
pub const PAGE: i64 = 50;

/// What every workspace page shows of the person: name, role, logout form.
pub(super) fn who(s: &Signed) -> Value {
    json!({
        "email": s.email.as_str(),
        "role": s.role.label_sv(),
        "csrf": s.csrf,
        "reader": s.role == Role::Reader,
        "officer": s.role == Role::Officer,
        "coordinator": s.role == Role::Coordinator,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    namnd: String,
    #[serde(default)]
    handlaggare: String,
    #[serde(default)]
    sok: String,
    /// A checkpoint kind (`Kind::name`).
    #[serde(default)]
    typ: String,
    /// A checkpoint status (`Status::name`).
    #[serde(default)]
    status: String,
    #[serde(default)]
    sida: Option<i64>,
}

fn nonempty(s: &str) -> Option<&str> {
    let t = s.trim();
    (!t.is_empty()).then_some(t)
}

/// The statuses in the order the counts show them: what needs doing first.
const STATUS_ORDER: [Status; 8] = [
    Status::Overdue,
    Status::Due,
    Status::Upcoming,
    Status::Done,
    Status::Missed,
    Status::Waived,
    Status::Cancelled,
    Status::BeforeTracking,
];

/// The overview: the partnerships this person may see, worst first (by the
/// last tick's evaluation), filtered by committee, officer, a checkpoint's
/// kind and status and a search in name or id, 50 to a page, each with its
/// overdue and next checkpoint; above them the counts by status and
/// committee.
pub async fn overview(
    State(st): State<WebState>,
    Query(q): Query<ListQuery>,
    Visit { cfg, s, today, .. }: Visit,
) -> Response {
    let page = q.sida.unwrap_or(1).clamp(1, 1_000_000);
    let committee = nonempty(&q.namnd).filter(|k| cfg.committees.keys().any(|c| c.as_str() == *k));
    let person = nonempty(&q.handlaggare);
    let search = nonempty(&q.sok);
    let kind = nonempty(&q.typ).and_then(Kind::parse);
    let status = nonempty(&q.status).and_then(Status::parse);
    let scope: Option<Vec<String>> = match s.scope(&st.store).await {
        Ok(v) => v.map(|ids| ids.into_iter().collect()),
        Err(e) => return server_error(&cfg, &e),
    };
    let filter = ListFilter {
        committee,
        person,
        search,
        status: status.map(Status::name),
        kind: kind.map(Kind::name),
        within: scope.as_deref(),
    };
    let (ids, total) = match st
        .store
        .partnership_page(&filter, PAGE, (page - 1) * PAGE)
        .await
    {
        Ok(v) => v,
        Err(e) => return server_error(&cfg, &e),
    };
    // The counts of the person's scope: everyone's as the tick summed
    // them, or an officer's few summed here.
    let counts = match &scope {
        None => st.store.overview_counts(false).await,
        Some(ids) => st
            .store
            .checkpoint_counts_of(ids)
            .await
            .map(|c| c.by_committee),
    };
    let counts = match counts {
        Ok(c) => c,
        Err(e) => return server_error(&cfg, &e),
    };
    let as_of = match st.store.last_tick_started().await {
        Ok(t) => t.map(|t| crate::clock::local_minute(t, cfg.body.time_zone)),
        Err(e) => return server_error(&cfg, &e),
    };
    let tracking = match st.store.created_on().await {
        Ok(t) => t,
        Err(e) => return server_error(&cfg, &e),
    };
    // The page's partnerships with their histories in one statement.
    let mut rows = Vec::new();
    let mut unreadable = Vec::new();
    let read = st
        .store
        .partnerships_for_tick(
            &ids,
            |t| {
                let cps = checkpoints_ahead(&cfg, &t.partnership, &t.events, tracking, today, 92);
                rows.push(row(&cfg, &t.partnership, &cps, today));
            },
            |e| unreadable.push(e.to_string()),
        )
        .await;
    if let Err(e) = read {
        return server_error(&cfg, &e);
    }
    for e in &unreadable {
        tracing::warn!("a partnership in the workspace's list cannot be read: {e}");
    }
    // The store's order (worst first across all pages), not the read's.
    let place: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    rows.sort_by_key(|r| r["id"].as_str().and_then(|id| place.get(id).copied()));
    let pages = (total + PAGE - 1) / PAGE;
    let query = |extra: &[(&str, &str)]| {
        let mut params: Vec<String> = Vec::new();
        for (k, v) in [
            ("namnd", committee),
            ("handlaggare", person),
            ("sok", search),
            ("typ", kind.map(Kind::name)),
            ("status", status.map(Status::name)),
        ] {
            if let Some(v) = v
                && !extra.iter().any(|(e, _)| *e == k)
            {
                params.push(format!("{k}={}", urlencode(v)));
            }
        }
        params.extend(extra.iter().map(|(k, v)| format!("{k}={}", urlencode(v))));
        if params.is_empty() {
            "/arbetsyta".to_string()
        } else {
            format!("/arbetsyta?{}", params.join("&"))
        }
    };
    let link = |n: i64| query(&[("sida", &n.to_string())]);
    render(
        StatusCode::OK,
        "workspace/list.html",
        json!({
            "title": "Översikt",
            "body_name": cfg.body.name,
            "css": "iopd.css",
            "who": who(&s),
            "committees": cfg.committees.iter().map(|(k, c)| json!({"key": k.as_str(), "name": c.name})).collect::<Vec<_>>(),
            "kinds": Kind::ALL.iter().map(|k| json!({"key": k.name(), "name": cfg.guideline.label(*k)})).collect::<Vec<_>>(),
            "statuses": STATUS_ORDER.iter().map(|st| json!({"key": st.name(), "name": status_sv(*st)})).collect::<Vec<_>>(),
            "filter": {
                "namnd": committee.unwrap_or(""),
                "handlaggare": person.unwrap_or(""),
                "sok": search.unwrap_or(""),
                "typ": kind.map_or("", Kind::name),
                "status": status.map_or("", Status::name),
            },
            "filtered": committee.is_some() || person.is_some() || search.is_some() || kind.is_some() || status.is_some(),
            "counts": counts_json(&cfg, &counts),
            "as_of": as_of,
            "rows": rows,
            "total": total,
            "page": page,
            "pages": pages,
            "prev": (page > 1).then(|| link(page - 1)),
            "next": (page < pages).then(|| link(page + 1)),
            "officer_scope": s.role == Role::Officer,
        }),
    )
}

/// The counts by status (all committees) and by committee, each number a
/// link to the list it counts.
fn counts_json(cfg: &Config, counts: &BTreeMap<(String, String), (i64, i64)>) -> Value {
    let mut by_status: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for ((_, st), (n, p)) in counts {
        let e = by_status.entry(st.as_str()).or_default();
        e.0 += n;
        e.1 += p;
    }
    let statuses: Vec<Value> = STATUS_ORDER
        .iter()
        .filter_map(|st| {
            let (n, p) = by_status.get(st.name()).copied()?;
            (n > 0).then(|| {
                json!({
                    "name": status_sv(*st),
                    "href": format!("/arbetsyta?status={}", st.name()),
                    "checkpoints": crate::words::plural(n, "kontrollpunkt", "kontrollpunkter"),
                    "partnerships": p,
                    "late": *st == Status::Overdue,
                })
            })
        })
        .collect();
    // The columns that say what needs doing; each committee in the
    // configuration's order, and any the counts know that it does not.
    let columns = [Status::Overdue, Status::Due, Status::Upcoming];
    let mut names: Vec<(String, String)> = cfg
        .committees
        .iter()
        .map(|(k, c)| (k.as_str().to_string(), c.name.clone()))
        .collect();
    for (c, _) in counts.keys() {
        if !names.iter().any(|(k, _)| k == c) {
            names.push((c.clone(), c.clone()));
        }
    }
    let committees: Vec<Value> = names
        .into_iter()
        .filter(|(k, _)| counts.keys().any(|(c, _)| c == k))
        .map(|(k, name)| {
            let cells: Vec<Value> = columns
                .iter()
                .map(|st| {
                    let n = counts
                        .get(&(k.clone(), st.name().to_string()))
                        .map_or(0, |c| c.0);
                    json!({
                        "label": status_sv(*st),
                        "n": n,
                        "href": format!("/arbetsyta?namnd={}&status={}", urlencode(&k), st.name()),
                    })
                })
                .collect();
            json!({"name": name, "cells": cells})
        })
        .collect();
    json!({
        "statuses": statuses,
        "columns": columns.iter().map(|st| status_sv(*st)).collect::<Vec<_>>(),
        "committees": committees,
    })
}

pub(super) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn read(st: &WebState, id: &PartnershipId) -> Result<(Partnership, Vec<Event>), StoreError> {
    Ok((st.store.partnership(id).await?, st.store.events(id).await?))
}

/// One partnership in the overview.
fn row(cfg: &Config, p: &Partnership, cps: &[Checkpoint], today: NaiveDate) -> Value {
    let overdue = cps.iter().filter(|c| c.status == Status::Overdue).count();
    let next = cps
        .iter()
        .filter(|c| c.status.is_open())
        .min_by_key(|c| c.due);
    json!({
        "id": p.id.as_str(),
        "href": format!("/arbetsyta/partnerskap?id={}", urlencode(p.id.as_str())),
        "organisation": p.organisation,
        "committee": cfg.committees.get(&p.committee).map_or(p.committee.as_str(), |c| c.name.as_str()),
        "officer": p.officer.name,
        "overdue": overdue,
        "next": next.map(|c| cfg.guideline.label_with_parent(c.kind, c.parent)),
        "next_due": next.map(|c| c.due.to_string()),
        "next_late": next.is_some_and(|c| c.due < today),
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct IdQuery {
    #[serde(default)]
    pub id: String,
}

/// One partnership: its fields, every checkpoint with status and evidence,
/// and its history. One outside the person's scope does not exist for them.
pub async fn partnership(
    State(st): State<WebState>,
    Query(q): Query<IdQuery>,
    Visit { cfg, s, today, .. }: Visit,
) -> Response {
    let missing = || {
        message(
            StatusCode::NOT_FOUND,
            Some(&cfg),
            "Partnerskapet finns inte",
            &[
                "Det finns inget partnerskap med det id:t som du kan se. Gå tillbaka till \
               översikten och välj ett därifrån."
                    .into(),
            ],
        )
    };
    let Ok(id) = PartnershipId::parse(&q.id) else {
        return missing();
    };
    match s.scope(&st.store).await {
        Err(e) => return server_error(&cfg, &e),
        Ok(Some(ids)) if !ids.contains(id.as_str()) => return missing(),
        Ok(_) => {}
    }
    let (p, events) = match read(&st, &id).await {
        Ok(v) => v,
        Err(StoreError::UnknownPartnership(_)) => return missing(),
        Err(e) => return server_error(&cfg, &e),
    };
    let tracking = match st.store.created_on().await {
        Ok(t) => t,
        Err(e) => return server_error(&cfg, &e),
    };
    let cps = checkpoints_ahead(&cfg, &p, &events, tracking, today, 92);
    let by_id: BTreeMap<i64, &Event> = events.iter().map(|e| (e.id, e)).collect();
    // The reminders sent about each checkpoint, and to whom.
    let keys: Vec<String> = cps.iter().map(|c| c.key.clone()).collect();
    let sent = match st.store.sent_reminders(&keys).await {
        Ok(s) => s,
        Err(e) => return server_error(&cfg, &e),
    };
    let tz = cfg.body.time_zone;
    let checkpoints: Vec<Value> = cps
        .iter()
        .map(|c| {
            let evidence = c.evidence.as_ref().map(|e| {
                json!({
                    "on": e.on.to_string(),
                    "days_late": e.days_late,
                    "what": by_id.get(&e.event).map(|ev| crate::delivery::event_sv(&cfg.guideline, &ev.kind)),
                })
            });
            json!({
                "key": c.key,
                "href": format!("/arbetsyta/registrera?key={}", urlencode(&c.key)),
                "open": c.status.is_open(),
                "label": cfg.guideline.label_with_parent(c.kind, c.parent),
                "period_start": c.period_start.to_string(),
                "period_end": c.period_end.to_string(),
                "due": c.due.to_string(),
                "status": status_sv(c.status),
                "late": c.status == Status::Overdue,
                "evidence": evidence,
                "missing": c.documents.as_ref().filter(|d| !d.missing.is_empty() && c.status.is_open()).map(|d| crate::guideline::document_list(&d.missing)),
                "waived": c.waiver.as_ref().map(|w| w.reason.clone()),
                "sent": sent.get(&c.key).map_or_else(Vec::new, |v| v
                    .iter()
                    .map(|r| json!({
                        "on": r.sent_at.with_timezone(&tz).date_naive().to_string(),
                        "to": r.recipient,
                    }))
                    .collect()),
            })
        })
        .collect();
    let history: Vec<Value> = events
        .iter()
        .rev()
        .map(|e| {
            json!({
                "id": e.id,
                "on": e.on.to_string(),
                "what": crate::delivery::event_sv(&cfg.guideline, &e.kind),
                "by": e.recorded_by,
                "channel": crate::store::channel_label(e.channel.name()),
                "retracted": e.retracted,
                "undo": (s.role == Role::Coordinator
                    && !e.retracted
                    && !matches!(e.kind, crate::domain::EventKind::Retraction { .. }))
                .then(|| format!("/arbetsyta/angra?id={}&event={}", urlencode(p.id.as_str()), e.id)),
            })
        })
        .collect();
    let committee = cfg
        .committees
        .get(&p.committee)
        .map_or(p.committee.as_str().to_string(), |c| c.name.clone());
    // Open checkpoints that wait for a meeting the plan does not have.
    let no_meeting: Vec<String> = cps
        .iter()
        .filter(|c| c.no_meeting && c.status.is_open())
        .map(|c| {
            format!(
                "{committee} har inget sammanträde inlagt för {} (sista dag {}), så sista dag räknas från överenskommelsens datum. Lägg in nämndens sammanträden under Nämnder.",
                cfg.guideline.label_with_parent(c.kind, c.parent).to_lowercase(),
                c.due
            )
        })
        .collect();
    let changes = match st
        .store
        .changes(crate::store::Subject::Partnership, p.id.as_str())
        .await
    {
        Ok(v) => changes_json(&cfg, &v),
        Err(e) => return server_error(&cfg, &e),
    };
    render(
        StatusCode::OK,
        "workspace/partnership.html",
        json!({
            "title": p.organisation,
            "body_name": cfg.body.name,
            "css": "../iopd.css",
            "who": who(&s),
            "p": {
                "id": p.id.as_str(),
                "organisation": p.organisation,
                "committee": committee,
                "officer": format!("{} <{}>", p.officer.name, p.officer.email),
                "deputy": p.deputy.as_ref().map(|d| d.to_string()),
                "contact": p.partner_contact.as_ref().map(|d| d.to_string()),
                "start": p.start.to_string(),
                "end": p.end.map(|d| d.to_string()),
                "amount": p.annual_amount.map(|a| a.to_string()),
                "checkins": cfg.policy_for(&p.committee, tracking).checkins_for(&p).get(),
                "notes": p.notes,
            },
            "checkpoints": checkpoints,
            "history": history,
            "changes": changes,
            "no_meeting": no_meeting,
            "edit_href": format!("/arbetsyta/andra?id={}", urlencode(p.id.as_str())),
            "officer_href": format!("/arbetsyta/byt-handlaggare?id={}", urlencode(p.id.as_str())),
        }),
    )
}

/// The sign-in page: the provider's button, or how to get a link.
pub async fn signin(
    State(st): State<WebState>,
    headers: HeaderMap,
    Query(b): Query<Back>,
) -> Response {
    let cfg = st.config.borrow().clone();
    let back = super::oidc::safe_return(b.tillbaka.as_deref());
    if let Ok(Some(_)) = access::signed_in(&cfg, &st.store, &headers, st.clock.now().instant).await
    {
        return Redirect::to(&back).into_response();
    }
    render(
        StatusCode::OK,
        "workspace/signin.html",
        json!({
            "title": "Logga in",
            "body_name": cfg.body.name,
            "css": "../iopd.css",
            "provider": cfg.auth.oidc.is_some(),
            "tillbaka": back,
        }),
    )
}

/// A one-time link, opened: a button to sign in with it (a GET uses nothing).
pub async fn link_page(State(st): State<WebState>, Path(token): Path<String>) -> Response {
    let cfg = st.config.borrow().clone();
    let now = st.clock.now().instant.timestamp();
    match st.store.signin_link(&access::hash(&token), now).await {
        Ok(Some((email, role))) => render(
            StatusCode::OK,
            "workspace/signin.html",
            json!({
                "title": "Logga in",
                "body_name": cfg.body.name,
                "css": "../../iopd.css",
                "link": {"email": email, "role": Role::parse(&role).map_or("", Role::label_sv)},
            }),
        ),
        Ok(None) => link_gone(&cfg),
        Err(e) => server_error(&cfg, &e),
    }
}

fn link_gone(cfg: &Config) -> Response {
    render(
        StatusCode::GONE,
        "message.html",
        json!({
            "body_name": cfg.body.name,
            "css": "../../iopd.css",
            "title": "Länken fungerar inte längre",
            "paras": [format!(
                "En inloggningslänk fungerar en gång och i {} minuter. Be systemförvaltaren om \
                 en ny.",
                access::LINK_MINUTES
            )],
            "ok": false,
        }),
    )
}

/// A one-time link used: a new session, the cookie, on to the overview.
pub async fn link_use(State(st): State<WebState>, Path(token): Path<String>) -> Response {
    let cfg = st.config.borrow().clone();
    match access::use_link(&st.store, &token, st.clock.now().instant).await {
        Ok(Some((value, s))) => {
            tracing::info!(email = %s.email, role = s.role.name(), "signed in to the workspace with a one-time link");
            let mut res = Redirect::to("/arbetsyta").into_response();
            res.headers_mut()
                .insert(header::SET_COOKIE, access::set_cookie(&value));
            res
        }
        Ok(None) => link_gone(&cfg),
        Err(e) => server_error(&cfg, &e),
    }
}

/// Logout: the session ends on the server and the cookie is removed.
pub async fn signout(State(st): State<WebState>, Posted { cfg, s, .. }: Posted) -> Response {
    if let Err(e) = st.store.end_session(s.session_hash()).await {
        return server_error(&cfg, &e);
    }
    tracing::info!(email = %s.email, "signed out of the workspace");
    // Signed in at the provider: sign out there too, when it offers that.
    let provider_logout = match (&cfg.auth.oidc, s.via(), cfg.web.public_url.as_deref()) {
        (Some(oidc), "oidc", Some(base)) => {
            let back = format!("{}/arbetsyta/utloggad", base.trim_end_matches('/'));
            super::oidc::logout_url(oidc, &st.discovery, &back).await
        }
        _ => None,
    };
    let mut res = match provider_logout {
        Some(url) => Redirect::to(&url).into_response(),
        None => signed_out_page(&cfg),
    };
    res.headers_mut()
        .insert(header::SET_COOKIE, access::clear_cookie());
    res
}

fn signed_out_page(cfg: &Config) -> Response {
    message(
        StatusCode::OK,
        Some(cfg),
        "Du är utloggad",
        &["Stäng webbläsaren om du har använt en dator som andra också använder.".into()],
    )
}

/// Where the provider sends the browser after its own logout.
pub async fn signed_out(State(st): State<WebState>) -> Response {
    let cfg = st.config.borrow().clone();
    signed_out_page(&cfg)
}

#[derive(Debug, Default, Deserialize)]
pub struct Back {
    #[serde(default)]
    tillbaka: Option<String>,
}

/// Sign-in with the provider: the browser goes there with a new attempt.
pub async fn signin_start(State(st): State<WebState>, Form(f): Form<Back>) -> Response {
    let cfg = st.config.borrow().clone();
    let Some(oidc) = &cfg.auth.oidc else {
        return Redirect::to("/arbetsyta/logga-in").into_response();
    };
    let now = st.clock.now().instant.timestamp();
    match super::oidc::start(oidc, &st.discovery, &st.store, now, f.tillbaka.as_deref()).await {
        Ok((url, browser)) => {
            let mut res = Redirect::to(&url).into_response();
            res.headers_mut()
                .insert(header::SET_COOKIE, access::login_cookie(&browser));
            res
        }
        Err(r) => sign_in_failed(&cfg, &r),
    }
}

fn sign_in_failed(cfg: &Config, r: &super::oidc::Refused) -> Response {
    tracing::warn!("workspace sign-in refused: {}", r.log);
    message(
        StatusCode::BAD_REQUEST,
        Some(cfg),
        "Inloggningen misslyckades",
        std::slice::from_ref(&r.person),
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct Answer {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// The provider's answer: a session, the cookie, back to where the person
/// was going.
pub async fn signin_done(
    State(st): State<WebState>,
    headers: HeaderMap,
    Query(a): Query<Answer>,
) -> Response {
    let cfg = st.config.borrow().clone();
    let Some(oidc) = &cfg.auth.oidc else {
        return Redirect::to("/arbetsyta/logga-in").into_response();
    };
    let (Some(code), Some(state)) = (a.code.as_deref(), a.state.as_deref()) else {
        let why = a.error.unwrap_or_else(|| "no code".into());
        let detail = a.error_description.unwrap_or_default();
        return sign_in_failed(
            &cfg,
            &super::oidc::Refused {
                person: "Inloggningen avbröts hos organisationens inloggningstjänst. Börja om \
                         från inloggningssidan."
                    .into(),
                log: format!("the provider answered {why}: {detail}"),
            },
        );
    };
    let now = st.clock.now().instant.timestamp();
    let browser = access::named_cookie(&headers, super::oidc::LOGIN_COOKIE);
    let v = match super::oidc::finish(
        oidc,
        &st.discovery,
        &st.store,
        now,
        code,
        state,
        browser.as_deref(),
    )
    .await
    {
        Ok(v) => v,
        Err(r) => return sign_in_failed(&cfg, &r),
    };
    let value = match access::start_session(&st.store, &v.email, v.role, "oidc", now).await {
        Ok(v) => v,
        Err(e) => return server_error(&cfg, &e),
    };
    tracing::info!(email = %v.email, role = v.role.name(), "signed in to the workspace");
    let mut res = Redirect::to(&v.return_to).into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, access::set_cookie(&value));
    res.headers_mut()
        .append(header::SET_COOKIE, access::clear_login_cookie());
    res
}

/// Change records as a page lists them, newest first.
pub(super) fn changes_json(cfg: &Config, changes: &[crate::store::Change]) -> Vec<Value> {
    let tz = cfg.body.time_zone;
    changes
        .iter()
        .rev()
        .map(|c| {
            json!({
                "at": crate::clock::local_minute_of(c.at, tz),
                "what": c.describe(),
                "by": c.by,
                "channel": crate::store::channel_label(&c.channel),
            })
        })
        .collect()
}

pub(super) fn forged(cfg: &Config) -> Response {
    message(
        StatusCode::FORBIDDEN,
        Some(cfg),
        "Formuläret kunde inte tas emot",
        &[
            "Formuläret kom inte från en sida i din inloggade arbetsyta, så ingenting har \
           ändrats. Öppna sidan igen och försök på nytt."
                .into(),
        ],
    )
}

/// *Kommande utskick*: what the next send will bring, per person (a dry run
/// of the tick at that instant, which writes nothing). An officer sees what
/// reaches them.
pub async fn coming(State(st): State<WebState>, Visit { cfg, s, .. }: Visit) -> Response {
    let now = st.clock.now();
    let Some(at) = crate::outlook::next_send(&cfg, &now) else {
        return render(
            StatusCode::OK,
            "workspace/coming.html",
            json!({"title": "Kommande utskick", "body_name": cfg.body.name, "css": "../iopd.css",
                   "who": who(&s), "off": true, "people": [], "calendar": 0}),
        );
    };
    let then = crate::clock::Now::at(at, now.tz);
    let report = match crate::delivery::enqueue(
        &cfg,
        &st.store,
        &then,
        true,
        crate::delivery::Pass::Incremental,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return server_error(&cfg, &e),
    };
    let mine = |r: &crate::domain::Email| s.role != Role::Officer || *r == s.email;
    let mut people: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut calendar = 0;
    for p in report.planned.iter().filter(|p| mine(&p.recipient)) {
        if p.stage.starts_with('d') {
            people
                .entry(p.recipient.to_string())
                .or_default()
                .push(p.subject.clone());
        } else {
            calendar += 1;
        }
    }
    let reminders: usize = people.values().map(Vec::len).sum();
    let local = at.with_timezone(&now.tz);
    render(
        StatusCode::OK,
        "workspace/coming.html",
        json!({
            "title": "Kommande utskick",
            "body_name": cfg.body.name,
            "css": "../iopd.css",
            "who": who(&s),
            "off": false,
            "when": format!("{} {}", crate::outlook::weekday_sv(local.date_naive()), local.format("%Y-%m-%d %H:%M")),
            "summary": crate::outlook::reminders_sv(people.iter().flat_map(|(p, v)| v.iter().map(move |_| p.as_str()))),
            "reminders": reminders,
            "people": people.into_iter().map(|(p, v)| json!({"email": p, "items": v})).collect::<Vec<_>>(),
            "calendar": calendar,
            "officer_scope": s.role == Role::Officer,
        }),
    )
}
