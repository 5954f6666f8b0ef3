//! `Site`: the validated per-site model. Nothing below `config/` sees a site file as written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::check::{Ctx, valid_php_version};
use super::error::ConfigError;
use super::file::{S, SiteFile};
use super::fqdn::{self, Fqdn};
use super::global::Global;
use super::names;
use super::schedule::{self, Schedule};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SiteKind {
    Php,
    Static,
    Wordpress,
    Redirect,
}

impl SiteKind {
    pub const ALLOWED: &'static str = "`php`, `static`, `wordpress`, `redirect`";

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "php" => Self::Php,
            "static" => Self::Static,
            "wordpress" => Self::Wordpress,
            "redirect" => Self::Redirect,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Php => "php",
            Self::Static => "static",
            Self::Wordpress => "wordpress",
            Self::Redirect => "redirect",
        }
    }

    /// Kinds served through a PHP-FPM pool.
    pub fn uses_php(self) -> bool {
        matches!(self, Self::Php | Self::Wordpress)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pm {
    Ondemand,
    Dynamic,
    Static,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Php {
    pub version: String,
    pub pm: Pm,
    pub max_children: u32,
    pub process_idle_timeout: u32,
    pub max_requests: u32,
    pub memory_limit: String,
    /// The largest file one upload may carry (`php.upload_max_size`, as written).
    pub upload_max_size: String,
    /// PHP's `upload_max_filesize`: always `upload_max_size`.
    pub upload_max_filesize: String,
    /// PHP's `post_max_size` and nginx's `client_max_body_size`: derived from `upload_max_size`
    /// by `post_size_for` (room for the multipart envelope and the other form fields).
    pub post_max_size: String,
    pub max_execution_time: u32,
    pub slowlog_timeout: u32,
    pub disable_functions: Vec<String>,
    pub ini: BTreeMap<String, String>,
    /// Deprecated fields found in the site file, one message each (`file:line:column: ...`),
    /// reported as warnings by `apply`.
    #[serde(skip)]
    pub deprecations: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Tls {
    pub certificate: PathBuf,
    pub key: PathBuf,
    pub redirect: bool,
    pub hsts: bool,
    pub hsts_max_age: u32,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Redirect {
    pub to: String,
    pub code: u16,
    pub preserve_path: bool,
}

/// A site's S3 mirror (`s3` section): where its static export goes and how.
#[derive(Debug, Clone, serde::Serialize)]
pub struct S3Site {
    pub bucket: String,
    pub prefix: Option<String>,
    pub region: String,
    pub endpoint: Option<String>,
    pub path_style: bool,
    /// Host path of the tree to publish (default `<site_dir>/static`).
    pub source: PathBuf,
    /// Added to the built-in excludes.
    pub excludes: Vec<String>,
    pub delete_excluded: bool,
    pub cache_control: Vec<S3CacheRule>,
    pub max_delete_share: f64,
    pub concurrency: u32,
    pub schedule: Option<Schedule>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct S3CacheRule {
    pub glob: String,
    pub value: String,
}

/// The nginx page cache of a site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cache {
    None,
    Fastcgi,
}

/// Settings of a `wordpress` site.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Wordpress {
    pub title: String,
    pub admin_user: String,
    pub admin_email: String,
    pub admin_password_file: Option<PathBuf>,
    pub locale: String,
    pub url: String,
    pub table_prefix: String,
    /// A WordPress tree or a release tarball (a path on the machine lempctl runs on).
    pub source: PathBuf,
    pub source_sha256: Option<String>,
    pub debug_log: bool,
    pub xmlrpc: bool,
    pub cron: super::schedule::Schedule,
}

/// A site's database and its user (names validated for MariaDB).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SiteDb {
    pub database: String,
    pub user: String,
    pub charset: String,
    pub collation: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Health {
    pub enabled: bool,
    pub path: String,
    pub status: u16,
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
    pub health: Health,
    pub db: Option<SiteDb>,
    pub wordpress: Option<Wordpress>,
    pub cache: Cache,
    pub s3: Option<S3Site>,
    /// Scheduled backups and retention (`backup:` section).
    pub backup: Option<super::backup::SiteBackup>,
    pub paths: SitePaths,
}

const SIZE_ALLOWED: &str = "a size like `128M`, `2G` or `512K`";
const INI_KEY_ALLOWED: &str =
    "lower-case ini names like `max_input_vars` or `session.gc_maxlifetime`";

fn valid_size(s: &str) -> bool {
    size_bytes(s).is_some()
}

const MIB: u64 = 1 << 20;

/// Bytes of a size as PHP and nginx read it: digits with an optional `K`, `M` or `G`.
pub fn size_bytes(s: &str) -> Option<u64> {
    let (digits, unit) = match s.as_bytes().last()? {
        b'K' => (&s[..s.len() - 1], 1 << 10),
        b'M' => (&s[..s.len() - 1], MIB),
        b'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(unit)
}

/// Bounds of `php.upload_max_size`.
const UPLOAD_MIN: u64 = MIB;
const UPLOAD_MAX: u64 = 4 << 30;
const UPLOAD_ALLOWED: &str =
    "a size from `1M` to `4G`: digits with `K`, `M` or `G`, e.g. `64M`, `1G`, `1536K`";

/// The request body an upload of `upload` bytes needs, in whole MiB: PHP's `post_max_size` and
/// nginx's `client_max_body_size`. The upload rounded up to MiB, plus a tenth of it (rounded up),
/// at least 1 MiB, for the multipart envelope and the other fields of the form:
/// `4M` → `5M`, `64M` → `71M`, `1G` → `1127M`.
pub fn post_size_for(upload: u64) -> String {
    let mib = upload.div_ceil(MIB);
    format!("{}M", mib + mib.div_ceil(10).max(1))
}

fn valid_ini_value(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || " -_.,:/@+=".contains(c))
}

fn valid_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    let host_ok = match rest {
        Some(r) => {
            let host = r.split(['/', '?', '#']).next().unwrap_or("");
            let host_only = host.rsplit_once(':').map_or(host, |(h, p)| {
                if p.chars().all(|c| c.is_ascii_digit()) {
                    h
                } else {
                    host
                }
            });
            Fqdn::parse(host_only).is_ok() || host_only.parse::<std::net::IpAddr>().is_ok()
        }
        None => false,
    };
    host_ok
        && s.chars()
            .all(|c| c.is_ascii_graphic() && !"\"'`;{}$\\<>".contains(c))
}

fn valid_url_path(s: &str) -> bool {
    s.starts_with('/')
        && s.chars()
            .all(|c| c.is_ascii_graphic() && !"\"'`;{}$\\<>#".contains(c))
}

/// Validates one parsed site file against the global configuration.
pub fn validate(
    file: &Path,
    f: SiteFile,
    global: &Global,
    root: &crate::host::Root,
    errors: &mut Vec<ConfigError>,
) -> Option<Site> {
    let start = errors.len();
    let mut ctx = Ctx { file, errors };
    let name = match Fqdn::parse(&f.name.value) {
        Ok(n) => Some(n),
        Err(why) => {
            ctx.err(
                &f.name,
                "name",
                format!("invalid site name `{}`: {why}", printable(&f.name.value)),
                Some(fqdn::ALLOWED),
            );
            None
        }
    };
    let kind = SiteKind::parse(&f.kind.value);
    if kind.is_none() {
        ctx.err(
            &f.kind,
            "kind",
            format!("unknown kind `{}`", printable(&f.kind.value)),
            Some(SiteKind::ALLOWED),
        );
    }
    let mut aliases = Vec::new();
    for (i, a) in f.aliases.iter().enumerate() {
        match Fqdn::parse(&a.value) {
            Ok(n) if Some(&n) == name.as_ref() => ctx.err(
                a,
                &format!("aliases[{i}]"),
                "an alias repeats the site's own name",
                None,
            ),
            Ok(n) if aliases.contains(&n) => ctx.err(
                a,
                &format!("aliases[{i}]"),
                format!("alias `{n}` is listed twice"),
                None,
            ),
            Ok(n) => aliases.push(n),
            Err(why) => ctx.err(
                a,
                &format!("aliases[{i}]"),
                format!("invalid alias `{}`: {why}", printable(&a.value)),
                Some(fqdn::ALLOWED),
            ),
        }
    }
    let document_root = match &f.document_root {
        None => "htdocs".to_owned(),
        Some(v) => {
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
    };
    let php = match kind {
        Some(k) if k.uses_php() => Some(php_settings(&mut ctx, f.php.as_ref(), global)),
        _ => {
            if let Some(p) = &f.php
                && let Some(v) = &p.version
            {
                ctx.err(
                    v,
                    "php",
                    format!(
                        "a `{}` site does not run PHP",
                        kind.map_or("?", SiteKind::as_str)
                    ),
                    Some("`php` settings on `php` and `wordpress` sites"),
                );
            }
            None
        }
    };
    let redirect = match (&f.redirect, kind) {
        (Some(r), Some(SiteKind::Redirect)) => {
            if !valid_url(&r.to.value) {
                ctx.err(
                    &r.to,
                    "redirect.to",
                    format!("`{}` is not an http(s) URL", printable(&r.to.value)),
                    Some("`https://host/path` without quotes, spaces, `;`, `{`, `}` or `$`"),
                );
            }
            let code = r.code.as_ref().map_or(301, |c| c.value);
            if let Some(c) = &r.code
                && ![301, 302, 307, 308].contains(&c.value)
            {
                ctx.err(
                    c,
                    "redirect.code",
                    format!("{} is not a redirect status", c.value),
                    Some("301, 302, 307, 308"),
                );
            }
            Some(Redirect {
                to: r.to.value.trim_end_matches('/').to_owned(),
                code,
                preserve_path: r.preserve_path.unwrap_or(true),
            })
        }
        (None, Some(SiteKind::Redirect)) => {
            ctx.err(
                &f.kind,
                "redirect",
                "a `redirect` site needs a `redirect.to` URL",
                None,
            );
            None
        }
        (Some(r), _) => {
            ctx.err(
                &r.to,
                "redirect",
                "only `redirect` sites take a `redirect` section",
                None,
            );
            None
        }
        (None, _) => None,
    };
    let tls = f.tls.as_ref().map(|t| {
        for (v, field) in [(&t.certificate, "tls.certificate"), (&t.key, "tls.key")] {
            if !v.value.starts_with('/') || !super::global::safe_token(&v.value) {
                ctx.err(
                    v,
                    field,
                    format!("`{}` is not an absolute path", printable(&v.value)),
                    Some("an absolute path without spaces or special characters"),
                );
            } else if !root.path(Path::new(&v.value)).is_file() {
                ctx.err(
                    v,
                    field,
                    format!("`{}` does not exist", v.value),
                    Some("an existing certificate (PEM) file; lempctl does not create it"),
                );
            }
        }
        Tls {
            certificate: PathBuf::from(&t.certificate.value),
            key: PathBuf::from(&t.key.value),
            redirect: t.redirect.unwrap_or(true),
            hsts: t.hsts.unwrap_or(false),
            hsts_max_age: t.hsts_max_age.as_ref().map_or(31_536_000, |v| v.value),
        }
    });
    let tls_on = tls.is_some();
    let default_status = match kind {
        Some(SiteKind::Redirect) => redirect.as_ref().map_or(301, |r| r.code),
        _ if tls.as_ref().is_some_and(|t| t.redirect) => 301,
        _ => 200,
    };
    let health = {
        let h = f.health.as_ref();
        let path = h.and_then(|h| h.path.as_ref());
        if let Some(p) = path
            && !valid_url_path(&p.value)
        {
            ctx.err(
                p,
                "health.path",
                format!("`{}` is not a URL path", printable(&p.value)),
                Some("a path starting with `/`"),
            );
        }
        let status = h.and_then(|h| h.status.as_ref());
        if let Some(s) = status
            && !(100..=599).contains(&s.value)
        {
            ctx.err(
                s,
                "health.status",
                format!("{} is not an HTTP status", s.value),
                Some("100-599"),
            );
        }
        Health {
            enabled: h.and_then(|h| h.enabled).unwrap_or(true),
            path: path.map_or("/".to_owned(), |p| p.value.clone()),
            status: status.map_or(default_status, |s| s.value),
        }
    };
    let wants_db = f.db.is_some() || kind == Some(SiteKind::Wordpress);
    let db = match (&name, wants_db) {
        (Some(n), true) => site_db(&mut Ctx { file, errors }, n, f.db.as_ref(), global),
        _ => None,
    };
    let cache = match f.cache.as_ref().map(|v| (v, v.value.as_str())) {
        None | Some((_, "none")) => Cache::None,
        Some((_, "fastcgi")) if kind == Some(SiteKind::Wordpress) => Cache::Fastcgi,
        Some((v, "fastcgi")) => {
            ctx_err(
                file,
                errors,
                v,
                "cache",
                "the fastcgi page cache is for `wordpress` sites (its bypass rules know WordPress)",
                None,
            );
            Cache::None
        }
        Some((v, other)) => {
            ctx_err(
                file,
                errors,
                v,
                "cache",
                &format!("unknown value `{}`", printable(other)),
                Some("`none`, `fastcgi`"),
            );
            Cache::None
        }
    };
    let site_dir = name
        .as_ref()
        .map(|n| global.paths.www_root.join(n.as_str()));
    let s3 =
        f.s3.as_ref()
            .map(|s| s3_settings(&mut Ctx { file, errors }, s, site_dir.as_deref()));
    let wordpress = match (&name, kind) {
        (Some(n), Some(SiteKind::Wordpress)) => wordpress(
            &mut Ctx { file, errors },
            n,
            f.wordpress.as_ref(),
            global,
            tls_on,
        ),
        (_, _) => {
            if let Some(w) = &f.wordpress
                && let Some(t) = &w.title
            {
                ctx_err(
                    file,
                    errors,
                    t,
                    "wordpress",
                    "only `wordpress` sites take a `wordpress` section",
                    None,
                );
            }
            None
        }
    };
    let backup = match &f.backup {
        // opted out of the host-wide default
        Some(b) if b.enabled == Some(false) => None,
        Some(b) => {
            let v = super::backup::site_backup(&mut Ctx { file, errors }, b, "backup");
            if v.is_some() && global.backup.is_none() {
                ctx_err(
                    file,
                    errors,
                    &f.name,
                    "backup",
                    "a `backup` section needs a repository: `backup.repository` in lempctl.yaml",
                    None,
                );
            } else if v.is_some() && kind == Some(SiteKind::Redirect) {
                ctx_err(
                    file,
                    errors,
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
    };
    if errors.len() > start {
        return None;
    }
    let (name, kind) = (name?, kind?);
    let user = names::system_user(&name);
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
        health,
        db,
        wordpress,
        cache,
        s3,
        backup,
        paths,
    })
}

fn ctx_err<T>(
    file: &Path,
    errors: &mut Vec<ConfigError>,
    v: &S<T>,
    field: &str,
    problem: &str,
    allowed: Option<&str>,
) {
    Ctx { file, errors }.err(v, field, problem, allowed);
}

const EMAIL_ALLOWED: &str = "an address like `admin@example.test`";

fn valid_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && local.len() <= 64
                && local
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c))
                && Fqdn::parse(domain).is_ok()
        }
        None => false,
    }
}

