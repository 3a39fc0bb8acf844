//! Which event closes which checkpoint (RULES 1, 2 and 6b).

use std::ops::Range;

use chrono::NaiveDate;

use crate::domain::{Event, EventKind};

use super::rules::submission_deadline;
use super::{Checkpoint, Evidence, Input, Kind, Status};

/// Where each kind's checkpoints lie in the output, oldest period first.
/// Minutes are aligned with their items: the minutes at offset *i* belong to
/// the item at offset *i*.
pub(super) struct Sections {
    pub checkin: Range<usize>,
    pub annual_report: Range<usize>,
    pub annual_evaluation: Range<usize>,
    pub followup: Range<usize>,
    pub followup_minutes: Range<usize>,
    pub termination: Range<usize>,
    pub termination_minutes: Range<usize>,
    pub wind_down: Range<usize>,
    pub payments_stop: Range<usize>,
    pub expiry: Range<usize>,
    pub renegotiation: Range<usize>,
    pub payment_change: Range<usize>,
}

/// One piece of evidence: the event and the date it is judged by.
#[derive(Debug, Clone, Copy)]
struct Proof {
    event: i64,
    on: NaiveDate,
}

/// A step of a committee item (RULES 6b): the memo, or the decision itself.
#[derive(Debug, Clone, Copy)]
enum Step {
    Memo,
    Decision { with_paragraph: bool },
}

#[derive(Debug, Clone, Copy)]
struct CommitteeProof {
    /// For a decision, `on` is the meeting date (RULES 1).
    proof: Proof,
    meeting: NaiveDate,
    step: Step,
}

/// RULES 1: open = "neither done nor cancelled nor `before_tracking`".
fn open(cp: &Checkpoint, tracking_start: NaiveDate) -> bool {
    cp.status != Status::Cancelled && cp.evidence.is_none() && cp.due >= tracking_start
}

/// History may close a `before_tracking` checkpoint (RULES 3: "Evidence before
/// `tracking_start` still makes a checkpoint done").
fn open_to_history(cp: &Checkpoint) -> bool {
    cp.status != Status::Cancelled && cp.evidence.is_none()
}

/// A diarienummer is what makes a document registered (issue rule 2, RULES 1
/// "Memos need their diarienummer").
fn registered(diarienummer: &str) -> bool {
    !diarienummer.trim().is_empty()
}

/// RULES 1: "evidence dated on or before the due date is on time, and so is
/// evidence inside a check-in window or an agreement year …; otherwise days
/// late = evidence date − due date. A committee memo after its submission
/// deadline is late, however early the meeting."
fn days_late(cp: &Checkpoint, on: NaiveDate) -> i64 {
    let on_time_until = match cp.kind {
        Kind::Checkin | Kind::AnnualReport | Kind::AnnualEvaluation => cp.due.max(cp.period_end),
        _ => cp.due,
    };
    if on <= on_time_until {
        0
    } else {
        (on - cp.due).num_days()
    }
}

/// Closes `cp` with `event` dated `on`, late as if it had come on `judged_on`.
fn settle(cp: &mut Checkpoint, event: i64, on: NaiveDate, judged_on: NaiveDate) {
    cp.evidence = Some(Evidence {
        event,
        on,
        days_late: days_late(cp, judged_on),
    });
}

/// RULES 1: evidence closes "the oldest checkpoint of that kind … whose period
/// had started on or before the event's date"; history (evidence before
/// `tracking_start`) "closes the checkpoint whose period contains its date, if
/// that one is open, and nothing else". `is_open(i, history)` says whether
/// item *i* may take it.
fn choose(
    items: &[Checkpoint],
    on: NaiveDate,
    history: bool,
    is_open: impl Fn(usize) -> bool,
) -> Option<usize> {
    (0..items.len())
        .filter(|&i| {
            let cp = &items[i];
            cp.period_start <= on && (!history || on <= cp.period_end) && is_open(i)
        })
        .min_by_key(|&i| (items[i].period_start, items[i].due))
}

fn close_simple(items: &mut [Checkpoint], proof: Proof, tracking_start: NaiveDate) {
    let history = proof.on < tracking_start;
    let chosen = choose(items, proof.on, history, |i| {
        if history {
            open_to_history(&items[i])
        } else {
            open(&items[i], tracking_start)
        }
    });
    if let Some(i) = chosen {
        settle(&mut items[i], proof.event, proof.on, proof.on);
    }
}

