//! `iopd backup` while the service's work goes on, restored into a new
//! database that sends nothing twice; `iopd export` read back by Python's
//! csv and json modules (independent readers).

mod support;

use std::time::Duration;

use support::smtp::SmtpServer;
use support::{Backend, World, json, path_str};

/// The example register on SQLite with one check-in recorded by `by`.
fn world_with_an_event(smtp: &SmtpServer, by: &str) -> World {
    let mut w = World::new(Backend::Sqlite);
    w.use_smtp(smtp.port);
    w.import_example();
    w.ok(&[
        "record",
        "checkin-held",
        "-p",
        "KUB/2021:101",
        "--on",
        "2026-11-20",
        "--by",
        by,
        "--now",
        "2026-11-20T14:00",
    ]);
    w
}

#[test]
fn a_backup_restored_sends_nothing_twice_and_loses_nothing() {
    let smtp = SmtpServer::start();
    let w = world_with_an_event(&smtp, "testare");
    // A backup taken while a tick sends: both run at once.
    let tick = w
        .cmd(&["tick", "--now", "2026-11-23T08:05"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let copy = w.path("backup-during.db");
    let r = w.ok(&["backup", path_str(&copy), "--now", "2026-11-23T08:05"]);
    assert!(r.stdout.contains("backup written"), "{}", r.stdout);
    assert!(tick.wait_with_output().unwrap().status.success());
    // A backup after the tick, restored into a new place.
    let after = w.path("backup-after.db");
    w.ok(&["backup", path_str(&after), "--now", "2026-11-23T09:00"]);
    let refused = w.refused(&["backup", path_str(&after)]);
    assert!(
        refused.stderr.contains("already exists"),
        "{}",
        refused.stderr
    );
    let sent_before = smtp.received().len();
    assert!(sent_before > 0);

    for (name, file) in [("during", &copy), ("after", &after)] {
        let mut r = World::new(Backend::Sqlite);
        r.use_smtp(smtp.port);
        let restored = r.path("iopd.db");
        std::fs::copy(file, &restored).unwrap();
        // What the copy holds: the register and the event.
        let shown = json(&r.ok(&["show", "KUB/2021:101", "--format", "json"]).stdout);
        assert!(
            shown.to_string().contains("checkin_held"),
            "{name}: the event came along: {shown}"
        );
        let before = smtp.received().len();
        r.ok(&["tick", "--now", "2026-11-23T10:00"]);
        std::thread::sleep(Duration::from_millis(300));
        let resent = smtp.received()[before..].to_vec();
        if name == "after" {
            assert!(
                resent.is_empty(),
                "the restored copy sent {} mails again",
                resent.len()
            );
        }
        // Whatever the copy taken mid-tick sends is only what it had not
        // recorded as sent (at most the tick's mails, never a mail twice from
        // the copy itself).
        let keys: Vec<String> = resent.iter().map(|m| support::mail::parse(m).key).collect();
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), keys.len(), "{name}: a key twice");
        assert!(resent.len() <= sent_before, "{name}");
    }

    // PostgreSQL is copied with pg_dump; the command says so.
    let pg = World::new(Backend::Postgres);
    let r = pg.refused(&["backup", path_str(&pg.path("x.db"))]);
    assert!(r.stderr.contains("pg_dump"), "{}", r.stderr);
}

#[test]
fn export_writes_the_register_events_and_send_log_as_csv_and_json() {
    let smtp = SmtpServer::start();
    // A name that looks like a formula, shown as text in the CSV.
    let w = world_with_an_event(&smtp, "=Karin");
    w.ok(&["tick", "--now", "2026-11-23T08:05"]);
    let dir = w.path("arkiv");
    let r = w.ok(&["export", path_str(&dir), "--now", "2026-11-23T09:00"]);
    assert!(
        r.stdout.contains("9 partnerships, 1 events"),
        "{}",
        r.stdout
    );
    let r = w.refused(&["export", path_str(&dir)]);
    assert!(r.stderr.contains("not empty"), "{}", r.stderr);

    let out = support::python(
        "import csv, json, sys\n\
         d = sys.argv[1]\n\
         for n in ['partnerships', 'events', 'sendlog']:\n\
         \x20   rows = list(csv.DictReader(open(f'{d}/{n}.csv', newline='', encoding='utf-8'), delimiter=';'))\n\
         \x20   js = json.load(open(f'{d}/{n}.json', encoding='utf-8'))\n\
         \x20   print(n, len(rows), len(js))\n\
         log = list(csv.DictReader(open(f'{d}/sendlog.csv', newline='', encoding='utf-8'), delimiter=';'))\n\
         print('mails', sum(1 for r in log if r['item'] == 'false'))\n\
         ev = list(csv.DictReader(open(f'{d}/events.csv', newline='', encoding='utf-8'), delimiter=';'))[0]\n\
         print('event', ev['kind'], ev['recorded_by'], ev['channel'], ev['on'])\n",
        &[path_str(&dir)],
    );
    assert!(out.contains("partnerships 9 9\n"), "{out}");
    assert!(out.contains("events 1 1\n"), "{out}");
    // Every mail sent is a row; the reminder items the mails of the day
    // carry are rows too.
    let sent = smtp.received().len();
    assert!(out.contains(&format!("mails {sent}\n")), "{out}");
    // Who recorded it, a formula-looking name shown as text.
    assert!(
        out.contains("event checkin_held '=Karin cli 2026-11-20"),
        "{out}"
    );
}
