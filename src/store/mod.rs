//! The database: SQLite (embedded default) or PostgreSQL, behind one type.
//!
//! sqlx's `Any` driver cannot carry dates or timestamps, so there are two
//! concrete pools and the `with_pool!` macro compiles each query body once per
//! backend; the SQL text is shared (SQLite accepts `$1` placeholders). Dates
//! are `DATE` / `YYYY-MM-DD` text; instants are `timestamptz` on PostgreSQL and
//! unix seconds on SQLite (see `Backend`).

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Postgres, Row, Sqlite};

use crate::config;
use crate::domain::{
    Amount, Channel, CheckinsPerYear, CommitteeKey, Email, Event, EventKind, Partnership,
    PartnershipId, Person, apply_retractions,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("cannot migrate the database {url}: {source}")]
    Migrate {
        url: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("the database holds a bad value in {table} {id}, column {column}: {problem}")]
    BadRow {
        table: &'static str,
        id: String,
        column: &'static str,
        problem: String,
    },
    #[error("partnerskapet {0} finns inte i registret (se `iopd partnerships`)")]
    UnknownPartnership(PartnershipId),
    #[error("{0}")]
    Refused(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// A failure the same work may not meet again: PostgreSQL aborting one side
    /// of a deadlock or a serialization conflict between concurrent ticks,
    /// SQLite still busy after its timeout, or a connection lost.
    pub fn is_transient(&self) -> bool {
        let StoreError::Sql(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::Database(d) => matches!(
                d.code().as_deref(),
                Some("40P01" | "40001" | "5" | "6" | "261" | "262" | "517")
            ),
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
            _ => false,
        }
    }
}

/// Errors that can say whether trying again may help.
pub trait Transient {
    fn is_transient(&self) -> bool;
}

impl Transient for StoreError {
    fn is_transient(&self) -> bool {
        StoreError::is_transient(self)
    }
}

/// How many times [`again`] runs a step in all.
const TRANSIENT_TRIES: u32 = 6;

/// Runs `step` again after a transient database failure (50 ms, then twice as
/// long each time, about 1.5 s in all); only for steps whose transaction was
/// rolled back whole or that are safe to repeat.
pub async fn again<T, E, F, Fut>(what: &str, mut step: F) -> Result<T, E>
where
    E: Transient + std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut pause = Duration::from_millis(50);
    for _ in 1..TRANSIENT_TRIES {
        match step().await {
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, "{what}: the database refused for a passing reason; trying again");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            done => return done,
        }
    }
    step().await
}

macro_rules! partnership_columns {
    () => {
        "id, organisation, committee, officer_name, officer_email, deputy_email, partner_email, \
         start_date, end_date, annual_amount_ore, checkins_per_year, notice_months, notes"
    };
}

macro_rules! event_columns {
    () => {
        "id, partnership_id, kind, occurred_on, data, recorded_at, recorded_by, channel, \
         checkpoint_key"
    };
}

/// Every partnership with its events as a JSON array of
/// `[id, occurred_on, data, recorded_at (unix s), recorded_by, channel, checkpoint_key]`.
const SQLITE_REGISTER_WITH_HISTORY: &str = concat!(
    "SELECT ",
    partnership_columns!(),
    ", (SELECT json_group_array(json_array(e.id, e.occurred_on, json(e.data), e.recorded_at, \
     e.recorded_by, e.channel, e.checkpoint_key)) FROM (SELECT * FROM events WHERE partnership_id = p.id ORDER BY id) e) \
     AS history FROM partnerships p ORDER BY id"
);

/// How each backend stores an instant.
pub trait Backend: sqlx::Database {
    type Instant;
    fn instant(t: DateTime<Utc>) -> Self::Instant;
    fn from_instant(v: Self::Instant) -> DateTime<Utc>;
    /// How a write transaction starts.
    const BEGIN_WRITE: &'static str;
    /// What makes writers of `overview_counts` take turns inside their
    /// transactions (SQLite's `BEGIN IMMEDIATE` already does).
    const OVERVIEW_TURN: Option<&'static str>;
}

impl Backend for Sqlite {
    type Instant = i64;
    // Take the write lock at BEGIN: a deferred transaction that upgrades later
    // fails at once with "database is locked" instead of waiting.
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const OVERVIEW_TURN: Option<&'static str> = None;
    fn instant(t: DateTime<Utc>) -> i64 {
        t.timestamp()
    }
    fn from_instant(v: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(v, 0).unwrap_or_default()
    }
}

