//! Swedish working days, month arithmetic and local time.
//!
//! No well-kept crate covers Swedish public holidays (the one that exists pins
//! an old chrono-tz), so they are computed here from Lag (1989:253).

use std::sync::OnceLock;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Timelike, Utc,
    Weekday,
};
use chrono_tz::Tz;

/// Easter Sunday in the Gregorian calendar (Meeus/Jones/Butcher).
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    ymd(year, month as u32, day as u32)
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    // Only called with dates that exist (fixed holidays and computed ones).
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
}

/// The first `weekday` on or after `from`.
fn weekday_on_or_after(from: NaiveDate, weekday: Weekday) -> NaiveDate {
    let ahead = (7 + weekday.num_days_from_monday() - from.weekday().num_days_from_monday()) % 7;
    from + Duration::days(i64::from(ahead))
}

/// Days off in Swedish public administration for `year`, with their Swedish
/// names: the public holidays of Lag (1989:253) that fall on weekdays in
/// practice, plus Midsummer Eve, Christmas Eve and New Year's Eve, which the
/// law does not list but on which offices are closed. Whit Monday has not been
/// a holiday since 2005; National Day has been one since then.
pub fn days_off(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let easter = easter_sunday(year);
    let midsummer_day = weekday_on_or_after(ymd(year, 6, 20), Weekday::Sat);
    let all_saints = weekday_on_or_after(ymd(year, 10, 31), Weekday::Sat);
    let mut days = vec![
        (ymd(year, 1, 1), "Nyårsdagen"),
        (ymd(year, 1, 6), "Trettondedag jul"),
        (easter - Duration::days(2), "Långfredagen"),
        (easter, "Påskdagen"),
        (easter + Duration::days(1), "Annandag påsk"),
        (ymd(year, 5, 1), "Första maj"),
        (easter + Duration::days(39), "Kristi himmelsfärdsdag"),
        (easter + Duration::days(49), "Pingstdagen"),
        (midsummer_day - Duration::days(1), "Midsommarafton"),
        (midsummer_day, "Midsommardagen"),
        (all_saints, "Alla helgons dag"),
        (ymd(year, 12, 24), "Julafton"),
        (ymd(year, 12, 25), "Juldagen"),
        (ymd(year, 12, 26), "Annandag jul"),
        (ymd(year, 12, 31), "Nyårsafton"),
    ];
    if year >= 2005 {
        days.push((ymd(year, 6, 6), "Sveriges nationaldag"));
    } else {
        days.push((easter + Duration::days(50), "Annandag pingst"));
    }
    days.sort();
    days
}

const FIRST_YEAR: i32 = 1900;
const LAST_YEAR: i32 = 2200;

/// One bit per day from 1900-01-01; the engine asks millions of times a second.
fn off_table() -> &'static Vec<u64> {
    static TABLE: OnceLock<Vec<u64>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let start = ymd(FIRST_YEAR, 1, 1);
        let days = (ymd(LAST_YEAR + 1, 1, 1) - start).num_days() as usize;
        let mut bits = vec![0u64; days / 64 + 1];
        for year in FIRST_YEAR..=LAST_YEAR {
            for (d, _) in days_off(year) {
                let i = (d - start).num_days() as usize;
                bits[i / 64] |= 1 << (i % 64);
            }
        }
        bits
    })
}

fn is_day_off(d: NaiveDate) -> bool {
    let start = ymd(FIRST_YEAR, 1, 1);
    let i = (d - start).num_days();
    if i < 0 || d.year() > LAST_YEAR {
        return days_off(d.year()).iter().any(|(h, _)| *h == d);
    }
    let i = i as usize;
    off_table()[i / 64] & (1 << (i % 64)) != 0
}

/// Monday to Friday and not a day off.
pub fn is_working_day(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !is_day_off(d)
}

/// `d` itself if it is a working day, else the closest working day before it.
/// Internal action deadlines move this way so nobody loses lead time.
pub fn working_day_on_or_before(d: NaiveDate) -> NaiveDate {
    let mut x = d;
    while !is_working_day(x) {
        x -= Duration::days(1);
    }
    x
}

/// `d` itself if it is a working day, else the closest working day after it.
pub fn working_day_on_or_after(d: NaiveDate) -> NaiveDate {
    let mut x = d;
    while !is_working_day(x) {
        x += Duration::days(1);
    }
    x
}

/// `d` plus `months` calendar months, clamped to the month's last day
/// (2024-01-31 + 1 month = 2024-02-29), as Lag (1930:173) counts months.
pub fn add_months(d: NaiveDate, months: i32) -> NaiveDate {
    let total = d.year() * 12 + d.month0() as i32 + months;
    let (y, m0) = (total.div_euclid(12), total.rem_euclid(12) as u32);
    let last = last_day_of_month(y, m0 + 1);
    ymd(y, m0 + 1, d.day().min(last))
}

