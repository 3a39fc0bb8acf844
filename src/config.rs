//! Configuration: one TOML file, every key overridable from the environment
//! (`IOPD__SECTION__KEY`).
//!
//! Loading happens in two steps (parse, don't validate): each section is
//! deserialised into a raw struct of optional fields, then converted once into
//! typed values. Every problem in every section is collected, so
//! `iopd check-config` can list them all at once.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{NaiveDate, NaiveTime};
use chrono_tz::Tz;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::domain::{
    CheckinsPerYear, CommitteeKey, Email, MonthDay, Person, YearlyDocument, parse_date,
};
use crate::engine::{CommitteeCalendar, Policy};
use crate::engine::{Kind, Role};
use crate::guideline::{Guideline, Override, Topic, Voice};
use crate::ladder::{Ladder, Quiet, Recipients, StageKind};
use crate::schedule::LocalSchedule;

/// A secret (password, key) whose `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}
impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where the value came from: the file, or `environment`.
    pub origin: String,
    /// Dotted key, e.g. `mail.smtp.port`.
    pub key: String,
    pub message: String,
}

const MIN_STALE: Duration = Duration::from_secs(1);
const MAX_STALE: Duration = Duration::from_secs(30 * 86_400);

use crate::domain::cut;

/// Every key below `key` that holds a fractional number.
fn fractions(key: &str, v: &config::Value, out: &mut Vec<(String, f64)>) {
    match &v.kind {
        config::ValueKind::Float(f) => out.push((key.to_string(), *f)),
        config::ValueKind::Table(t) => {
            for (k, v) in t {
                fractions(&format!("{key}.{k}"), v, out);
            }
        }
        config::ValueKind::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                fractions(&format!("{key}[{i}]"), v, out);
            }
        }
        _ => {}
    }
}

fn in_range(l: &mut Loader, key: &str, n: u32, lo: u32, hi: u32) {
    if !(lo..=hi).contains(&n) {
        l.problem(key, format!("{n} must be between {lo} and {hi}"));
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            cut(&self.origin, 200),
            cut(&self.key, 100),
            cut(&self.message, 500)
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "the configuration has {n} problem{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- typed values

#[derive(Debug, Clone)]
pub struct Config {
    pub source: PathBuf,
    pub body: Body,
    pub database: Database,
    pub roles: Roles,
    pub committees: BTreeMap<CommitteeKey, Committee>,
    pub policy: PolicySettings,
    /// The guideline's words (the preset's, then `[guideline.KIND]`).
    pub guideline: Guideline,
    /// `[auth]`: the workspace's sessions.
    pub auth: Auth,
    /// `[reminders]`: the ladder of stages (RULES 11–14).
    pub reminders: Ladder,
    pub mail: Mail,
    pub schedule: Schedule,
    pub http: Http,
    pub health: Health,
    pub digest: Digest,
    pub web: Web,
}

#[derive(Debug, Clone)]
pub struct Body {
    pub name: String,
    pub time_zone: Tz,
}

#[derive(Debug, Clone)]
pub struct Database {
    /// May hold a password, so it is a secret; see `redacted_url`.
    pub url: Secret,
    pub password: Option<Secret>,
    pub max_connections: u32,
}

impl Database {
    pub fn is_postgres(&self) -> bool {
        self.url.expose().starts_with("postgres://")
            || self.url.expose().starts_with("postgresql://")
    }
    /// The URL with any password replaced, for messages.
    pub fn redacted_url(&self) -> String {
        redact_url(self.url.expose())
    }
}

/// Replaces the password of `scheme://user:password@host` with `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}{tail}")
            } else {
                url.to_string()
            }
        }
        None => url.to_string(),
    }
}

#[derive(Debug, Clone)]
pub struct Roles {
    pub iop_ansvarig: Person,
    pub advisory: Option<Person>,
    pub jurist: Person,
    pub admin_support: Person,
}

/// The most days before a meeting a committee may ask memos to be in.
pub const MAX_SUBMISSION_DAYS: u32 = 120;

#[derive(Debug, Clone)]
pub struct Committee {
    pub key: CommitteeKey,
    pub name: String,
    pub secretary: Email,
    pub meetings: Vec<NaiveDate>,
    pub submission_days: u32,
    pub policy: PolicyValues,
    /// When the meeting plan moved into the database (unix seconds); from
    /// then on `meetings` and `submission_days` come from there, not from
    /// this file (`store::apply_plans`).
    pub plan_stored_since: Option<i64>,
}

impl Committee {
    pub fn calendar(&self) -> CommitteeCalendar {
        CommitteeCalendar {
            key: self.key.clone(),
            meetings: self.meetings.clone(),
            submission_days: self.submission_days,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    RegionVarmland,
    Orebro,
}

impl Preset {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "region-varmland" => Some(Self::RegionVarmland),
            "orebro" => Some(Self::Orebro),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::RegionVarmland => "region-varmland",
            Self::Orebro => "orebro",
        }
    }
    pub fn voice(self) -> Voice {
        match self {
            Self::RegionVarmland => Voice::RegionVarmland,
            Self::Orebro => Voice::Orebro,
        }
    }
    /// The numbers each guideline implies.
    pub fn values(self) -> PolicyValues {
        match self {
            // Region Värmland: two check-ins a year, a yearly evaluation, a
            // follow-up to the committee every second year, six months' notice.
            Self::RegionVarmland => PolicyValues {
                checkins_per_year: Some(DEFAULT_CHECKINS),
                committee_followup_years: Some(2),
                notice_months: Some(6),
                wind_down_plan_days: Some(30),
                expiry_evaluation_months: Some(6),
                renegotiation_sign_days: Some(60),
                minutes_days: Some(14),
                annual_anchor: None,
                annual_evaluation: Some(true),
                yearly_documents: Some(Vec::new()),
            },
            // Örebro kommun: follow-up "minst en gång per år" by the styrgrupp
            // (the check-in, once a year, and no separate evaluation), the
            // partner's yearly documents, a deeper evaluation before an
            // agreement expires or is extended, no committee follow-up. The
            // guideline leaves notice to each agreement: 6 months is only the
            // default for partnerships whose `notice_months` column is empty.
            Self::Orebro => PolicyValues {
                checkins_per_year: Some(CheckinsPerYear::ONE),
                committee_followup_years: Some(0),
                notice_months: Some(6),
                wind_down_plan_days: Some(30),
                expiry_evaluation_months: Some(6),
                renegotiation_sign_days: Some(60),
                minutes_days: Some(14),
                annual_anchor: None,
                annual_evaluation: Some(false),
                yearly_documents: Some(YearlyDocument::ALL.to_vec()),
            },
        }
    }
}

const DEFAULT_CHECKINS: CheckinsPerYear = CheckinsPerYear::TWO;

/// Policy numbers, each optional so that layers can override one another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyValues {
    pub checkins_per_year: Option<CheckinsPerYear>,
    pub committee_followup_years: Option<u32>,
    pub notice_months: Option<u32>,
    pub wind_down_plan_days: Option<u32>,
    pub expiry_evaluation_months: Option<u32>,
    pub renegotiation_sign_days: Option<u32>,
    pub minutes_days: Option<u32>,
    pub annual_anchor: Option<MonthDay>,
    pub annual_evaluation: Option<bool>,
    pub yearly_documents: Option<Vec<YearlyDocument>>,
}

