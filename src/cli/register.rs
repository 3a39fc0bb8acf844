//! `iopd import`, `iopd partnerships` and `iopd show`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use serde::Serialize;

use super::{NowArg, TableOrJson, load_config, now_from, open_store};
use crate::domain::{Event, Partnership, PartnershipId};
use crate::{import, words};

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The CSV file (UTF-8 or Windows-1252, `;` or `,` separated).
    pub file: PathBuf,
    /// Show what would be added and changed; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub now: NowArg,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[arg(long, value_enum, default_value_t = TableOrJson::Table)]
    pub format: TableOrJson,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The partnership id (e.g. its diarienummer).
    pub id: String,
    #[arg(long, value_enum, default_value_t = TableOrJson::Table)]
    pub format: TableOrJson,
}

pub async fn import(config: &Path, args: ImportArgs) -> Result<()> {
    let mut cfg = load_config(config)?;
    let now = now_from(&args.now, &cfg)?;
    let name = args.file.display().to_string();
    let bytes = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => bail!("{name}: filen kan inte läsas: {e}"),
    };
    let committee_of = import::committees_of(&cfg);
    let by = super::os_user();
    let prepared = match import::prepare(&bytes, &committee_of, now.today, &by, now.instant) {
        Ok(p) => p,
        Err(problems) => {
            let mut msg = format!(
                "{name}: filen togs inte emot, ingenting har importerats ({}):",
                words::count(problems.len(), "problem", "problem")
            );
            for p in problems {
                msg.push_str(&format!("\n{name}: {p}"));
            }
            bail!(msg);
        }
    };
    for note in &prepared.notes {
        eprintln!("{name}: obs: {note}");
    }
    let import::Prepared { rows, history, .. } = prepared;
    let store = open_store(&mut cfg, &now).await?;
    let actor = crate::store::Actor {
        by: by.clone(),
        channel: crate::domain::Channel::Import,
        at: now.instant,
    };
    let plan = if args.dry_run {
        store.plan_import(&rows, &history).await?
    } else {
        store.import(&rows, &history, &actor).await?
    };
    let verb = if args.dry_run {
        "skulle läggas till"
    } else {
        "tillagt"
    };
    let mut out = std::io::stdout().lock();
    for id in &plan.added {
        writeln!(out, "{verb}: {id}")?;
    }
    let verb_c = if args.dry_run {
        "skulle ändras"
    } else {
        "ändrat"
    };
    for (id, cols) in &plan.changed {
        let what: Vec<String> = cols
            .iter()
            .map(|(col, old, new)| format!("{col} {old} → {new}"))
            .collect();
        writeln!(out, "{verb_c}: {id}: {}", what.join("; "))?;
    }
    let verb_h = if args.dry_run {
        "skulle registreras"
    } else {
        "registrerad"
    };
    for e in &plan.history {
        writeln!(
            out,
            "{verb_h}: {}: {} {}",
            e.partnership,
            cfg.guideline.event_label(&e.kind),
            e.on
        )?;
    }
    // "label: number" keeps every count free of Swedish adjective agreement
    // ("1 ändrad" / "2 ändrade").
    let (add, change, record) = if args.dry_run {
        (
            "att lägga till",
            "att ändra",
            "tidigare händelser att registrera",
        )
    } else {
        ("nya", "ändrade", "tidigare händelser registrerade")
    };
    let past = if plan.history.is_empty() {
        String::new()
    } else {
        format!(", {record}: {}", plan.history.len())
    };
    let dry = if args.dry_run {
        " (provkörning: ingenting har skrivits)"
    } else {
        ""
    };
    writeln!(
        out,
        "{name}: {}; {add}: {}, {change}: {}, oförändrade: {}{past}{dry}",
        words::count(rows.len(), "rad", "rader"),
        plan.added.len(),
        plan.changed.len(),
        plan.unchanged,
    )?;
    // What going live brings: for a dry run on SQLite, worked out on a
    // throw-away copy with the import applied.
    let first = if !args.dry_run {
        Some(crate::outlook::first_send(&cfg, &store, &now).await?)
    } else if cfg.database.is_postgres() {
        None
    } else {
        let db = crate::service::lock::sqlite_path(cfg.database.url.expose())
            .unwrap_or_else(|| std::path::PathBuf::from("iopd.db"));
        let mut copy = db.into_os_string();
        copy.push(format!(".dry-run-{}.db", std::process::id()));
        let copy = std::path::PathBuf::from(copy);
        let _ = std::fs::remove_file(&copy);
        store.backup_sqlite(&copy).await?;
        let mut scratch = cfg.clone();
        scratch.database.url = crate::config::Secret::new(format!("sqlite://{}", copy.display()));
        let result = async {
            let s = open_store(&mut scratch, &now).await?;
            s.import(&rows, &history, &actor).await?;
            let line = crate::outlook::first_send(&scratch, &s, &now).await;
            s.close().await;
            anyhow::Ok(line?)
        }
        .await;
        for suffix in ["", "-wal", "-shm"] {
            let mut f = copy.clone().into_os_string();
            f.push(suffix);
            let _ = std::fs::remove_file(f);
        }
        Some(result?)
    };
    match first {
        Some(line) => writeln!(out, "{line}")?,
        None => writeln!(
            out,
            "första utskicket visas efter importen (på PostgreSQL räknas det inte fram i förväg)"
        )?,
    }
    store.close().await;
    Ok(())
}

