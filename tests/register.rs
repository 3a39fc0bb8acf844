//! The partnership register through the real binary, on SQLite and PostgreSQL.

mod support;

use support::{BACKENDS, Backend, World, json, path_str};

#[test]
fn example_config_is_valid_and_summarised() {
    let w = World::new(Backend::Sqlite);
    let r = w.ok(&["check-config"]);
    assert!(r.stdout.contains("configuration is valid"), "{}", r.stdout);
    assert!(r.stdout.contains("Region Värmland"));
    assert!(
        r.stdout
            .contains("kbn \"Kultur- och bildningsnämnden\": 32 meetings"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("hsn \"Hälso- och sjukvårdsnämnden\": 40 meetings"),
        "{}",
        r.stdout
    );
}

#[test]
fn check_config_lists_every_problem_at_once() {
    let example = std::fs::read_to_string(support::example_config()).unwrap();
    let broken = example
        .replace(
            "email = \"jurist@example.org\"",
            "email = \"jurist.example.org\"",
        )
        .replace("submission_days = 21", "submission_dayz = 21")
        .replace("checkins_per_year = 2", "checkins_per_year = 5")
        .replace(
            "time_zone = \"Europe/Stockholm\"",
            "time_zone = \"Europe/Stockholmm\"",
        )
        .replace("\"2026-02-19\"", "\"2026-02-30\"")
        .replace("max_connections = 5", "max_connections = \"many\"");
    let w = World::with_config(Backend::Sqlite, &broken);
    let r = w.refused(&["check-config"]);
    let e = &r.stderr;
    for expected in [
        "roles.jurist.email: \"jurist.example.org\" är ingen giltig e-postadress",
        "committees.kbn.submission_dayz: unknown key",
        "committees.kbn.submission_days: missing",
        "policy.checkins_per_year: avstämningar per år ska gå jämnt upp i 12",
        "body.time_zone: \"Europe/Stockholmm\" is not an IANA time zone",
        "committees.kbn.meetings[0]: 2026-02-30 är inget datum i kalendern",
        "database.max_connections:",
    ] {
        assert!(e.contains(expected), "missing {expected:?} in:\n{e}");
    }
    // Every line names the file it came from.
    assert!(
        e.contains(&format!("{}: roles.jurist.email", w.config.display())),
        "{e}"
    );
}

#[test]
fn malformed_toml_names_the_file_and_line() {
    let w = World::with_config(Backend::Sqlite, "[body]\nname = \"Region Värmland\n");
    let r = w.refused(&["check-config"]);
    assert!(
        r.stderr.contains(&w.config.display().to_string()),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("line 2") || r.stderr.contains("2:"),
        "{}",
        r.stderr
    );
}

#[test]
fn missing_sections_and_keys_are_named() {
    let w = World::with_config(
        Backend::Sqlite,
        "[body]\n[mail]\ntransport = \"smtp\"\n[bogus]\nx = 1\n",
    );
    let r = w.refused(&["check-config"]);
    for expected in [
        "body.name: missing",
        "roles.iop_ansvarig: missing",
        "committees: missing",
        "mail.from: missing",
        "mail.smtp: missing",
        "bogus: unknown section",
    ] {
        assert!(
            r.stderr.contains(expected),
            "missing {expected:?} in:\n{}",
            r.stderr
        );
    }
}

#[test]
fn environment_overrides_and_stray_variables() {
    let w = World::new(Backend::Sqlite);
    let r = w.ok(&["check-config"]);
    assert!(r.stdout.contains("from iopd@example.org"));
    let r = support::Run::from(
        w.cmd(&["check-config"])
            .env("IOPD__MAIL__FROM", "annan@example.org")
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("from annan@example.org"), "{}", r.stdout);
    // A key with `_` inside is reachable with the `__` separator.
    let r = support::Run::from(
        w.cmd(&["check-config"])
            .env("IOPD__MAIL__SEND_AT", "25:00")
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("mail.send_at: \"25:00\" is not a time"),
        "{}",
        r.stderr
    );
    let r = support::Run::from(
        w.cmd(&["check-config"])
            .env("IOPD__MAIL__SMTP_PORT", "25")
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("mail.smtp_port: unknown key"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("IOPD__MAIL__SMTP_PORT"),
        "the variable is named: {}",
        r.stderr
    );
}

#[test]
fn secrets_never_appear_in_messages() {
    let w = World::new(Backend::Sqlite);
    let secret = w.write("smtp-password", "hemligt-0123\n");
    let cfg = std::fs::read_to_string(&w.config).unwrap().replace(
        "# [mail.smtp]\n# host = \"smtp.example.org\"",
        &format!("[mail.smtp]\nhost = \"smtp.example.org\"\npassword_file = \"{}\"\nusername = \"iopd\"\ntls = \"none\"", path_str(&secret)),
    );
    std::fs::write(&w.config, cfg).unwrap();
    let r = w.refused(&["check-config"]);
    assert!(
        r.stderr
            .contains("mail.smtp.tls: \"none\" is only allowed to a loopback host"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("credentials are never sent unencrypted"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("hemligt"), "secret leaked: {}", r.stderr);
    // A database password in the URL is not shown either.
    let r = support::Run::from(
        w.cmd(&["check-config"])
            .env("IOPD__DATABASE__URL", "mysql://iopd:hemligt@db/iopd")
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("mysql://iopd:***@db/iopd"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("hemligt"), "{}", r.stderr);
}

#[test]
fn import_list_show_and_reimport_on_both_backends() {
    for backend in BACKENDS {
        let w = World::new(backend);
        w.ok(&["migrate", "--now", "2026-09-01"]);
        let csv = support::example_csv();
        let dry = w.ok(&["import", path_str(&csv), "--dry-run", "--now", "2026-09-01"]);
        assert!(
            dry.stdout.contains("skulle läggas till: KUB/2021:101"),
            "{}",
            dry.stdout
        );
        assert!(
            dry.stdout
                .contains("9 rader; att lägga till: 9, att ändra: 0, oförändrade: 0 (provkörning: ingenting har skrivits)"),
            "{}",
            dry.stdout
        );
        let list = json(&w.ok(&["partnerships", "--format", "json"]).stdout);
        assert_eq!(
            list.as_array().unwrap().len(),
            0,
            "dry run wrote nothing ({backend:?})"
        );

        let r = w.ok(&["import", path_str(&csv), "--now", "2026-09-01"]);
        assert!(
            r.stdout
                .contains("9 rader; nya: 9, ändrade: 0, oförändrade: 0\n"),
            "{}",
            r.stdout
        );
        let list = json(&w.ok(&["partnerships", "--format", "json"]).stdout);
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 9);
        let agera = list
            .iter()
            .find(|p| p["id"] == "KUB/2024:140")
            .expect("Agera");
        assert_eq!(agera["organisation"], "Agera Värmland");
        assert_eq!(agera["end_date"], "2027-09-30");
        assert_eq!(agera["annual_amount_ore"], 50_000_000);
        let funk = list.iter().find(|p| p["id"] == "KUB/2024:029").unwrap();
        assert_eq!(funk["start_date"], "2024-02-29");
        assert_eq!(funk["checkins_per_year"], 4);

        // Re-import: nothing duplicated; a changed row is updated by id.
        let changed = std::fs::read_to_string(&csv).unwrap().replace(
            "Frykcenter;hsn;Johan Holm",
            "Frykcentret;Hälso- och SJUKVÅRDSNÄMNDEN;Johan Holm",
        );
        let f = w.write("changed.csv", changed);
        // The dry run shows old → new; the committee given by its name is the same one.
        let r = w.ok(&["import", path_str(&f), "--dry-run", "--now", "2026-09-02"]);
        assert!(
            r.stdout
                .contains("skulle ändras: HSN/2023:045: organisation Frykcenter → Frykcentret\n"),
            "{}",
            r.stdout
        );
        let r = w.ok(&["import", path_str(&f), "--now", "2026-09-02"]);
        assert!(
            r.stdout
                .contains("ändrat: HSN/2023:045: organisation Frykcenter → Frykcentret"),
            "{}",
            r.stdout
        );
        assert!(
            r.stdout
                .contains("9 rader; nya: 0, ändrade: 1, oförändrade: 8"),
            "{}",
            r.stdout
        );
        let list = json(&w.ok(&["partnerships", "--format", "json"]).stdout);
        assert_eq!(list.as_array().unwrap().len(), 9);

        let table = w.ok(&["partnerships"]).stdout;
        assert!(
            table.contains("Frykcentret") && table.contains("\n9 partnerskap\n"),
            "{table}"
        );
        let show = w.ok(&["show", "KUB/2024:140"]).stdout;
        assert!(
            show.contains("Agera Värmland")
                && show.contains("2027-09-30")
                && show.contains("500 000 kr"),
            "{show}"
        );
        let r = w.refused(&["show", "NOPE/1"]);
        assert!(
            r.stderr
                .contains("partnerskapet NOPE/1 finns inte i registret"),
            "{}",
            r.stderr
        );
    }
}

fn header() -> &'static str {
    "id;organisation;committee;officer_name;officer_email;start_date;end_date;annual_amount\n"
}

#[test]
fn a_bad_file_is_refused_whole_with_every_problem() {
    for backend in BACKENDS {
        let w = World::new(backend);
        let body = format!(
            "{}A1;Förening A;kbn;Anna;anna@example.org;2026-01-01;;100\n\
             A2;Förening B;xyz;Bo;bo@example.org;2026-02-30;;100\n\
             A1;Förening C;kbn;Cilla;cilla@example;2026-01-01;2025-01-01;-5\n\
             A4;Förening D;kbn;Dan;dan@example.org;2026-01-01;;100;extra\n",
            header()
        );
        let f = w.write("bad.csv", body);
        let r = w.refused(&["import", path_str(&f), "--now", "2026-09-01"]);
        let name = path_str(&f);
        for expected in [
            format!("{name}: rad 3: committee: nämnden \"xyz\" finns inte i konfigurationen"),
            format!("{name}: rad 3: start_date: 2026-02-30 är inget datum i kalendern"),
            format!("{name}: rad 4: id: id \"A1\" står redan på rad 2"),
            format!("{name}: rad 4: officer_email: \"cilla@example\" är ingen giltig e-postadress"),
            format!(
                "{name}: rad 4: end_date: slutdatumet 2025-01-01 ligger inte efter startdatumet 2026-01-01"
            ),
            format!("{name}: rad 4: annual_amount: beloppet \"-5\" är negativt"),
            format!("{name}: rad 5: raden: har 9 celler men rubrikraden har 8"),
        ] {
            assert!(
                r.stderr.contains(&expected),
                "missing {expected:?} in:\n{}",
                r.stderr
            );
        }
        assert!(r.stderr.contains(&format!(
            "{name}: filen togs inte emot, ingenting har importerats (7 problem):"
        )));
        let list = json(&w.ok(&["partnerships", "--format", "json"]).stdout);
        assert_eq!(
            list.as_array().unwrap().len(),
            0,
            "nothing written ({backend:?})"
        );
    }
}

#[test]
fn csv_edge_cases() {
    let w = World::new(Backend::Sqlite);
    // Windows-1252 (Excel's "CSV (semikolonavgränsad)") is converted, with a note.
    let mut bytes = header().as_bytes().to_vec();
    bytes.extend_from_slice(
        b"W1;Fritidsbanken V\xe4rmland;kbn;Anna;anna@example.org;2026-01-01;;1 250 000\n",
    );
    let f = w.write("ansi.csv", &bytes);
    let r = w.ok(&["import", path_str(&f), "--now", "2026-09-01"]);
    assert!(
        r.stderr
            .contains("ansi.csv: obs: konverterad från Windows-1252"),
        "{}",
        r.stderr
    );
    let list = json(&w.ok(&["partnerships", "--format", "json"]).stdout);
    assert_eq!(list[0]["organisation"], "Fritidsbanken Värmland");
    assert_eq!(list[0]["annual_amount_ore"], 125_000_000);

    let empty = w.write("empty.csv", "");
    let r = w.refused(&["import", path_str(&empty)]);
    assert!(
        r.stderr.contains(&format!("{}:", path_str(&empty))),
        "{}",
        r.stderr
    );

    let missing = w.write("missing.csv", "id;organisation;committee\nX;Y;kbn\n");
    let r = w.refused(&["import", path_str(&missing)]);
    assert!(
        r.stderr
            .contains("missing.csv: rad 1: officer_email: en obligatorisk kolumn saknas"),
        "{}",
        r.stderr
    );

    let r = w.refused(&["import", path_str(&w.path("nonexistent.csv"))]);
    assert!(
        r.stderr.contains("nonexistent.csv: filen kan inte läsas"),
        "{}",
        r.stderr
    );
}

#[test]
fn usage_errors_exit_2() {
    let w = World::new(Backend::Sqlite);
    let r = w.run(&["record", "checkin-held"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = w.run(&["record", "checkin-held", "-p", "X", "--on", "2026-02-30"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("2026-02-30 är inget datum i kalendern"),
        "{}",
        r.stderr
    );
    let r = w.run(&["no-such-command"]);
    assert_eq!(r.code, 2);
}

#[test]
fn record_events_and_refuse_bad_ones_on_both_backends() {
    for backend in BACKENDS {
        let w = World::new(backend);
        w.import_example();
        let now = "2027-03-10T10:00";
        let r = w.ok(&[
            "record",
            "checkin-held",
            "-p",
            "KUB/2021:101",
            "--on",
            "2027-03-02",
            "--now",
            now,
        ]);
        assert!(
            r.stdout.contains(
                "händelse #1 registrerad: Avstämningsmöte hållet (checkin_held) för KUB/2021:101 den 2027-03-02 (av testare)"
            ),
            "{}",
            r.stdout
        );
        w.ok(&[
            "record",
            "annual-report-received",
            "-p",
            "KUB/2021:101",
            "--diarienummer",
            "KUB/2027:12",
            "--now",
            now,
        ]);
        w.ok(&[
            "record",
            "committee-followup-reported",
            "-p",
            "HSN/2022:310",
            "--meeting",
            "2027-02-23",
            "--paragraph",
            "§ 45",
            "--decision",
            "amount-changed",
            "--amount",
            "1 000 000",
            "--amount-from",
            "2027-07-01",
            "--now",
            now,
            "--by",
            "Karin",
        ]);
        w.ok(&[
            "record",
            "officer-absent",
            "-p",
            "KUB/2021:101",
            "--from",
            "2027-03-15",
            "--to",
            "2027-04-25",
            "--now",
            now,
        ]);

        // Bad events: each refused with a clear message, nothing written.
        let r = w.refused(&["record", "checkin-held", "-p", "NOPE/1", "--now", now]);
        assert!(
            r.stderr
                .contains("partnerskapet NOPE/1 finns inte i registret"),
            "{}",
            r.stderr
        );
        let r = w.refused(&[
            "record",
            "checkin-held",
            "-p",
            "KUB/2021:101",
            "--on",
            "2027-03-12",
            "--now",
            now,
        ]);
        assert!(
            r.stderr
                .contains("--on 2027-03-12 ligger efter i morgon (i dag är det 2027-03-10)"),
            "{}",
            r.stderr
        );
        let r = w.refused(&[
            "record",
            "retraction",
            "-p",
            "KUB/2021:101",
            "--event",
            "99",
            "--now",
            now,
        ]);
        assert!(
            r.stderr
                .contains("händelse #99 finns inte för KUB/2021:101"),
            "{}",
            r.stderr
        );
        // Another partnership's event cannot be retracted from here.
        let r = w.refused(&[
            "record",
            "retraction",
            "-p",
            "KUB/2021:101",
            "--event",
            "3",
            "--now",
            now,
        ]);
        assert!(
            r.stderr.contains("händelse #3 finns inte för KUB/2021:101"),
            "{}",
            r.stderr
        );
        let r = w.refused(&[
            "record",
            "annual-report-received",
            "-p",
            "KUB/2021:101",
            "--diarienummer",
            " ",
            "--now",
            now,
        ]);
        assert!(r.stderr.contains("--diarienummer är tomt"), "{}", r.stderr);
        let r = w.refused(&[
            "record",
            "committee-followup-reported",
            "-p",
            "HSN/2022:310",
            "--meeting",
            "2027-02-23",
            "--paragraph",
            "§ 1",
            "--decision",
            "amount-changed",
            "--now",
            now,
        ]);
        assert!(
            r.stderr.contains("kräver --amount och --amount-from"),
            "{}",
            r.stderr
        );
        let r = w.refused(&[
            "record",
            "checkin-held",
            "-p",
            "KUB/2024:140",
            "--on",
            "2024-09-01",
            "--now",
            now,
        ]);
        assert!(
            r.stderr
                .contains("--on 2024-09-01 ligger före överenskommelsens start (2024-10-01)"),
            "{}",
            r.stderr
        );

        // Retraction keeps the history.
        w.ok(&[
            "record",
            "retraction",
            "-p",
            "KUB/2021:101",
            "--event",
            "1",
            "--now",
            now,
        ]);
        let r = w.refused(&[
            "record",
            "retraction",
            "-p",
            "KUB/2021:101",
            "--event",
            "1",
            "--now",
            now,
        ]);
        assert!(
            r.stderr.contains("händelse #1 är redan ångrad"),
            "{}",
            r.stderr
        );
        let show = json(&w.ok(&["show", "KUB/2021:101", "--format", "json"]).stdout);
        let events = show["events"].as_array().unwrap();
        assert_eq!(events.len(), 4, "{show}");
        assert_eq!(events[0]["kind"]["kind"], "checkin_held");
        assert_eq!(events[0]["retracted"], true);
        assert_eq!(events[1]["kind"]["diarienummer"], "KUB/2027:12");
        assert_eq!(events[1]["on"], "2027-03-10", "--on defaults to today");
        assert_eq!(events[3]["kind"]["kind"], "retraction");
        let text = w.ok(&["show", "HSN/2022:310"]).stdout;
        assert!(
            text.contains("Uppföljning behandlad i nämnden")
                && text.contains("§ 45")
                && text.contains("av Karin via cli"),
            "{text}"
        );

        // Notice on an agreement that has already ended is refused.
        w.ok(&[
            "record",
            "notice-given",
            "-p",
            "HSN/2023:201",
            "--party",
            "partner",
            "--on",
            "2026-10-05",
            "--now",
            "2026-10-05",
        ]);
        let r = w.refused(&[
            "record",
            "notice-given",
            "-p",
            "HSN/2023:201",
            "--party",
            "body",
            "--on",
            "2027-03-01",
            "--now",
            now,
        ]);
        assert!(
            r.stderr
                .contains("HSN/2023:201 har redan upphört (2027-01-05)"),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn events_are_append_only_in_the_database() {
    for backend in BACKENDS {
        let w = World::new(backend);
        w.import_example();
        w.ok(&[
            "record",
            "checkin-held",
            "-p",
            "KUB/2021:101",
            "--now",
            "2027-01-10",
        ]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = rt.block_on(async {
            use sqlx::Connection;
            match backend {
                Backend::Sqlite => {
                    let mut c = sqlx::SqliteConnection::connect(&w.db_url).await.unwrap();
                    sqlx::query("DELETE FROM events")
                        .execute(&mut c)
                        .await
                        .unwrap_err()
                }
                Backend::Postgres => {
                    let mut c = sqlx::PgConnection::connect(&w.db_url).await.unwrap();
                    sqlx::query("UPDATE events SET kind = 'x'")
                        .execute(&mut c)
                        .await
                        .unwrap_err()
                }
            }
        });
        assert!(
            err.to_string().contains("append-only"),
            "{backend:?}: {err}"
        );
    }
}

/// `record` run with no `USER` (root under cron or systemd) stores the
/// uid's name, not "unknown"; and every run exits within seconds after its
/// work is done (a pool close that never returned once kept one spinning).
#[test]
fn record_names_who_ran_it_and_always_exits_promptly() {
    let w = World::new(Backend::Sqlite);
    w.import_example();
    let me = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    let me = String::from_utf8(me.stdout).unwrap().trim().to_string();
    let mut cmd = w.cmd(&[
        "record",
        "checkin-held",
        "-p",
        "KUB/2021:101",
        "--on",
        "2027-03-02",
        "--now",
        "2027-03-03",
    ]);
    cmd.env_remove("USER")
        .env_remove("LOGNAME")
        .env_remove("SUDO_USER");
    let r = support::Run::from(cmd.output().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(&format!("(av {me})")), "{}", r.stdout);

    for i in 0..500 {
        let started = std::time::Instant::now();
        let mut child = w
            .cmd(&[
                "record",
                "annual-report-received",
                "-p",
                "KUB/2021:101",
                "--diarienummer",
                &format!("KUB/2027:{i}"),
                "--now",
                "2027-03-03",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "run {i}");
                break;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "record run {i} still running after 5 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

/// The spreadsheet a coordinator has, saved by Excel as Windows-1252 and as
/// UTF-8 with BOM: committee names instead of keys, dates with `00:00`,
/// amounts in kronor with "kr", and the history columns. Each history cell
/// becomes one event that closes the checkpoint it evidences; re-importing
/// adds nothing.
#[test]
fn history_columns_bring_in_what_has_happened_once() {
    const HEAD: &str = "Diarienummer;Organisation;Nämnd;Handläggare;Handläggare e-post;Startdatum;\
                        Årligt belopp;Senaste avstämning;Senaste årsredovisning;Årsredovisning dnr;\
                        Senaste nämndsuppföljning;Nämndsuppföljning §\n";
    const ROW: &str = "KUB/2024:900;Testföreningen;Kultur- och bildningsnämnden;Olle Öberg;\
                       olle@example.org;2024-01-01 00:00;650 000 kr;2026-10-15 00:00;2026-03-20;\
                       KUB/2026:77;2026-04-16;§ 31\n";
    for (backend, bytes) in [
        (
            Backend::Sqlite,
            encoding_rs::WINDOWS_1252
                .encode(&format!("{HEAD}{ROW}"))
                .0
                .into_owned(),
        ),
        (
            Backend::Postgres,
            [&b"\xef\xbb\xbf"[..], format!("{HEAD}{ROW}").as_bytes()].concat(),
        ),
    ] {
        let mut w = World::new(backend);
        // Tracked since before the agreement's first follow-up was due.
        w.env
            .push(("IOPD__POLICY__TRACKING_START".into(), "2025-01-01".into()));
        let file = w.write("excel.csv", &bytes);
        let dry = w.ok(&[
            "import",
            path_str(&file),
            "--dry-run",
            "--now",
            "2026-12-01",
        ]);
        assert!(
            dry.stdout
                .contains("1 rad; att lägga till: 1, att ändra: 0, oförändrade: 0, tidigare händelser att registrera: 3 (provkörning"),
            "{backend:?}: {}",
            dry.stdout
        );
        let r = w.ok(&["import", path_str(&file), "--now", "2026-12-01"]);
        assert!(
            r.stdout.contains("tidigare händelser registrerade: 3\n"),
            "{backend:?}: {}",
            r.stdout
        );
        let again = w.ok(&["import", path_str(&file), "--now", "2026-12-02"]);
        assert!(
            again
                .stdout
                .contains("1 rad; nya: 0, ändrade: 0, oförändrade: 1\n")
                && !again.stdout.contains("tidigare händelser"),
            "{backend:?}: re-import adds nothing: {}",
            again.stdout
        );
        let shown = json(&w.ok(&["show", "KUB/2024:900", "--format", "json"]).stdout);
        let text = shown.to_string();
        assert!(text.contains("\"committee\":\"kbn\""), "{text}");
        assert!(text.contains("65000000"), "650 000 kr in öre: {text}");
        let events = shown["events"].as_array().expect("events");
        assert_eq!(events.len(), 3, "{text}");
        assert!(events.iter().all(|e| e["channel"] == "import"), "{text}");
        // The row's own change record: added by the import, once.
        let changes = shown["changes"].as_array().expect("changes");
        assert_eq!(changes.len(), 1, "{text}");
        assert_eq!(changes[0]["field"], "partnership", "{text}");
        assert_eq!(changes[0]["channel"], "import", "{text}");

        let done = json(
            &w.ok(&[
                "plan",
                "--now",
                "2026-12-02",
                "--status",
                "done",
                "--format",
                "json",
            ])
            .stdout,
        );
        let evidence = |kind: &str| -> Vec<String> {
            done.as_array()
                .unwrap()
                .iter()
                .filter(|c| c["kind"] == kind)
                .map(|c| c["evidence"]["on"].as_str().unwrap_or_default().to_string())
                .collect()
        };
        assert_eq!(evidence("checkin"), ["2026-10-15"], "{backend:?}: {done:#}");
        assert_eq!(evidence("annual_report"), ["2026-03-20"], "{backend:?}");
        assert_eq!(
            evidence("committee_followup"),
            ["2026-04-16"],
            "{backend:?}"
        );
        assert_eq!(evidence("committee_minutes"), ["2026-04-16"], "{backend:?}");
    }

    // A history date in the future, or a date without its diarienummer, is refused.
    let w = World::new(Backend::Sqlite);
    let bad = w.write(
        "bad.csv",
        format!(
            "{HEAD}{}",
            ROW.replace("2026-10-15 00:00", "2027-10-15")
                .replace("KUB/2026:77", "")
        ),
    );
    let r = w.refused(&["import", path_str(&bad), "--now", "2026-12-01"]);
    assert!(
        r.stderr.contains(
            "Årsredovisning dnr: är tom; en registrerad årsredovisning behöver sitt diarienummer"
        ),
        "{}",
        r.stderr
    );
    let future = w.write(
        "future.csv",
        format!("{HEAD}{}", ROW.replace("2026-10-15 00:00", "2027-10-15")),
    );
    let r = w.refused(&["import", path_str(&future), "--now", "2026-12-01"]);
    assert!(
        r.stderr
            .contains("2027-10-15 ligger efter i dag (2026-12-01)"),
        "{}",
        r.stderr
    );
    let listed = w.ok(&["partnerships", "--format", "json"]);
    assert_eq!(
        json(&listed.stdout).as_array().unwrap().len(),
        0,
        "nothing half-written"
    );
}

/// The import ends with what the first send will bring per recipient; the
/// dry run (on a throw-away copy for SQLite) says the same as the import.
#[test]
fn the_import_says_what_the_first_send_brings() {
    let w = World::new(Backend::Sqlite);
    let csv = support::example_csv();
    let dry = w.ok(&[
        "import",
        path_str(&csv),
        "--dry-run",
        "--now",
        "2026-12-05T18:00",
    ]);
    let line = |out: &str| {
        out.lines()
            .find(|l| l.starts_with("första utskicket måndag 2026-12-07 08:00: "))
            .unwrap_or_else(|| panic!("no first-send line:\n{out}"))
            .to_string()
    };
    let promised = line(&dry.stdout);
    assert!(
        promised.contains(" påminnelse") && promised.contains(", flest till "),
        "{promised}"
    );
    assert_eq!(
        json(&w.ok(&["partnerships", "--format", "json"]).stdout)
            .as_array()
            .unwrap()
            .len(),
        0,
        "the dry run wrote nothing"
    );
    let real = w.ok(&["import", path_str(&csv), "--now", "2026-12-05T18:00"]);
    assert_eq!(line(&real.stdout), promised);
    let leftovers: Vec<_> = std::fs::read_dir(w.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("dry-run"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let pg = World::new(Backend::Postgres);
    let r = pg.ok(&[
        "import",
        path_str(&csv),
        "--dry-run",
        "--now",
        "2026-12-05T18:00",
    ]);
    assert!(
        r.stdout.contains("första utskicket visas efter importen"),
        "{}",
        r.stdout
    );
}

/// Issue 22, item 3: "a register with years of history and no history
/// columns sends each person one reminder mail on the first send day". The
/// example register (agreements from 2021 on, tracked since 2026-01-01, no
/// `last_*` columns) and the first tick ever, on a Monday at 08:05: each
/// person gets one mail of the day carrying every reminder the dry run
/// promised them; besides those only calendar entries and the secretaries'
/// heads-up arrive.
#[test]
fn the_first_send_day_brings_each_person_one_mail() {
    use std::collections::{BTreeMap, BTreeSet};
    let smtp = support::smtp::SmtpServer::start();
    let mut w = World::new(Backend::Sqlite);
    w.use_smtp(smtp.port);
    w.import_example();
    // 2026-09-07 is a Monday and a working day, the first after the import.
    let now = "2026-09-07T08:05";

    // What the dry run promises: person → the outbox keys of their reminders
    // (`checkpoint|due|stage|person`, as a mail of the day lists its items).
    let dry = w.ok(&["tick", "--now", now, "--dry-run"]);
    let mut promised: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for l in dry.stdout.lines() {
        // "would send d-7 (Påminnelse) of KEY due DATE to PERSON (role)[ late]"
        let Some(rest) = l.strip_prefix("would send d") else {
            continue;
        };
        let stage = format!("d{}", rest.split(' ').next().unwrap());
        let (_, after) = rest.split_once(" of ").expect(l);
        let (key, after) = after.split_once(" due ").expect(l);
        let (due, after) = after.split_once(" to ").expect(l);
        let person = after.split(' ').next().unwrap().to_string();
        let item = format!("{key}|{due}|{stage}|{person}");
        assert!(
            promised.entry(person).or_default().insert(item),
            "a reminder promised twice: {l}"
        );
    }
    let reminders: usize = promised.values().map(BTreeSet::len).sum();
    // Years of history and no evidence: plenty is overdue on day one.
    assert!(
        promised.len() > 3 && reminders > promised.len(),
        "{}",
        dry.stdout
    );
    assert!(smtp.received().is_empty(), "the dry run sent nothing");

    w.ok(&["tick", "--now", now]);
    let mails: Vec<support::mail::Mail> =
        smtp.received().iter().map(support::mail::parse).collect();
    let mut days: BTreeMap<String, Vec<&support::mail::Mail>> = BTreeMap::new();
    for m in &mails {
        if m.key.starts_with("day|") {
            assert_eq!(m.to.len(), 1, "{}: one person per mail", m.key);
            days.entry(m.to[0].clone()).or_default().push(m);
        } else if m.key.contains("|invite-") {
            assert_eq!(m.calendar_method, "REQUEST", "{}", m.key);
        } else {
            assert!(
                m.key.starts_with("heads-up|"),
                "{}: neither a mail of the day, a calendar entry nor a heads-up ({})",
                m.key,
                m.subject
            );
        }
    }
    for (person, items) in &promised {
        let got = days.get(person).map_or(&[][..], Vec::as_slice);
        assert_eq!(got.len(), 1, "{person}: {} mails of the day", got.len());
        let carried: BTreeSet<String> = got[0].items.iter().cloned().collect();
        assert_eq!(got[0].items.len(), items.len(), "{person}: {}", got[0].key);
        assert_eq!(&carried, items, "{person}: {}", got[0].key);
    }
    let unpromised: Vec<&String> = days.keys().filter(|p| !promised.contains_key(*p)).collect();
    assert!(
        unpromised.is_empty(),
        "mails of the day nobody was promised: {unpromised:?}"
    );
    let carried: usize = days.values().flatten().map(|m| m.items.len()).sum();
    assert_eq!(carried, reminders, "the dry run's count arrived");
}

/// Eight people write off the same checkpoint at once, through a check that
/// lets only the first through (as the workspace's: not when it is already
/// written off): one event is stored and the others are refused, because
/// each check sees the history with the others' events in it. (PostgreSQL
/// would otherwise let each check the history it read before the others
/// committed.)
#[test]
fn concurrent_recordings_pass_a_check_only_once() {
    use iopd::domain::{Channel, EventKind, PartnershipId};
    use iopd::store::{NewEvent, StoreError};
    let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    for backend in BACKENDS {
        let w = World::new(backend);
        w.import_example();
        support::runtime().block_on(async {
            let store = w.store().await;
            let id = PartnershipId::parse("KUB/2021:101").unwrap();
            let key = "KUB/2021:101/checkin/y4-w1";
            // Spawned all before any is awaited, so they run at once.
            let writes: Vec<_> = (0..8)
                .map(|i| {
                    let (store, id) = (store.clone(), id.clone());
                    tokio::spawn(async move {
                        let new = NewEvent {
                            partnership: id,
                            on: day("2026-12-01"),
                            kind: EventKind::CheckpointWaived {
                                reason: format!("skäl {i}"),
                            },
                            recorded_at: chrono::Utc::now(),
                            recorded_by: format!("person{i}@example.org"),
                            channel: Channel::Workspace,
                            target: Some(key.to_string()),
                        };
                        store
                            .record(new, |_, events| {
                                if events.iter().any(|e| e.target.as_deref() == Some(key)) {
                                    Err("redan avskriven".to_string())
                                } else {
                                    Ok(())
                                }
                            })
                            .await
                    })
                })
                .collect();
            let mut stored = 0;
            for w in writes {
                match w.await.unwrap() {
                    Ok(_) => stored += 1,
                    Err(StoreError::Refused(msg)) => {
                        assert_eq!(msg, "redan avskriven", "{backend:?}")
                    }
                    Err(e) => panic!("{backend:?}: not a refusal: {e}"),
                }
            }
            assert_eq!(stored, 1, "{backend:?}: events stored");
            let history = store.events(&id).await.unwrap();
            assert_eq!(
                history
                    .iter()
                    .filter(|e| e.target.as_deref() == Some(key))
                    .count(),
                1,
                "{backend:?}: {history:#?}"
            );
        });
    }
}
