//! `lempctl apply [SITE…] [--prune]`.

use std::time::Duration;

use anyhow::Result;

use super::Context;
use crate::config::{Fqdn, UsageError};
use crate::engine::report::Report;
use crate::engine::{self, Prune, RunOptions, Scope};

#[derive(Debug, Clone, Default)]
pub(crate) struct ApplyOptions {
    pub sites: Vec<String>,
    pub prune: bool,
    pub force: bool,
    pub dry_run: bool,
    pub wait: Duration,
    pub skip_health: bool,
    /// Unified diffs in the report (dry runs always have them).
    pub diffs: bool,
}

pub(crate) fn apply(ctx: &Context, opts: &ApplyOptions) -> Result<Report> {
    // Everything (or pruning what is not configured) needs every site file valid; one site
    // needs only its own file valid.
    let config = if opts.sites.is_empty() || opts.prune {
        ctx.load_strict()?
    } else {
        ctx.load()?
    };
    let scope = if opts.sites.is_empty() {
        Scope::All
    } else {
        let mut names = Vec::new();
        for s in &opts.sites {
            let name = Fqdn::parse(s)
                .map_err(|why| UsageError(format!("invalid site name `{s}`: {why}")))?;
            if let Some(b) = config.broken_site(name.as_str()) {
                return Err(super::broken_error(b));
            }
            if config.site(&name).is_none() {
                return Err(UsageError(format!(
                    "no site `{name}` in {}",
                    config.global.paths.sites_dir.display()
                ))
                .into());
            }
            names.push(name);
        }
        Scope::Sites(names)
    };
    let run = RunOptions {
        scope,
        prune: Prune {
            all: opts.prune,
            ..Prune::default()
        },
        force: opts.force,
        dry_run: opts.dry_run,
        wait: opts.wait,
        skip_health: opts.skip_health,
        retire: Vec::new(),
        diffs: opts.diffs,
    };
    let names: Vec<String> = opts.sites.clone();
    let mut report = engine::run(&ctx.root, &config, &run).map_err(|e| {
        // the host went back as it was; the site files were not touched and still want the change
        let rolled_back = e.chain().any(|c| {
            c.is::<crate::engine::apply::HealthError>()
                || c.is::<crate::services::ValidationError>()
                || c.is::<crate::engine::apply::RolledBack>()
        });
        if rolled_back && !opts.dry_run {
            e.context(
                "the host is as it was before this run, but the site files still hold the change: the files and the host now differ until you fix or revert the file and apply again (`lempctl apply --dry-run` shows what is pending)",
            )
        } else {
            e
        }
    })?;
    // ACME sites without a certificate get one now, and switch to HTTPS in this run.
    if opts.dry_run {
        let certs = super::cert::planned_changes(ctx, &config, &names);
        report.changed |= !certs.is_empty();
        report.changes.extend(certs);
    } else if report.error.is_none() {
        super::cert::after_apply(ctx, &config, &names, &mut report, opts.wait)?;
    }
    Ok(report)
}
