//! Sign-in with the body's OpenID Connect provider (Microsoft Entra ID or
//! any conformant one): the authorization-code flow with PKCE, `state` and
//! `nonce`, the ID token verified by the `openidconnect` crate against the
//! provider's published keys, issuer and audience. The person's address is
//! the token's `email` claim, their role the widest their groups give.
//!
//! Each sign-in under way is stored (hashed `state`) with its nonce, PKCE
//! verifier and the browser it belongs to (a short-lived cookie), and is
//! taken once: a replayed or forged answer, or one delivered to another
//! browser, signs nobody in.

use std::collections::HashMap;

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreClaimName, CoreClaimType, CoreClientAuthMethod,
    CoreErrorResponseType, CoreGenderClaim, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm,
    CoreResponseMode, CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreSubjectIdentifierType, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AdditionalProviderMetadata, AuthenticationFlow, AuthorizationCode, Client,
    ClientId, ClientSecret, CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IdTokenFields, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    ProviderMetadata, RedirectUrl, Scope, StandardErrorResponse, StandardTokenResponse,
};
use serde::{Deserialize, Serialize};

use super::access::{self, Role};
use crate::config::Oidc;
use crate::domain::Email;
use crate::store::{LoginAttempt, Store};

/// The browser's cookie for a sign-in under way.
pub const LOGIN_COOKIE: &str = "__Host-iopd-login";

/// How long a sign-in may take at the provider.
pub const ATTEMPT_SECONDS: i64 = 600;

/// Every claim of the ID token besides the standard ones (the groups).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Extra {
    #[serde(flatten)]
    other: HashMap<String, serde_json::Value>,
}
impl AdditionalClaims for Extra {}

/// The discovery document's logout address (RP-initiated logout).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Logout {
    #[serde(default)]
    end_session_endpoint: Option<String>,
}
impl AdditionalProviderMetadata for Logout {}

type Metadata = ProviderMetadata<
    Logout,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

type Tokens = StandardTokenResponse<
    IdTokenFields<
        Extra,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

type OidcClient = Client<
    Extra,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why a sign-in did not happen: `person` for the page, `log` for the operator.
#[derive(Debug)]
pub struct Refused {
    pub person: String,
    pub log: String,
}

fn refused(person: &str, log: impl Into<String>) -> Refused {
    Refused {
        person: person.to_string(),
        log: log.into(),
    }
}

const TRY_AGAIN: &str = "Inloggningen gick inte att slutföra. Börja om från inloggningssidan.";
const PROVIDER_DOWN: &str = "Organisationens inloggningstjänst svarar inte som den ska just nu. \
                             Försök igen om en stund, eller be systemförvaltaren om en \
                             inloggningslänk.";

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct HttpFailure(String);

