//! The digest's content from fixed data. Expected values are worked out by
//! hand from issue 6 and RULES 6b/10, never taken from the code.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};

use super::model::*;
use super::{HeadsUp, render_digest, render_heads_up};
use crate::config::Config;
use crate::domain::{
    Channel, CommitteeKey, Email, Event, EventKind, FollowupDecision, NoticeParty, Partnership,
    PartnershipId, Person,
};
use crate::engine::{Checkpoint, Kind, Policy, Status};
use crate::store::{DeliveryProblem, SentReminder, ServiceHealth};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn cfg() -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/iopd.example.toml");
    Config::load_with_env(&path, false).unwrap()
}

fn partnership(id: &str, committee: &str, start: &str, deputy: Option<&str>) -> Partnership {
    Partnership {
        id: PartnershipId::parse(id).unwrap(),
        organisation: format!("Förening {id}"),
        committee: CommitteeKey::parse(committee).unwrap(),
        officer: Person {
            name: "Olle Officer".into(),
            email: Email::parse("olle@example.org").unwrap(),
        },
        deputy: deputy.map(|e| Email::parse(e).unwrap()),
        partner_contact: None,
        start: d(start),
        end: None,
        annual_amount: None,
        checkins_per_year: None,
        notice_months: None,
        notes: String::new(),
    }
}

fn event(p: &Partnership, id: i64, on: &str, kind: EventKind) -> Event {
    Event {
        id,
        partnership: p.id.clone(),
        on: d(on),
        kind,
        recorded_at: 0,
        recorded_by: "t".into(),
        channel: Channel::Cli,
        target: None,
        retracted: false,
    }
}

fn decision(p: &Partnership, id: i64, meeting: &str, paragraph: &str) -> Event {
    event(
        p,
        id,
        meeting,
        EventKind::CommitteeFollowupReported {
            meeting: d(meeting),
            paragraph: paragraph.into(),
            decision: FollowupDecision::Approved,
        },
    )
}

fn cp(p: &Partnership, kind: Kind, period: &str, due: &str, status: Status) -> Checkpoint {
    Checkpoint {
        key: format!("{}/{}/{period}", p.id, kind.name()),
        partnership: p.id.clone(),
        kind,
        parent: None,
        period_start: d(due),
        period_end: d(due),
        exists_from: d("2020-01-01"),
        due: d(due),
        status,
        evidence: None,
        waiver: None,
        meeting: None,
        no_meeting: false,
        roles: vec![],
        documents: None,
    }
}

fn health() -> ServiceHealth {
    ServiceHealth {
        last_tick: Some(
            DateTime::parse_from_rfc3339("2027-02-28T21:15:00Z")
                .unwrap()
                .with_timezone(&Utc),
        ),
        sent_since: 4,
        pending: 1,
    }
}

#[test]
fn iso_weeks_name_one_digest_each() {
    // 2027-01-01 is a Friday in ISO week 53 of 2026; 2027-02-01 a Monday in week 5.
    assert_eq!(iso_week(d("2027-01-01")), "2026-W53");
    assert_eq!(iso_week(d("2027-02-01")), "2027-W05");
    assert_eq!(iso_week(d("2027-02-07")), "2027-W05");
    assert_eq!(week_start(d("2027-02-07")), d("2027-02-01"));
    assert_eq!(week_start(d("2027-02-01")), d("2027-02-01"));
}

#[test]
fn months_and_thresholds() {
    assert_eq!(whole_months(d("2024-03-15"), d("2026-03-15")), 24);
    assert_eq!(whole_months(d("2024-03-15"), d("2026-03-14")), 23);
    assert_eq!(whole_months(d("2026-03-15"), d("2024-03-15")), 0);
    assert_eq!(silence_threshold(d("2026-03-31"), 24), d("2024-03-31"));
    // Clamped month arithmetic: 29 Feb minus 24 months is 28 Feb.
    assert_eq!(silence_threshold(d("2028-02-29"), 24), d("2026-02-28"));
}

