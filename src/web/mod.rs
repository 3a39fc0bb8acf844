//! The pages reached from links in reminder mails: record the evidence,
//! report an absence, ask for more time; and the digest's read-only overview.
//!
//! - Links are signed (`token.rs`); a link names one action on one checkpoint
//!   for one recipient and works for `[web] link_days`.
//! - GET only shows (mail scanners open every link); only the POST of a page's
//!   form changes anything, and the form carries its own anti-forgery token.
//! - Evidence goes through `crate::record`, the code path of `iopd record`,
//!   with `by` = the link's recipient and channel `web`; an absence covers
//!   every partnership the recipient is officer for (`absence.rs`).
//! - Each person's calendar feed (`feed.rs`) is read with a token that does
//!   not expire but is revoked per person (`iopd feed-revoke`).
//! - Every response carries a strict Content-Security-Policy (no script at
//!   all), `frame-ancestors 'none'`, `Referrer-Policy: no-referrer` and
//!   `Cache-Control: no-store`; bodies are limited; failed token checks are
//!   counted per client address. Tokens never reach a log line.
//!
//! The daemon mounts [`router`] on `[web] listen`, served with
//! `into_make_service_with_connect_info::<SocketAddr>()` so the client
//! address is known.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use chrono::{Duration, NaiveDate};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::Email;
use crate::mail::Links;
use crate::store::Store;

pub(crate) mod absence;
pub mod feed;
pub mod form;
pub mod limit;
pub(crate) mod pages;
pub mod token;

pub use token::Action;

/// Form bodies are a few short fields; anything larger is refused unread.
pub const MAX_BODY: usize = 8 * 1024;

/// What every request needs; cheap to clone.
#[derive(Clone)]
pub struct WebState {
    /// The current configuration (the daemon publishes a new one on SIGHUP).
    pub config: watch::Receiver<Arc<Config>>,
    /// Where a change of a committee's plan publishes the configuration
    /// with it, for every page and job of this process at once.
    pub publish: watch::Sender<Arc<Config>>,
    pub store: Store,
    pub clock: Clock,
    pub limiter: limit::Limiter,
    /// Each committee's next follow-up, worked out from the whole register
    /// and kept until the register, the day or the rules change.
    pub followups: crate::workspace::FollowupCache,
    /// The sign-in provider's discovery document and keys.
    pub discovery: crate::workspace::Discovery,
}

impl WebState {
    pub fn new(publish: watch::Sender<Arc<Config>>, store: Store, clock: Clock) -> Self {
        Self {
            config: publish.subscribe(),
            publish,
            store,
            clock,
            limiter: limit::Limiter::default(),
            followups: crate::workspace::FollowupCache::default(),
            discovery: crate::workspace::Discovery::default(),
        }
    }
}

/// The pages: `/a/{token}` (action page and its form), `/o/{token}` (the
/// overview), `/kalender/{token}.ics` (a person's calendar feed),
/// `/iopd.css`, and the signed-in workspace under `/arbetsyta`
/// (`crate::workspace`). Everything else is a 404 page.
pub fn router(state: WebState) -> Router {
    Router::new()
        .route(
            "/a/{token}",
            get(pages::action_page).post(pages::action_submit),
        )
        .route("/o/{token}", get(pages::overview))
        // The `.ics` is part of the segment; the handler takes it off.
        .route("/kalender/{file}", get(feed::calendar))
        .route("/iopd.css", get(pages::css))
        .merge(crate::workspace::routes(state.clone()))
        .fallback(pages::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// No script at all, styles only from our own file, forms only to us, never
/// in a frame; nothing cached, no Referer (a token must not leak).
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                       base-uri 'none'; frame-ancestors 'none'";

async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    // The workspace widens `form-action` to the identity provider itself.
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CSP));
    for (name, value) in [
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    res
}

