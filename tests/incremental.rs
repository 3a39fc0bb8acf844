//! Incremental ticks: a tick reads only the partnerships whose reminders can
//! have changed, and sends exactly what a tick reading the whole register
//! (`iopd tick --full`) sends. On SQLite and PostgreSQL.
//!
//! T1 is the partnership of tests/delivery.rs: started 2025-12-01, its first
//! check-in window ends Sunday 2026-05-31, so it is due Friday 2026-05-29;
//! påminnelse −7 on Friday 2026-05-22, försenad +7 on Friday 2026-06-05,
//! eskalering +21 = Midsummer Eve 2026-06-19 → Monday 2026-06-22.

mod support;

use support::{BACKENDS, Backend, World, json, path_str};

const T1: &str = "id;organisation;committee;officer_name;officer_email;deputy_email;start_date\n\
T1;Testföreningen;kbn;Olle Officer;olle@example.org;dora@example.org;2025-12-01\n";

/// Runs SQL on the world's database; each row's columns joined by `|`
/// (cast them to text in the query).
fn sql(w: &World, query: &str) -> Vec<String> {
    use sqlx::{Connection, Row};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        macro_rules! run {
            ($conn:ty) => {{
                let mut c = <$conn>::connect(&w.db_url).await.expect("connect");
                let rows = sqlx::query(sqlx::AssertSqlSafe(query.to_owned()))
                    .fetch_all(&mut c)
                    .await
                    .expect(query);
                rows.iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| {
                                r.try_get::<Option<String>, _>(i)
                                    .unwrap_or_default()
                                    .unwrap_or_default()
                            })
                            .collect::<Vec<_>>()
                            .join("|")
                    })
                    .collect::<Vec<_>>()
            }};
        }
        match w.backend {
            Backend::Sqlite => run!(sqlx::SqliteConnection),
            Backend::Postgres => run!(sqlx::PgConnection),
        }
    })
}

/// How many partnerships the tick evaluated, from its last output line.
fn evaluated(stdout: &str) -> usize {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.contains("partnerships evaluated"))
        .unwrap_or_else(|| panic!("no evaluated figure in:\n{stdout}"));
    let before = line
        .split(" partnerships evaluated")
        .next()
        .unwrap_or_default();
    before
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number in {line:?}"))
}

/// The outbox as (key, status, send date, late), sorted; the reminder stages
/// and calendar mails a tick enqueues, not the mails of the day that carry
/// the stages.
fn outbox(w: &World) -> Vec<String> {
    let rows = json(
        &w.ok(&["outbox", "--format", "json", "--limit", "100000"])
            .stdout,
    );
    let mut v: Vec<String> = rows
        .as_array()
        .expect("array")
        .iter()
        .filter(|r| r["stage"] != "bundle")
        .map(|r| {
            format!(
                "{} {} {} {}",
                r["key"].as_str().unwrap_or_default(),
                r["status"].as_str().unwrap_or_default(),
                r["send_on"].as_str().unwrap_or_default(),
                r["late"]
            )
        })
        .collect();
    v.sort();
    v
}

/// The stored checkpoint counts summed (what /metrics shows), sorted.
fn counts(w: &World) -> Vec<String> {
    let mut sum = std::collections::BTreeMap::<String, u64>::new();
    for c in sql(w, "SELECT counts FROM evaluations") {
        let m: std::collections::BTreeMap<String, u64> = serde_json::from_str(&c).expect("json");
        for (k, n) in m {
            *sum.entry(k).or_default() += n;
        }
    }
    sum.into_iter().map(|(k, n)| format!("{k}={n}")).collect()
}

fn next_check(w: &World, id: &str) -> String {
    sql(
        w,
        &format!("SELECT CAST(next_check AS TEXT) FROM evaluations WHERE partnership_id = '{id}'"),
    )
    .pop()
    .unwrap_or_default()
}

fn days(from: &str, to: &str) -> Vec<String> {
    let mut d = chrono::NaiveDate::parse_from_str(from, "%Y-%m-%d").unwrap();
    let end = chrono::NaiveDate::parse_from_str(to, "%Y-%m-%d").unwrap();
    let mut out = Vec::new();
    while d <= end {
        out.push(d.to_string());
        d = d.succ_opt().unwrap();
    }
    out
}

