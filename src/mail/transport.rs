//! Where a finished message goes: an SMTP server, a directory of `.eml` files, or nowhere
//! (`mail.enabled = false`, the kill switch).
//!
//! Every failure is classified once, here, as [`FailureKind::Transient`] (try again later:
//! 4xx replies, refused or dropped connections, TLS and IO errors, timeouts) or
//! [`FailureKind::Permanent`] (5xx replies: retrying the same mail cannot help). The outbox
//! decides what to do with each.
//!
//! Two lettre traps are handled here (see `CRATES.md`):
//! - lettre's own timeout covers only the TCP connect (lettre #1027), so every send is also
//!   wrapped in [`tokio::time::timeout`].
//! - When that timeout abandons a send halfway, lettre puts the connection back into its pool
//!   as if nothing happened, with the server's late answers still on the way. The next mail
//!   sent over it would read them as answers to its own commands: a rejected mail could be
//!   reported as sent. So after a timeout the whole pool is replaced by a fresh one.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls as SmtpTls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransportBuilder, PoolConfig};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{Mail, Secret, Smtp, Tls, Transport};
use crate::domain::Email;

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
}

impl SendError {
    fn transient(message: String) -> Self {
        Self {
            kind: FailureKind::Transient,
            message,
        }
    }
    fn permanent(message: String) -> Self {
        Self {
            kind: FailureKind::Permanent,
            message,
        }
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
    #[error("the SMTP transport must be created inside the Tokio runtime (its pool runs there)")]
    NoRuntime,
}

/// The configured way out for mail.
pub enum Sender {
    /// One `{dir}/{file_stem}.eml` per mail.
    File { dir: PathBuf },
    /// Pooled connections to one SMTP server.
    Smtp(Box<SmtpSender>),
    /// `mail.enabled = false`: nothing is sent, every send succeeds.
    Disabled,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File { dir } => f.debug_struct("File").field("dir", dir).finish(),
            Self::Smtp(s) => s.fmt(f),
            Self::Disabled => f.write_str("Disabled"),
        }
    }
}

impl Sender {
    /// The transport `mail` describes. An SMTP transport must be created inside a Tokio
    /// runtime, and used and dropped there too.
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
                Ok(Sender::Smtp(Box::new(SmtpSender::new(smtp)?)))
            }
        }
    }

    /// Sends `msg` to the recipients in its headers (To, Cc, Bcc), from its `From`.
    /// `file_stem` names the file for the file transport (e.g. the outbox row id).
    pub async fn send(&self, msg: &Message, file_stem: &str) -> Result<(), SendError> {
        match self {
            Sender::Disabled => Ok(()),
            Sender::File { dir } => write_eml(dir, file_stem, &msg.formatted()).await,
            Sender::Smtp(smtp) => smtp.send(msg.envelope(), &msg.formatted()).await,
        }
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
        match self {
            Sender::Disabled => Ok(()),
            Sender::File { dir } => write_eml(dir, file_stem, message).await,
            Sender::Smtp(smtp) => {
                let envelope = Envelope::new(Some(address(from)?), vec![address(to)?])
                    .map_err(|e| SendError::permanent(format!("cannot build the envelope: {e}")))?;
                smtp.send(&envelope, message).await
            }
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

/// An SMTP transport whose pool is replaced after a timeout (see the module comment).
pub struct SmtpSender {
    builder: AsyncSmtpTransportBuilder,
    /// The pool in use and its generation, so concurrent timeouts replace it only once.
    current: Mutex<(u64, AsyncSmtpTransport<Tokio1Executor>)>,
    timeout: Duration,
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
            .finish_non_exhaustive()
    }
}

impl SmtpSender {
    fn new(cfg: &Smtp) -> Result<Self, TransportError> {
        // lettre's pool spawns its cleanup task on creation; outside a runtime that panics.
        tokio::runtime::Handle::try_current().map_err(|_| TransportError::NoRuntime)?;
        let credentials = match (&cfg.username, &cfg.password) {
            (Some(user), Some(password)) => Some(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            )),
            (None, None) => None,
            _ => return Err(TransportError::IncompleteCredentials),
        };
        // The configuration refuses these too; the check is repeated here because `Smtp`
        // can be built by hand and a password must never cross the network in clear text.
        if cfg.tls == Tls::None {
            if credentials.is_some() {
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
        let tls = match cfg.tls {
            Tls::Starttls => SmtpTls::Required(tls_parameters().map_err(tls_error)?),
            Tls::Tls => SmtpTls::Wrapper(tls_parameters().map_err(tls_error)?),
            Tls::None => SmtpTls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
            .tls(tls)
            .port(cfg.port)
            // Covers the TCP connect only (lettre #1027); `send` bounds the rest.
            .timeout(Some(cfg.timeout))
            .pool_config(PoolConfig::new().max_size(cfg.pool_size.max(1)));
        if let Some(c) = credentials {
            builder = builder.credentials(c);
        }
        let transport = builder.clone().build();
        Ok(Self {
            builder,
            current: Mutex::new((0, transport)),
            timeout: cfg.timeout,
            server: format!("{}:{}", cfg.host, cfg.port),
            tls: cfg.tls,
            password: cfg.password.clone(),
        })
    }

    async fn send(&self, envelope: &Envelope, bytes: &[u8]) -> Result<(), SendError> {
        let (generation, transport) = {
            let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
            (current.0, current.1.clone())
        };
        match tokio::time::timeout(self.timeout, transport.send_raw(envelope, bytes)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                let message = self.scrub(format!("SMTP {}: {}", self.server, chain(&e)));
                // 530/535: the server refused our credentials, not the mail.
                // Failing every row for good would lose a whole batch to one
                // wrong password, so it is retried while someone fixes it.
                let auth = e
                    .status()
                    .is_some_and(|c| matches!(c.to_string().as_str(), "530" | "535"));
                Err(if e.is_permanent() && !auth {
                    SendError::permanent(message)
                } else {
                    // 4xx, and everything that is not an SMTP reply at all: connection,
                    // network, TLS and protocol errors.
                    SendError::transient(message)
                })
            }
            Err(_elapsed) => {
                self.replace_pool(generation);
                Err(SendError::transient(format!(
                    "SMTP {}: no answer within {} (timed out; the server may still have accepted the mail)",
                    self.server,
                    humantime::format_duration(self.timeout)
                )))
            }
        }
    }

    /// Drops the pool that held the abandoned connection: sends already under way keep
    /// their clone of it, new ones get fresh connections.
    fn replace_pool(&self, generation: u64) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.0 == generation {
            *current = (generation + 1, self.builder.clone().build());
        }
    }

    fn scrub(&self, message: String) -> String {
        match &self.password {
            Some(p) if !p.expose().is_empty() => message.replace(p.expose(), "***"),
            _ => message,
        }
    }
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
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
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
