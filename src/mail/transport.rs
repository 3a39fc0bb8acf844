//! Where a finished message goes: an SMTP server, Microsoft Graph (`graph.rs`), a directory
//! of `.eml` files, or nowhere (`mail.enabled = false`, the kill switch).
//!
//! SMTP signs in with a password or, with `auth = "oauth2"`, with AUTH XOAUTH2 and a token
//! from `oauth2.rs`; a token refused with 535 that came from the cache is forgotten and the
//! connection made again with a new one, once.
//!
//! Every failure is classified once, here, as [`FailureKind::Transient`] (try again later:
//! 4xx replies, refused or dropped connections, TLS and IO errors, timeouts) or
//! [`FailureKind::Permanent`] (5xx replies: retrying the same mail cannot help). The outbox
//! decides what to do with each.
//!
//! SMTP connections are opened and pooled here rather than by lettre's `AsyncSmtpTransport`,
//! for three lettre traps (see `CRATES.md`):
//! - lettre 0.11.23 sets no `TCP_NODELAY` and writes a mail's body and its final `.` in two
//!   writes, so every mail waits for the server's delayed ACK (see [`SmtpSender::connect`]).
//! - lettre's own timeout covers only the TCP connect (lettre #1027), so every send is
//!   wrapped in [`tokio::time::timeout`].
//! - When that timeout abandons a send halfway, lettre's pool takes the connection back as if
//!   nothing happened, with the server's late answers still on the way; the next mail would
//!   read them as answers to its own commands. Here the connection belongs to the send, so
//!   an abandoned send drops it.
//!
//! A [`Session`] is one worker's way out: for SMTP one of `pool_size` connection slots,
//! with the connection kept open across the mails sent through it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lettre::Message;
use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS, Mechanism};
#[allow(deprecated)]
use lettre::transport::smtp::client::AsyncNetworkStream;
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::config::{Mail, Secret, Smtp, Tls, Transport};
use crate::domain::Email;

use super::graph::GraphSender;
use super::hints;
use super::oauth2::{TokenError, TokenSource};

/// Whether a failed mail is worth sending again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Try again later: the server or the network may recover (4xx, connection errors,
    /// timeouts, a full disk).
    Transient,
    /// The server refused this mail for good (5xx); sending it again gives the same answer.
    Permanent,
}

/// A mail that was not delivered. `message` says why in one line, with the SMTP code and
/// text where there is one; it never contains the SMTP password.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub kind: FailureKind,
    pub message: String,
    /// Not before this long from now (Graph's `Retry-After`), if the server said so.
    pub retry_after: Option<Duration>,
}

impl SendError {
    pub(crate) fn transient(message: String) -> Self {
        Self {
            kind: FailureKind::Transient,
            message,
            retry_after: None,
        }
    }
    pub(crate) fn permanent(message: String) -> Self {
        Self {
            kind: FailureKind::Permanent,
            message,
            retry_after: None,
        }
    }
}

/// One step of a test send (`iopd send-test`) as it ran: only steps that ran are recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    pub ok: bool,
    /// The outcome: the server's answer, or the error.
    pub detail: String,
}

impl Step {
    pub(crate) fn ok(name: &str, detail: String) -> Self {
        Self {
            name: name.to_string(),
            ok: true,
            detail,
        }
    }
    pub(crate) fn failed(name: &str, detail: String) -> Self {
        Self {
            name: name.to_string(),
            ok: false,
            detail,
        }
    }
}

/// Where the steps of a send are written down: nowhere for real mail, a list for a test.
#[derive(Debug, Default)]
pub struct Trace(Option<Vec<Step>>);

impl Trace {
    pub fn off() -> Self {
        Self(None)
    }
    pub fn on() -> Self {
        Self(Some(Vec::new()))
    }
    pub(crate) fn push(&mut self, step: Step) {
        if let Some(steps) = &mut self.0 {
            steps.push(step);
        }
    }
    fn enabled(&self) -> bool {
        self.0.is_some()
    }
    pub fn steps(self) -> Vec<Step> {
        self.0.unwrap_or_default()
    }
}

