//! YAML → validated model. Reads files; writes nothing. Every problem of a load is collected and
//! reported together (`ConfigErrors`), each with file, line, column and field.

pub mod backup;
pub mod check;
pub(crate) mod db_names;
pub mod edit;
pub mod error;
pub mod file;
pub mod fqdn;
pub mod global;
pub mod names;
pub(crate) mod pattern;
pub mod schedule;
pub mod site;
pub mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub use error::{ConfigError, ConfigErrors, UsageError};
pub use fqdn::Fqdn;
pub use global::Global;
pub use site::{Site, SiteKind};

use crate::host::Root;

/// The whole desired state: host configuration and every site.
#[derive(Debug, Clone)]
pub struct Config {
    pub global: Global,
    pub sites: Vec<Site>,
    /// Site files that did not load (`load_lenient` only; `load` refuses them). Their sites are
    /// left alone: commands about other sites go on, the names they may hold stay reserved.
    pub broken: Vec<BrokenSite>,
}

/// A site file that did not load, and the site names it may hold (reserved while it is broken:
/// no other file can take them, no command acts on them).
#[derive(Debug, Clone)]
pub struct BrokenSite {
    pub file: PathBuf,
    /// The file name (`NAME.yaml`), its `name:` line, the site the state recorded from this file,
    /// and the names of sites that collided with it. Empty when none is known.
    pub names: Vec<String>,
    pub errors: Vec<ConfigError>,
}

impl BrokenSite {
    /// The file's problems, for a command that names its site (exit 2).
    pub fn error(&self) -> anyhow::Error {
        if self.errors.is_empty() {
            return UsageError(format!("invalid site file {}", self.file.display())).into();
        }
        ConfigErrors(self.errors.clone()).into()
    }

    /// One line for a warning: the file, its first problem, what it reserves.
    pub fn warning(&self) -> String {
        let first = self
            .errors
            .first()
            .map_or_else(|| self.file.display().to_string(), ToString::to_string);
        let more = match self.errors.len() {
            0 | 1 => String::new(),
            n => format!(" (and {} more problem(s) in this file)", n - 1),
        };
        let names = if self.names.is_empty() {
            "its site is unknown and left as it is".to_owned()
        } else {
            format!("site(s) {} left as they are", self.names.join(", "))
        };
        format!("invalid site file: {first}{more}; {names} until it is fixed")
    }
}