/// The JSON shape of a partnership (`iopd partnerships --format json`).
#[derive(Serialize)]
struct PartnershipView<'a> {
    id: &'a str,
    organisation: &'a str,
    committee: &'a str,
    officer_name: &'a str,
    officer_email: &'a str,
    deputy_email: Option<&'a str>,
    partner_email: Option<&'a str>,
    start_date: String,
    end_date: Option<String>,
    /// Öre (1/100 SEK), so no rounding is involved.
    annual_amount_ore: Option<i64>,
    checkins_per_year: Option<u32>,
    notice_months: Option<u32>,
    notes: &'a str,
}

impl<'a> From<&'a Partnership> for PartnershipView<'a> {
    fn from(p: &'a Partnership) -> Self {
        Self {
            id: p.id.as_str(),
            organisation: &p.organisation,
            committee: p.committee.as_str(),
            officer_name: &p.officer.name,
            officer_email: p.officer.email.as_str(),
            deputy_email: p.deputy.as_ref().map(|e| e.as_str()),
            partner_email: p.partner_contact.as_ref().map(|e| e.as_str()),
            start_date: p.start.to_string(),
            end_date: p.end.map(|d| d.to_string()),
            annual_amount_ore: p.annual_amount.map(|a| a.ore()),
            checkins_per_year: p.checkins_per_year.map(|c| c.get()),
            notice_months: p.notice_months,
            notes: &p.notes,
        }
    }
}

pub async fn list(config: &Path, args: ListArgs) -> Result<()> {
    let mut cfg = load_config(config)?;
    let now = now_from(&NowArg::default(), &cfg)?;
    let store = open_store(&mut cfg, &now).await?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.format {
        TableOrJson::Json => {
            // Streamed element by element: 100 000 rows never sit in memory.
            let mut first = true;
            let mut failed: Option<std::io::Error> = None;
            out.write_all(b"[")?;
            store
                .each_partnership_row(|p| {
                    if failed.is_some() {
                        return Ok(());
                    }
                    let sep: &[u8] = if first { b"\n  " } else { b",\n  " };
                    first = false;
                    let r = out.write_all(sep).and_then(|()| {
                        serde_json::to_writer(&mut out, &PartnershipView::from(&p))
                            .map_err(Into::into)
                    });
                    if let Err(e) = r {
                        failed = Some(e);
                    }
                    Ok(())
                })
                .await?;
            if let Some(e) = failed {
                return Err(e.into());
            }
            out.write_all(if first { b"]\n" } else { b"\n]\n" })?;
        }
        TableOrJson::Table => {
            let all = store.partnerships().await?;
            let rows: Vec<[String; 6]> = all
                .iter()
                .map(|p| {
                    [
                        p.id.to_string(),
                        p.organisation.clone(),
                        p.committee.to_string(),
                        p.officer.email.to_string(),
                        p.start.to_string(),
                        p.end.map_or("tills vidare".into(), |d| d.to_string()),
                    ]
                })
                .collect();
            write_table(
                &mut out,
                &[
                    "ID",
                    "ORGANISATION",
                    "NÄMND",
                    "HANDLÄGGARE",
                    "START",
                    "SLUT",
                ],
                &rows,
            )?;
            writeln!(
                out,
                "{}",
                words::count(all.len(), "partnerskap", "partnerskap")
            )?;
        }
    }
    store.close().await;
    out.flush()?;
    Ok(())
}

