//! `iopd record EVENT --partnership ID …`: append one event to the history.

use std::path::Path;

use anyhow::Result;
use chrono::NaiveDate;
use clap::{Args, Subcommand, ValueEnum};

use super::{NowArg, load_config, now_from, open_store};
use crate::domain::{
    Amount, Channel, Email, EventKind, FollowupDecision, NoticeParty, PartnershipId,
    YearlyDocument, clean_text, parse_date,
};
use crate::record::reference;
use crate::store::NewEvent;

#[derive(Args, Debug)]
pub struct RecordArgs {
    #[command(subcommand)]
    pub event: RecordEvent,
}

#[derive(Args, Debug, Clone)]
pub struct Common {
    /// The partnership id (e.g. its diarienummer).
    #[arg(long, short = 'p', value_name = "ID")]
    pub partnership: String,
    /// The day it happened (default: today in the configured time zone).
    #[arg(long, value_name = "DATE", value_parser = date_arg)]
    pub on: Option<NaiveDate>,
    /// Who records it (default: the operating-system user).
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
    /// The checkpoint it is for (its key, as in `iopd plan --format json`):
    /// it closes exactly that one, or nothing is recorded (RULES 15).
    #[arg(long = "for", value_name = "KEY")]
    pub target: Option<String>,
    #[command(flatten)]
    pub now: NowArg,
}

fn date_arg(s: &str) -> Result<NaiveDate, String> {
    parse_date(s).map_err(|e| e.0)
}

fn amount_arg(s: &str) -> Result<Amount, String> {
    Amount::parse_sek(s).map_err(|e| e.0)
}

#[derive(Args, Debug)]
pub struct Plain {
    #[command(flatten)]
    c: Common,
}

#[derive(Args, Debug)]
pub struct Registered {
    #[command(flatten)]
    c: Common,
    /// The diarienummer the document was registered under.
    #[arg(long)]
    diarienummer: String,
}

#[derive(Args, Debug)]
pub struct Document {
    #[command(flatten)]
    c: Common,
    /// The diarienummer the document was registered under.
    #[arg(long)]
    diarienummer: String,
    /// Which of the yearly documents, where the guideline lists several
    /// (`[policy] yearly_documents`): arsmotesprotokoll, verksamhetsberattelse,
    /// ekonomisk_berattelse, revisionsberattelse, verksamhetsplan, medlemsantal.
    /// Without it the registration stands for every document still missing.
    #[arg(long)]
    document: Option<String>,
}

