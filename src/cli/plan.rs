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
    /// A check-in window passed by a later check-in (RULES 17).
    Missed,
    /// Closed without evidence by IOP-ansvarig (RULES 17).
    Waived,
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
            Self::Missed => Status::Missed,
            Self::Waived => Status::Waived,
        }
    }
}

/// A checkpoint with what a reader needs to act on it (the JSON shape,
/// written by `write_json`; a test holds it equal to serde's rendering).
#[derive(Clone, Copy, Serialize)]
struct PlanRow<'a> {
    key: &'a str,
    partnership: &'a str,
    organisation: &'a str,
    committee: &'a str,
    kind: Kind,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: Option<Kind>,
    due: NaiveDate,
    status: Status,
    period_start: NaiveDate,
    period_end: NaiveDate,
    roles: &'a [engine::Role],
    /// The acting officer's address on the due date (RULES 10).
    officer: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    meeting: Option<NaiveDate>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    no_meeting: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<&'a engine::Evidence>,
}

/// One selected checkpoint, small: a full plan holds about a million of them
/// until they are sorted, so the strings its rows repeat (partnership,
/// officer, roles) are stored once and referred to by index, and the keys
/// share one buffer.
struct Pick {
    due: NaiveDate,
    key_at: u32,
    key_len: u32,
    owner: u32,
    officer: u32,
    roles: u32,
    evidence: Option<u32>,
    period_start: NaiveDate,
    period_end: NaiveDate,
    meeting: Option<NaiveDate>,
    kind: Kind,
    parent: Option<Kind>,
    status: Status,
    no_meeting: bool,
}

/// The partnership fields every row of it repeats.
struct Owner {
    id: PartnershipId,
    organisation: String,
    committee: CommitteeKey,
}

/// The selected checkpoints, in the order they are written: (due, key).
#[derive(Default)]
struct Picked {
    picks: Vec<Pick>,
    keys: String,
    owners: Vec<Owner>,
    officers: Vec<String>,
    officer_index: HashMap<String, u32>,
    roles: Vec<Vec<engine::Role>>,
    evidence: Vec<engine::Evidence>,
}

/// More rows than the compact indexes hold (beyond 4 GB of keys).
#[derive(Debug)]
struct TooMany;

fn index(n: usize) -> Result<u32, TooMany> {
    u32::try_from(n).map_err(|_| TooMany)
}

impl Picked {
    /// Adds the checkpoints of one partnership that `sel` wants.
    fn add(
        &mut self,
        rules: &HashMap<CommitteeKey, (CommitteeCalendar, Policy)>,
        sel: &Selection,
        p: Partnership,
        events: &[Event],
    ) -> Result<(), TooMany> {
        if sel.committee.as_ref().is_some_and(|k| &p.committee != k) {
            return Ok(());
        }
        let Some((calendar, policy)) = rules.get(&p.committee) else {
            eprintln!(
                "varning: {} hör till nämnden {:?}, som inte finns i konfigurationen; hoppas över",
                p.id,
                p.committee.as_str()
            );
            return Ok(());
        };
        let input = Input {
            partnership: &p,
            events,
            policy,
            committee: calendar,
            today: sel.today,
            horizon: sel.until,
        };
        let owner = index(self.owners.len())?;
        let mut any = false;
        for c in engine::checkpoints(&input) {
            if !sel.wants(&c) {
                continue;
            }
            any = true;
            let acting = engine::responsible_on(&p, events, c.due);
            let officer = acting.acting().as_str();
            let officer = match self.officer_index.get(officer) {
                Some(&i) => i,
                None => {
                    let i = index(self.officers.len())?;
                    self.officers.push(officer.to_string());
                    self.officer_index.insert(officer.to_string(), i);
                    i
                }
            };
            let roles = match self.roles.iter().position(|r| *r == c.roles) {
                Some(i) => index(i)?,
                None => {
                    self.roles.push(c.roles);
                    index(self.roles.len() - 1)?
                }
            };
            let evidence = match c.evidence {
                Some(e) => {
                    self.evidence.push(e);
                    Some(index(self.evidence.len() - 1)?)
                }
                None => None,
            };
            let key_at = index(self.keys.len())?;
            self.keys.push_str(&c.key);
            self.picks.push(Pick {
                due: c.due,
                key_at,
                key_len: index(c.key.len())?,
                owner,
                officer,
                roles,
                evidence,
                period_start: c.period_start,
                period_end: c.period_end,
                meeting: c.meeting,
                kind: c.kind,
                parent: c.parent,
                status: c.status,
                no_meeting: c.no_meeting,
            });
        }
        if any {
            self.owners.push(Owner {
                id: p.id,
                organisation: p.organisation,
                committee: p.committee,
            });
        }
        Ok(())
    }

