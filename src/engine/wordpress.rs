//! WordPress resources of a `wordpress` site: secrets (salts, admin password), core files,
//! wp-config.php, the page-cache directory, and the one-time install.

use std::path::Path;

use anyhow::{Context, Result};
use rand::distr::{Alphanumeric, SampleString};

use super::resource::Desired;
use super::resource::{Affects, Resource};
use super::secrets::SiteSecrets;
use crate::config::global::{DbAdmin, Global};
use crate::config::site::{Cache, Site, SiteDb, Wordpress};
use crate::host::service_manager::Service;
use crate::host::{Perms, Root};
use crate::render::{Renderer, context::PathMap};

/// The eight keys and salts of wp-config.php.
pub(crate) const SALT_KEYS: [&str; 8] = [
    "AUTH_KEY",
    "SECURE_AUTH_KEY",
    "LOGGED_IN_KEY",
    "NONCE_KEY",
    "AUTH_SALT",
    "SECURE_AUTH_SALT",
    "LOGGED_IN_SALT",
    "NONCE_SALT",
];

fn random(len: usize) -> String {
    // rand's thread RNG is a CSPRNG seeded from the OS; alphanumerics need no escaping in PHP.
    Alphanumeric.sample_string(&mut rand::rng(), len)
}

/// Fills in missing salts and the admin password (read from the configured file, or generated).
/// Existing values are kept: changing salts would log every user out.
pub(crate) fn ensure_secrets(root: &Root, wp: &Wordpress, s: &mut SiteSecrets) -> Result<()> {
    for k in SALT_KEYS {
        s.wp_salts.entry(k.to_owned()).or_insert_with(|| random(64));
    }
    if s.wp_admin_password.is_none() {
        s.wp_admin_password = Some(match &wp.admin_password_file {
            Some(f) => {
                let text = root.read(f)?.with_context(|| {
                    format!("admin password file {} does not exist", f.display())
                })?;
                let pw = String::from_utf8_lossy(&text).trim().to_owned();
                anyhow::ensure!(
                    pw.len() >= 12,
                    "the admin password in {} is shorter than 12 characters",
                    f.display()
                );
                pw
            }
            None => random(24),
        });
    }
    Ok(())
}

/// `DB_HOST` as PHP sees it: the socket (under the sandbox root when direct) or host:port.
fn db_host(map: &PathMap, g: &Global) -> String {
    match &g.database.admin {
        DbAdmin::Socket(p) => format!("localhost:{}", map.show(p).display()),
        DbAdmin::Tcp { host, port, .. } => format!("{host}:{port}"),
    }
}

/// `MYSQL_CLIENT_FLAGS` with `database.require_tls`. mysqlnd verifies the server's certificate
/// (chain against `openssl.cafile` or OpenSSL's store, name against the host) only when asked:
/// `MYSQLI_CLIENT_SSL` alone encrypts without verifying.
fn db_client_flags(g: &Global) -> Option<&'static str> {
    let DbAdmin::Tcp { tls: Some(tls), .. } = &g.database.admin else {
        return None;
    };
    g.database.require_tls.then_some(if tls.verify {
        "MYSQLI_CLIENT_SSL | MYSQLI_CLIENT_SSL_VERIFY_SERVER_CERT"
    } else {
        "MYSQLI_CLIENT_SSL | MYSQLI_CLIENT_SSL_DONT_VERIFY_SERVER_CERT"
    })
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn resources(
    out: &mut Desired,
    r: &Renderer,
    map: &PathMap,
    g: &Global,
    site: &Site,
    wp: &Wordpress,
    db: &SiteDb,
    secrets: &SiteSecrets,
    secrets_file: &Path,
) -> Result<()> {
    let name = site.name.to_string();
    let p = &site.paths;
    let u = site.user.as_str();
    out.resources.push(Resource::WpCore {
        site: name.clone(),
        source: wp.source.clone(),
        sha256: wp.source_sha256.clone(),
        dest: p.document_root.clone(),
        // a tarball is unpacked where only root can reach it, never in the site's tree
        stage: g.paths.state_dir.join("stage").join(&name),
        // Owned by the site user (it runs updates and uploads); readable by nginx through the group.
        dir_perms: Perms::new(u, &g.web_group, 0o2750),
        file_perms: Perms::new(u, &g.web_group, 0o640),
    });
    let text = r.render(
        "wordpress/wp-config.php.j2",
        &minijinja::context! {
            site => minijinja::value::Serde(site),
            site_file => site.file.display().to_string(),
            secrets_file => secrets_file.display().to_string(),
            db => minijinja::value::Serde(db),
            db_password => secrets.db_password.clone().unwrap_or_default(),
            db_host => db_host(map, g),
            db_client_flags => db_client_flags(g),
            salts => minijinja::value::Serde(&secrets.wp_salts),
            wp => minijinja::value::Serde(wp),
            tls => site.tls.is_some(),
            debug_log => map.show(&p.logs_dir.join("wp-debug.log")).display().to_string(),
        },
    )?;
    // Holds the database password: readable by the site's PHP only (nginx denies it anyway).
    // A change reloads the site's PHP-FPM master: opcache would serve the previous file for up
    // to `opcache.revalidate_freq` (2 s), the old database host after a failover among it.
    out.resources.push(Resource::File {
        path: p.document_root.join("wp-config.php"),
        contents: text.into_bytes(),
        perms: Perms::new(u, u, 0o600),
        site: Some(name.clone()),
        affects: site.php.as_ref().map_or(Affects::Nothing, |php| {
            Affects::Service(Service::PhpFpm(php.master()))
        }),
    });
    if site.cache == Cache::Fastcgi {
        out.resources.push(Resource::Dir {
            path: g.cache_dir.clone(),
            perms: Perms::root(0o755),
            site: None,
        });
        out.resources.push(Resource::Dir {
            path: g.cache_dir.join(site.name.as_str()),
            perms: Perms::new(&g.web_user, &g.web_group, 0o700),
            site: Some(name.clone()),
        });
    }
    out.wp_tables
        .push((db.database.clone(), format!("{}options", wp.table_prefix)));
    out.resources.push(Resource::WpInstall {
        site: name,
        database: db.database.clone(),
        table: format!("{}options", wp.table_prefix),
    });
    Ok(())
}