#[test]
fn only_a_decision_with_its_minute_paragraph_breaks_silence() {
    let p = partnership("P1", "kbn", "2020-01-01", None);
    let memo = event(
        &p,
        1,
        "2026-01-10",
        EventKind::CommitteeFollowupSubmitted {
            diarienummer: "KUB/2026:1".into(),
            meeting: d("2026-02-19"),
        },
    );
    // RULES 6b: a memo is not a decision.
    assert_eq!(
        last_decision(std::slice::from_ref(&memo), d("2026-06-01")),
        None
    );
    let mut retracted = decision(&p, 2, "2025-02-20", "§ 12");
    retracted.retracted = true;
    let kept = decision(&p, 3, "2024-02-22", "§ 7");
    let future = decision(&p, 4, "2026-09-17", "§ 3");
    assert_eq!(
        last_decision(&[memo, retracted, kept, future], d("2026-06-01")),
        Some(d("2024-02-22"))
    );
}

#[test]
fn silence_counts_from_what_was_recorded() {
    let cfg = cfg();
    let mut policy = cfg.policy_for(&CommitteeKey::parse("kbn").unwrap(), d("2020-01-01"));
    let p = partnership("A", "kbn", "2015-01-01", None);
    let silent = |policy: &Policy, events: &[Event]| {
        let mut s = Silence::new(d("2027-03-01"), 24);
        s.add(&p, events, policy, "Kultur");
        s.finish(&cfg)
            .0
            .into_iter()
            .map(|s| (s.last_decision, s.months))
            .collect::<Vec<_>>()
    };
    // RULES 18: "counted from the latest of: the last such decision,
    // `tracking_start`, and the agreement's start". Tracked since 2024-03-01:
    // 36 months without a decision (not 146 since the 2015 start) …
    policy.tracking_start = d("2024-03-01");
    assert_eq!(silent(&policy, &[]), vec![(None, 36)]);
    // … and a decision before tracking started counts from tracking_start.
    let old = decision(&p, 1, "2019-05-20", "§ 7");
    assert_eq!(
        silent(&policy, std::slice::from_ref(&old)),
        vec![(Some(d("2019-05-20")), 36)]
    );
    // Tracked for less than `silence_months`: not silent at all.
    policy.tracking_start = d("2026-01-01");
    assert_eq!(silent(&policy, &[]), vec![]);
}

