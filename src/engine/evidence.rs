//! Which event closes which checkpoint (RULES 1, 2, 6b and 15–20).

use std::ops::Range;

use chrono::NaiveDate;

use crate::calendar::working_day_on_or_before;
use crate::domain::{Event, EventKind, YearlyDocument};

use super::rules::{plus_days, submission_deadline};
use super::{Checkpoint, Evidence, Input, Kind, ReceivedDocument, Status, Waiver};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Memo,
    Decision { with_paragraph: bool },
}

/// Which checkpoint of a committee section a targeted event names (RULES 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aim {
    Item(usize),
    Minutes(usize),
}

#[derive(Debug, Clone, Copy)]
struct CommitteeProof {
    /// For a decision, `on` is the meeting date (RULES 1).
    proof: Proof,
    meeting: NaiveDate,
    step: Step,
}

/// RULES 1: open = "neither done nor cancelled nor `before_tracking`";
/// RULES 17: nor waived.
fn open(cp: &Checkpoint, tracking_start: NaiveDate) -> bool {
    open_to_history(cp) && cp.due >= tracking_start
}

/// History may close a `before_tracking` checkpoint (RULES 3: "Evidence before
/// `tracking_start` still makes a checkpoint done"), and so may a waiver
/// (RULES 17 details: "`before_tracking` ones included").
fn open_to_history(cp: &Checkpoint) -> bool {
    cp.status != Status::Cancelled && cp.evidence.is_none() && cp.waiver.is_none()
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

/// RULES 16: a check-in closes the window whose unmoved span contains its
/// date, if that one is open; if it is already closed (done or waived: a
/// second meeting in one window), the oldest open earlier window, late. In a
/// cancelled window, or outside every window, it closes nothing. History
/// (RULES 1) closes only its own window.
fn close_checkin(windows: &mut [Checkpoint], proof: Proof, tracking_start: NaiveDate) {
    let history = proof.on < tracking_start;
    let Some(own) = windows
        .iter()
        .position(|w| w.period_start <= proof.on && proof.on <= w.period_end)
    else {
        return;
    };
    let w = &windows[own];
    let may_close = if history {
        open_to_history(w)
    } else {
        open(w, tracking_start)
    };
    let chosen = if may_close {
        Some(own)
    } else if !history && (w.evidence.is_some() || w.waiver.is_some()) {
        (0..own).find(|&i| open(&windows[i], tracking_start))
    } else {
        None
    };
    if let Some(i) = chosen {
        settle(&mut windows[i], proof.event, proof.on, proof.on);
    }
}

/// RULES 17: the open windows a check-in dated in a later window has passed
/// by (indices into `out`). Open as in #1: a waived window stays waived, and
/// windows before `tracking_start` are never missed (RULES 18); a missed
/// window stays open to evidence, so done wins.
pub(super) fn missed(
    out: &[Checkpoint],
    checkin: &Range<usize>,
    events: &[&Event],
    tracking_start: NaiveDate,
) -> Vec<usize> {
    let Some(windows) = out.get(checkin.clone()) else {
        return Vec::new();
    };
    let (Some(first), Some(last)) = (windows.first(), windows.last()) else {
        return Vec::new();
    };
    // Windows follow each other without gaps: inside some window = in this span.
    let span = first.period_start..=last.period_end;
    let latest = events
        .iter()
        .filter(|e| !e.retracted && e.kind == EventKind::CheckinHeld && span.contains(&e.on))
        .map(|e| e.on)
        .max();
    let Some(latest) = latest else {
        return Vec::new();
    };
    checkin
        .clone()
        .filter(|&i| {
            let w = &out[i];
            open(w, tracking_start) && w.period_end < latest
        })
        .collect()
}

/// Ties item *i* to the meeting its memo names: RULES 20, its minutes are due
/// `minutes_days` after that meeting, moved back to a working day.
fn tie_to_memo(minutes: &mut [Checkpoint], i: usize, meeting: NaiveDate, minutes_days: u32) {
    if let Some(m) = minutes.get_mut(i).filter(|m| open_to_history(m)) {
        m.due = working_day_on_or_before(plus_days(meeting, minutes_days));
        m.meeting = Some(meeting);
    }
}

/// The committee's calendar numbers a section needs.
#[derive(Debug, Clone, Copy)]
struct Days {
    submission: u32,
    minutes: u32,
}

/// RULES 15 for one committee section: a targeted memo closes its item if it
/// is open and dated on or after the item's period start; a targeted decision
/// closes the minutes it names (and the item, if still open) when its meeting
/// is on or after the period start and the memo's meeting. Returns the
/// meetings the items were tied to.
fn close_committee_targeted(
    items: &mut [Checkpoint],
    minutes: &mut [Checkpoint],
    proofs: &[(CommitteeProof, Aim)],
    days: Days,
) -> Vec<(NaiveDate, usize)> {
    let mut tied: Vec<(NaiveDate, usize)> = Vec::new();
    for &(p, aim) in proofs {
        let i = match aim {
            Aim::Item(i) | Aim::Minutes(i) => i,
        };
        let Some(item) = items.get(i) else { continue };
        match p.step {
            Step::Memo => {
                if aim != Aim::Item(i) || !open_to_history(item) || p.proof.on < item.period_start {
                    continue;
                }
                settle(&mut items[i], p.proof.event, p.proof.on, p.proof.on);
                tied.push((p.meeting, i));
                tie_to_memo(minutes, i, p.meeting, days.minutes);
            }
            Step::Decision { with_paragraph } => {
                let memo_meeting = tied.iter().find(|(_, j)| *j == i).map(|&(m, _)| m);
                if p.meeting < item.period_start || memo_meeting.is_some_and(|m| p.meeting < m) {
                    continue;
                }
                let close_item = open_to_history(item);
                let close_minutes = with_paragraph && minutes.get(i).is_some_and(open_to_history);
                let fits = match aim {
                    Aim::Item(_) => close_item,
                    Aim::Minutes(_) => close_minutes,
                };
                if !fits {
                    continue;
                }
                if close_item {
                    let deadline = submission_deadline(p.meeting, days.submission);
                    settle(&mut items[i], p.proof.event, p.meeting, deadline);
                }
                if let Some(m) = minutes.get_mut(i).filter(|_| close_minutes) {
                    settle(m, p.proof.event, p.meeting, p.meeting);
                }
                if memo_meeting.is_none() {
                    tied.push((p.meeting, i));
                }
            }
        }
    }
    tied
}

/// RULES 6b, 1 and 19 for one kind of committee item (`committee_followup`
/// or `termination_decision`) and its aligned `committee_minutes`. The memo
/// closes the item; "a recorded decision belongs to the memo for the same
/// meeting and closes that item's `committee_minutes`, not another
/// follow-up"; a decision without a memo closes the oldest open item and its
/// minutes, or the minutes still open after a memo, never those of an item
/// that is `before_tracking` (RULES 19). Only a decision with a minute §
/// closes minutes.
fn close_committee(
    items: &mut [Checkpoint],
    minutes: &mut [Checkpoint],
    targeted: &[(CommitteeProof, Aim)],
    proofs: &mut [CommitteeProof],
    tracking_start: NaiveDate,
    days: Days,
) {
    let mut item_of_meeting = close_committee_targeted(items, minutes, targeted, days);
    proofs.sort_unstable_by_key(|p| (p.proof.on, p.proof.event));
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
            // RULES 18 and 19: an untracked item's minutes are untracked too.
            Step::Decision { .. } => choose(items, p.proof.on, history, |i| {
                may_close(&items[i])
                    || (history || items[i].due >= tracking_start)
                        && minutes.get(i).is_some_and(may_close)
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
                    tie_to_memo(minutes, i, p.meeting, days.minutes);
                }
            }
            Step::Decision { with_paragraph } => {
                // The decision stands in for a memo that made that meeting's
                // deadline: late only if that deadline was after the item's.
                let deadline = submission_deadline(p.meeting, days.submission);
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

/// Where `key` lies in a committee section, for a targeted committee event.
fn aim(out: &[Checkpoint], items: &Range<usize>, minutes: &Range<usize>, key: &str) -> Option<Aim> {
    let find = |r: &Range<usize>| out.get(r.clone())?.iter().position(|c| c.key == key);
    find(items)
        .map(Aim::Item)
        .or_else(|| find(minutes).map(Aim::Minutes))
}

/// RULES 15 for the kinds closed by one event each: the named checkpoint, if
/// it is of the event's kind, not closed, and its period has started.
fn close_targeted(out: &mut [Checkpoint], section: &Range<usize>, key: &str, proof: Proof) {
    let Some(cp) = out
        .get_mut(section.clone())
        .and_then(|s| s.iter_mut().find(|c| c.key == key))
    else {
        return;
    };
    if open_to_history(cp) && cp.period_start <= proof.on {
        settle(cp, proof.event, proof.on, proof.on);
    }
}

/// Whether a document (or, for `None`, the whole submission) is still
/// missing from `cp`.
fn lacks(cp: &Checkpoint, document: Option<YearlyDocument>) -> bool {
    cp.documents.as_ref().is_some_and(|d| match document {
        Some(doc) => d.missing.contains(&doc),
        None => !d.missing.is_empty(),
    })
}

/// Örebro kommun's yearly documents: a registered document goes to the
/// checkpoint it names, or else (RULES 1) to the oldest open one whose period
/// had started and that still lacks it; a registration that names no
/// document stands for every one still missing. The checkpoint is done, on
/// the date of the last one, when none is missing.
fn close_documents(
    items: &mut [Checkpoint],
    target: Option<&str>,
    proof: Proof,
    document: Option<YearlyDocument>,
    diarienummer: &str,
    tracking_start: NaiveDate,
) {
    let chosen = match target {
        Some(key) => items.iter().position(|c| {
            c.key == key && open_to_history(c) && c.period_start <= proof.on && lacks(c, document)
        }),
        None => {
            let history = proof.on < tracking_start;
            choose(items, proof.on, history, |i| {
                let cp = &items[i];
                lacks(cp, document)
                    && if history {
                        open_to_history(cp)
                    } else {
                        open(cp, tracking_start)
                    }
            })
        }
    };
    let Some(cp) = chosen.map(|i| &mut items[i]) else {
        return;
    };
    let Some(docs) = cp.documents.as_mut() else {
        return;
    };
    let taken: Vec<YearlyDocument> = match document {
        Some(d) => vec![d],
        None => docs.missing.clone(),
    };
    docs.missing.retain(|d| !taken.contains(d));
    docs.received
        .extend(taken.into_iter().map(|d| ReceivedDocument {
            document: d,
            diarienummer: diarienummer.trim().to_string(),
            on: proof.on,
            event: proof.event,
        }));
    docs.received.sort_by_key(|r| r.document);
    if docs.missing.is_empty() {
        settle(cp, proof.event, proof.on, proof.on);
    }
}

/// RULES 17: a waiver closes any checkpoint that is not closed yet,
/// `before_tracking` ones included.
fn waive(out: &mut [Checkpoint], key: &str, e: &Event, reason: &str) {
    if let Some(cp) = out
        .iter_mut()
        .find(|c| c.key == key)
        .filter(|c| open_to_history(c))
    {
        cp.waiver = Some(Waiver {
            event: e.id,
            on: e.on,
            reason: reason.to_string(),
        });
    }
}

/// Applies every non-retracted event in `events` (sorted by date, as
/// `ending::visible_events` gives them) as evidence to the checkpoints in `out`.
/// RULES 15: events that name their checkpoint go first, in the order they
/// were recorded, so that later evidence finds their checkpoints closed.
pub(super) fn close(out: &mut [Checkpoint], s: &Sections, events: &[&Event], input: &Input) {
    let tracking_start = input.policy.tracking_start;
    let mut followups = Vec::new();
    let mut terminations = Vec::new();
    let mut followups_targeted = Vec::new();
    let mut terminations_targeted = Vec::new();
    let mut live: Vec<&Event> = events.iter().copied().filter(|e| !e.retracted).collect();
    live.sort_by_key(|e| e.target.is_none());
    let targeted_end = live.partition_point(|e| e.target.is_some());
    live[..targeted_end].sort_unstable_by_key(|e| e.id);
    for e in live {
        let target = e.target.as_deref();
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
        let committee = match &e.kind {
            EventKind::CommitteeFollowupSubmitted {
                diarienummer,
                meeting,
            } if registered(diarienummer) => Some((true, memo(*meeting))),
            EventKind::TerminationSubmitted {
                diarienummer,
                meeting,
            } if registered(diarienummer) => Some((false, memo(*meeting))),
            EventKind::CommitteeFollowupReported {
                meeting, paragraph, ..
            } if *meeting <= input.today => Some((true, decision(*meeting, paragraph))),
            EventKind::TerminationDecided { meeting, paragraph } if *meeting <= input.today => {
                Some((false, decision(*meeting, paragraph)))
            }
            _ => None,
        };
        if let Some((followup, p)) = committee {
            let (untargeted, targeted, items, minutes) = if followup {
                (
                    &mut followups,
                    &mut followups_targeted,
                    &s.followup,
                    &s.followup_minutes,
                )
            } else {
                (
                    &mut terminations,
                    &mut terminations_targeted,
                    &s.termination,
                    &s.termination_minutes,
                )
            };
            match target {
                None => untargeted.push(p),
                Some(key) => {
                    if let Some(a) = aim(out, items, minutes, key) {
                        targeted.push((p, a));
                    }
                }
            }
            continue;
        }
        if let EventKind::AnnualReportReceived {
            diarienummer,
            document,
        } = &e.kind
            && registered(diarienummer)
            && !input.policy.yearly_documents.is_empty()
        {
            if let Some(items) = out.get_mut(s.annual_report.clone()) {
                close_documents(
                    items,
                    target,
                    proof,
                    *document,
                    diarienummer,
                    tracking_start,
                );
            }
            continue;
        }
        let section = match &e.kind {
            EventKind::CheckinHeld => Some(&s.checkin),
            EventKind::AnnualReportReceived { diarienummer, .. } if registered(diarienummer) => {
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
            EventKind::CheckpointWaived { reason } => {
                if let Some(key) = target {
                    waive(out, key, e, reason);
                }
                None
            }
            _ => None,
        };
        let Some(section) = section else { continue };
        match target {
            Some(key) => close_targeted(out, section, key, proof),
            None if section == &s.checkin => {
                if let Some(windows) = out.get_mut(section.clone()) {
                    close_checkin(windows, proof, tracking_start);
                }
            }
            None => {
                if let Some(items) = out.get_mut(section.clone()) {
                    close_simple(items, proof, tracking_start);
                }
            }
        }
    }
    let days = Days {
        submission: input.committee.submission_days,
        minutes: input.policy.minutes_days,
    };
    let (items, minutes) = item_and_minutes(out, &s.followup, &s.followup_minutes);
    close_committee(
        items,
        minutes,
        &followups_targeted,
        &mut followups,
        tracking_start,
        days,
    );
    let (items, minutes) = item_and_minutes(out, &s.termination, &s.termination_minutes);
    close_committee(
        items,
        minutes,
        &terminations_targeted,
        &mut terminations,
        tracking_start,
        days,
    );
}
