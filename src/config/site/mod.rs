//! `Site`: the validated per-site model. Nothing below `config/` sees a site file as written.
//!
//! One file per section of a site file; this one holds the site itself and its top-level fields.
//! Validation reads nothing from the host: what a site file names that must exist there (TLS
//! files, the WordPress source) is recorded in `Site::requires` and checked by the engine's
//! preflight step.

mod access;
mod db;
mod health;
mod php;
mod proxy;
mod redirect;
mod s3;
mod tls;
mod wordpress;

pub use access::Access;
pub use db::SiteDb;
pub use health::Health;
pub use php::{ALLOWED_INI, Php, Pm, post_size_for};
pub use proxy::{Proxy, Upstream};
pub use redirect::Redirect;
pub use s3::{S3CacheRule, S3Site, valid_bucket};
pub use tls::{Challenge, Tls};
pub use wordpress::Wordpress;

use std::path::{Path, PathBuf};

use super::check::Ctx;
use super::error::ConfigError;
use super::file::{S, SiteFile};
use super::fqdn::{self, Fqdn};
use super::global::Global;
use super::names;
use super::values::printable;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SiteKind {
    Php,
    Static,
    Wordpress,
    Redirect,
    Proxy,
}

impl SiteKind {
    pub const ALLOWED: &'static str = "`php`, `static`, `wordpress`, `redirect`, `proxy`";

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "php" => Self::Php,
            "static" => Self::Static,
            "wordpress" => Self::Wordpress,
            "redirect" => Self::Redirect,
            "proxy" => Self::Proxy,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Php => "php",
            Self::Static => "static",
            Self::Wordpress => "wordpress",
            Self::Redirect => "redirect",
            Self::Proxy => "proxy",
        }
    }

    /// Kinds served through a PHP-FPM pool.
    pub fn uses_php(self) -> bool {
        matches!(self, Self::Php | Self::Wordpress)
    }
}

/// The nginx page cache of a site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cache {
    None,
    Fastcgi,
}

/// Paths and names derived from the site's name and the global paths.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SitePaths {
    pub site_dir: PathBuf,
    pub document_root: PathBuf,
    pub logs_dir: PathBuf,
    pub tmp_dir: PathBuf,
    pub sessions_dir: PathBuf,
    pub upload_tmp_dir: PathBuf,
    pub vhost: PathBuf,
    pub vhost_enabled: PathBuf,
    pub pool: Option<PathBuf>,
    pub pool_socket: Option<PathBuf>,
    pub access_log: PathBuf,
    pub error_log: PathBuf,
    pub php_error_log: PathBuf,
    pub slow_log: PathBuf,
    /// The basic-auth password file nginx reads (`access.basic_auth`).
    pub htpasswd: PathBuf,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Site {
    pub name: Fqdn,
    #[serde(skip)]
    pub file: PathBuf,
    pub kind: SiteKind,
    pub aliases: Vec<Fqdn>,
    pub enabled: bool,
    pub user: String,
    pub php: Option<Php>,
    pub tls: Option<Tls>,
    pub redirect: Option<Redirect>,
    /// The application behind a `proxy` site.
    pub proxy: Option<Proxy>,
    pub health: Health,
    pub db: Option<SiteDb>,
    pub wordpress: Option<Wordpress>,
    pub cache: Cache,
    pub s3: Option<S3Site>,
    /// Scheduled backups and retention (`backup:` section).
    pub backup: Option<super::backup::SiteBackup>,
    pub paths: SitePaths,
    /// The fail2ban jails watch this site's logs (`security.fail2ban`, default true).
    pub fail2ban: bool,
    /// Who may see the site (`access:` section).
    pub access: Access,
    /// Host paths this site needs (checked by the preflight step, not by validation).
    #[serde(skip)]
    pub requires: Vec<Requirement>,
}