/// The client's address for rate limiting. Behind the reverse proxy every
/// connection comes from loopback, so there (and only there: a client cannot
/// choose its TCP peer) the last `X-Forwarded-For` entry, the one the proxy
/// wrote, names the client. Without connection info everyone shares one
/// bucket.
pub fn client_ip(peer: Option<&ConnectInfo<SocketAddr>>, headers: &HeaderMap) -> IpAddr {
    let Some(ConnectInfo(peer)) = peer else {
        return IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    };
    if peer.ip().is_loopback()
        && let Some(ip) = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .next_back()
    {
        return ip;
    }
    peer.ip()
}

/// The secrets a link may be signed with: the current one, then the previous.
fn secrets(cfg: &Config) -> Vec<&[u8]> {
    [&cfg.web.link_secret, &cfg.web.previous_secret]
        .into_iter()
        .flatten()
        .map(|s| s.expose().as_bytes())
        .collect()
}

fn link(cfg: &Config, claims: &token::Claims, path: &str) -> Option<String> {
    let base = cfg.web.public_url.as_deref()?;
    let secret = cfg.web.link_secret.as_ref()?;
    let t = token::sign(secret.expose().as_bytes(), claims);
    Some(format!("{}/{path}/{t}", base.trim_end_matches('/')))
}

fn expires(cfg: &Config, today: NaiveDate) -> NaiveDate {
    today + Duration::days(i64::from(cfg.web.link_days))
}

/// The three links of a reminder for `recipient`, when `[web] public_url` and
/// a secret are configured.
pub fn links(cfg: &Config, checkpoint: &str, recipient: &Email, today: NaiveDate) -> Option<Links> {
    let one = |action| {
        let claims = token::Claims {
            action,
            checkpoint: checkpoint.to_string(),
            recipient: recipient.clone(),
            expires: expires(cfg, today),
        };
        link(cfg, &claims, "a")
    };
    Some(Links {
        done: one(Action::Done)?,
        absent: one(Action::Absent)?,
        more_time: one(Action::MoreTime)?,
    })
}

/// The digest's link to the live overview page, for `recipient`.
pub fn overview_link(cfg: &Config, recipient: &Email, today: NaiveDate) -> Option<String> {
    let claims = token::Claims {
        action: Action::Overview,
        checkpoint: String::new(),
        recipient: recipient.clone(),
        expires: expires(cfg, today),
    };
    link(cfg, &claims, "o")
}

/// The subscription address of `recipient`'s calendar feed, for the mails
/// and pages: `webcal://HOST/kalender/TOKEN.ics` (from `[web] public_url`,
/// https → webcal), or `None` without `public_url` and a link secret.
///
/// `version` is the recipient's current feed version
/// (`Store::feed_version`, 0 until `iopd feed-revoke` first raises it);
/// an address signed for an older version is refused. The address never
/// expires, so it belongs only in mail to that recipient.
/// [`feed_link_current`] reads the version itself.
pub fn feed_link(cfg: &Config, recipient: &Email, version: i64) -> Option<String> {
    let base = cfg.web.public_url.as_deref()?;
    let secret = cfg.web.link_secret.as_ref()?;
    let t = token::sign_feed(secret.expose().as_bytes(), recipient, version);
    Some(feed::address(base, &t))
}

/// [`feed_link`] with the recipient's current version read from `store`
/// (for code that has the store at hand, e.g. while composing a mail).
pub async fn feed_link_current(
    cfg: &Config,
    store: &Store,
    recipient: &Email,
) -> Result<Option<String>, crate::store::StoreError> {
    Ok(feed_link(
        cfg,
        recipient,
        store.feed_version(recipient).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_names_the_client_only_from_loopback() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 198.51.100.7"),
        );
        let lo = ConnectInfo("127.0.0.1:5000".parse::<SocketAddr>().unwrap());
        let far = ConnectInfo("192.0.2.4:5000".parse::<SocketAddr>().unwrap());
        // The proxy appends the address it saw: the last entry counts.
        assert_eq!(
            client_ip(Some(&lo), &h),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        // A direct client cannot pick its bucket with a header.
        assert_eq!(
            client_ip(Some(&far), &h),
            "192.0.2.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_ip(Some(&lo), &HeaderMap::new()),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(None, &h), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    }
}
