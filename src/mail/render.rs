//! Renders the mail templates with minijinja.
//!
//! The templates are embedded with `include_str!` so the binary needs no template directory.
//! Undefined variables are errors (minijinja would otherwise print them as empty), `.html`
//! templates escape HTML and `.txt` templates are left as written.

use std::sync::OnceLock;

use chrono::NaiveDate;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use super::guidance::{RENEGOTIATION_HEADINGS, appendix_headings, decision_points, guidance};
use super::{
    Day, Links, MailError, Person, Reader, ReminderContext, Rendered, Section, Withdrawal, one_line,
};
use crate::engine::Kind;
use crate::ladder::StageKind;
use crate::words;

const SECTION_TXT: &str = "section.txt";
const SECTION_HTML: &str = "section.html";
const DAY_TXT: &str = "day.txt";
const DAY_HTML: &str = "day.html";
const INVITE_TXT: &str = "invite.txt";
const INVITE_HTML: &str = "invite.html";
const CANCEL_TXT: &str = "cancel.txt";
const CANCEL_HTML: &str = "cancel.html";

macro_rules! template {
    ($name:literal) => {
        ($name, include_str!(concat!("../../templates/mail/", $name)))
    };
}

const TEMPLATES: [(&str, &str); 12] = [
    template!("section.txt"),
    template!("section.html"),
    template!("day.txt"),
    template!("day.html"),
    template!("invite.txt"),
    template!("invite.html"),
    template!("cancel.txt"),
    template!("cancel.html"),
    template!("facts.txt"),
    template!("facts.html"),
    template!("layout.html"),
    template!("why_cancel.txt"),
];

static ENV: OnceLock<Environment<'static>> = OnceLock::new();

/// A template environment as every iopd template wants it: the
/// [`crate::words`] filters, escaping by the file's extension (explicit
/// rather than minijinja's default, so a renamed template cannot change
/// escaping), no stray newlines from block tags, and every template parsed
/// up front.
pub(crate) fn environment(
    templates: &[(&'static str, &'static str)],
    undefined: UndefinedBehavior,
) -> Result<Environment<'static>, MailError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(undefined);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    crate::words::register(&mut env);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    for (name, source) in templates {
        env.add_template(name, source)
            .map_err(|source| MailError::Template {
                template: name,
                source,
            })?;
    }
    Ok(env)
}

/// The shared environment; parsed once, since every tick renders many mails.
fn env() -> Result<&'static Environment<'static>, MailError> {
    if let Some(env) = ENV.get() {
        return Ok(env);
    }
    let env = environment(&TEMPLATES, UndefinedBehavior::Strict)?;
    Ok(ENV.get_or_init(|| env))
}

/// One checkpoint's section of the reader's mail of the day.
pub fn render_section(ctx: &ReminderContext) -> Result<Section, MailError> {
    let view = View::new(ctx);
    let env = env()?;
    Ok(Section {
        rank: view.rank,
        due: ctx.due,
        text: one(env, SECTION_TXT, &view)?,
        html: one(env, SECTION_HTML, &view)?,
        headline: view.headline,
        name: ctx.recipient.name.as_deref().map(one_line),
    })
}

/// A person's mail of the day: every section, worst first, under one subject
/// that names the most urgent and counts the rest.
pub fn render_day(day: &Day) -> Result<Rendered, MailError> {
    let mut sections = day.sections.clone();
    sections.sort_by(|a, b| (a.rank, a.due, &a.headline).cmp(&(b.rank, b.due, &b.headline)));
    let first = sections.first().map_or("", |s| s.headline.as_str());
    let subject = match sections.len() + day.more.len() {
        0 | 1 => format!("[IOP] {first}"),
        n => format!("[IOP] {first} (+{} till)", n - 1),
    };
    #[derive(Serialize)]
    struct DayView<'a> {
        subject: &'a str,
        body_name: String,
        name: Option<String>,
        sections: &'a [Section],
        more: &'a [String],
        coordinator: String,
        feed_link: Option<&'a str>,
        redirected_from: Vec<String>,
    }
    let view = DayView {
        subject: &subject,
        body_name: one_line(&day.body_name),
        name: day.name.as_deref().map(one_line).filter(|n| !n.is_empty()),
        sections: &sections,
        more: &day.more,
        coordinator: person(&day.coordinator),
        feed_link: day.feed_link.as_deref(),
        redirected_from: day.redirected_from.iter().map(|e| e.to_string()).collect(),
    };
    let env = env()?;
    Ok(Rendered {
        text: one(env, DAY_TXT, &view)?,
        html: one(env, DAY_HTML, &view)?,
        subject: one_line(&subject),
    })
}

/// The small mail that carries a checkpoint's calendar entry (`updated`:
/// its date, meeting or title changed since the last one).
pub fn render_invite(ctx: &ReminderContext, updated: bool) -> Result<Rendered, MailError> {
    let view = View::new(ctx);
    let word = if updated {
        "Ändrad kalenderpost"
    } else {
        "Kalenderpost"
    };
    let subject = format!("[IOP] {word}: {} {} {}", view.title, view.due_word, ctx.due);
    calendar_mail(&view, subject, INVITE_TXT, INVITE_HTML, updated, None)
}

