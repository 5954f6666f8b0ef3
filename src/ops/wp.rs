//! `lempctl wp install|cron|purge|login-url|admin-password`.

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::Context;
use crate::config::{Config, Site, SiteKind, UsageError};
use crate::engine::report::Report;
use crate::engine::{self, secrets};
use crate::host::Perms;
use crate::services::wordpress;

fn wp_site<'a>(config: &'a Config, name: &str) -> Result<&'a Site> {
    let site = super::find_site(config, name)?;
    let fqdn = &site.name;
    if site.kind != SiteKind::Wordpress {
        return Err(UsageError(format!(
            "site `{fqdn}` is a `{}` site, not `wordpress`",
            site.kind.as_str()
        ))
        .into());
    }
    Ok(site)
}

/// Converges the site: core, wp-config.php, database and the install.
pub(crate) fn install(
    ctx: &Context,
    name: &str,
    dry_run: bool,
    wait: std::time::Duration,
) -> Result<Report> {
    let config = ctx.load()?;
    let site = wp_site(&config, name)?;
    super::converge_site(ctx, &config, site, dry_run, wait)
}

/// Runs the site's due cron events.
pub(crate) fn cron(ctx: &Context, name: &str) -> Result<String> {
    let config = ctx.load()?;
    let site = wp_site(&config, name)?;
    wordpress::run_cron(&ctx.root, &config.global, site)
}

#[derive(Debug, Serialize)]
pub(crate) struct Purged {
    pub site: String,
    pub entries_removed: usize,
}

/// Empties the site's page cache.
pub(crate) fn purge(ctx: &Context, name: &str) -> Result<Purged> {
    let config = ctx.load()?;
    let site = wp_site(&config, name)?;
    let n = ctx
        .root
        .clear_dir(&config.global.cache_dir.join(site.name.as_str()))?;
    Ok(Purged {
        site: site.name.to_string(),
        entries_removed: n,
    })
}

#[derive(Debug, Serialize)]
pub(crate) struct Login {
    pub url: String,
    pub admin_user: String,
    pub credentials_file: String,
}

pub(crate) fn login_url(ctx: &Context, name: &str) -> Result<Login> {
    let config = ctx.load()?;
    let site = wp_site(&config, name)?;
    let wp = site.wordpress.as_ref().context("a WordPress site")?;
    Ok(Login {
        url: format!("{}/wp-login.php", wp.url),
        admin_user: wp.admin_user.clone(),
        credentials_file: secrets::path(&config.global, site.name.as_str())
            .display()
            .to_string(),
    })
}

#[derive(Debug, Serialize)]
pub(crate) struct NewPassword {
    pub site: String,
    pub admin_user: String,
    pub password: String,
}

/// Gives the admin user a new random password, stored (0600) and returned once.
pub(crate) fn admin_password(
    ctx: &Context,
    name: &str,
    wait: std::time::Duration,
) -> Result<NewPassword> {
    let config = ctx.load()?;
    let g = &config.global;
    let site = wp_site(&config, name)?;
    let wp = site.wordpress.as_ref().context("a WordPress site")?;
    let _lock = engine::lock::acquire(&ctx.root.path(&g.paths.lock_file()), wait)?;
    let file = secrets::path(g, site.name.as_str());
    let mut stored = secrets::load(&ctx.root, &file)?;
    let password =
        rand::distr::SampleString::sample_string(&rand::distr::Alphanumeric, &mut rand::rng(), 24);
    stored.wp_admin_password = Some(password.clone());
    ctx.root.write_then(
        &file,
        &secrets::to_bytes(&stored),
        &Perms::root(0o600),
        || wordpress::set_admin_password(&ctx.root, g, site, &password),
    )?;
    Ok(NewPassword {
        site: site.name.to_string(),
        admin_user: wp.admin_user.clone(),
        password,
    })
}
