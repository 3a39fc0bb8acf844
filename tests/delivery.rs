//! `iopd tick` against a real SMTP server over TCP, on SQLite and PostgreSQL.
//!
//! One partnership, T1, started 2025-12-01 with two check-ins a year: its
//! first window runs 2025-12-01..2026-05-31, a Sunday, so the check-in is due
//! Friday 2026-05-29 (issue 3 rule 8). The ladder (RULES 11, 13), worked out
//! by hand from the 2026 almanac:
//! - planera −28 = 2026-05-01, Labour Day → Thursday 2026-04-30
//! - påminnelse −7 = Friday 2026-05-22; on the day Friday 2026-05-29
//! - försenad +7 = Friday 2026-06-05
//! - eskalering +21 = 2026-06-19, Midsummer Eve → Monday 2026-06-22
//! - uppföljning +28 = Friday 2026-06-26

mod support;

use std::time::Duration;

use mail_parser::MessageParser;
use support::mail::parse;
use support::smtp::{Mode, SmtpServer};
use support::{BACKENDS, Backend, World, json, path_str};

const T1: &str = "id;organisation;committee;officer_name;officer_email;deputy_email;start_date\n\
T1;Testföreningen;kbn;Olle Officer;olle@example.org;dora@example.org;2025-12-01\n";

fn world(backend: Backend, smtp: &SmtpServer) -> World {
    World::with_register(backend, smtp.port, T1)
}

/// The calendar mails and the mails of the day, each in arrival order.
fn split(got: &[support::smtp::Received]) -> (Vec<support::mail::Mail>, Vec<support::mail::Mail>) {
    got.iter()
        .map(parse)
        .partition(|m| !m.calendar_method.is_empty())
}

/// The rows of an `outbox --format json` that are mails (not the reminder
/// items a mail of the day carries).
fn mails(rows: serde_json::Value) -> Vec<serde_json::Value> {
    rows.as_array()
        .unwrap()
        .iter()
        .filter(|r| r["item"] == false)
        .cloned()
        .collect()
}

fn unfolded(ics: &str) -> String {
    ics.replace("\r\n ", "").replace("\r\n", "\n")
}

#[test]
fn each_stage_once_on_its_working_day_and_a_cancel_when_done_early() {
    for backend in BACKENDS {
        let smtp = SmtpServer::start();
        let w = world(backend, &smtp);

        // Before send_at (08:00) nothing goes out.
        let r = w.ok(&["tick", "--now", "2026-04-30T07:30"]);
        assert!(
            r.stdout
                .contains("klockan är 07:30 och utskicket går 08:00"),
            "{}",
            r.stdout
        );
        // Planera on Thursday 2026-04-30 (1 May is a holiday): the mail of
        // the day, and the calendar entry in a small mail of its own.
        w.ok(&["tick", "--now", "2026-04-30T08:05"]);
        let got = smtp.wait_for(2, Duration::from_secs(10));
        assert_eq!(got.len(), 2, "{backend:?}");
        let (cal, day) = split(&got);
        let (inv, m) = (&cal[0], &day[0]);
        assert_eq!(m.to, vec!["olle@example.org"]);
        assert_eq!(
            m.subject,
            "[IOP] Planera: Avstämningsmöte med Testföreningen senast 2026-05-29 (om 29 dagar)"
        );
        assert_eq!(
            m.items,
            vec!["T1/checkin/y0-w1|2026-05-29|d-28|olle@example.org"]
        );
        // No command line for an officer: with the pages off, whom to tell.
        assert!(!m.text.contains("iopd record"), "{}", m.text);
        assert!(m.text.contains("Meddela IOP-ansvarig"), "{}", m.text);
        assert_eq!(
            m.calendar_method, "",
            "no invite inside the mail of the day"
        );
        assert_eq!(inv.to, vec!["olle@example.org"]);
        assert_eq!(
            inv.key,
            "T1/checkin/y0-w1|2026-05-29|invite-0|olle@example.org"
        );
        assert_eq!(inv.calendar_method, "REQUEST");
        let ics = unfolded(&inv.calendar);
        assert!(ics.contains("UID:T1/checkin/y0-w1@iopd"), "{ics}");
        assert!(ics.contains("SEQUENCE:0"));
        assert!(ics.contains("DTSTART;VALUE=DATE:20260529"));
        assert!(ics.contains("RSVP=FALSE"));
        assert!(!ics.contains("http"), "no link in the calendar data: {ics}");
        assert!(!m.message_id.is_empty());

        // Again the same day, and on the holiday: nothing new.
        w.ok(&["tick", "--now", "2026-04-30T09:00"]);
        let r = w.ok(&["tick", "--now", "2026-05-01T08:05"]);
        assert!(
            r.stdout
                .contains("fredag 2026-05-01 är ingen arbetsdag (första maj)"),
            "{}",
            r.stdout
        );
        assert_eq!(smtp.received().len(), 2, "{backend:?}: no repeat");

        // Påminnelse on 2026-05-22: the mail of the day only, no second invite.
        w.ok(&["tick", "--now", "2026-05-22T08:05"]);
        let got = smtp.wait_for(3, Duration::from_secs(10));
        assert_eq!(got.len(), 3);
        let reminder = parse(&got[2]);
        assert_eq!(reminder.calendar_method, "");
        assert!(
            reminder.subject.starts_with("[IOP] Påminnelse: "),
            "{}",
            reminder.subject
        );
        assert_ne!(reminder.message_id, m.message_id);

        // Done early (2026-05-25, before the due date): the entry is withdrawn.
        w.ok(&[
            "record",
            "checkin-held",
            "-p",
            "T1",
            "--on",
            "2026-05-25",
            "--now",
            "2026-05-25T07:00",
        ]);
        w.ok(&["tick", "--now", "2026-05-25T08:05"]);
        let got = smtp.wait_for(4, Duration::from_secs(10));
        assert_eq!(got.len(), 4);
        let cancel = parse(&got[3]);
        assert_eq!(cancel.calendar_method, "CANCEL");
        let cal = unfolded(&cancel.calendar);
        assert!(
            cal.contains("METHOD:CANCEL") && cal.contains("STATUS:CANCELLED"),
            "{cal}"
        );
        assert!(
            cal.contains("UID:T1/checkin/y0-w1@iopd") && cal.contains("SEQUENCE:1"),
            "{cal}"
        );
        assert!(
            cancel
                .subject
                .starts_with("[IOP] Klart – kalenderposten tas bort"),
            "{}",
            cancel.subject
        );

        // Nothing more about it: not on the due day, not after.
        for day in [
            "2026-05-26T08:05",
            "2026-05-29T08:05",
            "2026-06-05T08:05",
            "2026-06-22T08:05",
        ] {
            w.ok(&["tick", "--now", day]);
        }
        assert_eq!(smtp.received().len(), 4, "{backend:?}");
        let sent = json(
            &w.ok(&["outbox", "--status", "sent", "--format", "json"])
                .stdout,
        );
        // Two mails of the day with their two reminder items, the invite, the cancel.
        let sent = sent.as_array().unwrap();
        assert_eq!(sent.len(), 6, "{sent:#?}");
        assert_eq!(sent.iter().filter(|r| r["item"] == true).count(), 2);
        assert!(
            sent.iter()
                .filter(|r| r["item"] == true)
                .all(|r| r["bundle"].as_str().is_some_and(|b| b.starts_with("day|"))),
            "{sent:#?}"
        );
    }
}