impl Backend for Postgres {
    type Instant = DateTime<Utc>;
    const BEGIN_WRITE: &'static str = "BEGIN";
    // Without it, two ticks each delete the counts they see and then insert
    // theirs over the other's (a duplicate key).
    const OVERVIEW_TURN: Option<&'static str> =
        Some("LOCK TABLE overview_counts IN SHARE ROW EXCLUSIVE MODE");
    fn instant(t: DateTime<Utc>) -> DateTime<Utc> {
        t
    }
    fn from_instant(v: DateTime<Utc>) -> DateTime<Utc> {
        v
    }
}

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool and `$B` to its backend.
/// The insert of one event (`NewEvent`), the same for `record` and the
/// import's history; returns its id.
macro_rules! insert_event {
    ($B:ty, $e:expr) => {{
        let e: &NewEvent = $e;
        serde_json::to_string(&e.kind)
            .map_err(|err| StoreError::Refused(err.to_string()))
            .map(|data| {
                sqlx::query_scalar::<_, i64>(
                    "INSERT INTO events (partnership_id, kind, occurred_on, data, recorded_at, recorded_by, channel, \
                     checkpoint_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                )
                .bind(e.partnership.as_str())
                .bind(e.kind.name())
                .bind(e.on)
                .bind(data)
                .bind(<$B as Backend>::instant(e.recorded_at))
                .bind(e.recorded_by.as_str())
                .bind(e.channel.name())
                .bind(e.target.as_deref())
            })
    }};
}

macro_rules! with_pool {
    ($store:expr, |$pool:ident, $B:ident| $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($pool) => {
                #[allow(dead_code)]
                type $B = Sqlite;
                $body
            }
            Pool::Pg($pool) => {
                #[allow(dead_code)]
                type $B = Postgres;
                $body
            }
        }
    };
}

/// Migrations applied so far; 0 before the first (the table does not exist yet).
macro_rules! applied_count {
    ($pool:expr) => {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one($pool)
            .await
            .map_or(0, |n| n as usize)
    };
}

/// One partnership by id through any executor (pool or transaction).
macro_rules! load_partnership {
    ($exec:expr, $id:expr) => {{
        let row = sqlx::query(concat!(
            "SELECT ",
            partnership_columns!(),
            " FROM partnerships WHERE id = $1"
        ))
        .bind($id.as_str())
        .fetch_optional($exec)
        .await?;
        match row {
            Some(r) => partnership_from_row(&r),
            None => Err(StoreError::UnknownPartnership($id.clone())),
        }
    }};
}

/// One partnership's history, oldest first, retractions applied.
macro_rules! load_events {
    ($exec:expr, $B:ty, $id:expr) => {{
        let rows = sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE partnership_id = $1 ORDER BY id"
        ))
        .bind($id.as_str())
        .fetch_all($exec)
        .await?;
        let mut events = rows
            .iter()
            .map(|r| event_from_row::<$B, _>(r, $id))
            .collect::<Result<Vec<_>>>()?;
        apply_retractions(&mut events);
        events
    }};
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    url: String,
}

/// What an import changed (or would change, with `--dry-run`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportPlan {
    pub added: Vec<PartnershipId>,
    /// Each changed partnership with its changed fields.
    pub changed: Vec<(PartnershipId, Vec<FieldChange>)>,
    pub unchanged: usize,
    /// History from the spreadsheet not yet recorded (recorded by the import).
    pub history: Vec<NewEvent>,
}

/// An event about to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub partnership: PartnershipId,
    pub on: NaiveDate,
    pub kind: EventKind,
    pub recorded_at: DateTime<Utc>,
    pub recorded_by: String,
    pub channel: Channel,
    /// The checkpoint key it is for (RULES 15).
    pub target: Option<String>,
}