fn wordpress(
    ctx: &mut Ctx<'_>,
    name: &Fqdn,
    f: Option<&super::file::WordpressFile>,
    g: &Global,
    tls: bool,
) -> Option<Wordpress> {
    let none = super::file::WordpressFile::default();
    let f = f.unwrap_or(&none);
    let title = match &f.title {
        Some(t) if t.value.trim().is_empty() => {
            ctx.err(
                t,
                "wordpress.title",
                "the title is empty",
                Some("1-200 printable characters"),
            );
            String::new()
        }
        Some(t) if t.value.chars().count() > 200 || t.value.chars().any(char::is_control) => {
            ctx.err(
                t,
                "wordpress.title",
                "the title is too long or contains control characters",
                Some("1-200 printable characters"),
            );
            String::new()
        }
        Some(t) => t.value.clone(),
        None => name.to_string(),
    };
    let admin_user = match &f.admin_user {
        Some(u)
            if u.value.is_empty()
                || u.value.len() > 60
                || !u
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.@-".contains(c)) =>
        {
            ctx.err(
                u,
                "wordpress.admin_user",
                format!("`{}` is not a WordPress user name", printable(&u.value)),
                Some("1-60 of `A-Z a-z 0-9 _ . @ -`"),
            );
            String::new()
        }
        Some(u) => u.value.clone(),
        None => "admin".to_owned(),
    };
    let admin_email = match &f.admin_email {
        Some(e) if !valid_email(&e.value) => {
            ctx.err(
                e,
                "wordpress.admin_email",
                format!("`{}` is not an email address", printable(&e.value)),
                Some(EMAIL_ALLOWED),
            );
            String::new()
        }
        Some(e) => e.value.clone(),
        None => format!("admin@{name}"),
    };
    let locale = match &f.locale {
        Some(l) => {
            let ok = {
                let (lang, country) = l.value.split_once('_').unwrap_or((&l.value, ""));
                (2..=3).contains(&lang.len())
                    && lang.chars().all(|c| c.is_ascii_lowercase())
                    && (country.is_empty()
                        || (country.len() == 2 && country.chars().all(|c| c.is_ascii_uppercase())))
            };
            if !ok {
                ctx.err(
                    l,
                    "wordpress.locale",
                    format!("`{}` is not a locale", printable(&l.value)),
                    Some("`en_US`, `de_DE`, `fr`…"),
                );
            }
            l.value.clone()
        }
        None => "en_US".to_owned(),
    };
    let default_url = {
        let (scheme, listen, default_port) = if tls {
            ("https", &g.listen_https, 443)
        } else {
            ("http", &g.listen_http, 80)
        };
        if listen.port == default_port {
            format!("{scheme}://{name}")
        } else {
            format!("{scheme}://{name}:{}", listen.port)
        }
    };
    let url = match &f.url {
        Some(u) if !valid_url(&u.value) => {
            ctx.err(
                u,
                "wordpress.url",
                format!("`{}` is not an http(s) URL", printable(&u.value)),
                Some("`https://host` without a trailing path"),
            );
            default_url
        }
        Some(u) => u.value.trim_end_matches('/').to_owned(),
        None => default_url,
    };
    let table_prefix = match &f.table_prefix {
        Some(p)
            if p.value.is_empty()
                || p.value.len() > 20
                || !p.value.ends_with('_')
                || !p
                    .value
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') =>
        {
            ctx.err(
                p,
                "wordpress.table_prefix",
                format!("`{}` is not a table prefix", printable(&p.value)),
                Some("lower-case letters, digits and `_`, ending with `_`, up to 20 chars"),
            );
            String::new()
        }
        Some(p) => p.value.clone(),
        None => "wp_".to_owned(),
    };
    let source = match &f.source {
        Some(s) if !s.value.starts_with('/') => {
            ctx.err(
                s,
                "wordpress.source",
                "the source must be an absolute path",
                Some("a WordPress directory or a `.tar.gz` release"),
            );
            PathBuf::new()
        }
        Some(s) if !under_roots(&s.value, &g.wordpress_allowed_sources) => {
            ctx.err(
                s,
                "wordpress.source",
                format!(
                    "`{}` is not under an allowed source root (lempctl.yaml `wordpress.allowed_sources`)",
                    printable(&s.value)
                ),
                Some(&format!(
                    "a WordPress directory or a `.tar.gz` release under {}, without `..`",
                    list_roots(&g.wordpress_allowed_sources)
                )),
            );
            PathBuf::new()
        }
        Some(s) => PathBuf::from(&s.value),
        None => g.wordpress_source.clone(),
    };
    let is_tarball =
        source.to_string_lossy().ends_with(".tar.gz") || source.to_string_lossy().ends_with(".tgz");
    let source_ok = if is_tarball {
        source.is_file()
    } else {
        source.join("wp-includes/version.php").is_file()
    };
    if !source_ok && !source.as_os_str().is_empty() {
        let problem = if is_tarball {
            format!("{} does not exist", source.display())
        } else {
            format!(
                "{} is not a WordPress tree (no wp-includes/version.php)",
                source.display()
            )
        };
        match &f.source {
            Some(s) => ctx.err(
                s,
                "wordpress.source",
                problem,
                Some("a WordPress directory (Debian: /usr/share/wordpress) or a `.tar.gz` release"),
            ),
            None => ctx.errors.push(ConfigError::new(
                ctx.file,
                0,
                0,
                "wordpress.source",
                format!("{problem} (the default from lempctl.yaml `wordpress.source`)"),
            )),
        }
    }
    let source_sha256 = f.source_sha256.as_ref().and_then(|h| {
        if h.value.len() == 64 && h.value.chars().all(|c| c.is_ascii_hexdigit()) {
            Some(h.value.to_ascii_lowercase())
        } else {
            ctx.err(
                h,
                "wordpress.source_sha256",
                "not a SHA-256 hex digest",
                Some("64 hex digits"),
            );
            None
        }
    });
    let admin_password_file = f.admin_password_file.as_ref().and_then(|p| {
        let roots = [g.config_dir.clone(), g.paths.state_dir.clone()];
        let secret = lempctl_secret(g, Path::new(&p.value));
        if p.value.chars().any(char::is_control) || !under_roots(&p.value, &roots) || secret {
            let problem = if secret {
                format!("`{}` is one of lempctl's own secrets", printable(&p.value))
            } else {
                format!(
                    "`{}` is not under the lempctl configuration or state directory",
                    printable(&p.value)
                )
            };
            ctx.err(
                p,
                "wordpress.admin_password_file",
                problem,
                Some(&format!(
                    "an absolute path under {}, without `..`, other than lempctl's credential files",
                    list_roots(&roots)
                )),
            );
            return None;
        }
        Some(PathBuf::from(&p.value))
    });
    let cron = match &f.cron {
        Some(c) => match super::schedule::Schedule::parse(&c.value) {
            Ok(s) => s,
            Err(e) => {
                ctx.err(c, "wordpress.cron", e, Some(super::schedule::ALLOWED));
                super::schedule::Schedule::parse("*/5 * * * *").ok()?
            }
        },
        None => super::schedule::Schedule::parse("*/5 * * * *").ok()?,
    };
    Some(Wordpress {
        title,
        admin_user,
        admin_email,
        admin_password_file,
        locale,
        url,
        table_prefix,
        source,
        source_sha256,
        debug_log: f.debug_log.unwrap_or(false),
        xmlrpc: f.xmlrpc.unwrap_or(false),
        cron,
    })
}

