//! The preflight step: what the configuration names must exist on the host before anything is
//! planned. Validation (`config/`) reads nothing from the host; the paths it found a site needs
//! are checked here, and a missing one is reported against the site file's field.

use std::path::Path;

use anyhow::Result;

use super::desire::Scope;
use crate::config::site::{Needs, Requirement};
use crate::config::{Config, ConfigError, Site};
use crate::host::Root;

/// The problems of lempctl.yaml's host requirements (none: all present).
pub(crate) fn global_errors(root: &Root, g: &crate::config::Global) -> Vec<ConfigError> {
    g.requires
        .iter()
        .filter_map(|r| missing(root, r).map(|problem| error(&g.file, r, problem)))
        .collect()
}

/// The problems of `site`'s host requirements, as errors of its site file (none: all present).
pub(crate) fn site_errors(root: &Root, site: &Site) -> Vec<ConfigError> {
    site.requires
        .iter()
        .filter_map(|r| missing(root, r).map(|problem| error(&site.file, r, problem)))
        .collect()
}

/// Why `r` is not met, or nothing.
fn missing(root: &Root, r: &Requirement) -> Option<String> {
    let p = &r.path;
    match r.needs {
        // Under --root: the server reads it there.
        Needs::File => {
            (!root.path(p).is_file()).then(|| format!("`{}` does not exist", p.display()))
        }
        // The WordPress source is on the machine lempctl runs on (it copies from there).
        Needs::Tarball => (!p.is_file()).then(|| format!("{} does not exist", p.display())),
        Needs::Executable => {
            let exec = std::fs::metadata(p).is_ok_and(|m| {
                m.is_file()
                    && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
            });
            (!exec).then(|| format!("{} is not an executable file", p.display()))
        }
        Needs::TsigKey => crate::services::dns_update::read_key(p)
            .err()
            .map(|e| format!("{e:#}")),
        Needs::WordpressTree => (!p.join("wp-includes/version.php").is_file()).then(|| {
            format!(
                "{} is not a WordPress tree (no wp-includes/version.php)",
                p.display()
            )
        }),
    }
}

fn error(file: &Path, r: &Requirement, problem: String) -> ConfigError {
    let problem = match r.default_from {
        Some(from) => format!("{problem} (the default from {from})"),
        None => problem,
    };
    let e = ConfigError::new(file, r.line, r.column, r.field, problem);
    match (r.needs, r.default_from) {
        (Needs::File, _) => {
            e.allowed("an existing certificate (PEM) file; lempctl does not create it")
        }
        (Needs::Executable, _) => {
            e.allowed("an executable program that takes `add|remove FQDN VALUE` (chmod +x)")
        }
        (Needs::TsigKey, _) => e.allowed(format!(
            "a key file as `tsig-keygen -a hmac-sha256 NAME` writes it ({}), mode 0600",
            crate::services::dns_update::ALGORITHMS
        )),
        (_, None) => {
            e.allowed("a WordPress directory (Debian: /usr/share/wordpress) or a `.tar.gz` release")
        }
        (_, Some(_)) => e,
    }
}

