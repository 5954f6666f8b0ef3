//! The only layer that reads argv or prints: clap definitions, dispatch to `ops`, output.

pub mod printer;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::config::UsageError;
use crate::config::global::DEFAULT_CONFIG;
use crate::host::Root;
use crate::ops::{self, Context};
use printer::Printer;

/// Declarative, transactional LEMP/WordPress hosting: nginx vhosts and PHP-FPM pools from site files.
#[derive(Debug, Parser)]
#[command(name = "lempctl", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file (a path on the host, under --root).
    #[arg(long, global = true, env = "LEMPCTL_CONFIG", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Work on the tree under DIR instead of `/` (a sandbox, or an offline image).
    #[arg(long, global = true, env = "LEMPCTL_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Print the plan (with unified diffs) and change nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Print one JSON object on stdout: {"changed", "changes", "warnings", "error"}.
    #[arg(long, global = true)]
    pub json: bool,
    /// More output (-vv for trace logs).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Seconds to wait for another run's lock before giving up.
    #[arg(long, global = true, default_value_t = 60, value_name = "SECS")]
    pub wait: u64,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Converge the host to the site files: render, validate, reload once, health-check.
    Apply(ApplyArgs),
    /// Create, remove, list, show, enable or disable sites.
    #[command(subcommand)]
    Site(SiteCommand),
    /// Site databases: create, drop (after a dump), list, rotate passwords, dump.
    #[command(subcommand)]
    Db(DbCommand),
    /// WordPress sites: install, cron, page-cache purge, login URL, admin password.
    #[command(subcommand)]
    Wp(WpCommand),
    /// Mirror static exports to S3 buckets (content-addressed; deletes only after all uploads).
    #[command(subcommand)]
    S3(S3Command),
    /// Encrypted, deduplicated site backups with restic: run, list, restore, prune, verify.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Whether the host matches the site files: services, pending changes, drift, invalid files.
    ///
    /// Per site: state (ok, not applied, pending, drift, backup failed), the changes `apply`
    /// would make, PHP version, cache, TLS and last backup. Read-only. Exit 0 when all is as the
    /// files say, 1 when something needs attention.
    Status,
    /// Private nginx and php-fpm in a self-contained root, to try site files safely.
    #[command(subcommand)]
    Sandbox(SandboxCommand),
    /// Print a shell completion script.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff): lempctl's, or a subcommand's (`lempctl man site create`).
    Man {
        /// The subcommand whose page to print (its words, as on the command line).
        #[arg(value_name = "COMMAND")]
        command: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Only these sites (host-wide files are always converged).
    #[arg(value_name = "SITE")]
    pub sites: Vec<String>,
    /// Remove the files of sites that are no longer in the sites directory (data is kept).
    #[arg(long)]
    pub prune: bool,
    /// Overwrite hand-edited (drifted) or foreign files; allow a kind change that deletes files or
    /// leaves a database unused.
    #[arg(long)]
    pub force: bool,
    /// Skip the HTTP health check after the reload.
    #[arg(long)]
    pub no_health_check: bool,
}

/// Settings `site create` and `site update` both take.
#[derive(Debug, Args)]
pub struct SiteSettingsArgs {
    /// PHP `memory_limit` (e.g. 256M).
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,
    /// PHP-FPM `pm.max_children`.
    #[arg(long, value_name = "N")]
    pub max_children: Option<u32>,
    /// Largest upload (e.g. 128M): sets nginx's body limit and PHP's upload limits together.
    #[arg(long, value_name = "SIZE")]
    pub upload_max_size: Option<String>,
    /// Page cache: `fastcgi` or `none` (WordPress sites).
    #[arg(long, value_name = "CACHE")]
    pub cache: Option<String>,
    /// Serve TLS with this certificate (full chain) file; needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_certificate: Option<PathBuf>,
    /// The certificate's private key file; needs --tls-certificate.
    #[arg(long, value_name = "FILE", requires = "tls_certificate")]
    pub tls_key: Option<PathBuf>,
}