#[test]
fn worst_first_silence_notices_and_data_problems() {
    let cfg = cfg();
    let today = d("2027-03-01");
    let mut b = Builder::new(&cfg, today);
    // Tracked since 2020 (the example configuration starts in 2026, RULES 18).
    let mut policy = cfg.policy_for(&CommitteeKey::parse("kbn").unwrap(), d("2020-01-01"));
    policy.tracking_start = d("2020-01-01");

    // A: kbn, last decision 2024-02-22 (more than 24 months before
    // 2027-03-01): silent. Two overdue items, 10 and 40 days late.
    let a = partnership("A", "kbn", "2020-01-01", Some("dora@example.org"));
    let a_events = vec![decision(&a, 1, "2024-02-22", "§ 7")];
    let a_cps = vec![
        cp(&a, Kind::Checkin, "y7-w1", "2027-02-19", Status::Overdue),
        cp(&a, Kind::AnnualReport, "y6", "2027-01-20", Status::Overdue),
        cp(
            &a,
            Kind::AnnualEvaluation,
            "y7",
            "2027-03-20",
            Status::Upcoming,
        ),
        // Outside the four weeks: not listed as due soon.
        cp(&a, Kind::Checkin, "y7-w2", "2027-04-30", Status::Upcoming),
        // RULES 17: missed and waived are listed for 12 months, then history.
        cp(&a, Kind::Checkin, "y6-w2", "2026-08-31", Status::Missed),
        cp(
            &a,
            Kind::AnnualEvaluation,
            "y6",
            "2026-03-02",
            Status::Waived,
        ),
        cp(&a, Kind::Checkin, "y5-w2", "2025-08-29", Status::Missed),
    ];
    b.add(&a, &a_events, &policy, "Kultur", &a_cps);

    // B: hsn, decision 2026-02-24 (12 months ago): not silent; officer
    // absent with no deputy; 100 days late; notice given by the partner.
    let hsn = cfg.policy_for(&CommitteeKey::parse("hsn").unwrap(), d("2020-01-01"));
    let bp = partnership("B", "hsn", "2021-01-01", None);
    let b_events = vec![
        decision(&bp, 10, "2026-02-24", "§ 30"),
        event(
            &bp,
            11,
            "2027-02-01",
            EventKind::OfficerAbsent {
                from: d("2027-02-01"),
                to: d("2027-04-30"),
            },
        ),
        event(
            &bp,
            12,
            "2027-01-15",
            EventKind::NoticeGiven {
                by: NoticeParty::Partner,
            },
        ),
    ];
    let b_cps = vec![cp(
        &bp,
        Kind::Checkin,
        "y6-w1",
        "2026-11-21",
        Status::Overdue,
    )];
    b.add(&bp, &b_events, &hsn, "Hälso", &b_cps);

    // C: kbn, started 2026: too young to be silent.
    let c = partnership("C", "kbn", "2026-01-10", None);
    b.add(&c, &[], &policy, "Kultur", &[]);

    let mut reminders = HashMap::new();
    reminders.insert(
        "A/annual_report/y6".to_string(),
        vec![sent("2027-01-27", "d+7", "2027-01-20", "olle@example.org")],
    );
    // B: nine stages before and after the escalation (d+21, RULES 11), the
    // overdue stage to two people, and rows that are not reminders.
    let b_due = "2026-11-21";
    let mut b_sent = vec![
        sent("2026-10-23", "d-28", b_due, "olle@example.org"),
        sent("2026-11-13", "d-7", b_due, "olle@example.org"),
        sent("2026-11-20", "d0", b_due, "olle@example.org"),
        sent("2026-11-27", "d+7", b_due, "olle@example.org"),
        sent("2026-11-27", "d+7", b_due, "dora@example.org"),
        sent("2026-12-11", "d+21", b_due, "iop-ansvarig@example.org"),
        sent("2026-12-11", "d+21", b_due, "iop@example.org"),
        sent("2026-12-18", "d+28", b_due, "olle@example.org"),
        sent("2026-12-28", "d+35", b_due, "olle@example.org"),
        sent("2027-01-04", "d+42", b_due, "olle@example.org"),
        sent("2027-01-11", "d+49", b_due, "olle@example.org"),
        sent("2027-02-23", "d+77", b_due, "olle@example.org"),
    ];
    for other in ["invite-1", "cancel", "bundle", "digest"] {
        b_sent.push(sent("2027-02-26", other, b_due, "olle@example.org"));
    }
    reminders.insert("B/checkin/y6-w1".to_string(), b_sent);
    let problems = vec![DeliveryProblem {
        checkpoint_key: "A/checkin/y7-w1".into(),
        recipient: "olle@example.org".into(),
        status: "failed".into(),
        attempts: 1,
        last_error: Some("550 5.1.1 No such mailbox".into()),
        created_at: DateTime::parse_from_rfc3339("2027-02-26T08:05:00+01:00")
            .unwrap()
            .with_timezone(&Utc),
    }];
    let (digest, officers) = b.finish(&reminders, &problems, &health(), Vec::new(), None);
    assert!(officers.is_empty(), "digest.officers is off by default");
    assert_eq!(digest.week, "vecka 9");
    assert_eq!(digest.overdue_count, 3);
    // The first screen: the counts, then the three worst.
    assert_eq!(
        digest.counts,
        Counts {
            overdue: 3,
            escalated: 1,
            due_soon: 1,
            silent_committees: 1,
            // The 550, and B's officer absent without a deputy.
            problems: 2,
        }
    );
    let worst: Vec<&str> = digest.worst.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        worst,
        vec!["B/checkin/y6-w1", "A/annual_report/y6", "A/checkin/y7-w1"]
    );
    // Worst first: the committee whose worst item is 100 days late leads.
    let order: Vec<(&str, i64)> = digest
        .overdue
        .iter()
        .flat_map(|g| {
            g.items
                .iter()
                .map(|i| (i.partnership.as_str(), i.days_late))
        })
        .collect();
    assert_eq!(order, vec![("B", 100), ("A", 40), ("A", 10)]);
    assert_eq!(digest.overdue[0].committee, "Hälso");
    assert_eq!(
        digest.overdue[1].items[0].reminded,
        Reminded {
            times: 1,
            last: Some(d("2027-01-27")),
            escalated: None,
        }
    );
    assert_eq!(
        digest.overdue[0].items[0].reminded,
        Reminded {
            times: 9,
            last: Some(d("2027-02-23")),
            escalated: Some(d("2026-12-11")),
        }
    );
    let not_done: Vec<(&str, &str)> = digest
        .not_done
        .iter()
        .map(|i| (i.key.as_str(), i.status_label))
        .collect();
    assert_eq!(
        not_done,
        vec![
            ("A/annual_evaluation/y6", "avskriven"),
            ("A/checkin/y6-w2", "missad")
        ]
    );
    // Due within 28 days (by 2027-03-29): only A's evaluation.
    let soon: Vec<&str> = digest.due_soon.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(soon, vec!["A/annual_evaluation/y7"]);
    // Silence: A only; kbn is silent (its last decision 2024-02-22), hsn not.
    let silent: Vec<(&str, Option<NaiveDate>, i32)> = digest
        .silent_partnerships
        .iter()
        .map(|s| (s.partnership.as_str(), s.last_decision, s.months))
        .collect();
    assert_eq!(silent, vec![("A", Some(d("2024-02-22")), 36)]);
    let committees: Vec<(&str, usize)> = digest
        .silent_committees
        .iter()
        .map(|c| (c.committee.as_str(), c.partnerships))
        .collect();
    assert_eq!(committees, vec![("Kultur- och bildningsnämnden", 1)]);
    // Notice on 2027-01-15 with six months: ends 2027-07-15.
    assert_eq!(digest.notices.len(), 1);
    assert_eq!(digest.notices[0].end, d("2027-07-15"));
    assert_eq!(digest.notices[0].by, "den idéburna parten");
    assert!(
        digest
            .data_problems
            .iter()
            .any(|p| p.starts_with("B ") && p.contains("frånvarande utan ersättare")),
        "{:?}",
        digest.data_problems
    );
    assert_eq!(digest.delivery_problems.len(), 1);
    assert!(digest.delivery_problems[0].error.contains("550"));
    assert_eq!(digest.health.last_tick.as_deref(), Some("2027-02-28 22:15"));

    let r = render_digest(&digest).unwrap();
    assert_eq!(
        r.subject,
        "[IOP] Veckoöversikt vecka 9: 3 försenade kontrollpunkter"
    );
    assert!(!r.text.contains("Inget är försenat"));
    // One compact row per item, the same words in both parts.
    for part in [&r.text, &r.html] {
        assert!(part.contains("Försenad 100 dagar"), "{part}");
        assert!(part.contains("påmind 1 gång, senast "), "{part}");
        assert!(!part.contains("dagar sen"), "{part}");
        assert!(!part.contains("W09"), "{part}");
    }
    assert!(
        r.text.contains(
            "Olle Officer <olle@example.org> · påmind 9 gånger, senast 2027-02-23 · eskalerad 2026-12-11"
        ),
        "{}",
        r.text
    );
    assert!(
        r.html.contains(
            "påmind 9 gånger, senast <span style=\"white-space:nowrap\">2027-02-23</span> · eskalerad <span style=\"white-space:nowrap\">2026-12-11</span>"
        ),
        "{}",
        r.html
    );
    // No address list: the deputy reminded on 2026-11-27 is not named.
    assert!(!r.text.contains("dora@example.org"), "{}", r.text);
    // A 10-day-late check-in reminded by nobody says so.
    assert!(
        r.text
            .contains("Försenad 10 dagar, skulle vara klar 2027-02-19\n    Olle Officer <olle@example.org> · ingen påminnelse skickad"),
        "{}",
        r.text
    );
    // The counts and the three worst come before the full lists.
    let first = r.text.find("MEST BRÅTTOM").unwrap();
    let rest = r.text.find("FÖRSENAT").unwrap();
    let counts = "  3 försenade, varav 1 eskalerad\n  1 förfaller inom fyra veckor\n  1 tyst nämnd\n  2 problem\n";
    assert!(
        r.text.find(counts).is_some_and(|at| at < first),
        "{}",
        r.text
    );
    let top = &r.text[first..rest];
    let b = top.find("B Förening B").unwrap();
    let a = top.find("A Förening A").unwrap();
    assert!(b < a, "{top}");
    assert_eq!(top.matches("Försenad ").count(), 3, "{top}");
    assert!(r.html.find("id=\"antal\"").unwrap() < r.html.find("id=\"varst\"").unwrap());
    assert!(r.html.find("id=\"varst\"").unwrap() < r.html.find("id=\"forsenat\"").unwrap());
    assert!(
        r.html.contains("<h1>Veckoöversikt vecka 9</h1>"),
        "{}",
        r.html
    );
}