impl Store {
    /// Connects and applies pending migrations. On a new database, `today`
    /// is stored as its creation date (the default `tracking_start`).
    pub async fn open(db: &config::Database, today: NaiveDate) -> Result<Store> {
        let url = db.url.expose();
        let shown = db.redacted_url();
        let connect = |source| StoreError::Connect {
            url: shown.clone(),
            source,
        };
        let pool = if db.is_postgres() {
            let mut opts = PgConnectOptions::from_str(url).map_err(connect)?;
            if let Some(p) = &db.password {
                opts = opts.password(p.expose());
            }
            let pool = PgPoolOptions::new()
                .max_connections(db.max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await
                .map_err(connect)?;
            Pool::Pg(pool)
        } else {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(connect)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(db.max_connections)
                .connect_with(opts)
                .await
                .map_err(connect)?;
            Pool::Sqlite(pool)
        };
        let store = Store { pool, url: shown };
        store.migrate().await?;
        store.init_meta(today).await?;
        Ok(store)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.pool, Pool::Pg(_))
    }

    /// Applies pending migrations; returns how many were applied.
    pub async fn migrate(&self) -> Result<usize> {
        let url = self.url.clone();
        let err = |source| StoreError::Migrate {
            url: url.clone(),
            source,
        };
        match &self.pool {
            Pool::Sqlite(p) => {
                let m = sqlx::migrate!("migrations/sqlite");
                let before = applied_count!(p);
                m.run(p).await.map_err(err)?;
                Ok(applied_count!(p).saturating_sub(before))
            }
            Pool::Pg(p) => {
                let m = sqlx::migrate!("migrations/postgres");
                let before = applied_count!(p);
                m.run(p).await.map_err(err)?;
                Ok(applied_count!(p).saturating_sub(before))
            }
        }
    }