fn site_db(
    ctx: &mut Ctx<'_>,
    name: &Fqdn,
    f: Option<&super::file::SiteDbFile>,
    global: &Global,
) -> Option<SiteDb> {
    use crate::services::mariadb::names::resolve_names;
    let none = super::file::SiteDbFile::default();
    let f = f.unwrap_or(&none);
    let names = match resolve_names(
        name.as_str(),
        f.name.as_ref().map(|v| v.value.as_str()),
        f.user.as_ref().map(|v| v.value.as_str()),
    ) {
        Ok(n) => n,
        Err(e) => {
            let text = e.to_string();
            let (field, v) = if text.contains("user") && f.user.is_some() {
                ("db.user", f.user.as_ref())
            } else {
                ("db.name", f.name.as_ref().or(f.user.as_ref()))
            };
            match v {
                Some(v) => ctx.err(v, field, text, Some("`A-Z`, `a-z`, `0-9` and `_`; database names up to 64 chars, user names up to 32")),
                None => ctx.errors.push(ConfigError::new(ctx.file, 0, 0, field, text)),
            }
            return None;
        }
    };
    let mut word = |v: &Option<S<String>>, field: &str, default: &str| match v {
        Some(v)
            if !v.value.is_empty()
                && v.value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            v.value.clone()
        }
        Some(v) => {
            ctx.err(
                v,
                field,
                format!(
                    "`{}` is not a character set or collation name",
                    printable(&v.value)
                ),
                Some("letters, digits and `_`"),
            );
            default.to_owned()
        }
        None => default.to_owned(),
    };
    let charset = word(&f.charset, "db.charset", &global.database.charset);
    let collation = word(&f.collation, "db.collation", &global.database.collation);
    Some(SiteDb {
        database: names.database,
        user: names.user,
        charset,
        collation,
    })
}

