//! What each checkpoint kind asks for: the guideline's rule, the evidence that closes it and
//! the `iopd record` command that registers that evidence. One table, used by both the text
//! and the HTML template; the command names and flags follow `iopd record --help`.

use chrono::NaiveDate;

use crate::engine::Kind;

/// Placeholder the officer replaces with a date.
const DATE: &str = "ÅÅÅÅ-MM-DD";

pub(super) struct Guidance {
    /// One sentence: why this is due.
    pub rule: &'static str,
    /// What closes the checkpoint; `None` for a pure fact (the agreement's end).
    pub evidence: Option<&'static str>,
    pub commands: &'static [Command],
    /// Joins label and organisation in the headline: "Avstämningsmöte *med* Fritidsbanken".
    pub prep: &'static str,
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

/// The rule and evidence per kind; `parent` tells whose minutes a `committee_minutes` is.
pub(super) fn guidance(kind: Kind, parent: Option<Kind>) -> Guidance {
    use Arg::*;
    let base = Guidance {
        rule: "",
        evidence: None,
        commands: &[],
        prep: "för",
        due_word: "senast",
        meeting_due_word: "senast",
    };
    match kind {
        Kind::Checkin => Guidance {
            rule: "Enligt riktlinjen ska minst två avstämningsmöten hållas per år.",
            evidence: Some("Datumet då avstämningsmötet hölls."),
            commands: &[Command {
                event: "checkin-held",
                args: &[On],
            }],
            prep: "med",
            ..base
        },
        Kind::AnnualReport => Guidance {
            rule: "Enligt riktlinjen ska den idéburna parten skicka in sin årsredovisning \
                   i samband med den årliga uppföljningen, och den ska diarieföras.",
            evidence: Some("Diarienumret som årsredovisningen registrerades under."),
            commands: &[Command {
                event: "annual-report-received",
                args: &[Diarienummer],
            }],
            prep: "från",
            ..base
        },
        Kind::AnnualEvaluation => Guidance {
            rule: "Enligt riktlinjen ska partnerskapet utvärderas varje år, och det är vi \
                   som kallar till uppföljningsmötet.",
            evidence: Some("Datumet då den årliga utvärderingen hölls."),
            commands: &[Command {
                event: "annual-evaluation-held",
                args: &[On],
            }],
            prep: "med",
            ..base
        },
        Kind::CommitteeFollowup => Guidance {
            rule: "Enligt riktlinjen ska en fördjupad uppföljning av överenskommelsen \
                   redovisas för ansvarig nämnd vartannat år.",
            evidence: Some(
                "Först tjänsteskrivelsens diarienummer och sammanträdet den går till, sedan \
                 nämndens beslut: sammanträdesdatum och protokollsparagraf (§). Ändrar \
                 nämnden beloppet, också det nya beloppet och från vilket datum det gäller.",
            ),
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
            rule: "Uppsägningen är beslutad först när nämndens beslut står i protokollet \
                   med sammanträdesdatum och paragraf (§).",
            evidence: Some("Sammanträdesdatum och protokollsparagraf (§) för nämndens beslut."),
            commands: &[Command {
                event: "termination-decided",
                args: &[Meeting, Paragraph],
            }],
            meeting_due_word: "protokollfört beslut senast",
            ..base
        },
        Kind::CommitteeMinutes => Guidance {
            rule: "Uppföljningen är gjord först när nämndens beslut står i protokollet \
                   med sammanträdesdatum och paragraf (§).",
            evidence: Some(
                "Sammanträdesdatum och protokollsparagraf (§) för nämndens beslut. Ändrar \
                 nämnden beloppet, också det nya beloppet och från vilket datum det gäller.",
            ),
            commands: &[Command {
                event: "committee-followup-reported",
                args: &[Meeting, Paragraph, Decision],
            }],
            meeting_due_word: "protokollfört beslut senast",
            ..base
        },
        Kind::TerminationDecision => Guidance {
            rule: "Enligt riktlinjen ska ansvarig nämnd besluta om uppsägning av \
                   överenskommelsen.",
            evidence: Some(
                "Först tjänsteskrivelsens diarienummer och sammanträdet den går till, sedan \
                 nämndens beslut: sammanträdesdatum och protokollsparagraf (§).",
            ),
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
            rule: "Enligt riktlinjen ska en avvecklingsplan tas fram och diarieföras när \
                   överenskommelsen sägs upp.",
            evidence: Some("Diarienumret som avvecklingsplanen registrerades under."),
            commands: &[Command {
                event: "wind-down-plan-registered",
                args: &[Diarienummer],
            }],
            ..base
        },
        Kind::PaymentsStop => Guidance {
            rule: "När överenskommelsen upphör ska utbetalningarna till den idéburna parten \
                   upphöra.",
            evidence: Some("Datumet då utbetalningarna stoppades."),
            commands: &[Command {
                event: "payments-stopped",
                args: &[On],
            }],
            ..base
        },
        Kind::AgreementEnd => Guidance {
            rule: "Överenskommelsen upphör detta datum enligt avtalet eller uppsägningen; \
                   datumet flyttas inte även om det infaller på en helgdag.",
            due_word: "den",
            ..base
        },
        Kind::ExpiryEvaluation => Guidance {
            rule: "Enligt riktlinjen ska en djupare utvärdering göras när en överenskommelse \
                   löper ut eller ska förlängas.",
            evidence: Some("Datumet då den djupare utvärderingen hölls."),
            commands: &[Command {
                event: "expiry-evaluation-held",
                args: &[On],
            }],
            prep: "med",
            ..base
        },
        Kind::RenegotiatedAgreementSigned => Guidance {
            rule: "Efter nämndens beslut om omförhandling ska överenskommelsen skrivas om \
                   och undertecknas av parterna; något nytt nämndbeslut behövs inte.",
            evidence: Some("Datumet då alla parter hade undertecknat den nya överenskommelsen."),
            commands: &[Command {
                event: "renegotiated-agreement-signed",
                args: &[On],
            }],
            ..base
        },
        Kind::PaymentChange => Guidance {
            rule: "Nämnden har beslutat om ett ändrat belopp, och utbetalningarna ska ändras \
                   från det datum beslutet anger.",
            evidence: Some("Datumet då det ändrade beloppet var infört i utbetalningarna."),
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