/// Why no transport could be set up from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error(
        "mail.transport is \"smtp\" but there is no [mail.smtp] section; add one or use transport = \"file\""
    )]
    MissingSmtp,
    #[error(
        "mail.smtp.tls is \"none\" but a username or password is set; credentials are never sent unencrypted, use \"starttls\" or \"tls\""
    )]
    CredentialsUnencrypted,
    #[error("mail.smtp.tls \"none\" is only allowed to a loopback host, not {host:?}")]
    PlaintextToRemote { host: String },
    #[error("mail.smtp: give both username and password (or password_file), or neither")]
    IncompleteCredentials,
    #[error("mail.smtp: cannot set up TLS for {host:?}: {source}")]
    Tls {
        host: String,
        #[source]
        source: lettre::transport::smtp::Error,
    },
    #[error(
        "mail.transport is \"graph\" but there is no [mail.graph] section; add one or use transport = \"file\""
    )]
    MissingGraph,
    #[error("cannot set up HTTPS for the token endpoint or Graph: {0}")]
    Https(String),
}

/// The configured way out for mail.
pub enum Sender {
    /// One `{dir}/{file_stem}.eml` per mail.
    File { dir: PathBuf },
    /// Up to `pool_size` connections to one SMTP server.
    Smtp(Box<SmtpSender>),
    /// Up to `pool_size` requests at once to Microsoft Graph.
    Graph(Box<GraphSender>),
    /// `mail.enabled = false`: nothing is sent, every send succeeds.
    Disabled,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File { dir } => f.debug_struct("File").field("dir", dir).finish(),
            Self::Smtp(s) => s.fmt(f),
            Self::Graph(g) => g.fmt(f),
            Self::Disabled => f.write_str("Disabled"),
        }
    }
}

/// How many files the file transport writes at once (each waits for its fsync).
const FILE_WRITERS: usize = 4;

impl Sender {
    /// The transport `mail` describes.
    pub fn from_config(mail: &Mail) -> Result<Sender, TransportError> {
        if !mail.enabled {
            return Ok(Sender::Disabled);
        }
        match mail.transport {
            Transport::File => Ok(Sender::File {
                dir: mail.file_dir.clone(),
            }),
            Transport::Smtp => {
                let smtp = mail.smtp.as_ref().ok_or(TransportError::MissingSmtp)?;
                Ok(Sender::Smtp(Box::new(SmtpSender::new(smtp, &mail.from)?)))
            }
            Transport::Graph => {
                let graph = mail.graph.as_ref().ok_or(TransportError::MissingGraph)?;
                Ok(Sender::Graph(Box::new(
                    GraphSender::new(graph).map_err(TransportError::Https)?,
                )))
            }
        }
    }

    /// Tokens fetched so far (SMTP with OAuth2 and Graph; zero otherwise).
    pub fn token_fetches(&self) -> u64 {
        match self {
            Sender::Smtp(s) => match &s.auth {
                Auth::OAuth2 { tokens, .. } => tokens.fetches(),
                _ => 0,
            },
            Sender::Graph(g) => g.tokens.fetches(),
            _ => 0,
        }
    }

    /// Sends `msg` to `to` at once, writing down each step as it runs (`iopd send-test`).
    /// Nothing is pooled: the connection is made for this mail and closed after it.
    pub async fn probe(
        &self,
        msg: &Message,
        to: &Email,
        file_stem: &str,
    ) -> (Vec<Step>, Result<(), SendError>) {
        let mut trace = Trace::on();
        let bytes = msg.formatted();
        let result = match self {
            Sender::Disabled => {
                trace.push(Step::failed(
                    "send",
                    "mail.enabled = false: nothing is sent".into(),
                ));
                Err(SendError::transient("mail is disabled".into()))
            }
            Sender::File { dir } => {
                let r = write_eml(dir, file_stem, &bytes).await;
                let shown = dir.join(format!("{}.eml", safe_stem(file_stem)));
                match &r {
                    Ok(()) => trace.push(Step::ok("write", format!("{}", shown.display()))),
                    Err(e) => trace.push(Step::failed("write", e.message.clone())),
                }
                r
            }
            Sender::Smtp(smtp) => smtp.probe(msg.envelope(), &bytes, &mut trace).await,
            Sender::Graph(graph) => {
                trace.push(super::graph::resolve_step(graph.base()).await);
                graph.send(Some(to), &bytes, &mut trace).await
            }
        };
        (trace.steps(), result)
    }

