//! Send: the outbox delivered in batches under leases, what the server
//! accepted marked sent together.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Duration, Utc};

use super::DeliveryError;
use crate::config::Config;
use crate::domain::Email;
use crate::mail;
use crate::store::{Store, again};

/// Backoff after `attempts` transient failures: 1, 2, 4 … minutes, at most an hour.
pub fn backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 7) - 1;
    Duration::minutes((1i64 << exp).min(60))
}

/// Rows claimed at once for each concurrent session: enough that claiming costs little
/// next to sending, few enough that replicas share the work and a shutdown gives back little.
const CLAIM_PER_SESSION: usize = 64;

/// At most one "mark sent" statement this often while sends go on, so each carries many
/// rows (a statement a mail cost more than the send itself on one connection).
const MARK_EVERY: std::time::Duration = std::time::Duration::from_millis(5);

/// Sends what is waiting, in batches, until nothing is left that is due now.
///
/// Each batch is sent over [`Sender::concurrency`](mail::transport::Sender::concurrency)
/// sessions at once (for SMTP, `mail.smtp.pool_size` connections, each kept open across
/// its mails). Rows the server accepted are marked sent together, one statement for all
/// accepted since the last one (at most every [`MARK_EVERY`]), so a crash repeats at most
/// the mails in flight and those accepted in the last few milliseconds, each with its
/// Message-ID.
pub async fn deliver(
    cfg: &Config,
    store: &Store,
    sender: &mail::transport::Sender,
    now: DateTime<Utc>,
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<(u64, u64, u64), DeliveryError> {
    let run = Run {
        cfg,
        store,
        sender,
        now,
        stop,
        give_up: Duration::hours(i64::from(cfg.mail.max_retry_hours)),
        lease: cfg.mail.claim_lease,
        accepted: Mutex::new(Vec::new()),
        wake: tokio::sync::Notify::new(),
        finished: AtomicBool::new(false),
        counts: Mutex::new(Counts::default()),
    };
    let sessions = sender.concurrency().max(1);
    let lease = Duration::from_std(cfg.mail.claim_lease).unwrap_or(Duration::minutes(5));
    let claim = || async {
        if stop() {
            return Ok((Vec::new(), std::time::Instant::now()));
        }
        let rows = again("claiming mails", || {
            store.claim(now, lease, (sessions * CLAIM_PER_SESSION) as i64)
        })
        .await?;
        Ok::<_, DeliveryError>((rows, std::time::Instant::now()))
    };
    let batches = async {
        let result = async {
            let mut next = claim().await?;
            while !next.0.is_empty() {
                let (batch, claimed_at) = next;
                // The next batch is claimed while this one is sent, so the connections do
                // not wait for the database between batches.
                let (sent, claimed) =
                    futures_util::future::join(run.batch(batch, claimed_at, sessions), claim())
                        .await;
                next = match (sent, claimed) {
                    (Ok(()), Ok(next)) => next,
                    (Err(e), Ok((rows, _))) => {
                        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
                        store.release(&ids).await?;
                        return Err(e);
                    }
                    (_, Err(e)) => return Err(e),
                };
            }
            Ok::<_, DeliveryError>(())
        }
        .await;
        run.finished.store(true, Ordering::SeqCst);
        run.wake.notify_one();
        result
    };
    let (sent, marked) = futures_util::future::join(batches, run.mark()).await;
    // What the servers accepted is marked even when a database write above failed.
    let flushed = run.mark_accepted().await;
    // The connections are not needed until the next run.
    sender.close().await;
    sent?;
    marked?;
    flushed?;
    let counts = std::mem::take(&mut *lock(&run.counts));
    Ok((counts.sent, counts.retried, counts.failed))
}

#[derive(Debug, Default)]
struct Counts {
    sent: u64,
    retried: u64,
    failed: u64,
}

/// One delivery run: its settings, and the rows accepted but not yet marked sent.
struct Run<'a> {
    cfg: &'a Config,
    store: &'a Store,
    sender: &'a mail::transport::Sender,
    now: DateTime<Utc>,
    stop: &'a (dyn Fn() -> bool + Sync),
    give_up: Duration,
    lease: std::time::Duration,
    /// Rows whose mail a server accepted, not yet marked sent.
    accepted: Mutex<Vec<i64>>,
    /// Raised for each accepted row and when the batches are done.
    wake: tokio::sync::Notify,
    /// No more rows will be accepted.
    finished: AtomicBool,
    counts: Mutex<Counts>,
}

/// What became of one claimed row.
enum Outcome {
    Sent,
    Retry,
    Failed,
}

