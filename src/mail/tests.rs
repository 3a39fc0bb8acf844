use chrono::{DateTime, NaiveDate, Utc};
use mail_parser::{MessageParser, MimeHeaders, PartType};

use super::*;
use crate::ical::{self, EventSpec, Method};
use crate::ladder::StageKind;

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

fn anna() -> Person {
    person("Anna Svensson", "anna.svensson@regionvarmland.se")
}

fn karin() -> Person {
    person("Karin Berg", "iop@regionvarmland.se")
}

/// A check-in for Fritidsbanken due 2027-03-31, mailed a week before to the officer.
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
        stage: Some(StageKind::Reminder),
        today: day(2027, 3, 24),
        sent_late: false,
        recent_events: vec![(day(2026, 9, 14), "Avstämningsmöte hållet".into())],
        reader: Reader::Officer,
        recipient: anna(),
        to: vec![anna()],
        cc: vec![],
        coordinator: karin(),
        redirected_from: vec![],
        links: None,
        overview_link: None,
        escalation: None,
        diarienummer_hint: Some("KUB/2021:101".into()),
        guideline: Default::default(),
        documents: None,
    }
}

/// The same, as IOP-ansvarig reads it without the pages (command lines allowed).
fn for_coordinator(ctx: ReminderContext) -> ReminderContext {
    ReminderContext {
        reader: Reader::Coordinator,
        recipient: karin(),
        ..ctx
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
        stage: Some(StageKind::Planning),
        today: day(2026, 12, 31),
        ..checkin()
    }
}

fn links() -> Links {
    Links {
        done: "https://iopd.example.se/l/done?t=a&s=b".into(),
        absent: "https://iopd.example.se/l/absent?t=a".into(),
        more_time: "https://iopd.example.se/l/more?t=a".into(),
    }
}

/// The mail of the day holding these sections.
fn day_mail(ctxs: &[ReminderContext]) -> Rendered {
    let sections: Vec<Section> = ctxs.iter().map(|c| render_section(c).unwrap()).collect();
    render_day(&Day {
        body_name: "Region Värmland".into(),
        name: sections[0].name.clone(),
        sections,
        more: vec![],
        coordinator: karin(),
        feed_link: None,
        redirected_from: ctxs[0].redirected_from.clone(),
    })
    .unwrap()
}

fn one(ctx: ReminderContext) -> Rendered {
    day_mail(&[ctx])
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
        items: vec![],
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
    let r = one(checkin());
    assert_eq!(
        r.subject,
        "[IOP] Påminnelse: Avstämningsmöte med Fritidsbanken senast 2027-03-31 (om 7 dagar)"
    );
    for fact in [
        "Hej Anna Svensson!",
        "Påminnelse: Avstämningsmöte med Fritidsbanken senast 2027-03-31 (om 7 dagar)\n",
        "Sista dag: 2027-03-31 (om 7 dagar)",
        "Varför: Enligt riktlinjen ska minst två avstämningsmöten hållas per år.",
        "Nämnd: Kultur- och bildningsnämnden",
        "Senast registrerat: 2026-09-14 Avstämningsmöte hållet",
        // Without the pages an officer is told whom to tell, never a command.
        "Meddela IOP-ansvarig Karin Berg <iop@regionvarmland.se> datumet då \
         avstämningsmötet hölls, så registreras det.",
    ] {
        assert!(r.text.contains(fact), "text lacks {fact:?}:\n{}", r.text);
    }
    assert!(!r.text.contains("iopd record"), "{}", r.text);
    assert!(!r.html.contains("iopd record"));
    assert!(!r.text.contains("skickas i efterhand"));
    assert!(!r.text.contains("Bilagan"));
    assert!(!r.text.contains("Går också till"));
    for fact in [
        "Enligt riktlinjen ska minst två avstämningsmöten hållas per år.",
        "Karin Berg &lt;iop@regionvarmland.se&gt;",
        "max-width:600px",
        "white-space:nowrap",
    ] {
        assert!(r.html.contains(fact), "html lacks {fact:?}:\n{}", r.html);
    }
    assert!(!r.html.contains("<script"));
    assert!(!r.html.contains("http"), "no external resources");
}

