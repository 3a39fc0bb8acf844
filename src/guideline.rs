//! The body's guideline in its own words: what each checkpoint is called, the
//! one sentence that says why it is due, and the evidence that closes it.
//! Region Värmland's sentences for `region-varmland`, Örebro kommun's (quoted
//! from its "Riktlinjer för IOP") for `orebro`; a body can replace any text
//! in `[guideline.KIND]` with its own guideline's words. Mails, pages, the
//! digest, the report and the calendar all take their words from here, so no
//! mail under one preset quotes the other body's guideline.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::domain::{EventKind, YearlyDocument};
use crate::engine::Kind;

/// Which guideline's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Voice {
    RegionVarmland,
    Orebro,
}

/// A checkpoint kind as worded: `committee_minutes` reads differently after
/// a termination decision than after a follow-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Topic {
    Kind(Kind),
    TerminationMinutes,
}

impl Topic {
    pub fn of(kind: Kind, parent: Option<Kind>) -> Topic {
        if kind == Kind::CommitteeMinutes && parent == Some(Kind::TerminationDecision) {
            Topic::TerminationMinutes
        } else {
            Topic::Kind(kind)
        }
    }

    /// The key under `[guideline]`: the kind's name, or `termination_minutes`.
    pub fn key(self) -> &'static str {
        match self {
            Topic::Kind(k) => k.name(),
            Topic::TerminationMinutes => "termination_minutes",
        }
    }

    pub fn parse(s: &str) -> Option<Topic> {
        if s == "termination_minutes" {
            Some(Topic::TerminationMinutes)
        } else {
            Kind::parse(s).map(Topic::Kind)
        }
    }

    pub fn all() -> impl Iterator<Item = Topic> {
        Kind::ALL
            .into_iter()
            .map(Topic::Kind)
            .chain([Topic::TerminationMinutes])
    }
}

/// The words for one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// "Avstämningsmöte", "Uppföljning i styrgruppen".
    pub name: String,
    /// Joins name and organisation in a headline: "Avstämningsmöte *med* Fritidsbanken".
    pub prep: &'static str,
    /// One sentence: why this is due.
    pub rule: String,
    /// What closes it; `None` for a fact (the agreement's end).
    pub evidence: Option<String>,
}

/// One body's words, cheap to clone.
#[derive(Debug, Clone)]
pub struct Guideline {
    voice: Voice,
    texts: Arc<BTreeMap<Topic, Text>>,
}

/// A text a body replaces in `[guideline.KEY]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Override {
    pub name: Option<String>,
    pub rule: Option<String>,
    pub evidence: Option<String>,
}

impl Guideline {
    pub fn new(voice: Voice, overrides: &BTreeMap<Topic, Override>) -> Guideline {
        let texts = Topic::all()
            .map(|t| {
                let mut text = default_text(voice, t);
                if let Some(o) = overrides.get(&t) {
                    if let Some(n) = &o.name {
                        text.name.clone_from(n);
                    }
                    if let Some(r) = &o.rule {
                        text.rule.clone_from(r);
                    }
                    if let Some(e) = &o.evidence {
                        text.evidence = Some(e.clone());
                    }
                }
                (t, text)
            })
            .collect();
        Guideline {
            voice,
            texts: Arc::new(texts),
        }
    }

    pub fn voice(&self) -> Voice {
        self.voice
    }

    pub fn text(&self, kind: Kind, parent: Option<Kind>) -> &Text {
        &self.texts[&Topic::of(kind, parent)]
    }

    /// The checkpoint's name: "Avstämningsmöte", "Uppföljning i styrgruppen".
    pub fn label(&self, kind: Kind) -> &str {
        &self.texts[&Topic::Kind(kind)].name
    }

    /// "Nämndens beslut protokollfört (fördjupad uppföljning till nämnden)" for
    /// minutes, the plain name otherwise.
    pub fn label_with_parent(&self, kind: Kind, parent: Option<Kind>) -> String {
        match parent {
            Some(parent) => format!(
                "{} ({})",
                self.label(kind),
                self.label(parent).to_lowercase()
            ),
            None => self.label(kind).to_string(),
        }
    }

    /// Whether the committee follow-up's memo outline (Region Värmland's
    /// routine) belongs in the planning mail.
    pub fn memo_outline(&self) -> bool {
        self.voice == Voice::RegionVarmland
    }

