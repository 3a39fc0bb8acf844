//! When an agreement ends: fixed term, extensions and notices (issue rules 4
//! and 5, RULES 8).

use chrono::NaiveDate;

use crate::calendar::add_months;
use crate::domain::{Event, EventKind, Partnership};

use super::Policy;

/// Month counts larger than this are configuration mistakes; clamping keeps
/// the month arithmetic inside chrono's range.
const MAX_MONTHS: u32 = 12 * 1000;

/// `d` plus a configured number of months, clamped to the month's last day.
pub(super) fn plus_months(d: NaiveDate, months: u32) -> NaiveDate {
    add_months(d, months.min(MAX_MONTHS) as i32)
}

/// `d` minus a configured number of months, clamped to the month's last day.
pub(super) fn minus_months(d: NaiveDate, months: u32) -> NaiveDate {
    add_months(d, -(months.min(MAX_MONTHS) as i32))
}

/// The partnership's events that exist at `today`, sorted once by (date, id).
/// RULES 3: "Events dated after *now* are ignored (simulation)." Retracted
/// events stay in the list: a retracted notice still names the checkpoints it
/// cancels (RULES 9).
pub(super) fn visible_events<'a>(
    p: &Partnership,
    events: &'a [Event],
    today: NaiveDate,
) -> Vec<&'a Event> {
    let mut v: Vec<&Event> = events
        .iter()
        .filter(|e| e.on <= today && e.partnership == p.id)
        .collect();
    v.sort_unstable_by_key(|e| (e.on, e.id));
    v
}

/// One notice and the end date it gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Notice {
    pub id: i64,
    pub on: NaiveDate,
    /// Issue rule 4: "D + `notice_months` …, clamped to the month's last day";
    /// a legal date, never moved to a working day.
    pub end: NaiveDate,
    pub retracted: bool,
}

/// How the agreement ends, as far as the events known at *now* say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ending {
    /// The fixed term's end after the last extension (issue rule 5).
    pub fixed_end: Option<NaiveDate>,
    /// The date of the last extension: an expiry evaluation counts only after it.
    pub last_extension: Option<NaiveDate>,
    /// Every notice, retracted ones included, in (date, id) order.
    pub notices: Vec<Notice>,
    /// The notice whose end is the agreement's end, if a notice ends it.
    pub winner: Option<usize>,
    /// The effective end date.
    pub end: Option<NaiveDate>,
}

impl Ending {
    /// `events` as given by [`visible_events`].
    pub fn of(p: &Partnership, events: &[&Event], notice_months: u32) -> Ending {
        let mut fixed_end = p.end;
        let mut last_extension = None;
        let mut notices = Vec::new();
        for e in events {
            match e.kind {
                // RULES 8: "An extension moves the same `expiry_evaluation`,
                // `payments_stop` and `agreement_end`"; the latest one counts.
                EventKind::AgreementExtended { new_end } if !e.retracted => {
                    fixed_end = Some(new_end);
                    last_extension = Some(e.on);
                }
                EventKind::NoticeGiven { .. } => notices.push(Notice {
                    id: e.id,
                    on: e.on,
                    end: plus_months(e.on, notice_months),
                    retracted: e.retracted,
                }),
                _ => {}
            }
        }
        // RULES 8: "Several notices: the earliest end wins. A fixed-term
        // agreement that gets notice ends at the earlier of the two." On a tie
        // the fixed term ends it and no termination is needed.
        let winner = notices
            .iter()
            .enumerate()
            .filter(|(_, n)| !n.retracted)
            .min_by_key(|(_, n)| (n.end, n.on, n.id))
            .filter(|(_, n)| fixed_end.is_none_or(|f| n.end < f))
            .map(|(i, _)| i);
        let end = match winner {
            Some(i) => Some(notices[i].end),
            None => fixed_end,
        };
        Ending {
            fixed_end,
            last_extension,
            notices,
            winner,
            end,
        }
    }

    /// The notice that ends the agreement.
    pub fn winning_notice(&self) -> Option<&Notice> {
        self.winner.and_then(|i| self.notices.get(i))
    }
}

/// The effective end date of a partnership at `today`: the earliest end of its
/// notices (D + notice months, clamped) and of its fixed term after the last
/// extension; `None` while it runs until further notice. Retracted events and
/// events dated after `today` do not count. The partnership's own
/// `notice_months` overrides the policy's.
pub fn agreement_end(
    p: &Partnership,
    events: &[Event],
    policy: &Policy,
    today: NaiveDate,
) -> Option<NaiveDate> {
    let events = visible_events(p, events, today);
    Ending::of(p, &events, policy.notice_months_for(p)).end
}