#[test]
fn subjects_say_the_stage_and_the_time() {
    let at = |stage, today| {
        one(ReminderContext {
            stage: Some(stage),
            today,
            ..checkin()
        })
        .subject
    };
    assert_eq!(
        at(StageKind::Planning, day(2027, 3, 3)),
        "[IOP] Planera: Avstämningsmöte med Fritidsbanken senast 2027-03-31 (om 28 dagar)"
    );
    assert_eq!(
        at(StageKind::Reminder, day(2027, 3, 30)),
        "[IOP] Påminnelse: Avstämningsmöte med Fritidsbanken senast 2027-03-31 (i morgon)"
    );
    assert_eq!(
        at(StageKind::DueToday, day(2027, 3, 31)),
        "[IOP] Sista dag i dag: Avstämningsmöte med Fritidsbanken"
    );
    // A due-day stage sent late says what it is now.
    assert_eq!(
        at(StageKind::DueToday, day(2027, 4, 5)),
        "[IOP] Försenad 5 dagar: Avstämningsmöte med Fritidsbanken"
    );
    assert_eq!(
        at(StageKind::Overdue, day(2027, 4, 1)),
        "[IOP] Försenad 1 dag: Avstämningsmöte med Fritidsbanken"
    );
    let escalation = one(ReminderContext {
        stage: Some(StageKind::Escalation),
        today: day(2027, 4, 21),
        ..for_coordinator(checkin())
    });
    assert_eq!(
        escalation.subject,
        "[IOP] Eskalering: Avstämningsmöte med Fritidsbanken, försenad 21 dagar"
    );
}

/// Every template, with 0, 1 and 2 days either side: the words are right and
/// no phrasing is doubled.
#[test]
fn plural_edge_cases_read_right_everywhere() {
    let cases = [
        (0, "i dag"),
        (1, "i morgon"),
        (2, "om 2 dagar"),
        (-1, "i går"),
        (-2, "för 2 dagar sedan"),
    ];
    for (days_until, when) in cases {
        let ctx = ReminderContext {
            today: day(2027, 3, 31) - chrono::Duration::days(days_until),
            stage: Some(if days_until < 0 {
                StageKind::Overdue
            } else {
                StageKind::Reminder
            }),
            ..checkin()
        };
        let mut texts = vec![];
        let r = one(ctx.clone());
        texts.push(r.subject.clone());
        texts.push(r.text.clone());
        for r in [
            render_invite(&ctx, false).unwrap(),
            render_invite(&ctx, true).unwrap(),
            render_cancel(&ctx, Withdrawal::Done).unwrap(),
            render_cancel(&ctx, Withdrawal::NotYours).unwrap(),
        ] {
            texts.push(r.subject);
            texts.push(r.text);
        }
        let all = texts.join("\n");
        assert!(
            all.contains(&format!("2027-03-31 ({when})")),
            "{when}: {all}"
        );
        for wrong in [
            "1 dagar",
            "dagar sen ",
            "dagar sen\n",
            "Försenad: ",
            "dagar försenad",
            "idag",
            "2:e år",
            "om 0 dagar",
            "om 1 dag ",
        ] {
            assert!(!all.contains(wrong), "{wrong:?} in {all}");
        }
        if days_until == -1 {
            assert!(all.contains("Försenad 1 dag:"), "{all}");
        }
        if days_until == -2 {
            assert!(all.contains("Försenad 2 dagar:"), "{all}");
        }
    }
}

#[test]
fn one_mail_holds_the_day_worst_first() {
    let coming = checkin();
    let late = ReminderContext {
        organisation: "Brottsofferjouren".into(),
        due: day(2027, 3, 17),
        stage: Some(StageKind::Overdue),
        ..checkin()
    };
    let today = ReminderContext {
        organisation: "Agera".into(),
        kind: Kind::AnnualReport,
        due: day(2027, 3, 24),
        stage: Some(StageKind::DueToday),
        ..checkin()
    };
    let r = day_mail(&[coming, late, today]);
    assert_eq!(
        r.subject,
        "[IOP] Försenad 7 dagar: Avstämningsmöte med Brottsofferjouren (+2 till)"
    );
    let order = [
        "1. Försenad 7 dagar: Avstämningsmöte med Brottsofferjouren",
        "2. Sista dag i dag: Årsredovisning diarieförd från Agera",
        "3. Påminnelse: Avstämningsmöte med Fritidsbanken",
    ];
    let mut at = 0;
    for line in order {
        let found = r.text[at..].find(line).map(|i| i + at);
        at = found.unwrap_or_else(|| panic!("{line:?} out of order:\n{}", r.text));
    }
    assert_eq!(r.text.matches("Hej Anna Svensson!").count(), 1);
}