impl PolicyValues {
    /// `self` with every value set in `over` replaced.
    fn overlay(&self, over: &PolicyValues) -> PolicyValues {
        PolicyValues {
            checkins_per_year: over.checkins_per_year.or(self.checkins_per_year),
            committee_followup_years: over
                .committee_followup_years
                .or(self.committee_followup_years),
            notice_months: over.notice_months.or(self.notice_months),
            wind_down_plan_days: over.wind_down_plan_days.or(self.wind_down_plan_days),
            expiry_evaluation_months: over
                .expiry_evaluation_months
                .or(self.expiry_evaluation_months),
            renegotiation_sign_days: over
                .renegotiation_sign_days
                .or(self.renegotiation_sign_days),
            minutes_days: over.minutes_days.or(self.minutes_days),
            annual_anchor: over.annual_anchor.or(self.annual_anchor),
            annual_evaluation: over.annual_evaluation.or(self.annual_evaluation),
            yearly_documents: over
                .yearly_documents
                .clone()
                .or_else(|| self.yearly_documents.clone()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PolicySettings {
    pub preset: Preset,
    /// The `[policy]` keys as written (unset keys come from the preset).
    pub values: PolicyValues,
    /// Default: the date the database was created.
    pub tracking_start: Option<NaiveDate>,
}

impl Config {
    /// The policy for one committee: preset, then `[policy]`, then
    /// `[committees.KEY.policy]`. The partnership's own columns are applied by
    /// the engine.
    pub fn policy_for(&self, committee: &CommitteeKey, tracking_start: NaiveDate) -> Policy {
        let base = self.policy.preset.values().overlay(&self.policy.values);
        let v = match self.committees.get(committee) {
            Some(c) => base.overlay(&c.policy),
            None => base,
        };
        Policy {
            checkins_per_year: v.checkins_per_year.unwrap_or(DEFAULT_CHECKINS),
            committee_followup_years: v.committee_followup_years.unwrap_or(2),
            notice_months: v.notice_months.unwrap_or(6),
            wind_down_plan_days: v.wind_down_plan_days.unwrap_or(30),
            expiry_evaluation_months: v.expiry_evaluation_months.unwrap_or(6),
            renegotiation_sign_days: v.renegotiation_sign_days.unwrap_or(60),
            minutes_days: v.minutes_days.unwrap_or(14),
            annual_anchor: v.annual_anchor,
            annual_evaluation: v.annual_evaluation.unwrap_or(true),
            yearly_documents: v.yearly_documents.unwrap_or_default(),
            tracking_start: self.policy.tracking_start.unwrap_or(tracking_start),
        }
    }

    /// Each committee's meeting calendar and policy, as the engine takes them.
    pub fn committee_rules(
        &self,
        tracking_start: NaiveDate,
    ) -> std::collections::HashMap<CommitteeKey, (crate::engine::CommitteeCalendar, Policy)> {
        self.committees
            .iter()
            .map(|(k, c)| {
                (
                    k.clone(),
                    (c.calendar(), self.policy_for(k, tracking_start)),
                )
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    File,
    Smtp,
    /// Microsoft Graph `sendMail` over HTTPS (`[mail.graph]`).
    Graph,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// STARTTLS on a plain connection (usually port 587).
    Starttls,
    /// Implicit TLS (usually port 465).
    Tls,
    /// Plain text; only allowed to a loopback host.
    None,
}

#[derive(Debug, Clone)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub timeout: Duration,
    pub pool_size: u32,
    /// Root certificates trusted besides the system's (`mail.smtp.ca_file`).
    pub ca_file: Option<CaFile>,
    /// `auth = "oauth2"`: AUTH XOAUTH2 with a token from this grant instead of a password.
    pub oauth2: Option<OAuth2>,
}

/// Microsoft's v2 token endpoint; `{tenant}` is replaced. (The v1 endpoint issues tokens
/// that Exchange refuses with `535 5.7.3`.)
pub const MICROSOFT_TOKEN_URL: &str =
    "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token";
/// The scope of a token for SMTP AUTH to Exchange Online.
pub const OUTLOOK_SCOPE: &str = "https://outlook.office365.com/.default";
/// The scope of a token for Microsoft Graph.
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
pub const GRAPH_BASE_URL: &str = "https://graph.microsoft.com";

/// An OAuth2 client-credentials grant (RFC 6749, section 4.4): the application signs in as
/// itself with a client secret; there is no user and no refresh token.
#[derive(Debug, Clone)]
pub struct OAuth2 {
    /// `https://…`, with the tenant already put in.
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub scope: String,
    /// Root certificates trusted for the token endpoint (and Graph) besides the system's.
    pub ca_file: Option<CaFile>,
}

/// `[mail.graph]`: `POST {base_url}/v1.0/users/{sender}/sendMail` with the MIME message.
#[derive(Debug, Clone)]
pub struct Graph {
    pub oauth2: OAuth2,
    /// The mailbox that sends (default `mail.from`).
    pub sender: Email,
    /// `https://graph.microsoft.com`, without a trailing `/`.
    pub base_url: String,
    pub timeout: Duration,
    pub pool_size: u32,
}

/// The certificates of `mail.smtp.ca_file`: a server whose certificate comes from an
/// internal CA is trusted only through these.
#[derive(Clone)]
pub struct CaFile {
    pub path: PathBuf,
    /// DER, one per certificate in the file, in file order; never empty.
    pub certificates: Vec<Vec<u8>>,
}

impl fmt::Debug for CaFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaFile")
            .field("path", &self.path)
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct Mail {
    pub transport: Transport,
    pub from: Email,
    pub enabled: bool,
    pub redirect_all_to: Option<Email>,
    pub send_at: NaiveTime,
    pub max_retry_hours: u32,
    /// How long a process holds a mail it has claimed; after that another
    /// process (a replica, or this one restarted) may send it.
    pub claim_lease: Duration,
    pub smtp: Option<Smtp>,
    pub graph: Option<Graph>,
    pub file_dir: PathBuf,
    /// Whether checkpoints go into people's calendars as invites.
    pub calendar: CalendarMode,
}

/// `[mail] calendar`: "invites" (default) sends each person one calendar
/// entry per deadline; "none" sends none (the subscription feed stays).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarMode {
    Invites,
    None,
}

#[derive(Debug, Clone)]
pub struct Schedule {
    /// Six-field cron expressions (with seconds), local time.
    pub tick: LocalSchedule,
    pub digest: LocalSchedule,
}

#[derive(Debug, Clone)]
pub struct Http {
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Clone)]
pub struct Health {
    pub stale_after: Duration,
}

/// `[auth]`: the workspace's sign-in and sessions.
#[derive(Debug, Clone)]
pub struct Auth {
    /// A session ends after this long without a request.
    pub idle: Duration,
    /// And this long after sign-in, however busy.
    pub absolute: Duration,
    /// Sign-in with the body's OpenID Connect provider, when configured.
    pub oidc: Option<Oidc>,
}

/// `[auth]` `issuer` and the keys that go with it.
#[derive(Debug, Clone)]
pub struct Oidc {
    /// `https://…`, as the provider's discovery document names itself.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Where the provider sends the browser back: `…/arbetsyta/inloggad`.
    pub redirect_url: String,
    /// The ID token's claim that lists the person's groups.
    pub groups_claim: String,
    /// Group → role; a person in several gets the widest (coordinator, officer, reader).
    pub coordinator_groups: Vec<String>,
    pub officer_groups: Vec<String>,
    pub reader_groups: Vec<String>,
    /// Whether the `email` claim must come with `email_verified = true`
    /// (Microsoft Entra ID sends no `email_verified`; its `email` is the
    /// directory's own).
    pub require_email_verified: bool,
    /// Root certificates trusted for the provider besides the system's.
    pub ca_file: Option<CaFile>,
}

#[derive(Debug, Clone)]
pub struct Digest {
    /// Default: IOP-ansvarig.
    pub to: Option<Email>,
    pub copy_advisory: bool,
    pub officers: bool,
    pub heads_up_weeks: u32,
    pub silence_months: u32,
}

#[derive(Debug, Clone)]
pub struct Web {
    pub listen: Option<SocketAddr>,
    pub public_url: Option<String>,
    pub link_secret: Option<Secret>,
    pub previous_secret: Option<Secret>,
    pub link_days: u32,
    pub max_postpone_days: u32,
}

// ------------------------------------------------------------------ raw forms
//
// Unknown keys are collected with `serde_ignored` rather than refused by
// `deny_unknown_fields`, which would stop at the first one.

#[derive(Deserialize, Default)]
struct RawBody {
    name: Option<String>,
    time_zone: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawDatabase {
    url: Option<String>,
    password_file: Option<PathBuf>,
    max_connections: Option<u32>,
}

#[derive(Deserialize, Default)]
struct RawPerson {
    name: Option<String>,
    email: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawRoles {
    iop_ansvarig: Option<RawPerson>,
    advisory: Option<RawPerson>,
    jurist: Option<RawPerson>,
    admin_support: Option<RawPerson>,
}

#[derive(Deserialize, Default)]
struct RawPolicyValues {
    checkins_per_year: Option<u32>,
    committee_followup_years: Option<u32>,
    notice_months: Option<u32>,
    wind_down_plan_days: Option<u32>,
    expiry_evaluation_months: Option<u32>,
    renegotiation_sign_days: Option<u32>,
    minutes_days: Option<u32>,
    annual_anchor: Option<String>,
    annual_evaluation: Option<bool>,
    yearly_documents: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
struct RawPolicy {
    preset: Option<String>,
    tracking_start: Option<String>,
    #[serde(flatten)]
    values: RawPolicyValues,
}

#[derive(Deserialize, Default)]
struct RawCommittee {
    name: Option<String>,
    secretary_email: Option<String>,
    meetings: Option<Vec<String>>,
    submission_days: Option<u32>,
    policy: Option<RawPolicyValues>,
}

#[derive(Deserialize, Default)]
struct RawQuiet {
    from: Option<String>,
    to: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawReminders {
    planning_days: Option<u32>,
    planning_min_existence_days: Option<u32>,
    before_days: Option<u32>,
    overdue_days: Option<u32>,
    escalation_days: Option<u32>,
    committee_planning_days: Option<u32>,
    quiet: Option<Vec<RawQuiet>>,
    routing: Option<BTreeMap<String, RawRoute>>,
}

#[derive(Deserialize, Default)]
struct RawRoute {
    to: Option<Vec<String>>,
    cc: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
struct RawSmtp {
    host: Option<String>,
    port: Option<u16>,
    tls: Option<String>,
    username: Option<String>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    timeout_secs: Option<u64>,
    pool_size: Option<u32>,
    ca_file: Option<PathBuf>,
    auth: Option<String>,
    oauth2: Option<RawOAuth2>,
}

#[derive(Deserialize, Default)]
struct RawOAuth2 {
    tenant: Option<String>,
    client_id: Option<String>,
    client_secret_file: Option<PathBuf>,
    token_url: Option<String>,
    scope: Option<String>,
    ca_file: Option<PathBuf>,
}

// The grant's keys are repeated rather than flattened: `serde(flatten)` hides unknown
// keys from `serde_ignored`.
#[derive(Deserialize, Default)]
struct RawGraph {
    tenant: Option<String>,
    client_id: Option<String>,
    client_secret_file: Option<PathBuf>,
    token_url: Option<String>,
    scope: Option<String>,
    ca_file: Option<PathBuf>,
    sender: Option<String>,
    base_url: Option<String>,
    timeout_secs: Option<u64>,
    pool_size: Option<u32>,
}

#[derive(Deserialize, Default)]
struct RawMailFile {
    dir: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
struct RawMail {
    transport: Option<String>,
    from: Option<String>,
    enabled: Option<bool>,
    redirect_all_to: Option<String>,
    send_at: Option<String>,
    max_retry_hours: Option<u32>,
    claim_lease: Option<String>,
    smtp: Option<RawSmtp>,
    graph: Option<RawGraph>,
    file: Option<RawMailFile>,
    calendar: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawSchedule {
    tick: Option<String>,
    digest: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawHttp {
    listen: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawAuth {
    idle_minutes: Option<u32>,
    absolute_hours: Option<u32>,
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret_file: Option<PathBuf>,
    redirect_url: Option<String>,
    groups_claim: Option<String>,
    coordinator_groups: Option<Vec<String>>,
    officer_groups: Option<Vec<String>>,
    reader_groups: Option<Vec<String>>,
    require_email_verified: Option<bool>,
    ca_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
struct RawHealth {
    stale_after: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawDigest {
    to: Option<String>,
    copy_advisory: Option<bool>,
    officers: Option<bool>,
    heads_up_weeks: Option<u32>,
    silence_months: Option<u32>,
}

#[derive(Deserialize, Default)]
struct RawWeb {
    listen: Option<String>,
    public_url: Option<String>,
    link_secret_file: Option<PathBuf>,
    previous_secret_file: Option<PathBuf>,
    link_days: Option<u32>,
    max_postpone_days: Option<u32>,
}

#[derive(Deserialize, Default)]
struct RawGuidelineText {
    name: Option<String>,
    rule: Option<String>,
    evidence: Option<String>,
}

const SECTIONS: &[&str] = &[
    "body",
    "database",
    "roles",
    "committees",
    "policy",
    "guideline",
    "auth",
    "reminders",
    "mail",
    "schedule",
    "http",
    "health",
    "digest",
    "web",
];

// ------------------------------------------------------------------- loading

struct Loader {
    cfg: config::Config,
    file: String,
    problems: Vec<Problem>,
}

impl Loader {
    fn origin_of(&self, key: &str) -> String {
        match self.cfg.get::<config::Value>(key) {
            Ok(v) => match v.origin() {
                Some(o) if o == self.file || o.ends_with(&self.file) => self.file.clone(),
                Some(o) if Path::new(o).exists() => o.to_string(),
                Some(o) => format!("environment ({o})"),
                None => env_origin(key).unwrap_or_else(|| self.file.clone()),
            },
            Err(_) => self.file.clone(),
        }
    }

    fn problem(&mut self, key: &str, message: impl Into<String>) {
        let origin = self.origin_of(key);
        self.problems.push(Problem {
            origin,
            key: key.to_string(),
            message: message.into(),
        });
    }

    /// Deserialises `key` into `T`, collecting unknown keys and type errors.
    fn section<T: DeserializeOwned + Default>(&mut self, key: &str) -> T {
        let value = match self.cfg.get::<config::Value>(key) {
            Ok(v) => v,
            Err(config::ConfigError::NotFound(_)) => return T::default(),
            Err(e) => {
                self.problem(key, e.to_string());
                return T::default();
            }
        };
        let mut unknown = Vec::new();
        let mut record = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
        let de = serde_ignored::Deserializer::new(value, &mut record);
        let result: Result<T, _> = serde_path_to_error::deserialize(de);
        for path in unknown {
            let full = format!("{key}.{path}");
            self.problem(
                &full,
                "unknown key (check the spelling against config/iopd.example.toml)",
            );
        }
        match result {
            Ok(v) => v,
            Err(e) => {
                let path = e.path().to_string();
                let full = if path == "." || path.is_empty() {
                    key.to_string()
                } else {
                    format!("{key}.{path}")
                };
                let msg = e.into_inner().to_string();
                self.problem(&full, clean_serde_message(&msg));
                T::default()
            }
        }
    }
}

/// The environment variable that would set `key`, if one is set.
fn env_origin(key: &str) -> Option<String> {
    let var = format!("IOPD__{}", key.replace('.', "__").to_uppercase());
    std::env::var_os(&var).map(|_| format!("environment ({var})"))
}

fn clean_serde_message(msg: &str) -> String {
    // config's messages end with " for key `…`" only when it knows the key.
    msg.split(" for key `").next().unwrap_or(msg).to_string()
}

fn read_secret_file(l: &mut Loader, key: &str, path: &Path) -> Option<Secret> {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            // A trailing newline from `echo … > file` is not part of the secret.
            let s = s.trim_end_matches(['\n', '\r']).to_string();
            if s.is_empty() {
                l.problem(key, format!("the file {} is empty", path.display()));
                None
            } else {
                Some(Secret(s))
            }
        }
        Err(e) => {
            l.problem(key, format!("cannot read {}: {e}", path.display()));
            None
        }
    }
}

/// Reads PEM certificates; other PEM sections (a private key put there by mistake) are
/// skipped, but a file without any certificate is refused.
fn read_ca_file(l: &mut Loader, key: &str, path: &Path) -> Option<CaFile> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            l.problem(key, format!("cannot read {}: {e}", path.display()));
            return None;
        }
    };
    match CertificateDer::pem_slice_iter(&bytes).collect::<Result<Vec<_>, _>>() {
        Ok(certs) if !certs.is_empty() => Some(CaFile {
            path: path.to_path_buf(),
            certificates: certs.into_iter().map(|c| c.to_vec()).collect(),
        }),
        Ok(_) => {
            l.problem(
                key,
                format!(
                    "{} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")",
                    path.display()
                ),
            );
            None
        }
        Err(e) => {
            l.problem(
                key,
                format!("{} is not a valid PEM file: {e}", path.display()),
            );
            None
        }
    }
}

fn person(l: &mut Loader, key: &str, raw: Option<RawPerson>, required: bool) -> Option<Person> {
    let Some(raw) = raw else {
        if required {
            l.problem(key, "missing (a table with `name` and `email`)");
        }
        return None;
    };
    let name = match raw.name {
        Some(n) if !n.trim().is_empty() => Some(n.trim().to_string()),
        _ => {
            l.problem(&format!("{key}.name"), "missing");
            None
        }
    };
    let email = match raw.email {
        Some(e) => match Email::parse(&e) {
            Ok(e) => Some(e),
            Err(err) => {
                l.problem(&format!("{key}.email"), err.0);
                None
            }
        },
        None => {
            l.problem(&format!("{key}.email"), "missing");
            None
        }
    };
    Some(Person {
        name: name?,
        email: email?,
    })
}

fn policy_values(l: &mut Loader, key: &str, raw: RawPolicyValues) -> PolicyValues {
    let checkins_per_year = raw
        .checkins_per_year
        .and_then(|n| match CheckinsPerYear::new(n) {
            Ok(v) => Some(v),
            Err(e) => {
                l.problem(&format!("{key}.checkins_per_year"), e.0);
                None
            }
        });
    let annual_anchor = raw.annual_anchor.and_then(|s| match MonthDay::parse(&s) {
        Ok(v) => Some(v),
        Err(e) => {
            l.problem(&format!("{key}.annual_anchor"), e.0);
            None
        }
    });
    if let Some(n) = raw.notice_months
        && !(1..=60).contains(&n)
    {
        l.problem(
            &format!("{key}.notice_months"),
            format!("{n} is not between 1 and 60"),
        );
    }
    let yearly_documents = raw.yearly_documents.map(|list| {
        let mut docs = Vec::new();
        for (i, s) in list.iter().enumerate() {
            match YearlyDocument::parse(s) {
                Ok(d) if !docs.contains(&d) => docs.push(d),
                Ok(_) => l.problem(
                    &format!("{key}.yearly_documents[{i}]"),
                    format!("{s:?} is listed twice"),
                ),
                Err(e) => l.problem(&format!("{key}.yearly_documents[{i}]"), e.0),
            }
        }
        docs.sort();
        docs
    });
    PolicyValues {
        checkins_per_year,
        annual_evaluation: raw.annual_evaluation,
        yearly_documents,
        committee_followup_years: raw.committee_followup_years,
        notice_months: raw.notice_months,
        wind_down_plan_days: raw.wind_down_plan_days,
        expiry_evaluation_months: raw.expiry_evaluation_months,
        renegotiation_sign_days: raw.renegotiation_sign_days,
        minutes_days: raw.minutes_days,
        annual_anchor,
    }
}

fn optional_email(l: &mut Loader, key: &str, raw: Option<String>) -> Option<Email> {
    let raw = raw.filter(|s| !s.trim().is_empty())?;
    match Email::parse(&raw) {
        Ok(e) => Some(e),
        Err(e) => {
            l.problem(key, e.0);
            None
        }
    }
}

fn socket_addr(l: &mut Loader, key: &str, raw: Option<String>) -> Option<SocketAddr> {
    let raw = raw.filter(|s| !s.trim().is_empty())?;
    match raw.trim().parse() {
        Ok(a) => Some(a),
        Err(_) => {
            l.problem(
                key,
                format!("{raw:?} is not an address:port such as 127.0.0.1:9187"),
            );
            None
        }
    }
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn cron6(l: &mut Loader, key: &str, raw: Option<String>, default: &str) -> LocalSchedule {
    let s = raw.unwrap_or_else(|| default.to_string());
    s.parse().unwrap_or_else(|e: String| {
        l.problem(key, format!("{e}; for example \"{default}\""));
        default.parse().expect("the default schedule parses")
    })
}

impl Config {
    /// Reads the file at `path` and the `IOPD__…` environment.
    /// What only `check-config` looks at, because other commands may run as
    /// another user than the service: the mail directory can be written.
    pub fn check_runtime(&self, path: &Path) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.mail.transport == Transport::File {
            let dir = &self.mail.file_dir;
            let probe = dir.join(format!(".iopd-check-{}", std::process::id()));
            let written = std::fs::create_dir_all(dir)
                .and_then(|()| std::fs::write(&probe, b""))
                .and_then(|()| std::fs::remove_file(&probe));
            if let Err(e) = written {
                problems.push(Problem {
                    origin: path.display().to_string(),
                    key: "mail.file.dir".into(),
                    message: format!("{} cannot be written: {e}", dir.display()),
                });
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_with_env(path, true)
    }

    pub fn load_with_env(path: &Path, use_env: bool) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let fail = |message: String| ConfigError {
            problems: vec![Problem {
                origin: file.clone(),
                key: "-".into(),
                message,
            }],
        };
        if !path.exists() {
            return Err(fail("the file does not exist (give --config PATH or set IOPD_CONFIG; config/iopd.example.toml is a start)".to_string()));
        }
        let mut builder = config::Config::builder().add_source(
            config::File::from(path)
                .format(config::FileFormat::Toml)
                .required(true),
        );
        if use_env {
            // `__` between levels, so keys with `_` such as `send_at` stay reachable.
            builder = builder.add_source(
                config::Environment::with_prefix("IOPD")
                    .prefix_separator("__")
                    .separator("__"),
            );
        }
        let cfg = builder.build().map_err(|e| fail(e.to_string()))?;
        let mut l = Loader {
            cfg,
            file: file.clone(),
            problems: Vec::new(),
        };

        let root: config::Map<String, config::Value> = l
            .cfg
            .clone()
            .try_deserialize()
            .map_err(|e| fail(e.to_string()))?;
        // No key takes a fraction; the config crate would truncate 1.5 to 1.
        let mut floats = Vec::new();
        for (k, v) in &root {
            fractions(k, v, &mut floats);
        }
        for (k, f) in floats {
            l.problem(&k, format!("{f} is not a whole number"));
        }
        let mut unknown: Vec<String> = root
            .keys()
            .filter(|k| !SECTIONS.contains(&k.as_str()))
            .cloned()
            .collect();
        unknown.sort();
        for k in unknown {
            l.problem(
                &k,
                format!("unknown section (known sections: {})", SECTIONS.join(", ")),
            );
        }

        let raw_body: RawBody = l.section("body");
        let raw_db: RawDatabase = l.section("database");
        let raw_roles: RawRoles = l.section("roles");
        let raw_committees: BTreeMap<String, RawCommittee> = l.section("committees");
        let raw_policy: RawPolicy = l.section("policy");
        let raw_guideline: BTreeMap<String, RawGuidelineText> = l.section("guideline");
        let raw_reminders: RawReminders = l.section("reminders");
        let raw_mail: RawMail = l.section("mail");
        let raw_schedule: RawSchedule = l.section("schedule");
        let raw_http: RawHttp = l.section("http");
        let raw_health: RawHealth = l.section("health");
        let raw_auth: RawAuth = l.section("auth");
        let raw_digest: RawDigest = l.section("digest");
        let raw_web: RawWeb = l.section("web");

        // [body]
        let name = match raw_body.name {
            Some(n) if !n.trim().is_empty() => n.trim().to_string(),
            _ => {
                l.problem(
                    "body.name",
                    "missing (the public body's name, e.g. \"Region Värmland\")",
                );
                String::new()
            }
        };
        let tz_name = raw_body
            .time_zone
            .unwrap_or_else(|| "Europe/Stockholm".into());
        let time_zone = match tz_name.parse::<Tz>() {
            Ok(tz) => tz,
            Err(_) => {
                l.problem(
                    "body.time_zone",
                    format!("{tz_name:?} is not an IANA time zone such as \"Europe/Stockholm\""),
                );
                chrono_tz::Europe::Stockholm
            }
        };

        // [database]
        let url = raw_db.url.unwrap_or_else(|| "sqlite://iopd.db".into());
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            l.problem(
                "database.url",
                format!(
                    "{} must start with sqlite:// or postgres://",
                    redact_url(&url)
                ),
            );
        }
        let password = match &raw_db.password_file {
            Some(p) => read_secret_file(&mut l, "database.password_file", p),
            None => None,
        };
        if password.is_some() && url.starts_with("sqlite:") {
            l.problem(
                "database.password_file",
                "a SQLite database has no password; remove the key",
            );
        }
        let database = Database {
            url: Secret(url),
            password,
            max_connections: raw_db.max_connections.unwrap_or(5).max(1),
        };

        // [roles]
        let iop = person(&mut l, "roles.iop_ansvarig", raw_roles.iop_ansvarig, true);
        let advisory = person(&mut l, "roles.advisory", raw_roles.advisory, false);
        let jurist = person(&mut l, "roles.jurist", raw_roles.jurist, true);
        let admin = person(&mut l, "roles.admin_support", raw_roles.admin_support, true);

        // [committees.KEY]
        let mut committees = BTreeMap::new();
        if raw_committees.is_empty() {
            l.problem(
                "committees",
                "missing: configure at least one committee as [committees.KEY]",
            );
        }
        for (k, raw) in raw_committees {
            let base = format!("committees.{k}");
            let key = match CommitteeKey::parse(&k) {
                Ok(key) => Some(key),
                Err(e) => {
                    l.problem(&base, e.0);
                    None
                }
            };
            let cname = match raw.name {
                Some(n) if !n.trim().is_empty() => Some(n.trim().to_string()),
                _ => {
                    l.problem(
                        &format!("{base}.name"),
                        "missing (the committee's name, e.g. \"Kultur- och bildningsnämnden\")",
                    );
                    None
                }
            };
            let secretary = match raw.secretary_email {
                Some(e) => match Email::parse(&e) {
                    Ok(e) => Some(e),
                    Err(err) => {
                        l.problem(&format!("{base}.secretary_email"), err.0);
                        None
                    }
                },
                None => {
                    l.problem(&format!("{base}.secretary_email"), "missing");
                    None
                }
            };
            let submission_days = match raw.submission_days {
                Some(d) if d <= MAX_SUBMISSION_DAYS => Some(d),
                Some(d) => {
                    l.problem(
                        &format!("{base}.submission_days"),
                        format!("{d} days is more than {MAX_SUBMISSION_DAYS}"),
                    );
                    None
                }
                None => {
                    l.problem(
                        &format!("{base}.submission_days"),
                        "missing (days before a meeting by which memos must be submitted, e.g. 21)",
                    );
                    None
                }
            };
            let mut meetings = Vec::new();
            for (i, m) in raw.meetings.unwrap_or_default().iter().enumerate() {
                match parse_date(m) {
                    Ok(d) => meetings.push(d),
                    Err(e) => l.problem(&format!("{base}.meetings[{i}]"), e.0),
                }
            }
            meetings.sort();
            meetings.dedup();
            let policy = policy_values(
                &mut l,
                &format!("{base}.policy"),
                raw.policy.unwrap_or_default(),
            );
            if let (Some(key), Some(name), Some(secretary), Some(submission_days)) =
                (key, cname, secretary, submission_days)
            {
                committees.insert(
                    key.clone(),
                    Committee {
                        key,
                        name,
                        secretary,
                        meetings,
                        submission_days,
                        policy,
                        plan_stored_since: None,
                    },
                );
            }
        }

        // [policy]
        let preset = match raw_policy.preset.as_deref() {
            None => Preset::RegionVarmland,
            Some(s) => Preset::parse(s).unwrap_or_else(|| {
                l.problem(
                    "policy.preset",
                    format!("{s:?} is not a preset; use \"region-varmland\" or \"orebro\""),
                );
                Preset::RegionVarmland
            }),
        };
        let tracking_start = raw_policy
            .tracking_start
            .and_then(|s| match parse_date(&s) {
                Ok(d) => Some(d),
                Err(e) => {
                    l.problem("policy.tracking_start", e.0);
                    None
                }
            });
        let values = policy_values(&mut l, "policy", raw_policy.values);
        let policy = PolicySettings {
            preset,
            values,
            tracking_start,
        };

        // [guideline.KIND]: the body's own words
        let mut overrides = BTreeMap::new();
        for (k, raw) in raw_guideline {
            let Some(topic) = Topic::parse(&k) else {
                let known: Vec<&str> = Topic::all().map(Topic::key).collect();
                l.problem(
                    &format!("guideline.{k}"),
                    format!("not a checkpoint kind; use one of {}", known.join(", ")),
                );
                continue;
            };
            let mut text = |field: &str, v: Option<String>| {
                let v = v?;
                let v = v.split_whitespace().collect::<Vec<_>>().join(" ");
                if v.is_empty() {
                    l.problem(
                        &format!("guideline.{k}.{field}"),
                        "empty (leave the key out to keep the preset's words)",
                    );
                    None
                } else {
                    Some(v)
                }
            };
            let o = Override {
                name: text("name", raw.name),
                rule: text("rule", raw.rule),
                evidence: text("evidence", raw.evidence),
            };
            if o.evidence.is_some() && topic == Topic::Kind(Kind::AgreementEnd) {
                l.problem(
                    &format!("guideline.{k}.evidence"),
                    "the agreement's end is a fact and takes no evidence",
                );
            }
            overrides.insert(topic, o);
        }
        let guideline = Guideline::new(preset.voice(), &overrides);

        // [reminders]
        let mut quiet = Vec::new();
        for (i, q) in raw_reminders
            .quiet
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let key = format!("reminders.quiet[{i}]");
            let from = q.from.as_deref().map(MonthDay::parse);
            let to = q.to.as_deref().map(MonthDay::parse);
            match (from, to) {
                (Some(Ok(from)), Some(Ok(to))) => quiet.push(Quiet { from, to }),
                (Some(Err(e)), _) | (_, Some(Err(e))) => l.problem(&key, e.0),
                _ => l.problem(&key, "needs both `from` and `to` as MM-DD"),
            }
        }
        let mut routing = Vec::new();
        for (stage_name, route) in raw_reminders.routing.unwrap_or_default() {
            let key = format!("reminders.routing.{stage_name}");
            let Some(stage) = StageKind::ALL.into_iter().find(|s| s.name() == stage_name) else {
                let names: Vec<&str> = StageKind::ALL.iter().map(|s| s.name()).collect();
                l.problem(
                    &key,
                    format!("unknown stage; stages are {}", names.join(", ")),
                );
                continue;
            };
            let mut roles = |field: &str, list: Option<Vec<String>>| -> Vec<Role> {
                let mut out = Vec::new();
                for name in list.unwrap_or_default() {
                    match Role::parse(&name) {
                        Some(r) => out.push(r),
                        None => {
                            let names: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
                            l.problem(
                                &format!("{key}.{field}"),
                                format!("{name:?} is not a role; roles are {}", names.join(", ")),
                            );
                        }
                    }
                }
                out
            };
            let to = roles("to", route.to);
            let cc = roles("cc", route.cc);
            if to.is_empty() {
                l.problem(&format!("{key}.to"), "needs at least one role");
            }
            routing.push((stage, Recipients { to, cc }));
        }
        let d = Ladder::default();
        let reminders = Ladder {
            planning_days: raw_reminders.planning_days.unwrap_or(d.planning_days),
            planning_min_existence_days: raw_reminders
                .planning_min_existence_days
                .unwrap_or(d.planning_min_existence_days),
            before_days: raw_reminders.before_days.unwrap_or(d.before_days),
            overdue_days: raw_reminders.overdue_days.unwrap_or(d.overdue_days),
            escalation_days: raw_reminders.escalation_days.unwrap_or(d.escalation_days),
            committee_planning_days: raw_reminders
                .committee_planning_days
                .unwrap_or(d.committee_planning_days),
            routing,
            quiet,
        };

        // [mail]
        let transport = match raw_mail.transport.as_deref() {
            None | Some("file") => Transport::File,
            Some("smtp") => Transport::Smtp,
            Some("graph") => Transport::Graph,
            Some(s) => {
                l.problem(
                    "mail.transport",
                    format!("{s:?} is not a transport; use \"file\", \"smtp\" or \"graph\""),
                );
                Transport::File
            }
        };
        let from = match raw_mail.from {
            Some(s) => Email::parse(&s)
                .map_err(|e| l.problem("mail.from", e.0))
                .ok(),
            None => {
                l.problem(
                    "mail.from",
                    "missing (the address reminders are sent from, e.g. \"iopd@region.example\")",
                );
                None
            }
        };
        let redirect_all_to =
            optional_email(&mut l, "mail.redirect_all_to", raw_mail.redirect_all_to);
        let calendar = match raw_mail.calendar.as_deref() {
            None | Some("invites") => CalendarMode::Invites,
            Some("none") => CalendarMode::None,
            Some(s) => {
                l.problem(
                    "mail.calendar",
                    format!("{s:?} is not a calendar mode; use \"invites\" or \"none\""),
                );
                CalendarMode::Invites
            }
        };
        let send_at_raw = raw_mail.send_at.unwrap_or_else(|| "08:00".into());
        let send_at = NaiveTime::parse_from_str(&send_at_raw, "%H:%M").unwrap_or_else(|_| {
            l.problem(
                "mail.send_at",
                format!("{send_at_raw:?} is not a time written HH:MM"),
            );
            NaiveTime::from_hms_opt(8, 0, 0).unwrap_or_default()
        });
        let smtp = match (transport, raw_mail.smtp) {
            (Transport::Smtp, None) => {
                l.problem(
                    "mail.smtp",
                    "missing: mail.transport is \"smtp\" but there is no [mail.smtp] section",
                );
                None
            }
            (_, None) => None,
            (_, Some(raw)) => {
                let host = raw
                    .host
                    .filter(|h| !h.trim().is_empty())
                    .unwrap_or_else(|| {
                        l.problem("mail.smtp.host", "missing");
                        String::new()
                    });
                let tls = match raw.tls.as_deref() {
                    None | Some("starttls") => Tls::Starttls,
                    Some("tls") => Tls::Tls,
                    Some("none") => Tls::None,
                    Some(s) => {
                        l.problem(
                            "mail.smtp.tls",
                            format!("{s:?} is not one of \"starttls\", \"tls\", \"none\""),
                        );
                        Tls::Starttls
                    }
                };
                if tls == Tls::None && !host.is_empty() && !is_loopback_host(&host) {
                    l.problem(
                        "mail.smtp.tls",
                        format!("\"none\" is only allowed to a loopback host, not {host:?}"),
                    );
                }
                let mut password = raw.password.map(Secret);
                if let Some(p) = &raw.password_file {
                    if password.is_some() {
                        l.problem(
                            "mail.smtp.password_file",
                            "give either password or password_file, not both",
                        );
                    }
                    password = read_secret_file(&mut l, "mail.smtp.password_file", p);
                }
                let oauth2 = match (raw.auth.as_deref(), raw.oauth2) {
                    (None | Some("password"), None) => None,
                    (None | Some("password"), Some(_)) => {
                        l.problem(
                            "mail.smtp.oauth2",
                            "has no effect unless mail.smtp.auth = \"oauth2\"",
                        );
                        None
                    }
                    (Some("oauth2"), None) => {
                        l.problem(
                            "mail.smtp.oauth2",
                            "missing: mail.smtp.auth is \"oauth2\" but there is no [mail.smtp.oauth2] section",
                        );
                        None
                    }
                    (Some("oauth2"), Some(o)) => {
                        if password.is_some() || raw.password_file.is_some() {
                            l.problem(
                                "mail.smtp.auth",
                                "\"oauth2\" signs in with a token: remove password and password_file",
                            );
                        }
                        oauth2(&mut l, "mail.smtp.oauth2", o, OUTLOOK_SCOPE)
                    }
                    (Some(s), _) => {
                        l.problem(
                            "mail.smtp.auth",
                            format!("{s:?} is not one of \"password\", \"oauth2\""),
                        );
                        None
                    }
                };
                if tls == Tls::None && raw.auth.as_deref() == Some("oauth2") {
                    l.problem(
                        "mail.smtp.tls",
                        "a token is never sent unencrypted; use \"starttls\" or \"tls\"",
                    );
                } else if tls == Tls::None && (password.is_some() || raw.username.is_some()) {
                    l.problem(
                        "mail.smtp.tls",
                        "credentials are never sent unencrypted; use \"starttls\" or \"tls\"",
                    );
                }
                let ca_file = raw
                    .ca_file
                    .as_deref()
                    .and_then(|p| read_ca_file(&mut l, "mail.smtp.ca_file", p));
                if tls == Tls::None && raw.ca_file.is_some() {
                    l.problem(
                        "mail.smtp.ca_file",
                        "has no effect with tls = \"none\"; use \"starttls\" or \"tls\", or remove it",
                    );
                }
                let port = raw.port.unwrap_or(match tls {
                    Tls::Tls => 465,
                    Tls::Starttls => 587,
                    Tls::None => 25,
                });
                Some(Smtp {
                    host,
                    port,
                    tls,
                    username: raw.username,
                    password,
                    timeout: Duration::from_secs(raw.timeout_secs.unwrap_or(30).max(1)),
                    pool_size: raw.pool_size.unwrap_or(4).max(1),
                    ca_file,
                    oauth2,
                })
            }
        };
        let graph = match (transport, raw_mail.graph) {
            (Transport::Graph, None) => {
                l.problem(
                    "mail.graph",
                    "missing: mail.transport is \"graph\" but there is no [mail.graph] section",
                );
                None
            }
            (_, None) => None,
            (_, Some(raw)) => graph(&mut l, raw, from.as_ref()),
        };
        let lease_raw = raw_mail.claim_lease.clone().unwrap_or_else(|| "5m".into());
        let claim_lease = match humantime::parse_duration(&lease_raw) {
            Ok(d) if d >= Duration::from_secs(5) => d,
            _ => {
                l.problem(
                    "mail.claim_lease",
                    format!("{lease_raw:?} must be a duration of at least 5 s, such as \"5m\""),
                );
                Duration::from_secs(300)
            }
        };
        if let Some(smtp) = &smtp
            && claim_lease < smtp.timeout * 2
        {
            l.problem(
                "mail.claim_lease",
                format!(
                    "{lease_raw:?} is shorter than twice mail.smtp.timeout_secs ({} s): a slow send could be taken over and sent twice",
                    smtp.timeout.as_secs()
                ),
            );
        }
        if let Some(graph) = &graph
            && claim_lease < graph.timeout * 2
        {
            l.problem(
                "mail.claim_lease",
                format!(
                    "{lease_raw:?} is shorter than twice mail.graph.timeout_secs ({} s): a slow send could be taken over and sent twice",
                    graph.timeout.as_secs()
                ),
            );
        }
        let mail = from.map(|from| Mail {
            transport,
            from,
            enabled: raw_mail.enabled.unwrap_or(true),
            redirect_all_to,
            send_at,
            max_retry_hours: raw_mail.max_retry_hours.unwrap_or(72),
            claim_lease,
            smtp,
            graph,
            file_dir: raw_mail
                .file
                .and_then(|f| f.dir)
                .unwrap_or_else(|| PathBuf::from("mail-out")),
            calendar,
        });

        // [schedule], [http], [health]
        let schedule = Schedule {
            tick: cron6(&mut l, "schedule.tick", raw_schedule.tick, "0 */5 * * * *"),
            digest: cron6(
                &mut l,
                "schedule.digest",
                raw_schedule.digest,
                "0 0 7 * * Mon",
            ),
        };
        let http = Http {
            listen: socket_addr(&mut l, "http.listen", raw_http.listen),
        };
        let idle = raw_auth.idle_minutes.unwrap_or(30);
        if !(1..=24 * 60).contains(&idle) {
            l.problem(
                "auth.idle_minutes",
                format!("{idle} is not between 1 and 1440 minutes"),
            );
        }
        let absolute = raw_auth.absolute_hours.unwrap_or(10);
        if !(1..=24).contains(&absolute) {
            l.problem(
                "auth.absolute_hours",
                format!("{absolute} is not between 1 and 24 hours"),
            );
        }
        let oidc = match raw_auth.issuer.filter(|s| !s.trim().is_empty()) {
            None => {
                for (key, set) in [
                    ("client_id", raw_auth.client_id.is_some()),
                    ("client_secret_file", raw_auth.client_secret_file.is_some()),
                    ("redirect_url", raw_auth.redirect_url.is_some()),
                ] {
                    if set {
                        l.problem(
                            &format!("auth.{key}"),
                            "set, but auth.issuer is not: sign-in with a provider needs its issuer",
                        );
                    }
                }
                None
            }
            Some(issuer) => {
                let issuer = issuer.trim().trim_end_matches('/').to_string();
                if !https_url_ok(&issuer) {
                    l.problem(
                        "auth.issuer",
                        format!("{issuer:?} is not an https:// address"),
                    );
                }
                let client_id = raw_auth
                    .client_id
                    .filter(|s| !s.trim().is_empty())
                    .unwrap_or_else(|| {
                        l.problem(
                            "auth.client_id",
                            "missing: the application's id at the provider",
                        );
                        String::new()
                    });
                let client_secret = match &raw_auth.client_secret_file {
                    Some(p) => read_secret_file(&mut l, "auth.client_secret_file", p),
                    None => {
                        l.problem(
                            "auth.client_secret_file",
                            "missing: a file holding the application's client secret",
                        );
                        None
                    }
                };
                let redirect_url = raw_auth.redirect_url.unwrap_or_default();
                if !redirect_url.ends_with("/arbetsyta/inloggad") || !web_url_ok(&redirect_url) {
                    l.problem(
                        "auth.redirect_url",
                        format!(
                            "{redirect_url:?} is not the workspace's return address,                              e.g. \"https://iop.example.org/arbetsyta/inloggad\""
                        ),
                    );
                }
                let groups = |list: Option<Vec<String>>| -> Vec<String> {
                    list.unwrap_or_default()
                        .into_iter()
                        .map(|g| g.trim().to_string())
                        .filter(|g| !g.is_empty())
                        .collect()
                };
                let coordinator_groups = groups(raw_auth.coordinator_groups);
                let officer_groups = groups(raw_auth.officer_groups);
                let reader_groups = groups(raw_auth.reader_groups);
                if coordinator_groups.is_empty() {
                    l.problem(
                        "auth.coordinator_groups",
                        "empty: name at least the group whose members are IOP-ansvarig",
                    );
                }
                let ca_file = raw_auth
                    .ca_file
                    .as_deref()
                    .and_then(|p| read_ca_file(&mut l, "auth.ca_file", p));
                client_secret.map(|client_secret| Oidc {
                    issuer,
                    client_id,
                    client_secret,
                    redirect_url,
                    groups_claim: raw_auth
                        .groups_claim
                        .filter(|s| !s.trim().is_empty())
                        .unwrap_or_else(|| "groups".into()),
                    coordinator_groups,
                    officer_groups,
                    reader_groups,
                    require_email_verified: raw_auth.require_email_verified.unwrap_or(true),
                    ca_file,
                })
            }
        };
        let auth = Auth {
            idle: Duration::from_secs(u64::from(idle) * 60),
            absolute: Duration::from_secs(u64::from(absolute) * 3600),
            oidc,
        };
        let stale_raw = raw_health.stale_after.unwrap_or_else(|| "2h".into());
        let stale_after = humantime::parse_duration(&stale_raw).unwrap_or_else(|_| {
            l.problem(
                "health.stale_after",
                format!("{stale_raw:?} is not a duration such as \"2h\" or \"90m\""),
            );
            Duration::from_secs(7200)
        });
        if !(MIN_STALE..=MAX_STALE).contains(&stale_after) {
            l.problem(
                "health.stale_after",
                format!("{stale_raw:?} must be between 1s and 30d"),
            );
        }
        let health = Health { stale_after };

        // [digest]
        let digest = Digest {
            to: optional_email(&mut l, "digest.to", raw_digest.to),
            copy_advisory: raw_digest.copy_advisory.unwrap_or(true),
            officers: raw_digest.officers.unwrap_or(false),
            heads_up_weeks: raw_digest.heads_up_weeks.unwrap_or(6),
            silence_months: raw_digest.silence_months.unwrap_or(24),
        };

        // [web]
        let web_listen = socket_addr(&mut l, "web.listen", raw_web.listen);
        let link_secret = match &raw_web.link_secret_file {
            Some(p) => read_secret_file(&mut l, "web.link_secret_file", p),
            None => None,
        };
        let previous_secret = match &raw_web.previous_secret_file {
            Some(p) => read_secret_file(&mut l, "web.previous_secret_file", p),
            None => None,
        };
        let public_url = raw_web.public_url.filter(|s| !s.trim().is_empty());
        // Links go into mails as soon as public_url is set, so a secret is
        // needed then too, not only when this process serves the pages.
        if (web_listen.is_some() || public_url.is_some())
            && link_secret.is_none()
            && raw_web.link_secret_file.is_none()
        {
            l.problem(
                "web.link_secret_file",
                "missing: links in mails must be signed (a file with at least 32 random bytes)",
            );
        }
        if let Some(s) = &link_secret
            && s.expose().len() < 32
        {
            l.problem(
                "web.link_secret_file",
                "the secret is shorter than 32 bytes",
            );
        }
        match &public_url {
            None if web_listen.is_some() => {
                l.problem("web.public_url", "missing: the base of the links in mails")
            }
            Some(u) if !web_url_ok(u) => l.problem(
                "web.public_url",
                format!("{u:?} must start with https:// (http:// only for localhost)"),
            ),
            _ => {}
        }
        if let Some(s) = &previous_secret
            && s.expose().len() < 32
        {
            l.problem(
                "web.previous_secret_file",
                "the secret is shorter than 32 bytes",
            );
        }
        let link_days = raw_web.link_days.unwrap_or(60);
        in_range(&mut l, "web.link_days", link_days, 1, 3650);
        let max_postpone_days = raw_web.max_postpone_days.unwrap_or(14);
        in_range(&mut l, "web.max_postpone_days", max_postpone_days, 0, 365);
        if let Some(n) = raw_db.max_connections {
            in_range(&mut l, "database.max_connections", n, 1, 1000);
        }
        let web = Web {
            listen: web_listen,
            public_url,
            link_secret,
            previous_secret,
            link_days,
            max_postpone_days,
        };

        if !l.problems.is_empty() {
            return Err(ConfigError {
                problems: l.problems,
            });
        }
        let (Some(iop_ansvarig), Some(jurist), Some(admin_support), Some(mail)) =
            (iop, jurist, admin, mail)
        else {
            return Err(fail("incomplete configuration".into()));
        };
        Ok(Config {
            source: path.to_path_buf(),
            body: Body { name, time_zone },
            database,
            roles: Roles {
                iop_ansvarig,
                advisory,
                jurist,
                admin_support,
            },
            committees,
            policy,
            guideline,
            auth,
            reminders,
            mail,
            schedule,
            http,
            health,
            digest,
            web,
        })
    }

    /// A few lines for `iopd check-config`; never shows a secret.
    pub fn summary(&self) -> String {
        let meetings: usize = self.committees.values().map(|c| c.meetings.len()).sum();
        let mut s = format!(
            "{}: configuration is valid\n  body: {} ({})\n  database: {}\n  policy: preset {}\n  committees: {} ({} meeting dates)\n",
            self.source.display(),
            self.body.name,
            self.body.time_zone,
            self.database.redacted_url(),
            self.policy.preset.name(),
            self.committees.len(),
            meetings,
        );
        for c in self.committees.values() {
            let last = c
                .meetings
                .last()
                .map_or("none".to_string(), |d| d.to_string());
            s.push_str(&format!(
                "    {} \"{}\": {} meetings, last {last}, submission {} days before\n",
                c.key,
                c.name,
                c.meetings.len(),
                c.submission_days
            ));
        }
        let transport = match self.mail.transport {
            Transport::File => format!("file ({})", self.mail.file_dir.display()),
            Transport::Smtp => self
                .mail
                .smtp
                .as_ref()
                .map_or("smtp".into(), |m| match &m.oauth2 {
                    Some(o) => format!(
                        "smtp {}:{} with OAuth2 (XOAUTH2 as {}, token from {})",
                        m.host,
                        m.port,
                        m.username.as_deref().unwrap_or(self.mail.from.as_str()),
                        o.token_url
                    ),
                    None => format!("smtp {}:{}", m.host, m.port),
                }),
            Transport::Graph => self.mail.graph.as_ref().map_or("graph".into(), |g| {
                format!(
                    "Microsoft Graph {} as {} (token from {})",
                    g.base_url, g.sender, g.oauth2.token_url
                )
            }),
        };
        s.push_str(&format!(
            "  mail: {transport}, from {}, {}\n",
            self.mail.from,
            if self.mail.enabled {
                "enabled"
            } else {
                "DISABLED (mail.enabled = false)"
            }
        ));
        s
    }
}

/// `[mail.smtp.oauth2]` or the grant's keys of `[mail.graph]` under `key`.
fn oauth2(l: &mut Loader, key: &str, raw: RawOAuth2, default_scope: &str) -> Option<OAuth2> {
    let client_id = raw.client_id.filter(|s| !s.trim().is_empty());
    if client_id.is_none() {
        l.problem(
            &format!("{key}.client_id"),
            "missing: the application (client) ID of the app registration",
        );
    }
    let client_secret = match &raw.client_secret_file {
        Some(p) => read_secret_file(l, &format!("{key}.client_secret_file"), p),
        None => {
            l.problem(
                &format!("{key}.client_secret_file"),
                "missing: a file holding the client secret (e.g. a systemd credential)",
            );
            None
        }
    };
    let tenant = raw.tenant.filter(|s| !s.trim().is_empty());
    // The tenant becomes part of a URL path: a GUID or a domain name, nothing else.
    if let Some(t) = &tenant
        && !t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        l.problem(
            &format!("{key}.tenant"),
            format!(
                "{t:?} is not a tenant: give the directory (tenant) ID or a domain such as \"region.onmicrosoft.com\""
            ),
        );
    }
    let template = raw
        .token_url
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| MICROSOFT_TOKEN_URL.to_string());
    let token_url = match (&tenant, template.contains("{tenant}")) {
        (Some(t), _) => Some(template.replace("{tenant}", t)),
        (None, false) => Some(template),
        (None, true) => {
            l.problem(
                &format!("{key}.tenant"),
                "missing: the directory (tenant) ID or a domain such as \"region.onmicrosoft.com\" (or give token_url)",
            );
            None
        }
    };
    if let Some(u) = &token_url
        && !https_url_ok(u)
    {
        l.problem(
            &format!("{key}.token_url"),
            format!("{u:?} must be an https:// URL (the client secret is sent to it)"),
        );
    }
    let scope = raw.scope.unwrap_or_else(|| default_scope.to_string());
    if scope.trim().is_empty() {
        l.problem(&format!("{key}.scope"), "is empty");
    }
    let ca_file = raw
        .ca_file
        .as_deref()
        .and_then(|p| read_ca_file(l, &format!("{key}.ca_file"), p));
    Some(OAuth2 {
        token_url: token_url?,
        client_id: client_id?,
        client_secret: client_secret?,
        scope,
        ca_file,
    })
}

fn graph(l: &mut Loader, raw: RawGraph, from: Option<&Email>) -> Option<Graph> {
    let grant = RawOAuth2 {
        tenant: raw.tenant,
        client_id: raw.client_id,
        client_secret_file: raw.client_secret_file,
        token_url: raw.token_url,
        scope: raw.scope,
        ca_file: raw.ca_file,
    };
    let oauth2 = oauth2(l, "mail.graph", grant, GRAPH_SCOPE);
    let sender = match raw.sender {
        Some(s) => Email::parse(&s)
            .map_err(|e| l.problem("mail.graph.sender", e.0))
            .ok(),
        None => from.cloned(),
    };
    let base_url = raw
        .base_url
        .unwrap_or_else(|| GRAPH_BASE_URL.to_string())
        .trim_end_matches('/')
        .to_string();
    if !https_url_ok(&base_url) {
        l.problem(
            "mail.graph.base_url",
            format!("{base_url:?} must be an https:// URL (tokens are sent to it)"),
        );
    }
    let pool_size = raw.pool_size.unwrap_or(4);
    in_range(l, "mail.graph.pool_size", pool_size, 1, 64);
    Some(Graph {
        oauth2: oauth2?,
        sender: sender?,
        base_url,
        timeout: Duration::from_secs(raw.timeout_secs.unwrap_or(30).max(1)),
        pool_size,
    })
}

/// An absolute `https://` URL with a host: secrets and tokens never go over plain HTTP.
fn https_url_ok(u: &str) -> bool {
    reqwest::Url::parse(u).is_ok_and(|url| url.scheme() == "https" && url.host().is_some())
}

fn web_url_ok(u: &str) -> bool {
    if u.starts_with("https://") {
        return true;
    }
    let Some(rest) = u.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', ':']).next().unwrap_or("");
    is_loopback_host(host) || rest.starts_with("[::1]")
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../config/iopd.example.toml");

    /// The example configuration with a `[mail.smtp]` section made of `smtp_lines`.
    fn load_with_smtp(dir: &Path, smtp_lines: &str) -> Result<Config, ConfigError> {
        let commented = "# [mail.smtp]\n# host = \"smtp.example.org\"";
        assert!(
            EXAMPLE.contains(commented),
            "the example has a [mail.smtp] stub"
        );
        let text = EXAMPLE.replace(commented, &format!("[mail.smtp]\n{smtp_lines}"));
        let path = dir.join("iopd.toml");
        std::fs::write(&path, text).expect("write the config");
        Config::load_with_env(&path, false)
    }

    fn toml_path(p: &Path) -> String {
        p.display().to_string().replace('\\', "\\\\")
    }

    /// `check-config` refuses nonsense and names the key: fractional counts,
    /// zero or absurd durations and days, a mail directory that cannot be
    /// written; a long value is cut.
    #[test]
    fn nonsense_is_refused_with_its_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        let long = "x".repeat(100_000);
        let text = EXAMPLE
            .replace("max_connections = 5", "max_connections = 1.5")
            .replace("planning_days = 28", "planning_days = 2.5")
            .replace("stale_after = \"2h\"", "stale_after = \"99999999999h\"")
            .replace("link_days = 60", "link_days = 0")
            .replace(
                "name = \"Region Värmland\"",
                &format!("name = \"Region Värmland\"\n{long} = 1"),
            );
        let path = dir.path().join("iopd.toml");
        std::fs::write(&path, text).expect("write the config");
        let err = Config::load_with_env(&path, false).expect_err("refused");
        let text = err.to_string();
        for want in [
            "database.max_connections: 1.5 is not a whole number",
            "reminders.planning_days: 2.5 is not a whole number",
            "health.stale_after: \"99999999999h\" must be between 1s and 30d",
            "web.link_days: 0 must be between 1 and 3650",
        ] {
            assert!(text.contains(want), "{want}\n{text}");
        }
        assert!(
            text.len() < 2_000,
            "long values are cut: {} bytes",
            text.len()
        );
        assert!(text.contains('…'), "{text}");

        // A mail directory under a file cannot be written.
        let blocker = dir.path().join("a-file");
        std::fs::write(&blocker, "").unwrap();
        let text = EXAMPLE.replace(
            "dir = \"mail-out\"",
            &format!("dir = \"{}/mail\"", toml_path(&blocker)),
        );
        std::fs::write(&path, text).expect("write the config");
        let cfg = Config::load_with_env(&path, false).expect("loads");
        let err = cfg.check_runtime(&path).expect_err("refused");
        assert!(err.to_string().contains("mail.file.dir"), "{err}");
    }

    #[test]
    fn smtp_ca_file_holds_every_certificate_of_the_pem_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = rcgen::generate_simple_self_signed(vec!["ca.internal".into()]).expect("cert");
        let second = rcgen::generate_simple_self_signed(vec!["ca2.internal".into()]).expect("cert");
        // A key in the same file (a common slip) is skipped, not taken as a certificate.
        let pem = format!(
            "{}{}{}",
            root.cert.pem(),
            root.signing_key.serialize_pem(),
            second.cert.pem()
        );
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, pem).expect("write");

        let cfg = load_with_smtp(
            dir.path(),
            &format!(
                "host = \"smtp.example.org\"\nca_file = \"{}\"",
                toml_path(&ca)
            ),
        )
        .expect("valid");
        let smtp = cfg.mail.smtp.expect("smtp section");
        let ca_file = smtp.ca_file.expect("ca_file read");
        assert_eq!(ca_file.path, ca);
        assert_eq!(
            ca_file.certificates,
            [root.cert.der().to_vec(), second.cert.der().to_vec()]
        );
    }

    #[test]
    fn smtp_oauth2_takes_microsofts_defaults() {
        let dir = tempfile::tempdir().expect("temp dir");
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "värdet~hemligt\n").expect("write");
        let cfg = load_with_smtp(
            dir.path(),
            &format!(
                "host = \"smtp.office365.com\"\nauth = \"oauth2\"\n[mail.smtp.oauth2]\ntenant = \"kommun.onmicrosoft.com\"\nclient_id = \"app-1\"\nclient_secret_file = \"{}\"",
                toml_path(&secret)
            ),
        )
        .expect("valid");
        let grant = cfg.mail.smtp.expect("smtp").oauth2.expect("oauth2");
        assert_eq!(
            grant.token_url,
            "https://login.microsoftonline.com/kommun.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(grant.scope, "https://outlook.office365.com/.default");
        assert_eq!(grant.client_id, "app-1");
        // The file's trailing newline is not part of the secret, and Debug hides it.
        assert_eq!(grant.client_secret.expose(), "värdet~hemligt");
        assert!(!format!("{grant:?}").contains("hemligt"));
    }

    #[test]
    fn smtp_oauth2_problems_are_named_with_their_keys() {
        let dir = tempfile::tempdir().expect("temp dir");
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s").expect("write");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").expect("write");
        let grant = |extra: &str| {
            format!(
                "[mail.smtp.oauth2]\ntenant = \"t\"\nclient_id = \"c\"\nclient_secret_file = \"{}\"\n{extra}",
                toml_path(&secret)
            )
        };
        // (lines of [mail.smtp] and below, key, start of the message)
        let rows = [
            (
                "host = \"h\"\nauth = \"oauth2\"".to_string(),
                "mail.smtp.oauth2",
                "missing",
            ),
            (
                format!("host = \"h\"\n{}", grant("")),
                "mail.smtp.oauth2",
                "has no effect unless",
            ),
            (
                "host = \"h\"\nauth = \"kerberos\"".to_string(),
                "mail.smtp.auth",
                "\"kerberos\" is not one of",
            ),
            (
                format!(
                    "host = \"h\"\nauth = \"oauth2\"\npassword = \"p\"\n{}",
                    grant("")
                ),
                "mail.smtp.auth",
                "\"oauth2\" signs in with a token",
            ),
            (
                format!(
                    "host = \"127.0.0.1\"\ntls = \"none\"\nauth = \"oauth2\"\n{}",
                    grant("")
                ),
                "mail.smtp.tls",
                "a token is never sent unencrypted",
            ),
            (
                format!(
                    "host = \"h\"\nauth = \"oauth2\"\n{}",
                    grant("token_url = \"http://login.example.org/token\"")
                ),
                "mail.smtp.oauth2.token_url",
                "\"http://login.example.org/token\" must be an https:// URL",
            ),
            (
                "host = \"h\"\nauth = \"oauth2\"\n[mail.smtp.oauth2]\ntenant = \"t\"\nclient_id = \"c\""
                    .to_string(),
                "mail.smtp.oauth2.client_secret_file",
                "missing",
            ),
            (
                format!(
                    "host = \"h\"\nauth = \"oauth2\"\n[mail.smtp.oauth2]\ntenant = \"t\"\nclient_id = \"c\"\nclient_secret_file = \"{}\"",
                    toml_path(&empty)
                ),
                "mail.smtp.oauth2.client_secret_file",
                "the file",
            ),
            (
                format!(
                    "host = \"h\"\nauth = \"oauth2\"\n[mail.smtp.oauth2]\nclient_id = \"c\"\nclient_secret_file = \"{}\"",
                    toml_path(&secret)
                ),
                "mail.smtp.oauth2.tenant",
                "missing",
            ),
            (
                format!(
                    "host = \"h\"\nauth = \"oauth2\"\n[mail.smtp.oauth2]\ntenant = \"t\"\nclient_secret_file = \"{}\"",
                    toml_path(&secret)
                ),
                "mail.smtp.oauth2.client_id",
                "missing",
            ),
        ];
        let config_file = dir.path().join("iopd.toml").display().to_string();
        for (lines, key, expected) in rows {
            let err = load_with_smtp(dir.path(), &lines).expect_err("refused");
            let found: Vec<String> = err.problems.iter().map(ToString::to_string).collect();
            let prefix = format!("{config_file}: {key}: {expected}");
            assert!(
                found.iter().any(|l| l.starts_with(&prefix)),
                "{lines}\nwant {prefix}\ngot {found:#?}"
            );
            assert_eq!(found.len(), 1, "{lines}\n{found:#?}");
        }
    }

    #[test]
    fn smtp_ca_file_without_one_is_none() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = load_with_smtp(dir.path(), "host = \"smtp.example.org\"").expect("valid");
        assert!(cfg.mail.smtp.expect("smtp section").ca_file.is_none());
    }

    #[test]
    fn smtp_ca_file_problems_are_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key_only = dir.path().join("key.pem");
        let key = rcgen::KeyPair::generate().expect("key");
        std::fs::write(&key_only, key.serialize_pem()).expect("write");
        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\n!!! not base64 !!!\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let missing = dir.path().join("missing.pem");
        let good = dir.path().join("good.pem");
        let cert = rcgen::generate_simple_self_signed(vec!["ca.internal".into()]).expect("cert");
        std::fs::write(&good, cert.cert.pem()).expect("write");

        // (tls, ca_file, start of the message)
        let rows = [
            ("starttls", &missing, "cannot read "),
            ("starttls", &key_only, "holds no PEM certificate"),
            ("tls", &broken, "is not a valid PEM file"),
            ("none", &good, "has no effect with tls = \"none\""),
        ];
        for (tls, ca, expected) in rows {
            let err = load_with_smtp(
                dir.path(),
                &format!(
                    "host = \"127.0.0.1\"\ntls = \"{tls}\"\nca_file = \"{}\"",
                    toml_path(ca)
                ),
            )
            .expect_err("refused");
            let config_file = dir.path().join("iopd.toml").display().to_string();
            let lines: Vec<String> = err.problems.iter().map(ToString::to_string).collect();
            let prefix = format!("{config_file}: mail.smtp.ca_file: ");
            assert!(
                lines
                    .iter()
                    .any(|l| l.starts_with(&prefix) && l.contains(expected)),
                "{tls} {}: {lines:?}",
                ca.display()
            );
            assert_eq!(lines.len(), 1, "{lines:?}");
        }
    }
}

