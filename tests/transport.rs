//! The mail transports against a real SMTP server over TCP (tests/support/smtp.rs) and a
//! real directory: what arrives, and how each fault is classified.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{NaiveTime, TimeZone, Utc};
use iopd::config::{CaFile, Mail, Secret, Smtp, Tls, Transport};
use iopd::domain::Email;
use iopd::mail::transport::{FailureKind, Sender, TransportError};
use iopd::mail::{Envelope, Person, Rendered};
use lettre::Message;
use support::smtp::{Mode, Options, ServerTls, SmtpServer, TestCert};

/// Short, so the timeout cases stay quick; generous enough for a loaded machine.
const TIMEOUT: Duration = Duration::from_secs(1);

fn email(s: &str) -> Email {
    Email::parse(s).expect("test address")
}

fn smtp_config(port: u16) -> Smtp {
    Smtp {
        host: "127.0.0.1".into(),
        port,
        tls: Tls::None,
        username: None,
        password: None,
        timeout: TIMEOUT,
        pool_size: 2,
        ca_file: None,
        oauth2: None,
    }
}

fn mail_config(transport: Transport, smtp: Option<Smtp>, dir: &Path) -> Mail {
    Mail {
        transport,
        from: email("iop@region.example.org"),
        enabled: true,
        redirect_all_to: None,
        send_at: NaiveTime::from_hms_opt(8, 0, 0).expect("08:00"),
        max_retry_hours: 72,
        claim_lease: Duration::from_secs(300),
        smtp,
        graph: None,
        file_dir: dir.to_path_buf(),
        calendar: iopd::config::CalendarMode::Invites,
    }
}

fn smtp_sender(server: &SmtpServer) -> Sender {
    let mail = mail_config(
        Transport::Smtp,
        Some(smtp_config(server.port)),
        Path::new("unused"),
    );
    Sender::from_config(&mail).expect("SMTP sender")
}

/// A reminder as the outbox builds it: To the officer, Cc the deputy, Swedish text.
fn reminder(n: u32) -> (Message, String) {
    let person = |name: &str, addr: &str| Person {
        name: Some(name.into()),
        email: email(addr),
    };
    let env = Envelope {
        from: person("IOP-påminnelser", "iop@region.example.org"),
        to: vec![person("Anna Ödman", "anna@region.example.org")],
        cc: vec![person("Bo Ek", "bo@region.example.org")],
        outbox_key: None,
        items: Vec::new(),
    };
    let rendered = Rendered {
        subject: format!("[IOP] Avstämningsmöte med Fritidsbanken senast 2027-03-{n:02}"),
        text: "Hej Anna!\n\nDags att boka avstämningsmötet.\n".into(),
        html: "<p>Hej Anna!</p><p>Dags att boka avstämningsmötet.</p>".into(),
    };
    let id = iopd::mail::message_id(&format!("row-{n}"), &email("iop@region.example.org"));
    let date = Utc
        .with_ymd_and_hms(2027, 3, 1, 7, 0, 0)
        .single()
        .expect("date");
    let msg = iopd::mail::build(&env, &rendered, None, &id, date).expect("build the mail");
    (msg, id)
}

fn parse(data: &[u8]) -> mail_parser::Message<'_> {
    mail_parser::MessageParser::default()
        .parse(data)
        .expect("a parseable RFC 5322 message")
}

/// `<id@domain>` as mail-parser returns it (without the angle brackets).
fn bare(id: &str) -> &str {
    id.trim_start_matches('<').trim_end_matches('>')
}

