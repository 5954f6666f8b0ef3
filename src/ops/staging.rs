//! `lempctl site clone`: a staging copy of a site, made live from the running site.

use std::time::Duration;

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::{Context, site_copy};
use crate::config::{SiteKind, UsageError};
use crate::engine::clone::{self, Copied};

pub(crate) use crate::services::mariadb::dump_rewrite::ReplaceStats;

#[derive(Debug, Clone)]
pub(crate) struct CloneOptions {
    pub src: String,
    pub dst: String,
    pub aliases: Vec<String>,
    /// The copy keeps the database its first converge gave it (WordPress: a fresh install).
    pub no_db: bool,
    pub kind: Option<SiteKind>,
    /// No `noindex` header and no basic auth.
    pub public: bool,
    pub dry_run: bool,
    pub wait: Duration,
}

/// What `site clone` did (or, with `--dry-run`, would do).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CloneResult {
    pub site: String,
    pub new_site: String,
    pub dry_run: bool,
    pub kind: SiteKind,
    pub copied: Copied,
    /// The copy answers with `X-Robots-Tag: noindex`.
    pub noindex: bool,
    /// The basic-auth user of the copy; its password is `basic_auth_password` in `credentials`.
    pub basic_auth_user: Option<String>,
    /// The copy's credentials file (root-only).
    pub credentials: String,
    pub admin_password_set: bool,
}

pub(crate) fn clone(ctx: &Context, o: &CloneOptions) -> Result<CloneResult> {
    let mut config = ctx.load()?;
    let src = crate::engine::backup::find_site(&config, &o.src)?.clone();
    let new = site_copy::new_name(&config, ctx, &src, &o.dst)?;
    let header = format!("# a copy of {} made by `lempctl site clone`", src.name);
    let copy = site_copy::prepare(
        ctx,
        &mut config,
        &src,
        &new,
        &header,
        |text| edit(text, o),
        o.wait,
    )?;
    if let Some(k) = o.kind
        && (k == SiteKind::Wordpress) != (src.kind == SiteKind::Wordpress)
        && !o.no_db
    {
        return Err(UsageError(format!(
            "a {} site's database cannot be copied into a {} site; add --no-db",
            src.kind.as_str(),
            k.as_str()
        ))
        .into());
    }
    let mut result = CloneResult {
        site: src.name.to_string(),
        new_site: new.to_string(),
        dry_run: o.dry_run,
        kind: copy.site.kind,
        copied: Copied::default(),
        noindex: copy.site.access.noindex,
        basic_auth_user: copy.site.access.basic_auth.clone(),
        credentials: crate::engine::secrets::path(&config.global, new.as_str())
            .display()
            .to_string(),
        admin_password_set: false,
    };
    if o.dry_run {
        return Ok(result);
    }
    let site = copy.create(ctx, &config)?;
    let files = src.kind != SiteKind::Redirect;
    result.copied = clone::copy_site(&ctx.root, &config, (&src, &site), (files, !o.no_db))
        .and_then(|c| {
            result.admin_password_set = copy.finish(ctx, &config, c.database.is_some())?;
            Ok(c)
        })
        .with_context(|| copy.failed("copying into it"))?;
    Ok(result)
}

/// The copy's site file: aliases and kind from the options, and unless `public`, hidden from
/// search engines behind basic auth.
fn edit(text: String, o: &CloneOptions) -> Result<String> {
    use crate::config::edit::{quoted, set_top};
    let mut t = text;
    if !o.aliases.is_empty() {
        let list: Vec<String> = o.aliases.iter().map(|a| quoted(a)).collect();
        t = set_top(&t, "aliases", Some(&format!("[{}]", list.join(", "))));
    }
    if let Some(k) = o.kind {
        t = set_top(&t, "kind", Some(k.as_str()));
    }
    let access = (!o.public).then_some("{ noindex: true, basic_auth: true }");
    Ok(set_top(&t, "access", access))
}

#[derive(Debug, Clone)]
pub(crate) struct PromoteOptions {
    pub staging: String,
    pub prod: String,
    pub files: bool,
    pub db: bool,
    /// Only these tables (names without the WordPress table prefix).
    pub include_tables: Vec<String>,
    /// Not these tables: production keeps its own (names without the prefix).
    pub exclude_tables: Vec<String>,
    pub dry_run: bool,
    pub wait: Duration,
}

/// What `site promote` did (or would do).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PromoteResult {
    pub staging: String,
    pub site: String,
    pub dry_run: bool,
    /// The backup run of the production site taken first: `backup restore SITE --snapshot RUN`
    /// puts it back by hand.
    pub backup_run: Option<String>,
    pub files: Option<usize>,
    pub database: Option<String>,
    /// Tables copied only (`--include-table`), or kept from production (`--exclude-table`).
    pub tables_only: Vec<String>,
    pub tables_kept: Vec<String>,
    pub urls_rewritten: Option<ReplaceStats>,
    pub seconds: f64,
}

