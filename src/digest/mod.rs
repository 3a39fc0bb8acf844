//! The weekly digest for IOP-ansvarig, the per-officer Monday list and the
//! committee secretaries' heads-up.
//!
//! Exactly once comes from the database, not from memory: every mail is an
//! outbox row under a unique key (`digest|2027-W05|recipient`,
//! `digest|2027-W05|officer|address`, `heads-up|kbn|2027-03-18|secretary`)
//! inserted with `ON CONFLICT DO NOTHING` and delivered by
//! `delivery::deliver`, which claims rows under a lease. A restart, a second
//! replica or a second `iopd digest` in the same ISO week sends nothing new;
//! the Message-ID derives from the key, like every reminder's.

use std::collections::{BTreeMap, HashSet};

use chrono::{Duration, NaiveDate, NaiveTime};
use serde::Serialize;

use crate::calendar::{is_working_day, local_to_utc, working_day_on_or_before};
use crate::clock::Now;
use crate::config::Config;
use crate::delivery::{self, DeliveryError};
use crate::domain::{CommitteeKey, Email};
use crate::engine::{self, Input, Kind, Status};
use crate::mail::{self, MailError, Rendered};
use crate::store::{Enqueue, NewMail, Store, StoreError};

pub mod model;
pub(crate) mod render;

pub use model::{Digest, DigestLinks, Item, OfficerList, iso_week};

/// How `weekly` runs.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Send the digest to this address only (a manual copy); no officer lists.
    pub to: Option<Email>,
    /// Render and report, record and send nothing.
    pub dry_run: bool,
}

/// What one `weekly` call did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// `2027-W05`.
    pub week: String,
    /// Why nothing was enqueued, if so.
    pub closed_reason: Option<String>,
    /// Who the digest is addressed to.
    pub recipients: Vec<Email>,
    /// The digest already existed for every recipient this week.
    pub already_sent: bool,
    pub enqueued: u64,
    /// Officers with a Monday list this week (`digest.officers`).
    pub officer_lists: usize,
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
    /// The rendered digest (always with `dry_run`).
    pub preview: Option<Rendered>,
}

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot render the {what}: {source}")]
    Mail {
        what: &'static str,
        #[source]
        source: MailError,
    },
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
}

/// The link to the live, read-only overview page, signed for the digest's
/// main recipient (the copy to the advisory mailbox carries the same link).
fn overview_link(cfg: &Config, today: chrono::NaiveDate) -> Option<DigestLinks> {
    let to = cfg
        .digest
        .to
        .as_ref()
        .unwrap_or(&cfg.roles.iop_ansvarig.email);
    crate::web::overview_link(cfg, to, today).map(|overview| DigestLinks { overview })
}

/// Streams the register through the engine and collects the digest at `now`.
pub async fn gather(
    cfg: &Config,
    store: &Store,
    now: &Now,
) -> Result<(Digest, Vec<OfficerList>), StoreError> {
    let today = now.today;
    let rules = cfg.committee_rules(store.created_on().await?);
    let horizon = model::Builder::horizon(today);
    let mut b = model::Builder::new(cfg, today);
    let mut bad = Vec::new();
    store
        .each_partnership(
            |p, events| {
                let (Some((calendar, policy)), Some(c)) =
                    (rules.get(&p.committee), cfg.committees.get(&p.committee))
                else {
                    b.unknown_committee(&p);
                    return;
                };
                let input = Input {
                    partnership: &p,
                    events: &events,
                    policy,
                    committee: calendar,
                    today,
                    horizon,
                };
                let cps = engine::checkpoints(&input);
                b.add(&p, &events, policy, &c.name, &cps);
            },
            |e| bad.push(e.to_string()),
        )
        .await?;
    for e in bad {
        b.bad_row(e);
    }
    let reminders = store.sent_reminders(&b.listed_keys()).await?;
    let problems = store
        .delivery_problems(now.instant - Duration::days(model::DELIVERY_PROBLEM_DAYS))
        .await?;
    let monday = local_to_utc(model::week_start(today), NaiveTime::MIN, now.tz);
    let health = store.service_health(monday).await?;
    // In force, or asked for in the last week (so each one is seen once).
    let week_ago = now.instant - chrono::Duration::days(7);
    let postponements: Vec<_> = store
        .postponements()
        .await?
        .into_iter()
        .filter(|p| p.until >= today || p.recorded_at >= week_ago)
        .collect();
    Ok(b.finish(
        &reminders,
        &problems,
        &health,
        postponements,
        overview_link(cfg, today),
    ))
}

