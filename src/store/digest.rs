//! What the weekly digest and the compliance report read besides the
//! register: reminders sent, delivery problems, the service's health, and
//! postponements.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{Postgres, Row, Sqlite};

use super::{Backend, Pool, Result, Store};

/// One reminder that went out about a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentReminder {
    pub sent_at: DateTime<Utc>,
    pub recipient: String,
    /// `d-28`, `d0`, `d+7` …
    pub stage: String,
    /// The due date the stage was counted from.
    pub due: NaiveDate,
}

/// A mail that failed for good, or is waiting for another try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryProblem {
    pub checkpoint_key: String,
    pub recipient: String,
    /// `failed` or `pending` (being retried).
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The service's own health, for the digest's footer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceHealth {
    /// The end of the last tick that completed (a failed tick records nothing).
    pub last_tick: Option<DateTime<Utc>>,
    pub sent_since: i64,
    pub pending: i64,
}

impl Store {
    /// Reminder stages sent, oldest first, by checkpoint key. Only rows whose
    /// stage is a rung of the ladder (`d-28`, `d0`, `d+7`): never a
    /// withdrawal (`cancel…`), a calendar invite (`invite-N`), the day's
    /// bundle that carried the reminders (`bundle`, no checkpoint) or a digest.
    pub async fn sent_reminders(
        &self,
        checkpoint_keys: &[String],
    ) -> Result<HashMap<String, Vec<SentReminder>>> {
        let mut map: HashMap<String, Vec<SentReminder>> = HashMap::new();
        for chunk in checkpoint_keys.chunks(500) {
            with_pool!(self, |pool, B| {
                let mut q = sqlx::QueryBuilder::<B>::new(
                    "SELECT checkpoint_key, recipient, stage, due_date, sent_at FROM outbox WHERE status = 'sent' \
                     AND (stage = 'd0' OR stage LIKE 'd+%' OR stage LIKE 'd-%') \
                     AND sent_at IS NOT NULL AND checkpoint_key IN (",
                );
                let mut sep = q.separated(", ");
                for k in chunk {
                    sep.push_bind(k.as_str());
                }
                q.push(") ORDER BY sent_at, id");
                for r in q.build().fetch_all(pool).await? {
                    let sent_at: <B as Backend>::Instant = r.try_get("sent_at")?;
                    map.entry(r.try_get("checkpoint_key")?)
                        .or_default()
                        .push(SentReminder {
                            sent_at: <B as Backend>::from_instant(sent_at),
                            recipient: r.try_get("recipient")?,
                            stage: r.try_get("stage")?,
                            due: r.try_get("due_date")?,
                        });
                }
            });
        }
        Ok(map)
    }

    /// Mails that failed since `since`, and every mail waiting for a retry.
    pub async fn delivery_problems(&self, since: DateTime<Utc>) -> Result<Vec<DeliveryProblem>> {
        with_pool!(self, |pool, B| {
            let rows = sqlx::query(
                "SELECT checkpoint_key, recipient, status, attempts, last_error, created_at FROM outbox \
                 WHERE ((status = 'failed' AND created_at >= $1) OR (status = 'pending' AND attempts > 0)) \
                 AND NOT (item AND bundle IS NOT NULL) \
                 ORDER BY id",
            )
            .bind(<B as Backend>::instant(since))
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(DeliveryProblem {
                    checkpoint_key: r.try_get("checkpoint_key")?,
                    recipient: r.try_get("recipient")?,
                    status: r.try_get("status")?,
                    attempts: r.try_get("attempts")?,
                    last_error: r.try_get("last_error")?,
                    created_at: <B as Backend>::from_instant(r.try_get("created_at")?),
                });
            }
            Ok(out)
        })
    }

    /// When the latest tick that completed (in any process) started.
    pub async fn last_tick_started(&self) -> Result<Option<DateTime<Utc>>> {
        with_pool!(self, |pool, B| {
            let v: Option<<B as Backend>::Instant> =
                sqlx::query_scalar("SELECT MAX(started_at) FROM ticks")
                    .fetch_one(pool)
                    .await?;
            Ok(v.map(<B as Backend>::from_instant))
        })
    }

    /// The last completed tick, mails sent since `since` and mails waiting.
    pub async fn service_health(&self, since: DateTime<Utc>) -> Result<ServiceHealth> {
        with_pool!(self, |pool, B| {
            let last: Option<<B as Backend>::Instant> =
                sqlx::query_scalar("SELECT MAX(finished_at) FROM ticks")
                    .fetch_one(pool)
                    .await?;
            let sent: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM outbox WHERE status = 'sent' AND NOT item AND sent_at >= $1",
            )
            .bind(<B as Backend>::instant(since))
            .fetch_one(pool)
            .await?;
            let pending: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending') AND NOT item",
            )
            .fetch_one(pool)
            .await?;
            Ok(ServiceHealth {
                last_tick: last.map(<B as Backend>::from_instant),
                sent_since: sent,
                pending,
            })
        })
    }
}
