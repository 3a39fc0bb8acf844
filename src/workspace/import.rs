//! *Import*: the spreadsheet uploaded, its dry run (what would be added,
//! each changed field old → new, the history to record, or every refused
//! row with its line and column), then applied. The same checks and the
//! same single transaction as `iopd import`; IOP-ansvarig only.
//!
//! The dry run's page carries the file back in its form, so nothing is kept
//! on the server between the two steps; applying reads and checks it again,
//! and if the register changed in between, shows the new dry run instead.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use serde_json::{Value, json};

use super::access::Signed;
use super::guard::{Importer, Posted, Uploaded, Visit};
use super::pages::who;
use crate::config::Config;
use crate::domain::Channel;
use crate::import::{Prepared, prepare};
use crate::store::{Actor, ImportPlan, StoreError};
use crate::web::WebState;
use crate::web::pages::{render, server_error};

/// Each list on the dry run's page shows this many entries at most.
const SHOWN: usize = 200;

/// A fingerprint of what an import would do: the apply step goes ahead only
/// if it would still do exactly what the dry run showed.
fn fingerprint(plan: &ImportPlan) -> String {
    use sha2::{Digest, Sha256};
    let history: Vec<(String, &str, chrono::NaiveDate)> = plan
        .history
        .iter()
        .map(|e| (e.partnership.to_string(), e.kind.name(), e.on))
        .collect();
    let text = format!(
        "{:?}\n{:?}\n{}\n{:?}",
        plan.added, plan.changed, plan.unchanged, history
    );
    let d = Sha256::digest(text.as_bytes());
    d[..12].iter().map(|b| format!("{b:02x}")).collect()
}

struct Page<'a> {
    cfg: &'a Config,
    s: &'a Signed,
    file: Option<(&'a str, &'a [u8])>,
    problems: Vec<String>,
    notes: Vec<String>,
    plan: Option<(&'a Prepared, &'a ImportPlan)>,
    general: Option<String>,
    /// What an applied import did.
    done: Option<String>,
}

fn page(status: StatusCode, p: Page<'_>) -> Response {
    let cfg = p.cfg;
    let dry = p.plan.map(|(prepared, plan)| {
        let organisation = |id: &crate::domain::PartnershipId| {
            prepared
                .rows
                .iter()
                .find(|r| &r.id == id)
                .map_or(String::new(), |r| r.organisation.clone())
        };
        let added: Vec<Value> = plan
            .added
            .iter()
            .take(SHOWN)
            .map(|id| json!({"id": id.as_str(), "organisation": organisation(id)}))
            .collect();
        let changed: Vec<Value> = plan
            .changed
            .iter()
            .take(SHOWN)
            .map(|(id, cols)| {
                json!({
                    "id": id.as_str(),
                    "organisation": organisation(id),
                    "fields": cols.iter().map(|(c, old, new)| json!({"field": crate::store::field_label(c), "old": old, "new": new})).collect::<Vec<_>>(),
                })
            })
            .collect();
        let history: Vec<Value> = plan
            .history
            .iter()
            .take(SHOWN)
            .map(|e| json!({"id": e.partnership.as_str(), "what": cfg.guideline.event_label(&e.kind), "on": e.on.to_string()}))
            .collect();
        json!({
            "rows": prepared.rows.len(),
            "added": added,
            "added_more": plan.added.len().saturating_sub(SHOWN),
            "added_count": plan.added.len(),
            "changed": changed,
            "changed_more": plan.changed.len().saturating_sub(SHOWN),
            "changed_count": plan.changed.len(),
            "unchanged": plan.unchanged,
            "history": history,
            "history_more": plan.history.len().saturating_sub(SHOWN),
            "history_count": plan.history.len(),
            "nothing": plan.added.is_empty() && plan.changed.is_empty() && plan.history.is_empty(),
            "fingerprint": fingerprint(plan),
        })
    });
    let problems_more = p.problems.len().saturating_sub(SHOWN);
    render(
        status,
        "workspace/import.html",
        json!({
            "title": if p.problems.is_empty() { "Importera" } else { "Filen togs inte emot: Importera" },
            "body_name": cfg.body.name,
            "css": "../iopd.css",
            "who": who(p.s),
            "file_name": p.file.map(|f| f.0),
            "data": p.file.map(|f| base64::engine::general_purpose::STANDARD.encode(f.1)),
            "problems": p.problems.iter().take(SHOWN).collect::<Vec<_>>(),
            "problem_count": p.problems.len(),
            "problems_more": problems_more,
            "notes": p.notes,
            "dry": dry,
            "general": p.general,
            "done": p.done,
            "max_mb": super::upload::MAX_BYTES / (1024 * 1024),
            // The usual Swedish heading of each column a row must have.
            "required": crate::words::list(
                &crate::import::COLUMNS
                    .iter()
                    .filter(|(_, _, required)| *required)
                    .map(|(canonical, names, _)| names.get(1).unwrap_or(canonical).to_string())
                    .collect::<Vec<_>>()
            ),
        }),
    )
}

