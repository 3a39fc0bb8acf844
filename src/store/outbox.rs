//! The outbox, the calendar-invite state and the tick log.

use std::collections::HashSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sqlx::{Postgres, Row, Sqlite};

use super::{Backend, Evaluation, NO_DUE, Pool, Result, Store};

/// How often, and how far apart, a claim that found only rows held by
/// another transaction looks again (about two seconds in all).
const HELD_LOOKS: u32 = 40;
const HELD_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// One mail to enqueue (a rendered message for one recipient).
#[derive(Debug, Clone)]
pub struct NewMail {
    /// `{checkpoint key}|{due}|{stage}|{recipient}`: unique.
    pub key: String,
    pub checkpoint_key: String,
    pub partnership_id: String,
    pub kind: String,
    pub stage: String,
    pub due: NaiveDate,
    pub recipient: String,
    pub envelope_to: String,
    pub send_on: NaiveDate,
    pub late: bool,
    pub message_id: String,
    pub subject: String,
    pub message: Vec<u8>,
    /// Why the mail could not be built: stored as failed, never sent.
    pub failed: Option<String>,
    /// A reminder stage: `message` is its section (see `mail::Section`), sent
    /// only inside the recipient's mail of the day (`bundle`).
    pub item: bool,
    /// An item's place in its mail (`mail::Section::rank`); 0 otherwise.
    pub rank: i32,
}

/// The calendar entry a recipient holds for a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteState {
    pub sequence: i32,
    pub due: NaiveDate,
    pub cancelled: bool,
    /// What the entry says (date, title, meeting); `None` for entries stored
    /// before it was kept.
    pub fingerprint: Option<String>,
}

/// The new state of the calendar entry one recipient holds for a checkpoint.
#[derive(Debug, Clone)]
pub struct NewInvite {
    pub checkpoint_key: String,
    pub partnership_id: String,
    pub recipient: String,
    pub state: InviteState,
}

/// Everything one tick (or one chunk of it) writes, in one transaction.
#[derive(Debug, Default)]
pub struct Enqueue {
    pub mails: Vec<NewMail>,
    pub invites: Vec<NewInvite>,
    /// Checkpoints now done or cancelled: their pending reminders are dropped.
    pub closed: Vec<String>,
    /// The partnerships evaluated, with the mails above.
    pub evaluations: Vec<Evaluation>,
}

/// A row claimed for delivery.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub key: String,
    pub recipient: String,
    pub envelope_to: String,
    pub message: Vec<u8>,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

/// A row of the send log (`iopd outbox`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub key: String,
    pub checkpoint_key: String,
    pub stage: String,
    pub due: NaiveDate,
    pub recipient: String,
    pub send_on: NaiveDate,
    pub late: bool,
    pub subject: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// A reminder stage, sent as a section of its recipient's mail of the day.
    pub item: bool,
    /// The key of the mail of the day that carries this item.
    pub bundle: Option<String>,
}

macro_rules! outbox_row {
    ($B:ty, $r:expr) => {{
        let r = $r;
        OutboxRow {
            id: r.try_get("id")?,
            key: r.try_get("key")?,
            checkpoint_key: r.try_get("checkpoint_key")?,
            stage: r.try_get("stage")?,
            due: r.try_get("due_date")?,
            recipient: r.try_get("recipient")?,
            send_on: r.try_get("send_on")?,
            late: r.try_get("late")?,
            subject: r.try_get("subject")?,
            status: r.try_get("status")?,
            attempts: r.try_get("attempts")?,
            last_error: r.try_get("last_error")?,
            created_at: <$B as Backend>::from_instant(r.try_get("created_at")?),
            sent_at: r
                .try_get::<Option<<$B as Backend>::Instant>, _>("sent_at")?
                .map(<$B as Backend>::from_instant),
            item: r.try_get("item")?,
            bundle: r.try_get("bundle")?,
        }
    }};
}

/// A reminder item waiting for its day's mail (none yet, or one not yet sent).
#[derive(Debug, Clone)]
pub struct PendingItem {
    pub id: i64,
    pub key: String,
    pub checkpoint_key: String,
    pub recipient: String,
    pub envelope_to: String,
    pub late: bool,
    /// The unsent mail that carries it now, if any.
    pub bundle: Option<String>,
    /// Its place in the mail, due date and headline (the section is read
    /// only for the items shown in full).
    pub rank: i32,
    pub due: NaiveDate,
    pub headline: String,
}

