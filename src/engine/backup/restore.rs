//! Restores: in place (after a safety run), into a directory (`--to`), or into another site
//! (`--as`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use super::catalog::{Entry, entries, select};
use super::run::{RunKind, backup_site};
use super::{Repo, backup_dir, dump_name, scratch_tag};
use crate::config::global::Global;
use crate::config::site::SiteDb;
use crate::config::{Config, Site, UsageError};
use crate::engine::database;
use crate::host::exec::{StreamFilter, Tap, pipe_filtered};
use crate::host::{Journal, Perms, Root};
use crate::services::mariadb::dump_rewrite::{DumpRewriter, ReplaceStats};
use crate::services::mariadb::{self, ClientOptions};
use crate::services::restic::excludes::excluded_path;

/// What to restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parts {
    All,
    FilesOnly,
    DbOnly,
}

/// How to restore (`backup restore`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RestoreSpec<'a> {
    /// A run or snapshot id; `None`: the latest run.
    pub wanted: Option<&'a str>,
    pub parts: Parts,
    /// Into this directory instead of in place.
    pub to: Option<&'a Path>,
    /// In place: files the site gained since the backup are removed, not kept.
    pub delete: bool,
    /// Only say what would be restored.
    pub dry_run: bool,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct RestoreResult {
    pub site: String,
    pub run: String,
    /// With `dry_run`: what would be restored; nothing was changed.
    pub dry_run: bool,
    pub files_restored: bool,
    pub database_restored: bool,
    /// In place with `--delete`: entries (files, links, whole new directories) the site gained
    /// since the backup, removed.
    pub removed_since_backup: u64,
    /// The safety snapshot taken before an in-place restore.
    pub safety_run: Option<String>,
    /// Where `--to` put the files (and `lempctl/<site>/db.sql`).
    pub to: Option<PathBuf>,
    /// Entries removed from the site's page cache after an in-place restore.
    pub cache_entries_purged: usize,
}

/// The snapshots of `entry` a restore of `parts` takes, `(files, db)`; asking for a part the
/// run or the site lacks is a usage error.
fn chosen<'e>(
    entry: &'e Entry,
    site: &Site,
    parts: Parts,
) -> Result<(Option<&'e str>, Option<&'e str>)> {
    let name = site.name.as_str();
    let want_files = parts != Parts::DbOnly;
    let want_db =
        parts != Parts::FilesOnly && (entry.db_snapshot.is_some() || parts == Parts::DbOnly);
    if want_files && entry.files_snapshot.is_none() {
        return Err(UsageError(format!(
            "backup `{}` of `{name}` has no files snapshot",
            entry.run
        ))
        .into());
    }
    if want_db && (entry.db_snapshot.is_none() || site.db.is_none()) {
        return Err(UsageError(format!(
            "backup `{}` of `{name}` has no database dump, or the site has no database",
            entry.run
        ))
        .into());
    }
    Ok((
        entry.files_snapshot.as_deref().filter(|_| want_files),
        entry.db_snapshot.as_deref().filter(|_| want_db),
    ))
}

/// Restores a run of a site, in place (after a safety snapshot) or into `to`.
pub(crate) fn restore(
    root: &Root,
    config: &Config,
    repo: &Repo,
    site: &Site,
    spec: &RestoreSpec<'_>,
) -> Result<RestoreResult> {
    let name = site.name.as_str();
    let entry = select(&entries(repo, Some(name))?, name, spec.wanted)?;
    let (files, db) = chosen(&entry, site, spec.parts)?;
    let mut result = RestoreResult {
        site: name.to_owned(),
        run: entry.run.clone(),
        dry_run: spec.dry_run,
        files_restored: false,
        database_restored: false,
        removed_since_backup: 0,
        safety_run: None,
        to: spec.to.map(Path::to_path_buf),
        cache_entries_purged: 0,
    };
    if spec.dry_run {
        result.files_restored = files.is_some();
        result.database_restored = db.is_some();
        return Ok(result);
    }
    if let Some(dir) = spec.to {
        if let Some(id) = files {
            repo.restic.restore(id, dir, &[])?;
            result.files_restored = true;
        }
        if let Some(id) = db {
            repo.restic.restore(id, dir, &[])?;
            result.database_restored = true;
        }
        return Ok(result);
    }
    let safety = backup_site(root, config, repo, site, RunKind::Safety)
        .context("taking the safety snapshot before restoring (nothing was restored)")?;
    result.safety_run = Some(safety.run);
    let files = match files.filter(|_| entry.host != crate::host::machine::hostname()) {
        // A run another host took (a site moving between a fleet's hosts): its owners' ids and
        // its wp-config.php are that host's. The document root is copied as `--as` does.
        Some(id) => {
            result.removed_since_backup =
                adopt_document_root(root, &config.global, repo, (id, &entry), site, spec.delete)?;
            result.files_restored = true;
            None
        }
        None => files,
    };
    restore_in_place(
        root,
        config,
        repo,
        site,
        spec.delete,
        (files, db),
        &mut result,
    )?;
    Ok(result)
}