/// The upload form.
pub async fn form(Visit { cfg, s, .. }: Visit<Importer>) -> Response {
    let empty = Page {
        cfg: &cfg,
        s: &s,
        file: None,
        problems: Vec::new(),
        notes: Vec::new(),
        plan: None,
        general: None,
        done: None,
    };
    page(StatusCode::OK, empty)
}

/// Reads and checks the file, and compares it with the register.
async fn dry_run(
    st: &WebState,
    cfg: &Config,
    s: &Signed,
    name: &str,
    bytes: &[u8],
) -> Result<(Prepared, ImportPlan), Result<Vec<String>, StoreError>> {
    let committee_of = crate::import::committees_of(cfg);
    let now = st.clock.now();
    let prepared = prepare(
        bytes,
        &committee_of,
        now.today,
        s.email.as_str(),
        now.instant,
    )
    .map_err(|p| Ok(p.into_iter().map(|m| format!("{name}: {m}")).collect()))?;
    let plan = st
        .store
        .plan_import(&prepared.rows, &prepared.history)
        .await
        .map_err(Err)?;
    Ok((prepared, plan))
}

/// The dry run of an uploaded file.
pub async fn check(
    State(st): State<WebState>,
    Uploaded { cfg, s, file, .. }: Uploaded<Importer>,
) -> Response {
    let Some((name, bytes)) = file else {
        let p = Page {
            cfg: &cfg,
            s: &s,
            file: None,
            problems: vec!["Välj kalkylarket (CSV) att läsa in.".into()],
            notes: Vec::new(),
            plan: None,
            general: None,
            done: None,
        };
        return page(StatusCode::UNPROCESSABLE_ENTITY, p);
    };
    let name = if name.is_empty() {
        "filen".to_string()
    } else {
        name
    };
    show_dry_run(&st, &cfg, &s, &name, &bytes, None).await
}

async fn show_dry_run(
    st: &WebState,
    cfg: &Config,
    s: &Signed,
    name: &str,
    bytes: &[u8],
    general: Option<String>,
) -> Response {
    match dry_run(st, cfg, s, name, bytes).await {
        Ok((prepared, plan)) => {
            let notes = prepared
                .notes
                .iter()
                .map(|n| format!("{name}: {n}"))
                .collect();
            let p = Page {
                cfg,
                s,
                file: Some((name, bytes)),
                problems: Vec::new(),
                notes,
                plan: Some((&prepared, &plan)),
                general,
                done: None,
            };
            page(StatusCode::OK, p)
        }
        Err(Ok(problems)) => {
            let p = Page {
                cfg,
                s,
                file: None,
                problems,
                notes: Vec::new(),
                plan: None,
                general,
                done: None,
            };
            page(StatusCode::UNPROCESSABLE_ENTITY, p)
        }
        Err(Err(e)) => server_error(cfg, &e),
    }
}

/// Applies the file the dry run showed, if it still does the same.
pub async fn apply(
    State(st): State<WebState>,
    Posted { cfg, s, fields, .. }: Posted<Importer>,
) -> Response {
    let name = match fields.get("namn") {
        "" => "filen",
        n => n,
    };
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(fields.get("data")) else {
        return super::upload::unreadable(&cfg, "filens innehåll saknas");
    };
    let (prepared, plan) = match dry_run(&st, &cfg, &s, name, &bytes).await {
        Ok(v) => v,
        Err(Ok(_)) | Err(Err(StoreError::Refused(_))) => {
            return show_dry_run(&st, &cfg, &s, name, &bytes, None).await;
        }
        Err(Err(e)) => return server_error(&cfg, &e),
    };
    if fingerprint(&plan) != fields.get("provkorning") {
        let why = "Registret har ändrats sedan provkörningen, så importen gjordes inte. Här är en ny provkörning; kontrollera den och genomför igen.";
        return show_dry_run(&st, &cfg, &s, name, &bytes, Some(why.into())).await;
    }
    let actor = Actor {
        by: s.email.to_string(),
        channel: Channel::Import,
        at: st.clock.now().instant,
    };
    match st
        .store
        .import(&prepared.rows, &prepared.history, &actor)
        .await
    {
        Ok(done) => {
            tracing::info!(
                file = name,
                added = done.added.len(),
                changed = done.changed.len(),
                history = done.history.len(),
                by = %s.email,
                "spreadsheet imported in the workspace"
            );
            let p = Page {
                cfg: &cfg,
                s: &s,
                file: None,
                problems: Vec::new(),
                notes: Vec::new(),
                plan: None,
                general: None,
                done: Some(format!(
                    "{name}: nya partnerskap: {}, ändrade: {}, oförändrade: {}, tidigare händelser registrerade: {}.",
                    done.added.len(),
                    done.changed.len(),
                    done.unchanged,
                    done.history.len()
                )),
            };
            page(StatusCode::OK, p)
        }
        Err(e) => server_error(&cfg, &e),
    }
}
