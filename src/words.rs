//! Swedish counts, distances in time and weeks: the one place for plural and
//! date phrasing in mails and pages ("om 1 dag", "i dag", "för 2 dagar
//! sedan", "påmind 1 gång", "vecka 9"). Templates reach it through the
//! filters [`register`] adds.

use chrono::{Datelike, NaiveDate};

/// A count with its noun in the right number: `plural(1, "rad", "rader")`
/// is "1 rad", `plural(0, "rad", "rader")` "0 rader" (Swedish takes the
/// singular for one only).
pub fn plural(n: impl Into<i64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n.abs() == 1 { one } else { many })
}

/// [`plural`] for a `usize` count (lengths of lists).
pub fn count(n: usize, one: &str, many: &str) -> String {
    plural(i64::try_from(n).unwrap_or(i64::MAX), one, many)
}

/// A list as a sentence says it: "a", "a och b", "a, b och c".
pub fn list(items: &[String]) -> String {
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} och {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

/// "1 dag", "2 dagar", "0 dagar".
pub fn days(n: i64) -> String {
    plural(n, "dag", "dagar")
}

/// "1 gång", "9 gånger".
pub fn times(n: i64) -> String {
    plural(n, "gång", "gånger")
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

/// HTML-escaped `text` with every ISO date kept on one line, so a phone
/// never breaks "2026-11-27" after its first hyphen.
pub fn dates_unbroken_html(text: &str) -> String {
    wrap_dates(text, "<span style=\"white-space:nowrap\">")
}

/// The same for the pages, whose policy allows no inline style: the class
/// `date-nowrap` of `iopd.css`.
pub fn dates_unbroken_page(text: &str) -> String {
    wrap_dates(text, "<span class=\"date-nowrap\">")
}

fn wrap_dates(text: &str, open: &str) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let date = chars.len() >= i + 10
            && chars[i..i + 10].iter().enumerate().all(|(k, c)| {
                if k == 4 || k == 7 {
                    *c == '-'
                } else {
                    c.is_ascii_digit()
                }
            });
        if date {
            out.push_str(open);
            out.extend(&chars[i..i + 10]);
            out.push_str("</span>");
            i += 10;
            continue;
        }
        match chars[i] {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// Filters for the templates: `n|dagar`, `n|ganger`, `due|fran_idag(today)`,
/// `date|vecka`, and for HTML `text|hela_datum` (dates never broken; in pages
/// `text|hela_datum_sida`, by class, as their policy allows no inline style).
pub fn register(env: &mut minijinja::Environment<'_>) {
    env.add_filter("hela_datum", |text: String| {
        minijinja::Value::from_safe_string(dates_unbroken_html(&text))
    });
    env.add_filter("hela_datum_sida", |text: String| {
        minijinja::Value::from_safe_string(dates_unbroken_page(&text))
    });
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

    #[test]
    fn lists_read_as_a_sentence() {
        let l = |v: &[&str]| list(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(l(&[]), "");
        assert_eq!(l(&["nämnd"]), "nämnd");
        assert_eq!(l(&["nämnd", "startdatum"]), "nämnd och startdatum");
        assert_eq!(
            l(&["id", "nämnd", "startdatum"]),
            "id, nämnd och startdatum"
        );
    }

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
        assert_eq!(plural(1, "rad", "rader"), "1 rad");
        assert_eq!(plural(2, "rad", "rader"), "2 rader");
        assert_eq!(plural(0, "problem", "problem"), "0 problem");
        assert_eq!(count(1, "händelse", "händelser"), "1 händelse");
        assert_eq!(count(3, "händelse", "händelser"), "3 händelser");
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
    fn dates_stay_whole_and_the_rest_is_escaped() {
        assert_eq!(
            dates_unbroken_html("<b> senast 2026-11-27 (om 4 dagar)"),
            "&lt;b&gt; senast <span style=\"white-space:nowrap\">2026-11-27</span> (om 4 dagar)"
        );
        assert_eq!(dates_unbroken_html("2026-1-27"), "2026-1-27");
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
