//! The pure engine: checkpoints per second on one core.
//! 100 000 partnerships, 20 events each, a two-year horizon (issue target:
//! ≥ 1 000 000 checkpoints/s/core). Run: `cargo bench --bench engine`.

use std::time::Instant;

use chrono::{Duration, NaiveDate};
use iopd::domain::{Channel, CommitteeKey, Event, apply_retractions};
use iopd::engine::{self, CommitteeCalendar, Input, Policy};

fn main() {
    let n: usize = std::env::var("IOPD_BENCH_PARTNERSHIPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let today = NaiveDate::from_ymd_opt(2026, 11, 1).expect("date");
    let committees: Vec<CommitteeKey> = (0..50)
        .map(|i| CommitteeKey::parse(&format!("c{i:02}")).expect("key"))
        .collect();
    let data = iopd::synth::generate(n, 20, &committees, 1, today);
    let mut by_partnership: Vec<Vec<Event>> = vec![Vec::new(); data.partnerships.len()];
    let index: std::collections::HashMap<_, _> = data
        .partnerships
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.clone(), i))
        .collect();
    for (id, e) in data.events.into_iter().enumerate() {
        if let Some(&i) = index.get(&e.partnership) {
            by_partnership[i].push(Event {
                id: id as i64 + 1,
                partnership: e.partnership,
                on: e.on,
                kind: e.kind,
                recorded_at: 0,
                recorded_by: "synth".into(),
                channel: Channel::Import,
                target: None,
                retracted: false,
            });
        }
    }
    for list in &mut by_partnership {
        apply_retractions(list);
    }
    // Ten meetings a year for 2015–2030 on every committee.
    let meetings: Vec<NaiveDate> = (2015..=2030)
        .flat_map(|y| {
            [2, 3, 4, 5, 6, 9, 10, 11, 12, 1]
                .map(move |m| NaiveDate::from_ymd_opt(y, m, 14).expect("date"))
        })
        .collect();
    let calendars: Vec<CommitteeCalendar> = committees
        .iter()
        .map(|k| CommitteeCalendar {
            key: k.clone(),
            meetings: {
                let mut m = meetings.clone();
                m.sort();
                m
            },
            submission_days: 21,
        })
        .collect();
    let policy = Policy {
        checkins_per_year: iopd::domain::CheckinsPerYear::TWO,
        committee_followup_years: 2,
        notice_months: 6,
        wind_down_plan_days: 30,
        expiry_evaluation_months: 6,
        renegotiation_sign_days: 60,
        minutes_days: 14,
        annual_anchor: None,
        annual_evaluation: true,
        yearly_documents: Vec::new(),
        tracking_start: NaiveDate::from_ymd_opt(2025, 1, 1).expect("date"),
    };
    let horizon = today + Duration::days(730);
    let mut runs = Vec::new();
    let mut produced = 0usize;
    for _ in 0..5 {
        let t = Instant::now();
        produced = 0;
        for (i, p) in data.partnerships.iter().enumerate() {
            let c = &calendars[i % calendars.len()];
            let input = Input {
                partnership: p,
                events: &by_partnership[i],
                policy: &policy,
                committee: c,
                today,
                horizon,
            };
            produced += std::hint::black_box(engine::checkpoints(&input)).len();
        }
        runs.push(t.elapsed().as_secs_f64());
    }
    runs.sort_by(f64::total_cmp);
    let median = runs[runs.len() / 2];
    println!("engine: {n} partnerships, {produced} checkpoints, median {median:.3} s of 5 runs");
    println!(
        "engine: {:.0} checkpoints/s on one core ({:.0} ns per checkpoint)",
        produced as f64 / median,
        median * 1e9 / produced as f64
    );
}
