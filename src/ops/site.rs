//! `lempctl site create|remove|list|show|enable|disable`: edit `sites.d`, then converge through
//! the engine. A failed converge puts the site file back as it was.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::Context;
use crate::config::{self, Config, ConfigError, ConfigErrors, Fqdn, Site, SiteKind, UsageError};
use crate::engine::report::Report;
use crate::engine::{self, Prune, RunOptions, Scope};
use crate::host::{Journal, Perms};

#[derive(Debug, Clone)]
pub(crate) struct CreateOptions {
    pub name: String,
    pub kind: SiteKind,
    pub aliases: Vec<String>,
    pub php_version: Option<String>,
    pub redirect_to: Option<String>,
    /// The application behind a `proxy` site.
    pub upstream: Option<String>,
    pub disabled: bool,
    /// The common settings beyond name and kind (the flags `site update` takes too).
    pub settings: SiteChanges,
    pub dry_run: bool,
    pub wait: std::time::Duration,
}

/// The common changes a sysadmin makes by command (`site update`, `site create`): each one
/// edits the site file (which stays the truth) and is validated as `apply` reads it.
#[derive(Debug, Clone, Default)]
pub(crate) struct SiteChanges {
    pub php_version: Option<String>,
    pub memory_limit: Option<String>,
    pub max_children: Option<u32>,
    pub upload_max_size: Option<String>,
    /// `Some(list)` replaces the aliases (an empty list removes them).
    pub aliases: Option<Vec<String>>,
    /// `fastcgi` or `none`.
    pub cache: Option<String>,
    /// Certificate and key files (`tls.certificate`, `tls.key`).
    pub tls_files: Option<(PathBuf, PathBuf)>,
    pub no_tls: bool,
}

impl SiteChanges {
    pub(crate) fn is_empty(&self) -> bool {
        self.php_version.is_none()
            && self.memory_limit.is_none()
            && self.max_children.is_none()
            && self.upload_max_size.is_none()
            && self.aliases.is_none()
            && self.cache.is_none()
            && self.tls_files.is_none()
            && !self.no_tls
    }

