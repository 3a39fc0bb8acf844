//! What incremental ticks read and write: which partnerships to evaluate, the
//! selected ones with their history, their calendar entries, and the sum of
//! the stored checkpoint counts.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use sqlx::{Postgres, Row, Sqlite};

use super::{
    Backend, Pool, Result, Store, StoreError, event_from_row, history_from_json,
    partnership_from_row,
};
use crate::domain::{Event, Partnership, PartnershipId, apply_retractions};
use crate::store::InviteState;

/// The outcome of one partnership's evaluation, written with its mails.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub partnership_id: String,
    /// Its committee, so the overview's counts are summed without a join.
    pub committee: String,
    /// The partnership's revision as read before its history.
    pub revision: i64,
    /// The hash of the rules it was evaluated with.
    pub rules: String,
    pub next_check: NaiveDate,
    /// JSON `{"status/kind": n}`.
    pub counts: String,
    /// How many checkpoints are overdue, and the earliest due date of an
    /// open one: the overview's order.
    pub overdue: i64,
    pub next_due: Option<NaiveDate>,
}

/// `next_due` as stored when no checkpoint is open: after every real date,
/// so one index orders both backends alike (see migration 0013).
pub const NO_DUE: NaiveDate = match NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(d) => d,
    None => NaiveDate::MAX,
};

/// The sums of the stored checkpoint counts: by `status/kind` (for
/// /metrics), and by committee and status, checkpoints and partnerships
/// (the overview's counts).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CountSums {
    pub by_key: BTreeMap<String, i64>,
    pub by_committee: BTreeMap<(String, String), (i64, i64)>,
}

/// One selected partnership as a tick reads it.
#[derive(Debug)]
pub struct ForTick {
    pub partnership: Partnership,
    pub revision: i64,
    /// Retractions applied.
    pub events: Vec<Event>,
    /// False when one of its events could not be read: it is evaluated
    /// without it, but not marked evaluated, so every tick reports it again.
    pub intact: bool,
}

/// Ids per statement: well under SQLite's parameter limit.
pub const CHUNK: usize = 500;

impl Store {
    /// The partnerships a tick must evaluate on `today` under `rules`, by
    /// id: never evaluated, changed since (revision), evaluated under other
    /// rules, or due again. `full` selects every partnership.
    pub async fn tick_selection(
        &self,
        today: NaiveDate,
        rules: &str,
        full: bool,
    ) -> Result<Vec<String>> {
        with_pool!(self, |pool, B| {
            let ids: Vec<String> = if full {
                sqlx::query_scalar("SELECT id FROM partnerships ORDER BY id")
                    .fetch_all(pool)
                    .await?
            } else {
                sqlx::query_scalar(
                    "SELECT p.id FROM partnerships p LEFT JOIN evaluations e ON e.partnership_id = p.id \
                     WHERE e.partnership_id IS NULL OR e.revision <> p.revision OR e.rules <> $1 \
                     OR e.next_check <= $2 ORDER BY p.id",
                )
                .bind(rules)
                .bind(today)
                .fetch_all(pool)
                .await?
            };
            Ok(ids)
        })
    }