    /// How many sessions can send at once: `mail.smtp.pool_size` for SMTP.
    pub fn concurrency(&self) -> usize {
        match self {
            Sender::Smtp(s) => s.pool_size,
            Sender::Graph(g) => g.pool_size,
            Sender::File { .. } => FILE_WRITERS,
            Sender::Disabled => 1,
        }
    }

    /// The longest one send can take before it is given up (zero: not bounded here).
    pub fn send_timeout(&self) -> Duration {
        match self {
            Sender::Smtp(s) => s.timeout,
            Sender::Graph(g) => g.timeout,
            _ => Duration::ZERO,
        }
    }

    /// A way out for one worker; for SMTP it waits for a free connection slot.
    pub async fn session(&self) -> Session<'_> {
        match self {
            Sender::Disabled => Session::Disabled,
            Sender::File { dir } => Session::File(dir),
            Sender::Smtp(smtp) => Session::Smtp(Box::new(smtp.session().await)),
            Sender::Graph(graph) => Session::Graph(graph, graph.slot().await),
        }
    }

    /// Sends `msg` to the recipients in its headers (To, Cc, Bcc), from its `From`.
    /// `file_stem` names the file for the file transport (e.g. the outbox row id).
    pub async fn send(&self, msg: &Message, file_stem: &str) -> Result<(), SendError> {
        self.session().await.send(msg, file_stem).await
    }

    /// Sends stored message bytes to one envelope recipient, whatever the headers say (one
    /// outbox row per recipient). The file transport writes the bytes alone.
    pub async fn send_raw(
        &self,
        from: &Email,
        to: &Email,
        message: &[u8],
        file_stem: &str,
    ) -> Result<(), SendError> {
        self.session()
            .await
            .send_raw(from, to, message, file_stem)
            .await
    }

    /// Says QUIT on the connections not in use and closes them (at the end of a delivery
    /// run, and at shutdown): servers drop idle clients anyway, and politely is better.
    pub async fn close(&self) {
        if let Sender::Smtp(smtp) = self {
            smtp.close().await;
        }
    }
}

/// One worker's way out (see the module comment). Dropping it gives the SMTP connection
/// back to the pool.
pub enum Session<'a> {
    Disabled,
    File(&'a Path),
    Smtp(Box<SmtpSession<'a>>),
    Graph(&'a GraphSender, Option<SemaphorePermit<'a>>),
}

impl Session<'_> {
    /// As [`Sender::send`].
    pub async fn send(&mut self, msg: &Message, file_stem: &str) -> Result<(), SendError> {
        match self {
            Session::Disabled => Ok(()),
            Session::File(dir) => write_eml(dir, file_stem, &msg.formatted()).await,
            Session::Smtp(smtp) => smtp.send(msg.envelope(), &msg.formatted()).await,
            // The recipients are the message's own headers, as its envelope is made from them.
            Session::Graph(graph, _) => graph.send(None, &msg.formatted(), &mut Trace::off()).await,
        }
    }

    /// As [`Sender::send_raw`].
    pub async fn send_raw(
        &mut self,
        from: &Email,
        to: &Email,
        message: &[u8],
        file_stem: &str,
    ) -> Result<(), SendError> {
        match self {
            Session::Disabled => Ok(()),
            Session::File(dir) => write_eml(dir, file_stem, message).await,
            Session::Smtp(smtp) => {
                let envelope = Envelope::new(Some(address(from)?), vec![address(to)?])
                    .map_err(|e| SendError::permanent(format!("cannot build the envelope: {e}")))?;
                smtp.send(&envelope, message).await
            }
            Session::Graph(graph, _) => graph.send(Some(to), message, &mut Trace::off()).await,
        }
    }
}