#[test]
fn catch_up_sends_only_the_latest_stage_late_and_the_deputy_covers_an_absence() {
    let smtp = SmtpServer::start();
    let w = world(Backend::Sqlite, &smtp);
    w.ok(&[
        "record",
        "officer-absent",
        "-p",
        "T1",
        "--from",
        "2026-06-15",
        "--to",
        "2026-07-31",
        "--now",
        "2026-06-01",
    ]);
    // The first tick after weeks of silence: only the escalation (+21, moved
    // from Midsummer Eve to Monday 2026-06-22), marked late; to IOP-ansvarig
    // with a copy to the advisory mailbox (RULES 11).
    w.ok(&["tick", "--now", "2026-06-24T08:05"]);
    let got = smtp.wait_for(2, Duration::from_secs(10));
    let mut to: Vec<String> = got.iter().flat_map(|r| r.to.clone()).collect();
    to.sort();
    assert_eq!(to, vec!["iop-ansvarig@example.org", "iop@example.org"]);
    let m = got
        .iter()
        .find(|r| r.to == vec!["iop-ansvarig@example.org"])
        .map(parse)
        .unwrap();
    assert!(m.subject.starts_with("[IOP] Eskalering"), "{}", m.subject);
    assert!(m.text.contains("skickas i efterhand"), "{}", m.text);
    assert!(
        m.text.contains(
            "Handläggare: Olle Officer <olle@example.org>, ersättare dora@example.org; inte påmind av iopd."
        ),
        "{}",
        m.text
    );
    assert!(!m.text.contains("Jag är frånvarande"), "{}", m.text);
    assert!(
        got.iter().all(|r| parse(r).calendar_method.is_empty()),
        "no invite with an escalation"
    );
    let out = json(&w.ok(&["outbox", "--format", "json"]).stdout);
    let rows = out.as_array().unwrap();
    assert_eq!(rows.len(), 4, "{out:#}");
    assert!(
        rows.iter()
            .all(|r| r["late"] == true && (r["item"] == false || r["stage"] == "d+21")),
        "{out:#}"
    );
    // Two days later the weekly follow-up (+28, Friday 2026-06-26) goes to
    // the acting officer: the deputy, while the officer is absent.
    w.ok(&["tick", "--now", "2026-06-26T08:05"]);
    let got = smtp.wait_for(3, Duration::from_secs(10));
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].to, vec!["dora@example.org"]);
}

