use chrono::{DateTime, NaiveDate, Utc};
use mail_parser::{MessageParser, MimeHeaders, PartType};

use super::*;
use crate::ical::{self, EventSpec, Method};

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

fn person(name: &str, address: &str) -> Person {
    Person {
        name: Some(name.to_string()),
        email: email(address),
    }
}

/// A check-in for Fritidsbanken due 2027-03-31, mailed a week before.
fn checkin() -> ReminderContext {
    ReminderContext {
        body_name: "Region Värmland".into(),
        partnership_id: "KUB/2021:101".into(),
        organisation: "Fritidsbanken".into(),
        committee_name: "Kultur- och bildningsnämnden".into(),
        kind: Kind::Checkin,
        parent: None,
        due: day(2027, 3, 31),
        period_start: day(2026, 10, 1),
        period_end: day(2027, 3, 31),
        meeting: None,
        no_meeting: false,
        stage_label: "Påminnelse".into(),
        stage_is_planning: false,
        today: day(2027, 3, 24),
        sent_late: false,
        recent_events: vec![(day(2026, 9, 14), "Avstämningsmöte hållet".into())],
        to: vec![person("Anna Svensson", "anna.svensson@regionvarmland.se")],
        cc: vec![Person {
            name: None,
            email: email("iop@regionvarmland.se"),
        }],
        redirected_from: vec![],
        links: None,
        diarienummer_hint: Some("KUB/2021:101".into()),
    }
}

/// The biennial follow-up, planned for the meeting of 2027-03-18 (memo due 2027-02-25).
fn followup_planning() -> ReminderContext {
    ReminderContext {
        kind: Kind::CommitteeFollowup,
        due: day(2027, 2, 25),
        period_start: day(2025, 3, 1),
        period_end: day(2027, 2, 25),
        meeting: Some(day(2027, 3, 18)),
        stage_label: "Planera".into(),
        stage_is_planning: true,
        today: day(2026, 12, 31),
        ..checkin()
    }
}

fn sender() -> Person {
    person("IOP-påminnelser", "iopd@regionvarmland.se")
}

fn stamp() -> DateTime<Utc> {
    day(2027, 3, 24).and_hms_opt(7, 0, 0).unwrap().and_utc()
}

fn envelope(ctx: &ReminderContext) -> Envelope {
    Envelope {
        from: sender(),
        to: ctx.to.clone(),
        cc: ctx.cc.clone(),
        outbox_key: None,
    }
}

fn invite(method: Method) -> Invite {
    let spec = EventSpec {
        uid: "KUB/2021:101/checkin/y5-w2@iopd".into(),
        sequence: 1,
        dtstamp: stamp(),
        date: day(2027, 3, 31),
        summary: "Avstämningsmöte med Fritidsbanken".into(),
        description: "Registrera mötet i iopd.".into(),
        location: None,
        url: None,
        organizer: Some(("IOP-påminnelser".into(), email("iopd@regionvarmland.se"))),
        attendees: vec![(
            Some("Anna Svensson".into()),
            email("anna.svensson@regionvarmland.se"),
        )],
        cancelled: method == Method::Cancel,
        alarm_days_before: Some(1),
        categories: vec!["IOP".into()],
    };
    Invite {
        method,
        ics: ical::calendar(method, "Region Värmland", &[spec]),
    }
}

