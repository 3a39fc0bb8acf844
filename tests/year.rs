//! A year in Region Värmland: the real `iopd` binary, day by day through
//! 2027, against a real SMTP server and a real database. Events are recorded
//! with `iopd record` on the days they happen, `iopd tick` runs at 08:05 every
//! day and `iopd digest` every Monday. Every mail that arrives is compared
//! with the list in `tests/fixtures/year-2027.txt`, worked out by hand from
//! the rules.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate};
use support::mail::Mail;
use support::smtp::SmtpServer;
use support::year::{
    Row, assert_same, d, expected_digests, expected_reminders, rows, run_year, statuses,
    working_day,
};
use support::{Backend, World, example_csv, path_str};

fn address(short: &str) -> &'static str {
    match short {
        "anna" => "anna.lindqvist@example.org",
        "erik" => "erik.berg@example.org",
        "sara" => "sara.nilsson@example.org",
        "maria" => "maria.ek@example.org",
        "johan" => "johan.holm@example.org",
        "nils" => "nils.nyberg@example.org",
        "iop" => "iop-ansvarig@example.org",
        "adv" => "iop@example.org",
        "jurist" => "jurist@example.org",
        "ekonomi" => "ekonomi@example.org",
        "kbnsek" => "kbn-sekreterare@example.org",
        "hsnsek" => "hsn-sekreterare@example.org",
        other => panic!("unknown recipient {other:?} in the fixture"),
    }
}
/// What happens on which day (recorded at 14:00, after the morning tick).
fn script() -> BTreeMap<NaiveDate, Vec<Vec<&'static str>>> {
    let events: Vec<(&str, Vec<&str>)> = vec![
        ("2027-01-15", vec!["checkin-held", "-p", "KUB/2024:029"]),
        ("2027-01-20", vec!["checkin-held", "-p", "KUB/2021:101"]),
        (
            "2027-01-25",
            vec![
                "annual-report-received",
                "-p",
                "KUB/2024:029",
                "--diarienummer",
                "KUB/2027:25",
            ],
        ),
        (
            "2027-02-03",
            vec!["annual-evaluation-held", "-p", "KUB/2024:029"],
        ),
        ("2027-02-10", vec!["checkin-held", "-p", "HSN/2023:201"]),
        ("2027-02-15", vec!["checkin-held", "-p", "KUB/2024:140"]),
        (
            "2027-03-01",
            vec![
                "annual-report-received",
                "-p",
                "KUB/2022:057",
                "--diarienummer",
                "KUB/2027:61",
            ],
        ),
        ("2027-03-10", vec!["checkin-held", "-p", "KUB/2022:057"]),
        (
            "2027-03-10",
            vec!["annual-evaluation-held", "-p", "KUB/2022:057"],
        ),
        (
            "2027-03-22",
            vec![
                "committee-followup-submitted",
                "-p",
                "KUB/2023:088",
                "--diarienummer",
                "KUB/2027:88",
                "--meeting",
                "2027-04-15",
            ],
        ),
        (
            "2027-03-25",
            vec!["expiry-evaluation-held", "-p", "KUB/2024:140"],
        ),
        (
            "2027-04-19",
            vec![
                "committee-followup-reported",
                "-p",
                "KUB/2023:088",
                "--meeting",
                "2027-04-15",
                "--paragraph",
                "§ 31",
                "--decision",
                "approved",
            ],
        ),
        (
            "2027-04-20",
            vec!["annual-evaluation-held", "-p", "HSN/2022:310"],
        ),
        ("2027-05-05", vec!["checkin-held", "-p", "HSN/2023:045"]),
        (
            "2027-05-10",
            vec![
                "annual-report-received",
                "-p",
                "KUB/2023:088",
                "--diarienummer",
                "KUB/2027:120",
            ],
        ),
        (
            "2027-05-12",
            vec![
                "committee-followup-submitted",
                "-p",
                "KUB/2021:101",
                "--diarienummer",
                "KUB/2027:131",
                "--meeting",
                "2027-06-10",
            ],
        ),
        (
            "2027-05-17",
            vec!["notice-given", "-p", "KUB/2023:088", "--party", "partner"],
        ),
        ("2027-05-19", vec!["checkin-held", "-p", "KUB/2023:088"]),
        (
            "2027-05-26",
            vec!["annual-evaluation-held", "-p", "KUB/2023:088"],
        ),
        ("2027-06-01", vec!["checkin-held", "-p", "KUB/2022:057"]),
        ("2027-06-01", vec!["checkin-held", "-p", "HSN/2023:201"]),
        (
            "2027-06-07",
            vec![
                "officer-absent",
                "-p",
                "KUB/2023:012",
                "--from",
                "2027-06-07",
                "--to",
                "2027-07-18",
            ],
        ),
        (
            "2027-06-07",
            vec![
                "officer-absent",
                "-p",
                "KUB/2023:088",
                "--from",
                "2027-06-07",
                "--to",
                "2027-07-18",
            ],
        ),
        ("2027-06-09", vec!["checkin-held", "-p", "KUB/2024:029"]),
        (
            "2027-06-14",
            vec![
                "committee-followup-reported",
                "-p",
                "KUB/2021:101",
                "--meeting",
                "2027-06-10",
                "--paragraph",
                "§ 55",
                "--decision",
                "renegotiation",
            ],
        ),
        (
            "2027-06-15",
            vec![
                "annual-report-received",
                "-p",
                "KUB/2021:101",
                "--diarienummer",
                "KUB/2027:160",
            ],
        ),
        ("2027-06-17", vec!["checkin-held", "-p", "KUB/2024:140"]),
        (
            "2027-07-06",
            vec!["checkin-held", "-p", "KUB/2023:012", "--by", "Erik Berg"],
        ),
        ("2027-08-10", vec!["checkin-held", "-p", "KUB/2021:101"]),
        (
            "2027-08-16",
            vec![
                "annual-report-received",
                "-p",
                "HSN/2023:201",
                "--diarienummer",
                "HSN/2027:212",
            ],
        ),
        (
            "2027-08-19",
            vec!["renegotiated-agreement-signed", "-p", "KUB/2021:101"],
        ),
        (
            "2027-08-25",
            vec!["annual-evaluation-held", "-p", "HSN/2023:201"],
        ),
        (
            "2027-08-26",
            vec!["annual-evaluation-held", "-p", "KUB/2021:101"],
        ),
        // EBL-skolan skipped its spring check-in; this one, in the autumn
        // window, counts for that window and leaves the spring one missed
        // (RULES 16, 17).
        ("2027-09-01", vec!["checkin-held", "-p", "HSN/2022:310"]),
        (
            "2027-09-10",
            vec![
                "annual-report-received",
                "-p",
                "KUB/2024:140",
                "--diarienummer",
                "KUB/2027:230",
            ],
        ),
        (
            "2027-09-20",
            vec![
                "officer-replaced",
                "-p",
                "KUB/2022:057",
                "--name",
                "Nils Nyberg",
                "--email",
                "nils.nyberg@example.org",
                "--from",
                "2027-10-01",
            ],
        ),
        (
            "2027-09-20",
            vec![
                "termination-submitted",
                "-p",
                "KUB/2023:088",
                "--diarienummer",
                "KUB/2027:241",
                "--meeting",
                "2027-10-21",
            ],
        ),
        (
            "2027-09-27",
            vec!["annual-evaluation-held", "-p", "KUB/2024:140"],
        ),
        ("2027-09-30", vec!["payments-stopped", "-p", "KUB/2024:140"]),
        // Afasiföreningen's overdue follow-up is decided at the September
        // meeting without a memo in the register (RULES 19).
        (
            "2027-09-30",
            vec![
                "committee-followup-reported",
                "-p",
                "HSN/2023:201",
                "--meeting",
                "2027-09-28",
                "--paragraph",
                "§ 112",
                "--decision",
                "approved",
            ],
        ),
        (
            "2027-10-14",
            vec![
                "wind-down-plan-registered",
                "-p",
                "KUB/2023:088",
                "--diarienummer",
                "KUB/2027:260",
            ],
        ),
        (
            "2027-10-25",
            vec![
                "termination-decided",
                "-p",
                "KUB/2023:088",
                "--meeting",
                "2027-10-21",
                "--paragraph",
                "§ 80",
            ],
        ),
        ("2027-11-17", vec!["payments-stopped", "-p", "KUB/2023:088"]),
        (
            "2027-11-25",
            vec![
                "annual-report-received",
                "-p",
                "HSN/2023:045",
                "--diarienummer",
                "HSN/2027:301",
            ],
        ),
        ("2027-12-14", vec!["checkin-held", "-p", "HSN/2023:045"]),
        // IOP-ansvarig waives Frykcenter's annual evaluation (RULES 17).
        (
            "2027-12-16",
            vec![
                "checkpoint-waived",
                "-p",
                "HSN/2023:045",
                "--for",
                "HSN/2023:045/annual_evaluation/y4",
                "--reason",
                "Utvärderingen ingår i den fördjupade uppföljningen 2028",
                "--by",
                "Karin Sjöberg",
            ],
        ),
        (
            "2027-12-15",
            vec![
                "annual-report-received",
                "-p",
                "KUB/2023:012",
                "--diarienummer",
                "KUB/2027:330",
            ],
        ),
        ("2027-12-20", vec!["checkin-held", "-p", "KUB/2023:012"]),
    ];
    let mut by_day: BTreeMap<NaiveDate, Vec<Vec<&str>>> = BTreeMap::new();
    for (day, args) in events {
        by_day.entry(d(day)).or_default().push(args);
    }
    by_day
}