    /// An event in a few words, in this guideline's terms where the event
    /// is the evidence of a worded checkpoint.
    pub fn event_label(&self, e: &EventKind) -> String {
        let held = |kind: Kind, neuter: bool| {
            let name = self.label(kind);
            format!("{name} {}", if neuter { "hållet" } else { "hållen" })
        };
        match (self.voice, e) {
            (Voice::Orebro, EventKind::CheckinHeld) => held(Kind::Checkin, false),
            (Voice::Orebro, EventKind::AnnualEvaluationHeld) => held(Kind::AnnualEvaluation, false),
            (Voice::Orebro, EventKind::ExpiryEvaluationHeld) => held(Kind::ExpiryEvaluation, false),
            (
                _,
                EventKind::AnnualReportReceived {
                    document: Some(d), ..
                },
            ) => format!("{} diarieförd", d.label_sv()),
            (Voice::Orebro, EventKind::AnnualReportReceived { document: None, .. }) => {
                "Årliga handlingar diarieförda".to_string()
            }
            _ => e.label_sv().to_string(),
        }
    }
}

impl Default for Guideline {
    fn default() -> Self {
        Guideline::new(Voice::RegionVarmland, &BTreeMap::new())
    }
}

/// What the documents still missing are called: "Revisionsberättelse,
/// uppgift om medlemsantal".
pub fn document_list(docs: &[YearlyDocument]) -> String {
    docs.iter()
        .enumerate()
        .map(|(i, d)| {
            if i == 0 {
                d.label_sv().to_string()
            } else {
                d.label_sv().to_lowercase()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn text(name: &str, prep: &'static str, rule: &str, evidence: Option<&str>) -> Text {
    Text {
        name: name.into(),
        prep,
        rule: rule.into(),
        evidence: evidence.map(Into::into),
    }
}

/// The words each guideline gives; sentences that belong to neither body's
/// guideline (the agreement's end, payments, the minutes) are shared.
fn default_text(voice: Voice, topic: Topic) -> Text {
    use Voice::{Orebro, RegionVarmland as Varmland};
    const MEMO_AND_DECISION: &str = "Först tjänsteskrivelsens diarienummer och sammanträdet den \
         går till, sedan nämndens beslut: sammanträdesdatum och protokollsparagraf (§). Ändrar \
         nämnden beloppet, också det nya beloppet och från vilket datum det gäller.";
    const TERMINATION_EVIDENCE: &str = "Först tjänsteskrivelsens diarienummer och sammanträdet \
         den går till, sedan nämndens beslut: sammanträdesdatum och protokollsparagraf (§).";
    let Topic::Kind(kind) = topic else {
        return text(
            "Nämndens beslut protokollfört",
            "för",
            "Uppsägningen är beslutad först när nämndens beslut står i protokollet med \
             sammanträdesdatum och paragraf (§).",
            Some("Sammanträdesdatum och protokollsparagraf (§) för nämndens beslut."),
        );
    };
    match (kind, voice) {
        (Kind::Checkin, Varmland) => text(
            "Avstämningsmöte",
            "med",
            "Enligt riktlinjen ska minst två avstämningsmöten hållas per år.",
            Some("Datumet då avstämningsmötet hölls."),
        ),
        (Kind::Checkin, Orebro) => text(
            "Uppföljning i styrgruppen",
            "med",
            "Enligt riktlinjerna ska ingångna IOP-överenskommelser följas upp minst en gång per \
             år; styrgruppen leder, utvärderar och följer upp verksamheten kontinuerligt.",
            Some("Datumet då styrgruppen höll uppföljningen."),
        ),
        (Kind::AnnualReport, Varmland) => text(
            "Årsredovisning diarieförd",
            "från",
            "Enligt riktlinjen ska den idéburna parten skicka in sin årsredovisning i samband \
             med den årliga uppföljningen, och den ska diarieföras.",
            Some("Diarienumret som årsredovisningen registrerades under."),
        ),
        (Kind::AnnualReport, Orebro) => text(
            "Årliga handlingar",
            "från",
            "Enligt riktlinjerna förväntas den idéburna parten lämna in årsmötesprotokoll, \
             verksamhetsberättelse, ekonomisk berättelse med bokslut, revisionsberättelse, \
             verksamhetsplan och styrelseförteckning samt uppgift om medlemsantal.",
            Some("Diarienumret för varje handling som har kommit in."),
        ),
        (Kind::AnnualEvaluation, Varmland) => text(
            "Årlig utvärdering",
            "med",
            "Enligt riktlinjen ska partnerskapet utvärderas varje år, och det är vi som kallar \
             till uppföljningsmötet.",
            Some("Datumet då den årliga utvärderingen hölls."),
        ),
        (Kind::AnnualEvaluation, Orebro) => text(
            "Årlig uppföljning",
            "med",
            "Enligt riktlinjerna ska ingångna IOP-överenskommelser följas upp minst en gång per \
             år.",
            Some("Datumet då uppföljningen hölls."),
        ),
        (Kind::CommitteeFollowup, Varmland) => text(
            "Fördjupad uppföljning till nämnden",
            "för",
            "Enligt riktlinjen ska en fördjupad uppföljning av överenskommelsen redovisas för \
             ansvarig nämnd vartannat år.",
            Some(MEMO_AND_DECISION),
        ),
        (Kind::CommitteeFollowup, Orebro) => text(
            "Uppföljning till nämnden",
            "för",
            "Respektive nämnd beslutar om IOP inom nämndens verksamhets- och ansvarsområde, \
             och nämnden har bett att få uppföljningen redovisad.",
            Some(MEMO_AND_DECISION),
        ),
        (Kind::CommitteeMinutes, _) => text(
            "Nämndens beslut protokollfört",
            "för",
            "Uppföljningen är gjord först när nämndens beslut står i protokollet med \
             sammanträdesdatum och paragraf (§).",
            Some(
                "Sammanträdesdatum och protokollsparagraf (§) för nämndens beslut. Ändrar \
                 nämnden beloppet, också det nya beloppet och från vilket datum det gäller.",
            ),
        ),
        (Kind::TerminationDecision, Varmland) => text(
            "Nämndbeslut om uppsägning",
            "för",
            "Enligt riktlinjen ska ansvarig nämnd besluta om uppsägning av överenskommelsen.",
            Some(TERMINATION_EVIDENCE),
        ),
        (Kind::TerminationDecision, Orebro) => text(
            "Nämndbeslut om uppsägning",
            "för",
            "Respektive nämnd beslutar om IOP inom nämndens verksamhets- och ansvarsområde, \
             och uppsägningen regleras i den skriftliga överenskommelsen.",
            Some(TERMINATION_EVIDENCE),
        ),
        (Kind::WindDownPlan, Varmland) => text(
            "Avvecklingsplan diarieförd",
            "för",
            "Enligt riktlinjen ska en avvecklingsplan tas fram och diarieföras när \
             överenskommelsen sägs upp.",
            Some("Diarienumret som avvecklingsplanen registrerades under."),
        ),
        (Kind::WindDownPlan, Orebro) => text(
            "Avvecklingsplan diarieförd",
            "för",
            "Överenskommelsen är uppsagd, och en plan för hur verksamheten avvecklas tas fram \
             och diarieförs.",
            Some("Diarienumret som avvecklingsplanen registrerades under."),
        ),
        (Kind::PaymentsStop, _) => text(
            "Utbetalningar upphör",
            "för",
            "När överenskommelsen upphör ska utbetalningarna till den idéburna parten upphöra.",
            Some("Datumet då utbetalningarna stoppades."),
        ),
        (Kind::AgreementEnd, _) => text(
            "Överenskommelsen upphör",
            "för",
            "Överenskommelsen upphör detta datum enligt avtalet eller uppsägningen; datumet \
             flyttas inte även om det infaller på en helgdag.",
            None,
        ),
        (Kind::ExpiryEvaluation, Varmland) => text(
            "Djupare utvärdering inför avslut eller förlängning",
            "med",
            "Enligt riktlinjen ska en djupare utvärdering göras när en överenskommelse löper ut \
             eller ska förlängas.",
            Some("Datumet då den djupare utvärderingen hölls."),
        ),
        (Kind::ExpiryEvaluation, Orebro) => text(
            "Djupgående utvärdering inför avslut eller förlängning",
            "med",
            "Enligt riktlinjerna bör en mer djupgående utvärdering av samarbetet genomföras av \
             kommunen i samverkan med övriga ingående parter i samband med att en \
             överenskommelse löper ut eller står inför att förlängas.",
            Some("Datumet då den djupgående utvärderingen hölls."),
        ),
        (Kind::RenegotiatedAgreementSigned, Varmland) => text(
            "Omförhandlad överenskommelse undertecknad",
            "för",
            "Efter nämndens beslut om omförhandling ska överenskommelsen skrivas om och \
             undertecknas av parterna; något nytt nämndbeslut behövs inte.",
            Some("Datumet då alla parter hade undertecknat den nya överenskommelsen."),
        ),
        (Kind::RenegotiatedAgreementSigned, Orebro) => text(
            "Omförhandlad överenskommelse undertecknad",
            "för",
            "Nämnden har beslutat att överenskommelsen ska omförhandlas, och den nya \
             överenskommelsen undertecknas av parterna.",
            Some("Datumet då alla parter hade undertecknat den nya överenskommelsen."),
        ),
        (Kind::PaymentChange, _) => text(
            "Ändrat belopp börjar gälla",
            "för",
            "Nämnden har beslutat om ett ändrat belopp, och utbetalningarna ska ändras från det \
             datum beslutet anger.",
            Some("Datumet då det ändrade beloppet var infört i utbetalningarna."),
        ),
    }
}

/// Phrases that belong to one body's guideline only; the other body's mails
/// and pages must never carry them.
pub fn own_phrases(voice: Voice) -> &'static [&'static str] {
    match voice {
        Voice::RegionVarmland => &[
            "Enligt riktlinjen ",
            "avstämningsmöte",
            "vartannat år",
            "fördjupad uppföljning",
            "djupare utvärdering",
            "nytt nämndbeslut behövs inte",
        ],
        Voice::Orebro => &[
            "Enligt riktlinjerna",
            "styrgrupp",
            "minst en gång per år",
            "djupgående",
            "årsmötesprotokoll",
            "Respektive nämnd",
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_voice_speaks_only_its_own_guideline() {
        for (voice, other) in [
            (Voice::RegionVarmland, Voice::Orebro),
            (Voice::Orebro, Voice::RegionVarmland),
        ] {
            let g = Guideline::new(voice, &BTreeMap::new());
            for t in Topic::all() {
                let text = &g.texts[&t];
                let all = format!(
                    "{} {} {}",
                    text.name,
                    text.rule,
                    text.evidence.as_deref().unwrap_or("")
                )
                .to_lowercase();
                for phrase in own_phrases(other) {
                    assert!(
                        !all.contains(&phrase.to_lowercase()),
                        "{voice:?} {t:?} quotes {other:?}: {phrase:?} in {all:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn an_override_replaces_only_what_it_names() {
        let mut o = BTreeMap::new();
        o.insert(
            Topic::Kind(Kind::Checkin),
            Override {
                rule: Some("Vår riktlinje: två möten.".into()),
                ..Override::default()
            },
        );
        let g = Guideline::new(Voice::Orebro, &o);
        let t = g.text(Kind::Checkin, None);
        assert_eq!(t.rule, "Vår riktlinje: två möten.");
        assert_eq!(t.name, "Uppföljning i styrgruppen");
        assert_eq!(
            t.evidence.as_deref(),
            Some("Datumet då styrgruppen höll uppföljningen.")
        );
    }

    #[test]
    fn events_read_in_the_guideline_words() {
        let o = Guideline::new(Voice::Orebro, &BTreeMap::new());
        assert_eq!(
            o.event_label(&EventKind::CheckinHeld),
            "Uppföljning i styrgruppen hållen"
        );
        let doc = EventKind::AnnualReportReceived {
            diarienummer: "KS 2027/1".into(),
            document: Some(YearlyDocument::Revisionsberattelse),
        };
        assert_eq!(o.event_label(&doc), "Revisionsberättelse diarieförd");
        let v = Guideline::default();
        assert_eq!(
            v.event_label(&EventKind::CheckinHeld),
            "Avstämningsmöte hållet"
        );
        assert_eq!(
            document_list(&[
                YearlyDocument::Revisionsberattelse,
                YearlyDocument::Medlemsantal
            ]),
            "Revisionsberättelse, uppgift om medlemsantal"
        );
    }
}
