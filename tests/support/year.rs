//! The scripted years (`tests/year.rs`, `tests/orebro.rs`): the real `iopd`
//! binary day by day through 2027 against a real SMTP server, every mail
//! that arrives compared with a list worked out by hand.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Duration, NaiveDate, Weekday};

use super::World;
use super::mail::{Mail, parse};
use super::smtp::SmtpServer;

pub fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|e| panic!("date {s}: {e}"))
}

/// Swedish public holidays and the eves treated as such, 2027 (Lag 1989:253).
pub const HOLIDAYS_2027: [&str; 13] = [
    "2027-01-01", // Nyårsdagen
    "2027-01-06", // Trettondedag jul
    "2027-03-26", // Långfredagen
    "2027-03-28", // Påskdagen
    "2027-03-29", // Annandag påsk
    "2027-05-01", // Första maj
    "2027-05-06", // Kristi himmelsfärdsdag
    "2027-06-06", // Nationaldagen
    "2027-06-25", // Midsommarafton
    "2027-11-06", // Alla helgons dag
    "2027-12-24", // Julafton
    "2027-12-25", // Juldagen
    "2027-12-31", // Nyårsafton
];

pub fn working_day(day: NaiveDate) -> bool {
    !matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
        && !HOLIDAYS_2027.contains(&day.to_string().as_str())
}

/// One mail as compared: send date, checkpoint (`*` stands for an event
/// id), due date (`-` for the heads-up and digest), stage, recipient.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Row {
    pub date: NaiveDate,
    pub checkpoint: String,
    pub due: String,
    pub stage: String,
    pub to: String,
}

impl std::fmt::Display for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}  {}  {}  {}  {}",
            self.date, self.checkpoint, self.due, self.stage, self.to
        )
    }
}

/// The rows of a fixture file under `tests/fixtures`; `address` turns the
/// short recipient names into addresses.
pub fn expected_reminders(fixture: &str, address: fn(&str) -> &'static str) -> Vec<Row> {
    let text = std::fs::read_to_string(super::repo().join("tests/fixtures").join(fixture))
        .expect("read the fixture");
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 5, "fixture line {}: five columns: {line}", n + 1);
        for to in f[4].split(',') {
            rows.push(Row {
                date: d(f[0]),
                checkpoint: f[1].to_string(),
                due: f[2].to_string(),
                stage: f[3].to_string(),
                to: address(to).to_string(),
            });
        }
    }
    rows
}

/// The weekly digest (issue 6): to IOP-ansvarig and the advisory mailbox,
/// every Monday; Easter Monday is a holiday, so that week's goes on Tuesday.
pub fn expected_digests(skip: &[NaiveDate], address: fn(&str) -> &'static str) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut day = d("2027-01-04");
    while day.year() == 2027 {
        let send = if day == d("2027-03-29") {
            d("2027-03-30")
        } else {
            day
        };
        if !skip.contains(&day) {
            let week = format!("{}-W{:02}", day.iso_week().year(), day.iso_week().week());
            for to in ["iop", "adv"] {
                rows.push(Row {
                    date: send,
                    checkpoint: format!("digest/{week}"),
                    due: "-".into(),
                    stage: "digest".into(),
                    to: address(to).to_string(),
                });
            }
        }
        day += Duration::days(7);
    }
    rows
}

/// The rows of a mail: one per reminder stage a mail of the day carries
/// (`X-IOPD-Items`), else one from its `X-IOPD-Key` (the outbox key).
pub fn rows_of(date: NaiveDate, m: &Mail) -> Vec<Row> {
    if m.key.starts_with("day|") {
        assert!(
            !m.items.is_empty(),
            "{}: a mail of the day without items",
            m.key
        );
        m.items.iter().map(|k| row(date, k, m)).collect()
    } else {
        vec![row(date, &m.key, m)]
    }
}

