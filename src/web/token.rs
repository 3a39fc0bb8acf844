//! Signed links and form tokens.
//!
//! A link token is `PAYLOAD.MAC`, both base64url without padding. The payload
//! names the action, the checkpoint key, the recipient and the last day the
//! link works; the MAC is HMAC-SHA256 over the payload bytes with
//! `[web] link_secret`. Verification tries the current secret, then
//! `previous_secret` (a rotation period), and compares in constant time
//! (`Mac::verify_slice`). A form token is `ISSUED.MAC` with the MAC over the
//! link token and the issue time, so a form is tied to its link and goes stale.
//! A calendar-feed token ([`sign_feed`]) has the same shape over its own
//! payload: an address and a revocation version, no expiry.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::Email;

type HmacSha256 = Hmac<Sha256>;

/// Tokens are short; anything longer is refused before decoding.
const MAX_TOKEN_LEN: usize = 1024;
/// A form is accepted this long after the page was shown.
pub const FORM_HOURS: i64 = 8;

/// What a link lets its recipient do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// *Registrera att det är gjort*.
    Done,
    /// *Jag är frånvarande*.
    Absent,
    /// *Jag behöver mer tid*.
    MoreTime,
    /// The digest's read-only overview (no checkpoint).
    Overview,
}

impl Action {
    fn code(self) -> &'static str {
        match self {
            Action::Done => "done",
            Action::Absent => "absent",
            Action::MoreTime => "more",
            Action::Overview => "overview",
        }
    }
    fn parse(s: &str) -> Option<Action> {
        [
            Action::Done,
            Action::Absent,
            Action::MoreTime,
            Action::Overview,
        ]
        .into_iter()
        .find(|a| a.code() == s)
    }
}

/// What a valid link says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub action: Action,
    /// Empty for the overview.
    pub checkpoint: String,
    pub recipient: Email,
    /// The last day the link works.
    pub expires: NaiveDate,
}

/// Why a token was refused; never carries the token itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not two base64url parts, too long, or a payload that does not parse.
    Malformed,
    /// No configured secret gives this MAC.
    BadSignature,
    Expired,
}

fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    <HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!())
}

/// Signs a link for `claims` with `secret`.
pub fn sign(secret: &[u8], claims: &Claims) -> String {
    // Fields are separated by a newline, which neither a key (no control
    // characters) nor an address nor a date can contain.
    let payload = format!(
        "v1\n{}\n{}\n{}\n{}",
        claims.action.code(),
        claims.checkpoint,
        claims.recipient,
        claims.expires
    );
    signed(secret, &payload)
}

/// `PAYLOAD.MAC`, both base64url.
fn signed(secret: &[u8], payload: &str) -> String {
    let mut m = mac(secret);
    m.update(payload.as_bytes());
    format!(
        "{}.{}",
        B64.encode(payload.as_bytes()),
        B64.encode(m.finalize().into_bytes())
    )
}

/// The payload of `token` when one of `secrets` signed it.
fn payload_of(secrets: &[&[u8]], token: &str) -> Result<String, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let (p, m) = token.split_once('.').ok_or(TokenError::Malformed)?;
    let payload = B64.decode(p).map_err(|_| TokenError::Malformed)?;
    let tag = B64.decode(m).map_err(|_| TokenError::Malformed)?;
    if tag.len() != 32 {
        return Err(TokenError::Malformed);
    }
    let signed = secrets.iter().any(|s| {
        let mut m = mac(s);
        m.update(&payload);
        m.verify_slice(&tag).is_ok()
    });
    if !signed {
        return Err(TokenError::BadSignature);
    }
    // Signed by us, so the payload is ours; still parsed without panicking.
    String::from_utf8(payload).map_err(|_| TokenError::Malformed)
}

