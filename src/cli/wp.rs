//! `lempctl wp …`: its arguments, their conversion into options and its human output.

use std::time::Duration;

use anyhow::Result;
use clap::Subcommand;

use super::GlobalArgs;
use super::printer::Printer;
use super::site::site_name;
use crate::config::Fqdn;
use crate::ops::{self, Context};

#[derive(Debug, Subcommand)]
pub enum WpCommand {
    /// Converge a WordPress site: core files, wp-config.php, database, install.
    Install {
        #[arg(value_parser = site_name)]
        site: Fqdn,
    },
    /// Run the site's due WordPress cron events (what the timer runs).
    Cron {
        #[arg(value_parser = site_name)]
        site: Fqdn,
    },
    /// Empty the site's page cache.
    Purge {
        #[arg(value_parser = site_name)]
        site: Fqdn,
    },
    /// Print the login URL and the admin user.
    LoginUrl {
        #[arg(value_parser = site_name)]
        site: Fqdn,
    },
    /// Give the admin user a new password (printed once, stored 0600).
    AdminPassword {
        #[arg(value_parser = site_name)]
        site: Fqdn,
    },
}

/// Runs `lempctl wp …`.
pub(super) fn run(
    ctx: &Context,
    w: &WpCommand,
    p: &Printer,
    g: &GlobalArgs,
    wait: Duration,
) -> Result<()> {
    match w {
        WpCommand::Install { site } => {
            p.report(&ops::wp::install(ctx, site.as_str(), g.dry_run, wait)?)
        }
        WpCommand::Cron { site } => {
            let out = ops::wp::cron(ctx, site.as_str())?;
            p.data(&serde_json::json!({ "site": site, "output": out }), |_| {
                out.trim().to_owned()
            });
        }
        WpCommand::Purge { site } => p.data(&ops::wp::purge(ctx, site.as_str())?, |r| {
            format!("{}: {} cache entries removed", r.site, r.entries_removed)
        }),
        WpCommand::LoginUrl { site } => p.data(&ops::wp::login_url(ctx, site.as_str())?, |l| {
            format!(
                "{}\n  user: {}\n  password: in {} (`lempctl wp admin-password` sets a new one)",
                l.url, l.admin_user, l.credentials_file
            )
        }),
        WpCommand::AdminPassword { site } => {
            p.data(&ops::wp::admin_password(ctx, site.as_str(), wait)?, |n| {
                format!(
                    "{}: new password of `{}`: {}\n  (shown once; stored root-only)",
                    n.site, n.admin_user, n.password
                )
            })
        }
    }
    Ok(())
}