    /// Calls `f` with each of `ids` (at most [`CHUNK`]) that exists, in id
    /// order, with its revision and history. The revision is read no later
    /// than the history, so an event recorded in between makes the stored
    /// revision old and the partnership is evaluated again. A partnership
    /// that cannot be read goes to `bad`.
    pub async fn partnerships_for_tick(
        &self,
        ids: &[String],
        mut f: impl FnMut(ForTick),
        mut bad: impl FnMut(StoreError),
    ) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        match &self.pool {
            Pool::Sqlite(pool) => {
                // One statement, so revision and history come from one snapshot.
                let mut q = sqlx::QueryBuilder::<Sqlite>::new(concat!(
                    "SELECT ",
                    partnership_columns!(),
                    ", revision, (SELECT json_group_array(json_array(e.id, e.occurred_on, json(e.data), \
                     e.recorded_at, e.recorded_by, e.channel, e.checkpoint_key)) FROM (SELECT * FROM events WHERE \
                     partnership_id = p.id ORDER BY id) e) AS history FROM partnerships p WHERE p.id IN ("
                ));
                let mut sep = q.separated(", ");
                for id in ids {
                    sep.push_bind(id.as_str());
                }
                q.push(") ORDER BY p.id");
                for row in q.build().fetch_all(pool).await? {
                    let read = partnership_from_row(&row).and_then(|p| {
                        let revision: i64 = row.try_get("revision")?;
                        let history: Option<String> = row.try_get("history")?;
                        let events = history_from_json(&p.id, history.as_deref().unwrap_or("[]"))?;
                        Ok((p, revision, events))
                    });
                    match read {
                        Ok((partnership, revision, mut events)) => {
                            apply_retractions(&mut events);
                            f(ForTick {
                                partnership,
                                revision,
                                events,
                                intact: true,
                            });
                        }
                        Err(e) => bad(e),
                    }
                }
            }
            Pool::Pg(pool) => {
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    partnership_columns!(),
                    ", revision FROM partnerships WHERE id = ANY($1) ORDER BY id"
                ))
                .bind(ids)
                .fetch_all(pool)
                .await?;
                // After the partnerships: their revisions are no newer than this.
                let event_rows = sqlx::query(concat!(
                    "SELECT ",
                    event_columns!(),
                    " FROM events WHERE partnership_id = ANY($1) ORDER BY id"
                ))
                .bind(ids)
                .fetch_all(pool)
                .await?;
                let mut events: HashMap<String, Vec<Event>> = HashMap::new();
                let mut broken: std::collections::HashSet<String> = Default::default();
                // One id per partnership, shared by its events.
                let mut shared: HashMap<String, PartnershipId> = HashMap::new();
                for r in &event_rows {
                    let raw: String = r.try_get(1)?;
                    let of = match shared.get(&raw) {
                        Some(id) => Ok(id.clone()),
                        None => PartnershipId::parse(&raw).inspect(|id| {
                            shared.insert(raw.clone(), id.clone());
                        }),
                    };
                    let read = of
                        .map_err(|e| StoreError::BadRow {
                            table: "events",
                            id: raw.clone(),
                            column: "partnership_id",
                            problem: e.0,
                        })
                        .and_then(|of| event_from_row::<Postgres, _>(r, &of));
                    match read {
                        Ok(e) => events.entry(raw).or_default().push(e),
                        Err(e) => {
                            broken.insert(raw);
                            bad(e);
                        }
                    }
                }
                for row in &rows {
                    let raw_id: String = row.try_get("id")?;
                    let read = partnership_from_row(row).and_then(|p| {
                        let revision: i64 = row.try_get("revision")?;
                        Ok((p, revision))
                    });
                    match read {
                        Ok((partnership, revision)) => {
                            let mut list = events.remove(&raw_id).unwrap_or_default();
                            apply_retractions(&mut list);
                            f(ForTick {
                                partnership,
                                revision,
                                events: list,
                                intact: !broken.contains(&raw_id),
                            });
                        }
                        Err(e) => bad(e),
                    }
                }
            }
        }
        Ok(())
    }

    /// Every calendar entry held for the checkpoints of `ids` (at most
    /// [`CHUNK`]), by (checkpoint key, recipient).
    pub async fn invites_of(
        &self,
        ids: &[String],
    ) -> Result<HashMap<(String, String), InviteState>> {
        let mut map = HashMap::new();
        if ids.is_empty() {
            return Ok(map);
        }
        with_pool!(self, |pool, B| {
            let mut q = sqlx::QueryBuilder::<B>::new(
                "SELECT checkpoint_key, recipient, sequence, due_date, cancelled, fingerprint FROM invites WHERE partnership_id IN (",
            );
            let mut sep = q.separated(", ");
            for id in ids {
                sep.push_bind(id.as_str());
            }
            q.push(")");
            for r in q.build().fetch_all(pool).await? {
                map.insert(
                    (r.try_get("checkpoint_key")?, r.try_get("recipient")?),
                    InviteState {
                        sequence: r.try_get("sequence")?,
                        due: r.try_get("due_date")?,
                        cancelled: r.try_get("cancelled")?,
                        fingerprint: r.try_get("fingerprint")?,
                    },
                );
            }
        });
        Ok(map)
    }

    /// The stored checkpoint counts of every evaluated partnership, summed by
    /// `status/kind` and by committee and status. The database joins 2 000
    /// rows' counts into one text at a time (each line the committee, a tab
    /// and the counts), summed in one pass here: `json_each` over every row
    /// took 0.5 s at 100 000 partnerships on SQLite, and one text for all of
    /// them 100 MB.
    pub async fn checkpoint_counts(&self) -> Result<CountSums> {
        let mut sums = CountSums::default();
        let mut after = String::new();
        loop {
            let (joined, last): (Option<String>, Option<String>) =
                match &self.pool {
                    Pool::Sqlite(pool) => sqlx::query_as(
                        "SELECT group_concat(committee || char(9) || counts, char(10)), \
                         max(partnership_id) FROM (SELECT partnership_id, committee, counts \
                         FROM evaluations WHERE partnership_id > $1 ORDER BY partnership_id LIMIT 2000)",
                    )
                    .bind(&after)
                    .fetch_one(pool)
                    .await?,
                    Pool::Pg(pool) => {
                        sqlx::query_as(
                            "SELECT string_agg(committee || E'\\t' || counts, E'\\n'), \
                             max(partnership_id) FROM (SELECT partnership_id, committee, counts \
                             FROM evaluations WHERE partnership_id > $1 ORDER BY partnership_id LIMIT 2000) page",
                        )
                        .bind(&after)
                        .fetch_one(pool)
                        .await?
                    }
                };
            let (Some(joined), Some(last)) = (joined, last) else {
                break;
            };
            add_counts(&mut sums, &joined)?;
            after = last;
        }
        Ok(sums)
    }

    /// The same sums for a few partnerships (an officer's), by id.
    pub async fn checkpoint_counts_of(&self, ids: &[String]) -> Result<CountSums> {
        let mut sums = CountSums::default();
        for chunk in ids.chunks(CHUNK) {
            let rows: Vec<(String, String)> = with_pool!(self, |pool, B| {
                let mut q = sqlx::QueryBuilder::<B>::new(
                    "SELECT committee, counts FROM evaluations WHERE partnership_id IN (",
                );
                let mut sep = q.separated(", ");
                for id in chunk {
                    sep.push_bind(id.as_str());
                }
                q.push(")");
                q.build_query_as().fetch_all(pool).await?
            });
            let joined: Vec<String> = rows.into_iter().map(|(c, n)| format!("{c}\t{n}")).collect();
            add_counts(&mut sums, &joined.join("\n"))?;
        }
        Ok(sums)
    }

    /// The overview's counts as the last tick left them:
    /// (committee, status) → (checkpoints, partnerships). With `by_kind`,
    /// also the kind filters' totals ("status/kind" and "any/kind").
    pub async fn overview_counts(
        &self,
        by_kind: bool,
    ) -> Result<BTreeMap<(String, String), (i64, i64)>> {
        let sql = if by_kind {
            "SELECT committee, status, checkpoints, partnerships FROM overview_counts"
        } else {
            "SELECT committee, status, checkpoints, partnerships FROM overview_counts \
             WHERE status NOT LIKE '%/%'"
        };
        let rows: Vec<(String, String, i64, i64)> = with_pool!(self, |pool, B| {
            sqlx::query_as(sql).fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|(c, s, n, p)| ((c, s), (n, p)))
            .collect())
    }

    /// Replaces the overview's counts, when they changed (a tick with
    /// nothing new writes nothing).
    pub async fn set_overview_counts(
        &self,
        counts: &BTreeMap<(String, String), (i64, i64)>,
    ) -> Result<()> {
        if self.overview_counts(true).await? == *counts {
            return Ok(());
        }
        with_pool!(self, |pool, B| {
            let mut tx = pool.begin_with(<B as Backend>::BEGIN_WRITE).await?;
            // Two ticks would each delete the counts they see and then insert
            // theirs over the other's (a duplicate key).
            if let Some(turn) = <B as Backend>::turn(super::Turns::OverviewCounts) {
                sqlx::query(turn).execute(&mut *tx).await?;
            }
            sqlx::query("DELETE FROM overview_counts")
                .execute(&mut *tx)
                .await?;
            let rows: Vec<_> = counts.iter().collect();
            // 4 parameters a row.
            for chunk in rows.chunks(1000) {
                let mut q = sqlx::QueryBuilder::<B>::new(
                    "INSERT INTO overview_counts (committee, status, checkpoints, partnerships) ",
                );
                q.push_values(chunk, |mut b, ((c, s), (n, p))| {
                    b.push_bind(c.as_str())
                        .push_bind(s.as_str())
                        .push_bind(*n)
                        .push_bind(*p);
                });
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

/// Adds lines of a committee, a tab and its counts (a JSON object) to `sums`.
fn add_counts(sums: &mut CountSums, joined: &str) -> Result<()> {
    let bad = |problem: String| StoreError::BadRow {
        table: "evaluations",
        id: "(all)".into(),
        column: "counts",
        problem,
    };
    for line in joined.lines().filter(|l| !l.is_empty()) {
        let (committee, counts) = line
            .split_once('\t')
            .ok_or_else(|| bad(format!("no committee before {line:?}")))?;
        let one: BTreeMap<&str, i64> =
            serde_json::from_str(counts).map_err(|e| bad(e.to_string()))?;
        let mut statuses: Vec<&str> = Vec::new();
        let mut kinds: Vec<&str> = Vec::new();
        for (key, n) in one {
            match sums.by_key.get_mut(key) {
                Some(total) => *total += n,
                None => {
                    sums.by_key.insert(key.to_string(), n);
                }
            }
            let status = key.split_once('/').map_or(key, |(s, _)| s);
            let entry = sums
                .by_committee
                .entry((committee.to_string(), status.to_string()))
                .or_default();
            entry.0 += n;
            // A partnership counts once per status, whatever the kinds.
            if n > 0 && !statuses.contains(&status) {
                statuses.push(status);
                entry.1 += 1;
            }
            // The totals of the overview's kind filters: per "status/kind",
            // and per kind in any status ("any/kind").
            if n > 0
                && let Some((_, kind)) = key.split_once('/')
            {
                let e = sums
                    .by_committee
                    .entry((committee.to_string(), key.to_string()))
                    .or_default();
                e.0 += n;
                e.1 += 1;
                let e = sums
                    .by_committee
                    .entry((committee.to_string(), format!("any/{kind}")))
                    .or_default();
                e.0 += n;
                if !kinds.contains(&kind) {
                    kinds.push(kind);
                    e.1 += 1;
                }
            }
        }
    }
    Ok(())
}
