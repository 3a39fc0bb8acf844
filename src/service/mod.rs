//! `iopd run`: the long-running service.
//!
//! - **Waking.** tokio-cron-scheduler fires a UTC job every few seconds; that
//!   only wakes the dispatcher. Which job is due is decided here from
//!   `[schedule]` read in local time and from the `jobs` table (see
//!   [`crate::schedule`]): a slot runs once across DST changes and restarts,
//!   and after downtime only the latest missed slot runs. At start one
//!   catch-up tick runs at once.
//! - **No overlap.** Each job holds a lock while it runs; a wake that finds it
//!   busy skips it.
//! - **Replicas** (PostgreSQL): every process ticks. Work is shared through the
//!   database, not elected: outbox rows are unique per stage and recipient and
//!   inserted with `ON CONFLICT DO NOTHING`, and each process claims rows with
//!   `FOR UPDATE SKIP LOCKED` under a lease (`mail.claim_lease`); the digest
//!   is one outbox row per ISO week and recipient. A process that dies holding
//!   rows leaves them to the others when the lease runs out. A second process
//!   on one SQLite file is refused at start ([`lock`]).
//! - **Failures.** A job that fails (database or mail server down) is retried
//!   with backoff; the service stays up and `/healthz` says what is wrong.
//! - **Signals.** SIGHUP reloads the configuration if it is valid (else the old
//!   one stays and the log says why); SIGTERM/SIGINT stop claiming, let the
//!   mail in flight finish, and exit 0 within 10 s.
//! - **systemd.** READY=1 once the database is open (or the first attempt
//!   failed, so the unit does not time out while the database is down),
//!   WATCHDOG=1 from the dispatcher loop, STOPPING=1 at shutdown.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use metrics_exporter_prometheus::PrometheusHandle;
use sd_notify::NotifyState;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, OnceCell, watch};
use tokio::task::JoinSet;

use crate::clock::Clock;
use crate::config::Config;
use crate::delivery;
use crate::engine::{Kind, Status};
use crate::mail::transport::Sender;
use crate::schedule::{LocalSchedule, Slot};
use crate::store::Store;

pub mod health;
pub mod lock;

/// How often the scheduler wakes the dispatcher (UTC, no time zone involved).
const WAKE: &str = "*/5 * * * * *";
/// Shutdown waits this long for jobs in flight (systemd's default stop timeout is 90 s; the issue asks 10 s).
const DRAIN: Duration = Duration::from_secs(9);

/// State shared by the dispatcher, the jobs and the HTTP handlers.
pub struct Shared {
    pub config: watch::Receiver<Arc<Config>>,
    /// Publishes a new configuration: SIGHUP, and the committees' plans
    /// from the database.
    pub config_tx: watch::Sender<Arc<Config>>,
    /// The plans' version (`Store::plans_version`) the configuration in
    /// force was made from; -1 when it must be read again.
    plans_seen: std::sync::atomic::AtomicI64,
    pub clock: Clock,
    pub store: OnceCell<Store>,
    pub sender: RwLock<Arc<Sender>>,
    pub health: Mutex<HealthState>,
    pub metrics: Option<PrometheusHandle>,
    pub stop: AtomicBool,
}