    /// The site file's text with these changes made; everything else stays as written.
    pub(crate) fn edit(&self, text: &str) -> Result<String> {
        use config::edit::{quoted, set_nested, set_top};
        let mut t = text.to_owned();
        let php = [
            ("version", self.php_version.as_deref().map(quoted)),
            ("memory_limit", self.memory_limit.as_deref().map(quoted)),
            ("max_children", self.max_children.map(|n| n.to_string())),
            (
                "upload_max_size",
                self.upload_max_size.as_deref().map(quoted),
            ),
        ];
        for (key, value) in php {
            if let Some(v) = value {
                t = set_nested(&t, "php", key, Some(&v)).map_err(|e| UsageError(e.to_string()))?;
            }
        }
        if let Some(list) = &self.aliases {
            let v = (!list.is_empty()).then(|| {
                format!(
                    "[{}]",
                    list.iter()
                        .map(|a| quoted(a))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            });
            t = set_top(&t, "aliases", v.as_deref());
        }
        if let Some(c) = &self.cache {
            t = set_top(&t, "cache", Some(&quoted(c)));
        }
        if self.no_tls {
            t = set_top(&t, "tls", None);
        }
        if let Some((cert, key)) = &self.tls_files {
            for (k, v) in [("certificate", cert), ("key", key)] {
                t = set_nested(&t, "tls", k, Some(&quoted(&v.display().to_string())))
                    .map_err(|e| UsageError(e.to_string()))?;
            }
        }
        Ok(t)
    }
}

/// What `site show --json` and `site list --json` print for a site.
#[derive(Debug, Serialize)]
pub struct SiteInfo {
    pub name: String,
    pub kind: &'static str,
    pub enabled: bool,
    pub aliases: Vec<String>,
    pub file: PathBuf,
    pub user: Option<String>,
    pub php_version: Option<String>,
    pub site_dir: Option<PathBuf>,
    pub document_root: Option<PathBuf>,
    pub pool: Option<PathBuf>,
    pub pool_socket: Option<PathBuf>,
    pub vhost: PathBuf,
    pub vhost_enabled: PathBuf,
    pub access_log: PathBuf,
    pub database: Option<String>,
    pub db_user: Option<String>,
    /// `none` or `fastcgi` (the page cache).
    pub cache: &'static str,
    /// `none`, or how TLS is served: `files` plus `redirect`/`hsts` when set.
    pub tls: String,
    pub memory_limit: Option<String>,
    pub max_children: Option<u32>,
    pub upload_max_size: Option<String>,
    pub error_log: PathBuf,
    pub php_error_log: Option<PathBuf>,
    pub slow_log: Option<PathBuf>,
    /// The backup schedule (cron syntax), when the site has a `backup` section.
    pub backup_schedule: Option<String>,
    /// Under `--root DIR` (not `/`): where the paths above really are (`DIR/srv/www/…`), which
    /// is what the sandbox's vhost and pool use. Absent on a real host, where they are the same.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub real_paths: Option<RealPaths>,
}

/// The host paths of `SiteInfo` under the `--root` directory (`null` where the host path is).
#[derive(Debug, Serialize)]
pub struct RealPaths {
    pub root: PathBuf,
    pub site_dir: Option<PathBuf>,
    pub document_root: Option<PathBuf>,
    pub pool: Option<PathBuf>,
    pub pool_socket: Option<PathBuf>,
    pub vhost: PathBuf,
    pub vhost_enabled: PathBuf,
    pub access_log: PathBuf,
}

pub(crate) fn info(site: &Site, root: &crate::host::Root) -> SiteInfo {
    let tree = site.kind != SiteKind::Redirect;
    let real = |p: &Path| root.path(p);
    let real_paths = (!root.is_host()).then(|| RealPaths {
        root: root.dir().to_path_buf(),
        site_dir: tree.then(|| real(&site.paths.site_dir)),
        document_root: tree.then(|| real(&site.paths.document_root)),
        pool: site.paths.pool.as_deref().map(real),
        pool_socket: site.paths.pool_socket.as_deref().map(real),
        vhost: real(&site.paths.vhost),
        vhost_enabled: real(&site.paths.vhost_enabled),
        access_log: real(&site.paths.access_log),
    });
    SiteInfo {
        real_paths,
        name: site.name.to_string(),
        kind: site.kind.as_str(),
        enabled: site.enabled,
        aliases: site.aliases.iter().map(ToString::to_string).collect(),
        file: site.file.clone(),
        user: tree.then(|| site.user.clone()),
        php_version: site.php.as_ref().map(|p| p.version.to_string()),
        site_dir: tree.then(|| site.paths.site_dir.clone()),
        document_root: tree.then(|| site.paths.document_root.clone()),
        pool: site.paths.pool.clone(),
        pool_socket: site.paths.pool_socket.clone(),
        vhost: site.paths.vhost.clone(),
        vhost_enabled: site.paths.vhost_enabled.clone(),
        access_log: site.paths.access_log.clone(),
        database: site.db.as_ref().map(|d| d.database.clone()),
        db_user: site.db.as_ref().map(|d| d.user.clone()),
        cache: match site.cache {
            config::site::Cache::None => "none",
            config::site::Cache::Fastcgi => "fastcgi",
        },
        tls: site.tls.as_ref().map_or_else(
            || "none".to_owned(),
            |t| {
                let mut s = String::from(if t.acme.is_some() { "acme" } else { "files" });
                if t.redirect {
                    s.push_str(", redirect");
                }
                if t.hsts {
                    s.push_str(", hsts");
                }
                s
            },
        ),
        memory_limit: site.php.as_ref().map(|p| p.memory_limit.clone()),
        max_children: site.php.as_ref().map(|p| p.max_children),
        upload_max_size: site.php.as_ref().map(|p| p.upload_max_size.clone()),
        error_log: site.paths.error_log.clone(),
        php_error_log: site.php.as_ref().map(|_| site.paths.php_error_log.clone()),
        slow_log: site.php.as_ref().map(|_| site.paths.slow_log.clone()),
        backup_schedule: site.backup.as_ref().map(|b| b.schedule.cron.clone()),
    }
}

/// Which sites `site list` shows.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListFilter {
    /// `Some(true)`: enabled ones only; `Some(false)`: disabled ones only.
    pub enabled: Option<bool>,
    pub kind: Option<SiteKind>,
}

fn parse_name(s: &str) -> Result<Fqdn> {
    Fqdn::parse(s).map_err(|why| {
        UsageError(format!(
            "invalid site name `{s}`: {why}\n  allowed: {}",
            config::fqdn::ALLOWED
        ))
        .into()
    })
}

