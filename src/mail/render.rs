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
use super::{Links, MailError, Person, ReminderContext, Rendered, one_line};
use crate::engine::Kind;

const SUBJECT: &str = "subject.txt";
const REMINDER_TXT: &str = "reminder.txt";
const REMINDER_HTML: &str = "reminder.html";
const CANCEL_TXT: &str = "cancel.txt";
const CANCEL_HTML: &str = "cancel.html";

const TEMPLATES: [(&str, &str); 11] = [
    (SUBJECT, include_str!("../../templates/mail/subject.txt")),
    (
        REMINDER_TXT,
        include_str!("../../templates/mail/reminder.txt"),
    ),
    (
        REMINDER_HTML,
        include_str!("../../templates/mail/reminder.html"),
    ),
    (CANCEL_TXT, include_str!("../../templates/mail/cancel.txt")),
    (
        CANCEL_HTML,
        include_str!("../../templates/mail/cancel.html"),
    ),
    ("when.txt", include_str!("../../templates/mail/when.txt")),
    ("facts.txt", include_str!("../../templates/mail/facts.txt")),
    (
        "footer.txt",
        include_str!("../../templates/mail/footer.txt"),
    ),
    (
        "footer.html",
        include_str!("../../templates/mail/footer.html"),
    ),
    (
        "facts.html",
        include_str!("../../templates/mail/facts.html"),
    ),
    (
        "layout.html",
        include_str!("../../templates/mail/layout.html"),
    ),
];

static ENV: OnceLock<Environment<'static>> = OnceLock::new();

/// A template environment as every iopd template wants it: escaping by the
/// file's extension (explicit rather than minijinja's default, so a renamed
/// template cannot change escaping), no stray newlines from block tags, and
/// every template parsed up front.
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

/// The reminder for one stage of a checkpoint.
pub fn render_reminder(ctx: &ReminderContext) -> Result<Rendered, MailError> {
    render(&View::new(ctx, false), REMINDER_TXT, REMINDER_HTML)
}

/// The notice that the checkpoint's calendar entry is withdrawn (done early or cancelled).
pub fn render_cancel(ctx: &ReminderContext) -> Result<Rendered, MailError> {
    render(&View::new(ctx, true), CANCEL_TXT, CANCEL_HTML)
}

fn render(view: &View<'_>, text: &'static str, html: &'static str) -> Result<Rendered, MailError> {
    let env = env()?;
    let one = |template: &'static str, subject: &str| {
        env.get_template(template)
            .and_then(|t| t.render(Page { view, subject }))
            .map_err(|source| MailError::Template { template, source })
    };
    let subject = one_line(&one(SUBJECT, "")?);
    Ok(Rendered {
        text: one(text, &subject)?,
        html: one(html, &subject)?,
        subject,
    })
}

#[derive(Serialize)]
struct Page<'a> {
    #[serde(flatten)]
    view: &'a View<'a>,
    subject: &'a str,
}

/// What the templates see: the context with every free text cleaned to one line, plus the
/// derived facts (the rule, the commands, the day count) so templates only lay out.
#[derive(Serialize)]
struct View<'a> {
    cancel: bool,
    body_name: String,
    partnership_id: String,
    organisation: String,
    committee_name: String,
    kind: Kind,
    kind_label: &'static str,
    parent_label: Option<&'static str>,
    prep: &'static str,
    due_word: &'static str,
    meeting_due_word: &'static str,
    due: NaiveDate,
    period_start: NaiveDate,
    period_end: NaiveDate,
    meeting: Option<NaiveDate>,
    no_meeting: bool,
    stage_label: String,
    stage_is_planning: bool,
    /// Days from the send date to the due date; negative once it has passed.
    days_until: i64,
    days_late: i64,
    overdue: bool,
    /// A fact to know about, not something to do (the agreement's end).
    informational: bool,
    sent_late: bool,
    rule: &'static str,
    evidence: Option<&'static str>,
    commands: Vec<String>,
    memo: Option<Memo>,
    recent_events: Vec<EventLine>,
    to: Vec<String>,
    cc: Vec<String>,
    redirected_from: Vec<String>,
    links: Option<&'a Links>,
    diarienummer: Option<String>,
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
    fn new(ctx: &'a ReminderContext, cancel: bool) -> Self {
        let g = guidance(ctx.kind, ctx.parent);
        let body_name = one_line(&ctx.body_name);
        let organisation = one_line(&ctx.organisation);
        let partnership_id = one_line(&ctx.partnership_id);
        let days_until = (ctx.due - ctx.today).num_days();
        let informational = g.evidence.is_none();
        let memo = (ctx.kind == Kind::CommitteeFollowup && ctx.stage_is_planning).then(|| Memo {
            appendix: appendix_headings(&body_name),
            decision_points: decision_points(&body_name, &organisation),
            renegotiation: RENEGOTIATION_HEADINGS,
        });
        View {
            cancel,
            commands: g
                .commands
                .iter()
                .map(|c| c.line(&partnership_id, ctx.meeting))
                .collect(),
            memo,
            body_name,
            organisation,
            partnership_id,
            committee_name: one_line(&ctx.committee_name),
            kind: ctx.kind,
            kind_label: ctx.kind.label_sv(),
            parent_label: ctx.parent.map(Kind::label_sv),
            prep: g.prep,
            due_word: g.due_word,
            meeting_due_word: g.meeting_due_word,
            due: ctx.due,
            period_start: ctx.period_start,
            period_end: ctx.period_end,
            meeting: ctx.meeting,
            no_meeting: ctx.no_meeting,
            stage_label: one_line(&ctx.stage_label),
            stage_is_planning: ctx.stage_is_planning,
            days_until,
            days_late: (-days_until).max(0),
            overdue: days_until < 0 && !informational,
            informational,
            sent_late: ctx.sent_late,
            rule: g.rule,
            evidence: g.evidence,
            recent_events: ctx
                .recent_events
                .iter()
                .map(|(on, text)| EventLine {
                    on: *on,
                    text: one_line(text),
                })
                .collect(),
            to: ctx.to.iter().map(person).collect(),
            cc: ctx.cc.iter().map(person).collect(),
            redirected_from: ctx.redirected_from.iter().map(|e| e.to_string()).collect(),
            links: ctx.links.as_ref(),
            diarienummer: ctx
                .diarienummer_hint
                .as_deref()
                .map(one_line)
                .filter(|d| !d.is_empty()),
        }
    }
}

/// "Anna Svensson <anna@example.se>", or the bare address without a name.
fn person(p: &Person) -> String {
    match p.name.as_deref().map(one_line) {
        Some(name) if !name.is_empty() => format!("{name} <{}>", p.email),
        _ => p.email.to_string(),
    }
}