/// Over four months of simulated days, with an outage, events recorded
/// between ticks, a postponement, a re-import that changes a row, a notice
/// and a retraction, a check-in that makes windows missed, one named for its
/// window, a waiver and its retraction, and a configuration change (a meeting moved, a quiet
/// period added), incremental ticks enqueue exactly what full passes enqueue,
/// and the counts they store are the full pass's.
#[test]
fn incremental_ticks_enqueue_what_full_passes_enqueue() {
    for backend in BACKENDS {
        let inc = World::new(backend);
        let full = World::new(backend);
        for w in [&inc, &full] {
            w.import_example();
        }
        let mut evaluated_inc = 0;
        let mut evaluated_full = 0;
        let mut postponed = false;
        for day in days("2026-09-01", "2027-01-15") {
            // An outage: no tick at all for two weeks.
            if ("2026-10-05".."2026-10-19").contains(&day.as_str()) {
                continue;
            }
            let at = |t: &str| format!("{day}T{t}");
            let both = |args: &[&str]| {
                for w in [&inc, &full] {
                    w.ok(args);
                }
            };
            let tick = |t: &str| {
                let a = inc.ok(&["tick", "--now", &at(t)]);
                let b = full.ok(&["tick", "--full", "--now", &at(t)]);
                (evaluated(&a.stdout), evaluated(&b.stdout))
            };
            // Before send_at: a closed tick.
            let (a, b) = tick("07:30");
            evaluated_inc += a;
            evaluated_full += b;
            match day.as_str() {
                "2026-09-10" => both(&[
                    "record",
                    "checkin-held",
                    "-p",
                    "KUB/2021:101",
                    "--on",
                    "2026-09-10",
                    "--now",
                    &at("07:40"),
                ]),
                "2026-09-21" => both(&[
                    "record",
                    "officer-absent",
                    "-p",
                    "HSN/2022:310",
                    "--from",
                    "2026-09-28",
                    "--to",
                    "2026-10-20",
                    "--now",
                    &at("07:40"),
                ]),
                "2026-11-02" => {
                    // A re-import changes a deputy.
                    for w in [&inc, &full] {
                        let csv = std::fs::read_to_string(support::example_csv())
                            .unwrap()
                            .replace(
                                "KUB/2022:057;Värmlands Idéburna;kbn;Erik Berg;erik.berg@example.org;anna.lindqvist@example.org",
                                "KUB/2022:057;Värmlands Idéburna;kbn;Erik Berg;erik.berg@example.org;ny.ersattare@example.org",
                            );
                        let f = w.write("changed.csv", csv);
                        w.ok(&["import", path_str(&f), "--now", &at("07:40")]);
                    }
                }
                "2026-11-16" => {
                    // The configuration changes: a meeting moves, a quiet period.
                    for w in [&inc, &full] {
                        let toml = std::fs::read_to_string(&w.config)
                            .unwrap()
                            .replace("\"2026-12-17\"", "\"2026-12-10\"")
                            .replace(
                                "# quiet = [{ from = \"06-19\", to = \"08-09\" }]",
                                "quiet = [{ from = \"12-21\", to = \"01-06\" }]",
                            );
                        std::fs::write(&w.config, toml).unwrap();
                    }
                }
                // RULES 16 and 17: a check-in in window y2-w3 makes the
                // overdue y2-w2 (and the windows before it) missed; later one
                // named for y2-w2 closes it late (RULES 15).
                "2026-09-24" => both(&[
                    "record",
                    "checkin-held",
                    "-p",
                    "KUB/2024:029",
                    "--on",
                    "2026-09-24",
                    "--now",
                    &at("07:40"),
                ]),
                "2026-11-05" => both(&[
                    "record",
                    "checkin-held",
                    "-p",
                    "KUB/2024:029",
                    "--for",
                    "KUB/2024:029/checkin/y2-w2",
                    "--on",
                    "2026-11-05",
                    "--now",
                    &at("07:40"),
                ]),
                // RULES 17: a waiver stops the annual report's reminders …
                "2026-10-27" => both(&[
                    "record",
                    "checkpoint-waived",
                    "-p",
                    "KUB/2024:029",
                    "--for",
                    "KUB/2024:029/annual_report/y2",
                    "--reason",
                    "Ersatt av revisionens granskning",
                    "--now",
                    &at("07:40"),
                ]),
                "2026-11-23" => both(&[
                    "record",
                    "notice-given",
                    "-p",
                    "HSN/2023:201",
                    "--party",
                    "partner",
                    "--on",
                    "2026-11-23",
                    "--now",
                    &at("07:40"),
                ]),
                _ => {}
            }
            let (a, b) = tick("08:05");
            evaluated_inc += a;
            evaluated_full += b;
            // Between two ticks of one day: an officer replaced, a
            // postponement, a retraction.
            match day.as_str() {
                "2026-10-01" => both(&[
                    "record",
                    "officer-replaced",
                    "-p",
                    "KUB/2023:012",
                    "--name",
                    "Nils Ny",
                    "--email",
                    "nils.ny@example.org",
                    "--from",
                    "2026-10-01",
                    "--now",
                    &at("10:00"),
                ]),
                "2026-12-01" => {
                    let id = sql(
                        &inc,
                        "SELECT CAST(id AS TEXT) FROM events WHERE kind = 'checkin_held' ORDER BY id LIMIT 1",
                    )
                    .pop()
                    .expect("the check-in");
                    both(&[
                        "record",
                        "retraction",
                        "-p",
                        "KUB/2021:101",
                        "--event",
                        &id,
                        "--now",
                        &at("10:00"),
                    ]);
                }
                // … until it is retracted (RULES 17: the waiver reopens).
                "2026-12-14" => {
                    let id = sql(
                        &inc,
                        "SELECT CAST(id AS TEXT) FROM events WHERE kind = 'checkpoint_waived' ORDER BY id LIMIT 1",
                    )
                    .pop()
                    .expect("the waiver");
                    both(&[
                        "record",
                        "retraction",
                        "-p",
                        "KUB/2024:029",
                        "--event",
                        &id,
                        "--now",
                        &at("10:00"),
                    ]);
                }
                // The notice withdrawn: its checkpoints are cancelled and
                // their calendar entries withdrawn (RULES 9).
                "2026-12-07" => {
                    let id = sql(
                        &inc,
                        "SELECT CAST(id AS TEXT) FROM events WHERE kind = 'notice_given' ORDER BY id LIMIT 1",
                    )
                    .pop()
                    .expect("the notice");
                    both(&[
                        "record",
                        "retraction",
                        "-p",
                        "HSN/2023:201",
                        "--event",
                        &id,
                        "--now",
                        &at("10:00"),
                    ]);
                }
                _ => {}
            }
            if !postponed && day.as_str() >= "2026-10-20" {
                // "Jag behöver mer tid" for a checkpoint just reminded before its due date.
                let row = sql(
                    &inc,
                    &format!(
                        "SELECT checkpoint_key || '|' || partnership_id || '|' || CAST(due_date AS TEXT) FROM outbox \
                         WHERE stage IN ('d-28', 'd-7') AND CAST(send_on AS TEXT) = '{day}' ORDER BY key LIMIT 1"
                    ),
                )
                .pop();
                if let Some(row) = row {
                    let mut parts = row.split('|');
                    let (cp, pid, due) = (
                        parts.next().unwrap(),
                        parts.next().unwrap(),
                        parts.next().unwrap(),
                    );
                    let recorded = match backend {
                        Backend::Sqlite => "0",
                        Backend::Postgres => "now()",
                    };
                    for w in [&inc, &full] {
                        sql(
                            w,
                            &format!(
                                "INSERT INTO postponements (checkpoint_key, partnership_id, due_date, until_date, \
                                 recorded_at, recorded_by) VALUES ('{cp}', '{pid}', '{due}', '{due}', {recorded}, 'test')"
                            ),
                        );
                    }
                    postponed = true;
                }
            }
            let (a, b) = tick("12:00");
            evaluated_inc += a;
            evaluated_full += b;
            assert_eq!(
                outbox(&inc),
                outbox(&full),
                "{backend:?}: the outboxes differ after {day}"
            );
            assert_eq!(counts(&inc), counts(&full), "{backend:?}: counts on {day}");
        }
        assert!(postponed, "a postponement was made");
        let sent = outbox(&inc);
        assert!(
            sent.len() > 40,
            "{backend:?}: reminders were sent: {sent:#?}"
        );
        assert!(
            sent.iter().any(|r| r.contains("nils.ny@example.org")),
            "the replaced officer's mail: {sent:#?}"
        );
        assert!(
            sent.iter().any(|r| r.contains("cancel-")),
            "a withdrawal: {sent:#?}"
        );
        eprintln!(
            "{backend:?}: {evaluated_inc} evaluations incrementally, {evaluated_full} in full passes"
        );
        // The point: far fewer partnerships read.
        assert!(
            evaluated_inc * 4 < evaluated_full,
            "{backend:?}: {evaluated_inc} evaluations against {evaluated_full}"
        );
    }
}