impl Shared {
    /// The mail sender of the configuration in force.
    fn sender(&self) -> Arc<Sender> {
        self.sender
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

#[derive(Debug, Clone)]
pub struct HealthState {
    pub started: DateTime<Utc>,
    pub last_tick_ok: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// The last tick's error, until a tick succeeds: unhealthy at once.
    pub last_tick_error: Option<String>,
    /// Rows the last tick could not read or mails it could not build.
    pub data_problems: Vec<String>,
    /// What the next send brings, for the next send it was worked out for
    /// and when: a dry run over the register is not repeated at every
    /// five-minute tick of a weekend.
    waiting: Option<(Option<DateTime<Utc>>, Instant, String)>,
    /// (status, kind) pairs last reported, so vanished ones are zeroed.
    checkpoint_series: Vec<(Status, Kind)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobKind {
    Tick,
    Digest,
}

impl JobKind {
    fn name(self) -> &'static str {
        match self {
            JobKind::Tick => "tick",
            JobKind::Digest => "digest",
        }
    }

    fn schedule(self, cfg: &Config) -> &LocalSchedule {
        match self {
            JobKind::Tick => &cfg.schedule.tick,
            JobKind::Digest => &cfg.schedule.digest,
        }
    }
}

struct Job {
    kind: JobKind,
    running: Arc<tokio::sync::Mutex<()>>,
    retry: Arc<Mutex<Retry>>,
    /// Run at the first chance regardless of the slot (catch-up at start).
    catch_up: AtomicBool,
}

#[derive(Default)]
struct Retry {
    failures: u32,
    not_before: Option<DateTime<Utc>>,
}

/// 10 s, 20 s, 40 s … at most 5 minutes.
fn retry_delay(failures: u32) -> chrono::Duration {
    let secs = 10i64 << failures.saturating_sub(1).min(5);
    chrono::Duration::seconds(secs.min(300))
}

pub struct Options {
    pub config_path: PathBuf,
    pub now: Option<String>,
}

pub async fn run(opts: Options) -> Result<()> {
    let started = Instant::now();
    let cfg = crate::cli::load_config(&opts.config_path)?;
    let clock =
        Clock::from_arg(opts.now.as_deref(), cfg.body.time_zone).map_err(anyhow::Error::msg)?;
    let _lock = match (
        cfg.database.is_postgres(),
        lock::sqlite_path(cfg.database.url.expose()),
    ) {
        (false, Some(file)) => Some(lock::acquire(&file).map_err(anyhow::Error::msg)?),
        _ => None,
    };
    let sender = Sender::from_config(&cfg.mail).map_err(|e| anyhow::anyhow!("{e}"))?;
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| tracing::warn!("metrics are off: {e}"))
        .ok();
    let http = match cfg.http.listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (http.listen)"))?,
        ),
        None => None,
    };
    let web = match cfg.web.listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (web.listen)"))?,
        ),
        None => None,
    };
    let (config_tx, config_rx) = watch::channel(Arc::new(cfg));
    let shared = Arc::new(Shared {
        config: config_rx,
        config_tx: config_tx.clone(),
        plans_seen: std::sync::atomic::AtomicI64::new(-1),
        clock,
        store: OnceCell::new(),
        sender: RwLock::new(Arc::new(sender)),
        health: Mutex::new(HealthState {
            started: clock.now().instant,
            last_tick_ok: None,
            last_error: None,
            last_tick_error: None,
            data_problems: Vec::new(),
            waiting: None,
            checkpoint_series: Vec::new(),
        }),
        metrics,
        stop: AtomicBool::new(false),
    });
    let shutdown = Arc::new(Notify::new());
    let mut servers = JoinSet::new();
    if let Some(listener) = http {
        let app = health::router(shared.clone());
        let stop = shutdown.clone();
        tracing::info!(addr = %listener.local_addr()?, "health and metrics listening");
        servers.spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.notified().await })
                .await;
        });
    }

    if let Some(listener) = web {
        let shared = shared.clone();
        let stop = shutdown.clone();
        tracing::info!(addr = %listener.local_addr()?, "pages listening");
        servers.spawn(async move {
            // The pages need the database; the port is bound already, so
            // early visitors wait in the backlog rather than being refused.
            let store = loop {
                if let Some(s) = shared.store.get() {
                    break s.clone();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            let state = crate::web::WebState::new(shared.config_tx.clone(), store, shared.clock);
            let app = crate::web::router(state)
                .into_make_service_with_connect_info::<std::net::SocketAddr>();
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.notified().await })
                .await;
        });
    }

    // Connect; if the database is down, say READY anyway and keep trying.
    let connected = Arc::new(Notify::new());
    match connect_once(&shared).await {
        Ok(()) => connected.notify_one(),
        Err(e) => {
            tracing::error!("{e:#}; retrying in the background");
            servers.spawn(connect_until_up(shared.clone(), connected.clone()));
        }
    }
    let _ = sd_notify::notify(&[NotifyState::Ready]);
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        now = %shared.clock.now().instant,
        "iopd is running"
    );

    let wake = Arc::new(Notify::new());
    let mut scheduler = tokio_cron_scheduler::JobScheduler::new()
        .await
        .context("cannot start the scheduler")?;
    let w = wake.clone();
    scheduler
        .add(
            tokio_cron_scheduler::Job::new_async(WAKE, move |_, _| {
                let w = w.clone();
                Box::pin(async move { w.notify_one() })
            })
            .context("cannot create the wake-up job")?,
        )
        .await
        .context("cannot add the wake-up job")?;
    scheduler
        .start()
        .await
        .context("cannot start the scheduler")?;

    let jobs: Vec<Arc<Job>> = [JobKind::Tick, JobKind::Digest]
        .into_iter()
        .map(|kind| {
            Arc::new(Job {
                kind,
                running: Arc::new(tokio::sync::Mutex::new(())),
                retry: Arc::new(Mutex::new(Retry::default())),
                catch_up: AtomicBool::new(kind == JobKind::Tick),
            })
        })
        .collect();
    let mut tasks = JoinSet::new();
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let watchdog = sd_notify::watchdog_enabled();
    let mut last_ping = Instant::now();
    loop {
        tokio::select! {
            _ = wake.notified() => {}
            _ = connected.notified() => {}
            _ = hup.recv() => {
                reload(&opts.config_path, &shared, &config_tx);
                shared.plans_seen.store(-1, Ordering::SeqCst);
                refresh_plans(&shared).await;
                continue;
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
        if watchdog.is_some_and(|every| last_ping.elapsed() >= every / 3) {
            let _ = sd_notify::notify(&[NotifyState::Watchdog]);
            last_ping = Instant::now();
        }
        while tasks.try_join_next().is_some() {}
        dispatch(&shared, &jobs, &mut tasks).await;
    }

    tracing::info!("stopping: no new mail is claimed; waiting for the mail in flight");
    let _ = sd_notify::notify(&[NotifyState::Stopping]);
    shared.stop.store(true, Ordering::SeqCst);
    let _ = scheduler.shutdown().await;
    let drained =
        tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            "jobs still running after {} s were stopped",
            DRAIN.as_secs()
        );
        tasks.abort_all();
    }
    shutdown.notify_waiters();
    servers.abort_all();
    if let Some(store) = shared.store.get() {
        let _ = tokio::time::timeout(Duration::from_secs(1), store.close()).await;
    }
    tracing::info!("stopped");
    Ok(())
}