/// Validates one parsed site file against the global configuration. Reads nothing from the
/// host: paths that must exist there are listed in `Site::requires`.
pub fn validate(
    file: &Path,
    f: SiteFile,
    global: &Global,
    errors: &mut Vec<ConfigError>,
) -> Option<Site> {
    let start = errors.len();
    let mut ctx = Ctx { file, errors };
    let ctx = &mut ctx;
    let name = site_name(ctx, &f.name);
    let kind = site_kind(ctx, &f.kind);
    let aliases = aliases(ctx, &f.aliases, name.as_ref());
    let document_root = document_root(ctx, f.document_root.as_ref());
    let php = php::section(ctx, f.php.as_ref(), kind, global);
    let redirect = redirect::section(ctx, f.redirect.as_ref(), &f.kind, kind);
    let site_dir = name
        .as_ref()
        .map(|n| global.paths.www_root.join(n.as_str()));
    let proxy = proxy::section(
        ctx,
        f.proxy.as_ref(),
        &f.kind,
        kind,
        (site_dir.as_deref(), &global.paths.run_dir),
    );
    let mut requires = Vec::new();
    let tls = tls::section(ctx, f.tls.as_ref(), name.as_ref(), global, &mut requires);
    let access = access::section(ctx, f.access.as_ref());
    let default_status = match kind {
        Some(SiteKind::Redirect) => redirect.as_ref().map_or(301, |r| r.code),
        _ if tls.as_ref().is_some_and(|t| t.redirect) => 301,
        // the probe does not log in: nginx answering with the login prompt is the site serving
        _ if access.basic_auth.is_some() => 401,
        _ => 200,
    };
    let health = health::section(ctx, f.health.as_ref(), default_status);
    let wants_db = f.db.is_some() || kind == Some(SiteKind::Wordpress);
    let db = match (&name, wants_db) {
        (Some(n), true) => db::section(ctx, n, f.db.as_ref(), global),
        _ => None,
    };
    let cache = cache(ctx, f.cache.as_ref(), kind);
    let s3 =
        f.s3.as_ref()
            .map(|s| s3::section(ctx, s, site_dir.as_deref()));
    let wordpress = wordpress::section(
        ctx,
        name.as_ref(),
        kind,
        f.wordpress.as_ref(),
        global,
        tls.is_some(),
        &mut requires,
    );
    let backup = backup(ctx, &f, kind, global);
    if ctx.errors.len() > start {
        return None;
    }
    let (name, kind) = (name?, kind?);
    let user = names::system_user(&name);
    let php = php.map(|mut php| {
        php.shard = global.shard_of(name.as_str());
        php
    });
    let paths = site_paths(global, &name, &user, &document_root, php.as_ref());
    let s3 = s3.map(|mut s| {
        // relative sources (and the default) are inside the site directory
        s.source = paths.site_dir.join(&s.source);
        s
    });
    Some(Site {
        name,
        file: file.to_path_buf(),
        kind,
        aliases,
        enabled: f.enabled.unwrap_or(true),
        user,
        php,
        tls,
        redirect,
        proxy,
        health,
        db,
        wordpress,
        cache,
        s3,
        backup,
        paths,
        fail2ban: f.security.as_ref().and_then(|s| s.fail2ban).unwrap_or(true),
        access,
        requires,
    })
}

fn site_name(ctx: &mut Ctx<'_>, v: &S<String>) -> Option<Fqdn> {
    match Fqdn::parse(&v.value) {
        Ok(n) => Some(n),
        Err(why) => {
            ctx.err(
                v,
                "name",
                format!("invalid site name `{}`: {why}", printable(&v.value)),
                Some(fqdn::ALLOWED),
            );
            None
        }
    }
}

fn site_kind(ctx: &mut Ctx<'_>, v: &S<String>) -> Option<SiteKind> {
    let kind = SiteKind::parse(&v.value);
    if kind.is_none() {
        ctx.err(
            v,
            "kind",
            format!("unknown kind `{}`", printable(&v.value)),
            Some(SiteKind::ALLOWED),
        );
    }
    kind
}

fn aliases(ctx: &mut Ctx<'_>, list: &[S<String>], name: Option<&Fqdn>) -> Vec<Fqdn> {
    let mut aliases = Vec::new();
    for (i, a) in list.iter().enumerate() {
        let field = format!("aliases[{i}]");
        match Fqdn::parse(&a.value) {
            Ok(n) if Some(&n) == name => {
                ctx.err(a, &field, "an alias repeats the site's own name", None);
            }
            Ok(n) if aliases.contains(&n) => {
                ctx.err(a, &field, format!("alias `{n}` is listed twice"), None);
            }
            Ok(n) => aliases.push(n),
            Err(why) => ctx.err(
                a,
                &field,
                format!("invalid alias `{}`: {why}", printable(&a.value)),
                Some(fqdn::ALLOWED),
            ),
        }
    }
    aliases
}

fn document_root(ctx: &mut Ctx<'_>, v: Option<&S<String>>) -> String {
    let Some(v) = v else {
        return "htdocs".to_owned();
    };
    let ok = !v.value.is_empty()
        && !v.value.starts_with('/')
        && v.value.split('/').all(|c| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
        });
    if !ok {
        ctx.err(
            v,
            "document_root",
            format!(
                "`{}` is not a relative directory inside the site",
                printable(&v.value)
            ),
            Some("a relative path like `htdocs` or `app/public`, without `..`"),
        );
    }
    v.value.clone()
}

