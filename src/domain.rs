//! Domain values shared by every layer. Constructors validate, so a value of
//! these types is always well-formed and no later code re-checks a string.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Why a value was refused; the caller adds file, line or field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid<T>(msg: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(msg.into()))
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Long values (a pasted file, a 100 000-character header) are cut with "…"
/// so that a message stays readable.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// Zero-width and bidirectional control characters: invisible, so two texts
/// that print the same could differ (a second partnership that looks like the
/// first), and bidi controls can reorder what a subject or page shows.
pub fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Without invisible characters and in NFC, so texts that look the same are
/// the same (å typed as one character or as a + ring).
pub fn visible_nfc(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    s.chars().filter(|c| !is_invisible(*c)).nfc().collect()
}

/// Text shown to people (organisation names, officer names, notes): no control
/// characters, so it can never break a mail header or a log line; invisible
/// characters stripped and NFC-normalised.
pub fn clean_text(field: &str, s: &str, max: usize) -> Result<String, Invalid> {
    let t = visible_nfc(s);
    let t = t.trim();
    if has_control(t) {
        return invalid(format!("{field} innehåller ett styrtecken"));
    }
    if t.chars().count() > max {
        return invalid(format!("{field} är längre än {max} tecken"));
    }
    Ok(t.to_string())
}

/// The stable key of a partnership, usually its diarienummer (e.g. `RS/2023:145`).
///
/// Shared, not owned: every event of a partnership carries its id, and a full
/// register read clones it millions of times.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PartnershipId(std::sync::Arc<str>);

