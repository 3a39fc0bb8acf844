//! Sending through Microsoft 365 without passwords, against loopback servers that speak the
//! real protocols (tests/support/entra.rs: an OAuth2 token endpoint and Graph's sendMail
//! over HTTPS with the test CA; tests/support/smtp.rs: SMTP with AUTH XOAUTH2):
//! tokens fetched once per lifetime and again when refused, AADSTS and Exchange errors
//! named, Retry-After honoured, secrets kept out of every output, and `iopd send-test`.

mod support;

use std::time::{Duration, Instant};

use chrono::{NaiveTime, TimeZone, Utc};
use iopd::config::{CaFile, Graph, Mail, OAuth2, Secret, Smtp, Tls, Transport};
use iopd::domain::Email;
use iopd::ical::Method;
use iopd::mail::transport::{FailureKind, Sender};
use iopd::mail::{Envelope, Invite, Person, Rendered};
use lettre::Message;
use serde_json::json;
use support::entra::{CLIENT_ID, Entra, GRAPH_SCOPE, OUTLOOK_SCOPE, SECRET};
use support::smtp::{Mode, Options, Received, ServerTls, SmtpServer, TestCert};
use support::{Backend, World, json, path_str};

const FROM: &str = "iop@region.example.org";

fn email(s: &str) -> Email {
    Email::parse(s).expect("test address")
}

fn ca_file(cert: &TestCert) -> CaFile {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CaFile {
        path: "test-ca.pem".into(),
        certificates: CertificateDer::pem_slice_iter(cert.pem.as_bytes())
            .map(|c| c.expect("PEM").to_vec())
            .collect(),
    }
}

fn grant(entra: &Entra, secret: &str, scope: &str, trusted: bool) -> OAuth2 {
    OAuth2 {
        token_url: entra.token_url(),
        client_id: CLIENT_ID.into(),
        client_secret: Secret::new(secret),
        scope: scope.into(),
        ca_file: trusted.then(|| ca_file(&entra.cert)),
    }
}

fn mail(transport: Transport, smtp: Option<Smtp>, graph: Option<Graph>) -> Mail {
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

/// An SMTP server with STARTTLS that takes the tokens `entra` issued for SMTP.
fn xoauth2_server(entra: &Entra, cert: &TestCert) -> SmtpServer {
    SmtpServer::start_with(Options {
        tls: ServerTls::Starttls(cert.clone()),
        auth: None,
        xoauth2: Some(entra.smtp_check()),
    })
}

fn smtp_sender(server: &SmtpServer, cert: &TestCert, oauth2: OAuth2) -> Sender {
    let smtp = Smtp {
        host: "127.0.0.1".into(),
        port: server.port,
        tls: Tls::Starttls,
        username: None,
        password: None,
        timeout: Duration::from_secs(5),
        pool_size: 2,
        ca_file: Some(ca_file(cert)),
        oauth2: Some(oauth2),
    };
    Sender::from_config(&mail(Transport::Smtp, Some(smtp), None)).expect("SMTP sender")
}

fn graph_sender(entra: &Entra, secret: &str, trusted: bool) -> Sender {
    let graph = Graph {
        oauth2: grant(entra, secret, GRAPH_SCOPE, trusted),
        sender: email(FROM),
        base_url: entra.base_url(),
        timeout: Duration::from_secs(10),
        pool_size: 2,
    };
    Sender::from_config(&mail(Transport::Graph, None, Some(graph))).expect("Graph sender")
}

/// A reminder to Anna, with a calendar entry when `invite`.
fn reminder(n: u32, with_invite: bool) -> (Message, String) {
    let env = Envelope {
        from: Person {
            name: Some("IOP-påminnelser".into()),
            email: email(FROM),
        },
        to: vec![Person {
            name: Some("Anna Ödman".into()),
            email: email("anna@region.example.org"),
        }],
        cc: Vec::new(),
        outbox_key: None,
        items: Vec::new(),
    };
    let rendered = Rendered {
        subject: format!("[IOP] Avstämningsmöte med Fritidsbanken senast 2027-03-{n:02}"),
        text: "Hej Anna!\n\nDags att boka avstämningsmötet.\n".into(),
        html: "<p>Hej Anna!</p><p>Dags att boka avstämningsmötet.</p>".into(),
    };
    let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//iopd//test//SV\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:T1/checkin/y0-w1@iopd\r\nSEQUENCE:0\r\nDTSTAMP:20270301T070000Z\r\nDTSTART;VALUE=DATE:20270331\r\nSUMMARY:Avstämningsmöte\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let invite = Invite {
        method: Method::Request,
        ics: ics.into(),
    };
    let id = iopd::mail::message_id(&format!("row-{n}"), &email(FROM));
    let date = Utc
        .with_ymd_and_hms(2027, 3, 1, 7, 0, 0)
        .single()
        .expect("date");
    let msg = iopd::mail::build(&env, &rendered, with_invite.then_some(&invite), &id, date)
        .expect("build the mail");
    (msg, id)
}