#[test]
fn checkin_reminder_states_the_facts() {
    let r = render_reminder(&checkin()).unwrap();
    assert_eq!(
        r.subject,
        "[IOP] Avstämningsmöte med Fritidsbanken senast 2027-03-31"
    );
    for fact in [
        "Avstämningsmöte med Fritidsbanken senast 2027-03-31.",
        "Påminnelse: om 7 dagar.",
        "Enligt riktlinjen ska minst två avstämningsmöten hållas per år.",
        "  iopd record checkin-held --partnership KUB/2021:101 --on ÅÅÅÅ-MM-DD\n",
        "Nämnd: Kultur- och bildningsnämnden",
        "Period: 2026-10-01 – 2027-03-31",
        "  2026-09-14  Avstämningsmöte hållet",
        "Detta mejl har gått till Anna Svensson <anna.svensson@regionvarmland.se>, \
         med kopia till iop@regionvarmland.se.",
    ] {
        assert!(r.text.contains(fact), "text lacks {fact:?}:\n{}", r.text);
    }
    assert!(!r.text.contains("skickas i efterhand"));
    assert!(!r.text.contains("Bilagan"));
    for fact in [
        "Enligt riktlinjen ska minst två avstämningsmöten hållas per år.",
        // minijinja escapes `/` as well.
        "iopd record checkin-held --partnership KUB&#x2f;2021:101 --on ÅÅÅÅ-MM-DD",
        "Anna Svensson &lt;anna.svensson@regionvarmland.se&gt;",
        "max-width:600px",
    ] {
        assert!(r.html.contains(fact), "html lacks {fact:?}:\n{}", r.html);
    }
    assert!(!r.html.contains("<script"));
    assert!(!r.html.contains("http"), "no external resources");
}

#[test]
fn subject_prefix_follows_the_stage_once_overdue() {
    let overdue = ReminderContext {
        stage_label: "Försenad".into(),
        today: day(2027, 4, 9),
        ..checkin()
    };
    let r = render_reminder(&overdue).unwrap();
    assert_eq!(
        r.subject,
        "[IOP] Försenad: Avstämningsmöte med Fritidsbanken senast 2027-03-31"
    );
    assert!(r.text.contains("Försenad: 9 dagar försenad."), "{}", r.text);

    let escalation = ReminderContext {
        stage_label: "Eskalering".into(),
        today: day(2027, 4, 21),
        ..checkin()
    };
    assert_eq!(
        render_reminder(&escalation).unwrap().subject,
        "[IOP] Eskalering: Avstämningsmöte med Fritidsbanken senast 2027-03-31"
    );

    let on_the_day = ReminderContext {
        today: day(2027, 3, 31),
        ..checkin()
    };
    let r = render_reminder(&on_the_day).unwrap();
    assert_eq!(
        r.subject,
        "[IOP] Avstämningsmöte med Fritidsbanken senast 2027-03-31"
    );
    assert!(r.text.contains("Påminnelse: i dag."));
}

#[test]
fn cancel_mail() {
    let r = render_cancel(&ReminderContext {
        sent_late: true,
        ..checkin()
    })
    .unwrap();
    assert_eq!(
        r.subject,
        "[IOP] Inställd: Avstämningsmöte med Fritidsbanken senast 2027-03-31"
    );
    assert!(
        r.text.contains("tas bort (skickas i efterhand)."),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains("Anna Svensson <anna.svensson@regionvarmland.se>")
    );
    assert!(!r.text.contains("iopd record"));
    assert!(r.html.contains("Kalenderposten tas bort"));
}

#[test]
fn late_delivery_redirect_and_links_are_shown() {
    let ctx = ReminderContext {
        sent_late: true,
        redirected_from: vec![email("anna.svensson@regionvarmland.se")],
        to: vec![person("Test", "test@example.org")],
        cc: vec![],
        links: Some(Links {
            done: "https://iopd.example.se/l/done?t=a&s=b".into(),
            absent: "https://iopd.example.se/l/absent?t=a".into(),
            more_time: "https://iopd.example.se/l/more?t=a".into(),
        }),
        ..checkin()
    };
    let r = render_reminder(&ctx).unwrap();
    assert!(
        r.text
            .contains("Påminnelse: om 7 dagar (skickas i efterhand).")
    );
    assert!(
        r.text
            .contains("Detta mejl har gått till Test <test@example.org>.")
    );
    assert!(
        r.text
            .contains("adresserat till anna.svensson@regionvarmland.se")
    );
    // Plain text is not HTML-escaped; the HTML attribute is.
    assert!(
        r.text
            .contains("Registrera att det är gjort: https://iopd.example.se/l/done?t=a&s=b")
    );
    assert!(
        r.html
            .contains("href=\"https:&#x2f;&#x2f;iopd.example.se&#x2f;l&#x2f;done?t=a&amp;s=b\"")
    );
}