fn sent(on: &str, stage: &str, due: &str, to: &str) -> SentReminder {
    SentReminder {
        sent_at: DateTime::parse_from_rfc3339(&format!("{on}T08:05:00+01:00"))
            .unwrap()
            .with_timezone(&Utc),
        recipient: to.into(),
        stage: stage.into(),
        due: d(due),
    }
}

#[test]
fn only_ladder_stages_are_reminders() {
    for (stage, is) in [
        ("d-28", true),
        ("d-7", true),
        ("d0", true),
        ("d+7", true),
        ("d+105", true),
        // Withdrawals, calendar invites, a day's bundle and the digest are not.
        ("cancel", false),
        ("cancel-d+7", false),
        ("invite-1", false),
        ("bundle", false),
        ("digest", false),
        ("d+", false),
        ("d", false),
    ] {
        assert_eq!(is_reminder_stage(stage), is, "{stage}");
    }
}

#[test]
fn reminders_count_once_per_stage_and_due_date() {
    let tz = chrono_tz::Europe::Stockholm;
    let due = "2027-02-01";
    let esc = Some("d+21");
    // Nothing sent.
    assert_eq!(reminded(&[], esc, tz), Reminded::default());
    // One stage to two people is one reminder.
    let one = [
        sent("2027-02-08", "d+7", due, "olle@example.org"),
        sent("2027-02-08", "d+7", due, "dora@example.org"),
    ];
    assert_eq!(
        reminded(&one, esc, tz),
        Reminded {
            times: 1,
            last: Some(d("2027-02-08")),
            escalated: None
        }
    );
    // Two stages; the escalation is said apart, not counted.
    let two = [
        sent("2027-02-01", "d0", due, "olle@example.org"),
        sent("2027-02-08", "d+7", due, "olle@example.org"),
        sent("2027-02-22", "d+21", due, "iop-ansvarig@example.org"),
        sent("2027-02-22", "invite-2", due, "olle@example.org"),
    ];
    assert_eq!(
        reminded(&two, esc, tz),
        Reminded {
            times: 2,
            last: Some(d("2027-02-08")),
            escalated: Some(d("2027-02-22"))
        }
    );
    // A moved due date runs its stages again (RULES 8): counted again.
    let moved = [
        sent("2027-02-08", "d+7", due, "olle@example.org"),
        sent("2027-03-08", "d+7", "2027-03-01", "olle@example.org"),
    ];
    assert_eq!(reminded(&moved, esc, tz).times, 2);
}

