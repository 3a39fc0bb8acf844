//! `iopd feed-revoke --email ADDRESS`: the person's calendar-feed address
//! stops working at once; the next address (in the next mail, or on the
//! pages) carries the new version.

use std::path::Path;

use anyhow::Result;
use clap::Args;

use super::{NowArg, load_config, now_from, open_store};
use crate::domain::Email;

#[derive(Args, Debug)]
pub struct FeedRevokeArgs {
    /// Whose calendar feed to revoke (their e-mail address).
    #[arg(long, value_name = "ADDRESS", value_parser = email_arg)]
    pub email: Email,
    #[command(flatten)]
    pub now: NowArg,
}

fn email_arg(s: &str) -> Result<Email, String> {
    Email::parse(s).map_err(|e| e.0)
}

pub async fn revoke(config: &Path, args: FeedRevokeArgs) -> Result<()> {
    let mut cfg = load_config(config)?;
    let now = now_from(&args.now, &cfg)?;
    let store = open_store(&mut cfg, &now).await?;
    let version = store.revoke_feed(&args.email).await;
    store.close().await;
    let version = version?;
    println!(
        "Kalenderflödet för {} är spärrat: den gamla adressen fungerar inte längre.\n\
         The calendar feed of {} is revoked: the old address no longer works.",
        args.email, args.email
    );
    match crate::web::feed_link(&cfg, &args.email, version) {
        Some(link) => println!(
            "Ny adress (kommer med nästa påminnelse) / new address (sent with the next reminder):\n{link}"
        ),
        None => println!(
            "Sidorna är inte påslagna ([web] public_url och link_secret_file saknas), så det finns \
             ingen ny adress att ge ut. / The pages are off: there is no new address to give."
        ),
    }
    Ok(())
}