impl Config {
    /// The PHP versions of the sites, and the default one: one PHP-FPM master each.
    pub fn php_versions(&self) -> Vec<global::PhpVersion> {
        let mut v: Vec<global::PhpVersion> = self
            .sites
            .iter()
            .filter_map(|s| s.php.as_ref().map(|p| p.version.clone()))
            .chain([self.global.php_version.clone()])
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The services lempctl manages on this host: each PHP-FPM master (the distribution's of
    /// every version in use, then lempctl's own, `tuning.php_fpm_masters`), then nginx.
    pub fn services(&self) -> Vec<crate::host::service_manager::Service> {
        use crate::host::service_manager::Service;
        let mut out: Vec<Service> = self
            .fpm_masters()
            .into_iter()
            .map(Service::PhpFpm)
            .collect();
        out.push(Service::Nginx);
        out
    }

    /// The enabled PHP sites of version `v` on each of its masters (index: the master's number).
    /// Each master has its own opcache, shared by these sites.
    pub fn pools_per_master(&self, v: &crate::host::machine::PhpVersion) -> Vec<usize> {
        let mut pools = vec![0; usize::from(self.global.tuning.php_fpm_masters)];
        for php in self
            .sites
            .iter()
            .filter(|s| s.enabled)
            .filter_map(|s| s.php.as_ref())
        {
            if php.version == *v
                && let Some(n) = pools.get_mut(usize::from(php.shard))
            {
                *n += 1;
            }
        }
        pools
    }

    /// Every PHP-FPM master of the versions in use: `tuning.php_fpm_masters` per version.
    pub fn fpm_masters(&self) -> Vec<crate::host::machine::FpmId> {
        self.php_versions()
            .iter()
            .flat_map(|v| self.global.masters(v).map(|m| m.id()))
            .collect()
    }

    pub fn site(&self, name: &Fqdn) -> Option<&Site> {
        self.sites.iter().find(|s| &s.name == name)
    }

    /// The broken file that may hold site `name`.
    pub fn broken_site(&self, name: &str) -> Option<&BrokenSite> {
        self.broken
            .iter()
            .find(|b| b.names.iter().any(|n| n == name))
    }

    /// Every problem of the broken files (the strict load's error), or nothing.
    pub fn broken_errors(&self) -> Option<ConfigErrors> {
        let all: Vec<ConfigError> = self
            .broken
            .iter()
            .flat_map(|b| b.errors.iter().cloned())
            .collect();
        (!all.is_empty()).then_some(ConfigErrors(all))
    }

    /// One warning per broken site file.
    pub fn warnings(&self) -> Vec<String> {
        self.broken.iter().map(BrokenSite::warning).collect()
    }

    /// `check_unique` over the loaded sites, plus no host name reserved by a broken file.
    pub fn check_unique(&self, errors: &mut Vec<ConfigError>) {
        check_unique(&self.sites, errors);
        for site in &self.sites {
            for host in std::iter::once(&site.name).chain(site.aliases.iter()) {
                if let Some(b) = self.broken_site(host.as_str()) {
                    errors.push(reserved_error(site, host.as_str(), b));
                }
            }
        }
    }

    /// Marks `names` as possibly held by the broken `file`, then moves every loaded site that
    /// claims a reserved name (as name or alias) to the broken ones, until nothing changes.
    pub fn reserve(&mut self, file: &Path, names: &[String]) {
        if let Some(b) = self.broken.iter_mut().find(|b| b.file == file) {
            for n in names {
                if !b.names.contains(n) {
                    b.names.push(n.clone());
                }
            }
        }
        self.settle();
    }

    /// Sets the site `name` aside as broken with `errors` (a problem found after it loaded, like
    /// a file it names that is missing on the host); its names stay reserved.
    pub fn set_aside(&mut self, name: &Fqdn, errors: Vec<ConfigError>) {
        if let Some(i) = self.sites.iter().position(|s| &s.name == name) {
            self.move_to_broken(i, errors);
            self.settle();
        }
    }

    /// Moves loaded site `i` to the broken ones, reserving its name and aliases.
    fn move_to_broken(&mut self, i: usize, errors: Vec<ConfigError>) {
        let site = self.sites.remove(i);
        let names = std::iter::once(&site.name)
            .chain(site.aliases.iter())
            .map(|h| h.to_string())
            .collect();
        self.broken.push(BrokenSite {
            file: site.file,
            names,
            errors,
        });
    }

    fn settle(&mut self) {
        loop {
            let mut moved = None;
            'sites: for (i, site) in self.sites.iter().enumerate() {
                for host in std::iter::once(&site.name).chain(site.aliases.iter()) {
                    if let Some(b) = self.broken_site(host.as_str()) {
                        moved = Some((i, reserved_error(site, host.as_str(), b)));
                        break 'sites;
                    }
                }
            }
            let Some((i, err)) = moved else { return };
            self.move_to_broken(i, vec![err]);
        }
    }
}

fn reserved_error(site: &Site, host: &str, b: &BrokenSite) -> ConfigError {
    ConfigError::new(
        &site.file,
        0,
        0,
        "name",
        format!(
            "`{host}` may belong to the invalid site file {}; fix that file first",
            b.file.display()
        ),
    )
}

/// Turns a YAML parse error into a `ConfigError` at the place the parser reported, naming the
/// field found at that line of `text`.
pub fn yaml_error(file: &Path, text: &str, e: &serde_saphyr::Error) -> ConfigError {
    let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
    // The parser's message carries a rendered snippet after the first line; keep the sentence.
    let msg = e.to_string();
    let mut first = msg
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid YAML")
        .trim();
    first = first.strip_prefix("error: ").unwrap_or(first);
    if let Some(rest) = first
        .strip_prefix("line ")
        .and_then(|r| r.split_once(": "))
        .map(|(_, r)| r)
    {
        first = rest;
    }
    if let Some(i) = first.find(" at line ") {
        first = &first[..i];
    }
    // the parser names Rust types and its own options; say what the file may hold instead
    let problem = match first {
        p if p.starts_with("invalid u") || p.starts_with("invalid i") => {
            let range = match p.split_whitespace().nth(1).unwrap_or("") {
                "u8" => "from 0 to 255",
                "u16" => "from 0 to 65535",
                "u32" => "from 0 to 4294967295",
                "i32" | "i64" => "(it may be negative)",
                _ => "of 0 or more",
            };
            format!("expected a whole number {range}")
        }
        p if p.starts_with("duplicate mapping key") => {
            let key = p
                .split_once(": ")
                .map(|(_, r)| r.split(',').next().unwrap_or(r).trim())
                .unwrap_or("a key");
            format!("`{key}` is set twice in the same mapping; keep one")
        }
        "expected string scalar" => "expected a text value here".to_owned(),
        p => p.to_owned(),
    };
    let field = field_at(text, line as usize);
    ConfigError::new(file, line, column, &field, problem)
}

/// The dotted key path of the mapping entry on `line` (1-based), found by indentation.
pub fn field_at(text: &str, line: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = line.checked_sub(1).filter(|l| *l < lines.len()) else {
        return String::new();
    };
    let mut path = Vec::new();
    let mut limit = usize::MAX;
    for l in lines[..=start].iter().rev() {
        let trimmed = l.trim_start();
        let indent = l.len() - trimmed.len();
        if trimmed.is_empty() || trimmed.starts_with('#') || indent >= limit {
            continue;
        }
        let item = trimmed.trim_start_matches("- ");
        if let Some((key, _)) = item.split_once(':')
            && !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            path.push(key.to_owned());
            limit = indent;
        }
        if indent == 0 {
            break;
        }
    }
    path.reverse();
    path.join(".")
}

