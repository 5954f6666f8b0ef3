//! `lempctl backup …`: its arguments, their conversion into options and its human output.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Subcommand;

use super::printer::{self, Printer};
use super::site::site_name;
use crate::config::{Fqdn, UsageError};
use crate::ops::{self, Context};

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Create the repository and its password now (the first `backup run` does it otherwise).
    Init,
    /// Back up sites now: files (a snapshot written in-process), database dump (restic), site file and credentials.
    Run {
        #[arg(
            value_name = "SITE",
            required_unless_present = "all",
            value_parser = site_name
        )]
        sites: Vec<Fqdn>,
        /// Every site that has files (not redirects).
        #[arg(long, conflicts_with = "sites")]
        all: bool,
    },
    /// Backups in the repository (of one site).
    List {
        #[arg(value_parser = site_name)]
        site: Option<Fqdn>,
    },
    /// Restore a backup in place (after a safety snapshot), or into a directory with --to.
    Restore {
        #[arg(value_parser = site_name)]
        site: Fqdn,
        /// A run id or a snapshot id (prefix) from `backup list`; default: the latest backup.
        #[arg(long, value_name = "ID")]
        snapshot: Option<String>,
        /// Only the site's files.
        #[arg(long, conflicts_with = "db_only")]
        files_only: bool,
        /// Only the database.
        #[arg(long)]
        db_only: bool,
        /// Restore into DIR (files under their full path, the dump as lempctl/SITE/db.sql); the site is not touched.
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
        /// Restore into a new site NEW_SITE (its own user, directory and database); SITE is not touched.
        #[arg(
            long = "as",
            value_name = "NEW_SITE",
            conflicts_with_all = ["to", "files_only", "db_only", "delete"],
            value_parser = site_name
        )]
        as_site: Option<Fqdn>,
        /// In place: also remove the files created since the backup (recovery from a hack);
        /// without it they are kept beside the restored ones.
        #[arg(long, conflicts_with_all = ["to", "db_only"])]
        delete: bool,
        /// Do not ask: an in-place restore replaces the site's files and database.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Apply each site's retention policy and remove unused data.
    Prune,
    /// Check the repository and test-restore the latest backups into a scratch dir and database.
    Verify {
        #[arg(value_parser = site_name)]
        site: Option<Fqdn>,
        /// Also read every pack file of the repository (slow).
        #[arg(long)]
        read_data: bool,
    },
}

