//! A reminder in three steps: *what is due* (`due.rs`: the stage due for every
//! open checkpoint, one outbox row per (checkpoint key, due date, stage,
//! recipient), what is closed cancelled), *compose* (`compose.rs`: each
//! person's stages of the day in one mail) and *send* (`send.rs`: the outbox
//! delivered under leases). `crate::tick` runs them in turn.
//!
//! Exactly once: rows are unique on that key and inserted with
//! `ON CONFLICT DO NOTHING` in one transaction, so a second tick, a
//! concurrent one or one after a restart enqueues nothing new. Delivery claims
//! rows under a lease; the only possible repeat is a crash after the server
//! accepted a mail and before the row was marked sent, and that repeat carries
//! the same Message-ID (derived from the outbox key).

mod compose;
mod due;
mod send;

use crate::clock::Now;
use crate::config::Config;
use crate::ladder::Ladder;
use crate::mail;

pub use compose::bundle;
pub use due::{
    Pass, Planned1, TickReport, enqueue, event_sv, holders, outbox_key, rules_hash, summary,
};
pub use send::{backoff, deliver};

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot render the mail for {key}: {source}")]
    Mail {
        key: String,
        source: mail::MailError,
    },
    #[error("cannot set up mail delivery: {0}")]
    Transport(String),
}

impl crate::store::Transient for DeliveryError {
    fn is_transient(&self) -> bool {
        matches!(self, DeliveryError::Store(e) if e.is_transient())
    }
}

impl Config {
    pub fn ladder(&self) -> Ladder {
        self.reminders.clone()
    }

    /// The From of every mail: the body's name and `mail.from`.
    pub fn sender(&self) -> mail::Person {
        mail::Person {
            name: Some(self.body.name.clone()),
            email: self.mail.from.clone(),
        }
    }
}

/// Whether reminders may be enqueued at `now`: a working day, outside quiet
/// periods, at or after `send_at`, with mail enabled; otherwise why not, in
/// the operator's Swedish (`outlook`).
pub fn sending_window(cfg: &Config, now: &Now) -> Result<(), String> {
    crate::outlook::closed_sv(cfg, now).map_or(Ok(()), Err)
}