#[test]
fn calendar_mails_say_what_they_do() {
    let r = render_invite(&checkin(), false).unwrap();
    assert_eq!(
        r.subject,
        "[IOP] Kalenderpost: Avstämningsmöte med Fritidsbanken senast 2027-03-31"
    );
    assert!(r.text.contains("Här är kalenderposten"), "{}", r.text);
    let r = render_invite(&checkin(), true).unwrap();
    assert!(r.subject.starts_with("[IOP] Ändrad kalenderpost: "));
    let cases = [
        (
            Withdrawal::Done,
            "[IOP] Klart – kalenderposten tas bort: ",
            "registrerad som klar",
        ),
        (
            Withdrawal::Cancelled,
            "[IOP] Inställd: ",
            "gäller inte längre",
        ),
        (
            Withdrawal::Missed,
            "[IOP] Missad – kalenderposten tas bort: ",
            "räknas som missad",
        ),
        (
            Withdrawal::Waived,
            "[IOP] Avskriven – kalenderposten tas bort: ",
            "skrivit av",
        ),
        (
            Withdrawal::NotYours,
            "[IOP] Kalenderposten tas bort: ",
            "inte längre ansvarig",
        ),
    ];
    for (why, subject, sentence) in cases {
        let r = render_cancel(
            &ReminderContext {
                sent_late: true,
                ..checkin()
            },
            why,
        )
        .unwrap();
        assert!(r.subject.starts_with(subject), "{why:?}: {}", r.subject);
        assert!(r.text.contains(sentence), "{why:?}: {}", r.text);
        assert!(r.html.contains(sentence), "{why:?}: {}", r.html);
        assert!(r.text.contains("(skickas i efterhand)"), "{}", r.text);
        assert!(!r.text.contains("iopd record"));
    }
}

