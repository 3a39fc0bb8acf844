//! `iopd digest`: the weekly digest, by hand.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use clap::Args;

use super::{NowArg, load_config, now_from, open_store};
use crate::digest::{self, Options};
use crate::domain::Email;
use crate::mail::transport::Sender;

#[derive(Args, Debug)]
pub struct DigestArgs {
    #[command(flatten)]
    pub now: NowArg,
    /// Send a copy to this address only (not to IOP-ansvarig, no officer lists).
    #[arg(long, value_name = "ADDRESS")]
    pub to: Option<String>,
    /// Print the digest and who would get it; send and record nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn digest(config: &Path, args: DigestArgs) -> Result<()> {
    let mut cfg = load_config(config)?;
    let now = now_from(&args.now, &cfg)?;
    let to = match &args.to {
        Some(s) => Some(Email::parse(s).map_err(|e| anyhow::anyhow!("--to: {}", e.0))?),
        None => None,
    };
    let sender = Sender::from_config(&cfg.mail).map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = open_store(&mut cfg, &now).await?;
    let opts = Options {
        to,
        dry_run: args.dry_run,
    };
    let out = digest::weekly(&cfg, &store, &sender, &now, &opts, &|| false).await;
    store.close().await;
    let out = out?;
    let mut w = std::io::stdout().lock();
    let to: Vec<String> = out.recipients.iter().map(|e| e.to_string()).collect();
    if let Some(why) = &out.closed_reason {
        writeln!(w, "no digest enqueued: {why}")?;
        return Ok(());
    }
    if args.dry_run {
        if let Some(r) = &out.preview {
            writeln!(w, "Subject: {}\n\n{}", r.subject, r.text.trim_end())?;
        }
        writeln!(
            w,
            "\ndry run: digest {} would go to {}{}; nothing was sent or recorded",
            out.week,
            to.join(", "),
            if out.already_sent {
                " (it has already been sent this week)"
            } else {
                ""
            }
        )?;
        return Ok(());
    }
    if out.already_sent && out.enqueued == 0 {
        writeln!(
            w,
            "digest {} was already sent to {}: nothing new",
            out.week,
            to.join(", ")
        )?;
    }
    writeln!(
        w,
        "digest {} to {}: {} enqueued ({} officer lists), {} sent, {} to retry, {} failed",
        out.week,
        to.join(", "),
        out.enqueued,
        out.officer_lists,
        out.sent,
        out.retried,
        out.failed
    )?;
    Ok(())
}