#[cfg(test)]
mod orebro_tests {
    use super::*;

    const OREBRO: &str = include_str!("../config/orebro.example.toml");

    fn load(dir: &Path, text: &str) -> Result<Config, ConfigError> {
        let path = dir.join("iopd.toml");
        std::fs::write(&path, text).expect("write the config");
        Config::load_with_env(&path, false)
    }

    #[test]
    fn the_orebro_example_says_orebro_rules() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = load(dir.path(), OREBRO).expect("the Örebro example is valid");
        assert_eq!(cfg.policy.preset, Preset::Orebro);
        let ks = CommitteeKey::parse("ks").expect("key");
        let p = cfg.policy_for(&ks, NaiveDate::from_ymd_opt(2027, 1, 1).expect("date"));
        assert_eq!(p.checkins_per_year.get(), 1);
        assert_eq!(p.committee_followup_years, 0);
        assert!(!p.annual_evaluation);
        assert_eq!(p.yearly_documents, YearlyDocument::ALL.to_vec());
        let advisory = cfg.roles.advisory.as_ref().expect("the advisory mailbox");
        assert_eq!(advisory.email.as_str(), "iop@orebro.se");
        assert_eq!(
            cfg.guideline.label(Kind::Checkin),
            "Uppföljning i styrgruppen"
        );
        assert!(cfg.digest.copy_advisory);
    }

    #[test]
    fn a_body_words_its_own_guideline_and_numbers_stay_overridable() {
        let dir = tempfile::tempdir().expect("temp dir");
        let text = OREBRO
            .replace(
                "# checkins_per_year = 1",
                "checkins_per_year = 2\nyearly_documents = [\"medlemsantal\", \"revisionsberattelse\"]",
            )
            .replace(
                "# [guideline.checkin]\n# name = \"Uppföljning i styrgruppen\"",
                "[guideline.checkin]\nname = \"Styrgruppsmöte\"",
            );
        let cfg = load(dir.path(), &text).expect("valid");
        let p = cfg.policy_for(
            &CommitteeKey::parse("sn").expect("key"),
            NaiveDate::from_ymd_opt(2027, 1, 1).expect("date"),
        );
        assert_eq!(p.checkins_per_year.get(), 2);
        // In the guideline's order, whatever order they were written in.
        assert_eq!(
            p.yearly_documents,
            vec![
                YearlyDocument::Revisionsberattelse,
                YearlyDocument::Medlemsantal
            ]
        );
        let words = cfg.guideline.text(Kind::Checkin, None);
        assert_eq!(words.name, "Styrgruppsmöte");
        assert!(
            words.rule.contains("minst en gång per år"),
            "{}",
            words.rule
        );
    }

    #[test]
    fn wrong_guideline_keys_and_documents_are_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let text = OREBRO.replace(
            "# checkins_per_year = 1",
            "yearly_documents = [\"bokslut\", \"medlemsantal\", \"medlemsantal\"]\n\n\
             [guideline.avstamning]\nname = \"x\"\n\n[guideline.agreement_end]\nevidence = \"y\"\n\n\
             [guideline.checkin]\nrule = \"  \"\nfarg = \"röd\"",
        );
        let err = load(dir.path(), &text).expect_err("refused").to_string();
        for want in [
            "policy.yearly_documents[0]: \"bokslut\" är ingen av de årliga handlingarna",
            "policy.yearly_documents[2]: \"medlemsantal\" is listed twice",
            "guideline.avstamning: not a checkpoint kind",
            "guideline.agreement_end.evidence: the agreement's end is a fact",
            "guideline.checkin.rule: empty",
            "guideline.checkin.farg: unknown key",
        ] {
            assert!(err.contains(want), "{want:?} not in:\n{err}");
        }
    }
}
