//! Synthetic registers for benchmarks: N partnerships across many committees
//! with realistic event histories. Seeded and reproducible (same seed, same
//! data), with a small SplitMix64 generator so the output never changes with
//! a dependency's version.

use chrono::{Duration, NaiveDate};

use crate::domain::{
    Amount, CheckinsPerYear, CommitteeKey, Email, EventKind, FollowupDecision, NoticeParty,
    Partnership, PartnershipId, Person,
};

/// SplitMix64: tiny, fast, and fully determined by its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// One synthetic event (the store assigns ids).
#[derive(Debug, Clone)]
pub struct SynthEvent {
    pub partnership: PartnershipId,
    pub on: NaiveDate,
    pub kind: EventKind,
}

pub struct Synth {
    pub partnerships: Vec<Partnership>,
    pub events: Vec<SynthEvent>,
}

const ORGS: [&str; 8] = [
    "Fritidsbanken",
    "Idéburna",
    "Brottsofferjouren",
    "Funktionsrätt",
    "Afasiföreningen",
    "Stadsmissionen",
    "Kvinnojouren",
    "Agera",
];

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
}

/// `n` partnerships spread over `committees`, each with about
/// `events_per_partnership` events dated up to `until`.
pub fn generate(
    n: usize,
    events_per_partnership: usize,
    committees: &[CommitteeKey],
    seed: u64,
    until: NaiveDate,
) -> Synth {
    let mut rng = Rng::new(seed);
    let mut partnerships = Vec::with_capacity(n);
    let mut events = Vec::with_capacity(n * events_per_partnership);
    let first = day(2015, 1, 1);
    let span = (day(2026, 6, 1) - first).num_days().max(1) as u64;
    for i in 0..n {
        let committee = committees[i % committees.len().max(1)].clone();
        let start = first + Duration::days(rng.below(span) as i64);
        let officer_no = rng.below(2000);
        let email = |who: &str, k: u64| Email::parse(&format!("{who}{k}@example.org")).ok();
        let (Ok(id), Some(officer_email)) = (
            PartnershipId::parse(&format!("SYN/{}:{:06}", 2015 + (i % 12), i)),
            email("handlaggare", officer_no),
        ) else {
            continue;
        };
        let fixed = rng.chance(15);
        let p = Partnership {
            id: id.clone(),
            organisation: format!("{} {}", ORGS[i % ORGS.len()], i),
            committee,
            officer: Person {
                name: format!("Handläggare {officer_no}"),
                email: officer_email,
            },
            deputy: email("ersattare", rng.below(2000)),
            partner_contact: if rng.chance(50) {
                email("kontakt", i as u64)
            } else {
                None
            },
            start,
            end: fixed.then(|| start + Duration::days(365 * (3 + rng.below(4) as i64))),
            annual_amount: Amount::from_ore(100 * (50_000 + rng.below(2_000_000) as i64)).ok(),
            checkins_per_year: if rng.chance(10) {
                CheckinsPerYear::new(4).ok()
            } else {
                None
            },
            notice_months: None,
            notes: String::new(),
        };
        history(&mut rng, &p, events_per_partnership, until, &mut events);
        partnerships.push(p);
    }
    Synth {
        partnerships,
        events,
    }
}

fn history(
    rng: &mut Rng,
    p: &Partnership,
    count: usize,
    until: NaiveDate,
    out: &mut Vec<SynthEvent>,
) {
    let from = p.start.max(until - Duration::days(365 * 4));
    let span = (until - from).num_days();
    if span <= 0 {
        return;
    }
    let mut dates: Vec<NaiveDate> = (0..count)
        .map(|_| from + Duration::days(rng.below(span as u64) as i64))
        .collect();
    dates.sort();
    for (k, on) in dates.into_iter().enumerate() {
        let kind = match rng.below(20) {
            0..=9 => EventKind::CheckinHeld,
            10..=12 => EventKind::AnnualReportReceived {
                diarienummer: format!("DNR/{}:{k}", on.format("%Y")),
                document: None,
            },
            13..=15 => EventKind::AnnualEvaluationHeld,
            16 => EventKind::CommitteeFollowupSubmitted {
                diarienummer: format!("TS/{}:{k}", on.format("%Y")),
                meeting: on + Duration::days(21),
            },
            17 => EventKind::CommitteeFollowupReported {
                meeting: on,
                paragraph: format!("§ {}", 1 + rng.below(200)),
                decision: FollowupDecision::Approved,
            },
            18 => EventKind::OfficerAbsent {
                from: on,
                to: on + Duration::days(14 + rng.below(60) as i64),
            },
            _ if k + 1 == count && rng.chance(10) => EventKind::NoticeGiven {
                by: NoticeParty::Partner,
            },
            _ => EventKind::CheckinHeld,
        };
        out.push(SynthEvent {
            partnership: p.id.clone(),
            on,
            kind,
        });
    }
}

/// The partnerships as the import reads them (`;`-separated, Swedish headers).
pub fn to_csv(partnerships: &[Partnership]) -> String {
    let mut s = String::from(
        "Diarienummer;Organisation;Nämnd;Handläggare;Handläggare e-post;Ersättare e-post;Startdatum;Slutdatum;Årligt belopp;Avstämningar per år\n",
    );
    for p in partnerships {
        s.push_str(&format!(
            "{};{};{};{};{};{};{};{};{};{}\n",
            p.id,
            p.organisation,
            p.committee,
            p.officer.name,
            p.officer.email,
            p.deputy.as_ref().map_or(String::new(), |e| e.to_string()),
            p.start,
            p.end.map_or(String::new(), |d| d.to_string()),
            p.annual_amount
                .map_or(String::new(), |a| (a.ore() / 100).to_string()),
            p.checkins_per_year
                .map_or(String::new(), |c| c.get().to_string()),
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_data() {
        let keys = [CommitteeKey::parse("kbn").unwrap()];
        let until = day(2026, 11, 1);
        let a = generate(50, 20, &keys, 7, until);
        let b = generate(50, 20, &keys, 7, until);
        let c = generate(50, 20, &keys, 8, until);
        assert_eq!(a.partnerships, b.partnerships);
        assert_eq!(a.events.len(), b.events.len());
        assert_ne!(a.partnerships, c.partnerships);
        assert!(a.events.iter().all(|e| e.on <= until));
        let per: usize = a.events.len() / a.partnerships.len();
        assert!((10..=20).contains(&per), "{per} events per partnership");
    }
}