fn as_received(mime: &[u8]) -> Received {
    Received {
        from: String::new(),
        to: Vec::new(),
        data: mime.to_vec(),
        tls: true,
        user: None,
    }
}

// ------------------------------------------------------------------ SMTP XOAUTH2

#[tokio::test]
async fn xoauth2_signs_in_as_the_sending_mailbox_with_one_token_for_many_mails() {
    let entra = Entra::start();
    let cert = TestCert::localhost();
    let server = xoauth2_server(&entra, &cert);
    let sender = smtp_sender(&server, &cert, grant(&entra, SECRET, OUTLOOK_SCOPE, true));

    for n in 1..=6 {
        let (msg, _) = reminder(n, false);
        sender.send(&msg, "x").await.expect("sent");
        tokio::task::yield_now().await;
    }
    let got = server.received();
    assert_eq!(got.len(), 6);
    for r in &got {
        assert_eq!(r.user.as_deref(), Some(FROM), "user= is mail.from");
        assert!(r.tls, "the token went over an encrypted session");
    }
    assert_eq!(entra.token_requests(), 1, "one token for its lifetime");
    assert_eq!(sender.token_fetches(), 1);
    let attempts = server.xoauth2_attempts();
    assert!(!attempts.is_empty() && attempts.iter().all(|a| a.2 && a.0 == FROM));
}

/// The server stops taking the token before the client thinks it expired (revoked, or
/// the clocks disagree): the refused token is forgotten, a new one fetched, the mail sent
/// once.
#[tokio::test]
async fn a_token_refused_mid_run_is_replaced_once_and_the_mail_sent_once() {
    let entra = Entra::start();
    let cert = TestCert::localhost();
    let server = xoauth2_server(&entra, &cert);
    let sender = smtp_sender(&server, &cert, grant(&entra, SECRET, OUTLOOK_SCOPE, true));

    sender
        .send(&reminder(1, false).0, "a")
        .await
        .expect("first");
    // A new connection is needed for AUTH to run again.
    sender.close().await;
    entra.expire_tokens();
    sender
        .send(&reminder(2, false).0, "b")
        .await
        .expect("second");

    assert_eq!(server.received().len(), 2, "each mail once");
    assert_eq!(entra.token_requests(), 2);
    let outcomes: Vec<bool> = server.xoauth2_attempts().iter().map(|a| a.2).collect();
    assert_eq!(outcomes, [true, false, true]);
}

/// A token close to its end is not used: with a lifetime inside the refresh margin, each
/// new connection fetches its own.
#[tokio::test]
async fn a_token_about_to_expire_is_not_reused() {
    let entra = Entra::start();
    entra.set_expires_in(120);
    let cert = TestCert::localhost();
    let server = xoauth2_server(&entra, &cert);
    let sender = smtp_sender(&server, &cert, grant(&entra, SECRET, OUTLOOK_SCOPE, true));
    sender
        .send(&reminder(1, false).0, "a")
        .await
        .expect("first");
    sender.close().await;
    sender
        .send(&reminder(2, false).0, "b")
        .await
        .expect("second");
    assert_eq!(entra.token_requests(), 2);
    assert_eq!(server.received().len(), 2);
}