fn cache(ctx: &mut Ctx<'_>, v: Option<&S<String>>, kind: Option<SiteKind>) -> Cache {
    match v.map(|v| (v, v.value.as_str())) {
        None | Some((_, "none")) => Cache::None,
        Some((_, "fastcgi")) if kind == Some(SiteKind::Wordpress) => Cache::Fastcgi,
        Some((v, "fastcgi")) => {
            ctx.err(
                v,
                "cache",
                "the fastcgi page cache is for `wordpress` sites (its bypass rules know WordPress)",
                None,
            );
            Cache::None
        }
        Some((v, other)) => {
            ctx.err(
                v,
                "cache",
                format!("unknown value `{}`", printable(other)),
                Some("`none`, `fastcgi`"),
            );
            Cache::None
        }
    }
}

/// The `backup` section, or the host-wide default for sites that have something to back up.
fn backup(
    ctx: &mut Ctx<'_>,
    f: &SiteFile,
    kind: Option<SiteKind>,
    global: &Global,
) -> Option<super::backup::SiteBackup> {
    match &f.backup {
        // opted out of the host-wide default
        Some(b) if b.enabled == Some(false) => None,
        Some(b) => {
            let v = super::backup::site_backup(ctx, b, "backup");
            if v.is_some() && global.backup.is_none() {
                ctx.err(
                    &f.name,
                    "backup",
                    "a `backup` section needs a repository: `backup.repository` in lempctl.yaml",
                    None,
                );
            } else if v.is_some() && kind == Some(SiteKind::Redirect) {
                ctx.err(
                    &f.name,
                    "backup",
                    "a `redirect` site has no files or database to back up",
                    None,
                );
            }
            v
        }
        None if kind.is_some_and(|k| k != SiteKind::Redirect) => {
            global.backup.as_ref().and_then(|b| b.site_default.clone())
        }
        None => None,
    }
}

/// Something a site file names that must exist on the host. Validation only records it (it
/// reads nothing from the host); the engine's preflight step checks it before anything is
/// planned, and reports a missing one against the field that named it.
#[derive(Debug, Clone)]
pub struct Requirement {
    pub field: &'static str,
    pub line: u64,
    pub column: u64,
    pub path: PathBuf,
    pub needs: Needs,
    /// Where the value came from, when the site file did not say it (a default in lempctl.yaml).
    pub default_from: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// A regular file under `--root` (a TLS certificate or key).
    File,
    /// A WordPress release tarball on the machine lempctl runs on.
    Tarball,
    /// A WordPress tree (with `wp-includes/version.php`) on the machine lempctl runs on.
    WordpressTree,
    /// An executable regular file on the machine lempctl runs on (a hook program).
    Executable,
    /// A root-only TSIG key file in BIND's format on the machine lempctl runs on.
    TsigKey,
}

impl Requirement {
    pub(crate) fn at<T>(v: &S<T>, field: &'static str, path: PathBuf, needs: Needs) -> Self {
        Self {
            field,
            line: v.referenced.line(),
            column: v.referenced.column(),
            path,
            needs,
            default_from: None,
        }
    }
}

/// The paths a site's resources live at.
pub fn site_paths(
    global: &Global,
    name: &Fqdn,
    user: &str,
    document_root: &str,
    php: Option<&Php>,
) -> SitePaths {
    let p = &global.paths;
    let site_dir = p.www_root.join(name.as_str());
    let conf = format!("{name}.conf");
    SitePaths {
        document_root: site_dir.join(document_root),
        logs_dir: site_dir.join("logs"),
        tmp_dir: site_dir.join("tmp"),
        sessions_dir: site_dir.join("sessions"),
        upload_tmp_dir: site_dir.join("upload-tmp"),
        vhost: p.nginx_dir.join("sites-available").join(&conf),
        vhost_enabled: p.nginx_dir.join("sites-enabled").join(&conf),
        pool: php.map(|php| {
            global
                .master(&php.version, php.shard)
                .pool_dir()
                .join(&conf)
        }),
        // a site moved to another master gets another socket, so nginx changes over only
        // once the new pool listens, and the old pool retires as a replaced one
        pool_socket: php.map(|php| {
            let file = match php.shard {
                0 => format!("{user}.sock"),
                n => format!("{user}.m{n}.sock"),
            };
            p.run_dir.join("php").join(file)
        }),
        access_log: p.nginx_log_dir.join(format!("{name}.access.log")),
        error_log: p.nginx_log_dir.join(format!("{name}.error.log")),
        php_error_log: site_dir.join("logs/php-error.log"),
        slow_log: p.php_log_dir.join(format!("{name}.slow.log")),
        htpasswd: p
            .nginx_dir
            .join("lempctl/auth")
            .join(format!("{name}.htpasswd")),
        site_dir,
    }
}