impl PartnershipId {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        // Ids that print the same are the same id.
        let t = visible_nfc(s);
        let t = t.trim();
        if t.is_empty() {
            return invalid("partnerskapets id är tomt");
        }
        if t.len() > 64 {
            return invalid(format!("partnerskapets id {t:?} är längre än 64 tecken"));
        }
        if t.chars()
            .any(|c| c.is_control() || c.is_whitespace() && c != ' ')
        {
            return invalid(format!("partnerskapets id {t:?} innehåller ett styrtecken"));
        }
        Ok(Self(t.into()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PartnershipId {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Self::parse(&s)
    }
}
impl From<PartnershipId> for String {
    fn from(v: PartnershipId) -> String {
        v.0.to_string()
    }
}
impl fmt::Display for PartnershipId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A committee's configuration key: lowercase ASCII letters, digits, `_` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommitteeKey(String);

impl CommitteeKey {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let t = s.trim();
        if t.is_empty()
            || t.len() > 32
            || !t
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            return invalid(format!(
                "nämndnyckeln {t:?} ska vara 1–32 tecken av a–z, 0–9, '_' eller '-'"
            ));
        }
        Ok(Self(t.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for CommitteeKey {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Self::parse(&s)
    }
}
impl From<CommitteeKey> for String {
    fn from(v: CommitteeKey) -> String {
        v.0
    }
}
impl fmt::Display for CommitteeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What is wrong with an address, in the words of a coordinator rather than
/// the parser's English.
fn email_problem(e: &email_address::Error) -> &'static str {
    use email_address::Error as E;
    match e {
        E::MissingSeparator => "@ saknas",
        E::LocalPartEmpty => "inget namn före @",
        E::DomainEmpty => "ingen domän efter @",
        E::LocalPartTooLong | E::DomainTooLong | E::SubDomainTooLong => "adressen är för lång",
        E::SubDomainEmpty | E::DomainInvalidSeparator => "en punkt står fel i domänen",
        E::DomainTooFew => "domänen behöver en punkt",
        E::UnbalancedQuotes => "ett citattecken är inte avslutat",
        E::UnsupportedDisplayName | E::MissingDisplayName | E::MissingEndBracket => {
            "skriv bara adressen, utan namn och <>"
        }
        _ => "ett tecken som inte hör hemma i en adress",
    }
}

/// An e-mail address as RFC 5321/5322 allow it in practice (no display name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let t = s.trim();
        let opts = email_address::Options::default().without_display_text();
        match email_address::EmailAddress::parse_with_options(t, opts) {
            // A domain without a dot is legal in RFC 5321 but in a public
            // body's register it is a typo ("anna@example").
            Ok(_) if has_control(t) || t.chars().any(is_invisible) => invalid(format!(
                "{t:?} är ingen giltig e-postadress (den innehåller ett osynligt tecken eller styrtecken)"
            )),
            Ok(_) if !t.rsplit_once('@').is_some_and(|(_, d)| d.contains('.')) => invalid(format!(
                "{t:?} är ingen giltig e-postadress (domänen behöver en punkt)"
            )),
            // One grammar for every door: what the mail builder cannot put on
            // an envelope is refused here, never stored. RFC 5322 allows a
            // quoted local part ("john doe"@…), but lettre cannot send it and
            // no public body hands such addresses out.
            Ok(_) if t.starts_with('"') || t.contains("\"@") => invalid(format!(
                "{t:?} går inte att skicka till (citattecken före @ stöds inte; be om adressen utan citattecken)"
            )),
            Ok(_) if t.parse::<lettre::Address>().is_err() => invalid(format!(
                "{t:?} går inte att skicka till (e-postbiblioteket tar inte emot adressen)"
            )),
            Ok(_) => Ok(Self(t.to_string())),
            Err(e) => invalid(format!(
                "{t:?} är ingen giltig e-postadress ({})",
                email_problem(&e)
            )),
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for Email {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Self::parse(&s)
    }
}
impl From<Email> for String {
    fn from(v: Email) -> String {
        v.0
    }
}
impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A sum of money in öre (1/100 SEK), never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Amount(i64);

impl Amount {
    pub fn from_ore(ore: i64) -> Result<Self, Invalid> {
        if ore < 0 {
            return invalid("beloppet är negativt");
        }
        Ok(Self(ore))
    }
    pub fn ore(self) -> i64 {
        self.0
    }
    /// Parses `1 250 000`, `1250000`, `1250000,00`, `1 250 000 kr` and `1250000.50`.
    pub fn parse_sek(s: &str) -> Result<Self, Invalid> {
        let raw = s.trim();
        let t: String = raw
            .trim_end_matches("kr")
            .trim_end_matches("SEK")
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '\u{a0}' && *c != '\u{202f}')
            .collect();
        if t.starts_with('-') {
            return invalid(format!("beloppet {raw:?} är negativt"));
        }
        let (whole, frac) = match t.split_once([',', '.']) {
            Some((w, f)) => (w, f),
            None => (t.as_str(), ""),
        };
        let digits = |x: &str| !x.is_empty() && x.chars().all(|c| c.is_ascii_digit());
        if !digits(whole) || !(frac.is_empty() || digits(frac) && frac.len() <= 2) {
            return invalid(format!(
                "{raw:?} är inget belopp i kronor; skriv till exempel 1 250 000 eller 1250000,00"
            ));
        }
        let kr: i64 = whole
            .parse()
            .map_err(|_| Invalid(format!("beloppet {raw:?} är för stort")))?;
        let ore: i64 = match frac.len() {
            0 => 0,
            1 => frac.parse::<i64>().unwrap_or(0) * 10,
            _ => frac.parse::<i64>().unwrap_or(0),
        };
        kr.checked_mul(100)
            .and_then(|v| v.checked_add(ore))
            .map(Self)
            .ok_or_else(|| Invalid(format!("beloppet {raw:?} är för stort")))
    }
}
impl fmt::Display for Amount {
    /// Swedish style: `1 250 000 kr`, or `1 250 000,50 kr`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kr = self.0 / 100;
        let ore = self.0 % 100;
        let digits = kr.to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(' ');
            }
            grouped.push(c);
        }
        if ore == 0 {
            write!(f, "{grouped} kr")
        } else {
            write!(f, "{grouped},{ore:02} kr")
        }
    }
}

/// Check-in meetings per agreement year; must divide 12 so windows are whole months.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct CheckinsPerYear(u32);

impl CheckinsPerYear {
    /// The guideline's "minst två per år".
    pub const TWO: Self = Self(2);
    /// Örebro kommun's "minst en gång per år".
    pub const ONE: Self = Self(1);

