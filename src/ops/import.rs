//! `lempctl import wpzo`: adopt a host built by the wpzo shell scripts (docs/migrating.md).
//!
//! The scan reads the old layout (vhosts, pools, the credentials registry, each site's `.env`)
//! and classifies every vhost: adoptable, with the site file that describes it, or not, with
//! the reason. Adopting writes, per site, its user, a copy of its web root in lempctl's site
//! tree (the old tree stays as it was), its database password in the credentials store, its
//! site file, and state records that make the old vhost, link and pool lempctl's to replace:
//! the next `apply` removes them in the same run that writes lempctl's own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::Context;
use crate::config::{self, ConfigError, ConfigErrors, Fqdn, Site, UsageError};
use crate::engine::state::{FileRecord, LinkRecord, State, sha256};
use crate::host::machine::FpmId;
use crate::host::service_manager::Service;
use crate::host::{Journal, Perms, Root, accounts};

#[derive(Debug, Clone)]
pub(crate) struct ImportOptions {
    /// The wpzo work directory as the services read it (host path): `nginx/`, `php-fpm.d/`,
    /// and optionally `conf/site.conf`.
    pub from: PathBuf,
    pub dry_run: bool,
    /// How long to wait for another run's lock.
    pub wait: std::time::Duration,
}

/// What `import wpzo` found and did (or, with `--dry-run`, would do).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ImportResult {
    pub from: PathBuf,
    pub dry_run: bool,
    pub sites: Vec<Adopted>,
    pub skipped: Vec<Skipped>,
}

/// A site that is (or would be) adopted.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Adopted {
    pub site: String,
    pub kind: &'static str,
    /// wpzo's `TECHNAME` (`<domain without dots>_<sub>`).
    pub technical_name: String,
    pub site_file: PathBuf,
    pub old_vhost: PathBuf,
    pub old_pool: PathBuf,
    /// The old web root, copied into `site_dir` (and left in place).
    pub old_webroot: PathBuf,
    pub site_dir: PathBuf,
    pub document_root: PathBuf,
    pub database: Option<String>,
    pub db_user: Option<String>,
    /// The database password the site uses is kept (stored as lempctl's).
    pub credentials_kept: bool,
    /// The old scripts' defects this adoption fixes.
    pub fixes: Vec<String>,
    /// What the import writes, and what the next `apply` changes.
    pub changes: Vec<String>,
    #[serde(skip)]
    yaml: String,
    #[serde(skip)]
    link: Option<(PathBuf, PathBuf)>,
    #[serde(skip)]
    env: Option<(PathBuf, Vec<u8>)>,
    #[serde(skip)]
    db_password: Option<String>,
}

/// A vhost that is not adopted, and why; it is left untouched.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Skipped {
    pub vhost: PathBuf,
    pub reason: String,
}

