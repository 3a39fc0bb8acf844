//! The MIME message: headers, the text/HTML alternatives and the calendar invite.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, MultiPartBuilder, SinglePart};
use sha2::{Digest, Sha256};

use super::{MailError, Person, Rendered, one_line};
use crate::domain::Email;
use crate::ical::Method;

#[derive(Debug, Clone)]
pub struct Envelope {
    pub from: Person,
    pub to: Vec<Person>,
    pub cc: Vec<Person>,
    /// The outbox key, written as `X-IOPD-Key` so that mail rules, audits and
    /// support can tell which checkpoint, due date and stage a mail is about.
    pub outbox_key: Option<String>,
    /// A mail of the day: the outbox keys of the reminder stages it carries,
    /// written as `X-IOPD-Items` (separated by " ; ").
    pub items: Vec<String>,
}

/// A rendered VCALENDAR (see `ical::calendar`) and the method it was rendered with.
#[derive(Debug, Clone)]
pub struct Invite {
    pub method: Method,
    pub ics: String,
}

/// `<{first 32 hex digits of sha256(outbox_key)}@{domain of from}>`.
///
/// The same outbox row always gets the same id, so the one possible repeat (the server
/// accepted the mail, then the process died before marking the row sent) carries the same
/// `Message-ID` as the first delivery and mail clients treat it as the same message.
pub fn message_id(outbox_key: &str, from: &Email) -> String {
    let digest = Sha256::digest(outbox_key.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("<{hex}@{}>", id_domain(from))
}

/// The sender's domain when it can stand in a Message-ID as is (RFC 5322 3.6.4 allows no
/// encoded words there); an internationalised domain falls back to a reserved name.
fn id_domain(from: &Email) -> &str {
    match from.as_str().rsplit_once('@') {
        Some((_, d))
            if !d.is_empty()
                && d.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b)) =>
        {
            d
        }
        _ => "iopd.invalid",
    }
}

/// Builds the message.
///
/// With an invite the layout is the one Outlook recognises as a meeting request:
/// `multipart/mixed` → `multipart/alternative` (text/plain, text/html,
/// `text/calendar; method=…`), then the same calendar as an `invite.ics` attachment for
/// clients that only look at attachments. Without one it is `multipart/alternative` alone.
/// Boundaries derive from the Message-ID and `date` is written as given, so the same input
/// gives the same bytes.
pub fn build(
    env: &Envelope,
    r: &Rendered,
    invite: Option<&Invite>,
    message_id: &str,
    date: DateTime<Utc>,
) -> Result<Message, MailError> {
    check_message_id(message_id)?;
    let mut b = Message::builder()
        .from(mailbox(&env.from)?)
        .raw_header(subject(&one_line(&r.subject))?)
        .message_id(Some(message_id.to_string()))
        .date(SystemTime::from(date))
        // RFC 3834: automatic mail; Exchange reads the second and sends no out-of-office reply.
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".to_string(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"),
            "All".to_string(),
        ));
    if let Some(key) = &env.outbox_key {
        b = b.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-IOPD-Key"),
            one_line(key),
        ));
    }
    if !env.items.is_empty() {
        let items: Vec<String> = env.items.iter().map(|k| one_line(k)).collect();
        b = b.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-IOPD-Items"),
            items.join(" ; "),
        ));
    }
    for p in &env.to {
        b = b.to(mailbox(p)?);
    }
    for p in &env.cc {
        b = b.cc(mailbox(p)?);
    }

    let ics = invite.map_or("", |i| i.ics.as_str());
    let bodies = [r.text.as_str(), r.html.as_str(), ics];
    let alternative = MultiPart::alternative()
        .boundary(boundary(message_id, "alt", &bodies))
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(r.text.clone()),
        )
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_HTML)
                .body(r.html.clone()),
        );
    let Some(invite) = invite else {
        return Ok(b.multipart(alternative)?);
    };

    let method = invite.method.as_str();
    let alternative = alternative.singlepart(
        SinglePart::builder()
            .header(content_type(&format!(
                "text/calendar; charset=utf-8; method={method}"
            ))?)
            .body(invite.ics.clone()),
    );
    // application/ics rather than a second text/calendar: Outlook would otherwise show the
    // request twice.
    let attachment = Attachment::new("invite.ics".to_string()).body(
        invite.ics.clone(),
        content_type("application/ics; name=\"invite.ics\"")?,
    );
    let mixed: MultiPartBuilder =
        MultiPart::mixed().boundary(boundary(message_id, "mixed", &bodies));
    Ok(b.multipart(mixed.multipart(alternative).singlepart(attachment))?)
}

/// The Subject, RFC 2047-encoded whole when it holds `=?`: lettre writes an
/// ASCII word as it is, and a word that looks like an encoded word
/// (`=?utf-8?q?Bcc=3A_x=40evil=2Eexample?=`) would be decoded by mail clients
/// into something the sender never wrote.
fn subject(text: &str) -> Result<HeaderValue, MailError> {
    let name = HeaderName::new_from_ascii_str("Subject");
    if !text.contains("=?") {
        return Ok(HeaderValue::new(name, text.to_string()));
    }
    let mut encoded = String::new();
    {
        let mut w = email_encoding::headers::writer::EmailWriter::new(
            &mut encoded,
            "Subject: ".len(),
            0,
            false,
        );
        email_encoding::headers::rfc2047::encode(text, &mut w)
            .map_err(|_| MailError::Subject(text.to_string()))?;
    }
    Ok(HeaderValue::dangerous_new_pre_encoded(
        name,
        text.to_string(),
        encoded,
    ))
}

fn mailbox(p: &Person) -> Result<Mailbox, MailError> {
    let address = p
        .email
        .as_str()
        .parse()
        .map_err(|source| MailError::Address {
            address: p.email.to_string(),
            source,
        })?;
    // A name that looks like an encoded word would be decoded by some clients
    // even inside quotes; the bare address is shown instead.
    let name = p
        .name
        .as_deref()
        .map(one_line)
        .filter(|n| !n.is_empty() && !n.contains("=?"));
    Ok(Mailbox::new(name, address))
}

fn content_type(value: &str) -> Result<ContentType, MailError> {
    ContentType::parse(value).map_err(|source| MailError::ContentType {
        value: value.to_string(),
        source,
    })
}

/// `<…@…>` in printable ASCII: the header is written as given, so nothing else may pass.
fn check_message_id(id: &str) -> Result<(), MailError> {
    let inner = id.strip_prefix('<').and_then(|s| s.strip_suffix('>'));
    let ok = inner.is_some_and(|s| {
        s.split_once('@')
            .is_some_and(|(l, r)| !l.is_empty() && !r.is_empty())
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
    });
    if ok {
        Ok(())
    } else {
        Err(MailError::MessageId {
            value: id.to_string(),
        })
    }
}

/// A MIME boundary derived from the Message-ID, so output is reproducible.
///
/// `=_` never occurs in quoted-printable or base64 output, so the boundary can only collide
/// with a body that lettre leaves unencoded (plain ASCII); such a body is checked and the
/// boundary salted until it no longer occurs.
fn boundary(message_id: &str, part: &str, bodies: &[&str]) -> String {
    let mut salt = 0u32;
    loop {
        let digest = Sha256::digest(format!("{message_id}/{part}/{salt}").as_bytes());
        let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
        let candidate = format!("=_iopd_{part}_{hex}");
        if !bodies.iter().any(|b| b.contains(&candidate)) {
            return candidate;
        }
        salt += 1;
    }
}