/// A day's mail to one person and the items it carries.
#[derive(Debug, Clone)]
pub struct NewBundle {
    pub mail: NewMail,
    pub items: Vec<i64>,
}

/// What one round of bundling writes, in one transaction.
#[derive(Debug, Default)]
pub struct Bundling {
    /// Items a later stage of the same checkpoint and recipient replaced (RULES 14).
    pub superseded: Vec<i64>,
    /// Items whose section cannot be read, with the reason.
    pub failed: Vec<(i64, String)>,
    /// Unsent mails whose contents changed: cancelled, their items released.
    pub dissolved: Vec<String>,
    pub bundles: Vec<NewBundle>,
}

impl Store {
    /// Checkpoint keys with reminders waiting (pending or being sent).
    pub async fn checkpoints_with_pending(&self) -> Result<HashSet<String>> {
        with_pool!(self, |pool, B| {
            let keys: Vec<String> = sqlx::query_scalar(
                "SELECT DISTINCT checkpoint_key FROM outbox WHERE status IN ('pending', 'sending') AND (item OR stage LIKE 'd+%' OR stage LIKE 'd-%' OR stage = 'd0')",
            )
            .fetch_all(pool)
            .await?;
            Ok(keys.into_iter().collect())
        })
    }

    /// Which of these outbox keys exist already.
    pub async fn existing_keys(&self, keys: &[String]) -> Result<HashSet<String>> {
        let mut found = HashSet::new();
        for chunk in keys.chunks(500) {
            with_pool!(self, |pool, B| {
                let mut q = sqlx::QueryBuilder::<B>::new("SELECT key FROM outbox WHERE key IN (");
                let mut sep = q.separated(", ");
                for k in chunk {
                    sep.push_bind(k.as_str());
                }
                q.push(")");
                for r in q.build().fetch_all(pool).await? {
                    found.insert(r.try_get::<String, _>("key")?);
                }
            });
        }
        Ok(found)
    }