    pub fn new(n: u32) -> Result<Self, Invalid> {
        if n == 0 || 12 % n != 0 {
            return invalid(format!(
                "avstämningar per år ska gå jämnt upp i 12 (1, 2, 3, 4, 6 eller 12), inte {n}"
            ));
        }
        Ok(Self(n))
    }
    pub fn get(self) -> u32 {
        self.0
    }
    /// Length of one window in months.
    pub fn window_months(self) -> u32 {
        12 / self.0
    }
}
impl TryFrom<u32> for CheckinsPerYear {
    type Error = Invalid;
    fn try_from(n: u32) -> Result<Self, Invalid> {
        Self::new(n)
    }
}
impl From<CheckinsPerYear> for u32 {
    fn from(v: CheckinsPerYear) -> u32 {
        v.0
    }
}

/// A calendar month and day, e.g. the fixed annual anchor `06-30`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MonthDay {
    pub month: u32,
    pub day: u32,
}
impl MonthDay {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let bad = || Invalid(format!("{s:?} är ingen månad och dag skriven MM-DD"));
        let (m, d) = s.trim().split_once('-').ok_or_else(bad)?;
        let month: u32 = m.parse().map_err(|_| bad())?;
        let day: u32 = d.parse().map_err(|_| bad())?;
        // 2024 is a leap year, so 02-29 is accepted (and clamps in common years).
        NaiveDate::from_ymd_opt(2024, month, day).ok_or_else(bad)?;
        Ok(Self { month, day })
    }
}
impl TryFrom<String> for MonthDay {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Self::parse(&s)
    }
}
impl From<MonthDay> for String {
    fn from(v: MonthDay) -> String {
        format!("{:02}-{:02}", v.month, v.day)
    }
}

/// Parses a strict `YYYY-MM-DD` date; names the impossible ones (2026-02-30).
pub fn parse_date(s: &str) -> Result<NaiveDate, Invalid> {
    let t = s.trim();
    let shape = t.len() == 10
        && t.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shape {
        return invalid(format!("{t:?} är inget datum skrivet ÅÅÅÅ-MM-DD"));
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .map_err(|_| Invalid(format!("{t} är inget datum i kalendern")))
}

/// A person with a name and an address (officer, role holder).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub name: String,
    pub email: Email,
}

/// One partnership as held in the register (one row of the spreadsheet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partnership {
    pub id: PartnershipId,
    pub organisation: String,
    pub committee: CommitteeKey,
    /// The officer as imported; `officer_replaced` events change who is responsible.
    pub officer: Person,
    pub deputy: Option<Email>,
    pub partner_contact: Option<Email>,
    pub start: NaiveDate,
    /// Fixed-term end; `None` = until further notice (tills vidare).
    pub end: Option<NaiveDate>,
    pub annual_amount: Option<Amount>,
    /// Overrides the policy's `checkins_per_year` for this partnership.
    pub checkins_per_year: Option<CheckinsPerYear>,
    /// Overrides the policy's `notice_months` for this partnership.
    pub notice_months: Option<u32>,
    pub notes: String,
}

/// One of the yearly documents Örebro kommun's guideline expects from the
/// non-profit partner ("Uppgifter från idéburen part"). Statutes and the
/// description of the organisation are handed in once and are not listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum YearlyDocument {
    Arsmotesprotokoll,
    Verksamhetsberattelse,
    EkonomiskBerattelse,
    Revisionsberattelse,
    Verksamhetsplan,
    Medlemsantal,
}

impl YearlyDocument {
    /// In the guideline's order.
    pub const ALL: [YearlyDocument; 6] = [
        Self::Arsmotesprotokoll,
        Self::Verksamhetsberattelse,
        Self::EkonomiskBerattelse,
        Self::Revisionsberattelse,
        Self::Verksamhetsplan,
        Self::Medlemsantal,
    ];

    /// The word in configuration, the CLI and forms.
    pub fn name(self) -> &'static str {
        match self {
            Self::Arsmotesprotokoll => "arsmotesprotokoll",
            Self::Verksamhetsberattelse => "verksamhetsberattelse",
            Self::EkonomiskBerattelse => "ekonomisk_berattelse",
            Self::Revisionsberattelse => "revisionsberattelse",
            Self::Verksamhetsplan => "verksamhetsplan",
            Self::Medlemsantal => "medlemsantal",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim().replace('-', "_");
        Self::ALL.into_iter().find(|d| d.name() == s).map_or_else(
            || {
                invalid(format!(
                    "{s:?} är ingen av de årliga handlingarna; använd {}",
                    Self::ALL.map(Self::name).join(", ")
                ))
            },
            Ok,
        )
    }