#[tokio::test]
async fn a_revoked_secret_is_transient_named_and_never_shown() {
    let entra = Entra::start();
    let cert = TestCert::localhost();
    let server = xoauth2_server(&entra, &cert);
    let old = "gammal-hemlighet~123";
    let sender = smtp_sender(&server, &cert, grant(&entra, old, OUTLOOK_SCOPE, true));

    let err = sender
        .send(&reminder(1, false).0, "a")
        .await
        .expect_err("refused");
    assert_eq!(err.kind, FailureKind::Transient, "{err}");
    assert!(err.message.contains("AADSTS7000215"), "{err}");
    assert!(err.message.contains("invalid_client"), "{err}");
    assert!(err.message.contains("client secret is wrong"), "{err}");
    assert!(!err.message.contains(old), "{err}");
    assert!(!err.message.contains("Trace ID"), "one line: {err}");
    assert!(server.received().is_empty());
    assert!(
        server.xoauth2_attempts().is_empty(),
        "no AUTH without a token"
    );
}

#[tokio::test]
async fn exchange_refusing_the_token_names_the_missing_steps() {
    let entra = Entra::start();
    let cert = TestCert::localhost();
    let server = xoauth2_server(&entra, &cert);
    server.set_mode(Mode::AuthReject);
    let sender = smtp_sender(&server, &cert, grant(&entra, SECRET, OUTLOOK_SCOPE, true));

    let err = sender
        .send(&reminder(1, false).0, "a")
        .await
        .expect_err("refused");
    assert_eq!(err.kind, FailureKind::Transient, "{err}");
    assert!(err.message.contains("535"), "{err}");
    assert!(err.message.contains("5.7.3"), "{err}");
    assert!(err.message.contains("New-ServicePrincipal"), "{err}");
    assert!(err.message.contains("Add-MailboxPermission"), "{err}");
    // A fresh token that is refused is not fetched again and again.
    assert_eq!(entra.token_requests(), 1);
    for token in entra.issued() {
        assert!(!err.message.contains(&token), "{err}");
    }
}

#[tokio::test]
async fn the_token_endpoint_with_an_untrusted_certificate_is_refused() {
    let entra = Entra::start();
    let cert = TestCert::localhost();
    let server = xoauth2_server(&entra, &cert);
    // No ca_file for the token endpoint: the system's roots do not hold the test CA.
    let sender = smtp_sender(&server, &cert, grant(&entra, SECRET, OUTLOOK_SCOPE, false));

    let err = sender
        .send(&reminder(1, false).0, "a")
        .await
        .expect_err("refused");
    assert_eq!(err.kind, FailureKind::Transient, "{err}");
    assert!(err.message.to_lowercase().contains("certificate"), "{err}");
    assert_eq!(entra.token_requests(), 0, "no request reached the endpoint");
    assert!(server.received().is_empty());
}

// ------------------------------------------------------------------ Graph

#[tokio::test]
async fn graph_sends_the_same_mime_with_its_invite_and_message_id() {
    let entra = Entra::start();
    let sender = graph_sender(&entra, SECRET, true);
    let (msg, id) = reminder(31, true);

    sender
        .send_raw(
            &email(FROM),
            &email("anna@region.example.org"),
            &msg.formatted(),
            "x",
        )
        .await
        .expect("sent");

    let sent = entra.graph_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].sender, FROM);
    assert_eq!(
        sent[0].mime,
        msg.formatted(),
        "byte for byte what SMTP sends"
    );
    let m = support::mail::parse(&as_received(&sent[0].mime));
    assert_eq!(format!("<{}>", m.message_id), id);
    assert_eq!(
        m.subject,
        "[IOP] Avstämningsmöte med Fritidsbanken senast 2027-03-31"
    );
    assert_eq!(m.calendar_method, "REQUEST");
    assert!(
        m.calendar.contains("UID:T1/checkin/y0-w1@iopd"),
        "{}",
        m.calendar
    );
    assert_eq!(entra.token_requests(), 1);
}

#[tokio::test]
async fn graph_fetches_one_token_for_many_mails() {
    let entra = Entra::start();
    let sender = graph_sender(&entra, SECRET, true);
    for n in 1..=8 {
        sender.send(&reminder(n, false).0, "x").await.expect("sent");
    }
    assert_eq!(entra.graph_sent().len(), 8);
    assert_eq!(entra.token_requests(), 1);
}

