//! `iopd tick` and `iopd outbox`.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use clap::{Args, ValueEnum};

use super::register::write_table;
use super::{NowArg, TableOrJson, load_config, now_from, open_store};
use crate::delivery;
use crate::mail::transport::Sender;

#[derive(Args, Debug)]
pub struct TickArgs {
    #[command(flatten)]
    pub now: NowArg,
    /// Print what would be sent, to whom and why; send and record nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Evaluate every partnership, not only those that changed or reached
    /// their next check (the mails are the same; it reads the whole register).
    #[arg(long)]
    pub full: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum OutboxStatus {
    Pending,
    Sending,
    Sent,
    Failed,
    Cancelled,
}

impl OutboxStatus {
    fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

#[derive(Args, Debug)]
pub struct OutboxArgs {
    #[arg(long, value_enum)]
    pub status: Option<OutboxStatus>,
    /// At most this many rows, newest first.
    #[arg(long, default_value_t = 200)]
    pub limit: i64,
    #[arg(long, value_enum, default_value_t = TableOrJson::Table)]
    pub format: TableOrJson,
}

pub async fn tick(config: &Path, args: TickArgs) -> Result<()> {
    let mut cfg = load_config(config)?;
    let now = now_from(&args.now, &cfg)?;
    let sender = Sender::from_config(&cfg.mail).map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = open_store(&mut cfg, &now).await?;
    let pass = if args.full {
        delivery::Pass::Full
    } else {
        delivery::Pass::Incremental
    };
    let mut out = std::io::stdout().lock();
    if args.dry_run {
        let report = delivery::enqueue(&cfg, &store, &now, true, pass).await?;
        if let Some(why) = &report.closed_reason {
            writeln!(out, "inga påminnelser nu: {why}")?;
        }
        for p in &report.planned {
            writeln!(
                out,
                "would send {} ({}) of {} due {} to {} ({}){}",
                p.stage,
                p.stage_label,
                p.checkpoint_key,
                p.due,
                p.recipient,
                p.role.name(),
                if p.late { " [late]" } else { "" }
            )?;
        }
        let heads_up = crate::digest::heads_up(&cfg, &store, &now, true).await?;
        for (key, to, subject) in &heads_up.planned {
            writeln!(
                out,
                "would send heads-up {key} to {to} (committee_secretary): {subject}"
            )?;
        }
        let reminders: Vec<_> = report
            .planned
            .iter()
            .filter(|p| p.stage.starts_with('d'))
            .collect();
        let people: std::collections::BTreeSet<_> =
            reminders.iter().map(|p| p.recipient.as_str()).collect();
        writeln!(
            out,
            "dry run: {} reminders in {} mails of the day, {} calendar mails, {} heads-ups would be enqueued, {} checkpoints closed, {} partnerships evaluated; nothing was sent or recorded",
            reminders.len(),
            people.len(),
            report.planned.len() - reminders.len(),
            heads_up.planned.len(),
            report.cancelled_checkpoints,
            report.evaluated
        )?;
        if let Some(line) = crate::outlook::summary(&cfg, &store, &now).await? {
            writeln!(out, "{line}")?;
        }
        store.close().await;
        return Ok(());
    }
    let done = crate::tick::tick(&cfg, &store, &sender, &now, pass, &|| false).await?;
    store.close().await;
    if let Some(why) = &done.report.closed_reason {
        writeln!(out, "inga påminnelser nu: {why}")?;
    }
    writeln!(
        out,
        "tick {}: {} enqueued, {} sent, {} to retry, {} failed, {} could not be built, {} partnerships unreadable; {} partnerships evaluated",
        now.today,
        done.report.enqueued,
        done.sent,
        done.retried,
        done.failed,
        done.report.unrenderable.len(),
        done.report.bad_rows.len(),
        done.report.evaluated
    )?;
    Ok(())
}

pub async fn outbox(config: &Path, args: OutboxArgs) -> Result<()> {
    let mut cfg = load_config(config)?;
    let now = now_from(&NowArg::default(), &cfg)?;
    let store = open_store(&mut cfg, &now).await?;
    let rows = store
        .outbox(args.status.map(OutboxStatus::name), args.limit.max(1))
        .await?;
    store.close().await;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.format {
        TableOrJson::Json => {
            serde_json::to_writer_pretty(&mut out, &rows)?;
            writeln!(out)?;
        }
        TableOrJson::Table => {
            let table: Vec<[String; 7]> = rows
                .iter()
                .map(|r| {
                    [
                        r.id.to_string(),
                        r.status.clone(),
                        r.send_on.to_string(),
                        if r.stage == "bundle" {
                            "dagens mejl".to_string()
                        } else {
                            r.stage.clone() + if r.late { " (sen)" } else { "" }
                        },
                        r.recipient.clone(),
                        r.checkpoint_key.clone(),
                        r.last_error.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            write_table(
                &mut out,
                &[
                    "ID",
                    "STATUS",
                    "DAG",
                    "STEG",
                    "MOTTAGARE",
                    "KONTROLLPUNKT",
                    "FEL",
                ],
                &table,
            )?;
            writeln!(out, "{} rows", rows.len())?;
        }
    }
    out.flush()?;
    Ok(())
}
