//! `iopd digest`, the secretaries' heads-up and `iopd report` against real
//! SQLite, PostgreSQL and SMTP.
//!
//! Dates are worked out by hand from the rules and the 2026 almanac:
//! - T1 (kbn) starts 2025-12-01, two check-ins a year: the first window ends
//!   Sunday 2026-05-31, so the check-in is due Friday 2026-05-29.
//! - T2 (hsn) starts 2025-11-01: its first window ends Thursday 2026-04-30.
//! - Monday 2026-06-08 (ISO week 2026-W24): T2 is 39 days late, T1 10.

mod support;

use std::time::Duration;

use scraper::{Html, Selector};
use serde_json::json;
use support::mail::{Mail, parse};
use support::smtp::SmtpServer;
use support::{BACKENDS, Backend, World, json, path_str};

const T1_T2: &str = "id;organisation;committee;officer_name;officer_email;deputy_email;start_date\n\
T1;Testföreningen;kbn;Olle Officer;olle@example.org;dora@example.org;2025-12-01\n\
T2;Vårdföreningen;hsn;Maja Vård;maja@example.org;;2025-11-01\n";

fn world(backend: Backend, smtp: &SmtpServer, csv: &str) -> World {
    World::with_register(backend, smtp.port, csv)
}

fn digests(smtp: &SmtpServer) -> Vec<Mail> {
    smtp.received()
        .iter()
        .map(parse)
        .filter(|m| m.subject.starts_with("[IOP] Veckoöversikt"))
        .collect()
}