fn address(email: &Email) -> Result<Address, SendError> {
    email.as_str().parse().map_err(|e| {
        SendError::permanent(format!(
            "{:?} is not a usable mail address: {e}",
            email.as_str()
        ))
    })
}

// ---------------------------------------------------------------------- SMTP

/// A connection unused for longer than this is checked with NOOP before a mail is risked on
/// it: servers close idle clients (Postfix after 300 s, others sooner).
const RECHECK_IDLE: Duration = Duration::from_secs(5);

/// How a connection is secured, with lettre's TLS setup for it.
enum Security {
    None,
    /// TLS from the first byte (port 465).
    Implicit(TlsParameters),
    /// Plain greeting, then STARTTLS, required (port 587).
    Starttls(TlsParameters),
}

/// SMTP over connections of our own: at most `pool_size` open at once, idle ones kept for
/// the next session.
pub struct SmtpSender {
    host: String,
    port: u16,
    security: Security,
    auth: Auth,
    hello: ClientId,
    timeout: Duration,
    pool_size: usize,
    /// One permit per connection that may be open.
    slots: Semaphore,
    /// Open connections no session holds, with when each was last used.
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    /// `host:port`, for messages.
    server: String,
    tls: Tls,
    /// Only to scrub it from error text, should a server ever echo it.
    password: Option<Secret>,
}

impl fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Smtp")
            .field("server", &self.server)
            .field("tls", &self.tls)
            .field("timeout", &self.timeout)
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

/// How a connection signs in.
enum Auth {
    None,
    Password(Credentials),
    /// AUTH XOAUTH2 as `user` (the sending mailbox) with a token of `tokens`.
    OAuth2 {
        user: String,
        tokens: Box<TokenSource>,
    },
}

/// Why a send failed before the server could answer it, or the server's answer.
enum Fault {
    Connect(std::io::Error),
    Smtp(lettre::transport::smtp::Error),
    Token(TokenError),
}

impl From<lettre::transport::smtp::Error> for Fault {
    fn from(e: lettre::transport::smtp::Error) -> Self {
        Fault::Smtp(e)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SmtpSender {
    /// `from` is the XOAUTH2 user when `mail.smtp.username` is not set: Exchange takes the
    /// token for the app and the user for the mailbox it sends as.
    fn new(cfg: &Smtp, from: &Email) -> Result<Self, TransportError> {
        let auth = match (&cfg.oauth2, &cfg.username, &cfg.password) {
            (Some(grant), user, None) => Auth::OAuth2 {
                user: user.clone().unwrap_or_else(|| from.as_str().to_string()),
                tokens: Box::new(
                    TokenSource::new(grant, cfg.timeout).map_err(TransportError::Https)?,
                ),
            },
            (Some(_), _, Some(_)) => return Err(TransportError::IncompleteCredentials),
            (None, Some(user), Some(password)) => Auth::Password(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            )),
            (None, None, None) => Auth::None,
            _ => return Err(TransportError::IncompleteCredentials),
        };
        // The configuration refuses these too; the check is repeated here because `Smtp`
        // can be built by hand and a password must never cross the network in clear text.
        if cfg.tls == Tls::None {
            if !matches!(auth, Auth::None) {
                return Err(TransportError::CredentialsUnencrypted);
            }
            if !is_loopback(&cfg.host) {
                return Err(TransportError::PlaintextToRemote {
                    host: cfg.host.clone(),
                });
            }
        }
        let tls_error = |source| TransportError::Tls {
            host: cfg.host.clone(),
            source,
        };
        // What lettre's `relay` (implicit TLS, 465) and `starttls_relay` (STARTTLS
        // required, 587) set up, plus the roots of `ca_file`. Mixing the two modes up hangs
        // or fails (lettre #842), hence the explicit enum.
        let tls_parameters = || {
            let mut params = TlsParameters::builder(cfg.host.clone());
            for der in cfg.ca_file.iter().flat_map(|ca| &ca.certificates) {
                params = params.add_root_certificate(Certificate::from_der(der.clone())?);
            }
            params.build()
        };
        let security = match cfg.tls {
            Tls::Starttls => Security::Starttls(tls_parameters().map_err(tls_error)?),
            Tls::Tls => Security::Implicit(tls_parameters().map_err(tls_error)?),
            Tls::None => Security::None,
        };
        let pool_size = usize::try_from(cfg.pool_size).unwrap_or(1).max(1);
        Ok(Self {
            host: cfg.host.clone(),
            port: cfg.port,
            security,
            auth,
            hello: ClientId::default(),
            timeout: cfg.timeout,
            pool_size,
            slots: Semaphore::new(pool_size),
            idle: Mutex::new(Vec::new()),
            server: format!("{}:{}", cfg.host, cfg.port),
            tls: cfg.tls,
            password: cfg.password.clone(),
        })
    }

    async fn session(&self) -> SmtpSession<'_> {
        SmtpSession {
            owner: self,
            // The semaphore is never closed, so this is always a permit.
            _slot: self.slots.acquire().await.ok(),
            conn: None,
        }
    }

