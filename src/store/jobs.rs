//! What the service needs from the database besides the register and the
//! outbox: the last slot each scheduled job completed, and the figures
//! behind `/healthz` and `/metrics`.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Row, Sqlite};

use super::{Backend, Pool, Result, Store};

/// Outbox and tick figures at one moment.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFigures {
    /// Rows by status (`pending`, `sending`, `sent`, `failed`, `cancelled`).
    pub by_status: Vec<(String, i64)>,
    /// The oldest mail still waiting after at least one failed attempt.
    pub failing_since: Option<DateTime<Utc>>,
    /// The latest tick any process logged: (started, finished).
    pub last_tick: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl Store {
    /// Is the database answering?
    pub async fn ping(&self) -> Result<()> {
        with_pool!(self, |pool, B| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// The last slot `job` completed, by any process.
    pub async fn job_last_slot(&self, job: &str) -> Result<Option<DateTime<Utc>>> {
        with_pool!(self, |pool, B| {
            let v: Option<<B as Backend>::Instant> =
                sqlx::query_scalar("SELECT last_slot FROM jobs WHERE name = $1")
                    .bind(job)
                    .fetch_optional(pool)
                    .await?;
            Ok(v.map(<B as Backend>::from_instant))
        })
    }

    /// Marks `slot` of `job` completed; an older slot never overwrites a newer one.
    pub async fn job_done(
        &self,
        job: &str,
        slot: DateTime<Utc>,
        finished: DateTime<Utc>,
        duration_ms: i64,
    ) -> Result<()> {
        with_pool!(self, |pool, B| {
            sqlx::query(
                "INSERT INTO jobs (name, last_slot, finished_at, duration_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name) DO UPDATE SET \
                 last_slot = CASE WHEN excluded.last_slot > jobs.last_slot THEN excluded.last_slot ELSE jobs.last_slot END, \
                 finished_at = excluded.finished_at, duration_ms = excluded.duration_ms",
            )
            .bind(job)
            .bind(<B as Backend>::instant(slot))
            .bind(<B as Backend>::instant(finished))
            .bind(duration_ms)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Gives back rows this process claimed but will not send (shutdown), so
    /// another process can take them at once instead of after the lease.
    pub async fn release(&self, ids: &[i64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        with_pool!(self, |pool, B| {
            for id in ids {
                sqlx::query(
                    "UPDATE outbox SET status = 'pending', claimed_until = NULL \
                     WHERE id = $1 AND status = 'sending'",
                )
                .bind(id)
                .execute(pool)
                .await?;
            }
        });
        Ok(())
    }

    pub async fn delivery_figures(&self) -> Result<DeliveryFigures> {
        macro_rules! figures {
            ($pool:expr, $B:ty) => {{
                let by_status = sqlx::query(
                    // Mails, not the reminder items a mail of the day carries.
                    "SELECT status, COUNT(*) AS n FROM outbox WHERE NOT item GROUP BY status ORDER BY status",
                )
                .fetch_all($pool)
                .await?
                .iter()
                .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
                .collect::<Result<Vec<(String, i64)>>>()?;
                let failing_since: Option<<$B as Backend>::Instant> = sqlx::query_scalar(
                    "SELECT MIN(created_at) FROM outbox \
                     WHERE status IN ('pending', 'sending') AND attempts > 0",
                )
                .fetch_one($pool)
                .await?;
                let last = sqlx::query(
                    "SELECT started_at, finished_at FROM ticks ORDER BY finished_at DESC LIMIT 1",
                )
                .fetch_optional($pool)
                .await?;
                let last_tick = match last {
                    Some(r) => Some((
                        <$B as Backend>::from_instant(r.try_get("started_at")?),
                        <$B as Backend>::from_instant(r.try_get("finished_at")?),
                    )),
                    None => None,
                };
                Ok(DeliveryFigures {
                    by_status,
                    failing_since: failing_since.map(<$B as Backend>::from_instant),
                    last_tick,
                })
            }};
        }
        match &self.pool {
            Pool::Sqlite(pool) => figures!(pool, Sqlite),
            Pool::Pg(pool) => figures!(pool, Postgres),
        }
    }
}