/// The register as it stands when the year begins: the example spreadsheet,
/// Suicide Zero's December check-in and annual items, and the committee
/// decisions recorded before 2027 (Hälso- och sjukvårdsnämnden has none,
/// as the auditors found).
fn before_the_year(w: &World) {
    w.ok(&["import", path_str(&example_csv()), "--now", "2026-12-01"]);
    let now = ["--now", "2026-12-20T14:00"];
    let history: [&[&str]; 9] = [
        &["checkin-held", "-p", "KUB/2023:012"],
        &[
            "annual-report-received",
            "-p",
            "KUB/2023:012",
            "--diarienummer",
            "KUB/2026:410",
        ],
        &["annual-evaluation-held", "-p", "KUB/2023:012"],
        &[
            "committee-followup-reported",
            "-p",
            "KUB/2021:101",
            "--meeting",
            "2025-06-12",
        ],
        &[
            "committee-followup-reported",
            "-p",
            "KUB/2023:088",
            "--meeting",
            "2025-04-10",
        ],
        &[
            "committee-followup-reported",
            "-p",
            "KUB/2022:057",
            "--meeting",
            "2026-02-19",
        ],
        &[
            "committee-followup-reported",
            "-p",
            "KUB/2024:029",
            "--meeting",
            "2026-02-19",
        ],
        &[
            "committee-followup-reported",
            "-p",
            "KUB/2024:140",
            "--meeting",
            "2026-09-17",
        ],
        &[
            "committee-followup-reported",
            "-p",
            "KUB/2023:012",
            "--meeting",
            "2026-12-17",
        ],
    ];
    for (i, args) in history.iter().enumerate() {
        let mut a = vec!["record"];
        a.extend_from_slice(args);
        let paragraph = format!("§ {}", 10 + i);
        if args[0] == "committee-followup-reported" {
            a.extend_from_slice(&["--paragraph", &paragraph, "--decision", "approved"]);
        }
        a.extend_from_slice(&now);
        w.ok(&a);
    }
}

