//! Half a year of the example register with no evidence recorded, as a new
//! user would try it: `iopd tick` every day at 08:05 from 2026-12-01 to
//! 2027-05-31, against a real SMTP server. What people receive must stay
//! something they keep reading (issue 15):
//! - at most one mail of the day per person and working day, nothing on
//!   other days;
//! - each calendar entry (UID, person) arrives once as a REQUEST, again only
//!   with a higher SEQUENCE and a changed date or title, and a CANCEL only
//!   withdraws an entry that person holds; never an invite for a date
//!   already past, never a link inside the calendar data;
//! - no `iopd record` command line to anyone but IOP-ansvarig.
//!
//! It prints the mails per person and month (the figures in BENCHMARKS.md).

mod support;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate};
use support::mail::{Mail, parse};
use support::smtp::SmtpServer;
use support::{Backend, World};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

/// An unfolded iCalendar property value, e.g. `field(ics, "SEQUENCE")`.
fn field(ics: &str, name: &str) -> String {
    let unfolded = ics.replace("\r\n ", "").replace("\r\n", "\n");
    unfolded
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k == name || k.starts_with(&format!("{name};"))).then(|| v.to_string())
        })
        .unwrap_or_default()
}

#[test]
fn half_a_year_without_evidence_stays_readable() {
    let smtp = SmtpServer::start();
    let mut w = World::new(Backend::Sqlite);
    w.use_smtp(smtp.port);
    w.import_example();

    let mut mails: Vec<(NaiveDate, Mail)> = Vec::new();
    let mut open_days = BTreeSet::new();
    let mut day = d("2026-12-01");
    while day <= d("2027-05-31") {
        let r = w.ok(&["tick", "--now", &format!("{day}T08:05")]);
        if !r.stdout.contains("inga påminnelser nu") {
            open_days.insert(day);
        }
        let before = mails.len();
        let got = smtp.wait_for(before, std::time::Duration::from_secs(10));
        // A tick delivers before it returns; give a straggler no chance.
        for m in &got[before..] {
            mails.push((day, parse(m)));
        }
        day += Duration::days(1);
    }
    assert_eq!(smtp.received().len(), mails.len(), "nothing arrived late");
    assert!(mails.len() > 50, "the register is busy: {}", mails.len());

    let iop = "iop-ansvarig@example.org";
    let mut per_day: BTreeMap<(NaiveDate, String), usize> = BTreeMap::new();
    // (UID, person) → (method, SEQUENCE, DTSTART, SUMMARY) in order.
    type Sent = (String, u32, String, String);
    let mut entries: BTreeMap<(String, String), Vec<Sent>> = BTreeMap::new();
    for (day, m) in &mails {
        assert!(open_days.contains(day), "{} on {day}, a closed day", m.key);
        let to = m.to.join(",");
        if m.key.starts_with("day|") {
            *per_day.entry((*day, to.clone())).or_default() += 1;
            assert!(!m.items.is_empty(), "{}", m.key);
        }
        if !m.calendar.is_empty() {
            assert!(
                !m.calendar.contains("http"),
                "{}: a link in the calendar data",
                m.key
            );
            let uid = field(&m.calendar, "UID");
            let seq: u32 = field(&m.calendar, "SEQUENCE").parse().expect("a SEQUENCE");
            let start = field(&m.calendar, "DTSTART");
            let summary = field(&m.calendar, "SUMMARY");
            if m.calendar_method == "REQUEST" {
                let date = NaiveDate::parse_from_str(&start, "%Y%m%d").expect("an all-day date");
                assert!(date >= *day, "{}: an invite for {date}, sent {day}", m.key);
            }
            entries.entry((uid, to.clone())).or_default().push((
                m.calendar_method.clone(),
                seq,
                start,
                summary,
            ));
        }
        if to != iop {
            assert!(
                !m.text.contains("iopd record") && !m.html.contains("iopd record"),
                "{}: a command line to {to}",
                m.key
            );
        }
    }
    let twice: Vec<_> = per_day.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "more than one mail of the day: {twice:?}");

    let mut requests = 0;
    for ((uid, to), list) in &entries {
        let mut held: Option<(u32, String, String)> = None;
        let mut last_seq: Option<u32> = None;
        for (method, seq, start, summary) in list {
            assert!(
                last_seq.is_none_or(|s| *seq > s),
                "{uid} to {to}: SEQUENCE does not rise: {list:?}"
            );
            last_seq = Some(*seq);
            match method.as_str() {
                "REQUEST" => {
                    requests += 1;
                    if let Some((_, s, t)) = &held {
                        assert!(
                            s != start || t != summary,
                            "{uid} to {to}: the same entry again: {list:?}"
                        );
                    }
                    held = Some((*seq, start.clone(), summary.clone()));
                }
                "CANCEL" => {
                    assert!(
                        held.is_some(),
                        "{uid} to {to}: a CANCEL for no entry: {list:?}"
                    );
                    held = None;
                }
                other => panic!("{uid}: method {other:?}"),
            }
        }
    }
    assert!(requests > 0, "no invite at all");

    // The figures: mails per person and month.
    let mut table: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for (day, m) in &mails {
        let month = day.format("%Y-%m").to_string();
        *table
            .entry(m.to.join(","))
            .or_default()
            .entry(month)
            .or_default() += 1;
    }
    let reminders: usize = mails.iter().map(|(_, m)| m.items.len()).sum();
    println!(
        "half a year: {} mails to {} people, carrying {reminders} reminder stages; {requests} invites",
        mails.len(),
        table.len()
    );
    for (to, months) in &table {
        let row: Vec<String> = months.iter().map(|(m, n)| format!("{m} {n}")).collect();
        println!("  {to}: {}", row.join(", "));
    }
}