async fn connect_once(shared: &Shared) -> Result<()> {
    let cfg = shared.config.borrow().clone();
    let store = Store::open(&cfg.database, shared.clock.now().today)
        .await
        .context("the database could not be opened")?;
    let _ = shared.store.set(store);
    refresh_plans(shared).await;
    Ok(())
}

/// Takes the committees' plans from the database into the configuration in
/// force when they changed (in this process or another one sharing the
/// database) since they were last read. A failure leaves the configuration
/// as it is; the next wake tries again.
async fn refresh_plans(shared: &Shared) {
    let Some(store) = shared.store.get() else {
        return;
    };
    let seen = shared.plans_seen.load(Ordering::SeqCst);
    let read = async {
        if seen >= 0 && store.plans_version().await? == seen {
            return Ok(None);
        }
        crate::store::publish_plans(store, &shared.config_tx)
            .await
            .map(Some)
    };
    match read.await {
        Ok(Some(version)) => {
            shared.plans_seen.store(version, Ordering::SeqCst);
            let cfg = shared.config.borrow().clone();
            let stored: Vec<&str> = cfg
                .committees
                .values()
                .filter(|c| c.plan_stored_since.is_some())
                .map(|c| c.key.as_str())
                .collect();
            if !stored.is_empty() {
                tracing::info!(
                    committees = %stored.join(", "),
                    "meeting plans kept in the database (changed in the workspace) are in force; \
                     the configuration's meetings and submission_days for these committees are not used"
                );
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!("the committees' meeting plans could not be read: {e}"),
    }
}

async fn connect_until_up(shared: Arc<Shared>, connected: Arc<Notify>) {
    let mut failures = 0u32;
    loop {
        failures += 1;
        tokio::time::sleep(
            retry_delay(failures)
                .to_std()
                .unwrap_or(Duration::from_secs(10)),
        )
        .await;
        if shared.stopping() {
            return;
        }
        match connect_once(&shared).await {
            Ok(()) => {
                tracing::info!("database is reachable again");
                connected.notify_one();
                return;
            }
            Err(e) => {
                set_error(&shared, format!("{e:#}"));
                tracing::warn!("{e:#}");
            }
        }
    }
}

fn set_error(shared: &Shared, e: String) {
    shared
        .health
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .last_error = Some(e);
}

/// SIGHUP: a valid file replaces the configuration; a bad one changes nothing.
fn reload(path: &Path, shared: &Shared, tx: &watch::Sender<Arc<Config>>) {
    let new = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(
                "configuration not reloaded; the previous one stays in force:\n{}",
                e.to_string().trim_end()
            );
            return;
        }
    };
    let old = shared.config.borrow().clone();
    for (what, changed) in [
        (
            "database.url",
            old.database.url.expose() != new.database.url.expose(),
        ),
        ("http.listen", old.http.listen != new.http.listen),
        ("web.listen", old.web.listen != new.web.listen),
        ("body.time_zone", old.body.time_zone != new.body.time_zone),
    ] {
        if changed {
            tracing::warn!("{what} changed: it takes effect at the next restart");
        }
    }
    match Sender::from_config(&new.mail) {
        Ok(s) => *shared.sender.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(s),
        Err(e) => {
            tracing::error!("configuration not reloaded; the previous one stays in force: {e}");
            return;
        }
    }
    tx.send_replace(Arc::new(new));
    tracing::info!(path = %path.display(), "configuration reloaded");
}

