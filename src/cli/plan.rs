//! `iopd plan`: the checkpoints due in a window, plus every overdue one.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Result, bail};
use chrono::{Duration, NaiveDate};
use clap::{Args, ValueEnum};
use serde::Serialize;

use super::register::write_table;
use super::{NowArg, load_config, now_from, open_store};
use crate::config::Config;
use crate::domain::{CommitteeKey, Event, Partnership, PartnershipId, parse_date};
use crate::engine::{self, Checkpoint, CommitteeCalendar, Input, Kind, Policy, Status};
use crate::ical;

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub now: NowArg,
    /// Checkpoints due within this many days from today (default 90).
    #[arg(long, value_name = "N", conflicts_with = "until")]
    pub days: Option<u32>,
    /// Checkpoints due on or before this date.
    #[arg(long, value_name = "DATE", value_parser = |s: &str| parse_date(s).map_err(|e| e.0))]
    pub until: Option<NaiveDate>,
    #[arg(long, value_name = "ID")]
    pub partnership: Option<String>,
    #[arg(long, value_name = "KEY")]
    pub committee: Option<String>,
    /// Only checkpoints with this status.
    #[arg(long, value_enum)]
    pub status: Option<StatusArg>,
    #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
    pub format: PlanFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum PlanFormat {
    Table,
    Json,
    Ics,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
#[value(rename_all = "snake_case")]
pub enum StatusArg {
    Upcoming,
    Due,
    Overdue,
    Done,
    Cancelled,
    BeforeTracking,
}

impl StatusArg {
    fn status(self) -> Status {
        match self {
            Self::Upcoming => Status::Upcoming,
            Self::Due => Status::Due,
            Self::Overdue => Status::Overdue,
            Self::Done => Status::Done,
            Self::Cancelled => Status::Cancelled,
            Self::BeforeTracking => Status::BeforeTracking,
        }
    }
}

/// A checkpoint with what a reader needs to act on it (the JSON shape).
#[derive(Serialize)]
pub struct PlanRow {
    pub key: String,
    pub partnership: String,
    pub organisation: String,
    pub committee: String,
    pub kind: Kind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<Kind>,
    pub due: NaiveDate,
    pub status: Status,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub roles: Vec<engine::Role>,
    /// The acting officer's address on the due date (RULES 10).
    pub officer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meeting: Option<NaiveDate>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_meeting: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<engine::Evidence>,
}

/// What `iopd plan` selects.
struct Selection {
    today: NaiveDate,
    until: NaiveDate,
    status: Option<Status>,
    committee: Option<CommitteeKey>,
}

impl Selection {
    /// The window, plus everything overdue; asking for a closed status
    /// (done, cancelled, before_tracking) looks back to the start as well.
    fn wants(&self, c: &Checkpoint) -> bool {
        let looks_back = matches!(
            self.status,
            Some(Status::Done | Status::Cancelled | Status::BeforeTracking)
        );
        let in_window = c.due <= self.until && (c.due >= self.today || looks_back);
        let by_status = match self.status {
            Some(s) => c.status == s,
            None => c.status != Status::BeforeTracking,
        };
        (in_window || c.status == Status::Overdue) && by_status
    }
}

/// The checkpoints of one partnership that `sel` wants, as output rows.
fn rows_for(
    rules: &HashMap<CommitteeKey, (CommitteeCalendar, Policy)>,
    sel: &Selection,
    p: &Partnership,
    events: &[Event],
    out: &mut Vec<PlanRow>,
) {
    if sel.committee.as_ref().is_some_and(|k| &p.committee != k) {
        return;
    }
    let Some((calendar, policy)) = rules.get(&p.committee) else {
        eprintln!(
            "warning: {} belongs to committee {:?}, which is not configured; skipped",
            p.id,
            p.committee.as_str()
        );
        return;
    };
    let input = Input {
        partnership: p,
        events,
        policy,
        committee: calendar,
        today: sel.today,
        horizon: sel.until,
    };
    for c in engine::checkpoints(&input) {
        if !sel.wants(&c) {
            continue;
        }
        let acting = engine::responsible_on(p, events, c.due);
        out.push(PlanRow {
            key: c.key,
            partnership: p.id.to_string(),
            organisation: p.organisation.clone(),
            committee: p.committee.to_string(),
            kind: c.kind,
            parent: c.parent,
            due: c.due,
            status: c.status,
            period_start: c.period_start,
            period_end: c.period_end,
            roles: c.roles,
            officer: acting.acting().to_string(),
            meeting: c.meeting,
            no_meeting: c.no_meeting,
            evidence: c.evidence,
        });
    }
}

pub async fn plan(config: &Path, args: PlanArgs) -> Result<()> {
    let cfg = load_config(config)?;
    let now = now_from(&args.now, &cfg)?;
    let today = now.today;
    let until = match (args.until, args.days) {
        (Some(u), _) => u,
        (None, d) => today + Duration::days(i64::from(d.unwrap_or(90))),
    };
    if until < today {
        bail!("--until {until} is before today ({today})");
    }
    let committee = match &args.committee {
        Some(k) => {
            let key =
                CommitteeKey::parse(k).map_err(|e| anyhow::anyhow!("--committee: {}", e.0))?;
            if !cfg.committees.contains_key(&key) {
                bail!(
                    "--committee {key} is not configured (known: {})",
                    known_committees(&cfg)
                );
            }
            Some(key)
        }
        None => None,
    };
    let sel = Selection {
        today,
        until,
        status: args.status.map(StatusArg::status),
        committee,
    };
    let store = open_store(&cfg, &now).await?;
    let tracking = store.created_on().await?;
    let rules = cfg.committee_rules(tracking);
    let mut rows = Vec::new();
    match &args.partnership {
        Some(id) => {
            let id =
                PartnershipId::parse(id).map_err(|e| anyhow::anyhow!("--partnership: {}", e.0))?;
            let p = store.partnership(&id).await?;
            let events = store.events(&id).await?;
            rows_for(&rules, &sel, &p, &events, &mut rows);
        }
        None => {
            store
                .each_partnership(
                    |p, events| rows_for(&rules, &sel, &p, &events, &mut rows),
                    |e| eprintln!("warning: skipped: {e}"),
                )
                .await?
        }
    }
    store.close().await;
    rows.sort_by(|a, b| (a.due, &a.key).cmp(&(b.due, &b.key)));

    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.format {
        PlanFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &rows)?;
            writeln!(out)?;
        }
        PlanFormat::Ics => {
            let events: Vec<ical::EventSpec> = rows
                .iter()
                .map(|r| ics_event(&cfg, r, now.instant))
                .collect();
            out.write_all(
                ical::calendar(ical::Method::Publish, &cfg.body.name, &events).as_bytes(),
            )?;
        }
        PlanFormat::Table => {
            let table: Vec<[String; 6]> = rows
                .iter()
                .map(|r| {
                    [
                        r.due.to_string(),
                        r.status.name().to_string(),
                        r.kind.name().to_string(),
                        r.partnership.clone(),
                        r.organisation.clone(),
                        r.meeting
                            .map_or(String::new(), |m| format!("sammanträde {m}")),
                    ]
                })
                .collect();
            write_table(
                &mut out,
                &["FÖRFALLER", "STATUS", "SLAG", "ID", "ORGANISATION", "NÄMND"],
                &table,
            )?;
            writeln!(
                out,
                "{} checkpoints (today {today}, until {until})",
                rows.len()
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

fn known_committees(cfg: &Config) -> String {
    cfg.committees
        .keys()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The iCalendar UID of a checkpoint: its stable key, so every export and
/// every invite about the same checkpoint updates one calendar entry.
pub fn checkpoint_uid(key: &str) -> String {
    format!("{key}@iopd")
}

fn ics_event(cfg: &Config, r: &PlanRow, now: chrono::DateTime<chrono::Utc>) -> ical::EventSpec {
    let mut description = format!(
        "{} – {} ({})\nStatus: {}",
        r.kind.label_sv(),
        r.organisation,
        r.partnership,
        r.status.name()
    );
    if let Some(m) = r.meeting {
        description.push_str(&format!(
            "\nNämndens sammanträde {m}, underlag senast {}",
            r.due
        ));
    }
    ical::EventSpec {
        uid: checkpoint_uid(&r.key),
        sequence: 0,
        dtstamp: now,
        date: r.due,
        summary: format!("[IOP] {} – {}", r.kind.label_sv(), r.organisation),
        description,
        location: None,
        url: None,
        organizer: Some((cfg.body.name.clone(), cfg.mail.from.clone())),
        attendees: Vec::new(),
        cancelled: r.status == Status::Cancelled,
        alarm_days_before: None,
        categories: vec!["IOP".into()],
    }
}
