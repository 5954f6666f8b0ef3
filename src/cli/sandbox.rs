//! `lempctl sandbox …`: its arguments, their conversion into options and its human output.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

use super::printer::{self, Printer};
use crate::ops::{self, Context};

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
        /// Run a local ACME CA (Debian's pebble; ports HTTP+3 to HTTP+6) and point `acme` at it,
        /// so sites with `tls: { acme: true }` get certificates really issued over ACME.
        #[arg(long)]
        acme: bool,
    },
    /// Start the sandbox's nginx and php-fpm (use with --root DIR).
    Start,
    /// Stop them.
    Stop,
    /// Show their pids.
    Status,
}

/// Runs `lempctl sandbox …`.
pub(super) fn run(ctx: &Context, s: &SandboxCommand, p: &Printer) -> Result<()> {
    match s {
        SandboxCommand::Init {
            dir,
            port,
            php_version,
            force,
            no_mariadb,
            acme,
        } => {
            let r = ops::sandbox::init(&ops::sandbox::InitOptions {
                dir: dir.clone(),
                port: *port,
                php_version: php_version.clone(),
                force: *force,
                mariadb: !no_mariadb,
                acme: *acme,
            })?;
            p.data(&r, |r| {
                format!(
                    "sandbox ready in {}\n  next: lempctl --root {} sandbox start",
                    r.root.display(),
                    r.root.display()
                )
            });
        }
        SandboxCommand::Start => p.data(&ops::sandbox::start(ctx)?, printer::services_text),
        SandboxCommand::Stop => p.data(&ops::sandbox::stop(ctx)?, printer::services_text),
        SandboxCommand::Status => p.data(&ops::sandbox::status(ctx)?, printer::services_text),
    }
    Ok(())
}