/// Starts every job whose slot is due and that is not already running.
async fn dispatch(shared: &Arc<Shared>, jobs: &[Arc<Job>], tasks: &mut JoinSet<()>) {
    let Some(store) = shared.store.get().cloned() else {
        return;
    };
    if shared.stopping() {
        return;
    }
    refresh_plans(shared).await;
    let cfg = shared.config.borrow().clone();
    let now = shared.clock.now();
    for job in jobs {
        let Ok(guard) = job.running.clone().try_lock_owned() else {
            continue; // the previous run is still going
        };
        if job
            .retry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .not_before
            .is_some_and(|t| t > now.instant)
        {
            continue;
        }
        let schedule = job.kind.schedule(&cfg);
        let slot = if job.catch_up.swap(false, Ordering::SeqCst) {
            let whole = DateTime::from_timestamp(now.instant.timestamp(), 0).unwrap_or(now.instant);
            Some(schedule.latest(now.instant, now.tz).unwrap_or(Slot {
                local: whole.naive_utc(),
                at: whole,
            }))
        } else {
            match store.job_last_slot(job.kind.name()).await {
                // A new installation starts counting now: last week's digest
                // was never missed, so it is not sent.
                Ok(None) if job.kind != JobKind::Tick => {
                    if let Some(slot) = schedule.latest(now.instant, now.tz)
                        && let Err(e) = store
                            .job_done(job.kind.name(), slot.at, now.instant, 0)
                            .await
                    {
                        failed(shared, job, &now.instant, &e.to_string());
                    }
                    continue;
                }
                Ok(last) => schedule.due(now.instant, now.tz, last),
                Err(e) => {
                    failed(shared, job, &now.instant, &format!("{e}"));
                    continue;
                }
            }
        };
        let Some(slot) = slot else { continue };
        if job.kind == JobKind::Digest && !digest_may_run(&slot, &now) {
            continue; // held for the next working day; the slot stays undone
        }
        if job.kind == JobKind::Digest {
            match store.last_tick_started().await {
                Ok(last) if digest_waits_for_tick(&cfg, &now, last) => continue,
                Ok(_) => {}
                Err(e) => {
                    failed(shared, job, &now.instant, &e.to_string());
                    continue;
                }
            }
        }
        tracing::debug!(job = job.kind.name(), slot = %slot.local, "job due");
        let (shared, job, store, cfg) = (shared.clone(), job.clone(), store.clone(), cfg.clone());
        tasks.spawn(async move {
            let _guard = guard;
            let began = Instant::now();
            let now = shared.clock.now();
            let result = match job.kind {
                JobKind::Tick => run_tick(&shared, &cfg, &store, &now).await,
                JobKind::Digest => run_digest(&shared, &cfg, &store, &now).await,
            };
            let ms = began.elapsed().as_millis() as i64;
            give_back_memory();
            match result {
                Ok(()) => {
                    if let Err(e) = store
                        .job_done(job.kind.name(), slot.at, now.instant, ms)
                        .await
                    {
                        failed(&shared, &job, &now.instant, &e.to_string());
                        return;
                    }
                    *job.retry.lock().unwrap_or_else(|p| p.into_inner()) = Retry::default();
                    tracing::debug!(job = job.kind.name(), slot = %slot.local, ms, "job done");
                }
                Err(e) => failed(&shared, &job, &now.instant, &format!("{e:#}")),
            }
        });
    }
    poll_delivery(shared, jobs, tasks, &store, &cfg);
}

