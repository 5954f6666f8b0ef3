//! PHP on this machine: a version (`PhpVersion`) and the one PHP-FPM master of each version
//! (`FpmMaster`), which owns every path and command derived from the version: its pool and ini
//! directories, its program, unit, pid file and main configuration, and how it is tested and
//! started. Nothing else formats a version into a path or a name.

use std::path::{Path, PathBuf};

use super::Root;
use super::exec::Cmd;
use super::machine::{Direct, Programs};
use super::service_manager::Service;

/// A PHP version like `8.2`: `MAJOR.MINOR`, one or two digits each.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct PhpVersion(String);

impl PhpVersion {
    pub const ALLOWED: &'static str = "`MAJOR.MINOR`, e.g. `8.2`";

    pub fn parse(v: &str) -> Option<Self> {
        let mut parts = v.split('.');
        let ok = matches!((parts.next(), parts.next(), parts.next()), (Some(a), Some(b), None)
            if [a, b].iter().all(|p| (1..=2).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit())));
        ok.then(|| Self(v.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PhpVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PhpVersion {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s).ok_or_else(|| format!("`{s}` is not a PHP version"))
    }
}

impl From<PhpVersion> for String {
    fn from(v: PhpVersion) -> Self {
        v.0
    }
}

/// The PHP-FPM master of one version (Debian's `phpX.Y-fpm`).
#[derive(Debug, Clone, Copy)]
pub struct FpmMaster<'a> {
    pub version: &'a PhpVersion,
    /// `paths.php_dir` (`/etc/php`).
    pub php_dir: &'a Path,
    pub programs: &'a Programs,
    pub direct: &'a Direct,
}

impl FpmMaster<'_> {
    /// Where its pools are (`/etc/php/8.2/fpm/pool.d`).
    pub fn pool_dir(&self) -> PathBuf {
        self.php_dir.join(self.version.as_str()).join("fpm/pool.d")
    }

    /// Its ini scan directory (`/etc/php/8.2/fpm/conf.d`).
    pub fn conf_d(&self) -> PathBuf {
        self.php_dir.join(self.version.as_str()).join("fpm/conf.d")
    }

    /// `php-fpm8.2`.
    pub fn program(&self) -> PathBuf {
        version_in(&self.programs.php_fpm, self.version)
    }

    /// The PHP CLI of the same version (site PHP run by lempctl: install, cron).
    pub fn cli(&self) -> PathBuf {
        version_in(&self.programs.php, self.version)
    }

    pub fn service(&self) -> Service {
        Service::PhpFpm(self.version.clone())
    }

    /// The Debian package that installs it (named as its unit).
    pub fn package(&self) -> String {
        self.service().unit()
    }

    /// The pid file of a private (`direct`) master (host path).
    pub fn pid_file(&self) -> PathBuf {
        version_in(&self.direct.php_fpm_pid, self.version)
    }

    /// The main configuration of a private (`direct`) master (host path).
    pub fn main_conf(&self) -> PathBuf {
        version_in(&self.direct.php_fpm_conf, self.version)
    }

    /// `PHP_INI_SCAN_DIR` for a private master: the distribution's conf.d plus the one under
    /// the root.
    pub fn ini_scan_dir(&self, root: &Root) -> String {
        format!(
            "{}:{}",
            self.conf_d().display(),
            root.path(&self.conf_d()).display()
        )
    }

    /// The master's configuration test (`php-fpm8.2 -t`); for a private master, with its own
    /// main configuration and ini directories.
    pub(crate) fn test_cmd(&self, root: &Root, private: bool) -> Cmd {
        let cmd = Cmd::new(self.program()).arg("-t");
        if private {
            self.private(cmd, root)
        } else {
            cmd
        }
    }

    /// Starts a private master (daemonizing; it writes `pid_file`).
    pub(crate) fn start_cmd(&self, root: &Root) -> Cmd {
        self.private(Cmd::new(self.program()), root)
    }

    fn private(&self, cmd: Cmd, root: &Root) -> Cmd {
        cmd.arg("-y")
            .arg(root.path(&self.main_conf()))
            .env("PHP_INI_SCAN_DIR", self.ini_scan_dir(root))
    }
}

/// A configured program or path with `{version}` replaced.
fn version_in(template: &str, v: &PhpVersion) -> PathBuf {
    PathBuf::from(template.replace("{version}", v.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_major_dot_minor() {
        for ok in ["8.2", "7.4", "10.12"] {
            assert_eq!(PhpVersion::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "", "8", "8.", ".2", "8.2.1", "8.x", "123.1", "8.2 ", "../8.2",
        ] {
            assert!(PhpVersion::parse(bad).is_none(), "{bad:?}");
        }
    }
}
