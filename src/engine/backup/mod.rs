//! Site backups with restic: one run per site is a `files` snapshot (the site tree minus the
//! exclude globs, the site file, the site's credentials and a manifest) and, for sites with a
//! database, a `db` snapshot holding the dump streamed in as `lempctl/<site>/db.sql`. Both carry
//! the tags `lempctl`, `site=<name>`, `run=<id>`, `part=files|db` (`services::restic::tags`); the
//! files snapshot names its dump with `db=<id>`, which is an earlier run's when the database did
//! not change. Retention applies to files snapshots (runs); a dump lives while a kept run refers
//! to it. Snapshot times are restic's own (nanoseconds), so runs never tie. Runs on one
//! repository never overlap (`<state_dir>/backup.lock`).
//!
//! By topic: `run` (a backup run), `manifest` (what a run holds besides the data), `trailer` (the
//! line a dump ends with), `catalog` (the runs in the repository), `restore`, `verify`, `prune`,
//! `metrics` (the recorded outcome of runs and its Prometheus textfile). This module opens and
//! locks the repository.

mod catalog;
mod manifest;
mod metrics;
mod prune;
mod restore;
mod run;
mod trailer;
mod verify;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::repo_files::RepoFiles;
use super::repo_lock;
use crate::config::global::{BackupGlobal, Global};
use crate::config::{Config, Site, SiteKind, UsageError};
use crate::host::Root;
use crate::services::mariadb;
use crate::services::restic::key::MasterKey;
use crate::services::restic::{Restic, Summary};
use crate::services::rustic;

pub(crate) use catalog::{Entry, entries, select};
pub(crate) use metrics::{record, statuses};
pub(crate) use prune::{PruneResult, prune};
pub(crate) use restore::{
    Parts, RestoreAsResult, RestoreResult, RestoreSpec, restore, restore_as, roll_back,
};
pub(crate) use run::{RunKind, RunResult, backup_site};
pub(crate) use verify::{VerifyResult, verify};

/// The repository of the configuration, ready to use.
#[derive(Debug, Clone)]
pub(crate) struct Repo {
    pub restic: Restic,
    pub cfg: BackupGlobal,
    /// This call initialised the repository.
    pub created: bool,
}

/// The repository as lempctl reads and writes it itself: its files and its master key.
pub(crate) struct Writer<'a> {
    files: RepoFiles<'a>,
    master: MasterKey,
}

impl Repo {
    /// Opens the repository's key (the fast one: a few milliseconds).
    fn writer<'a>(&self, root: &'a Root) -> Result<Writer<'a>> {
        let password = super::repo_key::password(root, &self.cfg)?;
        let files = RepoFiles::open(root, &self.cfg)?;
        let master = repo_lock::master_key(&files, password.as_bytes())?;
        Ok(Writer { files, master })
    }

    /// A snapshot of `paths` (real paths), written in-process under restic's repository lock
    /// (`services::rustic` says why).
    fn snapshot_files(
        &self,
        root: &Root,
        w: &Writer,
        paths: &[PathBuf],
        excludes: &[String],
        tags: &[String],
    ) -> Result<Summary> {
        let dir = self.cfg.local_path().map(|p| root.path(&p));
        let location = match (&dir, self.cfg.repository.strip_prefix("s3:")) {
            (Some(d), _) => rustic::Location::Local(d),
            (None, Some(url)) => rustic::Location::S3(url),
            (None, None) => bail!("unsupported repository {}", self.cfg.repository),
        };
        repo_lock::with_shared_lock(&w.files, &w.master, || {
            rustic::backup(
                &location,
                w.master.json(),
                &self.restic.cache_dir,
                paths,
                excludes,
                tags,
            )
        })
    }
}

impl Writer<'_> {
    /// The tags of the snapshot whose id starts with `prefix`, read from the repository directly
    /// (a restic process would cost more than the whole lookup).
    fn snapshot_tags(&self, prefix: &str) -> Result<Option<Vec<String>>> {
        let Some(id) = self
            .files
            .list("snapshots")?
            .into_iter()
            .find(|n| n.starts_with(prefix))
        else {
            return Ok(None);
        };
        let Some(bytes) = self.files.get("snapshots", &id)? else {
            return Ok(None);
        };
        #[derive(Deserialize)]
        struct Tagged {
            #[serde(default)]
            tags: Vec<String>,
        }
        let plain = self.master.decrypt_unpacked(&bytes)?;
        let t: Tagged = serde_json::from_slice(&plain).context("reading a snapshot")?;
        Ok(Some(t.tags))
    }
}