    fn key(&self, r: &Pick) -> &str {
        let at = r.key_at as usize;
        &self.keys[at..at + r.key_len as usize]
    }

    /// Output order: (due, key); keys are unique, the buffer position only
    /// makes the order total.
    fn sort(&mut self) {
        let mut picks = std::mem::take(&mut self.picks);
        picks.sort_unstable_by(|a, b| {
            a.due
                .cmp(&b.due)
                .then_with(|| self.key(a).cmp(self.key(b)))
                .then(a.key_at.cmp(&b.key_at))
        });
        self.picks = picks;
    }

    fn rows(&self) -> impl ExactSizeIterator<Item = PlanRow<'_>> {
        self.picks.iter().map(|r| {
            let owner = &self.owners[r.owner as usize];
            PlanRow {
                key: self.key(r),
                partnership: owner.id.as_str(),
                organisation: &owner.organisation,
                committee: owner.committee.as_str(),
                kind: r.kind,
                parent: r.parent,
                due: r.due,
                status: r.status,
                period_start: r.period_start,
                period_end: r.period_end,
                roles: &self.roles[r.roles as usize],
                officer: &self.officers[r.officer as usize],
                meeting: r.meeting,
                no_meeting: r.no_meeting,
                evidence: r.evidence.map(|i| &self.evidence[i as usize]),
            }
        })
    }
}

/// Writes `rows` as serde_json's pretty printer writes a `Vec<PlanRow>`, byte
/// for byte, without building the array first.
///
/// By hand because serde_json's writer escaped and wrote the fields one
/// small write at a time: at 100 000 partnerships (a million rows, 280 MB)
/// that was about a fifth of the whole plan. Names come from the enums'
/// `name()`, which their serde names match (tested).
fn write_json<'a>(
    out: &mut impl Write,
    rows: impl ExactSizeIterator<Item = PlanRow<'a>>,
) -> std::io::Result<()> {
    if rows.len() == 0 {
        return out.write_all(b"[]");
    }
    let mut buf = Vec::with_capacity(1 << 20);
    buf.extend_from_slice(b"[");
    for (i, r) in rows.enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        json_row(&mut buf, &r);
        if buf.len() >= 1 << 20 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    buf.extend_from_slice(b"\n]");
    out.write_all(&buf)
}

/// One element of the array, at serde_json's pretty indentation.
fn json_row(b: &mut Vec<u8>, r: &PlanRow<'_>) {
    b.extend_from_slice(b"\n  {\n    \"key\": ");
    json_str(b, r.key);
    b.extend_from_slice(b",\n    \"partnership\": ");
    json_str(b, r.partnership);
    b.extend_from_slice(b",\n    \"organisation\": ");
    json_str(b, r.organisation);
    b.extend_from_slice(b",\n    \"committee\": ");
    json_str(b, r.committee);
    b.extend_from_slice(b",\n    \"kind\": ");
    json_str(b, r.kind.name());
    if let Some(k) = r.parent {
        b.extend_from_slice(b",\n    \"parent\": ");
        json_str(b, k.name());
    }
    b.extend_from_slice(b",\n    \"due\": ");
    json_date(b, r.due);
    b.extend_from_slice(b",\n    \"status\": ");
    json_str(b, r.status.name());
    b.extend_from_slice(b",\n    \"period_start\": ");
    json_date(b, r.period_start);
    b.extend_from_slice(b",\n    \"period_end\": ");
    json_date(b, r.period_end);
    b.extend_from_slice(b",\n    \"roles\": [");
    for (i, role) in r.roles.iter().enumerate() {
        b.extend_from_slice(if i == 0 { b"\n      " } else { b",\n      " });
        json_str(b, role.name());
    }
    if !r.roles.is_empty() {
        b.extend_from_slice(b"\n    ");
    }
    b.extend_from_slice(b"],\n    \"officer\": ");
    json_str(b, r.officer);
    if let Some(m) = r.meeting {
        b.extend_from_slice(b",\n    \"meeting\": ");
        json_date(b, m);
    }
    if r.no_meeting {
        b.extend_from_slice(b",\n    \"no_meeting\": true");
    }
    if let Some(e) = r.evidence {
        b.extend_from_slice(b",\n    \"evidence\": {\n      \"event\": ");
        b.extend_from_slice(e.event.to_string().as_bytes());
        b.extend_from_slice(b",\n      \"on\": ");
        json_date(b, e.on);
        b.extend_from_slice(b",\n      \"days_late\": ");
        b.extend_from_slice(e.days_late.to_string().as_bytes());
        b.extend_from_slice(b"\n    }");
    }
    b.extend_from_slice(b"\n  }");
}