#[test]
fn markup_in_names_is_escaped_in_html_only() {
    let ctx = ReminderContext {
        organisation: "<script>alert(1)</script> & Co".into(),
        recent_events: vec![(day(2027, 1, 2), "<b>hållet</b>".into())],
        ..checkin()
    };
    let r = render_reminder(&ctx).unwrap();
    assert!(r.html.contains("&lt;script&gt;"), "{}", r.html);
    assert!(r.html.contains("&amp; Co"));
    assert!(r.html.contains("&lt;b&gt;hållet"));
    assert!(!r.html.contains("<script"));
    assert!(!r.html.contains("<b>"));
    assert!(r.text.contains("<script>alert(1)</script> & Co"));
    assert!(r.text.contains("<b>hållet</b>"));
}

#[test]
fn line_breaks_in_names_cannot_inject_headers() {
    let ctx = ReminderContext {
        organisation: "Fritidsbanken\r\nBcc: evil@example.org".into(),
        to: vec![person(
            "Anna\r\nBcc: evil@example.org",
            "anna.svensson@regionvarmland.se",
        )],
        ..checkin()
    };
    let r = render_reminder(&ctx).unwrap();
    assert_eq!(
        r.subject,
        "[IOP] Avstämningsmöte med Fritidsbanken Bcc: evil@example.org senast 2027-03-31"
    );
    let msg = build(&envelope(&ctx), &r, None, "<a1@regionvarmland.se>", stamp()).unwrap();
    let raw = msg.formatted();
    let parsed = MessageParser::default().parse(&raw).unwrap();
    assert!(parsed.bcc().is_none());
    assert!(
        parsed
            .headers()
            .iter()
            .all(|h| !h.name().eq_ignore_ascii_case("bcc")),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    assert_eq!(parsed.subject(), Some(r.subject.as_str()));
    let to = parsed.to().and_then(|a| a.first()).unwrap();
    assert_eq!(to.address(), Some("anna.svensson@regionvarmland.se"));
    assert_eq!(to.name(), Some("Anna Bcc: evil@example.org"));
    // The text body keeps the organisation on one line as well.
    assert!(
        r.text
            .contains("Partnerskap: KUB/2021:101, Fritidsbanken Bcc: evil@example.org\n")
    );
    // Only the envelope's own recipients.
    let rcpt: Vec<String> = msg.envelope().to().iter().map(|a| a.to_string()).collect();
    assert_eq!(
        rcpt,
        ["anna.svensson@regionvarmland.se", "iop@regionvarmland.se"]
    );
}

#[test]
fn committee_planning_lists_the_memo_outline() {
    let r = render_reminder(&followup_planning()).unwrap();
    assert_eq!(
        r.subject,
        "[IOP] Fördjupad uppföljning till nämnden för Fritidsbanken senast 2027-02-25"
    );
    // The routine's appendix headings and proposed decision points (DOMAIN.md, point 4).
    let outline = [
        "Kort beskrivning av samverkan genom IOP i Region Värmland",
        "Bakgrund, syfte och mål med aktuellt IOP-avtal",
        "vilken samhällsutmaning det syftar till att lösa",
        "Insatser som parterna går in med (ekonomi och arbetsinsatser)",
        "Måluppfyllelse och effekter",
        "Identifierade utvecklingsområden",
        "Uppföljning av idéburet offentligt partnerskap (IOP) mellan Region Värmland och \
         Fritidsbanken godkänns.",
        "Idéburet offentligt partnerskap (IOP) mellan Region Värmland och Fritidsbanken \
         utökas med XXXXX kronor per helår",
        "Behovsbeskrivning och skäl för omförhandling",
    ];
    for line in outline {
        assert!(r.text.contains(line), "text lacks {line:?}:\n{}", r.text);
        assert!(r.html.contains(line), "html lacks {line:?}");
    }
    for fact in [
        "Nämndens sammanträde 2027-03-18, underlag senast 2027-02-25.",
        "Planera: om 56 dagar.",
        "vartannat år",
        "  iopd record committee-followup-submitted --partnership KUB/2021:101 \
         --diarienummer DNR --meeting 2027-03-18\n",
        "  iopd record committee-followup-reported --partnership KUB/2021:101 \
         --meeting 2027-03-18 --paragraph \"§ N\" --decision approved|amount-changed|renegotiation\n",
    ] {
        assert!(r.text.contains(fact), "text lacks {fact:?}:\n{}", r.text);
    }

    // Later stages remind without repeating the outline.
    let reminder = ReminderContext {
        stage_label: "Påminnelse".into(),
        stage_is_planning: false,
        ..followup_planning()
    };
    let r = render_reminder(&reminder).unwrap();
    assert!(!r.text.contains("Identifierade utvecklingsområden"));
    assert!(!r.html.contains("Identifierade utvecklingsområden"));
}

#[test]
fn missing_meeting_asks_for_the_meeting_plan() {
    let ctx = ReminderContext {
        meeting: None,
        no_meeting: true,
        ..followup_planning()
    };
    let r = render_reminder(&ctx).unwrap();
    assert!(r.text.contains("Kontrollera nämndens sammanträdesplan"));
    assert!(r.html.contains("Kontrollera nämndens sammanträdesplan"));
    assert!(r.text.contains("--meeting ÅÅÅÅ-MM-DD"));
}

#[test]
fn every_kind_names_its_evidence_command() {
    // (kind, parent, a command line the mail must hold), written from `iopd record --help`.
    let rows: [(Kind, Option<Kind>, &str); 12] = [
        (
            Kind::Checkin,
            None,
            "checkin-held --partnership KUB/2021:101 --on ÅÅÅÅ-MM-DD",
        ),
        (
            Kind::AnnualReport,
            None,
            "annual-report-received --partnership KUB/2021:101 --diarienummer DNR",
        ),
        (
            Kind::AnnualEvaluation,
            None,
            "annual-evaluation-held --partnership KUB/2021:101 --on ÅÅÅÅ-MM-DD",
        ),
        (
            Kind::CommitteeFollowup,
            None,
            "committee-followup-submitted --partnership KUB/2021:101 --diarienummer DNR",
        ),
        (
            Kind::CommitteeMinutes,
            Some(Kind::CommitteeFollowup),
            "committee-followup-reported --partnership KUB/2021:101 --meeting ÅÅÅÅ-MM-DD \
             --paragraph \"§ N\" --decision approved|amount-changed|renegotiation",
        ),
        (
            Kind::TerminationDecision,
            None,
            "termination-submitted --partnership KUB/2021:101 --diarienummer DNR",
        ),
        (
            Kind::WindDownPlan,
            None,
            "wind-down-plan-registered --partnership KUB/2021:101 --diarienummer DNR",
        ),
        (
            Kind::PaymentsStop,
            None,
            "payments-stopped --partnership KUB/2021:101 --on ÅÅÅÅ-MM-DD",
        ),
        (Kind::AgreementEnd, None, "Du behöver inte registrera något"),
        (
            Kind::ExpiryEvaluation,
            None,
            "expiry-evaluation-held --partnership KUB/2021:101 --on ÅÅÅÅ-MM-DD",
        ),
        (
            Kind::RenegotiatedAgreementSigned,
            None,
            "renegotiated-agreement-signed --partnership KUB/2021:101 --on ÅÅÅÅ-MM-DD",
        ),
        (
            Kind::PaymentChange,
            None,
            "payment-changed --partnership KUB/2021:101 --on ÅÅÅÅ-MM-DD",
        ),
    ];
    for (kind, parent, expected) in rows {
        let ctx = ReminderContext {
            kind,
            parent,
            ..checkin()
        };
        let r = render_reminder(&ctx).unwrap();
        assert!(r.text.contains(expected), "{kind:?}:\n{}", r.text);
        assert!(r.subject.contains(kind.label_sv()), "{}", r.subject);
        render_cancel(&ctx).unwrap();
    }
    let minutes_of_termination = ReminderContext {
        kind: Kind::CommitteeMinutes,
        parent: Some(Kind::TerminationDecision),
        meeting: Some(day(2027, 3, 18)),
        ..checkin()
    };
    let r = render_reminder(&minutes_of_termination).unwrap();
    assert!(r.text.contains(
        "termination-decided --partnership KUB/2021:101 --meeting 2027-03-18 --paragraph \"§ N\""
    ));
    assert!(r.text.contains("Gäller: Nämndbeslut om uppsägning"));
}

#[test]
fn the_agreement_end_is_never_overdue() {
    let ctx = ReminderContext {
        kind: Kind::AgreementEnd,
        stage_label: "Påminnelse".into(),
        today: day(2027, 4, 2),
        ..checkin()
    };
    let r = render_reminder(&ctx).unwrap();
    assert_eq!(
        r.subject,
        "[IOP] Överenskommelsen upphör för Fritidsbanken den 2027-03-31"
    );
    assert!(r.text.contains("för 2 dagar sedan"));
}

#[test]
fn odd_partnership_ids_are_quoted_for_the_shell() {
    let ctx = ReminderContext {
        partnership_id: "KUB 2021'101".into(),
        ..checkin()
    };
    let r = render_reminder(&ctx).unwrap();
    assert!(
        r.text
            .contains(r"iopd record checkin-held --partnership 'KUB 2021'\''101' --on"),
        "{}",
        r.text
    );
}

fn content_type(part: &mail_parser::MessagePart<'_>) -> String {
    let ct = part.content_type().unwrap();
    format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or(""))
}