/// A second tick the same day reads nothing; a recording between two ticks
/// of one day is picked up by the next; a configuration change evaluates
/// every partnership again; a dry run advances nothing.
#[test]
fn only_what_can_have_changed_is_read() {
    for backend in BACKENDS {
        let w = World::new(backend);
        w.import_example();
        let first = w.ok(&["tick", "--dry-run", "--now", "2026-11-02T08:05"]);
        assert!(
            first.stdout.contains("9 partnerships evaluated"),
            "{}",
            first.stdout
        );
        assert!(
            sql(&w, "SELECT partnership_id FROM evaluations").is_empty(),
            "dry run writes nothing"
        );
        let first = w.ok(&["tick", "--now", "2026-11-02T08:05"]);
        assert_eq!(evaluated(&first.stdout), 9, "{}", first.stdout);
        let again = w.ok(&["tick", "--now", "2026-11-02T08:10"]);
        assert_eq!(evaluated(&again.stdout), 0, "{}", again.stdout);
        assert!(again.stdout.contains("0 enqueued"), "{}", again.stdout);

        // Recorded between two ticks of one day: read again, and the stage
        // due now goes to the new officer.
        let before = outbox(&w);
        w.ok(&[
            "record",
            "officer-replaced",
            "-p",
            "KUB/2023:012",
            "--name",
            "Nils Ny",
            "--email",
            "nils.ny@example.org",
            "--from",
            "2026-10-01",
            "--now",
            "2026-11-02T09:00",
        ]);
        let after = w.ok(&["tick", "--now", "2026-11-02T09:05"]);
        assert_eq!(evaluated(&after.stdout), 1, "{}", after.stdout);
        let now = outbox(&w);
        let new: Vec<&String> = now.iter().filter(|r| !before.contains(r)).collect();
        // The new officer's stage and calendar entry; the old officer's
        // entry withdrawn.
        assert!(
            new.iter().any(|r| r.contains("nils.ny@example.org")),
            "{backend:?}: {new:#?}"
        );
        assert!(
            new.iter().all(|r| r.contains("KUB/2023:012")
                && (r.contains("nils.ny@example.org") || r.contains("|cancel-"))),
            "{backend:?}: {new:#?}"
        );

        // A configuration change that touches the rules: everything again.
        let toml = std::fs::read_to_string(&w.config)
            .unwrap()
            .replace("escalation_days = 21", "escalation_days = 22");
        std::fs::write(&w.config, toml).unwrap();
        let changed = w.ok(&["tick", "--now", "2026-11-02T09:10"]);
        assert_eq!(evaluated(&changed.stdout), 9, "{}", changed.stdout);
        // One outside the rules (the sender's address): nothing.
        let toml = std::fs::read_to_string(&w.config).unwrap().replace(
            "from = \"iopd@example.org\"",
            "from = \"iopd2@example.org\"",
        );
        std::fs::write(&w.config, toml).unwrap();
        let same = w.ok(&["tick", "--now", "2026-11-02T09:15"]);
        assert_eq!(evaluated(&same.stdout), 0, "{}", same.stdout);
    }
}