/// The small mail that withdraws a checkpoint's calendar entry, saying why.
pub fn render_cancel(ctx: &ReminderContext, why: Withdrawal) -> Result<Rendered, MailError> {
    let view = View::new(ctx);
    let word = match why {
        Withdrawal::Done => "Klart – kalenderposten tas bort",
        Withdrawal::Cancelled => "Inställd",
        Withdrawal::Missed => "Missad – kalenderposten tas bort",
        Withdrawal::Waived => "Avskriven – kalenderposten tas bort",
        Withdrawal::NotYours | Withdrawal::Moved => "Kalenderposten tas bort",
    };
    let subject = format!("[IOP] {word}: {}", view.title);
    calendar_mail(&view, subject, CANCEL_TXT, CANCEL_HTML, false, Some(why))
}

fn calendar_mail(
    view: &View<'_>,
    subject: String,
    text: &'static str,
    html: &'static str,
    updated: bool,
    why: Option<Withdrawal>,
) -> Result<Rendered, MailError> {
    #[derive(Serialize)]
    struct CalendarView<'a> {
        #[serde(flatten)]
        view: &'a View<'a>,
        subject: &'a str,
        updated: bool,
        why: Option<Withdrawal>,
    }
    let subject = one_line(&subject);
    let v = CalendarView {
        view,
        subject: &subject,
        updated,
        why,
    };
    let env = env()?;
    Ok(Rendered {
        text: one(env, text, &v)?,
        html: one(env, html, &v)?,
        subject,
    })
}

fn one<S: Serialize>(
    env: &Environment<'static>,
    template: &'static str,
    view: &S,
) -> Result<String, MailError> {
    env.get_template(template)
        .and_then(|t| t.render(view))
        .map_err(|source| MailError::Template { template, source })
}

/// What the templates see: the context with every free text cleaned to one line, plus the
/// derived facts (the rule, the commands, the day count, the headline) so templates only lay out.
#[derive(Serialize)]
struct View<'a> {
    body_name: String,
    partnership_id: String,
    organisation: String,
    committee_name: String,
    kind: Kind,
    kind_label: &'a str,
    parent_label: Option<&'a str>,
    /// "Avstämningsmöte med Fritidsbanken".
    title: String,
    /// "Försenad 7 dagar: Avstämningsmöte med Fritidsbanken".
    headline: String,
    rank: u8,
    due_word: &'static str,
    meeting_due_word: &'static str,
    due: NaiveDate,
    /// "om 7 dagar", "i dag", "för 3 dagar sedan".
    when: String,
    period_start: NaiveDate,
    period_end: NaiveDate,
    meeting: Option<NaiveDate>,
    no_meeting: bool,
    escalation_stage: bool,
    days_late: i64,
    overdue: bool,
    /// A fact to know about, not something to do (the agreement's end).
    informational: bool,
    sent_late: bool,
    rule: &'a str,
    evidence: Option<&'a str>,
    /// The yearly documents: those registered and those still missing.
    documents: Option<DocumentsView>,
    /// Command lines: only for IOP-ansvarig, and only without the pages.
    commands: Vec<String>,
    /// Without the pages, what an officer tells IOP-ansvarig.
    notify: Option<String>,
    memo: Option<Memo>,
    latest_event: Option<EventLine>,
    reader: Reader,
    /// Everyone else the stage reaches.
    others: Vec<String>,
    links: Option<&'a Links>,
    overview_link: Option<&'a str>,
    escalation: Option<EscalationView>,
    coordinator: String,
    redirected_from: Vec<String>,
    diarienummer: Option<String>,
}

#[derive(Serialize)]
struct DocumentsView {
    /// "Årsmötesprotokoll (KS 2027/41)".
    received: Vec<String>,
    /// "Revisionsberättelse, uppgift om medlemsantal".
    missing: String,
}

#[derive(Serialize)]
struct EscalationView {
    officer: String,
    deputy: Option<String>,
    /// "påmind 4 gånger, senast 2027-02-23".
    reminded: String,
}

