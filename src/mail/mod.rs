//! Reminder mails: Swedish text and HTML from templates, and the MIME message around them.
//!
//! - [`render_reminder`] / [`render_cancel`] turn a [`ReminderContext`] into a subject, a
//!   plain-text body and an HTML body. The templates live in `templates/mail/` and are embedded
//!   in the binary; the per-kind rule, evidence and `iopd record` command come from one table
//!   (`guidance.rs`), so the text and HTML twins never disagree.
//! - [`build`] wraps a [`Rendered`] mail and an optional calendar [`Invite`] in the MIME layout
//!   Outlook recognises, with a caller-chosen `Message-ID` and `Date`, so the same outbox row
//!   always gives the same message.
//! - [`message_id`] derives the `Message-ID` from the outbox key: if a crash lands between the
//!   server accepting a mail and the row being marked sent, the one repeat carries the same
//!   `Message-ID` and clients can drop it as a duplicate.
//!
//! Nothing here decides who gets what or when; the outbox passes everything in.

use chrono::NaiveDate;
use serde::Serialize;

use crate::domain::Email;
use crate::engine::Kind;

mod guidance;
mod message;
mod render;
pub mod transport;

#[cfg(test)]
mod tests;

pub use message::{Envelope, Invite, build, message_id};
pub(crate) use render::environment;
pub use render::{render_cancel, render_reminder};

/// The guideline's rule behind a checkpoint, as the reminder states it (the
/// pages reached from the mail say the same).
pub fn rule_sv(kind: Kind, parent: Option<Kind>) -> &'static str {
    guidance::guidance(kind, parent).rule
}

/// A recipient or sender: an address with an optional display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    pub name: Option<String>,
    pub email: Email,
}

/// Signed one-click links (GET shows a confirmation page; only its POST changes state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Links {
    pub done: String,
    pub absent: String,
    pub more_time: String,
}

/// Everything one reminder (or its cancellation) says; built by the outbox.
#[derive(Debug, Clone, Serialize)]
pub struct ReminderContext {
    /// The public body, e.g. "Region Värmland".
    pub body_name: String,
    pub partnership_id: String,
    pub organisation: String,
    pub committee_name: String,
    pub kind: Kind,
    /// For `committee_minutes`: the committee item it belongs to.
    pub parent: Option<Kind>,
    pub due: NaiveDate,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// The committee meeting the checkpoint is planned for, where there is one.
    pub meeting: Option<NaiveDate>,
    /// No configured meeting: the mail asks the officer to check the sammanträdesplan.
    pub no_meeting: bool,
    /// The stage's Swedish name, e.g. "Planera", "Påminnelse", "Försenad", "Eskalering".
    /// Once the due date has passed it also prefixes the subject (`[IOP] Försenad: …`).
    pub stage_label: String,
    pub stage_is_planning: bool,
    /// The send date; "om N dagar" and "N dagar försenad" count from it to `due`.
    pub today: NaiveDate,
    /// Delivered late after downtime: the mail says "(skickas i efterhand)".
    pub sent_late: bool,
    /// The partnership's latest events, already in Swedish words, newest first.
    pub recent_events: Vec<(NaiveDate, String)>,
    pub to: Vec<Person>,
    pub cc: Vec<Person>,
    /// The original recipients when `mail.redirect_all_to` sent this mail elsewhere.
    pub redirected_from: Vec<Email>,
    pub links: Option<Links>,
    /// The partnership's diarienummer, so the mail can be tied to its case.
    pub diarienummer_hint: Option<String>,
}

/// A rendered mail: one-line subject, plain text and HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail template {template} failed: {source:#}")]
    Template {
        template: &'static str,
        #[source]
        source: minijinja::Error,
    },
    #[error("{address:?} cannot be used as a mail address: {source}")]
    Address {
        address: String,
        #[source]
        source: lettre::address::AddressError,
    },
    #[error("{value:?} is not a Message-ID of the form <id@domain>")]
    MessageId { value: String },
    #[error("content type {value:?} is invalid: {source}")]
    ContentType {
        value: String,
        #[source]
        source: lettre::message::header::ContentTypeErr,
    },
    #[error("cannot build the mail: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("cannot encode the subject {0:?}")]
    Subject(String),
}

/// One line of header-safe text: every control character and line break (CR, LF, NEL, the
/// Unicode separators) becomes a space and runs of whitespace collapse, so a name pasted with
/// a line break can neither start a new header nor split a line of the mail body.
pub(crate) fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let s: String = s
        .chars()
        .filter(|c| !crate::domain::is_invisible(*c))
        .collect();
    for word in s
        .split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}