#[tokio::test]
async fn graph_429_with_a_long_retry_after_is_transient_with_the_retry_time() {
    let entra = Entra::start();
    let sender = graph_sender(&entra, SECRET, true);
    entra.script_graph(
        429,
        Some(120),
        json!({"error": {"code": "TooManyRequests", "message": "Application is over its MailboxConcurrency limit."}}),
    );
    let started = Instant::now();
    let err = sender
        .send(&reminder(1, false).0, "x")
        .await
        .expect_err("throttled");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "not waited inline"
    );
    assert_eq!(err.kind, FailureKind::Transient, "{err}");
    assert_eq!(err.retry_after, Some(Duration::from_secs(120)));
    assert!(err.message.contains("HTTP 429 TooManyRequests"), "{err}");
    assert!(entra.graph_sent().is_empty());

    sender
        .send(&reminder(1, false).0, "x")
        .await
        .expect("sent later");
    assert_eq!(entra.graph_sent().len(), 1, "once");
}

#[tokio::test]
async fn graph_503_with_a_short_retry_after_is_waited_for_inline() {
    let entra = Entra::start();
    let sender = graph_sender(&entra, SECRET, true);
    entra.script_graph(
        503,
        Some(1),
        json!({"error": {"code": "ServiceUnavailable", "message": "Try later."}}),
    );
    let started = Instant::now();
    sender
        .send(&reminder(1, false).0, "x")
        .await
        .expect("sent after the wait");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(entra.graph_requests(), 2);
    assert_eq!(entra.graph_sent().len(), 1);
}

#[tokio::test]
async fn graph_400_is_permanent_and_named() {
    let entra = Entra::start();
    let sender = graph_sender(&entra, SECRET, true);
    entra.script_graph(
        400,
        None,
        json!({"error": {"code": "ErrorInvalidRecipients", "message": "At least one recipient isn't valid."}}),
    );
    let err = sender
        .send(&reminder(1, false).0, "x")
        .await
        .expect_err("refused");
    assert_eq!(err.kind, FailureKind::Permanent, "{err}");
    assert!(
        err.message
            .contains("HTTP 400 ErrorInvalidRecipients: At least one recipient isn't valid."),
        "{err}"
    );
}

#[tokio::test]
async fn graph_403_names_the_permission_and_waits_for_the_fix() {
    let entra = Entra::start();
    let sender = graph_sender(&entra, SECRET, true);
    entra.script_graph(403, None, json!({"error": {"code": "ErrorAccessDenied", "message": "Access is denied. Check credentials and try again."}}));
    let err = sender
        .send(&reminder(1, false).0, "x")
        .await
        .expect_err("refused");
    assert_eq!(err.kind, FailureKind::Transient, "{err}");
    assert!(err.message.contains("Mail.Send"), "{err}");
    assert!(err.message.contains("RBAC for Applications"), "{err}");
}

#[tokio::test]
async fn graph_401_with_a_cached_token_fetches_a_new_one_once() {
    let entra = Entra::start();
    let sender = graph_sender(&entra, SECRET, true);
    sender
        .send(&reminder(1, false).0, "x")
        .await
        .expect("first");
    entra.expire_tokens();
    sender
        .send(&reminder(2, false).0, "x")
        .await
        .expect("second");
    assert_eq!(entra.token_requests(), 2);
    assert_eq!(entra.graph_sent().len(), 2, "each once");
    assert_eq!(entra.graph_requests(), 3, "one refused, then sent");
}

#[tokio::test]
async fn graph_never_sends_to_someone_the_headers_do_not_name() {
    let entra = Entra::start();
    let sender = graph_sender(&entra, SECRET, true);
    let err = sender
        .send_raw(
            &email(FROM),
            &email("bo@region.example.org"),
            &reminder(1, false).0.formatted(),
            "x",
        )
        .await
        .expect_err("refused");
    assert_eq!(err.kind, FailureKind::Permanent, "{err}");
    assert_eq!(entra.graph_requests(), 0);
}

#[tokio::test]
async fn graph_with_an_untrusted_certificate_is_refused() {
    let entra = Entra::start();
    let sender = graph_sender(&entra, SECRET, false);
    let err = sender
        .send(&reminder(1, false).0, "x")
        .await
        .expect_err("refused");
    assert!(err.message.to_lowercase().contains("certificate"), "{err}");
    assert_eq!(entra.token_requests(), 0);
}

// ------------------------------------------------------------------ the binary

const T1: &str = "id;organisation;committee;officer_name;officer_email;deputy_email;start_date\n\
T1;Testföreningen;kbn;Olle Officer;olle@example.org;dora@example.org;2025-12-01\n";