/// Saturday and Sunday ticks evaluate T1 but do not move its next check past
/// the reminder that waits; Monday sends it, late, once. A two-week outage
/// ends with the current stage sent once.
#[test]
fn closed_days_keep_waiting_work_and_an_outage_catches_up_once() {
    for backend in BACKENDS {
        let w = World::new(backend);
        let csv = w.write("t1.csv", T1);
        w.ok(&["import", path_str(&csv), "--now", "2026-04-01"]);
        // Planera on Thursday 2026-04-30; nothing then until the reminder.
        w.ok(&["tick", "--now", "2026-04-30T08:05"]);
        assert_eq!(next_check(&w, "T1"), "2026-05-22", "{backend:?}");
        // No tick on Friday 2026-05-22 (the reminder's day); Saturday's is closed.
        let sat = w.ok(&["tick", "--now", "2026-05-23T08:05"]);
        assert!(sat.stdout.contains("är ingen arbetsdag"), "{}", sat.stdout);
        assert_eq!(evaluated(&sat.stdout), 1);
        assert_eq!(
            next_check(&w, "T1"),
            "2026-05-23",
            "{backend:?}: not advanced"
        );
        let sun = w.ok(&["tick", "--now", "2026-05-24T08:05"]);
        assert_eq!(evaluated(&sun.stdout), 1, "{}", sun.stdout);
        assert_eq!(next_check(&w, "T1"), "2026-05-24");
        let mon = w.ok(&["tick", "--now", "2026-05-25T08:05"]);
        assert!(mon.stdout.contains("1 enqueued"), "{}", mon.stdout);
        let rows = outbox(&w);
        // d-28, its invite, d-7.
        assert_eq!(rows.len(), 3, "{rows:#?}");
        assert!(
            rows.contains(
                &"T1/checkin/y0-w1|2026-05-29|d-7|olle@example.org sent 2026-05-22 true"
                    .to_string()
            ),
            "{rows:#?}"
        );
        // Nothing changes before the due day: not read, nothing sent.
        assert_eq!(next_check(&w, "T1"), "2026-05-29");
        let tue = w.ok(&["tick", "--now", "2026-05-26T08:05"]);
        assert_eq!(evaluated(&tue.stdout), 0, "{}", tue.stdout);

        // Down from 2026-05-27 to 2026-06-10: only the overdue stage (+7,
        // Friday 2026-06-05) goes out, late, once; not the due-day mail.
        let back = w.ok(&["tick", "--now", "2026-06-10T08:05"]);
        assert_eq!(evaluated(&back.stdout), 1, "{}", back.stdout);
        let again = w.ok(&["tick", "--now", "2026-06-10T09:05"]);
        assert!(again.stdout.contains("0 enqueued"), "{}", again.stdout);
        let rows = outbox(&w);
        let new: Vec<&String> = rows.iter().filter(|r| r.contains("|d+7|")).collect();
        assert_eq!(rows.len(), 5, "{rows:#?}");
        assert_eq!(new.len(), 2, "officer and deputy: {rows:#?}");
        assert!(
            new.iter().all(|r| r.contains("sent 2026-06-05 true")),
            "{rows:#?}"
        );
        assert!(!rows.iter().any(|r| r.contains("|d0|")), "{rows:#?}");
    }
}

/// A row broken in the database is never marked evaluated, so every tick
/// reads it again and reports it.
#[test]
fn a_broken_row_is_reported_by_every_tick() {
    for backend in BACKENDS {
        let w = World::new(backend);
        w.import_example();
        w.ok(&["tick", "--now", "2026-11-02T08:05"]);
        sql(
            &w,
            "UPDATE partnerships SET officer_email = 'inte en adress' WHERE id = 'KUB/2023:012'",
        );
        for t in ["08:10", "08:15"] {
            let r = w.ok(&["tick", "--now", &format!("2026-11-02T{t}")]);
            assert!(
                r.stderr.contains("officer_email"),
                "{backend:?}: {}",
                r.stderr
            );
            assert_eq!(evaluated(&r.stdout), 0, "{}", r.stdout);
        }
    }
}