fn find<'a>(config: &'a Config, name: &str) -> Result<&'a Site> {
    super::find_site(config, name)
}

pub(crate) fn list(ctx: &Context, filter: &ListFilter) -> Result<Vec<SiteInfo>> {
    Ok(ctx
        .load()?
        .sites
        .iter()
        .filter(|s| filter.enabled.is_none_or(|e| s.enabled == e))
        .filter(|s| filter.kind.is_none_or(|k| s.kind == k))
        .map(|s| info(s, &ctx.root))
        .collect())
}

pub(crate) fn show(ctx: &Context, name: &str) -> Result<SiteInfo> {
    let config = ctx.load()?;
    Ok(info(find(&config, name)?, &ctx.root))
}

fn yaml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The site file `site create` writes.
fn site_yaml(name: &Fqdn, kind: SiteKind, o: &CreateOptions) -> String {
    let mut y = format!(
        "# written by `lempctl site create`; edit freely, then run `lempctl apply`.\nname: {name}\nkind: {}\n",
        kind.as_str()
    );
    if !o.aliases.is_empty() {
        y.push_str("aliases:\n");
        for a in &o.aliases {
            y.push_str(&format!("  - {}\n", yaml_string(a)));
        }
    }
    y.push_str(&format!("enabled: {}\n", !o.disabled));
    if let Some(v) = &o.php_version {
        y.push_str(&format!("php:\n  version: {}\n", yaml_string(v)));
    }
    if let Some(to) = &o.redirect_to {
        y.push_str(&format!("redirect:\n  to: {}\n", yaml_string(to)));
    }
    if let Some(up) = &o.upstream {
        y.push_str(&format!("proxy:\n  upstream: {}\n", yaml_string(up)));
    }
    y
}

/// `site update NAME`: the site file edited with `changes`, validated, written and converged.
pub(crate) fn update(
    ctx: &Context,
    name: &str,
    changes: &SiteChanges,
    dry_run: bool,
    wait: std::time::Duration,
) -> Result<Report> {
    if changes.is_empty() {
        return Err(UsageError(
            "nothing to change: name at least one setting (see `lempctl site update --help`)"
                .into(),
        )
        .into());
    }
    let config = ctx.load()?;
    let site = find(&config, name)?;
    let php_flags = [
        ("--php-version", changes.php_version.is_some()),
        ("--memory-limit", changes.memory_limit.is_some()),
        ("--max-children", changes.max_children.is_some()),
        ("--upload-max-size", changes.upload_max_size.is_some()),
    ];
    if !site.kind.uses_php()
        && let Some((flag, _)) = php_flags.iter().find(|(_, set)| *set)
    {
        return Err(UsageError(format!(
            "site `{}` is a `{}` site: it runs no PHP; drop {flag}",
            site.name,
            site.kind.as_str()
        ))
        .into());
    }
    rewrite(ctx, name, |text| changes.edit(text), dry_run, wait)
}

