//! The partnership spreadsheet (CSV) as Swedish Excel exports it, parsed into
//! [`Partnership`] values. Pure: it gets the file's bytes and a way to ask
//! whether a committee key is configured; it never touches the database.
//!
//! One bad row refuses the whole file, so [`parse`] collects *every* problem
//! (header, cells, cross-row checks) before it answers, each with the physical
//! line in the file, the column as the user wrote it, and what is wrong.
//!
//! # Encoding
//!
//! UTF-8, with or without a byte-order mark. Anything that decodes as UTF-8 is
//! UTF-8. A file that does not is taken to be Windows-1252 — what Swedish
//! Excel writes for "CSV (semikolonavgränsad)" — and is **converted**, with the
//! note "konverterad från Windows-1252 (spara som 'CSV UTF-8' så slipper du det)".
//! Converting rather than refusing is deliberate: that export is the default
//! in Swedish Excel, Windows-1252 maps every byte, and for Swedish text
//! (å, ä, ö, é) the guess is right, so refusing would only add a round trip.
//! UTF-16 ("Unicode-text"), a UTF-8 BOM followed by invalid bytes, and an
//! `.xlsx` workbook are refused with a message that says how to re-save.
//!
//! # Layout
//!
//! - Separator `;` or `,`, detected from the header line (the one found more
//!   often outside quotes; `;` wins a tie because Swedish Excel uses it). An
//!   Excel `sep=;` first line is honoured and skipped.
//! - Quoting as usual: `"a; b"`, `"say ""hi"""`, and quoted cells spanning lines
//!   (Alt+Enter in Excel). Line numbers are physical lines in the file.
//! - Completely blank lines, and rows whose every cell is empty (Excel writes
//!   `;;;;` for them), are skipped.
//! - Every other row must have as many cells as the header.
//! - Header cells are matched ignoring case, spaces, `_` and `-`, so
//!   `Officer e-mail`, `officer_email` and `OFFICER EMAIL` are the same name.
//!   A header cell left empty is allowed (Excel exports trailing `;`) as long
//!   as no row has a value under it.
//! - Cells are trimmed. Dates are `YYYY-MM-DD`. Amounts are kronor written
//!   `1 250 000`, `1250000` or `1250000,00` (optionally `kr`), never negative.
//! - In problems, the column is the header as written in the file; problems
//!   about the whole file or a whole row use the column `filen` or `raden`.
//!   The problems are in Swedish: a coordinator reads them.
//!
//! # Columns
//!
//! | Column              | Required | Accepted header names |
//! |---------------------|----------|-----------------------|
//! | `id`                | yes | `id`, `diarienummer`, `dnr`, `diarienr`, `partnership_id`, `id/diarienummer`, `diarienummer/id` |
//! | `organisation`      | yes | `organisation`, `idéburen part`, `organization`, `partner`, `organisation/förening`, `förening`, `partner_organisation`, `partner_organization`, `idéburen organisation` |
//! | `committee`         | yes | `committee`, `nämnd`, `committee_key`, `ansvarig nämnd` |
//! | `officer_name`      | yes | `officer_name`, `handläggare`, `officer`, `handläggarens namn`, `handläggare namn` |
//! | `officer_email`     | yes | `officer_email`, `handläggare e-post`, `handläggarens e-post`, `handläggare e-mail` |
//! | `start_date`        | yes | `start_date`, `startdatum`, `start`, `avtalsstart`, `från` |
//! | `deputy_email`      | no  | `deputy_email`, `ersättare e-post`, `ersättare`, `ersättarens e-post`, `deputy` |
//! | `partner_email`     | no  | `partner_email`, `kontakt e-post`, `kontaktperson e-post`, `partnerns e-post`, `partner e-post`, `partner_contact_email`, `contact_email` |
//! | `end_date`          | no  | `end_date`, `slutdatum`, `slut`, `avtalsslut`, `end` |
//! | `annual_amount`     | no  | `annual_amount`, `årligt belopp`, `belopp`, `årlig ersättning`, `årligt belopp (kr)`, `årligt belopp (sek)`, `belopp (kr)`, `annual_amount_sek`, `amount` |
//! | `checkins_per_year` | no  | `checkins_per_year`, `avstämningar per år`, `avstämningar`, `checkins` |
//! | `notice_months`     | no  | `notice_months`, `uppsägningstid`, `uppsägningstid månader`, `uppsägningstid (månader)`, `notice_period_months` |
//! | `notes`             | no  | `notes`, `anteckningar`, `kommentar`, `kommentarer`, `övrigt` |
//! | `last_checkin`      | no  | `last_checkin`, `senaste avstämning`, `senaste avstämningsmöte` |
//! | `last_annual_report` | no | `last_annual_report`, `senaste årsredovisning`, `årsredovisning registrerad` |
//! | `last_annual_report_diarienummer` | no | `last_annual_report_diarienummer`, `årsredovisning diarienummer`, `årsredovisning dnr`, `senaste årsredovisning dnr` |
//! | `last_annual_evaluation` | no | `last_annual_evaluation`, `senaste årliga utvärdering`, `senaste utvärdering` |
//! | `last_committee_followup` | no | `last_committee_followup`, `senaste nämndsuppföljning`, `nämndsuppföljning sammanträde` |
//! | `last_committee_followup_paragraph` | no | `last_committee_followup_paragraph`, `nämndsuppföljning §`, `nämndsuppföljning paragraf`, `senaste nämndsuppföljning §` |
//!
//! An empty `end_date` means until further notice (tills vidare). The
//! committee is a key of `[committees]` or a configured committee name, in any
//! case (`KBN` and `Kultur- och bildningsnämnden` are both `kbn`). Dates are
//! also taken as Excel saves them, with a midnight time. `checkins_per_year` must divide 12;
//! `notice_months` is a whole number 1–60. `notes` may span several lines.
//!
//! The `last_*` columns bring in what has already happened, so an agreement
//! does not start with years of "försenad": each filled cell becomes an event
//! (channel `import`) that closes the checkpoints it evidences by the rules;
//! re-importing the same file adds nothing. A registered annual report needs
//! its diarienummer and a committee decision its minute §.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::NaiveDate;

use crate::domain::{
    self, Amount, CheckinsPerYear, CommitteeKey, Email, EventKind, Partnership, PartnershipId,
    Person,
};

