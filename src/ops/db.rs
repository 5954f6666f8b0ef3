//! `lempctl db create|drop|list|passwd|dump`: site databases through the engine (create, drop)
//! or the MariaDB client directly (list, passwd, dump).

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::Context;
use crate::config::{Config, Site, UsageError};
use crate::engine::report::Report;
use crate::engine::{self, RunOptions, Scope, database, secrets};
use crate::host::{Journal, Perms};
use crate::services::mariadb::{self, Retire, Secret};

fn site_with_db<'a>(config: &'a Config, name: &str) -> Result<&'a Site> {
    let site = super::find_site(config, name)?;
    let fqdn = &site.name;
    if site.db.is_none() {
        return Err(UsageError(format!(
            "site `{fqdn}` has no database (add a `db:` section, or use a `wordpress` site)"
        ))
        .into());
    }
    Ok(site)
}

/// Converges one site (its database included). A `php` site without a `db:` section gets one
/// (`db: {}`, the default names) added to its site file first; the file is put back if the
/// converge fails.
pub(crate) fn create(
    ctx: &Context,
    name: &str,
    dry_run: bool,
    wait: std::time::Duration,
) -> Result<Report> {
    let mut config = ctx.load()?;
    let site = super::find_site(&config, name)?.clone();
    if site.db.is_some() {
        return super::converge_site(ctx, &config, &site, dry_run, wait);
    }
    if !site.kind.uses_php() {
        return Err(UsageError(format!(
            "site `{}` is a `{}` site: it runs no PHP, so nothing would use a database\n  allowed: `php` and `wordpress` sites",
            site.name,
            site.kind.as_str()
        ))
        .into());
    }
    let file_name = site
        .file
        .file_name()
        .context("the site file has a file name")?;
    let host_file = config.global.paths.sites_dir.join(file_name);
    let old = std::fs::read_to_string(&site.file)
        .with_context(|| format!("reading {}", site.file.display()))?;
    let text = with_db_section(&old);
    // Validate exactly as `apply` will read it back.
    let mut errors = Vec::new();
    let file: crate::config::file::SiteFile =
        crate::config::parse_yaml(&site.file, &text).map_err(|e| UsageError(e.to_string()))?;
    let new = ctx.validate_site(&site.file, file, &config.global, &mut errors);
    let Some(new) = new.filter(|s| errors.is_empty() && s.db.is_some()) else {
        return Err(UsageError(crate::config::ConfigErrors(errors).to_string()).into());
    };
    for s in &mut config.sites {
        if s.name == new.name {
            *s = new.clone();
        }
    }
    config.check_unique(&mut errors);
    if !errors.is_empty() {
        return Err(UsageError(crate::config::ConfigErrors(errors).to_string()).into());
    }
    if dry_run {
        return super::converge_site(ctx, &config, &new, true, wait);
    }
    let mut report =
        ctx.root
            .write_then(&host_file, text.as_bytes(), &Perms::root(0o644), || {
                super::converge_site(ctx, &config, &new, false, wait)
            })?;
    report.changed = true;
    Ok(report)
}

