//! `iopd backup PATH` and `iopd export DIR`: a consistent copy of the
//! database while the service runs, and the body's archive of the register,
//! every event and the send log as CSV and JSON.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use super::{NowArg, load_config, now_from, open_store};

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// The new database file (must not exist).
    pub path: PathBuf,
    #[command(flatten)]
    pub now: NowArg,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The directory to write into (created; must be empty if it exists).
    pub dir: PathBuf,
    #[command(flatten)]
    pub now: NowArg,
}

pub async fn backup(config: &Path, args: BackupArgs) -> Result<()> {
    let mut cfg = load_config(config)?;
    if cfg.database.is_postgres() {
        bail!(
            "iopd backup copies a SQLite database; for PostgreSQL use pg_dump (see the README, \"Backup and restore\")"
        );
    }
    if args.path.exists() {
        bail!(
            "{} already exists; give a new file name",
            args.path.display()
        );
    }
    let now = now_from(&args.now, &cfg)?;
    let store = open_store(&mut cfg, &now).await?;
    let done = store.backup_sqlite(&args.path).await;
    store.close().await;
    done.with_context(|| format!("cannot write the backup {}", args.path.display()))?;
    let size = std::fs::metadata(&args.path).map(|m| m.len()).unwrap_or(0);
    println!(
        "backup written: {} ({} kB); start a service on a copy of it to restore",
        args.path.display(),
        size / 1024
    );
    Ok(())
}

pub async fn export(config: &Path, args: ExportArgs) -> Result<()> {
    let mut cfg = load_config(config)?;
    let dir = &args.dir;
    if dir.exists() {
        let mut entries =
            std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} is not empty; give a new or empty directory",
                dir.display()
            );
        }
    } else {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let now = now_from(&args.now, &cfg)?;
    let store = open_store(&mut cfg, &now).await?;
    let result = write_export(&store, dir).await;
    store.close().await;
    let (partnerships, events, mails, bad) = result?;
    println!(
        "exported to {}: {partnerships} partnerships, {events} events, {mails} mails in the send log (CSV and JSON)",
        dir.display()
    );
    if !bad.is_empty() {
        for b in &bad {
            eprintln!("not exported (unreadable row): {b}");
        }
        bail!(
            "{} partnerships could not be read and are missing from the export",
            bad.len()
        );
    }
    Ok(())
}

fn csv_writer(dir: &Path, name: &str) -> Result<csv::Writer<std::fs::File>> {
    let path = dir.join(name);
    let file = std::fs::File::create(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    Ok(csv::WriterBuilder::new().delimiter(b';').from_writer(file))
}

fn json_writer(dir: &Path, name: &str) -> Result<std::io::BufWriter<std::fs::File>> {
    let path = dir.join(name);
    let file = std::fs::File::create(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    Ok(std::io::BufWriter::new(file))
}

/// A cell a spreadsheet would run as a formula gets a leading `'`.
fn cell(s: &str) -> String {
    crate::report::csv_safe(s).into_owned()
}

async fn write_export(
    store: &crate::store::Store,
    dir: &Path,
) -> Result<(usize, usize, usize, Vec<String>)> {
    let mut p_csv = csv_writer(dir, "partnerships.csv")?;
    p_csv.write_record([
        "id",
        "organisation",
        "committee",
        "officer_name",
        "officer_email",
        "deputy_email",
        "partner_email",
        "start_date",
        "end_date",
        "annual_amount",
        "checkins_per_year",
        "notice_months",
        "notes",
    ])?;
    let mut e_csv = csv_writer(dir, "events.csv")?;
    e_csv.write_record([
        "id",
        "partnership",
        "on",
        "kind",
        "details",
        "for_checkpoint",
        "recorded_at",
        "recorded_by",
        "channel",
        "retracted",
    ])?;
    let mut p_json = json_writer(dir, "partnerships.json")?;
    let mut e_json = json_writer(dir, "events.json")?;
    let mut partnerships = Vec::new();
    let mut all_events = Vec::new();
    let mut bad = Vec::new();
    store
        .each_partnership(
            |p, events| {
                partnerships.push(p);
                all_events.extend(events);
            },
            |e| bad.push(e.to_string()),
        )
        .await?;
    let opt = |v: Option<String>| v.unwrap_or_default();
    for p in &partnerships {
        p_csv.write_record([
            cell(p.id.as_str()),
            cell(&p.organisation),
            p.committee.to_string(),
            cell(&p.officer.name),
            p.officer.email.to_string(),
            opt(p.deputy.as_ref().map(ToString::to_string)),
            opt(p.partner_contact.as_ref().map(ToString::to_string)),
            p.start.to_string(),
            opt(p.end.map(|d| d.to_string())),
            opt(p.annual_amount.map(|a| a.to_string())),
            opt(p.checkins_per_year.map(|c| c.get().to_string())),
            opt(p.notice_months.map(|n| n.to_string())),
            cell(&p.notes),
        ])?;
    }
    serde_json::to_writer_pretty(&mut p_json, &partnerships)?;
    writeln!(p_json)?;
    all_events.sort_by_key(|e| e.id);
    for e in &all_events {
        let kind = serde_json::to_value(&e.kind)?;
        // Internally tagged: {"kind": "checkin_held", …the details}.
        let (name, details) = match kind {
            serde_json::Value::Object(mut m) => {
                let name = match m.remove("kind") {
                    Some(serde_json::Value::String(k)) => k,
                    _ => String::new(),
                };
                let details = if m.is_empty() {
                    String::new()
                } else {
                    serde_json::Value::Object(m).to_string()
                };
                (name, details)
            }
            serde_json::Value::String(s) => (s, String::new()),
            other => (other.to_string(), String::new()),
        };
        e_csv.write_record([
            e.id.to_string(),
            cell(e.partnership.as_str()),
            e.on.to_string(),
            name,
            cell(&details),
            cell(e.target.as_deref().unwrap_or("")),
            chrono::DateTime::from_timestamp(e.recorded_at, 0)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
            cell(&e.recorded_by),
            e.channel.name().to_string(),
            e.retracted.to_string(),
        ])?;
    }
    serde_json::to_writer_pretty(&mut e_json, &all_events)?;
    writeln!(e_json)?;

    let mails = store.outbox(None, i64::MAX).await?;
    let mut m_csv = csv_writer(dir, "sendlog.csv")?;
    m_csv.write_record([
        "id",
        "key",
        "checkpoint_key",
        "stage",
        "due",
        "recipient",
        "send_on",
        "late",
        "subject",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "sent_at",
        "item",
        "bundle",
    ])?;
    for m in &mails {
        m_csv.write_record([
            m.id.to_string(),
            cell(&m.key),
            cell(&m.checkpoint_key),
            m.stage.clone(),
            m.due.to_string(),
            m.recipient.clone(),
            m.send_on.to_string(),
            m.late.to_string(),
            cell(&m.subject),
            m.status.clone(),
            m.attempts.to_string(),
            cell(m.last_error.as_deref().unwrap_or("")),
            m.created_at.to_rfc3339(),
            m.sent_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            m.item.to_string(),
            cell(m.bundle.as_deref().unwrap_or("")),
        ])?;
    }
    let mut m_json = json_writer(dir, "sendlog.json")?;
    serde_json::to_writer_pretty(&mut m_json, &mails)?;
    writeln!(m_json)?;
    for w in [&mut p_json, &mut e_json, &mut m_json] {
        w.flush()?;
    }
    p_csv.flush()?;
    e_csv.flush()?;
    m_csv.flush()?;
    Ok((partnerships.len(), all_events.len(), mails.len(), bad))
}