/// Every PHP version the sites in scope use has its `php-fpm` on this host; else exit 2 naming
/// the versions that are installed (before anything is planned or written).
pub(crate) fn check_php_installed(config: &Config, scope: &Scope) -> Result<()> {
    let g = &config.global;
    let mut missing = Vec::new();
    let mut wanted = std::collections::BTreeSet::new();
    for site in config
        .sites
        .iter()
        .filter(|s| s.enabled && scope.includes(s.name.as_str()))
    {
        if let Some(php) = &site.php {
            let fpm = g.fpm(&php.version);
            let bin = fpm.program();
            if !bin.exists() {
                wanted.insert(fpm.package());
                missing.push(format!(
                    "{}: `php.version: {}`: PHP {} is not installed here ({} does not exist)",
                    site.file.display(),
                    php.version,
                    php.version,
                    bin.display()
                ));
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    // the installed ones: the same program name with any other version
    let template = std::path::PathBuf::from(&g.programs.php_fpm);
    let (dir, name) = (
        template.parent().unwrap_or(std::path::Path::new("/")),
        template
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    let (prefix, suffix) = name.split_once("{version}").unwrap_or((&name, ""));
    let mut installed: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    let v = n.strip_prefix(prefix)?.strip_suffix(suffix)?.to_owned();
                    (!v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.'))
                        .then_some(v)
                })
                .collect()
        })
        .unwrap_or_default();
    installed.sort();
    Err(crate::config::UsageError(format!(
        "{}\n  installed: {} (install {}, or choose an installed version)",
        missing.join("\n"),
        if installed.is_empty() {
            "none".to_owned()
        } else {
            installed.join(", ")
        },
        wanted.into_iter().collect::<Vec<_>>().join(" ")
    ))
    .into())
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // test fixtures are written directly, not through host::Root
mod tests {
    use super::*;

    fn site(yaml: &str, wp: &Path) -> Site {
        let mut errors = Vec::new();
        let mut g = crate::config::global::validate(
            Path::new("/etc/lempctl/lempctl.yaml"),
            crate::config::file::GlobalFile::default(),
            &mut errors,
        );
        g.wordpress_source = wp.to_path_buf();
        g.wordpress_allowed_sources.push(wp.to_path_buf());
        let file = Path::new("/etc/lempctl/sites.d/a.yaml");
        let parsed = crate::config::parse_yaml(file, yaml).unwrap();
        let site = crate::config::site::validate(file, parsed, &g, &mut errors);
        assert!(
            errors.is_empty(),
            "validation reads nothing from the host: {errors:?}"
        );
        site.unwrap()
    }

    #[test]
    fn missing_tls_files_are_reported_against_their_field_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path()).unwrap();
        let s = site(
            "name: a.example.test\nkind: static\ntls:\n  certificate: /etc/ssl/a/cert.pem\n  key: /etc/ssl/a/key.pem\n",
            dir.path(),
        );
        let errs = site_errors(&root, &s);
        assert_eq!(errs.len(), 2, "{errs:?}");
        let first = errs[0].to_string();
        assert!(
            first.starts_with("/etc/lempctl/sites.d/a.yaml:4:"),
            "{first}"
        );
        assert!(first.contains("`tls.certificate`"), "{first}");
        assert!(first.contains("does not exist"), "{first}");
        assert!(errs[1].to_string().contains("`tls.key`"));
        std::fs::create_dir_all(dir.path().join("etc/ssl/a")).unwrap();
        for f in ["cert.pem", "key.pem"] {
            std::fs::write(dir.path().join("etc/ssl/a").join(f), "PEM\n").unwrap();
        }
        assert!(site_errors(&root, &s).is_empty());
    }

    #[test]
    fn a_wordpress_source_must_be_a_tree_or_a_tarball() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path()).unwrap();
        let wp = dir.path().join("wordpress");
        let s = site("name: a.example.test\nkind: wordpress\n", &wp);
        let errs = site_errors(&root, &s);
        assert_eq!(errs.len(), 1, "{errs:?}");
        let e = errs[0].to_string();
        assert!(e.contains("is not a WordPress tree"), "{e}");
        assert!(e.contains("the default from lempctl.yaml"), "{e}");
        std::fs::create_dir_all(wp.join("wp-includes")).unwrap();
        std::fs::write(wp.join("wp-includes/version.php"), "<?php\n").unwrap();
        assert!(site_errors(&root, &s).is_empty());
        let tarball = format!(
            "name: a.example.test\nkind: wordpress\nwordpress:\n  source: {}/wp.tar.gz\n",
            wp.display()
        );
        let s = site(&tarball, &wp);
        let e = site_errors(&root, &s)[0].to_string();
        assert!(e.contains("wp.tar.gz does not exist"), "{e}");
        assert!(e.contains(":4:"), "{e}");
    }
}
