//! Retention: each site's policy applied to its runs, then the dumps no kept run refers to.

use anyhow::Result;
use serde::Serialize;

use super::Repo;
use super::catalog::{dumps_in_use, group};
use crate::config::Config;
use crate::services::restic::Keep;
use crate::services::restic::tags as snapshot_tags;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct PruneResult {
    pub sites: Vec<String>,
    pub snapshots_before: usize,
    pub snapshots_after: usize,
}

/// Applies every site's retention (sites with a `backup` section), then prunes unused data.
pub(crate) fn prune(config: &Config, repo: &Repo) -> Result<PruneResult> {
    let before = repo.restic.snapshots(&snapshot_tags::of_site(None))?.len();
    let mut sites = Vec::new();
    for site in &config.sites {
        let Some(b) = &site.backup else { continue };
        let keep = Keep {
            last: b.keep_last,
            daily: b.keep_daily,
            weekly: b.keep_weekly,
            monthly: b.keep_monthly,
        };
        // the policy applies to runs (their files snapshots); a dump lives on while a kept run
        // refers to it, which may be a run later than the one that took it
        repo.restic
            .forget(&snapshot_tags::files_of(site.name.as_str()), keep)?;
        sites.push(site.name.to_string());
    }
    let snaps = repo.restic.snapshots(&snapshot_tags::of_site(None))?;
    let referenced = dumps_in_use(group(&snaps).iter());
    let unreferenced: Vec<String> = snaps
        .iter()
        .filter(|s| s.part() == Some("db") && !referenced.contains(&s.id))
        .filter(|s| sites.iter().any(|n| s.site() == Some(n.as_str())))
        .map(|s| s.id.clone())
        .collect();
    repo.restic.forget_ids(&unreferenced)?;
    repo.restic.prune()?;
    let after = repo.restic.snapshots(&snapshot_tags::of_site(None))?.len();
    Ok(PruneResult {
        sites,
        snapshots_before: before,
        snapshots_after: after,
    })
}
