//! `Global`: the validated host configuration. Debian defaults for every path and program; each
//! can be overridden in `lempctl.yaml`. Paths are host paths (`/etc/nginx`), mapped by `Root`.
//!
//! One file per section of `lempctl.yaml`; this one holds `Global` and the top-level fields.

mod acme;
mod alerts;
mod backup;
mod database;
mod fail2ban;
mod health;
mod listen;
mod log_rotation;
mod monitoring;
mod paths;
mod programs;
mod s3;
mod tuning;
mod wordpress;

pub use acme::{Acme, Certificates, DnsUpdate, KeyType};
pub use alerts::{Alerts, valid_mail_address};
pub use backup::{BackupGlobal, DEFAULT_BACKUP_EXCLUDES, valid_exclude};
pub use database::{DEFAULT_CHARSET, DEFAULT_COLLATION, Database, DbAdmin, DbTls};
pub use fail2ban::Fail2ban;
pub use health::HealthGlobal;
pub use listen::Listen;
pub use log_rotation::LogRotation;
pub use monitoring::Monitoring;
pub use paths::Paths;
pub use s3::S3Global;
pub use tuning::Tuning;

use std::path::{Path, PathBuf};

use super::check::Ctx;
pub use super::check::safe_token;
use super::error::ConfigError;
use super::file::GlobalFile;
use super::schedule::{self, Schedule};
pub use crate::host::machine::{Direct, Machine, ManagerKind, PhpVersion, Programs};
pub use crate::host::php::FpmMaster;

/// What runs scheduled jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheduler {
    /// Timer units, drop-ins and `timers.target.wants` links.
    Systemd,
    /// `/etc/cron.d/lempctl`.
    Cron,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Global {
    /// The configuration file as found (a real path, for messages).
    pub file: PathBuf,
    /// The directory of `lempctl.yaml` (a host path, e.g. `/etc/lempctl`).
    pub config_dir: PathBuf,
    pub php_version: PhpVersion,
    pub web_user: String,
    pub web_group: String,
    /// Group of the per-site nginx and PHP-FPM logs (0640): the admin and log readers, no site.
    pub log_group: String,
    pub manager: ManagerKind,
    pub scheduler: Scheduler,
    pub listen_http: Listen,
    pub listen_https: Listen,
    pub paths: Paths,
    pub programs: Programs,
    pub direct: Direct,
    pub health: HealthGlobal,
    pub apply_schedule: Option<Schedule>,
    pub tuning: Tuning,
    pub database: Database,
    pub wordpress_source: PathBuf,
    /// Roots a site's `wordpress.source` must be under (always includes `wordpress_source`).
    pub wordpress_allowed_sources: Vec<PathBuf>,
    /// Seconds site PHP run by lempctl (install, cron, tasks) may take before it is killed.
    pub wordpress_php_timeout: u32,
    /// Where nginx keeps page caches (one directory per site).
    pub cache_dir: PathBuf,
    /// The backup repository (none: backups are not configured).
    pub backup: Option<BackupGlobal>,
    pub s3: S3Global,
    /// Where failure alerts are mailed (none: no mail).
    pub alerts: Option<Alerts>,
    /// The ACME CA (`acme` section; none: lempctl issues no certificates).
    pub acme: Option<Acme>,
    /// The certificate monitor's thresholds and trust.
    pub certificates: Certificates,
    /// How the sites' logs are rotated.
    pub log_rotation: LogRotation,
    /// fail2ban jails for every site (none: lempctl manages no jails).
    pub fail2ban: Option<Fail2ban>,
    /// Metrics and `status`'s health probes.
    pub monitoring: Monitoring,
    /// Host paths lempctl.yaml names that must exist (checked by the preflight step).
    #[serde(skip)]
    pub requires: Vec<crate::config::site::Requirement>,
}

