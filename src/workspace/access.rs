//! Who is signed in and what they may see: session cookies, one-time
//! sign-in links, roles and each role's scope.

use std::collections::BTreeSet;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::Scope;
use crate::config::Config;
use crate::domain::Email;
use crate::store::{SessionRow, Store, StoreError};

/// The session cookie. `__Host-` makes the browser insist on `Secure`,
/// `Path=/` and no `Domain`, so no other host or path can set it.
pub const COOKIE: &str = "__Host-iopd";

/// How long a one-time sign-in link works.
pub const LINK_MINUTES: i64 = 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// IOP-ansvarig: everything.
    Coordinator,
    /// Handläggare: the partnerships where they are officer or deputy.
    Officer,
    /// Auditors, committee secretaries: read everything, change nothing.
    Reader,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "coordinator" => Some(Role::Coordinator),
            "officer" => Some(Role::Officer),
            "reader" => Some(Role::Reader),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Role::Coordinator => "coordinator",
            Role::Officer => "officer",
            Role::Reader => "reader",
        }
    }
    /// In the page header: "Inloggad som … (IOP-ansvarig)".
    pub fn label_sv(self) -> &'static str {
        match self {
            Role::Coordinator => "IOP-ansvarig",
            Role::Officer => "handläggare",
            Role::Reader => "läsbehörighet",
        }
    }
}

/// A signed-in person, as every workspace handler sees them.
#[derive(Debug, Clone)]
pub struct Signed {
    pub email: Email,
    pub role: Role,
    /// The anti-forgery token of this session's forms.
    pub csrf: String,
    session_hash: String,
    /// How they signed in: "oidc" or "admin-link".
    via: String,
}

impl Signed {
    pub fn via(&self) -> &str {
        &self.via
    }

    pub fn session_hash(&self) -> &str {
        &self.session_hash
    }

    /// The partnerships this person may see: all, or (an officer) those
    /// where the address is officer or deputy, or named by a replacement.
    pub async fn scope(&self, store: &Store) -> Result<Scope, StoreError> {
        Ok(match self.role {
            Role::Coordinator | Role::Reader => None,
            Role::Officer => Some(
                store
                    .partnership_ids_of(&self.email)
                    .await?
                    .into_iter()
                    .map(|id| id.as_str().to_string())
                    .collect::<BTreeSet<_>>(),
            ),
        })
    }

    /// Whether the form's anti-forgery token is this session's.
    pub fn form_ok(&self, token: &str) -> bool {
        constant_eq(token.as_bytes(), self.csrf.as_bytes())
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 32 random bytes from the operating system, URL-safe.
pub fn random_token() -> Result<String, String> {
    let mut buf = [0u8; 32];
    getrandom::fill(&mut buf).map_err(|e| format!("no random bytes from the system: {e}"))?;
    Ok(B64.encode(buf))
}

/// What is stored instead of a secret value.
pub fn hash(value: &str) -> String {
    B64.encode(Sha256::digest(value.as_bytes()))
}

/// The session cookie's value in the request, if any.
pub fn cookie(headers: &HeaderMap) -> Option<String> {
    named_cookie(headers, COOKIE)
}

/// A cookie's value in the request, if any.
pub fn named_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// `Set-Cookie` for a sign-in under way at the provider: it must come back
/// to this browser within the attempt's lifetime. `Lax` lets the provider's
/// top-level redirect bring it back.
pub fn login_cookie(value: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={}",
        super::oidc::LOGIN_COOKIE,
        super::oidc::ATTEMPT_SECONDS
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("__Host-iopd-login=; Path=/; Secure; HttpOnly"))
}

pub fn clear_login_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "__Host-iopd-login=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0",
    )
}

/// A new session for a person the provider vouched for; the cookie value.
pub async fn start_session(
    store: &Store,
    email: &Email,
    role: Role,
    via: &str,
    now: i64,
) -> Result<String, StoreError> {
    let value = random_token().map_err(StoreError::Refused)?;
    let csrf = random_token().map_err(StoreError::Refused)?;
    store
        .start_session(
            &hash(&value),
            &email.as_str().to_lowercase(),
            role.name(),
            &csrf,
            via,
            now,
        )
        .await?;
    Ok(value)
}

/// `Set-Cookie` for a new session; the browser keeps it until it is closed,
/// the server decides how long it lives.
pub fn set_cookie(value: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; Secure; HttpOnly; SameSite=Lax"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("__Host-iopd=; Path=/; Secure; HttpOnly"))
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("__Host-iopd=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// The signed-in person behind the request's cookie, if the session lives.
pub async fn signed_in(
    cfg: &Config,
    store: &Store,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Result<Option<Signed>, StoreError> {
    let Some(value) = cookie(headers) else {
        return Ok(None);
    };
    let session_hash = hash(&value);
    let row = store
        .session(
            &session_hash,
            now.timestamp(),
            cfg.auth.idle.as_secs() as i64,
            cfg.auth.absolute.as_secs() as i64,
        )
        .await?;
    Ok(row.and_then(|r| signed(r, session_hash)))
}

fn signed(r: SessionRow, session_hash: String) -> Option<Signed> {
    let (Ok(email), Some(role)) = (Email::parse(&r.email), Role::parse(&r.role)) else {
        tracing::warn!("a session with an unreadable address or role was ignored");
        return None;
    };
    Some(Signed {
        email,
        role,
        csrf: r.csrf,
        session_hash,
        via: r.via,
    })
}

/// Uses a one-time link: a new session (new random value, so a value set
/// before sign-in is never the session's) or `None` when the link is
/// unknown, used or expired. Returns the cookie value with the person.
pub async fn use_link(
    store: &Store,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<(String, Signed)>, String> {
    let value = random_token()?;
    let csrf = random_token()?;
    let session_hash = hash(&value);
    let row = store
        .use_signin_link(&hash(token), &session_hash, &csrf, now.timestamp())
        .await
        .map_err(|e| e.to_string())?;
    Ok(row
        .and_then(|r| signed(r, session_hash))
        .map(|s| (value, s)))
}

/// `iopd admin-link`: stores a one-time sign-in link for `email` with
/// `role` and returns its address (from `[web] public_url`).
pub async fn issue_signin_link(
    cfg: &Config,
    store: &Store,
    email: &Email,
    role: Role,
    now: DateTime<Utc>,
) -> Result<String, String> {
    let base = cfg.web.public_url.as_deref().ok_or_else(|| {
        "[web] public_url is not set: the link needs the address the workspace is reached at"
            .to_string()
    })?;
    let token = random_token()?;
    let expires = now.timestamp() + LINK_MINUTES * 60;
    store
        .add_signin_link(
            &hash(&token),
            &email.as_str().to_lowercase(),
            role.name(),
            expires,
        )
        .await
        .map_err(|e| e.to_string())?;
    tracing::warn!(
        email = %email,
        role = role.name(),
        "a one-time sign-in link to the workspace was issued (break-glass)"
    );
    Ok(format!(
        "{}/arbetsyta/engangslank/{token}",
        base.trim_end_matches('/')
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others_and_tokens_differ() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-iopd=abc; b=2"),
        );
        assert_eq!(cookie(&h).as_deref(), Some("abc"));
        h.insert(header::COOKIE, HeaderValue::from_static("iopd=abc"));
        assert_eq!(cookie(&h), None);
        let (a, b) = (random_token().unwrap(), random_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_ne!(hash(&a), a);
        assert!(constant_eq(b"same", b"same") && !constant_eq(b"same", b"sane"));
    }
}