/// The provider is asked through our own HTTPS client (system roots plus
/// `[auth] ca_file`, no redirects followed).
async fn call(
    client: &reqwest::Client,
    req: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, HttpFailure> {
    let (parts, body) = req.into_parts();
    let res = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(|e| HttpFailure(crate::mail::transport::chain(&e)))?;
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res
        .bytes()
        .await
        .map_err(|e| HttpFailure(crate::mail::transport::chain(&e)))?;
    let mut out = http::Response::new(bytes.to_vec());
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

/// The HTTP client as the crate takes it: each call owns its handle, so the
/// futures are `Send` whatever the borrows around them.
fn client_fn(
    http: &reqwest::Client,
) -> impl Fn(
    openidconnect::HttpRequest,
) -> std::pin::Pin<
    Box<dyn Future<Output = Result<openidconnect::HttpResponse, HttpFailure>> + Send>,
> + use<> {
    let http = http.clone();
    move |req| {
        let c = http.clone();
        Box::pin(async move { call(&c, req).await })
    }
}

struct Provider {
    http: reqwest::Client,
    client: OidcClient,
    logout: Option<String>,
    /// Its discovery document and keys came from [`Discovery`], not the
    /// provider just now.
    kept: bool,
}

/// How long the provider's discovery document and keys are used before they
/// are fetched again. An ID token signed with a key not among them fetches
/// them at once (the provider rolled its keys).
const DISCOVERY_KEPT: std::time::Duration = std::time::Duration::from_secs(600);

/// The provider's discovery document and keys, with the HTTPS client that
/// fetched them, kept between the steps of the sign-ins (the start, the
/// answer and the logout each need them), so the provider is asked once every
/// [`DISCOVERY_KEPT`] rather than three times a sign-in. Concurrent sign-ins
/// wait for one fetch.
#[derive(Clone, Default)]
pub struct Discovery {
    kept: std::sync::Arc<tokio::sync::Mutex<Option<Kept>>>,
}

struct Kept {
    /// The issuer and CA certificates it was fetched with (a reload may
    /// change them).
    from: (String, Option<Vec<Vec<u8>>>),
    at: tokio::time::Instant,
    http: reqwest::Client,
    meta: Metadata,
}

async fn provider(oidc: &Oidc, discovery: &Discovery, fresh: bool) -> Result<Provider, Refused> {
    let from = (
        oidc.issuer.clone(),
        oidc.ca_file.as_ref().map(|c| c.certificates.clone()),
    );
    let mut kept = discovery.kept.lock().await;
    let usable = kept
        .as_ref()
        .filter(|k| !fresh && k.from == from && k.at.elapsed() < DISCOVERY_KEPT)
        .map(|k| (k.http.clone(), k.meta.clone()));
    let (http, meta, was_kept) = match usable {
        Some((http, meta)) => (http, meta, true),
        None => {
            let http = crate::mail::oauth2::https_client(
                oidc.ca_file.as_ref(),
                std::time::Duration::from_secs(10),
            )
            .map_err(|e| refused(PROVIDER_DOWN, format!("no HTTPS client: {e}")))?;
            let issuer = IssuerUrl::new(oidc.issuer.clone())
                .map_err(|e| refused(PROVIDER_DOWN, format!("auth.issuer: {e}")))?;
            let h = client_fn(&http);
            let meta = Metadata::discover_async(issuer, &h).await.map_err(|e| {
                refused(
                    PROVIDER_DOWN,
                    format!("discovery at {} failed: {}", oidc.issuer, error_chain(&e)),
                )
            })?;
            *kept = Some(Kept {
                from,
                at: tokio::time::Instant::now(),
                http: http.clone(),
                meta: meta.clone(),
            });
            (http, meta, false)
        }
    };
    drop(kept);
    let logout = meta.additional_metadata().end_session_endpoint.clone();
    let redirect = RedirectUrl::new(oidc.redirect_url.clone())
        .map_err(|e| refused(PROVIDER_DOWN, format!("auth.redirect_url: {e}")))?;
    let client: OidcClient = Client::from_provider_metadata(
        meta,
        ClientId::new(oidc.client_id.clone()),
        Some(ClientSecret::new(oidc.client_secret.expose().to_string())),
    )
    .set_redirect_uri(redirect);
    Ok(Provider {
        http,
        client,
        logout,
        kept: was_kept,
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

/// A return path inside the workspace, or the overview: never another site.
pub fn safe_return(path: Option<&str>) -> String {
    match path {
        Some(p)
            if (p == "/arbetsyta"
                || p.starts_with("/arbetsyta/")
                || p.starts_with("/arbetsyta?"))
                && !p.contains("//")
                && !p.contains('\\')
                && !p.chars().any(char::is_control) =>
        {
            p.to_string()
        }
        _ => "/arbetsyta".to_string(),
    }
}

/// Starts a sign-in: the provider's address to send the browser to, and the
/// value of the browser's sign-in cookie.
pub async fn start(
    oidc: &Oidc,
    discovery: &Discovery,
    store: &Store,
    now: i64,
    return_to: Option<&str>,
) -> Result<(String, String), Refused> {
    let p = provider(oidc, discovery, false).await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = p
        .client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let browser = access::random_token().map_err(|e| refused(TRY_AGAIN, e))?;
    let attempt = LoginAttempt {
        state_hash: access::hash(state.secret()),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
        browser_hash: access::hash(&browser),
        return_to: safe_return(return_to),
        created_at: now,
    };
    store
        .add_login_attempt(&attempt)
        .await
        .map_err(|e| refused(TRY_AGAIN, e.to_string()))?;
    Ok((url.to_string(), browser))
}

/// Who signed in.
#[derive(Debug)]
pub struct Verified {
    pub email: Email,
    pub role: Role,
    pub return_to: String,
}

/// Finishes a sign-in from the provider's answer in this browser.
pub async fn finish(
    oidc: &Oidc,
    discovery: &Discovery,
    store: &Store,
    now: i64,
    code: &str,
    state: &str,
    browser: Option<&str>,
) -> Result<Verified, Refused> {
    let attempt = store
        .take_login_attempt(&access::hash(state), now, ATTEMPT_SECONDS)
        .await
        .map_err(|e| refused(TRY_AGAIN, e.to_string()))?
        .ok_or_else(|| refused(TRY_AGAIN, "an unknown, used or expired state"))?;
    if browser.map(access::hash).as_deref() != Some(attempt.browser_hash.as_str()) {
        return Err(refused(
            TRY_AGAIN,
            "the answer came to another browser than the one that started the sign-in",
        ));
    }
    let p = provider(oidc, discovery, false).await?;
    let h = client_fn(&p.http);
    let tokens = p
        .client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| refused(PROVIDER_DOWN, format!("no token endpoint: {e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(attempt.pkce_verifier))
        .request_async(&h)
        .await
        .map_err(|e| refused(TRY_AGAIN, format!("code exchange: {}", error_chain(&e))))?;
    let id_token = tokens
        .extra_fields()
        .id_token()
        .ok_or_else(|| refused(TRY_AGAIN, "the token response holds no ID token"))?;
    let nonce = Nonce::new(attempt.nonce);
    let mut client = p.client;
    if p.kept
        && id_token
            .claims(&client.id_token_verifier(), &nonce)
            .is_err()
    {
        // Checked against the keys as they were: the provider may have
        // rolled them since.
        client = provider(oidc, discovery, true).await?.client;
    }
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .map_err(|e| refused(TRY_AGAIN, format!("ID token refused: {}", error_chain(&e))))?;
    const NO_ADDRESS: &str = "Ditt konto hos organisationen har ingen bekräftad e-postadress, \
                              så arbetsytan vet inte vem du är. Kontakta systemförvaltaren.";
    let email = claims
        .email()
        .ok_or_else(|| refused(NO_ADDRESS, "the ID token has no email claim"))?;
    if oidc.require_email_verified && claims.email_verified() != Some(true) {
        return Err(refused(
            NO_ADDRESS,
            "the email claim is not verified (auth.require_email_verified)",
        ));
    }
    let email = Email::parse(email.as_str())
        .map_err(|e| refused(NO_ADDRESS, format!("the email claim is unusable: {}", e.0)))?;
    let groups: Vec<String> = match claims.additional_claims().other.get(&oidc.groups_claim) {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    };
    let role = role_of(oidc, &groups).ok_or_else(|| {
        refused(
            "Du är inloggad hos organisationen men har ingen behörighet till arbetsytan. \
             Kontakta IOP-ansvarig om du behöver den.",
            format!("{email} is in none of the configured groups"),
        )
    })?;
    Ok(Verified {
        email,
        role,
        return_to: attempt.return_to,
    })
}

/// The widest role the groups give.
pub fn role_of(oidc: &Oidc, groups: &[String]) -> Option<Role> {
    let any = |list: &[String]| groups.iter().any(|g| list.contains(g));
    if any(&oidc.coordinator_groups) {
        Some(Role::Coordinator)
    } else if any(&oidc.officer_groups) {
        Some(Role::Officer)
    } else if any(&oidc.reader_groups) {
        Some(Role::Reader)
    } else {
        None
    }
}

/// The provider's logout address, if it offers one, with the way back.
pub async fn logout_url(oidc: &Oidc, discovery: &Discovery, back: &str) -> Option<String> {
    let p = provider(oidc, discovery, false).await.ok()?;
    let end = p.logout?;
    let mut url = reqwest::Url::parse(&end).ok()?;
    url.query_pairs_mut()
        .append_pair("client_id", &oidc.client_id)
        .append_pair("post_logout_redirect_uri", back);
    Some(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_way_back_stays_in_the_workspace() {
        for (given, want) in [
            (
                Some("/arbetsyta/partnerskap?id=T1"),
                "/arbetsyta/partnerskap?id=T1",
            ),
            (Some("/arbetsyta?sok=x"), "/arbetsyta?sok=x"),
            (Some("https://evil.example/arbetsyta"), "/arbetsyta"),
            (Some("//evil.example/arbetsyta"), "/arbetsyta"),
            (Some("/arbetsyta//evil.example"), "/arbetsyta"),
            (Some("/arbetsyta\\..\\x"), "/arbetsyta"),
            (Some("/arbetsytan-falsk"), "/arbetsyta"),
            (Some("/a/token"), "/arbetsyta"),
            (None, "/arbetsyta"),
        ] {
            assert_eq!(safe_return(given), want, "{given:?}");
        }
    }
}
