//! Mail through Microsoft Graph: `POST {base}/v1.0/users/{sender}/sendMail` with the whole
//! MIME message the other transports send, base64-encoded as `text/plain` (Graph's MIME
//! form), so the mail, its invite and its Message-ID are the same whichever way it goes.
//!
//! Graph delivers to the message's own To/Cc/Bcc headers; there is no envelope. iopd's
//! mails each name their one recipient in To (also with `redirect_all_to`), and a message
//! whose headers do not name the recipient of its outbox row is refused rather than sent
//! to someone else.
//!
//! Answers: 202 sent; 429 and 503 wait for `Retry-After` once when it is short, otherwise
//! a transient failure that carries the retry time; 401 with a cached token fetches a new
//! token once; other 4xx are permanent and named with Graph's error code and message; 5xx
//! and network errors are transient.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::config::Graph;
use crate::domain::Email;

use super::hints;
use super::oauth2::{TokenError, TokenSource};
use super::transport::{SendError, Step, Trace, chain};

/// The longest `Retry-After` waited for inside one send; a longer one goes back to the
/// outbox with the retry time.
pub const WAIT_INLINE: Duration = Duration::from_secs(5);

pub struct GraphSender {
    pub(crate) tokens: TokenSource,
    http: reqwest::Client,
    /// `{base}/v1.0/users/{sender}/sendMail`.
    url: String,
    sender: Email,
    pub(crate) timeout: Duration,
    pub(crate) pool_size: usize,
    slots: Semaphore,
}

impl fmt::Debug for GraphSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Graph")
            .field("url", &self.url)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

/// One answer of Graph, before it is classified.
enum Answer {
    Accepted(u16),
    Refused {
        status: u16,
        code: String,
        message: String,
        retry_after: Option<Duration>,
    },
}

impl GraphSender {
    pub fn new(cfg: &Graph) -> Result<Self, String> {
        let pool_size = usize::try_from(cfg.pool_size).unwrap_or(1).max(1);
        Ok(Self {
            tokens: TokenSource::new(&cfg.oauth2, cfg.timeout)?,
            http: super::oauth2::https_client(cfg.oauth2.ca_file.as_ref(), cfg.timeout)?,
            url: format!(
                "{}/v1.0/users/{}/sendMail",
                cfg.base_url,
                // An address has no characters that need escaping in a path but these.
                cfg.sender
                    .as_str()
                    .replace('%', "%25")
                    .replace('/', "%2F")
                    .replace('?', "%3F")
                    .replace('#', "%23")
            ),
            sender: cfg.sender.clone(),
            timeout: cfg.timeout,
            pool_size,
            slots: Semaphore::new(pool_size),
        })
    }

    pub(crate) async fn slot(&self) -> Option<SemaphorePermit<'_>> {
        self.slots.acquire().await.ok()
    }

    pub fn sender(&self) -> &Email {
        &self.sender
    }

    /// Sends `message` (whose headers name `to`), bounded by the configured timeout.
    pub async fn send(
        &self,
        to: Option<&Email>,
        message: &[u8],
        trace: &mut Trace,
    ) -> Result<(), SendError> {
        if let Some(to) = to
            && !names_recipient(message, to)
        {
            return Err(SendError::permanent(format!(
                "Graph sends to the message's own To/Cc headers, and they do not name {}",
                to.as_str()
            )));
        }
        match tokio::time::timeout(self.timeout, self.send_unbounded(message, trace)).await {
            Ok(result) => result,
            Err(_) => Err(SendError::transient(format!(
                "Graph {}: no answer within {} (timed out; Graph may still have accepted the mail)",
                self.url,
                humantime::format_duration(self.timeout)
            ))),
        }
    }

    async fn send_unbounded(&self, message: &[u8], trace: &mut Trace) -> Result<(), SendError> {
        let body = base64::engine::general_purpose::STANDARD.encode(message);
        let mut renewed = false;
        let mut waited = false;
        loop {
            let bearer = match self.tokens.token().await {
                Ok(b) => b,
                Err(e) => {
                    trace.push(Step::failed("token", e.to_string()));
                    return Err(token_failure(&e));
                }
            };
            if bearer.fresh {
                trace.push(Step::ok(
                    "token",
                    format!(
                        "from {} for {}, valid {} s (HTTPS: connect, TLS and the request in one step)",
                        self.tokens.url(),
                        self.tokens.scope(),
                        bearer.expires_in
                    ),
                ));
            }
            let step = "sendMail (connect, TLS and the request in one step)";
            let answer = self.post(&body, bearer.token.expose()).await;
            let answer = match answer {
                Ok(a) => a,
                Err(reason) => {
                    let message = format!("Graph {}: {reason}", self.url);
                    trace.push(Step::failed(step, message.clone()));
                    return Err(SendError::transient(message));
                }
            };
            match answer {
                Answer::Accepted(status) => {
                    trace.push(Step::ok(
                        step,
                        format!("POST {}: HTTP {status}, accepted", self.url),
                    ));
                    return Ok(());
                }
                Answer::Refused {
                    status,
                    code,
                    message,
                    retry_after,
                } => {
                    let text = refusal_text(&self.url, status, &code, &message, retry_after);
                    trace.push(Step::failed(step, text.clone()));
                    // A token Graph no longer takes (revoked, or expired early): one new one.
                    if status == 401 && !bearer.fresh && !renewed {
                        self.tokens.forget(&bearer.token).await;
                        renewed = true;
                        continue;
                    }
                    if matches!(status, 429 | 503) {
                        match retry_after {
                            Some(d) if d <= WAIT_INLINE && !waited => {
                                waited = true;
                                tokio::time::sleep(d).await;
                                continue;
                            }
                            _ => {
                                let mut e = SendError::transient(text);
                                e.retry_after = retry_after;
                                return Err(e);
                            }
                        }
                    }
                    // 401 with a fresh token, 403 (permission), 404 (no mailbox): fixing
                    // them takes an administrator, and the outbox keeps retrying like it
                    // does for a refused SMTP login; other 4xx are this mail's own.
                    return Err(
                        if (400..500).contains(&status) && !matches!(status, 401 | 403) {
                            SendError::permanent(text)
                        } else {
                            SendError::transient(text)
                        },
                    );
                }
            }
        }
    }

    async fn post(&self, body: &str, token: &str) -> Result<Answer, String> {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "text/plain")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| chain(&e))?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(Answer::Accepted(status));
        }
        // Graph sends delta-seconds; the HTTP-date form is not read and falls back to the
        // outbox's own backoff.
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let json: serde_json::Value = response.json().await.unwrap_or_default();
        Ok(Answer::Refused {
            status,
            code: json["error"]["code"].as_str().unwrap_or("").to_string(),
            message: json["error"]["message"].as_str().unwrap_or("").to_string(),
            retry_after,
        })
    }
}