/// S3 bucket naming rules (general purpose buckets).
pub fn valid_bucket(b: &str) -> Result<(), String> {
    if !(3..=63).contains(&b.len()) {
        return Err(format!("{} characters; 3-63 are allowed", b.len()));
    }
    if !b
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return Err("only lower-case letters, digits, `.` and `-` are allowed".into());
    }
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge(b.chars().next()) || !edge(b.chars().last()) {
        return Err("must begin and end with a letter or digit".into());
    }
    if b.contains("..") || b.contains(".-") || b.contains("-.") {
        return Err("`..`, `.-` and `-.` are not allowed".into());
    }
    if b.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err("must not look like an IP address".into());
    }
    for p in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if b.starts_with(p) {
            return Err(format!("the prefix `{p}` is reserved"));
        }
    }
    for sfx in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if b.ends_with(sfx) {
            return Err(format!("the suffix `{sfx}` is reserved"));
        }
    }
    Ok(())
}

/// An `http(s)://host[:port][/path]` endpoint URL.
pub fn valid_endpoint(s: &str) -> bool {
    let Some(rest) = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
    else {
        return false;
    };
    let hostport = rest.split('/').next().unwrap_or("");
    let (host, port) = if let Some(r) = hostport.strip_prefix('[') {
        match r.split_once(']') {
            Some((h, p)) if h.parse::<std::net::Ipv6Addr>().is_ok() => ("v6", p),
            _ => return false,
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, p),
            None => (hostport, ""),
        }
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .unwrap_or(port)
            .parse::<u16>()
            .is_ok_and(|p| p > 0);
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    host_ok
        && port_ok
        && s.chars()
            .all(|c| c.is_ascii_graphic() && !"\"'`;{}$\\<>".contains(c))
}

