//! Access tokens for SMTP XOAUTH2 and Microsoft Graph: the OAuth2 client-credentials grant
//! (RFC 6749, section 4.4) against Microsoft's v2 token endpoint or another provider's.
//!
//! The grant is one form POST and a JSON answer, so it is made with `reqwest` directly
//! rather than the `oauth2` crate: Entra's refusals carry `error_codes` (the AADSTS number
//! the advice in `hints.rs` keys on), which that crate's standard error type drops.
//!
//! A token is kept until [`REFRESH_BEFORE`] its expiry and then fetched again; there is no
//! refresh token in this grant. One fetch at a time: concurrent senders wait for it rather
//! than each asking for a token of their own. A token the server refused although it had
//! not expired (revoked, or the server's clock is ahead) is forgotten with [`forget`].
//!
//! [`forget`]: TokenSource::forget

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::config::{CaFile, OAuth2, Secret};

use super::hints;

/// How long before its expiry a token is replaced: MSAL's margin, so a token is never
/// handed to Exchange or Graph in its last minutes (clock skew, a long send).
pub const REFRESH_BEFORE: Duration = Duration::from_secs(300);

/// Why no token could be had. The text never contains the client secret or a token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    /// The endpoint answered with an OAuth2 error (`invalid_client`, …).
    #[error("token endpoint {url} refused: HTTP {status} {error}: {description}{hint}")]
    Refused {
        url: String,
        status: u16,
        error: String,
        description: String,
        /// `" → what to do"`, or empty.
        hint: String,
    },
    /// No answer: DNS, connection, TLS (an untrusted certificate), timeout.
    #[error("token endpoint {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// An answer that is not a token.
    #[error("token endpoint {url}: unexpected answer: {reason}")]
    Malformed { url: String, reason: String },
}

/// A token handed out, with whether it was fetched just now (a refusal of a fresh token is
/// not helped by fetching another).
pub struct Bearer {
    pub token: Secret,
    pub fresh: bool,
    /// Seconds the endpoint said it is valid for.
    pub expires_in: u64,
}

struct Cached {
    token: Secret,
    expires_at: Instant,
    expires_in: u64,
}

impl Cached {
    fn usable_at(&self, now: Instant) -> bool {
        now + REFRESH_BEFORE < self.expires_at
    }
}

/// Tokens of one grant, cached.
pub struct TokenSource {
    cfg: OAuth2,
    http: reqwest::Client,
    cached: tokio::sync::Mutex<Option<Cached>>,
    fetches: AtomicU64,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_url", &self.cfg.token_url)
            .field("client_id", &self.cfg.client_id)
            .field("scope", &self.cfg.scope)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    pub fn new(cfg: &OAuth2, timeout: Duration) -> Result<Self, String> {
        Ok(Self {
            cfg: cfg.clone(),
            http: https_client(cfg.ca_file.as_ref(), timeout)?,
            cached: tokio::sync::Mutex::new(None),
            fetches: AtomicU64::new(0),
        })
    }

    pub fn url(&self) -> &str {
        &self.cfg.token_url
    }

    pub fn scope(&self) -> &str {
        &self.cfg.scope
    }

