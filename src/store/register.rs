//! The register: partnerships read, each with its history, and imported.

use std::collections::HashMap;

use chrono::NaiveDate;
use sqlx::{Postgres, Row, Sqlite};

use super::{
    Actor, Backend, NewEvent, Pool, Result, SQLITE_REGISTER_WITH_HISTORY, Store, StoreError,
    changes, event_from_row, history_from_json,
};
use crate::domain::{
    Amount, CheckinsPerYear, CommitteeKey, Email, Event, Partnership, PartnershipId, Person,
    apply_retractions,
};

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

impl Store {
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

pub(super) fn bad(id: &str, column: &'static str, problem: impl Into<String>) -> StoreError {
    StoreError::BadRow {
        table: "partnerships",
        id: id.to_string(),
        column,
        problem: problem.into(),
    }
}

/// Columns by position (the order of `partnership_columns!`): looking a
/// name up costs a hash and a compare per column per row.
pub(super) fn partnership_from_row<R>(r: &R) -> Result<Partnership>
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

/// The names of the columns in which two versions of a partnership differ.
/// (column, old value, new value) as the import shows them.
pub type FieldChange = (&'static str, String, String);

pub(super) fn changed_columns(a: &Partnership, b: &Partnership) -> Vec<FieldChange> {
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
