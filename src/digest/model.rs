//! What the digest says, as plain values, built from the engine's
//! checkpoints one partnership at a time. No database, no clock: the caller
//! streams the register through [`Builder::add`] and hands in what the outbox
//! knows.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Datelike, Duration, NaiveDate};
use chrono_tz::Tz;
use serde::Serialize;

use crate::calendar::add_months;
use crate::config::Config;
use crate::domain::{CommitteeKey, Email, Event, EventKind, NoticeParty, Partnership};
use crate::engine::{self, Checkpoint, Kind, Policy, Status};
use crate::guideline::Guideline;
use crate::ladder::{self, Ladder, StageKind};
use crate::store::{DeliveryProblem, Postponement, SentReminder, ServiceHealth};

/// "due in the next 4 weeks" (issue 6).
pub const DUE_SOON_DAYS: i64 = 28;
/// "committee follow-ups in the next 6 months" (issue 6).
pub const COMMITTEE_MONTHS: i32 = 6;
/// "a committee with no meeting dates in the coming 12 months" (issue 6).
pub const MEETING_PLAN_MONTHS: i32 = 12;
/// Missed and waived checkpoints stay listed this long (RULES 17).
pub const NOT_DONE_MONTHS: i32 = 12;
/// Failed mails stay listed this long; after that they are history.
pub const DELIVERY_PROBLEM_DAYS: i64 = 28;

/// `2027-W05`: the ISO week, which names one digest.
pub fn iso_week(d: NaiveDate) -> String {
    let w = d.iso_week();
    format!("{}-W{:02}", w.year(), w.week())
}

/// The Monday that starts `d`'s ISO week.
pub fn week_start(d: NaiveDate) -> NaiveDate {
    d - Duration::days(i64::from(d.weekday().num_days_from_monday()))
}

/// The last day before which a committee decision counts as silence.
pub fn silence_threshold(today: NaiveDate, months: u32) -> NaiveDate {
    add_months(today, -i32::try_from(months).unwrap_or(i32::MAX / 2))
}

/// One checkpoint as a line of the digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub key: String,
    pub partnership: String,
    pub organisation: String,
    pub committee: String,
    pub what: String,
    /// The yearly documents still missing: "Revisionsberättelse, uppgift om medlemsantal".
    pub missing: Option<String>,
    pub due: NaiveDate,
    pub status: Status,
    pub status_label: &'static str,
    pub days_late: i64,
    /// The acting officer, "Namn <adress>".
    pub officer: String,
    /// The acting officer's name, or the deputy's address (short rows).
    pub officer_name: String,
    #[serde(skip)]
    pub officer_email: Option<Email>,
    /// The acting officer's address, for a `mailto:` link.
    pub officer_address: String,
    pub meeting: Option<NaiveDate>,
    pub no_meeting: bool,
    /// Due is the submission deadline before a committee meeting (RULES 12).
    pub submission: bool,
    /// How the people responsible were reminded.
    pub reminded: Reminded,
    /// The outbox stage of this checkpoint's escalation (`d+21`), if its
    /// ladder has one.
    #[serde(skip)]
    pub escalation_stage: Option<String>,
}

/// "påmind 9 gånger, senast 2027-02-23 · eskalerad 2027-01-20": one count
/// instead of a wall of addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reminded {
    /// Reminder mails about the checkpoint before and after its escalation,
    /// counted once per stage however many people it reached.
    pub times: i64,
    /// The day the latest of them went out.
    pub last: Option<NaiveDate>,
    /// The day the escalation to IOP-ansvarig went out.
    pub escalated: Option<NaiveDate>,
}

