//! `lempctl backup run|list|restore|prune|verify`: restic snapshots of sites (`engine::backup`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use serde::Serialize;

use super::{Context, site_copy};
use crate::config::UsageError;
use crate::engine::backup::{
    self, Entry, Parts, PruneResult, RestoreResult, RunResult, VerifyResult,
};

#[derive(Debug, Serialize)]
pub(crate) struct RunReport {
    pub runs: Vec<RunResult>,
    pub failed: Vec<(String, String)>,
}

/// Backs up the named sites (or every site with files when `all`); one failure does not stop the
/// others, and every outcome is recorded for the Prometheus textfile.
pub(crate) fn run(ctx: &Context, sites: &[String], all: bool, wait: Duration) -> Result<RunReport> {
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
    let names: Vec<String> = chosen.iter().map(|s| s.name.to_string()).collect();
    alerting(ctx, g, "run", &names, |failed| {
        run_sites(ctx, &config, &chosen, wait, failed)
    })
}

fn run_sites(
    ctx: &Context,
    config: &crate::config::Config,
    chosen: &[&crate::config::Site],
    wait: Duration,
    failed_sites: &mut Vec<String>,
) -> Result<RunReport> {
    let g = &config.global;
    let _lock = backup::lock(&ctx.root, g, wait)?;
    let repo = match backup::open(&ctx.root, g, true) {
        Ok(r) => r,
        Err(e) => {
            for s in chosen {
                let _ = backup::record(&ctx.root, g, s.name.as_str(), Err(format!("{e:#}")));
            }
            return Err(e);
        }
    };
    let mut report = RunReport {
        runs: Vec::new(),
        failed: Vec::new(),
    };
    for site in chosen.iter().copied() {
        match backup::backup_site(&ctx.root, config, &repo, site, backup::RunKind::Scheduled) {
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
        failed_sites.extend(report.failed.iter().map(|(s, _)| s.clone()));
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

#[derive(Debug, Serialize)]
pub(crate) struct InitReport {
    pub repository: String,
    /// Host path of the password file.
    pub password_file: PathBuf,
    pub created: bool,
}

/// Creates the repository (and its password) unless it exists; safe to repeat.
pub(crate) fn init(ctx: &Context, wait: Duration) -> Result<InitReport> {
    let config = ctx.load()?;
    let g = &config.global;
    let _lock = backup::lock(&ctx.root, g, wait)?;
    let repo = backup::open(&ctx.root, g, true)?;
    if !repo.created && !repo.restic.exists() {
        return Err(anyhow!(
            "the repository {} was initialised before and cannot be opened now (an unmounted disk, \
             a changed password file?); to start a new, empty repository there, remove {} and run \
             `lempctl backup init` again",
            repo.cfg.repository,
            ctx.root.path(&backup::repository_marker(g)).display()
        ));
    }
    Ok(InitReport {
        repository: repo.cfg.repository.clone(),
        password_file: repo.cfg.password_file.clone(),
        created: repo.created,
    })
}

/// Backups in the repository, oldest first.
pub(crate) fn list(ctx: &Context, site: Option<&str>) -> Result<Vec<Entry>> {
    let config = ctx.load()?;
    // a removed site's backups (its final one) are listed too
    let known = match site {
        Some(s) => backup::find_site(&config, s).is_ok(),
        None => true,
    };
    if let Some(s) = site {
        crate::config::Fqdn::parse(s)
            .map_err(|why| UsageError(format!("invalid site name `{s}`: {why}")))?;
    }
    let repo = backup::open(&ctx.root, &config.global, false)?;
    let entries = backup::entries(&repo, site)?;
    if !known && entries.is_empty() {
        backup::find_site(&config, site.unwrap_or_default())?;
    }
    Ok(entries)
}

#[derive(Debug)]
pub(crate) struct RestoreOptions {
    pub site: String,
    pub snapshot: Option<String>,
    pub parts: Parts,
    pub to: Option<PathBuf>,
    /// In place: remove what the site gained since the backup (else it is kept).
    pub delete: bool,
    pub dry_run: bool,
    pub wait: Duration,
}

/// Restores a backup in place (after a safety snapshot) or into a directory.
pub(crate) fn restore(ctx: &Context, o: &RestoreOptions) -> Result<RestoreResult> {
    let config = ctx.load()?;
    let site = backup::find_site(&config, &o.site)?;
    let _lock = if o.dry_run {
        None
    } else {
        Some(backup::lock(&ctx.root, &config.global, o.wait)?)
    };
    let repo = backup::open(&ctx.root, &config.global, false)?;
    backup::restore(
        &ctx.root,
        &config,
        &repo,
        site,
        &backup::RestoreSpec {
            wanted: o.snapshot.as_deref(),
            parts: o.parts,
            to: o.to.as_deref(),
            delete: o.delete,
            dry_run: o.dry_run,
        },
    )
}

/// Restores a backup of a site into a new site `new_name` (created from a copy of the site file).
pub(crate) fn restore_as(
    ctx: &Context,
    o: &RestoreOptions,
    new_name: &str,
) -> Result<backup::RestoreAsResult> {
    let mut config = ctx.load()?;
    let old = backup::find_site(&config, &o.site)?.clone();
    let new = site_copy::new_name(&config, ctx, &old, new_name)?;
    let g = config.global.clone();
    let _lock = backup::lock(&ctx.root, &g, o.wait)?;
    let repo = backup::open(&ctx.root, &g, false)?;
    let name = old.name.as_str();
    let entry = backup::select(
        &backup::entries(&repo, Some(name))?,
        name,
        o.snapshot.as_deref(),
    )?;
    let header = format!(
        "# restored by `lempctl backup restore {name} --as {new}` from backup {}",
        entry.run
    );
    let copy = site_copy::prepare(ctx, &mut config, &old, &new, &header, Ok, o.wait)?;
    let site = copy.create(ctx, &config)?;
    let result = backup::restore_as(&ctx.root, &config, &repo, &old, &site, &entry)
        .and_then(|mut r| {
            r.admin_password_set = copy.finish(ctx, &config, r.database.is_some())?;
            Ok(r)
        })
        .with_context(|| copy.failed("the restore into it"))?;
    Ok(result)
}

/// Applies retention and removes unused data.
pub(crate) fn prune(ctx: &Context, wait: Duration) -> Result<PruneResult> {
    let config = ctx.load()?;
    alerting(ctx, &config.global, "prune", &[], |_| {
        let _lock = backup::lock(&ctx.root, &config.global, wait)?;
        let repo = backup::open(&ctx.root, &config.global, false)?;
        backup::prune(&config, &repo)
    })
}

/// Checks the repository and test-restores the latest backup of each site; a problem is exit 1.
pub(crate) fn verify(
    ctx: &Context,
    site: Option<&str>,
    read_data: bool,
    wait: Duration,
) -> Result<VerifyResult> {
    let config = ctx.load()?;
    let only = site.map(|s| backup::find_site(&config, s)).transpose()?;
    let names: Vec<String> = only.iter().map(|s| s.name.to_string()).collect();
    alerting(ctx, &config.global, "verify", &names, |failed| {
        verify_sites(ctx, &config, only, read_data, wait, failed)
    })
}

fn verify_sites(
    ctx: &Context,
    config: &crate::config::Config,
    only: Option<&crate::config::Site>,
    read_data: bool,
    wait: Duration,
    failed_sites: &mut Vec<String>,
) -> Result<VerifyResult> {
    let _lock = backup::lock(&ctx.root, &config.global, wait)?;
    let repo = backup::open(&ctx.root, &config.global, false)?;
    let r = backup::verify(&ctx.root, config, &repo, only, read_data)?;
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
    failed_sites.extend(
        r.sites
            .iter()
            .filter(|s| !s.problems.is_empty())
            .map(|s| s.site.clone()),
    );
    Err(anyhow!(
        "backup verification failed:\n{}",
        problems.join("\n")
    ))
}

/// Runs `f`; when it fails and `alerts` is configured, mails the error (a failing mail is only a
/// warning: the command's own error is what the caller sees).
fn alerting<T>(
    ctx: &Context,
    g: &crate::config::global::Global,
    command: &str,
    sites: &[String],
    f: impl FnOnce(&mut Vec<String>) -> Result<T>,
) -> Result<T> {
    let mut failed = Vec::new();
    let out = f(&mut failed);
    if let (Err(e), Some(_)) = (&out, &g.alerts) {
        // The sites that failed when known, else the sites the command was for.
        let sites = if failed.is_empty() {
            sites
        } else {
            &failed[..]
        };
        if let Err(m) = send_alert(ctx, command, sites, &format!("{e:#}")) {
            tracing::warn!("the alert mail was not sent: {m:#}");
        }
    }
    out
}

fn send_alert(ctx: &Context, command: &str, sites: &[String], error: &str) -> Result<()> {
    let host = super::hostname();
    let what = if sites.is_empty() {
        "the backup repository".to_owned()
    } else {
        sites.join(", ")
    };
    let subject = match command {
        "run" => format!("lempctl: backup of {what} failed on {host}"),
        _ => format!("lempctl: backup {command} of {what} failed on {host}"),
    };
    let body = format!(
        "`lempctl backup {command}` failed on {host} at {}.\n\nSites: {what}\n\n{error}\n",
        chrono::Local::now().format("%Y-%m-%d %H:%M:%S %z")
    );
    super::send_alert(ctx, &subject, &body)
}

/// The last backup run of a site before its data is destroyed (`site remove --purge`, `db drop`),
/// tagged `reason=final`; `None` when no repository is configured. An error means: do not destroy.
/// Puts the final run into the report (`final_backup` in `--json`) and says where it is.
pub(crate) fn announce_final(report: &mut crate::engine::report::Report, run: Option<RunResult>) {
    if let Some(r) = run {
        report.warnings.push(format!(
            "the final backup of `{}` before the removal is run {} (`lempctl backup list {}` marks it `final`; docs/backups.md#manual-restore restores it with plain restic)",
            r.site, r.run, r.site
        ));
        report.data = Some(serde_json::json!({ "final_backup": r }));
    }
}

pub(crate) fn final_run(
    ctx: &Context,
    config: &crate::config::Config,
    site: &crate::config::Site,
    wait: Duration,
) -> Result<Option<RunResult>> {
    let g = &config.global;
    if g.backup.is_none() || site.kind == crate::config::SiteKind::Redirect {
        return Ok(None);
    }
    let name = site.name.as_str();
    let _lock = backup::lock(&ctx.root, g, wait)?;
    let outcome = backup::open(&ctx.root, g, true).and_then(|repo| {
        backup::backup_site(&ctx.root, config, &repo, site, backup::RunKind::Final)
    });
    match outcome {
        Ok(r) => {
            backup::record(&ctx.root, g, name, Ok(&r))?;
            Ok(Some(r))
        }
        Err(e) => {
            let _ = backup::record(&ctx.root, g, name, Err(format!("{e:#}")));
            Err(e.context(format!(
                "the final backup of `{name}` failed: nothing was removed"
            )))
        }
    }
}