    /// Writes one tick's (or chunk's) mails, invite states, cancellations and
    /// evaluations atomically.
    /// A mail whose key exists already is skipped (another process or an
    /// earlier tick enqueued it); returns how many were inserted.
    pub async fn enqueue(&self, e: &Enqueue, now: DateTime<Utc>) -> Result<u64> {
        with_pool!(self, |pool, B| {
            let mut tx = pool.begin_with(<B as Backend>::BEGIN_WRITE).await?;
            let mut inserted = 0;
            for m in &e.mails {
                let id: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO outbox (key, checkpoint_key, partnership_id, kind, stage, due_date, recipient, \
                     envelope_to, send_on, late, message_id, subject, status, attempts, next_attempt_at, \
                     created_at, last_error, item, rank) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $14, 0, $13, $13, $15, $16, $17) \
                     ON CONFLICT (key) DO NOTHING RETURNING id",
                )
                .bind(&m.key)
                .bind(&m.checkpoint_key)
                .bind(&m.partnership_id)
                .bind(&m.kind)
                .bind(&m.stage)
                .bind(m.due)
                .bind(&m.recipient)
                .bind(&m.envelope_to)
                .bind(m.send_on)
                .bind(m.late)
                .bind(&m.message_id)
                .bind(&m.subject)
                .bind(<B as Backend>::instant(now))
                .bind(if m.failed.is_some() { "failed" } else { "pending" })
                .bind(m.failed.as_deref())
                .bind(m.item)
                .bind(m.rank)
                .fetch_optional(&mut *tx)
                .await?;
                // A mail that could not be built has no message to store.
                if let Some(id) = id
                    && m.failed.is_none()
                {
                    sqlx::query("INSERT INTO outbox_messages (outbox_id, message) VALUES ($1, $2)")
                        .bind(id)
                        .bind(&m.message)
                        .execute(&mut *tx)
                        .await?;
                    inserted += 1;
                }
            }
            for i in &e.invites {
                sqlx::query(
                    "INSERT INTO invites (checkpoint_key, recipient, sequence, due_date, cancelled, partnership_id, fingerprint) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (checkpoint_key, recipient) DO UPDATE SET \
                     sequence = excluded.sequence, due_date = excluded.due_date, cancelled = excluded.cancelled, \
                     partnership_id = excluded.partnership_id, fingerprint = excluded.fingerprint",
                )
                .bind(&i.checkpoint_key)
                .bind(&i.recipient)
                .bind(i.state.sequence)
                .bind(i.state.due)
                .bind(i.state.cancelled)
                .bind(&i.partnership_id)
                .bind(i.state.fingerprint.as_deref())
                .execute(&mut *tx)
                .await?;
            }
            for cp in &e.closed {
                // A waiting mail of the day that carries this checkpoint is
                // made again without it: its other items are released.
                let replaced: Vec<String> = sqlx::query_scalar(
                    "UPDATE outbox SET status = 'cancelled', last_error = 'replaced by a newer mail of the day' \
                     WHERE NOT item AND status = 'pending' AND key IN (SELECT bundle FROM outbox \
                     WHERE item AND checkpoint_key = $1 AND status = 'pending' AND bundle IS NOT NULL) \
                     RETURNING key",
                )
                .bind(cp)
                .fetch_all(&mut *tx)
                .await?;
                for key in &replaced {
                    sqlx::query("UPDATE outbox SET bundle = NULL WHERE item AND bundle = $1")
                        .bind(key)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query(
                    // Reminder stages only: a calendar mail already due goes out,
                    // so a withdrawal never reaches someone without the entry.
                    "UPDATE outbox SET status = 'cancelled' WHERE checkpoint_key = $1 AND status = 'pending' \
                     AND (item OR stage LIKE 'd+%' OR stage LIKE 'd-%' OR stage = 'd0')",
                )
                .bind(cp)
                .execute(&mut *tx)
                .await?;
            }
            // 8 parameters a row; SQLite allows 32 766 in one statement.
            for chunk in e.evaluations.chunks(1000) {
                let mut q = sqlx::QueryBuilder::<B>::new(
                    "INSERT INTO evaluations (partnership_id, revision, rules, next_check, counts, \
                     overdue, next_due, committee) ",
                );
                q.push_values(chunk, |mut b, ev| {
                    b.push_bind(ev.partnership_id.as_str())
                        .push_bind(ev.revision)
                        .push_bind(ev.rules.as_str())
                        .push_bind(ev.next_check)
                        .push_bind(ev.counts.as_str())
                        .push_bind(ev.overdue)
                        .push_bind(ev.next_due.unwrap_or(NO_DUE))
                        .push_bind(ev.committee.as_str());
                });
                q.push(
                    " ON CONFLICT (partnership_id) DO UPDATE SET revision = excluded.revision, \
                     rules = excluded.rules, next_check = excluded.next_check, counts = excluded.counts, \
                     overdue = excluded.overdue, next_due = excluded.next_due, \
                     committee = excluded.committee",
                );
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(inserted)
        })
    }

    /// For each checkpoint, how many reminder stages were sent to people other
    /// than `skip` (the escalation's readers), and the last send date.
    pub async fn reminders_sent(
        &self,
        checkpoints: &[String],
        skip: &[String],
    ) -> Result<std::collections::HashMap<String, (i64, NaiveDate)>> {
        let mut out = std::collections::HashMap::new();
        for chunk in checkpoints.chunks(500) {
            with_pool!(self, |pool, B| {
                let mut q = sqlx::QueryBuilder::<B>::new(
                    "SELECT checkpoint_key, COUNT(DISTINCT stage) AS n, MAX(send_on) AS last FROM outbox \
                     WHERE status = 'sent' AND stage LIKE 'd%' AND checkpoint_key IN (",
                );
                let mut sep = q.separated(", ");
                for k in chunk {
                    sep.push_bind(k.as_str());
                }
                q.push(")");
                for r in skip {
                    q.push(" AND recipient <> ");
                    q.push_bind(r.as_str());
                }
                q.push(" GROUP BY checkpoint_key");
                for r in q.build().persistent(false).fetch_all(pool).await? {
                    let last: Option<NaiveDate> = r.try_get("last")?;
                    if let Some(last) = last {
                        out.insert(r.try_get("checkpoint_key")?, (r.try_get("n")?, last));
                    }
                }
            });
        }
        Ok(out)
    }

