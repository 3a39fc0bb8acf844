//! What a person's pages and calendar feed read: the partnerships an address
//! is (or was) officer or deputy for, and the version of their feed address.

use sqlx::{Postgres, Row, Sqlite};

use super::{Pool, Result, Store};
use crate::domain::{Email, EventKind, PartnershipId};

impl Store {
    /// The partnerships where `email` is the imported officer or the deputy,
    /// or is named in an `officer_replaced` event (retracted or not: the
    /// caller asks the engine who is in charge on a date). Case-insensitive,
    /// as mail addresses are in practice. Ordered by id.
    pub async fn partnership_ids_of(&self, email: &Email) -> Result<Vec<PartnershipId>> {
        let (direct, replaced): (Vec<String>, Vec<(String, String)>) =
            with_pool!(self, |pool, B| {
                let direct = sqlx::query_scalar(
                    "SELECT id FROM partnerships WHERE LOWER(officer_email) = LOWER($1) \
                 OR LOWER(deputy_email) = LOWER($1)",
                )
                .bind(email.as_str())
                .fetch_all(pool)
                .await?;
                // Replacements are few; their JSON is read here, not matched in SQL.
                let replaced = sqlx::query_as(
                    "SELECT partnership_id, data FROM events WHERE kind = 'officer_replaced'",
                )
                .fetch_all(pool)
                .await?;
                (direct, replaced)
            });
        let mut ids: Vec<PartnershipId> = Vec::new();
        let named = replaced.into_iter().filter_map(|(id, data)| {
            match serde_json::from_str::<EventKind>(&data) {
                Ok(EventKind::OfficerReplaced { email: e, .. })
                    if e.as_str().eq_ignore_ascii_case(email.as_str()) =>
                {
                    Some(id)
                }
                _ => None,
            }
        });
        for raw in direct.into_iter().chain(named) {
            if let Ok(id) = PartnershipId::parse(&raw)
                && !ids.contains(&id)
            {
                ids.push(id);
            }
        }
        ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        Ok(ids)
    }

    /// The version of `email`'s feed address: 0 until it is first revoked.
    pub async fn feed_version(&self, email: &Email) -> Result<i64> {
        let key = email.as_str().to_lowercase();
        let v: Option<i64> = with_pool!(self, |pool, B| {
            sqlx::query_scalar("SELECT version FROM feed_tokens WHERE email = $1")
                .bind(&key)
                .fetch_optional(pool)
                .await?
        });
        Ok(v.unwrap_or(0))
    }

    /// Revokes `email`'s feed address (every one given out so far); returns
    /// the new version, the one the next address carries.
    pub async fn revoke_feed(&self, email: &Email) -> Result<i64> {
        let key = email.as_str().to_lowercase();
        with_pool!(self, |pool, B| {
            let row = sqlx::query(
                "INSERT INTO feed_tokens (email, version) VALUES ($1, 1) ON CONFLICT (email) \
                 DO UPDATE SET version = feed_tokens.version + 1 RETURNING version",
            )
            .bind(&key)
            .fetch_one(pool)
            .await?;
            Ok(row.try_get::<i64, _>(0)?)
        })
    }
}