    /// A new connection: TCP, TLS as configured, EHLO, AUTH. A token from the cache that
    /// the server refuses (535) is forgotten and the whole connection made again, once.
    async fn connect(&self, trace: &mut Trace) -> Result<AsyncSmtpConnection, Fault> {
        match self.connect_once(trace).await {
            Err((Fault::Smtp(e), Some(stale))) if is_auth_refusal(&e) => {
                if let Auth::OAuth2 { tokens, .. } = &self.auth {
                    tokens.forget(&stale).await;
                }
                self.connect_once(trace).await.map_err(|(f, _)| f)
            }
            other => other.map_err(|(f, _)| f),
        }
    }

    /// One connection attempt; a failure carries the token used if it came from the cache.
    async fn connect_once(
        &self,
        trace: &mut Trace,
    ) -> Result<AsyncSmtpConnection, (Fault, Option<Secret>)> {
        let plain = |f| (f, None);
        let addrs: Vec<std::net::SocketAddr> =
            match tokio::net::lookup_host((self.host.as_str(), self.port)).await {
                Ok(a) => a.collect(),
                Err(e) => {
                    trace.push(Step::failed(
                        &format!("resolve {}", self.host),
                        e.to_string(),
                    ));
                    return Err(plain(Fault::Connect(e)));
                }
            };
        if trace.enabled() {
            let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
            trace.push(Step::ok(
                &format!("resolve {}", self.host),
                shown.join(", "),
            ));
        }
        let tcp = match tokio::net::TcpStream::connect(&addrs[..]).await {
            Ok(t) => t,
            Err(e) => {
                trace.push(Step::failed(
                    &format!("connect port {}", self.port),
                    e.to_string(),
                ));
                return Err(plain(Fault::Connect(e)));
            }
        };
        if trace.enabled() {
            let peer = tcp.peer_addr().map_or(String::new(), |a| a.to_string());
            trace.push(Step::ok(
                &format!("connect port {}", self.port),
                format!("TCP to {peer}"),
            ));
        }
        // lettre 0.11.23 writes a mail's body and its final "\r\n.\r\n" in two writes and
        // leaves Nagle's algorithm on, so the second write waits for the server's delayed
        // ACK: 44 ms a mail on Linux (22.6 mails/s against Postfix's smtp-sink, whose own
        // client did 9 773 a second; 6 000-7 700 a second with this), up to 200 ms against
        // Windows servers. lettre's fix (PR 1159) is not released, hence our own socket.
        tcp.set_nodelay(true)
            .map_err(|e| plain(Fault::Connect(e)))?;
        // Each step below is recorded as it ends; a failed one ends the attempt.
        let step =
            |trace: &mut Trace, name: &str, r: Result<String, &lettre::transport::smtp::Error>| {
                match r {
                    Ok(detail) => trace.push(Step::ok(name, detail)),
                    Err(e) => trace.push(Step::failed(name, self.scrub(chain(e)))),
                }
            };
        // lettre's summary: the name the server gave in EHLO and the extensions it offers.
        let hello = |conn: &AsyncSmtpConnection| conn.server_info().to_string();
        let mut conn = match &self.security {
            Security::Implicit(params) => {
                // lettre reads the greeting as soon as it has the stream, so implicit TLS is
                // set up first, by lettre's own code (the same checks and errors as its
                // `relay()`), and the encrypted stream handed over as if it were plain.
                #[allow(deprecated)]
                let mut stream = AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
                let tls = stream.upgrade_tls(params.clone()).await;
                step(
                    trace,
                    "TLS (implicit)",
                    tls.as_ref()
                        .map(|()| format!("certificate trusted for {}", self.host)),
                );
                tls.map_err(|e| plain(e.into()))?;
                let conn = AsyncSmtpConnection::connect_with_transport(
                    Box::new(Encrypted(stream)),
                    &self.hello,
                )
                .await;
                step(trace, "greeting and EHLO", conn.as_ref().map(hello));
                conn.map_err(|e| plain(e.into()))?
            }
            Security::Starttls(_) | Security::None => {
                let conn =
                    AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await;
                step(trace, "greeting and EHLO", conn.as_ref().map(hello));
                conn.map_err(|e| plain(e.into()))?
            }
        };
        if let Security::Starttls(params) = &self.security {
            let tls = conn.starttls(params.clone(), &self.hello).await;
            step(
                trace,
                "STARTTLS",
                tls.as_ref()
                    .map(|()| format!("certificate trusted for {}; EHLO again", self.host)),
            );
            tls.map_err(|e| plain(e.into()))?;
        }
        match &self.auth {
            Auth::None => {}
            Auth::Password(credentials) => {
                let r = conn.auth(DEFAULT_MECHANISMS, credentials).await;
                step(trace, "AUTH (password)", r.as_ref().map(answer));
                r.map_err(|e| plain(e.into()))?;
            }
            Auth::OAuth2 { user, tokens } => {
                let bearer = match tokens.token().await {
                    Ok(b) => b,
                    Err(e) => {
                        trace.push(Step::failed("token", e.to_string()));
                        return Err(plain(Fault::Token(e)));
                    }
                };
                if bearer.fresh {
                    trace.push(Step::ok(
                        "token",
                        format!(
                            "from {} for {}, valid {} s (HTTPS: connect, TLS and the request in one step)",
                            tokens.url(),
                            tokens.scope(),
                            bearer.expires_in
                        ),
                    ));
                } else {
                    trace.push(Step::ok("token", "from the cache".into()));
                }
                let credentials = Credentials::new(user.clone(), bearer.token.expose().to_string());
                let r = conn.auth(&[Mechanism::Xoauth2], &credentials).await;
                step(
                    trace,
                    &format!("AUTH XOAUTH2 as {user}"),
                    r.as_ref().map(answer),
                );
                if let Err(e) = r {
                    let stale = (!bearer.fresh).then_some(bearer.token);
                    return Err((Fault::Smtp(e), stale));
                }
            }
        }
        Ok(conn)
    }