#[test]
fn rows_say_counts_and_distances_in_words() {
    let cfg = cfg();
    let today = d("2027-03-01");
    let ladder = crate::ladder::Ladder::default();
    let p = partnership("A", "kbn", "2020-01-01", None);
    let row = |due: &str, status: Status, times: i64| {
        let c = cp(&p, Kind::Checkin, due, due, status);
        let mut i = super::model::item(&Default::default(), &p, &[], "Kultur", &c, &ladder, today);
        if times > 0 {
            i.reminded = Reminded {
                times,
                last: Some(d("2027-02-26")),
                escalated: None,
            };
        }
        i
    };
    let b = Builder::new(&cfg, today);
    let (mut digest, _) = b.finish(&HashMap::new(), &[], &health(), Vec::new(), None);
    digest.worst = vec![
        // 0, 1 and 2 days late; 0, 1 and 2 reminders.
        row("2027-03-01", Status::Due, 0),
        row("2027-02-28", Status::Overdue, 1),
        row("2027-02-27", Status::Overdue, 2),
        row("2027-03-02", Status::Upcoming, 0),
        row("2027-03-03", Status::Upcoming, 0),
    ];
    let r = render_digest(&digest).unwrap();
    for part in [&r.text, &r.html] {
        for words in [
            "i dag",
            "Försenad 1 dag",
            "Försenad 2 dagar",
            "påmind 1 gång,",
            "påmind 2 gånger,",
            "i morgon",
            "om 2 dagar",
        ] {
            assert!(part.contains(words), "{words}: {part}");
        }
        assert!(!part.contains("1 dagar"), "{part}");
        assert!(!part.contains("1 gånger"), "{part}");
    }
    assert!(r.text.contains("Senast 2027-03-01, i dag"), "{}", r.text);
}