/// The accepted columns: canonical English name, accepted header names (the
/// canonical one first, then the usual Swedish one), and whether required.
/// Kept in step with the table in the module documentation (a test checks).
pub const COLUMNS: &[(&str, &[&str], bool)] = &[
    (
        "id",
        &[
            "id",
            "diarienummer",
            "dnr",
            "diarienr",
            "partnership_id",
            "id/diarienummer",
            "diarienummer/id",
        ],
        true,
    ),
    (
        "organisation",
        &[
            "organisation",
            "idéburen part",
            "organization",
            "partner",
            "organisation/förening",
            "förening",
            "partner_organisation",
            "partner_organization",
            "idéburen organisation",
        ],
        true,
    ),
    (
        "committee",
        &["committee", "nämnd", "committee_key", "ansvarig nämnd"],
        true,
    ),
    (
        "officer_name",
        &[
            "officer_name",
            "handläggare",
            "officer",
            "handläggarens namn",
            "handläggare namn",
        ],
        true,
    ),
    (
        "officer_email",
        &[
            "officer_email",
            "handläggare e-post",
            "handläggarens e-post",
            "handläggare e-mail",
        ],
        true,
    ),
    (
        "start_date",
        &["start_date", "startdatum", "start", "avtalsstart", "från"],
        true,
    ),
    (
        "deputy_email",
        &[
            "deputy_email",
            "ersättare e-post",
            "ersättare",
            "ersättarens e-post",
            "deputy",
        ],
        false,
    ),
    (
        "partner_email",
        &[
            "partner_email",
            "kontakt e-post",
            "kontaktperson e-post",
            "partnerns e-post",
            "partner e-post",
            "partner_contact_email",
            "contact_email",
        ],
        false,
    ),
    (
        "end_date",
        &["end_date", "slutdatum", "slut", "avtalsslut", "end"],
        false,
    ),
    (
        "annual_amount",
        &[
            "annual_amount",
            "årligt belopp",
            "belopp",
            "årlig ersättning",
            "årligt belopp (kr)",
            "årligt belopp (sek)",
            "belopp (kr)",
            "annual_amount_sek",
            "amount",
        ],
        false,
    ),
    (
        "checkins_per_year",
        &[
            "checkins_per_year",
            "avstämningar per år",
            "avstämningar",
            "checkins",
        ],
        false,
    ),
    (
        "notice_months",
        &[
            "notice_months",
            "uppsägningstid",
            "uppsägningstid månader",
            "uppsägningstid (månader)",
            "notice_period_months",
        ],
        false,
    ),
    (
        "notes",
        &[
            "notes",
            "anteckningar",
            "kommentar",
            "kommentarer",
            "övrigt",
        ],
        false,
    ),
    // What has already happened, so an agreement does not start with years
    // of "försenad": each becomes an event (channel import), once.
    (
        "last_checkin",
        &[
            "last_checkin",
            "senaste avstämning",
            "senaste avstämningsmöte",
        ],
        false,
    ),
    (
        "last_annual_report",
        &[
            "last_annual_report",
            "senaste årsredovisning",
            "årsredovisning registrerad",
        ],
        false,
    ),
    (
        "last_annual_report_diarienummer",
        &[
            "last_annual_report_diarienummer",
            "årsredovisning diarienummer",
            "årsredovisning dnr",
            "senaste årsredovisning dnr",
        ],
        false,
    ),
    (
        "last_annual_evaluation",
        &[
            "last_annual_evaluation",
            "senaste årliga utvärdering",
            "senaste utvärdering",
        ],
        false,
    ),
    (
        "last_committee_followup",
        &[
            "last_committee_followup",
            "senaste nämndsuppföljning",
            "nämndsuppföljning sammanträde",
        ],
        false,
    ),
    (
        "last_committee_followup_paragraph",
        &[
            "last_committee_followup_paragraph",
            "nämndsuppföljning §",
            "nämndsuppföljning paragraf",
            "senaste nämndsuppföljning §",
        ],
        false,
    ),
];

/// The note added when the file was not UTF-8 and was read as Windows-1252.
pub const WINDOWS_1252_NOTE: &str =
    "konverterad från Windows-1252 (spara som 'CSV UTF-8' så slipper du det)";

/// The column of a problem about the whole file.
pub const FILE: &str = "filen";
/// The column of a problem about a whole row.
pub const ROW: &str = "raden";

const NAME_MAX: usize = 200;
const NOTES_MAX: usize = 2000;
const NOTICE_MONTHS: std::ops::RangeInclusive<u32> = 1..=60;

/// A file whose every row is a valid partnership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedImport {
    pub rows: Vec<ImportRow>,
    /// Things the user should know although nothing was refused.
    pub notes: Vec<String>,
    pub separator: char,
}

/// One partnership and the physical line (1-based) where its row starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub line: usize,
    pub partnership: Partnership,
    /// What the history columns say has already happened: (date, event).
    pub history: Vec<(NaiveDate, EventKind)>,
}

/// One reason the file was refused. Displayed as `rad LINE: column: problem`;
/// the caller prefixes `FILE: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rad {line}: {column}: {problem}")]
pub struct RowProblem {
    pub line: usize,
    /// The header as written in the file, a canonical name for a missing
    /// column, or [`FILE`] / [`ROW`] for problems that belong to no single cell.
    pub column: String,
    pub problem: String,
}

impl RowProblem {
    fn new(line: usize, column: impl Into<String>, problem: impl Into<String>) -> Self {
        // A 100 000-character header or cell is shown by its start only.
        Self {
            line,
            column: domain::cut(&column.into(), 80),
            problem: domain::cut(&problem.into(), 600),
        }
    }
}

/// The committee a spreadsheet cell names: its key or its configured name,
/// in any case ("Socialnämnden", "SOCIALNÄMNDEN", "sn"). `committees` is
/// every configured (key, name).
pub fn committee_resolver(
    committees: Vec<(CommitteeKey, String)>,
) -> impl Fn(&str) -> Result<CommitteeKey, String> {
    move |cell: &str| {
        let wanted = cell.trim().to_lowercase();
        committees
            .iter()
            .find(|(k, name)| k.as_str() == wanted || name.to_lowercase() == wanted)
            .map(|(k, _)| k.clone())
            .ok_or_else(|| {
                let known: Vec<String> = committees
                    .iter()
                    .map(|(k, name)| format!("{name} ({k})"))
                    .collect();
                format!(
                    "nämnden \"{}\" finns inte i konfigurationen; skriv en av: {}",
                    cell.trim(),
                    known.join(", ")
                )
            })
    }
}

/// [`committee_resolver`] for the committees `cfg` configures.
pub fn committees_of(
    cfg: &crate::config::Config,
) -> impl Fn(&str) -> Result<CommitteeKey, String> + use<> {
    committee_resolver(
        cfg.committees
            .iter()
            .map(|(k, c)| (k.clone(), c.name.clone()))
            .collect(),
    )
}

/// Parses the whole file. `Ok` only if there is not a single problem; the
/// `Err` lists every problem found, in file order.
pub fn parse(
    bytes: &[u8],
    committee_of: &dyn Fn(&str) -> Result<CommitteeKey, String>,
) -> Result<ParsedImport, Vec<RowProblem>> {
    let (text, notes) = decode(bytes).map_err(|p| vec![p])?;
    let layout = layout(&text).map_err(|p| vec![p])?;
    let body = &text[layout.body..];

    let mut reader = csv::ReaderBuilder::new()
        .delimiter(layout.separator as u8)
        .has_headers(false)
        // Rows with the wrong number of cells are reported by us, with the
        // line, instead of stopping the reader at the first one.
        .flexible(true)
        .from_reader(body.as_bytes());

    let mut problems = Vec::new();
    let mut header: Option<(usize, Header)> = None;
    let mut rows = Vec::new();
    let mut data_rows = 0usize;
    let mut first_line_of: HashMap<PartnershipId, usize> = HashMap::new();
    let mut lines = LineCounter::new(body);
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                // The input is valid UTF-8 from memory, so this is not
                // expected; reported rather than unwrapped all the same.
                let line = e.position().map_or(1, |p| lines.line_at(p.byte())) + layout.line_offset;
                problems.push(RowProblem::new(
                    line,
                    FILE,
                    format!("kan inte läsas som CSV: {e}"),
                ));
                break;
            }
        }
        let line = record.position().map_or(1, |p| lines.line_at(p.byte())) + layout.line_offset;
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        let Some((_, header)) = &header else {
            header = Some((line, Header::parse(&record, line, &mut problems)));
            continue;
        };
        data_rows += 1;
        if record.len() != header.slots.len() {
            // The cells cannot be trusted to sit under their headers, so the
            // row's values are not checked; that would only add noise.
            let hint = if record.iter().any(|c| c.contains('\n')) {
                "; en cell inom citattecken sträcker sig här över flera rader, kontrollera att varje \" som inleder en cell också avslutas"
            } else {
                ""
            };
            problems.push(RowProblem::new(
                line,
                ROW,
                format!(
                    "har {} men rubrikraden har {}{hint}",
                    crate::words::count(record.len(), "cell", "celler"),
                    header.slots.len()
                ),
            ));
            continue;
        }
        let mut row = Row {
            record: &record,
            header,
            line,
            problems: &mut problems,
        };
        if let Some((partnership, history)) = row.partnership(committee_of, &mut first_line_of) {
            rows.push(ImportRow {
                line,
                partnership,
                history,
            });
        }
    }

    if let Some((header_line, _)) = header
        && data_rows == 0
    {
        problems.push(RowProblem::new(
            header_line,
            FILE,
            "innehåller inga partnerskap (det finns en rubrikrad men inga rader under den)",
        ));
    }

    if problems.is_empty() {
        Ok(ParsedImport {
            rows,
            notes,
            separator: layout.separator,
        })
    } else {
        Err(problems)
    }
}