    async fn init_meta(&self, today: NaiveDate) -> Result<()> {
        with_pool!(self, |pool, B| {
            sqlx::query("INSERT INTO meta (key, value) VALUES ('created_on', $1) ON CONFLICT (key) DO NOTHING")
                .bind(today.to_string())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The date the database was created: the default `tracking_start`.
    pub async fn created_on(&self) -> Result<NaiveDate> {
        let v: Option<String> = with_pool!(self, |pool, B| {
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'created_on'")
                .fetch_optional(pool)
                .await?
        });
        let v = v.unwrap_or_default();
        NaiveDate::parse_from_str(&v, "%Y-%m-%d").map_err(|_| StoreError::BadRow {
            table: "meta",
            id: "created_on".into(),
            column: "value",
            problem: format!("{v:?} is not a date"),
        })
    }

    /// A consistent copy of a SQLite database in a new file, taken in one
    /// read transaction (`VACUUM INTO`), so the service can go on meanwhile.
    pub async fn backup_sqlite(&self, path: &std::path::Path) -> Result<()> {
        match &self.pool {
            Pool::Sqlite(pool) => {
                sqlx::query("VACUUM INTO $1")
                    .bind(path.display().to_string())
                    .execute(pool)
                    .await?;
                Ok(())
            }
            Pool::Pg(_) => Err(StoreError::Refused(
                "a PostgreSQL database is copied with pg_dump".into(),
            )),
        }
    }

    /// Closes the pool, waiting at most 5 s: a close that never returns must
    /// not keep a finished command running.
    pub async fn close(&self) {
        let closed = with_pool!(self, |pool, B| {
            tokio::time::timeout(std::time::Duration::from_secs(5), pool.close()).await
        });
        if closed.is_err() {
            tracing::warn!("the database pool did not close within 5 s; exiting anyway");
        }
    }

    // ------------------------------------------------------------ partnerships

    pub async fn partnerships(&self) -> Result<Vec<Partnership>> {
        with_pool!(self, |pool, B| {
            let rows = sqlx::query(concat!(
                "SELECT ",
                partnership_columns!(),
                " FROM partnerships ORDER BY id"
            ))
            .fetch_all(pool)
            .await?;
            rows.iter().map(partnership_from_row).collect()
        })
    }

    /// Calls `f` with every partnership, ordered by id, without holding them all.
    pub async fn each_partnership_row(
        &self,
        mut f: impl FnMut(Partnership) -> Result<()>,
    ) -> Result<()> {
        use futures_util::TryStreamExt;
        with_pool!(self, |pool, B| {
            let mut rows = sqlx::query(concat!(
                "SELECT ",
                partnership_columns!(),
                " FROM partnerships ORDER BY id"
            ))
            .fetch(pool);
            while let Some(row) = rows.try_next().await? {
                f(partnership_from_row(&row)?)?;
            }
        });
        Ok(())
    }

    pub async fn partnership(&self, id: &PartnershipId) -> Result<Partnership> {
        with_pool!(self, |pool, B| load_partnership!(pool, id))
    }

    /// Compares `rows` with the register: what would be added and changed.
    pub async fn plan_import(
        &self,
        rows: &[Partnership],
        history: &[NewEvent],
    ) -> Result<ImportPlan> {
        // History brought in by earlier imports: the same cell again adds nothing.
        let imported: Vec<(String, String, NaiveDate)> = with_pool!(self, |pool, B| {
            sqlx::query_as(
                "SELECT partnership_id, kind, occurred_on FROM events WHERE channel = 'import'",
            )
            .fetch_all(pool)
            .await?
        });
        let imported: std::collections::HashSet<(String, String, NaiveDate)> =
            imported.into_iter().collect();
        let history: Vec<NewEvent> = history
            .iter()
            .filter(|e| {
                !imported.contains(&(e.partnership.to_string(), e.kind.name().to_string(), e.on))
            })
            .cloned()
            .collect();
        let existing: HashMap<PartnershipId, Partnership> = self
            .partnerships()
            .await?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        let mut plan = ImportPlan {
            history,
            ..ImportPlan::default()
        };
        for p in rows {
            match existing.get(&p.id) {
                None => plan.added.push(p.id.clone()),
                Some(old) => {
                    let diff = changed_columns(old, p);
                    if diff.is_empty() {
                        plan.unchanged += 1;
                    } else {
                        plan.changed.push((p.id.clone(), diff));
                    }
                }
            }
        }
        Ok(plan)
    }

    /// Adds or updates every row by id, all in one transaction.
    /// Every added partnership and changed field gets its change record.
    pub async fn import(
        &self,
        rows: &[Partnership],
        history: &[NewEvent],
        actor: &changes::Actor,
    ) -> Result<ImportPlan> {
        let now = actor.at;
        let plan = self.plan_import(rows, history).await?;
        let changed: std::collections::HashSet<&PartnershipId> = plan
            .added
            .iter()
            .chain(plan.changed.iter().map(|(id, _)| id))
            .collect();
        let write: Vec<&Partnership> = rows.iter().filter(|p| changed.contains(&p.id)).collect();
        with_pool!(self, |pool, B| {
            let mut tx = pool.begin_with(<B as Backend>::BEGIN_WRITE).await?;
            // 14 parameters a row; SQLite allows 32 766 in one statement.
            for chunk in write.chunks(1000) {
                let mut q = sqlx::QueryBuilder::<B>::new(
                    "INSERT INTO partnerships (id, organisation, committee, officer_name, officer_email, \
                     deputy_email, partner_email, start_date, end_date, annual_amount_ore, checkins_per_year, \
                     notice_months, notes, created_at, updated_at) ",
                );
                q.push_values(chunk, |mut b, p| {
                    b.push_bind(p.id.as_str())
                        .push_bind(p.organisation.as_str())
                        .push_bind(p.committee.as_str())
                        .push_bind(p.officer.name.as_str())
                        .push_bind(p.officer.email.as_str())
                        .push_bind(p.deputy.as_ref().map(Email::as_str))
                        .push_bind(p.partner_contact.as_ref().map(Email::as_str))
                        .push_bind(p.start)
                        .push_bind(p.end)
                        .push_bind(p.annual_amount.map(Amount::ore))
                        .push_bind(p.checkins_per_year.map(|c| c.get() as i32))
                        .push_bind(p.notice_months.map(|n| n as i32))
                        .push_bind(p.notes.as_str())
                        .push_bind(<B as Backend>::instant(now))
                        .push_bind(<B as Backend>::instant(now));
                });
                q.push(
                    " ON CONFLICT (id) DO UPDATE SET organisation = excluded.organisation, \
                     committee = excluded.committee, officer_name = excluded.officer_name, \
                     officer_email = excluded.officer_email, deputy_email = excluded.deputy_email, \
                     partner_email = excluded.partner_email, start_date = excluded.start_date, \
                     end_date = excluded.end_date, annual_amount_ore = excluded.annual_amount_ore, \
                     checkins_per_year = excluded.checkins_per_year, notice_months = excluded.notice_months, \
                     notes = excluded.notes, updated_at = excluded.updated_at",
                );
                q.build().execute(&mut *tx).await?;
            }
            for e in &plan.history {
                insert_event!(B, e)?.fetch_one(&mut *tx).await?;
            }
            let added = [(
                "partnership",
                changes::NONE.to_string(),
                "tillagt".to_string(),
            )];
            for id in &plan.added {
                changes::insert_changes!(
                    tx,
                    changes::Subject::Partnership,
                    id.as_str(),
                    added.iter(),
                    actor
                );
            }
            for (id, diff) in &plan.changed {
                changes::insert_changes!(
                    tx,
                    changes::Subject::Partnership,
                    id.as_str(),
                    diff.iter(),
                    actor
                );
            }
            tx.commit().await?;
        });
        Ok(plan)
    }

    // ------------------------------------------------------------------ events

    /// The history of one partnership, oldest first, retractions applied.
    pub async fn events(&self, id: &PartnershipId) -> Result<Vec<Event>> {
        with_pool!(self, |pool, B| Ok(load_events!(pool, B, id)))
    }

    /// Calls `f` with every partnership (ordered by id) and its history,
    /// retractions applied, holding one partnership's history at a time.
    ///
    /// SQLite: one row per partnership carries its history as a JSON array
    /// built by the database, because sqlx hands each SQLite row over from a
    /// worker thread and millions of event rows cost more than the JSON.
    /// PostgreSQL: the two tables are streamed in the same order and merged,
    /// which is cheaper there than 100 000 correlated subqueries.
    ///
    /// A row that cannot be read (bad database contents) goes to `bad` and the
    /// rest carry on: one broken partnership must not silence all reminders.
    ///
    /// Reading and decoding run in a task of their own, a bounded channel
    /// ahead of `f`, so on the multi-thread runtime they overlap with the
    /// engine instead of taking turns with it.
    pub async fn each_partnership(
        &self,
        mut f: impl FnMut(Partnership, Vec<Event>),
        mut bad: impl FnMut(StoreError),
    ) -> Result<()> {
        let (tx, mut rx) = tokio::sync::mpsc::channel(256);
        let pool = self.pool.clone();
        let reader = tokio::spawn(async move { read_register(&pool, &tx).await });
        while let Some(read) = rx.recv().await {
            match read {
                Ok((p, events)) => f(p, events),
                Err(e) => bad(e),
            }
        }
        match reader.await {
            Ok(done) => done,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// Appends many events in one transaction (synthetic histories for
    /// benchmarks); no checks, so never used for user input.
    pub async fn append_events(
        &self,
        events: &[(PartnershipId, NaiveDate, EventKind)],
        by: &str,
        channel: Channel,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut rows = Vec::with_capacity(events.len());
        for (p, on, kind) in events {
            let data =
                serde_json::to_string(kind).map_err(|e| StoreError::Refused(e.to_string()))?;
            rows.push((p.as_str(), *on, kind.name(), data));
        }
        with_pool!(self, |pool, B| {
            let mut tx = pool.begin_with(<B as Backend>::BEGIN_WRITE).await?;
            // 7 parameters a row; SQLite allows 32 766 in one statement.
            for chunk in rows.chunks(1000) {
                let mut q = sqlx::QueryBuilder::<B>::new(
                    "INSERT INTO events (partnership_id, kind, occurred_on, data, recorded_at, recorded_by, channel) ",
                );
                q.push_values(chunk, |mut b, (p, on, kind, data)| {
                    b.push_bind(*p)
                        .push_bind(*kind)
                        .push_bind(*on)
                        .push_bind(data.as_str())
                        .push_bind(<B as Backend>::instant(now))
                        .push_bind(by)
                        .push_bind(channel.name());
                });
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records one event after `check` accepts it against the partnership and
    /// its history as they are inside the same write transaction, so two
    /// concurrent recordings cannot both pass a check that only one may.
    pub async fn record(
        &self,
        new: NewEvent,
        check: impl FnOnce(&Partnership, &[Event]) -> std::result::Result<(), String>,
    ) -> Result<Event> {
        let mut check = Some(check);
        let mut done = self
            .record_all(vec![new], |_, p, events| match check.take() {
                Some(check) => check(p, events).map(|()| true),
                None => Ok(false),
            })
            .await?;
        done.pop()
            .ok_or_else(|| StoreError::Refused("nothing was recorded".into()))
    }

    /// Records several events in one write transaction, all or nothing:
    /// `check` sees each event's partnership and history as they are inside
    /// it and answers insert (`Ok(true)`), skip (`Ok(false)`: already there)
    /// or refuse (`Err`: nothing at all is written). Returns what was inserted.
    pub async fn record_all(
        &self,
        news: Vec<NewEvent>,
        mut check: impl FnMut(&NewEvent, &Partnership, &[Event]) -> std::result::Result<bool, String>,
    ) -> Result<Vec<Event>> {
        with_pool!(self, |pool, B| {
            let mut tx = pool.begin_with(<B as Backend>::BEGIN_WRITE).await?;
            let mut out = Vec::new();
            for new in news {
                let partnership = load_partnership!(&mut *tx, &new.partnership)?;
                let events = load_events!(&mut *tx, B, &new.partnership);
                if !check(&new, &partnership, &events).map_err(StoreError::Refused)? {
                    continue;
                }
                let id: i64 = insert_event!(B, &new)?.fetch_one(&mut *tx).await?;
                out.push(Event {
                    id,
                    partnership: new.partnership,
                    on: new.on,
                    kind: new.kind,
                    recorded_at: new.recorded_at.timestamp(),
                    recorded_by: new.recorded_by,
                    channel: new.channel,
                    target: new.target,
                    retracted: false,
                });
            }
            tx.commit().await?;
            Ok(out)
        })
    }
}

/// One partnership with its history, retractions applied, or why it cannot be read.
type Read = Result<(Partnership, Vec<Event>)>;

/// The producer behind `Store::each_partnership`; stops early when the
/// consumer is gone.
async fn read_register(pool: &Pool, tx: &tokio::sync::mpsc::Sender<Read>) -> Result<()> {
    use futures_util::TryStreamExt;
    match pool {
        Pool::Sqlite(pool) => {
            let mut rows = sqlx::query(SQLITE_REGISTER_WITH_HISTORY).fetch(pool);
            while let Some(row) = rows.try_next().await? {
                let read = partnership_from_row(&row).and_then(|p| {
                    // The column after the partnership's own.
                    let history: Option<&str> = row.try_get(13)?;
                    let events = history_from_json(&p.id, history.unwrap_or("[]"))?;
                    Ok((p, events))
                });
                let read = read.map(|(p, mut events)| {
                    apply_retractions(&mut events);
                    (p, events)
                });
                if tx.send(read).await.is_err() {
                    return Ok(());
                }
            }
        }
        Pool::Pg(pool) => {
            let mut partnerships = sqlx::query(concat!(
                "SELECT ",
                partnership_columns!(),
                " FROM partnerships ORDER BY id"
            ))
            .fetch(pool);
            let mut events = sqlx::query(concat!(
                "SELECT ",
                event_columns!(),
                " FROM events ORDER BY partnership_id, id"
            ))
            .fetch(pool);
            let mut next = events.try_next().await?;
            while let Some(row) = partnerships.try_next().await? {
                let raw_id: &str = row.try_get(0)?;
                let p = partnership_from_row(&row);
                let mut list = Vec::new();
                // Both streams are sorted by the same column type and
                // collation, and every event has its partnership (foreign
                // key), so an event for another id belongs to a later
                // one. Only equality is tested: the collation need not be
                // byte order.
                while let Some(e) = next.take() {
                    match e.try_get::<&str, _>(1).map(|pid| pid == raw_id) {
                        Ok(false) => {
                            next = Some(e);
                            break;
                        }
                        Ok(true) => {
                            if let Ok(p) = &p {
                                match event_from_row::<Postgres, _>(&e, &p.id) {
                                    Ok(ev) => list.push(ev),
                                    Err(err) => {
                                        if tx.send(Err(err)).await.is_err() {
                                            return Ok(());
                                        }
                                    }
                                }
                            }
                        }
                        Err(err) => {
                            if tx.send(Err(err.into())).await.is_err() {
                                return Ok(());
                            }
                        }
                    }
                    next = events.try_next().await?;
                }
                let read = p.map(|p| {
                    apply_retractions(&mut list);
                    (p, list)
                });
                if tx.send(read).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

fn bad(id: &str, column: &'static str, problem: impl Into<String>) -> StoreError {
    StoreError::BadRow {
        table: "partnerships",
        id: id.to_string(),
        column,
        problem: problem.into(),
    }
}

/// Columns by position (the order of `partnership_columns!`): looking a
/// name up costs a hash and a compare per column per row.
fn partnership_from_row<R>(r: &R) -> Result<Partnership>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'a> &'a str: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<&'a str>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> NaiveDate: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<NaiveDate>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i32>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let raw_id: &str = r.try_get(0)?;
    let id = PartnershipId::parse(raw_id).map_err(|e| bad(raw_id, "id", e.0))?;
    let committee: &str = r.try_get(2)?;
    let committee = CommitteeKey::parse(committee).map_err(|e| bad(raw_id, "committee", e.0))?;
    let officer_email: &str = r.try_get(4)?;
    let officer_email =
        Email::parse(officer_email).map_err(|e| bad(raw_id, "officer_email", e.0))?;
    let opt_email = |col: usize, name: &'static str| -> Result<Option<Email>> {
        let v: Option<&str> = r.try_get(col)?;
        v.filter(|s| !s.is_empty())
            .map(|s| Email::parse(s).map_err(|e| bad(raw_id, name, e.0)))
            .transpose()
    };
    let deputy = opt_email(5, "deputy_email")?;
    let partner_contact = opt_email(6, "partner_email")?;
    let start: NaiveDate = r
        .try_get(7)
        .map_err(|e| bad(raw_id, "start_date", e.to_string()))?;
    let end: Option<NaiveDate> = r
        .try_get(8)
        .map_err(|e| bad(raw_id, "end_date", e.to_string()))?;
    let amount: Option<i64> = r.try_get(9)?;
    let annual_amount = amount
        .map(|a| Amount::from_ore(a).map_err(|e| bad(raw_id, "annual_amount_ore", e.0)))
        .transpose()?;
    let checkins: Option<i32> = r.try_get(10)?;
    let checkins_per_year = checkins
        .map(|n| {
            u32::try_from(n)
                .map_err(|_| bad(raw_id, "checkins_per_year", "negative"))
                .and_then(|n| {
                    CheckinsPerYear::new(n).map_err(|e| bad(raw_id, "checkins_per_year", e.0))
                })
        })
        .transpose()?;
    let notice: Option<i32> = r.try_get(11)?;
    let notice_months = notice
        .map(|n| u32::try_from(n).map_err(|_| bad(raw_id, "notice_months", "negative")))
        .transpose()?;
    Ok(Partnership {
        id,
        organisation: r.try_get(1)?,
        committee,
        officer: Person {
            name: r.try_get(3)?,
            email: officer_email,
        },
        deputy,
        partner_contact,
        start,
        end,
        annual_amount,
        checkins_per_year,
        notice_months,
        notes: r.try_get(12)?,
    })
}

/// One event row (columns by position, as in `event_columns!`) of the
/// partnership `of`: the caller has matched `partnership_id` already, so the
/// shared id is reused instead of parsed again for every event.
fn event_from_row<B, R>(r: &R, of: &PartnershipId) -> Result<Event>
where
    B: Backend,
    R: Row<Database = B>,
    usize: sqlx::ColumnIndex<R>,
    for<'a> &'a str: sqlx::Decode<'a, B> + sqlx::Type<B>,
    for<'a> String: sqlx::Decode<'a, B> + sqlx::Type<B>,
    for<'a> i64: sqlx::Decode<'a, B> + sqlx::Type<B>,
    for<'a> Option<String>: sqlx::Decode<'a, B> + sqlx::Type<B>,
    for<'a> NaiveDate: sqlx::Decode<'a, B> + sqlx::Type<B>,
    for<'a> B::Instant: sqlx::Decode<'a, B> + sqlx::Type<B>,
{
    let id: i64 = r.try_get(0)?;
    let bad = |column: &'static str, problem: String| StoreError::BadRow {
        table: "events",
        id: id.to_string(),
        column,
        problem,
    };
    let data: &str = r.try_get(4)?;
    let kind: EventKind = serde_json::from_str(data).map_err(|e| bad("data", e.to_string()))?;
    let channel: &str = r.try_get(7)?;
    let channel = parse_channel(channel)
        .ok_or_else(|| bad("channel", format!("unknown channel {channel:?}")))?;
    let recorded_at: B::Instant = r.try_get(5)?;
    Ok(Event {
        id,
        partnership: of.clone(),
        on: r
            .try_get(3)
            .map_err(|e| bad("occurred_on", e.to_string()))?,
        kind,
        recorded_at: B::from_instant(recorded_at).timestamp(),
        recorded_by: r.try_get(6)?,
        channel,
        target: r.try_get(8)?,
        retracted: false,
    })
}

/// Decodes the JSON history built by `REGISTER_WITH_HISTORY`.
fn history_from_json(id: &PartnershipId, json: &str) -> Result<Vec<Event>> {
    type Raw = (
        i64,
        NaiveDate,
        EventKind,
        i64,
        String,
        String,
        Option<String>,
    );
    let raw: Vec<Raw> = serde_json::from_str(json).map_err(|e| StoreError::BadRow {
        table: "events",
        id: format!("of partnership {id}"),
        column: "data",
        problem: e.to_string(),
    })?;
    raw.into_iter()
        .map(
            |(eid, on, kind, recorded_at, recorded_by, channel, target)| {
                let channel = parse_channel(&channel).ok_or_else(|| StoreError::BadRow {
                    table: "events",
                    id: eid.to_string(),
                    column: "channel",
                    problem: format!("unknown channel {channel:?}"),
                })?;
                Ok(Event {
                    id: eid,
                    partnership: id.clone(),
                    on,
                    kind,
                    recorded_at,
                    recorded_by,
                    channel,
                    target,
                    retracted: false,
                })
            },
        )
        .collect()
}

fn parse_channel(s: &str) -> Option<Channel> {
    match s {
        "cli" => Some(Channel::Cli),
        "web" => Some(Channel::Web),
        "workspace" => Some(Channel::Workspace),
        "import" => Some(Channel::Import),
        _ => None,
    }
}

/// The names of the columns in which two versions of a partnership differ.
/// (column, old value, new value) as the import shows them.
pub type FieldChange = (&'static str, String, String);

fn changed_columns(a: &Partnership, b: &Partnership) -> Vec<FieldChange> {
    fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
        v.as_ref()
            .map_or_else(|| "–".to_string(), ToString::to_string)
    }
    fn person(p: &crate::domain::Person) -> String {
        format!("{} <{}>", p.name, p.email)
    }
    // A long note is shown by its start only.
    fn short(s: &str) -> String {
        let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
        if one.chars().count() > 60 {
            one.chars().take(60).collect::<String>() + "…"
        } else if one.is_empty() {
            "–".into()
        } else {
            one
        }
    }
    let mut v = Vec::new();
    let mut check = |name, old: String, new: String| {
        if old != new {
            v.push((name, old, new));
        }
    };
    check(
        "organisation",
        a.organisation.clone(),
        b.organisation.clone(),
    );
    check(
        "committee",
        a.committee.to_string(),
        b.committee.to_string(),
    );
    check("officer", person(&a.officer), person(&b.officer));
    check("deputy_email", opt(&a.deputy), opt(&b.deputy));
    check(
        "partner_email",
        opt(&a.partner_contact),
        opt(&b.partner_contact),
    );
    check("start_date", a.start.to_string(), b.start.to_string());
    check("end_date", opt(&a.end), opt(&b.end));
    check(
        "annual_amount",
        opt(&a.annual_amount),
        opt(&b.annual_amount),
    );
    check(
        "checkins_per_year",
        opt(&a.checkins_per_year.map(|c| c.get())),
        opt(&b.checkins_per_year.map(|c| c.get())),
    );
    check(
        "notice_months",
        opt(&a.notice_months),
        opt(&b.notice_months),
    );
    check("notes", short(&a.notes), short(&b.notes));
    if a.notes != b.notes && short(&a.notes) == short(&b.notes) {
        v.push(("notes", "…".into(), "(ändrad längre fram)".into()));
    }
    v
}

mod changes;
pub use changes::{
    Actor, Change, NONE, PlanChange, StoredPlan, Subject, Term, apply_plans, channel_label,
    field_label, publish_plans,
};
mod digest;
mod evaluation;
mod feed;
pub use evaluation::{CHUNK, CountSums, Evaluation, ForTick, NO_DUE};
mod outbox;
pub use digest::{DeliveryProblem, SentReminder, ServiceHealth};
mod postpone;
mod session;
pub use outbox::{
    Bundling, Claimed, Enqueue, InviteState, NewBundle, NewInvite, NewMail, OutboxRow, PendingItem,
};
pub use postpone::Postponement;
pub use session::{ListFilter, LoginAttempt, SessionRow};
mod jobs;
pub use jobs::DeliveryFigures;
