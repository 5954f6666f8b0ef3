//! The `wordpress` section of a `wordpress` site.

use std::path::{Path, PathBuf};

use super::{Needs, Requirement, SiteKind};
use crate::config::check::Ctx;
use crate::config::file::WordpressFile;
use crate::config::fqdn::Fqdn;
use crate::config::global::Global;
use crate::config::values::*;

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
    pub cron: crate::config::schedule::Schedule,
}

/// The `wordpress` section: the settings of a `wordpress` site, refused on any other kind.
pub(super) fn section(
    ctx: &mut Ctx<'_>,
    name: Option<&Fqdn>,
    kind: Option<SiteKind>,
    f: Option<&WordpressFile>,
    g: &Global,
    tls: bool,
    requires: &mut Vec<Requirement>,
) -> Option<Wordpress> {
    match (name, kind) {
        (Some(n), Some(SiteKind::Wordpress)) => settings(ctx, n, f, g, tls, requires),
        _ => {
            if let Some(w) = f
                && let Some(t) = &w.title
            {
                ctx.err(
                    t,
                    "wordpress",
                    "only `wordpress` sites take a `wordpress` section",
                    None,
                );
            }
            None
        }
    }
}

fn settings(
    ctx: &mut Ctx<'_>,
    name: &Fqdn,
    f: Option<&WordpressFile>,
    g: &Global,
    tls: bool,
    requires: &mut Vec<Requirement>,
) -> Option<Wordpress> {
    let none = crate::config::file::WordpressFile::default();
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
    if !source.as_os_str().is_empty() {
        let is_tarball = source.to_string_lossy().ends_with(".tar.gz")
            || source.to_string_lossy().ends_with(".tgz");
        let needs = if is_tarball {
            Needs::Tarball
        } else {
            Needs::WordpressTree
        };
        requires.push(match &f.source {
            Some(s) => Requirement::at(s, "wordpress.source", source.clone(), needs),
            None => Requirement {
                field: "wordpress.source",
                line: 0,
                column: 0,
                path: source.clone(),
                needs,
                default_from: Some("lempctl.yaml `wordpress.source`"),
            },
        });
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
        Some(c) => match crate::config::schedule::Schedule::parse(&c.value) {
            Ok(s) => s,
            Err(e) => {
                ctx.err(
                    c,
                    "wordpress.cron",
                    e,
                    Some(crate::config::schedule::ALLOWED),
                );
                crate::config::schedule::Schedule::parse("*/5 * * * *").ok()?
            }
        },
        None => crate::config::schedule::Schedule::parse("*/5 * * * *").ok()?,
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

/// Files and directories holding lempctl's own credentials, which no site file may name.
fn lempctl_secret(g: &Global, p: &Path) -> bool {
    let mut secrets = vec![
        g.paths.state_dir.join("credentials"),
        g.paths.state_dir.join("backup"),
        g.paths.state_dir.join("state.json"),
    ];
    if let crate::config::global::DbAdmin::Tcp {
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