/// What arrived, day by day, in one run of the year.
struct Year {
    mails: Vec<(NaiveDate, Mail)>,
    /// Checkpoint keys by status (missed, waived, done, before_tracking)
    /// in `iopd plan` at the year's end.
    statuses: BTreeMap<&'static str, BTreeSet<String>>,
}

/// The keys `iopd plan --status S --format json` lists, for each status.
fn play(backend: Backend, down: &[NaiveDate]) -> Year {
    let smtp = SmtpServer::start();
    let mut w = World::new(backend);
    w.use_smtp(smtp.port);
    w.env
        .push(("IOPD__POLICY__TRACKING_START".into(), "2027-01-01".into()));
    before_the_year(&w);
    assert!(
        smtp.received().is_empty(),
        "nothing is sent while the history is recorded"
    );
    let mails = run_year(&w, &smtp, &script(), down);
    Year {
        mails,
        statuses: statuses(&w),
    }
}

/// What every run must show besides the list itself.
fn assert_invariants(year: &Year) {
    let mut keys = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for (day, m) in &year.mails {
        assert!(
            working_day(*day),
            "{} arrived on {day}, not a working day",
            m.key
        );
        assert!(keys.insert(m.key.clone()), "{} arrived twice", m.key);
        assert!(
            ids.insert(m.message_id.clone()),
            "Message-ID {} used twice",
            m.message_id
        );
    }
    // Every outbox key a mail stands for (a mail of the day: its items).
    let keyed: Vec<(NaiveDate, &str, &Mail)> = year
        .mails
        .iter()
        .flat_map(|(day, m)| {
            let keys: Vec<&str> = if m.key.starts_with("day|") {
                m.items.iter().map(String::as_str).collect()
            } else {
                vec![m.key.as_str()]
            };
            keys.into_iter().map(move |k| (*day, k, m))
        })
        .collect();
    let stage = |k: &str| k.split('|').nth(2).unwrap_or_default().to_string();
    // One mail of the day per person and day (RULES 14 per person).
    let mut days = BTreeSet::new();
    for (day, m) in &year.mails {
        if m.key.starts_with("day|") {
            assert!(
                days.insert((*day, m.to.clone())),
                "a second mail of the day to {:?} on {day}",
                m.to
            );
        }
    }
    // Sara's sick leave (06-07..07-18): her mail goes to her deputies. A
    // CANCEL only takes a stale entry out of the calendar that holds it
    // (RULES 17: a missed window's invite is cancelled).
    for (day, key, m) in &keyed {
        if (d("2027-06-07")..=d("2027-07-18")).contains(day) && !stage(key).starts_with("cancel") {
            assert_ne!(
                m.to,
                vec![address("sara").to_string()],
                "{key} reached Sara on sick leave"
            );
        }
    }
    // Erik hands Värmlands Idéburna over to Nils from 10-01: only the
    // withdrawal of his calendar entries reaches him after that.
    for (day, key, m) in &keyed {
        if *day >= d("2027-10-01")
            && key.starts_with("KUB/2022:057/")
            && !stage(key).starts_with("cancel")
        {
            assert_eq!(m.to, vec![address("nils").to_string()], "{key}");
        }
    }
    // Ended agreements fall silent: Agera after its fixed term (09-30),
    // Brottsofferjouren after its notice (11-17); only entries still in a
    // calendar are withdrawn.
    for (day, key, _) in &keyed {
        if stage(key).starts_with("cancel") {
            continue;
        }
        assert!(
            !(key.starts_with("KUB/2024:140/") && *day > d("2027-09-30")),
            "{key} after Agera's end"
        );
        assert!(
            !(key.starts_with("KUB/2023:088/") && *day > d("2027-11-17")),
            "{key} after Brottsofferjouren's end"
        );
    }
    // Calendar data travels only in calendar mails: a REQUEST for an entry,
    // a CANCEL for its withdrawal, never a personal link inside; and no
    // invite for a date already past.
    for (day, m) in &year.mails {
        let s = stage(&m.key);
        if s.starts_with("cancel") {
            assert_eq!(m.calendar_method, "CANCEL", "{}", m.key);
        } else if s.starts_with("invite") {
            assert_eq!(m.calendar_method, "REQUEST", "{}", m.key);
            let due = m.key.split('|').nth(1).unwrap_or_default();
            assert!(
                d(due) >= *day,
                "{}: an invite for a date already past",
                m.key
            );
        } else {
            assert_eq!(m.calendar_method, "", "{}", m.key);
        }
        assert!(
            !m.calendar.contains("http"),
            "{}: a link in the calendar data",
            m.key
        );
        // Command lines only for IOP-ansvarig (the pages are off here).
        if m.to != vec![address("iop").to_string()] {
            assert!(
                !m.text.contains("iopd record"),
                "{}: a command line to {:?}",
                m.key,
                m.to
            );
        }
    }
    // RULES 18: silence counts from tracking_start (2027-01-01), never from
    // a start years before what was recorded: 24 months without a follow-up
    // have not passed in 2027, so no digest calls a committee silent.
    let silent = scraper::Selector::parse("#tysta-namnder").expect("selector");
    let mut digests = 0;
    for (day, m) in &year.mails {
        if !m.key.starts_with("digest|") || m.to != vec![address("iop").to_string()] {
            continue;
        }
        digests += 1;
        let html = scraper::Html::parse_document(&m.html);
        let table: String = html
            .select(&silent)
            .flat_map(|t| t.text())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            !table.contains("Hälso- och sjukvårdsnämnden")
                && !table.contains("Kultur- och bildningsnämnden"),
            "the digest of {day} calls a committee silent: {table}"
        );
    }
    assert!(digests >= 50, "only {digests} digests");
    // What the mail list cannot show: the status each scenario leaves behind.
    let has = |status: &str, key: &str| {
        assert!(
            year.statuses[status].contains(key),
            "{key} is not {status} at the year's end: {:?}",
            year.statuses
        );
    };
    // RULES 16, 17: EBL-skolan's spring window is missed, the autumn one done.
    has("missed", "HSN/2022:310/checkin/y4-w2");
    has("done", "HSN/2022:310/checkin/y5-w1");
    has("missed", "KUB/2024:029/checkin/y3-w1");
    has("done", "KUB/2024:029/checkin/y3-w2");
    // RULES 17: Frykcenter's evaluation waived.
    has("waived", "HSN/2023:045/annual_evaluation/y4");
    // RULES 18, 19: the decision without a memo closed Afasiföreningen's f2
    // and its minutes; f1's minutes stay before tracking.
    has("done", "HSN/2023:201/committee_followup/f2");
    has(
        "done",
        "HSN/2023:201/committee_minutes/committee_followup-f2",
    );
    has(
        "before_tracking",
        "HSN/2023:201/committee_minutes/committee_followup-f1",
    );
    has("before_tracking", "HSN/2023:201/committee_followup/f1");
}

