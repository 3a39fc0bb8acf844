//! A person's calendar feed: `GET /kalender/{token}.ics`, the open checkpoints
//! whose calendar entry they hold (`delivery::holders`, the same people the
//! invites go to), as a read-only VCALENDAR that calendar programs subscribe
//! to and read again every 12 hours. Closed checkpoints are simply absent, so
//! they disappear at the next refresh.
//!
//! - Each event's UID is the invite's (`{checkpoint key}@iopd`), so a
//!   calendar that has both still shows one entry per deadline. SEQUENCE
//!   stays 0: a subscription is a calendar of its own, replaced whole at
//!   each refresh, so nothing compares it with the invites' sequence.
//! - No personal action link appears anywhere in it: whoever sees a shared
//!   calendar must not be able to act as its owner.
//! - A token that does not verify, or whose version is no longer the
//!   person's (`iopd feed-revoke`), gets the same bare 404, counted by the
//!   per-client limiter like a bad link.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;

use super::{WebState, client_ip, secrets, token};
use crate::clock::Now;
use crate::config::Config;
use crate::domain::{CommitteeKey, Email, Event, Partnership};
use crate::engine::{Checkpoint, Status};
use crate::ical::{self, EventSpec};
use crate::store::StoreError;

/// How often a subscriber reads the feed again.
pub const REFRESH_HOURS: u32 = 12;
/// How far ahead the feed shows coming checkpoints.
const AHEAD_DAYS: i64 = 400;

/// The subscription address for a feed `token`: `webcal://` for an https
/// `public_url` (calendar programs open that scheme as a subscription);
/// a plain-http local setup keeps its scheme.
pub fn address(public_url: &str, token: &str) -> String {
    let base = public_url.trim_end_matches('/');
    let base = match base.strip_prefix("https://") {
        Some(rest) => format!("webcal://{rest}"),
        None => base.to_string(),
    };
    format!("{base}/kalender/{token}.ics")
}

/// The feed address for `recipient`, reading their version from the store;
/// `None` when the pages are not configured or the store cannot answer (a
/// page then simply leaves the address out).
pub async fn link_for(st: &WebState, cfg: &Config, recipient: &Email) -> Option<String> {
    match super::feed_link_current(cfg, &st.store, recipient).await {
        Ok(link) => link,
        Err(e) => {
            tracing::error!("feed version not read: {e}");
            None
        }
    }
}

/// Which partnerships to read for `email`: all of them for a role address of
/// the configuration (jurist, administrativt stöd, IOP-ansvarig, advisory),
/// the committees' for a secretary, otherwise only those where the address
/// is (or was) officer or deputy.
#[derive(Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    Committees(BTreeSet<CommitteeKey>),
    Own,
}

pub fn scope(cfg: &Config, email: &Email) -> Scope {
    let same = |e: &Email| e.as_str().eq_ignore_ascii_case(email.as_str());
    let r = &cfg.roles;
    if same(&r.jurist.email)
        || same(&r.admin_support.email)
        || same(&r.iop_ansvarig.email)
        || r.advisory.as_ref().is_some_and(|a| same(&a.email))
    {
        return Scope::All;
    }
    let mine: BTreeSet<CommitteeKey> = cfg
        .committees
        .iter()
        .filter(|(_, c)| same(&c.secretary))
        .map(|(k, _)| k.clone())
        .collect();
    if mine.is_empty() {
        Scope::Own
    } else {
        Scope::Committees(mine)
    }
}

/// The calendar's name: "IOP – Anna Svensson" when the register or the
/// configuration names the person, else "IOP – {body}".
fn calendar_name(cfg: &Config, email: &Email, read: &[(Partnership, Vec<Event>)]) -> String {
    let same = |e: &Email| e.as_str().eq_ignore_ascii_case(email.as_str());
    let r = &cfg.roles;
    let roles = [
        Some(&r.iop_ansvarig),
        r.advisory.as_ref(),
        Some(&r.jurist),
        Some(&r.admin_support),
    ];
    let named = roles
        .into_iter()
        .flatten()
        .find(|p| same(&p.email))
        .map(|p| p.name.clone())
        .or_else(|| {
            read.iter().find_map(|(p, events)| {
                if same(&p.officer.email) {
                    return Some(p.officer.name.clone());
                }
                events.iter().find_map(|e| match &e.kind {
                    crate::domain::EventKind::OfficerReplaced { name, email: e, .. } if same(e) => {
                        Some(name.clone())
                    }
                    _ => None,
                })
            })
        });
    format!("IOP – {}", named.unwrap_or_else(|| cfg.body.name.clone()))
}