/// The lines of each checkpoint row under `#id` (what, when, who), with
/// white space as a reader sees it.
fn items(html: &str, id: &str) -> Vec<Vec<String>> {
    let doc = Html::parse_document(html);
    let item = Selector::parse(&format!("#{id} .item")).unwrap();
    let line = Selector::parse(":scope > div").unwrap();
    doc.select(&item)
        .map(|i| {
            i.select(&line)
                .map(|l| {
                    l.text()
                        .collect::<String>()
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect()
        })
        .collect()
}

/// The text of each cell of each body row of the table `id`.
fn rows(html: &str, id: &str) -> Vec<Vec<String>> {
    let doc = Html::parse_document(html);
    let tr = Selector::parse(&format!("table#{id} tbody tr")).unwrap();
    let td = Selector::parse("td, th").unwrap();
    doc.select(&tr)
        .map(|row| {
            row.select(&td)
                .map(|c| c.text().collect::<String>().trim().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn one_digest_per_iso_week_over_smtp_even_after_a_restart_or_a_second_replica() {
    for backend in BACKENDS {
        let smtp = SmtpServer::start();
        let w = world(backend, &smtp, T1_T2);

        // Monday 2026-04-13 (2026-W16): nothing is late.
        let r = w.ok(&["digest", "--now", "2026-04-13T07:00"]);
        assert!(r.stdout.contains("2 enqueued"), "{}", r.stdout);
        let got = smtp.wait_for(2, Duration::from_secs(10));
        assert_eq!(got.len(), 2, "{backend:?}");
        let mut to: Vec<String> = got.iter().flat_map(|r| r.to.clone()).collect();
        to.sort();
        assert_eq!(to, vec!["iop-ansvarig@example.org", "iop@example.org"]);
        let m = parse(&got[0]);
        assert_eq!(m.subject, "[IOP] Veckoöversikt vecka 16: Inget är försenat");
        assert!(m.text.contains("Inget är försenat."), "{}", m.text);
        assert!(m.html.contains("lang=\"sv\""));
        assert!(!m.message_id.is_empty());

        // A restart later the same week: a new process sends nothing.
        let r = w.ok(&["digest", "--now", "2026-04-16T07:00"]);
        assert!(r.stdout.contains("was already sent"), "{}", r.stdout);
        assert_eq!(smtp.received().len(), 2, "{backend:?}: no second digest");

        // Next week, two replicas at once: each recipient gets it once.
        let a = w
            .cmd(&["digest", "--now", "2026-04-20T07:00"])
            .spawn()
            .unwrap();
        let b = w
            .cmd(&["digest", "--now", "2026-04-20T07:00"])
            .spawn()
            .unwrap();
        for mut child in [a, b] {
            assert!(child.wait().unwrap().success(), "{backend:?}");
        }
        let got = smtp.wait_for(4, Duration::from_secs(10));
        w.ok(&["digest", "--now", "2026-04-20T09:00"]);
        assert_eq!(smtp.received().len(), 4, "{backend:?}");
        let week17: Vec<Mail> = digests(&smtp)
            .into_iter()
            .filter(|m| m.subject.contains("vecka 17"))
            .collect();
        assert_eq!(week17.len(), 2, "{backend:?}");
        let mut ids: Vec<String> = got.iter().map(|r| parse(r).message_id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 4, "{backend:?}: a Message-ID twice");

        // A manual copy to someone else goes out, and only to them.
        w.ok(&[
            "digest",
            "--now",
            "2026-04-20T10:00",
            "--to",
            "revisor@example.org",
        ]);
        let got = smtp.wait_for(5, Duration::from_secs(10));
        assert_eq!(got.len(), 5);
        assert_eq!(got[4].to, vec!["revisor@example.org"]);

        let r = w.refused(&["digest", "--to", "inte en adress"]);
        assert!(r.stderr.contains("--to"), "{}", r.stderr);
    }
}

#[test]
fn dry_run_prints_the_digest_and_records_nothing() {
    let smtp = SmtpServer::start();
    let w = world(Backend::Sqlite, &smtp, T1_T2);
    let r = w.ok(&["digest", "--now", "2026-04-13T07:00", "--dry-run"]);
    assert!(
        r.stdout
            .contains("Subject: [IOP] Veckoöversikt vecka 16: Inget är försenat"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("nothing was sent or recorded"));
    let out = json(&w.ok(&["outbox", "--format", "json"]).stdout);
    assert_eq!(out.as_array().unwrap().len(), 0);
    assert!(smtp.received().is_empty());
}

#[test]
fn the_html_lists_overdue_items_worst_first_with_who_was_reminded_when() {
    for backend in BACKENDS {
        let smtp = SmtpServer::start();
        let w = world(backend, &smtp, T1_T2);
        // Friday 2026-06-05: T1's overdue stage (+7) to the officer and the deputy.
        w.ok(&["tick", "--now", "2026-06-05T08:05"]);
        let r = w.ok(&["digest", "--now", "2026-06-08T07:00"]);
        assert!(r.stdout.contains("2 enqueued"), "{}", r.stdout);
        let d = digests(&smtp);
        assert_eq!(d.len(), 2, "{backend:?}");
        let m = &d[0];
        assert_eq!(
            m.subject,
            "[IOP] Veckoöversikt vecka 24: 2 försenade kontrollpunkter"
        );
        // Worst first: T2 (39 days) in Hälso- och sjukvårdsnämnden, then T1
        // (10 days). One line says how each was reminded: T1's overdue
        // stage reached the officer and the deputy, once.
        let t2 = vec![
            "Avstämningsmöte · T2 Vårdföreningen".to_string(),
            "Försenad 39 dagar, skulle vara klar 2026-04-30".to_string(),
            "Maja Vård · påmind 1 gång, senast 2026-06-05".to_string(),
        ];
        let t1 = vec![
            "Avstämningsmöte · T1 Testföreningen".to_string(),
            "Försenad 10 dagar, skulle vara klar 2026-05-29".to_string(),
            "Olle Officer · påmind 1 gång, senast 2026-06-05".to_string(),
        ];
        assert_eq!(
            items(&m.html, "forsenat"),
            vec![t2.clone(), t1.clone()],
            "{backend:?}"
        );
        let doc = Html::parse_document(&m.html);
        let committees: Vec<String> = doc
            .select(&Selector::parse("#forsenat h3").unwrap())
            .map(|h| h.text().collect())
            .collect();
        assert_eq!(
            committees,
            vec![
                "Hälso- och sjukvårdsnämnden",
                "Kultur- och bildningsnämnden"
            ]
        );
        // The first screen: the counts, then the worst (here both).
        let counts: Vec<String> = doc
            .select(&Selector::parse("#antal .count").unwrap())
            .map(|c| c.text().collect())
            .collect();
        assert_eq!(
            counts,
            vec![
                "2 försenade, varav 0 eskalerade",
                "0 förfaller inom fyra veckor",
                "0 tysta nämnder",
                "0 problem"
            ]
        );
        assert_eq!(items(&m.html, "varst"), vec![t2, t1]);
        // No address list; the text twin says the same.
        assert!(!m.html.contains("dora@example.org"), "{}", m.html);
        assert!(
            m.text.replace("\r\n", "\n").contains(
                "    Försenad 10 dagar, skulle vara klar 2026-05-29\n    Olle Officer <olle@example.org> · påmind 1 gång, senast 2026-06-05\n"
            ),
            "{}",
            m.text
        );
        assert!(!m.text.contains("W24") && !m.html.contains("W24"));
        // T2 has no deputy: not a data problem unless the officer is absent.
        assert!(m.html.contains("Inga problem hittades."));
        // Health: a tick is logged (at the real time it ran); its mails went
        // out on Friday, in the previous ISO week, so none this week.
        let health = Html::parse_document(&m.html);
        let p = Selector::parse("p#halsa").unwrap();
        let text: String = health.select(&p).flat_map(|e| e.text()).collect();
        assert!(!text.contains("ingen registrerad"), "{text}");
        assert!(text.contains("Mejl skickade den här veckan: 0."), "{text}");
        assert!(text.contains("Väntar på att skickas: 0."), "{text}");
    }
}

#[test]
fn the_secretary_gets_the_agenda_six_weeks_before_the_meeting_once() {
    // S1 starts 2023-01-10: its second committee follow-up (anniversary
    // 2027-01-10) goes to the last kbn meeting before it, 2026-12-17, with
    // the memo due 21 days earlier, Thursday 2026-11-26. Six weeks before the
    // meeting is Thursday 2026-11-05.
    for backend in BACKENDS {
        let smtp = SmtpServer::start();
        let w = world(
            backend,
            &smtp,
            "id;organisation;committee;officer_name;officer_email;start_date\n\
             S1;Suicide Zero test;kbn;Sara Nilsson;sara@example.org;2023-01-10\n",
        );
        let subject = "[IOP] IOP-ärenden till Kultur- och bildningsnämnden 2026-12-17";
        let heads_up = |smtp: &SmtpServer| -> Vec<Mail> {
            smtp.received()
                .iter()
                .map(parse)
                .filter(|m| m.subject == subject)
                .collect()
        };
        w.ok(&["tick", "--now", "2026-11-04T08:05"]);
        // A tick delivers before it exits, so what it sent has arrived.
        assert!(heads_up(&smtp).is_empty(), "{backend:?}: too early");
        w.ok(&["tick", "--now", "2026-11-05T08:05"]);
        let got = heads_up(&smtp);
        assert_eq!(got.len(), 1, "{backend:?}");
        assert_eq!(got[0].to, vec!["kbn-sekreterare@example.org"]);
        let agenda = items(&got[0].html, "arenden");
        assert_eq!(
            agenda,
            vec![vec![
                "Fördjupad uppföljning till nämnden · S1 Suicide Zero test".to_string(),
                "Underlag senast 2026-11-26, om 21 dagar".to_string(),
                "Sara Nilsson".to_string(),
            ]]
        );
        assert!(
            got[0]
                .text
                .contains("Underlag senast 2026-11-26, om 21 dagar"),
            "{}",
            got[0].text
        );
        assert!(
            got[0]
                .text
                .contains("Om 42 dagar, 2026-12-17, sammanträder"),
            "{}",
            got[0].text
        );
        // Meetings with nothing expected (hsn has no partnership) get no mail.
        assert!(
            smtp.received()
                .iter()
                .all(|r| r.to != vec!["hsn-sekreterare@example.org"]),
            "{backend:?}"
        );
        // Once per meeting and secretary.
        w.ok(&["tick", "--now", "2026-11-06T08:05"]);
        w.ok(&["tick", "--now", "2026-11-09T08:05"]);
        assert_eq!(heads_up(&smtp).len(), 1, "{backend:?}");
    }
}

/// P1 (kbn) and P2 (hsn) both start in 2022; the register is imported on
/// 2026-01-02 without its history, so that is when tracking starts. P1's
/// check-in window y3-w2 (2025-07-10..2026-01-09) is due Friday 2026-01-09;
/// its overdue stage goes out Friday 2026-01-16. A check-in on 2026-03-02
/// recorded for it (RULES 15) closes it 52 days late; one on 2026-05-05
/// closes its own window y4-w1 (due 2026-07-09) on time (RULES 16).
/// The annual report for agreement year 3 (2025-01-10..2026-01-09, due that day) is registered 2026-02-10:
/// 32 days late. P1's follow-up is decided at kbn's 2026-02-19 meeting
/// (§ 12); hsn has no decision at all: silent.
fn report_world(backend: Backend) -> World {
    let w = World::new(backend);
    let csv = w.write(
        "r.csv",
        "id;organisation;committee;officer_name;officer_email;deputy_email;start_date\n\
         P1;Kulturföreningen;kbn;Olle Officer;olle@example.org;dora@example.org;2022-01-10\n\
         P2;Vårdföreningen;hsn;Maja Vård;maja@example.org;;2022-03-01\n",
    );
    w.ok(&["import", path_str(&csv), "--now", "2026-01-02"]);
    w.ok(&["tick", "--now", "2026-01-16T08:05"]);
    for args in [
        vec![
            "record",
            "annual-report-received",
            "-p",
            "P1",
            "--on",
            "2026-02-10",
            "--diarienummer",
            "KUB/2026:12",
        ],
        vec![
            "record",
            "committee-followup-reported",
            "-p",
            "P1",
            "--meeting",
            "2026-02-19",
            "--paragraph",
            "§ 12",
            "--decision",
            "approved",
            "--on",
            "2026-02-19",
        ],
        vec![
            "record",
            "checkin-held",
            "-p",
            "P1",
            "--on",
            "2026-03-02",
            "--for",
            "P1/checkin/y3-w2",
        ],
        vec!["record", "checkin-held", "-p", "P1", "--on", "2026-05-05"],
    ] {
        let mut a = args.clone();
        a.extend(["--now", "2026-06-01"]);
        w.ok(&a);
    }
    w
}

#[test]
fn the_report_in_each_format() {
    for backend in BACKENDS {
        let w = report_world(backend);
        let period = [
            "--now",
            "2026-12-31T12:00",
            "--from",
            "2026-01-01",
            "--to",
            "2026-12-31",
        ];
        let run = |format: &str| {
            let mut a = vec!["report"];
            a.extend(period);
            a.extend(["--format", format]);
            w.ok(&a).stdout
        };

        let j = json(&run("json"));
        let cps = j["checkpoints"].as_array().unwrap();
        let row = |key: &str| {
            cps.iter()
                .find(|r| r["key"] == key)
                .unwrap_or_else(|| panic!("{key} missing: {j:#}"))
                .clone()
        };
        let y3w2 = row("P1/checkin/y3-w2");
        assert_eq!(y3w2["due"], "2026-01-09");
        assert_eq!(y3w2["status"], "done");
        assert_eq!(y3w2["evidence_on"], "2026-03-02");
        assert_eq!(y3w2["days_late"], 52);
        let sent: Vec<String> = y3w2["reminders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{} {}",
                    r["sent_on"].as_str().unwrap(),
                    r["recipient"].as_str().unwrap()
                )
            })
            .collect();
        assert!(
            sent.contains(&"2026-01-16 olle@example.org".to_string()),
            "{sent:?}"
        );
        assert!(
            sent.contains(&"2026-01-16 dora@example.org".to_string()),
            "{sent:?}"
        );
        assert_eq!(row("P1/checkin/y4-w1")["days_late"], 0);
        let ar = row("P1/annual_report/y3");
        assert_eq!(ar["diarienummer"], "KUB/2026:12");
        assert_eq!(ar["days_late"], 32);
        // The decision with its paragraph.
        let decisions = j["decisions"].as_array().unwrap();
        assert_eq!(decisions.len(), 1, "{j:#}");
        assert_eq!(decisions[0]["meeting"], "2026-02-19");
        assert_eq!(decisions[0]["paragraph"], "§ 12");
        assert_eq!(decisions[0]["committee"], "Kultur- och bildningsnämnden");
        // RULES 18: hsn has no decision, but the register has been tracked
        // for 12 months only (since 2026-01-02), less than the 24 of silence:
        // no silence counted from 2022.
        assert_eq!(j["silent_partnerships"], serde_json::json!([]), "{j:#}");
        assert_eq!(j["silent_committees"], serde_json::json!([]), "{j:#}");
        // RULES 18: nothing due before tracking started is required; such
        // checkpoints are listed apart ("ej följt (före start)").
        for r in j["checkpoints"].as_array().unwrap() {
            assert!(r["due"].as_str().unwrap() >= "2026-01-02", "{r:#}");
            assert_ne!(r["status"], "before_tracking", "{r:#}");
        }
        let untracked = j["untracked"].as_array().unwrap();
        assert!(untracked.iter().all(|r| r["status"] == "before_tracking"));
        // P1's second follow-up had no meeting and was due in December 2025;
        // its minutes (due 2026-01-23) are untracked with it.
        let minutes = untracked
            .iter()
            .find(|r| r["key"] == "P1/committee_minutes/committee_followup-f2")
            .unwrap_or_else(|| panic!("untracked minutes missing: {j:#}"));
        assert_eq!(minutes["due"], "2026-01-23");
        assert_eq!(j["guidelines"][0]["checkins_per_year"], 2);
        assert_eq!(j["agreements"].as_array().unwrap().len(), 2);

        // CSV: one row per checkpoint, the same rows as the JSON.
        let csv = run("csv");
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(b';')
            .from_reader(csv.as_bytes());
        let header = reader.headers().unwrap().clone();
        assert_eq!(&header[0], "nämnd");
        assert_eq!(&header[8], "diarienummer");
        let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(records.len(), cps.len(), "{csv}");
        let ar = records
            .iter()
            .find(|r| &r[4] == "P1/annual_report/y3")
            .expect("annual report row");
        assert_eq!(&ar[5], "2026-01-09");
        assert_eq!(&ar[7], "2026-02-10");
        assert_eq!(&ar[8], "KUB/2026:12");
        assert_eq!(&ar[11], "32");

        // Markdown: the guideline, the decision and a checkpoint row.
        let md = run("md");
        assert!(md.contains("| vartannat år |"), "{md}");
        assert!(!md.contains(":e år"), "{md}");
        assert!(md.contains("| 2026-02-19 | Kultur- och bildningsnämnden | P1 Kulturföreningen | Uppföljning av IOP | § 12 |"), "{md}");
        assert!(md.contains("| Kultur- och bildningsnämnden | P1 Kulturföreningen | Avstämningsmöte | 2026-01-09 | klar | 2026-03-02 |"), "{md}");

        // HTML: the checkpoint table, sorted by committee, partnership and due date.
        let html = run("html");
        assert!(html.contains("<html lang=\"sv\">"));
        let table = rows(&html, "kontrollpunkter");
        assert_eq!(table.len(), cps.len());
        let order: Vec<(String, String)> =
            table.iter().map(|r| (r[0].clone(), r[3].clone())).collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted, "sorted by committee then due date");
        let first_kbn = table
            .iter()
            .find(|r| {
                r[1] == "P1 Kulturföreningen" && r[3] == "2026-01-09" && r[2] == "Avstämningsmöte"
            })
            .expect("the check-in row");
        assert_eq!(first_kbn[4], "klar");
        assert_eq!(first_kbn[8], "52");
        let rates = rows(&html, "andel");
        let kbn = rates
            .iter()
            .find(|r| r[0] == "Kultur- och bildningsnämnden")
            .unwrap();
        // P1's y4-w1 check-in is the only one of its rows done on time.
        assert_eq!(kbn[2], "1", "{rates:?}");
        // Issue 21: per committee and per year a stacked bar with its text
        // equivalent (required, on time, late, missed, waived, open).
        let doc = Html::parse_document(&html);
        let captions: Vec<String> = doc
            .select(&Selector::parse("#staplar figcaption").unwrap())
            .map(|c| c.text().collect::<String>())
            .collect();
        let kbn_bar = captions
            .iter()
            .find(|c| c.starts_with("Kultur- och bildningsnämnden:"))
            .unwrap_or_else(|| panic!("{captions:?}"));
        assert!(
            kbn_bar.contains(&format!("{} i tid", kbn[2])) && kbn_bar.contains("missade"),
            "{kbn_bar}"
        );
        assert!(
            captions.iter().any(|c| c.starts_with("2026:")),
            "{captions:?}"
        );
        assert_eq!(j["by_year"][0]["name"], "2026");
        let per = rows(&html, "per-partnerskap");
        assert!(
            per.iter()
                .any(|r| r[0] == "Kultur- och bildningsnämnden: P1 Kulturföreningen"),
            "{per:?}"
        );

        // --committee narrows everything to one committee.
        let mut a = vec!["report"];
        a.extend(period);
        a.extend(["--committee", "hsn", "--format", "json"]);
        let j = json(&w.ok(&a).stdout);
        assert!(
            j["checkpoints"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["committee"] == "Hälso- och sjukvårdsnämnden")
        );
        assert_eq!(j["agreements"].as_array().unwrap().len(), 1);
    }
}

#[test]
fn report_arguments_are_checked() {
    let w = World::new(Backend::Sqlite);
    let r = w.refused(&["report", "--now", "2026-06-01", "--from", "2026-13-01"]);
    assert!(r.stderr.contains("--from \"2026-13-01\""), "{}", r.stderr);
    let r = w.refused(&[
        "report",
        "--now",
        "2026-06-01",
        "--from",
        "2026-05-01",
        "--to",
        "2026-04-01",
    ]);
    assert!(
        r.stderr
            .contains("--from 2026-05-01 ligger efter --to 2026-04-01"),
        "{}",
        r.stderr
    );
    // Issue 21: an auditor asks for "2026" in June: the report covers up to
    // today and says so.
    let out = w.ok(&[
        "report",
        "--now",
        "2026-06-01",
        "--from",
        "2026-01-01",
        "--to",
        "2026-12-31",
        "--format",
        "json",
    ]);
    let j = json(&out.stdout);
    assert_eq!(
        (&j["to"], &j["asked_to"]),
        (&json!("2026-06-01"), &json!("2026-12-31"))
    );
    let md = w.ok(&[
        "report",
        "--now",
        "2026-06-01",
        "--from",
        "2026-01-01",
        "--to",
        "2026-12-31",
        "--format",
        "md",
    ]);
    assert!(
        md.stdout
            .contains("Perioden som efterfrågades slutar 2026-12-31. Rapporten täcker bara fram till i dag, 2026-06-01."),
        "{}",
        md.stdout
    );
    let r = w.refused(&[
        "report",
        "--now",
        "2026-06-01",
        "--from",
        "2026-07-01",
        "--to",
        "2026-12-31",
    ]);
    assert!(
        r.stderr
            .contains("--from 2026-07-01 ligger efter i dag (2026-06-01)"),
        "{}",
        r.stderr
    );
    let r = w.refused(&["report", "--now", "2026-06-01", "--committee", "kfn"]);
    assert!(
        r.stderr
            .contains("--committee kfn finns inte i konfigurationen (kända: hsn, kbn)"),
        "{}",
        r.stderr
    );
    let r = w.run(&["report", "--format", "pdf"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn with_digest_officers_the_monday_list_replaces_the_planning_mail() {
    let smtp = SmtpServer::start();
    let mut w = world(Backend::Sqlite, &smtp, T1_T2);
    w.env.push(("IOPD__DIGEST__OFFICERS".into(), "true".into()));
    // Thursday 2026-04-30 is T1's planera day: no mail to the officer.
    w.ok(&["tick", "--now", "2026-04-30T08:05"]);
    assert!(
        smtp.received()
            .iter()
            .all(|r| r.to != vec!["olle@example.org"]),
        "no planning mail"
    );
    // Monday 2026-05-04: the digest plus one list per officer with items.
    let r = w.ok(&["digest", "--now", "2026-05-04T07:00"]);
    assert!(r.stdout.contains("(2 officer lists)"), "{}", r.stdout);
    let lists: Vec<Mail> = smtp
        .received()
        .iter()
        .map(parse)
        .filter(|m| m.subject == "[IOP] Dina IOP-uppgifter vecka 19")
        .collect();
    assert_eq!(lists.len(), 2);
    let olle = lists
        .iter()
        .find(|m| m.to == vec!["olle@example.org"])
        .expect("Olle's list");
    // The same compact rows as the digest, without the officer's own name.
    assert_eq!(
        items(&olle.html, "uppgifter"),
        vec![vec![
            "Avstämningsmöte · T1 Testföreningen".to_string(),
            "Senast 2026-05-29, om 25 dagar".to_string(),
        ]]
    );
    // An officer has no shell: no command line, one thing to do.
    for m in &lists {
        assert!(!m.text.contains("iopd record") && !m.html.contains("iopd record"));
        assert!(
            m.text
                .contains("meddela IOP-ansvarig Karin Sjöberg <iop-ansvarig@example.org>"),
            "{}",
            m.text
        );
    }
    let maja = lists
        .iter()
        .find(|m| m.to == vec!["maja@example.org"])
        .expect("Maja's list");
    assert!(
        maja.text
            .contains("Försenad 4 dagar, skulle vara klar 2026-04-30"),
        "{}",
        maja.text
    );
    assert!(!maja.text.contains("dagar sen"), "{}", maja.text);
    // Once a week: a second run sends no list again.
    w.ok(&["digest", "--now", "2026-05-05T07:00"]);
    let again = smtp
        .received()
        .iter()
        .map(parse)
        .filter(|m| m.subject.starts_with("[IOP] Dina IOP-uppgifter"))
        .count();
    assert_eq!(again, 2);
}

/// The example register three weeks into its first reminders: the digest
/// and an officer's list as people get them, written to
/// `target/screenshots/` to be looked at in a browser at 375 and 900 px.
#[test]
fn three_weeks_of_the_example_register_in_the_digest_and_an_officers_list() {
    let smtp = SmtpServer::start();
    let mut w = World::new(Backend::Sqlite);
    w.use_smtp(smtp.port);
    w.import_example();
    w.env.push(("IOPD__DIGEST__OFFICERS".into(), "true".into()));
    // Every working day from Monday 2026-11-23 to Monday 2026-12-14.
    let mut day = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let last = chrono::NaiveDate::from_ymd_opt(2026, 12, 14).unwrap();
    while day <= last {
        w.ok(&["tick", "--now", &format!("{day}T08:05")]);
        day = day.succ_opt().unwrap();
    }
    w.ok(&["digest", "--now", "2026-12-14T08:30"]);
    let mails: Vec<Mail> = smtp.received().iter().map(parse).collect();
    let digest = mails
        .iter()
        .find(|m| m.key.starts_with("digest|2026-W51|iop-ansvarig"))
        .expect("the digest");
    let list = mails
        .iter()
        .filter(|m| m.key.starts_with("digest|2026-W51|officer|"))
        .max_by_key(|m| m.text.len())
        .expect("an officer's list");
    let dir = support::repo().join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("digest-mail.html"), &digest.html).unwrap();
    std::fs::write(dir.join("officer-mail.html"), &list.html).unwrap();
    std::fs::write(dir.join("digest-mail.txt"), &digest.text).unwrap();
    std::fs::write(dir.join("officer-mail.txt"), &list.text).unwrap();

    assert!(
        digest.subject.starts_with("[IOP] Veckoöversikt vecka 51: "),
        "{}",
        digest.subject
    );
    assert_eq!(list.subject, "[IOP] Dina IOP-uppgifter vecka 51");
    for m in [digest, list] {
        for part in [&m.text, &m.html] {
            assert!(!part.contains("W51"), "{part}");
            assert!(!part.contains("dagar sen"), "{part}");
            assert!(
                !part.contains(" 1 dagar") && !part.contains(" 1 gånger"),
                "{part}"
            );
        }
    }
    // Each overdue row says in one line how it was reminded.
    let late = items(&digest.html, "forsenat");
    assert!(!late.is_empty());
    for row in &late {
        assert_eq!(row.len(), 3, "{row:?}");
        assert!(row[1].starts_with("Försenad "), "{row:?}");
        assert!(
            row[2].contains(" · påmind ") || row[2].contains(" · ingen påminnelse skickad"),
            "{row:?}"
        );
        assert!(!row[2].contains('@'), "no address list: {row:?}");
    }
    assert!(
        late.iter()
            .any(|r| r[2].contains(" · eskalerad 2026-11-23")),
        "{late:?}"
    );
    // The first screen holds at most three rows.
    let worst = items(&digest.html, "varst");
    assert_eq!(worst.len(), 3);
    assert_eq!(worst[..], late[..3]);
}
