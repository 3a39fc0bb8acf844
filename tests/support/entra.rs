//! A Microsoft-shaped HTTPS server on 127.0.0.1 for the tests: an OAuth2 token endpoint
//! (`POST /{tenant}/oauth2/v2.0/token`, the client-credentials grant, answering refusals as
//! Entra does: `{"error", "error_description": "AADSTS…", "error_codes"}`) and Graph's
//! `POST /v1.0/users/{sender}/sendMail` (bearer token checked, the base64 MIME body decoded
//! and kept for an independent parser).
//!
//! TLS is rustls with the self-signed test certificate of `smtp.rs`; HTTP is hyper serving
//! an axum router, in a runtime on a thread of its own, so both async and sync tests (those
//! running the `iopd` binary) can use it. Nothing here sleeps.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use serde_json::{Value, json};

use super::smtp::{TestCert, TokenCheck};

pub const TENANT: &str = "kommun-test.onmicrosoft.com";
pub const CLIENT_ID: &str = "5f1c7a52-9d3e-4c1b-8a61-2b7e0c9d4f10";
pub const SECRET: &str = "Rät~hemlighet.8Q~klientens-värde";
pub const OUTLOOK_SCOPE: &str = "https://outlook.office365.com/.default";
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

struct Issued {
    token: String,
    scope: String,
    valid: bool,
}

/// One mail Graph accepted.
#[derive(Debug, Clone)]
pub struct GraphMail {
    pub sender: String,
    /// The MIME message, base64-decoded.
    pub mime: Vec<u8>,
}

struct Inner {
    secret: String,
    expires_in: u64,
    token_requests: usize,
    issued: Vec<Issued>,
    /// Answers Graph gives before it accepts again: (status, Retry-After, JSON body).
    script: VecDeque<(u16, Option<u64>, Value)>,
    graph_requests: usize,
    sent: Vec<GraphMail>,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(s: &Shared) -> MutexGuard<'_, Inner> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Entra {
    pub port: u16,
    pub cert: TestCert,
    shared: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Entra {
    /// A server on a free port that knows [`CLIENT_ID`] with [`SECRET`] in [`TENANT`] and
    /// issues tokens valid for an hour.
    pub fn start() -> Entra {
        let cert = TestCert::localhost();
        let shared: Shared = Arc::new(Mutex::new(Inner {
            secret: SECRET.to_string(),
            expires_in: 3599,
            token_requests: 0,
            issued: Vec::new(),
            script: VecDeque::new(),
            graph_requests: 0,
            sent: Vec::new(),
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a test port");
        let port = listener.local_addr().expect("local address").port();
        listener.set_nonblocking(true).expect("non-blocking");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = axum::Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/v1.0/users/{sender}/sendMail", post(send_mail))
            .with_state(Arc::clone(&shared));
        let tls = tokio_rustls::TlsAcceptor::from(cert.server_config());
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
                                // A client that does not trust the certificate ends here.
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
        Entra {
            port,
            cert,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn token_url(&self) -> String {
        format!("https://127.0.0.1:{}/{TENANT}/oauth2/v2.0/token", self.port)
    }

    /// For `token_url` with the `{tenant}` placeholder, as the default has it.
    pub fn token_url_template(&self) -> String {
        format!(
            "https://127.0.0.1:{}/{{tenant}}/oauth2/v2.0/token",
            self.port
        )
    }

    pub fn base_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The secret the app registration has from now on (the old one is revoked).
    pub fn set_secret(&self, secret: &str) {
        lock(&self.shared).secret = secret.to_string();
    }

    pub fn set_expires_in(&self, secs: u64) {
        lock(&self.shared).expires_in = secs;
    }

    /// Every token issued so far stops working (expired on the server's clock, revoked).
    pub fn expire_tokens(&self) {
        for t in &mut lock(&self.shared).issued {
            t.valid = false;
        }
    }

    pub fn token_requests(&self) -> usize {
        lock(&self.shared).token_requests
    }

    /// Every token issued so far, for "never in the log" checks.
    pub fn issued(&self) -> Vec<String> {
        lock(&self.shared)
            .issued
            .iter()
            .map(|t| t.token.clone())
            .collect()
    }

    /// Graph's next answer (then the one after …) instead of accepting.
    pub fn script_graph(&self, status: u16, retry_after: Option<u64>, body: Value) {
        lock(&self.shared)
            .script
            .push_back((status, retry_after, body));
    }

    pub fn graph_requests(&self) -> usize {
        lock(&self.shared).graph_requests
    }

    pub fn graph_sent(&self) -> Vec<GraphMail> {
        lock(&self.shared).sent.clone()
    }

    /// Whether `token` is a valid token for SMTP (the outlook scope).
    pub fn smtp_check(&self) -> TokenCheck {
        let shared = Arc::clone(&self.shared);
        Arc::new(move |_user: &str, token: &str| valid(&shared, token, OUTLOOK_SCOPE))
    }
}

impl Drop for Entra {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn valid(shared: &Shared, token: &str, scope: &str) -> bool {
    lock(shared)
        .issued
        .iter()
        .any(|t| t.token == token && t.scope == scope && t.valid)
}

fn aadsts(status: StatusCode, error: &str, code: u32, text: &str) -> Response {
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: 0b1c2d3e-test\r\nCorrelation ID: 4f5a6b7c-test\r\nTimestamp: 2026-04-30 06:05:00Z"),
        "error_codes": [code],
        "timestamp": "2026-04-30 06:05:00Z",
        "trace_id": "0b1c2d3e-test",
        "correlation_id": "4f5a6b7c-test",
    });
    (status, axum::Json(body)).into_response()
}

async fn token(
    State(shared): State<Shared>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut s = lock(&shared);
    s.token_requests += 1;
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if tenant != TENANT {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    if field("grant_type") != "client_credentials" {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    if field("client_id") != CLIENT_ID {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{}' was not found in the directory '{TENANT}'.",
                field("client_id")
            ),
        );
    }
    if field("client_secret") != s.secret {
        return aadsts(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        );
    }
    let scope = field("scope").to_string();
    if scope != OUTLOOK_SCOPE && scope != GRAPH_SCOPE {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            &format!("The provided value for scope {scope} is not valid."),
        );
    }
    let n = s.issued.len();
    // Not guessable from the test's side: the server's own count and the clock.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let token = format!("eyJ0eXAiOiJKV1Qi.test-{n}-{nanos:09}.sig");
    s.issued.push(Issued {
        token: token.clone(),
        scope,
        valid: true,
    });
    let expires_in = s.expires_in;
    axum::Json(json!({
        "token_type": "Bearer",
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "access_token": token,
    }))
    .into_response()
}

fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

async fn send_mail(
    State(shared): State<Shared>,
    Path(sender): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    lock(&shared).graph_requests += 1;
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !valid(&shared, bearer, GRAPH_SCOPE) {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token has expired or is not yet valid.",
        );
    }
    if let Some((status, retry_after, body)) = lock(&shared).script.pop_front() {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = retry_after {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                secs.to_string().parse().expect("header"),
            );
        }
        return response;
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type != "text/plain" {
        return graph_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "RequestBodyRead",
            "MIME content needs Content-Type: text/plain.",
        );
    }
    let Ok(mime) = base64::engine::general_purpose::STANDARD.decode(body.trim()) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "ErrorMimeContentInvalidBase64String",
            "Invalid base64 string for MIME content.",
        );
    };
    lock(&shared).sent.push(GraphMail { sender, mime });
    StatusCode::ACCEPTED.into_response()
}
