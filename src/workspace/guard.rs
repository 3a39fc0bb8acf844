//! Who may come in, as types in the handlers' signatures: [`Visit`] for a
//! page, [`Posted`] for a form, [`Uploaded`] for a form with a file, each
//! with the role it needs ([`Anyone`], [`Changer`] or one of IOP-ansvarig's
//! own changes). A handler is only called once its extractor has let the
//! request through, so no handler can forget a check:
//!
//! - nobody signed in: to the sign-in page, and back to this page after;
//! - a form without this session's anti-forgery token: 403, nothing done;
//! - a role the type does not allow: 403 with what only others may do.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::{Form, FromRequest, FromRequestParts, Multipart, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;

use super::access::{Role, Signed};
use crate::config::Config;
use crate::web::WebState;
use crate::web::form::Fields;
use crate::web::pages::{message, server_error};

/// What a role type allows, and how a refused person is told.
pub trait Allowed {
    fn allows(role: Role) -> bool;
    fn refusal(cfg: &Config) -> Response;
}

/// Every signed-in role: the pages that only show.
pub struct Anyone;

impl Allowed for Anyone {
    fn allows(_: Role) -> bool {
        true
    }
    fn refusal(cfg: &Config) -> Response {
        message(StatusCode::FORBIDDEN, Some(cfg), "Ingen behörighet", &[])
    }
}

/// IOP-ansvarig and officers: recording evidence and absence. A reader may
/// read everything and change nothing.
pub struct Changer;

impl Allowed for Changer {
    fn allows(role: Role) -> bool {
        role != Role::Reader
    }
    fn refusal(cfg: &Config) -> Response {
        message(
            StatusCode::FORBIDDEN,
            Some(cfg),
            "Du kan läsa men inte ändra",
            &["Din behörighet i arbetsytan är att läsa. Ingenting har ändrats.".into()],
        )
    }
}

/// Changes only IOP-ansvarig makes, each named by what the refusal says.
macro_rules! coordinator_only {
    ($($(#[$doc:meta])* $name:ident => $what:literal;)*) => {$(
        $(#[$doc])*
        pub struct $name;

        impl Allowed for $name {
            fn allows(role: Role) -> bool {
                role == Role::Coordinator
            }
            fn refusal(cfg: &Config) -> Response {
                message(
                    StatusCode::FORBIDDEN,
                    Some(cfg),
                    $what,
                    &["Ingenting har ändrats.".into()],
                )
            }
        }
    )*};
}

coordinator_only! {
    /// Writing a checkpoint off (RULES 17).
    Waiver => "Bara IOP-ansvarig kan skriva av";
    /// Undoing a recorded event.
    Undoer => "Bara IOP-ansvarig kan ångra en registrering";
    /// A partnership's fields, a new officer, a new partnership.
    RegisterEditor => "Bara IOP-ansvarig kan ändra registret";
    /// The spreadsheet's dry run and import.
    Importer => "Bara IOP-ansvarig kan importera";
    /// The committees' meeting plans.
    PlanEditor => "Bara IOP-ansvarig kan ändra sammanträdesplanen";
}

/// A page for someone signed in whose role `R` allows.
pub struct Visit<R = Anyone> {
    pub cfg: Arc<Config>,
    pub s: Signed,
    pub today: NaiveDate,
    role: PhantomData<R>,
}

impl<R: Allowed> FromRequestParts<WebState> for Visit<R> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &WebState) -> Result<Self, Response> {
        let (cfg, s, today) = begin(st, &parts.headers, &parts.uri).await?;
        if !R::allows(s.role) {
            return Err(R::refusal(&cfg));
        }
        Ok(Visit {
            cfg,
            s,
            today,
            role: PhantomData,
        })
    }
}

/// A form sent by someone signed in whose role `R` allows, carrying this
/// session's own anti-forgery token.
pub struct Posted<R = Anyone> {
    pub cfg: Arc<Config>,
    pub s: Signed,
    pub today: NaiveDate,
    pub fields: Fields,
    role: PhantomData<R>,
}

impl<R: Allowed> FromRequest<WebState> for Posted<R> {
    type Rejection = Response;

    async fn from_request(req: Request, st: &WebState) -> Result<Self, Response> {
        let (cfg, s, today) = begin(st, req.headers(), req.uri()).await?;
        // An unreadable body has no token, so it is refused as forged below.
        let fields = Fields(
            Form::<Vec<(String, String)>>::from_request(req, st)
                .await
                .map(|Form(v)| v)
                .unwrap_or_default(),
        );
        if let Some(answer) = refused::<R>(&cfg, &s, &fields) {
            return Err(answer);
        }
        Ok(Posted {
            cfg,
            s,
            today,
            fields,
            role: PhantomData,
        })
    }
}

/// A form's checks once it is read: this session's anti-forgery token, then
/// the role; the answer when one fails.
fn refused<R: Allowed>(cfg: &Config, s: &Signed, fields: &Fields) -> Option<Response> {
    if !s.form_ok(fields.get("skydd")) {
        return Some(super::pages::forged(cfg));
    }
    if !R::allows(s.role) {
        return Some(R::refusal(cfg));
    }
    None
}

/// A form with a file (`multipart/form-data`), as [`Posted`]: the file
/// (name, bytes) if one was chosen.
pub struct Uploaded<R> {
    pub cfg: Arc<Config>,
    pub s: Signed,
    pub today: NaiveDate,
    pub file: Option<(String, Vec<u8>)>,
    role: PhantomData<R>,
}

impl<R: Allowed> FromRequest<WebState> for Uploaded<R> {
    type Rejection = Response;

    async fn from_request(req: Request, st: &WebState) -> Result<Self, Response> {
        let (cfg, s, today) = begin(st, req.headers(), req.uri()).await?;
        let multipart = Multipart::from_request(req, st).await;
        let (fields, file) = super::upload::read(multipart)
            .await
            .map_err(|msg| super::upload::unreadable(&cfg, &msg))?;
        if let Some(answer) = refused::<R>(&cfg, &s, &fields) {
            return Err(answer);
        }
        Ok(Uploaded {
            cfg,
            s,
            today,
            file,
            role: PhantomData,
        })
    }
}

/// What every request starts with: the configuration in force, the
/// signed-in person and today; or, for someone not signed in, the way to the
/// sign-in page and back.
async fn begin(
    st: &WebState,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<(Arc<Config>, Signed, NaiveDate), Response> {
    let cfg = st.config.borrow().clone();
    let now = st.clock.now();
    match super::access::signed_in(&cfg, &st.store, headers, now.instant).await {
        Ok(Some(s)) => Ok((cfg, s, now.today)),
        Ok(None) => {
            // After sign-in, back to the page that was asked for.
            let back = uri.path_and_query().map_or("/arbetsyta", |p| p.as_str());
            let to = if back == "/arbetsyta" {
                "/arbetsyta/logga-in".to_string()
            } else {
                format!(
                    "/arbetsyta/logga-in?tillbaka={}",
                    super::pages::urlencode(back)
                )
            };
            Err(Redirect::to(&to).into_response())
        }
        Err(e) => Err(server_error(&cfg, &e)),
    }
}
