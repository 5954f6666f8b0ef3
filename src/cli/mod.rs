//! The only layer that reads argv or prints: clap definitions, dispatch to `ops`, output.

mod apply;
mod backup;
mod cert;
mod db;
mod doctor;
mod import;
pub mod printer;
mod s3;
mod sandbox;
mod security;
mod site;
mod status;
mod wp;

pub use apply::ApplyArgs;
pub use backup::BackupCommand;
pub use cert::CertCommand;
pub use db::DbCommand;
pub use import::ImportCommand;
pub use s3::{S3Command, S3SyncArgs};
pub use sandbox::SandboxCommand;
pub use security::SecurityCommand;
pub use site::{KindArg, SiteCommand, SiteSettingsArgs};
pub use status::StatusArgs;
pub use wp::WpCommand;

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
#[command(name = "lempctl", version = env!("LEMPCTL_VERSION"), about, propagate_version = true)]
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
    /// This run is the scheduled job NAME (a unit's name without `.service`, as the timers and
    /// the cron file pass it): its start, end and exit code are recorded for `status` and the
    /// metrics, and under cron its first failure is mailed.
    #[arg(long, global = true, value_name = "NAME")]
    pub job: Option<String>,
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
    /// TLS certificates: issue and renew from the ACME CA, list, and the monitor.
    #[command(subcommand)]
    Cert(CertCommand),
    /// fail2ban: the managed jails' bans, and lifting one.
    #[command(subcommand)]
    Security(SecurityCommand),
    /// Whether the host matches the site files: services, pending changes, drift, invalid files.
    ///
    /// Per site: state (ok, not applied, pending, drift, down, backup failed, job failed), the
    /// changes `apply` would make, an HTTP probe, PHP version, cache, TLS, last backup and each
    /// scheduled job's last run. Read-only. Exit 0 when all is as the files say, 1 when
    /// something needs attention.
    Status(StatusArgs),
    /// Mail the failure of a scheduled unit (what `lempctl-alert@.service` runs through
    /// `OnFailure=`): the job's last error and log lines, once per run of failures.
    Alert {
        /// The failed unit (`lempctl-backup@shop.example.test.service`).
        unit: String,
    },
    /// Deep checks of the host, each `ok`, `warn` or `fail` with a hint that says what to do.
    ///
    /// Configuration tests (nginx, PHP-FPM, fail2ban, systemd units, logrotate), managed files
    /// against their recorded hashes, owners and modes of credentials, keys and site roots,
    /// nginx's open-files limit, opcache memory, disk space and inodes, the backup repository
    /// and its password file, MariaDB with the admin credentials, name resolution (warn only)
    /// and the clock against certificates. Read-only. Exit 0 when no check fails (warnings
    /// allowed), 1 when one does.
    Doctor,
    /// Adopt a host built by other tools: `import wpzo` (the shell scripts lempctl replaces).
    #[command(subcommand)]
    Import(ImportCommand),
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

/// The completion script for `shell`; bash's also completes site names (`sites.bash`).
fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "lempctl", &mut out);
    if shell == clap_complete::Shell::Bash {
        out.extend_from_slice(include_bytes!("sites.bash"));
    }
    out
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
        Command::Apply(_) | Command::S3(_) | Command::Import(_) => Honoured,
        Command::Site(s) => match s {
            SiteCommand::Create { .. }
            | SiteCommand::Put { .. }
            | SiteCommand::Clone { .. }
            | SiteCommand::Promote { .. }
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
        Command::Security(s) => match s {
            SecurityCommand::Status => ReadOnly,
            SecurityCommand::Unban { .. } => Refused("lifts a ban"),
        },
        Command::Cert(c) => match c {
            CertCommand::Issue { .. } | CertCommand::Renew { .. } => Honoured,
            CertCommand::Check { .. } | CertCommand::List => ReadOnly,
        },
        Command::Status(_)
        | Command::Doctor
        | Command::Completions { .. }
        | Command::Man { .. } => ReadOnly,
        Command::Alert { .. } => Refused("mails an alert"),
        Command::Sandbox(s) => match s {
            SandboxCommand::Status => ReadOnly,
            SandboxCommand::Init { .. } => Refused("creates a sandbox"),
            SandboxCommand::Start | SandboxCommand::Stop => Refused("starts or stops servers"),
        },
    }
}

/// Parses argv, runs the command, prints, and returns the exit code.
pub fn run() -> u8 {
    let cli = Cli::parse();
    let notes = ops::Notes::default();
    let printer = Printer::new(cli.global.json, cli.global.quiet, cli.global.verbose)
        .with_notes(notes.clone());
    printer::init_logging(cli.global.verbose, cli.global.quiet);
    let g = &cli.global;
    let ctx = match Root::new(g.root.as_deref().unwrap_or(std::path::Path::new("/"))) {
        Ok(root) => Context {
            root,
            config_path: g.config.clone(),
            notes,
            alerted: std::rc::Rc::default(),
        },
        Err(e) => return printer.error(&e),
    };
    // a scheduled run records its start before anything can fail, and its end after
    let job = match g.job.as_deref().map(|name| ops::jobs::begin(&ctx, name)) {
        Some(Err(e)) => return printer.error(&e),
        Some(Ok(j)) => Some(j),
        None => None,
    };
    let (code, error) = match dispatch(&cli, &ctx, &printer) {
        Ok(code) => (code.max(printer.exit_code()), printer.failure()),
        Err(e) => {
            let message = format!("{e:#}");
            (printer.error(&e), Some(message))
        }
    };
    if let Some(job) = job {
        for w in job.finish(&ctx, code, error) {
            printer.warn(&w);
        }
    }
    code
}

fn dispatch(cli: &Cli, ctx: &Context, p: &Printer) -> Result<u8> {
    let g = &cli.global;
    let wait = Duration::from_secs(g.wait);
    check_root(cli, ctx, p)?;
    if g.dry_run
        && let DryRun::Refused(what) = dry_run_support(&cli.command)
    {
        return Err(UsageError(format!(
            "this command has no dry run (it {what}); nothing was changed. Run it without --dry-run"
        ))
        .into());
    }
    match &cli.command {
        Command::Apply(a) => apply::run(ctx, a, p, g, wait)?,
        Command::Site(s) => site::run(ctx, s, p, g, wait)?,
        Command::Db(d) => db::run(ctx, d, p, g, wait)?,
        Command::Wp(w) => wp::run(ctx, w, p, g, wait)?,
        Command::S3(s) => return s3::run(ctx, s, p, g, wait),
        Command::Backup(b) => backup::run(ctx, b, p, wait, g.dry_run)?,
        Command::Cert(c) => return cert::run(ctx, c, p, g, wait),
        Command::Security(s) => security::run(ctx, s, p)?,
        Command::Status(a) => return status::run(ctx, a, p, g.dry_run),
        Command::Alert { unit } => p.data(&ops::jobs::alert(ctx, unit)?, printer::alert_text),
        Command::Doctor => return doctor::run(ctx, p),
        Command::Import(c) => import::run(ctx, c, p, g.dry_run, wait)?,
        Command::Sandbox(s) => sandbox::run(ctx, s, p)?,
        Command::Completions { shell } => p.raw(&completions(*shell)),
        Command::Man { command } => p.raw(&man_page(command)?),
    }
    Ok(0)
}
