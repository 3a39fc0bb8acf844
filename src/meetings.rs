//! A committee's meeting plan (sammanträdesplan) brought in as text: a list
//! of dates, or an iCalendar file exported from the secretary's calendar.
//! Every problem is named by its line, in Swedish.

use chrono::NaiveDate;
use chrono_tz::Tz;

/// The meeting dates in `bytes`, sorted and without repeats; or every
/// problem found.
pub fn parse_plan(bytes: &[u8], zone: Tz) -> Result<Vec<NaiveDate>, Vec<String>> {
    let text = std::str::from_utf8(bytes).map_err(|_| {
        vec!["filen är inte UTF-8; spara den som UTF-8 (eller .ics) och försök igen".to_string()]
    })?;
    let text = text.trim_start_matches('\u{feff}');
    let mut dates = if text.trim_start().starts_with("BEGIN:VCALENDAR") {
        from_icalendar(text, zone)?
    } else {
        from_list(text)?
    };
    if dates.is_empty() {
        return Err(vec!["det finns inga datum att lägga in".to_string()]);
    }
    dates.sort();
    dates.dedup();
    Ok(dates)
}

/// Dates separated by line breaks, spaces, commas or semicolons.
fn from_list(text: &str) -> Result<Vec<NaiveDate>, Vec<String>> {
    let mut dates = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        for word in line
            .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
            .filter(|w| !w.is_empty())
        {
            match crate::domain::parse_date(word) {
                Ok(d) => dates.push(d),
                Err(e) => problems.push(format!("rad {}: {}", i + 1, e.0)),
            }
        }
    }
    if problems.is_empty() {
        Ok(dates)
    } else {
        Err(problems)
    }
}

/// Each event's start date in the body's zone; cancelled events are left out.
fn from_icalendar(text: &str, zone: Tz) -> Result<Vec<NaiveDate>, Vec<String>> {
    let mut dates = Vec::new();
    let mut problems = Vec::new();
    let mut events = 0usize;
    for calendar in ical::IcalParser::new(text.as_bytes()) {
        let calendar = match calendar {
            Ok(c) => c,
            Err(e) => {
                problems.push(format!("filen kan inte läsas som iCalendar: {e}"));
                break;
            }
        };
        for event in calendar.events {
            events += 1;
            let prop = |name: &str| event.properties.iter().find(|p| p.name == name);
            let summary = prop("SUMMARY")
                .and_then(|p| p.value.clone())
                .unwrap_or_else(|| format!("händelse {events}"));
            if prop("STATUS").and_then(|p| p.value.as_deref()) == Some("CANCELLED") {
                continue;
            }
            match prop("DTSTART").and_then(|p| p.value.as_deref()) {
                Some(v) => match start_date(v, zone) {
                    Some(d) => dates.push(d),
                    None => problems.push(format!(
                        "{summary}: DTSTART {v:?} är inget datum (ÅÅÅÅMMDD eller ÅÅÅÅMMDDTHHMMSS)"
                    )),
                },
                None => problems.push(format!("{summary}: saknar DTSTART")),
            }
        }
    }
    if events == 0 && problems.is_empty() {
        problems.push("filen innehåller inga sammanträden (VEVENT)".to_string());
    }
    if problems.is_empty() {
        Ok(dates)
    } else {
        Err(problems)
    }
}

/// `20270218`, `20270218T130000` (local or with TZID) or `20270218T120000Z`
/// (UTC, placed in the body's zone).
fn start_date(v: &str, zone: Tz) -> Option<NaiveDate> {
    let day = NaiveDate::parse_from_str(v.get(..8)?, "%Y%m%d").ok()?;
    match v.len() {
        8 => Some(day),
        15 => chrono::NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S")
            .ok()
            .map(|t| t.date()),
        16 if v.ends_with('Z') => chrono::NaiveDateTime::parse_from_str(&v[..15], "%Y%m%dT%H%M%S")
            .ok()
            .map(|t| t.and_utc().with_timezone(&zone).date_naive()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_list_of_dates_in_any_separation() {
        let got = parse_plan(
            b"2027-02-18\n2027-03-18, 2027-04-15;2027-02-18\n\n",
            chrono_tz::Europe::Stockholm,
        )
        .unwrap();
        assert_eq!(got, vec![d("2027-02-18"), d("2027-03-18"), d("2027-04-15")]);
    }

    #[test]
    fn a_bad_date_is_named_by_its_line() {
        let err = parse_plan(
            b"2027-02-18\n2027-13-01\n18/3/2027",
            chrono_tz::Europe::Stockholm,
        )
        .unwrap_err();
        assert_eq!(err.len(), 2, "{err:?}");
        assert!(err[0].starts_with("rad 2: "), "{err:?}");
        assert!(err[1].starts_with("rad 3: "), "{err:?}");
    }

    #[test]
    fn an_icalendar_file_gives_each_meetings_local_date() {
        // 23:30 UTC on 17 February is 00:30 on the 18th in Stockholm.
        let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//SV\r\n\
            BEGIN:VEVENT\r\nUID:a\r\nSUMMARY:KBN\r\nDTSTART:20270217T233000Z\r\nEND:VEVENT\r\n\
            BEGIN:VEVENT\r\nUID:b\r\nSUMMARY:KBN\r\nDTSTART;TZID=Europe/Stockholm:20270318T130000\r\nEND:VEVENT\r\n\
            BEGIN:VEVENT\r\nUID:c\r\nSUMMARY:KBN\r\nDTSTART;VALUE=DATE:20270415\r\nEND:VEVENT\r\n\
            BEGIN:VEVENT\r\nUID:d\r\nSUMMARY:Inställt\r\nSTATUS:CANCELLED\r\nDTSTART:20270506\r\nEND:VEVENT\r\n\
            END:VCALENDAR\r\n";
        let got = parse_plan(ics.as_bytes(), chrono_tz::Europe::Stockholm).unwrap();
        assert_eq!(got, vec![d("2027-02-18"), d("2027-03-18"), d("2027-04-15")]);
    }

    #[test]
    fn an_event_without_a_start_is_named() {
        let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:a\r\nSUMMARY:Nämndsammanträde\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let err = parse_plan(ics.as_bytes(), chrono_tz::Europe::Stockholm).unwrap_err();
        assert_eq!(err, vec!["Nämndsammanträde: saknar DTSTART".to_string()]);
    }

    #[test]
    fn nothing_to_add_is_refused() {
        assert!(parse_plan(b" \n ", chrono_tz::Europe::Stockholm).is_err());
    }
}
