//! iCalendar (RFC 5545) invites for checkpoint reminders, sent as iTIP (RFC 5546) messages.
//!
//! Our own writer, not a crate: `icalendar` renders a random UID unless one is set, writes `TZID=`
//! without a VTIMEZONE and lets a raw CR through, and `ics` leaves escaping to the caller, so the
//! escaping and 75-octet folding live here, covered by property tests.
//!
//! What the output guarantees, whatever the input strings hold:
//! - every line ends in CRLF and no CR or LF appears anywhere else;
//! - every physical line is at most 75 octets, folded between UTF-8 characters;
//! - TEXT values are escaped (RFC 5545 3.3.11); line breaks become `\n`, TAB is kept and every
//!   other control character is dropped;
//! - the same input gives the same bytes (no clock, no random UID).

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::Email;

/// The iTIP method; the MIME part's `method=` parameter must equal [`Method::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Publish,
    Request,
    Cancel,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Publish => "PUBLISH",
            Self::Request => "REQUEST",
            Self::Cancel => "CANCEL",
        }
    }
}

/// One all-day event. Updates keep the UID and raise `sequence` (RFC 5546 2.1.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSpec {
    /// Derived by the caller from a stable checkpoint key, e.g. `RS-2023-145/checkin/y1-w2@iopd`.
    pub uid: String,
    pub sequence: u32,
    pub dtstamp: DateTime<Utc>,
    /// The day of the event; all-day, so no time zone is involved.
    pub date: NaiveDate,
    pub summary: String,
    pub description: String,
    pub location: Option<String>,
    pub url: Option<String>,
    /// Display name and address.
    pub organizer: Option<(String, Email)>,
    /// Optional display name and address.
    pub attendees: Vec<(Option<String>, Email)>,
    pub cancelled: bool,
    pub alarm_days_before: Option<u32>,
    pub categories: Vec<String>,
}

/// Renders a whole VCALENDAR object with CRLF line endings.
///
/// Optional text (location, URL, a display name, a category) that is empty once cleaned is
/// left out; SUMMARY and DESCRIPTION are always written.
pub fn calendar(method: Method, prodid_name: &str, events: &[EventSpec]) -> String {
    let mut out = String::new();
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, "VERSION:2.0");
    line(&mut out, &format!("PRODID:{}", prodid(prodid_name)));
    line(&mut out, "CALSCALE:GREGORIAN");
    line(&mut out, &format!("METHOD:{}", method.as_str()));
    for ev in events {
        event(&mut out, method, ev);
    }
    line(&mut out, "END:VCALENDAR");
    out
}

/// A subscribed calendar (a feed read by URL, not an iTIP message): METHOD:PUBLISH, the
/// calendar's display name (`X-WR-CALNAME`, which Outlook and Google show) and how often to read
/// it again: `REFRESH-INTERVAL` (RFC 7986 5.7) and its older twin `X-PUBLISHED-TTL`.
pub fn feed(
    prodid_name: &str,
    calendar_name: &str,
    refresh_hours: u32,
    events: &[EventSpec],
) -> String {
    let mut out = String::new();
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, "VERSION:2.0");
    line(&mut out, &format!("PRODID:{}", prodid(prodid_name)));
    line(&mut out, "CALSCALE:GREGORIAN");
    line(&mut out, &format!("METHOD:{}", Method::Publish.as_str()));
    line(&mut out, &format!("X-WR-CALNAME:{}", text(calendar_name)));
    line(
        &mut out,
        &format!("REFRESH-INTERVAL;VALUE=DURATION:PT{refresh_hours}H"),
    );
    line(&mut out, &format!("X-PUBLISHED-TTL:PT{refresh_hours}H"));
    for ev in events {
        event(&mut out, Method::Publish, ev);
    }
    line(&mut out, "END:VCALENDAR");
    out
}