/// A spreadsheet ready to import: its partnerships, the history its
/// columns bring (events recorded by `by` at `at`), and notes for the user.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub rows: Vec<Partnership>,
    pub history: Vec<crate::store::NewEvent>,
    pub notes: Vec<String>,
}

/// Parses a spreadsheet as `iopd import` and the workspace's import do:
/// every row checked, history in the future refused. `Err` holds every
/// problem as `rad LINE: column: problem`.
pub fn prepare(
    bytes: &[u8],
    committee_of: &dyn Fn(&str) -> Result<CommitteeKey, String>,
    today: NaiveDate,
    by: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Prepared, Vec<String>> {
    let parsed = parse(bytes, committee_of)
        .map_err(|p| p.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let mut history = Vec::new();
    let mut future = Vec::new();
    for r in &parsed.rows {
        for (on, kind) in &r.history {
            if *on > today {
                future.push(format!(
                    "rad {}: {}: {on} ligger efter i dag ({today}); historik kan inte ligga i framtiden",
                    r.line,
                    kind.name(),
                ));
            }
            history.push(crate::store::NewEvent {
                partnership: r.partnership.id.clone(),
                on: *on,
                kind: kind.clone(),
                recorded_at: at,
                recorded_by: by.to_string(),
                channel: crate::domain::Channel::Import,
                // History follows the default rules (RULES 1 and 16).
                target: None,
            });
        }
    }
    if !future.is_empty() {
        return Err(future);
    }
    Ok(Prepared {
        rows: parsed.rows.into_iter().map(|r| r.partnership).collect(),
        history,
        notes: parsed.notes,
    })
}

/// The columns a form edits a partnership by (the history columns are the
/// import's alone).
pub const FORM_COLUMNS: [&str; 13] = [
    "id",
    "organisation",
    "committee",
    "officer_name",
    "officer_email",
    "start_date",
    "deputy_email",
    "partner_email",
    "end_date",
    "annual_amount",
    "checkins_per_year",
    "notice_months",
    "notes",
];

/// One partnership from a form's fields, named as in [`FORM_COLUMNS`],
/// checked exactly as a spreadsheet row is: the same rules, the same
/// messages. `Err` holds each problem with the column it belongs to.
pub fn parse_fields(
    fields: &[(&str, &str)],
    committee_of: &dyn Fn(&str) -> Result<CommitteeKey, String>,
) -> Result<Partnership, Vec<(String, String)>> {
    let value = |c: &str| fields.iter().find(|(k, _)| *k == c).map_or("", |(_, v)| *v);
    let mut w = csv::WriterBuilder::new()
        .delimiter(b';')
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(Vec::new());
    let written = w
        .write_record(FORM_COLUMNS)
        .and_then(|()| w.write_record(FORM_COLUMNS.iter().map(|c| value(c))));
    let bytes = written
        .map_err(|e| e.to_string())
        .and_then(|()| w.into_inner().map_err(|e| e.to_string()))
        .map_err(|e| vec![(FILE.to_string(), e)])?;
    match parse(&bytes, committee_of) {
        Ok(mut parsed) if parsed.rows.len() == 1 => Ok(parsed.rows.remove(0).partnership),
        Ok(_) => Err(vec![(
            ROW.to_string(),
            "formuläret gav ingen rad".to_string(),
        )]),
        Err(problems) => Err(problems
            .into_iter()
            .map(|p| (p.column, p.problem))
            .collect()),
    }
}

/// Physical line numbers for the csv reader's byte offsets. The reader's own
/// `Position::line` does not count the blank lines it skips, nor line breaks
/// inside quoted cells, so lines are counted here.
struct LineCounter<'a> {
    text: &'a [u8],
    at: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text: text.as_bytes(),
            at: 0,
            line: 1,
        }
    }

    /// The line of the record the reader reported at `offset`. The offset is
    /// where the reader stood, which can be before the line breaks (and
    /// skipped blank lines) that precede the record; a record never starts
    /// with a line break, so those are stepped over. Offsets only grow, so
    /// the whole file is scanned once.
    fn line_at(&mut self, offset: u64) -> usize {
        let mut start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        while let Some(b'\r' | b'\n') = self.text.get(start) {
            start += 1;
        }
        while self.at < start {
            // `\r\n`, `\n` and a lone `\r` are one break each, as for the reader.
            match self.text[self.at] {
                b'\n' => self.line += 1,
                b'\r' if self.text.get(self.at + 1) != Some(&b'\n') => self.line += 1,
                _ => {}
            }
            self.at += 1;
        }
        self.line
    }
}

/// Turns the bytes into text, converting Windows-1252 (see the module docs).
fn decode(bytes: &[u8]) -> Result<(Cow<'_, str>, Vec<String>), RowProblem> {
    const RESAVE: &str = "spara den från Excel som 'CSV UTF-8 (kommaavgränsad)'";
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(RowProblem::new(
            1,
            FILE,
            format!("är UTF-16 (Excels 'Unicode-text'), inte CSV; {RESAVE}"),
        ));
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return Err(RowProblem::new(
            1,
            FILE,
            format!("är en Excel-arbetsbok (.xlsx), inte CSV; {RESAVE}"),
        ));
    }
    if let Some(bom_less) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        // The BOM says UTF-8; guessing another encoding would contradict it.
        return match std::str::from_utf8(bom_less) {
            Ok(text) => Ok((Cow::Borrowed(text), Vec::new())),
            Err(e) => {
                let line = 1 + bom_less[..e.valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count();
                Err(RowProblem::new(
                    line,
                    FILE,
                    format!(
                        "börjar med en UTF-8-markering (BOM) men är inte giltig UTF-8 \
                         (byte {} i filen); {RESAVE}",
                        e.valid_up_to() + 4
                    ),
                ))
            }
        };
    }
    if bytes.contains(&0) {
        return Err(RowProblem::new(
            1,
            FILE,
            format!("innehåller NUL-tecken och är alltså ingen CSV-textfil; {RESAVE}"),
        ));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok((Cow::Borrowed(text), Vec::new())),
        Err(_) => {
            // Windows-1252 assigns a character to every byte, so this never
            // fails; stray C1 bytes become control characters that the cell
            // checks then refuse.
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
            Ok((
                Cow::Owned(text.into_owned()),
                vec![WINDOWS_1252_NOTE.to_string()],
            ))
        }
    }
}

struct Layout {
    separator: char,
    /// Byte offset where CSV parsing starts (after a `sep=` line).
    body: usize,
    /// Lines before `body`, added to the CSV reader's line numbers.
    line_offset: usize,
}

fn layout(text: &str) -> Result<Layout, RowProblem> {
    const EMPTY: &str =
        "är tom; den ska ha en rubrikrad med kolumnnamn och sedan en rad per partnerskap";
    if text.trim().is_empty() {
        return Err(RowProblem::new(1, FILE, EMPTY));
    }
    let first_line = text.lines().next().unwrap_or_default();
    let hint = first_line.trim().to_ascii_lowercase();
    if let Some(sep) = hint.strip_prefix("sep=") {
        // Excel writes and honours a `sep=;` first line; it is not the header.
        let separator = match sep {
            ";" => ';',
            "," => ',',
            other => {
                return Err(RowProblem::new(
                    1,
                    FILE,
                    format!("avgränsaren {other:?} på sep=-raden stöds inte; använd ';' eller ','"),
                ));
            }
        };
        let body = text.find('\n').map_or(text.len(), |i| i + 1);
        if text[body..].trim().is_empty() {
            return Err(RowProblem::new(2, FILE, EMPTY));
        }
        return Ok(Layout {
            separator,
            body,
            line_offset: 1,
        });
    }
    Ok(Layout {
        separator: detect_separator(text)?,
        body: 0,
        line_offset: 0,
    })
}