/// Creates `sites.d/NAME.yaml` and converges that site.
pub(crate) fn create(ctx: &Context, o: &CreateOptions) -> Result<Report> {
    let mut config = ctx.load()?;
    let name = parse_name(&o.name)?;
    let kind = o.kind;
    if kind == SiteKind::Redirect && o.redirect_to.is_none() {
        return Err(UsageError("a `redirect` site needs `--to URL`".into()).into());
    }
    if kind != SiteKind::Redirect && o.redirect_to.is_some() {
        return Err(UsageError("`--to` is only for `--kind redirect`".into()).into());
    }
    if kind == SiteKind::Proxy && o.upstream.is_none() {
        return Err(UsageError("a `proxy` site needs `--upstream ADDRESS`".into()).into());
    }
    if kind != SiteKind::Proxy && o.upstream.is_some() {
        return Err(UsageError("`--upstream` is only for `--kind proxy`".into()).into());
    }
    if o.php_version.is_some() && !kind.uses_php() {
        return Err(UsageError(format!(
            "a `{}` site does not run PHP; drop --php-version",
            kind.as_str()
        ))
        .into());
    }
    if let Some(existing) = config.site(&name) {
        return Err(UsageError(format!(
            "site `{name}` already exists in {}",
            existing.file.display()
        ))
        .into());
    }
    let g = config.global.clone();
    let host_file = g.paths.sites_dir.join(format!("{name}.yaml"));
    let real_file = ctx.root.path(&host_file);
    if real_file.exists() {
        return Err(UsageError(format!("{} already exists", real_file.display())).into());
    }
    let text = o.settings.edit(&site_yaml(&name, kind, o))?;
    // Validate exactly as `apply` will read it back.
    let mut errors: Vec<ConfigError> = Vec::new();
    let file: config::file::SiteFile =
        config::parse_yaml(&real_file, &text).map_err(|e| UsageError(e.to_string()))?;
    let site = ctx.validate_site(&real_file, file, &g, &mut errors);
    let Some(site) = site.filter(|_| errors.is_empty()) else {
        return Err(as_flags(errors).into());
    };
    config.sites.push(site);
    engine::check_php_installed(&config, &Scope::Sites(vec![name.clone()]))?;
    let mut errors = Vec::new();
    config.check_unique(&mut errors);
    if !errors.is_empty() {
        return Err(UsageError(ConfigErrors(errors).to_string()).into());
    }
    let run = RunOptions {
        scope: Scope::Sites(vec![name.clone()]),
        dry_run: o.dry_run,
        wait: o.wait,
        ..RunOptions::default()
    };
    if o.dry_run {
        return engine::run(&ctx.root, &config, &run);
    }
    let mut report =
        ctx.root
            .write_then(&host_file, text.as_bytes(), &Perms::root(0o644), || {
                engine::run(&ctx.root, &config, &run)
            })?;
    report.changed = true;
    Ok(report)
}

#[derive(Debug, Clone, Default)]
pub(crate) struct RemoveOptions {
    pub name: String,
    pub purge: bool,
    pub dry_run: bool,
    pub wait: std::time::Duration,
}

/// Removes a site's file and what lempctl created for it; data only with `purge` (archived first).
pub(crate) fn remove(ctx: &Context, o: &RemoveOptions) -> Result<Report> {
    let mut config = ctx.load()?;
    let site = find(&config, &o.name)?.clone();
    config.sites.retain(|s| s.name != site.name);
    let prune = Prune {
        all: false,
        sites: vec![site.name.to_string()],
        purge: o.purge,
    };
    let run = RunOptions {
        scope: Scope::Sites(vec![]),
        prune,
        dry_run: o.dry_run,
        wait: o.wait,
        ..RunOptions::default()
    };
    if o.dry_run {
        return engine::run(&ctx.root, &config, &run);
    }
    let final_run = if o.purge {
        let full = ctx.load()?;
        super::backup::final_run(ctx, &full, &site, o.wait)?
    } else {
        None
    };
    let host_file = host_path(ctx, &site.file);
    let mut journal = Journal::default();
    ctx.root.remove(&mut journal, &host_file)?;
    match engine::run(&ctx.root, &config, &run) {
        Ok(mut report) => {
            report.changed = true;
            super::backup::announce_final(&mut report, final_run);
            Ok(report)
        }
        Err(e) => {
            ctx.root.rollback(&mut journal);
            Err(e)
        }
    }
}

/// The problems of a site file lempctl wrote from command-line flags, named by the flag that
/// set the field (`--to`, not `r.test.yaml:6:7: redirect.to`); others keep their file position.
fn as_flags(errors: Vec<ConfigError>) -> UsageError {
    const FLAGS: &[(&str, &str)] = &[
        ("redirect.to", "--to"),
        ("proxy.upstream", "--upstream"),
        ("php.version", "--php-version"),
        ("php.memory_limit", "--memory-limit"),
        ("php.max_children", "--max-children"),
        ("php.upload_max_size", "--upload-max-size"),
        ("aliases", "--alias"),
        ("cache", "--cache"),
        ("tls.certificate", "--tls-certificate"),
        ("tls.key", "--tls-key"),
    ];
    let lines: Vec<String> = errors
        .iter()
        .map(|e| {
            let flag = FLAGS.iter().find(|(field, _)| {
                e.field == *field
                    || e.field
                        .strip_prefix(field)
                        .is_some_and(|r| r.starts_with('['))
            });
            match flag {
                Some((_, flag)) => {
                    let mut s = format!("`{flag}`: {}", e.problem);
                    if let Some(a) = &e.allowed {
                        s.push_str(&format!("\n  allowed: {a}"));
                    }
                    s
                }
                None => e.to_string(),
            }
        })
        .collect();
    UsageError(lines.join("\n"))
}