/// Open: what still waits for evidence (RULES 3, 17: done, cancelled,
/// missed, waived and before-tracking checkpoints are not in the feed).
fn is_open(s: Status) -> bool {
    matches!(s, Status::Upcoming | Status::Due | Status::Overdue)
}

/// The plain text of one entry: what is due, for which partnership, the
/// meeting when there is one, and why; never a link.
fn description(cfg: &Config, p: &Partnership, cp: &Checkpoint) -> String {
    let committee = cfg
        .committees
        .get(&p.committee)
        .map_or_else(|| p.committee.to_string(), |c| c.name.clone());
    let mut lines = vec![
        format!(
            "{} för {} ({}), {committee}.",
            cfg.guideline.label(cp.kind),
            crate::mail::one_line(&p.organisation),
            p.id
        ),
        // No "om 3 dagar": a subscribed copy may be read days later.
        format!("Sista dag: {}.", cp.due),
    ];
    if let Some(m) = cp.meeting {
        lines.push(format!("Nämndens sammanträde: {m}."));
    }
    lines.push(cfg.guideline.text(cp.kind, cp.parent).rule.clone());
    lines.push(
        "Registrera det som är gjort med länken i påminnelsemejlet. Kalendern uppdateras av \
         sig själv, och punkten försvinner när den är klar."
            .into(),
    );
    lines.join("\n")
}

/// Whether `email` holds `cp`'s calendar entry on `today`: an open
/// checkpoint and one of `delivery::holders`, the invites' recipients.
#[allow(clippy::too_many_arguments)]
pub fn holds(
    cfg: &Config,
    ladder: &crate::ladder::Ladder,
    p: &Partnership,
    events: &[Event],
    secretary: &Email,
    cp: &Checkpoint,
    email: &Email,
    today: NaiveDate,
) -> bool {
    is_open(cp.status)
        && crate::delivery::holders(cfg, ladder, p, events, secretary, cp.kind, cp.parent, today)
            .iter()
            .any(|h| h.as_str().eq_ignore_ascii_case(email.as_str()))
}

/// The feed's events for `email` from what was read: every open checkpoint
/// whose calendar entry `email` holds on `today`, by due date.
pub fn events_for(
    cfg: &Config,
    email: &Email,
    read: &[(Partnership, Vec<Event>)],
    tracking: NaiveDate,
    now: &Now,
) -> Vec<EventSpec> {
    let ladder = cfg.ladder();
    let today = now.today;
    let mut out: Vec<(NaiveDate, String, EventSpec)> = Vec::new();
    for (p, events) in read {
        let Some(committee) = cfg.committees.get(&p.committee) else {
            continue;
        };
        for cp in super::pages::checkpoints_ahead(cfg, p, events, tracking, today, AHEAD_DAYS) {
            if !holds(
                cfg,
                &ladder,
                p,
                events,
                &committee.secretary,
                &cp,
                email,
                today,
            ) {
                continue;
            }
            let spec = EventSpec {
                uid: format!("{}@iopd", cp.key),
                sequence: 0,
                dtstamp: now.instant,
                date: cp.due,
                summary: crate::delivery::summary(&cfg.guideline, &cp, p),
                description: description(cfg, p, &cp),
                location: None,
                url: None,
                organizer: None,
                attendees: Vec::new(),
                cancelled: false,
                alarm_days_before: Some(1),
                categories: vec!["IOP".into()],
            };
            out.push((cp.due, cp.key.clone(), spec));
        }
    }
    out.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    out.into_iter().map(|(_, _, s)| s).collect()
}