#[test]
fn all_well_says_so_and_a_committee_without_meetings_is_flagged() {
    let mut cfg = cfg();
    let hsn = CommitteeKey::parse("hsn").unwrap();
    if let Some(c) = cfg.committees.get_mut(&hsn) {
        c.meetings.retain(|m| *m < d("2027-01-01"));
    }
    let b = Builder::new(&cfg, d("2027-03-01"));
    let (digest, _) = b.finish(&HashMap::new(), &[], &health(), Vec::new(), None);
    let r = render_digest(&digest).unwrap();
    assert_eq!(r.subject, "[IOP] Veckoöversikt vecka 9: Inget är försenat");
    assert!(r.text.contains("Inget är försenat."), "{}", r.text);
    assert!(r.html.contains("Inget är försenat."));
    assert_eq!(
        digest.data_problems,
        vec![
            "Hälso- och sjukvårdsnämnden: inga sammanträden inlagda de kommande 12 månaderna (committees.hsn.meetings)"
        ]
    );
    // No overview link until the web pages provide one.
    assert!(!r.html.contains("Öppna översikten"));
    let with_link = Digest {
        links: Some(DigestLinks {
            overview: "https://iop.example.org/oversikt".into(),
        }),
        ..digest
    };
    let r = render_digest(&with_link).unwrap();
    // minijinja escapes `/` as `&#x2f;` inside HTML; browsers read it back.
    assert!(r.html.contains("Öppna översikten"));
    assert!(
        r.html
            .contains("href=\"https:&#x2f;&#x2f;iop.example.org&#x2f;oversikt\""),
        "{}",
        r.html
    );
}