fn event(out: &mut String, method: Method, ev: &EventSpec) {
    line(out, "BEGIN:VEVENT");
    line(out, &format!("UID:{}", uid(&ev.uid)));
    line(out, &format!("SEQUENCE:{}", ev.sequence));
    line(
        out,
        &format!("DTSTAMP:{}", ev.dtstamp.format("%Y%m%dT%H%M%SZ")),
    );
    line(out, &format!("DTSTART;VALUE=DATE:{}", date(ev.date)));
    // RFC 5545 3.6.1: DTEND is exclusive, so an all-day event ends the next day; on the last
    // day chrono can hold, leaving DTEND out means the same (a DATE event without one lasts a day).
    if let Some(end) = ev.date.succ_opt() {
        line(out, &format!("DTEND;VALUE=DATE:{}", date(end)));
    }
    line(out, &format!("SUMMARY:{}", text(&ev.summary)));
    line(out, &format!("DESCRIPTION:{}", text(&ev.description)));
    if let Some(location) = ev.location.as_deref().map(text).filter(|t| !t.is_empty()) {
        line(out, &format!("LOCATION:{location}"));
    }
    if let Some(url) = ev.url.as_deref().map(uri).filter(|u| !u.is_empty()) {
        line(out, &format!("URL:{url}"));
    }
    if let Some((name, email)) = &ev.organizer {
        line(
            out,
            &format!("ORGANIZER{}:{}", cn(Some(name)), mailto(email)),
        );
    }
    for (name, email) in &ev.attendees {
        // RSVP=FALSE: with REQUEST a reply would go to the organizer's mailbox (RFC 5545 3.2.17).
        line(
            out,
            &format!(
                "ATTENDEE{};ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=FALSE:{}",
                cn(name.as_deref()),
                mailto(email)
            ),
        );
    }
    // RFC 5545 3.8.1.2: one property, values separated by unescaped commas.
    let categories: Vec<String> = ev
        .categories
        .iter()
        .map(|c| text(c))
        .filter(|c| !c.is_empty())
        .collect();
    if !categories.is_empty() {
        line(out, &format!("CATEGORIES:{}", categories.join(",")));
    }
    // RFC 5546 3.2.5: in a CANCEL the status MUST be CANCELLED, whatever the flag says.
    let cancelled = ev.cancelled || method == Method::Cancel;
    line(
        out,
        if cancelled {
            "STATUS:CANCELLED"
        } else {
            "STATUS:CONFIRMED"
        },
    );
    // A reminder day must not show the whole day as busy (RFC 5545 3.8.2.7).
    line(out, "TRANSP:TRANSPARENT");
    if let Some(days) = ev.alarm_days_before {
        // RFC 5545 3.6.6: a DISPLAY alarm needs a DESCRIPTION.
        let summary = text(&ev.summary);
        let description = if summary.trim().is_empty() {
            "Påminnelse".to_string()
        } else {
            summary
        };
        line(out, "BEGIN:VALARM");
        line(out, "ACTION:DISPLAY");
        line(out, &format!("TRIGGER:-P{days}D"));
        line(out, &format!("DESCRIPTION:{description}"));
        line(out, "END:VALARM");
    }
    line(out, "END:VEVENT");
}

fn date(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

/// A piece of input text: a character, or one line break (CRLF counts once).
enum Piece {
    Char(char),
    Break,
}

/// LF and CR, and the breaks pasted from word processors: VT (Word's manual line break), FF,
/// NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR.
fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// Splits text into characters and line breaks, dropping every control character except TAB:
/// neither TEXT (RFC 5545 3.3.11, TSAFE-CHAR) nor a parameter value (3.1, QSAFE-CHAR) may hold
/// one raw.
fn pieces(s: &str) -> impl Iterator<Item = Piece> + '_ {
    let mut chars = s.chars().peekable();
    std::iter::from_fn(move || {
        loop {
            let c = chars.next()?;
            if c == '\r' && chars.peek() == Some(&'\n') {
                chars.next();
            }
            if is_line_break(c) {
                return Some(Piece::Break);
            }
            if c == '\t' || !c.is_control() {
                return Some(Piece::Char(c));
            }
        }
    })
}

/// RFC 5545 3.3.11: a TEXT value escapes backslash, semicolon and comma, and writes each line
/// break as `\n`. The colon is not escaped (`\:` is not in the grammar).
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for piece in pieces(s) {
        match piece {
            Piece::Break => out.push_str("\\n"),
            Piece::Char('\\') => out.push_str("\\\\"),
            Piece::Char(';') => out.push_str("\\;"),
            Piece::Char(',') => out.push_str("\\,"),
            Piece::Char(c) => out.push(c),
        }
    }
    out
}

/// `;CN="…"`, or nothing for a missing or empty name. RFC 5545 3.1: a quoted parameter value may
/// hold anything but DQUOTE and control characters, and quoting keeps `;`, `:` and `,` in it.
fn cn(name: Option<&str>) -> String {
    let cleaned: String = pieces(name.unwrap_or(""))
        .map(|piece| match piece {
            Piece::Break | Piece::Char('\t') => ' ',
            Piece::Char('"') => '\'',
            Piece::Char(c) => c,
        })
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        String::new()
    } else {
        format!(";CN=\"{cleaned}\"")
    }
}

/// The FPI `-//owner//product//language` (RFC 5545 3.7.3); a `/` in the owner would add fields.
fn prodid(name: &str) -> String {
    let cleaned: String = pieces(name)
        .map(|piece| match piece {
            Piece::Break => ' ',
            Piece::Char('/') => '-',
            Piece::Char(c) => c,
        })
        .collect();
    let owner = match cleaned.trim() {
        "" => "iopd",
        t => t,
    };
    format!("-//{}//iopd//SV", text(owner))
}

