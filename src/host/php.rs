//! The one PHP-FPM master of each PHP version (`FpmMaster`), which owns every path and command derived from the version: its pool and ini
//! directories, its program, unit, pid file and main configuration, and how it is tested and
//! started. Nothing else formats a version into a path or a name.

use std::path::{Path, PathBuf};

use super::Root;
use super::exec::Cmd;
use super::machine::{Direct, Machine, PhpVersion, Programs, Service};

impl<'a> Machine<'a> {
    /// The PHP-FPM master of version `v`.
    pub fn fpm(&self, v: &'a PhpVersion) -> FpmMaster<'a> {
        FpmMaster {
            version: v,
            php_dir: self.php_dir,
            programs: self.programs,
            direct: self.direct,
        }
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

    /// The master's PHP settings as it loads them (`php-fpm8.2 -i`, phpinfo as text); for a
    /// private master, with its own ini directories.
    pub(crate) fn info_cmd(&self, root: &Root, private: bool) -> Cmd {
        let cmd = Cmd::new(self.program()).arg("-i");
        if private {
            cmd.env("PHP_INI_SCAN_DIR", self.ini_scan_dir(root))
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
