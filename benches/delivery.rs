//! Delivery: rendering cost per mail, then reminders delivered from the outbox against
//! servers as they are.
//!
//! - Postfix's test server `smtp-sink`, unmodified, with Postfix's own client `smtp-source`
//!   sending the same stored message to the same sink at the same concurrency in the same
//!   run (issue target: iopd ≥ 0.5 × smtp-source). Needs Debian's `postfix` package; the
//!   sink runs as `smtp-sink -u nobody 127.0.0.1:PORT 1000`.
//! - STARTTLS with a test CA, against the tests' own SMTP server (smtp-sink has no TLS):
//!   iopd over STARTTLS next to iopd in plain text to the same kind of server.
//!
//! Run: `cargo bench --bench delivery`. IOPD_BENCH_MAILS (default 10 000),
//! IOPD_BENCH_SESSIONS (default "1,4": the concurrencies measured, iopd's
//! `mail.smtp.pool_size` and smtp-source's `-s`) and IOPD_BENCH_ROUNDS (default 5, the
//! turns each side takes against the sink; medians are compared) scale it.

#[allow(dead_code)]
#[path = "../tests/support/smtp.rs"]
mod smtp;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeZone, Utc};
use iopd::clock::Now;
use iopd::config::Config;
use iopd::domain::Email;
use iopd::engine::Kind;
use iopd::ladder::StageKind;
use iopd::mail::{self, ReminderContext};
use iopd::store::{Enqueue, NewMail, Store};

fn anna() -> mail::Person {
    mail::Person {
        name: Some("Anna Lindqvist".into()),
        email: Email::parse("anna@example.org").expect("email"),
    }
}

fn context(i: usize) -> ReminderContext {
    let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
    ReminderContext {
        body_name: "Region Värmland".into(),
        partnership_id: format!("KUB/2026:{i:05}"),
        organisation: format!("Förening {i}"),
        committee_name: "Kultur- och bildningsnämnden".into(),
        kind: Kind::Checkin,
        parent: None,
        due: d("2027-03-31"),
        period_start: d("2026-10-01"),
        period_end: d("2027-03-31"),
        meeting: None,
        no_meeting: false,
        stage: Some(StageKind::Reminder),
        today: d("2027-03-24"),
        sent_late: false,
        recent_events: vec![(d("2026-09-20"), "Avstämningsmöte hållet".into())],
        reader: mail::Reader::Officer,
        recipient: anna(),
        to: vec![anna()],
        cc: Vec::new(),
        coordinator: mail::Person {
            name: Some("Karin Berg".into()),
            email: Email::parse("iop@example.org").expect("email"),
        },
        redirected_from: Vec::new(),
        links: None,
        overview_link: None,
        escalation: None,
        diarienummer_hint: None,
        guideline: Default::default(),
        documents: None,
    }
}

/// The example configuration with its database in `dir` and `smtp` as `[mail.smtp]`.
fn config(dir: &Path, smtp: &str) -> Config {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/iopd.example.toml"
    ))
    .expect("example");
    let (smtp, enabled) = match smtp.strip_suffix("enabled = false\n") {
        Some(rest) => (rest, "enabled = false"),
        None => (smtp, "enabled = true"),
    };
    let toml = example
        .replace("transport = \"file\"", "transport = \"smtp\"")
        .replace("\nenabled = true\n", &format!("\n{enabled}\n"))
        .replace(
            "url = \"sqlite://iopd.db\"",
            &format!("url = \"sqlite://{}\"", dir.join("bench.db").display()),
        )
        + "\n[mail.smtp]\n"
        + smtp;
    let path = dir.join("bench.toml");
    std::fs::write(&path, toml).expect("write config");
    Config::load_with_env(&path, false).expect("config")
}

