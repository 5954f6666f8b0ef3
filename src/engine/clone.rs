//! A live copy of one site into another (`site clone`, `site promote`): the document root walked
//! without following links and copied with the target's owner, the database dumped in one
//! consistent transaction straight into the target's, and WordPress URLs moved to the target's
//! name (serialized values included).

use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::config::{Config, Site};
use crate::engine::database;
use crate::host::{Journal, Perms, Root, exec};
use crate::services::mariadb::dump_rewrite::{DumpRewriter, ReplaceStats};
use crate::services::mariadb::{self, ClientOptions, TableFilter};

/// What a copy copied.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Copied {
    /// Entries copied into the target's document root (`None`: files not copied).
    pub files: Option<usize>,
    /// The target's database, loaded from a dump of the source's.
    pub database: Option<String>,
    /// Bytes of that dump.
    pub dump_bytes: u64,
    /// What the URL rewrite changed (WordPress).
    pub urls_rewritten: Option<ReplaceStats>,
    pub seconds: f64,
}

/// Replaces `to`'s document root by a copy of `from`'s (except `wp-config.php`, which `to`
/// renders itself); returns the entries copied.
pub(crate) fn copy_files(root: &Root, config: &Config, from: &Site, to: &Site) -> Result<usize> {
    let g = &config.global;
    root.clear_dir(&to.paths.document_root)?;
    let u = &to.user;
    root.copy_site_tree(
        &mut Journal::default(),
        &from.paths.document_root,
        &to.paths.document_root,
        &["wp-config.php"],
        (
            &Perms::new(u, &g.web_group, 0o2750),
            &Perms::new(u, &g.web_group, 0o640),
        ),
    )
    .with_context(|| format!("copying the files of `{}` into `{}`", from.name, to.name))
}

/// Loads a consistent dump of `from`'s database (the tables `tables` picks) into `to`'s, which is
/// emptied first when every table is copied (else the dumped tables replace theirs and the rest
/// stay); returns the dump's size. For WordPress, the URLs of `from`'s name become `to`'s on the
/// way (`DumpRewriter`; GUIDs stay).
pub(crate) fn copy_database(
    root: &Root,
    config: &Config,
    (from, to): (&Site, &Site),
    tables: &TableFilter,
) -> Result<(u64, Option<ReplaceStats>)> {
    let (Some(src), Some(dst)) = (&from.db, &to.db) else {
        return Ok((0, None));
    };
    let g = &config.global;
    let target = database::admin_target(root, g)?;
    if tables.only.is_empty() && tables.except.is_empty() {
        database::recreate_empty(&target, dst)?;
    }
    let opts = ClientOptions::write(&target)?;
    // the client that loads backups (`backup.mariadb`), else the one on the PATH
    let client = g
        .backup
        .as_ref()
        .map_or_else(|| "mariadb".into(), |b| b.mariadb.clone());
    let dump = mariadb::copy_dump_cmd(&opts, &src.database, tables);
    let load = mariadb::load_cmd(&client, &opts, &dst.database);
    let context = || {
        format!(
            "copying database `{}` into `{}`",
            src.database, dst.database
        )
    };
    // WordPress: the URLs are rewritten in the stream, on their way into the new database
    let (out, urls) = match (&from.wordpress, &to.wordpress) {
        (Some(_), Some(wp)) => {
            let mut rewrite =
                DumpRewriter::wordpress(from.name.as_str(), to.name.as_str(), &wp.table_prefix);
            let out = exec::pipe_filtered(&dump, &load, &mut rewrite).with_context(context)?;
            (out, Some(rewrite.stats()))
        }
        _ => (
            exec::pipe(&dump, &load, &mut |_| {}).with_context(context)?,
            None,
        ),
    };
    Ok((out.bytes, urls))
}

/// Copies `from` into `to` (files unless `files` is false, the database unless `db` is false):
/// the two at once, since one waits on the disk and the other on the database server.
pub(crate) fn copy_site(
    root: &Root,
    config: &Config,
    (from, to): (&Site, &Site),
    (files, db): (bool, bool),
) -> Result<Copied> {
    let start = Instant::now();
    let mut c = Copied::default();
    let db = db && from.db.is_some() && to.db.is_some();
    let (copied, loaded) = std::thread::scope(|s| {
        let files = s.spawn(|| {
            files
                .then(|| copy_files(root, config, from, to))
                .transpose()
        });
        let loaded = db
            .then(|| copy_database(root, config, (from, to), &TableFilter::default()))
            .transpose();
        let copied = files
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the file copy panicked")));
        (copied, loaded)
    });
    c.files = copied?;
    if let Some((bytes, urls)) = loaded? {
        c.database = to.db.as_ref().map(|d| d.database.clone());
        c.dump_bytes = bytes;
        c.urls_rewritten = urls;
    }
    c.seconds = start.elapsed().as_secs_f64();
    Ok(c)
}

/// Replaces `to`'s document root by `from`'s while `to` keeps serving: the copy is built beside
/// it in a root-only directory, then each top-level entry trades places with the live one
/// (`RENAME_EXCHANGE`); entries only `to` has stay (its `wp-config.php`, uploads the copy lacks
/// at the top level). Returns the entries copied.
pub(crate) fn replace_files(root: &Root, config: &Config, from: &Site, to: &Site) -> Result<usize> {
    let g = &config.global;
    let parent = to
        .paths
        .site_dir
        .parent()
        .context("a site directory has a parent")?;
    let stage = parent.join(format!(".lempctl-promote-{:016x}", rand::random::<u64>()));
    root.ensure_dir(&mut Journal::default(), &stage, &Perms::root(0o700))?;
    let u = &to.user;
    let done = root
        .copy_site_tree(
            &mut Journal::default(),
            &from.paths.document_root,
            &stage,
            &["wp-config.php"],
            (
                &Perms::new(u, &g.web_group, 0o2750),
                &Perms::new(u, &g.web_group, 0o640),
            ),
        )
        .and_then(|n| {
            root.exchange_entries(&stage, &to.paths.document_root)?;
            Ok(n)
        });
    let cleaned = root.remove_tree(&stage);
    let n =
        done.with_context(|| format!("copying the files of `{}` over `{}`", from.name, to.name))?;
    cleaned?;
    Ok(n)
}

/// `site`'s health check now (after a promotion), whether or not the run changed it: waits up to
/// `health.timeout_ms` for the expected status.
pub(crate) fn check_health(config: &Config, site: &Site) -> Result<()> {
    let g = &config.global;
    if !site.health.enabled || !site.enabled {
        return Ok(());
    }
    let addr = super::health::address(&g.health.address, g.listen_http.port)?;
    let probe = super::health::Probe {
        site: site.name.to_string(),
        path: site.health.path.clone(),
        status: site.health.status,
    };
    let limit = std::time::Duration::from_millis(u64::from(g.health.timeout_ms));
    match super::health::wait_healthy(addr, &[probe], limit)
        .pop()
        .flatten()
    {
        None => Ok(()),
        Some(why) => Err(anyhow::anyhow!("health check of `{}`: {why}", site.name)),
    }
}