    /// Recipients with reminder items to go out on or before `today`.
    pub async fn item_recipients(&self, today: NaiveDate) -> Result<Vec<String>> {
        with_pool!(self, |pool, B| {
            Ok(sqlx::query_scalar(
                "SELECT DISTINCT recipient FROM outbox WHERE item AND status = 'pending' AND send_on <= $1 \
                 ORDER BY recipient",
            )
            .bind(today)
            .fetch_all(pool)
            .await?)
        })
    }

    /// The items of these recipients that wait for a mail: none yet, or one
    /// not yet handed to the server (a mail being sent keeps its items).
    pub async fn pending_items(
        &self,
        recipients: &[String],
        today: NaiveDate,
    ) -> Result<Vec<PendingItem>> {
        let mut out = Vec::new();
        for chunk in recipients.chunks(500) {
            with_pool!(self, |pool, B| {
                let mut q = sqlx::QueryBuilder::<B>::new(
                    "SELECT o.id, o.key, o.checkpoint_key, o.recipient, o.envelope_to, o.late, o.bundle, \
                     o.rank, o.due_date, o.subject FROM outbox o \
                     WHERE o.item AND o.status = 'pending' AND o.send_on <= ",
                );
                q.push_bind(today);
                q.push(
                    " AND (o.bundle IS NULL OR EXISTS (SELECT 1 FROM outbox b WHERE b.key = o.bundle \
                     AND b.status = 'pending')) AND o.recipient IN (",
                );
                let mut sep = q.separated(", ");
                for r in chunk {
                    sep.push_bind(r.as_str());
                }
                q.push(") ORDER BY o.id");
                for r in q.build().persistent(false).fetch_all(pool).await? {
                    out.push(PendingItem {
                        id: r.try_get("id")?,
                        key: r.try_get("key")?,
                        checkpoint_key: r.try_get("checkpoint_key")?,
                        recipient: r.try_get("recipient")?,
                        envelope_to: r.try_get("envelope_to")?,
                        late: r.try_get("late")?,
                        bundle: r.try_get("bundle")?,
                        rank: r.try_get("rank")?,
                        due: r.try_get("due_date")?,
                        headline: r.try_get("subject")?,
                    });
                }
            });
        }
        Ok(out)
    }

    /// The stored sections of these items. (Statements with a list of
    /// varying length are not kept prepared: one text per length.)
    pub async fn sections(&self, ids: &[i64]) -> Result<std::collections::HashMap<i64, Vec<u8>>> {
        let mut out = std::collections::HashMap::new();
        for chunk in ids.chunks(500) {
            with_pool!(self, |pool, B| {
                let mut q = sqlx::QueryBuilder::<B>::new(
                    "SELECT outbox_id, message FROM outbox_messages WHERE outbox_id IN (",
                );
                let mut sep = q.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                q.push(")");
                for r in q.build().persistent(false).fetch_all(pool).await? {
                    out.insert(r.try_get("outbox_id")?, r.try_get("message")?);
                }
            });
        }
        Ok(out)
    }