/// The committee follow-up memo's outline, shown while the follow-up is being planned.
#[derive(Serialize)]
struct Memo {
    appendix: Vec<String>,
    decision_points: Vec<String>,
    renegotiation: [&'static str; 3],
}

#[derive(Serialize)]
struct EventLine {
    on: NaiveDate,
    text: String,
}

impl<'a> View<'a> {
    fn new(ctx: &'a ReminderContext) -> Self {
        let g = guidance(ctx.kind, ctx.parent);
        let words = ctx.guideline.text(ctx.kind, ctx.parent);
        let body_name = one_line(&ctx.body_name);
        let organisation = one_line(&ctx.organisation);
        let partnership_id = one_line(&ctx.partnership_id);
        let days_until = (ctx.due - ctx.today).num_days();
        let days_late = (-days_until).max(0);
        let informational = words.evidence.is_none();
        let planning = ctx.stage == Some(StageKind::Planning);
        let escalation_stage = ctx.stage == Some(StageKind::Escalation);
        let memo = (ctx.kind == Kind::CommitteeFollowup
            && planning
            && ctx.guideline.memo_outline())
        .then(|| Memo {
            appendix: appendix_headings(&body_name),
            decision_points: decision_points(&body_name, &organisation),
            renegotiation: RENEGOTIATION_HEADINGS,
        });
        let title = format!("{} {} {organisation}", words.name, words.prep);
        let when = words::from_today(ctx.due, ctx.today);
        let (rank, headline) = if escalation_stage {
            let late = words::late(days_late).to_lowercase();
            (0, format!("Eskalering: {title}, {late}"))
        } else if informational {
            (4, format!("{title} {} {} ({when})", g.due_word, ctx.due))
        } else if days_late > 0 {
            (1, format!("{}: {title}", words::late(days_late)))
        } else if days_until == 0 {
            (2, format!("Sista dag i dag: {title}"))
        } else if planning {
            let h = format!("Planera: {title} {} {} ({when})", g.due_word, ctx.due);
            (3, h)
        } else {
            let h = format!("Påminnelse: {title} {} {} ({when})", g.due_word, ctx.due);
            (3, h)
        };
        // The advisory mailbox's copy says so from its subject on.
        let headline = if ctx.reader == Reader::AdvisoryCopy {
            format!("Kopia: {headline}")
        } else {
            headline
        };
        let coordinator = person(&ctx.coordinator);
        let pages = ctx.links.is_some();
        let commands = if ctx.reader == Reader::Coordinator && !pages {
            match &ctx.documents {
                // One registration per document that has come in.
                Some(docs) => docs
                    .missing
                    .iter()
                    .flat_map(|d| {
                        let partnership_id = &partnership_id;
                        g.commands.iter().map(move |c| {
                            format!(
                                "{} --document {}",
                                c.line(partnership_id, ctx.meeting),
                                d.name()
                            )
                        })
                    })
                    .collect(),
                None => g
                    .commands
                    .iter()
                    .map(|c| c.line(&partnership_id, ctx.meeting))
                    .collect(),
            }
        } else {
            Vec::new()
        };
        let notify = match (ctx.reader, words.evidence.as_deref(), pages) {
            (Reader::Officer, Some(evidence), false) => Some(format!(
                "Meddela IOP-ansvarig {coordinator} {}, så registreras det.",
                lower_first(evidence.trim_end_matches('.'))
            )),
            _ => None,
        };
        let others = ctx
            .to
            .iter()
            .chain(&ctx.cc)
            .filter(|p| p.email != ctx.recipient.email)
            .map(person)
            .collect();
        View {
            commands,
            notify,
            memo,
            body_name,
            organisation,
            partnership_id,
            committee_name: one_line(&ctx.committee_name),
            kind: ctx.kind,
            kind_label: ctx.guideline.label(ctx.kind),
            parent_label: ctx.parent.map(|p| ctx.guideline.label(p)),
            title,
            headline,
            rank,
            due_word: g.due_word,
            meeting_due_word: g.meeting_due_word,
            due: ctx.due,
            when,
            period_start: ctx.period_start,
            period_end: ctx.period_end,
            meeting: ctx.meeting,
            no_meeting: ctx.no_meeting,
            escalation_stage,
            days_late,
            overdue: days_late > 0 && !informational,
            informational,
            sent_late: ctx.sent_late,
            rule: &words.rule,
            evidence: words.evidence.as_deref(),
            documents: ctx.documents.as_ref().map(|d| DocumentsView {
                received: d
                    .received
                    .iter()
                    .map(|r| format!("{} ({})", r.document.label_sv(), one_line(&r.diarienummer)))
                    .collect(),
                missing: crate::guideline::document_list(&d.missing),
            }),
            latest_event: ctx.recent_events.first().map(|(on, text)| EventLine {
                on: *on,
                text: one_line(text),
            }),
            reader: ctx.reader,
            others,
            links: ctx.links.as_ref(),
            overview_link: ctx.overview_link.as_deref(),
            escalation: ctx.escalation.as_ref().map(|e| EscalationView {
                officer: person(&e.officer),
                deputy: e.deputy.as_ref().map(|d| d.to_string()),
                reminded: match (e.reminded, e.last_reminded) {
                    (0, _) | (_, None) => "inte påmind av iopd".to_string(),
                    (n, Some(last)) => format!("påmind {}, senast {last}", words::times(n)),
                },
            }),
            coordinator,
            redirected_from: ctx.redirected_from.iter().map(|e| e.to_string()).collect(),
            diarienummer: ctx
                .diarienummer_hint
                .as_deref()
                .map(one_line)
                .filter(|d| !d.is_empty()),
        }
    }
}

/// "Datumet då …" → "datumet då …".
fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// "Anna Svensson <anna@example.se>", or the bare address without a name.
fn person(p: &Person) -> String {
    match p.name.as_deref().map(one_line) {
        Some(name) if !name.is_empty() => format!("{name} <{}>", p.email),
        _ => p.email.to_string(),
    }
}
