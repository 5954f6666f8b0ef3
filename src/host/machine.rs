//! What is on this machine: PHP versions, the services lempctl manages, the programs it runs,
//! the service manager, and where the
//! `direct` manager finds private instances. Values come from the configuration (config builds
//! them); the host layer reads them without knowing the configuration.

use std::path::{Path, PathBuf};

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

/// One PHP-FPM master: its PHP version and which of the version's masters it is. Master 0 is
/// the distribution's (`php8.2-fpm`); masters 1.. are lempctl's own (`tuning.php_fpm_masters`),
/// which spread the pools so that no master forks workers with every pool in its memory.
/// Written as `8.2` for master 0 (so state files from before masters keep their meaning) and
/// `8.2/3` for the others.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct FpmId {
    pub version: PhpVersion,
    pub shard: u16,
}

impl FpmId {
    /// The distribution's master of `version`.
    pub fn main(version: PhpVersion) -> Self {
        Self { version, shard: 0 }
    }
}

impl std::fmt::Display for FpmId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.shard {
            0 => write!(f, "{}", self.version),
            n => write!(f, "{}/{n}", self.version),
        }
    }
}

impl TryFrom<String> for FpmId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let (v, shard) = match s.split_once('/') {
            Some((v, n)) => (v, n.parse().map_err(|_| format!("`{s}`: bad master"))?),
            None => (s.as_str(), 0),
        };
        let version = PhpVersion::try_from(v.to_owned())?;
        Ok(Self { version, shard })
    }
}

impl From<FpmId> for String {
    fn from(id: FpmId) -> Self {
        id.to_string()
    }
}

/// A service lempctl reloads.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Service {
    Nginx,
    PhpFpm(FpmId),
}

impl Service {
    /// The unit / init script name on Debian; lempctl's own masters are `lempctl-php8.2-fpm-N`.
    pub fn unit(&self) -> String {
        match self {
            Service::Nginx => "nginx".into(),
            Service::PhpFpm(FpmId { version, shard: 0 }) => format!("php{version}-fpm"),
            Service::PhpFpm(FpmId { version, shard }) => {
                format!("lempctl-php{version}-fpm-{shard}")
            }
        }
    }

    /// One of lempctl's own PHP-FPM masters (started and stopped by `apply`).
    pub fn is_own_master(&self) -> bool {
        matches!(self, Service::PhpFpm(id) if id.shard > 0)
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.unit())
    }
}

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
    pub logrotate: PathBuf,
    pub fail2ban_client: PathBuf,
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

/// This machine's host name (what restic records in a snapshot), `localhost` when unknown.
pub(crate) fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_master_is_written_as_its_version_and_number() {
        let main: FpmId = serde_json::from_str("\"8.2\"").unwrap();
        assert_eq!(main, FpmId::main(PhpVersion::parse("8.2").unwrap()));
        assert_eq!(Service::PhpFpm(main.clone()).unit(), "php8.2-fpm");
        let own: FpmId = serde_json::from_str("\"8.2/3\"").unwrap();
        assert_eq!(own.shard, 3);
        assert_eq!(serde_json::to_string(&own).unwrap(), "\"8.2/3\"");
        assert_eq!(serde_json::to_string(&main).unwrap(), "\"8.2\"");
        assert_eq!(Service::PhpFpm(own.clone()).unit(), "lempctl-php8.2-fpm-3");
        assert!(Service::PhpFpm(own).is_own_master());
        assert!(!Service::PhpFpm(main).is_own_master());
        for bad in ["\"8.2/x\"", "\"8/1\"", "\"8.2/\""] {
            assert!(serde_json::from_str::<FpmId>(bad).is_err(), "{bad}");
        }
        // a state file from before masters names the service as it always did
        let old: Service = serde_json::from_str("{\"php-fpm\":\"8.2\"}").unwrap();
        assert_eq!(old.unit(), "php8.2-fpm");
    }

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