/// A header value: visible ASCII and spaces, no line breaks.
fn valid_header_value(s: &str) -> bool {
    !s.trim().is_empty() && s.len() <= 1024 && s.chars().all(|c| c == ' ' || c.is_ascii_graphic())
}

/// `site_dir`: the site's directory (host path) when its name is valid.
fn s3_settings(ctx: &mut Ctx<'_>, f: &super::file::S3File, site_dir: Option<&Path>) -> S3Site {
    use crate::services::s3::check_pattern;
    if let Err(why) = valid_bucket(&f.bucket.value) {
        ctx.err(
            &f.bucket,
            "s3.bucket",
            format!("`{}` is not a valid bucket name: {why}", printable(&f.bucket.value)),
            Some("3-63 lower-case letters, digits, `.` and `-`, starting and ending with a letter or digit"),
        );
    }
    let prefix = f.prefix.as_ref().and_then(|v| {
        let p = v.value.trim_matches('/');
        let ok = v.value.len() <= 512
            && !v.value.chars().any(char::is_control)
            && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
            || p.is_empty();
        if !ok {
            ctx.err(
                v,
                "s3.prefix",
                format!("`{}` is not a key prefix", printable(&v.value)),
                Some("`/`-separated segments without `.`, `..`, empty segments or control characters"),
            );
        }
        (!p.is_empty()).then(|| p.to_owned())
    });
    let region = match &f.region {
        Some(v)
            if !v.value.is_empty()
                && v.value.len() <= 32
                && v.value
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') =>
        {
            v.value.clone()
        }
        Some(v) => {
            ctx.err(
                v,
                "s3.region",
                format!("`{}` is not a region name", printable(&v.value)),
                Some("lower-case letters, digits and `-`, e.g. `eu-central-1`"),
            );
            "us-east-1".to_owned()
        }
        None => "us-east-1".to_owned(),
    };
    let endpoint = f.endpoint.as_ref().and_then(|v| {
        if valid_endpoint(&v.value) {
            Some(v.value.trim_end_matches('/').to_owned())
        } else {
            ctx.err(
                v,
                "s3.endpoint",
                format!("`{}` is not an http(s) URL", printable(&v.value)),
                Some("`https://s3.example.com` or `http://127.0.0.1:9000`"),
            );
            None
        }
    });
    let source = match &f.source {
        None => PathBuf::from("static"),
        Some(v) => {
            let p = Path::new(&v.value);
            let inside = p.components().all(|c| {
                matches!(
                    c,
                    std::path::Component::Normal(_) | std::path::Component::CurDir
                )
            });
            let abs_ok = site_dir.is_some_and(|d| under_roots(&v.value, &[d.to_path_buf()]));
            if v.value.is_empty() || v.value.chars().any(char::is_control) || !(inside || abs_ok) {
                let shown = site_dir.map_or_else(
                    || "the site directory".to_owned(),
                    |d| format!("`{}`", d.display()),
                );
                ctx.err(
                    v,
                    "s3.source",
                    format!(
                        "`{}` is not inside the site directory {shown}",
                        printable(&v.value)
                    ),
                    Some(&format!("a relative path inside the site directory (like `static`), or an absolute path under {shown}, without `..`")),
                );
            }
            PathBuf::from(&v.value)
        }
    };
    let mut excludes = Vec::new();
    for (i, v) in f.excludes.iter().enumerate() {
        match check_pattern(&v.value) {
            Ok(()) if !v.value.chars().any(char::is_control) => excludes.push(v.value.clone()),
            Ok(()) => ctx.err(
                v,
                &format!("s3.excludes[{i}]"),
                "control characters in a pattern",
                None,
            ),
            Err(why) => ctx.err(
                v,
                &format!("s3.excludes[{i}]"),
                format!("`{}` is not a glob pattern: {why}", printable(&v.value)),
                Some("gitignore-like globs: `*.map`, `drafts/`, `/private/**`"),
            ),
        }
    }
    let mut cache_control = Vec::new();
    for (i, r) in f.cache_control.iter().enumerate() {
        let mut ok = true;
        if let Err(why) = check_pattern(&r.glob.value) {
            ok = false;
            ctx.err(
                &r.glob,
                &format!("s3.cache_control[{i}].glob"),
                format!(
                    "`{}` is not a glob pattern: {why}",
                    printable(&r.glob.value)
                ),
                Some("gitignore-like globs: `*.html`, `assets/**`"),
            );
        }
        if !valid_header_value(&r.value.value) {
            ok = false;
            ctx.err(
                &r.value,
                &format!("s3.cache_control[{i}].value"),
                format!("`{}` is not a header value", printable(&r.value.value)),
                Some("printable ASCII on one line, e.g. `public, max-age=300`"),
            );
        }
        if ok {
            cache_control.push(S3CacheRule {
                glob: r.glob.value.clone(),
                value: r.value.value.trim().to_owned(),
            });
        }
    }
    let max_delete_share = match &f.max_delete_share {
        Some(v) if (0.0..=1.0).contains(&v.value) => v.value,
        Some(v) => {
            ctx.err(
                v,
                "s3.max_delete_share",
                format!("{} is out of range", v.value),
                Some("a share from 0 to 1, e.g. `0.5` (50 % of the objects)"),
            );
            0.5
        }
        None => 0.5,
    };
    let concurrency = match &f.concurrency {
        Some(v) if (1..=256).contains(&v.value) => v.value,
        Some(v) => {
            ctx.err(
                v,
                "s3.concurrency",
                format!("{} is out of range", v.value),
                Some("1-256"),
            );
            32
        }
        None => 32,
    };
    let schedule = f
        .schedule
        .as_ref()
        .and_then(|v| match Schedule::parse(&v.value) {
            Ok(s) => Some(s),
            Err(e) => {
                ctx.err(v, "s3.schedule", e, Some(schedule::ALLOWED));
                None
            }
        });
    S3Site {
        bucket: f.bucket.value.clone(),
        prefix,
        region,
        endpoint,
        path_style: f.path_style.unwrap_or(false),
        source,
        excludes,
        delete_excluded: f.delete_excluded.unwrap_or(false),
        cache_control,
        max_delete_share,
        concurrency,
        schedule,
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
        pool: php.map(|php| p.pool_dir(&php.version).join(&conf)),
        pool_socket: php.map(|_| p.run_dir.join("php").join(format!("{user}.sock"))),
        access_log: p.nginx_log_dir.join(format!("{name}.access.log")),
        error_log: p.nginx_log_dir.join(format!("{name}.error.log")),
        php_error_log: site_dir.join("logs/php-error.log"),
        slow_log: p.php_log_dir.join(format!("{name}.slow.log")),
        site_dir,
    }
}