    /// The guideline's own words.
    pub fn label_sv(self) -> &'static str {
        match self {
            Self::Arsmotesprotokoll => "Årsmötesprotokoll",
            Self::Verksamhetsberattelse => "Verksamhetsberättelse",
            Self::EkonomiskBerattelse => "Ekonomisk berättelse med bokslut",
            Self::Revisionsberattelse => "Revisionsberättelse",
            Self::Verksamhetsplan => "Verksamhetsplan och styrelseförteckning",
            Self::Medlemsantal => "Uppgift om medlemsantal",
        }
    }
}

/// Who gave notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeParty {
    /// The public body (kommunen / regionen).
    Body,
    /// The non-profit partner (den idéburna parten).
    Partner,
}

/// What the committee decided at a follow-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum FollowupDecision {
    Approved,
    AmountChanged { amount: Amount, from: NaiveDate },
    Renegotiation,
}

/// What happened. Serde names are the documented snake_case words; the CLI
/// spells the same words with `-`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    CheckinHeld,
    AnnualReportReceived {
        diarienummer: String,
        /// Which yearly document, where the guideline lists several; none
        /// means the whole submission (the annual report, or every document).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        document: Option<YearlyDocument>,
    },
    AnnualEvaluationHeld,
    /// The memo (tjänsteskrivelse) for a follow-up went to the committee.
    CommitteeFollowupSubmitted {
        diarienummer: String,
        meeting: NaiveDate,
    },
    /// The committee decided on the follow-up; the minute § is the evidence.
    CommitteeFollowupReported {
        meeting: NaiveDate,
        paragraph: String,
        #[serde(flatten)]
        decision: FollowupDecision,
    },
    RenegotiatedAgreementSigned,
    NoticeGiven {
        by: NoticeParty,
    },
    TerminationSubmitted {
        diarienummer: String,
        meeting: NaiveDate,
    },
    TerminationDecided {
        meeting: NaiveDate,
        paragraph: String,
    },
    WindDownPlanRegistered {
        diarienummer: String,
    },
    /// The deeper evaluation before a fixed-term agreement expires or is extended.
    ExpiryEvaluationHeld,
    AgreementExtended {
        new_end: NaiveDate,
    },
    OfficerReplaced {
        name: String,
        email: Email,
        from: NaiveDate,
    },
    OfficerAbsent {
        from: NaiveDate,
        to: NaiveDate,
    },
    PaymentsStopped,
    PaymentChanged,
    /// IOP-ansvarig closes a checkpoint (named by the event's `target`)
    /// without evidence, with a reason (RULES 17).
    CheckpointWaived {
        reason: String,
    },
    /// Undoes an earlier event; the history keeps both.
    Retraction {
        event: i64,
        /// Why, when given (the workspace asks for it).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        reason: String,
    },
}

impl EventKind {
    /// Every date the event carries besides its own (a meeting, an absence,
    /// a new end). Exhaustive on purpose: a new variant with a date must say
    /// so here, or incremental ticks would not look at it (`recheck`).
    pub fn dates(&self) -> Vec<NaiveDate> {
        match self {
            Self::CommitteeFollowupSubmitted { meeting, .. }
            | Self::TerminationSubmitted { meeting, .. }
            | Self::TerminationDecided { meeting, .. } => vec![*meeting],
            Self::CommitteeFollowupReported {
                meeting, decision, ..
            } => match decision {
                FollowupDecision::AmountChanged { from, .. } => vec![*meeting, *from],
                FollowupDecision::Approved | FollowupDecision::Renegotiation => vec![*meeting],
            },
            Self::AgreementExtended { new_end } => vec![*new_end],
            Self::OfficerReplaced { from, .. } => vec![*from],
            Self::OfficerAbsent { from, to } => vec![*from, *to],
            Self::CheckinHeld
            | Self::AnnualReportReceived { .. }
            | Self::AnnualEvaluationHeld
            | Self::RenegotiatedAgreementSigned
            | Self::NoticeGiven { .. }
            | Self::WindDownPlanRegistered { .. }
            | Self::ExpiryEvaluationHeld
            | Self::PaymentsStopped
            | Self::PaymentChanged
            | Self::CheckpointWaived { .. }
            | Self::Retraction { .. } => Vec::new(),
        }
    }

