//! The workspace's sessions and one-time sign-in links. Only hashes of the
//! secret values are stored: a copy of the database signs nobody in.

use sqlx::{Postgres, Row, Sqlite};

use super::{Backend, Pool, Result, Store};

/// A signed-in person as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub email: String,
    pub role: String,
    pub csrf: String,
    pub via: String,
    pub created_at: i64,
    pub last_seen: i64,
}

/// A sign-in under way with the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginAttempt {
    pub state_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub browser_hash: String,
    pub return_to: String,
    pub created_at: i64,
}

impl Store {
    /// Stores a one-time sign-in link (its hash), valid until `expires_at`.
    pub async fn add_signin_link(
        &self,
        token_hash: &str,
        email: &str,
        role: &str,
        expires_at: i64,
    ) -> Result<()> {
        with_pool!(self, |pool, B| {
            sqlx::query(
                "INSERT INTO signin_links (token_hash, email, role, expires_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(token_hash)
            .bind(email)
            .bind(role)
            .bind(expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Whether a sign-in link is unused and unexpired at `now`, and whose it is.
    pub async fn signin_link(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<(String, String)>> {
        Ok(with_pool!(self, |pool, B| {
            sqlx::query_as(
                "SELECT email, role FROM signin_links WHERE token_hash = $1 \
                 AND used_at IS NULL AND expires_at > $2",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Uses a sign-in link and starts its session in one transaction: a link
    /// works once, however many requests race for it.
    pub async fn use_signin_link(
        &self,
        token_hash: &str,
        session_hash: &str,
        csrf: &str,
        now: i64,
    ) -> Result<Option<SessionRow>> {
        with_pool!(self, |pool, B| {
            let mut tx = pool.begin_with(<B as Backend>::BEGIN_WRITE).await?;
            let row = sqlx::query(
                "UPDATE signin_links SET used_at = $2 WHERE token_hash = $1 \
                 AND used_at IS NULL AND expires_at > $2 RETURNING email, role",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                tx.rollback().await?;
                return Ok(None);
            };
            let email: String = row.try_get(0)?;
            let role: String = row.try_get(1)?;
            sqlx::query(
                "INSERT INTO sessions (id_hash, email, role, csrf, via, created_at, last_seen) \
                 VALUES ($1, $2, $3, $4, 'admin-link', $5, $5)",
            )
            .bind(session_hash)
            .bind(&email)
            .bind(&role)
            .bind(csrf)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Some(SessionRow {
                email,
                role,
                csrf: csrf.to_string(),
                via: "admin-link".into(),
                created_at: now,
                last_seen: now,
            }))
        })
    }

    /// The session with this hash if it is still alive at `now` (seen within
    /// `idle` seconds, started within `absolute`); marks it seen. A dead one
    /// is deleted.
    pub async fn session(
        &self,
        session_hash: &str,
        now: i64,
        idle: i64,
        absolute: i64,
    ) -> Result<Option<SessionRow>> {
        with_pool!(self, |pool, B| {
            let row = sqlx::query(
                "SELECT email, role, csrf, via, created_at, last_seen FROM sessions \
                 WHERE id_hash = $1",
            )
            .bind(session_hash)
            .fetch_optional(pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let s = SessionRow {
                email: row.try_get(0)?,
                role: row.try_get(1)?,
                csrf: row.try_get(2)?,
                via: row.try_get(3)?,
                created_at: row.try_get(4)?,
                last_seen: row.try_get(5)?,
            };
            if now - s.last_seen > idle || now - s.created_at > absolute {
                sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                    .bind(session_hash)
                    .execute(pool)
                    .await?;
                return Ok(None);
            }
            // A write per page view is not needed: a minute is fine enough
            // for an idle limit counted in minutes.
            if now - s.last_seen < 60 {
                return Ok(Some(s));
            }
            sqlx::query("UPDATE sessions SET last_seen = $2 WHERE id_hash = $1")
                .bind(session_hash)
                .bind(now)
                .execute(pool)
                .await?;
            Ok(Some(SessionRow {
                last_seen: now,
                ..s
            }))
        })
    }

    /// Stores a sign-in under way (see the migration for the columns).
    pub async fn add_login_attempt(&self, a: &LoginAttempt) -> Result<()> {
        with_pool!(self, |pool, B| {
            sqlx::query(
                "INSERT INTO login_attempts \
                 (state_hash, nonce, pkce_verifier, browser_hash, return_to, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&a.state_hash)
            .bind(&a.nonce)
            .bind(&a.pkce_verifier)
            .bind(&a.browser_hash)
            .bind(&a.return_to)
            .bind(a.created_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Takes (reads and deletes) the sign-in under way with this state, if
    /// it is younger than `max_age` seconds at `now`; older ones go too.
    pub async fn take_login_attempt(
        &self,
        state_hash: &str,
        now: i64,
        max_age: i64,
    ) -> Result<Option<LoginAttempt>> {
        with_pool!(self, |pool, B| {
            sqlx::query("DELETE FROM login_attempts WHERE created_at < $1")
                .bind(now - max_age)
                .execute(pool)
                .await?;
            let row = sqlx::query(
                "DELETE FROM login_attempts WHERE state_hash = $1 \
                 RETURNING nonce, pkce_verifier, browser_hash, return_to, created_at",
            )
            .bind(state_hash)
            .fetch_optional(pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(LoginAttempt {
                state_hash: state_hash.to_string(),
                nonce: row.try_get(0)?,
                pkce_verifier: row.try_get(1)?,
                browser_hash: row.try_get(2)?,
                return_to: row.try_get(3)?,
                created_at: row.try_get(4)?,
            }))
        })
    }

    /// Starts a session for a person the provider vouched for.
    pub async fn start_session(
        &self,
        session_hash: &str,
        email: &str,
        role: &str,
        csrf: &str,
        via: &str,
        now: i64,
    ) -> Result<()> {
        with_pool!(self, |pool, B| {
            sqlx::query(
                "INSERT INTO sessions (id_hash, email, role, csrf, via, created_at, last_seen) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6)",
            )
            .bind(session_hash)
            .bind(email)
            .bind(role)
            .bind(csrf)
            .bind(via)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Ends a session (logout).
    pub async fn end_session(&self, session_hash: &str) -> Result<()> {
        with_pool!(self, |pool, B| {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(session_hash)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Partnership ids for a workspace list, worst first by the last
    /// evaluation (the most overdue checkpoints, then the nearest due date;
    /// partnerships never evaluated last, by id), one page of `limit` from
    /// `offset`; and how many match in all.
    pub async fn partnership_page(
        &self,
        f: &ListFilter<'_>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<String>, i64)> {
        if f.is_empty() {
            // Unfiltered: the evaluations in the order of their index, then
            // those never evaluated; and the count (a window over every row
            // would read them all).
            return with_pool!(self, |pool, B| {
                let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM partnerships")
                    .fetch_one(pool)
                    .await?;
                let evaluated: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM evaluations")
                    .fetch_one(pool)
                    .await?;
                let mut ids: Vec<String> = if offset < evaluated {
                    sqlx::query_scalar(
                        "SELECT partnership_id FROM evaluations \
                         ORDER BY overdue DESC, next_due, partnership_id LIMIT $1 OFFSET $2",
                    )
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(pool)
                    .await?
                } else {
                    Vec::new()
                };
                let got = i64::try_from(ids.len()).unwrap_or(limit);
                if got < limit && total > evaluated {
                    let rest: Vec<String> = sqlx::query_scalar(
                        "SELECT id FROM partnerships p WHERE NOT EXISTS \
                         (SELECT 1 FROM evaluations e WHERE e.partnership_id = p.id) \
                         ORDER BY id LIMIT $1 OFFSET $2",
                    )
                    .bind(limit - got)
                    .bind((offset - evaluated).max(0))
                    .fetch_all(pool)
                    .await?;
                    ids.extend(rest);
                }
                Ok((ids, total))
            });
        }
        let key = match (f.status, f.kind) {
            (Some(s), Some(k)) => Some(format!("\"{s}/{k}\"")),
            (Some(s), None) => Some(format!("\"{s}/")),
            (None, Some(k)) => Some(format!("/{k}\"")),
            (None, None) => None,
        };
        if let Some(key) = &key
            && f.committee.is_none()
            && f.person.is_none()
            && f.search.is_none()
            && f.within.is_none()
        {
            // By status or kind alone: the worst-first index walked until the
            // page is full (the overdue come first, so that filter stops at
            // once), and the total from the tick's per-committee counts for a
            // status, or one pass over the counts for a kind.
            let pattern = format!("%{}%", like_escape(key));
            return with_pool!(self, |pool, B| {
                let ids: Vec<String> = sqlx::query_scalar(
                    "SELECT partnership_id FROM evaluations WHERE counts LIKE $1 ESCAPE '\\' \
                     ORDER BY overdue DESC, next_due, partnership_id LIMIT $2 OFFSET $3",
                )
                .bind(&pattern)
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await?;
                // The tick's sums hold each status, "status/kind" and "any/kind".
                let counted = match (f.status, f.kind) {
                    (Some(s), Some(k)) => format!("{s}/{k}"),
                    (Some(s), None) => s.to_string(),
                    (None, Some(k)) => format!("any/{k}"),
                    (None, None) => String::new(),
                };
                let total: i64 = sqlx::query_scalar(
                    "SELECT CAST(COALESCE(SUM(partnerships), 0) AS BIGINT) FROM overview_counts \
                     WHERE status = $1",
                )
                .bind(counted)
                .fetch_one(pool)
                .await?;
                Ok((ids, total))
            });
        }
        // Filtered: one scan gives the page and, with it, how many match in
        // all. Only the filters given are in the statement, so each backend
        // plans for what is asked.
        let mut binds: Vec<String> = Vec::new();
        let mut conditions: Vec<String> = Vec::new();
        let mut bind = |v: String| {
            binds.push(v);
            format!("${}", binds.len())
        };
        if let Some(c) = f.committee {
            conditions.push(format!("p.committee = {}", bind(c.to_string())));
        }
        if let Some(e) = f.person {
            let n = bind(e.to_string());
            conditions.push(format!(
                "(LOWER(p.officer_email) = LOWER({n}) OR LOWER(p.deputy_email) = LOWER({n}))"
            ));
        }
        if let Some(s) = f.search {
            let n = bind(format!("%{}%", like_escape(&s.to_lowercase())));
            conditions.push(format!(
                "(LOWER(p.organisation) LIKE {n} ESCAPE '\\' OR LOWER(p.id) LIKE {n} ESCAPE '\\')"
            ));
        }
        // The last evaluation's counts are a JSON object keyed "status/kind",
        // both closed sets of snake_case words written without spaces by
        // serde_json, so a key (or its status or kind half) is a substring
        // test, a scan like the search's.
        if let Some(key) = key {
            let n = bind(format!("%{}%", like_escape(&key)));
            conditions.push(format!("e.counts LIKE {n} ESCAPE '\\'"));
        }
        if let Some(ids) = f.within {
            if ids.is_empty() {
                return Ok((Vec::new(), 0));
            }
            let list: Vec<String> = ids.iter().map(|id| bind(id.clone())).collect();
            conditions.push(format!("p.id IN ({})", list.join(", ")));
        }
        let from = format!(
            "FROM partnerships p LEFT JOIN evaluations e ON e.partnership_id = p.id WHERE {}",
            conditions.join(" AND ")
        );
        let n = binds.len();
        let page_sql = format!(
            "SELECT p.id, COUNT(*) OVER () {from} ORDER BY e.partnership_id IS NULL, \
             e.overdue DESC, e.next_due, p.id LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let count_sql = format!("SELECT COUNT(*) {from}");
        with_pool!(self, |pool, B| {
            let mut q = sqlx::query_as::<B, (String, i64)>(sqlx::AssertSqlSafe(page_sql.clone()));
            for b in &binds {
                q = q.bind(b.as_str());
            }
            let rows = q.bind(limit).bind(offset).fetch_all(pool).await?;
            let total = match rows.first() {
                Some((_, n)) => *n,
                // Past the last page: the count alone.
                None => {
                    let mut q =
                        sqlx::query_scalar::<B, i64>(sqlx::AssertSqlSafe(count_sql.clone()));
                    for b in &binds {
                        q = q.bind(b.as_str());
                    }
                    q.fetch_one(pool).await?
                }
            };
            Ok((rows.into_iter().map(|(id, _)| id).collect(), total))
        })
    }
}

/// What a workspace list is filtered by; `status` and `kind` are the
/// checkpoint's snake_case names, as the last evaluation counted them.
#[derive(Debug, Default, Clone, Copy)]
pub struct ListFilter<'a> {
    pub committee: Option<&'a str>,
    /// An officer's or deputy's address, case-insensitively.
    pub person: Option<&'a str>,
    /// Part of the organisation's name or the id, case-insensitively.
    pub search: Option<&'a str>,
    pub status: Option<&'a str>,
    pub kind: Option<&'a str>,
    /// Only these partnerships (an officer's).
    pub within: Option<&'a [String]>,
}

impl ListFilter<'_> {
    fn is_empty(&self) -> bool {
        self.committee.is_none()
            && self.person.is_none()
            && self.search.is_none()
            && self.status.is_none()
            && self.kind.is_none()
            && self.within.is_none()
    }
}

/// `s` matched literally by `LIKE … ESCAPE '\'`.
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