#[tokio::test]
async fn smtp_delivers_with_the_envelope_and_message_id_intact() {
    let server = SmtpServer::start();
    let sender = smtp_sender(&server);
    let (msg, id) = reminder(31);

    sender.send(&msg, "row-31").await.expect("sent");

    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].from, "iop@region.example.org");
    // Envelope recipients come from To and Cc.
    let mut to = got[0].to.clone();
    to.sort();
    assert_eq!(to, ["anna@region.example.org", "bo@region.example.org"]);
    let parsed = parse(&got[0].data);
    assert_eq!(parsed.message_id(), Some(bare(&id)));
    assert_eq!(
        parsed.subject(),
        Some("[IOP] Avstämningsmöte med Fritidsbanken senast 2027-03-31")
    );
    assert!(
        parsed
            .body_text(0)
            .is_some_and(|t| t.contains("avstämningsmötet")),
        "{:?}",
        parsed.body_text(0)
    );
}

#[tokio::test]
async fn send_raw_uses_the_given_envelope_not_the_headers() {
    let server = SmtpServer::start();
    let sender = smtp_sender(&server);
    let (msg, id) = reminder(30);
    let bytes = msg.formatted();

    // One outbox row per recipient: this one is for the deputy only.
    sender
        .send_raw(
            &email("iop@region.example.org"),
            &email("bo@region.example.org"),
            &bytes,
            "row-30-bo",
        )
        .await
        .expect("sent");

    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, ["bo@region.example.org"]);
    // The stored bytes go out unchanged; lettre ends DATA with CRLF.CRLF even after the
    // message's own final CRLF, so the server sees one blank line more.
    let sent = [&bytes[..], b"\r\n"].concat();
    assert!(got[0].data == bytes || got[0].data == sent);
    assert_eq!(parse(&got[0].data).message_id(), Some(bare(&id)));
}

#[tokio::test]
async fn connections_are_pooled() {
    let server = SmtpServer::start();
    let sender = smtp_sender(&server);
    for n in 1..=3 {
        sender.send(&reminder(n).0, "x").await.expect("sent");
        // lettre hands a used connection back to its pool in a task of its own; on this
        // single-threaded runtime, yielding once lets that task run.
        tokio::task::yield_now().await;
    }
    assert_eq!(server.received().len(), 3);
    assert_eq!(server.connections(), 1, "one connection carried all three");
}

#[tokio::test]
async fn a_4xx_is_transient_and_the_retry_goes_through() {
    let server = SmtpServer::start();
    let sender = smtp_sender(&server);
    let (msg, id) = reminder(1);

    server.set_mode(Mode::TempFail);
    let err = sender.send(&msg, "x").await.expect_err("refused for now");
    assert_eq!(err.kind, FailureKind::Transient, "{err}");
    assert!(err.message.contains("450"), "{err}");
    assert!(err.message.contains("Mailbox busy"), "{err}");
    assert!(server.received().is_empty());

    server.set_mode(Mode::Accept);
    sender.send(&msg, "x").await.expect("sent on retry");
    let got = server.received();
    assert_eq!(got.len(), 1, "delivered once");
    assert_eq!(parse(&got[0].data).message_id(), Some(bare(&id)));
}

#[tokio::test]
async fn a_5xx_is_permanent() {
    let server = SmtpServer::start();
    let sender = smtp_sender(&server);
    server.set_mode(Mode::PermFail);

    let err = sender.send(&reminder(1).0, "x").await.expect_err("refused");
    assert_eq!(err.kind, FailureKind::Permanent, "{err}");
    assert!(err.message.contains("550"), "{err}");
    assert!(err.message.contains("No such mailbox"), "{err}");
    assert!(server.received().is_empty());
}

