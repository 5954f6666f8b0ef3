//! `lempctl db …`: its arguments, their conversion into options and its human output.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Subcommand;

use super::GlobalArgs;
use super::printer::{self, Printer};
use super::site::site_name;
use crate::config::{Fqdn, UsageError};
use crate::ops::{self, Context};

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create the site's database and user (converges the site). A `php` site without a `db:`
    /// section gets `db: {}` added to its site file.
    Create {
        #[arg(value_parser = site_name)]
        site: Fqdn,
    },
    /// Dump the site's database to the archive directory, then drop it and its user.
    Drop {
        #[arg(value_parser = site_name)]
        site: Fqdn,
        /// Drop without a dump (and without the final backup run) first.
        #[arg(long)]
        no_backup: bool,
        /// Do not ask (required when stdin is not a terminal).
        #[arg(long, short)]
        yes: bool,
    },
    /// Managed databases with size and user.
    List,
    /// Give the site's database user a new random password (stored 0600, files updated).
    Passwd {
        #[arg(value_parser = site_name)]
        site: Fqdn,
    },
    /// Write a compressed dump (`mariadb-dump | zstd`).
    Dump {
        #[arg(value_parser = site_name)]
        site: Fqdn,
        /// Where to write it (default: the archive directory).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// Runs `lempctl db …`.
pub(super) fn run(
    ctx: &Context,
    d: &DbCommand,
    p: &Printer,
    g: &GlobalArgs,
    wait: Duration,
) -> Result<()> {
    match d {
        DbCommand::Create { site } => {
            p.report(&ops::db::create(ctx, site.as_str(), g.dry_run, wait)?)
        }
        DbCommand::Drop {
            site,
            no_backup,
            yes,
        } => {
            if !yes && !g.dry_run {
                if !std::io::stdin().is_terminal() {
                    return Err(UsageError(format!(
                        "`db drop {site}` needs --yes when stdin is not a terminal"
                    ))
                    .into());
                }
                let what = if *no_backup {
                    "WITHOUT a backup"
                } else {
                    "after a dump to the archive directory"
                };
                if !p.confirm(&format!(
                    "Drop the database and database user of `{site}` {what}?"
                )) {
                    return Err(UsageError("not confirmed; nothing was changed".into()).into());
                }
            }
            p.report(&ops::db::drop_database(
                ctx,
                site.as_str(),
                *no_backup,
                g.dry_run,
                wait,
            )?);
        }
        DbCommand::List => p.data(&ops::db::list(ctx)?, |rows| {
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.site.clone(),
                        r.database.clone(),
                        r.user.clone(),
                        if r.exists {
                            printer::human_bytes(r.size_bytes)
                        } else {
                            "-".to_owned()
                        },
                        if r.exists { "" } else { "missing" }.to_owned(),
                    ]
                })
                .collect();
            printer::table(&["SITE", "DATABASE", "USER", "SIZE", "NOTE"], &rows)
        }),
        DbCommand::Passwd { site } => p.report(&ops::db::passwd(ctx, site.as_str(), wait)?),
        DbCommand::Dump { site, output } => {
            p.data(&ops::db::dump(ctx, site.as_str(), output.clone())?, |r| {
                format!(
                    "{} → {} ({} bytes of SQL, {} compressed)",
                    r.database,
                    r.file.display(),
                    r.sql_bytes,
                    r.compressed_bytes
                )
            })
        }
    }
    Ok(())
}