pub(crate) fn promote(ctx: &Context, o: &PromoteOptions) -> Result<PromoteResult> {
    use crate::engine::backup;
    let start = std::time::Instant::now();
    let config = ctx.load()?;
    let staging = backup::find_site(&config, &o.staging)?.clone();
    let prod = backup::find_site(&config, &o.prod)?.clone();
    let tables = promote_checks(&config, (&staging, &prod), o)?;
    let mut result = PromoteResult {
        staging: staging.name.to_string(),
        site: prod.name.to_string(),
        dry_run: o.dry_run,
        backup_run: None,
        files: None,
        database: None,
        tables_only: tables.only.clone(),
        tables_kept: tables.except.clone(),
        urls_rewritten: None,
        seconds: 0.0,
    };
    if o.dry_run {
        return Ok(result);
    }
    let g = &config.global;
    let _lock = backup::lock(&ctx.root, g, o.wait)?;
    let repo = backup::open(&ctx.root, g, false)?;
    let safety = backup::backup_site(&ctx.root, &config, &repo, &prod, backup::RunKind::Safety)
        .with_context(|| {
            format!(
                "backing up `{}` before the promotion (nothing was changed)",
                prod.name
            )
        })?;
    let run = safety.run.clone();
    result.backup_run = Some(run.clone());
    let done = promote_copy(ctx, &config, (&staging, &prod), o, &tables, &mut result);
    let Err(e) = done else {
        result.seconds = start.elapsed().as_secs_f64();
        return Ok(result);
    };
    let parts = match (o.files, o.db && prod.db.is_some()) {
        (true, true) => backup::Parts::All,
        (true, false) => backup::Parts::FilesOnly,
        _ => backup::Parts::DbOnly,
    };
    let prod_name = &prod.name;
    match backup::roll_back(&ctx.root, &config, &repo, &prod, &run, parts) {
        Ok(_) => Err(e.context(format!(
            "promoting `{}` over `{prod_name}` failed; `{prod_name}` was restored from backup {run}",
            staging.name
        ))),
        Err(r) => Err(e.context(format!(
            "promoting `{}` over `{prod_name}` failed, and so did restoring backup {run} ({r:#}); \
             `lempctl backup restore {prod_name} --snapshot {run}` puts it back",
            staging.name
        ))),
    }
}

/// Refuses what cannot be promoted; returns the tables to copy (names with the prefix).
fn promote_checks(
    config: &crate::config::Config,
    (staging, prod): (&crate::config::Site, &crate::config::Site),
    o: &PromoteOptions,
) -> Result<crate::services::mariadb::TableFilter> {
    let usage = |m: String| -> anyhow::Error { UsageError(m).into() };
    if staging.name == prod.name {
        return Err(usage(format!(
            "`{}` cannot be promoted over itself",
            prod.name
        )));
    }
    if staging.kind != prod.kind {
        return Err(usage(format!(
            "`{}` is a {} site and `{}` a {} site: only sites of one kind can be promoted",
            staging.name,
            staging.kind.as_str(),
            prod.name,
            prod.kind.as_str()
        )));
    }
    if !o.files && !o.db {
        return Err(usage(
            "--files-only and --db-only exclude each other".into(),
        ));
    }
    let copy_db = o.db && staging.db.is_some() && prod.db.is_some();
    if o.db && !o.files && !copy_db {
        return Err(usage(format!(
            "--db-only: `{}` or `{}` has no database",
            staging.name, prod.name
        )));
    }
    let tables_named = !o.include_tables.is_empty() || !o.exclude_tables.is_empty();
    if tables_named && !copy_db {
        return Err(usage(
            "--include-table and --exclude-table choose tables of a database copy".into(),
        ));
    }
    let prefix = match (&staging.wordpress, &prod.wordpress) {
        (Some(a), Some(b)) if a.table_prefix != b.table_prefix => {
            return Err(usage(format!(
                "`{}` uses the table prefix `{}` and `{}` `{}`: the tables cannot be promoted",
                staging.name, a.table_prefix, prod.name, b.table_prefix
            )));
        }
        (_, Some(wp)) => wp.table_prefix.as_str(),
        _ => "",
    };
    let name = |t: &String| -> Result<String> {
        let ok = (1..=64).contains(&t.len())
            && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            return Err(usage(format!(
                "`{t}` is not a table name (letters, digits and `_`, without the prefix `{prefix}`)"
            )));
        }
        Ok(format!("{prefix}{t}"))
    };
    if config.global.backup.is_none() {
        return Err(usage(format!(
            "`site promote` backs up `{}` first: configure a backup repository (`backup.repository` in lempctl.yaml)",
            prod.name
        )));
    }
    Ok(crate::services::mariadb::TableFilter {
        only: o.include_tables.iter().map(name).collect::<Result<_>>()?,
        except: o.exclude_tables.iter().map(name).collect::<Result<_>>()?,
    })
}

/// The promotion itself, after the backup: the copy, the page cache purged, a converge and a
/// health check of production.
fn promote_copy(
    ctx: &Context,
    config: &crate::config::Config,
    (staging, prod): (&crate::config::Site, &crate::config::Site),
    o: &PromoteOptions,
    tables: &crate::services::mariadb::TableFilter,
    result: &mut PromoteResult,
) -> Result<()> {
    if o.files {
        result.files = Some(clone::replace_files(&ctx.root, config, staging, prod)?);
    }
    if o.db && staging.db.is_some() && prod.db.is_some() {
        let (_, urls) = clone::copy_database(&ctx.root, config, (staging, prod), tables)?;
        result.database = prod.db.as_ref().map(|d| d.database.clone());
        result.urls_rewritten = urls;
    }
    ctx.root
        .clear_dir(&config.global.cache_dir.join(prod.name.as_str()))
        .context("purging the page cache")?;
    let run = crate::engine::RunOptions {
        scope: crate::engine::Scope::Sites(vec![prod.name.clone()]),
        wait: o.wait,
        ..crate::engine::RunOptions::default()
    };
    crate::engine::run(&ctx.root, config, &run)?;
    clone::check_health(config, prod)
}
