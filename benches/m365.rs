//! Microsoft 365 transports against the tests' loopback servers (tests/support/entra.rs: an
//! HTTPS token endpoint and Graph `sendMail`; tests/support/smtp.rs: SMTP with STARTTLS
//! and AUTH XOAUTH2), in one run:
//!
//! - token fetches per mail: one per token lifetime, not one per mail or per connection;
//! - the cost of one token fetch (a token shorter-lived than the refresh margin is fetched
//!   on every call, so every call is a fetch);
//! - Graph delivery of the same stored message to the loopback Graph endpoint, next to SMTP
//!   delivery (STARTTLS + XOAUTH2) to the loopback SMTP server, at the same concurrency.
//!
//! The library's `Sender` is driven directly, as the outbox does (one session per worker,
//! `send_raw` per row), without the database, so the figures are the transports' own.
//! Run: `cargo bench --bench m365`. IOPD_BENCH_MAILS (default 1 000) and
//! IOPD_BENCH_SESSIONS (default 4) scale it.

#[allow(dead_code)]
#[path = "../tests/support/smtp.rs"]
mod smtp;

#[allow(dead_code)]
#[path = "../tests/support/entra.rs"]
mod entra;

use std::time::{Duration, Instant};

use chrono::{NaiveTime, TimeZone, Utc};
use iopd::config::{CaFile, Graph, Mail, OAuth2, Secret, Smtp, Tls, Transport};
use iopd::domain::Email;
use iopd::mail::oauth2::TokenSource;
use iopd::mail::transport::Sender;
use iopd::mail::{self, Envelope, Person, Rendered};

const FROM: &str = "iop@region.example.org";
const TO: &str = "anna@region.example.org";

fn email(s: &str) -> Email {
    Email::parse(s).expect("address")
}

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ca(cert: &smtp::TestCert) -> CaFile {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CaFile {
        path: "bench-ca.pem".into(),
        certificates: CertificateDer::pem_slice_iter(cert.pem.as_bytes())
            .map(|c| c.expect("PEM").to_vec())
            .collect(),
    }
}

fn grant(server: &entra::Entra, scope: &str) -> OAuth2 {
    OAuth2 {
        token_url: server.token_url(),
        client_id: entra::CLIENT_ID.into(),
        client_secret: Secret::new(entra::SECRET),
        scope: scope.into(),
        ca_file: Some(ca(&server.cert)),
    }
}

fn mail_config(transport: Transport, smtp: Option<Smtp>, graph: Option<Graph>) -> Mail {
    Mail {
        transport,
        from: email(FROM),
        enabled: true,
        redirect_all_to: None,
        send_at: NaiveTime::from_hms_opt(8, 0, 0).expect("08:00"),
        max_retry_hours: 72,
        claim_lease: Duration::from_secs(300),
        smtp,
        graph,
        file_dir: "unused".into(),
        calendar: iopd::config::CalendarMode::Invites,
    }
}

/// A reminder of ordinary size, as stored in the outbox.
fn message() -> Vec<u8> {
    let env = Envelope {
        from: Person {
            name: Some("IOP-påminnelser".into()),
            email: email(FROM),
        },
        to: vec![Person {
            name: Some("Anna Ödman".into()),
            email: email(TO),
        }],
        cc: Vec::new(),
        outbox_key: None,
        items: Vec::new(),
    };
    let text = "Hej Anna!\n\nDags att boka avstämningsmötet med Fritidsbanken. Det ska hållas senast 2027-03-31.\n".repeat(20);
    let rendered = Rendered {
        subject:
            "[IOP] Påminnelse: Avstämningsmöte med Fritidsbanken senast 2027-03-31 (om 7 dagar)"
                .into(),
        html: format!("<p>{}</p>", text.replace('\n', "<br>")),
        text,
    };
    let id = mail::message_id("bench", &email(FROM));
    let date = Utc
        .with_ymd_and_hms(2027, 3, 24, 7, 0, 0)
        .single()
        .expect("date");
    mail::build(&env, &rendered, None, &id, date)
        .expect("build")
        .formatted()
}