/// The example configuration sending through Graph at `entra`, with `secret` in the
/// secret file, and T1 imported.
fn graph_world(entra: &Entra, secret: &str) -> World {
    let mut w = World::new(Backend::Sqlite);
    let file = w.write("register.csv", T1);
    w.ok(&["import", path_str(&file), "--now", "2026-04-01"]);
    let secret_file = w.write("client-secret", format!("{secret}\n"));
    let ca = w.write("entra-ca.pem", &entra.cert.pem);
    let from = "iopd@example.org"; // the example's mail.from
    for (k, v) in [
        ("IOPD__MAIL__TRANSPORT", "graph".to_string()),
        ("IOPD__MAIL__CALENDAR", "none".to_string()),
        (
            "IOPD__MAIL__GRAPH__TENANT",
            support::entra::TENANT.to_string(),
        ),
        ("IOPD__MAIL__GRAPH__CLIENT_ID", CLIENT_ID.to_string()),
        (
            "IOPD__MAIL__GRAPH__CLIENT_SECRET_FILE",
            path_str(&secret_file).to_string(),
        ),
        ("IOPD__MAIL__GRAPH__TOKEN_URL", entra.token_url_template()),
        ("IOPD__MAIL__GRAPH__BASE_URL", entra.base_url()),
        ("IOPD__MAIL__GRAPH__CA_FILE", path_str(&ca).to_string()),
        ("IOPD__MAIL__GRAPH__SENDER", from.to_string()),
        ("IOPD__MAIL__GRAPH__TIMEOUT_SECS", "10".to_string()),
    ] {
        w.env.push((k.to_string(), v));
    }
    w
}

/// The example configuration sending through `smtp` with XOAUTH2 and tokens from `entra`.
fn xoauth2_world(entra: &Entra, smtp: &SmtpServer, cert: &TestCert, secret: &str) -> World {
    let mut w = World::new(Backend::Sqlite);
    w.use_smtp(smtp.port);
    let secret_file = w.write("client-secret", secret);
    let smtp_ca = w.write("smtp-ca.pem", &cert.pem);
    let entra_ca = w.write("entra-ca.pem", &entra.cert.pem);
    for (k, v) in [
        ("IOPD__MAIL__SMTP__TLS", "starttls".to_string()),
        ("IOPD__MAIL__SMTP__CA_FILE", path_str(&smtp_ca).to_string()),
        ("IOPD__MAIL__SMTP__AUTH", "oauth2".to_string()),
        (
            "IOPD__MAIL__SMTP__OAUTH2__TENANT",
            support::entra::TENANT.to_string(),
        ),
        ("IOPD__MAIL__SMTP__OAUTH2__CLIENT_ID", CLIENT_ID.to_string()),
        (
            "IOPD__MAIL__SMTP__OAUTH2__CLIENT_SECRET_FILE",
            path_str(&secret_file).to_string(),
        ),
        (
            "IOPD__MAIL__SMTP__OAUTH2__TOKEN_URL",
            entra.token_url_template(),
        ),
        (
            "IOPD__MAIL__SMTP__OAUTH2__CA_FILE",
            path_str(&entra_ca).to_string(),
        ),
    ] {
        w.env.push((k.to_string(), v));
    }
    w
}

fn mails(rows: serde_json::Value) -> Vec<serde_json::Value> {
    rows.as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["item"] == false)
        .cloned()
        .collect()
}

