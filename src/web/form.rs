//! The forms on the pages: which evidence a checkpoint asks for, and the
//! submitted fields turned into an event or explained per field, in Swedish.
//! Pure: values in, an event or the errors out; nothing here writes.

use chrono::{Duration, NaiveDate};
use serde::Serialize;

use crate::domain::{Amount, EventKind, FollowupDecision, YearlyDocument, parse_date};
use crate::engine::Kind;

/// The evidence a checkpoint's form asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// A date (check-in, evaluation, payments stopped, signed agreement …).
    Date,
    /// A diarienummer (annual report, wind-down plan).
    Diarienummer,
    /// The memo to the committee: diarienummer and the meeting it goes to.
    Memo,
    /// A follow-up decision: meeting date, minute §, what was decided.
    Decision,
    /// A termination decision: meeting date and minute §.
    Minutes,
    /// Several yearly documents, each ticked with its diarienummer (Örebro
    /// kommun's guideline); chosen by the checkpoint, not its kind.
    Documents,
    /// Nothing to record (the agreement's end is a fact).
    Nothing,
}

pub fn evidence_for(kind: Kind, parent: Option<Kind>) -> Evidence {
    match kind {
        Kind::Checkin
        | Kind::AnnualEvaluation
        | Kind::PaymentsStop
        | Kind::ExpiryEvaluation
        | Kind::RenegotiatedAgreementSigned
        | Kind::PaymentChange => Evidence::Date,
        Kind::AnnualReport | Kind::WindDownPlan => Evidence::Diarienummer,
        Kind::CommitteeFollowup | Kind::TerminationDecision => Evidence::Memo,
        Kind::CommitteeMinutes if parent == Some(Kind::TerminationDecision) => Evidence::Minutes,
        Kind::CommitteeMinutes => Evidence::Decision,
        Kind::AgreementEnd => Evidence::Nothing,
    }
}

/// One problem, shown next to its field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

/// The submitted fields; the first value of a name counts.
#[derive(Debug, Clone, Default)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name` as sent, spacing and line breaks kept.
    pub fn raw(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    pub fn get(&self, name: &str) -> &str {
        self.raw(name).trim()
    }
}

struct Check<'a> {
    fields: &'a Fields,
    errors: Vec<FieldError>,
}

impl<'a> Check<'a> {
    fn err(&mut self, field: &'static str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field,
            message: message.into(),
        });
    }

    /// A date written ÅÅÅÅ-MM-DD, optionally not after `latest`, not before `earliest`.
    fn date(
        &mut self,
        field: &'static str,
        earliest: Option<(NaiveDate, &str)>,
        latest: Option<(NaiveDate, &str)>,
    ) -> Option<NaiveDate> {
        let raw = self.fields.get(field);
        if raw.is_empty() {
            self.err(field, "Ange ett datum.");
            return None;
        }
        let Ok(d) = parse_date(raw) else {
            self.err(
                field,
                "Skriv datumet som ÅÅÅÅ-MM-DD, till exempel 2026-05-25.",
            );
            return None;
        };
        if let Some((max, why)) = latest
            && d > max
        {
            self.err(field, why);
            return None;
        }
        if let Some((min, why)) = earliest
            && d < min
        {
            self.err(field, why);
            return None;
        }
        Some(d)
    }

    /// A diarienummer or minute §: one line, no markup, at most 64 characters.
    fn reference(&mut self, field: &'static str, what: &str) -> Option<String> {
        let raw = self.fields.get(field);
        if raw.is_empty() {
            self.err(field, format!("Ange {what}."));
            return None;
        }
        if raw.chars().any(char::is_control) {
            self.err(
                field,
                format!(
                    "{} får inte innehålla radbrytningar eller kontrolltecken.",
                    cap(what)
                ),
            );
            return None;
        }
        if raw.contains(['<', '>']) {
            self.err(
                field,
                format!("{} får inte innehålla < eller >.", cap(what)),
            );
            return None;
        }
        if raw.chars().count() > 64 {
            self.err(field, format!("{} får vara högst 64 tecken.", cap(what)));
            return None;
        }
        // The same rule `iopd record` applies; it cannot refuse what passed above.
        match crate::record::reference(field, raw) {
            Ok(t) => Some(t),
            Err(_) => {
                self.err(field, format!("{} kan inte användas.", cap(what)));
                None
            }
        }
    }

    fn done<T>(self, v: Option<T>) -> Result<T, Vec<FieldError>> {
        match v {
            Some(v) if self.errors.is_empty() => Ok(v),
            _ => Err(self.errors),
        }
    }
}