/// Sends `n` copies of `bytes` over `sessions` concurrent sessions; seconds taken.
async fn deliver(sender: &Sender, bytes: &[u8], n: usize, sessions: usize) -> f64 {
    let (from, to) = (email(FROM), email(TO));
    let started = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = (0..sessions).map(|_| async {
        let mut session = sender.session().await;
        while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
            session
                .send_raw(&from, &to, bytes, "bench")
                .await
                .expect("sent");
        }
    });
    futures_util::future::join_all(workers).await;
    let secs = started.elapsed().as_secs_f64();
    sender.close().await;
    secs
}

fn main() {
    let n = env_usize("IOPD_BENCH_MAILS", 1_000);
    let sessions = env_usize("IOPD_BENCH_SESSIONS", 4);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let bytes = message();
    println!(
        "m365: {n} mails of {} bytes, {sessions} sessions",
        bytes.len()
    );

    // One token fetch, measured where every call is a fetch.
    let idp = entra::Entra::start();
    idp.set_expires_in(60);
    let source = TokenSource::new(&grant(&idp, entra::GRAPH_SCOPE), Duration::from_secs(10))
        .expect("token source");
    let fetches = 50;
    let secs_tokens = rt.block_on(async {
        let started = Instant::now();
        for _ in 0..fetches {
            source.token().await.expect("token");
        }
        started.elapsed().as_secs_f64()
    });
    assert_eq!(idp.token_requests(), fetches);
    let per_fetch_ms = secs_tokens * 1000.0 / fetches as f64;
    println!("token fetch (HTTPS, the client keeps its connection): {per_fetch_ms:.2} ms each");
    drop(idp);

    // Graph.
    let idp = entra::Entra::start();
    let graph = Graph {
        oauth2: grant(&idp, entra::GRAPH_SCOPE),
        sender: email(FROM),
        base_url: idp.base_url(),
        timeout: Duration::from_secs(30),
        pool_size: u32::try_from(sessions).unwrap_or(4),
    };
    let sender =
        Sender::from_config(&mail_config(Transport::Graph, None, Some(graph))).expect("Graph");
    let secs_graph = rt.block_on(deliver(&sender, &bytes, n, sessions));
    assert_eq!(idp.graph_sent().len(), n, "every mail accepted once");
    let graph_tokens = idp.token_requests();

    // SMTP with STARTTLS and XOAUTH2, tokens from the same kind of endpoint.
    let cert = smtp::TestCert::localhost();
    let server = smtp::SmtpServer::start_with(smtp::Options {
        tls: smtp::ServerTls::Starttls(cert.clone()),
        auth: None,
        xoauth2: Some(idp.smtp_check()),
    });
    let smtp_cfg = Smtp {
        host: "127.0.0.1".into(),
        port: server.port,
        tls: Tls::Starttls,
        username: None,
        password: None,
        timeout: Duration::from_secs(30),
        pool_size: u32::try_from(sessions).unwrap_or(4),
        ca_file: Some(ca(&cert)),
        oauth2: Some(grant(&idp, entra::OUTLOOK_SCOPE)),
    };
    let before = idp.token_requests();
    let sender =
        Sender::from_config(&mail_config(Transport::Smtp, Some(smtp_cfg), None)).expect("SMTP");
    let secs_smtp = rt.block_on(deliver(&sender, &bytes, n, sessions));
    assert_eq!(server.received().len(), n, "every mail accepted once");
    let smtp_tokens = idp.token_requests() - before;

    let per_1000 = |tokens: usize| tokens as f64 * 1000.0 / n as f64;
    println!(
        "graph: {:.0} mails/s ({:.2} ms a mail), {graph_tokens} token fetch(es) = {:.1} per 1 000 mails",
        n as f64 / secs_graph,
        secs_graph * 1000.0 / n as f64,
        per_1000(graph_tokens)
    );
    println!(
        "smtp starttls+xoauth2: {:.0} mails/s ({:.2} ms a mail), {smtp_tokens} token fetch(es) = {:.1} per 1 000 mails, {} connections",
        n as f64 / secs_smtp,
        secs_smtp * 1000.0 / n as f64,
        per_1000(smtp_tokens),
        server.connections()
    );
    println!(
        "graph / smtp throughput: {:.2}; one token fetch = {:.1} mails' worth of Graph sending",
        secs_smtp / secs_graph,
        per_fetch_ms / (secs_graph * 1000.0 / n as f64)
    );
}
