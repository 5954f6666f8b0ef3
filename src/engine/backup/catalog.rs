//! The runs in the repository: snapshots grouped by their `run` tag, and the choice of one.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

use super::Repo;
use crate::config::UsageError;
use crate::services::restic::Snapshot;
use crate::services::restic::tags as snapshot_tags;

/// One backup run of a site as listed: its snapshots grouped by the `run` tag.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Entry {
    pub site: String,
    pub run: String,
    pub time: String,
    pub files_snapshot: Option<String>,
    pub db_snapshot: Option<String>,
    pub safety: bool,
    /// Taken before the site or its database was removed (`site remove --purge`, `db drop`).
    #[serde(rename = "final")]
    pub final_run: bool,
    /// The host that took the run (its `host=` tag, else restic's snapshot `hostname`): a
    /// fleet's hosts share one repository.
    pub host: String,
    /// The paths of the files snapshot, as that host saw them.
    #[serde(skip)]
    pub files_paths: Vec<String>,
}

/// Every run in the repository (of one site when given), oldest first.
pub(crate) fn entries(repo: &Repo, site: Option<&str>) -> Result<Vec<Entry>> {
    let snaps = repo.restic.snapshots(&snapshot_tags::of_site(site))?;
    Ok(group(&snaps))
}

pub(super) fn group(snaps: &[Snapshot]) -> Vec<Entry> {
    let mut runs: BTreeMap<(String, String), Entry> = BTreeMap::new();
    for s in snaps {
        let (Some(site), Some(run)) = (s.site(), s.run()) else {
            continue;
        };
        let e = runs
            .entry((site.to_owned(), run.to_owned()))
            .or_insert_with(|| Entry {
                site: site.to_owned(),
                run: run.to_owned(),
                time: s.time.clone(),
                files_snapshot: None,
                db_snapshot: None,
                safety: s.is_safety(),
                final_run: s.is_final(),
                host: s.host().to_owned(),
                files_paths: Vec::new(),
            });
        match s.part() {
            Some("db") => e.db_snapshot = Some(s.id.clone()),
            _ => {
                e.files_snapshot = Some(s.id.clone());
                s.host().clone_into(&mut e.host);
                e.files_paths.clone_from(&s.paths);
                // restic's backup summary names the snapshot by its short id: resolve it
                if let Some(db) = s.dump_ref() {
                    let full = snaps.iter().find(|d| d.id.starts_with(db));
                    e.db_snapshot = Some(full.map_or(db, |d| d.id.as_str()).to_owned());
                }
            }
        }
    }
    // a dump kept only because later runs refer to it is not a run of its own any more
    let used = dumps_in_use(runs.values());
    let mut v: Vec<Entry> = runs
        .into_values()
        .filter(|e| {
            e.files_snapshot.is_some() || !e.db_snapshot.as_ref().is_some_and(|d| used.contains(d))
        })
        .collect();
    v.sort_by(|a, b| a.time.cmp(&b.time).then(a.run.cmp(&b.run)));
    v
}

/// The dumps (full `db` snapshot ids) that runs with a files snapshot refer to.
pub(super) fn dumps_in_use<'a>(
    runs: impl Iterator<Item = &'a Entry>,
) -> std::collections::BTreeSet<String> {
    runs.filter(|e| e.files_snapshot.is_some())
        .filter_map(|e| e.db_snapshot.clone())
        .collect()
}

/// The run `wanted` names (a run id, or a prefix of one of its snapshot ids), else the latest
/// run that is not a safety snapshot.
pub(crate) fn select(entries: &[Entry], site: &str, wanted: Option<&str>) -> Result<Entry> {
    let found = match wanted {
        Some(w) => entries.iter().find(|e| {
            e.run == w
                || (w.len() >= 4
                    && [&e.files_snapshot, &e.db_snapshot]
                        .into_iter()
                        .flatten()
                        .any(|id| id.starts_with(w)))
        }),
        None => entries.iter().rev().find(|e| !e.safety),
    };
    found.cloned().ok_or_else(|| {
        let what = match wanted {
            Some(w) => format!("no backup `{w}` of site `{site}`"),
            None => format!("site `{site}` has no backup yet"),
        };
        UsageError(format!(
            "{what}; `lempctl backup list {site}` shows the backups"
        ))
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::super::run::{RunKind, tags};
    use super::*;

    #[test]
    fn runs_group_and_select() {
        let snap = |id: &str, run: &str, part: &str, time: &str, safety: bool| Snapshot {
            id: id.into(),
            short_id: id[..4].into(),
            time: time.into(),
            paths: vec![],
            tags: {
                let mut t = tags(
                    "a.test",
                    run,
                    part,
                    if safety {
                        RunKind::Safety
                    } else {
                        RunKind::Scheduled
                    },
                );
                t.retain(|_| true);
                t
            },
            hostname: "h".into(),
        };
        let e = group(&[
            snap("aaaa1111", "r1", "db", "2024-01-01T00:00:00Z", false),
            snap("bbbb2222", "r1", "files", "2024-01-01T00:00:00Z", false),
            snap("cccc3333", "r2", "files", "2024-01-02T00:00:00Z", true),
        ]);
        assert_eq!(e.len(), 2);
        assert_eq!(
            select(&e, "a.test", None).unwrap().run,
            "r1",
            "safety runs are not the default"
        );
        assert_eq!(select(&e, "a.test", Some("bbbb")).unwrap().run, "r1");
        assert_eq!(select(&e, "a.test", Some("r2")).unwrap().run, "r2");
        assert!(select(&e, "a.test", Some("dead")).is_err());
    }
}