/// Parses YAML text into `T`, with errors located in `file`.
/// `parse_yaml`, with every problem of the file rather than the first: after an error the
/// offending line (and the lines nested under it) is set aside as a comment and the text parsed
/// again, as long as each next error lies further down the file.
pub fn parse_yaml_all<T: serde::de::DeserializeOwned>(
    file: &Path,
    text: &str,
) -> Result<T, Vec<ConfigError>> {
    let first = match parse_yaml::<T>(file, text) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut errors = vec![first];
    while errors.len() < 50 {
        let at = errors.last().map_or(0, |e| e.line as usize);
        if at == 0 || at > lines.len() {
            break;
        }
        let indent = |l: &str| l.len() - l.trim_start().len();
        let own = indent(&lines[at - 1]);
        let mut end = at;
        while end < lines.len() && (lines[end].trim().is_empty() || indent(&lines[end]) > own) {
            end += 1;
        }
        for l in &mut lines[at - 1..end] {
            *l = format!("#{l}");
        }
        match parse_yaml::<T>(file, &lines.join("\n")) {
            Err(e) if e.line as usize > at => errors.push(e),
            _ => break,
        }
    }
    Err(errors)
}

pub fn parse_yaml<T: serde::de::DeserializeOwned>(
    file: &Path,
    text: &str,
) -> Result<T, ConfigError> {
    serde_saphyr::from_str::<T>(text).map_err(|e| yaml_error(file, text, &e))
}

/// Loads `lempctl.yaml` (defaults when absent) and every `*.yaml` in the sites directory.
pub fn load(root: &Root, config_path: &Path) -> Result<Config> {
    let mut errors = Vec::new();
    let global = load_global(root, config_path, &mut errors)?;
    let sites = if errors.is_empty() {
        load_sites(root, &global, &mut errors)?
    } else {
        Vec::new()
    };
    if !errors.is_empty() {
        return Err(ConfigErrors(errors).into());
    }
    Ok(Config {
        global,
        sites,
        broken: Vec::new(),
    })
}

/// Like `load`, but a site file that does not load (or collides with another) is set aside in
/// `Config::broken` instead of failing the whole load, so commands about other sites go on.
/// Errors in the host configuration still fail.
pub fn load_lenient(root: &Root, config_path: &Path) -> Result<Config> {
    let mut errors = Vec::new();
    let global = load_global(root, config_path, &mut errors)?;
    if !errors.is_empty() {
        return Err(ConfigErrors(errors).into());
    }
    let mut sites: Vec<Site> = Vec::new();
    let mut broken = Vec::new();
    for path in site_files(root, &global)? {
        let mut errs = Vec::new();
        match load_site_file(&global, &path, &mut errs)? {
            Some(site) if errs.is_empty() => sites.push(site),
            _ => broken.push(BrokenSite {
                names: names_of_broken(&path),
                file: path,
                errors: errs,
            }),
        }
    }
    // Sites that collide are set aside together: neither may act under the shared name.
    let mut clash = Vec::new();
    check_unique(&sites, &mut clash);
    let mut config = Config {
        global,
        sites,
        broken,
    };
    for e in clash {
        let involved: Vec<usize> = config
            .sites
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.file == e.file
                    || e.problem.contains(&*s.file.to_string_lossy())
                    || e.problem.contains(&format!("site `{}`", s.name))
                    || e.problem.contains(&format!("site {}", s.name))
            })
            .map(|(i, _)| i)
            .collect();
        for i in involved.into_iter().rev() {
            config.move_to_broken(i, Vec::new());
        }
        if let Some(b) = config.broken.iter_mut().find(|b| b.file == e.file) {
            b.errors.push(e);
        } else if let Some(b) = config.broken.last_mut() {
            b.errors.push(e);
        }
    }
    config.settle();
    Ok(config)
}

/// The site names a file that did not load may hold: its file name (`NAME.yaml`) and its
/// top-level `name:` line, when they are valid site names.
fn names_of_broken(path: &Path) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        && let Ok(n) = Fqdn::parse(stem)
    {
        names.push(n.to_string());
    }
    if let Ok(text) = std::fs::read_to_string(path) {
        for line in text.lines() {
            let Some(v) = line.strip_prefix("name:") else {
                continue;
            };
            let v = v.split(" #").next().unwrap_or("").trim();
            let v = v.trim_matches(|c| c == '"' || c == '\'');
            if let Ok(n) = Fqdn::parse(v)
                && !names.contains(&n.to_string())
            {
                names.push(n.to_string());
            }
        }
    }
    names
}