/// RULES 6b and 1 for one kind of committee item (`committee_followup` or
/// `termination_decision`) and its aligned `committee_minutes`. The memo closes
/// the item; "a recorded decision belongs to the memo for the same meeting and
/// closes that item's `committee_minutes`, not another follow-up"; a decision
/// without a memo closes the oldest open item (if still open) and its minutes.
/// Only a decision with a minute § closes minutes.
fn close_committee(
    items: &mut [Checkpoint],
    minutes: &mut [Checkpoint],
    proofs: &mut [CommitteeProof],
    tracking_start: NaiveDate,
    submission_days: u32,
) {
    proofs.sort_unstable_by_key(|p| (p.proof.on, p.proof.event));
    let mut item_of_meeting: Vec<(NaiveDate, usize)> = Vec::new();
    for p in proofs.iter() {
        let history = p.proof.on < tracking_start;
        let may_close = |cp: &Checkpoint| {
            if history {
                open_to_history(cp)
            } else {
                open(cp, tracking_start)
            }
        };
        let known = item_of_meeting
            .iter()
            .find(|(m, _)| *m == p.meeting)
            .map(|&(_, i)| i);
        let chosen = known.or_else(|| match p.step {
            Step::Memo => choose(items, p.proof.on, history, |i| may_close(&items[i])),
            Step::Decision { .. } => choose(items, p.proof.on, history, |i| {
                may_close(&items[i]) || minutes.get(i).is_some_and(may_close)
            }),
        });
        let Some(i) = chosen else { continue };
        if known.is_none() {
            item_of_meeting.push((p.meeting, i));
        }
        // Once tied to its meeting, the item's own steps close whatever is left.
        let may_close = |cp: &Checkpoint| {
            if known.is_some() {
                open_to_history(cp)
            } else {
                may_close(cp)
            }
        };
        match p.step {
            Step::Memo => {
                if let Some(item) = items.get_mut(i).filter(|cp| may_close(cp)) {
                    settle(item, p.proof.event, p.proof.on, p.proof.on);
                }
            }
            Step::Decision { with_paragraph } => {
                // The decision stands in for a memo that made that meeting's
                // deadline: late only if that deadline was after the item's.
                let deadline = submission_deadline(p.meeting, submission_days);
                if let Some(item) = items.get_mut(i).filter(|cp| may_close(cp)) {
                    settle(item, p.proof.event, p.meeting, deadline);
                }
                if let Some(m) = minutes
                    .get_mut(i)
                    .filter(|cp| with_paragraph && may_close(cp))
                {
                    settle(m, p.proof.event, p.meeting, p.meeting);
                }
            }
        }
    }
}

/// Splits `out` into the two aligned sections `items` and `minutes`.
fn item_and_minutes<'a>(
    out: &'a mut [Checkpoint],
    items: &Range<usize>,
    minutes: &Range<usize>,
) -> (&'a mut [Checkpoint], &'a mut [Checkpoint]) {
    let (left, right) = out.split_at_mut(minutes.start.min(out.len()));
    let items = left.get_mut(items.clone()).unwrap_or_default();
    let minutes = right.get_mut(..minutes.len()).unwrap_or_default();
    (items, minutes)
}

/// Applies every non-retracted event in `events` (sorted by date, as
/// `ending::visible_events` gives them) as evidence to the checkpoints in `out`.
pub(super) fn close(out: &mut [Checkpoint], s: &Sections, events: &[&Event], input: &Input) {
    let tracking_start = input.policy.tracking_start;
    let mut followups = Vec::new();
    let mut terminations = Vec::new();
    for e in events.iter().filter(|e| !e.retracted) {
        let proof = Proof {
            event: e.id,
            on: e.on,
        };
        let memo = |meeting: NaiveDate| CommitteeProof {
            proof,
            meeting,
            step: Step::Memo,
        };
        // RULES 1: a recorded decision is judged by its meeting date; one
        // whose meeting is after *now* has not happened.
        let decision = |meeting: NaiveDate, paragraph: &str| CommitteeProof {
            proof: Proof {
                event: e.id,
                on: meeting,
            },
            meeting,
            step: Step::Decision {
                with_paragraph: !paragraph.trim().is_empty(),
            },
        };
        let section = match &e.kind {
            EventKind::CheckinHeld => Some(&s.checkin),
            EventKind::AnnualReportReceived { diarienummer } if registered(diarienummer) => {
                Some(&s.annual_report)
            }
            EventKind::AnnualEvaluationHeld => Some(&s.annual_evaluation),
            EventKind::WindDownPlanRegistered { diarienummer } if registered(diarienummer) => {
                Some(&s.wind_down)
            }
            EventKind::ExpiryEvaluationHeld => Some(&s.expiry),
            EventKind::RenegotiatedAgreementSigned => Some(&s.renegotiation),
            EventKind::PaymentsStopped => Some(&s.payments_stop),
            EventKind::PaymentChanged => Some(&s.payment_change),
            EventKind::CommitteeFollowupSubmitted {
                diarienummer,
                meeting,
            } if registered(diarienummer) => {
                followups.push(memo(*meeting));
                None
            }
            EventKind::TerminationSubmitted {
                diarienummer,
                meeting,
            } if registered(diarienummer) => {
                terminations.push(memo(*meeting));
                None
            }
            EventKind::CommitteeFollowupReported {
                meeting, paragraph, ..
            } if *meeting <= input.today => {
                followups.push(decision(*meeting, paragraph));
                None
            }
            EventKind::TerminationDecided { meeting, paragraph } if *meeting <= input.today => {
                terminations.push(decision(*meeting, paragraph));
                None
            }
            _ => None,
        };
        if let Some(items) = section.and_then(|r| out.get_mut(r.clone())) {
            close_simple(items, proof, tracking_start);
        }
    }
    let submission_days = input.committee.submission_days;
    let (items, minutes) = item_and_minutes(out, &s.followup, &s.followup_minutes);
    close_committee(
        items,
        minutes,
        &mut followups,
        tracking_start,
        submission_days,
    );
    let (items, minutes) = item_and_minutes(out, &s.termination, &s.termination_minutes);
    close_committee(
        items,
        minutes,
        &mut terminations,
        tracking_start,
        submission_days,
    );
}
