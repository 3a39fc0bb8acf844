//! Reminder mails: Swedish text and HTML from templates, and the MIME message around them.
//!
//! - [`render_section`] turns a [`ReminderContext`] into one checkpoint's [`Section`];
//!   [`render_day`] puts a person's sections of one send day into one mail, worst first.
//!   [`render_invite`] and [`render_cancel`] write the small mails that carry a calendar
//!   entry or withdraw it. The templates live in `templates/mail/` and are embedded in the
//!   binary; the per-kind rule, evidence and `iopd record` command come from one table
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
use crate::ladder::StageKind;

mod graph;
mod guidance;
pub mod hints;
mod message;
pub mod oauth2;
mod render;
pub mod transport;

#[cfg(test)]
mod tests;

pub use message::{Envelope, Invite, build, message_id};
pub(crate) use render::environment;
pub use render::{render_cancel, render_day, render_invite, render_section};

/// A recipient or sender: an address with an optional display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    pub name: Option<String>,
    pub email: Email,
}

impl From<&crate::domain::Person> for Person {
    fn from(p: &crate::domain::Person) -> Self {
        Person {
            name: Some(p.name.clone()),
            email: p.email.clone(),
        }
    }
}

/// Signed one-click links (GET shows a confirmation page; only its POST changes state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Links {
    pub done: String,
    pub absent: String,
    pub more_time: String,
}

/// Who reads a reminder section: it decides the actions offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Reader {
    /// Officer, deputy, secretary, jurist, administrativt stöd: the buttons
    /// of the pages, or one sentence on whom to tell; never a command line.
    #[default]
    Officer,
    /// IOP-ansvarig: may record on the officer's behalf; command lines only
    /// when the pages are off.
    Coordinator,
    /// The advisory mailbox's copy of an escalation: for information.
    AdvisoryCopy,
}

/// What the escalation tells IOP-ansvarig about the people reminded.
#[derive(Debug, Clone, Serialize)]
pub struct Escalation {
    pub officer: Person,
    pub deputy: Option<Email>,
    /// Reminder mails sent about this checkpoint before the escalation.
    pub reminded: i64,
    pub last_reminded: Option<NaiveDate>,
}

/// Why a calendar entry is withdrawn: the CANCEL mail says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Withdrawal {
    /// Done (early or late): nothing more to do.
    Done,
    /// The checkpoint no longer applies (the agreement ended, a date moved away).
    Cancelled,
    /// A later check-in was held: this window is closed as missed.
    Missed,
    /// IOP-ansvarig wrote it off.
    Waived,
    /// The person is no longer among those responsible (a new officer).
    NotYours,
    /// Its date changed to one already past.
    Moved,
}

/// Everything one reminder section (or calendar mail) says; built by the outbox.
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
    /// The ladder's stage; `None` for a calendar mail.
    pub stage: Option<StageKind>,
    /// The send date; "om N dagar" and "försenad N dagar" count from it to `due`.
    pub today: NaiveDate,
    /// Delivered late after downtime: the mail says "(skickas i efterhand)".
    pub sent_late: bool,
    /// The partnership's latest events, already in Swedish words, newest first.
    pub recent_events: Vec<(NaiveDate, String)>,
    pub reader: Reader,
    /// The reader (greeting, and left out of "går också till").
    pub recipient: Person,
    /// Everyone the stage reaches.
    pub to: Vec<Person>,
    pub cc: Vec<Person>,
    /// IOP-ansvarig: whom an officer without the pages tells.
    pub coordinator: Person,
    /// The original recipients when `mail.redirect_all_to` sent this mail elsewhere.
    pub redirected_from: Vec<Email>,
    pub links: Option<Links>,
    /// The partnership on the overview page (escalations, with the pages on).
    pub overview_link: Option<String>,
    pub escalation: Option<Escalation>,
    /// The partnership's diarienummer, so the mail can be tied to its case.
    pub diarienummer_hint: Option<String>,
    /// The body's guideline words.
    #[serde(skip)]
    pub guideline: crate::guideline::Guideline,
    /// The yearly documents registered and missing, where the guideline lists several.
    pub documents: Option<crate::engine::Documents>,
}

/// One checkpoint's part of a person's mail of the day, rendered when its
/// stage is enqueued and stored with it; the day's mail puts them together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Section {
    /// 0 escalation, 1 overdue, 2 due today, 3 coming, 4 for information.
    pub rank: u8,
    pub due: NaiveDate,
    /// "Försenad 7 dagar: Avstämningsmöte med Fritidsbanken".
    pub headline: String,
    pub text: String,
    pub html: String,
    /// The reader's name, for the greeting.
    pub name: Option<String>,
}

/// A person's mail of the day.
#[derive(Debug, Clone)]
pub struct Day {
    pub body_name: String,
    pub name: Option<String>,
    pub sections: Vec<Section>,
    /// Headlines of the sections beyond those shown in full, worst first.
    pub more: Vec<String>,
    pub coordinator: Person,
    /// The person's calendar subscription, with the pages on.
    pub feed_link: Option<String>,
    pub redirected_from: Vec<Email>,
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