/// The site file text with an empty `db:` section (the default names): an existing top-level
/// `db:` line without a value (`db:`, `db: ~`, `db: null`) becomes `db: {}`, else one is appended.
/// Everything else, comments included, stays as written.
fn with_db_section(text: &str) -> String {
    let mut out = String::new();
    let mut replaced = false;
    for line in text.lines() {
        let value = line
            .strip_prefix("db:")
            .map(|r| r.split(" #").next().unwrap_or("").trim());
        if !replaced && matches!(value, Some("" | "~" | "null" | "Null" | "NULL")) {
            out.push_str("db: {}\n");
            replaced = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !replaced {
        out.push_str("# added by `lempctl db create`: a database with the default names\ndb: {}\n");
    }
    out
}

/// Dumps (unless `no_backup`) and drops a site's database and user.
pub(crate) fn drop_database(
    ctx: &Context,
    name: &str,
    no_backup: bool,
    dry_run: bool,
    wait: std::time::Duration,
) -> Result<Report> {
    let config = ctx.load()?;
    let site = site_with_db(&config, name)?;
    let db = site.db.as_ref().context("site has a database")?;
    let dump = (!no_backup).then(|| {
        ctx.root.path(&database::archive_dump_path(
            &config.global,
            site.name.as_str(),
            &db.database,
        ))
    });
    // On a shared server the database is kept (only this host's accounts go): nothing to save.
    let shared = config.global.database.shared;
    let dump = dump.filter(|_| !shared);
    let final_run = if dry_run || no_backup || shared {
        None
    } else {
        super::backup::final_run(ctx, &config, site, wait)?
    };
    let retire = vec![Retire {
        site: site.name.to_string(),
        database: db.database.clone(),
        user: db.user.clone(),
        dump_to: dump,
    }];
    // Only the drop: no site is converged (that would create the database again).
    let mut report = engine::run(
        &ctx.root,
        &config,
        &RunOptions {
            scope: Scope::Sites(vec![]),
            dry_run,
            wait,
            retire,
            ..RunOptions::default()
        },
    )?;
    report
        .changes
        .retain(|c| c.kind.starts_with("database") || c.kind.starts_with("db-"));
    report.changed = !report.changes.is_empty();
    report
        .warnings
        .retain(|w| !w.contains("no longer in the sites directory"));
    report.warnings.push(if shared {
        format!(
            "site `{}` still declares a database: the next `lempctl apply` creates this host's accounts again",
            site.name
        )
    } else {
        format!(
            "site `{}` still declares a database: the next `lempctl apply` creates it again (empty)",
            site.name
        )
    });
    super::backup::announce_final(&mut report, final_run);
    Ok(report)
}

#[derive(Debug, Serialize)]
pub(crate) struct DbRow {
    pub site: String,
    pub database: String,
    pub user: String,
    pub exists: bool,
    pub size_bytes: u64,
    pub tables: u64,
}

/// Every managed database with its size and user (one query).
pub(crate) fn list(ctx: &Context) -> Result<Vec<DbRow>> {
    let config = ctx.load()?;
    let g = &config.global;
    let specs: Vec<_> = config
        .sites
        .iter()
        .filter_map(|s| {
            s.db.as_ref()
                .map(|d| database::spec(g, s.name.as_str(), d, ""))
        })
        .collect();
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    let target = database::admin_target(&ctx.root, g)?;
    let rows = database::with_admin(&target, async |admin| {
        mariadb::list_databases(admin, &specs).await
    })?;
    Ok(rows
        .into_iter()
        .map(|r| DbRow {
            site: r.site,
            database: r.database,
            user: r.user,
            exists: r.exists,
            size_bytes: r.size_bytes,
            tables: r.tables,
        })
        .collect())
}

/// Sets a new password: stored first (so it is never lost), then set on the server.
pub(crate) fn passwd(ctx: &Context, name: &str, wait: std::time::Duration) -> Result<Report> {
    let config = ctx.load()?;
    let g = &config.global;
    let site = site_with_db(&config, name)?;
    let db = site.db.as_ref().context("site has a database")?;
    let lock = engine::lock::acquire(&ctx.root.path(&g.paths.lock_file()), wait)?;
    let file = secrets::path(g, site.name.as_str());
    let mut stored = secrets::load(&ctx.root, &file)?;
    let new = Secret::generate()?;
    stored.db_password = Some(new.expose().to_owned());
    let target = database::admin_target(&ctx.root, g)?;
    let spec = database::spec(g, site.name.as_str(), db, new.expose());
    let mut journal = Journal::default();
    ctx.root.write_atomic(
        &mut journal,
        &file,
        &secrets::to_bytes(&stored),
        &Perms::root(0o600),
    )?;
    let set = database::with_admin(&target, async |admin| {
        mariadb::set_password(admin, &spec, &new).await
    });
    if let Err(e) = set {
        ctx.root.rollback(&mut journal);
        return Err(e);
    }
    drop(lock);
    // Files that embed the password (wp-config.php) follow through the engine.
    let mut report = engine::run(
        &ctx.root,
        &config,
        &RunOptions {
            scope: Scope::Sites(vec![site.name.clone()]),
            wait,
            ..RunOptions::default()
        },
    )?;
    report.changed = true;
    report.warnings.insert(
        0,
        format!(
            "password of `{}` changed; stored in {}",
            db.user,
            file.display()
        ),
    );
    Ok(report)
}

#[derive(Debug, Serialize)]
pub(crate) struct DumpReport {
    pub site: String,
    pub database: String,
    pub file: PathBuf,
    pub sql_bytes: u64,
    pub compressed_bytes: u64,
}

/// `mariadb-dump | zstd` into a file (default: the archive directory).
pub(crate) fn dump(ctx: &Context, name: &str, output: Option<PathBuf>) -> Result<DumpReport> {
    let config = ctx.load()?;
    let g = &config.global;
    let site = site_with_db(&config, name)?;
    let db = site.db.as_ref().context("site has a database")?;
    let file = match output {
        Some(f) => f,
        None => {
            let host = database::archive_dump_path(g, site.name.as_str(), &db.database);
            if let Some(dir) = host.parent() {
                ctx.root.create_dirs(dir)?;
            }
            ctx.root.path(&host)
        }
    };
    let target = database::admin_target(&ctx.root, g)?;
    let stats =
        database::runtime()?.block_on(mariadb::dump_to_file(&target, &db.database, &file))?;
    Ok(DumpReport {
        site: site.name.to_string(),
        database: db.database.clone(),
        file,
        sql_bytes: stats.sql_bytes,
        compressed_bytes: stats.compressed_bytes,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_db_section_is_added_and_the_rest_kept() {
        assert_eq!(
            super::with_db_section(
                "# mine\nname: a.test\nkind: php   # comment\nphp:\n  max_children: 3"
            ),
            "# mine\nname: a.test\nkind: php   # comment\nphp:\n  max_children: 3\n\
             # added by `lempctl db create`: a database with the default names\ndb: {}\n"
        );
        assert_eq!(
            super::with_db_section("name: a.test\ndb: ~   # later\nkind: php\n"),
            "name: a.test\ndb: {}\nkind: php\n"
        );
    }
}