/// A JSON string. Almost none needs escaping and goes in one piece; serde_json
/// escapes the rest.
fn json_str(b: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    // A scan without early exit is fast.
    let plain = bytes
        .iter()
        .fold(true, |ok, &c| ok & (c >= 0x20 && c != b'"' && c != b'\\'));
    if plain {
        b.push(b'"');
        b.extend_from_slice(bytes);
        b.push(b'"');
    } else {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *b, s);
    }
}

/// A date as chrono writes it: `YYYY-MM-DD` (other years through chrono).
fn json_date(b: &mut Vec<u8>, d: NaiveDate) {
    use chrono::Datelike;
    let (y, m, day) = (d.year(), d.month(), d.day());
    if (0..=9999).contains(&y) {
        let y = y as u32;
        let digit = |n: u32| b'0' + (n % 10) as u8;
        b.extend_from_slice(&[
            b'"',
            digit(y / 1000),
            digit(y / 100),
            digit(y / 10),
            digit(y),
            b'-',
            digit(m / 10),
            digit(m),
            b'-',
            digit(day / 10),
            digit(day),
            b'"',
        ]);
    } else {
        b.extend_from_slice(format!("\"{d}\"").as_bytes());
    }
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
    /// (done, cancelled, before_tracking, missed, waived) looks back to the
    /// start as well.
    fn wants(&self, c: &Checkpoint) -> bool {
        let looks_back = self.status.is_some_and(Status::is_closed);
        let in_window = c.due <= self.until && (c.due >= self.today || looks_back);
        let by_status = match self.status {
            Some(s) => c.status == s,
            None => c.status != Status::BeforeTracking,
        };
        (in_window || c.status == Status::Overdue) && by_status
    }
}