impl Run<'_> {
    /// Marks what the servers accepted, all rows accepted since the last statement in one,
    /// until the batches are done: once a mark is written, it waits up to [`MARK_EVERY`] for
    /// more acceptances to join the next.
    async fn mark(&self) -> Result<(), DeliveryError> {
        let mut last = tokio::time::Instant::now();
        loop {
            let finished = self.finished.load(Ordering::SeqCst);
            if self.mark_accepted().await? {
                last = tokio::time::Instant::now();
            } else if finished {
                return Ok(());
            } else {
                self.wake.notified().await;
                // More acceptances for the same statement, unless the batches are done.
                while !self.finished.load(Ordering::SeqCst) {
                    let more = tokio::time::timeout_at(last + MARK_EVERY, self.wake.notified());
                    if more.await.is_err() {
                        break;
                    }
                }
            }
        }
    }

    /// Marks the rows accepted so far; whether there were any.
    async fn mark_accepted(&self) -> Result<bool, DeliveryError> {
        let ids = std::mem::take(&mut *lock(&self.accepted));
        if ids.is_empty() {
            return Ok(false);
        }
        self.store.mark_sent(&ids, self.now).await?;
        lock(&self.counts).sent += ids.len() as u64;
        Ok(true)
    }

    /// Sends one claimed batch over `sessions` sessions; rows not started (shutdown, or
    /// too close to the end of their lease) are given back.
    async fn batch(
        &self,
        batch: Vec<crate::store::Claimed>,
        claimed_at: std::time::Instant,
        sessions: usize,
    ) -> Result<(), DeliveryError> {
        let queue = &Mutex::new(VecDeque::from(batch));
        let workers = (0..sessions).map(|_| self.work(claimed_at, queue));
        futures_util::future::try_join_all(workers).await?;
        let left: Vec<i64> = lock(queue).iter().map(|r| r.id).collect();
        self.store.release(&left).await?;
        Ok(())
    }

    /// One session's share of a batch: takes rows until none is left, the stop flag is up,
    /// or a send started now could outlast the rows' lease (another process may take them
    /// after it: the lease is at least twice the send timeout, so this leaves half of it).
    async fn work(
        &self,
        claimed_at: std::time::Instant,
        queue: &Mutex<VecDeque<crate::store::Claimed>>,
    ) -> Result<(), DeliveryError> {
        let mut session = self.sender.session().await;
        let bound = self.sender.send_timeout();
        loop {
            if (self.stop)() || claimed_at.elapsed() + bound > self.lease {
                return Ok(());
            }
            let Some(row) = lock(queue).pop_front() else {
                return Ok(());
            };
            match self.send(&mut session, &row).await? {
                Outcome::Sent => {
                    lock(&self.accepted).push(row.id);
                    self.wake.notify_one();
                }
                Outcome::Retry => lock(&self.counts).retried += 1,
                Outcome::Failed => lock(&self.counts).failed += 1,
            }
        }
    }

    /// Sends one row; a failure is recorded on it at once (retry with backoff, or failed).
    async fn send(
        &self,
        session: &mut mail::transport::Session<'_>,
        row: &crate::store::Claimed,
    ) -> Result<Outcome, DeliveryError> {
        let to = match Email::parse(&row.envelope_to) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(key = %row.key, recipient = %row.recipient, "refused address: {}", e.0);
                self.store
                    .mark_failed(
                        row.id,
                        row.attempts + 1,
                        &format!("refused address: {}", e.0),
                    )
                    .await?;
                return Ok(Outcome::Failed);
            }
        };
        let stem = format!("{:08}", row.id);
        match session
            .send_raw(&self.cfg.mail.from, &to, &row.message, &stem)
            .await
        {
            Ok(()) => {
                tracing::info!(key = %row.key, recipient = %row.recipient, "mail sent");
                Ok(Outcome::Sent)
            }
            Err(e)
                if e.kind == mail::transport::FailureKind::Transient
                    && self.now - row.created_at < self.give_up =>
            {
                let attempts = row.attempts + 1;
                // A server that said when to come back (Graph's Retry-After) is not asked sooner.
                let wait = e
                    .retry_after
                    .and_then(|d| Duration::from_std(d).ok())
                    .map_or(backoff(attempts), |d| d.max(backoff(attempts)));
                self.store
                    .mark_retry(row.id, attempts, self.now + wait, &e.message)
                    .await?;
                tracing::warn!(key = %row.key, recipient = %row.recipient, attempts, "mail not sent, will retry: {}", e.message);
                Ok(Outcome::Retry)
            }
            Err(e) => {
                self.store
                    .mark_failed(row.id, row.attempts + 1, &e.message)
                    .await?;
                tracing::error!(key = %row.key, recipient = %row.recipient, "mail failed: {}", e.message);
                Ok(Outcome::Failed)
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