pub(crate) fn wpzo(ctx: &Context, o: &ImportOptions) -> Result<ImportResult> {
    let config = ctx.load()?;
    let g = &config.global;
    let root = &ctx.root;
    let layout = Layout::check(root, &o.from)?;
    let registry = layout.registry(root)?;
    let mut result = ImportResult {
        from: o.from.clone(),
        dry_run: o.dry_run,
        sites: Vec::new(),
        skipped: Vec::new(),
    };
    let mut pool_users: BTreeMap<String, usize> = BTreeMap::new();
    let mut found = Vec::new();
    for vhost in layout.vhosts(root)? {
        match scan(root, &layout, &vhost, &registry) {
            Ok(s) => {
                *pool_users.entry(s.pool.user.clone()).or_default() += 1;
                found.push(s);
            }
            Err(reason) => result.skipped.push(Skipped {
                vhost: vhost.clone(),
                reason,
            }),
        }
    }
    if found.is_empty()
        && result
            .skipped
            .iter()
            .all(|s| s.reason.starts_with(NOT_WPZO))
    {
        return Err(UsageError(format!(
            "{}: not a wpzo layout: no vhost in {} was written by wpzo's host_create.sh (`fastcgi_pass unix:…/php-fpm/<TECHNAME>.sock` and a `root …/<domain>/<sub>/webroot`); nothing was written",
            root.path(&o.from).display(),
            root.path(&layout.available).display(),
        ))
        .into());
    }
    let mut sites: Vec<Site> = config.sites.clone();
    for s in found {
        let vhost = s.vhost.clone();
        match plan_site(ctx, g, &config, s, &pool_users) {
            Ok((adopted, site)) => {
                sites.push(site);
                result.sites.push(adopted);
            }
            Err(reason) => result.skipped.push(Skipped { vhost, reason }),
        }
    }
    // the new files must not collide with each other or with the configured sites
    let mut errors = Vec::new();
    config::check_unique(&sites, &mut errors);
    if !errors.is_empty() {
        return Err(UsageError(ConfigErrors(errors).to_string()).into());
    }
    if o.dry_run || result.sites.is_empty() {
        return Ok(result);
    }
    // the state file is `apply`'s too
    let _lock = crate::engine::lock::acquire(&root.path(&g.paths.lock_file()), o.wait)?;
    let mut journal = Journal::default();
    let done = adopt_all(root, &config, &result.sites, &sites, &mut journal);
    if let Err(e) = done {
        let problems = root.rollback(&mut journal);
        let e = e.context("importing; everything this run wrote was removed again");
        return Err(if problems.is_empty() {
            e
        } else {
            e.context(format!("rolling back: {}", problems.join("; ")))
        });
    }
    Ok(result)
}

/// A vhost without the template's marks: not one of wpzo's sites (the default server, a hand-made
/// one); such a layout alone is not a wpzo layout.
const NOT_WPZO: &str = "not written by wpzo's host_create.sh";

/// The old layout: where wpzo put vhosts, pools and its registry.
struct Layout {
    available: PathBuf,
    enabled: PathBuf,
    pools: PathBuf,
    registry: PathBuf,
}

impl Layout {
    fn check(root: &Root, from: &Path) -> Result<Self> {
        let l = Self {
            available: from.join("nginx/sites-available"),
            enabled: from.join("nginx/sites-enabled"),
            pools: from.join("php-fpm.d"),
            registry: from.join("conf/site.conf"),
        };
        let missing: Vec<String> = [&l.available, &l.enabled, &l.pools]
            .iter()
            .filter(|p| !root.path(p).is_dir())
            .map(|p| root.path(p).display().to_string())
            .collect();
        if !missing.is_empty() {
            return Err(UsageError(format!(
                "--from {}: not a wpzo layout: missing {} (wpzo keeps vhosts in nginx/sites-available and sites-enabled, pools in php-fpm.d, under its work directory); nothing was written",
                root.path(from).display(),
                missing.join(", ")
            ))
            .into());
        }
        Ok(l)
    }

    /// `<public fqdn>` → (db user, password) from `conf/site.conf`, matched exactly (the
    /// scripts' unanchored grep could return another site's line).
    fn registry(&self, root: &Root) -> Result<BTreeMap<String, (String, String)>> {
        let mut out = BTreeMap::new();
        let Some(bytes) = root.read(&self.registry)? else {
            return Ok(out);
        };
        for line in String::from_utf8_lossy(&bytes).lines() {
            let mut f = line.trim().splitn(3, ':');
            if let (Some(site), Some(user), Some(pass)) = (f.next(), f.next(), f.next()) {
                out.insert(site.to_owned(), (user.to_owned(), pass.to_owned()));
            }
        }
        Ok(out)
    }

    /// The vhost files, by name (root-owned configuration, not a site tree).
    fn vhosts(&self, root: &Root) -> Result<Vec<PathBuf>> {
        let real = root.path(&self.available);
        let mut out = Vec::new();
        for e in std::fs::read_dir(&real).with_context(|| format!("reading {}", real.display()))? {
            let e = e?;
            let name = e.file_name();
            if e.file_type()?.is_file() && name.to_string_lossy().ends_with(".conf") {
                out.push(self.available.join(name));
            }
        }
        out.sort();
        Ok(out)
    }
}