pub fn last_day_of_month(year: i32, month: u32) -> u32 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    (ymd(ny, nm, 1) - Duration::days(1)).day()
}

/// The `k`-th anniversary of `start` (k = 0 is the start itself). A 29 February
/// start has its anniversaries on 28 February in common years.
pub fn anniversary(start: NaiveDate, k: i32) -> NaiveDate {
    add_months(start, 12 * k)
}

/// The civil date of an instant in `tz`.
pub fn local_date(instant: DateTime<Utc>, tz: Tz) -> NaiveDate {
    instant.with_timezone(&tz).date_naive()
}

/// The instant of a local wall-clock time. A time skipped by the spring DST
/// change is taken as the first instant after the gap (02:30 → 03:00 CEST), as
/// the README promises; a repeated autumn time is taken at its first
/// occurrence, so a job runs once.
pub fn local_to_utc(date: NaiveDate, time: NaiveTime, tz: Tz) -> DateTime<Utc> {
    let naive = date.and_time(time);
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // The first whole minute that exists is the end of the gap (gaps
            // start and end on whole minutes in every zone in use).
            let start = naive.date().and_time(
                NaiveTime::from_hms_opt(naive.hour(), naive.minute(), 0).unwrap_or(naive.time()),
            );
            (1..=24 * 60)
                .map(|m| start + Duration::minutes(m))
                .find_map(|t| match tz.from_local_datetime(&t) {
                    LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                        Some(t.with_timezone(&Utc))
                    }
                    LocalResult::None => None,
                })
                .unwrap_or_else(|| Utc.from_utc_datetime(&naive))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn easter_matches_the_almanac_2020_to_2040() {
        // Påskdagen as printed in the Swedish almanac.
        let expected = [
            "2020-04-12",
            "2021-04-04",
            "2022-04-17",
            "2023-04-09",
            "2024-03-31",
            "2025-04-20",
            "2026-04-05",
            "2027-03-28",
            "2028-04-16",
            "2029-04-01",
            "2030-04-21",
            "2031-04-13",
            "2032-03-28",
            "2033-04-17",
            "2034-04-09",
            "2035-03-25",
            "2036-04-13",
            "2037-04-05",
            "2038-04-25",
            "2039-04-10",
            "2040-04-01",
        ];
        for (i, e) in expected.iter().enumerate() {
            assert_eq!(easter_sunday(2020 + i as i32), d(e));
        }
    }

    #[test]
    fn movable_days_off_match_the_almanac() {
        // (Långfredagen, Kristi himmelsfärd, Midsommarafton, Alla helgons dag)
        let table = [
            (2020, "2020-04-10", "2020-05-21", "2020-06-19", "2020-10-31"),
            (2021, "2021-04-02", "2021-05-13", "2021-06-25", "2021-11-06"),
            (2022, "2022-04-15", "2022-05-26", "2022-06-24", "2022-11-05"),
            (2023, "2023-04-07", "2023-05-18", "2023-06-23", "2023-11-04"),
            (2024, "2024-03-29", "2024-05-09", "2024-06-21", "2024-11-02"),
            (2025, "2025-04-18", "2025-05-29", "2025-06-20", "2025-11-01"),
            (2026, "2026-04-03", "2026-05-14", "2026-06-19", "2026-10-31"),
            (2027, "2027-03-26", "2027-05-06", "2027-06-25", "2027-11-06"),
            (2028, "2028-04-14", "2028-05-25", "2028-06-23", "2028-11-04"),
            (2029, "2029-03-30", "2029-05-10", "2029-06-22", "2029-11-03"),
            (2030, "2030-04-19", "2030-05-30", "2030-06-21", "2030-11-02"),
            (2031, "2031-04-11", "2031-05-22", "2031-06-20", "2031-11-01"),
            (2032, "2032-03-26", "2032-05-06", "2032-06-25", "2032-11-06"),
            (2033, "2033-04-15", "2033-05-26", "2033-06-24", "2033-11-05"),
            (2034, "2034-04-07", "2034-05-18", "2034-06-23", "2034-11-04"),
            (2035, "2035-03-23", "2035-05-03", "2035-06-22", "2035-11-03"),
            (2036, "2036-04-11", "2036-05-22", "2036-06-20", "2036-11-01"),
            (2037, "2037-04-03", "2037-05-14", "2037-06-19", "2037-10-31"),
            (2038, "2038-04-23", "2038-06-03", "2038-06-25", "2038-11-06"),
            (2039, "2039-04-08", "2039-05-19", "2039-06-24", "2039-11-05"),
            (2040, "2040-03-30", "2040-05-10", "2040-06-22", "2040-11-03"),
        ];
        for (year, good_friday, ascension, midsummer_eve, all_saints) in table {
            let off = days_off(year);
            for (day, name) in [
                (good_friday, "Långfredagen"),
                (ascension, "Kristi himmelsfärdsdag"),
                (midsummer_eve, "Midsommarafton"),
                (all_saints, "Alla helgons dag"),
            ] {
                assert!(off.contains(&(d(day), name)), "{year}: {name} {day}");
            }
            // Annandag påsk is the Monday after Easter.
            let monday = d(good_friday) + Duration::days(3);
            assert!(!is_working_day(monday), "{year}: annandag påsk {monday}");
            assert!(!is_working_day(d(good_friday)));
            assert!(!is_working_day(d(ascension)));
            assert!(!is_working_day(d(midsummer_eve)));
        }
    }

    #[test]
    fn fixed_days_off() {
        for day in [
            "2027-01-01",
            "2027-01-06",
            "2027-05-03",
            "2027-06-07",
            "2027-12-24",
            "2027-12-31",
            "2026-05-01",
            "2026-06-05",
            "2027-12-27",
        ] {
            let x = d(day);
            // 2027-05-03 and 2027-06-07 are ordinary Mondays: 1 May and 6 June fall on weekends.
            let expect_off = !matches!(
                day,
                "2027-05-03" | "2027-06-07" | "2026-06-05" | "2027-12-27"
            );
            assert_eq!(!is_working_day(x), expect_off, "{day}");
        }
        // Whit Monday is not a holiday since 2005 (2026-05-25 is annandag pingst).
        assert!(is_working_day(d("2026-05-25")));
        // National Day on a weekday.
        assert!(!is_working_day(d("2028-06-06")));
    }

    #[test]
    fn moving_to_working_days() {
        // Midsummer Eve 2027 is Friday 25 June: an action due then moves to Thursday.
        assert_eq!(working_day_on_or_before(d("2027-06-25")), d("2027-06-24"));
        // Easter 2027: Good Friday 26 March to Easter Monday 29 March.
        assert_eq!(working_day_on_or_before(d("2027-03-29")), d("2027-03-25"));
        assert_eq!(working_day_on_or_after(d("2027-03-26")), d("2027-03-30"));
        // Christmas 2026: Thu 24, Fri 25, Sat, Sun, then Monday 28 is a working day.
        assert_eq!(working_day_on_or_before(d("2026-12-27")), d("2026-12-23"));
        assert_eq!(working_day_on_or_after(d("2026-12-24")), d("2026-12-28"));
    }

    #[test]
    fn month_arithmetic_clamps() {
        assert_eq!(add_months(d("2024-01-31"), 1), d("2024-02-29"));
        assert_eq!(add_months(d("2025-01-31"), 1), d("2025-02-28"));
        assert_eq!(add_months(d("2024-02-29"), 18), d("2025-08-29"));
        assert_eq!(add_months(d("2026-08-31"), 6), d("2027-02-28"));
        assert_eq!(add_months(d("2026-03-31"), -1), d("2026-02-28"));
        assert_eq!(anniversary(d("2024-02-29"), 1), d("2025-02-28"));
        assert_eq!(anniversary(d("2024-02-29"), 4), d("2028-02-29"));
    }

    #[test]
    fn local_time_across_dst() {
        let tz: Tz = chrono_tz::Europe::Stockholm;
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        // Winter: UTC+1; summer: UTC+2.
        assert_eq!(
            local_to_utc(d("2027-01-11"), t(8, 0), tz).to_rfc3339(),
            "2027-01-11T07:00:00+00:00"
        );
        assert_eq!(
            local_to_utc(d("2027-06-14"), t(8, 0), tz).to_rfc3339(),
            "2027-06-14T06:00:00+00:00"
        );
        // 2027-03-28 02:30 does not exist: taken as 03:00 CEST, the end of the gap.
        assert_eq!(
            local_to_utc(d("2027-03-28"), t(2, 30), tz).to_rfc3339(),
            "2027-03-28T01:00:00+00:00"
        );
        // 2027-10-31 02:30 happens twice: the first (CEST) is used.
        assert_eq!(
            local_to_utc(d("2027-10-31"), t(2, 30), tz).to_rfc3339(),
            "2027-10-31T00:30:00+00:00"
        );
        let late = DateTime::parse_from_rfc3339("2027-03-31T23:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(local_date(late, tz), d("2027-04-01"));
    }
}