/// A reminder stage's outbox key: `d-28`, `d0`, `d+7`. Not a cancellation,
/// a calendar invite (`invite-N`), a day's bundle or a digest.
pub fn is_reminder_stage(stage: &str) -> bool {
    stage == "d0"
        || stage
            .strip_prefix("d+")
            .or_else(|| stage.strip_prefix("d-"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Sums the reminders sent about one checkpoint (`sent`, any order).
/// A stage counts once per due date: the officer and the deputy reading
/// the same `d+7` were reminded once, and a moved due date runs its stages again.
pub fn reminded(sent: &[SentReminder], escalation_stage: Option<&str>, tz: Tz) -> Reminded {
    let mut stages = HashSet::new();
    let mut out = Reminded::default();
    for r in sent.iter().filter(|r| is_reminder_stage(&r.stage)) {
        let on = crate::calendar::local_date(r.sent_at, tz);
        if Some(r.stage.as_str()) == escalation_stage {
            out.escalated = Some(out.escalated.map_or(on, |d| d.min(on)));
        } else {
            if stages.insert((r.due, r.stage.as_str())) {
                out.times += 1;
            }
            out.last = out.last.max(Some(on));
        }
    }
    out
}

/// The digest's first screen: how many of each, before the lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub overdue: usize,
    /// Overdue items whose escalation went out.
    pub escalated: usize,
    pub due_soon: usize,
    pub silent_committees: usize,
    /// Delivery problems and problems in the register or configuration.
    pub problems: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitteeGroup {
    pub committee: String,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SilentPartnership {
    pub partnership: String,
    pub organisation: String,
    pub committee: String,
    /// The last committee decision recorded with a minute §, if any.
    pub last_decision: Option<NaiveDate>,
    /// Whole months since that decision, or since tracking or the agreement
    /// started, whichever is latest (RULES 18).
    pub months: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SilentCommittee {
    pub committee: String,
    pub last_decision: Option<NaiveDate>,
    pub partnerships: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoticeRow {
    pub partnership: String,
    pub organisation: String,
    pub committee: String,
    pub given_on: NaiveDate,
    pub by: &'static str,
    pub end: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProblemRow {
    pub what: String,
    pub recipient: String,
    pub error: String,
    pub since: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthRow {
    pub last_tick: Option<String>,
    pub sent_this_week: i64,
    pub pending: i64,
}

/// Links to the read-only overview pages (set once the web pages exist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigestLinks {
    pub overview: String,
}

/// How many of the worst items the first screen shows.
pub const WORST: usize = 3;

/// The whole weekly digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Digest {
    pub body_name: String,
    /// "vecka 9".
    pub week: String,
    pub today: NaiveDate,
    pub counts: Counts,
    /// The most overdue items, then the soonest due, at most [`WORST`].
    pub worst: Vec<Item>,
    pub overdue: Vec<CommitteeGroup>,
    pub overdue_count: usize,
    pub due_soon: Vec<Item>,
    pub committee_items: Vec<Item>,
    /// Missed and waived checkpoints due in the last 12 months (RULES 17).
    pub not_done: Vec<Item>,
    pub silence_months: u32,
    /// Whether any committee's guideline asks for follow-ups to it at all;
    /// without (Örebro kommun) there is no silence to report.
    pub silence_watched: bool,
    pub silent_partnerships: Vec<SilentPartnership>,
    pub silent_committees: Vec<SilentCommittee>,
    pub notices: Vec<NoticeRow>,
    pub postponements: Vec<Postponement>,
    pub delivery_problems: Vec<ProblemRow>,
    pub data_problems: Vec<String>,
    pub health: HealthRow,
    pub links: Option<DigestLinks>,
}

/// One officer's Monday list (`digest.officers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfficerList {
    pub name: Option<String>,
    #[serde(skip)]
    pub email: Option<Email>,
    pub items: Vec<Item>,
}

/// A committee's latest follow-up decision and how many of its partnerships
/// are old enough to have needed one.
#[derive(Debug, Default)]
struct CommitteeSilence {
    last_decision: Option<NaiveDate>,
    due_partnerships: usize,
}

/// Silence at a date (RULES 6b: only decisions recorded with a minute §
/// count): partnerships and committees with no recorded committee
/// follow-up within `digest.silence_months`.
pub struct Silence {
    at: NaiveDate,
    threshold: NaiveDate,
    partnerships: Vec<SilentPartnership>,
    committees: HashMap<CommitteeKey, CommitteeSilence>,
}

impl Silence {
    pub fn new(at: NaiveDate, months: u32) -> Self {
        Self {
            at,
            threshold: silence_threshold(at, months),
            partnerships: Vec::new(),
            committees: HashMap::new(),
        }
    }

    pub fn add(&mut self, p: &Partnership, events: &[Event], policy: &Policy, committee: &str) {
        if policy.committee_followup_years == 0 {
            return; // e.g. Örebro: no committee follow-up is required
        }
        let at = self.at;
        if p.start > at || engine::agreement_end(p, events, policy, at).is_some_and(|end| end < at)
        {
            return;
        }
        let last = last_decision(events, at);
        let c = self.committees.entry(p.committee.clone()).or_default();
        c.last_decision = c.last_decision.max(last);
        // RULES 18: silence counts from the latest of the last decision,
        // `tracking_start` and the agreement's start, never from a start
        // years before what was recorded.
        let watched_from = p.start.max(policy.tracking_start);
        if watched_from >= self.threshold {
            return; // too young (or watched too briefly) to have been silent that long
        }
        c.due_partnerships += 1;
        let since = last.map_or(watched_from, |d| d.max(watched_from));
        if since < self.threshold {
            self.partnerships.push(SilentPartnership {
                partnership: p.id.to_string(),
                organisation: p.organisation.clone(),
                committee: committee.to_string(),
                last_decision: last,
                months: whole_months(since, at),
            });
        }
    }

    /// Silent partnerships, longest silence first, and silent committees in
    /// configuration order.
    pub fn finish(mut self, cfg: &Config) -> (Vec<SilentPartnership>, Vec<SilentCommittee>) {
        self.partnerships.sort_by(|a, b| {
            b.months
                .cmp(&a.months)
                .then(a.partnership.cmp(&b.partnership))
        });
        let mut committees = Vec::new();
        for (key, c) in &cfg.committees {
            if let Some(s) = self.committees.get(key)
                && s.due_partnerships > 0
                && s.last_decision.is_none_or(|d| d < self.threshold)
            {
                committees.push(SilentCommittee {
                    committee: c.name.clone(),
                    last_decision: s.last_decision,
                    partnerships: s.due_partnerships,
                });
            }
        }
        (self.partnerships, committees)
    }
}

/// Collects the digest while the register streams past.
pub struct Builder<'a> {
    cfg: &'a Config,
    today: NaiveDate,
    overdue: Vec<Item>,
    due_soon: Vec<Item>,
    committee_items: Vec<Item>,
    not_done: Vec<Item>,
    silence: Silence,
    notices: Vec<NoticeRow>,
    data_problems: Vec<String>,
    officers: BTreeMap<Email, OfficerList>,
}

impl<'a> Builder<'a> {
    pub fn new(cfg: &'a Config, today: NaiveDate) -> Self {
        Self {
            cfg,
            today,
            overdue: Vec::new(),
            due_soon: Vec::new(),
            committee_items: Vec::new(),
            not_done: Vec::new(),
            silence: Silence::new(today, cfg.digest.silence_months),
            notices: Vec::new(),
            data_problems: Vec::new(),
            officers: BTreeMap::new(),
        }
    }

    /// How far ahead the engine must look for the digest's windows.
    pub fn horizon(today: NaiveDate) -> NaiveDate {
        add_months(today, COMMITTEE_MONTHS)
    }

    /// A register row that could not be read (a missing officer address, say).
    pub fn bad_row(&mut self, problem: String) {
        self.data_problems
            .push(format!("En rad i registret kan inte läsas: {problem}"));
    }

    /// A partnership whose committee is not configured.
    pub fn unknown_committee(&mut self, p: &Partnership) {
        self.data_problems.push(format!(
            "{} {}: nämnden \"{}\" finns inte i konfigurationen, så inga kontrollpunkter beräknas",
            p.id, p.organisation, p.committee
        ));
    }

    /// One partnership with its history and its checkpoints at `today`
    /// (computed with [`Builder::horizon`]).
    pub fn add(
        &mut self,
        p: &Partnership,
        events: &[Event],
        policy: &Policy,
        committee_name: &str,
        checkpoints: &[Checkpoint],
    ) {
        let today = self.today;
        let soon = today + Duration::days(DUE_SOON_DAYS);
        let committee_until = add_months(today, COMMITTEE_MONTHS);
        let year_ago = add_months(today, -NOT_DONE_MONTHS);
        for cp in checkpoints {
            let item = || {
                item(
                    &self.cfg.guideline,
                    p,
                    events,
                    committee_name,
                    cp,
                    &self.cfg.reminders,
                    today,
                )
            };
            match cp.status {
                Status::Overdue => self.overdue.push(item()),
                Status::Due | Status::Upcoming if cp.due <= soon => self.due_soon.push(item()),
                // RULES 17: "the digest lists them (last 12 months)".
                Status::Missed | Status::Waived if cp.due >= year_ago => self.not_done.push(item()),
                _ => {}
            }
            let committee_kind =
                matches!(cp.kind, Kind::CommitteeFollowup | Kind::TerminationDecision);
            let planned = cp.meeting.unwrap_or(cp.due);
            if committee_kind
                && !matches!(
                    cp.status,
                    Status::Cancelled | Status::BeforeTracking | Status::Waived
                )
                && planned >= today
                && planned <= committee_until
            {
                self.committee_items.push(item());
            }
            if self.cfg.digest.officers && self.on_officer_list(cp) {
                let i = item();
                if let Some(email) = i.officer_email.clone() {
                    let who = engine::responsible_on(p, events, cp.due);
                    let name =
                        (who.acting() == &who.officer.email).then(|| who.officer.name.clone());
                    self.officers
                        .entry(email.clone())
                        .or_insert_with(|| OfficerList {
                            name,
                            email: Some(email),
                            items: Vec::new(),
                        })
                        .items
                        .push(i);
                }
            }
        }
        self.silence.add(p, events, policy, committee_name);
        self.notice(p, events, policy, committee_name);
        let who = engine::responsible_on(p, events, today);
        if who.officer_absent && who.deputy.is_none() {
            // RULES 10: the officer still gets the mails; the digest says so.
            self.data_problems.push(format!(
                "{} {}: handläggaren {} är frånvarande utan ersättare",
                p.id, p.organisation, who.officer.name
            ));
        }
    }

    /// The Monday list replaces the *planera* mails (28 days before an
    /// action, 56 before a committee deadline), so it reaches one week
    /// further than those: the next list comes only in seven days.
    fn on_officer_list(&self, cp: &Checkpoint) -> bool {
        let ladder = &self.cfg.reminders;
        let lead = match cp.kind {
            Kind::CommitteeFollowup | Kind::TerminationDecision => ladder.committee_planning_days,
            _ => ladder.planning_days,
        };
        let until = self.today + Duration::days(i64::from(lead) + 7);
        match cp.status {
            Status::Overdue | Status::Due => true,
            Status::Upcoming => cp.due <= until,
            _ => false,
        }
    }

    fn notice(&mut self, p: &Partnership, events: &[Event], policy: &Policy, committee: &str) {
        let today = self.today;
        let notice = events
            .iter()
            .filter(|e| !e.retracted && e.on <= today)
            .filter_map(|e| match e.kind {
                EventKind::NoticeGiven { by } => Some((e.on, e.id, by)),
                _ => None,
            })
            .max_by_key(|n| (n.0, n.1))
            .map(|(on, _, by)| (on, by));
        let end = engine::agreement_end(p, events, policy, today);
        if let (Some((given_on, by)), Some(end)) = (notice, end)
            && end >= today
        {
            self.notices.push(NoticeRow {
                partnership: p.id.to_string(),
                organisation: p.organisation.clone(),
                committee: committee.to_string(),
                given_on,
                by: match by {
                    NoticeParty::Body => "vi",
                    NoticeParty::Partner => "den idéburna parten",
                },
                end,
            });
        }
    }

    /// The keys whose reminders the digest counts: every checkpoint listed.
    pub fn listed_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .overdue
            .iter()
            .chain(&self.due_soon)
            .chain(&self.committee_items)
            .chain(self.officers.values().flat_map(|o| &o.items))
            .map(|i| i.key.clone())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// The finished digest. Overdue items come worst first: committees by
    /// their most overdue item, items by days late.
    pub fn finish(
        mut self,
        reminders: &HashMap<String, Vec<SentReminder>>,
        problems: &[DeliveryProblem],
        health: &ServiceHealth,
        postponements: Vec<Postponement>,
        links: Option<DigestLinks>,
    ) -> (Digest, Vec<OfficerList>) {
        let today = self.today;
        let tz = self.cfg.body.time_zone;
        let count = |i: &mut Item| {
            if let Some(sent) = reminders.get(&i.key) {
                i.reminded = reminded(sent, i.escalation_stage.as_deref(), tz);
            }
        };
        self.overdue
            .iter_mut()
            .chain(&mut self.due_soon)
            .chain(&mut self.committee_items)
            .chain(self.officers.values_mut().flat_map(|o| &mut o.items))
            .for_each(count);
        let overdue_count = self.overdue.len();
        let escalated = self
            .overdue
            .iter()
            .filter(|i| i.reminded.escalated.is_some())
            .count();
        self.overdue
            .sort_by(|a, b| b.days_late.cmp(&a.days_late).then(a.key.cmp(&b.key)));
        self.due_soon
            .sort_by(|a, b| (a.due, &a.key).cmp(&(b.due, &b.key)));
        let due_soon_count = self.due_soon.len();
        let overdue_rows = merge_alike(self.overdue);
        let due_soon = merge_alike(self.due_soon);
        // The first screen: the most overdue, then (if fewer are late) the soonest due.
        let worst: Vec<Item> = overdue_rows
            .iter()
            .chain(&due_soon)
            .take(WORST)
            .cloned()
            .collect();
        let mut groups: BTreeMap<String, Vec<Item>> = BTreeMap::new();
        for i in overdue_rows {
            groups.entry(i.committee.clone()).or_default().push(i);
        }
        let mut overdue: Vec<CommitteeGroup> = groups
            .into_iter()
            .map(|(committee, mut items)| {
                items.sort_by(|a, b| b.days_late.cmp(&a.days_late).then(a.key.cmp(&b.key)));
                CommitteeGroup { committee, items }
            })
            .collect();
        let most_late = |g: &CommitteeGroup| g.items.first().map_or(0, |i| i.days_late);
        overdue.sort_by(|a, b| {
            most_late(b)
                .cmp(&most_late(a))
                .then(a.committee.cmp(&b.committee))
        });

        self.committee_items.sort_by(|a, b| {
            (a.meeting.unwrap_or(a.due), a.due, &a.key).cmp(&(
                b.meeting.unwrap_or(b.due),
                b.due,
                &b.key,
            ))
        });
        self.notices
            .sort_by(|a, b| (a.end, &a.partnership).cmp(&(b.end, &b.partnership)));
        self.not_done
            .sort_by(|a, b| (&a.committee, a.due, &a.key).cmp(&(&b.committee, b.due, &b.key)));
        let not_done = merge_alike(self.not_done);

        let (silent_partnerships, silent_committees) = self.silence.finish(self.cfg);
        let plan_until = add_months(today, MEETING_PLAN_MONTHS);
        for (key, c) in &self.cfg.committees {
            if !c.meetings.iter().any(|m| *m >= today && *m <= plan_until) {
                self.data_problems.push(format!(
                    "{}: inga sammanträden inlagda de kommande 12 månaderna (committees.{}.meetings)",
                    c.name, key
                ));
            }
        }

        let delivery_problems: Vec<ProblemRow> = problems
            .iter()
            .map(|d| ProblemRow {
                what: d.checkpoint_key.clone(),
                recipient: d.recipient.clone(),
                error: match (d.status.as_str(), &d.last_error) {
                    ("pending", Some(e)) => format!("försöker igen ({} försök): {e}", d.attempts),
                    ("pending", None) => format!("försöker igen ({} försök)", d.attempts),
                    (_, Some(e)) => e.clone(),
                    (_, None) => "misslyckades".into(),
                },
                since: crate::calendar::local_date(d.created_at, tz),
            })
            .collect();

        let mut officers: Vec<OfficerList> = self.officers.into_values().collect();
        for o in &mut officers {
            o.items
                .sort_by(|a, b| (a.due, &a.key).cmp(&(b.due, &b.key)));
            o.items = merge_alike(std::mem::take(&mut o.items));
        }

        let counts = Counts {
            overdue: overdue_count,
            escalated,
            due_soon: due_soon_count,
            silent_committees: silent_committees.len(),
            problems: delivery_problems.len() + self.data_problems.len(),
        };
        let digest = Digest {
            body_name: self.cfg.body.name.clone(),
            week: crate::words::week(today),
            today,
            counts,
            worst,
            overdue,
            overdue_count,
            due_soon,
            committee_items: self.committee_items,
            not_done,
            silence_months: self.cfg.digest.silence_months,
            silence_watched: self
                .cfg
                .committees
                .keys()
                .any(|k| self.cfg.policy_for(k, self.today).committee_followup_years > 0),
            silent_partnerships,
            silent_committees,
            notices: self.notices,
            postponements,
            delivery_problems,
            data_problems: self.data_problems,
            health: HealthRow {
                last_tick: health.last_tick.map(|t| crate::clock::local_minute(t, tz)),
                sent_this_week: health.sent_since,
                pending: health.pending,
            },
            links,
        };
        (digest, officers)
    }
}

/// One row for a partnership's checkpoints that read alike (the annual
/// report, the annual evaluation and a check-in due the same day, reminded
/// together): "Årlig utvärdering, årsredovisning diarieförd och
/// avstämningsmöte". `items` come sorted so that such rows are neighbours.
pub fn merge_alike(items: Vec<Item>) -> Vec<Item> {
    let mut rows: Vec<(Item, Vec<String>)> = Vec::with_capacity(items.len());
    for i in items {
        if let Some((first, names)) = rows.last_mut()
            && alike(first, &i)
        {
            names.push(i.what);
            continue;
        }
        let name = i.what.clone();
        rows.push((i, vec![name]));
    }
    rows.into_iter()
        .map(|(mut row, names)| {
            if let Some((last, rest)) = names.split_last()
                && !rest.is_empty()
            {
                let words: Vec<String> = rest
                    .iter()
                    .chain(std::iter::once(last))
                    .enumerate()
                    .map(|(n, w)| if n == 0 { w.clone() } else { w.to_lowercase() })
                    .collect();
                row.what = crate::words::list(&words);
            }
            row
        })
        .collect()
}

fn alike(a: &Item, b: &Item) -> bool {
    a.partnership == b.partnership
        && a.due == b.due
        && a.status == b.status
        && a.meeting == b.meeting
        && a.no_meeting == b.no_meeting
        && a.submission == b.submission
        && a.officer == b.officer
        && a.reminded == b.reminded
}

/// The latest meeting date of a follow-up decision recorded with its §, on
/// or before `on` (RULES 6b).
pub fn last_decision(events: &[Event], on: NaiveDate) -> Option<NaiveDate> {
    events
        .iter()
        .filter(|e| !e.retracted && e.on <= on)
        .filter_map(|e| match &e.kind {
            EventKind::CommitteeFollowupReported {
                meeting, paragraph, ..
            } if !paragraph.trim().is_empty() && *meeting <= on => Some(*meeting),
            _ => None,
        })
        .max()
}

/// Whole calendar months from `from` to `to` (0 if `to` is earlier).
pub fn whole_months(from: NaiveDate, to: NaiveDate) -> i32 {
    let mut m = (to.year() - from.year()) * 12 + to.month() as i32 - from.month() as i32;
    if to.day() < from.day() {
        m -= 1;
    }
    m.max(0)
}

pub(crate) fn item(
    g: &Guideline,
    p: &Partnership,
    events: &[Event],
    committee: &str,
    cp: &Checkpoint,
    ladder: &Ladder,
    today: NaiveDate,
) -> Item {
    // RULES 10: roles are resolved on the due date, or today once it has passed.
    let on = cp.due.max(today);
    let who = engine::responsible_on(p, events, on);
    let acting = who.acting().clone();
    let (officer, officer_name) = if acting == who.officer.email {
        (
            format!("{} <{}>", who.officer.name, acting),
            who.officer.name.clone(),
        )
    } else {
        (
            format!("{acting} (ersättare för {})", who.officer.name),
            acting.to_string(),
        )
    };
    Item {
        key: cp.key.clone(),
        partnership: p.id.to_string(),
        organisation: p.organisation.clone(),
        committee: committee.to_string(),
        what: g.label_with_parent(cp.kind, cp.parent),
        missing: cp
            .documents
            .as_ref()
            .filter(|d| !d.missing.is_empty() && cp.status.is_open())
            // A short row when nothing has come in yet; the mail lists them.
            .map(|d| {
                if d.received.is_empty() {
                    format!("alla {} handlingar", d.missing.len())
                } else {
                    crate::guideline::document_list(&d.missing)
                }
            }),
        due: cp.due,
        status: cp.status,
        status_label: cp.status.label_sv(),
        days_late: if cp.status == Status::Overdue {
            (today - cp.due).num_days()
        } else {
            0
        },
        officer,
        officer_name,
        officer_address: acting.to_string(),
        officer_email: Some(acting),
        meeting: cp.meeting,
        no_meeting: cp.no_meeting,
        submission: matches!(cp.kind, Kind::CommitteeFollowup | Kind::TerminationDecision),
        reminded: Reminded::default(),
        escalation_stage: escalation_stage(cp, ladder),
    }
}

/// The stage key under which `cp`'s escalation is sent, if its ladder has
/// one (RULES 11: +21 for actions; RULES 12: +1 for committee items).
fn escalation_stage(cp: &Checkpoint, ladder: &Ladder) -> Option<String> {
    // Far enough for any quiet period to have moved the escalation by.
    let until = cp.due.checked_add_signed(Duration::days(366))?;
    ladder::plan(cp, ladder, until)
        .into_iter()
        .find(|p| p.stage.kind == StageKind::Escalation)
        .map(|p| p.stage.key())
}