/// One wpzo site as the old files describe it.
struct Found {
    name: String,
    technical_name: String,
    vhost: PathBuf,
    link: Option<(PathBuf, PathBuf)>,
    pool_file: PathBuf,
    pool: Pool,
    webroot: PathBuf,
    /// The document root below the web root (`bedrock/web`), empty for the web root itself.
    below: PathBuf,
    shape: Shape,
    /// `conf/site.conf`'s (user, password) of `<sub>.<domain>`.
    registered: Option<(String, String)>,
}

enum Shape {
    /// `wp_install.sh`'s Bedrock: `.env` with the database credentials.
    Bedrock { env_file: PathBuf, env: Vec<u8> },
    /// PHP files of its own.
    Php,
    /// No PHP at the top of the web root, an `index.html`.
    Static,
}

struct Pool {
    user: String,
    pm: String,
    max_children: String,
    start_servers: String,
}

/// Reads a vhost and its pool; `Err` is the reason it is not adopted.
fn scan(
    root: &Root,
    layout: &Layout,
    vhost: &Path,
    registry: &BTreeMap<String, (String, String)>,
) -> Result<Found, String> {
    let text = root
        .read(vhost)
        .map_err(|e| format!("{e:#}"))?
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let tech = vhost
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let server_name = directive(&text, "server_name");
    let doc_root = directive(&text, "root");
    let socket =
        directive(&text, "fastcgi_pass").and_then(|s| s.strip_prefix("unix:").map(str::to_owned));
    let (Some(server_name), Some(doc_root), Some(socket)) = (server_name, doc_root, socket) else {
        return Err(format!(
            "{NOT_WPZO} (no server_name, root and fastcgi_pass unix:… of its template)"
        ));
    };
    let socket = root.host_path(Path::new(&socket));
    if socket.file_name().map(|f| f.to_string_lossy().into_owned()) != Some(format!("{tech}.sock"))
        || socket
            .parent()
            .and_then(Path::file_name)
            .map(|f| f.to_string_lossy().into_owned())
            != Some("php-fpm".to_owned())
    {
        return Err(format!(
            "{NOT_WPZO} (its socket {} is not …/php-fpm/{tech}.sock)",
            socket.display()
        ));
    }
    let doc_root = root.host_path(Path::new(&doc_root));
    let (webroot, below) = split_webroot(&doc_root).ok_or_else(|| {
        format!(
            "{NOT_WPZO} (root {} is not under a …/webroot)",
            doc_root.display()
        )
    })?;
    // <SERVERDIR>/<DOMAIN>/<SUB>/webroot, TECHNAME = DOMAIN without dots + _ + SUB
    let sub_dir = webroot.parent().unwrap_or(Path::new("/"));
    let sub = file_name(sub_dir);
    let domain = file_name(sub_dir.parent().unwrap_or(Path::new("/")));
    if format!("{}_{sub}", domain.replace('.', "")) != tech {
        return Err(format!(
            "{NOT_WPZO} (file name `{tech}` is not the TECHNAME of {sub}.{domain})"
        ));
    }
    let pool_file = layout.pools.join(format!("{tech}.conf"));
    let pool_text = root
        .read(&pool_file)
        .map_err(|e| format!("{e:#}"))?
        .ok_or_else(|| format!("no pool {}", root.path(&pool_file).display()))?;
    let pool = pool_settings(&String::from_utf8_lossy(&pool_text), &tech).ok_or_else(|| {
        format!(
            "pool {} does not define [{tech}] listening on {}",
            root.path(&pool_file).display(),
            root.path(&socket).display()
        )
    })?;
    let link = layout.enabled.join(format!("{tech}.conf"));
    let link = std::fs::read_link(root.path(&link)).ok().map(|t| (link, t));
    if link.is_none() {
        return Err(format!(
            "not enabled (no link {}): nginx does not serve it",
            root.path(&layout.enabled.join(format!("{tech}.conf")))
                .display()
        ));
    }
    if !root.path(&webroot).is_dir() {
        return Err(format!(
            "its web root {} does not exist",
            root.path(&webroot).display()
        ));
    }
    let shape = shape(root, &webroot, &below)?;
    let registered = registry.get(&format!("{sub}.{domain}")).cloned();
    Ok(Found {
        registered,
        name: server_name,
        technical_name: tech,
        vhost: vhost.to_path_buf(),
        link,
        pool_file,
        pool,
        webroot,
        below,
        shape,
    })
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `…/webroot/bedrock/web` → (`…/webroot`, `bedrock/web`).
fn split_webroot(doc_root: &Path) -> Option<(PathBuf, PathBuf)> {
    let mut webroot = doc_root.to_path_buf();
    let mut below = Vec::new();
    while webroot.file_name()? != "webroot" {
        below.push(webroot.file_name()?.to_owned());
        webroot.pop();
    }
    let below: PathBuf = below.iter().rev().collect();
    Some((webroot, below))
}

/// What the web root holds, read without following links (the tree is the site's).
fn shape(root: &Root, webroot: &Path, below: &Path) -> Result<Shape, String> {
    let err = |e: anyhow::Error| format!("{e:#}");
    if below == Path::new("bedrock/web") {
        let env_file = webroot.join("bedrock/.env");
        let env = root
            .read(&env_file)
            .map_err(err)?
            .ok_or_else(|| format!("a Bedrock site without {}", root.path(&env_file).display()))?;
        return Ok(Shape::Bedrock { env_file, env });
    }
    if !below.as_os_str().is_empty() {
        return Err(format!(
            "document root {} is not one the scripts make (webroot or webroot/bedrock/web)",
            root.path(&webroot.join(below)).display()
        ));
    }
    if let Some(index) = root.read(&webroot.join("index.php")).map_err(err)? {
        if String::from_utf8_lossy(&index).contains("phpinfo()") {
            return Err(
                "WordPress was never installed: the web root holds host_create.sh's placeholder page, which shows phpinfo() to everyone; remove the site with the old scripts, or replace the page and import again".to_owned(),
            );
        }
        return Ok(Shape::Php);
    }
    if root
        .read(&webroot.join("index.html"))
        .map_err(err)?
        .is_some()
    {
        return Ok(Shape::Static);
    }
    Ok(Shape::Php)
}

/// The first value of a directive outside comments (`server_name a b;` → `a`).
fn directive(text: &str, name: &str) -> Option<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .find_map(|l| {
            let rest = l.strip_prefix(name)?;
            if !rest.starts_with(char::is_whitespace) {
                return None;
            }
            let v = rest
                .trim()
                .trim_end_matches(';')
                .split_whitespace()
                .next()?;
            Some(v.trim_matches('"').to_owned())
        })
}

