//! What each checkpoint kind asks for besides the guideline's words (`crate::guideline`):
//! the `iopd record` command that registers its evidence and the words around its due
//! date. One table, used by both the text and the HTML template; the command names and
//! flags follow `iopd record --help`.

use chrono::NaiveDate;

use crate::engine::Kind;

/// Placeholder the officer replaces with a date.
const DATE: &str = "ÅÅÅÅ-MM-DD";

pub(super) struct Guidance {
    pub commands: &'static [Command],
    /// Before the due date in the headline: "senast 2027-03-31".
    pub due_word: &'static str,
    /// What the due date means next to the meeting: "nämndens sammanträde 2027-03-18,
    /// *underlag senast* 2027-02-25".
    pub meeting_due_word: &'static str,
}

pub(super) struct Command {
    /// The `iopd record` subcommand.
    event: &'static str,
    args: &'static [Arg],
}

#[derive(Clone, Copy)]
enum Arg {
    On,
    Diarienummer,
    Meeting,
    Paragraph,
    Decision,
}

/// The commands and due words per kind; `parent` tells whose minutes a `committee_minutes` is.
pub(super) fn guidance(kind: Kind, parent: Option<Kind>) -> Guidance {
    use Arg::*;
    let base = Guidance {
        commands: &[],
        due_word: "senast",
        meeting_due_word: "senast",
    };
    match kind {
        Kind::Checkin => Guidance {
            commands: &[Command {
                event: "checkin-held",
                args: &[On],
            }],
            ..base
        },
        Kind::AnnualReport => Guidance {
            commands: &[Command {
                event: "annual-report-received",
                args: &[Diarienummer],
            }],
            ..base
        },
        Kind::AnnualEvaluation => Guidance {
            commands: &[Command {
                event: "annual-evaluation-held",
                args: &[On],
            }],
            ..base
        },
        Kind::CommitteeFollowup => Guidance {
            commands: &[
                Command {
                    event: "committee-followup-submitted",
                    args: &[Diarienummer, Meeting],
                },
                Command {
                    event: "committee-followup-reported",
                    args: &[Meeting, Paragraph, Decision],
                },
            ],
            meeting_due_word: "underlag senast",
            ..base
        },
        Kind::CommitteeMinutes if parent == Some(Kind::TerminationDecision) => Guidance {
            commands: &[Command {
                event: "termination-decided",
                args: &[Meeting, Paragraph],
            }],
            meeting_due_word: "protokollfört beslut senast",
            ..base
        },
        Kind::CommitteeMinutes => Guidance {
            commands: &[Command {
                event: "committee-followup-reported",
                args: &[Meeting, Paragraph, Decision],
            }],
            meeting_due_word: "protokollfört beslut senast",
            ..base
        },
        Kind::TerminationDecision => Guidance {
            commands: &[
                Command {
                    event: "termination-submitted",
                    args: &[Diarienummer, Meeting],
                },
                Command {
                    event: "termination-decided",
                    args: &[Meeting, Paragraph],
                },
            ],
            meeting_due_word: "underlag senast",
            ..base
        },
        Kind::WindDownPlan => Guidance {
            commands: &[Command {
                event: "wind-down-plan-registered",
                args: &[Diarienummer],
            }],
            ..base
        },
        Kind::PaymentsStop => Guidance {
            commands: &[Command {
                event: "payments-stopped",
                args: &[On],
            }],
            ..base
        },
        Kind::AgreementEnd => Guidance {
            due_word: "den",
            ..base
        },
        Kind::ExpiryEvaluation => Guidance {
            commands: &[Command {
                event: "expiry-evaluation-held",
                args: &[On],
            }],
            ..base
        },
        Kind::RenegotiatedAgreementSigned => Guidance {
            commands: &[Command {
                event: "renegotiated-agreement-signed",
                args: &[On],
            }],
            ..base
        },
        Kind::PaymentChange => Guidance {
            commands: &[Command {
                event: "payment-changed",
                args: &[On],
            }],
            ..base
        },
    }
}

impl Command {
    /// The full command line; a known meeting is filled in, the rest are placeholders.
    pub fn line(&self, partnership: &str, meeting: Option<NaiveDate>) -> String {
        let mut out = format!(
            "iopd record {} --partnership {}",
            self.event,
            shell_word(partnership)
        );
        for arg in self.args {
            out.push(' ');
            match arg {
                Arg::On => {
                    out.push_str("--on ");
                    out.push_str(DATE);
                }
                Arg::Diarienummer => out.push_str("--diarienummer DNR"),
                Arg::Meeting => match meeting {
                    Some(m) => out.push_str(&format!("--meeting {m}")),
                    None => {
                        out.push_str("--meeting ");
                        out.push_str(DATE);
                    }
                },
                Arg::Paragraph => out.push_str("--paragraph \"§ N\""),
                Arg::Decision => out.push_str("--decision approved|amount-changed|renegotiation"),
            }
        }
        out
    }
}

/// Quotes a partnership id for a POSIX shell when it holds anything but letters, digits and
/// the punctuation ids use (`KUB/2021:101`), so the copied command records the right id.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || "/:._-+,@%=".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Headings of the memo's appendix (Region Värmland's routine for the committee follow-up).
pub(super) fn appendix_headings(body_name: &str) -> Vec<String> {
    vec![
        format!("Kort beskrivning av samverkan genom IOP i {body_name}"),
        "Bakgrund, syfte och mål med aktuellt IOP-avtal: vilken plan eller strategi avtalet \
         bidrar till och vilken samhällsutmaning det syftar till att lösa"
            .to_string(),
        "Insatser som parterna går in med (ekonomi och arbetsinsatser)".to_string(),
        "Måluppfyllelse och effekter (i den utsträckning de är mätbara och hittills har \
         uppnåtts)"
            .to_string(),
        "Identifierade utvecklingsområden".to_string(),
    ]
}

/// The routine's proposed decision points; the second only when the amount is to grow.
pub(super) fn decision_points(body_name: &str, organisation: &str) -> Vec<String> {
    vec![
        format!(
            "Uppföljning av idéburet offentligt partnerskap (IOP) mellan {body_name} och \
             {organisation} godkänns."
        ),
        format!(
            "Idéburet offentligt partnerskap (IOP) mellan {body_name} och {organisation} \
             utökas med XXXXX kronor per helår med start från datum (t.ex. 1 juni). \
             (Endast vid utökning.)"
        ),
    ]
}

/// Headings of the separate appendix when the agreement is to be renegotiated.
pub(super) const RENEGOTIATION_HEADINGS: [&str; 3] = [
    "Behovsbeskrivning och skäl för omförhandling",
    "Konsekvensbeskrivning: vad händer om förfrågan om omförhandling avslås?",
    "Äskandet från den andra parten (som egen bilaga eller tydligt markerad text)",
];