/// Renders the digest mail.
pub fn render_digest(d: &Digest) -> Result<Rendered, MailError> {
    render::mail("digest", "digest.txt", "digest.html", d)
}

#[derive(Serialize)]
struct OfficerView<'a> {
    body_name: &'a str,
    /// "vecka 9".
    week: String,
    today: NaiveDate,
    name: Option<&'a str>,
    items: &'a [Item],
    /// Whom to tell that something is done (an officer has no shell).
    coordinator: String,
    /// The reminder mails carry buttons that record it.
    pages: bool,
}

/// Renders one officer's Monday list for the week of `today`.
pub fn render_officer(
    cfg: &Config,
    today: NaiveDate,
    list: &OfficerList,
) -> Result<Rendered, MailError> {
    let c = &cfg.roles.iop_ansvarig;
    let view = OfficerView {
        body_name: &cfg.body.name,
        week: crate::words::week(today),
        today,
        name: list.name.as_deref(),
        items: &list.items,
        coordinator: format!("{} <{}>", c.name, c.email),
        pages: crate::web::overview_link(cfg, &c.email, today).is_some(),
    };
    render::mail("officer", "officer.txt", "officer.html", &view)
}

/// The agenda of one committee meeting, for its secretary.
#[derive(Debug, Clone, Serialize)]
pub struct HeadsUp {
    pub body_name: String,
    pub committee: String,
    pub meeting: NaiveDate,
    pub deadline: NaiveDate,
    pub today: NaiveDate,
    pub items: Vec<Item>,
}

pub fn render_heads_up(h: &HeadsUp) -> Result<Rendered, MailError> {
    render::mail("heads_up", "heads_up.txt", "heads_up.html", h)
}

/// The digest's outbox key: one per ISO week and recipient; a manual copy
/// (`--to`) carries its own instant, so each one asked for goes out once.
pub fn digest_key(week: &str, manual: Option<i64>, recipient: &Email) -> String {
    match manual {
        None => format!("digest|{week}|{recipient}"),
        Some(at) => format!("digest|{week}|manual-{at}|{recipient}"),
    }
}

pub fn officer_key(week: &str, officer: &Email) -> String {
    format!("digest|{week}|officer|{officer}")
}

pub fn heads_up_key(committee: &CommitteeKey, meeting: NaiveDate, secretary: &Email) -> String {
    format!("heads-up|{committee}|{meeting}|{secretary}")
}

/// The digest's recipients: `digest.to` (default IOP-ansvarig) and, with
/// `digest.copy_advisory`, the advisory mailbox; or only `--to`.
fn recipients(cfg: &Config, opts: &Options) -> Vec<mail::Person> {
    if let Some(to) = &opts.to {
        return vec![mail::Person {
            name: None,
            email: to.clone(),
        }];
    }
    let main = match &cfg.digest.to {
        Some(e) => mail::Person {
            name: None,
            email: e.clone(),
        },
        None => (&cfg.roles.iop_ansvarig).into(),
    };
    let mut out = vec![main];
    if cfg.digest.copy_advisory
        && let Some(a) = &cfg.roles.advisory
        && a.email != out[0].email
    {
        out.push(mail::Person {
            name: Some(a.name.clone()),
            email: a.email.clone(),
        });
    }
    out
}

/// What identifies one outbox row that is not a checkpoint's reminder.
struct Row<'a> {
    key: String,
    checkpoint_key: String,
    kind: &'static str,
    stage: &'static str,
    to: &'a mail::Person,
}

fn new_mail(
    cfg: &Config,
    now: &Now,
    row: Row<'_>,
    rendered: &Rendered,
) -> Result<NewMail, MailError> {
    let envelope_to = cfg
        .mail
        .redirect_all_to
        .clone()
        .unwrap_or_else(|| row.to.email.clone());
    let env = mail::Envelope {
        from: cfg.sender(),
        to: vec![mail::Person {
            name: row.to.name.clone(),
            email: envelope_to.clone(),
        }],
        cc: Vec::new(),
        items: Vec::new(),
        outbox_key: Some(row.key.clone()),
    };
    let message_id = mail::message_id(&row.key, &cfg.mail.from);
    let msg = mail::build(&env, rendered, None, &message_id, now.instant)?;
    Ok(NewMail {
        key: row.key,
        checkpoint_key: row.checkpoint_key,
        partnership_id: String::new(),
        kind: row.kind.to_string(),
        stage: row.stage.to_string(),
        due: now.today,
        recipient: row.to.email.to_string(),
        envelope_to: envelope_to.to_string(),
        send_on: now.today,
        late: false,
        message_id,
        subject: rendered.subject.clone(),
        message: msg.formatted(),
        failed: None,
        item: false,
        rank: 0,
    })
}