impl SiteSettingsArgs {
    fn changes(&self) -> ops::site::SiteChanges {
        ops::site::SiteChanges {
            memory_limit: self.memory_limit.clone(),
            max_children: self.max_children,
            upload_max_size: self.upload_max_size.clone(),
            cache: self.cache.clone(),
            tls_files: self.tls_certificate.clone().zip(self.tls_key.clone()),
            ..Default::default()
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Write sites.d/NAME.yaml and converge the new site.
    Create {
        name: String,
        /// php, static, wordpress or redirect.
        #[arg(long)]
        kind: String,
        /// Another host name served by the site (repeatable).
        #[arg(long = "alias", value_name = "NAME")]
        aliases: Vec<String>,
        /// PHP version of the site's pool (php and wordpress sites).
        #[arg(long, value_name = "V")]
        php_version: Option<String>,
        /// Target URL of a redirect site.
        #[arg(long, value_name = "URL")]
        to: Option<String>,
        /// Create the site disabled (files only, not served).
        #[arg(long)]
        disabled: bool,
        #[command(flatten)]
        settings: SiteSettingsArgs,
    },
    /// Change a site's common settings: edits its site file (which stays the truth) and converges.
    Update {
        name: String,
        /// PHP version of the site's pool.
        #[arg(long, value_name = "V")]
        php_version: Option<String>,
        /// Replace the aliases with these host names (repeatable).
        #[arg(long = "alias", value_name = "NAME", conflicts_with = "no_aliases")]
        aliases: Vec<String>,
        /// Remove every alias.
        #[arg(long)]
        no_aliases: bool,
        /// Serve no TLS (removes the `tls` section).
        #[arg(long, conflicts_with = "tls_certificate")]
        no_tls: bool,
        #[command(flatten)]
        settings: SiteSettingsArgs,
    },
    /// Remove a site's configuration; its data stays unless --purge (then archived first).
    Remove {
        name: String,
        /// Archive the site's tree, then delete it and the site's user (with a backup repository: a final backup run first).
        #[arg(long)]
        purge: bool,
        /// Do not ask (required when stdin is not a terminal).
        #[arg(long, short)]
        yes: bool,
    },
    /// List sites: kind, PHP, cache, TLS, state (with --json: their paths and derived names).
    List {
        /// Only enabled sites.
        #[arg(long, conflicts_with = "disabled")]
        enabled: bool,
        /// Only disabled sites.
        #[arg(long)]
        disabled: bool,
        /// Only sites of this kind (php, static, wordpress, redirect).
        #[arg(long, value_name = "KIND")]
        kind: Option<String>,
        /// Only the names, one per line (for scripts and shell completion).
        #[arg(long)]
        names: bool,
    },
    /// Show one site: kind, PHP and its limits, cache, TLS, paths, logs, database, backups.
    Show { name: String },
    /// Serve a site again.
    Enable { name: String },
    /// Stop serving a site (its files and data stay).
    Disable { name: String },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create the site's database and user (converges the site). A `php` site without a `db:`
    /// section gets `db: {}` added to its site file.
    Create { site: String },
    /// Dump the site's database to the archive directory, then drop it and its user.
    Drop {
        site: String,
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
    Passwd { site: String },
    /// Write a compressed dump (`mariadb-dump | zstd`).
    Dump {
        site: String,
        /// Where to write it (default: the archive directory).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Create the repository and its password now (the first `backup run` does it otherwise).
    Init,
    /// Back up sites now: files (a snapshot written in-process), database dump (restic), site file and credentials.
    Run {
        #[arg(value_name = "SITE", required_unless_present = "all")]
        sites: Vec<String>,
        /// Every site that has files (not redirects).
        #[arg(long, conflicts_with = "sites")]
        all: bool,
    },
    /// Backups in the repository (of one site).
    List { site: Option<String> },
    /// Restore a backup in place (after a safety snapshot), or into a directory with --to.
    Restore {
        site: String,
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
        #[arg(long = "as", value_name = "NEW_SITE", conflicts_with_all = ["to", "files_only", "db_only", "delete"])]
        as_site: Option<String>,
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
        site: Option<String>,
        /// Also read every pack file of the repository (slow).
        #[arg(long)]
        read_data: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum WpCommand {
    /// Converge a WordPress site: core files, wp-config.php, database, install.
    Install { site: String },
    /// Run the site's due WordPress cron events (what the timer runs).
    Cron { site: String },
    /// Empty the site's page cache.
    Purge { site: String },
    /// Print the login URL and the admin user.
    LoginUrl { site: String },
    /// Give the admin user a new password (printed once, stored 0600).
    AdminPassword { site: String },
}

#[derive(Debug, Subcommand)]
pub enum S3Command {
    /// Mirror a site's static export (its `s3` section), every such site (--all), or a directory
    /// (--source DIR s3://BUCKET[/PREFIX]) to S3. With --dry-run: the uploads and deletes it would do.
    Sync(S3SyncArgs),
}

#[derive(Debug, Args)]
pub struct S3SyncArgs {
    /// A site with an `s3` section; with --source, the target `s3://BUCKET[/PREFIX]`.
    #[arg(
        value_name = "SITE|s3://BUCKET[/PREFIX]",
        required_unless_present = "all"
    )]
    pub target: Option<String>,
    /// Every site with an `s3` section (what the timers run).
    #[arg(long, conflicts_with_all = ["target", "source"])]
    pub all: bool,
    /// Ad-hoc sync of this directory (a real path) to the s3:// URL given as the target.
    #[arg(long, value_name = "DIR")]
    pub source: Option<PathBuf>,
    /// S3-compatible endpoint of an ad-hoc sync (default: AWS).
    #[arg(long, value_name = "URL", requires = "source")]
    pub endpoint: Option<String>,
    /// Region of an ad-hoc sync (default `us-east-1`).
    #[arg(long, value_name = "REGION", requires = "source")]
    pub region: Option<String>,
    /// Path-style addressing for an ad-hoc sync (most self-hosted servers need it).
    #[arg(long, requires = "source")]
    pub path_style: bool,
    /// Sync even from an empty or missing source, or when more than the allowed share of the
    /// bucket would be deleted.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Write a sandbox root in DIR (configs with every path inside DIR).
    Init {
        dir: PathBuf,
        /// HTTP port on 127.0.0.1 (HTTPS uses the next one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// PHP version of the private php-fpm.
        #[arg(long, default_value = "8.2")]
        php_version: String,
        /// Rewrite the configuration of an existing sandbox.
        #[arg(long)]
        force: bool,
        /// Do not run a private MariaDB (its TCP port is the HTTP port + 2).
        #[arg(long)]
        no_mariadb: bool,
    },
    /// Start the sandbox's nginx and php-fpm (use with --root DIR).
    Start,
    /// Stop them.
    Stop,
    /// Show their pids.
    Status,
}

/// A `--root` that does not exist is an error; with no configuration file there, a command that
/// would change something refuses (a mistyped `--root` must not build a new host in a stray
/// directory) and a read-only one says why it shows nothing.
fn check_root(cli: &Cli, ctx: &Context, p: &Printer) -> Result<()> {
    let exempt = matches!(
        cli.command,
        Command::Sandbox(SandboxCommand::Init { .. })
            | Command::Completions { .. }
            | Command::Man { .. }
    );
    if exempt {
        return Ok(());
    }
    if !ctx.root.dir().is_dir() {
        return Err(UsageError(format!(
            "--root {}: no such directory (`lempctl sandbox init DIR` makes a sandbox)",
            ctx.root.dir().display()
        ))
        .into());
    }
    let config = ctx.root.path(&ctx.config_path);
    if config.exists() {
        return Ok(());
    }
    let why = format!(
        "no lempctl configuration at {}; run `lempctl sandbox init DIR` for a sandbox, or create {} (an empty file takes the defaults)",
        config.display(),
        ctx.config_path.display()
    );
    if dry_run_support(&cli.command) == DryRun::ReadOnly {
        p.warn(&why);
        return Ok(());
    }
    Err(UsageError(why).into())
}

/// The man page of `lempctl WORDS…`, named `lempctl-site-create` as git and cargo name theirs.
fn man_page(words: &[String]) -> Result<Vec<u8>> {
    let mut cmd = Cli::command();
    cmd.build();
    let mut name = String::from("lempctl");
    for w in words {
        let sub = cmd.find_subcommand(w).cloned().ok_or_else(|| {
            UsageError(format!(
                "`{name} {w}` is not a command (see `{name} --help`)"
            ))
        })?;
        name = format!("{name} {w}");
        cmd = sub;
    }
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out)?;
    Ok(out)
}

/// What `--dry-run` does for a command. Every command is listed (the match is exhaustive), so a
/// new one cannot forget it: it either honours the flag (prints what it would do and changes
/// nothing), changes nothing anyway, or is refused with exit 2 — it never runs for real.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DryRun {
    Honoured,
    ReadOnly,
    /// Refused, with what the command would have done.
    Refused(&'static str),
}

pub fn dry_run_support(c: &Command) -> DryRun {
    use DryRun::*;
    match c {
        Command::Apply(_) | Command::S3(_) => Honoured,
        Command::Site(s) => match s {
            SiteCommand::Create { .. }
            | SiteCommand::Remove { .. }
            | SiteCommand::Update { .. }
            | SiteCommand::Enable { .. }
            | SiteCommand::Disable { .. } => Honoured,
            SiteCommand::List { .. } | SiteCommand::Show { .. } => ReadOnly,
        },
        Command::Db(d) => match d {
            DbCommand::Create { .. } | DbCommand::Drop { .. } => Honoured,
            DbCommand::List => ReadOnly,
            DbCommand::Passwd { .. } => Refused("sets a new database password"),
            DbCommand::Dump { .. } => Refused("writes a dump file"),
        },
        Command::Wp(w) => match w {
            WpCommand::Install { .. } => Honoured,
            WpCommand::LoginUrl { .. } => ReadOnly,
            WpCommand::Cron { .. } => Refused("runs the site's PHP"),
            WpCommand::Purge { .. } => Refused("deletes the site's cached pages"),
            WpCommand::AdminPassword { .. } => Refused("sets a new admin password"),
        },
        Command::Backup(b) => match b {
            BackupCommand::List { .. } => ReadOnly,
            BackupCommand::Restore { as_site: None, .. } => Honoured,
            BackupCommand::Restore {
                as_site: Some(_), ..
            } => Refused("creates a new site and restores into it"),
            BackupCommand::Init => Refused("creates the repository and its password"),
            BackupCommand::Run { .. } => Refused("writes backups into the repository"),
            BackupCommand::Prune => Refused("removes snapshots and data from the repository"),
            BackupCommand::Verify { .. } => {
                Refused("restores into scratch space and a scratch database")
            }
        },
        Command::Status | Command::Completions { .. } | Command::Man { .. } => ReadOnly,
        Command::Sandbox(s) => match s {
            SandboxCommand::Status => ReadOnly,
            SandboxCommand::Init { .. } => Refused("creates a sandbox"),
            SandboxCommand::Start | SandboxCommand::Stop => Refused("starts or stops servers"),
        },
    }
}

fn backup(
    ctx: &Context,
    b: &BackupCommand,
    p: &Printer,
    wait: Duration,
    dry_run: bool,
) -> Result<()> {
    use crate::engine::backup::Parts;
    match b {
        BackupCommand::Run { sites, all } => {
            p.data(&ops::backup::run(ctx, sites, *all, wait)?, |r| {
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
        BackupCommand::List { site } => p.data(&ops::backup::list(ctx, site.as_deref())?, |v| {
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
        }),
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
                    site: site.clone(),
                    snapshot: snapshot.clone(),
                    parts: Parts::All,
                    to: None,
                    delete: false,
                    dry_run,
                    wait,
                };
                p.data(&ops::backup::restore_as(ctx, &o, new)?, |r| {
                    format!(
                        "{}: restored backup {} of {} ({} files, database: {}{})",
                        r.new_site,
                        r.run,
                        r.site,
                        r.files,
                        r.database.as_deref().unwrap_or("none"),
                        if r.urls_rewritten {
                            ", WordPress URLs rewritten"
                        } else {
                            ""
                        }
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
                site: site.clone(),
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
            &ops::backup::verify(ctx, site.as_deref(), *read_data, wait)?,
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

/// Parses argv, runs the command, prints, and returns the exit code.
pub fn run() -> u8 {
    let cli = Cli::parse();
    let notes = ops::Notes::default();
    let printer = Printer::new(cli.global.json, cli.global.quiet, cli.global.verbose)
        .with_notes(notes.clone());
    printer::init_logging(cli.global.verbose, cli.global.quiet);
    match dispatch(&cli, &printer, notes) {
        Ok(code) => code.max(printer.exit_code()),
        Err(e) => printer.error(&e),
    }
}

fn dispatch(cli: &Cli, p: &Printer, notes: ops::Notes) -> Result<u8> {
    let g = &cli.global;
    let ctx = Context {
        root: Root::new(g.root.as_deref().unwrap_or(std::path::Path::new("/")))?,
        config_path: g.config.clone(),
        notes,
    };
    let wait = Duration::from_secs(g.wait);
    check_root(cli, &ctx, p)?;
    if g.dry_run
        && let DryRun::Refused(what) = dry_run_support(&cli.command)
    {
        return Err(UsageError(format!(
            "this command has no dry run (it {what}); nothing was changed. Run it without --dry-run"
        ))
        .into());
    }
    match &cli.command {
        Command::Apply(a) => {
            let opts = ops::apply::ApplyOptions {
                sites: a.sites.clone(),
                prune: a.prune,
                force: a.force,
                dry_run: g.dry_run,
                wait,
                skip_health: a.no_health_check,
                diffs: g.verbose > 0,
            };
            p.report(&ops::apply::apply(&ctx, &opts)?);
        }
        Command::Site(s) => match s {
            SiteCommand::Create {
                name,
                kind,
                aliases,
                php_version,
                to,
                disabled,
                settings,
            } => {
                let o = ops::site::CreateOptions {
                    settings: settings.changes(),
                    name: name.clone(),
                    kind: kind.clone(),
                    aliases: aliases.clone(),
                    php_version: php_version.clone(),
                    redirect_to: to.clone(),
                    disabled: *disabled,
                    dry_run: g.dry_run,
                    wait,
                };
                p.report(&ops::site::create(&ctx, &o)?);
            }
            SiteCommand::Remove { name, purge, yes } => {
                if !yes && !g.dry_run {
                    if !std::io::stdin().is_terminal() {
                        return Err(UsageError(format!(
                            "`site remove {name}` needs --yes when stdin is not a terminal"
                        ))
                        .into());
                    }
                    let what = if *purge {
                        "its configuration, user and data (archived first)"
                    } else {
                        "its configuration (data is kept)"
                    };
                    if !p.confirm(&format!("Remove site `{name}`: {what}?")) {
                        return Err(UsageError("not confirmed; nothing was changed".into()).into());
                    }
                }
                let o = ops::site::RemoveOptions {
                    name: name.clone(),
                    purge: *purge,
                    dry_run: g.dry_run,
                    wait,
                };
                p.report(&ops::site::remove(&ctx, &o)?);
            }
            SiteCommand::List {
                enabled,
                disabled,
                kind,
                names,
            } => {
                let filter = ops::site::ListFilter {
                    enabled: match (enabled, disabled) {
                        (true, _) => Some(true),
                        (_, true) => Some(false),
                        _ => None,
                    },
                    kind: kind.clone(),
                };
                let sites = ops::site::list(&ctx, &filter)?;
                if *names {
                    let names: Vec<&str> = sites.iter().map(|s| s.name.as_str()).collect();
                    p.data(&names, |n| n.join("\n"));
                } else {
                    p.data(&sites, printer::sites_table);
                }
            }
            SiteCommand::Show { name } => p.data(&ops::site::show(&ctx, name)?, printer::site_text),
            SiteCommand::Update {
                name,
                php_version,
                aliases,
                no_aliases,
                no_tls,
                settings,
            } => {
                let changes = ops::site::SiteChanges {
                    php_version: php_version.clone(),
                    aliases: if *no_aliases {
                        Some(Vec::new())
                    } else {
                        (!aliases.is_empty()).then(|| aliases.clone())
                    },
                    no_tls: *no_tls,
                    ..settings.changes()
                };
                p.report(&ops::site::update(&ctx, name, &changes, g.dry_run, wait)?)
            }
            SiteCommand::Enable { name } => {
                p.report(&ops::site::set_enabled(&ctx, name, true, g.dry_run, wait)?)
            }
            SiteCommand::Disable { name } => {
                p.report(&ops::site::set_enabled(&ctx, name, false, g.dry_run, wait)?)
            }
        },
        Command::Db(d) => match d {
            DbCommand::Create { site } => p.report(&ops::db::create(&ctx, site, g.dry_run, wait)?),
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
                p.report(&ops::db::drop_database(&ctx, site, *no_backup, g.dry_run, wait)?);
            }
            DbCommand::List => p.data(&ops::db::list(&ctx)?, |rows| {
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
            DbCommand::Passwd { site } => p.report(&ops::db::passwd(&ctx, site, wait)?),
            DbCommand::Dump { site, output } => {
                p.data(&ops::db::dump(&ctx, site, output.clone())?, |r| {
                    format!(
                        "{} → {} ({} bytes of SQL, {} compressed)",
                        r.database,
                        r.file.display(),
                        r.sql_bytes,
                        r.compressed_bytes
                    )
                })
            }
        },
        Command::Wp(w) => match w {
            WpCommand::Install { site } => p.report(&ops::wp::install(&ctx, site, g.dry_run, wait)?),
            WpCommand::Cron { site } => {
                let out = ops::wp::cron(&ctx, site)?;
                p.data(&serde_json::json!({ "site": site, "output": out }), |_| out.trim().to_owned());
            }
            WpCommand::Purge { site } => p.data(&ops::wp::purge(&ctx, site)?, |r| format!("{}: {} cache entries removed", r.site, r.entries_removed)),
            WpCommand::LoginUrl { site } => p.data(&ops::wp::login_url(&ctx, site)?, |l| format!("{}\n  user: {}\n  password: in {} (`lempctl wp admin-password` sets a new one)", l.url, l.admin_user, l.credentials_file)),
            WpCommand::AdminPassword { site } => p.data(&ops::wp::admin_password(&ctx, site, wait)?, |n| format!("{}: new password of `{}`: {}\n  (shown once; stored root-only)", n.site, n.admin_user, n.password)),
        },
        Command::S3(S3Command::Sync(a)) => {
            let target = match (&a.source, a.all, &a.target) {
                (_, true, _) => ops::s3::Target::All,
                (Some(src), false, Some(url)) => ops::s3::Target::AdHoc {
                    source: src.clone(),
                    url: url.clone(),
                    endpoint: a.endpoint.clone(),
                    region: a.region.clone(),
                    path_style: a.path_style,
                },
                (None, false, Some(site)) if site.starts_with("s3://") => {
                    return Err(UsageError(format!(
                        "`{site}` is an S3 URL: an ad-hoc sync needs --source DIR"
                    ))
                    .into());
                }
                (None, false, Some(site)) => ops::s3::Target::Site(site.clone()),
                (_, false, None) => {
                    return Err(UsageError("name a SITE, or use --all".into()).into());
                }
            };
            let opts = ops::s3::SyncOptions {
                target,
                force: a.force,
                dry_run: g.dry_run,
                wait,
            };
            let progress = p.s3_progress();
            let run = ops::s3::sync(&ctx, &opts, &|label, e| progress.event(label, e));
            progress.finish();
            return Ok(p.s3_sync(&run?));
        }
        Command::Backup(b) => backup(&ctx, b, p, wait, g.dry_run)?,
        Command::Status => {
            let s = ops::status::status(&ctx)?;
            p.data(&s, printer::status_text);
            return Ok(u8::from(s.needs_attention()));
        }
        Command::Sandbox(s) => match s {
            SandboxCommand::Init {
                dir,
                port,
                php_version,
                force,
                no_mariadb,
            } => {
                let r = ops::sandbox::init(&ops::sandbox::InitOptions {
                    dir: dir.clone(),
                    port: *port,
                    php_version: php_version.clone(),
                    force: *force,
                    mariadb: !no_mariadb,
                })?;
                p.data(&r, |r| {
                    format!(
                        "sandbox ready in {}\n  next: lempctl --root {} sandbox start",
                        r.root.display(),
                        r.root.display()
                    )
                });
            }
            SandboxCommand::Start => p.data(&ops::sandbox::start(&ctx)?, printer::services_text),
            SandboxCommand::Stop => p.data(&ops::sandbox::stop(&ctx)?, printer::services_text),
            SandboxCommand::Status => p.data(&ops::sandbox::status(&ctx)?, printer::services_text),
        },
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "lempctl", &mut out);
            if *shell == clap_complete::Shell::Bash {
                out.extend_from_slice(include_bytes!("sites.bash"));
            }
            p.raw(&out);
        }
        Command::Man { command } => p.raw(&man_page(command)?),
    }
    Ok(0)
}