    /// A test send over a connection of its own, closed after it (`iopd send-test`).
    async fn probe(
        &self,
        envelope: &Envelope,
        bytes: &[u8],
        trace: &mut Trace,
    ) -> Result<(), SendError> {
        let attempt = async {
            let mut conn = self.connect(trace).await?;
            let r = conn.send(envelope, bytes).await;
            let name = "MAIL FROM, RCPT TO, DATA (lettre sends them as one step: the answer shown is the last one, or the first refusal)";
            match &r {
                Ok(a) => trace.push(Step::ok(name, answer(a))),
                Err(e) => trace.push(Step::failed(name, self.scrub(chain(e)))),
            }
            let _ = conn.quit().await;
            r.map(|_| ()).map_err(Fault::Smtp)
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(r) => r.map_err(|f| self.classify(f)),
            Err(_) => Err(SendError::transient(format!(
                "SMTP {}: no answer within {} (timed out)",
                self.server,
                humantime::format_duration(self.timeout)
            ))),
        }
    }

    /// An idle connection that still answers, if there is one.
    async fn take_idle(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let (mut conn, since) = lock(&self.idle).pop()?;
            if since.elapsed() < RECHECK_IDLE || conn.test_connected().await {
                return Some(conn);
            }
        }
    }

    /// Sends over `conn`, or an idle or new connection; gives back the connection if it
    /// can carry another mail.
    async fn send_over(
        &self,
        conn: Option<AsyncSmtpConnection>,
        envelope: &Envelope,
        bytes: &[u8],
    ) -> (Option<AsyncSmtpConnection>, Result<(), Fault>) {
        let conn = match conn {
            Some(c) => Ok(c),
            None => match self.take_idle().await {
                Some(c) => Ok(c),
                None => self.connect(&mut Trace::off()).await,
            },
        };
        let mut conn = match conn {
            Ok(c) => c,
            Err(e) => return (None, Err(e)),
        };
        match conn.send(envelope, bytes).await {
            Ok(_) => (Some(conn), Ok(())),
            // lettre ends the session (QUIT) after a refused command: not reusable then.
            Err(e) => ((!conn.has_broken()).then_some(conn), Err(Fault::Smtp(e))),
        }
    }

    fn classify(&self, fault: Fault) -> SendError {
        let e = match fault {
            Fault::Connect(e) => {
                return SendError::transient(
                    self.scrub(format!("SMTP {}: cannot connect: {e}", self.server)),
                );
            }
            Fault::Token(e) => return super::graph::token_failure(&e),
            Fault::Smtp(e) => e,
        };
        let mut message = self.scrub(format!("SMTP {}: {}", self.server, chain(&e)));
        let code = e.status().map(|c| c.to_string()).unwrap_or_default();
        let oauth2 = matches!(self.auth, Auth::OAuth2 { .. });
        if let Some(hint) = hints::smtp(&code, &message, oauth2) {
            message.push_str(" → ");
            message.push_str(hint);
        }
        // 530/535: the server refused our credentials, not the mail.
        // Failing every row for good would lose a whole batch to one
        // wrong password, so it is retried while someone fixes it.
        let auth = is_auth_refusal(&e);
        if e.is_permanent() && !auth {
            SendError::permanent(message)
        } else {
            // 4xx, and everything that is not an SMTP reply at all: connection,
            // network, TLS and protocol errors.
            SendError::transient(message)
        }
    }

    async fn close(&self) {
        let idle = std::mem::take(&mut *lock(&self.idle));
        let quits = idle.into_iter().map(|(mut conn, _)| async move {
            // A server that does not answer QUIT is not waited for.
            let _ = tokio::time::timeout(self.timeout, conn.quit()).await;
        });
        futures_util::future::join_all(quits).await;
    }

    fn scrub(&self, message: String) -> String {
        match &self.password {
            Some(p) if !p.expose().is_empty() => message.replace(p.expose(), "***"),
            _ => message,
        }
    }
}