#[test]
fn late_delivery_redirect_and_links_are_shown() {
    let ctx = ReminderContext {
        sent_late: true,
        redirected_from: vec![email("anna.svensson@regionvarmland.se")],
        to: vec![anna(), person("Erik Berg", "erik@regionvarmland.se")],
        links: Some(links()),
        ..checkin()
    };
    let r = one(ctx);
    assert!(
        r.text.contains("(om 7 dagar) (skickas i efterhand)"),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains("Går också till: Erik Berg <erik@regionvarmland.se>")
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
    assert!(r.text.contains("Jag är frånvarande: "));
    assert!(!r.text.contains("Meddela IOP-ansvarig"));
    assert!(
        r.html
            .contains("href=\"https:&#x2f;&#x2f;iopd.example.se&#x2f;l&#x2f;done?t=a&amp;s=b\"")
    );
}

#[test]
fn the_escalation_is_written_for_iop_ansvarig() {
    let escalation = |reader, recipient, links: Option<Links>| ReminderContext {
        stage: Some(StageKind::Escalation),
        today: day(2027, 4, 21),
        reader,
        recipient,
        links,
        overview_link: Some("https://iopd.example.se/o?t=x".into()),
        escalation: Some(Escalation {
            officer: anna(),
            deputy: Some(email("erik@regionvarmland.se")),
            reminded: 4,
            last_reminded: Some(day(2027, 4, 7)),
        }),
        ..checkin()
    };
    let r = one(escalation(Reader::Coordinator, karin(), Some(links())));
    for fact in [
        "Handläggare: Anna Svensson <anna.svensson@regionvarmland.se>, ersättare \
         erik@regionvarmland.se; påmind 4 gånger, senast 2027-04-07.",
        "Registrera åt handläggaren: https://iopd.example.se/l/done?t=a&s=b",
        "Partnerskapet i översikten: https://iopd.example.se/o?t=x",
    ] {
        assert!(r.text.contains(fact), "lacks {fact:?}:\n{}", r.text);
    }
    assert!(!r.text.contains("frånvarande"), "{}", r.text);
    assert!(!r.text.contains("mer tid"), "{}", r.text);
    // Without the pages IOP-ansvarig gets the command line.
    let r = one(escalation(Reader::Coordinator, karin(), None));
    assert!(
        r.text
            .contains("  iopd record checkin-held --partnership KUB/2021:101 --on ÅÅÅÅ-MM-DD\n")
    );
    // The advisory copy says it is a copy and offers nothing to click.
    let r = one(escalation(
        Reader::AdvisoryCopy,
        person("Rådgivande funktionen", "iop@orebro.se"),
        None,
    ));
    assert!(r.text.contains("kopia för kännedom"), "{}", r.text);
    assert!(
        r.subject.starts_with("[IOP] Kopia: Eskalering: "),
        "{}",
        r.subject
    );
    assert!(!r.text.contains("Registrera"), "{}", r.text);
    assert!(!r.text.contains("iopd record"));
}

#[test]
fn markup_in_names_is_escaped_in_html_only() {
    let ctx = ReminderContext {
        organisation: "<script>alert(1)</script> & Co".into(),
        recent_events: vec![(day(2027, 1, 2), "<b>hållet</b>".into())],
        ..checkin()
    };
    let r = one(ctx);
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
        cc: vec![karin()],
        ..checkin()
    };
    let r = one(ctx.clone());
    assert_eq!(
        r.subject,
        "[IOP] Påminnelse: Avstämningsmöte med Fritidsbanken Bcc: evil@example.org senast \
         2027-03-31 (om 7 dagar)"
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
    let rcpt: Vec<String> = msg.envelope().to().iter().map(|a| a.to_string()).collect();
    assert_eq!(
        rcpt,
        ["anna.svensson@regionvarmland.se", "iop@regionvarmland.se"]
    );
}

#[test]
fn committee_planning_lists_the_memo_outline() {
    let r = one(followup_planning());
    assert_eq!(
        r.subject,
        "[IOP] Planera: Fördjupad uppföljning till nämnden för Fritidsbanken senast 2027-02-25 \
         (om 56 dagar)"
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
        "vartannat år",
    ] {
        assert!(r.text.contains(fact), "text lacks {fact:?}:\n{}", r.text);
    }
    let r = one(for_coordinator(followup_planning()));
    for fact in [
        "  iopd record committee-followup-submitted --partnership KUB/2021:101 \
         --diarienummer DNR --meeting 2027-03-18\n",
        "  iopd record committee-followup-reported --partnership KUB/2021:101 \
         --meeting 2027-03-18 --paragraph \"§ N\" --decision approved|amount-changed|renegotiation\n",
    ] {
        assert!(r.text.contains(fact), "text lacks {fact:?}:\n{}", r.text);
    }

    // Later stages remind without repeating the outline.
    let reminder = ReminderContext {
        stage: Some(StageKind::Reminder),
        ..followup_planning()
    };
    let r = one(reminder);
    assert!(!r.text.contains("Identifierade utvecklingsområden"));
    assert!(!r.html.contains("Identifierade utvecklingsområden"));
}

#[test]
fn missing_meeting_asks_for_the_meeting_plan() {
    let ctx = ReminderContext {
        meeting: None,
        no_meeting: true,
        ..for_coordinator(followup_planning())
    };
    let r = one(ctx);
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
            ..for_coordinator(checkin())
        };
        let r = one(ctx.clone());
        assert!(r.text.contains(expected), "{kind:?}:\n{}", r.text);
        let label = crate::guideline::Guideline::default()
            .label(kind)
            .to_string();
        assert!(r.subject.contains(&label), "{}", r.subject);
        // The officer's mail of the same item: no command, a sentence or nothing.
        let officer = one(ReminderContext {
            reader: Reader::Officer,
            ..ctx.clone()
        });
        assert!(
            !officer.text.contains("iopd record"),
            "{kind:?}:\n{}",
            officer.text
        );
        render_cancel(&ctx, Withdrawal::Done).unwrap();
        render_invite(&ctx, false).unwrap();
    }
    let minutes_of_termination = ReminderContext {
        kind: Kind::CommitteeMinutes,
        parent: Some(Kind::TerminationDecision),
        meeting: Some(day(2027, 3, 18)),
        ..for_coordinator(checkin())
    };
    let r = one(minutes_of_termination);
    assert!(r.text.contains(
        "termination-decided --partnership KUB/2021:101 --meeting 2027-03-18 --paragraph \"§ N\""
    ));
    assert!(r.text.contains("Gäller: Nämndbeslut om uppsägning"));
}

#[test]
fn the_agreement_end_is_never_overdue() {
    let ctx = ReminderContext {
        kind: Kind::AgreementEnd,
        today: day(2027, 4, 2),
        ..checkin()
    };
    let r = one(ctx);
    assert_eq!(
        r.subject,
        "[IOP] Överenskommelsen upphör för Fritidsbanken den 2027-03-31 (för 2 dagar sedan)"
    );
    assert!(!r.text.contains("Försenad"));
}