/// Left-aligned columns separated by two spaces.
pub fn write_table<W: Write, const N: usize>(
    out: &mut W,
    header: &[&str; N],
    rows: &[[String; N]],
) -> Result<()> {
    let mut width = header.map(|h| h.chars().count());
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(width).enumerate() {
            if i + 1 == N {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.trim_end().to_string()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for r in rows {
        writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

#[derive(Serialize)]
struct ShowView<'a> {
    #[serde(flatten)]
    partnership: PartnershipView<'a>,
    events: &'a [Event],
    changes: &'a [crate::store::Change],
}

pub async fn show(config: &Path, args: ShowArgs) -> Result<()> {
    let mut cfg = load_config(config)?;
    let now = now_from(&NowArg::default(), &cfg)?;
    let id = PartnershipId::parse(&args.id).map_err(|e| anyhow::anyhow!("{}", e.0))?;
    let store = open_store(&mut cfg, &now).await?;
    let p = store.partnership(&id).await?;
    let events = store.events(&id).await?;
    let changes = store
        .changes(crate::store::Subject::Partnership, id.as_str())
        .await?;
    store.close().await;
    let mut out = std::io::stdout().lock();
    if args.format == TableOrJson::Json {
        serde_json::to_writer_pretty(
            &mut out,
            &ShowView {
                partnership: (&p).into(),
                events: &events,
                changes: &changes,
            },
        )?;
        writeln!(out)?;
        return Ok(());
    }
    let committee = cfg
        .committees
        .get(&p.committee)
        .map_or("finns inte i konfigurationen", |c| c.name.as_str());
    writeln!(out, "{} — {}", p.id, p.organisation)?;
    writeln!(out, "  nämnd:            {} ({committee})", p.committee)?;
    writeln!(
        out,
        "  handläggare:      {} <{}>",
        p.officer.name, p.officer.email
    )?;
    writeln!(
        out,
        "  ersättare:        {}",
        p.deputy.as_ref().map_or("-".into(), |e| e.to_string())
    )?;
    writeln!(
        out,
        "  kontakt hos part: {}",
        p.partner_contact
            .as_ref()
            .map_or("-".into(), |e| e.to_string())
    )?;
    writeln!(out, "  start:            {}", p.start)?;
    writeln!(
        out,
        "  slut:             {}",
        p.end.map_or("tills vidare".into(), |d| d.to_string())
    )?;
    writeln!(
        out,
        "  årligt belopp:    {}",
        p.annual_amount.map_or("-".into(), |a| a.to_string())
    )?;
    writeln!(
        out,
        "  avstämningar/år:  {}",
        p.checkins_per_year
            .map_or("enligt policy".into(), |c| c.get().to_string())
    )?;
    writeln!(
        out,
        "  uppsägningstid:   {}",
        p.notice_months
            .map_or("enligt policy".into(), |n| format!("{n} månader"))
    )?;
    if !p.notes.is_empty() {
        writeln!(out, "  anteckningar:     {}", p.notes)?;
    }
    writeln!(out, "händelser ({}):", events.len())?;
    for e in &events {
        let details = serde_json::to_value(&e.kind)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.as_str() != "kind")
                    .map(|(k, v)| {
                        format!("{k}={}", v.as_str().map_or(v.to_string(), str::to_string))
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        // RULES 15: the checkpoint the event was recorded for.
        let details = match &e.target {
            Some(t) if details.is_empty() => format!("for={t}"),
            Some(t) => format!("{details} for={t}"),
            None => details,
        };
        let recorded = crate::clock::local_minute_of(e.recorded_at, cfg.body.time_zone);
        writeln!(
            out,
            "  #{:<5} {}  {:<41} {}{}  (registrerad {recorded} av {} via {})",
            e.id,
            e.on,
            cfg.guideline.event_label(&e.kind),
            details,
            if e.retracted { "  [ÅNGRAD]" } else { "" },
            e.recorded_by,
            e.channel.name()
        )?;
    }
    // The row's own history: import, workspace and commands alike.
    writeln!(out, "ändringar ({}):", changes.len())?;
    for c in &changes {
        let at = crate::clock::local_minute_of(c.at, cfg.body.time_zone);
        writeln!(
            out,
            "  {at}  {}  (av {} via {})",
            c.describe(),
            c.by,
            c.channel
        )?;
    }
    Ok(())
}
