//! The PHP-FPM masters of each PHP version (`FpmMaster`): the distribution's, and lempctl's own
//! when `tuning.php_fpm_masters` spreads the pools. It owns every path and command derived from a
//! version and a master: pool and ini directories, program, unit, pid file and main
//! configuration, and how a master is tested and started. Nothing else formats a version or a
//! master's number into a path or a name.

use std::path::{Path, PathBuf};

use super::Root;
use super::exec::Cmd;
use super::machine::{Direct, FpmId, Machine, PhpVersion, Programs, Service};

impl<'a> Machine<'a> {
    /// The distribution's PHP-FPM master of version `v`.
    pub fn fpm(&self, v: &'a PhpVersion) -> FpmMaster<'a> {
        self.master(v, 0)
    }

    /// Master `shard` of version `v` (0: the distribution's).
    pub fn master(&self, v: &'a PhpVersion, shard: u16) -> FpmMaster<'a> {
        FpmMaster {
            version: v,
            shard,
            php_dir: self.php_dir,
            programs: self.programs,
            direct: self.direct,
        }
    }
}

/// One PHP-FPM master: Debian's `phpX.Y-fpm` (shard 0) or one of lempctl's own.
#[derive(Debug, Clone, Copy)]
pub struct FpmMaster<'a> {
    pub version: &'a PhpVersion,
    /// 0 for the distribution's master, 1.. for lempctl's own.
    pub shard: u16,
    /// `paths.php_dir` (`/etc/php`).
    pub php_dir: &'a Path,
    pub programs: &'a Programs,
    pub direct: &'a Direct,
}

impl FpmMaster<'_> {
    pub fn id(&self) -> FpmId {
        FpmId {
            version: self.version.clone(),
            shard: self.shard,
        }
    }

    /// True for one of lempctl's own masters (it renders their main configuration and units).
    pub fn is_own(&self) -> bool {
        self.shard > 0
    }

    /// Where its pools are (`/etc/php/8.2/fpm/pool.d`, `/etc/php/8.2/fpm/lempctl-3/pool.d`).
    pub fn pool_dir(&self) -> PathBuf {
        self.dir().join("pool.d")
    }

    /// The directory of its configuration: the distribution's `fpm`, or `fpm/lempctl-N`.
    fn dir(&self) -> PathBuf {
        let fpm = self.php_dir.join(self.version.as_str()).join("fpm");
        match self.shard {
            0 => fpm,
            n => fpm.join(format!("lempctl-{n}")),
        }
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
        Service::PhpFpm(self.id())
    }

    /// The Debian package that installs the version's PHP-FPM (named as its unit).
    pub fn package(&self) -> String {
        format!("php{}-fpm", self.version)
    }

    /// The pid file of a private (`direct`) master, and the one lempctl's own masters write
    /// beside it (host path).
    pub fn pid_file(&self) -> PathBuf {
        let main = version_in(&self.direct.php_fpm_pid, self.version);
        match self.shard {
            0 => main,
            _ => main.with_file_name(format!("{}.pid", self.service().unit())),
        }
    }

    /// The main configuration of a private (`direct`) master, or of one of lempctl's own
    /// (host path).
    pub fn main_conf(&self) -> PathBuf {
        match self.shard {
            0 => version_in(&self.direct.php_fpm_conf, self.version),
            _ => self.dir().join("php-fpm.conf"),
        }
    }

    /// The socket of the placeholder pool of one of lempctl's own masters (PHP-FPM refuses to
    /// run without a pool; a master may have none of the sites at a moment).
    pub fn placeholder_socket(&self) -> PathBuf {
        self.pid_file().with_extension("sock")
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

    /// The master's configuration test (`php-fpm8.2 -t`); for a private master or one of
    /// lempctl's own, with its own main configuration (and, private, ini directories).
    pub(crate) fn test_cmd(&self, root: &Root, private: bool) -> Cmd {
        let cmd = Cmd::new(self.program()).arg("-t");
        if private {
            self.private(cmd, root)
        } else if self.is_own() {
            cmd.arg("-y").arg(root.path(&self.main_conf()))
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

    /// The main configuration of one of lempctl's own masters rendered under `--root` for
    /// another host (its files name that host's paths), with every absolute path moved under
    /// the root: what its configuration test reads (`staged_test_cmd`).
    pub fn staged_conf(&self, root: &Root, conf: &str) -> String {
        conf.lines()
            .map(|l| match l.split_once('=') {
                Some((k, v)) if v.trim().starts_with('/') => {
                    format!(
                        "{} = {}\n",
                        k.trim(),
                        root.path(Path::new(v.trim())).display()
                    )
                }
                _ => format!("{l}\n"),
            })
            .collect()
    }

    /// The configuration test of `staged_conf` written at `file` (real path).
    pub(crate) fn staged_test_cmd(&self, root: &Root, file: &Path) -> Cmd {
        Cmd::new(self.program())
            .arg("-t")
            .arg("-y")
            .arg(file)
            .env("PHP_INI_SCAN_DIR", self.ini_scan_dir(root))
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