/// Counts `;` and `,` outside quotes on the first non-blank line.
fn detect_separator(text: &str) -> Result<char, RowProblem> {
    let mut line = 1;
    let mut start = 0;
    for l in text.split_inclusive('\n') {
        if !l.trim().is_empty() {
            break;
        }
        line += 1;
        start += l.len();
    }
    let (mut semicolons, mut commas, mut tabs) = (0usize, 0usize, 0usize);
    let mut quoted = false;
    for c in text[start..].chars() {
        match c {
            '"' => quoted = !quoted,
            '\n' | '\r' if !quoted => break,
            ';' if !quoted => semicolons += 1,
            ',' if !quoted => commas += 1,
            '\t' if !quoted => tabs += 1,
            _ => {}
        }
    }
    if semicolons == 0 && commas == 0 && tabs > 0 {
        return Err(RowProblem::new(
            line,
            FILE,
            "rubrikraden är avgränsad med tabbar; spara den från Excel som 'CSV UTF-8 (kommaavgränsad)'",
        ));
    }
    // Swedish Excel separates with ';' (',' is its decimal comma).
    Ok(if commas > semicolons { ',' } else { ';' })
}

/// One of the known columns; the discriminant indexes [`COLUMNS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    Organisation,
    Committee,
    OfficerName,
    OfficerEmail,
    StartDate,
    DeputyEmail,
    PartnerEmail,
    EndDate,
    AnnualAmount,
    CheckinsPerYear,
    NoticeMonths,
    Notes,
    LastCheckin,
    LastAnnualReport,
    LastAnnualReportDnr,
    LastEvaluation,
    LastCommitteeFollowup,
    LastCommitteeParagraph,
}

impl Field {
    const ALL: [Field; 19] = [
        Field::Id,
        Field::Organisation,
        Field::Committee,
        Field::OfficerName,
        Field::OfficerEmail,
        Field::StartDate,
        Field::DeputyEmail,
        Field::PartnerEmail,
        Field::EndDate,
        Field::AnnualAmount,
        Field::CheckinsPerYear,
        Field::NoticeMonths,
        Field::Notes,
        Field::LastCheckin,
        Field::LastAnnualReport,
        Field::LastAnnualReportDnr,
        Field::LastEvaluation,
        Field::LastCommitteeFollowup,
        Field::LastCommitteeParagraph,
    ];

