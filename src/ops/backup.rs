//! `lempctl backup run|list|restore|prune|verify`: restic snapshots of sites (`engine::backup`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, anyhow};
use serde::Serialize;

use super::Context;
use crate::config::UsageError;
use crate::engine::backup::{
    self, Entry, Parts, PruneResult, RestoreResult, RunResult, VerifyResult,
};

#[derive(Debug, Serialize)]
pub struct RunReport {
    pub runs: Vec<RunResult>,
    pub failed: Vec<(String, String)>,
}

/// Backs up the named sites (or every site with files when `all`); one failure does not stop the
/// others, and every outcome is recorded for the Prometheus textfile.
pub fn run(ctx: &Context, sites: &[String], all: bool, wait: Duration) -> Result<RunReport> {
    let config = ctx.load()?;
    let g = &config.global;
    let chosen: Vec<_> = if all {
        config
            .sites
            .iter()
            .filter(|s| s.kind != crate::config::SiteKind::Redirect)
            .collect()
    } else {
        if sites.is_empty() {
            return Err(UsageError("name a site, or use --all".into()).into());
        }
        sites
            .iter()
            .map(|n| backup::find_site(&config, n))
            .collect::<Result<_>>()?
    };
    let _lock = backup::lock(&ctx.root, g, wait)?;
    let repo = match backup::open(&ctx.root, g, true) {
        Ok(r) => r,
        Err(e) => {
            for s in &chosen {
                let _ = backup::record(&ctx.root, g, s.name.as_str(), Err(format!("{e:#}")));
            }
            return Err(e);
        }
    };
    let mut report = RunReport {
        runs: Vec::new(),
        failed: Vec::new(),
    };
    for site in chosen {
        match backup::backup_site(&ctx.root, &config, &repo, site, false) {
            Ok(r) => {
                backup::record(&ctx.root, g, site.name.as_str(), Ok(&r))?;
                report.runs.push(r);
            }
            Err(e) => {
                let msg = format!("{e:#}");
                backup::record(&ctx.root, g, site.name.as_str(), Err(msg.clone()))?;
                report.failed.push((site.name.to_string(), msg));
            }
        }
    }
    if !report.failed.is_empty() {
        let list: Vec<String> = report
            .failed
            .iter()
            .map(|(s, e)| format!("{s}: {e}"))
            .collect();
        return Err(anyhow!(
            "backup failed for {} site(s):\n{}",
            report.failed.len(),
            list.join("\n")
        ));
    }
    Ok(report)
}

/// Backups in the repository, oldest first.
pub fn list(ctx: &Context, site: Option<&str>) -> Result<Vec<Entry>> {
    let config = ctx.load()?;
    if let Some(s) = site {
        backup::find_site(&config, s)?;
    }
    let repo = backup::open(&ctx.root, &config.global, false)?;
    backup::entries(&repo, site)
}

#[derive(Debug)]
pub struct RestoreOptions {
    pub site: String,
    pub snapshot: Option<String>,
    pub parts: Parts,
    pub to: Option<PathBuf>,
    pub wait: Duration,
}

/// Restores a backup in place (after a safety snapshot) or into a directory.
pub fn restore(ctx: &Context, o: &RestoreOptions) -> Result<RestoreResult> {
    let config = ctx.load()?;
    let site = backup::find_site(&config, &o.site)?;
    let _lock = backup::lock(&ctx.root, &config.global, o.wait)?;
    let repo = backup::open(&ctx.root, &config.global, false)?;
    backup::restore(
        &ctx.root,
        &config,
        &repo,
        site,
        o.snapshot.as_deref(),
        o.parts,
        o.to.as_deref(),
    )
}

/// Applies retention and removes unused data.
pub fn prune(ctx: &Context, wait: Duration) -> Result<PruneResult> {
    let config = ctx.load()?;
    let _lock = backup::lock(&ctx.root, &config.global, wait)?;
    let repo = backup::open(&ctx.root, &config.global, false)?;
    backup::prune(&config, &repo)
}

/// Checks the repository and test-restores the latest backup of each site; a problem is exit 1.
pub fn verify(
    ctx: &Context,
    site: Option<&str>,
    read_data: bool,
    wait: Duration,
) -> Result<VerifyResult> {
    let config = ctx.load()?;
    let only = site.map(|s| backup::find_site(&config, s)).transpose()?;
    let _lock = backup::lock(&ctx.root, &config.global, wait)?;
    let repo = backup::open(&ctx.root, &config.global, false)?;
    let r = backup::verify(&ctx.root, &config, &repo, only, read_data)?;
    if r.ok() {
        return Ok(r);
    }
    let mut problems = Vec::new();
    if let Some(c) = &r.check_output {
        problems.push(format!("restic check: {c}"));
    }
    for s in &r.sites {
        for p in &s.problems {
            problems.push(format!("{} (backup {}): {p}", s.site, s.run));
        }
    }
    Err(anyhow!(
        "backup verification failed:\n{}",
        problems.join("\n")
    ))
}