#[test]
fn officers_list_reaches_a_week_past_the_planning_stage() {
    let mut cfg = cfg();
    cfg.digest.officers = true;
    let today = d("2027-03-01");
    let mut b = Builder::new(&cfg, today);
    let policy = cfg.policy_for(&CommitteeKey::parse("kbn").unwrap(), d("2020-01-01"));
    let a = partnership("A", "kbn", "2025-01-01", None);
    let cps = vec![
        // Planera is 28 days before: 2027-04-04 is 34 days away, inside 28 + 7.
        cp(&a, Kind::Checkin, "w1", "2027-04-04", Status::Upcoming),
        // 36 days away: next Monday's list takes it.
        cp(&a, Kind::AnnualReport, "y2", "2027-04-06", Status::Upcoming),
        // Committee items: 56 + 7 days.
        cp(
            &a,
            Kind::CommitteeFollowup,
            "f1",
            "2027-05-02",
            Status::Upcoming,
        ),
        cp(&a, Kind::Checkin, "w0", "2027-02-01", Status::Overdue),
    ];
    b.add(&a, &[], &policy, "Kultur", &cps);
    let (_, officers) = b.finish(&HashMap::new(), &[], &health(), Vec::new(), None);
    assert_eq!(officers.len(), 1);
    let keys: Vec<&str> = officers[0].items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        vec!["A/checkin/w0", "A/checkin/w1", "A/committee_followup/f1"]
    );
}

#[test]
fn heads_up_lists_the_agenda_and_escapes_free_text() {
    let p = partnership("A", "kbn", "2025-01-01", None);
    let mut c = cp(
        &p,
        Kind::CommitteeFollowup,
        "f1",
        "2027-03-25",
        Status::Upcoming,
    );
    c.meeting = Some(d("2027-04-15"));
    let mut p2 = p.clone();
    p2.organisation = "<script>x</script>".into();
    let ladder = crate::ladder::Ladder::default();
    let item = super::model::item(
        &Default::default(),
        &p2,
        &[],
        "Kultur",
        &c,
        &ladder,
        d("2027-03-04"),
    );
    let r = render_heads_up(&HeadsUp {
        body_name: "Region Värmland".into(),
        committee: "Kultur- och bildningsnämnden".into(),
        meeting: d("2027-04-15"),
        deadline: d("2027-03-25"),
        today: d("2027-03-04"),
        items: vec![item],
    })
    .unwrap();
    assert_eq!(
        r.subject,
        "[IOP] IOP-ärenden till Kultur- och bildningsnämnden 2027-04-15"
    );
    assert!(r.html.contains("&lt;script&gt;"), "{}", r.html);
    assert!(!r.html.contains("<script>"));
    assert!(
        r.text.contains("Olle Officer <olle@example.org>"),
        "{}",
        r.text
    );
    assert!(r.text.contains("Om 42 dagar, 2027-04-15"), "{}", r.text);
}

#[test]
fn checkpoints_that_read_alike_share_one_row() {
    let today = d("2027-03-01");
    let ladder = crate::ladder::Ladder::default();
    let a = partnership("A", "kbn", "2020-01-01", None);
    let b = partnership("B", "kbn", "2020-01-01", None);
    let item = |p: &Partnership, kind: Kind, due: &str| {
        let c = cp(p, kind, "y6", due, Status::Overdue);
        super::model::item(&Default::default(), p, &[], "Kultur", &c, &ladder, today)
    };
    let mut reminded_twice = item(&a, Kind::Checkin, "2027-01-20");
    reminded_twice.reminded.times = 2;
    let rows = merge_alike(vec![
        // A's year: three items due the same day, reminded alike.
        item(&a, Kind::AnnualEvaluation, "2027-01-20"),
        item(&a, Kind::AnnualReport, "2027-01-20"),
        item(&a, Kind::Checkin, "2027-01-20"),
        // Reminded differently: a row of its own.
        reminded_twice,
        // Another partnership, the same day: its own row.
        item(&b, Kind::AnnualReport, "2027-01-20"),
        item(&b, Kind::Checkin, "2027-01-20"),
        // Due another day: its own row.
        item(&b, Kind::AnnualEvaluation, "2027-02-20"),
    ]);
    let what: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.partnership.as_str(), r.what.as_str()))
        .collect();
    assert_eq!(
        what,
        vec![
            (
                "A",
                "Årlig utvärdering, årsredovisning diarieförd och avstämningsmöte"
            ),
            ("A", "Avstämningsmöte"),
            ("B", "Årsredovisning diarieförd och avstämningsmöte"),
            ("B", "Årlig utvärdering"),
        ]
    );
}
