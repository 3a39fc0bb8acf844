//! A year in Örebro kommun under its own guideline (issue 19): the Örebro
//! example configuration and register, the real `iopd` binary day by day
//! through 2027 against a real SMTP server, on both databases. Every mail is
//! compared with `tests/fixtures/orebro-2027.txt`, worked out by hand; and
//! no mail quotes Region Värmland's guideline.

mod support;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use iopd::guideline::{Voice, own_phrases};
use support::smtp::SmtpServer;
use support::year::{
    assert_same, d, expected_digests, expected_reminders, rows, run_year, statuses, working_day,
};
use support::{Backend, World, path_str, repo};

fn address(short: &str) -> &'static str {
    match short {
        "lena" => "lena.holm@example.org",
        "omar" => "omar.said@example.org",
        "iop" => "iop-ansvarig@example.org",
        "adv" => "iop@orebro.se",
        other => panic!("unknown recipient {other:?} in the fixture"),
    }
}

/// What happens on which day (recorded at 14:00, after the morning tick).
fn script() -> BTreeMap<NaiveDate, Vec<Vec<&'static str>>> {
    let doc = |p: &'static str, dnr: &'static str, document: &'static str| {
        vec![
            "annual-report-received",
            "-p",
            p,
            "--diarienummer",
            dnr,
            "--document",
            document,
        ]
    };
    let events: Vec<(&str, Vec<&str>)> = vec![
        ("2027-03-10", vec!["checkin-held", "-p", "SN/2024:118"]),
        (
            "2027-03-15",
            doc("SN/2024:118", "SN/2027:40", "arsmotesprotokoll"),
        ),
        (
            "2027-03-15",
            doc("SN/2024:118", "SN/2027:41", "verksamhetsberattelse"),
        ),
        (
            "2027-03-15",
            doc("SN/2024:118", "SN/2027:42", "ekonomisk_berattelse"),
        ),
        (
            "2027-04-12",
            doc("SN/2024:118", "SN/2027:57", "revisionsberattelse"),
        ),
        (
            "2027-04-12",
            doc("SN/2024:118", "SN/2027:58", "verksamhetsplan"),
        ),
        (
            "2027-04-12",
            doc("SN/2024:118", "SN/2027:59", "medlemsantal"),
        ),
        ("2027-06-15", vec!["checkin-held", "-p", "KS/2026:077"]),
        (
            "2027-08-20",
            vec![
                "annual-report-received",
                "-p",
                "KFN/2025:031",
                "--diarienummer",
                "KFN/2027:112",
            ],
        ),
        (
            "2027-09-06",
            doc("KS/2026:077", "KS/2027:301", "arsmotesprotokoll"),
        ),
        (
            "2027-09-06",
            doc("KS/2026:077", "KS/2027:302", "verksamhetsberattelse"),
        ),
        (
            "2027-09-27",
            vec!["expiry-evaluation-held", "-p", "SN/2024:118"],
        ),
        ("2027-10-06", vec!["checkin-held", "-p", "KFN/2025:031"]),
        (
            "2027-11-08",
            doc("KS/2026:077", "KS/2027:377", "ekonomisk_berattelse"),
        ),
        (
            "2027-11-08",
            doc("KS/2026:077", "KS/2027:378", "revisionsberattelse"),
        ),
        (
            "2027-11-08",
            doc("KS/2026:077", "KS/2027:379", "verksamhetsplan"),
        ),
        (
            "2027-11-08",
            doc("KS/2026:077", "KS/2027:380", "medlemsantal"),
        ),
    ];
    let mut by_day: BTreeMap<NaiveDate, Vec<Vec<&'static str>>> = BTreeMap::new();
    for (day, args) in events {
        by_day.entry(d(day)).or_default().push(args);
    }
    by_day
}

fn play(backend: Backend) {
    let smtp = SmtpServer::start();
    let toml = std::fs::read_to_string(repo().join("config/orebro.example.toml"))
        .expect("read the Örebro example");
    let mut w = World::with_config(backend, &toml);
    w.use_smtp(smtp.port);
    w.env
        .push(("IOPD__POLICY__TRACKING_START".into(), "2027-01-01".into()));
    w.ok(&["check-config"]);
    let csv = repo().join("config/orebro-partnerships.csv");
    w.ok(&["import", path_str(&csv), "--now", "2026-12-15"]);
    let mails = run_year(&w, &smtp, &script(), &[]);

    let mut want = expected_reminders("orebro-2027.txt", address);
    want.extend(expected_digests(&[], address));
    assert_same(&format!("Örebro on {backend:?}"), rows(&mails), want);

    for (day, m) in &mails {
        assert!(working_day(*day), "{} arrived on {day}", m.key);
        let all = format!("{}\n{}\n{}", m.subject, m.text, m.html).to_lowercase();
        for phrase in own_phrases(Voice::RegionVarmland) {
            assert!(
                !all.contains(&phrase.to_lowercase()),
                "{} ({day}) quotes Region Värmland's guideline: {phrase:?}\n{}",
                m.key,
                m.text
            );
        }
    }
    // The mails say Örebro's words: the styrgrupp, the documents still missing.
    let text_of = |day: &str, to: &str, item: &str| {
        mails
            .iter()
            .find(|(dd, m)| {
                *dd == d(day)
                    && m.to == vec![address(to).to_string()]
                    && m.key.starts_with("day|")
                    && m.items.iter().any(|k| k.contains(item))
            })
            .map(|(_, m)| m.text.clone())
            .unwrap_or_else(|| panic!("no mail of the day {day} to {to} with {item}"))
    };
    let planning = text_of("2027-03-03", "lena", "SN/2024:118/checkin/y2-w1");
    assert!(
        planning.contains("Planera: Uppföljning i styrgruppen med Stadsmissionen Örebro"),
        "{planning}"
    );
    assert!(
        planning.contains("följas upp minst en gång per år"),
        "{planning}"
    );
    let reminder = text_of("2027-03-24", "lena", "SN/2024:118/annual_report/y2");
    assert!(
        reminder.contains(
            "Saknas: Revisionsberättelse, verksamhetsplan och styrelseförteckning, uppgift om medlemsantal"
        ),
        "{reminder}"
    );
    assert!(
        reminder.contains("Registrerade: Årsmötesprotokoll (SN/2027:40)"),
        "{reminder}"
    );
    let escalation = text_of("2027-10-21", "adv", "KS/2026:077/annual_report/y0");
    assert!(escalation.contains("Kopia"), "{escalation}");
    // The digest shows what is missing per partnership.
    let digest = mails
        .iter()
        .find(|(day, m)| *day == d("2027-10-04") && m.key.starts_with("digest|"))
        .map(|(_, m)| m.text.clone())
        .expect("the digest of 2027-10-04");
    assert!(
        digest.contains("Saknas: Ekonomisk berättelse med bokslut, revisionsberättelse"),
        "{digest}"
    );
    // No committee follow-up is required, so no committee can be silent.
    assert!(!digest.contains("TYSTNAD"), "{digest}");

    let st = statuses(&w);
    for key in [
        "SN/2024:118/annual_report/y2",
        "KFN/2025:031/annual_report/y1",
        "KS/2026:077/annual_report/y0",
        "KS/2026:077/checkin/y0-w1",
        "SN/2024:118/expiry_evaluation",
    ] {
        assert!(st["done"].contains(key), "{key} is not done: {st:?}");
    }
}

#[test]
fn an_orebro_year_on_sqlite() {
    play(Backend::Sqlite);
}

#[test]
fn an_orebro_year_on_postgres() {
    play(Backend::Postgres);
}