/// Enqueues `mails` in a fresh database and delivers them with `smtp` as `[mail.smtp]`;
/// returns the seconds delivery took.
fn deliver(rt: &tokio::runtime::Runtime, mails: &[NewMail], now: &Now, smtp: &str) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path(), smtp);
    let (mails, now) = (mails.to_vec(), *now);
    // On a worker thread, as the service runs its jobs.
    let task = rt.spawn(async move {
        let store = Store::open(&cfg.database, now.today).await.expect("store");
        store
            .enqueue(
                &Enqueue {
                    mails: mails.clone(),
                    ..Default::default()
                },
                now.instant,
            )
            .await
            .expect("enqueue");
        let sender = mail::transport::Sender::from_config(&cfg.mail).expect("sender");
        let t = Instant::now();
        let (sent, _, failed) =
            iopd::delivery::deliver(&cfg, &store, &sender, now.instant, &|| false)
                .await
                .expect("deliver");
        let secs = t.elapsed().as_secs_f64();
        assert_eq!((sent as usize, failed), (mails.len(), 0));
        secs
    });
    rt.block_on(task).expect("delivery task")
}

/// Waits until something accepts connections on `port`.
fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn found(program: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .map(|d| Path::new(d).join(program))
        .find(|p| p.exists())
}

fn main() {
    let n: usize = std::env::var("IOPD_BENCH_MAILS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let sessions: Vec<usize> = std::env::var("IOPD_BENCH_SESSIONS")
        .unwrap_or_else(|_| "1,4".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let rounds: usize = std::env::var("IOPD_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(
        dir.path(),
        "host = \"127.0.0.1\"\nport = 25\ntls = \"none\"\n",
    );
    let tz = cfg.body.time_zone;
    let now = Now::at(
        Utc.with_ymd_and_hms(2027, 3, 24, 7, 5, 0)
            .single()
            .expect("time"),
        tz,
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");

    // Rendering: text, HTML, calendar and MIME per mail.
    let from = mail::Person {
        name: Some("Region Värmland".into()),
        email: cfg.mail.from.clone(),
    };
    let t = Instant::now();
    let mut mails = Vec::with_capacity(n);
    for i in 0..n {
        let ctx = context(i);
        let section = mail::render_section(&ctx).expect("render");
        let r = mail::render_day(&mail::Day {
            body_name: ctx.body_name.clone(),
            name: section.name.clone(),
            sections: vec![section],
            more: Vec::new(),
            coordinator: ctx.coordinator.clone(),
            feed_link: None,
            redirected_from: Vec::new(),
        })
        .expect("render");
        let env = mail::Envelope {
            from: from.clone(),
            to: ctx.to.clone(),
            cc: Vec::new(),
            outbox_key: None,
            items: Vec::new(),
        };
        let key = format!("KUB/2026:{i:05}/checkin/y0-w1|2027-03-31|d-7|anna@example.org");
        let id = mail::message_id(&key, &cfg.mail.from);
        let msg = mail::build(&env, &r, None, &id, now.instant).expect("build");
        mails.push(NewMail {
            key: key.clone(),
            checkpoint_key: format!("KUB/2026:{i:05}/checkin/y0-w1"),
            partnership_id: format!("KUB/2026:{i:05}"),
            kind: "checkin".into(),
            stage: "d-7".into(),
            due: ctx.due,
            recipient: "anna@example.org".into(),
            envelope_to: "anna@example.org".into(),
            send_on: now.today,
            late: false,
            message_id: id,
            subject: r.subject,
            message: msg.formatted(),
            failed: None,
            item: false,
            rank: 0,
        });
    }
    let render = t.elapsed().as_secs_f64();
    println!(
        "render: {n} mails in {render:.2} s, {:.0} µs per mail",
        render * 1e6 / n as f64
    );
    let size = mails[0].message.len();

    // The outbox alone (mail.enabled = false): claiming and marking, nothing sent.
    let outbox = deliver(
        &rt,
        &mails,
        &now,
        "host = \"127.0.0.1\"\nport = 25\ntls = \"none\"\nenabled = false\n",
    );
    println!(
        "outbox only (claim and mark, mail.enabled = false): {:.0} rows/s, {:.0} µs a row",
        n as f64 / outbox,
        outbox * 1e6 / n as f64
    );

    // Against Postfix's smtp-sink, with smtp-source as the yardstick.
    match (found("smtp-sink"), found("smtp-source")) {
        (Some(sink_bin), Some(source_bin)) => {
            let port = free_port();
            let mut sink = Command::new(sink_bin)
                .args(["-u", "nobody", &format!("127.0.0.1:{port}"), "1000"])
                .stdout(Stdio::null())
                .spawn()
                .expect("start smtp-sink");
            wait_for_port(port);
            // smtp-source ends every line of the file with CRLF itself.
            let eml = dir.path().join("message.eml");
            std::fs::write(
                &eml,
                String::from_utf8_lossy(&mails[0].message).replace("\r\n", "\n"),
            )
            .expect("write the message");
            for &c in &sessions {
                // Taken in turns and the medians compared: other work on the machine
                // then weighs on both sides alike.
                let (mut ours, mut theirs) = (Vec::new(), Vec::new());
                for _ in 0..rounds {
                    ours.push(deliver(
                        &rt,
                        &mails,
                        &now,
                        &format!(
                            "host = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\npool_size = {c}\n"
                        ),
                    ));
                    let t = Instant::now();
                    let status = Command::new(&source_bin)
                        .args(["-d", "-s", &c.to_string(), "-m", &n.to_string(), "-F"])
                        .arg(&eml)
                        .args(["-f", "iopd@example.org", "-t", "anna@example.org"])
                        .arg(format!("127.0.0.1:{port}"))
                        .status()
                        .expect("run smtp-source");
                    theirs.push(t.elapsed().as_secs_f64());
                    assert!(status.success(), "smtp-source: {status}");
                }
                let (ours, theirs) = (median(ours), median(theirs));
                println!(
                    "smtp-sink, {c} connection(s), {size} B message, median of {rounds}: iopd {:.0} mails/s \
                     ({ours:.2} s, {:.0} µs a mail), smtp-source {:.0} mails/s ({theirs:.2} s), ratio {:.2}",
                    n as f64 / ours,
                    ours * 1e6 / n as f64,
                    n as f64 / theirs,
                    theirs / ours
                );
            }
            let _ = sink.kill();
            let _ = sink.wait();
        }
        _ => println!(
            "smtp-sink/smtp-source not found (Debian package postfix): the comparison is skipped"
        ),
    }

    // STARTTLS with a test CA, against the tests' server, next to plain text to it.
    let cert = smtp::TestCert::localhost();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &cert.pem).expect("write the CA");
    for &c in &sessions {
        let plain = smtp::SmtpServer::start();
        let secs_plain = deliver(
            &rt,
            &mails,
            &now,
            &format!(
                "host = \"127.0.0.1\"\nport = {}\ntls = \"none\"\npool_size = {c}\n",
                plain.port
            ),
        );
        drop(plain);
        let tls = smtp::SmtpServer::start_with(smtp::Options {
            tls: smtp::ServerTls::Starttls(cert.clone()),
            auth: None,
            xoauth2: None,
        });
        let secs_tls = deliver(
            &rt,
            &mails,
            &now,
            &format!(
                "host = \"127.0.0.1\"\nport = {}\ntls = \"starttls\"\nca_file = \"{}\"\npool_size = {c}\n",
                tls.port,
                ca.display()
            ),
        );
        assert_eq!(tls.received().len(), n);
        assert!(tls.received().iter().all(|r| r.tls));
        println!(
            "test server, {c} connection(s): STARTTLS {:.0} mails/s ({:.0} µs a mail), plain text {:.0} mails/s ({:.0} µs a mail), ratio {:.2}",
            n as f64 / secs_tls,
            secs_tls * 1e6 / n as f64,
            n as f64 / secs_plain,
            secs_plain * 1e6 / n as f64,
            secs_plain / secs_tls
        );
    }
}