#[test]
fn dry_run_prints_and_records_nothing() {
    let smtp = SmtpServer::start();
    let w = world(Backend::Sqlite, &smtp);
    let r = w.ok(&["tick", "--now", "2026-04-30T08:05", "--dry-run"]);
    assert!(
        r.stdout.contains("would send d-28 (Planera) of T1/checkin/y0-w1 due 2026-05-29 to olle@example.org (officer)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("would send invite-0 (Kalenderpost) of T1/checkin/y0-w1 due 2026-05-29 to olle@example.org"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("dry run: 1 reminders in 1 mails of the day, 1 calendar mails, 0 heads-ups would be enqueued"),
        "{}",
        r.stdout
    );
    let out = json(&w.ok(&["outbox", "--format", "json"]).stdout);
    assert_eq!(out.as_array().unwrap().len(), 0);
    assert!(smtp.received().is_empty());
    // The real tick afterwards still sends them.
    w.ok(&["tick", "--now", "2026-04-30T08:05"]);
    assert_eq!(smtp.wait_for(2, Duration::from_secs(10)).len(), 2);
}

#[test]
fn server_faults_retry_or_fail_and_nothing_is_lost_or_doubled() {
    let mut smtp = SmtpServer::start();
    let mut w = world(Backend::Sqlite, &smtp);
    // Mails of the day only, so each stage is one mail.
    w.env.push(("IOPD__MAIL__CALENDAR".into(), "none".into()));

    // Server down: the row waits.
    smtp.down();
    let r = w.ok(&["tick", "--now", "2026-04-30T08:05"]);
    assert!(r.stdout.contains("0 sent, 1 to retry"), "{}", r.stdout);
    let pending = mails(json(
        &w.ok(&["outbox", "--status", "pending", "--format", "json"])
            .stdout,
    ));
    assert_eq!(pending.len(), 1);
    assert!(
        pending[0]["last_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );
    // Back: the retry (after a minute's backoff) delivers it once.
    smtp.up();
    let r = w.ok(&["tick", "--now", "2026-04-30T08:05:30"]);
    assert!(
        r.stdout.contains("0 sent"),
        "backoff not yet over: {}",
        r.stdout
    );
    w.ok(&["tick", "--now", "2026-04-30T08:07"]);
    assert_eq!(smtp.wait_for(1, Duration::from_secs(10)).len(), 1);

    // 450 then 250.
    smtp.set_mode(Mode::TempFail);
    let r = w.ok(&["tick", "--now", "2026-05-22T08:05"]);
    assert!(r.stdout.contains("1 to retry"), "{}", r.stdout);
    smtp.set_mode(Mode::Accept);
    w.ok(&["tick", "--now", "2026-05-22T08:10"]);
    assert_eq!(smtp.wait_for(2, Duration::from_secs(10)).len(), 2);

    // A server that stalls: given up after the timeout, retried later.
    smtp.set_mode(Mode::Stall);
    let t = std::time::Instant::now();
    let r = w.ok(&["tick", "--now", "2026-05-29T08:05"]);
    assert!(r.stdout.contains("1 to retry"), "{}", r.stdout);
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "the timeout bounds a stalled send"
    );
    smtp.set_mode(Mode::Accept);
    w.ok(&["tick", "--now", "2026-05-29T08:10"]);
    assert_eq!(smtp.wait_for(3, Duration::from_secs(10)).len(), 3);

    // 550: failed for good, listed, not retried. The overdue stage (+7)
    // goes to the officer and the deputy: two mails.
    smtp.set_mode(Mode::PermFail);
    let r = w.ok(&["tick", "--now", "2026-06-05T08:05"]);
    assert!(r.stdout.contains("2 failed"), "{}", r.stdout);
    smtp.set_mode(Mode::Accept);
    w.ok(&["tick", "--now", "2026-06-05T09:05"]);
    let failed = json(
        &w.ok(&["outbox", "--status", "failed", "--format", "json"])
            .stdout,
    );
    // The two mails and the two reminder items they carried.
    let failed = failed.as_array().unwrap();
    assert_eq!(failed.len(), 4, "{failed:#?}");
    assert!(
        failed
            .iter()
            .all(|r| r["last_error"].as_str().unwrap().contains("550")),
        "{failed:#?}"
    );
    assert_eq!(
        smtp.received().len(),
        3,
        "a permanent failure is not retried"
    );
    // Every stage once: no Message-ID twice.
    let mut ids: Vec<String> = smtp
        .received()
        .iter()
        .map(|r| parse(r).message_id)
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3);
}

/// Rounds of three concurrent ticks on each backend: a race between them
/// (a deadlock, a duplicate key, a mail skipped while another held it) shows
/// in some rounds, not in every one.
const CONCURRENT_ROUNDS: usize = 8;

#[test]
fn concurrent_ticks_send_every_mail_exactly_once() {
    for backend in BACKENDS {
        for round in 0..CONCURRENT_ROUNDS {
            concurrent_round(backend, round);
        }
    }
}

fn concurrent_round(backend: Backend, round: usize) {
    let smtp = SmtpServer::start();
    let mut w = World::new(backend);
    w.use_smtp(smtp.port);
    w.import_example();
    let dry = w.ok(&["tick", "--now", "2026-11-23T08:05", "--dry-run"]);
    // One mail of the day per person with reminders, and each calendar mail.
    let mut people = std::collections::BTreeSet::new();
    let mut calendar = 0;
    for l in dry.stdout.lines().filter(|l| l.starts_with("would send")) {
        let to = l.split(" to ").nth(1).and_then(|t| t.split(' ').next());
        if l.starts_with("would send d") {
            people.insert(to.unwrap().to_string());
        } else {
            calendar += 1;
        }
    }
    let expected = people.len() + calendar;
    assert!(expected > 10, "{}", dry.stdout);
    let ticks: Vec<_> = ["08:05", "08:05", "08:06"]
        .iter()
        .map(|at| {
            w.cmd(&["tick", "--now", &format!("2026-11-23T{at}")])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in ticks {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{backend:?} round {round}: a tick failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Every mail is sent by the three ticks themselves, none left for a later one.
    let got = smtp.wait_for(expected, Duration::from_secs(5));
    assert_eq!(got.len(), expected, "{backend:?} round {round}");
    // Give a duplicate the chance to show up.
    w.ok(&["tick", "--now", "2026-11-23T08:10"]);
    let got2 = smtp.received();
    assert_eq!(got2.len(), expected, "{backend:?} round {round}");
    let mut ids: Vec<String> = got2.iter().map(|r| parse(r).message_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        expected,
        "{backend:?} round {round}: a Message-ID twice"
    );
}

/// Two transactions that lock two rows in opposite orders: PostgreSQL aborts
/// one as a deadlock, and [`iopd::store::again`] runs it again, so both
/// changes are made.
#[test]
fn a_deadlock_between_two_writers_is_tried_again() {
    let url = support::pg::fresh_database();
    support::runtime().block_on(async {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE pair (id INT PRIMARY KEY, n INT NOT NULL)")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO pair VALUES (1, 0), (2, 0)")
            .execute(&pool)
            .await
            .unwrap();
        let meet = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let tries = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let writer = |first: i32, second: i32| {
            let (pool, meet, tries) = (pool.clone(), meet.clone(), tries.clone());
            async move {
                iopd::store::again("test", || async {
                    let attempt = tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let mut tx = pool.begin().await?;
                    for (i, id) in [first, second].into_iter().enumerate() {
                        sqlx::query("UPDATE pair SET n = n + 1 WHERE id = $1")
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                        // Both hold their first row before either asks for the other.
                        if i == 0 && attempt < 2 {
                            meet.wait().await;
                        }
                    }
                    tx.commit().await?;
                    Ok::<_, iopd::store::StoreError>(())
                })
                .await
            }
        };
        let (a, b) = tokio::join!(tokio::spawn(writer(1, 2)), tokio::spawn(writer(2, 1)));
        a.unwrap().expect("the first writer");
        b.unwrap().expect("the second writer");
        let n: Vec<i32> = sqlx::query_scalar("SELECT n FROM pair ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(n, [2, 2], "both writers' changes are made");
        assert_eq!(
            tries.load(std::sync::atomic::Ordering::SeqCst),
            3,
            "one writer was aborted as a deadlock and ran again"
        );
    });
}

/// `n` partnerships like T1, each with its own officer: one planning mail each on
/// 2026-04-30.
fn like_t1(n: usize) -> String {
    let mut csv = String::from("id;organisation;committee;officer_name;officer_email;start_date\n");
    for i in 0..n {
        csv.push_str(&format!(
            "P{i:03};Förening {i};kbn;Olle {i};olle{i}@example.org;2025-12-01\n"
        ));
    }
    csv
}

/// 120 partnerships like T1, each with its planning mail on 2026-04-30, sent over four
/// connections at once: every mail arrives once, under its own key and the Message-ID
/// derived from it, every row is marked sent, and the four connections carry them all.
#[test]
fn many_mails_sent_concurrently_arrive_once_each_and_are_all_marked_sent() {
    const N: usize = 120;
    for backend in BACKENDS {
        let smtp = SmtpServer::start();
        let mut w = World::with_register(backend, smtp.port, &like_t1(N));
        w.env
            .push(("IOPD__MAIL__SMTP__POOL_SIZE".into(), "4".into()));
        w.env.push(("IOPD__MAIL__CALENDAR".into(), "none".into()));
        let r = w.ok(&["tick", "--now", "2026-04-30T08:05"]);
        assert!(r.stdout.contains(&format!("{N} sent")), "{}", r.stdout);

        let got = smtp.wait_for(N, Duration::from_secs(20));
        // Give a repeat the chance to show up.
        w.ok(&["tick", "--now", "2026-04-30T08:30"]);
        assert_eq!(smtp.received().len(), N, "{backend:?}");
        let from = iopd::domain::Email::parse("iopd@example.org").unwrap();
        let mut keys = std::collections::BTreeSet::new();
        for r in &got {
            let m = parse(r);
            assert_eq!(
                format!("<{}>", m.message_id),
                iopd::mail::message_id(&m.key, &from),
                "{backend:?}: the Message-ID comes from the key"
            );
            assert_eq!(r.to.len(), 1);
            assert_eq!(m.items.len(), 1, "{}", m.raw);
            assert!(
                m.items[0].ends_with(&format!("|d-28|{}", r.to[0])),
                "{:?}",
                m.items
            );
            assert!(keys.insert(m.key), "{backend:?}: a mail twice");
        }
        let sent = json(
            &w.ok(&[
                "outbox", "--status", "sent", "--format", "json", "--limit", "1000",
            ])
            .stdout,
        );
        let sent_keys: std::collections::BTreeSet<String> = mails(sent.clone())
            .iter()
            .map(|r| r["key"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(sent_keys, keys, "{backend:?}: every mail marked sent");
        assert_eq!(
            sent.as_array().unwrap().len(),
            2 * N,
            "{backend:?}: and every item"
        );
        let outbox = json(
            &w.ok(&["outbox", "--format", "json", "--limit", "1000"])
                .stdout,
        );
        assert_eq!(outbox.as_array().unwrap().len(), 2 * N, "{backend:?}");
        assert!(
            smtp.connections() <= 4,
            "{backend:?}: {} connections for {N} mails",
            smtp.connections()
        );
    }
}

#[test]
fn hostile_names_and_bad_rows_in_the_database() {
    let smtp = SmtpServer::start();
    let w = world(Backend::Sqlite, &smtp);
    let csv = w.write("t2.csv", "id;organisation;committee;officer_name;officer_email;start_date\nT2;Andra;kbn;Per;per@example.org;2025-12-01\n");
    w.ok(&["import", path_str(&csv), "--now", "2026-04-01"]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&w.db_url).await.unwrap();
        sqlx::query("UPDATE partnerships SET organisation = 'Ond <b>förening</b>\r\nBcc: evil@example.org' WHERE id = 'T1'")
            .execute(&mut c)
            .await
            .unwrap();
        sqlx::query("UPDATE partnerships SET officer_email = 'inte en adress' WHERE id = 'T2'").execute(&mut c).await.unwrap();
    });
    let r = w.ok(&["tick", "--now", "2026-04-30T08:05"]);
    assert!(
        r.stderr.contains("officer_email"),
        "the bad row is reported: {}",
        r.stderr
    );
    let got = smtp.wait_for(2, Duration::from_secs(10));
    assert_eq!(got.len(), 2, "T1 still gets its mail and invite");
    assert!(got.iter().all(|r| r.to == vec!["olle@example.org"]));
    let (_, day) = split(&got);
    let at = got.iter().position(|r| parse(r).key == day[0].key).unwrap();
    let m = parse(&got[at]);
    let parsed = MessageParser::default().parse(&got[at].data).unwrap();
    assert!(
        parsed.header("Bcc").is_none(),
        "no header injection:\n{}",
        m.raw
    );
    let head = m.raw.split("\r\n\r\n").next().unwrap_or_default();
    assert!(
        !head
            .lines()
            .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
        "{head}"
    );
    assert!(
        m.html.contains("&lt;b&gt;") && !m.html.contains("<b>förening"),
        "{}",
        m.html
    );
}

/// Starts the 2026-04-30 tick with the server holding its answer after DATA
/// and kills it once `n` mails are held at once.
fn kill_tick_while_the_server_holds(w: &World, smtp: &SmtpServer, n: usize) {
    smtp.set_mode(Mode::StallData);
    let mut child = w
        .cmd(&["tick", "--now", "2026-04-30T08:05"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while smtp.held() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "{n} mails never reached the end of DATA at once ({} did)",
            smtp.held()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_tick_killed_mid_send_repeats_at_most_that_mail_with_the_same_message_id() {
    let smtp = SmtpServer::start();
    let mut w = world(Backend::Sqlite, &smtp);
    w.env.push(("IOPD__MAIL__CALENDAR".into(), "none".into()));
    // The server holds its answer after DATA; the tick is killed while waiting.
    kill_tick_while_the_server_holds(&w, &smtp, 1);
    // The server then accepts what it had (as a real one would).
    smtp.set_mode(Mode::Accept);
    let first = smtp.wait_for(1, Duration::from_secs(10));
    assert_eq!(first.len(), 1);
    // The row was claimed, not marked: nothing is lost. Within the lease it
    // is left alone; after it, the next tick sends it again.
    let rows = json(&w.ok(&["outbox", "--format", "json"]).stdout);
    assert_eq!(rows[0]["status"], "sending", "{rows:#}");
    w.ok(&["tick", "--now", "2026-04-30T08:06"]);
    assert_eq!(smtp.received().len(), 1);
    w.ok(&["tick", "--now", "2026-04-30T08:15"]);
    let got = smtp.wait_for(2, Duration::from_secs(10));
    assert_eq!(got.len(), 2, "the one documented repeat");
    assert_eq!(
        parse(&got[0]).message_id,
        parse(&got[1]).message_id,
        "same Message-ID"
    );
    let rows = json(
        &w.ok(&["outbox", "--status", "sent", "--format", "json"])
            .stdout,
    );
    assert_eq!(rows.as_array().unwrap().len(), 2, "the mail and its item");
}

/// Four connections at once, all killed while the server holds its answer after DATA:
/// the four mails in flight are the only ones sent twice (after the lease), each time
/// with the same Message-ID, and every row ends up sent.
#[test]
fn a_tick_killed_mid_send_over_four_connections_repeats_at_most_the_four_in_flight() {
    const N: usize = 20;
    let smtp = SmtpServer::start();
    let mut w = World::with_register(Backend::Sqlite, smtp.port, &like_t1(N));
    w.env
        .push(("IOPD__MAIL__SMTP__POOL_SIZE".into(), "4".into()));
    w.env.push(("IOPD__MAIL__CALENDAR".into(), "none".into()));
    kill_tick_while_the_server_holds(&w, &smtp, 4);
    assert_eq!(smtp.held(), 4, "no more than one mail per connection");
    smtp.set_mode(Mode::Accept);
    assert_eq!(smtp.wait_for(4, Duration::from_secs(10)).len(), 4);

    // Within the lease nothing moves; after it, everything goes out.
    w.ok(&["tick", "--now", "2026-04-30T08:06"]);
    assert_eq!(smtp.received().len(), 4);
    w.ok(&["tick", "--now", "2026-04-30T08:15"]);
    let got = smtp.wait_for(N + 4, Duration::from_secs(20));
    w.ok(&["tick", "--now", "2026-04-30T08:30"]);
    assert_eq!(
        smtp.received().len(),
        N + 4,
        "the four in flight, and no more, twice"
    );
    let mut by_key: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for r in &got {
        let m = parse(r);
        by_key.entry(m.key).or_default().push(m.message_id);
    }
    assert_eq!(by_key.len(), N, "every mail arrived");
    let twice: Vec<_> = by_key.values().filter(|ids| ids.len() > 1).collect();
    assert_eq!(twice.len(), 4, "{by_key:#?}");
    assert!(twice.iter().all(|ids| ids.len() == 2 && ids[0] == ids[1]));
    let sent = json(
        &w.ok(&["outbox", "--status", "sent", "--format", "json"])
            .stdout,
    );
    assert_eq!(sent.as_array().unwrap().len(), 2 * N, "every mail and item");
}

#[test]
fn redirect_and_kill_switch() {
    let smtp = SmtpServer::start();
    let mut w = world(Backend::Sqlite, &smtp);
    w.env.push(("IOPD__MAIL__ENABLED".into(), "false".into()));
    let r = w.ok(&["tick", "--now", "2026-04-30T08:05"]);
    assert!(
        r.stdout
            .contains("utskicken är avstängda (mail.enabled = false)"),
        "{}",
        r.stdout
    );
    assert!(smtp.received().is_empty());
    w.env.pop();
    w.env.push((
        "IOPD__MAIL__REDIRECT_ALL_TO".into(),
        "test@example.org".into(),
    ));
    w.ok(&["tick", "--now", "2026-04-30T08:05"]);
    let got = smtp.wait_for(2, Duration::from_secs(10));
    assert_eq!(got.len(), 2, "the mail of the day and the invite");
    for r in &got {
        assert_eq!(r.to, vec!["test@example.org"]);
        let m = parse(r);
        assert!(
            m.text.contains("olle@example.org"),
            "the original recipient is listed: {}",
            m.text
        );
    }
}

#[test]
fn routing_is_configuration() {
    let smtp = SmtpServer::start();
    let w = world(Backend::Sqlite, &smtp);
    let base = std::fs::read_to_string(&w.config).unwrap();
    std::fs::write(&w.config, format!("{base}\n[reminders.routing.planning]\nto = [\"officer\", \"deputy\"]\ncc = [\"boss\"]\n")).unwrap();
    let r = w.refused(&["check-config"]);
    assert!(
        r.stderr
            .contains("reminders.routing.planning.cc: \"boss\" is not a role"),
        "{}",
        r.stderr
    );
    std::fs::write(
        &w.config,
        format!("{base}\n[reminders.routing.planning]\nto = [\"officer\", \"deputy\"]\n"),
    )
    .unwrap();
    // The planning stage now also goes to the deputy (each with the invite).
    w.ok(&["tick", "--now", "2026-04-30T08:05"]);
    let got = smtp.wait_for(4, Duration::from_secs(10));
    let mut to: Vec<String> = got.iter().flat_map(|r| r.to.clone()).collect();
    to.sort();
    assert_eq!(
        to,
        vec![
            "dora@example.org",
            "dora@example.org",
            "olle@example.org",
            "olle@example.org"
        ]
    );
}

/// A relay that refuses the login (535) or wants one first (530): the mail
/// waits in the outbox and is retried, the password never reaches the log or
/// the outbox, and nothing is sent twice once the relay accepts.
#[test]
fn refused_logins_are_retried_and_the_password_stays_secret() {
    const PASSWORD: &str = "hemligt-lösen-535";
    // Credentials only ever travel encrypted (check-config refuses otherwise).
    let cert = support::smtp::TestCert::localhost();
    let smtp = SmtpServer::start_with(support::smtp::Options {
        auth: Some(("iopd".into(), PASSWORD.into())),
        tls: support::smtp::ServerTls::Starttls(cert.clone()),
        xoauth2: None,
    });
    let mut w = world(Backend::Sqlite, &smtp);
    w.env.push(("IOPD__MAIL__CALENDAR".into(), "none".into()));
    let secret = w.write("smtp-password", PASSWORD);
    let ca = w.write("ca.pem", &cert.pem);
    w.env
        .push(("IOPD__MAIL__SMTP__TLS".into(), "starttls".into()));
    w.env.push((
        "IOPD__MAIL__SMTP__CA_FILE".into(),
        path_str(&ca).to_string(),
    ));
    w.env
        .push(("IOPD__MAIL__SMTP__USERNAME".into(), "iopd".into()));
    w.env.push((
        "IOPD__MAIL__SMTP__PASSWORD_FILE".into(),
        path_str(&secret).to_string(),
    ));

    smtp.set_mode(Mode::AuthReject);
    let r = w.ok(&["tick", "--now", "2026-04-30T08:05"]);
    assert!(r.stdout.contains("0 sent, 1 to retry"), "{}", r.stdout);
    assert!(!r.stdout.contains(PASSWORD) && !r.stderr.contains(PASSWORD));
    let pending = w.ok(&["outbox", "--status", "pending", "--format", "json"]);
    assert!(!pending.stdout.contains(PASSWORD));
    let pending = mails(json(&pending.stdout));
    assert_eq!(pending.len(), 1);
    let error = pending[0]["last_error"].as_str().unwrap();
    assert!(error.contains("535"), "{error}");

    // Still refused after the backoff: still waiting, not failed.
    let r = w.ok(&["tick", "--now", "2026-04-30T08:07"]);
    assert!(r.stdout.contains("1 to retry"), "{}", r.stdout);

    smtp.set_mode(Mode::Accept);
    w.ok(&["tick", "--now", "2026-04-30T08:15"]);
    let got = smtp.wait_for(1, Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].user.as_deref(), Some("iopd"));
    assert!(got[0].tls, "the login went over an unencrypted session");
    w.ok(&["tick", "--now", "2026-04-30T09:15"]);
    assert_eq!(smtp.received().len(), 1);
    let failed = json(
        &w.ok(&["outbox", "--status", "failed", "--format", "json"])
            .stdout,
    );
    assert!(failed.as_array().unwrap().is_empty(), "{failed:#}");
}

/// A quoted local part (`"john doe"@example.org`) is valid RFC 5322 but
/// cannot be sent. The import and `record` refuse it at the door; where an
/// older version stored one, it costs that partnership's new mail only: the
/// tick exits 0 and names the row, and every other mail goes out, also those
/// already waiting in the outbox.
#[test]
fn an_unsendable_address_costs_only_its_own_mail() {
    const QUOTED: &str = "\"john doe\"@example.org";
    for backend in BACKENDS {
        let mut smtp = SmtpServer::start();
        let csv = format!("{T1}T2;Andra föreningen;kbn;Per Persson;per@example.org;;2025-12-01\n");
        let w = World::with_register(backend, smtp.port, &csv);

        // The doors.
        let bad = w.write(
            "bad.csv",
            "id;organisation;committee;officer_name;officer_email;start_date\n\
             T3;Tredje;kbn;John Doe;\"\"\"john doe\"\"@example.org\";2025-12-01\n",
        );
        let r = w.refused(&["import", path_str(&bad), "--now", "2026-04-01"]);
        assert!(
            r.stderr.contains("officer_email") && r.stderr.contains("john doe"),
            "{backend:?}: the import names the field and value:\n{}",
            r.stderr
        );
        let r = w.refused(&[
            "record",
            "officer-replaced",
            "-p",
            "T1",
            "--name",
            "John Doe",
            "--email",
            QUOTED,
            "--now",
            "2026-04-01",
        ]);
        assert!(r.stderr.contains("--email"), "{backend:?}: {}", r.stderr);

        // Planning mails for both wait while the server is down.
        smtp.down();
        w.ok(&["tick", "--now", "2026-04-30T08:05"]);
        assert!(smtp.received().is_empty());
        // An older version wrote the unsendable address into T2's row.
        w.sql(&format!(
            "UPDATE partnerships SET officer_email = '{}' WHERE id = 'T2'",
            QUOTED.replace('\'', "''")
        ));
        smtp.up();

        let r = w.ok(&["tick", "--now", "2026-05-22T08:05"]);
        assert!(
            r.stderr.contains("T2") && r.stderr.contains("officer_email"),
            "{backend:?}: the bad row is named:\n{}",
            r.stderr
        );
        assert!(
            r.stdout.contains("1 partnerships unreadable"),
            "{backend:?}: counted in the summary:\n{}",
            r.stdout
        );
        smtp.wait_for(4, Duration::from_secs(10));
        // Long enough for a fifth mail to arrive, were one sent.
        std::thread::sleep(Duration::from_millis(300));
        let got = smtp.received();
        let mut to: Vec<String> = got.iter().flat_map(|m| m.to.clone()).collect();
        to.sort();
        // T1: today's reminder (it supersedes the waiting planning mail,
        // RULES 14) and its invite; T2: the planning mail and invite enqueued
        // before its row went bad (their envelopes are sound).
        assert_eq!(
            to,
            vec![
                "olle@example.org",
                "olle@example.org",
                "per@example.org",
                "per@example.org"
            ],
            "{backend:?}"
        );
        assert!(!got.iter().any(|m| m.to.iter().any(|t| t.contains("john"))));
    }
}

/// RULES 14 after an outage: the planning mail waits while the server is
/// down, the reminder stage comes due before it is back, and only the
/// reminder goes out; the planning row is cancelled as superseded.
#[test]
fn after_an_outage_spanning_two_stages_only_the_later_is_sent() {
    for backend in BACKENDS {
        let mut smtp = SmtpServer::start();
        let w = world(backend, &smtp);
        smtp.down();
        w.ok(&["tick", "--now", "2026-04-30T08:05"]);
        w.ok(&["tick", "--now", "2026-05-22T08:05"]);
        smtp.up();
        w.ok(&["tick", "--now", "2026-05-22T09:00"]);
        smtp.wait_for(1, Duration::from_secs(10));
        // Long enough for a second mail to arrive, were one sent.
        std::thread::sleep(Duration::from_millis(300));
        let got = smtp.received();
        // The invite waited longer than mail.max_retry_hours and was given up.
        let (calendar, day) = split(&got);
        assert_eq!(calendar.len(), 0, "{backend:?}");
        assert_eq!(day.len(), 1, "{backend:?}: one mail, not a burst");
        assert_eq!(
            day[0].items,
            vec!["T1/checkin/y0-w1|2026-05-29|d-7|olle@example.org"],
            "{backend:?}: the reminder only"
        );
        let out = w.ok(&["outbox", "--status", "cancelled", "--format", "json"]);
        let rows = json(&out.stdout);
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), 2, "{backend:?}: {rows:?}");
        let item = rows.iter().find(|r| r["item"] == true).unwrap();
        let failed = w.ok(&["outbox", "--status", "failed", "--format", "json"]);
        assert!(failed.stdout.contains("invite-0"), "{}", failed.stdout);
        assert_eq!(item["stage"], "d-28");
        assert_eq!(item["last_error"], "superseded by a later stage");
        let mail = rows.iter().find(|r| r["item"] == false).unwrap();
        assert_eq!(mail["last_error"], "replaced by a newer mail of the day");
    }
}

/// The escalation goes to IOP-ansvarig with a copy to the advisory mailbox;
/// a 550 for the copy's address fails that copy only, with the server's
/// answer as its reason, and IOP-ansvarig's mail goes out.
#[test]
fn a_5xx_for_one_of_two_recipients_fails_that_one_only() {
    for backend in BACKENDS {
        let smtp = SmtpServer::start();
        smtp.refuse("iop@example.org");
        let w = world(backend, &smtp);
        let r = w.ok(&["tick", "--now", "2026-06-24T08:05"]);
        assert!(r.stdout.contains("1 sent"), "{backend:?}: {}", r.stdout);
        assert!(r.stdout.contains("1 failed"), "{backend:?}: {}", r.stdout);
        let got = smtp.wait_for(1, Duration::from_secs(10));
        assert_eq!(got.len(), 1, "{backend:?}");
        assert_eq!(got[0].to, vec!["iop-ansvarig@example.org"]);
        let failed = mails(json(
            &w.ok(&["outbox", "--status", "failed", "--format", "json"])
                .stdout,
        ));
        assert_eq!(failed.len(), 1, "{backend:?}: {failed:?}");
        assert_eq!(failed[0]["recipient"], "iop@example.org");
        assert!(
            failed[0]["last_error"]
                .as_str()
                .unwrap_or_default()
                .contains("550"),
            "{backend:?}: {failed:?}"
        );
    }
}

/// A mail of the day waiting for the server is made again when a checkpoint
/// it carries closes: the officer's mail for T1 and T2 waits while the server
/// is down, T1's check-in is recorded, and the mail that goes out carries T2
/// only. T1's entry, enqueued before the check-in was known, goes out and is
/// withdrawn after it.
#[test]
fn a_waiting_mail_of_the_day_drops_a_checkpoint_that_closed() {
    for backend in BACKENDS {
        let mut smtp = SmtpServer::start();
        let csv =
            format!("{T1}T2;Andra föreningen;kbn;Olle Officer;olle@example.org;;2025-12-01\n");
        let w = World::with_register(backend, smtp.port, &csv);
        smtp.down();
        w.ok(&["tick", "--now", "2026-04-30T08:05"]);
        let waiting = mails(json(
            &w.ok(&["outbox", "--status", "pending", "--format", "json"])
                .stdout,
        ));
        let day: Vec<_> = waiting.iter().filter(|r| r["stage"] == "bundle").collect();
        assert_eq!(
            day.len(),
            1,
            "{backend:?}: one mail of the day for both: {waiting:#?}"
        );
        w.ok(&[
            "record",
            "checkin-held",
            "-p",
            "T1",
            "--on",
            "2026-04-30",
            "--now",
            "2026-04-30T14:00",
        ]);
        w.ok(&["tick", "--now", "2026-04-30T14:05"]);
        smtp.up();
        w.ok(&["tick", "--now", "2026-04-30T15:00"]);
        smtp.wait_for(4, Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(300));
        let got: Vec<_> = smtp.received().iter().map(parse).collect();
        let days: Vec<_> = got.iter().filter(|m| m.key.starts_with("day|")).collect();
        assert_eq!(
            days.len(),
            1,
            "{backend:?}: {:?}",
            got.iter().map(|m| &m.key).collect::<Vec<_>>()
        );
        assert_eq!(
            days[0].items,
            vec!["T2/checkin/y0-w1|2026-05-29|d-28|olle@example.org"],
            "{backend:?}"
        );
        let mut calendar: Vec<(String, String)> = got
            .iter()
            .filter(|m| !m.calendar_method.is_empty())
            .map(|m| (m.key.clone(), m.calendar_method.clone()))
            .collect();
        calendar.sort();
        assert_eq!(
            calendar,
            vec![
                (
                    "T1/checkin/y0-w1|2026-05-29|cancel-1|olle@example.org".to_string(),
                    "CANCEL".to_string()
                ),
                (
                    "T1/checkin/y0-w1|2026-05-29|invite-0|olle@example.org".to_string(),
                    "REQUEST".to_string()
                ),
                (
                    "T2/checkin/y0-w1|2026-05-29|invite-0|olle@example.org".to_string(),
                    "REQUEST".to_string()
                ),
            ],
            "{backend:?}"
        );
        assert_eq!(got.len(), 4, "{backend:?}");
    }
}

/// One officer with 25 planning stages on one day: one mail, the first 10 in
/// full and the other 15 by their headline, carrying all 25.
#[test]
fn a_long_day_stays_one_readable_mail() {
    let mut csv = String::from("id;organisation;committee;officer_name;officer_email;start_date\n");
    for i in 0..25 {
        csv.push_str(&format!(
            "P{i:02};Förening {i};kbn;Olle Officer;olle@example.org;2025-12-01\n"
        ));
    }
    let smtp = SmtpServer::start();
    let mut w = World::with_register(Backend::Sqlite, smtp.port, &csv);
    w.env.push(("IOPD__MAIL__CALENDAR".into(), "none".into()));
    w.ok(&["tick", "--now", "2026-04-30T08:05"]);
    smtp.wait_for(1, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    let got: Vec<_> = smtp.received().iter().map(parse).collect();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.items.len(), 25, "{:?}", m.items);
    assert!(m.subject.ends_with("(+24 till)"), "{}", m.subject);
    assert!(
        m.text.contains(
            "I dag gäller det 25 kontrollpunkter, det mest brådskande först (här de 10 första; resten står sist):"
        ),
        "{}",
        m.text
    );
    assert!(
        m.text.contains("Och 15 till, i samma ordning:"),
        "{}",
        m.text
    );
    assert_eq!(
        m.text.matches("Registrera").count() + m.text.matches("Meddela IOP-ansvarig").count(),
        10,
        "{}",
        m.text
    );
    let sent = json(
        &w.ok(&["outbox", "--status", "sent", "--format", "json"])
            .stdout,
    );
    assert_eq!(
        sent.as_array().unwrap().len(),
        26,
        "25 items and their mail"
    );
}

/// A calendar entry comes again only when it changes: T1's start date is
/// corrected after its invite went out, which moves the check-in's due date;
/// the next tick sends the entry with SEQUENCE 1 and the new date, and a tick
/// after that sends nothing more.
#[test]
fn a_moved_date_updates_the_entry_once() {
    let smtp = SmtpServer::start();
    let w = world(Backend::Sqlite, &smtp);
    w.ok(&["tick", "--now", "2026-04-30T08:05"]);
    smtp.wait_for(2, Duration::from_secs(10));
    let moved = w.write(
        "moved.csv",
        "id;organisation;committee;officer_name;officer_email;deputy_email;start_date\n\
         T1;Testföreningen;kbn;Olle Officer;olle@example.org;dora@example.org;2025-12-15\n",
    );
    w.ok(&["import", path_str(&moved), "--now", "2026-05-04T07:00"]);
    w.ok(&["tick", "--now", "2026-05-04T08:05"]);
    w.ok(&["tick", "--now", "2026-05-05T08:05"]);
    std::thread::sleep(Duration::from_millis(300));
    let got: Vec<_> = smtp.received().iter().map(parse).collect();
    let calendar: Vec<_> = got
        .iter()
        .filter(|m| !m.calendar_method.is_empty())
        .collect();
    assert_eq!(
        calendar.len(),
        2,
        "{:?}",
        got.iter().map(|m| &m.key).collect::<Vec<_>>()
    );
    let update = calendar[1];
    assert_eq!(update.calendar_method, "REQUEST");
    assert!(update.key.contains("|invite-1|"), "{}", update.key);
    assert!(
        update.subject.starts_with("[IOP] Ändrad kalenderpost: "),
        "{}",
        update.subject
    );
    let ics = unfolded(&update.calendar);
    assert!(ics.contains("UID:T1/checkin/y0-w1@iopd"), "{ics}");
    assert!(ics.contains("SEQUENCE:1"), "{ics}");
    assert!(!ics.contains("DTSTART;VALUE=DATE:20260529"), "{ics}");
}
