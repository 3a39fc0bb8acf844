//! The coordinator's workspace: the register and every checkpoint in the
//! browser, behind a sign-in, with what each person may see and do decided on
//! the server for every request.
//!
//! - Sign-in today is the break-glass one-time link (`iopd admin-link`,
//!   `access.rs`): valid 15 minutes, used once, through a POST (a GET never
//!   signs anyone in, so a mail scanner or a preview cannot use it up).
//! - A session is a random value in a `__Host-` cookie (`Secure`,
//!   `HttpOnly`, `SameSite=Lax`), stored only as its SHA-256; a new value at
//!   every sign-in (no fixation), ended at logout, after `[auth]
//!   idle_minutes` without a request, or `absolute_hours` after sign-in.
//! - Roles (`Role`): `coordinator` (IOP-ansvarig: everything), `officer`
//!   (the partnerships where they are officer or deputy), `reader` (read
//!   everything, change nothing). A partnership outside a person's scope is
//!   answered as one that does not exist.
//! - Every form carries the session's anti-forgery token; GET never changes
//!   state.
//! - Who may come in is a type in each handler's signature (`guard.rs`:
//!   `Visit<R>`, `Posted<R>`, `Uploaded<R>` with the role `R` needs), checked
//!   before the handler runs.
//!
//! The mail-link pages (`crate::web`) and the workspace share the listener,
//! the layout and the security headers; they share no state beyond the store.

use std::collections::BTreeSet;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::web::WebState;

mod access;
mod committees;
mod edit;
mod guard;
mod import;
mod oidc;
mod pages;
mod record;
mod report;
mod upload;

pub use access::{LINK_MINUTES, Role, issue_signin_link};
pub use committees::FollowupCache;
pub use oidc::Discovery;

/// The workspace's routes, mounted by `crate::web::router`.
pub fn routes(state: WebState) -> Router<WebState> {
    Router::new()
        .route("/arbetsyta", get(pages::overview))
        .route("/arbetsyta/partnerskap", get(pages::partnership))
        .route(
            "/arbetsyta/logga-in",
            get(pages::signin).post(pages::signin_start),
        )
        .route("/arbetsyta/inloggad", get(pages::signin_done))
        .route("/arbetsyta/utloggad", get(pages::signed_out))
        .route(
            "/arbetsyta/engangslank/{token}",
            get(pages::link_page).post(pages::link_use),
        )
        .route("/arbetsyta/logga-ut", post(pages::signout))
        .route(
            "/arbetsyta/registrera",
            get(record::record_page).post(record::record_submit),
        )
        .route("/arbetsyta/skriv-av", post(record::waive))
        .route(
            "/arbetsyta/angra",
            get(record::retract_page_get).post(record::retract),
        )
        .route("/arbetsyta/utskick", get(pages::coming))
        .route("/arbetsyta/rapport", get(report::report))
        .route("/arbetsyta/namnder", get(committees::list))
        .route(
            "/arbetsyta/namnd",
            get(committees::plan).post(committees::change),
        )
        .route(
            "/arbetsyta/namnd-fil",
            post(committees::upload).layer(DefaultBodyLimit::max(upload::MAX_BYTES)),
        )
        .route(
            "/arbetsyta/andra",
            get(edit::edit_page).post(edit::edit_submit),
        )
        .route(
            "/arbetsyta/nytt",
            get(edit::new_page).post(edit::new_submit),
        )
        .route(
            "/arbetsyta/byt-handlaggare",
            get(edit::officer_form).post(edit::officer_submit),
        )
        .route(
            "/arbetsyta/import",
            get(import::form)
                .post(import::check)
                .layer(DefaultBodyLimit::max(upload::MAX_BYTES)),
        )
        .route(
            "/arbetsyta/importera",
            // The dry run's page sends the file back as base64.
            post(import::apply).layer(DefaultBodyLimit::max(upload::MAX_BYTES / 3 * 4 + 65536)),
        )
        .route(
            "/arbetsyta/franvaro",
            get(record::absence_page).post(record::absence_submit),
        )
        .layer(axum::middleware::map_response_with_state(
            state,
            provider_csp,
        ))
}

/// Sign-in and logout forms are answered with a redirect to the identity
/// provider, and `form-action` covers redirects too: the provider's origin is
/// allowed next to our own.
async fn provider_csp(
    axum::extract::State(st): axum::extract::State<WebState>,
    mut res: axum::response::Response,
) -> axum::response::Response {
    let cfg = st.config.borrow().clone();
    let origin = cfg
        .auth
        .oidc
        .as_ref()
        .and_then(|o| reqwest::Url::parse(&o.issuer).ok())
        .map(|u| u.origin().ascii_serialization());
    if let Some(origin) = origin {
        let csp = crate::web::CSP.replace(
            "form-action 'self'",
            &format!("form-action 'self' {origin}"),
        );
        if let Ok(v) = axum::http::HeaderValue::from_str(&csp) {
            res.headers_mut()
                .insert(axum::http::header::CONTENT_SECURITY_POLICY, v);
        }
    }
    res
}

/// The partnership ids a person may see: `None` for all.
pub type Scope = Option<BTreeSet<String>>;
