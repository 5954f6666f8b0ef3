//! `lempctl cert …`: its arguments, their conversion into options and its human output.

use std::time::Duration;

use anyhow::Result;
use clap::Subcommand;

use super::GlobalArgs;
use super::printer::Printer;
use super::site::site_name;
use crate::config::Fqdn;
use crate::ops::cert::{CertEntry, CertRun, CheckReport};
use crate::ops::{self, Context};

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Get certificates from the ACME CA for sites that have none (or whose names changed), then
    /// serve them over HTTPS.
    Issue {
        /// Sites with `tls: { acme: true }`.
        #[arg(value_parser = site_name, required_unless_present = "all")]
        sites: Vec<Fqdn>,
        /// Every ACME site.
        #[arg(long, conflicts_with = "sites")]
        all: bool,
        /// New certificates even for sites that have one (and despite a failure's backoff).
        #[arg(long)]
        force: bool,
    },
    /// Renew ACME certificates inside their renewal window (what the timer runs); nginx reloads once.
    Renew {
        /// Only these sites (default: every ACME site).
        #[arg(value_parser = site_name)]
        sites: Vec<Fqdn>,
        /// Renew now, due or not (and despite a failure's backoff).
        #[arg(long)]
        force: bool,
    },
    /// The certificate monitor: files and live endpoints, expiry, names, chain; exit 1 when critical.
    Check {
        /// Only these sites (default: every site with TLS).
        #[arg(value_parser = site_name)]
        sites: Vec<Fqdn>,
        /// Check only the files, not what the listener serves.
        #[arg(long)]
        no_live: bool,
    },
    /// Every certificate lempctl serves: source, names, issuer, key, expiry, days left.
    List,
}

/// Runs `lempctl cert …`; returns its exit code.
pub(super) fn run(
    ctx: &Context,
    c: &CertCommand,
    p: &Printer,
    g: &GlobalArgs,
    wait: Duration,
) -> Result<u8> {
    let strs = |v: &[Fqdn]| v.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    Ok(match c {
        CertCommand::Issue {
            sites,
            all: _,
            force,
        } => {
            let r = ops::cert::issue(ctx, &strs(sites), *force, g.dry_run, wait)?;
            p.data(&r, run_text);
            r.exit_code()
        }
        CertCommand::Renew { sites, force } => {
            let r = ops::cert::renew(ctx, &strs(sites), *force, g.dry_run, wait)?;
            p.data(&r, run_text);
            r.exit_code()
        }
        CertCommand::Check { sites, no_live } => {
            let r = ops::cert::check(ctx, &strs(sites), !no_live, g.dry_run)?;
            p.data(&r, check_text);
            r.exit_code()
        }
        CertCommand::List => {
            p.data(&ops::cert::list(ctx)?, |l| list_text(l));
            0
        }
    })
}

fn run_text(r: &CertRun) -> String {
    let mut out: Vec<String> = r
        .certificates
        .iter()
        .map(|o| format!("{}: {}: {}", o.site, o.result, o.detail))
        .collect();
    if out.is_empty() {
        out.push("no certificate to issue or renew".into());
    }
    if r.reloaded {
        out.push("nginx reloaded".into());
    }
    out.join("\n")
}

fn check_text(r: &CheckReport) -> String {
    let mut out = Vec::new();
    for s in &r.sites {
        let days = s
            .days_left
            .map_or_else(|| "-".to_owned(), |d| format!("{d} days left"));
        out.push(format!("{}: {:?}, {days}", s.site, s.level).to_lowercase());
        for p in &s.problems {
            out.push(format!("  {p}"));
        }
    }
    if out.is_empty() {
        out.push("no site serves TLS".into());
    }
    if r.mailed {
        out.push(format!("alert mailed ({} changed)", r.changed.join(", ")));
    }
    out.join("\n")
}

fn list_text(l: &[CertEntry]) -> String {
    if l.is_empty() {
        return "no site serves TLS".into();
    }
    let mut out = vec![format!(
        "{:<32} {:<6} {:>5}  {:<12} {:<28} NAMES",
        "SITE", "SOURCE", "DAYS", "KEY", "ISSUER"
    )];
    for e in l {
        match &e.info {
            Some(i) => out.push(format!(
                "{:<32} {:<6} {:>5}  {:<12} {:<28} {}",
                e.site,
                e.source,
                e.days_left.unwrap_or_default(),
                i.key,
                i.issuer,
                i.names.join(",")
            )),
            None => out.push(format!(
                "{:<32} {:<6} {:>5}  {}",
                e.site,
                e.source,
                "-",
                e.problem.as_deref().unwrap_or("")
            )),
        }
    }
    out.join("\n")
}
