//! `lempctl apply`: its arguments, their conversion into options and its human output.

use std::time::Duration;

use anyhow::Result;
use clap::Args;

use super::GlobalArgs;
use super::printer::Printer;
use super::site::site_name;
use crate::config::Fqdn;
use crate::ops::{self, Context};

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Only these sites (host-wide files are always converged).
    #[arg(value_name = "SITE", value_parser = site_name)]
    pub sites: Vec<Fqdn>,
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

/// Runs `lempctl apply`.
pub(super) fn run(
    ctx: &Context,
    a: &ApplyArgs,
    p: &Printer,
    g: &GlobalArgs,
    wait: Duration,
) -> Result<()> {
    let opts = ops::apply::ApplyOptions {
        sites: a.sites.iter().map(ToString::to_string).collect(),
        prune: a.prune,
        force: a.force,
        dry_run: g.dry_run,
        wait,
        skip_health: a.no_health_check,
        diffs: g.verbose > 0,
    };
    p.report(&ops::apply::apply(ctx, &opts)?);
    Ok(())
}
