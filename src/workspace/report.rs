//! *Rapport*: the compliance report for a chosen period and committee,
//! downloaded as HTML or CSV (the same report as `iopd report`). For
//! IOP-ansvarig and readers: it covers every partnership.

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, NaiveDate};
use serde::Deserialize;
use serde_json::json;

use super::access::Role;
use super::guard::Visit;
use super::pages::who;
use crate::calendar::add_months;
use crate::domain::{CommitteeKey, parse_date};
use crate::report::{Format, Scope};
use crate::web::WebState;
use crate::web::pages::{message, render, server_error};

#[derive(Debug, Default, Deserialize)]
pub struct ReportQuery {
    #[serde(default)]
    fran: Option<String>,
    #[serde(default)]
    till: Option<String>,
    #[serde(default)]
    namnd: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

pub async fn report(
    State(st): State<WebState>,
    Query(q): Query<ReportQuery>,
    Visit { cfg, s, today, .. }: Visit,
) -> Response {
    if s.role == Role::Officer {
        return message(
            StatusCode::FORBIDDEN,
            Some(&cfg),
            "Rapporten är för IOP-ansvarig",
            &["Rapporten omfattar alla partnerskap. Be IOP-ansvarig om den.".into()],
        );
    }
    let default_from = add_months(today, -12) + Duration::days(1);
    let mut errors = serde_json::Map::new();
    let mut date = |field: &str, raw: &Option<String>, default: NaiveDate| -> NaiveDate {
        match raw.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            None => default,
            Some(v) => parse_date(v).unwrap_or_else(|_| {
                errors.insert(
                    field.into(),
                    "Skriv datumet som ÅÅÅÅ-MM-DD, till exempel 2026-01-01.".into(),
                );
                default
            }),
        }
    };
    let from = date("fran", &q.fran, default_from);
    let asked = date("till", &q.till, today);
    if from > asked && !errors.contains_key("fran") {
        errors.insert(
            "fran".into(),
            "Perioden måste börja innan den slutar.".into(),
        );
    }
    if from > today && !errors.contains_key("fran") {
        errors.insert(
            "fran".into(),
            "Rapporten gäller det som redan har hänt.".into(),
        );
    }
    let committee = q
        .namnd
        .as_deref()
        .filter(|k| !k.is_empty())
        .and_then(|k| CommitteeKey::parse(k).ok())
        .filter(|k| cfg.committees.contains_key(k));
    let format = match q.format.as_deref() {
        Some("csv") => Some(Format::Csv),
        Some("html") => Some(Format::Html),
        _ => None,
    };
    let form = |status: StatusCode, errors: serde_json::Map<String, serde_json::Value>| {
        render(
            status,
            "workspace/report.html",
            json!({
                "title": "Rapport",
                "body_name": cfg.body.name,
                "css": "../iopd.css",
                "who": who(&s),
                "committees": cfg.committees.iter().map(|(k, c)| json!({"key": k.as_str(), "name": c.name})).collect::<Vec<_>>(),
                "values": {
                    "fran": q.fran.clone().unwrap_or_else(|| default_from.to_string()),
                    "till": q.till.clone().unwrap_or_else(|| today.to_string()),
                    "namnd": committee.as_ref().map_or("", |k| k.as_str()),
                },
                "errors": errors,
            }),
        )
    };
    let Some(format) = format else {
        return form(StatusCode::OK, errors);
    };
    if !errors.is_empty() {
        return form(StatusCode::UNPROCESSABLE_ENTITY, errors);
    }
    let to = asked.min(today);
    let scope = Scope {
        from,
        to,
        asked_to: (asked > to).then_some(asked),
        committee,
    };
    let now = st.clock.now();
    let built = match crate::report::build(&cfg, &st.store, &now, &scope).await {
        Ok(r) => r,
        Err(e) => return server_error(&cfg, &e),
    };
    let text = match crate::report::render(&built, format) {
        Ok(t) => t,
        Err(e) => return server_error(&cfg, &e),
    };
    let (kind, ext) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        _ => ("text/html; charset=utf-8", "html"),
    };
    let name = format!("iop-rapport-{from}-{to}.{ext}");
    let mut res = (StatusCode::OK, text).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}