    /// The event in a few Swedish words, for people ("Avstämningsmöte hållet").
    pub fn label_sv(&self) -> &'static str {
        match self {
            Self::CheckinHeld => "Avstämningsmöte hållet",
            Self::AnnualReportReceived { .. } => "Årsredovisning diarieförd",
            Self::AnnualEvaluationHeld => "Årlig utvärdering hållen",
            Self::CommitteeFollowupSubmitted { .. } => "Tjänsteskrivelse inlämnad",
            Self::CommitteeFollowupReported { .. } => "Uppföljning behandlad i nämnden",
            Self::RenegotiatedAgreementSigned => "Omförhandlad överenskommelse undertecknad",
            Self::NoticeGiven { .. } => "Uppsägning",
            Self::TerminationSubmitted { .. } => "Tjänsteskrivelse om uppsägning",
            Self::TerminationDecided { .. } => "Nämnden beslutade om uppsägning",
            Self::WindDownPlanRegistered { .. } => "Avvecklingsplan diarieförd",
            Self::ExpiryEvaluationHeld => "Djupare utvärdering hållen",
            Self::AgreementExtended { .. } => "Överenskommelsen förlängd",
            Self::OfficerReplaced { .. } => "Ny handläggare",
            Self::OfficerAbsent { .. } => "Handläggaren frånvarande",
            Self::PaymentsStopped => "Utbetalningarna har upphört",
            Self::PaymentChanged => "Ändrat belopp infört",
            Self::CheckpointWaived { .. } => "Avskriven av IOP-ansvarig",
            Self::Retraction { .. } => "Registrering ångrad",
        }
    }

    /// The snake_case name stored in the database and shown in JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Self::CheckinHeld => "checkin_held",
            Self::AnnualReportReceived { .. } => "annual_report_received",
            Self::AnnualEvaluationHeld => "annual_evaluation_held",
            Self::CommitteeFollowupSubmitted { .. } => "committee_followup_submitted",
            Self::CommitteeFollowupReported { .. } => "committee_followup_reported",
            Self::RenegotiatedAgreementSigned => "renegotiated_agreement_signed",
            Self::NoticeGiven { .. } => "notice_given",
            Self::TerminationSubmitted { .. } => "termination_submitted",
            Self::TerminationDecided { .. } => "termination_decided",
            Self::WindDownPlanRegistered { .. } => "wind_down_plan_registered",
            Self::ExpiryEvaluationHeld => "expiry_evaluation_held",
            Self::AgreementExtended { .. } => "agreement_extended",
            Self::OfficerReplaced { .. } => "officer_replaced",
            Self::OfficerAbsent { .. } => "officer_absent",
            Self::PaymentsStopped => "payments_stopped",
            Self::PaymentChanged => "payment_changed",
            Self::CheckpointWaived { .. } => "checkpoint_waived",
            Self::Retraction { .. } => "retraction",
        }
    }
}

/// How an event reached the register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Cli,
    Web,
    Import,
    /// The signed-in workspace.
    Workspace,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Self::Cli => "cli",
            Self::Web => "web",
            Self::Import => "import",
            Self::Workspace => "workspace",
        }
    }
}

/// One recorded event. Events are append-only; `retracted` is derived from
/// later `Retraction` events when the history is loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: i64,
    pub partnership: PartnershipId,
    /// The civil date it happened (Europe/Stockholm).
    pub on: NaiveDate,
    pub kind: EventKind,
    /// Unix seconds when it was recorded.
    pub recorded_at: i64,
    pub recorded_by: String,
    pub channel: Channel,
    /// The key of the checkpoint this event is for (RULES 15); `None` for
    /// events that follow the default rules (RULES 1 and 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub retracted: bool,
}