#[test]
fn a_year_on_sqlite() {
    let year = play(Backend::Sqlite, &[]);
    assert_invariants(&year);
    let mut want = expected_reminders("year-2027.txt", address);
    want.extend(expected_digests(&[], address));
    assert_same("SQLite", rows(&year.mails), want);
    assert!(
        !year
            .mails
            .iter()
            .any(|(_, m)| m.text.contains("skickas i efterhand")),
        "nothing is late when the service runs every day"
    );
}

#[test]
fn a_year_on_postgres() {
    let year = play(Backend::Postgres, &[]);
    assert_invariants(&year);
    let mut want = expected_reminders("year-2027.txt", address);
    want.extend(expected_digests(&[], address));
    assert_same("PostgreSQL", rows(&year.mails), want);
}

/// The same year with the service stopped from Monday 05-17 to Sunday 05-30.
/// On Monday 05-31 each checkpoint's current stage goes out once, marked as
/// late; the stages it superseded are not sent (RULES 14), and the entries
/// of checkpoints done meanwhile are withdrawn.
#[test]
fn a_year_with_two_weeks_down() {
    let down: Vec<NaiveDate> = (0..14)
        .map(|i| d("2027-05-17") + Duration::days(i))
        .collect();
    let year = play(Backend::Sqlite, &down);
    assert_invariants(&year);

    let r = |date: &str, checkpoint: &str, due: &str, stage: &str, to: &str| Row {
        date: d(date),
        checkpoint: checkpoint.into(),
        due: due.into(),
        stage: stage.into(),
        to: address(to).into(),
    };
    // EBL-skolan's missed spring check-in: its escalation of 05-21 never
    // went out, so IOP-ansvarig and the advisory mailbox hold no entry to
    // withdraw on 09-02 (RULES 17).
    let never_held = |x: &Row| {
        x.checkpoint == "HSN/2022:310/checkin/y4-w2"
            && x.stage == "cancel"
            && (x.to == address("iop") || x.to == address("adv"))
    };
    let mut want: Vec<Row> = expected_reminders("year-2027.txt", address)
        .into_iter()
        .filter(|x| !down.contains(&x.date) && !never_held(x))
        .collect();
    want.extend([
        // Held 05-19 and 05-26 while the service was down: withdrawn.
        r(
            "2027-05-31",
            "KUB/2023:088/checkin/y3-w2",
            "2027-05-31",
            "cancel",
            "sara",
        ),
        r(
            "2027-05-31",
            "KUB/2023:088/annual_evaluation/y3",
            "2027-05-31",
            "cancel",
            "sara",
        ),
        // Due 05-28: d-7 (05-21) was superseded by d0.
        r(
            "2027-05-31",
            "KUB/2024:029/checkin/y3-w1",
            "2027-05-28",
            "d0",
            "anna",
        ),
        // Deadline 05-27: d-7 and d0 superseded by the escalation of 05-28.
        r(
            "2027-05-31",
            "HSN/2023:201/committee_followup/f2",
            "2027-05-27",
            "d+1",
            "iop",
        ),
        r(
            "2027-05-31",
            "HSN/2023:201/committee_followup/f2",
            "2027-05-27",
            "d+1",
            "adv",
        ),
        // The escalation of 05-21 was superseded by d+28 of 05-28; the
        // digest has listed the report as overdue since 05-03.
        r(
            "2027-05-31",
            "HSN/2022:310/annual_report/y4",
            "2027-04-30",
            "d+28",
            "maria",
        ),
        // The same for the spring check-in EBL-skolan never held.
        r(
            "2027-05-31",
            "HSN/2022:310/checkin/y4-w2",
            "2027-04-30",
            "d+28",
            "maria",
        ),
    ]);
    want.extend(expected_digests(
        &[d("2027-05-17"), d("2027-05-24")],
        address,
    ));
    assert_same("two weeks down", rows(&year.mails), want);

    let late: Vec<&Mail> = year
        .mails
        .iter()
        .filter(|(_, m)| m.text.contains("skickas i efterhand"))
        .map(|(_, m)| m)
        .collect();
    let items: usize = late.iter().map(|m| m.items.len()).sum();
    assert_eq!(
        (late.len(), items),
        (4, 5),
        "the five reminders caught up on 05-31, in one mail to each of four people, say they are late: {:?}",
        late.iter().map(|m| &m.items).collect::<Vec<_>>()
    );
    for (day, m) in &year.mails {
        if m.text.contains("skickas i efterhand") {
            assert_eq!(*day, d("2027-05-31"), "{} marked late", m.key);
        }
    }
}