/// The send gives up at the configured timeout (lettre's own covers only the
/// connect), as a transient failure to retry.
async fn assert_times_out(sender: &Sender) {
    let started = Instant::now();
    let err = sender
        .send(&reminder(1).0, "x")
        .await
        .expect_err("the server never answers");
    let took = started.elapsed();
    assert_eq!(err.kind, FailureKind::Transient, "{err}");
    assert!(err.message.contains("timed out"), "{err}");
    assert!(took >= TIMEOUT, "gave up early: {took:?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_as_transient() {
    let server = SmtpServer::start();
    server.set_mode(Mode::Stall);
    let sender = smtp_sender(&server);

    assert_times_out(&sender).await;
    assert_eq!(server.connections(), 1, "the TCP connect itself succeeded");
}

/// lettre #1027: its timeout covers only the connect. A server that stops answering after
/// the mail's body must still end the send in time, and the connection abandoned mid-command
/// must not be reused: its late "250" would be read as the answer to the next mail.
#[tokio::test]
async fn a_stall_after_data_times_out_and_the_abandoned_connection_is_not_reused() {
    let server = SmtpServer::start();
    let sender = smtp_sender(&server);
    let (a, id_a) = reminder(1);
    let (b, id_b) = reminder(2);
    let (c, id_c) = reminder(3);
    sender.send(&a, "a").await.expect("first mail");
    tokio::task::yield_now().await; // A's connection back in the pool (see above)

    server.set_mode(Mode::StallData);
    let started = Instant::now();
    let err = sender.send(&b, "b").await.expect_err("no final answer");
    assert_eq!(err.kind, FailureKind::Transient, "{err}");
    assert!(err.message.contains("may still have accepted"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // The server now accepts the mail the client gave up on: the one allowed repeat, which
    // is why the retry carries the same Message-ID.
    server.set_mode(Mode::Accept);
    tokio::task::yield_now().await; // lettre would pool the abandoned connection now
    let before = server.connections();
    sender.send(&c, "c").await.expect("next mail");
    assert_eq!(
        server.connections(),
        before + 1,
        "the mail after the timeout went over a new connection"
    );

    let got = server.wait_for(3, Duration::from_secs(5));
    let ids: Vec<_> = got
        .iter()
        .map(|r| parse(&r.data).message_id().map(str::to_string))
        .collect();
    for id in [&id_a, &id_b, &id_c] {
        assert!(ids.contains(&Some(bare(id).to_string())), "{id} in {ids:?}");
    }
}

#[tokio::test]
async fn nothing_listening_is_transient() {
    let mut server = SmtpServer::start();
    server.down();
    let sender = smtp_sender(&server);

    let started = Instant::now();
    let err = sender.send(&reminder(1).0, "x").await.expect_err("refused");
    assert_eq!(err.kind, FailureKind::Transient, "{err}");
    assert!(
        err.message.contains(&format!("127.0.0.1:{}", server.port)),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn server_down_then_back_loses_nothing_and_doubles_nothing() {
    let mut server = SmtpServer::start();
    let sender = smtp_sender(&server);
    let (a, id_a) = reminder(1);
    let (b, id_b) = reminder(2);
    sender.send(&a, "a").await.expect("before the crash");

    // The pooled connection dies with the server.
    server.down();
    let err = sender.send(&b, "b").await.expect_err("server down");
    assert_eq!(err.kind, FailureKind::Transient, "{err}");

    server.up();
    sender.send(&b, "b").await.expect("the pool recovers");

    let got = server.received();
    let ids: Vec<_> = got
        .iter()
        .map(|r| parse(&r.data).message_id().map(str::to_string))
        .collect();
    assert_eq!(
        ids,
        [Some(bare(&id_a).to_string()), Some(bare(&id_b).to_string())]
    );
}

#[tokio::test]
async fn file_transport_writes_one_whole_eml() {
    let tmp = tempfile::tempdir().expect("temp dir");
    // Missing directories are created.
    let dir = tmp.path().join("mail-out").join("2027");
    let sender = Sender::from_config(&mail_config(Transport::File, None, &dir)).expect("file");
    let (msg, id) = reminder(31);

    sender.send(&msg, "00000042").await.expect("written");
    // The same row written again (a repeat after a crash) stays one file.
    sender.send(&msg, "00000042").await.expect("written again");

    let names = file_names(&dir);
    assert_eq!(names, ["00000042.eml"], "no temporary files left");
    let bytes = std::fs::read(dir.join("00000042.eml")).expect("read");
    assert_eq!(bytes, msg.formatted());
    let parsed = parse(&bytes);
    assert_eq!(parsed.message_id(), Some(bare(&id)));
    assert_eq!(
        parsed.subject(),
        Some("[IOP] Avstämningsmöte med Fritidsbanken senast 2027-03-31")
    );
}

#[tokio::test]
async fn file_names_cannot_leave_the_directory() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("out");
    let sender = Sender::File { dir: dir.clone() };

    sender
        .send(&reminder(1).0, "../escape me")
        .await
        .expect("written");

    assert_eq!(file_names(&dir), ["___escape_me.eml"]);
    assert_eq!(file_names(tmp.path()), ["out"]);
}

#[tokio::test]
async fn an_unwritable_directory_is_transient() {
    let tmp = tempfile::tempdir().expect("temp dir");
    // A file where the directory should be: fails for root too.
    let blocker = tmp.path().join("blocker");
    std::fs::write(&blocker, b"").expect("write");
    let sender = Sender::File {
        dir: blocker.join("out"),
    };

    let err = sender
        .send(&reminder(1).0, "x")
        .await
        .expect_err("cannot write");
    assert_eq!(err.kind, FailureKind::Transient, "{err}");
    assert!(err.message.contains("x.eml"), "{err}");
}

#[tokio::test]
async fn disabled_sends_nothing() {
    let server = SmtpServer::start();
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut mail = mail_config(Transport::Smtp, Some(smtp_config(server.port)), tmp.path());
    mail.enabled = false;
    let sender = Sender::from_config(&mail).expect("sender");
    assert!(matches!(sender, Sender::Disabled));

    sender.send(&reminder(1).0, "x").await.expect("ok");
    sender
        .send_raw(
            &email("iop@region.example.org"),
            &email("anna@region.example.org"),
            b"Subject: x\r\n\r\nx\r\n",
            "y",
        )
        .await
        .expect("ok");

    assert_eq!(server.connections(), 0);
    assert!(file_names(tmp.path()).is_empty());
}

#[tokio::test]
async fn credentials_are_never_sent_unencrypted_and_never_shown() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut smtp = smtp_config(2525);
    smtp.username = Some("iopd".into());
    smtp.password = Some(Secret::new("hemligt-lösen"));
    let mail = mail_config(Transport::Smtp, Some(smtp.clone()), tmp.path());
    let err = Sender::from_config(&mail).expect_err("refused");
    assert!(
        matches!(err, TransportError::CredentialsUnencrypted),
        "{err:?}"
    );
    assert!(!err.to_string().contains("hemligt"));

    smtp.tls = Tls::Starttls;
    let mail = mail_config(Transport::Smtp, Some(smtp), tmp.path());
    let sender = Sender::from_config(&mail).expect("STARTTLS sender");
    assert!(!format!("{sender:?}").contains("hemligt"), "{sender:?}");

    let mut remote = smtp_config(25);
    remote.host = "smtp.example.org".into();
    let mail = mail_config(Transport::Smtp, Some(remote), tmp.path());
    assert!(matches!(
        Sender::from_config(&mail),
        Err(TransportError::PlaintextToRemote { .. })
    ));
}

// ---------------------------------------------------------------- TLS and AUTH

const USER: &str = "iopd";
const PASSWORD: &str = "hemligt-lösen";

/// `cert` as `mail.smtp.ca_file` holds it once loaded.
fn ca_file(cert: &TestCert) -> CaFile {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let certificates = CertificateDer::pem_slice_iter(cert.pem.as_bytes())
        .map(|c| c.expect("PEM").to_vec())
        .collect();
    CaFile {
        path: "test-ca.pem".into(),
        certificates,
    }
}

fn tls_server(tls: ServerTls, auth: bool) -> SmtpServer {
    SmtpServer::start_with(Options {
        tls,
        auth: auth.then(|| (USER.to_string(), PASSWORD.to_string())),
        xoauth2: None,
    })
}

/// A sender to `server` with `tls`, trusting `ca` and logging in with `password`.
fn tls_sender(
    server: &SmtpServer,
    tls: Tls,
    ca: Option<&TestCert>,
    password: Option<&str>,
) -> Sender {
    let mut smtp = smtp_config(server.port);
    smtp.tls = tls;
    smtp.ca_file = ca.map(ca_file);
    if let Some(p) = password {
        smtp.username = Some(USER.into());
        smtp.password = Some(Secret::new(p));
    }
    let mail = mail_config(Transport::Smtp, Some(smtp), Path::new("unused"));
    Sender::from_config(&mail).expect("SMTP sender")
}

fn assert_is_reminder(got: &support::smtp::Received, id: &str) {
    assert_eq!(got.from, "iop@region.example.org");
    let mut to = got.to.clone();
    to.sort();
    assert_eq!(to, ["anna@region.example.org", "bo@region.example.org"]);
    let parsed = parse(&got.data);
    assert_eq!(parsed.message_id(), Some(bare(id)));
    assert_eq!(
        parsed.subject(),
        Some("[IOP] Avstämningsmöte med Fritidsbanken senast 2027-03-31")
    );
}

#[tokio::test]
async fn implicit_tls_delivers_intact() {
    let cert = TestCert::localhost();
    let server = tls_server(ServerTls::Implicit(cert.clone()), false);
    let sender = tls_sender(&server, Tls::Tls, Some(&cert), None);
    let (msg, id) = reminder(31);

    sender.send(&msg, "row-31").await.expect("sent over TLS");

    let got = server.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].tls, "the session was encrypted");
    assert_is_reminder(&got[0], &id);
}

#[tokio::test]
async fn starttls_upgrades_before_mail_from_and_delivers_intact() {
    let cert = TestCert::localhost();
    let server = tls_server(ServerTls::Starttls(cert.clone()), false);
    let sender = tls_sender(&server, Tls::Starttls, Some(&cert), None);
    let (msg, id) = reminder(31);

    sender
        .send(&msg, "row-31")
        .await
        .expect("sent after STARTTLS");

    let got = server.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].tls, "MAIL FROM came after the upgrade");
    assert_is_reminder(&got[0], &id);
}

