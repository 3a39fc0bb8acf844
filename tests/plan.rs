//! `iopd plan` over the example register, on SQLite and PostgreSQL. Expected
//! dates are worked out by hand from the rules (see each comment).

mod support;

use support::{BACKENDS, World, json};

fn find<'a>(rows: &'a [serde_json::Value], key: &str) -> &'a serde_json::Value {
    rows.iter()
        .find(|r| r["key"] == key)
        .unwrap_or_else(|| panic!("no checkpoint {key} in {rows:#?}"))
}

#[test]
fn plan_json_on_both_backends() {
    for backend in BACKENDS {
        let w = World::new(backend);
        w.import_example();
        let out = json(
            &w.ok(&[
                "plan",
                "--now",
                "2026-11-23T09:00",
                "--days",
                "60",
                "--format",
                "json",
            ])
            .stdout,
        );
        let rows = out.as_array().unwrap();

        // Frykcenter started 2023-01-01: follow-up every 2nd year → anniversary
        // 2027-01-01; hsn's last meeting before it is 2026-12-08; memos 26 days
        // earlier → 2026-11-12, a Thursday. Overdue on 2026-11-23.
        let f = find(rows, "HSN/2023:045/committee_followup/f2");
        assert_eq!(f["due"], "2026-11-12");
        assert_eq!(f["meeting"], "2026-12-08");
        assert_eq!(f["status"], "overdue");
        assert_eq!(f["organisation"], "Frykcenter");
        assert_eq!(f["committee"], "hsn");

        // Suicide Zero started 2023-01-10 → 2027-01-10; kbn meets 2026-12-17;
        // 21 days earlier → 2026-11-26 (Thursday), upcoming.
        let s = find(rows, "KUB/2023:012/committee_followup/f2");
        assert_eq!(
            (s["due"].as_str(), s["status"].as_str()),
            (Some("2026-11-26"), Some("upcoming"))
        );

        // Funktionsrätt started 2024-02-29 with four check-ins a year: window 3
        // of year 2 runs 2026-08-29..2026-11-28; the 28th is a Saturday, so
        // the due date moves back to Friday 2026-11-27.
        let c = find(rows, "KUB/2024:029/checkin/y2-w3");
        assert_eq!(c["period_start"], "2026-08-29");
        assert_eq!(c["period_end"], "2026-11-28");
        assert_eq!(c["due"], "2026-11-27");
        assert_eq!(c["officer"], "anna.lindqvist@example.org");

        // Nothing due before tracking_start (2026-01-01) is listed by default.
        assert!(
            rows.iter()
                .all(|r| r["due"].as_str().unwrap() >= "2026-01-01"),
            "{backend:?}"
        );
        assert!(rows.iter().all(|r| r["status"] != "before_tracking"));

        // RULES 16: a check-in counts for the window it falls in: 2026-11-25
        // closes y2-w3 on time, and the three earlier windows that waited
        // (y1-w4 2025-11-29..2026-02-27, y2-w1, y2-w2) are missed (RULES 17).
        let at = ["--now", "2026-11-25T10:00"];
        let record = |extra: &[&'static str]| -> Vec<&'static str> {
            let mut a = vec![
                "record",
                "checkin-held",
                "-p",
                "KUB/2024:029",
                "--on",
                "2026-11-25",
            ];
            a.extend(extra);
            a.extend(at);
            a
        };
        w.ok(&record(&[]));
        let listed = |status: &str| {
            let out = json(
                &w.ok(&[
                    "plan",
                    at[0],
                    at[1],
                    "--partnership",
                    "KUB/2024:029",
                    "--status",
                    status,
                    "--days",
                    "120",
                    "--format",
                    "json",
                ])
                .stdout,
            );
            out.as_array().unwrap().clone()
        };
        let keys = |rows: &[serde_json::Value]| -> Vec<String> {
            rows.iter()
                .map(|r| r["key"].as_str().unwrap().to_string())
                .collect()
        };
        let done = listed("done");
        assert_eq!(keys(&done), ["KUB/2024:029/checkin/y2-w3"]);
        assert_eq!(done[0]["evidence"]["days_late"], 0);
        assert_eq!(
            keys(&listed("missed")),
            [
                "KUB/2024:029/checkin/y1-w4",
                "KUB/2024:029/checkin/y2-w1",
                "KUB/2024:029/checkin/y2-w2"
            ]
        );
        // RULES 15: named for a missed window, a check-in closes it late
        // (2026-11-25 − 2026-02-27 = 271 days) …
        w.ok(&record(&["--for", "KUB/2024:029/checkin/y1-w4"]));
        let done = listed("done");
        let late = done
            .iter()
            .find(|r| r["key"] == "KUB/2024:029/checkin/y1-w4")
            .unwrap_or_else(|| panic!("{done:#?}"));
        assert_eq!(late["evidence"]["days_late"], 271);
        // … and one named for a closed window is refused, naming it and why.
        let r = w.refused(&record(&["--for", "KUB/2024:029/checkin/y2-w3"]));
        assert!(
            r.stderr.contains("KUB/2024:029/checkin/y2-w3")
                && r.stderr.contains("är inte öppen: den är redan klar")
                && r.stderr.contains("Ingenting har registrerats"),
            "{}",
            r.stderr
        );
        // … one dated before its window starts (y3-w1: 2027-02-28), and a
        // key that names no checkpoint.
        let r = w.refused(&record(&["--for", "KUB/2024:029/checkin/y3-w1"]));
        assert!(
            r.stderr
                .contains("datumet passar inte, perioden börjar 2027-02-28"),
            "{}",
            r.stderr
        );
        let r = w.refused(&record(&["--for", "KUB/2024:029/checkin/y30-w1"]));
        assert!(
            r.stderr
                .contains("Kontrollpunkten KUB/2024:029/checkin/y30-w1 finns inte"),
            "{}",
            r.stderr
        );
        // RULES 17: IOP-ansvarig closes a checkpoint as waived, with a
        // reason, even before its window starts; a missed window takes no
        // waiver (nothing is expected of it any more).
        let waive = |key: &'static str| -> Vec<&'static str> {
            let mut a = vec![
                "record",
                "checkpoint-waived",
                "-p",
                "KUB/2024:029",
                "--for",
                key,
                "--reason",
                "Ersatt av uppföljningen i nämnden",
            ];
            a.extend(at);
            a
        };
        let r = w.refused(&waive("KUB/2024:029/checkin/y2-w1"));
        assert!(r.stderr.contains("missad"), "{}", r.stderr);
        w.ok(&waive("KUB/2024:029/checkin/y2-w4"));
        assert_eq!(keys(&listed("waived")), ["KUB/2024:029/checkin/y2-w4"]);
        // Nothing about the partnership's check-ins is overdue any more.
        let still = listed("overdue");
        assert!(still.iter().all(|r| r["kind"] != "checkin"), "{still:#?}");

        // Filters.
        let hsn = json(
            &w.ok(&[
                "plan",
                "--now",
                "2026-11-23",
                "--committee",
                "hsn",
                "--format",
                "json",
            ])
            .stdout,
        );
        assert!(
            hsn.as_array()
                .unwrap()
                .iter()
                .all(|r| r["committee"] == "hsn")
        );
        let r = w.refused(&["plan", "--committee", "xyz"]);
        assert!(
            r.stderr
                .contains("--committee xyz finns inte i konfigurationen (kända: hsn, kbn)"),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn plan_ics_parses_with_an_independent_parser() {
    let w = World::new(support::Backend::Sqlite);
    w.import_example();
    let out = w
        .ok(&[
            "plan",
            "--now",
            "2026-11-23",
            "--partnership",
            "HSN/2023:045",
            "--days",
            "40",
            "--format",
            "ics",
        ])
        .stdout;
    let mut reader = ical::IcalParser::new(out.as_bytes());
    let cal = reader
        .next()
        .expect("one calendar")
        .expect("valid iCalendar");
    let method = cal
        .properties
        .iter()
        .find(|p| p.name == "METHOD")
        .and_then(|p| p.value.clone());
    assert_eq!(method.as_deref(), Some("PUBLISH"));
    let uids: Vec<String> = cal
        .events
        .iter()
        .filter_map(|e| {
            e.properties
                .iter()
                .find(|p| p.name == "UID")
                .and_then(|p| p.value.clone())
        })
        .collect();
    assert!(
        uids.contains(&"HSN/2023:045/committee_followup/f2@iopd".to_string()),
        "{uids:?}"
    );
    let f = cal
        .events
        .iter()
        .find(|e| {
            e.properties
                .iter()
                .any(|p| p.value.as_deref() == Some("HSN/2023:045/committee_followup/f2@iopd"))
        })
        .unwrap();
    let start = f.properties.iter().find(|p| p.name == "DTSTART").unwrap();
    assert_eq!(start.value.as_deref(), Some("20261112"));
    // The status in the description in the reader's words (due 2026-11-12,
    // no evidence, looked at on 2026-11-23), not the JSON's machine word.
    let description = f
        .properties
        .iter()
        .find(|p| p.name == "DESCRIPTION")
        .and_then(|p| p.value.clone())
        .unwrap_or_default();
    assert!(description.contains("Status: försenad"), "{description}");
    assert!(out.lines().all(|l| l.len() <= 75), "folded at 75 octets");
}

#[test]
fn plan_table_and_bad_arguments() {
    let w = World::new(support::Backend::Sqlite);
    w.import_example();
    let t = w
        .ok(&["plan", "--now", "2026-11-23", "--days", "10"])
        .stdout;
    assert!(t.starts_with("FÖRFALLER"), "{t}");
    // Swedish words under the Swedish headings, the committee by its name.
    let row = t
        .lines()
        .find(|l| l.starts_with("2026-11-26"))
        .unwrap_or_else(|| panic!("{t}"));
    assert!(
        row.contains("kommande") && row.contains("Fördjupad uppföljning till nämnden"),
        "{row}"
    );
    assert!(
        row.contains("Kultur- och bildningsnämnden") || row.contains("Hälso- och sjukvårdsnämnden"),
        "{row}"
    );
    assert!(t.contains("kontrollpunkter (i dag 2026-11-23"), "{t}");
    let r = w.refused(&["plan", "--now", "2026-11-23", "--until", "2026-01-01"]);
    assert!(
        r.stderr
            .contains("--until 2026-01-01 ligger före i dag (2026-11-23)"),
        "{}",
        r.stderr
    );
    let r = w.run(&["plan", "--days", "5", "--until", "2027-01-01"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = w.refused(&["plan", "--now", "igår"]);
    assert!(
        r.stderr.contains("--now \"igår\" is not a time"),
        "{}",
        r.stderr
    );
}

/// The JSON of a full plan, in its order, byte for byte. Partnerships KUB/1
/// and KUB/1-2 start 2026-01-01 with two check-ins a year (the policy
/// default): window y0-w1 runs 2026-01-01..2026-06-30, due Tuesday 30 June.
/// KUB/9 starts 2026-02-01 with four: window y0-w1 runs
/// 2026-02-01..2026-04-30, due Thursday 30 April, overdue on 1 June; its
/// second window is due 2026-07-31, after the window asked for. Annual items
/// and committee follow-ups fall in 2027 and later. Rows are ordered by due
/// date, then key in byte order: "KUB/1-2/" before "KUB/1/" ('-' < '/'),
/// though the register lists KUB/1 first. A quote in a name is escaped.
#[test]
fn plan_json_order_and_content_on_both_backends() {
    const CSV: &str = "Diarienummer;Organisation;Nämnd;Handläggare;Handläggare e-post;Ersättare e-post;Kontakt e-post;Startdatum;Slutdatum;Årligt belopp;Avstämningar per år;Uppsägningstid;Anteckningar
KUB/1;\"Förening \"\"Ett\"\"\";kbn;Anna Lindqvist;anna.lindqvist@example.org;erik.berg@example.org;;2026-01-01;;100 000;;;
KUB/1-2;Två;kbn;Sara Nilsson;sara.nilsson@example.org;;;2026-01-01;;100 000;;;
KUB/9;Nio;kbn;Erik Berg;erik.berg@example.org;;;2026-02-01;;100 000;4;;
";
    const EXPECTED: &str = r#"[
  {
    "key": "KUB/9/checkin/y0-w1",
    "partnership": "KUB/9",
    "organisation": "Nio",
    "committee": "kbn",
    "kind": "checkin",
    "due": "2026-04-30",
    "status": "overdue",
    "period_start": "2026-02-01",
    "period_end": "2026-04-30",
    "roles": [
      "officer",
      "deputy"
    ],
    "officer": "erik.berg@example.org"
  },
  {
    "key": "KUB/1-2/checkin/y0-w1",
    "partnership": "KUB/1-2",
    "organisation": "Två",
    "committee": "kbn",
    "kind": "checkin",
    "due": "2026-06-30",
    "status": "upcoming",
    "period_start": "2026-01-01",
    "period_end": "2026-06-30",
    "roles": [
      "officer",
      "deputy"
    ],
    "officer": "sara.nilsson@example.org"
  },
  {
    "key": "KUB/1/checkin/y0-w1",
    "partnership": "KUB/1",
    "organisation": "Förening \"Ett\"",
    "committee": "kbn",
    "kind": "checkin",
    "due": "2026-06-30",
    "status": "upcoming",
    "period_start": "2026-01-01",
    "period_end": "2026-06-30",
    "roles": [
      "officer",
      "deputy"
    ],
    "officer": "anna.lindqvist@example.org"
  }
]
"#;
    for backend in BACKENDS {
        let w = World::new(backend);
        let csv = w.write("register.csv", CSV);
        w.ok(&["import", csv.to_str().unwrap(), "--now", "2026-01-01"]);
        let out = w
            .ok(&[
                "plan",
                "--now",
                "2026-06-01T09:00",
                "--days",
                "45",
                "--format",
                "json",
            ])
            .stdout;
        assert_eq!(out, EXPECTED, "{backend:?}");
        // Nothing selected is an empty array.
        let none = w
            .ok(&[
                "plan",
                "--now",
                "2026-06-01T09:00",
                "--status",
                "cancelled",
                "--format",
                "json",
            ])
            .stdout;
        assert_eq!(none, "[]\n", "{backend:?}");
    }
}

/// Eight people move the same meeting at once, each to another date: one
/// move is made and the others are refused because the meeting is no longer
/// there. First on a committee whose plan is still the configuration's (it
/// is seeded once), then on its plan in the database. (PostgreSQL would
/// otherwise let each act on the plan it read before the others committed.)
#[test]
fn concurrent_plan_changes_take_turns() {
    use iopd::domain::{Channel, CommitteeKey};
    use iopd::store::{Actor, PlanChange, StoreError, Subject};
    let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    for backend in BACKENDS {
        let w = World::new(backend);
        support::runtime().block_on(async {
            let store = w.store().await;
            let kbn = CommitteeKey::parse("kbn").unwrap();
            let seed = [day("2027-02-11"), day("2027-03-11")];
            let actor = Actor {
                by: "iop-ansvarig@example.org".into(),
                channel: Channel::Workspace,
                at: chrono::Utc::now(),
            };
            let mut from = day("2027-02-11");
            for (round, first) in [(1, "2027-02-12"), (2, "2027-02-20")] {
                // Spawned all before any is awaited, so they run at once.
                let moves: Vec<_> = (0..8u32)
                    .map(|i| {
                        let (store, kbn, actor) = (store.clone(), kbn.clone(), actor.clone());
                        let to = day(first) + chrono::Duration::days(i64::from(i));
                        let change = PlanChange::Move { from, to };
                        tokio::spawn(async move {
                            (
                                to,
                                store.change_plan(&kbn, (14, &seed), &change, &actor).await,
                            )
                        })
                    })
                    .collect();
                let mut made = Vec::new();
                for m in moves {
                    let (to, r) = m.await.unwrap();
                    match r {
                        Ok(_) => made.push(to),
                        Err(StoreError::Refused(msg)) => assert!(
                            msg.contains(&format!("inget sammanträde {from}")),
                            "{backend:?} round {round}: {msg}"
                        ),
                        Err(e) => panic!("{backend:?} round {round}: not a refusal: {e}"),
                    }
                }
                assert_eq!(
                    made.len(),
                    1,
                    "{backend:?} round {round}: moves made: {made:?}"
                );
                let plans = store.committee_plans().await.unwrap();
                assert_eq!(plans.len(), 1, "{backend:?} round {round}");
                assert_eq!(
                    plans[0].meetings,
                    [made[0], day("2027-03-11")],
                    "{backend:?} round {round}"
                );
                let changes = store.changes(Subject::Committee, "kbn").await.unwrap();
                assert_eq!(
                    changes.len(),
                    1 + round,
                    "{backend:?} round {round}: the plan seeded and one move a round: {changes:#?}"
                );
                from = made[0];
            }
        });
    }
}
