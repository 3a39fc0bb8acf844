//! Swedish counts, distances in time and weeks: the one place for plural and
//! date phrasing in mails and pages ("om 1 dag", "i dag", "för 2 dagar
//! sedan", "påmind 1 gång", "vecka 9"). Templates reach it through the
//! filters [`register`] adds.

use chrono::{Datelike, NaiveDate};

/// "1 dag", "2 dagar", "0 dagar".
pub fn days(n: i64) -> String {
    if n.abs() == 1 {
        format!("{n} dag")
    } else {
        format!("{n} dagar")
    }
}

/// "1 gång", "9 gånger".
pub fn times(n: i64) -> String {
    if n.abs() == 1 {
        format!("{n} gång")
    } else {
        format!("{n} gånger")
    }
}

/// Where `due` lies from `today`: "om 3 dagar", "i morgon", "i dag",
/// "i går", "för 5 dagar sedan".
pub fn from_today(due: NaiveDate, today: NaiveDate) -> String {
    match (due - today).num_days() {
        0 => "i dag".into(),
        1 => "i morgon".into(),
        -1 => "i går".into(),
        n if n > 0 => format!("om {}", days(n)),
        n => format!("för {} sedan", days(-n)),
    }
}

/// "Försenad 1 dag", "Försenad 7 dagar" (never "Försenad: 7 dagar försenad").
pub fn late(n: i64) -> String {
    format!("Försenad {}", days(n))
}

/// "vecka 9": the ISO week, as people say it.
pub fn week(d: NaiveDate) -> String {
    format!("vecka {}", d.iso_week().week())
}

fn to_date(v: &minijinja::Value) -> Result<NaiveDate, minijinja::Error> {
    let s = v
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| v.to_string());
    NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|_| {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("not a date: {s:?}"),
        )
    })
}

/// Filters for the templates: `n|dagar`, `n|ganger`, `due|fran_idag(today)`,
/// `date|vecka`.
pub fn register(env: &mut minijinja::Environment<'_>) {
    env.add_filter("dagar", |n: i64| days(n));
    env.add_filter("ganger", |n: i64| times(n));
    env.add_filter(
        "fran_idag",
        |due: minijinja::Value, today: minijinja::Value| -> Result<String, minijinja::Error> {
            Ok(from_today(to_date(&due)?, to_date(&today)?))
        },
    );
    env.add_filter(
        "vecka",
        |d: minijinja::Value| -> Result<String, minijinja::Error> { Ok(week(to_date(&d)?)) },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn counts_take_the_singular_only_for_one() {
        assert_eq!(days(0), "0 dagar");
        assert_eq!(days(1), "1 dag");
        assert_eq!(days(2), "2 dagar");
        assert_eq!(times(1), "1 gång");
        assert_eq!(times(9), "9 gånger");
        assert_eq!(late(1), "Försenad 1 dag");
        assert_eq!(late(7), "Försenad 7 dagar");
    }

    #[test]
    fn distances_read_as_spoken() {
        let today = d("2027-03-01");
        assert_eq!(from_today(d("2027-03-01"), today), "i dag");
        assert_eq!(from_today(d("2027-03-02"), today), "i morgon");
        assert_eq!(from_today(d("2027-03-03"), today), "om 2 dagar");
        assert_eq!(from_today(d("2027-02-28"), today), "i går");
        assert_eq!(from_today(d("2027-02-27"), today), "för 2 dagar sedan");
    }

    #[test]
    fn weeks_are_numbers_not_iso_codes() {
        assert_eq!(week(d("2027-03-01")), "vecka 9");
        // 2027-01-01 belongs to ISO week 53 of 2026.
        assert_eq!(week(d("2027-01-01")), "vecka 53");
    }

    #[test]
    fn filters_work_in_templates() {
        let mut env = minijinja::Environment::new();
        register(&mut env);
        let out = env
            .render_str(
                "{{ 1|dagar }}/{{ 3|ganger }}/{{ due|fran_idag(today) }}/{{ due|vecka }}",
                minijinja::context! { due => "2027-03-03", today => "2027-03-01" },
            )
            .unwrap();
        assert_eq!(out, "1 dag/3 gånger/om 2 dagar/vecka 9");
    }
}
