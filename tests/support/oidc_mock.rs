//! A hand-made OpenID provider on loopback for the ID tokens a real one
//! never issues: from another issuer, for another audience, with another
//! nonce, or expired. Everything else (sign-in pages, consent, logout) is
//! tested against the real `oidc-provider` (`oidc.rs`).
//!
//! It serves discovery, its keys (JWKS) and a token endpoint over HTTPS with
//! the test certificate of `smtp.rs`, and signs each ID token with the RSA
//! key in `tests/fixtures/oidc-test-key.pem` through `openidconnect`, or
//! after [`MockProvider::roll_key`] with `oidc-test-key-2.pem`. The test tells
//! it beforehand what to answer for a code: [`MockProvider::answer`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use axum::extract::{Form, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{Duration, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRsaPrivateSigningKey,
};
use openidconnect::{
    AdditionalClaims, Audience, EndUserEmail, IdToken, IdTokenClaims, IssuerUrl, JsonWebKeyId,
    Nonce, PrivateSigningKey, StandardClaims, SubjectIdentifier,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::smtp::TestCert;

/// The groups claim, as iopd reads it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Groups {
    groups: Vec<String>,
}
impl AdditionalClaims for Groups {}

type Token =
    IdToken<Groups, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

/// What is wrong with the ID token answered for a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    /// Nothing: a token iopd must accept.
    None,
    /// `iss` names another provider.
    OtherIssuer,
    /// `aud` names another client only.
    WrongAudience,
    /// `nonce` is not the one iopd sent with this sign-in.
    WrongNonce,
    /// `exp` passed ten minutes ago.
    Expired,
}

struct Answer {
    nonce: String,
    flaw: Flaw,
    email: String,
    groups: Vec<String>,
}

struct Inner {
    issuer: String,
    client_id: String,
    key: CoreRsaPrivateSigningKey,
    answers: HashMap<String, Answer>,
    /// Discovery documents served.
    discoveries: usize,
}

type Shared = Arc<Mutex<Inner>>;

pub struct MockProvider {
    pub issuer: String,
    pub cert: TestCert,
    shared: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MockProvider {
    /// A provider on a free port for the client `client_id`.
    pub fn start(client_id: &str) -> MockProvider {
        let cert = TestCert::localhost();
        let key = signing_key("oidc-test-key.pem", "test");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a test port");
        let port = listener.local_addr().expect("local address").port();
        listener.set_nonblocking(true).expect("non-blocking");
        let issuer = format!("https://127.0.0.1:{port}");
        let shared: Shared = Arc::new(Mutex::new(Inner {
            issuer: issuer.clone(),
            client_id: client_id.to_string(),
            key,
            answers: HashMap::new(),
            discoveries: 0,
        }));
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .with_state(Arc::clone(&shared));
        let tls = tokio_rustls::TlsAcceptor::from(cert.server_config());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("test server runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                tokio::pin!(stopped);
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => {
                            let Ok((tcp, _)) = accepted else { continue };
                            let (tls, app) = (tls.clone(), app.clone());
                            tokio::spawn(async move {
                                let Ok(stream) = tls.accept(tcp).await else { return };
                                let io = hyper_util::rt::TokioIo::new(stream);
                                let service = hyper_util::service::TowerToHyperService::new(app);
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(io, service)
                                    .await;
                            });
                        }
                    }
                }
            });
        });
        MockProvider {
            issuer,
            cert,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The token endpoint's answer for `code`: an ID token for `email` in
    /// `groups`, carrying `nonce`, with `flaw`.
    pub fn answer(&self, code: &str, nonce: &str, flaw: Flaw, email: &str, groups: &[&str]) {
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .answers
            .insert(
                code.to_string(),
                Answer {
                    nonce: nonce.to_string(),
                    flaw,
                    email: email.to_string(),
                    groups: groups.iter().map(|g| g.to_string()).collect(),
                },
            );
    }
}

impl MockProvider {
    /// The provider rolls its keys: tokens are signed with another key,
    /// under another key id, and only that key is published.
    pub fn roll_key(&self) {
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).key =
            signing_key("oidc-test-key-2.pem", "test-2");
    }

    /// How many discovery documents it has served.
    pub fn discoveries(&self) -> usize {
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .discoveries
    }
}

fn signing_key(file: &str, id: &str) -> CoreRsaPrivateSigningKey {
    let pem = std::fs::read_to_string(super::repo().join("tests/fixtures").join(file))
        .expect("the test signing key");
    CoreRsaPrivateSigningKey::from_pem(&pem, Some(JsonWebKeyId::new(id.into())))
        .expect("an RSA key in PKCS#1 PEM")
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn discovery(State(s): State<Shared>) -> Response {
    let issuer = {
        let mut inner = s.lock().unwrap_or_else(|e| e.into_inner());
        inner.discoveries += 1;
        inner.issuer.clone()
    };
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
    }))
    .into_response()
}

async fn jwks(State(s): State<Shared>) -> Response {
    let inner = s.lock().unwrap_or_else(|e| e.into_inner());
    axum::Json(CoreJsonWebKeySet::new(vec![
        inner.key.as_verification_key(),
    ]))
    .into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    code: String,
}

async fn token(State(s): State<Shared>, Form(f): Form<TokenForm>) -> Response {
    let inner = s.lock().unwrap_or_else(|e| e.into_inner());
    let Some(a) = inner.answers.get(&f.code) else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    };
    let now = Utc::now();
    let issuer = match a.flaw {
        Flaw::OtherIssuer => "https://other-provider.example".to_string(),
        _ => inner.issuer.clone(),
    };
    let audience = match a.flaw {
        Flaw::WrongAudience => "another-client".to_string(),
        _ => inner.client_id.clone(),
    };
    let nonce = match a.flaw {
        Flaw::WrongNonce => "not-the-nonce-iopd-sent".to_string(),
        _ => a.nonce.clone(),
    };
    let (issued, expires) = match a.flaw {
        Flaw::Expired => (now - Duration::hours(1), now - Duration::minutes(10)),
        _ => (now, now + Duration::minutes(10)),
    };
    let claims = IdTokenClaims::new(
        IssuerUrl::new(issuer).expect("issuer"),
        vec![Audience::new(audience)],
        expires,
        issued,
        StandardClaims::new(SubjectIdentifier::new(a.email.clone()))
            .set_email(Some(EndUserEmail::new(a.email.clone())))
            .set_email_verified(Some(true)),
        Groups {
            groups: a.groups.clone(),
        },
    )
    .set_nonce(Some(Nonce::new(nonce)));
    let id_token = Token::new(
        claims,
        &inner.key,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        None,
        None,
    )
    .expect("sign the ID token");
    axum::Json(json!({
        "access_token": "mock-access-token",
        "token_type": "Bearer",
        "expires_in": 600,
        "id_token": id_token.to_string(),
    }))
    .into_response()
}
