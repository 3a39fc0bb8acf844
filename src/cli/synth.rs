//! `iopd synth` (hidden): fills the configured database, or writes a CSV,
//! with a seeded synthetic register for benchmarks.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

use super::{NowArg, load_config, now_from, open_store};
use crate::domain::{Channel, CommitteeKey};
use crate::synth;

#[derive(Args, Debug)]
pub struct SynthArgs {
    /// How many partnerships.
    #[arg(long, default_value_t = 1000)]
    pub partnerships: usize,
    /// Events per partnership.
    #[arg(long, default_value_t = 20)]
    pub events_per_partnership: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the partnerships as an import CSV here instead of into the database.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    #[command(flatten)]
    pub now: NowArg,
}

pub async fn synth(config: &Path, args: SynthArgs) -> Result<()> {
    let mut cfg = load_config(config)?;
    let now = now_from(&args.now, &cfg)?;
    let committees: Vec<CommitteeKey> = cfg.committees.keys().cloned().collect();
    let data = synth::generate(
        args.partnerships,
        args.events_per_partnership,
        &committees,
        args.seed,
        now.today,
    );
    if let Some(path) = args.csv {
        std::fs::write(&path, synth::to_csv(&data.partnerships))
            .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", path.display()))?;
        println!(
            "{}: {} partnerships",
            path.display(),
            data.partnerships.len()
        );
        return Ok(());
    }
    let store = open_store(&mut cfg, &now).await?;
    let actor = crate::store::Actor {
        by: super::os_user(),
        channel: crate::domain::Channel::Cli,
        at: now.instant,
    };
    store.import(&data.partnerships, &[], &actor).await?;
    let events: Vec<_> = data
        .events
        .into_iter()
        .map(|e| (e.partnership, e.on, e.kind))
        .collect();
    store
        .append_events(&events, "synth", Channel::Import, now.instant)
        .await?;
    store.close().await;
    println!(
        "{} partnerships and {} events written to {}",
        data.partnerships.len(),
        events.len(),
        store.url()
    );
    Ok(())
}