/// A revoked client secret: the reminder waits in the outbox as a transient failure with
/// the AADSTS code named; nothing is lost, and once the secret is fixed it is sent, once.
/// Neither the secret nor a token reaches the outbox, the output or the log.
#[test]
fn a_revoked_secret_keeps_the_reminder_waiting_until_it_is_fixed() {
    let entra = Entra::start();
    const OLD: &str = "återkallad~hemlighet-42";
    let w = graph_world(&entra, OLD);

    let r = w.ok(&["tick", "--now", "2026-04-30T08:05"]);
    assert!(r.stdout.contains("0 sent, 1 to retry"), "{}", r.stdout);
    let pending = w.ok(&["outbox", "--status", "pending", "--format", "json"]);
    let rows = mails(json(&pending.stdout));
    assert_eq!(rows.len(), 1);
    let error = rows[0]["last_error"].as_str().expect("an error");
    assert!(error.contains("AADSTS7000215"), "{error}");
    assert!(error.contains("client_secret_file"), "{error}");
    for out in [&r.stdout, &r.stderr, &pending.stdout] {
        assert!(!out.contains(OLD), "{out}");
    }
    assert!(entra.graph_sent().is_empty());

    // The administrator puts the new secret in the file.
    w.write("client-secret", SECRET);
    let r = w.ok(&["tick", "--now", "2026-04-30T08:15"]);
    assert!(r.stdout.contains("1 sent"), "{}", r.stdout);
    let sent = entra.graph_sent();
    assert_eq!(sent.len(), 1);
    let m = support::mail::parse(&as_received(&sent[0].mime));
    assert_eq!(
        m.items,
        ["T1/checkin/y0-w1|2026-05-29|d-28|olle@example.org"]
    );
    assert!(m.subject.starts_with("[IOP] Planera: "), "{}", m.subject);
    w.ok(&["tick", "--now", "2026-04-30T09:15"]);
    assert_eq!(entra.graph_sent().len(), 1, "sent once");

    let all = w.ok(&["outbox", "--format", "json"]);
    let log = [r.stdout.as_str(), r.stderr.as_str(), all.stdout.as_str()].concat();
    for secret in [OLD, SECRET] {
        assert!(!log.contains(secret), "the secret leaked");
    }
    let tokens = entra.issued();
    assert!(!tokens.is_empty());
    for token in tokens {
        assert!(!log.contains(&token), "a token leaked");
    }
    // And not in the database file at all.
    let db = std::fs::read(w.path("iopd.db")).expect("database file");
    let db = String::from_utf8_lossy(&db);
    assert!(!db.contains(OLD) && !db.contains(SECRET));
}

#[test]
fn reminders_go_out_over_smtp_with_xoauth2() {
    let entra = Entra::start();
    let cert = TestCert::localhost();
    let smtp = xoauth2_server(&entra, &cert);
    let w = xoauth2_world(&entra, &smtp, &cert, SECRET);
    let file = w.write("register.csv", T1);
    w.ok(&["import", path_str(&file), "--now", "2026-04-01"]);

    let r = w.ok(&["tick", "--now", "2026-04-30T08:05"]);
    assert!(r.stdout.contains("2 sent"), "{}", r.stdout);
    let got = smtp.wait_for(2, Duration::from_secs(10));
    assert_eq!(got.len(), 2);
    assert!(
        got.iter()
            .all(|g| g.user.as_deref() == Some("iopd@example.org") && g.tls)
    );
    assert_eq!(entra.token_requests(), 1, "one token for both mails");
}

#[test]
fn send_test_over_xoauth2_prints_every_step_and_writes_no_outbox() {
    let entra = Entra::start();
    let cert = TestCert::localhost();
    let smtp = xoauth2_server(&entra, &cert);
    let w = xoauth2_world(&entra, &smtp, &cert, SECRET);

    let r = w.ok(&[
        "send-test",
        "--to",
        "anna@example.org",
        "--now",
        "2026-12-24T22:00",
    ]);
    let out = &r.stdout;
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("  ")).collect();
    let names = [
        "resolve 127.0.0.1",
        &format!("connect port {}", smtp.port),
        "greeting and EHLO",
        "STARTTLS",
        "token",
        "AUTH XOAUTH2 as iopd@example.org",
        "MAIL FROM, RCPT TO, DATA",
    ];
    assert_eq!(lines.len(), names.len(), "{out}");
    for (line, name) in lines.iter().zip(names) {
        assert!(line.starts_with(&format!("  ok   {name}")), "{line}\n{out}");
    }
    assert!(out.contains("235"), "{out}");
    assert!(out.contains("accepted"), "{out}");
    assert!(out.contains("nothing is written to the outbox"), "{out}");
    let got = smtp.wait_for(1, Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, ["anna@example.org"]);
    let m = support::mail::parse(&got[0]);
    assert_eq!(m.subject, "Testmejl från iopd");
    assert!(m.text.contains("SMTP via 127.0.0.1"), "{}", m.text);
    assert!(m.text.contains("iopd@example.org"), "{}", m.text);
    for token in entra.issued() {
        assert!(!out.contains(&token) && !r.stderr.contains(&token));
    }
    assert!(!out.contains(SECRET));
    let outbox = json(&w.ok(&["outbox", "--format", "json"]).stdout);
    assert_eq!(outbox, json!([]), "a test mail is not a reminder");
}