/// Runs `lempctl backup …`.
pub(super) fn run(
    ctx: &Context,
    b: &BackupCommand,
    p: &Printer,
    wait: Duration,
    dry_run: bool,
) -> Result<()> {
    use crate::engine::backup::Parts;
    match b {
        BackupCommand::Run { sites, all } => {
            p.data(&ops::backup::run(ctx, &names(sites), *all, wait)?, |r| {
                r.runs
                    .iter()
                    .map(|r| {
                        format!(
                            "{}: backup {} ({} files, {} bytes read, {} bytes added, {:.1} s){}",
                            r.site,
                            r.run,
                            r.files,
                            r.size_bytes,
                            r.added_bytes,
                            r.duration_seconds,
                            if r.dump_reused {
                                "; database unchanged since its last dump"
                            } else {
                                ""
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        BackupCommand::List { site } => {
            let site = site.as_ref().map(Fqdn::as_str);
            p.data(&ops::backup::list(ctx, site)?, |v| {
                let short = |s: &Option<String>| {
                    s.as_deref()
                        .map_or("-".to_owned(), |s| s.get(..8).unwrap_or(s).to_owned())
                };
                let rows: Vec<Vec<String>> = v
                    .iter()
                    .map(|e| {
                        vec![
                            e.time.get(..19).unwrap_or(&e.time).replace('T', " "),
                            e.run.clone(),
                            e.site.clone(),
                            short(&e.files_snapshot),
                            short(&e.db_snapshot),
                            if e.safety {
                                "safety"
                            } else if e.final_run {
                                "final (before removal)"
                            } else {
                                ""
                            }
                            .to_owned(),
                        ]
                    })
                    .collect();
                printer::table(&["TIME (UTC)", "RUN", "SITE", "FILES", "DATABASE", "NOTE"], &rows)
            })
        }
        BackupCommand::Restore {
            site,
            snapshot,
            files_only,
            db_only,
            to,
            as_site,
            delete,
            yes,
        } => {
            if let Some(new) = as_site {
                let o = ops::backup::RestoreOptions {
                    site: site.to_string(),
                    snapshot: snapshot.clone(),
                    parts: Parts::All,
                    to: None,
                    delete: false,
                    dry_run,
                    wait,
                };
                p.data(&ops::backup::restore_as(ctx, &o, new.as_str())?, |r| {
                    format!(
                        "{}: restored backup {} of {} ({} files, database: {}{})",
                        r.new_site,
                        r.run,
                        r.site,
                        r.files,
                        r.database.as_deref().unwrap_or("none"),
                        r.urls_rewritten
                            .as_ref()
                            .map(super::site::rewrite_summary)
                            .unwrap_or_default()
                    ) + if r.admin_password_set {
                        "\n  the admin password is the one stored for the new site (`lempctl wp login-url` says where)"
                    } else {
                        ""
                    }
                });
                return Ok(());
            }
            if to.is_none() && !yes && !dry_run {
                if !std::io::stdin().is_terminal() {
                    return Err(UsageError(format!(
                        "`backup restore {site}` in place needs --yes when stdin is not a terminal"
                    ))
                    .into());
                }
                let what = match (files_only, db_only) {
                    (true, _) => "its files",
                    (_, true) => "its database (dropped and reloaded)",
                    _ => "its files and its database (dropped and reloaded)",
                };
                if !p.confirm(&format!(
                    "Replace {what} of `{site}` with the backup (a safety backup is taken first)?"
                )) {
                    return Err(UsageError("not confirmed; nothing was changed".into()).into());
                }
            }
            let o = ops::backup::RestoreOptions {
                site: site.to_string(),
                snapshot: snapshot.clone(),
                parts: if *files_only {
                    Parts::FilesOnly
                } else if *db_only {
                    Parts::DbOnly
                } else {
                    Parts::All
                },
                to: to.clone(),
                delete: *delete,
                dry_run,
                wait,
            };
            p.data(&ops::backup::restore(ctx, &o)?, |r| {
                let mut s = format!(
                    "{}: {} backup {} (files: {}, database: {})",
                    r.site,
                    if r.dry_run {
                        "would restore (--dry-run; nothing was changed)"
                    } else {
                        "restored"
                    },
                    r.run,
                    if r.files_restored { "yes" } else { "no" },
                    if r.database_restored { "yes" } else { "no" }
                );
                if r.dry_run && r.to.is_none() {
                    s.push_str("\n  a safety backup of the current state would be taken first");
                    if *delete && r.files_restored {
                        s.push_str(
                            "\n  files created since the backup would be removed (--delete)",
                        );
                    }
                }
                if r.removed_since_backup > 0 {
                    s.push_str(&format!(
                        "\n  {} entries created since the backup {}",
                        r.removed_since_backup,
                        if r.dry_run { "would be removed" } else { "removed" }
                    ));
                }
                if let Some(sr) = &r.safety_run {
                    s.push_str(&format!("\n  the state before the restore is backup {sr}"));
                }
                if let Some(d) = &r.to {
                    s.push_str(&format!("\n  into {}", d.display()));
                }
                if r.cache_entries_purged > 0 {
                    s.push_str(&format!(
                        "\n  page cache purged ({} entries)",
                        r.cache_entries_purged
                    ));
                }
                s
            })
        }
        BackupCommand::Init => p.data(&ops::backup::init(ctx, wait)?, |r| {
            format!(
                "repository {} {}\npassword: {} (keep a copy away from this host: without it no backup can be read)",
                r.repository,
                if r.created { "initialised" } else { "already initialised" },
                r.password_file.display()
            )
        }),
        BackupCommand::Prune => p.data(&ops::backup::prune(ctx, wait)?, |r| {
            format!(
                "retention applied to {} site(s): {} snapshot(s) before, {} after",
                r.sites.len(),
                r.snapshots_before,
                r.snapshots_after
            )
        }),
        BackupCommand::Verify { site, read_data } => p.data(
            &ops::backup::verify(ctx, site.as_ref().map(Fqdn::as_str), *read_data, wait)?,
            |r| {
                let mut lines = vec!["repository: ok".to_owned()];
                for s in &r.sites {
                    lines.push(format!(
                        "{}: backup {} restored and checked ({} files, {} tables, {} rows)",
                        s.site, s.run, s.files, s.tables, s.rows
                    ));
                }
                lines.join("\n")
            },
        ),
    }
    Ok(())
}

/// The site names as `ops` takes them.
fn names(sites: &[Fqdn]) -> Vec<String> {
    sites.iter().map(ToString::to_string).collect()
}