    /// Writes one round of bundling. Returns the mails inserted; nothing is
    /// written when a mail to dissolve was claimed for sending meanwhile (the
    /// next tick bundles again).
    pub async fn write_bundles(&self, b: &Bundling, now: DateTime<Utc>) -> Result<u64> {
        with_pool!(self, |pool, B| {
            let mut tx = pool.begin_with(<B as Backend>::BEGIN_WRITE).await?;
            for key in &b.dissolved {
                let done = sqlx::query(
                    "UPDATE outbox SET status = 'cancelled', last_error = 'replaced by a newer mail of the day' \
                     WHERE key = $1 AND status = 'pending'",
                )
                .bind(key)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    tx.rollback().await?;
                    return Ok(0);
                }
                sqlx::query("UPDATE outbox SET bundle = NULL WHERE item AND bundle = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
            for id in &b.superseded {
                sqlx::query(
                    "UPDATE outbox SET status = 'cancelled', bundle = NULL, \
                     last_error = 'superseded by a later stage' WHERE id = $1 AND status = 'pending'",
                )
                .bind(*id)
                .execute(&mut *tx)
                .await?;
            }
            for (id, why) in &b.failed {
                sqlx::query(
                    "UPDATE outbox SET status = 'failed', bundle = NULL, last_error = $1 WHERE id = $2",
                )
                .bind(why)
                .bind(*id)
                .execute(&mut *tx)
                .await?;
            }
            let mut inserted = 0;
            for nb in &b.bundles {
                let m = &nb.mail;
                // A mail with this key already there is left alone without
                // locking it (`DO NOTHING`): another process may be marking it
                // sent, and waiting on it here while holding this round's
                // rows would deadlock with that.
                let mut id: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO outbox (key, checkpoint_key, partnership_id, kind, stage, due_date, recipient, \
                     envelope_to, send_on, late, message_id, subject, status, attempts, next_attempt_at, \
                     created_at, item) VALUES ($1, '', '', 'reminders', 'bundle', $2, $3, $4, $2, $5, $6, $7, \
                     'pending', 0, $8, $8, $9) ON CONFLICT (key) DO NOTHING RETURNING id",
                )
                .bind(&m.key)
                .bind(m.send_on)
                .bind(&m.recipient)
                .bind(&m.envelope_to)
                .bind(m.late)
                .bind(&m.message_id)
                .bind(&m.subject)
                .bind(<B as Backend>::instant(now))
                .bind(false)
                .fetch_optional(&mut *tx)
                .await?;
                if id.is_none() {
                    // The same contents on the same day make the same key: a
                    // mail dissolved earlier today comes back rather than clash.
                    id = sqlx::query_scalar(
                        "UPDATE outbox SET status = 'pending', last_error = NULL, claimed_until = NULL, \
                         attempts = 0, next_attempt_at = $1 WHERE key = $2 AND status = 'cancelled' RETURNING id",
                    )
                    .bind(<B as Backend>::instant(now))
                    .bind(&m.key)
                    .fetch_optional(&mut *tx)
                    .await?;
                }
                let Some(id) = id else {
                    continue;
                };
                sqlx::query(
                    "INSERT INTO outbox_messages (outbox_id, message) VALUES ($1, $2) \
                     ON CONFLICT (outbox_id) DO UPDATE SET message = excluded.message",
                )
                .bind(id)
                .bind(&m.message)
                .execute(&mut *tx)
                .await?;
                // Only items no other mail carries: another process that
                // bundled them since they were read wins, and this round is
                // undone (the next tick bundles again).
                for chunk in nb.items.chunks(10_000) {
                    let mut q = sqlx::QueryBuilder::<B>::new("UPDATE outbox SET bundle = ");
                    q.push_bind(m.key.as_str());
                    q.push(" WHERE item AND status = 'pending' AND bundle IS NULL AND id IN (");
                    let mut sep = q.separated(", ");
                    for i in chunk {
                        sep.push_bind(*i);
                    }
                    q.push(")");
                    let done = q.build().persistent(false).execute(&mut *tx).await?;
                    if done.rows_affected() != chunk.len() as u64 {
                        tx.rollback().await?;
                        return Ok(0);
                    }
                }
                inserted += 1;
            }
            tx.commit().await?;
            Ok(inserted)
        })
    }

