//! One tick: what is due enqueued (with the committees' heads-ups), put
//! into the mails of the day, and delivered; then the tick is logged. The
//! command line and the service both come through here, so a simulated day
//! and a real one do the same work.

use chrono::Duration;

use crate::clock::Now;
use crate::config::Config;
use crate::delivery::{DeliveryError, Pass, TickReport, bundle, deliver, enqueue};
use crate::mail;
use crate::store::{Store, again};

/// What one full tick did (`iopd tick` and the service's tick job).
#[derive(Debug, Default)]
pub struct TickOutcome {
    pub report: TickReport,
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
}

/// One tick: enqueue what is due at `now`, deliver what is waiting, and log
/// the tick. `stop` is polled between mails (a shutdown stops claiming).
/// The command line and the service both come through here, so a simulated
/// day and a real one do the same work.
pub async fn tick(
    cfg: &Config,
    store: &Store,
    sender: &mail::transport::Sender,
    now: &Now,
    pass: Pass,
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<TickOutcome, DeliveryError> {
    // Logged on the (possibly simulated) clock the tick ran on.
    let began = std::time::Instant::now();
    // Each stage is safe to repeat: a concurrent tick may win a deadlock.
    let mut report = again("enqueuing", || enqueue(cfg, store, now, false, pass)).await?;
    report.enqueued += again("enqueuing the heads-ups", || {
        crate::digest::heads_up(cfg, store, now, false)
    })
    .await?
    .enqueued;
    again("making the mails of the day", || bundle(cfg, store, now)).await?;
    let (sent, retried, failed) = deliver(cfg, store, sender, now.instant, stop).await?;
    store
        .record_tick(
            now.instant,
            now.instant + Duration::from_std(began.elapsed()).unwrap_or_default(),
            report.enqueued,
            sent,
            failed,
        )
        .await?;
    Ok(TickOutcome {
        report,
        sent,
        retried,
        failed,
    })
}