#[test]
fn send_test_names_the_failing_step() {
    let entra = Entra::start();
    let cert = TestCert::localhost();
    let smtp = xoauth2_server(&entra, &cert);

    // A wrong secret: the steps up to the token ran, the token failed, nothing after it.
    let w = xoauth2_world(&entra, &smtp, &cert, "fel-hemlighet");
    let r = w.refused(&["send-test", "--to", "anna@example.org"]);
    assert!(r.stdout.contains("  ok   STARTTLS"), "{}", r.stdout);
    assert!(r.stdout.contains("  FAIL token: "), "{}", r.stdout);
    assert!(r.stdout.contains("AADSTS7000215"), "{}", r.stdout);
    assert!(
        !r.stdout.contains("AUTH XOAUTH2"),
        "AUTH never ran: {}",
        r.stdout
    );
    assert!(!r.stdout.contains("accepted"), "{}", r.stdout);
    assert!(
        r.stderr.contains("send-test failed at token"),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains("fel-hemlighet") && !r.stderr.contains("fel-hemlighet"));

    // Exchange refuses the token: AUTH fails with the steps to take.
    let w = xoauth2_world(&entra, &smtp, &cert, SECRET);
    smtp.set_mode(Mode::AuthReject);
    let r = w.refused(&["send-test", "--to", "anna@example.org"]);
    assert!(r.stdout.contains("  ok   token"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("  FAIL AUTH XOAUTH2 as iopd@example.org: "),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("5.7.3"), "{}", r.stdout);
    assert!(r.stderr.contains("New-ServicePrincipal"), "{}", r.stderr);
    assert!(!r.stdout.contains("MAIL FROM"), "{}", r.stdout);
    smtp.set_mode(Mode::Accept);

    // Nothing listens: connect fails, nothing after it is shown.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut w = xoauth2_world(&entra, &smtp, &cert, SECRET);
    w.env
        .push(("IOPD__MAIL__SMTP__PORT".into(), closed.to_string()));
    let r = w.refused(&["send-test", "--to", "anna@example.org"]);
    assert!(r.stdout.contains("  ok   resolve"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains(&format!("  FAIL connect port {closed}: ")),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("EHLO"), "{}", r.stdout);
    assert!(smtp.received().is_empty());
}

#[test]
fn send_test_through_graph() {
    let entra = Entra::start();
    let w = graph_world(&entra, SECRET);
    let r = w.ok(&["send-test", "--to", "olle@example.org"]);
    assert!(
        r.stdout.contains("  ok   resolve 127.0.0.1"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("  ok   token: "), "{}", r.stdout);
    assert!(
        r.stdout.contains("/v1.0/users/iopd@example.org/sendMail"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("HTTP 202"), "{}", r.stdout);
    let sent = entra.graph_sent();
    assert_eq!(sent.len(), 1);
    let m = support::mail::parse(&as_received(&sent[0].mime));
    assert_eq!(m.subject, "Testmejl från iopd");
    assert!(m.text.contains("Microsoft Graph"), "{}", m.text);

    // Permission missing: the call fails and says which.
    entra.script_graph(403, None, json!({"error": {"code": "ErrorAccessDenied", "message": "Access is denied. Check credentials and try again."}}));
    let r = w.refused(&["send-test", "--to", "olle@example.org"]);
    assert!(r.stdout.contains("  FAIL sendMail "), "{}", r.stdout);
    assert!(
        r.stdout.contains("HTTP 403 ErrorAccessDenied"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Mail.Send"), "{}", r.stdout);
    assert_eq!(entra.graph_sent().len(), 1, "nothing more sent");
}

#[test]
fn send_test_respects_the_kill_switch_unless_forced() {
    let entra = Entra::start();
    let mut w = graph_world(&entra, SECRET);
    w.env.push(("IOPD__MAIL__ENABLED".into(), "false".into()));
    let r = w.refused(&["send-test", "--to", "olle@example.org"]);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert!(entra.graph_sent().is_empty());
    w.ok(&["send-test", "--to", "olle@example.org", "--force"]);
    assert_eq!(entra.graph_sent().len(), 1);
}

#[test]
fn check_config_names_each_problem_with_its_key() {
    let entra = Entra::start();
    let mut w = graph_world(&entra, SECRET);
    let empty = w.write("empty-secret", "\n");
    w.env.push((
        "IOPD__MAIL__GRAPH__CLIENT_SECRET_FILE".into(),
        path_str(&empty).into(),
    ));
    w.env.push((
        "IOPD__MAIL__GRAPH__TOKEN_URL".into(),
        "http://login.example.org/{tenant}/token".into(),
    ));
    w.env
        .push(("IOPD__MAIL__GRAPH__SENDER".into(), "inte en adress".into()));
    w.env
        .push(("IOPD__MAIL__GRAPH__TENANT".into(), "a/b".into()));
    let r = w.refused(&["check-config"]);
    for key in [
        "mail.graph.client_secret_file: the file",
        "mail.graph.token_url: ",
        "mail.graph.sender: ",
        "mail.graph.tenant: ",
    ] {
        assert!(r.stderr.contains(key), "{key}\n{}", r.stderr);
    }
}

/// Graph's Retry-After beyond what is waited for inline: the mail goes back to the outbox
/// and is not tried again before that time, although the usual backoff (a minute after
/// the first failure) would allow it; then it is sent once.
#[test]
fn a_long_retry_after_holds_the_mail_in_the_outbox_until_then() {
    let entra = Entra::start();
    let w = graph_world(&entra, SECRET);
    entra.script_graph(
        429,
        Some(7200),
        json!({"error": {"code": "ApplicationThrottled", "message": "Application is over its MailboxConcurrency limit."}}),
    );
    let r = w.ok(&["tick", "--now", "2026-04-30T08:05"]);
    assert!(r.stdout.contains("0 sent, 1 to retry"), "{}", r.stdout);
    assert_eq!(entra.graph_requests(), 1);
    let pending = mails(json(
        &w.ok(&["outbox", "--status", "pending", "--format", "json"])
            .stdout,
    ));
    let error = pending[0]["last_error"].as_str().expect("an error");
    assert!(error.contains("HTTP 429 ApplicationThrottled"), "{error}");
    assert!(error.contains("Retry-After 7200 s"), "{error}");

    // Half an hour later: still held.
    w.ok(&["tick", "--now", "2026-04-30T08:35"]);
    assert_eq!(
        entra.graph_requests(),
        1,
        "not asked again before Retry-After"
    );
    // Two hours later: sent, once.
    let r = w.ok(&["tick", "--now", "2026-04-30T10:06"]);
    assert!(r.stdout.contains("1 sent"), "{}", r.stdout);
    assert_eq!(entra.graph_requests(), 2);
    assert_eq!(entra.graph_sent().len(), 1);
}

#[test]
fn send_test_with_the_file_transport_writes_one_eml() {
    let w = World::new(Backend::Sqlite);
    let r = w.ok(&[
        "send-test",
        "--to",
        "olle@example.org",
        "--now",
        "2026-04-30T12:00",
    ]);
    assert!(r.stdout.contains("  ok   write: "), "{}", r.stdout);
    let dir = w.path("mail-out");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .expect("mail-out")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let bytes = std::fs::read(&files[0]).expect("eml");
    let m = support::mail::parse(&as_received(&bytes));
    assert_eq!(m.subject, "Testmejl från iopd");
    assert!(m.text.contains("filer i mail-out"), "{}", m.text);
}

#[tokio::test]
async fn xoauth2_over_implicit_tls() {
    let entra = Entra::start();
    let cert = TestCert::localhost();
    let server = SmtpServer::start_with(Options {
        tls: ServerTls::Implicit(cert.clone()),
        auth: None,
        xoauth2: Some(entra.smtp_check()),
    });
    let smtp = Smtp {
        host: "127.0.0.1".into(),
        port: server.port,
        tls: Tls::Tls,
        username: Some("delad-brevlada@region.example.org".into()),
        password: None,
        timeout: Duration::from_secs(5),
        pool_size: 1,
        ca_file: Some(ca_file(&cert)),
        oauth2: Some(grant(&entra, SECRET, OUTLOOK_SCOPE, true)),
    };
    let sender = Sender::from_config(&mail(Transport::Smtp, Some(smtp), None)).expect("sender");
    sender.send(&reminder(1, false).0, "x").await.expect("sent");
    let got = server.received();
    assert_eq!(got.len(), 1);
    // mail.smtp.username, when set, is the mailbox that signs in.
    assert_eq!(
        got[0].user.as_deref(),
        Some("delad-brevlada@region.example.org")
    );
    assert!(got[0].tls);
}