fn percent_encode(s: &str, keep: impl Fn(u8) -> bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0F)]));
        }
    }
    out
}

/// UID is TEXT (RFC 5545 3.8.4.7), but clients compare it as written. So instead of escaping,
/// bytes outside printable ASCII and the characters TEXT would escape are percent-encoded (and
/// `%` itself): the line cannot break, no reader has anything to unescape, and distinct keys
/// stay distinct.
fn uid(s: &str) -> String {
    percent_encode(s, |b| {
        b.is_ascii_graphic() && !matches!(b, b'%' | b'\\' | b';' | b',')
    })
}

/// A `mailto:` URI (RFC 6068 2): percent-encode what would change the URI's meaning (`%`, `?`,
/// `#`), what trips naive iCalendar readers (`"`, `\`, `;`, `,`, `:`), and anything that is not
/// printable ASCII; `+` and `=` stay so that clients still recognise the address.
fn mailto(email: &Email) -> String {
    let addr = percent_encode(email.as_str(), |b| {
        b.is_ascii_graphic() && !b"%?#\"\\;,:<>[]^`{|}".contains(&b)
    });
    format!("mailto:{addr}")
}

/// A URI value is not TEXT-escaped (RFC 5545 3.3.13), so whatever could break the line or is
/// not allowed in a URI (RFC 3986 2) is percent-encoded; existing `%XX` escapes are kept.
fn uri(s: &str) -> String {
    percent_encode(s.trim(), |b| {
        b.is_ascii_graphic() && !b"\"<>\\^`{|}".contains(&b)
    })
}