/// The pool's settings, when the file defines the pool `[tech]`.
fn pool_settings(text: &str, tech: &str) -> Option<Pool> {
    let mut in_pool = false;
    let mut kv: BTreeMap<String, String> = BTreeMap::new();
    for l in text.lines() {
        let l = l.split(';').next().unwrap_or("").trim();
        if let Some(section) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            in_pool = section == tech;
            continue;
        }
        if let (true, Some((k, v))) = (in_pool, l.split_once('=')) {
            kv.insert(k.trim().to_owned(), v.trim().to_owned());
        }
    }
    let get = |k: &str| kv.get(k).cloned().unwrap_or_default();
    kv.get("listen")?;
    Some(Pool {
        user: get("user"),
        pm: get("pm"),
        max_children: get("pm.max_children"),
        start_servers: get("pm.start_servers"),
    })
}

/// `KEY='value'` lines of a Bedrock `.env`.
fn env_values(env: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(env)
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.trim().split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .or_else(|| v.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
                .unwrap_or(v);
            Some((k.trim().to_owned(), v.to_owned()))
        })
        .collect()
}

/// The `.env` with lempctl's fixes: production mode, and no debug log in a root-owned directory.
fn fixed_env(env: &[u8]) -> Vec<u8> {
    let mut out = String::new();
    for l in String::from_utf8_lossy(env).lines() {
        let key = l.split_once('=').map(|(k, _)| k.trim());
        match key {
            Some("WP_ENV") => out.push_str(
                "# lempctl import: WP_ENV was development (debug output shown to visitors)\nWP_ENV='production'",
            ),
            Some("WP_DEBUG_LOG") => {
                out.push_str("# WP_DEBUG_LOG removed by lempctl import (pointed into root-owned /var/log/wordpress): ");
                out.push_str(l);
            }
            _ => out.push_str(l),
        }
        out.push('\n');
    }
    out.into_bytes()
}