/// The host path of a real path under the root.
fn host_path(ctx: &Context, real: &Path) -> PathBuf {
    match real.strip_prefix(ctx.root.dir()) {
        Ok(rel) => Path::new("/").join(rel),
        Err(_) => real.to_path_buf(),
    }
}

/// Sets `enabled:` in the site's file and converges the site.
pub(crate) fn set_enabled(
    ctx: &Context,
    name: &str,
    enabled: bool,
    dry_run: bool,
    wait: std::time::Duration,
) -> Result<Report> {
    rewrite(
        ctx,
        name,
        |text| {
            Ok(config::edit::set_top(
                text,
                "enabled",
                Some(&enabled.to_string()),
            ))
        },
        dry_run,
        wait,
    )
}

/// Edits a site's file with `edit`, validates the result as `apply` will read it, writes it and
/// converges the site; a failed converge puts the file back. `dry_run` writes nothing.
fn rewrite(
    ctx: &Context,
    name: &str,
    edit: impl FnOnce(&str) -> Result<String>,
    dry_run: bool,
    wait: std::time::Duration,
) -> Result<Report> {
    let config = ctx.load()?;
    let site = find(&config, name)?.clone();
    let text = std::fs::read_to_string(&site.file)
        .with_context(|| format!("reading {}", site.file.display()))?;
    let new_text = edit(&text)?;
    let mut errors = Vec::new();
    let file: config::file::SiteFile =
        config::parse_yaml(&site.file, &new_text).map_err(|e| ConfigErrors(vec![e]))?;
    let updated = ctx
        .validate_site(&site.file, file, &config.global, &mut errors)
        .filter(|_| errors.is_empty());
    let Some(updated) = updated else {
        return Err(as_flags(errors).into());
    };
    let mut new_config = config.clone();
    for s in &mut new_config.sites {
        if s.name == updated.name {
            *s = updated.clone();
        }
    }
    let run = RunOptions {
        scope: Scope::Sites(vec![updated.name.clone()]),
        dry_run,
        wait,
        ..RunOptions::default()
    };
    if dry_run {
        return engine::run(&ctx.root, &new_config, &run);
    }
    // checked before the file is written (the run would refuse it after)
    engine::check_php_installed(&new_config, &run.scope)?;
    let converge = || engine::run(&ctx.root, &new_config, &run);
    if new_text == text {
        return converge();
    }
    ctx.root.write_then(
        &host_path(ctx, &site.file),
        new_text.as_bytes(),
        &Perms::root(0o644),
        converge,
    )
}

#[derive(Debug, Clone)]
pub(crate) struct PutOptions {
    /// The site the file must name; `None`: every document of `text` names its own site.
    pub name: Option<Fqdn>,
    /// The whole site file, or (without `name`) site files separated by `---` lines.
    pub text: String,
    pub dry_run: bool,
    /// Diffs in the report also for a real run (`-v`).
    pub diffs: bool,
    pub wait: std::time::Duration,
}

/// One site file of a `site put`, validated, with where it goes.
struct PutFile {
    name: Fqdn,
    host_file: PathBuf,
    text: String,
    old_text: Option<String>,
}

/// The documents of a YAML stream of site files: split at `---` lines (a document start), each
/// document's text kept as written (it becomes a file).
fn documents(text: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            docs.push(String::new());
        } else {
            docs.last_mut().expect("never empty").push_str(line);
        }
    }
    docs.retain(|d| {
        d.lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    });
    docs
}