/// Host path of lempctl's backup data (password, manifests, status, scratch dirs).
pub(crate) fn backup_dir(g: &Global) -> PathBuf {
    g.paths.state_dir.join("backup")
}

/// Host path of the note naming the repository lempctl initialised or opened.
pub(crate) fn repository_marker(g: &Global) -> PathBuf {
    backup_dir(g).join("repository")
}

/// The configured repository; the password is generated (CSPRNG, 0600) when absent, and the
/// repository is initialised when `init` and it does not exist yet.
pub(crate) fn open(root: &Root, g: &Global, init: bool) -> Result<Repo> {
    let Some(cfg) = g.backup.clone() else {
        return Err(UsageError(format!(
            "no backup repository: add a `backup: {{ repository: … }}` section to {}",
            g.file.display()
        ))
        .into());
    };
    if root.read(&cfg.password_file)?.is_none() {
        if !init {
            bail!(
                "the repository password {} does not exist: no backup was made with this configuration",
                root.path(&cfg.password_file).display()
            );
        }
        let pw = mariadb::Secret::generate()?;
        root.write_private(
            &cfg.password_file,
            format!("{}\n", pw.expose()).as_bytes(),
            0o600,
        )?;
        super::repo_key::record_generated(root, &cfg, pw.expose())?;
    }
    let restic = restic(root, g, &cfg);
    // A repository lempctl initialised (or opened) before is not probed again: one restic start
    // less per command, and a repository that vanished (an unmounted disk) is an error rather
    // than silently replaced by a new, empty one.
    let marker = repository_marker(g);
    let known = root
        .read(&marker)?
        .is_some_and(|b| String::from_utf8_lossy(&b).trim_end() == restic.repository);
    if known {
        return Ok(Repo {
            restic,
            cfg,
            created: false,
        });
    }
    let mut created = false;
    if !restic.exists() {
        if !init {
            bail!(
                "the backup repository {} cannot be opened (not initialised, unreachable, or a wrong password)",
                restic.repository
            );
        }
        restic
            .init()
            .context("initialising the backup repository")?;
        created = true;
        // a slow key only costs time: the repository works either way
        if let Err(e) = super::repo_key::make_fast(root, &cfg, &restic) {
            tracing::warn!("the repository keeps restic's calibrated key: {e:#}");
        }
    }
    root.write_private(
        &marker,
        format!("{}\n", restic.repository).as_bytes(),
        0o600,
    )?;
    Ok(Repo {
        restic,
        cfg,
        created,
    })
}

/// restic on the configured repository, as it is: nothing is created or probed.
pub(crate) fn restic(root: &Root, g: &Global, cfg: &BackupGlobal) -> Restic {
    let repository = match cfg.local_path() {
        Some(p) => root.path(&p).to_string_lossy().into_owned(),
        None => cfg.repository.clone(),
    };
    Restic {
        program: cfg.restic.clone(),
        repository,
        password_file: root.path(&cfg.password_file),
        cache_dir: root.path(&backup_dir(g).join("cache")),
    }
}

/// Takes `<state_dir>/backup.lock` (runs of any site never overlap on the repository).
pub(crate) fn lock(root: &Root, g: &Global, wait: Duration) -> Result<super::lock::Lock> {
    super::lock::acquire(&root.path(&g.paths.state_dir.join("backup.lock")), wait)
}

/// A site from the command line: it must be in the sites directory and have files.
pub(crate) fn find_site<'a>(config: &'a Config, name: &str) -> Result<&'a Site> {
    let fqdn = crate::config::Fqdn::parse(name)
        .map_err(|why| UsageError(format!("invalid site name `{name}`: {why}")))?;
    if let Some(b) = config.broken_site(fqdn.as_str()) {
        return Err(b.error());
    }
    let site = config.site(&fqdn).ok_or_else(|| {
        UsageError(format!(
            "no site `{fqdn}` in {}",
            config.global.paths.sites_dir.display()
        ))
    })?;
    if site.kind == SiteKind::Redirect {
        return Err(UsageError(format!(
            "site `{fqdn}` is a redirect: it has no files or database to back up"
        ))
        .into());
    }
    Ok(site)
}

/// Path of the dump inside a `db` snapshot.
pub(crate) fn dump_name(site: &str) -> String {
    format!("lempctl/{site}/db.sql")
}

/// A name for the scratch directory (and database) of work on `run` by this process.
fn scratch_tag(run: &str) -> String {
    hex::encode(Sha256::digest(format!("{run}{}", std::process::id())))[..12].to_owned()
}