fn php_settings(ctx: &mut Ctx<'_>, f: Option<&super::file::PhpFile>, global: &Global) -> Php {
    let mut php = Php {
        version: global.php_version.clone(),
        pm: Pm::Ondemand,
        max_children: 4,
        process_idle_timeout: 10,
        max_requests: 500,
        memory_limit: "256M".into(),
        upload_max_size: DEFAULT_UPLOAD.into(),
        upload_max_filesize: DEFAULT_UPLOAD.into(),
        post_max_size: post_size_for(64 * MIB),
        max_execution_time: 30,
        slowlog_timeout: 5,
        disable_functions: Vec::new(),
        ini: BTreeMap::new(),
        deprecations: Vec::new(),
    };
    let Some(f) = f else { return php };
    upload_settings(ctx, f, &mut php);
    if let Some(v) = &f.version {
        if valid_php_version(&v.value) {
            php.version = v.value.clone();
        } else {
            ctx.err(
                v,
                "php.version",
                format!("`{}` is not a PHP version", printable(&v.value)),
                Some("`MAJOR.MINOR`, e.g. `8.2`"),
            );
        }
    }
    if let Some(v) = &f.pm {
        match v.value.as_str() {
            "ondemand" => php.pm = Pm::Ondemand,
            "dynamic" => php.pm = Pm::Dynamic,
            "static" => php.pm = Pm::Static,
            other => ctx.err(
                v,
                "php.pm",
                format!("unknown value `{}`", printable(other)),
                Some("`ondemand`, `dynamic`, `static`"),
            ),
        }
    }
    let mut num = |v: &Option<S<u32>>, field: &str, lo: u32, hi: u32, out: &mut u32| {
        if let Some(v) = v {
            if (lo..=hi).contains(&v.value) {
                *out = v.value;
            } else {
                ctx.err(
                    v,
                    field,
                    format!("{} is out of range", v.value),
                    Some(&format!("{lo}-{hi}")),
                );
            }
        }
    };
    num(
        &f.max_children,
        "php.max_children",
        1,
        256,
        &mut php.max_children,
    );
    num(
        &f.process_idle_timeout,
        "php.process_idle_timeout",
        1,
        3600,
        &mut php.process_idle_timeout,
    );
    num(
        &f.max_requests,
        "php.max_requests",
        0,
        100_000,
        &mut php.max_requests,
    );
    num(
        &f.max_execution_time,
        "php.max_execution_time",
        0,
        3600,
        &mut php.max_execution_time,
    );
    num(
        &f.slowlog_timeout,
        "php.slowlog_timeout",
        1,
        3600,
        &mut php.slowlog_timeout,
    );
    if let Some(v) = &f.memory_limit {
        if valid_size(&v.value) {
            php.memory_limit = v.value.clone();
        } else {
            ctx.err(
                v,
                "php.memory_limit",
                format!("`{}` is not a size", printable(&v.value)),
                Some(SIZE_ALLOWED),
            );
        }
    }
    for (i, v) in f.disable_functions.iter().enumerate() {
        if !v.value.is_empty()
            && v.value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            php.disable_functions.push(v.value.clone());
        } else {
            ctx.err(
                v,
                &format!("php.disable_functions[{i}]"),
                format!("`{}` is not a PHP function name", printable(&v.value)),
                Some("lower-case letters, digits and `_`"),
            );
        }
    }
    if let Some(ini) = &f.ini {
        for (k, val) in &ini.value {
            let key_ok = !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
            if !key_ok {
                ctx.err(
                    ini,
                    &format!("php.ini.{}", printable(k)),
                    "not an ini setting name",
                    Some(INI_KEY_ALLOWED),
                );
            } else if PROTECTED_INI.contains(&k.as_str()) {
                ctx.err(
                    ini,
                    &format!("php.ini.{k}"),
                    "this setting is part of the site's isolation and cannot be overridden",
                    Some(&allowed_ini_keys()),
                );
            } else if !ALLOWED_INI.contains(&k.as_str()) {
                let why = if matches!(k.as_str(), "upload_max_filesize" | "post_max_size") {
                    format!("`{k}` is set by `php.upload_max_size`")
                } else if OWN_FIELD_INI.contains(&k.as_str()) {
                    format!("`{k}` has its own field: `php.{k}`")
                } else {
                    format!(
                        "`{k}` is not on the list of settings a site may change (paths, code loading and the pool's own settings are not)"
                    )
                };
                ctx.err(ini, &format!("php.ini.{k}"), why, Some(&allowed_ini_keys()));
            } else if OFF_ONLY_INI.contains(&k.as_str())
                && !matches!(
                    val.to_ascii_lowercase().as_str(),
                    "0" | "off" | "false" | "no"
                )
            {
                ctx.err(
                    ini,
                    &format!("php.ini.{k}"),
                    format!("`{k}` can only be turned off here"),
                    Some("`0` or `off`"),
                );
            } else if !valid_ini_value(val) {
                ctx.err(
                    ini,
                    &format!("php.ini.{k}"),
                    format!(
                        "value `{}` contains characters that are not allowed",
                        printable(val)
                    ),
                    Some("letters, digits, spaces and `-_.,:/@+=`"),
                );
            } else {
                php.ini.insert(k.clone(), val.clone());
            }
        }
    }
    php
}