/// Whether a Bedrock `DB_HOST` (`host`, `host:port` or `localhost:/socket`) names the server
/// lempctl's admin connection reaches.
fn same_server(db_host: &str, admin: &config::global::DbAdmin) -> bool {
    use config::global::DbAdmin;
    let host = db_host
        .strip_prefix('[')
        .and_then(|h| h.split_once(']').map(|(h, _)| h))
        .unwrap_or_else(|| db_host.split(':').next().unwrap_or(""));
    let local = |h: &str| matches!(h, "localhost" | "127.0.0.1" | "::1");
    match admin {
        DbAdmin::Socket(_) => local(host),
        DbAdmin::Tcp { host: admin, .. } => host == admin || (local(host) && local(admin)),
    }
}

/// The site file for one found site, validated as `apply` will read it; `Err` is why not.
fn plan_site(
    ctx: &Context,
    g: &config::Global,
    config: &config::Config,
    f: Found,
    pool_users: &BTreeMap<String, usize>,
) -> Result<(Adopted, Site), String> {
    let root = &ctx.root;
    let name = Fqdn::parse(&f.name).map_err(|why| {
        format!(
            "server_name `{}` is not a site name lempctl takes: {why}",
            f.name
        )
    })?;
    if let Some(existing) = config.site(&name) {
        return Err(format!(
            "site `{name}` is already lempctl's ({})",
            existing.file.display()
        ));
    }
    if config.broken_site(name.as_str()).is_some() {
        return Err(format!("site `{name}` has an invalid site file"));
    }
    let host_file = g.paths.sites_dir.join(format!("{name}.yaml"));
    if root.path(&host_file).exists() {
        return Err(format!(
            "{} already exists",
            root.path(&host_file).display()
        ));
    }
    let document_root = Path::new("htdocs").join(&f.below);
    let mut fixes = Vec::new();
    let mut db = None;
    let mut env = None;
    let mut password = None;
    let kind = match &f.shape {
        Shape::Static => "static",
        Shape::Php => "php",
        Shape::Bedrock {
            env_file,
            env: text,
        } => {
            let v = env_values(text);
            let (Some(database), Some(user)) = (v.get("DB_NAME"), v.get("DB_USER")) else {
                return Err(format!(
                    "{} names no DB_NAME and DB_USER",
                    root.path(env_file).display()
                ));
            };
            // the .env is what the site uses; the registry is the scripts' copy of it
            let from_registry = f
                .registered
                .as_ref()
                .filter(|(u, _)| u == user)
                .map(|r| &r.1);
            let Some(pass) = v
                .get("DB_PASSWORD")
                .filter(|p| !p.is_empty())
                .or(from_registry)
            else {
                return Err(format!(
                    "{} holds no DB_PASSWORD: the database credentials cannot be kept",
                    root.path(env_file).display()
                ));
            };
            let host = v.get("DB_HOST").map_or("", String::as_str);
            if !same_server(host, &g.database.admin) {
                return Err(format!(
                    "its database is on another server (DB_HOST={host} in {}) than the one lempctl manages: move the database here first, or point `database` in lempctl.yaml at that server",
                    root.path(env_file).display()
                ));
            }
            password = Some(pass.clone());
            db = Some((database.clone(), user.clone()));
            if v.get("WP_ENV").map(String::as_str) == Some("development") {
                fixes.push(
                    "WP_ENV=development (debug output shown to visitors) → production in the copied .env".to_owned(),
                );
            }
            let copied = env_file
                .strip_prefix(&f.webroot)
                .map(|rel| {
                    g.paths
                        .www_root
                        .join(name.as_str())
                        .join("htdocs")
                        .join(rel)
                })
                .unwrap_or_default();
            env = Some((copied, fixed_env(text)));
            "php"
        }
    };
    if let Some((database, user)) = &db {
        let hosts: Vec<String> = g
            .database
            .web_hosts
            .iter()
            .map(|h| format!("'{user}'@'{h}'"))
            .collect();
        fixes.push(format!(
            "database user '{user}'@'%' (any host) → {} only (the '%' account is dropped by apply once the new one exists); database `{database}` and its password kept",
            hosts.join(", ")
        ));
    }
    let shared = pool_users.get(&f.pool.user).copied().unwrap_or(0);
    fixes.push(format!(
        "pool runs as `{}`, the web server's user, shared by {shared} site(s) with no open_basedir → its own user and open_basedir",
        f.pool.user
    ));
    fixes.push(format!(
        "pm = {} with {} workers started and up to {} → ondemand, no idle workers, at most 4",
        f.pool.pm, f.pool.start_servers, f.pool.max_children
    ));
    let mut yaml = format!(
        "# adopted by `lempctl import wpzo` from {vhost} and {pool}; files copied from {webroot}\nname: {name}\nkind: {kind}\n",
        vhost = f.vhost.display(),
        pool = f.pool_file.display(),
        webroot = f.webroot.display(),
    );
    if !f.below.as_os_str().is_empty() {
        yaml.push_str(&format!("document_root: {}\n", document_root.display()));
    }
    if let Some((database, user)) = &db {
        yaml.push_str(&format!("db:\n  name: {database}\n  user: {user}\n"));
    }
    let real_file = root.path(&host_file);
    let mut errors: Vec<ConfigError> = Vec::new();
    let parsed: config::file::SiteFile =
        config::parse_yaml(&real_file, &yaml).map_err(|e| e.to_string())?;
    let site = ctx.validate_site(&real_file, parsed, g, &mut errors);
    let Some(site) = site.filter(|_| errors.is_empty()) else {
        return Err(ConfigErrors(errors).to_string());
    };
    let mut changes = vec![
        format!("create user `{}`", site.user),
        format!(
            "copy {} into {} (owned by `{}`; the old tree stays)",
            f.webroot.display(),
            site.paths.site_dir.join("htdocs").display(),
            site.user
        ),
    ];
    if env.is_some() {
        changes.push("write the copied .env with WP_ENV=production (0600)".to_owned());
    }
    if password.is_some() {
        changes.push(format!(
            "store the database password in {}",
            crate::engine::secrets::path(g, name.as_str()).display()
        ));
    }
    changes.push(format!("write {}", host_file.display()));
    changes.push(format!(
        "then `lempctl apply`: replace {} (and its link) and {} by {} and {}",
        f.vhost.display(),
        f.pool_file.display(),
        site.paths.vhost.display(),
        site.paths.pool.as_deref().map_or_else(
            || "no pool (static)".to_owned(),
            |p| p.display().to_string()
        )
    ));
    let adopted = Adopted {
        site: name.to_string(),
        kind,
        technical_name: f.technical_name,
        site_file: host_file,
        old_vhost: f.vhost,
        old_pool: f.pool_file,
        old_webroot: f.webroot,
        site_dir: site.paths.site_dir.clone(),
        document_root: site.paths.document_root.clone(),
        database: db.as_ref().map(|d| d.0.clone()),
        db_user: db.as_ref().map(|d| d.1.clone()),
        credentials_kept: password.is_some(),
        fixes,
        changes,
        yaml,
        link: f.link,
        env,
        db_password: password,
    };
    Ok((adopted, site))
}

