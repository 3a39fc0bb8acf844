//! The database: SQLite (embedded default) or PostgreSQL, behind one type.
//!
//! sqlx's `Any` driver cannot carry dates or timestamps, so there are two
//! concrete pools and the `with_pool!` macro compiles each query body once per
//! backend; the SQL text is shared (SQLite accepts `$1` placeholders). Dates
//! are `DATE` / `YYYY-MM-DD` text; instants are `timestamptz` on PostgreSQL and
//! unix seconds on SQLite (see `Backend`).

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Postgres, Sqlite};

use crate::config;
use crate::domain::PartnershipId;

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

/// Errors that can say whether trying again may help.
pub trait Transient {
    fn is_transient(&self) -> bool;
}

impl Transient for StoreError {
    /// A failure the same work may not meet again: PostgreSQL aborting one side
    /// of a deadlock or a serialization conflict between concurrent ticks,
    /// SQLite still busy after its timeout, or a connection lost.
    fn is_transient(&self) -> bool {
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
    /// The statement that makes writers of `table` take turns inside their
    /// transactions, for changes that read and then write what the reading
    /// decided: under PostgreSQL's READ COMMITTED two transactions would each
    /// act on what they read before the other committed. Readers are not
    /// held up. SQLite's `BEGIN IMMEDIATE` already makes writers take turns.
    fn turn(table: Turns) -> Option<&'static str>;
    /// The statement that holds one partnership's row (`$1`: its id) until
    /// the transaction ends, so an event is checked against a history no
    /// one else is adding to. SQLite's `BEGIN IMMEDIATE` already does.
    const HOLD_PARTNERSHIP: Option<&'static str>;
}

/// Tables whose writers take turns ([`Backend::turn`]).
#[derive(Debug, Clone, Copy)]
pub enum Turns {
    /// The overview's counts, replaced whole by each tick.
    OverviewCounts,
    /// The committees' meeting plans, changed after checking what is planned.
    CommitteePlans,
}

impl Backend for Sqlite {
    type Instant = i64;
    // Take the write lock at BEGIN: a deferred transaction that upgrades later
    // fails at once with "database is locked" instead of waiting.
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    fn turn(_: Turns) -> Option<&'static str> {
        None
    }
    const HOLD_PARTNERSHIP: Option<&'static str> = None;
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
    fn turn(table: Turns) -> Option<&'static str> {
        Some(match table {
            Turns::OverviewCounts => "LOCK TABLE overview_counts IN SHARE ROW EXCLUSIVE MODE",
            Turns::CommitteePlans => "LOCK TABLE committee_plans IN SHARE ROW EXCLUSIVE MODE",
        })
    }
    const HOLD_PARTNERSHIP: Option<&'static str> =
        Some("SELECT id FROM partnerships WHERE id = $1 FOR UPDATE");
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
}

mod events;
mod register;
pub use events::NewEvent;
use events::{event_from_row, history_from_json};
pub use register::{FieldChange, ImportPlan};
use register::{changed_columns, partnership_from_row};
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