#[derive(Args, Debug)]
pub struct Submitted {
    #[command(flatten)]
    c: Common,
    /// The memo's diarienummer.
    #[arg(long)]
    diarienummer: String,
    /// The committee meeting it goes to.
    #[arg(long, value_parser = date_arg)]
    meeting: NaiveDate,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DecisionArg {
    /// Uppföljningen godkänns.
    Approved,
    /// The annual amount changes (give --amount and --amount-from).
    AmountChanged,
    /// The agreement is to be renegotiated (omförhandling).
    Renegotiation,
}

#[derive(Args, Debug)]
pub struct FollowupReported {
    #[command(flatten)]
    c: Common,
    /// The meeting date of the decision.
    #[arg(long, value_parser = date_arg)]
    meeting: NaiveDate,
    /// The minute paragraph, e.g. "§ 45".
    #[arg(long)]
    paragraph: String,
    #[arg(long, value_enum)]
    decision: DecisionArg,
    /// New annual amount in kronor (with --decision amount-changed).
    #[arg(long, value_parser = amount_arg)]
    amount: Option<Amount>,
    /// The day the new amount starts (with --decision amount-changed).
    #[arg(long, value_parser = date_arg)]
    amount_from: Option<NaiveDate>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PartyArg {
    /// The public body gives notice.
    Body,
    /// The partner organisation gives notice.
    Partner,
}

#[derive(Args, Debug)]
pub struct Notice {
    #[command(flatten)]
    c: Common,
    /// Who gave notice.
    #[arg(long, value_enum)]
    party: PartyArg,
}

#[derive(Args, Debug)]
pub struct Decided {
    #[command(flatten)]
    c: Common,
    #[arg(long, value_parser = date_arg)]
    meeting: NaiveDate,
    /// The minute paragraph, e.g. "§ 45".
    #[arg(long)]
    paragraph: String,
}

#[derive(Args, Debug)]
pub struct Extended {
    #[command(flatten)]
    c: Common,
    /// The new end date.
    #[arg(long, value_parser = date_arg)]
    new_end: NaiveDate,
}

#[derive(Args, Debug)]
pub struct Replaced {
    #[command(flatten)]
    c: Common,
    /// The new officer's name.
    #[arg(long)]
    name: String,
    /// The new officer's e-mail address.
    #[arg(long)]
    email: String,
    /// From when the new officer is responsible (default: --on).
    #[arg(long, value_parser = date_arg)]
    from: Option<NaiveDate>,
}

#[derive(Args, Debug)]
pub struct Absent {
    #[command(flatten)]
    c: Common,
    /// First day of absence.
    #[arg(long, value_parser = date_arg)]
    from: NaiveDate,
    /// Last day of absence.
    #[arg(long, value_parser = date_arg)]
    to: NaiveDate,
}

#[derive(Args, Debug)]
pub struct Retract {
    #[command(flatten)]
    c: Common,
    /// The number of the event to undo (see `iopd show ID`).
    #[arg(long)]
    event: i64,
    /// Why it is undone (kept in the history).
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Args, Debug)]
pub struct Waived {
    #[command(flatten)]
    c: Common,
    /// Why the checkpoint is closed without evidence.
    #[arg(long)]
    reason: String,
}

#[derive(Subcommand, Debug)]
pub enum RecordEvent {
    /// Avstämningsmöte hållet.
    CheckinHeld(Plain),
    /// Årsredovisning (eller en av de årliga handlingarna, --document) mottagen och diarieförd.
    AnnualReportReceived(Document),
    /// Årlig utvärdering hållen.
    AnnualEvaluationHeld(Plain),
    /// Tjänsteskrivelse om fördjupad uppföljning inlämnad till nämnden.
    CommitteeFollowupSubmitted(Submitted),
    /// Nämnden har behandlat uppföljningen (sammanträde och protokoll §).
    CommitteeFollowupReported(FollowupReported),
    /// Omförhandlad överenskommelse undertecknad.
    RenegotiatedAgreementSigned(Plain),
    /// Uppsägning (av kommunen/regionen eller av den idéburna parten).
    NoticeGiven(Notice),
    /// Tjänsteskrivelse om uppsägning inlämnad till nämnden.
    TerminationSubmitted(Submitted),
    /// Nämnden har beslutat om uppsägningen (sammanträde och protokoll §).
    TerminationDecided(Decided),
    /// Avvecklingsplan diarieförd.
    WindDownPlanRegistered(Registered),
    /// Djupare utvärdering inför avslut eller förlängning hållen.
    ExpiryEvaluationHeld(Plain),
    /// Tidsbegränsad överenskommelse förlängd.
    AgreementExtended(Extended),
    /// Ny handläggare.
    OfficerReplaced(Replaced),
    /// Handläggaren frånvarande (ersättaren täcker).
    OfficerAbsent(Absent),
    /// Utbetalningarna har upphört.
    PaymentsStopped(Plain),
    /// Det ändrade beloppet är infört.
    PaymentChanged(Plain),
    /// IOP-ansvarig avskriver en kontrollpunkt med motivering (kräver --for).
    CheckpointWaived(Waived),
    /// Ångra en tidigare registrering (historiken behålls).
    Retraction(Retract),
}

impl RecordEvent {
    /// The common arguments and the event, with its text fields checked.
    fn into_parts(self) -> Result<(Common, EventKind), String> {
        use RecordEvent as R;
        Ok(match self {
            R::CheckinHeld(a) => (a.c, EventKind::CheckinHeld),
            R::AnnualReportReceived(a) => (
                a.c,
                EventKind::AnnualReportReceived {
                    diarienummer: reference("--diarienummer", &a.diarienummer)?,
                    document: a
                        .document
                        .as_deref()
                        .map(YearlyDocument::parse)
                        .transpose()
                        .map_err(|e| format!("--document: {}", e.0))?,
                },
            ),
            R::AnnualEvaluationHeld(a) => (a.c, EventKind::AnnualEvaluationHeld),
            R::CommitteeFollowupSubmitted(a) => (
                a.c,
                EventKind::CommitteeFollowupSubmitted {
                    diarienummer: reference("--diarienummer", &a.diarienummer)?,
                    meeting: a.meeting,
                },
            ),
            R::CommitteeFollowupReported(a) => {
                let decision = match (a.decision, a.amount, a.amount_from) {
                    (DecisionArg::Approved, None, None) => FollowupDecision::Approved,
                    (DecisionArg::Renegotiation, None, None) => FollowupDecision::Renegotiation,
                    (DecisionArg::AmountChanged, Some(amount), Some(from)) => {
                        FollowupDecision::AmountChanged { amount, from }
                    }
                    (DecisionArg::AmountChanged, _, _) => {
                        return Err(
                            "--decision amount-changed kräver --amount och --amount-from".into(),
                        );
                    }
                    _ => {
                        return Err(
                            "--amount och --amount-from hör bara till --decision amount-changed"
                                .into(),
                        );
                    }
                };
                (
                    a.c,
                    EventKind::CommitteeFollowupReported {
                        meeting: a.meeting,
                        paragraph: reference("--paragraph", &a.paragraph)?,
                        decision,
                    },
                )
            }
            R::RenegotiatedAgreementSigned(a) => (a.c, EventKind::RenegotiatedAgreementSigned),
            R::NoticeGiven(a) => {
                let by = match a.party {
                    PartyArg::Body => NoticeParty::Body,
                    PartyArg::Partner => NoticeParty::Partner,
                };
                (a.c, EventKind::NoticeGiven { by })
            }
            R::TerminationSubmitted(a) => (
                a.c,
                EventKind::TerminationSubmitted {
                    diarienummer: reference("--diarienummer", &a.diarienummer)?,
                    meeting: a.meeting,
                },
            ),
            R::TerminationDecided(a) => (
                a.c,
                EventKind::TerminationDecided {
                    meeting: a.meeting,
                    paragraph: reference("--paragraph", &a.paragraph)?,
                },
            ),
            R::WindDownPlanRegistered(a) => (
                a.c,
                EventKind::WindDownPlanRegistered {
                    diarienummer: reference("--diarienummer", &a.diarienummer)?,
                },
            ),
            R::ExpiryEvaluationHeld(a) => (a.c, EventKind::ExpiryEvaluationHeld),
            R::AgreementExtended(a) => (a.c, EventKind::AgreementExtended { new_end: a.new_end }),
            R::OfficerReplaced(a) => {
                let name = clean_text("--name", &a.name, 200).map_err(|e| e.0)?;
                if name.is_empty() {
                    return Err("--name är tomt".into());
                }
                let email = Email::parse(&a.email).map_err(|e| format!("--email: {}", e.0))?;
                let from = a.from.or(a.c.on);
                // `from` defaults to the event's own date, resolved below.
                let kind = EventKind::OfficerReplaced {
                    name,
                    email,
                    from: from.unwrap_or(NaiveDate::MIN),
                };
                (a.c, kind)
            }
            R::OfficerAbsent(a) => {
                if a.to < a.from {
                    return Err(format!("--to {} ligger före --from {}", a.to, a.from));
                }
                (
                    a.c,
                    EventKind::OfficerAbsent {
                        from: a.from,
                        to: a.to,
                    },
                )
            }
            R::PaymentsStopped(a) => (a.c, EventKind::PaymentsStopped),
            R::PaymentChanged(a) => (a.c, EventKind::PaymentChanged),
            R::CheckpointWaived(a) => {
                if a.c.target.is_none() {
                    return Err(
                        "checkpoint-waived kräver --for KEY: kontrollpunkten den stänger".into(),
                    );
                }
                let reason = clean_text("--reason", &a.reason, 500).map_err(|e| e.0)?;
                if reason.is_empty() {
                    return Err("--reason är tomt: skriv varför kontrollpunkten skrivs av".into());
                }
                (a.c, EventKind::CheckpointWaived { reason })
            }
            R::Retraction(a) => (
                a.c,
                EventKind::Retraction {
                    event: a.event,
                    reason: match a.reason.as_deref() {
                        Some(r) => crate::record::reason("--reason", r)?,
                        None => String::new(),
                    },
                },
            ),
        })
    }
}

pub async fn record(config: &Path, args: RecordArgs) -> Result<()> {
    let (common, mut kind) = args.event.into_parts().map_err(anyhow::Error::msg)?;
    let mut cfg = load_config(config)?;
    let now = now_from(&common.now, &cfg)?;
    let id = PartnershipId::parse(&common.partnership)
        .map_err(|e| anyhow::anyhow!("--partnership: {}", e.0))?;
    let on = common.on.unwrap_or(now.today);
    if let EventKind::OfficerReplaced { from, .. } = &mut kind
        && *from == NaiveDate::MIN
    {
        *from = on;
    }
    let by = match common.by {
        Some(b) => clean_text("--by", &b, 200).map_err(|e| anyhow::anyhow!("{}", e.0))?,
        None => super::os_user(),
    };
    let store = open_store(&mut cfg, &now).await?;
    let new = NewEvent {
        partnership: id.clone(),
        on,
        kind,
        recorded_at: now.instant,
        recorded_by: by,
        channel: Channel::Cli,
        target: common.target.map(|t| t.trim().to_string()),
    };
    let result = crate::record::record(&cfg, &store, now.today, new).await;
    store.close().await;
    let event = result?;
    let target = event
        .target
        .as_deref()
        .map(|t| format!(" för kontrollpunkt {t}"))
        .unwrap_or_default();
    println!(
        "händelse #{} registrerad: {} ({}) för {}{target} den {} (av {})",
        event.id,
        cfg.guideline.event_label(&event.kind),
        event.kind.name(),
        event.partnership,
        event.on,
        event.recorded_by
    );
    Ok(())
}
