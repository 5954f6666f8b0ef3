//! `lempctl site clone`: a staging copy of a site, made live from the running site.

use std::time::Duration;

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::{Context, site_copy};
use crate::config::{SiteKind, UsageError};
use crate::engine::clone::{self, Copied};

pub(crate) use crate::services::mariadb::search_replace::ReplaceStats;

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
