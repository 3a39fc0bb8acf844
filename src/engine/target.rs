//! RULES 15: whether an event that names its checkpoint may be recorded.
//! The answer is the engine's own: the event is applied to the history and
//! must close exactly the checkpoint it names; if it does not, the reason is
//! read from the checkpoint as it was.

use chrono::NaiveDate;

use crate::domain::{Event, EventKind, YearlyDocument};

use super::{Checkpoint, Input, Kind, Status, checkpoints};

/// Why an event cannot be recorded for the checkpoint it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unfit {
    /// No checkpoint with that key (a mistyped key, or a period far ahead).
    Unknown,
    /// The event is not evidence for this kind of checkpoint.
    WrongKind(Kind),
    /// The checkpoint is not open (done, cancelled, missed for a waiver, waived).
    Closed(Kind, Status),
    /// Dated before the checkpoint's period starts.
    BeforePeriod(Kind, NaiveDate),
    /// A decision before the meeting the memo went to (RULES 15).
    BeforeMemoMeeting(Kind, NaiveDate),
    /// That yearly document is already registered for this checkpoint.
    AlreadyRegistered(YearlyDocument),
    /// It would not close the checkpoint for another reason (a decision
    /// without a minute § names the minutes, a meeting after today).
    DoesNotFit(Kind),
}

/// The kinds of checkpoint `kind` is evidence for, `None` = any (a waiver).
fn evidence_for(kind: &EventKind) -> Option<&'static [Kind]> {
    Some(match kind {
        EventKind::CheckinHeld => &[Kind::Checkin],
        EventKind::AnnualReportReceived { .. } => &[Kind::AnnualReport],
        EventKind::AnnualEvaluationHeld => &[Kind::AnnualEvaluation],
        EventKind::CommitteeFollowupSubmitted { .. } | EventKind::TerminationSubmitted { .. } => {
            &[Kind::CommitteeFollowup, Kind::TerminationDecision]
        }
        EventKind::CommitteeFollowupReported { .. } | EventKind::TerminationDecided { .. } => &[
            Kind::CommitteeMinutes,
            Kind::CommitteeFollowup,
            Kind::TerminationDecision,
        ],
        EventKind::RenegotiatedAgreementSigned => &[Kind::RenegotiatedAgreementSigned],
        EventKind::WindDownPlanRegistered { .. } => &[Kind::WindDownPlan],
        EventKind::ExpiryEvaluationHeld => &[Kind::ExpiryEvaluation],
        EventKind::PaymentsStopped => &[Kind::PaymentsStop],
        EventKind::PaymentChanged => &[Kind::PaymentChange],
        EventKind::CheckpointWaived { .. } => return None,
        EventKind::NoticeGiven { .. }
        | EventKind::AgreementExtended { .. }
        | EventKind::OfficerReplaced { .. }
        | EventKind::OfficerAbsent { .. }
        | EventKind::Retraction { .. } => &[],
    })
}

/// Whether the committee event belongs to the kind of item (a follow-up
/// memo or decision never closes a termination's checkpoints, RULES 19 "read
/// per kind").
fn same_committee_kind(kind: &EventKind, cp: &Checkpoint) -> bool {
    let item = cp.parent.unwrap_or(cp.kind);
    match kind {
        EventKind::CommitteeFollowupSubmitted { .. }
        | EventKind::CommitteeFollowupReported { .. } => item == Kind::CommitteeFollowup,
        EventKind::TerminationSubmitted { .. } | EventKind::TerminationDecided { .. } => {
            item == Kind::TerminationDecision
        }
        _ => true,
    }
}

/// Closed by the event, or (one yearly document of several) taken by it.
fn closed_by(cp: &Checkpoint, id: i64) -> bool {
    cp.evidence.as_ref().is_some_and(|e| e.event == id)
        || cp.waiver.as_ref().is_some_and(|w| w.event == id)
        || cp
            .documents
            .as_ref()
            .is_some_and(|d| d.received.iter().any(|r| r.event == id))
}

/// RULES 15 and 17: `None` when `event` (not yet recorded; its `target`
/// set) closes exactly its checkpoint given the history in `input`.
/// `input.horizon` should reach past today, so that a period that has not
/// started is named as such rather than unknown.
pub fn unfit(input: &Input, event: &Event) -> Option<Unfit> {
    let key = event.target.as_deref()?;
    let before = checkpoints(input);
    let Some(cp) = before.iter().find(|c| c.key == key) else {
        return Some(Unfit::Unknown);
    };
    let fits_kind = evidence_for(&event.kind)
        .is_none_or(|kinds| kinds.contains(&cp.kind) && same_committee_kind(&event.kind, cp));
    if !fits_kind {
        return Some(Unfit::WrongKind(cp.kind));
    }
    // A waiver closes what is still waited for; evidence may also close a
    // missed window (RULES 17 details: "done comes before missed").
    let waiver = matches!(event.kind, EventKind::CheckpointWaived { .. });
    let takes = cp.status.is_open()
        || cp.status == Status::BeforeTracking
        || cp.status == Status::Missed && !waiver;
    if !takes {
        return Some(Unfit::Closed(cp.kind, cp.status));
    }
    if let (
        EventKind::AnnualReportReceived {
            document: Some(doc),
            ..
        },
        Some(docs),
    ) = (&event.kind, &cp.documents)
        && !docs.missing.contains(doc)
    {
        return Some(Unfit::AlreadyRegistered(*doc));
    }
    let mut events = input.events.to_vec();
    let mut new = event.clone();
    new.id = events.iter().map(|e| e.id).max().unwrap_or(0) + 1;
    let id = new.id;
    events.push(new);
    let after = checkpoints(&Input {
        events: &events,
        today: input.today.max(event.on),
        ..*input
    });
    if after.iter().any(|c| c.key == key && closed_by(c, id)) {
        return None;
    }
    let judged_on = match &event.kind {
        EventKind::CommitteeFollowupReported { meeting, .. }
        | EventKind::TerminationDecided { meeting, .. } => *meeting,
        _ => event.on,
    };
    if judged_on < cp.period_start {
        return Some(Unfit::BeforePeriod(cp.kind, cp.period_start));
    }
    if cp.kind == Kind::CommitteeMinutes
        && let Some(m) = cp.meeting.filter(|m| judged_on < *m)
    {
        return Some(Unfit::BeforeMemoMeeting(cp.kind, m));
    }
    Some(Unfit::DoesNotFit(cp.kind))
}
