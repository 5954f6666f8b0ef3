//! What is on this machine: the programs lempctl runs, the service manager, and where the
//! `direct` manager finds private instances. Values come from the configuration (config builds
//! them); the host layer reads them without knowing the configuration.

use std::path::{Path, PathBuf};

use super::php::{FpmMaster, PhpVersion};

/// How services are reloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ManagerKind {
    Systemd,
    Sysv,
    /// Private instances driven by pid files and signals (sandboxes, tests).
    Direct,
}

impl ManagerKind {
    /// systemd when it is PID 1, else SysV init scripts (`service_manager: auto`).
    pub fn detect() -> Self {
        if std::path::Path::new("/run/systemd/system").is_dir() {
            Self::Systemd
        } else {
            Self::Sysv
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Programs {
    pub nginx: PathBuf,
    /// May contain `{version}`.
    pub php_fpm: String,
    pub systemctl: PathBuf,
    pub systemd_analyze: PathBuf,
    pub service: PathBuf,
    pub useradd: PathBuf,
    pub userdel: PathBuf,
    pub tar: PathBuf,
    pub lempctl: PathBuf,
    pub mariadbd: PathBuf,
    pub mariadb_install_db: PathBuf,
    /// PHP CLI; may contain `{version}`.
    pub php: String,
    pub runuser: PathBuf,
}

/// Files the `direct` manager uses to find private instances (host paths, under the root).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Direct {
    pub nginx_conf: PathBuf,
    pub nginx_pid: PathBuf,
    /// May contain `{version}`.
    pub php_fpm_conf: String,
    pub php_fpm_pid: String,
    /// A private MariaDB run by `sandbox start` (none when absent).
    pub mariadb_datadir: Option<PathBuf>,
    pub mariadb_port: u16,
}

/// The part of the configuration the service manager needs.
#[derive(Debug, Clone, Copy)]
pub struct Machine<'a> {
    pub manager: ManagerKind,
    pub programs: &'a Programs,
    pub direct: &'a Direct,
    /// `paths.php_dir` (`/etc/php`).
    pub php_dir: &'a Path,
}

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