/// Writes everything of every adopted site into `journal` (rolled back by the caller on error),
/// the state last.
fn adopt_all(
    root: &Root,
    config: &config::Config,
    adopted: &[Adopted],
    sites: &[Site],
    journal: &mut Journal,
) -> Result<()> {
    let g = &config.global;
    let state_file = g.paths.state_file();
    let mut state = State::load(root, &state_file)?;
    for a in adopted {
        let site = sites
            .iter()
            .find(|s| s.name.as_str() == a.site)
            .context("an adopted site is validated")?;
        let u = site.user.as_str();
        if !accounts::user_exists(u)? {
            accounts::create_system_user(
                &g.programs.useradd,
                u,
                &root.path(&site.paths.site_dir),
                g.tuning.site_ids,
            )?;
            state.users.insert(u.to_owned(), a.site.clone());
        }
        // the same owners and modes `apply` gives these directories
        root.ensure_dir(journal, &g.paths.www_root, &Perms::root(0o755))?;
        root.ensure_dir(
            journal,
            &site.paths.site_dir,
            &Perms::new(u, &g.web_group, 0o750),
        )?;
        let htdocs = site.paths.site_dir.join("htdocs");
        root.ensure_dir(journal, &htdocs, &Perms::new(u, &g.web_group, 0o2750))?;
        root.copy_site_tree(
            journal,
            &a.old_webroot,
            &htdocs,
            &[],
            (
                &Perms::new(u, &g.web_group, 0o2750),
                &Perms::new(u, &g.web_group, 0o640),
            ),
        )
        .with_context(|| format!("copying {}", root.path(&a.old_webroot).display()))?;
        if let Some((path, text)) = &a.env {
            root.write_atomic(journal, path, text, &Perms::new(u, u, 0o600))?;
        }
        if let Some(pw) = &a.db_password {
            let file = crate::engine::secrets::path(g, &a.site);
            let mut secrets = crate::engine::secrets::load(root, &file)?;
            secrets.db_password = Some(pw.clone());
            root.ensure_dir(journal, &g.paths.state_dir, &Perms::root(0o700))?;
            root.ensure_dir(
                journal,
                &g.paths.state_dir.join("credentials"),
                &Perms::root(0o700),
            )?;
            root.write_atomic(
                journal,
                &file,
                &crate::engine::secrets::to_bytes(&secrets),
                &Perms::root(0o600),
            )?;
        }
        root.write_atomic(
            journal,
            &a.site_file,
            a.yaml.as_bytes(),
            &Perms::root(0o644),
        )?;
        // The old files become lempctl's, recorded as they are: `apply` deletes them (a file
        // changed after this import is drift and stays, with a warning).
        let php = site
            .php
            .as_ref()
            .map_or_else(|| g.php_version.clone(), |p| p.version.clone());
        for (path, service) in [
            (&a.old_vhost, Service::Nginx),
            (&a.old_pool, Service::PhpFpm(FpmId::main(php))),
        ] {
            let bytes = root
                .read(path)?
                .with_context(|| format!("{} disappeared", root.path(path).display()))?;
            state.files.insert(
                path.clone(),
                FileRecord {
                    sha256: sha256(&bytes),
                    pending: None,
                    site: Some(a.site.clone()),
                    service: Some(service),
                },
            );
        }
        if let Some((link, target)) = &a.link {
            state.links.insert(
                link.clone(),
                LinkRecord {
                    target: target.clone(),
                    site: Some(a.site.clone()),
                    service: Some(Service::Nginx),
                },
            );
        }
    }
    root.ensure_dir(journal, &g.paths.state_dir, &Perms::root(0o700))?;
    let mut text = serde_json::to_vec_pretty(&state).context("serialising state")?;
    text.push(b'\n');
    root.write_atomic(journal, &state_file, &text, &Perms::root(0o600))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const VHOST: &str = "#server {\n#    server_name www.example.test;\n#}\nserver {\n    listen 80;\n    server_name admexaw.www.example.test;\n    index index.php;\n    root /srv/servers/example.test/www/webroot/bedrock/web;\n    location ~* \\.php$ {\n        fastcgi_pass unix:/run/php-fpm/exampletest_www.sock;\n    }\n}\n";

    #[test]
    fn directives_skip_comments_and_longer_names() {
        assert_eq!(
            directive(VHOST, "server_name").as_deref(),
            Some("admexaw.www.example.test")
        );
        assert_eq!(
            directive(VHOST, "root").as_deref(),
            Some("/srv/servers/example.test/www/webroot/bedrock/web")
        );
        assert_eq!(
            directive(VHOST, "fastcgi_pass").as_deref(),
            Some("unix:/run/php-fpm/exampletest_www.sock")
        );
        assert_eq!(directive("fastcgi_index index.php;", "fastcgi"), None);
    }

    #[test]
    fn the_web_root_is_found_above_the_document_root() {
        let (w, b) = split_webroot(Path::new(
            "/srv/servers/example.test/www/webroot/bedrock/web",
        ))
        .unwrap();
        assert_eq!(w, Path::new("/srv/servers/example.test/www/webroot"));
        assert_eq!(b, Path::new("bedrock/web"));
        let (_, b) = split_webroot(Path::new("/s/example.test/www/webroot")).unwrap();
        assert!(b.as_os_str().is_empty());
        assert!(split_webroot(Path::new("/var/www/html")).is_none());
    }

    #[test]
    fn pool_settings_come_from_the_pools_own_section() {
        let text = "[other]\nuser = a\nlisten = /x.sock\n[exampletest_www]\nuser = nginx ; shared\nlisten = /run/php-fpm/exampletest_www.sock\npm = dynamic\npm.max_children = 50\npm.start_servers = 5\n;pm.start_servers = 9\n";
        let p = pool_settings(text, "exampletest_www").unwrap();
        assert_eq!(
            (
                p.user.as_str(),
                p.pm.as_str(),
                p.max_children.as_str(),
                p.start_servers.as_str()
            ),
            ("nginx", "dynamic", "50", "5")
        );
        assert!(pool_settings("[exampletest_www]\nuser = nginx\n", "exampletest_www").is_none());
    }

    #[test]
    fn only_a_database_on_lempctls_server_is_adopted() {
        let socket = config::global::DbAdmin::Socket(PathBuf::from("/run/mysqld/mysqld.sock"));
        assert!(same_server("localhost:/run/mysqld/mysqld.sock", &socket));
        assert!(same_server("127.0.0.1:3306", &socket));
        assert!(!same_server("YOUR_DB_SERVER_IP", &socket));
        assert!(!same_server("10.0.0.5", &socket));
        let tcp = config::global::DbAdmin::Tcp {
            host: "10.0.0.5".into(),
            port: 3306,
            credentials_file: PathBuf::from("/etc/lempctl/db.cnf"),
            tls: None,
        };
        assert!(same_server("10.0.0.5:3306", &tcp));
        assert!(!same_server("localhost", &tcp));
    }

    #[test]
    fn the_env_is_read_and_fixed() {
        let env = b"DB_NAME='examplecomww'\nDB_PASSWORD='a=b'\nWP_ENV='development'\nWP_HOME=\"http://x\"\nWP_DEBUG_LOG='/var/log/wordpress/TECHNAME-debug.log'\n";
        let v = env_values(env);
        assert_eq!(v["DB_NAME"], "examplecomww");
        assert_eq!(v["DB_PASSWORD"], "a=b");
        assert_eq!(v["WP_HOME"], "http://x");
        let fixed = env_values(&fixed_env(env));
        assert_eq!(fixed["WP_ENV"], "production");
        assert!(!fixed.contains_key("WP_DEBUG_LOG"));
        assert_eq!(fixed["DB_PASSWORD"], "a=b");
    }
}