fn children(part: &mail_parser::MessagePart<'_>) -> Vec<usize> {
    match &part.body {
        PartType::Multipart(ids) => ids.iter().map(|&i| i as usize).collect(),
        other => panic!("not a multipart: {other:?}"),
    }
}

#[test]
fn invite_mime_tree_for_outlook() {
    let ctx = checkin();
    let r = render_reminder(&ctx).unwrap();
    let from = sender();
    let id = message_id("KUB/2021:101/checkin/y5-w2/reminder_7/anna", &from.email);
    let inv = invite(Method::Request);
    let msg = build(&envelope(&ctx), &r, Some(&inv), &id, stamp()).unwrap();
    let raw = msg.formatted();
    let parsed = MessageParser::default().parse(&raw).unwrap();

    assert_eq!(
        parsed.message_id().map(|m| format!("<{m}>")),
        Some(id.clone())
    );
    assert_eq!(
        parsed.date().map(|d| d.to_timestamp()),
        Some(stamp().timestamp())
    );
    assert_eq!(parsed.subject(), Some(r.subject.as_str()));
    assert_eq!(
        parsed.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-generated")
    );
    assert_eq!(
        parsed.header_raw("X-Auto-Response-Suppress").map(str::trim),
        Some("All")
    );

    let parts = &parsed.parts;
    let root = &parts[0];
    assert_eq!(content_type(root), "multipart/mixed");
    let top = children(root);
    assert_eq!(top.len(), 2);
    let alt = &parts[top[0]];
    assert_eq!(content_type(alt), "multipart/alternative");
    let alts = children(alt);
    let types: Vec<String> = alts.iter().map(|&i| content_type(&parts[i])).collect();
    assert_eq!(types, ["text/plain", "text/html", "text/calendar"]);
    for &i in &alts {
        let ct = parts[i].content_type().unwrap();
        assert_eq!(
            ct.attribute("charset")
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("utf-8")
        );
    }
    let cal = &parts[alts[2]];
    assert_eq!(
        cal.content_type().unwrap().attribute("method"),
        Some("REQUEST")
    );
    assert!(cal.content_disposition().is_none());
    assert!(
        parts[alts[0]]
            .text_contents()
            .unwrap()
            .contains("Enligt riktlinjen ska minst två avstämningsmöten hållas per år.")
    );

    let attachment = &parts[top[1]];
    assert_eq!(content_type(attachment), "application/ics");
    assert_eq!(attachment.attachment_name(), Some("invite.ics"));

    // The calendar part parses with an independent reader and matches the MIME method.
    let ics = cal.text_contents().unwrap();
    let calendar = ::ical::IcalParser::new(ics.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    let method = calendar
        .properties
        .iter()
        .find(|p| p.name == "METHOD")
        .and_then(|p| p.value.clone());
    assert_eq!(method.as_deref(), Some("REQUEST"));
    assert_eq!(calendar.events.len(), 1);
    assert_eq!(attachment.contents(), ics.as_bytes());
}

#[test]
fn cancel_invite_carries_method_cancel() {
    let ctx = checkin();
    let r = render_cancel(&ctx).unwrap();
    let id = message_id("k/cancel", &sender().email);
    let msg = build(
        &envelope(&ctx),
        &r,
        Some(&invite(Method::Cancel)),
        &id,
        stamp(),
    )
    .unwrap();
    let raw = msg.formatted();
    let parsed = MessageParser::default().parse(&raw).unwrap();
    let alt = children(&parsed.parts[0])[0];
    let cal = children(&parsed.parts[alt])[2];
    let ct = parsed.parts[cal].content_type().unwrap();
    assert_eq!(ct.attribute("method"), Some("CANCEL"));
    assert!(
        parsed.parts[cal]
            .text_contents()
            .unwrap()
            .contains("METHOD:CANCEL")
    );
}

#[test]
fn without_invite_only_the_alternatives() {
    let ctx = checkin();
    let r = render_reminder(&ctx).unwrap();
    let msg = build(&envelope(&ctx), &r, None, "<x1@regionvarmland.se>", stamp()).unwrap();
    let raw = msg.formatted();
    let parsed = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(content_type(&parsed.parts[0]), "multipart/alternative");
    let kids = children(&parsed.parts[0]);
    let types: Vec<String> = kids
        .iter()
        .map(|&i| content_type(&parsed.parts[i]))
        .collect();
    assert_eq!(types, ["text/plain", "text/html"]);
    assert_eq!(parsed.attachment_count(), 0);
    assert_eq!(
        parsed.body_html(0).as_deref(),
        Some(r.html.replace('\n', "\r\n").as_str())
    );
}

#[test]
fn same_input_same_bytes() {
    let ctx = checkin();
    let r = render_reminder(&ctx).unwrap();
    let id = message_id("key", &sender().email);
    let inv = invite(Method::Request);
    let a = build(&envelope(&ctx), &r, Some(&inv), &id, stamp()).unwrap();
    let b = build(&envelope(&ctx), &r, Some(&inv), &id, stamp()).unwrap();
    assert_eq!(a.formatted(), b.formatted());
}

#[test]
fn message_id_is_stable_per_outbox_key() {
    let from = email("iopd@regionvarmland.se");
    let a = message_id("KUB/2021:101/checkin/y5-w2/reminder_7/anna", &from);
    assert_eq!(
        a,
        message_id("KUB/2021:101/checkin/y5-w2/reminder_7/anna", &from)
    );
    assert_ne!(
        a,
        message_id("KUB/2021:101/checkin/y5-w2/overdue_7/anna", &from)
    );
    let (local, domain) = a
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .and_then(|s| s.split_once('@'))
        .unwrap();
    assert_eq!(domain, "regionvarmland.se");
    assert_eq!(local.len(), 32);
    assert!(
        local
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    // sha256("abc") starts ba7816bf8f01cfea414140de5dae2223 (FIPS 180-2, appendix B.1).
    assert_eq!(
        message_id("abc", &from),
        "<ba7816bf8f01cfea414140de5dae2223@regionvarmland.se>"
    );
}

#[test]
fn malformed_message_ids_are_refused() {
    let ctx = checkin();
    let r = render_reminder(&ctx).unwrap();
    for bad in ["", "abc@d", "<abc>", "<a b@c>", "<a@b>\r\nBcc: x@y.z"] {
        assert!(
            matches!(
                build(&envelope(&ctx), &r, None, bad, stamp()),
                Err(MailError::MessageId { .. })
            ),
            "{bad:?}"
        );
    }
}