/// Between ticks, mail that another replica enqueued (or that came due for a
/// retry) is claimed and sent within one wake-up, not at the next tick. It
/// runs under the tick's lock, so one process never delivers twice at once.
fn poll_delivery(
    shared: &Arc<Shared>,
    jobs: &[Arc<Job>],
    tasks: &mut JoinSet<()>,
    store: &Store,
    cfg: &Arc<Config>,
) {
    if !cfg.mail.enabled {
        return;
    }
    let Some(tick) = jobs.iter().find(|j| j.kind == JobKind::Tick) else {
        return;
    };
    let Ok(guard) = tick.running.clone().try_lock_owned() else {
        return;
    };
    let (shared, store, cfg) = (shared.clone(), store.clone(), cfg.clone());
    tasks.spawn(async move {
        let _guard = guard;
        let now = shared.clock.now();
        let sender = shared.sender();
        let stop = || shared.stopping();
        match delivery::deliver(&cfg, &store, &sender, now.instant, &stop).await {
            Ok((sent, retried, failed)) => {
                metrics::counter!("iopd_mails_sent_total").increment(sent);
                metrics::counter!("iopd_mails_failed_total").increment(failed);
                metrics::counter!("iopd_mails_retried_total").increment(retried);
                if sent + retried + failed > 0 {
                    tracing::info!(sent, retried, failed, "delivered between ticks");
                }
            }
            Err(e) => tracing::warn!("delivery between ticks failed: {e}"),
        }
    });
}

/// The digest goes out on working days only: a slot on a holiday (Easter
/// Monday) is held until the same time on the next working day.
fn digest_may_run(slot: &Slot, now: &crate::clock::Now) -> bool {
    let local = now.instant.with_timezone(&now.tz).naive_local();
    crate::calendar::is_working_day(now.today)
        && (now.today == slot.local.date() || local.time() >= slot.local.time())
}

/// The longest a digest waits for the day's first tick in the sending window
/// (a tick that keeps failing must not hold the digest, which says so).
const DIGEST_WAITS_AT_MOST: chrono::Duration = chrono::Duration::hours(1);

/// The tick runs first: on a day reminders go out, the digest waits until a
/// tick has started at or after `mail.send_at` and completed, so it reports
/// what that tick sent. Run at 07:00 before an 08:00 send, a new
/// installation's first digest said "ingen påminnelse skickad" minutes
/// before its reminders went out.
fn digest_waits_for_tick(
    cfg: &Config,
    now: &crate::clock::Now,
    last_tick_started: Option<DateTime<Utc>>,
) -> bool {
    let today = now.today;
    if !cfg.mail.enabled
        || !crate::calendar::is_working_day(today)
        || crate::ladder::in_quiet(today, &cfg.reminders.quiet)
    {
        return false; // no reminders today: nothing to wait for
    }
    let send = crate::calendar::local_to_utc(today, cfg.mail.send_at, now.tz);
    let ticked = last_tick_started.is_some_and(|t| t >= send);
    !ticked && now.instant < send + DIGEST_WAITS_AT_MOST
}

