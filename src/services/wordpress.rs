//! WordPress without wp-cli: core copied from a tree or a release tarball, and small PHP programs
//! shipped in the binary (install, tasks) run with PHP CLI as the site's own user, confined like
//! the site's pool (see `php`). Secrets reach PHP through the environment lempctl builds for it
//! (never the caller's, never argv).

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::config::global::Global;
use crate::config::site::Site;
use crate::host::exec::{Cmd, Confinement, DEFAULT_MAX_OUTPUT};
use crate::host::{Journal, Links, Perms, Root, accounts};
use crate::render::context::{self, PathMap};
use crate::render::templates;

/// Copies WordPress core into `dest` (the document root). A tarball is checked against `sha256`
/// when given and unpacked first, into `stage`: a root-only directory outside the site's tree.
/// Debian's loader `wp-config.php` and `.htaccess` are left out.
#[allow(clippy::too_many_arguments)]
pub(crate) fn copy_core(
    root: &Root,
    g: &Global,
    journal: &mut Journal,
    source: &Path,
    sha256: Option<&str>,
    dest: &Path,
    stage: &Path,
    dir_perms: &Perms,
    file_perms: &Perms,
) -> Result<usize> {
    let skip = ["wp-config.php", ".htaccess", "wp-config-sample.php"];
    let is_tarball = source.extension().is_some_and(|e| e == "gz" || e == "tgz");
    if !is_tarball {
        return root.copy_tree(
            journal,
            source,
            dest,
            &skip,
            Links::FollowTrusted,
            dir_perms,
            file_perms,
        );
    }
    if let Some(want) = sha256 {
        let mut f =
            std::fs::File::open(source).with_context(|| format!("opening {}", source.display()))?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        let got = hex::encode(h.finalize());
        if got != want {
            bail!("{}: sha256 is {got}, expected {want}", source.display());
        }
    }
    let unpacked = stage;
    let real = root.path(unpacked);
    root.remove_tree(unpacked)?;
    root.ensure_dir(&mut Journal::default(), unpacked, &Perms::root(0o700))?;
    let result = Cmd::new(&g.programs.tar)
        .args(["--no-same-owner", "--strip-components=1", "-xzf"])
        .arg(source)
        .arg("-C")
        .arg(&real)
        .run()
        .map_err(anyhow::Error::from)
        .and_then(|_| {
            if !real.join("wp-includes/version.php").is_file() {
                bail!(
                    "{} is not a WordPress release (no wordpress/wp-includes/version.php)",
                    source.display()
                );
            }
            root.copy_tree(
                journal,
                &real,
                dest,
                &skip,
                Links::FollowTrusted,
                dir_perms,
                file_perms,
            )
        });
    let _ = root.remove_tree(unpacked);
    result
}

/// PHP CLI for the site, with the pool's restrictions (`open_basedir`, `disable_functions`, temp,
/// upload and session directories, `sendmail_path`), and how it is confined when it runs: as the
/// site user in a session of its own, with a fixed environment, `wordpress.php_timeout` and an
/// output cap (`host::exec::Cmd::output_confined`).
fn php(root: &Root, g: &Global, site: &Site) -> Result<(Cmd, Confinement)> {
    let version = site.php.as_ref().map_or(&g.php_version, |p| &p.version);
    let map = PathMap::new(root, g);
    let mut cmd = Cmd::new(g.fpm(version).cli()).args([
        "-d",
        "memory_limit=512M",
        "-d",
        "display_errors=stderr",
    ]);
    for setting in context::php_cli_settings(&map, g, site) {
        cmd = cmd.arg("-d").arg(setting);
    }
    let (uid, gid) = accounts::resolve(&site.user, &site.user)?;
    let confinement = Confinement {
        uid,
        gid,
        home: map.show(&site.paths.site_dir),
        timeout: Duration::from_secs(g.wordpress_php_timeout.into()),
        max_output: DEFAULT_MAX_OUTPUT,
    };
    Ok((cmd, confinement))
}

/// Runs what `wp core install` does, with the stored admin `password`. An already installed site
/// is left alone.
pub(crate) fn install(root: &Root, g: &Global, site: &Site, password: &str) -> Result<()> {
    let wp = site.wordpress.as_ref().context("a WordPress site")?;
    let docroot = PathMap::new(root, g).show(&site.paths.document_root);
    let script = templates::embedded("wordpress/install.php").context("embedded installer")?;
    let (cmd, confinement) = php(root, g, site)?;
    let out = cmd
        .arg("--")
        .arg(&docroot)
        .args([
            &wp.url,
            &wp.title,
            &wp.admin_user,
            &wp.admin_email,
            &wp.locale,
        ])
        .env("LEMPCTL_WP_ADMIN_PASSWORD", password)
        .stdin(script.as_bytes().to_vec())
        .output_confined(&confinement)?;
    match out.status.code() {
        Some(0 | 3) => Ok(()),
        _ => bail!(
            "installing WordPress for {} failed:\n{}{}",
            site.name,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}

/// Runs due WordPress cron events (`wp-cron.php` with PHP CLI, as the site user).
pub(crate) fn run_cron(root: &Root, g: &Global, site: &Site) -> Result<String> {
    let wp = site.wordpress.as_ref().context("a WordPress site")?;
    let docroot = PathMap::new(root, g).show(&site.paths.document_root);
    let host = wp
        .url
        .split("://")
        .nth(1)
        .unwrap_or(site.name.as_str())
        .to_owned();
    let (cmd, confinement) = php(root, g, site)?;
    let out = cmd
        .arg("-f")
        .arg(docroot.join("wp-cron.php"))
        .env("HTTP_HOST", host)
        .run_confined(&confinement)
        .with_context(|| format!("running WordPress cron of {}", site.name))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Sets the admin user's password (from the environment of the PHP task).
pub(crate) fn set_admin_password(
    root: &Root,
    g: &Global,
    site: &Site,
    password: &str,
) -> Result<()> {
    let wp = site.wordpress.as_ref().context("a WordPress site")?;
    let docroot = PathMap::new(root, g).show(&site.paths.document_root);
    let script = templates::embedded("wordpress/tasks.php").context("embedded tasks")?;
    let (cmd, confinement) = php(root, g, site)?;
    cmd.arg("--")
        .arg(&docroot)
        .arg("set-admin-password")
        .env("LEMPCTL_WP_ADMIN", &wp.admin_user)
        .env("LEMPCTL_WP_ADMIN_PASSWORD", password)
        .env("LEMPCTL_WP_HOST", site.name.as_str())
        .stdin(script.as_bytes().to_vec())
        .run_confined(&confinement)?;
    Ok(())
}
