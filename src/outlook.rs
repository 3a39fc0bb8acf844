//! What the service will do next, said in Swedish for the operator: why
//! nothing goes out now, when the next send is, and what it will bring
//! ("inget skickas nu: lördag 2026-12-05 är ingen arbetsdag; nästa utskick
//! måndag 2026-12-07 08:00, 52 påminnelser till 9 personer väntar").

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};

use crate::calendar::{days_off, is_working_day, local_to_utc};
use crate::clock::Now;
use crate::config::Config;
use crate::ladder;

pub fn weekday_sv(d: NaiveDate) -> &'static str {
    match d.weekday() {
        Weekday::Mon => "måndag",
        Weekday::Tue => "tisdag",
        Weekday::Wed => "onsdag",
        Weekday::Thu => "torsdag",
        Weekday::Fri => "fredag",
        Weekday::Sat => "lördag",
        Weekday::Sun => "söndag",
    }
}

/// Why reminders are not sent at `now`, in Swedish; `None` inside the window.
pub fn closed_sv(cfg: &Config, now: &Now) -> Option<String> {
    let day = now.today;
    if !cfg.mail.enabled {
        return Some("utskicken är avstängda (mail.enabled = false)".into());
    }
    if !is_working_day(day) {
        let holiday = days_off(day.year())
            .into_iter()
            .find(|(d, _)| *d == day)
            .map(|(_, name)| format!(" ({})", name.to_lowercase()))
            .unwrap_or_default();
        return Some(format!(
            "{} {day} är ingen arbetsdag{holiday}",
            weekday_sv(day)
        ));
    }
    if ladder::in_quiet(day, &cfg.ladder().quiet) {
        return Some(format!(
            "{} {day} ligger i ett uppehåll utan utskick",
            weekday_sv(day)
        ));
    }
    let local = now.instant.with_timezone(&now.tz).time();
    if local < cfg.mail.send_at {
        return Some(format!(
            "klockan är {} och utskicket går {}",
            local.format("%H:%M"),
            cfg.mail.send_at.format("%H:%M")
        ));
    }
    None
}

/// The next instant at or after `now` at which reminders go out: `send_at`
/// on a working day outside quiet periods; `None` when mail is off.
pub fn next_send(cfg: &Config, now: &Now) -> Option<DateTime<Utc>> {
    if !cfg.mail.enabled {
        return None;
    }
    let quiet = cfg.ladder().quiet;
    (0..800).find_map(|k| {
        let day = now.today + Duration::days(k);
        if !is_working_day(day) || ladder::in_quiet(day, &quiet) {
            return None;
        }
        let at = local_to_utc(day, cfg.mail.send_at, now.tz);
        // Inside today's window the next send is now.
        Some(at.max(now.instant))
    })
}

/// "52 påminnelser till 9 personer" for the recipients of the reminders.
pub fn reminders_sv<'a>(recipients: impl IntoIterator<Item = &'a str>) -> String {
    let mut n = 0;
    let mut people = BTreeSet::new();
    for r in recipients {
        n += 1;
        people.insert(r);
    }
    format!(
        "{} till {}",
        crate::words::count(n, "påminnelse", "påminnelser"),
        crate::words::count(people.len(), "person", "personer")
    )
}

/// The whole line; `waiting` is what the next send would bring (see
/// [`reminders_sv`]).
pub fn line(reason: &str, next: Option<DateTime<Utc>>, tz: chrono_tz::Tz, waiting: &str) -> String {
    match next {
        Some(at) => {
            let local = at.with_timezone(&tz);
            format!(
                "inget skickas nu: {reason}; nästa utskick {} {}, {waiting} väntar",
                weekday_sv(local.date_naive()),
                local.format("%Y-%m-%d %H:%M"),
            )
        }
        None => format!("inget skickas nu: {reason}"),
    }
}

/// The recipients of the reminders the send at `at` would bring, one per
/// reminder: a dry run, which reads but writes nothing.
async fn recipients_at(
    cfg: &Config,
    store: &crate::store::Store,
    at: &Now,
    pass: crate::delivery::Pass,
) -> Result<Vec<String>, crate::delivery::DeliveryError> {
    let report = crate::delivery::enqueue(cfg, store, at, true, pass).await?;
    Ok(report
        .planned
        .into_iter()
        // Reminder stages only: calendar mails are not reminders.
        .filter(|p| p.stage.starts_with('d'))
        .map(|p| p.recipient.to_string())
        .collect())
}

