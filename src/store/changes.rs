//! Change records and the committees' meeting plans kept in the database.
//!
//! A change record says who changed which field of a partnership or a
//! committee, when, from what to what and through which channel; like events
//! they are never changed or deleted (triggers refuse it). A committee's
//! plan moves into the database at its first change (the configuration's
//! meetings are its seed) and from then on replaces the configuration's
//! `meetings` and `submission_days` for that committee
//! (`Config::with_plans`).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Postgres, Row, Sqlite};

use super::{Backend, FieldChange, Pool, Result, Store, StoreError, partnership_from_row};
use crate::domain::{Amount, Channel, CommitteeKey, Email, Partnership};

/// What a change record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Partnership,
    Committee,
}

impl Subject {
    pub fn name(self) -> &'static str {
        match self {
            Self::Partnership => "partnership",
            Self::Committee => "committee",
        }
    }
}

/// Who changes something, when and through which channel.
#[derive(Debug, Clone)]
pub struct Actor {
    pub by: String,
    pub channel: Channel,
    pub at: DateTime<Utc>,
}

/// One stored change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    pub id: i64,
    pub field: String,
    pub old: String,
    pub new: String,
    /// Unix seconds.
    pub at: i64,
    pub by: String,
    pub channel: String,
}

/// A committee's plan as the database holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPlan {
    pub committee: String,
    pub submission_days: u32,
    /// Sorted, no duplicates.
    pub meetings: Vec<NaiveDate>,
    /// Unix seconds: when the plan moved into the database.
    pub since: i64,
}

/// committee, submission days, since.
type PlanRow = (String, i64, i64);

/// committee, organisation, start, end.
pub type Term = (String, String, NaiveDate, Option<NaiveDate>);

/// One change to a committee's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanChange {
    /// New meetings; those already planned are left as they are.
    Add(Vec<NaiveDate>),
    Move {
        from: NaiveDate,
        to: NaiveDate,
    },
    Remove(NaiveDate),
    SubmissionDays(u32),
}

/// The plans the database holds replace the configuration's meetings and
/// submission days of their committees. A plan for a committee no longer
/// in the configuration is kept but not used.
pub fn apply_plans(cfg: &mut crate::config::Config, plans: &[StoredPlan]) {
    for plan in plans {
        let Ok(key) = CommitteeKey::parse(&plan.committee) else {
            continue;
        };
        if let Some(c) = cfg.committees.get_mut(&key) {
            c.meetings = plan.meetings.clone();
            c.submission_days = plan.submission_days;
            c.plan_stored_since = Some(plan.since);
        }
    }
}

/// Publishes the configuration in force with the database's plans taken in
/// (a process's pages and jobs read it from `tx`); returns the plans'
/// version (`Store::plans_version`) it was made from.
pub async fn publish_plans(
    store: &Store,
    tx: &tokio::sync::watch::Sender<std::sync::Arc<crate::config::Config>>,
) -> Result<i64> {
    let version = store.plans_version().await?;
    let plans = store.committee_plans().await?;
    tx.send_modify(|cfg| {
        let mut next = (**cfg).clone();
        apply_plans(&mut next, &plans);
        *cfg = std::sync::Arc::new(next);
    });
    Ok(version)
}

/// A change record's field in Swedish, for pages and `iopd show`.
pub fn field_label(field: &str) -> &str {
    match field {
        "partnership" => "partnerskap",
        "organisation" => "organisation",
        "committee" => "nämnd",
        "officer" => "handläggare",
        "deputy_email" => "ersättare",
        "partner_email" => "kontakt hos parten",
        "start_date" => "startdatum",
        "end_date" => "slutdatum",
        "annual_amount" => "årligt belopp",
        "checkins_per_year" => "avstämningar per år",
        "notice_months" => "uppsägningstid (månader)",
        "notes" => "anteckningar",
        "plan" => "sammanträdesplanen hålls i",
        "meeting" => "sammanträde",
        "submission_days" => "underlag, dagar före sammanträdet",
        other => other,
    }
}

impl Change {
    /// What changed, in Swedish: "sammanträde 2026-06-11 flyttat till
    /// 2026-07-02", "organisation: A → B".
    pub fn describe(&self) -> String {
        match (self.field.as_str(), self.old.as_str(), self.new.as_str()) {
            ("partnership", _, _) => "tillagt i registret".to_string(),
            ("plan", _, _) => {
                "sammanträdesplanen flyttad från konfigurationen till arbetsytan".to_string()
            }
            ("meeting", NONE, new) => format!("sammanträde {new} tillagt"),
            ("meeting", old, NONE) => format!("sammanträde {old} borttaget"),
            ("meeting", old, new) => format!("sammanträde {old} flyttat till {new}"),
            (field, old, new) => format!("{}: {old} → {new}", field_label(field)),
        }
    }
}