pub async fn plan(config: &Path, args: PlanArgs) -> Result<()> {
    let mut cfg = load_config(config)?;
    let now = now_from(&args.now, &cfg)?;
    let today = now.today;
    let until = match (args.until, args.days) {
        (Some(u), _) => u,
        (None, d) => today + Duration::days(i64::from(d.unwrap_or(90))),
    };
    if until < today {
        bail!("--until {until} ligger före i dag ({today})");
    }
    let committee = match &args.committee {
        Some(k) => {
            let key =
                CommitteeKey::parse(k).map_err(|e| anyhow::anyhow!("--committee: {}", e.0))?;
            if !cfg.committees.contains_key(&key) {
                bail!(
                    "--committee {key} finns inte i konfigurationen (kända: {})",
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
    let store = open_store(&mut cfg, &now).await?;
    let tracking = store.created_on().await?;
    let rules = cfg.committee_rules(tracking);
    let mut picked = Picked::default();
    let mut too_many = None;
    match &args.partnership {
        Some(id) => {
            let id =
                PartnershipId::parse(id).map_err(|e| anyhow::anyhow!("--partnership: {}", e.0))?;
            let p = store.partnership(&id).await?;
            let events = store.events(&id).await?;
            too_many = picked.add(&rules, &sel, p, &events).err();
        }
        None => {
            store
                .each_partnership(
                    |p, events| {
                        if too_many.is_none() {
                            too_many = picked.add(&rules, &sel, p, &events).err();
                        }
                    },
                    |e| eprintln!("varning: hoppas över: {e}"),
                )
                .await?
        }
    }
    store.close().await;
    if too_many.is_some() {
        bail!(
            "för många kontrollpunkter att sortera; begränsa urvalet med --until, --committee eller --status"
        );
    }
    picked.sort();

    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    match args.format {
        PlanFormat::Json => {
            write_json(&mut out, picked.rows())?;
            writeln!(out)?;
        }
        PlanFormat::Ics => {
            let events: Vec<ical::EventSpec> = picked
                .rows()
                .map(|r| ics_event(&cfg, &r, now.instant))
                .collect();
            out.write_all(
                ical::calendar(ical::Method::Publish, &cfg.body.name, &events).as_bytes(),
            )?;
        }
        PlanFormat::Table => {
            // Swedish words under Swedish headings; JSON keeps the machine words.
            let committee_name = |key: &str| {
                cfg.committees
                    .iter()
                    .find(|(k, _)| k.as_str() == key)
                    .map_or_else(|| key.to_string(), |(_, c)| c.name.clone())
            };
            let table: Vec<[String; 7]> = picked
                .rows()
                .map(|r| {
                    [
                        r.due.to_string(),
                        r.status.label_sv().to_string(),
                        cfg.guideline.label(r.kind).to_string(),
                        r.partnership.to_string(),
                        r.organisation.to_string(),
                        committee_name(r.committee),
                        r.meeting
                            .map_or(String::new(), |m| format!("sammanträde {m}")),
                    ]
                })
                .collect();
            write_table(
                &mut out,
                &[
                    "FÖRFALLER",
                    "STATUS",
                    "SLAG",
                    "ID",
                    "ORGANISATION",
                    "NÄMND",
                    "SAMMANTRÄDE",
                ],
                &table,
            )?;
            writeln!(
                out,
                "{} kontrollpunkter (i dag {today}, till och med {until})",
                table.len()
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

fn ics_event(cfg: &Config, r: &PlanRow<'_>, now: chrono::DateTime<chrono::Utc>) -> ical::EventSpec {
    let mut description = format!(
        "{} – {} ({})\nStatus: {}",
        cfg.guideline.label(r.kind),
        r.organisation,
        r.partnership,
        r.status.label_sv()
    );
    if let Some(m) = r.meeting {
        description.push_str(&format!(
            "\nNämndens sammanträde {m}, underlag senast {}",
            r.due
        ));
    }
    ical::EventSpec {
        uid: checkpoint_uid(r.key),
        sequence: 0,
        dtstamp: now,
        date: r.due,
        summary: format!("[IOP] {} – {}", cfg.guideline.label(r.kind), r.organisation),
        description,
        location: None,
        url: None,
        organizer: Some((cfg.body.name.clone(), cfg.mail.from.clone())),
        attendees: Vec::new(),
        // RULES 17: nothing is expected any more for missed and waived ones.
        cancelled: matches!(
            r.status,
            Status::Cancelled | Status::Missed | Status::Waived
        ),
        alarm_days_before: None,
        categories: vec!["IOP".into()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use engine::{Evidence, Role};

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn write(rows: &[PlanRow<'_>]) -> String {
        let mut out = Vec::new();
        write_json(&mut out, rows.iter().copied()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_is_what_serde_json_pretty_prints() {
        let evidence = Evidence {
            event: 1234567890123,
            on: d("2026-02-27"),
            days_late: -3,
        };
        let all_roles = Role::ALL;
        let base = PlanRow {
            key: "KUB/2024:029/checkin/y1-w4",
            partnership: "KUB/2024:029",
            organisation: "Funktionsrätt Värmland",
            committee: "kbn",
            kind: Kind::Checkin,
            parent: None,
            due: d("2026-02-27"),
            status: Status::Upcoming,
            period_start: d("2025-11-29"),
            period_end: d("2026-02-27"),
            roles: &[],
            officer: "anna.lindqvist@example.org",
            meeting: None,
            no_meeting: false,
            evidence: None,
        };
        let mut rows = vec![
            base.clone_with(|_| {}),
            // Every optional field, and every role in one list.
            base.clone_with(|r| {
                r.parent = Some(Kind::CommitteeFollowup);
                r.meeting = Some(d("2026-12-08"));
                r.no_meeting = true;
                r.evidence = Some(&evidence);
                r.roles = &all_roles;
            }),
            // Quotes, backslashes, control characters and DEL in a name.
            base.clone_with(|r| {
                r.organisation = "Förening \"Ö\" \\ a\u{0}b\u{8}\t\n\u{c}\r\u{1f}\u{7f}é";
                r.partnership = "A\"B";
                r.roles = &all_roles[..1];
            }),
            // Years chrono writes in other forms.
            base.clone_with(|r| {
                r.due = d("0099-01-02");
                r.period_end = NaiveDate::from_ymd_opt(12345, 6, 7).unwrap();
                r.period_start = NaiveDate::from_ymd_opt(-4, 6, 7).unwrap();
            }),
        ];
        for (i, (k, s)) in Kind::ALL.iter().zip(Status::ALL.iter().cycle()).enumerate() {
            let (k, s) = (*k, *s);
            rows.push(base.clone_with(|r| {
                r.kind = k;
                r.status = s;
                r.parent = (i % 2 == 0).then_some(k);
            }));
        }
        assert_eq!(write(&rows), serde_json::to_string_pretty(&rows).unwrap());
        assert_eq!(
            write(&rows[..1]),
            serde_json::to_string_pretty(&rows[..1]).unwrap()
        );
        assert_eq!(write(&[]), "[]");
    }

    impl<'a> PlanRow<'a> {
        fn clone_with(&self, f: impl FnOnce(&mut PlanRow<'a>)) -> PlanRow<'a> {
            let mut r = *self;
            f(&mut r);
            r
        }
    }
}
