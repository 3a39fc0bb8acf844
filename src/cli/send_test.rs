//! `iopd send-test --to ADDRESS`: one plain test mail through the configured transport, at
//! once, with each step and its outcome printed, so an operator sees where sending stops.
//! It neither opens the database nor writes to the outbox: a test mail is not a reminder.

use std::path::Path;

use anyhow::{Result, bail};
use clap::Args;

use crate::config::Transport;
use crate::domain::Email;
use crate::mail::transport::Sender;
use crate::mail::{self, Envelope, Person, Rendered};

use super::{NowArg, load_config, now_from};

#[derive(Args, Debug)]
pub struct SendTestArgs {
    /// Who gets the test mail.
    #[arg(long, value_name = "ADDRESS")]
    pub to: String,
    /// Send even with `mail.enabled = false` (the kill switch stops reminders, not this).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub now: NowArg,
}

pub async fn send_test(config: &Path, args: SendTestArgs) -> Result<()> {
    let cfg = load_config(config)?;
    let now = now_from(&args.now, &cfg)?;
    let to = Email::parse(&args.to).map_err(|e| anyhow::anyhow!("--to: {}", e.0))?;
    if !cfg.mail.enabled && !args.force {
        bail!("mail.enabled = false, so nothing is sent; add --force to send the test mail anyway");
    }
    let mut mail_cfg = cfg.mail.clone();
    mail_cfg.enabled = true;
    let sender = Sender::from_config(&mail_cfg).map_err(|e| anyhow::anyhow!("{e}"))?;

    let how = match (cfg.mail.transport, &cfg.mail.smtp, &cfg.mail.graph) {
        (Transport::File, _, _) => format!("filer i {}", cfg.mail.file_dir.display()),
        (Transport::Smtp, Some(s), _) if s.oauth2.is_some() => {
            format!("SMTP via {}:{} med OAuth2 (XOAUTH2)", s.host, s.port)
        }
        (Transport::Smtp, Some(s), _) => format!("SMTP via {}:{}", s.host, s.port),
        (Transport::Graph, _, Some(g)) => {
            format!(
                "Microsoft Graph ({}) från brevlådan {}",
                g.base_url, g.sender
            )
        }
        _ => "den inställda vägen".to_string(),
    };
    let stamp = now.instant.format("%Y-%m-%d %H:%M UTC").to_string();
    let rendered = Rendered {
        subject: "Testmejl från iopd".into(),
        text: format!(
            "Det här är ett testmejl från iopd hos {}.\n\nDet skickades {stamp} med {how}, från {}.\nKommer det fram fungerar utskicket av påminnelser. Du behöver inte göra något.\n",
            cfg.body.name, cfg.mail.from
        ),
        html: format!(
            "<p>Det här är ett testmejl från iopd hos {}.</p><p>Det skickades {stamp} med {}, från {}. Kommer det fram fungerar utskicket av påminnelser. Du behöver inte göra något.</p>",
            html_escape(&cfg.body.name),
            html_escape(&how),
            cfg.mail.from
        ),
    };
    let envelope = Envelope {
        from: cfg.sender(),
        to: vec![Person {
            name: None,
            email: to.clone(),
        }],
        cc: Vec::new(),
        outbox_key: None,
        items: Vec::new(),
    };
    let key = format!("send-test|{to}|{}", now.instant.to_rfc3339());
    let message_id = mail::message_id(&key, &cfg.mail.from);
    let msg = mail::build(&envelope, &rendered, None, &message_id, now.instant)
        .map_err(|e| anyhow::anyhow!("cannot build the test mail: {e}"))?;

    println!(
        "send-test: to {to} from {} via {}",
        cfg.mail.from,
        transport_name(cfg.mail.transport)
    );
    println!("(nothing is written to the outbox)");
    let stem = format!("send-test-{}", now.instant.format("%Y%m%dT%H%M%S"));
    let (steps, result) = sender.probe(&msg, &to, &stem).await;
    for s in &steps {
        println!(
            "  {} {}: {}",
            if s.ok { "ok  " } else { "FAIL" },
            s.name,
            s.detail
        );
    }
    match result {
        Ok(()) => {
            println!("accepted: the mail was handed over ({message_id})");
            Ok(())
        }
        Err(e) => {
            let step = steps
                .iter()
                .find(|s| !s.ok)
                .map_or("send".to_string(), |s| s.name.clone());
            bail!("send-test failed at {step}: {}", e.message)
        }
    }
}

fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::File => "file",
        Transport::Smtp => "smtp",
        Transport::Graph => "graph",
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