/// `php.upload_max_size` of a site that sets none (php and wordpress sites).
const DEFAULT_UPLOAD: &str = "64M";

/// `php.upload_max_size` and the two fields it replaces: sets `upload_max_size`,
/// `upload_max_filesize` and the derived `post_max_size`.
///
/// `upload_max_filesize` alone is read as `upload_max_size` (deprecated: a warning); both together
/// are refused. `post_max_size` is derived now: a value below the upload size contradicts it and is
/// refused, any other value is ignored (deprecated: a warning). Before, nginx's 1 MiB default
/// capped every request body, so no larger `post_max_size` ever took effect.
fn upload_settings(ctx: &mut Ctx<'_>, f: &super::file::PhpFile, php: &mut Php) {
    let given = match (&f.upload_max_size, &f.upload_max_filesize) {
        (Some(_), Some(old)) => {
            ctx.err(
                old,
                "php.upload_max_filesize",
                "replaced by `php.upload_max_size`, which is also set; it sets PHP's `upload_max_filesize`, `post_max_size` and nginx's `client_max_body_size` together",
                Some("only `php.upload_max_size` (remove `php.upload_max_filesize`)"),
            );
            return;
        }
        (Some(v), None) => Some((v, "php.upload_max_size")),
        (None, Some(v)) => Some((v, "php.upload_max_filesize")),
        (None, None) => None,
    };
    let mut upload = 64 * MIB;
    if let Some((v, field)) = given {
        match size_bytes(&v.value) {
            Some(n) if (UPLOAD_MIN..=UPLOAD_MAX).contains(&n) => {
                upload = n;
                php.upload_max_size = v.value.clone();
                php.upload_max_filesize = v.value.clone();
                php.post_max_size = post_size_for(n);
                if field == "php.upload_max_filesize" {
                    php.deprecations.push(format!(
                        "{}:{}:{}: `php.upload_max_filesize` is deprecated: write `php.upload_max_size: {}` instead (it sets PHP's upload_max_filesize, post_max_size {} and nginx's client_max_body_size {} together)",
                        ctx.file.display(),
                        v.referenced.line(),
                        v.referenced.column(),
                        v.value,
                        php.post_max_size,
                        php.post_max_size,
                    ));
                }
            }
            Some(_) => {
                ctx.err(
                    v,
                    field,
                    format!("`{}` is out of range", printable(&v.value)),
                    Some(UPLOAD_ALLOWED),
                );
                return;
            }
            None => {
                ctx.err(
                    v,
                    field,
                    format!("`{}` is not a size", printable(&v.value)),
                    Some(UPLOAD_ALLOWED),
                );
                return;
            }
        }
    }
    if let Some(v) = &f.post_max_size {
        match size_bytes(&v.value) {
            None => ctx.err(
                v,
                "php.post_max_size",
                format!("`{}` is not a size", printable(&v.value)),
                Some(SIZE_ALLOWED),
            ),
            Some(n) if n < upload => ctx.err(
                v,
                "php.post_max_size",
                format!(
                    "`{}` is smaller than the upload size `{}`: an upload of that size could never arrive",
                    printable(&v.value),
                    php.upload_max_size
                ),
                Some(&format!(
                    "no `php.post_max_size`: lempctl derives it from `php.upload_max_size` (here `{}`)",
                    php.post_max_size
                )),
            ),
            Some(_) => php.deprecations.push(format!(
                "{}:{}:{}: `php.post_max_size` is deprecated and ignored: lempctl derives it from `php.upload_max_size` (`{}` for PHP's post_max_size and nginx's client_max_body_size); remove the field",
                ctx.file.display(),
                v.referenced.line(),
                v.referenced.column(),
                php.post_max_size,
            )),
        }
    }
}

/// Settings that make up the isolation between sites; a site file cannot change them.
const PROTECTED_INI: &[&str] = &[
    "open_basedir",
    "disable_functions",
    "sys_temp_dir",
    "upload_tmp_dir",
    "session.save_path",
    "error_log",
];