/// Checks `token` against each secret in turn, then its expiry at `today`.
pub fn verify(secrets: &[&[u8]], token: &str, today: NaiveDate) -> Result<Claims, TokenError> {
    let text = payload_of(secrets, token)?;
    let parts: Vec<&str> = text.split('\n').collect();
    let [version, action, checkpoint, recipient, expires] = parts[..] else {
        return Err(TokenError::Malformed);
    };
    if version != "v1" {
        return Err(TokenError::Malformed);
    }
    let claims = Claims {
        action: Action::parse(action).ok_or(TokenError::Malformed)?,
        checkpoint: checkpoint.to_string(),
        recipient: Email::parse(recipient).map_err(|_| TokenError::Malformed)?,
        expires: NaiveDate::parse_from_str(expires, "%Y-%m-%d")
            .map_err(|_| TokenError::Malformed)?,
    };
    if today > claims.expires {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

/// A person's calendar-feed token: `PAYLOAD.MAC` like a link, over
/// `feed1\n{address}\n{version}`. It has no last day (a subscription is
/// read for years); it ends when `iopd feed-revoke` raises the person's
/// version or the link secret is rotated. The payload's first field keeps a
/// feed token and an action link from ever standing for each other.
pub fn sign_feed(secret: &[u8], recipient: &Email, version: i64) -> String {
    signed(secret, &format!("feed1\n{recipient}\n{version}"))
}

/// The address and version a feed token was signed for by one of `secrets`.
pub fn verify_feed(secrets: &[&[u8]], token: &str) -> Result<(Email, i64), TokenError> {
    let text = payload_of(secrets, token)?;
    let parts: Vec<&str> = text.split('\n').collect();
    let ["feed1", recipient, version] = parts[..] else {
        return Err(TokenError::Malformed);
    };
    Ok((
        Email::parse(recipient).map_err(|_| TokenError::Malformed)?,
        version.parse().map_err(|_| TokenError::Malformed)?,
    ))
}

/// The anti-forgery token a form carries: bound to its link and issue time.
pub fn form_token(secret: &[u8], link: &str, issued: DateTime<Utc>) -> String {
    let t = issued.timestamp();
    let mut m = mac(secret);
    m.update(format!("form\n{link}\n{t}").as_bytes());
    format!("{t}.{}", B64.encode(m.finalize().into_bytes()))
}

/// Whether `form` was issued for `link` by one of `secrets` within
/// [`FORM_HOURS`] before `now`.
pub fn form_ok(secrets: &[&[u8]], link: &str, form: &str, now: DateTime<Utc>) -> bool {
    let Some((t, m)) = form.split_once('.') else {
        return false;
    };
    let Ok(issued) = t.parse::<i64>() else {
        return false;
    };
    let Some(at) = DateTime::from_timestamp(issued, 0) else {
        return false;
    };
    // A minute of slack for clocks; older than the limit is stale.
    if at > now + Duration::minutes(1) || now - at > Duration::hours(FORM_HOURS) {
        return false;
    }
    let Ok(tag) = B64.decode(m) else {
        return false;
    };
    secrets.iter().any(|s| {
        let mut mac = mac(s);
        mac.update(format!("form\n{link}\n{issued}").as_bytes());
        mac.verify_slice(&tag).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[u8] = b"0123456789abcdef0123456789abcdef";
    const B: &[u8] = b"fedcba9876543210fedcba9876543210";

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn claims(action: Action, key: &str, to: &str) -> Claims {
        Claims {
            action,
            checkpoint: key.into(),
            recipient: Email::parse(to).unwrap(),
            expires: d("2026-06-30"),
        }
    }

    fn swap_payload(token: &str, other: &Claims) -> String {
        // The MAC of one link with the payload of another.
        let forged = sign(B, other);
        let (p, _) = forged.split_once('.').unwrap();
        let (_, m) = token.split_once('.').unwrap();
        format!("{p}.{m}")
    }

    #[test]
    fn a_signed_link_verifies_until_its_last_day() {
        let c = claims(Action::Done, "T1/checkin/y0-w1", "olle@example.org");
        let t = sign(A, &c);
        assert_eq!(verify(&[A], &t, d("2026-05-01")), Ok(c.clone()));
        // The last day still works; the day after does not.
        assert_eq!(verify(&[A], &t, d("2026-06-30")), Ok(c));
        assert_eq!(verify(&[A], &t, d("2026-07-01")), Err(TokenError::Expired));
    }

    #[test]
    fn tampered_truncated_and_foreign_tokens_are_refused() {
        let today = d("2026-05-01");
        let c = claims(Action::Done, "T1/checkin/y0-w1", "olle@example.org");
        let t = sign(A, &c);
        // Each row: a token that must not verify, and why.
        let mut flipped = t.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let rows: Vec<(String, TokenError)> = vec![
            // One character of the MAC changed.
            (
                String::from_utf8(flipped).unwrap(),
                TokenError::BadSignature,
            ),
            // Cut short.
            (t[..t.len() - 5].to_string(), TokenError::Malformed),
            (t[..10].to_string(), TokenError::Malformed),
            (String::new(), TokenError::Malformed),
            // Another checkpoint, recipient or action under this link's MAC.
            (
                swap_payload(
                    &t,
                    &claims(Action::Done, "T1/checkin/y0-w2", "olle@example.org"),
                ),
                TokenError::BadSignature,
            ),
            (
                swap_payload(
                    &t,
                    &claims(Action::Done, "T1/checkin/y0-w1", "eve@example.org"),
                ),
                TokenError::BadSignature,
            ),
            (
                swap_payload(
                    &t,
                    &claims(Action::MoreTime, "T1/checkin/y0-w1", "olle@example.org"),
                ),
                TokenError::BadSignature,
            ),
            // Later expiry under the old MAC.
            (
                swap_payload(
                    &t,
                    &Claims {
                        expires: d("2030-01-01"),
                        ..c.clone()
                    },
                ),
                TokenError::BadSignature,
            ),
            // Signed with a key we do not hold.
            (sign(B, &c), TokenError::BadSignature),
            // Not base64, or far too long.
            ("%%%.%%%".to_string(), TokenError::Malformed),
            ("A".repeat(5000), TokenError::Malformed),
        ];
        for (token, why) in rows {
            assert_eq!(verify(&[A], &token, today), Err(why), "{token}");
        }
    }

    #[test]
    fn the_previous_secret_works_during_a_rotation() {
        let c = claims(Action::Absent, "T1/checkin/y0-w1", "olle@example.org");
        let old = sign(B, &c);
        let today = d("2026-05-01");
        assert_eq!(verify(&[A, B], &old, today), Ok(c.clone()));
        // Once the previous secret is removed, old links stop working.
        assert_eq!(verify(&[A], &old, today), Err(TokenError::BadSignature));
        assert_eq!(verify(&[A, B], &sign(A, &c), today), Ok(c));
    }

    #[test]
    fn form_tokens_are_bound_to_their_link_and_go_stale() {
        let now = DateTime::parse_from_rfc3339("2026-05-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let f = form_token(A, "LINK", now);
        assert!(form_ok(&[A], "LINK", &f, now + Duration::minutes(5)));
        assert!(!form_ok(&[A], "OTHER", &f, now));
        assert!(!form_ok(&[B], "LINK", &f, now));
        assert!(!form_ok(
            &[A],
            "LINK",
            &f,
            now + Duration::hours(FORM_HOURS + 1)
        ));
        assert!(!form_ok(&[A], "LINK", &f, now - Duration::hours(1)));
        assert!(!form_ok(&[A], "LINK", "", now));
        assert!(!form_ok(&[A], "LINK", "123.abc", now));
        // A changed issue time does not carry the MAC.
        let (_, m) = f.split_once('.').unwrap();
        let moved = format!("{}.{m}", now.timestamp() + 60);
        assert!(!form_ok(&[A], "LINK", &moved, now + Duration::minutes(2)));
    }

    #[test]
    fn feed_tokens_verify_and_never_pass_for_links() {
        let anna = Email::parse("anna@example.org").unwrap();
        let t = sign_feed(A, &anna, 3);
        assert_eq!(verify_feed(&[A], &t), Ok((anna.clone(), 3)));
        // A rotation: the previous secret still works, a foreign one does not.
        assert_eq!(verify_feed(&[B, A], &t), Ok((anna.clone(), 3)));
        assert_eq!(verify_feed(&[B], &t), Err(TokenError::BadSignature));
        // Another address or version under this token's MAC.
        let (_, m) = t.split_once('.').unwrap();
        for other in [
            sign_feed(B, &anna, 4),
            sign_feed(B, &Email::parse("eve@example.org").unwrap(), 3),
        ] {
            let (p, _) = other.split_once('.').unwrap();
            assert_eq!(
                verify_feed(&[A], &format!("{p}.{m}")),
                Err(TokenError::BadSignature)
            );
        }
        // A feed token is no action link, and an action link is no feed.
        assert_eq!(
            verify(&[A], &t, d("2026-05-01")),
            Err(TokenError::Malformed)
        );
        let link = sign(A, &claims(Action::Overview, "", "anna@example.org"));
        assert_eq!(verify_feed(&[A], &link), Err(TokenError::Malformed));
    }
}