/// A tick touches every partnership and then the service idles for minutes:
/// hand the freed heap back to the system instead of keeping its high-water
/// mark (glibc keeps freed memory in its per-thread arenas).
fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of the allocator's own heap.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn failed(shared: &Shared, job: &Job, now: &DateTime<Utc>, error: &str) {
    let mut r = job.retry.lock().unwrap_or_else(|p| p.into_inner());
    r.failures += 1;
    let delay = retry_delay(r.failures);
    r.not_before = Some(*now + delay);
    tracing::error!(
        job = job.kind.name(),
        failures = r.failures,
        retry_in_s = delay.num_seconds(),
        "job failed: {error}"
    );
    drop(r);
    set_error(shared, format!("{}: {error}", job.kind.name()));
    if job.kind == JobKind::Tick {
        metrics::counter!("iopd_tick_failures_total").increment(1);
        shared
            .health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last_tick_error = Some(error.to_string());
    }
}

/// The weekly digest; once per ISO week whoever runs it (outbox key).
async fn run_digest(
    shared: &Shared,
    cfg: &Config,
    store: &Store,
    now: &crate::clock::Now,
) -> Result<()> {
    let sender = shared.sender();
    let opts = crate::digest::Options {
        to: None,
        dry_run: false,
    };
    let stop = || shared.stopping();
    let done = crate::digest::weekly(cfg, store, &sender, now, &opts, &stop).await?;
    metrics::counter!("iopd_mails_sent_total").increment(done.sent);
    tracing::info!(
        week = %done.week,
        enqueued = done.enqueued,
        sent = done.sent,
        already_sent = done.already_sent,
        "digest"
    );
    Ok(())
}

async fn run_tick(
    shared: &Shared,
    cfg: &Config,
    store: &Store,
    now: &crate::clock::Now,
) -> Result<()> {
    let sender = shared.sender();
    let began = Instant::now();
    let stop = || shared.stopping();
    let done =
        crate::tick::tick(cfg, store, &sender, now, delivery::Pass::Incremental, &stop).await?;
    let secs = began.elapsed().as_secs_f64();
    metrics::counter!("iopd_mails_sent_total").increment(done.sent);
    metrics::counter!("iopd_mails_failed_total").increment(done.failed);
    metrics::counter!("iopd_mails_retried_total").increment(done.retried);
    metrics::counter!("iopd_mails_enqueued_total").increment(done.report.enqueued);
    metrics::gauge!("iopd_tick_duration_seconds").set(secs);
    metrics::gauge!("iopd_last_successful_tick_timestamp_seconds")
        .set(now.instant.timestamp() as f64);
    {
        let mut h = shared.health.lock().unwrap_or_else(|p| p.into_inner());
        for (status, kind) in &h.checkpoint_series {
            if !done.report.checkpoints.contains_key(&(*status, *kind)) {
                metrics::gauge!("iopd_checkpoints", "status" => status.name(), "kind" => kind.name())
                    .set(0.0);
            }
        }
        for ((status, kind), n) in &done.report.checkpoints {
            metrics::gauge!("iopd_checkpoints", "status" => status.name(), "kind" => kind.name())
                .set(*n as f64);
        }
        h.checkpoint_series = done.report.checkpoints.keys().copied().collect();
        h.last_tick_ok = Some(now.instant);
        h.last_error = None;
        h.last_tick_error = None;
        h.data_problems = done
            .report
            .bad_rows
            .iter()
            .chain(&done.report.unrenderable)
            .cloned()
            .collect();
    }
    tracing::info!(
        enqueued = done.report.enqueued,
        sent = done.sent,
        retried = done.retried,
        failed = done.failed,
        evaluated = done.report.evaluated,
        ms = (secs * 1000.0) as u64,
        "tick"
    );
    // Outside the sending window: other mail (a digest, a retry) may have
    // gone out, but no reminder could, so say when they will.
    if done.report.closed_reason.is_some() {
        say_what_comes(shared, cfg, store, now).await;
    }
    Ok(())
}

