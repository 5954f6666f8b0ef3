//! Verification: `restic check`, then each site's latest run restored into scratch space and
//! compared with its manifest and its dump's trailer.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::catalog::{Entry, entries};
use super::manifest::{Manifest, manifest_path, sha256_file, site_files};
use super::restore::load_dump;
use super::trailer::TrailerReader;
use super::{Repo, backup_dir, scratch_tag};
use crate::config::global::Global;
use crate::config::{Config, Site};
use crate::engine::database::{self, with_admin};
use crate::host::exec::Tap;
use crate::host::{Root, walk};
use crate::services::mariadb::{self, sql};

#[derive(Debug, Clone, Serialize)]
pub(crate) struct SiteVerify {
    pub site: String,
    pub run: String,
    pub files: u64,
    pub tables: usize,
    pub rows: u64,
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct VerifyResult {
    pub repository_ok: bool,
    pub check_output: Option<String>,
    pub sites: Vec<SiteVerify>,
}

impl VerifyResult {
    pub(crate) fn ok(&self) -> bool {
        self.repository_ok && self.sites.iter().all(|s| s.problems.is_empty())
    }
}

/// `restic check`, then the latest backup of each site restored into a scratch directory and a
/// scratch database and compared with its manifest.
pub(crate) fn verify(
    root: &Root,
    config: &Config,
    repo: &Repo,
    only: Option<&Site>,
    read_data: bool,
) -> Result<VerifyResult> {
    let check = repo.restic.check(read_data)?;
    let mut out = VerifyResult {
        repository_ok: check.is_none(),
        check_output: check,
        sites: Vec::new(),
    };
    let all = entries(repo, only.map(|s| s.name.as_str()))?;
    for site in config
        .sites
        .iter()
        .filter(|s| only.is_none_or(|o| o.name == s.name))
    {
        let name = site.name.as_str();
        let Some(entry) = all.iter().rev().find(|e| e.site == name && !e.safety) else {
            continue;
        };
        let mut v = SiteVerify {
            site: name.to_owned(),
            run: entry.run.clone(),
            files: 0,
            tables: 0,
            rows: 0,
            problems: Vec::new(),
        };
        if let Err(e) = verify_site(root, config, repo, site, entry, &mut v) {
            v.problems.push(format!("{e:#}"));
        }
        out.sites.push(v);
    }
    Ok(out)
}

/// Where one site's verification works: a scratch directory and a scratch database named by `tag`.
struct Scratch<'a> {
    root: &'a Root,
    g: &'a Global,
    repo: &'a Repo,
    tag: String,
}

fn verify_site(
    root: &Root,
    config: &Config,
    repo: &Repo,
    site: &Site,
    entry: &Entry,
    v: &mut SiteVerify,
) -> Result<()> {
    let g = &config.global;
    let name = site.name.as_str();
    let s = Scratch {
        root,
        g,
        repo,
        tag: scratch_tag(&entry.run),
    };
    let scratch = backup_dir(g).join(format!("verify-{}", s.tag));
    let files_snap = entry
        .files_snapshot
        .as_deref()
        .context("the backup has no files snapshot")?;
    let result = (|| -> Result<()> {
        repo.restic.restore(files_snap, &root.path(&scratch), &[])?;
        let inside = |real: &Path| {
            root.path(&scratch)
                .join(real.strip_prefix("/").unwrap_or(real))
        };
        let manifest = read_manifest(&inside(&root.path(&manifest_path(g, name))))?;
        if manifest.run != entry.run {
            v.problems.push(format!(
                "the manifest belongs to run {}, not {}",
                manifest.run, entry.run
            ));
        }
        let dir = inside(&root.path(&site.paths.site_dir));
        if manifest.files > 0 || dir.exists() {
            check_files(&dir, &manifest, v)?;
        }
        if let (Some(db_snap), Some(_)) = (entry.db_snapshot.as_deref(), &manifest.database) {
            check_database(&s, db_snap, name, &manifest, v)?;
        }
        Ok(())
    })();
    root.remove_tree(&scratch)?;
    result
}

fn read_manifest(mpath: &Path) -> Result<Manifest> {
    serde_json::from_slice(
        &std::fs::read(mpath)
            .with_context(|| format!("the backup holds no manifest ({})", mpath.display()))?,
    )
    .context("reading the manifest")
}

/// The restored site tree `dir` against the manifest: file count and sampled checksums.
fn check_files(dir: &Path, manifest: &Manifest, v: &mut SiteVerify) -> Result<()> {
    let (files, _) = site_files(dir, &[])?;
    v.files = files.len() as u64;
    if v.files != manifest.files {
        v.problems.push(format!(
            "{} files restored, the manifest lists {}",
            v.files, manifest.files
        ));
    }
    let dir_fd = walk::open_start(dir).with_context(|| format!("opening {}", dir.display()))?;
    for (rel, sum) in &manifest.sample {
        match sha256_file(&dir_fd, dir, Path::new(rel)) {
            Ok(s) if &s == sum => {}
            Ok(_) => v
                .problems
                .push(format!("{rel}: checksum differs from the manifest")),
            Err(e) => v.problems.push(format!("{rel}: {e:#}")),
        }
    }
    Ok(())
}

/// The dump of `db_snap` loaded into a scratch database (dropped after) and compared with what
/// it should hold: its own trailer, else (older runs) the manifest.
fn check_database(
    s: &Scratch,
    db_snap: &str,
    name: &str,
    manifest: &Manifest,
    v: &mut SiteVerify,
) -> Result<()> {
    let scratch_db = format!("lempctl_verify_{}", s.tag);
    let db = &s.g.database;
    let target = database::admin_target(s.root, s.g)?;
    with_admin(&target, async |admin| {
        admin
            .exec(&sql::create_database(
                &scratch_db,
                &db.charset,
                &db.collation,
            )?)
            .await
    })?;
    let loaded = (|| -> Result<()> {
        let mut reader = TrailerReader::new();
        load_dump(
            s.repo,
            &target,
            (db_snap, name),
            &scratch_db,
            &mut Tap(|b: &[u8]| reader.feed(b)),
        )?;
        let (sha, trailer) = reader.finish();
        let (want_sha, want_tables) = match trailer {
            Some(t) => (Some(t.sha256), t.tables),
            None => (manifest.dump_sha256.clone(), manifest.tables.clone()),
        };
        if want_sha.as_deref() != Some(sha.as_str()) {
            v.problems
                .push("the restored dump's checksum differs from the one recorded".to_owned());
        }
        let counts = with_admin(&target, async |admin| {
            mariadb::provision::row_counts(admin, &scratch_db, want_tables.keys()).await
        })?;
        compare_tables(&want_tables, &counts, v);
        Ok(())
    })();
    let dropped = with_admin(&target, async |admin| {
        admin.exec(&sql::drop_database(&scratch_db)?).await
    });
    loaded?;
    dropped
}

fn compare_tables(
    want_tables: &BTreeMap<String, u64>,
    counts: &BTreeMap<String, u64>,
    v: &mut SiteVerify,
) {
    v.tables = counts.len();
    v.rows = counts.values().sum();
    for (t, want) in want_tables {
        match counts.get(t) {
            Some(n) if n == want => {}
            Some(n) => v
                .problems
                .push(format!("table `{t}`: {n} rows restored, {want} backed up")),
            None => v
                .problems
                .push(format!("table `{t}` missing after the restore")),
        }
    }
}