impl Global {
    /// What the service manager needs of this configuration.
    pub fn machine(&self) -> Machine<'_> {
        Machine {
            manager: self.manager,
            programs: &self.programs,
            direct: &self.direct,
            php_dir: &self.paths.php_dir,
        }
    }

    /// The distribution's PHP-FPM master of version `v`.
    pub fn fpm<'a>(&'a self, v: &'a PhpVersion) -> FpmMaster<'a> {
        self.machine().fpm(v)
    }

    /// PHP-FPM master `shard` of version `v`.
    pub fn master<'a>(&'a self, v: &'a PhpVersion, shard: u16) -> FpmMaster<'a> {
        self.machine().master(v, shard)
    }

    /// Every master of version `v` (`tuning.php_fpm_masters`).
    pub fn masters<'a>(&'a self, v: &'a PhpVersion) -> impl Iterator<Item = FpmMaster<'a>> {
        (0..self.tuning.php_fpm_masters).map(move |k| self.master(v, k))
    }

    /// The master that carries the pool of site `name`: the jump consistent hash (Lamping and
    /// Veach, 2014) of FNV-1a of the name, so a site stays on its master while the number of
    /// masters stays the same, and going from N to N+1 masters moves only about 1/(N+1) of the
    /// sites (to the new one).
    pub fn shard_of(&self, name: &str) -> u16 {
        let masters = i64::from(self.tuning.php_fpm_masters.max(1));
        let mut key = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let (mut bucket, mut next) = (0_i64, 0_i64);
        while next < masters {
            bucket = next;
            key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
            // the published algorithm: f64 is exact enough for bucket counts this small
            next = ((bucket + 1) as f64 * ((1_u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
        }
        u16::try_from(bucket).unwrap_or(0)
    }
}

pub const DEFAULT_CONFIG: &str = "/etc/lempctl/lempctl.yaml";

/// Validates a parsed `lempctl.yaml`; problems are appended to `errors`.
pub fn validate(file: &Path, g: GlobalFile, errors: &mut Vec<ConfigError>) -> Global {
    let mut ctx = Ctx { file, errors };
    let default_php = PhpVersion::parse("8.2").expect("a valid version");
    let php_version = match &g.php_version {
        None => default_php,
        Some(v) => PhpVersion::parse(&v.value).unwrap_or_else(|| {
            ctx.err(
                v,
                "php_version",
                format!("`{}` is not a PHP version", v.value),
                Some(PhpVersion::ALLOWED),
            );
            default_php
        }),
    };
    let manager = match &g.service_manager {
        None => ManagerKind::detect(),
        Some(v) => match v.value.as_str() {
            "auto" => ManagerKind::detect(),
            "systemd" => ManagerKind::Systemd,
            "sysv" => ManagerKind::Sysv,
            "direct" => ManagerKind::Direct,
            other => {
                ctx.err(
                    v,
                    "service_manager",
                    format!("unknown value `{other}`"),
                    Some("`auto`, `systemd`, `sysv`, `direct`"),
                );
                ManagerKind::Sysv
            }
        },
    };
    let scheduler = match g.scheduler.as_ref().map(|v| (v, v.value.as_str())) {
        None | Some((_, "auto")) => {
            if manager == ManagerKind::Systemd {
                Scheduler::Systemd
            } else {
                Scheduler::Cron
            }
        }
        Some((_, "systemd")) => Scheduler::Systemd,
        Some((_, "cron")) => Scheduler::Cron,
        Some((v, other)) => {
            ctx.err(
                v,
                "scheduler",
                format!("unknown value `{other}`"),
                Some("`auto`, `systemd`, `cron`"),
            );
            Scheduler::Cron
        }
    };
    let listen = g.listen.as_ref();
    let listen_http = listen::section(
        &mut ctx,
        listen.and_then(|l| l.http.as_ref()),
        "listen.http",
        80,
    );
    let listen_https = listen::section(
        &mut ctx,
        listen.and_then(|l| l.https.as_ref()),
        "listen.https",
        443,
    );
    let paths = paths::section(&mut ctx, g.paths.unwrap_or_default());
    let programs = programs::programs(&mut ctx, g.programs.unwrap_or_default());
    let direct = programs::direct(&mut ctx, g.direct.unwrap_or_default());
    let health = health::section(&mut ctx, g.health.unwrap_or_default());
    let apply_schedule =
        g.schedule
            .and_then(|s| s.apply)
            .and_then(|v| match Schedule::parse(&v.value) {
                Ok(s) => Some(s),
                Err(e) => {
                    ctx.err(&v, "schedule.apply", e, Some(schedule::ALLOWED));
                    None
                }
            });
    let tuning = tuning::section(&mut ctx, g.tuning.unwrap_or_default(), manager);
    let database = database::section(&mut ctx, g.database.unwrap_or_default());
    let wp = wordpress::section(&mut ctx, g.wordpress.unwrap_or_default(), &paths.state_dir);
    let s3 = s3::section(&mut ctx, g.s3.unwrap_or_default());
    let mut backup = backup::section(&mut ctx, g.backup.unwrap_or_default(), &paths.state_dir);
    let alerts = alerts::section(&mut ctx, g.alerts.unwrap_or_default());
    let log_rotation = log_rotation::section(&mut ctx, g.log_rotation.unwrap_or_default());
    let fail2ban = g.fail2ban.and_then(|f| fail2ban::section(&mut ctx, f));
    let mut requires = Vec::new();
    let acme = g
        .acme
        .and_then(|a| acme::section(&mut ctx, a, &mut requires));
    let monitoring = monitoring::section(&mut ctx, g.monitoring.unwrap_or_default());
    if let Some(b) = backup.as_mut().filter(|b| b.textfile_dir.is_none()) {
        b.textfile_dir.clone_from(&monitoring.textfile_dir);
    }
    let certificates = acme::certificates(
        &mut ctx,
        g.certificates.unwrap_or_default(),
        backup
            .as_ref()
            .and_then(|b| b.textfile_dir.as_ref())
            .or(monitoring.textfile_dir.as_ref()),
    );
    let web_user = ctx.token(g.web_user.as_ref(), "web_user", "www-data");
    let web_group = ctx.token(g.web_group.as_ref(), "web_group", "www-data");
    let log_group = ctx.token(g.log_group.as_ref(), "log_group", "adm");
    Global {
        file: file.to_path_buf(),
        config_dir: PathBuf::from(DEFAULT_CONFIG)
            .parent()
            .map_or_else(|| PathBuf::from("/etc/lempctl"), Path::to_path_buf),
        php_version,
        web_user,
        web_group,
        log_group,
        manager,
        scheduler,
        listen_http,
        listen_https,
        paths,
        programs,
        direct,
        health,
        apply_schedule,
        tuning,
        database,
        wordpress_source: wp.source,
        wordpress_allowed_sources: wp.allowed_sources,
        wordpress_php_timeout: wp.php_timeout,
        cache_dir: wp.cache_dir,
        s3,
        backup,
        alerts,
        acme,
        certificates,
        log_rotation,
        fail2ban,
        monitoring,
        requires,
    }
}
