//! `iopd report`: the compliance report for a period.

use std::io::Write;
use std::path::Path;

use anyhow::{Result, bail};
use chrono::NaiveDate;
use clap::{Args, ValueEnum};

use super::{NowArg, load_config, now_from, open_store};
use crate::calendar::add_months;
use crate::config::Config;
use crate::domain::{CommitteeKey, parse_date};
use crate::report::{self, Format, Scope};

#[derive(Args, Debug)]
pub struct ReportArgs {
    #[command(flatten)]
    pub now: NowArg,
    /// First day of the period (default: one year before --to).
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// Last day of the period (default: today); a later date is cut to
    /// today, and the report says so.
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// Only this committee.
    #[arg(long, value_name = "KEY")]
    pub committee: Option<String>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
    pub format: ReportFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ReportFormat {
    Html,
    Md,
    Csv,
    Json,
}

fn date_arg(name: &str, v: &str) -> Result<NaiveDate> {
    parse_date(v).map_err(|e| anyhow::anyhow!("{name} {v:?}: {}", e.0))
}

/// The period and committee, checked: each problem names its argument.
fn scope(cfg: &Config, today: NaiveDate, args: &ReportArgs) -> Result<Scope> {
    let asked = match &args.to {
        Some(v) => date_arg("--to", v)?,
        None => today,
    };
    let from = match &args.from {
        Some(v) => date_arg("--from", v)?,
        None => add_months(asked, -12) + chrono::Duration::days(1),
    };
    if from > asked {
        bail!("--from {from} ligger efter --to {asked}: perioden måste börja innan den slutar");
    }
    if from > today {
        bail!(
            "--from {from} ligger efter i dag ({today}): rapporten gäller det som redan har hänt"
        );
    }
    // An auditor asks for "2026" in December: the report covers up to today.
    let to = asked.min(today);
    let committee = match &args.committee {
        Some(k) => {
            let key =
                CommitteeKey::parse(k).map_err(|e| anyhow::anyhow!("--committee: {}", e.0))?;
            if !cfg.committees.contains_key(&key) {
                let known: Vec<&str> = cfg.committees.keys().map(|k| k.as_str()).collect();
                bail!(
                    "--committee {key} finns inte i konfigurationen (kända: {})",
                    known.join(", ")
                );
            }
            Some(key)
        }
        None => None,
    };
    Ok(Scope {
        from,
        to,
        asked_to: (asked > to).then_some(asked),
        committee,
    })
}

pub async fn report(config: &Path, args: ReportArgs) -> Result<()> {
    let mut cfg = load_config(config)?;
    let now = now_from(&args.now, &cfg)?;
    let scope = scope(&cfg, now.today, &args)?;
    let store = open_store(&mut cfg, &now).await?;
    let built = report::build(&cfg, &store, &now, &scope).await;
    store.close().await;
    let format = match args.format {
        ReportFormat::Html => Format::Html,
        ReportFormat::Md => Format::Md,
        ReportFormat::Csv => Format::Csv,
        ReportFormat::Json => Format::Json,
    };
    let text = report::render(&built?, format)?;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}