/// The weekly digest (and, with `digest.officers`, each officer's Monday
/// list): enqueued once per ISO week, then delivered. The service calls this
/// when its digest schedule fires and once after downtime; `iopd digest`
/// calls it by hand.
pub async fn weekly(
    cfg: &Config,
    store: &Store,
    sender: &mail::transport::Sender,
    now: &Now,
    opts: &Options,
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<Outcome, DigestError> {
    let week = iso_week(now.today);
    let people = recipients(cfg, opts);
    let mut out = Outcome {
        week: week.clone(),
        recipients: people.iter().map(|p| p.email.clone()).collect(),
        ..Default::default()
    };
    if !cfg.mail.enabled && !opts.dry_run {
        out.closed_reason = Some("mail.enabled is false: nothing is sent".into());
        return Ok(out);
    }
    // Like every reminder, the week's digest waits for a working day (a
    // Monday holiday moves it to Tuesday, still the same ISO week); a copy
    // asked for by hand or a dry run is not held back.
    if opts.to.is_none() && !opts.dry_run && !is_working_day(now.today) {
        out.closed_reason = Some(format!(
            "{} is not a working day: the digest goes out on the next working day",
            now.today
        ));
        return Ok(out);
    }
    let manual = opts.to.as_ref().map(|_| now.instant.timestamp());
    let keys: Vec<String> = people
        .iter()
        .map(|p| digest_key(&week, manual, &p.email))
        .collect();
    let existing = store.existing_keys(&keys).await?;
    out.already_sent = keys.iter().all(|k| existing.contains(k));
    let officers = cfg.digest.officers && opts.to.is_none();
    if out.already_sent && !officers && !opts.dry_run {
        let (sent, retried, failed) =
            delivery::deliver(cfg, store, sender, now.instant, stop).await?;
        (out.sent, out.retried, out.failed) = (sent, retried, failed);
        return Ok(out);
    }

    let (digest, lists) = gather(cfg, store, now).await?;
    let rendered = render_digest(&digest).map_err(|source| DigestError::Mail {
        what: "weekly digest",
        source,
    })?;
    let map = |source| DigestError::Mail {
        what: "weekly digest",
        source,
    };
    let mut mails = Vec::new();
    for (p, key) in people.iter().zip(&keys) {
        if existing.contains(key) {
            continue;
        }
        let row = Row {
            key: key.clone(),
            checkpoint_key: format!("digest/{week}"),
            kind: "digest",
            stage: "digest",
            to: p,
        };
        mails.push(new_mail(cfg, now, row, &rendered).map_err(map)?);
    }
    if officers {
        let lists: Vec<OfficerList> = lists.into_iter().filter(|l| !l.items.is_empty()).collect();
        out.officer_lists = lists.len();
        let okeys: Vec<String> = lists
            .iter()
            .filter_map(|l| l.email.as_ref().map(|e| officer_key(&week, e)))
            .collect();
        let done = store.existing_keys(&okeys).await?;
        for l in &lists {
            let Some(email) = &l.email else { continue };
            let key = officer_key(&week, email);
            if done.contains(&key) {
                continue;
            }
            let r = render_officer(cfg, now.today, l).map_err(|source| DigestError::Mail {
                what: "officer's weekly list",
                source,
            })?;
            let person = mail::Person {
                name: l.name.clone(),
                email: email.clone(),
            };
            let row = Row {
                key,
                checkpoint_key: format!("digest/{week}/officer"),
                kind: "officer_list",
                stage: "officer-list",
                to: &person,
            };
            mails.push(
                new_mail(cfg, now, row, &r).map_err(|source| DigestError::Mail {
                    what: "officer's weekly list",
                    source,
                })?,
            );
        }
    }
    out.preview = Some(rendered);
    if opts.dry_run {
        return Ok(out);
    }
    if !mails.is_empty() {
        let batch = Enqueue {
            mails,
            ..Default::default()
        };
        out.enqueued = store.enqueue(&batch, now.instant).await?;
    }
    let (sent, retried, failed) = delivery::deliver(cfg, store, sender, now.instant, stop).await?;
    (out.sent, out.retried, out.failed) = (sent, retried, failed);
    Ok(out)
}

/// What the heads-up did, or would do with `dry_run`.
#[derive(Debug, Default)]
pub struct HeadsUpReport {
    pub enqueued: u64,
    /// (outbox key, secretary, subject) of each mail rendered.
    pub planned: Vec<(String, Email, String)>,
}

/// The committee secretaries' heads-up, `digest.heads_up_weeks` before each
/// meeting: enqueued by every tick inside the sending window, once per
/// (meeting, secretary), when IOP items are expected on that agenda. The
/// register is read only while such a meeting has no heads-up yet; a meeting
/// with nothing expected is looked at again by each tick of its window.
pub async fn heads_up(
    cfg: &Config,
    store: &Store,
    now: &Now,
    dry_run: bool,
) -> Result<HeadsUpReport, DeliveryError> {
    let mut report = HeadsUpReport::default();
    let weeks = cfg.digest.heads_up_weeks;
    if weeks == 0 || delivery::sending_window(cfg, now).is_err() {
        return Ok(report);
    }
    let today = now.today;
    let lead = Duration::days(7 * i64::from(weeks));
    let mut due: Vec<(CommitteeKey, NaiveDate, String)> = Vec::new();
    for (k, c) in &cfg.committees {
        for m in c
            .meetings
            .iter()
            .filter(|m| **m > today && **m - lead <= today)
        {
            due.push((k.clone(), *m, heads_up_key(k, *m, &c.secretary)));
        }
    }
    if due.is_empty() {
        return Ok(report);
    }
    let keys: Vec<String> = due.iter().map(|d| d.2.clone()).collect();
    let existing = store.existing_keys(&keys).await?;
    due.retain(|d| !existing.contains(&d.2));
    let Some(horizon) = due.iter().map(|d| d.1).max() else {
        return Ok(report);
    };
    let wanted: HashSet<(CommitteeKey, NaiveDate)> =
        due.iter().map(|d| (d.0.clone(), d.1)).collect();
    let committees: HashSet<&CommitteeKey> = due.iter().map(|d| &d.0).collect();
    let rules = cfg.committee_rules(store.created_on().await?);
    let mut agenda: BTreeMap<(CommitteeKey, NaiveDate), Vec<Item>> = BTreeMap::new();
    store
        .each_partnership(
            |p, events| {
                if !committees.contains(&p.committee) {
                    return;
                }
                let (Some((calendar, policy)), Some(c)) =
                    (rules.get(&p.committee), cfg.committees.get(&p.committee))
                else {
                    return;
                };
                let input = Input {
                    partnership: &p,
                    events: &events,
                    policy,
                    committee: calendar,
                    today,
                    horizon,
                };
                for cp in engine::checkpoints(&input) {
                    let on_agenda =
                        matches!(cp.kind, Kind::CommitteeFollowup | Kind::TerminationDecision)
                            && !matches!(
                                cp.status,
                                Status::Cancelled | Status::BeforeTracking | Status::Waived
                            );
                    if let (true, Some(m)) = (on_agenda, cp.meeting)
                        && wanted.contains(&(p.committee.clone(), m))
                    {
                        agenda
                            .entry((p.committee.clone(), m))
                            .or_default()
                            .push(model::item(
                                &cfg.guideline,
                                &p,
                                &events,
                                &c.name,
                                &cp,
                                &cfg.reminders,
                                today,
                            ));
                    }
                }
            },
            |e| tracing::error!("partnership skipped: {e}"),
        )
        .await?;

    let mut mails = Vec::new();
    for (k, m, key) in due {
        let Some(c) = cfg.committees.get(&k) else {
            continue;
        };
        let Some(mut items) = agenda.remove(&(k.clone(), m)) else {
            continue;
        };
        items.sort_by(|a, b| (a.due, &a.key).cmp(&(b.due, &b.key)));
        let h = HeadsUp {
            body_name: cfg.body.name.clone(),
            committee: c.name.clone(),
            meeting: m,
            deadline: working_day_on_or_before(m - Duration::days(i64::from(c.submission_days))),
            today,
            items,
        };
        let map = |source| DeliveryError::Mail {
            key: key.clone(),
            source,
        };
        let rendered = render_heads_up(&h).map_err(map)?;
        let secretary = mail::Person {
            name: None,
            email: c.secretary.clone(),
        };
        let row = Row {
            key: key.clone(),
            checkpoint_key: format!("heads-up/{k}/{m}"),
            kind: "heads_up",
            stage: "heads-up",
            to: &secretary,
        };
        report
            .planned
            .push((key.clone(), c.secretary.clone(), rendered.subject.clone()));
        mails.push(new_mail(cfg, now, row, &rendered).map_err(map)?);
    }
    if !dry_run && !mails.is_empty() {
        let batch = Enqueue {
            mails,
            ..Default::default()
        };
        report.enqueued = store.enqueue(&batch, now.instant).await?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