/// One connection slot of an [`SmtpSender`] and the connection it holds between mails.
pub struct SmtpSession<'a> {
    owner: &'a SmtpSender,
    _slot: Option<SemaphorePermit<'a>>,
    conn: Option<AsyncSmtpConnection>,
}

impl SmtpSession<'_> {
    async fn send(&mut self, envelope: &Envelope, bytes: &[u8]) -> Result<(), SendError> {
        let owner = self.owner;
        // The connection moves into the send: if the timeout abandons it halfway, it is
        // dropped with it and never carries another mail.
        let conn = self.conn.take();
        match tokio::time::timeout(owner.timeout, owner.send_over(conn, envelope, bytes)).await {
            Ok((conn, result)) => {
                self.conn = conn;
                result.map_err(|f| owner.classify(f))
            }
            Err(_elapsed) => Err(SendError::transient(format!(
                "SMTP {}: no answer within {} (timed out; the server may still have accepted the mail)",
                owner.server,
                humantime::format_duration(owner.timeout)
            ))),
        }
    }
}

impl Drop for SmtpSession<'_> {
    fn drop(&mut self) {
        // Back before the slot is released (fields drop after this), so the next session
        // finds it.
        if let Some(conn) = self.conn.take() {
            lock(&self.owner.idle).push((conn, Instant::now()));
        }
    }
}