/// Appends one content line, folded, with its CRLF.
///
/// RFC 5545 3.1: lines longer than 75 octets are folded with CRLF and one space, between
/// characters, never inside a UTF-8 sequence. Two choices go beyond the RFC for lenient readers:
/// an escape pair (`\n`, `\,` …) is never split, and a physical line does not end in a space or
/// TAB when that can be avoided, because some readers trim line ends before unfolding.
fn line(out: &mut String, logical: &str) {
    // Last line of defence: the value builders already removed these.
    let logical: String = logical
        .chars()
        .filter(|&c| c == '\t' || !c.is_control())
        .collect();
    let mut rest = logical.as_str();
    let mut segment = String::new();
    // The first physical line holds 75 octets; the others 74 after their leading space.
    let mut limit = 75;
    while let Some(c) = rest.chars().next() {
        let mut len = c.len_utf8();
        if c == '\\' {
            len += rest[len..].chars().next().map_or(0, char::len_utf8);
        }
        let (unit, tail) = rest.split_at(len);
        rest = tail;
        while segment.len() + unit.len() > limit {
            let kept = segment.trim_end_matches([' ', '\t']).len();
            let cut = if kept == 0 || segment.len() - kept + unit.len() > 74 {
                segment.len()
            } else {
                kept
            };
            out.push_str(&segment[..cut]);
            out.push_str("\r\n ");
            segment.drain(..cut);
            limit = 74;
        }
        segment.push_str(unit);
    }
    out.push_str(&segment);
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn email(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn stamp() -> DateTime<Utc> {
        day(2026, 3, 2).and_hms_opt(8, 30, 0).unwrap().and_utc()
    }

    /// Built so that the folds land on an escape pair (SUMMARY), inside `ö` (DESCRIPTION) and
    /// after a space (LOCATION).
    fn checkin() -> EventSpec {
        EventSpec {
            uid: "RS-2023-145/checkin/y1-w2@iopd".into(),
            sequence: 0,
            dtstamp: stamp(),
            date: day(2026, 3, 16),
            summary: "Avstämning halvår 1 med Föreningen Gemenskap och kulturnämnden, RS/2023:145"
                .into(),
            description: "Dags för halvårets avstämning med Föreningen Gemenskap i Göteborg; \
                          boka ett möte.\r\nSvara inte på den här inbjudan."
                .into(),
            location: Some(
                "Stadshuset, Kungsgatan 12, sammanträdesrum 3 på plan 2 intill entré B".into(),
            ),
            url: Some("https://iopd.example.se/p/RS-2023-145".into()),
            organizer: Some((
                "Kultur- och fritidsförvaltningen".into(),
                email("kf@example.se"),
            )),
            attendees: vec![
                (
                    Some("Anna Svensson".into()),
                    email("anna.svensson@example.se"),
                ),
                (None, email("ekonomi@example.se")),
            ],
            cancelled: false,
            alarm_days_before: Some(7),
            categories: vec!["IOP".into(), "Avstämning".into()],
        }
    }

    #[test]
    fn method_names_match_the_mime_parameter() {
        assert_eq!(Method::Publish.as_str(), "PUBLISH");
        assert_eq!(Method::Request.as_str(), "REQUEST");
        assert_eq!(Method::Cancel.as_str(), "CANCEL");
    }

    #[test]
    fn request_exact_output() {
        let expected = "BEGIN:VCALENDAR\r\n\
VERSION:2.0\r\n\
PRODID:-//Göteborgs Stad//iopd//SV\r\n\
CALSCALE:GREGORIAN\r\n\
METHOD:REQUEST\r\n\
BEGIN:VEVENT\r\n\
UID:RS-2023-145/checkin/y1-w2@iopd\r\n\
SEQUENCE:0\r\n\
DTSTAMP:20260302T083000Z\r\n\
DTSTART;VALUE=DATE:20260316\r\n\
DTEND;VALUE=DATE:20260317\r\n\
SUMMARY:Avstämning halvår 1 med Föreningen Gemenskap och kulturnämnden\r\n \
\\, RS/2023:145\r\n\
DESCRIPTION:Dags för halvårets avstämning med Föreningen Gemenskap i G\r\n \
öteborg\\; boka ett möte.\\nSvara inte på den här inbjudan.\r\n\
LOCATION:Stadshuset\\, Kungsgatan 12\\, sammanträdesrum 3 på plan 2 intill\r\n  \
entré B\r\n\
URL:https://iopd.example.se/p/RS-2023-145\r\n\
ORGANIZER;CN=\"Kultur- och fritidsförvaltningen\":mailto:kf@example.se\r\n\
ATTENDEE;CN=\"Anna Svensson\";ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP\r\n \
=FALSE:mailto:anna.svensson@example.se\r\n\
ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=FALSE:mailto:ekono\r\n \
mi@example.se\r\n\
CATEGORIES:IOP,Avstämning\r\n\
STATUS:CONFIRMED\r\n\
TRANSP:TRANSPARENT\r\n\
BEGIN:VALARM\r\n\
ACTION:DISPLAY\r\n\
TRIGGER:-P7D\r\n\
DESCRIPTION:Avstämning halvår 1 med Föreningen Gemenskap och kulturnämn\r\n \
den\\, RS/2023:145\r\n\
END:VALARM\r\n\
END:VEVENT\r\n\
END:VCALENDAR\r\n";
        assert_eq!(
            calendar(Method::Request, "Göteborgs Stad", &[checkin()]),
            expected
        );
    }

    #[test]
    fn feed_exact_output() {
        let ev = EventSpec {
            uid: "KUB/2021:101/checkin/y5-w1@iopd".into(),
            date: day(2026, 5, 29),
            summary: "[IOP] Avstämningsmöte – Fritidsbanken".into(),
            description: "Sista dag: 2026-05-29.".into(),
            location: None,
            url: None,
            organizer: None,
            attendees: vec![],
            alarm_days_before: None,
            categories: vec![],
            ..checkin()
        };
        // RFC 7986 5.7 REFRESH-INTERVAL (VALUE=DURATION is required) and the
        // older X-PUBLISHED-TTL; X-WR-CALNAME is TEXT, so its comma is escaped.
        let expected = "BEGIN:VCALENDAR\r\n\
VERSION:2.0\r\n\
PRODID:-//Region Värmland//iopd//SV\r\n\
CALSCALE:GREGORIAN\r\n\
METHOD:PUBLISH\r\n\
X-WR-CALNAME:IOP – Svensson\\, Anna\r\n\
REFRESH-INTERVAL;VALUE=DURATION:PT12H\r\n\
X-PUBLISHED-TTL:PT12H\r\n\
BEGIN:VEVENT\r\n\
UID:KUB/2021:101/checkin/y5-w1@iopd\r\n\
SEQUENCE:0\r\n\
DTSTAMP:20260302T083000Z\r\n\
DTSTART;VALUE=DATE:20260529\r\n\
DTEND;VALUE=DATE:20260530\r\n\
SUMMARY:[IOP] Avstämningsmöte – Fritidsbanken\r\n\
DESCRIPTION:Sista dag: 2026-05-29.\r\n\
STATUS:CONFIRMED\r\n\
TRANSP:TRANSPARENT\r\n\
END:VEVENT\r\n\
END:VCALENDAR\r\n";
        assert_eq!(
            feed("Region Värmland", "IOP – Svensson, Anna", 12, &[ev]),
            expected
        );
    }

    #[test]
    fn cancel_exact_output() {
        let ev = EventSpec {
            uid: "RS-2023-145/report/y1@iopd".into(),
            sequence: 1,
            date: day(2026, 6, 30),
            summary: "Årsrapport".into(),
            description: "Inställd".into(),
            location: None,
            url: None,
            attendees: vec![(Some("Bo \"Bosse\" Ek".into()), email("bo@example.se"))],
            cancelled: true,
            alarm_days_before: None,
            categories: vec![],
            ..checkin()
        };
        let expected = "BEGIN:VCALENDAR\r\n\
VERSION:2.0\r\n\
PRODID:-//Kommunen//iopd//SV\r\n\
CALSCALE:GREGORIAN\r\n\
METHOD:CANCEL\r\n\
BEGIN:VEVENT\r\n\
UID:RS-2023-145/report/y1@iopd\r\n\
SEQUENCE:1\r\n\
DTSTAMP:20260302T083000Z\r\n\
DTSTART;VALUE=DATE:20260630\r\n\
DTEND;VALUE=DATE:20260701\r\n\
SUMMARY:Årsrapport\r\n\
DESCRIPTION:Inställd\r\n\
ORGANIZER;CN=\"Kultur- och fritidsförvaltningen\":mailto:kf@example.se\r\n\
ATTENDEE;CN=\"Bo 'Bosse' Ek\";ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP\r\n \
=FALSE:mailto:bo@example.se\r\n\
STATUS:CANCELLED\r\n\
TRANSP:TRANSPARENT\r\n\
END:VEVENT\r\n\
END:VCALENDAR\r\n";
        assert_eq!(calendar(Method::Cancel, "Kommunen", &[ev]), expected);
    }

    #[test]
    fn cancel_method_forces_cancelled_status() {
        // RFC 5546 3.2.5: STATUS in a CANCEL "MUST be set to CANCELLED".
        let out = calendar(Method::Cancel, "K", &[checkin()]);
        assert!(out.contains("\r\nSTATUS:CANCELLED\r\n"));
        assert!(!out.contains("CONFIRMED"));
    }

    #[test]
    fn text_escaping() {
        for (input, escaped) in [
            // RFC 5545 3.3.11: BACKSLASH, SEMICOLON and COMMA are escaped.
            ("a\\b;c,d", "a\\\\b\\;c\\,d"),
            // A line break is `\n`, whether LF, CRLF or a lone CR; CRLF counts once.
            ("a\nb\r\nc\rd", "a\\nb\\nc\\nd"),
            ("\r\n\r\n", "\\n\\n"),
            ("\n\r", "\\n\\n"),
            // Word's manual line break (VT), FF, NEL, LS and PS are line breaks too.
            (
                "a\u{0B}b\u{0C}c\u{85}d\u{2028}e\u{2029}f",
                "a\\nb\\nc\\nd\\ne\\nf",
            ),
            // TSAFE-CHAR includes HTAB; other controls are never written.
            ("a\tb\u{0}c\u{1b}d\u{7f}e\u{9b}f", "a\tbcdef"),
            // The colon and DQUOTE are allowed raw in TEXT.
            ("kl. 10:00 \"Ö\" <b>", "kl. 10:00 \"Ö\" <b>"),
        ] {
            assert_eq!(text(input), escaped, "{input:?}");
        }
    }

    #[test]
    fn uids_are_kept_or_percent_encoded() {
        for (input, written) in [
            (
                "RS-2023-145/checkin/y1-w2@iopd",
                "RS-2023-145/checkin/y1-w2@iopd",
            ),
            ("a b", "a%20b"),
            ("a\r\nUID:x", "a%0D%0AUID:x"),
            ("å;,\\%", "%C3%A5%3B%2C%5C%25"),
        ] {
            assert_eq!(uid(input), written, "{input:?}");
        }
    }

    #[test]
    fn addresses_names_urls_and_prodid_are_sanitised() {
        assert_eq!(
            mailto(&email("anna+iop@example.se")),
            "mailto:anna+iop@example.se"
        );
        assert_eq!(mailto(&email("a%b@example.se")), "mailto:a%25b@example.se");
        assert_eq!(
            cn(Some("Ek, Bo; \"Bosse\"\r\nX")),
            ";CN=\"Ek, Bo; 'Bosse' X\""
        );
        assert_eq!(cn(Some(" \u{7}\r\n")), "");
        assert_eq!(cn(None), "");
        assert_eq!(
            uri("https://x.se/a b?q=\"å\"\r\n"),
            "https://x.se/a%20b?q=%22%C3%A5%22"
        );
        assert_eq!(
            prodid("Stad/Nämnd, KF;\r\n"),
            "-//Stad-Nämnd\\, KF\\;//iopd//SV"
        );
        assert_eq!(prodid(""), "-//iopd//iopd//SV");
    }

    #[test]
    fn empty_optional_fields_are_left_out() {
        let ev = EventSpec {
            location: Some("\u{7}".into()),
            url: Some("  ".into()),
            organizer: Some(("".into(), email("kf@example.se"))),
            attendees: vec![(Some("\r\n".into()), email("a@example.se"))],
            categories: vec!["".into(), "IOP".into(), "\u{1}".into()],
            ..checkin()
        };
        let out = calendar(Method::Request, "K", &[ev]);
        assert!(!out.contains("LOCATION"));
        assert!(!out.contains("URL"));
        assert!(out.contains("\r\nORGANIZER:mailto:kf@example.se\r\n"));
        assert!(out.contains("\r\nATTENDEE;ROLE=REQ-PARTICIPANT;"));
        assert!(out.contains("\r\nCATEGORIES:IOP\r\n"));
    }

    #[test]
    fn last_representable_day_has_no_dtend() {
        let ev = EventSpec {
            date: NaiveDate::MAX,
            ..checkin()
        };
        let out = calendar(Method::Request, "K", &[ev]);
        assert!(out.contains("DTSTART;VALUE=DATE:"));
        assert!(!out.contains("DTEND"));
    }

    #[test]
    fn folding_boundaries() {
        let folded = |s: &str| {
            let mut out = String::new();
            line(&mut out, s);
            out
        };
        let a75 = "a".repeat(75);
        // Exactly 75 octets: not folded.
        assert_eq!(folded(&a75), format!("{a75}\r\n"));
        // 76 octets: 75, then a space and the rest.
        assert_eq!(folded(&format!("{a75}b")), format!("{a75}\r\n b\r\n"));
        // A 2-octet `ä` that would end at octet 76 moves whole to the next line.
        let a74 = "a".repeat(74);
        assert_eq!(folded(&format!("{a74}äb")), format!("{a74}\r\n äb\r\n"));
        // Continuation lines hold 74 octets after their space.
        let a149 = "a".repeat(149);
        assert_eq!(
            folded(&format!("{a149}b")),
            format!("{a75}\r\n {a74}\r\n b\r\n")
        );
        // Only spaces: nothing to move back to, so the space stays at the line end.
        let s80 = " ".repeat(80);
        assert_eq!(
            folded(&s80),
            format!("{}\r\n {}\r\n", " ".repeat(75), " ".repeat(5))
        );
    }

    #[test]
    fn deterministic() {
        let a = calendar(Method::Request, "K", &[checkin(), checkin()]);
        let b = calendar(Method::Request, "K", &[checkin(), checkin()]);
        assert_eq!(a, b);
        assert_eq!(a.matches("BEGIN:VEVENT").count(), 2);
    }

    /// The `ical` crate (an independent reader) sees the values we meant.
    #[test]
    fn an_independent_parser_reads_it_back() {
        let mut update = checkin();
        update.sequence = 3;
        // Spaces right at a fold: `ical` trims line ends before unfolding, so this passes only
        // because the folder never ends a physical line in a space.
        update.description = format!("{}   slut, klart", "ö".repeat(30));
        let out = calendar(Method::Request, "Göteborgs Stad", &[update]);
        let mut parser = ical::IcalParser::new(out.as_bytes());
        let cal = parser.next().unwrap().unwrap();
        assert!(parser.next().is_none());

        let value = |props: &[ical::property::Property], name: &str| {
            props
                .iter()
                .find(|p| p.name == name)
                .and_then(|p| p.value.clone())
        };
        assert_eq!(value(&cal.properties, "METHOD").as_deref(), Some("REQUEST"));
        assert_eq!(value(&cal.properties, "VERSION").as_deref(), Some("2.0"));
        assert_eq!(cal.events.len(), 1);
        let ev = &cal.events[0];
        let props = ev.properties.as_slice();
        assert_eq!(
            value(props, "UID").as_deref(),
            Some("RS-2023-145/checkin/y1-w2@iopd")
        );
        assert_eq!(value(props, "SEQUENCE").as_deref(), Some("3"));
        assert_eq!(value(props, "STATUS").as_deref(), Some("CONFIRMED"));
        assert_eq!(value(props, "DTEND").as_deref(), Some("20260317"));
        let dtstart = props.iter().find(|p| p.name == "DTSTART").unwrap();
        assert_eq!(dtstart.value.as_deref(), Some("20260316"));
        assert_eq!(
            dtstart.params,
            Some(vec![("VALUE".to_string(), vec!["DATE".to_string()])])
        );
        assert_eq!(
            value(props, "DESCRIPTION"),
            Some(format!("{}   slut\\, klart", "ö".repeat(30)))
        );
        assert_eq!(
            value(props, "SUMMARY").as_deref(),
            Some("Avstämning halvår 1 med Föreningen Gemenskap och kulturnämnden\\, RS/2023:145")
        );

        let attendees: Vec<_> = props.iter().filter(|p| p.name == "ATTENDEE").collect();
        assert_eq!(attendees.len(), 2);
        let param = |k: &str, v: &str| (k.to_string(), vec![v.to_string()]);
        assert_eq!(
            attendees[0].params,
            Some(vec![
                param("CN", "Anna Svensson"),
                param("ROLE", "REQ-PARTICIPANT"),
                param("PARTSTAT", "NEEDS-ACTION"),
                param("RSVP", "FALSE"),
            ])
        );
        assert_eq!(
            attendees[0].value.as_deref(),
            Some("mailto:anna.svensson@example.se")
        );
        assert_eq!(
            attendees[1].params,
            Some(vec![
                param("ROLE", "REQ-PARTICIPANT"),
                param("PARTSTAT", "NEEDS-ACTION"),
                param("RSVP", "FALSE"),
            ])
        );
        let organizer = props.iter().find(|p| p.name == "ORGANIZER").unwrap();
        assert_eq!(
            organizer.params,
            Some(vec![param("CN", "Kultur- och fritidsförvaltningen")])
        );
        assert_eq!(organizer.value.as_deref(), Some("mailto:kf@example.se"));

        assert_eq!(ev.alarms.len(), 1);
        let alarm = ev.alarms[0].properties.as_slice();
        assert_eq!(value(alarm, "TRIGGER").as_deref(), Some("-P7D"));
        assert_eq!(value(alarm, "ACTION").as_deref(), Some("DISPLAY"));
    }

    #[test]
    fn an_independent_parser_reads_a_cancel() {
        let ev = EventSpec {
            sequence: 4,
            cancelled: true,
            ..checkin()
        };
        let out = calendar(Method::Cancel, "K", &[ev]);
        let cal = ical::IcalParser::new(out.as_bytes())
            .next()
            .unwrap()
            .unwrap();
        let find = |props: &[ical::property::Property], name: &str| {
            props
                .iter()
                .find(|p| p.name == name)
                .and_then(|p| p.value.clone())
        };
        assert_eq!(find(&cal.properties, "METHOD").as_deref(), Some("CANCEL"));
        let props = cal.events[0].properties.as_slice();
        assert_eq!(find(props, "STATUS").as_deref(), Some("CANCELLED"));
        assert_eq!(find(props, "SEQUENCE").as_deref(), Some("4"));
        assert_eq!(
            find(props, "UID").as_deref(),
            Some("RS-2023-145/checkin/y1-w2@iopd")
        );
    }

    // --- property tests --------------------------------------------------------------------

    /// Strings rich in what breaks iCalendar writers, mixed with arbitrary Unicode.
    fn nasty() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            any::<char>().prop_map(String::from),
            prop::sample::select(vec![
                "\r", "\n", "\r\n", "\\", "\\n", ";", ",", ":", "\"", " ", "\t", "å", "ä", "ö",
                "Ö", "€", "😀", "\u{0}", "\u{1b}", "\u{7f}", "\u{85}", "\u{0b}", "\u{2028}",
                "e\u{301}", "<b>",
            ])
            .prop_map(String::from),
        ];
        prop::collection::vec(piece, 0..120).prop_map(|v| v.concat())
    }

    /// What the writer promises to keep: line breaks become LF, TAB stays, other controls go.
    fn normalised(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\r' if chars.peek() == Some(&'\n') => {}
                '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}' => {
                    out.push('\n')
                }
                '\t' => out.push('\t'),
                c if c.is_control() => {}
                c => out.push(c),
            }
        }
        out
    }

    /// RFC 5545 3.3.11 read back; splits on unescaped commas (for CATEGORIES).
    fn unescape_list(v: &str) -> Vec<String> {
        let mut items = vec![String::new()];
        let mut chars = v.chars();
        while let Some(c) = chars.next() {
            let current = items.last_mut().unwrap();
            match c {
                '\\' => match chars.next() {
                    Some('n' | 'N') => current.push('\n'),
                    Some(e @ ('\\' | ';' | ',')) => current.push(e),
                    other => panic!("bad escape \\{other:?} in {v:?}"),
                },
                ',' => items.push(String::new()),
                ';' => panic!("raw ';' in TEXT {v:?}"),
                c => current.push(c),
            }
        }
        items
    }

    fn unescape(v: &str) -> String {
        let items = unescape_list(v);
        assert_eq!(items.len(), 1, "raw ',' in TEXT {v:?}");
        items.concat()
    }

    fn percent_decode(s: &str) -> Vec<u8> {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        out
    }

    /// The unfolded lines, as (property name, whole line).
    fn logical_lines(out: &str) -> Vec<(String, String)> {
        out.replace("\r\n ", "")
            .split_terminator("\r\n")
            .map(|l| {
                let name = l.split([';', ':']).next().unwrap_or("").to_string();
                (name, l.to_string())
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_text_keeps_the_line_structure_and_round_trips(
            summary in nasty(),
            description in nasty(),
            location in nasty(),
            name in nasty(),
            category in nasty(),
            uid_text in nasty(),
            prodid_name in nasty(),
            url in nasty(),
        ) {
            let ev = EventSpec {
                uid: uid_text.clone(),
                summary: summary.clone(),
                description: description.clone(),
                location: Some(format!("L{location}")),
                url: Some(format!("https://x.se/{url}")),
                organizer: Some((format!("O{name}"), email("kf@example.se"))),
                attendees: vec![(Some(format!("A{name}")), email("a@example.se"))],
                categories: vec!["IOP".into(), format!("c{category}")],
                ..checkin()
            };
            let out = calendar(Method::Request, &prodid_name, std::slice::from_ref(&ev));
            prop_assert_eq!(&out, &calendar(Method::Request, &prodid_name, &[ev]));

            // Every line ends in CRLF, no CR or LF elsewhere, at most 75 octets, valid UTF-8.
            let bytes = out.as_bytes();
            prop_assert!(bytes.ends_with(b"\r\n"));
            let physical: Vec<&[u8]> = bytes[..bytes.len() - 2]
                .split(|&b| b == b'\n')
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                .collect();
            prop_assert_eq!(physical.len(), out.matches("\r\n").count());
            for l in &physical {
                prop_assert!(l.len() <= 75, "{} octets: {:?}", l.len(), String::from_utf8_lossy(l));
                prop_assert!(!l.contains(&b'\r') && !l.contains(&b'\n'));
                prop_assert!(std::str::from_utf8(l).is_ok());
                prop_assert!(!l.is_empty() && l != b" ", "empty physical line");
            }

            // No input can add, drop or reorder a property.
            let lines = logical_lines(&out);
            let names: Vec<&str> = lines.iter().map(|(n, _)| n.as_str()).collect();
            prop_assert_eq!(names, vec![
                "BEGIN", "VERSION", "PRODID", "CALSCALE", "METHOD", "BEGIN", "UID", "SEQUENCE",
                "DTSTAMP", "DTSTART", "DTEND", "SUMMARY", "DESCRIPTION", "LOCATION", "URL",
                "ORGANIZER", "ATTENDEE", "CATEGORIES", "STATUS", "TRANSP", "BEGIN", "ACTION",
                "TRIGGER", "DESCRIPTION", "END", "END", "END",
            ]);
            let value = |name: &str| {
                lines.iter().find(|(n, _)| n == name).map(|(_, l)| l[name.len() + 1..].to_string())
            };

            // TEXT values unescape to the input, normalised as documented.
            prop_assert_eq!(unescape(&value("SUMMARY").unwrap()), normalised(&summary));
            prop_assert_eq!(unescape(&value("DESCRIPTION").unwrap()), normalised(&description));
            prop_assert_eq!(
                unescape(&value("LOCATION").unwrap()),
                normalised(&format!("L{location}"))
            );
            prop_assert_eq!(
                unescape_list(&value("CATEGORIES").unwrap()),
                vec!["IOP".to_string(), normalised(&format!("c{category}"))]
            );

            // The UID is printable ASCII without TEXT specials and decodes to the input.
            let uid_value = value("UID").unwrap();
            prop_assert!(uid_value.bytes().all(|b| b.is_ascii_graphic() && !b";,\\".contains(&b)));
            prop_assert_eq!(percent_decode(&uid_value), uid_text.as_bytes().to_vec());

            // A display name stays inside its quotes.
            let (_, attendee) = lines.iter().find(|(n, _)| n == "ATTENDEE").unwrap();
            let quoted = attendee.strip_prefix("ATTENDEE;CN=\"").unwrap();
            let close = quoted.find('"').unwrap();
            prop_assert!(!quoted[..close].chars().any(char::is_control));
            prop_assert_eq!(
                &quoted[close..],
                "\";ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=FALSE:mailto:a@example.se"
            );

            // The URL has no whitespace and PRODID keeps its four FPI fields.
            prop_assert!(value("URL").unwrap().bytes().all(|b| b.is_ascii_graphic()));
            let fpi = value("PRODID").unwrap();
            prop_assert!(fpi.starts_with("-//") && fpi.ends_with("//iopd//SV"));
            prop_assert_eq!(fpi.matches("//").count(), 3);
        }
    }
}