/// Puts `site` back to the run `run` (taken just before a change that failed: `site promote`):
/// `parts` of it in place, what the site gained since removed, the page cache purged. No safety
/// snapshot: `run` is one.
pub(crate) fn roll_back(
    root: &Root,
    config: &Config,
    repo: &Repo,
    site: &Site,
    run: &str,
    parts: Parts,
) -> Result<RestoreResult> {
    let name = site.name.as_str();
    let entry = select(&entries(repo, Some(name))?, name, Some(run))?;
    let chosen = chosen(&entry, site, parts)?;
    let mut result = RestoreResult {
        site: name.to_owned(),
        run: entry.run.clone(),
        dry_run: false,
        files_restored: false,
        database_restored: false,
        removed_since_backup: 0,
        safety_run: None,
        to: None,
        cache_entries_purged: 0,
    };
    restore_in_place(root, config, repo, site, true, chosen, &mut result)?;
    Ok(result)
}

/// The in-place part of `restore`, after the safety snapshot: files, database, then the page
/// cache (pages cached before the restore show what is no longer there, a hacked title).
fn restore_in_place(
    root: &Root,
    config: &Config,
    repo: &Repo,
    site: &Site,
    delete: bool,
    (files, db): (Option<&str>, Option<&str>),
    result: &mut RestoreResult,
) -> Result<()> {
    let name = site.name.as_str();
    if let Some(id) = files {
        result.removed_since_backup = restore_files_in_place(
            root,
            repo,
            id,
            &site.paths.site_dir,
            delete,
            &repo.cfg.exclude,
        )?;
        result.files_restored = true;
    }
    if let (Some(id), Some(d)) = (db, &site.db) {
        reload_database(root, &config.global, repo, (id, name), d)?;
        result.database_restored = true;
    }
    if result.files_restored || result.database_restored {
        result.cache_entries_purged = root
            .clear_dir(&config.global.cache_dir.join(name))
            .context("purging the page cache after the restore")?;
    }
    Ok(())
}

/// Empties the database `db` and loads into it the dump of `snapshot`, a run of the site
/// `of_site`; returns the admin connection target for more work on it.
fn reload_database(
    root: &Root,
    g: &Global,
    repo: &Repo,
    (snapshot, of_site): (&str, &str),
    db: &SiteDb,
) -> Result<mariadb::AdminTarget> {
    let target = database::admin_target(root, g)?;
    database::recreate_empty(&target, db)?;
    load_dump(
        repo,
        &target,
        (snapshot, of_site),
        &db.database,
        &mut Tap(|_| {}),
    )?;
    Ok(target)
}