/// What the next send brings ("52 påminnelser till 7 personer"); empty with
/// mail off.
pub async fn waiting(
    cfg: &Config,
    store: &crate::store::Store,
    now: &Now,
) -> Result<String, crate::delivery::DeliveryError> {
    let Some(at) = next_send(cfg, now) else {
        return Ok(String::new());
    };
    let to = recipients_at(
        cfg,
        store,
        &Now::at(at, now.tz),
        crate::delivery::Pass::Incremental,
    )
    .await?;
    Ok(reminders_sv(to.iter().map(String::as_str)))
}

/// The line for `now`, or `None` when reminders may go out now.
pub async fn summary(
    cfg: &Config,
    store: &crate::store::Store,
    now: &Now,
) -> Result<Option<String>, crate::delivery::DeliveryError> {
    let Some(reason) = closed_sv(cfg, now) else {
        return Ok(None);
    };
    let waiting = waiting(cfg, store, now).await?;
    Ok(Some(line(&reason, next_send(cfg, now), now.tz, &waiting)))
}

/// What the first send after `now` brings per recipient, for the end of an
/// import: "första utskicket måndag 2026-12-07 08:00: 14 påminnelser till 6
/// personer, flest till anna@example.org (5)".
pub async fn first_send(
    cfg: &Config,
    store: &crate::store::Store,
    now: &Now,
) -> Result<String, crate::delivery::DeliveryError> {
    let Some(at) = next_send(cfg, now) else {
        return Ok("första utskicket: inget, utskicken är avstängda (mail.enabled = false)".into());
    };
    let recipients = recipients_at(
        cfg,
        store,
        &Now::at(at, now.tz),
        crate::delivery::Pass::Full,
    )
    .await?;
    let local = at.with_timezone(&now.tz);
    let when = format!(
        "{} {}",
        weekday_sv(local.date_naive()),
        local.format("%Y-%m-%d %H:%M")
    );
    if recipients.is_empty() {
        return Ok(format!("första utskicket {when}: inga påminnelser"));
    }
    let mut per: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for r in &recipients {
        *per.entry(r.as_str()).or_default() += 1;
    }
    let (top, n) = per
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(r, n)| (*r, *n))
        .unwrap_or_default();
    Ok(format!(
        "första utskicket {when}: {}, flest till {top} ({n})",
        reminders_sv(recipients.iter().map(String::as_str))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("iopd.toml");
        std::fs::write(&path, include_str!("../config/iopd.example.toml")).unwrap();
        Config::load_with_env(&path, false).unwrap()
    }

    fn now(s: &str) -> Now {
        Now::from_arg(Some(s), chrono_tz::Europe::Stockholm).unwrap()
    }

    #[test]
    fn reasons_and_the_next_send() {
        let c = cfg();
        // Saturday evening: Monday 08:00.
        let n = now("2026-12-05T18:00");
        assert_eq!(
            closed_sv(&c, &n).unwrap(),
            "lördag 2026-12-05 är ingen arbetsdag"
        );
        let next = next_send(&c, &n).unwrap();
        assert_eq!(
            line("x", Some(next), n.tz, "2 påminnelser till 1 person"),
            "inget skickas nu: x; nästa utskick måndag 2026-12-07 08:00, 2 påminnelser till 1 person väntar"
        );
        // Monday before send_at: the same day.
        let n = now("2026-12-07T07:00");
        assert_eq!(
            closed_sv(&c, &n).unwrap(),
            "klockan är 07:00 och utskicket går 08:00"
        );
        assert_eq!(next_send(&c, &n).unwrap(), now("2026-12-07T08:00").instant);
        // Christmas: Christmas Eve (Thursday) to Boxing Day are days off; next is Monday 28th.
        let n = now("2026-12-24T09:00");
        assert_eq!(
            closed_sv(&c, &n).unwrap(),
            "torsdag 2026-12-24 är ingen arbetsdag (julafton)"
        );
        assert_eq!(next_send(&c, &n).unwrap(), now("2026-12-28T08:00").instant);
        // Inside the window: nothing to explain, and the next send is now.
        let n = now("2026-12-07T09:00");
        assert_eq!(closed_sv(&c, &n), None);
        assert_eq!(next_send(&c, &n).unwrap(), n.instant);
    }

    #[test]
    fn counts_in_swedish() {
        assert_eq!(reminders_sv([]), "0 påminnelser till 0 personer");
        assert_eq!(reminders_sv(["a"]), "1 påminnelse till 1 person");
        assert_eq!(
            reminders_sv(["a", "a", "b"]),
            "3 påminnelser till 2 personer"
        );
    }
}