/// Loads only the global configuration.
pub fn load_global(
    root: &Root,
    config_path: &Path,
    errors: &mut Vec<ConfigError>,
) -> Result<Global> {
    let shown = root.path(config_path);
    let file = match root.read(config_path)? {
        None => file::GlobalFile::default(),
        Some(bytes) => {
            let text = String::from_utf8(bytes).map_err(|_| {
                ConfigErrors(vec![ConfigError::new(
                    &shown,
                    0,
                    0,
                    "",
                    "the file is not UTF-8",
                )])
            })?;
            match parse_yaml_all::<Option<file::GlobalFile>>(&shown, &text) {
                Ok(f) => f.unwrap_or_default(),
                Err(e) => {
                    errors.extend(e);
                    file::GlobalFile::default()
                }
            }
        }
    };
    let mut global = global::validate(&shown, file, errors);
    if let Some(dir) = config_path.parent().filter(|d| d.is_absolute()) {
        global.config_dir = dir.to_path_buf();
    }
    Ok(global)
}

/// Site files in load order (sorted by file name).
pub fn site_files(root: &Root, global: &Global) -> Result<Vec<PathBuf>> {
    let dir = root.path(&global.paths.sites_dir);
    let mut files = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    for entry in entries {
        let path = entry
            .with_context(|| format!("reading {}", dir.display()))?
            .path();
        let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if is_yaml && !hidden && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Parses and validates one site file (real path).
pub fn load_site_file(
    global: &Global,
    path: &Path,
    errors: &mut Vec<ConfigError>,
) -> Result<Option<Site>> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let Ok(text) = String::from_utf8(text) else {
        errors.push(ConfigError::new(path, 0, 0, "", "the file is not UTF-8"));
        return Ok(None);
    };
    match parse_yaml_all::<file::SiteFile>(path, &text) {
        Ok(f) => Ok(site::validate(path, f, global, errors)),
        Err(e) => {
            errors.extend(e);
            Ok(None)
        }
    }
}

fn load_sites(root: &Root, global: &Global, errors: &mut Vec<ConfigError>) -> Result<Vec<Site>> {
    let mut sites: Vec<Site> = Vec::new();
    for path in site_files(root, global)? {
        if let Some(site) = load_site_file(global, &path, errors)? {
            sites.push(site);
        }
    }
    check_unique(&sites, errors);
    Ok(sites)
}

/// Refuses two sites with one name, a host name (name or alias) claimed twice, and two sites
/// with one database or database user.
pub fn check_unique(sites: &[Site], errors: &mut Vec<ConfigError>) {
    let dbs: Vec<(&str, db_names::SiteDbNames)> = sites
        .iter()
        .filter_map(|s| {
            s.db.as_ref().map(|d| {
                (
                    s.name.as_str(),
                    db_names::SiteDbNames {
                        database: d.database.clone(),
                        user: d.user.clone(),
                    },
                )
            })
        })
        .collect();
    if let Err(e) = db_names::check_collisions(dbs.iter().map(|(n, d)| (*n, d))) {
        let file = sites
            .iter()
            .find(|s| e.to_string().contains(&format!("site {}", s.name)))
            .map_or_else(Default::default, |s| s.file.clone());
        errors.push(ConfigError::new(&file, 0, 0, "db", e.to_string()));
    }
    let mut claimed: BTreeMap<&str, &Site> = BTreeMap::new();
    let mut users: BTreeMap<&str, &Site> = BTreeMap::new();
    for site in sites {
        for (i, host) in std::iter::once(&site.name)
            .chain(site.aliases.iter())
            .enumerate()
        {
            let field = if i == 0 {
                "name".to_owned()
            } else {
                format!("aliases[{}]", i - 1)
            };
            if let Some(other) = claimed.get(host.as_str()) {
                let what = if other.name == site.name {
                    "a duplicate site name"
                } else {
                    "already claimed"
                };
                errors.push(ConfigError::new(
                    &site.file,
                    0,
                    0,
                    &field,
                    format!("`{host}` is {what}: also in {}", other.file.display()),
                ));
            } else {
                claimed.insert(host.as_str(), site);
            }
        }
        if let Some(other) = users.insert(site.user.as_str(), site)
            && other.name != site.name
        {
            errors.push(ConfigError::new(
                &site.file,
                0,
                0,
                "name",
                format!(
                    "derived user `{}` collides with site `{}`",
                    site.user, other.name
                ),
            ));
        }
    }
}
