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
use crate::services::mariadb::search_replace::ReplaceStats;
use crate::services::mariadb::{self, ClientOptions};

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

/// Empties `to`'s database and loads a consistent dump of `from`'s into it; returns the dump's
/// size. For WordPress, then moves the URLs from `from`'s name to `to`'s.
pub(crate) fn copy_database(
    root: &Root,
    config: &Config,
    from: &Site,
    to: &Site,
) -> Result<(u64, Option<ReplaceStats>)> {
    let (Some(src), Some(dst)) = (&from.db, &to.db) else {
        return Ok((0, None));
    };
    let g = &config.global;
    let target = database::admin_target(root, g)?;
    database::recreate_empty(&target, dst)?;
    let opts = ClientOptions::write(&target)?;
    // the client that loads backups (`backup.mariadb`), else the one on the PATH
    let client = g
        .backup
        .as_ref()
        .map_or_else(|| "mariadb".into(), |b| b.mariadb.clone());
    let out = exec::pipe(
        &mariadb::backup_dump_cmd(&opts, &src.database),
        &mariadb::load_cmd(&client, &opts, &dst.database),
        &mut |_| {},
    )
    .with_context(|| {
        format!(
            "copying database `{}` into `{}`",
            src.database, dst.database
        )
    })?;
    let urls = match (&from.wordpress, &to.wordpress) {
        (Some(_), Some(wp)) => Some(
            database::rewrite_urls(
                &target,
                dst,
                &wp.table_prefix,
                from.name.as_str(),
                to.name.as_str(),
            )
            .context("rewriting the WordPress URLs")?,
        ),
        _ => None,
    };
    Ok((out.bytes, urls))
}

/// Copies `from` into `to` (files unless `files` is false, the database unless `db` is false).
pub(crate) fn copy_site(
    root: &Root,
    config: &Config,
    (from, to): (&Site, &Site),
    (files, db): (bool, bool),
) -> Result<Copied> {
    let start = Instant::now();
    let mut c = Copied::default();
    if files {
        c.files = Some(copy_files(root, config, from, to)?);
    }
    if db && from.db.is_some() && to.db.is_some() {
        let (bytes, urls) = copy_database(root, config, from, to)?;
        c.database = to.db.as_ref().map(|d| d.database.clone());
        c.dump_bytes = bytes;
        c.urls_rewritten = urls;
    }
    c.seconds = start.elapsed().as_secs_f64();
    Ok(c)
}
