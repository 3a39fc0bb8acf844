//! Events: a partnership's history, recorded one or several at a time in a
//! write transaction that checks them against what is stored.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Postgres, Row, Sqlite};

use super::{Backend, Pool, Result, Store, StoreError, partnership_from_row};
use crate::domain::{Channel, Event, EventKind, Partnership, PartnershipId, apply_retractions};

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
    /// The history of one partnership, oldest first, retractions applied.
    pub async fn events(&self, id: &PartnershipId) -> Result<Vec<Event>> {
        with_pool!(self, |pool, B| Ok(load_events!(pool, B, id)))
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
    /// concurrent recordings cannot both pass a check that only one may (on
    /// PostgreSQL the partnership's row is held until the transaction ends).
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
                if let Some(hold) = <B as Backend>::HOLD_PARTNERSHIP {
                    sqlx::query(hold)
                        .bind(new.partnership.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
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

/// One event row (columns by position, as in `event_columns!`) of the
/// partnership `of`: the caller has matched `partnership_id` already, so the
/// shared id is reused instead of parsed again for every event.
pub(super) fn event_from_row<B, R>(r: &R, of: &PartnershipId) -> Result<Event>
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
pub(super) fn history_from_json(id: &PartnershipId, json: &str) -> Result<Vec<Event>> {
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

pub(super) fn parse_channel(s: &str) -> Option<Channel> {
    match s {
        "cli" => Some(Channel::Cli),
        "web" => Some(Channel::Web),
        "workspace" => Some(Channel::Workspace),
        "import" => Some(Channel::Import),
        _ => None,
    }
}
