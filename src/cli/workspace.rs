//! `iopd admin-link --email ADDRESS --role coordinator`: a one-time sign-in
//! link to the workspace, for bodies without an identity provider or when it
//! is down (break-glass). It works once, for 15 minutes; issuing one is
//! logged.

use std::path::Path;

use anyhow::Result;
use clap::{Args, ValueEnum};

use super::{NowArg, load_config, now_from, open_store};
use crate::domain::Email;
use crate::workspace::{Role, issue_signin_link};

#[derive(Args, Debug)]
pub struct AdminLinkArgs {
    /// Who signs in (their e-mail address).
    #[arg(long, value_name = "ADDRESS", value_parser = email_arg)]
    pub email: Email,
    /// What they may do: coordinator (IOP-ansvarig: everything), officer
    /// (their own partnerships), reader (read everything).
    #[arg(long, value_enum)]
    pub role: RoleArg,
    #[command(flatten)]
    pub now: NowArg,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum RoleArg {
    Coordinator,
    Officer,
    Reader,
}

fn email_arg(s: &str) -> Result<Email, String> {
    Email::parse(s).map_err(|e| e.0)
}

pub async fn admin_link(config: &Path, args: AdminLinkArgs) -> Result<()> {
    let mut cfg = load_config(config)?;
    let now = now_from(&args.now, &cfg)?;
    let store = open_store(&mut cfg, &now).await?;
    let role = match args.role {
        RoleArg::Coordinator => Role::Coordinator,
        RoleArg::Officer => Role::Officer,
        RoleArg::Reader => Role::Reader,
    };
    let link = issue_signin_link(&cfg, &store, &args.email, role, now.instant).await;
    store.close().await;
    let link = link.map_err(anyhow::Error::msg)?;
    println!(
        "Inloggningslänk för {} ({}), fungerar en gång i {} minuter:\n{link}",
        args.email,
        role.label_sv(),
        crate::workspace::LINK_MINUTES
    );
    Ok(())
}