fn cap(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The field a memo's meeting is chosen with: a planned meeting's date, or
/// this value for "Annat datum" (then the date is in `annat_datum`).
pub const OTHER_MEETING: &str = "annat";

/// How many planned meetings a memo's form offers.
pub const MEETINGS_OFFERED: usize = 6;

/// The planned meetings a memo's form offers: the committee's on or after
/// the checkpoint's due date (its submission deadline), the first few.
pub fn meetings_offered(plan: &[NaiveDate], due: NaiveDate) -> Vec<NaiveDate> {
    let mut m: Vec<NaiveDate> = plan.iter().copied().filter(|d| *d >= due).collect();
    m.sort_unstable();
    m.dedup();
    m.truncate(MEETINGS_OFFERED);
    m
}

/// An example diarienummer for a page, in the partnership's own series: the
/// id's prefix before `/` (the committee's diarium, `KUB/2021:101` → `KUB`)
/// with `year`. `None` when the id does not look like a diarienummer.
pub fn diarienummer_example(partnership_id: &str, year: i32, number: u32) -> Option<String> {
    let (prefix, rest) = partnership_id.split_once('/')?;
    let ok = !prefix.is_empty()
        && prefix.len() <= 12
        && prefix.chars().all(|c| c.is_alphanumeric() || c == '-')
        && !rest.is_empty();
    ok.then(|| format!("{prefix}/{year}:{number}"))
}

/// The meeting a memo goes to: a planned one, or another date only with the
/// explicit confirmation that it is not in the committee's plan.
fn memo_meeting(
    c: &mut Check<'_>,
    plan: &[NaiveDate],
    not_before_start: Option<(NaiveDate, &str)>,
) -> Option<NaiveDate> {
    let choice = c.fields.get("sammantrade");
    let date = match choice {
        "" => {
            c.err(
                "sammantrade",
                "Välj sammanträdet som tjänsteskrivelsen går till.",
            );
            return None;
        }
        OTHER_MEETING => c.date("annat_datum", not_before_start, None)?,
        // A planned meeting's radio button, or a date typed by an older form.
        _ => c.date("sammantrade", not_before_start, None)?,
    };
    if !plan.contains(&date) && c.fields.get("utanfor_plan") != "ja" {
        c.err(
            "utanfor_plan",
            format!(
                "{date} finns inte i nämndens sammanträdesplan. Kontrollera datumet. Stämmer \
                 det ändå kryssar du i rutan och registrerar igen."
            ),
        );
        return None;
    }
    Some(date)
}

/// The event a "done" form for a checkpoint of `kind` records and the date
/// it is recorded on, or every problem with the fields. `start` is the
/// agreement's start date; `plan` the committee's planned meetings (a memo
/// to another date needs a confirmation).
pub fn parse_done(
    kind: Kind,
    parent: Option<Kind>,
    fields: &Fields,
    today: NaiveDate,
    start: NaiveDate,
    plan: &[NaiveDate],
) -> Result<(NaiveDate, EventKind), Vec<FieldError>> {
    let evidence = evidence_for(kind, parent);
    let is_termination = matches!(kind, Kind::TerminationDecision | Kind::WindDownPlan)
        || parent == Some(Kind::TerminationDecision);
    let mut c = Check {
        fields,
        errors: Vec::new(),
    };
    let future = (
        today,
        "Datumet ligger i framtiden. Registrera det som redan har hänt.",
    );
    let before = format!("Datumet är före överenskommelsens start ({start}).");
    let not_before_start = Some((start, before.as_str()));
    let event = match evidence {
        // Chosen by the checkpoint; `parse_documents` reads that form.
        Evidence::Nothing | Evidence::Documents => None,
        Evidence::Date => {
            let on = c.date("datum", not_before_start, Some(future));
            return c.done(on.zip(date_kind(kind)));
        }
        Evidence::Diarienummer => c.reference("diarienummer", "diarienumret").map(|d| {
            if is_termination {
                EventKind::WindDownPlanRegistered { diarienummer: d }
            } else {
                EventKind::AnnualReportReceived {
                    diarienummer: d,
                    document: None,
                }
            }
        }),
        Evidence::Memo => {
            let d = c.reference("diarienummer", "diarienumret");
            // The memo goes to a coming meeting: the date may be ahead.
            let meeting = memo_meeting(&mut c, plan, not_before_start);
            match (d, meeting) {
                (Some(diarienummer), Some(meeting)) if is_termination => {
                    Some(EventKind::TerminationSubmitted {
                        diarienummer,
                        meeting,
                    })
                }
                (Some(diarienummer), Some(meeting)) => {
                    Some(EventKind::CommitteeFollowupSubmitted {
                        diarienummer,
                        meeting,
                    })
                }
                _ => None,
            }
        }
        Evidence::Minutes => {
            let meeting = c.date("sammantrade", not_before_start, Some(future));
            let paragraph = c.reference("paragraf", "paragrafen");
            match (meeting, paragraph) {
                (Some(meeting), Some(paragraph)) => {
                    Some(EventKind::TerminationDecided { meeting, paragraph })
                }
                _ => None,
            }
        }
        Evidence::Decision => {
            let meeting = c.date("sammantrade", not_before_start, Some(future));
            let paragraph = c.reference("paragraf", "paragrafen");
            let decision = match fields.get("beslut") {
                "godkand" => Some(FollowupDecision::Approved),
                "omforhandling" => Some(FollowupDecision::Renegotiation),
                "belopp" => {
                    let amount = match Amount::parse_sek(fields.get("belopp")) {
                        Ok(a) if !fields.get("belopp").is_empty() => Some(a),
                        _ => {
                            c.err(
                                "belopp",
                                "Ange det nya årliga beloppet i kronor, till exempel 1 250 000.",
                            );
                            None
                        }
                    };
                    let from = c.date("belopp_fran", not_before_start, None);
                    match (amount, from) {
                        (Some(amount), Some(from)) => {
                            Some(FollowupDecision::AmountChanged { amount, from })
                        }
                        _ => None,
                    }
                }
                _ => {
                    c.err("beslut", "Välj vad nämnden beslutade.");
                    None
                }
            };
            match (meeting, paragraph, decision) {
                (Some(meeting), Some(paragraph), Some(decision)) => {
                    Some(EventKind::CommitteeFollowupReported {
                        meeting,
                        paragraph,
                        decision,
                    })
                }
                _ => None,
            }
        }
    };
    c.done(event).map(|e| (today, e))
}

/// The two fields of one yearly document on the form: its tick box and its
/// diarienummer.
pub fn document_fields(d: YearlyDocument) -> (&'static str, &'static str) {
    match d {
        YearlyDocument::Arsmotesprotokoll => ("har_arsmotesprotokoll", "dnr_arsmotesprotokoll"),
        YearlyDocument::Verksamhetsberattelse => {
            ("har_verksamhetsberattelse", "dnr_verksamhetsberattelse")
        }
        YearlyDocument::EkonomiskBerattelse => {
            ("har_ekonomisk_berattelse", "dnr_ekonomisk_berattelse")
        }
        YearlyDocument::Revisionsberattelse => {
            ("har_revisionsberattelse", "dnr_revisionsberattelse")
        }
        YearlyDocument::Verksamhetsplan => ("har_verksamhetsplan", "dnr_verksamhetsplan"),
        YearlyDocument::Medlemsantal => ("har_medlemsantal", "dnr_medlemsantal"),
    }
}

/// The yearly documents ticked as arrived, each with its diarienummer, among
/// those still `missing`; at least one. Registered today.
pub fn parse_documents(
    fields: &Fields,
    missing: &[YearlyDocument],
    today: NaiveDate,
) -> Result<Vec<(NaiveDate, EventKind)>, Vec<FieldError>> {
    let mut c = Check {
        fields,
        errors: Vec::new(),
    };
    let mut out = Vec::new();
    for &d in missing {
        let (tick, dnr) = document_fields(d);
        let what = format!("diarienumret för {}", d.label_sv().to_lowercase());
        let ticked = fields.get(tick) == "ja";
        if ticked {
            if let Some(diarienummer) = c.reference(dnr, &what) {
                out.push((
                    today,
                    EventKind::AnnualReportReceived {
                        diarienummer,
                        document: Some(d),
                    },
                ));
            }
        } else if !fields.get(dnr).is_empty() {
            c.err(
                tick,
                format!(
                    "Kryssa i {} om den har kommit in, eller töm fältet för diarienumret.",
                    d.label_sv().to_lowercase()
                ),
            );
        }
    }
    if out.is_empty()
        && c.errors.is_empty()
        && let Some(&first) = missing.first()
    {
        c.err(
            document_fields(first).0,
            "Kryssa i minst en handling som har kommit in och skriv dess diarienummer.",
        );
    }
    c.done(Some(out))
}

/// The event for a checkpoint whose evidence is a date.
pub fn date_kind(kind: Kind) -> Option<EventKind> {
    Some(match kind {
        Kind::Checkin => EventKind::CheckinHeld,
        Kind::AnnualEvaluation => EventKind::AnnualEvaluationHeld,
        Kind::PaymentsStop => EventKind::PaymentsStopped,
        Kind::ExpiryEvaluation => EventKind::ExpiryEvaluationHeld,
        Kind::RenegotiatedAgreementSigned => EventKind::RenegotiatedAgreementSigned,
        Kind::PaymentChange => EventKind::PaymentChanged,
        _ => return None,
    })
}

/// An absence from–to: the last day not passed, at most a year long.
pub fn parse_absence(
    fields: &Fields,
    today: NaiveDate,
) -> Result<(NaiveDate, NaiveDate), Vec<FieldError>> {
    let mut c = Check {
        fields,
        errors: Vec::new(),
    };
    let year = today + Duration::days(366);
    let far = (year, "Datumet ligger mer än ett år fram.");
    let from = c.date("fran", None, Some(far));
    let to = c.date("till", None, Some(far));
    if let (Some(f), Some(t)) = (from, to) {
        if t < f {
            c.err("till", "Sista dagen är före första dagen.");
        } else if t < today {
            c.err(
                "till",
                "Frånvaron är redan slut. Ange en frånvaro som pågår eller kommer.",
            );
        } else if t - f > Duration::days(366) {
            c.err("till", "En frånvaro kan anmälas för högst ett år i taget.");
        }
    }
    let both = from.zip(to);
    c.done(both)
}

/// The day reminders start again: after today, at most `max_days` ahead and
/// not after `latest` (the escalation day).
pub fn parse_postpone(
    fields: &Fields,
    today: NaiveDate,
    max_days: u32,
    latest: NaiveDate,
) -> Result<NaiveDate, Vec<FieldError>> {
    let mut c = Check {
        fields,
        errors: Vec::new(),
    };
    let limit = (today + Duration::days(i64::from(max_days))).min(latest);
    let too_late = format!("Välj ett datum senast {limit}.");
    let tomorrow = today + Duration::days(1);
    let until = c.date(
        "till",
        Some((tomorrow, "Välj ett datum efter i dag.")),
        Some((limit, too_late.as_str())),
    );
    c.done(until)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    fn f(pairs: &[(&str, &str)]) -> Fields {
        Fields(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    const TODAY: &str = "2026-05-25";

    /// A committee's sammanträdesplan.
    fn plan() -> Vec<NaiveDate> {
        ["2026-06-11", "2026-09-17", "2026-10-15"].map(d).to_vec()
    }
    const START: &str = "2025-12-01";

    fn done(
        e: Evidence,
        term: bool,
        pairs: &[(&str, &str)],
    ) -> Result<(NaiveDate, EventKind), Vec<FieldError>> {
        let (kind, parent) = match (e, term) {
            (Evidence::Date, _) => (Kind::Checkin, None),
            (Evidence::Diarienummer, false) => (Kind::AnnualReport, None),
            (Evidence::Diarienummer, true) => (Kind::WindDownPlan, None),
            (Evidence::Memo, false) => (Kind::CommitteeFollowup, None),
            (Evidence::Memo, true) => (Kind::TerminationDecision, None),
            (Evidence::Decision, _) => (Kind::CommitteeMinutes, Some(Kind::CommitteeFollowup)),
            (Evidence::Minutes, _) => (Kind::CommitteeMinutes, Some(Kind::TerminationDecision)),
            (Evidence::Nothing | Evidence::Documents, _) => (Kind::AgreementEnd, None),
        };
        parse_done(kind, parent, &f(pairs), d(TODAY), d(START), &plan())
    }

    fn fields_of(r: Result<(NaiveDate, EventKind), Vec<FieldError>>) -> Vec<&'static str> {
        r.unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn each_kind_asks_for_its_evidence() {
        use Evidence::*;
        // Issue 10: the date for a check-in or an evaluation; the diarienummer
        // for an annual report or a wind-down plan; meeting, § and decision
        // for a committee follow-up (its minutes, RULES 6b).
        for (kind, parent, want) in [
            (Kind::Checkin, None, Date),
            (Kind::AnnualEvaluation, None, Date),
            (Kind::AnnualReport, None, Diarienummer),
            (Kind::WindDownPlan, None, Diarienummer),
            (Kind::CommitteeFollowup, None, Memo),
            (
                Kind::CommitteeMinutes,
                Some(Kind::CommitteeFollowup),
                Decision,
            ),
            (
                Kind::CommitteeMinutes,
                Some(Kind::TerminationDecision),
                Minutes,
            ),
            (Kind::AgreementEnd, None, Nothing),
        ] {
            assert_eq!(evidence_for(kind, parent), want, "{kind:?}");
        }
    }

    #[test]
    fn valid_forms_give_their_event() {
        assert_eq!(
            done(Evidence::Date, false, &[("datum", "2026-05-20")]).map(|r| r.0),
            Ok(d("2026-05-20"))
        );
        assert_eq!(
            done(
                Evidence::Diarienummer,
                false,
                &[("diarienummer", " KUB/2026:12 ")]
            ),
            Ok((
                d(TODAY),
                EventKind::AnnualReportReceived {
                    diarienummer: "KUB/2026:12".into(),
                    document: None,
                }
            ))
        );
        assert_eq!(
            done(
                Evidence::Decision,
                false,
                &[
                    ("sammantrade", "2026-05-21"),
                    ("paragraf", "§ 45"),
                    ("beslut", "belopp"),
                    ("belopp", "1 000 000"),
                    ("belopp_fran", "2026-07-01"),
                ]
            ),
            Ok((
                d(TODAY),
                EventKind::CommitteeFollowupReported {
                    meeting: d("2026-05-21"),
                    paragraph: "§ 45".into(),
                    decision: FollowupDecision::AmountChanged {
                        amount: Amount::from_ore(100_000_000).unwrap(),
                        from: d("2026-07-01"),
                    },
                }
            ))
        );
        // A memo names a coming meeting.
        assert!(
            done(
                Evidence::Memo,
                false,
                &[
                    ("diarienummer", "HSN/2026:88"),
                    ("sammantrade", "2026-09-17")
                ]
            )
            .is_ok()
        );
    }

    #[test]
    fn bad_input_is_explained_per_field() {
        // A date in the future, before the agreement started, or not a date.
        assert_eq!(
            fields_of(done(Evidence::Date, false, &[("datum", "2026-05-26")])),
            ["datum"]
        );
        assert_eq!(
            fields_of(done(Evidence::Date, false, &[("datum", "2025-11-30")])),
            ["datum"]
        );
        assert_eq!(
            fields_of(done(Evidence::Date, false, &[("datum", "25/5 2026")])),
            ["datum"]
        );
        assert_eq!(
            fields_of(done(Evidence::Date, false, &[("datum", "2026-02-30")])),
            ["datum"]
        );
        assert_eq!(fields_of(done(Evidence::Date, false, &[])), ["datum"]);
        // Markup and control characters in a diarienummer or §.
        for bad in [
            "<script>x</script>",
            "KUB\r\nBcc: x",
            "KUB\u{0}1",
            "KUB\u{7f}",
            &"x".repeat(65),
        ] {
            assert_eq!(
                fields_of(done(
                    Evidence::Diarienummer,
                    false,
                    &[("diarienummer", bad)]
                )),
                ["diarienummer"],
                "{bad:?}"
            );
            assert_eq!(
                fields_of(done(
                    Evidence::Minutes,
                    true,
                    &[("sammantrade", "2026-05-21"), ("paragraf", bad)]
                )),
                ["paragraf"],
                "{bad:?}"
            );
        }
        // Every problem at once, each next to its field.
        assert_eq!(
            fields_of(done(
                Evidence::Decision,
                false,
                &[
                    ("sammantrade", "2027-01-01"),
                    ("paragraf", ""),
                    ("beslut", "kanske")
                ]
            )),
            ["sammantrade", "paragraf", "beslut"]
        );
        assert_eq!(
            fields_of(done(
                Evidence::Decision,
                false,
                &[
                    ("sammantrade", "2026-05-21"),
                    ("paragraf", "§ 4"),
                    ("beslut", "belopp"),
                    ("belopp", "-5")
                ]
            )),
            ["belopp", "belopp_fran"]
        );
    }

    #[test]
    fn absences_and_postponements() {
        let today = d(TODAY);
        assert_eq!(
            parse_absence(&f(&[("fran", "2026-06-01"), ("till", "2026-06-30")]), today),
            Ok((d("2026-06-01"), d("2026-06-30")))
        );
        for (from, to, field) in [
            ("2026-06-30", "2026-06-01", "till"),
            ("2026-01-01", "2026-02-01", "till"),
            ("2026-06-01", "2028-01-01", "till"),
            ("i morgon", "2026-06-01", "fran"),
        ] {
            let e = parse_absence(&f(&[("fran", from), ("till", to)]), today).unwrap_err();
            assert_eq!(e[0].field, field, "{from}..{to}");
        }
        let latest = d("2026-06-22");
        assert_eq!(
            parse_postpone(&f(&[("till", "2026-06-08")]), today, 14, latest),
            Ok(d("2026-06-08"))
        );
        // Today, more than max_postpone_days ahead, past the escalation.
        for bad in ["2026-05-25", "2026-06-09", "nästa vecka"] {
            assert!(
                parse_postpone(&f(&[("till", bad)]), today, 14, latest).is_err(),
                "{bad}"
            );
        }
        assert!(parse_postpone(&f(&[("till", "2026-06-05")]), today, 14, d("2026-06-04")).is_err());
    }

    #[test]
    fn a_memo_goes_to_a_planned_meeting_or_is_confirmed() {
        let memo = |pairs: &[(&str, &str)]| {
            let mut all = vec![("diarienummer", "KUB/2026:12")];
            all.extend_from_slice(pairs);
            done(Evidence::Memo, false, &all)
        };
        let submitted = |m: &str| {
            Ok((
                d(TODAY),
                EventKind::CommitteeFollowupSubmitted {
                    diarienummer: "KUB/2026:12".into(),
                    meeting: d(m),
                },
            ))
        };
        // A meeting from the plan's list.
        assert_eq!(
            memo(&[("sammantrade", "2026-09-17")]),
            submitted("2026-09-17")
        );
        // "Annat datum" that is in the plan needs no confirmation.
        assert_eq!(
            memo(&[("sammantrade", "annat"), ("annat_datum", "2026-10-15")]),
            submitted("2026-10-15")
        );
        // Outside the plan: refused with the warning, then accepted once confirmed.
        assert_eq!(
            fields_of(memo(&[
                ("sammantrade", "annat"),
                ("annat_datum", "2026-09-18")
            ])),
            ["utanfor_plan"]
        );
        let warned = memo(&[("sammantrade", "annat"), ("annat_datum", "2026-09-18")]).unwrap_err();
        assert!(
            warned[0]
                .message
                .contains("finns inte i nämndens sammanträdesplan")
        );
        assert_eq!(
            memo(&[
                ("sammantrade", "annat"),
                ("annat_datum", "2026-09-18"),
                ("utanfor_plan", "ja")
            ]),
            submitted("2026-09-18")
        );
        // A date posted directly (an old form) is held to the same plan.
        assert_eq!(
            fields_of(memo(&[("sammantrade", "2026-09-18")])),
            ["utanfor_plan"]
        );
        // Nothing chosen, or "Annat datum" without a date.
        assert_eq!(fields_of(memo(&[])), ["sammantrade"]);
        assert_eq!(
            fields_of(memo(&[("sammantrade", "annat")])),
            ["annat_datum"]
        );
    }

    #[test]
    fn the_form_offers_the_plan_from_the_deadline_on() {
        let plan: Vec<NaiveDate> = [
            "2026-02-19",
            "2026-03-19",
            "2026-04-16",
            "2026-06-11",
            "2026-09-17",
            "2026-10-15",
            "2026-11-19",
            "2026-12-17",
            "2027-02-18",
            "2027-03-18",
        ]
        .map(d)
        .to_vec();
        // A meeting on the deadline itself is offered; earlier ones are not;
        // at most MEETINGS_OFFERED.
        assert_eq!(
            meetings_offered(&plan, d("2026-04-16")),
            [
                "2026-04-16",
                "2026-06-11",
                "2026-09-17",
                "2026-10-15",
                "2026-11-19",
                "2026-12-17"
            ]
            .map(d)
            .to_vec()
        );
        assert_eq!(
            meetings_offered(&plan, d("2027-03-01")),
            vec![d("2027-03-18")]
        );
        assert!(meetings_offered(&plan, d("2027-03-19")).is_empty());
    }

    #[test]
    fn the_example_diarienummer_is_in_the_partnerships_own_series() {
        assert_eq!(
            diarienummer_example("HSN/2022:310", 2026, 88).as_deref(),
            Some("HSN/2026:88")
        );
        assert_eq!(
            diarienummer_example("KUB/2021:101", 2027, 12).as_deref(),
            Some("KUB/2027:12")
        );
        // No series to follow: no example rather than another committee's.
        assert_eq!(diarienummer_example("T1", 2026, 12), None);
        assert_eq!(diarienummer_example("/2021:1", 2026, 12), None);
    }
}