/// lettre #842: `tls` against a STARTTLS port. The server greets in plain text, which
/// is no TLS handshake: the send fails at once, well within the timeout.
#[tokio::test]
async fn implicit_tls_to_a_starttls_port_fails_fast() {
    let cert = TestCert::localhost();
    let server = tls_server(ServerTls::Starttls(cert.clone()), false);
    let sender = tls_sender(&server, Tls::Tls, Some(&cert), None);

    let started = Instant::now();
    let err = sender.send(&reminder(1).0, "x").await.expect_err("no TLS");
    let took = started.elapsed();

    assert_eq!(err.kind, FailureKind::Transient, "{err}");
    assert!(!err.message.contains("timed out"), "{err}");
    assert!(
        err.message.contains(&format!("127.0.0.1:{}", server.port)),
        "{err}"
    );
    assert!(took < TIMEOUT, "took {took:?}");
    assert!(server.received().is_empty());
}

/// lettre #842 the other way: STARTTLS against an implicit-TLS port. Each side waits
/// for the other to speak first; the send timeout ends it.
#[tokio::test]
async fn starttls_to_an_implicit_tls_port_times_out_instead_of_hanging() {
    let cert = TestCert::localhost();
    let server = tls_server(ServerTls::Implicit(cert.clone()), false);
    let sender = tls_sender(&server, Tls::Starttls, Some(&cert), None);

    assert_times_out(&sender).await;
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let cert = TestCert::localhost();
    let other = TestCert::localhost();
    for (server_tls, tls) in [
        (ServerTls::Implicit(cert.clone()), Tls::Tls),
        (ServerTls::Starttls(cert.clone()), Tls::Starttls),
    ] {
        let server = tls_server(server_tls, false);
        // No ca_file: the system roots do not hold a self-signed test certificate; a
        // ca_file with another certificate does not help either.
        for ca in [None, Some(&other)] {
            let sender = tls_sender(&server, tls, ca, None);
            let err = sender
                .send(&reminder(1).0, "x")
                .await
                .expect_err("untrusted");
            assert_eq!(err.kind, FailureKind::Transient, "{tls:?} {err}");
            assert!(
                err.message.contains("invalid peer certificate"),
                "{tls:?}: {err}"
            );
            // Another certificate with the same issuer name is found but does not verify.
            let reason = if ca.is_none() {
                "UnknownIssuer"
            } else {
                "BadSignature"
            };
            assert!(err.message.contains(reason), "{tls:?}: {err}");
            assert!(server.received().is_empty());
        }
    }
}