/// Restores the document root of `entry`, a run of `site` another host took, in place: copied
/// from the snapshot with this host's site user as owner (links recreated, never followed) into
/// a root-only stage, then exchanged with the live one; wp-config.php, which this host renders,
/// stays, and so does what the live site has beyond the run (removed with `delete`). The
/// snapshot's paths are that host's: the site directory is the one that ends like ours.
fn adopt_document_root(
    root: &Root,
    g: &Global,
    repo: &Repo,
    (id, entry): (&str, &Entry),
    site: &Site,
    delete: bool,
) -> Result<u64> {
    let p = &site.paths;
    let tail = p.site_dir.strip_prefix("/").unwrap_or(&p.site_dir);
    let theirs = entry
        .files_paths
        .iter()
        .map(PathBuf::from)
        .find(|s| s.ends_with(tail))
        .with_context(|| {
            format!(
                "run {} from host {} holds no directory ending in {}",
                entry.run,
                entry.host,
                tail.display()
            )
        })?;
    let rel = p
        .document_root
        .strip_prefix(&p.site_dir)
        .context("the document root is inside the site directory")?;
    let their_docroot = theirs.join(rel);
    let scratch = backup_dir(g).join(format!("adopt-{}", scratch_tag(&entry.run)));
    let stage = restore_stage(&p.site_dir)?;
    let done = (|| -> Result<u64> {
        root.ensure_dir(&mut Journal::default(), &stage, &Perms::root(0o700))?;
        let src = restore_document_root(root, repo, (id, &scratch), &their_docroot)?
            .with_context(|| format!("run {} holds no {}", entry.run, their_docroot.display()))?;
        let staged = stage.join(rel);
        root.ensure_dir(
            &mut Journal::default(),
            &staged,
            &Perms::new(&site.user, &g.web_group, 0o2750),
        )?;
        // this host's wp-config.php, not the run's, is in the new tree before it goes live: no
        // request finds the document root without it
        let (rendered, live): (&[&str], _) = match site.wordpress {
            Some(_) => (
                &["wp-config.php"],
                root.read(&p.document_root.join("wp-config.php"))?,
            ),
            None => (&[], None),
        };
        copy_as_site(root, g, &src, &staged, rendered, site)?;
        if let Some(live) = live {
            root.write_atomic(
                &mut Journal::default(),
                &staged.join("wp-config.php"),
                &live,
                &Perms::new(&site.user, &site.user, 0o600),
            )?;
        }
        root.exchange_entries(&stage, &p.site_dir)?;
        root.merge_missing(&stage, &p.site_dir, &|_| !delete)
    })();
    let cleaned = root.remove_tree(&stage).and(root.remove_tree(&scratch));
    let gained = done.context("restoring the files of another host's run")?;
    cleaned?;
    Ok(gained)
}

/// A fresh name beside `site_dir` for a root-only stage of restored files.
fn restore_stage(site_dir: &Path) -> Result<PathBuf> {
    let parent = site_dir.parent().context("a site directory has a parent")?;
    Ok(parent.join(format!(".lempctl-restore-{:016x}", rand::random::<u64>())))
}

/// Restores the site directory of snapshot `id` beside the live one, in a fresh root-only
/// directory the site user cannot reach (restic writes through no link it planted), then
/// exchanges each restored top-level entry with the live one. What the site gained since the
/// backup is moved back beside the restored files, or with `delete` removed with the old entries
/// (recovery from a hack; the safety snapshot still has it); returns how many entries that was.
/// Entries the backup excludes (`tmp`, `sessions`) stay as they are.
fn restore_files_in_place(
    root: &Root,
    repo: &Repo,
    id: &str,
    site_dir: &Path,
    delete: bool,
    excludes: &[String],
) -> Result<u64> {
    let stage = restore_stage(site_dir)?;
    root.ensure_dir(&mut Journal::default(), &stage, &Perms::root(0o700))?;
    let done = (|| -> Result<u64> {
        let real_site = root.path(site_dir);
        repo.restic
            .restore(id, &root.path(&stage), std::slice::from_ref(&real_site))?;
        let restored = stage.join(real_site.strip_prefix("/").unwrap_or(&real_site));
        root.exchange_entries(&restored, site_dir)?;
        // the old entries are now where the restored ones were; what the backup never held
        // (its excludes: caches, temporary files) is kept even with `delete`
        root.merge_missing(&restored, site_dir, &|rel| {
            if !delete {
                return true;
            }
            excluded_path(rel, excludes)
        })
    })();
    let cleaned = root.remove_tree(&stage);
    let gained = done.context("restoring the files")?;
    cleaned?;
    Ok(gained)
}

/// What `backup restore SITE --as NEW` restored into the new site.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RestoreAsResult {
    pub site: String,
    pub new_site: String,
    pub run: String,
    pub files: usize,
    pub database: Option<String>,
    /// For WordPress: what the rewrite of the old name's URLs changed.
    pub urls_rewritten: Option<ReplaceStats>,
    /// The copy's WordPress admin password was set to the one stored for the new site (the
    /// dump carries the source's).
    pub admin_password_set: bool,
}