    fn column(self) -> (&'static str, &'static [&'static str], bool) {
        COLUMNS[self as usize]
    }

    fn from_header(name: &str) -> Option<Field> {
        let wanted = normalize(name);
        Field::ALL
            .into_iter()
            .find(|f| f.column().1.iter().any(|alias| normalize(alias) == wanted))
    }
}

/// Header names compare ignoring case, spaces, `_` and `-`, so the many ways
/// to write "e-post" or "start date" all match one listed name.
fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| !(c.is_whitespace() || *c == '_' || *c == '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// What a header cell means.
enum Slot {
    Known,
    /// Named but not a known column (already reported).
    Unknown,
    /// Left empty: fine while no row puts a value under it.
    Unnamed,
}

struct Header {
    slots: Vec<Slot>,
    /// For each field: its cell index and the header as written.
    found: [Option<(usize, String)>; Field::ALL.len()],
}

impl Header {
    fn parse(record: &csv::StringRecord, line: usize, problems: &mut Vec<RowProblem>) -> Header {
        let mut found: [Option<(usize, String)>; Field::ALL.len()] = Default::default();
        let mut slots = Vec::with_capacity(record.len());
        let mut unknown_seen = false;
        for (i, cell) in record.iter().enumerate() {
            let name = cell.trim();
            if name.is_empty() {
                slots.push(Slot::Unnamed);
                continue;
            }
            let Some(field) = Field::from_header(name) else {
                // The known columns once, with the first unknown one, and
                // whole: the list is ours, so the length cut for what the
                // user wrote does not apply to it.
                let mut problem = RowProblem::new(line, name, "okänd kolumn");
                if !unknown_seen {
                    problem.problem =
                        format!("okänd kolumn; kända kolumner är {}", known_columns());
                }
                problems.push(problem);
                unknown_seen = true;
                slots.push(Slot::Unknown);
                continue;
            };
            let canonical = field.column().0;
            if let Some((first, first_name)) = &found[field as usize] {
                problems.push(RowProblem::new(
                    line,
                    name,
                    format!(
                        "samma kolumn som kolumn {}, \"{first_name}\" (båda är {canonical})",
                        column_letter(*first)
                    ),
                ));
                slots.push(Slot::Unknown);
                continue;
            }
            found[field as usize] = Some((i, name.to_string()));
            slots.push(Slot::Known);
        }
        for field in Field::ALL {
            let (canonical, aliases, required) = field.column();
            if required && found[field as usize].is_none() {
                problems.push(RowProblem::new(
                    line,
                    canonical,
                    format!(
                        "en obligatorisk kolumn saknas (ge den ett av namnen: {})",
                        aliases.join(", ")
                    ),
                ));
            }
        }
        Header { slots, found }
    }
}

/// `id (diarienummer), organisation (idéburen part), …`: brief enough for
/// one message, and shows that Swedish names work too.
fn known_columns() -> String {
    COLUMNS
        .iter()
        .map(|(canonical, aliases, _)| match aliases.get(1) {
            Some(swedish) => format!("{canonical} ({swedish})"),
            None => (*canonical).to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Spreadsheet column name for a 0-based index: A, B, …, Z, AA, AB, …
fn column_letter(index: usize) -> String {
    let mut n = index + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(char::from(b'A' + rem as u8));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

/// One data row being checked; every problem goes to `problems`.
struct Row<'a> {
    record: &'a csv::StringRecord,
    header: &'a Header,
    line: usize,
    problems: &'a mut Vec<RowProblem>,
}

impl Row<'_> {
    /// `None` when the column is not in the file; else (trimmed value, header).
    fn cell(&self, field: Field) -> Option<(&str, String)> {
        let (index, name) = self.header.found[field as usize].as_ref()?;
        let value = self.record.get(*index).unwrap_or_default().trim();
        Some((value, name.clone()))
    }

    fn problem(&mut self, column: String, problem: String) {
        self.problems
            .push(RowProblem::new(self.line, column, problem));
    }

    /// A required cell. A missing column is already a header problem, so it
    /// is not repeated on every row.
    fn required<T>(
        &mut self,
        field: Field,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let (value, name) = self.cell(field)?;
        if value.is_empty() {
            self.problem(name, "är tom; ett värde krävs".to_string());
            return None;
        }
        parse(value).map_err(|e| self.problem(name, e)).ok()
    }

    /// An optional cell: `Some(None)` when absent or empty, `None` when bad.
    fn optional<T>(
        &mut self,
        field: Field,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<Option<T>> {
        match self.cell(field) {
            None => Some(None),
            Some(("", _)) => Some(None),
            Some((value, name)) => parse(value)
                .map(Some)
                .map_err(|e| self.problem(name, e))
                .ok(),
        }
    }

    fn partnership(
        &mut self,
        committee_of: &dyn Fn(&str) -> Result<CommitteeKey, String>,
        first_line_of: &mut HashMap<PartnershipId, usize>,
    ) -> Option<(Partnership, Vec<(NaiveDate, EventKind)>)> {
        let before = self.problems.len();
        for (i, slot) in self.header.slots.iter().enumerate() {
            let value = self.record.get(i).unwrap_or_default().trim();
            if matches!(slot, Slot::Unnamed) && !value.is_empty() {
                self.problem(
                    format!("kolumn {}", column_letter(i)),
                    "har ett värde men inget namn på rubrikraden".to_string(),
                );
            }
        }

        let id = self.required(Field::Id, |s| PartnershipId::parse(s).map_err(|e| e.0));
        if let Some(id) = &id {
            if let Some(first) = first_line_of.get(id) {
                let name = self.cell(Field::Id).map(|c| c.1).unwrap_or_default();
                self.problem(
                    name,
                    format!(
                        "id \"{id}\" står redan på rad {first}; ett id får bara finnas på en rad"
                    ),
                );
            } else {
                first_line_of.insert(id.clone(), self.line);
            }
        }
        let organisation = self.required(Field::Organisation, name_text);
        let committee = self.required(Field::Committee, |s| committee_of(s));
        let officer_name = self.required(Field::OfficerName, name_text);
        let officer_email = self.required(Field::OfficerEmail, email);
        let start = self.required(Field::StartDate, date);
        let deputy = self.optional(Field::DeputyEmail, email);
        let partner_contact = self.optional(Field::PartnerEmail, email);
        let end = self.optional(Field::EndDate, date);
        let annual_amount = self.optional(Field::AnnualAmount, |s| {
            Amount::parse_sek(s).map_err(|e| e.0)
        });
        let checkins_per_year = self.optional(Field::CheckinsPerYear, |s| {
            let n: u32 = s.parse().map_err(|_| {
                format!("\"{s}\" är inget heltal; avstämningar per år ska gå jämnt upp i 12 (1, 2, 3, 4, 6 eller 12)")
            })?;
            CheckinsPerYear::new(n).map_err(|e| e.0)
        });
        let notice_months = self.optional(Field::NoticeMonths, |s| {
            s.parse::<u32>()
                .ok()
                .filter(|n| NOTICE_MONTHS.contains(n))
                .ok_or_else(|| {
                    format!(
                        "\"{s}\" är ingen uppsägningstid; skriv ett helt antal månader från {} till {}",
                        NOTICE_MONTHS.start(),
                        NOTICE_MONTHS.end()
                    )
                })
        });
        let notes = self.optional(Field::Notes, notes_text);
        let history = self.history();

        if let (Some(start), Some(Some(end))) = (start, end)
            && end <= start
        {
            let name = self.cell(Field::EndDate).map(|c| c.1).unwrap_or_default();
            self.problem(
                name,
                format!("slutdatumet {end} ligger inte efter startdatumet {start}; en överenskommelse måste sluta efter att den har börjat"),
            );
        }

        if self.problems.len() > before {
            return None;
        }
        let partnership = Partnership {
            id: id?,
            organisation: organisation?,
            committee: committee?,
            officer: Person {
                name: officer_name?,
                email: officer_email?,
            },
            deputy: deputy?,
            partner_contact: partner_contact?,
            start: start?,
            end: end?,
            annual_amount: annual_amount?,
            checkins_per_year: checkins_per_year?,
            notice_months: notice_months?,
            notes: notes?.unwrap_or_default(),
        };
        Some((partnership, history))
    }

    /// The header's own name for a field's column (for messages).
    fn column_name(&self, field: Field) -> String {
        self.cell(field)
            .map(|c| c.1)
            .unwrap_or_else(|| field.column().0.to_string())
    }

    /// The history columns as events; a date without its diarienummer or §
    /// (or the other way round) is a problem of the row.
    fn history(&mut self) -> Vec<(NaiveDate, EventKind)> {
        let mut out = Vec::new();
        if let Some(Some(on)) = self.optional(Field::LastCheckin, date) {
            out.push((on, EventKind::CheckinHeld));
        }
        if let Some(Some(on)) = self.optional(Field::LastEvaluation, date) {
            out.push((on, EventKind::AnnualEvaluationHeld));
        }
        let report = self.optional(Field::LastAnnualReport, date);
        let dnr = self.optional(Field::LastAnnualReportDnr, reference);
        match (report, dnr) {
            (Some(Some(on)), Some(Some(diarienummer))) => {
                out.push((
                    on,
                    EventKind::AnnualReportReceived {
                        diarienummer,
                        document: None,
                    },
                ));
            }
            (Some(Some(_)), Some(None)) => self.problem(
                self.column_name(Field::LastAnnualReportDnr),
                "är tom; en registrerad årsredovisning behöver sitt diarienummer".to_string(),
            ),
            (Some(None), Some(Some(_))) => self.problem(
                self.column_name(Field::LastAnnualReport),
                "är tom; skriv datumet då årsredovisningen registrerades".to_string(),
            ),
            _ => {}
        }
        let meeting = self.optional(Field::LastCommitteeFollowup, date);
        let paragraph = self.optional(Field::LastCommitteeParagraph, reference);
        match (meeting, paragraph) {
            (Some(Some(meeting)), Some(Some(paragraph))) => out.push((
                meeting,
                EventKind::CommitteeFollowupReported {
                    meeting,
                    paragraph,
                    decision: crate::domain::FollowupDecision::Approved,
                },
            )),
            (Some(Some(_)), Some(None)) => self.problem(
                self.column_name(Field::LastCommitteeParagraph),
                "är tom; ett nämndbeslut styrks med sin paragraf i protokollet (t.ex. § 31)"
                    .to_string(),
            ),
            (Some(None), Some(Some(_))) => self.problem(
                self.column_name(Field::LastCommitteeFollowup),
                "är tom; skriv datumet för sammanträdet som beslutade".to_string(),
            ),
            _ => {}
        }
        out
    }
}

/// A diarienummer or minute §: one line of plain text.
fn reference(s: &str) -> Result<String, String> {
    let t = domain::clean_text("texten", s, 100).map_err(|e| e.0)?;
    if t.is_empty() {
        return Err("är tom".into());
    }
    Ok(t)
}

fn email(s: &str) -> Result<Email, String> {
    Email::parse(s).map_err(|e| e.0)
}

/// `YYYY-MM-DD`, also as Excel often saves a date: `YYYY-MM-DD 00:00`,
/// `YYYY-MM-DD 00:00:00` or `YYYY-MM-DDT00:00:00` (midnight only: a cell with
/// another time is not a date). `1/1/2022` stays refused: day and month
/// cannot be told apart.
fn date(s: &str) -> Result<NaiveDate, String> {
    let t = s.trim();
    if t.contains('/') {
        return Err(format!(
            "{t:?} är tvetydigt (dag och månad går inte att skilja åt); formatera kolumnen som datum i Excel (Formatera celler → Datum → ÅÅÅÅ-MM-DD)"
        ));
    }
    if t.len() > 10 && t.is_char_boundary(10) {
        let (day, time) = t.split_at(10);
        let time = time.trim_start_matches(['T', ' ']);
        if matches!(time, "00:00" | "00:00:00" | "00:00:00.000") {
            return domain::parse_date(day).map_err(|e| e.0);
        }
        if chrono::NaiveTime::parse_from_str(time, "%H:%M:%S").is_ok()
            || chrono::NaiveTime::parse_from_str(time, "%H:%M").is_ok()
        {
            return Err(format!(
                "{t:?} har ett klockslag; skriv bara datumet, ÅÅÅÅ-MM-DD"
            ));
        }
    }
    domain::parse_date(t).map_err(|e| e.0)
}

/// Organisation and officer names end up in mail headers and one-line lists.
fn name_text(s: &str) -> Result<String, String> {
    if s.contains(['\n', '\r']) {
        // The usual control character here: Alt+Enter in an Excel cell.
        return Err("innehåller en radbrytning; skriv allt på en rad".to_string());
    }
    domain::clean_text("texten", s, NAME_MAX).map_err(|e| e.0)
}

/// Notes keep their line breaks (Alt+Enter in Excel is how people write
/// several notes in one cell); every other control character is refused.
fn notes_text(s: &str) -> Result<String, String> {
    let unified = s.replace("\r\n", "\n").replace('\r', "\n");
    if let Some(c) = unified.chars().find(|&c| c.is_control() && c != '\n') {
        return Err(format!(
            "texten innehåller ett styrtecken (U+{:04X})",
            u32::from(c)
        ));
    }
    if unified.chars().count() > NOTES_MAX {
        return Err(format!("texten är längre än {NOTES_MAX} tecken"));
    }
    Ok(unified)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EN: &str = "id;organisation;committee;officer_name;officer_email;start_date;\
                      deputy_email;partner_email;end_date;annual_amount;checkins_per_year;\
                      notice_months;notes";
    const SV: &str = "Diarienummer;Organisation/förening;Nämnd;Handläggare;\
                      Handläggarens e-post;Startdatum;Ersättare e-post;Kontakt e-post;\
                      Slutdatum;Årligt belopp;Avstämningar per år;Uppsägningstid;Anteckningar";
    /// A valid row under `EN`/`SV`, optional cells empty.
    const OK: &str = "RS/2023:145;Fritidsbanken Värmland;kbn;Anna Svensson;\
                      anna.svensson@example.org;2024-01-01;;;;;;;";

    fn known(cell: &str) -> Result<CommitteeKey, String> {
        committee_resolver(vec![
            (
                CommitteeKey::parse("kbn").unwrap(),
                "Kultur- och bildningsnämnden".into(),
            ),
            (
                CommitteeKey::parse("hsn").unwrap(),
                "Hälso- och sjukvårdsnämnden".into(),
            ),
        ])(cell)
    }

    /// The committee by key or configured name, any case; an unknown one
    /// lists what is configured.
    #[test]
    fn committees_by_key_or_name() {
        assert_eq!(known("KBN").unwrap().as_str(), "kbn");
        assert_eq!(
            known(" kultur- och BILDNINGSnämnden ").unwrap().as_str(),
            "kbn"
        );
        let e = known("Socialnämnden").unwrap_err();
        assert!(
            e.contains("Kultur- och bildningsnämnden (kbn), Hälso- och sjukvårdsnämnden (hsn)"),
            "{e}"
        );
    }

    /// Dates as Excel saves them: midnight times pass, other times and
    /// day/month forms are refused with a hint.
    #[test]
    fn excel_dates() {
        let d = |s| date(s).map(|d| d.to_string());
        assert_eq!(d("2022-01-01 00:00").unwrap(), "2022-01-01");
        assert_eq!(d("2022-01-01 00:00:00").unwrap(), "2022-01-01");
        assert_eq!(d("2022-01-01T00:00:00").unwrap(), "2022-01-01");
        assert!(
            d("2022-01-01 13:15")
                .unwrap_err()
                .contains("\"2022-01-01 13:15\" har ett klockslag; skriv bara datumet")
        );
        assert!(d("1/1/2022").unwrap_err().contains("ÅÅÅÅ-MM-DD"));
        assert!(d("2022-02-30").is_err());
    }

    fn ok(bytes: &[u8]) -> ParsedImport {
        match parse(bytes, &known) {
            Ok(p) => p,
            Err(problems) => panic!("refused: {problems:#?}"),
        }
    }

    fn problems(bytes: &[u8]) -> Vec<RowProblem> {
        match parse(bytes, &known) {
            Ok(p) => panic!("accepted: {p:#?}"),
            Err(problems) => problems,
        }
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn email_of(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    /// The row `OK` as a value, written out by hand.
    fn fritidsbanken() -> Partnership {
        Partnership {
            id: PartnershipId::parse("RS/2023:145").unwrap(),
            organisation: "Fritidsbanken Värmland".into(),
            committee: CommitteeKey::parse("kbn").unwrap(),
            officer: Person {
                name: "Anna Svensson".into(),
                email: email_of("anna.svensson@example.org"),
            },
            deputy: None,
            partner_contact: None,
            start: d(2024, 1, 1),
            end: None,
            annual_amount: None,
            checkins_per_year: None,
            notice_months: None,
            notes: String::new(),
        }
    }

    #[test]
    fn every_field_filled_in() {
        let file = format!(
            "{EN}\nRS/2023:145; Fritidsbanken Värmland ;KBN;Anna Svensson;anna.svensson@example.org;\
             2024-01-01;bo.berg@example.org;info@fritidsbanken.example.org;2027-12-31;\
             1 250 000;4;6;Ny kontaktperson 2025\n"
        );
        let parsed = ok(file.as_bytes());
        let expected = Partnership {
            deputy: Some(email_of("bo.berg@example.org")),
            partner_contact: Some(email_of("info@fritidsbanken.example.org")),
            end: Some(d(2027, 12, 31)),
            annual_amount: Some(Amount::from_ore(125_000_000).unwrap()),
            checkins_per_year: Some(CheckinsPerYear::new(4).unwrap()),
            notice_months: Some(6),
            notes: "Ny kontaktperson 2025".into(),
            ..fritidsbanken()
        };
        assert_eq!(
            parsed,
            ParsedImport {
                rows: vec![ImportRow {
                    line: 2,
                    partnership: expected,
                    history: vec![],
                }],
                notes: vec![],
                separator: ';',
            }
        );
    }

    #[test]
    fn accepted_files() {
        let ok_comma = OK.replace(';', ",");
        let en_comma = EN.replace(';', ",");
        // (what, file, separator, line of the one row)
        let cases: Vec<(&str, Vec<u8>, char, usize)> = vec![
            ("UTF-8 without BOM", format!("{EN}\n{OK}\n").into(), ';', 2),
            (
                "UTF-8 with BOM",
                [
                    b"\xEF\xBB\xBF".as_slice(),
                    format!("{EN}\r\n{OK}\r\n").as_bytes(),
                ]
                .concat(),
                ';',
                2,
            ),
            ("Swedish header", format!("{SV}\n{OK}").into(), ';', 2),
            (
                "comma separator",
                format!("{en_comma}\n{ok_comma}\n").into(),
                ',',
                2,
            ),
            (
                "Excel sep= line",
                format!("sep=;\n{EN}\n{OK}\n").into(),
                ';',
                3,
            ),
            (
                "blank lines and an all-empty Excel row are skipped",
                format!("\n{EN}\n\n;;;;;;;;;;;;\n   \n{OK}\n\n").into(),
                ';',
                6,
            ),
            (
                // Header matching ignores case, spaces, '_' and '-'.
                "header in other spellings",
                format!(
                    " ID ;Idéburen part;NÄMND;Officer Name;Officer e-mail;Start Date;Ersättare;\
                     Kontaktperson epost;Slut datum;Belopp (kr);Avstämningar;\
                     Uppsägningstid (månader);Kommentar\n{OK}"
                )
                .into(),
                ';',
                2,
            ),
            (
                // A trailing empty header cell, as Excel exports it, is harmless.
                "empty trailing header cell",
                format!("{EN};\n{OK};\n").into(),
                ';',
                2,
            ),
        ];
        for (what, bytes, separator, line) in cases {
            let parsed = ok(&bytes);
            assert_eq!(parsed.separator, separator, "{what}");
            assert_eq!(parsed.notes, Vec::<String>::new(), "{what}");
            assert_eq!(
                parsed.rows,
                vec![ImportRow {
                    line,
                    partnership: fritidsbanken(),
                    history: vec![],
                }],
                "{what}"
            );
        }
    }

    #[test]
    fn separator_detection() {
        // (header line, separator): counted outside quotes; ';' wins a tie.
        for (header, separator) in [
            ("a;b;c", ';'),
            ("a,b,c", ','),
            ("\"a;b\",c,d", ','),
            ("\"a,b\";c;d", ';'),
            ("a;b,c", ';'),
            ("a", ';'),
            ("\n\na,b", ','),
        ] {
            assert_eq!(detect_separator(header), Ok(separator), "{header:?}");
        }
    }

    #[test]
    fn quoted_cells_with_separator_and_newline() {
        // Alt+Enter in Excel gives a quoted cell spanning lines; line numbers
        // stay physical, so the next row starts on line 5.
        let file = format!(
            "{EN}\n\
             RS/1;\"Värmlands Idéburna; förening\";kbn;Anna;anna@example.org;2024-01-01;;;;;;;\"Rad ett\r\nrad två; med \"\"citat\"\"\"\n\
             RS/2;Agera;kbn;Anna;anna@example.org;2024-01-01;;;;;;;\n"
        );
        let parsed = ok(file.as_bytes());
        let got: Vec<_> = parsed
            .rows
            .iter()
            .map(|r| {
                (
                    r.line,
                    r.partnership.organisation.as_str(),
                    r.partnership.notes.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    2,
                    "Värmlands Idéburna; förening",
                    "Rad ett\nrad två; med \"citat\""
                ),
                (4, "Agera", ""),
            ]
        );
    }

    #[test]
    fn line_numbers_are_physical() {
        // (what, file, lines of the rows): counted past blank lines, CRLF and
        // LF alike, and line breaks inside quoted cells.
        let row = |id: &str, notes: &str| {
            OK.replace("RS/2023:145", id)
                .replacen(";;;;;;;", &format!(";;;;;;;{notes}"), 1)
        };
        let cases = [
            (
                "CRLF with blank lines and a two-line cell",
                format!(
                    "{EN}\r\n\r\n{}\r\n\r\n\r\n{}\r\n{}\r\n",
                    row("A", "\"x\r\ny\""),
                    row("B", ""),
                    row("C", "")
                ),
                vec![3, 7, 8],
            ),
            (
                "sep= line and a three-line cell",
                format!("sep=;\n{EN}\n{}\n{}", row("A", "\"x\n\ny\""), row("B", "")),
                vec![3, 6],
            ),
            (
                "blank lines before the header",
                format!("\n \n{EN}\n{}\n", row("A", "")),
                vec![4],
            ),
        ];
        for (what, file, want) in cases {
            let got: Vec<usize> = ok(file.as_bytes()).rows.iter().map(|r| r.line).collect();
            assert_eq!(got, want, "{what}");
        }
        // And a problem after them names the same physical line.
        let file = format!(
            "{EN}\r\n{}\r\n\r\n{}\r\n",
            row("A", "\"x\r\ny\""),
            row("B", "").replace("kbn", "xyz")
        );
        let got = problems(file.as_bytes());
        assert_eq!((got[0].line, got[0].column.as_str()), (5, "committee"));
    }

    #[test]
    fn windows_1252_is_converted_with_a_note() {
        let mut file = format!("{EN}\n").into_bytes();
        file.extend_from_slice(
            b"RS/2023:145;Fritidsbanken V\xe4rmland;kbn;Anna Svensson;\
              anna.svensson@example.org;2024-01-01;;;;;;;\n",
        );
        let parsed = ok(&file);
        assert_eq!(parsed.notes, vec![WINDOWS_1252_NOTE.to_string()]);
        assert_eq!(
            parsed.notes[0],
            "konverterad från Windows-1252 (spara som 'CSV UTF-8' så slipper du det)"
        );
        assert_eq!(parsed.rows[0].partnership, fritidsbanken());
    }

    #[test]
    fn amounts_in_three_styles() {
        // (separator, cell as written, öre)
        for (separator, cell, ore) in [
            (";", "1 250 000", 125_000_000),
            (";", "1250000", 125_000_000),
            (";", "1250000,00", 125_000_000),
            (";", "1 250 000,50 kr", 125_000_050),
            // With ',' as separator a decimal comma only survives quoted.
            (",", "\"1250000,00\"", 125_000_000),
            (",", "1 250 000", 125_000_000),
        ] {
            let file = one_row(&[(9, cell)]).replace(';', separator);
            let parsed = ok(file.as_bytes());
            assert_eq!(
                parsed.rows[0].partnership.annual_amount,
                Some(Amount::from_ore(ore).unwrap()),
                "{cell}"
            );
        }
    }

    /// A file with `EN` and one row: `OK` with `cells` replacing cells by index.
    fn one_row(cells: &[(usize, &str)]) -> String {
        let mut row: Vec<String> = OK.split(';').map(str::to_string).collect();
        for (i, v) in cells {
            row[*i] = (*v).to_string();
        }
        format!("{EN}\n{}\n", row.join(";"))
    }

    #[test]
    fn bad_input_names_line_column_and_problem() {
        let too_long = "x".repeat(201);
        let long_notes = "x".repeat(2001);
        // (what, file, line, column, part of the problem)
        let cases: Vec<(&str, Vec<u8>, usize, &str, &str)> = vec![
            (
                "empty file",
                b"".to_vec(),
                1,
                FILE,
                "är tom; den ska ha en rubrikrad",
            ),
            ("only blank lines", b"\r\n \n".to_vec(), 1, FILE, "är tom"),
            (
                "BOM only",
                b"\xEF\xBB\xBF".to_vec(),
                1,
                FILE,
                "är tom; den ska ha en rubrikrad",
            ),
            (
                "header only",
                format!("{EN}\n").into(),
                1,
                FILE,
                "innehåller inga partnerskap",
            ),
            ("UTF-16", b"\xFF\xFEi\0d\0".to_vec(), 1, FILE, "är UTF-16"),
            (
                "xlsx",
                b"PK\x03\x04\x14\0".to_vec(),
                1,
                FILE,
                "är en Excel-arbetsbok (.xlsx)",
            ),
            (
                "tab-separated",
                EN.replace(';', "\t").into(),
                1,
                FILE,
                "avgränsad med tabbar",
            ),
            (
                "BOM then invalid UTF-8",
                [
                    b"\xEF\xBB\xBF".as_slice(),
                    format!("{EN}\n").as_bytes(),
                    b"RS/1;V\xe4rmland",
                ]
                .concat(),
                2,
                FILE,
                "är inte giltig UTF-8",
            ),
            (
                "unknown column",
                format!("{EN};Färg\n{OK};blå\n").into(),
                1,
                "Färg",
                "okänd kolumn; kända kolumner är id (diarienummer), organisation",
            ),
            (
                "missing required column",
                format!(
                    "{}\n{}\n",
                    EN.replace(";start_date", ""),
                    OK.replace(";2024-01-01", "")
                )
                .into(),
                1,
                "start_date",
                "en obligatorisk kolumn saknas (ge den ett av namnen: start_date, startdatum, start",
            ),
            (
                "duplicate column under two names",
                format!("{EN};Dnr\n{OK};RS/1\n").into(),
                1,
                "Dnr",
                "samma kolumn som kolumn A, \"id\" (båda är id)",
            ),
            (
                "row with extra columns",
                format!("{EN}\n{OK};extra\n").into(),
                2,
                ROW,
                "har 14 celler men rubrikraden har 13",
            ),
            (
                "row with too few columns",
                format!("{EN}\nRS/1;Agera;kbn\n").into(),
                2,
                ROW,
                "har 3 celler men rubrikraden har 13",
            ),
            (
                "unclosed quote swallows the rest",
                format!("{EN}\n{}\n{OK}\n", OK.replace("Anna Svensson", "\"Anna")).into(),
                2,
                ROW,
                "kontrollera att varje \" som inleder en cell också avslutas",
            ),
            (
                "value under an unnamed column",
                format!("{EN};\n{OK};oops\n").into(),
                2,
                "kolumn N",
                "har ett värde men inget namn",
            ),
            (
                "empty required cell",
                one_row(&[(3, "  ")]).into(),
                2,
                "officer_name",
                "är tom; ett värde krävs",
            ),
            (
                "bad officer e-mail",
                one_row(&[(4, "anna@")]).into(),
                2,
                "officer_email",
                "\"anna@\" är ingen giltig e-postadress (ingen domän efter @)",
            ),
            (
                "bad deputy e-mail",
                one_row(&[(6, "Bo <bo@example.org>")]).into(),
                2,
                "deputy_email",
                "\"Bo <bo@example.org>\" är ingen giltig e-postadress (skriv bara adressen, utan namn och <>)",
            ),
            (
                "unknown committee",
                one_row(&[(2, "xyz")]).into(),
                2,
                "committee",
                "nämnden \"xyz\" finns inte i konfigurationen; skriv en av: Kultur- och bildningsnämnden (kbn), Hälso- och sjukvårdsnämnden (hsn)",
            ),
            (
                // Neither a key nor a configured name: the list helps more
                // than the key grammar.
                "neither key nor name",
                one_row(&[(2, "Kultur och bildning")]).into(),
                2,
                "committee",
                "\"Kultur och bildning\" finns inte i konfigurationen; skriv en av",
            ),
            (
                "date not in the calendar",
                one_row(&[(5, "2026-02-30")]).into(),
                2,
                "start_date",
                "2026-02-30 är inget datum i kalendern",
            ),
            (
                "date in another format",
                one_row(&[(8, "31/12/2027")]).into(),
                2,
                "end_date",
                "är tvetydigt (dag och månad går inte att skilja åt)",
            ),
            (
                "end before start",
                one_row(&[(8, "2023-12-31")]).into(),
                2,
                "end_date",
                "slutdatumet 2023-12-31 ligger inte efter startdatumet 2024-01-01; en överenskommelse måste sluta efter att den har börjat",
            ),
            (
                "end on the start date",
                one_row(&[(8, "2024-01-01")]).into(),
                2,
                "end_date",
                "slutdatumet 2024-01-01 ligger inte efter startdatumet 2024-01-01",
            ),
            (
                "negative amount",
                one_row(&[(9, "-5 000")]).into(),
                2,
                "annual_amount",
                "beloppet \"-5 000\" är negativt",
            ),
            (
                "amount that is not a number",
                one_row(&[(9, "en miljon")]).into(),
                2,
                "annual_amount",
                "är inget belopp i kronor",
            ),
            (
                "check-ins that do not divide 12",
                one_row(&[(10, "5")]).into(),
                2,
                "checkins_per_year",
                "ska gå jämnt upp i 12",
            ),
            (
                "check-ins not a number",
                one_row(&[(10, "fyra")]).into(),
                2,
                "checkins_per_year",
                "\"fyra\" är inget heltal",
            ),
            (
                "notice months out of range",
                one_row(&[(11, "61")]).into(),
                2,
                "notice_months",
                "skriv ett helt antal månader från 1 till 60",
            ),
            (
                "notice months zero",
                one_row(&[(11, "0")]).into(),
                2,
                "notice_months",
                "\"0\" är ingen uppsägningstid",
            ),
            (
                "control character in organisation",
                one_row(&[(1, "Agera\u{7}")]).into(),
                2,
                "organisation",
                "texten innehåller ett styrtecken",
            ),
            (
                "line break in officer name",
                one_row(&[(3, "\"Anna\nSvensson\"")]).into(),
                2,
                "officer_name",
                "innehåller en radbrytning; skriv allt på en rad",
            ),
            (
                "control character in notes",
                one_row(&[(12, "a\u{1b}b")]).into(),
                2,
                "notes",
                "texten innehåller ett styrtecken (U+001B)",
            ),
            (
                "organisation too long",
                one_row(&[(1, &too_long)]).into(),
                2,
                "organisation",
                "texten är längre än 200 tecken",
            ),
            (
                "notes too long",
                one_row(&[(12, &long_notes)]).into(),
                2,
                "notes",
                "texten är längre än 2000 tecken",
            ),
            (
                "id with a tab",
                one_row(&[(0, "RS/1\tx")]).into(),
                2,
                "id",
                "partnerskapets id \"RS/1\\tx\" innehåller ett styrtecken",
            ),
            (
                "duplicate id",
                format!("{EN}\n{OK}\n\n{OK}\n").into(),
                4,
                "id",
                "id \"RS/2023:145\" står redan på rad 2; ett id får bara finnas på en rad",
            ),
            (
                // The column is named as the user wrote it.
                "Swedish column name in the problem",
                format!("{SV}\n{}\n", OK.replace("2024-01-01", "2024-13-01")).into(),
                2,
                "Startdatum",
                "2024-13-01 är inget datum i kalendern",
            ),
        ];
        for (what, bytes, line, column, problem) in cases {
            let got = problems(&bytes);
            assert_eq!(got.len(), 1, "{what}: {got:#?}");
            assert_eq!(got[0].line, line, "{what}: {got:#?}");
            assert_eq!(got[0].column, column, "{what}: {got:#?}");
            assert!(
                got[0].problem.contains(problem),
                "{what}: {:?} lacks {problem:?}",
                got[0].problem
            );
        }
    }

    /// Issue 22: unknown headers are listed once each, the expected headers
    /// once and whole (the last one too).
    #[test]
    fn unknown_headers_once_with_the_whole_list_once() {
        let file = format!("{EN};Färg;Ljud\n{OK};;\n");
        let got = problems(file.as_bytes());
        let shown: Vec<String> = got.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 2, "{shown:#?}");
        assert!(
            shown[0].starts_with(
                "rad 1: Färg: okänd kolumn; kända kolumner är id (diarienummer), organisation (idéburen part),"
            ),
            "{}",
            shown[0]
        );
        assert!(
            shown[0].ends_with("last_committee_followup_paragraph (nämndsuppföljning §)"),
            "{}",
            shown[0]
        );
        assert_eq!(shown[1], "rad 1: Ljud: okänd kolumn");
    }

    #[test]
    fn every_problem_in_a_file_is_listed() {
        let file = format!(
            "{EN};Färg\n\
             RS/1;Agera;xyz;Anna;anna@;2026-02-30;;;;-1;;;;\n\
             RS/2;Agera;kbn;Anna;anna@example.org;2024-01-01;;;2023-01-01;;;;;\n\
             \n\
             RS/1;Agera;hsn;;anna@example.org;2024-01-01;;;;;;;;\n\
             RS/3;Agera;kbn\n"
        );
        let got: Vec<(usize, String)> = problems(file.as_bytes())
            .into_iter()
            .map(|p| (p.line, p.column))
            .collect();
        let want: Vec<(usize, String)> = [
            (1, "Färg"),
            (2, "committee"),
            (2, "officer_email"),
            (2, "start_date"),
            (2, "annual_amount"),
            (3, "end_date"),
            (5, "id"),
            (5, "officer_name"),
            (6, ROW),
        ]
        .into_iter()
        .map(|(l, c)| (l, c.to_string()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn display_is_line_column_problem() {
        let p = RowProblem::new(7, "Startdatum", "2026-02-30 är inget datum i kalendern");
        assert_eq!(
            p.to_string(),
            "rad 7: Startdatum: 2026-02-30 är inget datum i kalendern"
        );
    }

    #[test]
    fn columns_table_is_consistent() {
        assert_eq!(COLUMNS.len(), Field::ALL.len());
        for (i, field) in Field::ALL.into_iter().enumerate() {
            assert_eq!(field as usize, i);
            // The canonical name is always accepted.
            assert_eq!(Field::from_header(COLUMNS[i].0), Some(field));
        }
        // No header name may mean two columns.
        let mut seen = HashMap::new();
        for (canonical, aliases, _) in COLUMNS {
            for alias in *aliases {
                if let Some(other) = seen.insert(normalize(alias), canonical) {
                    panic!("{alias:?} means both {other} and {canonical}");
                }
            }
        }
        // The module documentation lists every accepted name.
        let doc: String = include_str!("import.rs")
            .lines()
            .filter(|l| l.starts_with("//! |"))
            .collect();
        for (canonical, aliases, required) in COLUMNS {
            let row = doc
                .split("//!")
                .find(|r| r.starts_with(&format!(" | `{canonical}`")))
                .unwrap_or_else(|| panic!("{canonical} not in the doc table"));
            assert!(
                row.contains(if *required { "| yes" } else { "| no" }),
                "{canonical}"
            );
            for alias in *aliases {
                assert!(
                    row.contains(&format!("`{alias}`")),
                    "{alias} not documented"
                );
            }
        }
    }

    #[test]
    fn column_letters() {
        for (i, letters) in [(0, "A"), (13, "N"), (25, "Z"), (26, "AA"), (27, "AB")] {
            assert_eq!(column_letter(i), letters);
        }
    }

    /// A form's fields go through the spreadsheet's checks: the same values,
    /// the same messages, each problem with its column; a value with `;`,
    /// quotes or line breaks stays one cell.
    #[test]
    fn form_fields_are_checked_as_a_row() {
        let ok = [
            ("id", "RS/2023:145"),
            ("organisation", "Förening \"Ett; två\""),
            ("committee", "Kultur- och bildningsnämnden"),
            ("officer_name", "Anna Svensson"),
            ("officer_email", "anna.svensson@example.org"),
            ("start_date", "2024-01-01"),
            ("annual_amount", "250 000 kr"),
            ("notes", "rad ett\nrad två"),
        ];
        let p = parse_fields(&ok, &known).expect("valid");
        assert_eq!(p.organisation, "Förening \"Ett; två\"");
        assert_eq!(p.committee.as_str(), "kbn");
        assert_eq!(p.notes, "rad ett\nrad två");
        assert_eq!(p.annual_amount.map(|a| a.ore()), Some(25_000_000));

        let bad = [
            ("id", "RS/2023:145"),
            ("organisation", "X"),
            ("committee", "okänd"),
            ("officer_name", "Anna"),
            ("officer_email", "inte en adress"),
            ("start_date", "2024-01-01"),
            ("end_date", "2023-01-01"),
        ];
        let err = parse_fields(&bad, &known).unwrap_err();
        let columns: Vec<&str> = err.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(
            columns,
            vec!["committee", "officer_email", "end_date"],
            "{err:?}"
        );
        assert!(err[0].1.contains("nämnden \"okänd\" finns inte"), "{err:?}");
    }
}
