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
//!
//! The mail-link pages (`crate::web`) and the workspace share the listener,
//! the layout and the security headers; they share no state beyond the store.

use std::collections::BTreeSet;

use axum::Router;
use axum::routing::{get, post};

use crate::web::WebState;

mod access;
mod pages;

pub use access::{LINK_MINUTES, Role, issue_signin_link};

/// The workspace's routes, mounted by `crate::web::router`.
pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/arbetsyta", get(pages::overview))
        .route("/arbetsyta/partnerskap", get(pages::partnership))
        .route("/arbetsyta/logga-in", get(pages::signin))
        .route(
            "/arbetsyta/engangslank/{token}",
            get(pages::link_page).post(pages::link_use),
        )
        .route("/arbetsyta/logga-ut", post(pages::signout))
}

/// The partnership ids a person may see: `None` for all.
pub type Scope = Option<BTreeSet<String>>;