/// Restores the run `entry` of `old` into `new` (a converged site): the document root (except
/// wp-config.php, which the new site renders itself) with the new site's owner, the dump into the
/// new site's database, and for WordPress the URLs of the old name replaced by the new one.
pub(crate) fn restore_as(
    root: &Root,
    config: &Config,
    repo: &Repo,
    old: &Site,
    new: &Site,
    entry: &Entry,
) -> Result<RestoreAsResult> {
    let g = &config.global;
    let mut result = RestoreAsResult {
        site: old.name.to_string(),
        new_site: new.name.to_string(),
        run: entry.run.clone(),
        files: 0,
        database: None,
        urls_rewritten: None,
        admin_password_set: false,
    };
    if let Some(id) = entry.files_snapshot.as_deref() {
        let scratch = backup_dir(g).join(format!("restore-as-{}", scratch_tag(&entry.run)));
        let copied = copy_document_root(root, g, repo, (id, &scratch), old, new);
        root.remove_tree(&scratch)?;
        result.files = copied.context("restoring the files into the new site")?;
    }
    if let (Some(id), Some(db)) = (entry.db_snapshot.as_deref(), &new.db) {
        let target = database::admin_target(root, g)?;
        database::recreate_empty(&target, db)?;
        let (snapshot, of_site) = (id, old.name.as_str());
        match &new.wordpress {
            // the URLs of the old name become the new one's on their way into the database
            Some(wp) => {
                let mut rw =
                    DumpRewriter::wordpress(old.name.as_str(), new.name.as_str(), &wp.table_prefix);
                load_dump(repo, &target, (snapshot, of_site), &db.database, &mut rw)?;
                result.urls_rewritten = Some(rw.stats());
            }
            None => {
                load_dump(
                    repo,
                    &target,
                    (snapshot, of_site),
                    &db.database,
                    &mut Tap(|_| {}),
                )?;
            }
        }
        result.database = Some(db.database.clone());
    }
    Ok(result)
}

/// `old`'s document root of snapshot `id`, restored into `scratch`, copied into `new`'s with
/// `new`'s owner (links recreated, never followed); returns how many entries were copied.
fn copy_document_root(
    root: &Root,
    g: &Global,
    repo: &Repo,
    (id, scratch): (&str, &Path),
    old: &Site,
    new: &Site,
) -> Result<usize> {
    let old_root = root.path(&old.paths.document_root);
    let Some(src) = restore_document_root(root, repo, (id, scratch), &old_root)? else {
        return Ok(0);
    };
    root.clear_dir(&new.paths.document_root)?;
    copy_as_site(
        root,
        g,
        &src,
        &new.paths.document_root,
        &["wp-config.php"],
        new,
    )
}

/// The document root `theirs` (a real path in snapshot `id`) restored into `scratch`: its path
/// there, `None` when the snapshot holds none.
fn restore_document_root(
    root: &Root,
    repo: &Repo,
    (id, scratch): (&str, &Path),
    theirs: &Path,
) -> Result<Option<PathBuf>> {
    repo.restic
        .restore(id, &root.path(scratch), &[theirs.to_path_buf()])?;
    let src = root
        .path(scratch)
        .join(theirs.strip_prefix("/").unwrap_or(theirs));
    Ok(src.is_dir().then_some(src))
}

/// Copies the restored tree `src` into the directory `dest` (host path) as `site`'s document
/// root: its user, `web_group`, 2750/640, links recreated and never followed, `skip`ped
/// top-level names left out; returns how many entries were copied.
fn copy_as_site(
    root: &Root,
    g: &Global,
    src: &Path,
    dest: &Path,
    skip: &[&str],
    site: &Site,
) -> Result<usize> {
    root.copy_tree(
        &mut Journal::default(),
        src,
        dest,
        skip,
        crate::host::Links::Recreate,
        &Perms::new(&site.user, &g.web_group, 0o2750),
        &Perms::new(&site.user, &g.web_group, 0o640),
    )
}

/// Streams the dump of a `db` snapshot of `site` into `database` through the `mariadb` client,
/// through `filter` (`Tap` to only look at it).
pub(super) fn load_dump(
    repo: &Repo,
    target: &mariadb::AdminTarget,
    (snapshot, site): (&str, &str),
    database: &str,
    filter: &mut dyn StreamFilter,
) -> Result<u64> {
    let opts = ClientOptions::write(target)?;
    let client = mariadb::load_cmd(&repo.cfg.mariadb, &opts, database);
    let out = pipe_filtered(
        &repo
            .restic
            .dump_cmd(snapshot, &format!("/{}", dump_name(site))),
        &client,
        filter,
    )
    .with_context(|| format!("loading the dump into `{database}`"))?;
    Ok(out.bytes)
}