/// `site put [NAME]`: whole site files (from configuration management), validated exactly as
/// `apply` reads them, written over each site's file (`sites.d/NAME.yaml` for a new site) and
/// those sites converged in one run. Nothing is written when any file is invalid; a failed
/// converge puts every old file back (or removes the new ones); `dry_run` writes nothing. The
/// report starts with the site files' own changes, and `changed` is then true.
pub(crate) fn put(ctx: &Context, o: &PutOptions) -> Result<Report> {
    let config = ctx.load()?;
    let sites_dir = ctx.root.path(&config.global.paths.sites_dir);
    let docs = match &o.name {
        Some(_) => vec![o.text.clone()],
        None => documents(&o.text),
    };
    if docs.is_empty() {
        return Err(UsageError("no site file in the input; nothing was changed".into()).into());
    }
    let mut new_config = config.clone();
    let mut files: Vec<PutFile> = Vec::new();
    let mut errors = Vec::new();
    for (i, text) in docs.into_iter().enumerate() {
        // where the file is read from is known only once its name is: read `name` alone first
        // (any other field may be wrong), so every error names the file the site would be in
        #[derive(serde::Deserialize)]
        struct NameOnly {
            name: Option<String>,
        }
        let stand_in = PathBuf::from(format!("<input document {}>", i + 1));
        let named = match &o.name {
            Some(n) => Some(n.clone()),
            None => config::parse_yaml::<NameOnly>(&stand_in, &text)
                .ok()
                .and_then(|d| d.name)
                .and_then(|n| Fqdn::parse(&n).ok()),
        };
        let Some(name) = named else {
            // the full parse and validation report the bad or missing name with its line
            let parsed: config::file::SiteFile =
                config::parse_yaml(&stand_in, &text).map_err(|e| ConfigErrors(vec![e]))?;
            ctx.validate_site(&stand_in, parsed, &config.global, &mut errors);
            continue;
        };
        if files.iter().any(|f| f.name == name) {
            return Err(UsageError(format!(
                "site `{name}` is in the input twice; nothing was changed"
            ))
            .into());
        }
        // The file the site is read from now; a broken file that holds the name is replaced too.
        let real_file = match (config.site(&name), config.broken_site(name.as_str())) {
            (Some(site), _) => site.file.clone(),
            (None, Some(broken)) => broken.file.clone(),
            (None, None) => sites_dir.join(format!("{name}.yaml")),
        };
        if let Some(other) = config
            .sites
            .iter()
            .find(|s| s.file == real_file && s.name != name)
        {
            return Err(UsageError(format!(
                "{} holds site `{}`, not `{name}`; nothing was changed",
                real_file.display(),
                other.name
            ))
            .into());
        }
        let old_text = match std::fs::read_to_string(&real_file) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", real_file.display())),
        };
        let parsed: config::file::SiteFile =
            config::parse_yaml(&real_file, &text).map_err(|e| ConfigErrors(vec![e]))?;
        let Some(site) = ctx.validate_site(&real_file, parsed, &config.global, &mut errors) else {
            continue;
        };
        if site.name != name {
            return Err(UsageError(format!(
                "the site file says `name: {}`, but the command names `{name}`; nothing was changed",
                site.name
            ))
            .into());
        }
        new_config.broken.retain(|b| b.file != real_file);
        new_config.sites.retain(|s| s.name != name);
        new_config.sites.push(site);
        files.push(PutFile {
            host_file: host_path(ctx, &real_file),
            name,
            text,
            old_text,
        });
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors).into());
    }
    // in the order `load` reads them (file names): host-wide files that list every site
    // (the rotation file) come out as the next `apply` renders them
    new_config.sites.sort_by(|a, b| a.file.cmp(&b.file));
    let mut errors = Vec::new();
    new_config.check_unique(&mut errors);
    if !errors.is_empty() {
        return Err(ConfigErrors(errors).into());
    }
    let run = RunOptions {
        scope: Scope::Sites(files.iter().map(|f| f.name.clone()).collect()),
        dry_run: o.dry_run,
        diffs: o.diffs,
        wait: o.wait,
        ..RunOptions::default()
    };
    let changed: Vec<&PutFile> = files
        .iter()
        .filter(|f| f.old_text.as_deref() != Some(f.text.as_str()))
        .collect();
    let file_changes: Vec<_> = changed
        .iter()
        .map(|f| {
            engine::plan::site_file_change(
                &f.host_file,
                f.old_text.as_deref(),
                &f.text,
                f.name.as_str(),
            )
        })
        .collect();
    let mut report = if o.dry_run {
        engine::run(&ctx.root, &new_config, &run)?
    } else {
        // checked before the files are written (the run would refuse them after)
        engine::check_php_installed(&new_config, &run.scope)?;
        let writes: Vec<(&Path, &[u8])> = changed
            .iter()
            .map(|f| (f.host_file.as_path(), f.text.as_bytes()))
            .collect();
        ctx.root.write_all_then(&writes, &Perms::root(0o644), || {
            engine::run(&ctx.root, &new_config, &run)
        })?
    };
    if !file_changes.is_empty() {
        report.changes.splice(0..0, file_changes);
        report.changed = true;
    }
    Ok(report)
}
