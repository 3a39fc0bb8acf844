//! Renders the digest mails and the compliance report with minijinja.
//!
//! The templates (`templates/digest/`) are embedded like the reminder
//! templates: undefined variables are errors, `.html` escapes HTML, `.txt`
//! and `.md` are left as written (the `md` filter escapes table cells).

use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::mail::{MailError, Rendered};

const TEMPLATES: [(&str, &str); 12] = [
    (
        "layout.html",
        include_str!("../../templates/digest/layout.html"),
    ),
    (
        "subject.txt",
        include_str!("../../templates/digest/subject.txt"),
    ),
    (
        "rows.html",
        include_str!("../../templates/digest/rows.html"),
    ),
    ("rows.txt", include_str!("../../templates/digest/rows.txt")),
    (
        "digest.html",
        include_str!("../../templates/digest/digest.html"),
    ),
    (
        "digest.txt",
        include_str!("../../templates/digest/digest.txt"),
    ),
    (
        "officer.html",
        include_str!("../../templates/digest/officer.html"),
    ),
    (
        "officer.txt",
        include_str!("../../templates/digest/officer.txt"),
    ),
    (
        "heads_up.html",
        include_str!("../../templates/digest/heads_up.html"),
    ),
    (
        "heads_up.txt",
        include_str!("../../templates/digest/heads_up.txt"),
    ),
    (
        "report.html",
        include_str!("../../templates/digest/report.html"),
    ),
    (
        "report.md",
        include_str!("../../templates/digest/report.md"),
    ),
];

static ENV: OnceLock<Environment<'static>> = OnceLock::new();

fn env() -> Result<&'static Environment<'static>, MailError> {
    if let Some(env) = ENV.get() {
        return Ok(env);
    }
    let mut env = crate::mail::environment(&TEMPLATES, UndefinedBehavior::Strict)?;
    env.add_filter("md", md_cell);
    Ok(ENV.get_or_init(|| env))
}

/// A Markdown table cell: one line, `|` escaped, so free text (an
/// organisation's name) cannot break the table.
fn md_cell(v: String) -> String {
    crate::mail::one_line(&v)
        .replace('\\', "\\\\")
        .replace('|', "\\|")
}

/// Renders one template.
pub(crate) fn one(template: &'static str, ctx: &impl Serialize) -> Result<String, MailError> {
    env()?
        .get_template(template)
        .and_then(|t| t.render(ctx))
        .map_err(|source| MailError::Template { template, source })
}

#[derive(Serialize)]
struct Page<'a, T: Serialize> {
    #[serde(flatten)]
    view: &'a T,
    mail: &'static str,
    subject: &'a str,
}

/// A mail from `{mail}.txt` and `{mail}.html`, with the subject from `subject.txt`.
pub(crate) fn mail(
    mail: &'static str,
    text: &'static str,
    html: &'static str,
    view: &impl Serialize,
) -> Result<Rendered, MailError> {
    let subject = crate::mail::one_line(&one(
        "subject.txt",
        &Page {
            view,
            mail,
            subject: "",
        },
    )?);
    let page = Page {
        view,
        mail,
        subject: &subject,
    };
    Ok(Rendered {
        text: one(text, &page)?,
        html: one(html, &page)?,
        subject,
    })
}