/// Logs, once per tick outside the sending window, why and when the next send is.
async fn say_what_comes(shared: &Shared, cfg: &Config, store: &Store, now: &crate::clock::Now) {
    let Some(reason) = crate::outlook::closed_sv(cfg, now) else {
        return;
    };
    let next = crate::outlook::next_send(cfg, now);
    let cached = {
        let h = shared.health.lock().unwrap_or_else(|p| p.into_inner());
        h.waiting
            .as_ref()
            .filter(|(n, at, _)| *n == next && at.elapsed() < Duration::from_secs(3600))
            .map(|(_, _, w)| w.clone())
    };
    let waiting = match cached {
        Some(w) => w,
        None => match crate::outlook::waiting(cfg, store, now).await {
            Ok(w) => {
                let mut h = shared.health.lock().unwrap_or_else(|p| p.into_inner());
                h.waiting = Some((next, Instant::now(), w.clone()));
                w
            }
            Err(e) => {
                tracing::warn!("cannot work out the next send: {e}");
                return;
            }
        },
    };
    tracing::info!("{}", crate::outlook::line(&reason, next, now.tz, &waiting));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Now;

    fn now(local: &str) -> Now {
        Now::from_arg(Some(local), chrono_tz::Europe::Stockholm).unwrap()
    }

    fn monday_slot(date: &str) -> Slot {
        let n = now(&format!("{date}T07:00"));
        Slot {
            local: n.instant.with_timezone(&n.tz).naive_local(),
            at: n.instant,
        }
    }

    #[test]
    fn a_digest_on_a_holiday_waits_for_the_same_time_next_working_day() {
        // 2027-03-29 is Easter Monday.
        let easter = monday_slot("2027-03-29");
        assert!(!digest_may_run(&easter, &now("2027-03-29T07:00")));
        assert!(!digest_may_run(&easter, &now("2027-03-29T15:00")));
        assert!(!digest_may_run(&easter, &now("2027-03-30T06:59")));
        assert!(digest_may_run(&easter, &now("2027-03-30T07:00")));
        // An ordinary Monday runs at its slot.
        let ordinary = monday_slot("2027-04-05");
        assert!(digest_may_run(&ordinary, &now("2027-04-05T07:00")));
        // Saturday is no working day either.
        assert!(!digest_may_run(&ordinary, &now("2027-04-10T08:00")));
    }

    fn cfg() -> Config {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/iopd.example.toml");
        Config::load_with_env(&path, false).unwrap()
    }

    #[test]
    fn the_digest_waits_for_the_first_tick_at_or_after_send_at() {
        let cfg = cfg(); // send_at 08:00
        let at = |s: &str| now(s).instant;
        // Monday 2027-04-05, digest slot 07:00: reminders go at 08:00.
        assert!(digest_waits_for_tick(&cfg, &now("2027-04-05T07:00"), None));
        // A tick at 07:00 sent nothing: still waiting.
        let early = Some(at("2027-04-05T07:00"));
        assert!(digest_waits_for_tick(&cfg, &now("2027-04-05T07:59"), early));
        assert!(digest_waits_for_tick(&cfg, &now("2027-04-05T08:00"), early));
        // The 08:00 tick has completed: the digest goes.
        let sent = Some(at("2027-04-05T08:00"));
        assert!(!digest_waits_for_tick(&cfg, &now("2027-04-05T08:00"), sent));
        // A tick that keeps failing holds it one hour at most.
        assert!(digest_waits_for_tick(&cfg, &now("2027-04-05T08:59"), early));
        assert!(!digest_waits_for_tick(
            &cfg,
            &now("2027-04-05T09:00"),
            early
        ));
        // No reminders on Easter Monday (a held digest's next day waits
        // again) nor with mail off: nothing to wait for.
        assert!(!digest_waits_for_tick(&cfg, &now("2027-03-29T07:00"), None));
        let mut off = cfg.clone();
        off.mail.enabled = false;
        assert!(!digest_waits_for_tick(&off, &now("2027-04-05T07:00"), None));
    }
}
