//! `lempctl status`: its conversion into the `ops` call and its human output.

use anyhow::Result;
use clap::Args;

use super::printer::{self, Printer};
use super::site::site_name;
use crate::config::Fqdn;
use crate::ops::{self, Context};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this site (with the services and host-wide jobs), in detail.
    #[arg(value_name = "SITE", value_parser = site_name)]
    pub site: Option<Fqdn>,
    /// Skip the HTTP probe of each site (fast, for many sites).
    #[arg(long)]
    pub no_probe: bool,
    /// Also write the result as `lempctl_status.prom` into `monitoring.textfile_dir` (not with
    /// --dry-run); the exit code stays status's.
    #[arg(long)]
    pub textfile: bool,
}

/// Runs `lempctl status`; returns its exit code (1 when something needs attention).
pub(super) fn run(ctx: &Context, a: &StatusArgs, p: &Printer, dry_run: bool) -> Result<u8> {
    let opts = ops::status::StatusOptions {
        site: a.site.as_ref().map(ToString::to_string),
        no_probe: a.no_probe,
        textfile: a.textfile && !dry_run,
    };
    let s = ops::status::status(ctx, &opts)?;
    let detail = a.site.is_some();
    p.data(&s, |s| printer::status_text(s, detail));
    Ok(u8::from(s.needs_attention()))
}