/// lettre's TLS stream over our socket, handed back to lettre as a plain one (implicit
/// TLS; see [`SmtpSender::connect`]). lettre marks `AsyncNetworkStream` deprecated as "not
/// meant to be public", but it is the way to its TLS setup on a socket of our own.
#[allow(deprecated)]
#[derive(Debug)]
struct Encrypted(AsyncNetworkStream);

impl tokio::io::AsyncRead for Encrypted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let inner = Pin::new(&mut self.get_mut().0);
        match futures_util::io::AsyncRead::poll_read(inner, cx, buf.initialize_unfilled()) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl tokio::io::AsyncWrite for Encrypted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        futures_util::io::AsyncWrite::poll_write(Pin::new(&mut self.get_mut().0), cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        futures_util::io::AsyncWrite::poll_flush(Pin::new(&mut self.get_mut().0), cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        futures_util::io::AsyncWrite::poll_close(Pin::new(&mut self.get_mut().0), cx)
    }
}

impl AsyncTokioStream for Encrypted {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.peer_addr()
    }
}

/// 530 or 535: the server refused how we signed in, not the mail.
fn is_auth_refusal(e: &lettre::transport::smtp::Error) -> bool {
    e.status()
        .is_some_and(|c| matches!(c.to_string().as_str(), "530" | "535"))
}

/// A server's answer on one line: its code and text.
fn answer(r: &lettre::transport::smtp::response::Response) -> String {
    let text: Vec<&str> = r.message().collect();
    format!("{} {}", r.code(), text.join(" "))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The error and its causes on one line, each cause once (lettre's own text already
/// includes its first cause).
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

// ---------------------------------------------------------------------- file

/// Distinguishes the temporary files of concurrent writes in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `{dir}/{stem}.eml` atomically: a reader (or a crash) sees the whole mail or none
/// of it. The same stem written again replaces the file, so a repeated outbox row stays one
/// file.
async fn write_eml(dir: &Path, file_stem: &str, bytes: &[u8]) -> Result<(), SendError> {
    let dir = dir.to_path_buf();
    let stem = safe_stem(file_stem);
    let bytes = bytes.to_vec();
    let shown = dir.join(format!("{stem}.eml"));
    let result = tokio::task::spawn_blocking(move || write_atomically(&dir, &stem, &bytes))
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r);
    result.map_err(|e| SendError::transient(format!("cannot write {}: {e}", shown.display())))
}

fn write_atomically(dir: &Path, stem: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;

    std::fs::create_dir_all(dir)?;
    let target = dir.join(format!("{stem}.eml"));
    // Hidden and without the `.eml` ending, so nothing picking up mails sees a half file.
    let temp = dir.join(format!(
        ".{stem}.{}.{}.tmp",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&temp, &target)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written?;
    // The rename is durable only once the directory entry is on disk.
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// `[A-Za-z0-9._-]` only, not starting with a dot (no hidden files, no `..`), never empty.
fn safe_stem(stem: &str) -> String {
    let mut out: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let dots = out.len() - out.trim_start_matches('.').len();
    out.replace_range(..dots, &"_".repeat(dots));
    out.truncate(200);
    if out.is_empty() {
        out.push_str("mail");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_reduced_to_safe_file_names() {
        // (given, written as)
        let rows = [
            ("00000042", "00000042"),
            ("row-7_a.b", "row-7_a.b"),
            ("../etc/passwd", "___etc_passwd"),
            (".hidden", "_hidden"),
            ("a b\r\nc", "a_b__c"),
            ("Åsa", "_sa"),
            ("", "mail"),
        ];
        for (given, expected) in rows {
            assert_eq!(safe_stem(given), expected, "{given:?}");
        }
        assert_eq!(safe_stem(&"x".repeat(300)).len(), 200);
    }

    #[test]
    fn loopback_hosts() {
        for host in ["localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["smtp.example.org", "10.0.0.1", "localhost.example.org", ""] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