/// The row of one outbox key of mail `m`.
fn row(date: NaiveDate, key: &str, m: &Mail) -> Row {
    let parts: Vec<&str> = key.split('|').collect();
    let (checkpoint, due, stage, to) = match parts.as_slice() {
        ["digest", week, to] => (format!("digest/{week}"), "-", "digest".to_string(), *to),
        ["heads-up", committee, meeting, to] => (
            format!("heads-up/{committee}/{meeting}"),
            "-",
            "heads-up".to_string(),
            *to,
        ),
        [checkpoint, due, stage, to] => {
            // Event ids are not the fixture's business.
            let checkpoint = match checkpoint.rsplit_once('/') {
                Some((head, id))
                    if id.len() > 1
                        && (id.starts_with('e') || id.starts_with('n'))
                        && id[1..].bytes().all(|b| b.is_ascii_digit()) =>
                {
                    format!("{head}/*")
                }
                _ => checkpoint.to_string(),
            };
            let stage = if stage.starts_with("cancel") {
                "cancel".to_string()
            } else if stage.starts_with("invite") {
                "invite".to_string()
            } else {
                stage.to_string()
            };
            (checkpoint, *due, stage, *to)
        }
        _ => panic!("a mail without a recognisable X-IOPD-Key: {key:?}"),
    };
    assert_eq!(
        m.to,
        vec![to.to_string()],
        "{key}: envelope recipient and key disagree"
    );
    Row {
        date,
        checkpoint,
        due: due.to_string(),
        stage,
        to: to.to_string(),
    }
}

pub fn rows(mails: &[(NaiveDate, Mail)]) -> Vec<Row> {
    mails.iter().flat_map(|(day, m)| rows_of(*day, m)).collect()
}

/// Compares as sorted lists and prints the difference both ways.
pub fn assert_same(what: &str, mut got: Vec<Row>, mut want: Vec<Row>) {
    got.sort();
    want.sort();
    if got == want {
        return;
    }
    let g: BTreeSet<&Row> = got.iter().collect();
    let w: BTreeSet<&Row> = want.iter().collect();
    let missing: Vec<String> = w.difference(&g).map(|r| r.to_string()).collect();
    let extra: Vec<String> = g.difference(&w).map(|r| r.to_string()).collect();
    panic!(
        "{what}: {} mails arrived, {} expected\n\nexpected but not sent ({}):\n{}\n\nsent but not expected ({}):\n{}\n",
        got.len(),
        want.len(),
        missing.len(),
        missing.join("\n"),
        extra.len(),
        extra.join("\n")
    );
}

/// Runs 2027 day by day: `iopd tick` at 08:05, `iopd digest` on Mondays (or
/// the next working day), the script's events recorded at 14:00; returns each
/// mail with the day it arrived. Days in `down` have no tick or digest.
pub fn run_year(
    w: &World,
    smtp: &SmtpServer,
    script: &BTreeMap<NaiveDate, Vec<Vec<&str>>>,
    down: &[NaiveDate],
) -> Vec<(NaiveDate, Mail)> {
    let mut mails = Vec::new();
    let mut seen = 0;
    let mut digest_owed = false;
    let mut day = d("2027-01-01");
    while day.year() == 2027 {
        if !down.contains(&day) {
            w.ok(&["tick", "--now", &format!("{day}T08:05")]);
            if day.weekday() == Weekday::Mon || digest_owed {
                let r = w.ok(&["digest", "--now", &format!("{day}T08:10")]);
                digest_owed = r.stdout.contains("not a working day");
            }
        }
        for args in script.get(&day).into_iter().flatten() {
            let mut a = vec!["record"];
            a.extend_from_slice(args);
            let now = format!("{day}T14:00");
            a.extend_from_slice(&["--now", &now]);
            w.ok(&a);
        }
        let got = smtp.received();
        for r in &got[seen..] {
            mails.push((day, parse(r)));
        }
        seen = got.len();
        day += Duration::days(1);
    }
    mails
}

/// The keys of the checkpoints in each closed status at the year's end.
pub fn statuses(w: &World) -> BTreeMap<&'static str, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for status in ["missed", "waived", "done", "before_tracking"] {
        let r = w.ok(&[
            "plan",
            "--now",
            "2027-12-31T12:00",
            "--status",
            status,
            "--format",
            "json",
        ]);
        let keys = r
            .stdout
            .lines()
            .filter_map(|l| l.trim().strip_prefix("\"key\": \""))
            .filter_map(|k| k.strip_suffix("\","))
            .map(str::to_string)
            .collect();
        out.insert(status, keys);
    }
    out
}
