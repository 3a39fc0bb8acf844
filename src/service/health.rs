//! `/healthz` and `/metrics` on the optional `[http] listen` address.
//!
//! Health is judged from this process's own record (did *its* ticks succeed)
//! and from the database (is it answering, has mail been failing for a day).
//! Metrics are gauges refreshed at each scrape plus counters kept since start,
//! rendered by `metrics-exporter-prometheus` in the Prometheus text format.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Shared;

/// Mail failing for this long makes the service unhealthy.
const MAIL_FAILING: chrono::Duration = chrono::Duration::hours(24);

/// A count from the database, or "unknown" when it does not answer (never a
/// 0 that hides mail waiting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Figure {
    Known(i64),
    #[serde(serialize_with = "unknown")]
    Unknown,
}

fn unknown<S: serde::Serializer>(s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("unknown")
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub status: &'static str,
    pub database: String,
    pub last_successful_tick: Option<DateTime<Utc>>,
    /// The last tick's error, until a tick succeeds.
    pub last_tick_error: Option<String>,
    /// When reminders next go out (null with mail off).
    pub next_send: Option<DateTime<Utc>>,
    pub pending: Figure,
    pub failed_deliveries: Figure,
    pub mail_failing_since: Option<DateTime<Utc>>,
    pub problems: Vec<String>,
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(shared)
}

/// Builds the health report; also refreshes the database gauges.
pub async fn report(shared: &Shared) -> Report {
    let now = shared.clock.now().instant;
    let cfg = shared.config.borrow().clone();
    let mut problems = Vec::new();
    let (last_ok, since, tick_error, data_problems) = {
        let h = shared.health.lock().unwrap_or_else(|e| e.into_inner());
        (
            h.last_tick_ok,
            h.started,
            h.last_tick_error.clone(),
            h.data_problems.clone(),
        )
    };
    let next_send = crate::outlook::next_send(&cfg, &shared.clock.now());
    if let Some(e) = &tick_error {
        problems.push(format!("the last tick failed: {e}"));
    }
    // One bad row costs only its own mail, but someone has to fix it.
    if let Some(first) = data_problems.first() {
        problems.push(format!(
            "{} data problem(s) in the last tick, e.g. {first}",
            data_problems.len()
        ));
    }
    let stale =
        chrono::Duration::from_std(cfg.health.stale_after).unwrap_or(chrono::Duration::hours(2));
    let reference = last_ok.unwrap_or(since);
    if now - reference > stale {
        problems.push(match last_ok {
            Some(t) => format!("no successful tick since {}", t.to_rfc3339()),
            None => format!(
                "no successful tick since the start at {}",
                since.to_rfc3339()
            ),
        });
    }
    let mut report = Report {
        status: "ok",
        database: "ok".into(),
        last_successful_tick: last_ok,
        last_tick_error: tick_error,
        next_send,
        pending: Figure::Unknown,
        failed_deliveries: Figure::Unknown,
        mail_failing_since: None,
        problems: Vec::new(),
    };
    let store = shared.store.get().cloned();
    let figures = match store {
        None => Err("not connected yet".to_string()),
        Some(store) => {
            match tokio::time::timeout(Duration::from_secs(3), store.delivery_figures()).await {
                Ok(Ok(f)) => Ok(f),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("no answer within 3 s".into()),
            }
        }
    };
    match figures {
        Ok(f) => {
            metrics::gauge!("iopd_database_up").set(1.0);
            let (mut pending, mut failed) = (0, 0);
            for status in ["pending", "sending", "sent", "failed", "cancelled"] {
                let n = f
                    .by_status
                    .iter()
                    .find(|(s, _)| s == status)
                    .map_or(0, |(_, n)| *n);
                metrics::gauge!("iopd_mails", "status" => status).set(n as f64);
                match status {
                    "pending" | "sending" => pending += n,
                    "failed" => failed = n,
                    _ => {}
                }
            }
            report.pending = Figure::Known(pending);
            report.failed_deliveries = Figure::Known(failed);
            report.mail_failing_since = f.failing_since;
            if let Some(t) = f.failing_since
                && now - t > MAIL_FAILING
            {
                problems.push(format!("mail has been failing since {}", t.to_rfc3339()));
            }
        }
        Err(e) => {
            metrics::gauge!("iopd_database_up").set(0.0);
            report.database = format!("unreachable: {e}");
            problems.push(format!("database unreachable: {e}"));
        }
    }
    if !problems.is_empty() {
        report.status = "unhealthy";
    }
    report.problems = problems;
    report
}

async fn healthz(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let r = report(&shared).await;
    let code = if r.status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(r))
}

async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let r = report(&shared).await;
    metrics::gauge!("iopd_healthy").set(if r.status == "ok" { 1.0 } else { 0.0 });
    let body = shared
        .metrics
        .as_ref()
        .map(|h| h.render())
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