/// What `email`'s feed is made from: only the partnerships [`scope`] names.
async fn read(
    st: &WebState,
    cfg: &Config,
    email: &Email,
) -> Result<Vec<(Partnership, Vec<Event>)>, StoreError> {
    let mut out = Vec::new();
    match scope(cfg, email) {
        Scope::Own => {
            for id in st.store.partnership_ids_of(email).await? {
                let p = st.store.partnership(&id).await?;
                let events = st.store.events(&id).await?;
                out.push((p, events));
            }
        }
        wide => {
            // A secretary or a role address also holds what they are
            // officer or deputy for in other committees.
            let own: BTreeSet<String> = st
                .store
                .partnership_ids_of(email)
                .await?
                .into_iter()
                .map(|id| id.as_str().to_string())
                .collect();
            st.store
                .each_partnership(
                    |p, events| {
                        let wanted = match &wide {
                            Scope::Committees(keys) => {
                                keys.contains(&p.committee) || own.contains(p.id.as_str())
                            }
                            _ => true,
                        };
                        if wanted {
                            out.push((p, events));
                        }
                    },
                    |e| tracing::error!("partnership skipped in a calendar feed: {e}"),
                )
                .await?;
        }
    }
    Ok(out)
}

/// A refusal says nothing: the same bare 404 for a bad and a revoked token.
fn refused(st: &WebState, ip: std::net::IpAddr, t0: Instant, why: &str) -> Response {
    tracing::info!(client = %ip, reason = why, "calendar feed refused");
    st.limiter.fail(ip, t0);
    (StatusCode::NOT_FOUND, "").into_response()
}

pub async fn calendar(
    State(st): State<WebState>,
    Path(file): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
) -> Response {
    let cfg = st.config.borrow().clone();
    let now = st.clock.with_tz(cfg.body.time_zone).now();
    let ip = client_ip(ext.get::<ConnectInfo<SocketAddr>>(), &headers);
    let t0 = Instant::now();
    if st.limiter.blocked(ip, t0) {
        return (StatusCode::TOO_MANY_REQUESTS, "").into_response();
    }
    let Some(t) = file.strip_suffix(".ics") else {
        return refused(&st, ip, t0, "not .ics");
    };
    let keys = secrets(&cfg);
    let (email, version) = match token::verify_feed(&keys, t) {
        Ok(v) => v,
        Err(why) => return refused(&st, ip, t0, &format!("{why:?}")),
    };
    match st.store.feed_version(&email).await {
        Ok(v) if v == version => {}
        Ok(_) => return refused(&st, ip, t0, "revoked"),
        Err(e) => return feed_error(&e),
    }
    let tracking = match st.store.created_on().await {
        Ok(t) => t,
        Err(e) => return feed_error(&e),
    };
    let read = match read(&st, &cfg, &email).await {
        Ok(r) => r,
        Err(e) => return feed_error(&e),
    };
    let events = events_for(&cfg, &email, &read, tracking, &now);
    let body = ical::feed(
        &cfg.body.name,
        &calendar_name(&cfg, &email, &read),
        REFRESH_HOURS,
        &events,
    );
    (
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "inline; filename=\"iop.ics\""),
        ],
        body,
    )
        .into_response()
}

