//! Postponements ("Jag behöver mer tid") and withdrawing a checkpoint's
//! waiting reminders when it is closed or postponed from a page.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Postgres, Row, Sqlite};

use super::{Backend, Pool, Result, Store};

/// One postponement: the checkpoint's own reminders wait until `until`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Postponement {
    pub checkpoint_key: String,
    pub partnership_id: String,
    /// The checkpoint's due date when it was postponed (it does not move).
    pub due: NaiveDate,
    pub until: NaiveDate,
    pub recorded_at: DateTime<Utc>,
    pub recorded_by: String,
}

impl Store {
    /// Stores a postponement; false if the checkpoint already has one (once
    /// per checkpoint), in which case nothing is written.
    pub async fn postpone(&self, p: &Postponement) -> Result<bool> {
        with_pool!(self, |pool, B| {
            let r = sqlx::query(
                "INSERT INTO postponements (checkpoint_key, partnership_id, due_date, until_date, recorded_at, \
                 recorded_by) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (checkpoint_key) DO NOTHING",
            )
            .bind(&p.checkpoint_key)
            .bind(&p.partnership_id)
            .bind(p.due)
            .bind(p.until)
            .bind(<B as Backend>::instant(p.recorded_at))
            .bind(&p.recorded_by)
            .execute(pool)
            .await?;
            Ok(r.rows_affected() == 1)
        })
    }

    /// Every postponement, newest first (the digest lists them).
    pub async fn postponements(&self) -> Result<Vec<Postponement>> {
        macro_rules! list {
            ($pool:expr, $B:ty) => {{
                let rows = sqlx::query(
                    "SELECT checkpoint_key, partnership_id, due_date, until_date, recorded_at, recorded_by \
                     FROM postponements ORDER BY recorded_at DESC, checkpoint_key",
                )
                .fetch_all($pool)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    out.push(Postponement {
                        checkpoint_key: r.try_get("checkpoint_key")?,
                        partnership_id: r.try_get("partnership_id")?,
                        due: r.try_get("due_date")?,
                        until: r.try_get("until_date")?,
                        recorded_at: <$B as Backend>::from_instant(r.try_get("recorded_at")?),
                        recorded_by: r.try_get("recorded_by")?,
                    });
                }
                Ok(out)
            }};
        }
        match &self.pool {
            Pool::Sqlite(pool) => list!(pool, Sqlite),
            Pool::Pg(pool) => list!(pool, Postgres),
        }
    }

    /// Checkpoint key → the day its own reminders start again, for the
    /// postponements still running on `today`.
    pub async fn postponed_until(&self, today: NaiveDate) -> Result<HashMap<String, NaiveDate>> {
        with_pool!(self, |pool, B| {
            let rows: Vec<(String, NaiveDate)> = sqlx::query_as(
                "SELECT checkpoint_key, until_date FROM postponements WHERE until_date > $1",
            )
            .bind(today)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().collect())
        })
    }

    /// Drops the reminders still waiting for a checkpoint (not its calendar
    /// cancellations); returns how many.
    pub async fn cancel_pending(&self, checkpoint_key: &str) -> Result<u64> {
        with_pool!(self, |pool, B| {
            let r = sqlx::query(
                "UPDATE outbox SET status = 'cancelled' WHERE checkpoint_key = $1 AND status = 'pending' \
                 AND stage NOT LIKE 'cancel%'",
            )
            .bind(checkpoint_key)
            .execute(pool)
            .await?;
            Ok(r.rows_affected())
        })
    }
}
