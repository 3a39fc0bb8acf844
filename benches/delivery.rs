//! Delivery: rendering cost per mail, and 10 000 reminders delivered from
//! the outbox to a local SMTP sink against a plain SMTP client sending the
//! same messages to the same sink (issue target: ratio ≥ 0.5).
//! Run: `cargo bench --bench delivery` (IOPD_BENCH_MAILS to scale).

#[allow(dead_code)]
#[path = "../tests/support/smtp.rs"]
mod smtp;

use std::time::Instant;

use chrono::{NaiveDate, TimeZone, Utc};
use iopd::clock::Now;
use iopd::config::Config;
use iopd::domain::Email;
use iopd::engine::Kind;
use iopd::mail::{self, ReminderContext};
use iopd::store::{Enqueue, NewMail, Store};
use lettre::AsyncTransport;

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
        stage_label: "Påminnelse".into(),
        stage_is_planning: false,
        today: d("2027-03-24"),
        sent_late: false,
        recent_events: vec![(d("2026-09-20"), "Avstämningsmöte hållet".into())],
        to: vec![mail::Person {
            name: Some("Anna Lindqvist".into()),
            email: Email::parse("anna@example.org").expect("email"),
        }],
        cc: Vec::new(),
        redirected_from: Vec::new(),
        links: None,
        diarienummer_hint: None,
    }
}

fn main() {
    let n: usize = std::env::var("IOPD_BENCH_MAILS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let sink = smtp::SmtpServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/iopd.example.toml"
    ))
    .expect("example");
    let toml = example
        .replace("transport = \"file\"", "transport = \"smtp\"")
        .replace(
            "url = \"sqlite://iopd.db\"",
            &format!(
                "url = \"sqlite://{}\"",
                dir.path().join("bench.db").display()
            ),
        )
        + &format!(
            "\n[mail.smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\npool_size = 4\n",
            sink.port
        );
    let path = dir.path().join("bench.toml");
    std::fs::write(&path, toml).expect("write config");
    let cfg = Config::load_with_env(&path, false).expect("config");
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
        let r = mail::render_reminder(&ctx).expect("render");
        let env = mail::Envelope {
            from: from.clone(),
            to: ctx.to.clone(),
            cc: Vec::new(),
            outbox_key: None,
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
        });
    }
    let render = t.elapsed().as_secs_f64();
    println!(
        "render: {n} mails in {render:.2} s, {:.0} µs per mail",
        render * 1e6 / n as f64
    );

    // iopd: enqueue, then deliver from the outbox (claim, send, mark sent).
    let bytes: Vec<Vec<u8>> = mails.iter().map(|m| m.message.clone()).collect();
    let (ours, plain) = rt.block_on(async {
        let store = Store::open(&cfg.database, now.today).await.expect("store");
        store
            .enqueue(
                &Enqueue {
                    mails,
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
        let ours = t.elapsed().as_secs_f64();
        assert_eq!((sent as usize, failed), (n, 0));

        // A plain client: lettre alone, one pooled transport, the same bytes.
        let plain =
            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous("127.0.0.1")
                .port(sink.port)
                .build();
        let envelope = lettre::address::Envelope::new(
            Some("iopd@example.org".parse().expect("address")),
            vec!["anna@example.org".parse().expect("address")],
        )
        .expect("envelope");
        let t = Instant::now();
        for b in &bytes {
            plain.send_raw(&envelope, b).await.expect("plain send");
        }
        (ours, t.elapsed().as_secs_f64())
    });
    let got = sink
        .wait_for(2 * n, std::time::Duration::from_secs(60))
        .len();
    assert_eq!(got, 2 * n);
    println!(
        "deliver: iopd {:.0} mails/s ({ours:.2} s), plain client {:.0} mails/s ({plain:.2} s), ratio {:.2}",
        n as f64 / ours,
        n as f64 / plain,
        plain / ours
    );
}