fn feed_error(e: &dyn std::fmt::Display) -> Response {
    tracing::error!("calendar feed failed: {e}");
    (StatusCode::SERVICE_UNAVAILABLE, "").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Channel, EventKind, PartnershipId, Person};

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn email(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    fn cfg() -> Config {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/iopd.example.toml");
        Config::load_with_env(&path, false).unwrap()
    }

    /// Started 2025-12-01, two check-ins a year: window 1 is due Friday
    /// 2026-05-29 (RULES 4).
    fn t1() -> Partnership {
        Partnership {
            id: PartnershipId::parse("T1").unwrap(),
            organisation: "Testföreningen".into(),
            committee: CommitteeKey::parse("kbn").unwrap(),
            officer: Person {
                name: "Anna Lindqvist".into(),
                email: email("anna.lindqvist@example.org"),
            },
            deputy: Some(email("erik.berg@example.org")),
            partner_contact: None,
            start: d("2025-12-01"),
            end: None,
            annual_amount: None,
            checkins_per_year: None,
            notice_months: None,
            notes: String::new(),
        }
    }

    fn now(day: &str) -> Now {
        let c = cfg();
        Now::at(
            d(day).and_hms_opt(8, 0, 0).unwrap().and_utc(),
            c.body.time_zone,
        )
    }

    #[test]
    fn role_addresses_read_more_than_their_own_partnerships() {
        let c = cfg();
        let kbn: BTreeSet<CommitteeKey> = [CommitteeKey::parse("kbn").unwrap()].into();
        for (who, want) in [
            ("jurist@example.org", Scope::All),
            ("EKONOMI@example.org", Scope::All),
            ("iop-ansvarig@example.org", Scope::All),
            ("kbn-sekreterare@example.org", Scope::Committees(kbn)),
            ("anna.lindqvist@example.org", Scope::Own),
        ] {
            assert_eq!(scope(&c, &email(who)), want, "{who}");
        }
    }

    #[test]
    fn a_persons_events_are_their_open_checkpoints_without_links() {
        let c = cfg();
        let p = t1();
        let read = vec![(p.clone(), Vec::new())];
        let tracking = d("2026-01-01");
        let anna = email("anna.lindqvist@example.org");
        let got = events_for(&c, &anna, &read, tracking, &now("2026-05-22"));
        let first = got
            .iter()
            .find(|e| e.uid == "T1/checkin/y0-w1@iopd")
            .expect("window 1");
        assert_eq!(first.date, d("2026-05-29"));
        assert_eq!(first.summary, "[IOP] Avstämningsmöte – Testföreningen");
        assert!(
            first
                .description
                .contains("Testföreningen (T1), Kultur- och bildningsnämnden.")
        );
        assert!(first.attendees.is_empty() && first.url.is_none());
        assert!(got.iter().all(|e| !e.description.contains("http")));
        // By due date.
        assert!(got.windows(2).all(|w| w[0].date <= w[1].date));
        // The deputy holds the check-ins too (the overdue stage reaches them);
        // someone else holds nothing.
        let erik = events_for(
            &c,
            &email("erik.berg@example.org"),
            &read,
            tracking,
            &now("2026-05-22"),
        );
        assert!(erik.iter().any(|e| e.uid == "T1/checkin/y0-w1@iopd"));
        assert!(
            events_for(
                &c,
                &email("petra@example.org"),
                &read,
                tracking,
                &now("2026-05-22")
            )
            .is_empty()
        );
        // Recorded: the window leaves the feed.
        let held = Event {
            id: 1,
            partnership: p.id.clone(),
            on: d("2026-05-21"),
            kind: EventKind::CheckinHeld,
            recorded_at: 0,
            recorded_by: "anna".into(),
            channel: Channel::Web,
            target: None,
            retracted: false,
        };
        let read = vec![(p, vec![held])];
        let after = events_for(&c, &anna, &read, tracking, &now("2026-05-22"));
        assert!(after.iter().all(|e| e.uid != "T1/checkin/y0-w1@iopd"));
        assert_eq!(after.len(), got.len() - 1);
        assert_eq!(calendar_name(&c, &anna, &read), "IOP – Anna Lindqvist");
        assert_eq!(
            calendar_name(&c, &email("jurist@example.org"), &read),
            "IOP – Lars Jurist"
        );
        assert_eq!(
            calendar_name(&c, &email("erik.berg@example.org"), &read),
            "IOP – Region Värmland"
        );
    }

    #[test]
    fn https_becomes_webcal_and_local_http_stays() {
        assert_eq!(
            address("https://iop.example.org/", "T.M"),
            "webcal://iop.example.org/kalender/T.M.ics"
        );
        assert_eq!(
            address("https://example.org/iop", "T.M"),
            "webcal://example.org/iop/kalender/T.M.ics"
        );
        assert_eq!(
            address("http://127.0.0.1:8080", "T.M"),
            "http://127.0.0.1:8080/kalender/T.M.ics"
        );
    }

    #[test]
    fn only_waiting_checkpoints_are_in_the_feed() {
        // RULES 17: "Statuses at now, first that applies: cancelled, done,
        // missed, waived, before_tracking, overdue, due, upcoming"; only the
        // last three still wait for evidence.
        for (s, open) in [
            (Status::Upcoming, true),
            (Status::Due, true),
            (Status::Overdue, true),
            (Status::Done, false),
            (Status::Cancelled, false),
            (Status::Missed, false),
            (Status::Waived, false),
            (Status::BeforeTracking, false),
        ] {
            assert_eq!(is_open(s), open, "{s:?}");
        }
    }
}