#[test]
fn odd_partnership_ids_are_quoted_for_the_shell() {
    let ctx = ReminderContext {
        partnership_id: "KUB 2021'101".into(),
        ..for_coordinator(checkin())
    };
    let r = one(ctx);
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
    let r = one(ctx.clone());
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
    let r = render_cancel(&ctx, Withdrawal::Done).unwrap();
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
    let r = one(ctx.clone());
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
    let r = one(ctx.clone());
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
    let r = one(ctx.clone());
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

/// Issue 19: every kind, stage and reader, the invites and every withdrawal,
/// under each preset: no mail quotes the other body's guideline, and each
/// says its own.
#[test]
fn no_mail_quotes_the_other_guideline() {
    use crate::domain::YearlyDocument;
    use crate::engine::{Documents, ReceivedDocument};
    use crate::guideline::{Guideline, Voice, own_phrases};
    let topics: Vec<(Kind, Option<Kind>)> = Kind::ALL
        .iter()
        .map(|&k| (k, None))
        .chain([
            (Kind::CommitteeMinutes, Some(Kind::CommitteeFollowup)),
            (Kind::CommitteeMinutes, Some(Kind::TerminationDecision)),
        ])
        .collect();
    for (voice, other, body) in [
        (Voice::RegionVarmland, Voice::Orebro, "Region Värmland"),
        (Voice::Orebro, Voice::RegionVarmland, "Örebro kommun"),
    ] {
        let guideline = Guideline::new(voice, &Default::default());
        let mut all = String::new();
        for &(kind, parent) in &topics {
            let documents =
                (voice == Voice::Orebro && kind == Kind::AnnualReport).then(|| Documents {
                    received: vec![ReceivedDocument {
                        document: YearlyDocument::Arsmotesprotokoll,
                        diarienummer: "KS 2027/41".into(),
                        on: day(2027, 3, 2),
                        event: 7,
                    }],
                    missing: YearlyDocument::ALL[1..].to_vec(),
                });
            let base = ReminderContext {
                body_name: body.into(),
                kind,
                parent,
                guideline: guideline.clone(),
                documents,
                recent_events: vec![],
                ..checkin()
            };
            for stage in StageKind::ALL {
                for (reader, links) in [
                    (Reader::Officer, None),
                    (Reader::Officer, Some(links())),
                    (Reader::Coordinator, None),
                    (Reader::AdvisoryCopy, None),
                ] {
                    let ctx = ReminderContext {
                        stage: Some(stage),
                        reader,
                        links,
                        escalation: (stage == StageKind::Escalation).then(|| Escalation {
                            officer: anna(),
                            deputy: None,
                            reminded: 2,
                            last_reminded: Some(day(2027, 3, 10)),
                        }),
                        ..base.clone()
                    };
                    let r = one(ctx);
                    all.push_str(&format!("{}\n{}\n{}\n", r.subject, r.text, r.html));
                }
            }
            let mut renders = vec![
                render_invite(&base, false).unwrap(),
                render_invite(&base, true).unwrap(),
            ];
            for why in [
                Withdrawal::Done,
                Withdrawal::Cancelled,
                Withdrawal::Missed,
                Withdrawal::Waived,
                Withdrawal::NotYours,
                Withdrawal::Moved,
            ] {
                renders.push(render_cancel(&base, why).unwrap());
            }
            for r in renders {
                all.push_str(&format!("{}\n{}\n{}\n", r.subject, r.text, r.html));
            }
        }
        let lower = all.to_lowercase();
        for phrase in own_phrases(other) {
            let p = phrase.to_lowercase();
            if let Some(at) = lower.find(&p) {
                let from = lower[..at].rfind('\n').unwrap_or(0);
                panic!(
                    "{voice:?} mail quotes {other:?}'s guideline ({phrase:?}): {}",
                    &all[from..(at + 200).min(all.len())]
                );
            }
        }
        for phrase in own_phrases(voice).iter().take(2) {
            assert!(
                lower.contains(&phrase.to_lowercase()),
                "{voice:?} mails never say {phrase:?}"
            );
        }
        if voice == Voice::Orebro {
            assert!(
                all.contains("Saknas: Verksamhetsberättelse, ekonomisk berättelse med bokslut")
            );
            assert!(all.contains("Registrerade: Årsmötesprotokoll (KS 2027/41)"));
            assert!(all.contains("--document revisionsberattelse"));
        }
    }
}