    /// Takes up to `limit` rows that are due for a (re)try. PostgreSQL skips
    /// rows another process holds (`FOR UPDATE SKIP LOCKED`); SQLite has one
    /// writer at a time. A row stays `sending` under a lease, so a process
    /// that dies mid-send leaves it to be taken again after the lease (the
    /// one allowed repeat, with the same Message-ID). When nothing could be
    /// taken but due rows are held by another transaction, it looks again for
    /// a while: that transaction may let them go unsent (a round of bundling
    /// undone), and a due mail should not wait for the next run.
    pub async fn claim(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<Claimed>> {
        let lease = now + lease;
        let mut looked_again = 0;
        macro_rules! claim_with {
            ($pool:expr, $B:ty, $lock:literal) => {{
                loop {
                    let mut tx = $pool.begin_with(<$B as Backend>::BEGIN_WRITE).await?;
                    let rows = sqlx::query(concat!(
                        "UPDATE outbox SET status = 'sending', claimed_until = $1 WHERE id IN (SELECT id FROM outbox \
                         WHERE NOT item AND ((status = 'pending' AND next_attempt_at <= $2) OR (status = 'sending' AND claimed_until < $2)) \
                         ORDER BY id LIMIT $3",
                        $lock,
                        ") RETURNING id, key, recipient, envelope_to, attempts, created_at"
                    ))
                    .bind(<$B as Backend>::instant(lease))
                    .bind(<$B as Backend>::instant(now))
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                    let mut superseded = std::collections::HashSet::new();
                    let mut messages = std::collections::HashMap::with_capacity(rows.len());
                    if !rows.is_empty() {
                        // RULES 14: a stage that a later stage of the same
                        // checkpoint and recipient has superseded is never sent,
                        // however long the service or the mail server was down
                        // in between. Checked on the claimed rows only, so a
                        // claim stays cheap.
                        let mut q = sqlx::QueryBuilder::<$B>::new(
                            "UPDATE outbox SET status = 'cancelled', claimed_until = NULL, \
                             last_error = 'superseded by a later stage' WHERE id IN (",
                        );
                        let mut ids = q.separated(", ");
                        for r in &rows {
                            ids.push_bind(r.try_get::<i64, _>("id")?);
                        }
                        q.push(
                            ") AND (stage LIKE 'd+%' OR stage LIKE 'd-%' OR stage = 'd0') \
                             AND EXISTS (SELECT 1 FROM outbox later WHERE later.checkpoint_key = outbox.checkpoint_key \
                             AND later.recipient = outbox.recipient AND later.id > outbox.id \
                             AND (later.stage LIKE 'd+%' OR later.stage LIKE 'd-%' OR later.stage = 'd0') \
                             AND later.status IN ('pending', 'sending', 'sent')) RETURNING id",
                        );
                        for r in q.build().fetch_all(&mut *tx).await? {
                            superseded.insert(r.try_get::<i64, _>("id")?);
                        }
                        let mut q = sqlx::QueryBuilder::<$B>::new(
                            "SELECT outbox_id, message FROM outbox_messages WHERE outbox_id IN (",
                        );
                        let mut sep = q.separated(", ");
                        for r in &rows {
                            sep.push_bind(r.try_get::<i64, _>("id")?);
                        }
                        q.push(")");
                        for r in q.build().fetch_all(&mut *tx).await? {
                            messages.insert(
                                r.try_get::<i64, _>("outbox_id")?,
                                r.try_get::<Vec<u8>, _>("message")?,
                            );
                        }
                    }
                    // A row without its message (bad database contents) fails
                    // alone; the others of the batch go on.
                    let mut orphans = Vec::new();
                    let mut out = Vec::with_capacity(rows.len());
                    for r in rows {
                        let id: i64 = r.try_get("id")?;
                        if superseded.contains(&id) {
                            continue;
                        }
                        let Some(message) = messages.remove(&id) else {
                            orphans.push(id);
                            continue;
                        };
                        out.push(Claimed {
                            id,
                            key: r.try_get("key")?,
                            recipient: r.try_get("recipient")?,
                            envelope_to: r.try_get("envelope_to")?,
                            message,
                            attempts: r.try_get("attempts")?,
                            created_at: <$B as Backend>::from_instant(r.try_get("created_at")?),
                        });
                    }
                    for id in &orphans {
                        sqlx::query(
                            "UPDATE outbox SET status = 'failed', claimed_until = NULL, \
                             last_error = 'the database holds no message for this row' WHERE id = $1",
                        )
                        .bind(*id)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    out.sort_by_key(|c| c.id);
                    // All superseded or failed: claim the next ones rather than stop.
                    if out.is_empty() && (!superseded.is_empty() || !orphans.is_empty()) {
                        continue;
                    }
                    // Only PostgreSQL skips rows others hold; SQLite's claim saw every row.
                    if out.is_empty() && !$lock.is_empty() && looked_again < HELD_LOOKS {
                        let held: bool = sqlx::query_scalar(
                            "SELECT EXISTS (SELECT 1 FROM outbox WHERE NOT item AND \
                             ((status = 'pending' AND next_attempt_at <= $1) OR (status = 'sending' AND claimed_until < $1)))",
                        )
                        .bind(<$B as Backend>::instant(now))
                        .fetch_one($pool)
                        .await?;
                        if held {
                            looked_again += 1;
                            tokio::time::sleep(HELD_PAUSE).await;
                            continue;
                        }
                    }
                    break Ok(out);
                }
            }};
        }
        match &self.pool {
            Pool::Sqlite(pool) => claim_with!(pool, Sqlite, ""),
            Pool::Pg(pool) => claim_with!(pool, Postgres, " FOR UPDATE SKIP LOCKED"),
        }
    }

    /// Marks the rows whose mails the server accepted, and the reminder items
    /// those mails carry, in one transaction; tried again after a deadlock or
    /// a lost connection, since a row left `sending` is sent again after its
    /// lease.
    pub async fn mark_sent(&self, ids: &[i64], now: DateTime<Utc>) -> Result<()> {
        // One parameter a row; SQLite allows 32 766 in one statement.
        for chunk in ids.chunks(10_000) {
            super::again("marking mails sent", || self.mark_sent_once(chunk, now)).await?;
        }
        Ok(())
    }

    async fn mark_sent_once(&self, chunk: &[i64], now: DateTime<Utc>) -> Result<()> {
        with_pool!(self, |pool, B| {
            let mut tx = pool.begin_with(<B as Backend>::BEGIN_WRITE).await?;
            for items in [false, true] {
                let mut q =
                    sqlx::QueryBuilder::<B>::new("UPDATE outbox SET status = 'sent', sent_at = ");
                q.push_bind(<B as Backend>::instant(now));
                q.push(", claimed_until = NULL, last_error = NULL WHERE ");
                q.push(if items {
                    "item AND status = 'pending' AND bundle IN (SELECT key FROM outbox WHERE id IN ("
                } else {
                    "id IN ("
                });
                let mut sep = q.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                q.push(if items { "))" } else { ")" });
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// A transient failure: try again at `next`.
    pub async fn mark_retry(
        &self,
        id: i64,
        attempts: i32,
        next: DateTime<Utc>,
        error: &str,
    ) -> Result<()> {
        with_pool!(self, |pool, B| {
            sqlx::query(
                "UPDATE outbox SET status = 'pending', attempts = $1, next_attempt_at = $2, claimed_until = NULL, \
                 last_error = $3 WHERE id = $4",
            )
            .bind(attempts)
            .bind(<B as Backend>::instant(next))
            .bind(error)
            .bind(id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// A permanent failure, of the mail and of the reminder items it carries.
    pub async fn mark_failed(&self, id: i64, attempts: i32, error: &str) -> Result<()> {
        with_pool!(self, |pool, B| {
            let mut tx = pool.begin_with(<B as Backend>::BEGIN_WRITE).await?;
            sqlx::query(
                "UPDATE outbox SET status = 'failed', attempts = $1, claimed_until = NULL, last_error = $2 WHERE id = $3",
            )
            .bind(attempts)
            .bind(error)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            // An invite that never arrived is no entry held: no withdrawal
            // follows it, and the next stage brings the entry again.
            sqlx::query(
                "UPDATE invites SET cancelled = $1 WHERE EXISTS (SELECT 1 FROM outbox o WHERE o.id = $2 \
                 AND o.stage LIKE 'invite-%' AND o.checkpoint_key = invites.checkpoint_key \
                 AND o.recipient = invites.recipient)",
            )
            .bind(true)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE outbox SET status = 'failed', last_error = $1 WHERE item AND status = 'pending' \
                 AND bundle = (SELECT key FROM outbox WHERE id = $2)",
            )
            .bind(error)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The send log, newest first; `status` filters.
    pub async fn outbox(&self, status: Option<&str>, limit: i64) -> Result<Vec<OutboxRow>> {
        with_pool!(self, |pool, B| {
            let rows = sqlx::query(
                "SELECT id, key, checkpoint_key, stage, due_date, recipient, send_on, late, subject, status, attempts, \
                 last_error, created_at, sent_at, item, bundle FROM outbox WHERE ($1 IS NULL OR status = $1) ORDER BY id DESC LIMIT $2",
            )
            .bind(status)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(outbox_row!(B, r));
            }
            Ok(out)
        })
    }

    pub async fn record_tick(
        &self,
        started: DateTime<Utc>,
        finished: DateTime<Utc>,
        enqueued: u64,
        sent: u64,
        failed: u64,
    ) -> Result<()> {
        with_pool!(self, |pool, B| {
            sqlx::query("INSERT INTO ticks (started_at, finished_at, enqueued, sent, failed) VALUES ($1, $2, $3, $4, $5)")
                .bind(<B as Backend>::instant(started))
                .bind(<B as Backend>::instant(finished))
                .bind(enqueued as i64)
                .bind(sent as i64)
                .bind(failed as i64)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