/// Marks every event named by a (not itself retracted) retraction. A retraction
/// of a retraction restores the original, so the chain is resolved newest first.
pub fn apply_retractions(events: &mut [Event]) {
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(events[i].id));
    for i in order {
        if events[i].retracted {
            continue;
        }
        if let EventKind::Retraction { event, .. } = events[i].kind
            && let Some(target) = events.iter_mut().find(|e| e.id == event)
        {
            target.retracted = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_in_swedish_spreadsheet_styles() {
        // The import issue lists `1 250 000`, `1250000` and `1250000,00`.
        for (text, ore) in [
            ("1 250 000", 125_000_000),
            ("1250000", 125_000_000),
            ("1250000,00", 125_000_000),
            ("1\u{a0}250\u{a0}000,5", 125_000_050),
            ("0", 0),
            ("1 000 kr", 100_000),
        ] {
            assert_eq!(Amount::parse_sek(text).map(Amount::ore), Ok(ore), "{text}");
        }
        for bad in ["-5", "12,345", "abc", "", "1.2.3"] {
            assert!(Amount::parse_sek(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(
            Amount::from_ore(125_000_050).unwrap().to_string(),
            "1 250 000,50 kr"
        );
        assert_eq!(Amount::from_ore(99_900).unwrap().to_string(), "999 kr");
    }

    #[test]
    fn dates_are_strict() {
        assert_eq!(
            parse_date("2026-02-28"),
            Ok(NaiveDate::from_ymd_opt(2026, 2, 28).unwrap())
        );
        assert!(
            parse_date("2026-02-30")
                .unwrap_err()
                .0
                .contains("inget datum i kalendern")
        );
        assert!(parse_date("2026-2-3").is_err());
        assert!(parse_date("28/02/2026").is_err());
    }

    #[test]
    fn checkins_must_divide_twelve() {
        for n in [1, 2, 3, 4, 6, 12] {
            assert!(CheckinsPerYear::new(n).is_ok());
        }
        for n in [0, 5, 7, 8, 24] {
            assert!(CheckinsPerYear::new(n).is_err());
        }
    }

    #[test]
    fn emails_and_keys() {
        assert!(Email::parse("anna.svensson@example.org").is_ok());
        assert!(Email::parse("anna@").is_err());
        assert!(Email::parse("anna@example").is_err());
        assert!(Email::parse("Anna <anna@example.org>").is_err());
        assert!(Email::parse("a\r\nBcc: x@example.org").is_err());
        // One grammar: a quoted local part is valid RFC 5322 but cannot be sent.
        assert!(Email::parse("\"john doe\"@example.org").is_err());
        assert!(Email::parse("\"john\"@example.org").is_err());
        assert!(Email::parse("anna\u{200B}@example.org").is_err());
        // Ids and texts that print the same are the same.
        assert_eq!(
            PartnershipId::parse("SN\u{200B} 2021/0312").unwrap(),
            PartnershipId::parse("SN 2021/0312").unwrap()
        );
        assert_eq!(
            clean_text("organisation", "Fo\u{202E}rening\u{FEFF} a\u{30A}", 100).unwrap(),
            "Forening \u{E5}"
        );
        // Everything the mail builder accepts at this door stays accepted.
        for ok in [
            "o'brien@example.org",
            "a.b+c@sub.example.org",
            "x_y-z@example.se",
        ] {
            let e = Email::parse(ok).unwrap();
            assert!(e.as_str().parse::<lettre::Address>().is_ok(), "{ok}");
        }
        assert!(CommitteeKey::parse("kbn").is_ok());
        assert!(CommitteeKey::parse("KBN").is_err());
    }

    #[test]
    fn retraction_of_a_retraction_restores() {
        let ev = |id, kind| Event {
            id,
            partnership: PartnershipId::parse("P1").unwrap(),
            on: NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
            kind,
            recorded_at: 0,
            recorded_by: "t".into(),
            channel: Channel::Cli,
            target: None,
            retracted: false,
        };
        let mut events = vec![
            ev(1, EventKind::CheckinHeld),
            ev(
                2,
                EventKind::Retraction {
                    event: 1,
                    reason: String::new(),
                },
            ),
            ev(
                3,
                EventKind::Retraction {
                    event: 2,
                    reason: String::new(),
                },
            ),
        ];
        apply_retractions(&mut events);
        assert!(!events[0].retracted);
        assert!(events[1].retracted);
    }
}
