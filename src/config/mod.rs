//! YAML → validated model. Reads files; writes nothing. Every problem of a load is collected and
//! reported together (`ConfigErrors`), each with file, line, column and field.

pub mod edit;
pub mod error;
pub mod file;
pub mod fqdn;
pub mod global;
pub mod names;
pub mod schedule;
pub mod site;

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
}

impl Config {
    pub fn site(&self, name: &Fqdn) -> Option<&Site> {
        self.sites.iter().find(|s| &s.name == name)
    }
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
    Ok(Config { global, sites })
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
            match parse_yaml::<Option<file::GlobalFile>>(&shown, &text) {
                Ok(f) => f.unwrap_or_default(),
                Err(e) => {
                    errors.push(e);
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
    root: &Root,
    global: &Global,
    path: &Path,
    errors: &mut Vec<ConfigError>,
) -> Result<Option<Site>> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let Ok(text) = String::from_utf8(text) else {
        errors.push(ConfigError::new(path, 0, 0, "", "the file is not UTF-8"));
        return Ok(None);
    };
    match parse_yaml::<file::SiteFile>(path, &text) {
        Ok(f) => Ok(site::validate(path, f, global, root, errors)),
        Err(e) => {
            errors.push(e);
            Ok(None)
        }
    }
}

fn load_sites(root: &Root, global: &Global, errors: &mut Vec<ConfigError>) -> Result<Vec<Site>> {
    let mut sites: Vec<Site> = Vec::new();
    for path in site_files(root, global)? {
        if let Some(site) = load_site_file(root, global, &path, errors)? {
            sites.push(site);
        }
    }
    check_unique(&sites, errors);
    Ok(sites)
}

/// Refuses two sites with one name, a host name (name or alias) claimed twice, and two sites
/// with one database or database user.
pub fn check_unique(sites: &[Site], errors: &mut Vec<ConfigError>) {
    let dbs: Vec<(&str, crate::services::mariadb::SiteDbNames)> = sites
        .iter()
        .filter_map(|s| {
            s.db.as_ref().map(|d| {
                (
                    s.name.as_str(),
                    crate::services::mariadb::SiteDbNames {
                        database: d.database.clone(),
                        user: d.user.clone(),
                    },
                )
            })
        })
        .collect();
    if let Err(e) = crate::services::mariadb::check_collisions(dbs.iter().map(|(n, d)| (*n, d))) {
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