#[tokio::test]
async fn correct_credentials_send() {
    let cert = TestCert::localhost();
    for (server_tls, tls) in [
        (ServerTls::Implicit(cert.clone()), Tls::Tls),
        (ServerTls::Starttls(cert.clone()), Tls::Starttls),
    ] {
        let server = tls_server(server_tls, true);
        let sender = tls_sender(&server, tls, Some(&cert), Some(PASSWORD));
        let (msg, id) = reminder(31);

        sender.send(&msg, "x").await.expect("sent");

        let got = server.received();
        assert_eq!(got.len(), 1, "{tls:?}");
        assert_eq!(got[0].user.as_deref(), Some(USER), "{tls:?}");
        assert_is_reminder(&got[0], &id);
    }
}

/// 535 refuses the password, not the mail: transient, so the rows wait (and are sent
/// once the password is fixed) instead of failing for good.
#[tokio::test]
async fn a_535_is_transient_and_never_shows_the_password() {
    let cert = TestCert::localhost();
    let server = tls_server(ServerTls::Implicit(cert.clone()), true);
    let wrong = tls_sender(&server, Tls::Tls, Some(&cert), Some("fel-lösen-123"));

    let err = wrong.send(&reminder(1).0, "x").await.expect_err("refused");
    assert_eq!(err.kind, FailureKind::Transient, "{err}");
    assert!(err.message.contains("535"), "{err}");
    assert!(err.message.contains("Invalid credentials"), "{err}");
    assert!(!err.message.contains("fel-lösen"), "{err}");
    assert!(server.received().is_empty());

    // The right password is refused while the server rejects every login...
    let sender = tls_sender(&server, Tls::Tls, Some(&cert), Some(PASSWORD));
    server.set_mode(Mode::AuthReject);
    let err = sender.send(&reminder(1).0, "x").await.expect_err("refused");
    assert_eq!(err.kind, FailureKind::Transient, "{err}");
    assert!(err.message.contains("535"), "{err}");
    assert!(server.received().is_empty());

    // ... and the retry goes through once it accepts again.
    server.set_mode(Mode::Accept);
    let (msg, id) = reminder(31);
    sender.send(&msg, "x").await.expect("sent on retry");
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].user.as_deref(), Some(USER));
    assert_is_reminder(&got[0], &id);
}

/// 530: the server wants a login that was not configured. Like 535 it is about the
/// account, not the mail, so it is retried.
#[tokio::test]
async fn a_530_is_transient_and_the_retry_goes_through() {
    let cert = TestCert::localhost();
    let server = tls_server(ServerTls::Starttls(cert.clone()), false);
    let sender = tls_sender(&server, Tls::Starttls, Some(&cert), None);
    server.set_mode(Mode::AuthRequired);

    let err = sender.send(&reminder(1).0, "x").await.expect_err("refused");
    assert_eq!(err.kind, FailureKind::Transient, "{err}");
    assert!(err.message.contains("530"), "{err}");
    assert!(err.message.contains("Authentication required"), "{err}");
    assert!(server.received().is_empty());

    server.set_mode(Mode::Accept);
    let (msg, id) = reminder(31);
    sender.send(&msg, "x").await.expect("sent on retry");
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_is_reminder(&got[0], &id);
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
