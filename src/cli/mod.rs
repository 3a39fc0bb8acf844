//! The `iopd` command line: each command parses, loads, calls the core,
//! writes and prints. Exit codes: 0 success, 1 refused input or failure,
//! 2 usage error (clap).

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::clock::Now;
use crate::config::Config;
use crate::store::Store;

mod backup;
mod digest;
mod feed;
mod plan;
mod record;
mod register;
mod report;
mod send_test;
mod synth;
mod tick;
mod workspace;

#[derive(Parser, Debug)]
#[command(
    name = "iopd",
    version,
    about = "Påminnelser och uppföljning för idéburet offentligt partnerskap (IOP)"
)]
pub struct Cli {
    /// The configuration file.
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "IOPD_CONFIG",
        value_name = "PATH",
        default_value = "/etc/iopd/iopd.toml"
    )]
    pub config: PathBuf,
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check the configuration without sending anything; lists every problem.
    CheckConfig,
    /// Apply pending database migrations (other commands do this themselves).
    Migrate(NowArg),
    /// Import or update partnerships from a spreadsheet exported as CSV.
    Import(register::ImportArgs),
    /// Record what happened (a meeting held, a report registered, a decision…).
    Record(record::RecordArgs),
    /// List the partnerships in the register.
    Partnerships(register::ListArgs),
    /// Show one partnership with all its fields and its event history.
    Show(register::ShowArgs),
    /// List checkpoints: what is due, overdue, upcoming or done.
    Plan(plan::PlanArgs),
    /// Run as a service: ticks and digests on schedule, health and metrics.
    Run(NowArg),
    /// Enqueue the reminders due now and deliver what is waiting.
    Tick(tick::TickArgs),
    /// The send log.
    Outbox(tick::OutboxArgs),
    /// Send the weekly digest to IOP-ansvarig now (once per ISO week).
    Digest(digest::DigestArgs),
    /// The compliance report for a period: checkpoints, evidence, reminders, silence.
    Report(report::ReportArgs),
    /// A consistent copy of the SQLite database while the service runs.
    Backup(backup::BackupArgs),
    /// The register, every event and the send log as CSV and JSON (archive).
    Export(backup::ExportArgs),
    /// Send one test mail now through the configured transport, showing each step.
    SendTest(send_test::SendTestArgs),
    /// Revoke a person's calendar-feed address (the old one stops working).
    FeedRevoke(feed::FeedRevokeArgs),
    /// Print a one-time sign-in link to the workspace (15 minutes, logged).
    AdminLink(workspace::AdminLinkArgs),
    /// Generate a synthetic register (benchmarks).
    #[command(hide = true)]
    Synth(synth::SynthArgs),
}

#[derive(Args, Debug, Clone, Default)]
pub struct NowArg {
    /// Pretend it is this time (RFC 3339, local `YYYY-MM-DDTHH:MM`, or a date).
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum TableOrJson {
    Table,
    Json,
}

pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::prelude::*;
    let filter =
        || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    // Under systemd, stderr lands in the journal at one priority; talk to
    // journald directly so levels survive.
    if matches!(format, LogFormat::Text)
        && std::env::var_os("JOURNAL_STREAM").is_some()
        && let Ok(journald) = tracing_journald::layer()
    {
        let _ = tracing_subscriber::registry()
            .with(filter())
            .with(journald.with_syslog_identifier("iopd".into()))
            .try_init();
        return;
    }
    let filter = filter();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // No colour codes when stderr is not a terminal (journald, files).
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Runs one command; the caller maps an error to exit code 1.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::CheckConfig => {
            let cfg = load_config(&cli.config)?;
            cfg.check_runtime(&cli.config)?;
            print!("{}", cfg.summary());
            Ok(())
        }
        Command::Migrate(now) => {
            let mut cfg = load_config(&cli.config)?;
            let now = now_from(&now, &cfg)?;
            let store = open_store(&mut cfg, &now).await?;
            println!("database {} is up to date", store.url());
            store.close().await;
            Ok(())
        }
        Command::Import(args) => register::import(&cli.config, args).await,
        Command::Record(args) => record::record(&cli.config, args).await,
        Command::Backup(args) => backup::backup(&cli.config, args).await,
        Command::Export(args) => backup::export(&cli.config, args).await,
        Command::Partnerships(args) => register::list(&cli.config, args).await,
        Command::Show(args) => register::show(&cli.config, args).await,
        Command::Plan(args) => plan::plan(&cli.config, args).await,
        Command::Run(now) => {
            crate::service::run(crate::service::Options {
                config_path: cli.config,
                now: now.now,
            })
            .await
        }
        Command::Tick(args) => tick::tick(&cli.config, args).await,
        Command::Outbox(args) => tick::outbox(&cli.config, args).await,
        Command::Digest(args) => digest::digest(&cli.config, args).await,
        Command::Report(args) => report::report(&cli.config, args).await,
        Command::FeedRevoke(args) => feed::revoke(&cli.config, args).await,
        Command::AdminLink(args) => workspace::admin_link(&cli.config, args).await,
        Command::SendTest(args) => send_test::send_test(&cli.config, args).await,
        Command::Synth(args) => synth::synth(&cli.config, args).await,
    }
}

pub fn load_config(path: &std::path::Path) -> Result<Config> {
    Config::load(path).map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))
}

pub fn now_from(arg: &NowArg, cfg: &Config) -> Result<Now> {
    Now::from_arg(arg.now.as_deref(), cfg.body.time_zone).map_err(anyhow::Error::msg)
}

/// Opens the database and takes the committees' meeting plans kept there
/// into `cfg` (they win over the configuration file's).
pub async fn open_store(cfg: &mut Config, now: &Now) -> Result<Store> {
    let store = Store::open(&cfg.database, now.today)
        .await
        .with_context(|| "the database could not be opened".to_string())?;
    let plans = store
        .committee_plans()
        .await
        .with_context(|| "the committees' meeting plans could not be read".to_string())?;
    crate::store::apply_plans(cfg, &plans);
    Ok(store)
}

/// Who ran the command: the person behind `sudo` first, then the login, then
/// the name of the process's uid (root under cron or systemd has no `USER`).
pub(crate) fn os_user() -> String {
    ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.trim().is_empty())
        .or_else(uid_name)
        .unwrap_or_else(|| "unknown".into())
}

fn uid_name() -> Option<String> {
    let mut buf = vec![0u8; 4096];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r writes only into `pwd` and `buf`, whose sizes are
    // given; `pw_name` points into `buf`, which outlives its use here.
    let rc = unsafe {
        libc::getpwuid_r(
            libc::getuid(),
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated string inside `buf` (see above).
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    name.to_str().ok().map(str::to_string)
}
