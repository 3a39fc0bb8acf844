//! A received mail taken apart with an independent MIME parser.

use mail_parser::{MessageParser, MimeHeaders};

use super::smtp::Received;

pub struct Mail {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub message_id: String,
    /// The `text/calendar` part and its `method=`, if any.
    pub calendar: String,
    pub calendar_method: String,
    /// The `X-IOPD-Key` header: the outbox key the mail was sent under.
    pub key: String,
    /// `X-IOPD-Items`: the reminder stages a mail of the day carries.
    pub items: Vec<String>,
    pub raw: String,
}

pub fn parse(r: &Received) -> Mail {
    let m = MessageParser::default()
        .parse(&r.data)
        .expect("a parseable message");
    let mut calendar = String::new();
    let mut calendar_method = String::new();
    for part in &m.parts {
        if let Some(ct) = part.content_type()
            && ct.ctype() == "text"
            && ct.subtype() == Some("calendar")
        {
            calendar = part.text_contents().unwrap_or_default().to_string();
            calendar_method = ct.attribute("method").unwrap_or_default().to_string();
        }
    }
    Mail {
        to: r.to.clone(),
        subject: m.subject().unwrap_or_default().to_string(),
        text: m.body_text(0).map(|t| t.to_string()).unwrap_or_default(),
        html: m.body_html(0).map(|t| t.to_string()).unwrap_or_default(),
        message_id: m.message_id().unwrap_or_default().to_string(),
        calendar,
        calendar_method,
        key: m
            .header_raw("X-IOPD-Key")
            .unwrap_or_default()
            .trim()
            .to_string(),
        items: m
            .header_raw("X-IOPD-Items")
            .map(|h| {
                h.replace("\r\n", "")
                    .split(" ; ")
                    .map(|k| k.trim().to_string())
                    .filter(|k| !k.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        raw: String::from_utf8_lossy(&r.data).into_owned(),
    }
}