/// `path` as written is absolute, has no `..` component, and is one of `roots` or below one
/// (compared component by component, lexically: links are not resolved here).
pub fn under_roots(path: &str, roots: &[PathBuf]) -> bool {
    let p = Path::new(path);
    p.is_absolute()
        && !p.components().any(|c| c == std::path::Component::ParentDir)
        && roots.iter().any(|r| p.starts_with(r))
}

fn list_roots(roots: &[PathBuf]) -> String {
    roots
        .iter()
        .map(|r| format!("`{}`", r.display()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Files and directories holding lempctl's own credentials, which no site file may name.
fn lempctl_secret(g: &Global, p: &Path) -> bool {
    let mut secrets = vec![
        g.paths.state_dir.join("credentials"),
        g.paths.state_dir.join("backup"),
        g.paths.state_dir.join("state.json"),
    ];
    if let super::global::DbAdmin::Tcp {
        credentials_file, ..
    } = &g.database.admin
    {
        secrets.push(credentials_file.clone());
    }
    secrets.extend(g.s3.credentials_file.clone());
    secrets.extend(g.backup.as_ref().map(|b| b.password_file.clone()));
    secrets.extend(g.alerts.as_ref().and_then(|a| a.credentials_file.clone()));
    secrets.iter().any(|s| p.starts_with(s))
}

/// The `php.ini` keys a site file may set: runtime tunables that name no host path, load no code
/// and change none of the pool's own settings (`docs/configuration.md` lists them too).
pub const ALLOWED_INI: &[&str] = &[
    "allow_url_fopen",
    "arg_separator.input",
    "arg_separator.output",
    "date.timezone",
    "default_charset",
    "default_socket_timeout",
    "enable_post_data_reading",
    "error_reporting",
    "expose_php",
    "file_uploads",
    "html_errors",
    "ignore_user_abort",
    "intl.default_locale",
    "max_file_uploads",
    "max_input_nesting_level",
    "max_input_time",
    "max_input_vars",
    "max_multipart_body_parts",
    "mbstring.language",
    "mbstring.substitute_character",
    "output_buffering",
    "pcre.backtrack_limit",
    "pcre.jit",
    "pcre.recursion_limit",
    "precision",
    "realpath_cache_size",
    "realpath_cache_ttl",
    "request_order",
    "serialize_precision",
    "session.cache_expire",
    "session.cache_limiter",
    "session.cookie_lifetime",
    "session.cookie_samesite",
    "session.cookie_secure",
    "session.gc_divisor",
    "session.gc_maxlifetime",
    "session.gc_probability",
    "session.name",
    "session.use_only_cookies",
    "short_open_tag",
    "user_agent",
    "variables_order",
    "zend.assertions",
];

/// Allowed keys whose only accepted value is off.
const OFF_ONLY_INI: &[&str] = &["allow_url_fopen"];

/// Settings with their own field in the `php` section.
const OWN_FIELD_INI: &[&str] = &[
    "memory_limit",
    "upload_max_filesize",
    "post_max_size",
    "max_execution_time",
];

fn allowed_ini_keys() -> String {
    let keys: Vec<String> = ALLOWED_INI.iter().map(|k| format!("`{k}`")).collect();
    format!(
        "{} (`allow_url_fopen` only off; see docs/configuration.md)",
        keys.join(", ")
    )
}

/// Shows control characters visibly in messages.
fn printable(s: &str) -> String {
    let shown: String = s.chars().take(80).flat_map(char::escape_debug).collect();
    if s.chars().count() > 80 {
        format!("{shown}…")
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked_lexically_against_the_roots() {
        let roots = [
            PathBuf::from("/etc/lempctl"),
            PathBuf::from("/var/lib/lempctl"),
        ];
        assert!(under_roots("/etc/lempctl/pw", &roots));
        assert!(under_roots("/var/lib/lempctl/a/./b", &roots));
        assert!(under_roots("/etc/lempctl", &roots));
        assert!(!under_roots("/etc/lempctl/../shadow", &roots));
        assert!(!under_roots("/etc/lempctl2/pw", &roots));
        assert!(!under_roots("etc/lempctl/pw", &roots));
        assert!(!under_roots("/root/pw", &roots));
    }

    #[test]
    fn sizes_parse_as_php_and_nginx_read_them() {
        assert_eq!(size_bytes("64M"), Some(64 << 20));
        assert_eq!(size_bytes("1G"), Some(1 << 30));
        assert_eq!(size_bytes("1536K"), Some(1536 << 10));
        assert_eq!(size_bytes("1048576"), Some(1 << 20));
        for bad in [
            "",
            "M",
            "64m",
            "64MB",
            "1.5G",
            "-1M",
            " 64M",
            "64 M",
            "1T",
            "99999999999999999G",
        ] {
            assert_eq!(size_bytes(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_body_limit_leaves_room_for_the_multipart_envelope() {
        assert_eq!(post_size_for(1 << 20), "2M");
        assert_eq!(post_size_for(4 << 20), "5M");
        assert_eq!(post_size_for(20 << 20), "22M");
        assert_eq!(post_size_for(64 << 20), "71M");
        assert_eq!(post_size_for(1536 << 10), "3M");
        assert_eq!(post_size_for(1 << 30), "1127M");
        assert_eq!(post_size_for(4 << 30), "4506M");
    }

    #[test]
    fn no_path_or_code_loading_ini_key_is_allowed() {
        for k in [
            "extension",
            "zend_extension",
            "sendmail_path",
            "auto_prepend_file",
            "auto_append_file",
            "include_path",
            "open_basedir",
            "disable_functions",
            "disable_classes",
            "allow_url_include",
            "error_log",
            "mail.log",
            "opcache.enable",
            "opcache.validate_permission",
            "session.save_path",
            "session.save_handler",
            "user_ini.filename",
            "display_errors",
            "log_errors",
            "zlib.output_compression",
            "session.cookie_httponly",
            "session.use_strict_mode",
        ] {
            assert!(!ALLOWED_INI.contains(&k), "{k}");
        }
        let mut sorted = ALLOWED_INI.to_vec();
        sorted.sort_unstable();
        assert_eq!(
            sorted, ALLOWED_INI,
            "keep the list sorted (the docs list it in order)"
        );
    }
}