/// A channel's name in Swedish, for pages.
pub fn channel_label(channel: &str) -> &str {
    match channel {
        "workspace" => "arbetsytan",
        "import" => "importen",
        "cli" => "kommandoraden",
        "web" => "länken i mejlet",
        other => other,
    }
}

/// A "no value" in a change record's old or new side.
pub const NONE: &str = "–";

macro_rules! insert_changes {
    ($tx:expr, $subject:expr, $id:expr, $changes:expr, $actor:expr) => {{
        let actor: &Actor = $actor;
        for change in $changes {
            let (field, old, new): &FieldChange = change;
            sqlx::query(
                "INSERT INTO changes (subject, subject_id, field, old_value, new_value, changed_at, \
                 changed_by, channel) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind($subject.name())
            .bind($id)
            .bind(*field)
            .bind(old.as_str())
            .bind(new.as_str())
            .bind(actor.at.timestamp())
            .bind(actor.by.as_str())
            .bind(actor.channel.name())
            .execute(&mut *$tx)
            .await?;
        }
    }};
}
pub(super) use insert_changes;

impl Store {
    /// The change records of one partnership or committee, oldest first.
    pub async fn changes(&self, subject: Subject, id: &str) -> Result<Vec<Change>> {
        let rows = with_pool!(self, |pool, B| {
            sqlx::query(
                "SELECT id, field, old_value, new_value, changed_at, changed_by, channel \
                 FROM changes WHERE subject = $1 AND subject_id = $2 ORDER BY id",
            )
            .bind(subject.name())
            .bind(id)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| {
                Ok(Change {
                    id: r.try_get("id")?,
                    field: r.try_get("field")?,
                    old: r.try_get("old_value")?,
                    new: r.try_get("new_value")?,
                    at: r.try_get("changed_at")?,
                    by: r.try_get("changed_by")?,
                    channel: r.try_get("channel")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        Ok(rows)
    }

    /// The newest committee change: a process compares it with the one its
    /// plans were read at to know when to read them again.
    pub async fn plans_version(&self) -> Result<i64> {
        Ok(with_pool!(self, |pool, B| {
            sqlx::query_scalar::<_, i64>(
                "SELECT COALESCE(MAX(id), 0) FROM changes WHERE subject = 'committee'",
            )
            .fetch_one(pool)
            .await?
        }))
    }

    /// The partnerships still running on `today` as (committee,
    /// organisation, start, end): what each committee's next follow-up is
    /// worked out from.
    pub async fn running_terms(&self, today: NaiveDate) -> Result<Vec<Term>> {
        Ok(with_pool!(self, |pool, B| {
            sqlx::query_as(
                "SELECT committee, organisation, start_date, end_date FROM partnerships \
                 WHERE end_date IS NULL OR end_date >= $1",
            )
            .bind(today)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Changes whenever a partnership is added or any row or history
    /// changes: (how many, the sum of their revisions).
    pub async fn register_version(&self) -> Result<(i64, i64)> {
        Ok(with_pool!(self, |pool, B| {
            sqlx::query_as(
                "SELECT COUNT(*), CAST(COALESCE(SUM(revision), 0) AS BIGINT) FROM partnerships",
            )
            .fetch_one(pool)
            .await?
        }))
    }

    /// Every plan the database holds.
    pub async fn committee_plans(&self) -> Result<Vec<StoredPlan>> {
        let (plans, meetings): (Vec<PlanRow>, Vec<(String, NaiveDate)>) =
            with_pool!(self, |pool, B| {
                let plans = sqlx::query_as(
                    "SELECT committee, CAST(submission_days AS BIGINT), since FROM committee_plans \
                     ORDER BY committee",
                )
                .fetch_all(pool)
                .await?;
                let meetings = sqlx::query_as(
                    "SELECT committee, meeting FROM committee_meetings ORDER BY committee, meeting",
                )
                .fetch_all(pool)
                .await?;
                (plans, meetings)
            });
        Ok(plans
            .into_iter()
            .map(|(committee, days, since)| StoredPlan {
                meetings: meetings
                    .iter()
                    .filter(|(c, _)| *c == committee)
                    .map(|(_, m)| *m)
                    .collect(),
                committee,
                submission_days: u32::try_from(days).unwrap_or(0),
                since,
            })
            .collect())
    }

    /// Applies `change` to a committee's plan in one transaction, moving the
    /// plan into the database first if it is not there (`seed`: the
    /// configuration's submission days and meetings). Returns what changed;
    /// refuses a move or removal of a meeting that is not planned, or a move
    /// onto one that is.
    pub async fn change_plan(
        &self,
        committee: &CommitteeKey,
        seed: (u32, &[NaiveDate]),
        change: &PlanChange,
        actor: &Actor,
    ) -> Result<Vec<FieldChange>> {
        let key = committee.as_str();
        with_pool!(self, |pool, B| {
            let mut tx = pool.begin_with(<B as Backend>::BEGIN_WRITE).await?;
            // Two people changing plans at once: the second reads the plan
            // after the first's change, so a meeting is not moved twice nor
            // the plan seeded twice.
            if let Some(turn) = <B as Backend>::turn(super::Turns::CommitteePlans) {
                sqlx::query(turn).execute(&mut *tx).await?;
            }
            let days: Option<i64> = sqlx::query_scalar(
                "SELECT CAST(submission_days AS BIGINT) FROM committee_plans WHERE committee = $1",
            )
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
            let mut records: Vec<FieldChange> = Vec::new();
            let days = match days {
                Some(d) => u32::try_from(d).unwrap_or(0),
                None => {
                    sqlx::query(
                        "INSERT INTO committee_plans (committee, submission_days, since) VALUES ($1, $2, $3)",
                    )
                    .bind(key)
                    .bind(i64::from(seed.0))
                    .bind(actor.at.timestamp())
                    .execute(&mut *tx)
                    .await?;
                    for m in seed.1 {
                        sqlx::query(
                            "INSERT INTO committee_meetings (committee, meeting) VALUES ($1, $2) \
                             ON CONFLICT DO NOTHING",
                        )
                        .bind(key)
                        .bind(*m)
                        .execute(&mut *tx)
                        .await?;
                    }
                    records.push((
                        "plan",
                        "konfigurationen".to_string(),
                        "databasen".to_string(),
                    ));
                    seed.0
                }
            };
            let planned: Vec<NaiveDate> = sqlx::query_scalar(
                "SELECT meeting FROM committee_meetings WHERE committee = $1 ORDER BY meeting",
            )
            .bind(key)
            .fetch_all(&mut *tx)
            .await?;
            let refuse = |msg: String| Err(StoreError::Refused(msg));
            match change {
                PlanChange::Add(dates) => {
                    for d in dates {
                        if planned.contains(d) {
                            continue;
                        }
                        sqlx::query(
                            "INSERT INTO committee_meetings (committee, meeting) VALUES ($1, $2) \
                             ON CONFLICT DO NOTHING",
                        )
                        .bind(key)
                        .bind(*d)
                        .execute(&mut *tx)
                        .await?;
                        records.push(("meeting", NONE.to_string(), d.to_string()));
                    }
                }
                PlanChange::Move { from, to } => {
                    if !planned.contains(from) {
                        return refuse(format!("det finns inget sammanträde {from} att flytta"));
                    }
                    if planned.contains(to) {
                        return refuse(format!("det finns redan ett sammanträde {to}"));
                    }
                    sqlx::query(
                        "DELETE FROM committee_meetings WHERE committee = $1 AND meeting = $2",
                    )
                    .bind(key)
                    .bind(*from)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO committee_meetings (committee, meeting) VALUES ($1, $2)",
                    )
                    .bind(key)
                    .bind(*to)
                    .execute(&mut *tx)
                    .await?;
                    records.push(("meeting", from.to_string(), to.to_string()));
                }
                PlanChange::Remove(date) => {
                    if !planned.contains(date) {
                        return refuse(format!("det finns inget sammanträde {date} att ta bort"));
                    }
                    sqlx::query(
                        "DELETE FROM committee_meetings WHERE committee = $1 AND meeting = $2",
                    )
                    .bind(key)
                    .bind(*date)
                    .execute(&mut *tx)
                    .await?;
                    records.push(("meeting", date.to_string(), NONE.to_string()));
                }
                PlanChange::SubmissionDays(n) => {
                    if *n != days {
                        sqlx::query(
                            "UPDATE committee_plans SET submission_days = $1 WHERE committee = $2",
                        )
                        .bind(i64::from(*n) as i32)
                        .bind(key)
                        .execute(&mut *tx)
                        .await?;
                        records.push(("submission_days", days.to_string(), n.to_string()));
                    }
                }
            }
            insert_changes!(tx, Subject::Committee, key, records.iter(), actor);
            tx.commit().await?;
            Ok(records)
        })
    }

    /// Changes one partnership's row (not its id) from `expected` (the row
    /// the form was filled in from) to `new`, in one transaction with its
    /// change records; returns what changed. Refused when the row is no
    /// longer `expected`: a change made meanwhile is not overwritten.
    pub async fn update_partnership(
        &self,
        expected: &Partnership,
        new: &Partnership,
        actor: &Actor,
    ) -> Result<Vec<FieldChange>> {
        let diff = super::changed_columns(expected, new);
        if diff.is_empty() {
            return Ok(diff);
        }
        let changed_meanwhile = || {
            StoreError::Refused(format!(
                "partnerskapet {} har ändrats av någon annan sedan sidan öppnades; läs in sidan igen och gör ändringen på nytt",
                new.id
            ))
        };
        with_pool!(self, |pool, B| {
            let mut tx = pool.begin_with(<B as Backend>::BEGIN_WRITE).await?;
            let current: Partnership = load_partnership!(&mut *tx, &new.id)?;
            if current != *expected {
                return Err(changed_meanwhile());
            }
            let revision: i64 = sqlx::query_scalar(
                "SELECT CAST(revision AS BIGINT) FROM partnerships WHERE id = $1",
            )
            .bind(new.id.as_str())
            .fetch_one(&mut *tx)
            .await?;
            let done = sqlx::query(
                "UPDATE partnerships SET organisation = $1, committee = $2, officer_name = $3, \
                 officer_email = $4, deputy_email = $5, partner_email = $6, start_date = $7, \
                 end_date = $8, annual_amount_ore = $9, checkins_per_year = $10, notice_months = $11, \
                 notes = $12, updated_at = $13 WHERE id = $14 AND revision = $15",
            )
            .bind(new.organisation.as_str())
            .bind(new.committee.as_str())
            .bind(new.officer.name.as_str())
            .bind(new.officer.email.as_str())
            .bind(new.deputy.as_ref().map(Email::as_str))
            .bind(new.partner_contact.as_ref().map(Email::as_str))
            .bind(new.start)
            .bind(new.end)
            .bind(new.annual_amount.map(Amount::ore))
            .bind(new.checkins_per_year.map(|c| c.get() as i32))
            .bind(new.notice_months.map(|n| n as i32))
            .bind(new.notes.as_str())
            .bind(<B as Backend>::instant(actor.at))
            .bind(new.id.as_str())
            .bind(revision)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                return Err(changed_meanwhile());
            }
            insert_changes!(
                tx,
                Subject::Partnership,
                new.id.as_str(),
                diff.iter(),
                actor
            );
            tx.commit().await?;
        });
        Ok(diff)
    }

    /// Adds one new partnership with its change record; refuses an id that
    /// is already in the register.
    pub async fn add_partnership(&self, p: &Partnership, actor: &Actor) -> Result<()> {
        with_pool!(self, |pool, B| {
            let mut tx = pool.begin_with(<B as Backend>::BEGIN_WRITE).await?;
            let done = sqlx::query(
                "INSERT INTO partnerships (id, organisation, committee, officer_name, officer_email, \
                 deputy_email, partner_email, start_date, end_date, annual_amount_ore, checkins_per_year, \
                 notice_months, notes, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(p.id.as_str())
            .bind(p.organisation.as_str())
            .bind(p.committee.as_str())
            .bind(p.officer.name.as_str())
            .bind(p.officer.email.as_str())
            .bind(p.deputy.as_ref().map(Email::as_str))
            .bind(p.partner_contact.as_ref().map(Email::as_str))
            .bind(p.start)
            .bind(p.end)
            .bind(p.annual_amount.map(Amount::ore))
            .bind(p.checkins_per_year.map(|c| c.get() as i32))
            .bind(p.notice_months.map(|n| n as i32))
            .bind(p.notes.as_str())
            .bind(<B as Backend>::instant(actor.at))
            .bind(<B as Backend>::instant(actor.at))
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Refused(format!(
                    "id {} finns redan i registret",
                    p.id
                )));
            }
            let added = [("partnership", NONE.to_string(), "tillagt".to_string())];
            insert_changes!(tx, Subject::Partnership, p.id.as_str(), added.iter(), actor);
            tx.commit().await?;
        });
        Ok(())
    }
}