    /// Tokens fetched from the endpoint so far (for tests and the benchmark).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// A token valid for at least [`REFRESH_BEFORE`], from the cache or fetched now.
    pub async fn token(&self) -> Result<Bearer, TokenError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && c.usable_at(Instant::now())
        {
            return Ok(Bearer {
                token: c.token.clone(),
                fresh: false,
                expires_in: c.expires_in,
            });
        }
        let asked = Instant::now();
        let (token, expires_in) = self.fetch().await?;
        *cached = Some(Cached {
            token: token.clone(),
            // Counted from the request, not the answer: never later than the server's view.
            expires_at: asked + Duration::from_secs(expires_in),
            expires_in,
        });
        Ok(Bearer {
            token,
            fresh: true,
            expires_in,
        })
    }

    /// Drops `token` from the cache if it is still there, so the next call fetches anew.
    pub async fn forget(&self, token: &Secret) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| &c.token == token) {
            *cached = None;
        }
    }

    async fn fetch(&self) -> Result<(Secret, u64), TokenError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let url = self.cfg.token_url.clone();
        let secret = self.cfg.client_secret.expose();
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.cfg.client_id.as_str()),
            ("client_secret", secret),
            ("scope", self.cfg.scope.as_str()),
        ];
        let scrub = |s: String| {
            if secret.is_empty() {
                s
            } else {
                s.replace(secret, "***")
            }
        };
        let response =
            self.http
                .post(&url)
                .form(&form)
                .send()
                .await
                .map_err(|e| TokenError::Unreachable {
                    url: url.clone(),
                    reason: scrub(super::transport::chain(&e)),
                })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| TokenError::Unreachable {
                url: url.clone(),
                reason: scrub(super::transport::chain(&e)),
            })?;
        let json: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| TokenError::Malformed {
                url: url.clone(),
                reason: format!("HTTP {status}, not JSON"),
            })?;
        if !status.is_success() {
            let error = json["error"].as_str().unwrap_or("error").to_string();
            let full = json["error_description"].as_str().unwrap_or("");
            // Entra's description goes on with "Trace ID: … Correlation ID: …" lines.
            let first = full.lines().next().unwrap_or("").trim();
            let code = json["error_codes"][0]
                .as_u64()
                .and_then(|c| u32::try_from(c).ok())
                .or_else(|| hints::aadsts_code(full));
            let hint = code
                .and_then(hints::aadsts)
                .map_or(String::new(), |h| format!(" → {h}"));
            return Err(TokenError::Refused {
                url,
                status: status.as_u16(),
                error: scrub(crate::domain::cut(&error, 100)),
                description: scrub(crate::domain::cut(first, 400)),
                hint,
            });
        }
        let Some(token) = json["access_token"].as_str().filter(|t| !t.is_empty()) else {
            return Err(TokenError::Malformed {
                url,
                reason: "no access_token".into(),
            });
        };
        // A number in the v2 endpoint's answers, a string in older ones.
        let expires_in = json["expires_in"]
            .as_u64()
            .or_else(|| json["expires_in"].as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| TokenError::Malformed {
                url: url.clone(),
                reason: "no expires_in".into(),
            })?;
        Ok((Secret::new(token), expires_in))
    }
}

/// An HTTPS client that trusts the system's roots and those of `ca` (ring, as everywhere
/// else), follows no redirects (a secret or a token must not go where it was not sent) and
/// gives up after `timeout`.
pub fn https_client(ca: Option<&CaFile>, timeout: Duration) -> Result<reqwest::Client, String> {
    use rustls_pki_types::CertificateDer;

    let mut roots = rustls::RootCertStore::empty();
    // Unreadable system certificates are skipped, as every TLS client does; with none at
    // all, only `ca_file` is trusted.
    let native = rustls_native_certs::load_native_certs();
    let _ = roots.add_parsable_certificates(native.certs);
    if let Some(ca) = ca {
        for der in &ca.certificates {
            roots
                .add(CertificateDer::from(der.clone()))
                .map_err(|e| format!("{}: {e}", ca.path.display()))?;
        }
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("iopd/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| super::transport::chain(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_replaced_five_minutes_before_it_expires() {
        let t0 = Instant::now();
        let cached = Cached {
            token: Secret::new("t"),
            expires_at: t0 + Duration::from_secs(3600),
            expires_in: 3600,
        };
        // (seconds after the fetch, still used)
        let rows = [
            (0, true),
            (3000, true),
            (3299, true),
            (3300, false),
            (3599, false),
            (4000, false),
        ];
        for (after, usable) in rows {
            assert_eq!(
                cached.usable_at(t0 + Duration::from_secs(after)),
                usable,
                "{after} s"
            );
        }
        // A token shorter-lived than the margin is never reused.
        let short = Cached {
            token: Secret::new("t"),
            expires_at: t0 + Duration::from_secs(120),
            expires_in: 120,
        };
        assert!(!short.usable_at(t0));
    }
}