fn refusal_text(
    url: &str,
    status: u16,
    code: &str,
    message: &str,
    retry_after: Option<Duration>,
) -> String {
    let mut text = format!("Graph {url}: HTTP {status}");
    if !code.is_empty() {
        text.push_str(&format!(" {code}"));
    }
    if !message.is_empty() {
        text.push_str(&format!(": {}", crate::domain::cut(message, 300)));
    }
    if let Some(d) = retry_after {
        text.push_str(&format!(" (Retry-After {} s)", d.as_secs()));
    }
    if let Some(h) = hints::graph(code) {
        text.push_str(&format!(" → {h}"));
    }
    text
}

/// A token that could not be had: transient, so the mail waits in the outbox while the
/// app registration is fixed.
pub(crate) fn token_failure(e: &TokenError) -> SendError {
    SendError::transient(format!("no access token: {e}"))
}

/// Whether the header section of `message` names `to` (case-insensitive, as mail
/// addresses are in practice).
fn names_recipient(message: &[u8], to: &Email) -> bool {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(message.len());
    let head = String::from_utf8_lossy(&message[..end]).to_ascii_lowercase();
    head.contains(&to.as_str().to_ascii_lowercase())
}

/// Graph's host name resolved, for `send-test` (the HTTP client resolves it again itself).
pub(crate) async fn resolve_step(base_url: &str) -> Step {
    let Ok(url) = reqwest::Url::parse(base_url) else {
        return Step::failed("resolve", format!("{base_url:?} is not a URL"));
    };
    let host = url.host_str().unwrap_or("").to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    match tokio::net::lookup_host((host.as_str(), port)).await {
        Ok(addrs) => {
            let addrs: Vec<String> = addrs.map(|a| a.ip().to_string()).collect();
            Step::ok(&format!("resolve {host}"), addrs.join(", "))
        }
        Err(e) => Step::failed(&format!("resolve {host}"), e.to_string()),
    }
}

impl GraphSender {
    pub(crate) fn base(&self) -> &str {
        self.url.split("/v1.0/").next().unwrap_or(self.url.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recipient_is_looked_for_in_the_headers_only() {
        let to = Email::parse("anna@region.example.org").expect("address");
        let rows: [(&[u8], bool); 4] = [
            (
                b"To: Anna <anna@region.example.org>\r\nSubject: x\r\n\r\nbody",
                true,
            ),
            (b"To: <ANNA@Region.Example.org>\r\n\r\nbody", true),
            (
                b"To: bo@region.example.org\r\n\r\nanna@region.example.org",
                false,
            ),
            (b"Cc: bo@region.example.org\r\n\r\n", false),
        ];
        for (message, named) in rows {
            assert_eq!(
                names_recipient(message, &to),
                named,
                "{}",
                String::from_utf8_lossy(message)
            );
        }
    }

    #[test]
    fn refusals_name_status_code_message_and_advice() {
        let text = refusal_text(
            "https://graph.example/v1.0/users/a@b/sendMail",
            403,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
            None,
        );
        assert!(
            text.contains("HTTP 403 ErrorAccessDenied: Access is denied"),
            "{text}"
        );
        assert!(text.contains("Mail.Send"), "{text}");
        let text = refusal_text("u", 429, "", "", Some(Duration::from_secs(120)));
        assert!(text.ends_with("HTTP 429 (Retry-After 120 s)"), "{text}");
    }
}
