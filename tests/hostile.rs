//! Hostile text stays text: what a spreadsheet or a register row holds is
//! shown as itself in reports and mails, never run or decoded into something
//! else, and ids that print the same are the same id.

mod support;

use std::time::Duration;

use support::mail::parse;
use support::smtp::SmtpServer;
use support::{BACKENDS, Backend, World, path_str};

const HEAD: &str = "id;organisation;committee;officer_name;officer_email;start_date\n";

/// Formula cells in `report --format csv`, read by Python's csv module (an
/// independent reader): every cell that would start a formula starts with `'`.
#[test]
fn formulas_in_the_register_are_not_formulas_in_the_csv_report() {
    let w = World::new(Backend::Sqlite);
    let csv = w.write(
        "r.csv",
        format!(
            "{HEAD}T1;\"=HYPERLINK(\"\"http://evil.example\"\",\"\"klicka\"\")\";kbn;@Olle;olle@example.org;2025-12-01\n\
             T2;+46 förening;kbn;-Per;per@example.org;2025-12-01\n"
        ),
    );
    w.ok(&["import", path_str(&csv), "--now", "2026-04-01"]);
    let out = w.ok(&[
        "report",
        "--now",
        "2026-12-31T12:00",
        "--from",
        "2026-01-01",
        "--to",
        "2026-12-31",
        "--format",
        "csv",
    ]);
    let file = w.write("report.csv", &out.stdout);
    let out = support::python(
        "import csv,sys\n\
         for row in csv.reader(open(sys.argv[1], newline='', encoding='utf-8'), delimiter=';'):\n\
         \x20   print('\\x1f'.join(row))",
        &[path_str(&file)],
    );
    let rows: Vec<Vec<String>> = out
        .lines()
        .map(|l| l.split('\x1f').map(String::from).collect())
        .collect();
    assert!(rows.len() > 2, "{rows:?}");
    let cells: Vec<&String> = rows[1..].iter().flatten().collect();
    assert!(
        cells
            .iter()
            .any(|c| c.as_str() == "'=HYPERLINK(\"http://evil.example\",\"klicka\")"),
        "{rows:?}"
    );
    assert!(
        cells.iter().any(|c| c.as_str() == "'+46 förening"),
        "{rows:?}"
    );
    for c in cells {
        assert!(
            !c.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "a cell a spreadsheet would run: {c:?}"
        );
    }
}

/// Two ids that differ only by an invisible character are one id: the file
/// is refused as holding a duplicate, on both databases.
#[test]
fn ids_that_print_the_same_are_the_same() {
    for backend in BACKENDS {
        let w = World::new(backend);
        let csv = w.write(
            "r.csv",
            format!(
                "{HEAD}SN 2021/0312;Förening;kbn;Olle;olle@example.org;2025-12-01\n\
                 SN\u{200B} 2021/0312;Förening;kbn;Olle;olle@example.org;2025-12-01\n"
            ),
        );
        let r = w.refused(&["import", path_str(&csv), "--now", "2026-04-01"]);
        assert!(
            r.stderr
                .contains(": rad 3: id: id \"SN 2021/0312\" står redan på rad 2; ett id får bara finnas på en rad"),
            "{backend:?}: {}",
            r.stderr
        );
        // A bidi override in a name is dropped, not stored.
        let csv = w.write(
            "r2.csv",
            format!(
                "{HEAD}SN 2021/0312;Före\u{202E}ning\u{FEFF};kbn;Olle;olle@example.org;2025-12-01\n"
            ),
        );
        w.ok(&["import", path_str(&csv), "--now", "2026-04-01"]);
        let shown = w.ok(&["show", "SN\u{200B} 2021/0312", "--format", "json"]);
        assert!(
            shown.stdout.contains("\"Förening\""),
            "{backend:?}: {}",
            shown.stdout
        );
    }
}

/// An organisation named like a MIME encoded word is shown as itself in the
/// Subject by an independent MIME parser (mail-parser), not decoded into a
/// header.
#[test]
fn an_encoded_word_in_a_name_is_shown_literally() {
    const ORG: &str = "=?utf-8?q?Bcc=3A_x=40evil=2Eexample?=";
    let smtp = SmtpServer::start();
    let csv = format!("{HEAD}T1;{ORG};kbn;=?utf-8?q?Eve?=;olle@example.org;2025-12-01\n");
    let w = World::with_register(Backend::Sqlite, smtp.port, &csv);
    w.ok(&["tick", "--now", "2026-04-30T08:05"]);
    // The mail of the day and the invite: both hold the name.
    let got = smtp.wait_for(2, Duration::from_secs(10));
    assert_eq!(got.len(), 2);
    for r in &got {
        let m = parse(r);
        assert!(m.subject.contains(ORG), "{:?}", m.subject);
        let head = m
            .raw
            .split("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .to_string();
        assert!(
            !head.contains(ORG),
            "the Subject is encoded, not raw:\n{head}"
        );
        let parsed = mail_parser::MessageParser::default()
            .parse(&r.data)
            .unwrap();
        assert!(parsed.header("Bcc").is_none());
        let to = parsed.to().and_then(|a| a.first()).expect("a To");
        assert_ne!(
            to.name(),
            Some("Eve"),
            "the name is not decoded into another"
        );
        assert_eq!(to.address(), Some("olle@example.org"));
    }
}
