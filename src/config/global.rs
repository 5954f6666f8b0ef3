//! `Global`: the validated host configuration. Debian defaults for every path and program; each
//! can be overridden in `lempctl.yaml`. Paths are host paths (`/etc/nginx`), mapped by `Root`.

use std::path::{Path, PathBuf};

use super::check::Ctx;
pub use super::check::{safe_token, valid_php_version};
use super::error::ConfigError;
use super::file::{GlobalFile, S};
use super::schedule::{self, Schedule};
pub use crate::host::machine::{Direct, Machine, ManagerKind, Programs};

/// What runs scheduled jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheduler {
    /// Timer units, drop-ins and `timers.target.wants` links.
    Systemd,
    /// `/etc/cron.d/lempctl`.
    Cron,
}

/// Where nginx listens for a scheme: `port` or `address:port`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Listen {
    pub address: Option<String>,
    pub port: u16,
}

impl Listen {
    /// The `listen` directive argument.
    pub fn directive(&self) -> String {
        match &self.address {
            Some(a) => format!("{a}:{}", self.port),
            None => self.port.to_string(),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Paths {
    pub sites_dir: PathBuf,
    pub state_dir: PathBuf,
    pub archive_dir: PathBuf,
    pub templates_dir: PathBuf,
    pub www_root: PathBuf,
    pub nginx_dir: PathBuf,
    pub nginx_log_dir: PathBuf,
    pub php_dir: PathBuf,
    pub php_log_dir: PathBuf,
    pub run_dir: PathBuf,
    pub systemd_dir: PathBuf,
    pub cron_file: PathBuf,
}

impl Paths {
    pub fn pool_dir(&self, php_version: &str) -> PathBuf {
        self.php_dir.join(php_version).join("fpm/pool.d")
    }
    pub fn php_conf_d(&self, php_version: &str) -> PathBuf {
        self.php_dir.join(php_version).join("fpm/conf.d")
    }
    pub fn state_file(&self) -> PathBuf {
        self.state_dir.join("state.json")
    }
    pub fn lock_file(&self) -> PathBuf {
        self.state_dir.join("lock")
    }
}

/// How lempctl reaches MariaDB as administrator.
#[derive(Debug, Clone, serde::Serialize)]
pub enum DbAdmin {
    /// Unix-socket authentication as root (a host path, mapped under `--root`).
    Socket(PathBuf),
    /// TCP with a password admin read from a 0600 credentials file.
    Tcp {
        host: String,
        port: u16,
        credentials_file: PathBuf,
        tls: Option<DbTls>,
    },
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DbTls {
    pub ca_file: Option<PathBuf>,
    pub verify: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Database {
    pub admin: DbAdmin,
    /// Host part of site users: where the web server connects from.
    pub web_hosts: Vec<String>,
    pub allow_host_patterns: bool,
    pub charset: String,
    pub collation: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct HealthGlobal {
    pub enabled: bool,
    pub address: String,
    pub timeout_ms: u32,
    /// At most this many changed sites are probed (an even sample of them); 0 = all.
    pub max_sites: u32,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Tuning {
    pub opcache_mb_per_site: u32,
    pub opcache_files_per_site: u32,
    pub nofile_soft_limit: u32,
    /// Range of uid/gid for site users (their own range: the system range is too small).
    pub site_ids: (u32, u32),
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Global {
    /// The configuration file as found (a real path, for messages).
    pub file: PathBuf,
    /// The directory of `lempctl.yaml` (a host path, e.g. `/etc/lempctl`).
    pub config_dir: PathBuf,
    pub php_version: String,
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
}

impl Global {
    /// What the service manager needs of this configuration.
    pub fn machine(&self) -> Machine<'_> {
        Machine {
            manager: self.manager,
            programs: &self.programs,
            direct: &self.direct,
        }
    }
}

/// The SMTP relay and recipients of failure alerts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Alerts {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub from: String,
    pub to: Vec<String>,
    pub starttls: bool,
    /// A root-only file `user:password` (or `user` and `password` on two lines).
    pub credentials_file: Option<PathBuf>,
}

/// A plain mail address `local@domain` (no display name, no spaces).
pub fn valid_mail_address(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && s.len() <= 254
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
        && domain
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

fn alerts(ctx: &mut Ctx<'_>, a: super::file::AlertsFile) -> Option<Alerts> {
    let addr = "an address like `lempctl@example.com`";
    let Some(host) = &a.smtp_host else {
        if let Some(v) = a.from.as_ref() {
            ctx.err(
                v,
                "alerts.smtp_host",
                "an `alerts` section needs an `smtp_host`",
                Some("a host name or IP address"),
            );
        }
        return None;
    };
    let ok_host = !host.value.is_empty()
        && host
            .value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:".contains(c));
    if !ok_host {
        ctx.err(
            host,
            "alerts.smtp_host",
            format!("`{}` is not a host name", host.value),
            Some("a host name or IP address"),
        );
    }
    let from = match &a.from {
        Some(v) if valid_mail_address(&v.value) => v.value.clone(),
        Some(v) => {
            ctx.err(
                v,
                "alerts.from",
                format!("`{}` is not a mail address", v.value),
                Some(addr),
            );
            String::new()
        }
        None => {
            ctx.err(
                host,
                "alerts.from",
                "an `alerts` section needs a `from` address",
                Some(addr),
            );
            String::new()
        }
    };
    let mut to = Vec::new();
    match &a.to {
        Some(list) if !list.value.is_empty() => {
            for (i, v) in list.value.iter().enumerate() {
                if valid_mail_address(&v.value) {
                    to.push(v.value.clone());
                } else {
                    ctx.err(
                        v,
                        &format!("alerts.to[{i}]"),
                        format!("`{}` is not a mail address", v.value),
                        Some(addr),
                    );
                }
            }
        }
        Some(list) => ctx.err(
            list,
            "alerts.to",
            "the list of recipients is empty",
            Some(addr),
        ),
        None => ctx.err(
            host,
            "alerts.to",
            "an `alerts` section needs `to` recipients",
            Some(addr),
        ),
    }
    let smtp_port = match &a.smtp_port {
        Some(p) if p.value == 0 => {
            ctx.err(p, "alerts.smtp_port", "port 0", Some("1-65535"));
            25
        }
        Some(p) => p.value,
        None => 25,
    };
    let credentials_file = a.credentials_file.as_ref().map(|v| {
        ctx.path(
            Some(v),
            "alerts.credentials_file",
            "/etc/lempctl/smtp.credentials",
        )
    });
    Some(Alerts {
        smtp_host: host.value.clone(),
        smtp_port,
        from,
        to,
        starttls: a.starttls.as_ref().is_some_and(|v| v.value),
        credentials_file,
    })
}

/// Host-wide S3 settings.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct S3Global {
    /// A 0600 file with static keys (host path); `None`: the standard AWS credential chain.
    pub credentials_file: Option<PathBuf>,
    /// Section of the credentials file (default `default`).
    pub profile: Option<String>,
}

/// Default exclude globs of a site backup (see `docs/backups.md`).
pub const DEFAULT_BACKUP_EXCLUDES: &[&str] = &[
    "/tmp",
    "/sessions",
    "/upload-tmp",
    "wp-content/cache",
    ".cache",
    "*.log",
];

/// The repository every site is backed up to.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BackupGlobal {
    /// A local path (host path, mapped under `--root`) or a restic URL such as `s3:http://host:9000/bucket/prefix`.
    pub repository: String,
    /// Host path of the repository password (generated on first use, 0600).
    pub password_file: PathBuf,
    /// Globs relative to a site's directory: `/x` is anchored at the site directory, `x` matches at any depth.
    pub exclude: Vec<String>,
    /// node_exporter textfile collector directory for `lempctl_backup.prom`.
    pub textfile_dir: Option<PathBuf>,
    pub restic: PathBuf,
    pub mariadb: PathBuf,
    /// `backup.sites`: the policy of sites without a `backup` section of their own.
    pub site_default: Option<super::backup::SiteBackup>,
}

impl BackupGlobal {
    /// A local repository (a host path), or `None` for a remote URL.
    pub fn local_path(&self) -> Option<PathBuf> {
        self.repository
            .starts_with('/')
            .then(|| PathBuf::from(&self.repository))
    }
}

/// A valid exclude glob: path components of letters, digits and `-_.*?`, no `..`, no `**`.
pub fn valid_exclude(s: &str) -> bool {
    let body = s.strip_prefix('/').unwrap_or(s).trim_end_matches('/');
    !body.is_empty()
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.*?/".contains(c))
        && body
            .split('/')
            .all(|c| !c.is_empty() && c != ".." && c != "." && !c.contains("**"))
}

fn backup(
    ctx: &mut Ctx<'_>,
    b: super::file::BackupGlobalFile,
    state_dir: &Path,
) -> Option<BackupGlobal> {
    let Some(repo) = &b.repository else {
        if let Some(v) = b.password_file.as_ref().or(b.textfile_dir.as_ref()) {
            ctx.err(
                v,
                "backup.repository",
                "a `backup` section needs a `repository`",
                Some("an absolute path, or `s3:http(s)://host:port/bucket/prefix`"),
            );
        }
        return None;
    };
    let r = repo.value.trim_end_matches('/').to_owned();
    let ok = if r.starts_with('/') {
        safe_token(&r) && !r.contains("/../") && !r.ends_with("/..")
    } else if let Some(url) = r.strip_prefix("s3:") {
        (url.starts_with("http://") || url.starts_with("https://"))
            && safe_token(url)
            && url.split('/').count() >= 4
    } else {
        false
    };
    if !ok {
        ctx.err(
            repo,
            "backup.repository",
            format!("`{}` is not a repository lempctl can use", repo.value),
            Some("an absolute path, or `s3:http(s)://host:port/bucket/prefix`"),
        );
        return None;
    }
    let name: String = r
        .rsplit('/')
        .next()
        .unwrap_or("repository")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .collect();
    let name = if name.is_empty() || name.starts_with('.') {
        "repository".to_owned()
    } else {
        name
    };
    let default_pw = state_dir.join("backup").join(format!("{name}.password"));
    let password_file = ctx.path(
        b.password_file.as_ref(),
        "backup.password_file",
        &default_pw.to_string_lossy(),
    );
    let mut exclude = Vec::new();
    match &b.exclude {
        None => exclude.extend(DEFAULT_BACKUP_EXCLUDES.iter().map(|s| (*s).to_owned())),
        Some(list) => {
            for (i, v) in list.iter().enumerate() {
                if valid_exclude(&v.value) {
                    exclude.push(v.value.trim_end_matches('/').to_owned());
                } else {
                    ctx.err(v, &format!("backup.exclude[{i}]"), format!("`{}` is not an exclude glob lempctl accepts", v.value), Some("a relative path glob of letters, digits and `-_.*?/` (`*.log`, `wp-content/cache`); a leading `/` anchors it at the site directory"));
                }
            }
        }
    }
    let textfile_dir = b.textfile_dir.as_ref().map(|v| {
        ctx.path(
            Some(v),
            "backup.textfile_dir",
            "/var/lib/prometheus/node-exporter",
        )
    });
    Some(BackupGlobal {
        repository: r,
        password_file,
        exclude,
        textfile_dir,
        restic: ctx.path(b.restic.as_ref(), "backup.restic", "/usr/bin/restic"),
        mariadb: ctx.path(b.mariadb.as_ref(), "backup.mariadb", "/usr/bin/mariadb"),
        site_default: b
            .sites
            .as_ref()
            .filter(|s| s.enabled != Some(false))
            .and_then(|s| super::backup::site_backup(ctx, s, "backup.sites")),
    })
}

pub const DEFAULT_CONFIG: &str = "/etc/lempctl/lempctl.yaml";

fn parse_listen(
    ctx: &mut Ctx<'_>,
    v: Option<&S<String>>,
    field: &str,
    default_port: u16,
) -> Listen {
    let Some(v) = v else {
        return Listen {
            address: None,
            port: default_port,
        };
    };
    let (addr, port) = match v.value.rsplit_once(':') {
        Some((a, p)) => (Some(a.to_owned()), p),
        None => (None, v.value.as_str()),
    };
    let addr_ok = addr.as_deref().is_none_or(|a| {
        a.parse::<std::net::IpAddr>().is_ok()
            || (a.starts_with('[')
                && a.ends_with(']')
                && a[1..a.len() - 1].parse::<std::net::Ipv6Addr>().is_ok())
    });
    match (port.parse::<u16>(), addr_ok) {
        (Ok(p), true) if p > 0 => Listen {
            address: addr,
            port: p,
        },
        _ => {
            ctx.err(
                v,
                field,
                format!("`{}` is not a port or address:port", v.value),
                Some("`80`, `127.0.0.1:8080` or `[::1]:8080`"),
            );
            Listen {
                address: None,
                port: default_port,
            }
        }
    }
}

/// Validates a parsed `lempctl.yaml`; problems are appended to `errors`.
pub fn validate(file: &Path, g: GlobalFile, errors: &mut Vec<ConfigError>) -> Global {
    let mut ctx = Ctx { file, errors };
    let php_version = match &g.php_version {
        Some(v) if !valid_php_version(&v.value) => {
            ctx.err(
                v,
                "php_version",
                format!("`{}` is not a PHP version", v.value),
                Some("`MAJOR.MINOR`, e.g. `8.2`"),
            );
            "8.2".to_owned()
        }
        Some(v) => v.value.clone(),
        None => "8.2".to_owned(),
    };
    let manager = match &g.service_manager {
        None => detect_manager(),
        Some(v) => match v.value.as_str() {
            "auto" => detect_manager(),
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
    let listen_http = parse_listen(
        &mut ctx,
        listen.and_then(|l| l.http.as_ref()),
        "listen.http",
        80,
    );
    let listen_https = parse_listen(
        &mut ctx,
        listen.and_then(|l| l.https.as_ref()),
        "listen.https",
        443,
    );
    let p = g.paths.unwrap_or_default();
    let paths = Paths {
        sites_dir: ctx.path(
            p.sites_dir.as_ref(),
            "paths.sites_dir",
            "/etc/lempctl/sites.d",
        ),
        state_dir: ctx.path(p.state_dir.as_ref(), "paths.state_dir", "/var/lib/lempctl"),
        archive_dir: ctx.path(
            p.archive_dir.as_ref(),
            "paths.archive_dir",
            "/var/lib/lempctl/archive",
        ),
        templates_dir: ctx.path(
            p.templates_dir.as_ref(),
            "paths.templates_dir",
            "/etc/lempctl/templates",
        ),
        www_root: ctx.path(p.www_root.as_ref(), "paths.www_root", "/srv/www"),
        nginx_dir: ctx.path(p.nginx_dir.as_ref(), "paths.nginx_dir", "/etc/nginx"),
        nginx_log_dir: ctx.path(
            p.nginx_log_dir.as_ref(),
            "paths.nginx_log_dir",
            "/var/log/nginx",
        ),
        php_dir: ctx.path(p.php_dir.as_ref(), "paths.php_dir", "/etc/php"),
        php_log_dir: ctx.path(p.php_log_dir.as_ref(), "paths.php_log_dir", "/var/log/php"),
        run_dir: ctx.path(p.run_dir.as_ref(), "paths.run_dir", "/run"),
        systemd_dir: ctx.path(
            p.systemd_dir.as_ref(),
            "paths.systemd_dir",
            "/etc/systemd/system",
        ),
        cron_file: ctx.path(
            p.cron_file.as_ref(),
            "paths.cron_file",
            "/etc/cron.d/lempctl",
        ),
    };
    let pr = g.programs.unwrap_or_default();
    let programs = Programs {
        nginx: ctx.path(pr.nginx.as_ref(), "programs.nginx", "/usr/sbin/nginx"),
        php_fpm: ctx.token(
            pr.php_fpm.as_ref(),
            "programs.php_fpm",
            "/usr/sbin/php-fpm{version}",
        ),
        systemctl: ctx.path(
            pr.systemctl.as_ref(),
            "programs.systemctl",
            "/usr/bin/systemctl",
        ),
        systemd_analyze: ctx.path(
            pr.systemd_analyze.as_ref(),
            "programs.systemd_analyze",
            "/usr/bin/systemd-analyze",
        ),
        service: ctx.path(pr.service.as_ref(), "programs.service", "/usr/sbin/service"),
        useradd: ctx.path(pr.useradd.as_ref(), "programs.useradd", "/usr/sbin/useradd"),
        userdel: ctx.path(pr.userdel.as_ref(), "programs.userdel", "/usr/sbin/userdel"),
        tar: ctx.path(pr.tar.as_ref(), "programs.tar", "/usr/bin/tar"),
        lempctl: ctx.path(
            pr.lempctl.as_ref(),
            "programs.lempctl",
            "/usr/local/bin/lempctl",
        ),
        mariadbd: ctx.path(
            pr.mariadbd.as_ref(),
            "programs.mariadbd",
            "/usr/sbin/mariadbd",
        ),
        mariadb_install_db: ctx.path(
            pr.mariadb_install_db.as_ref(),
            "programs.mariadb_install_db",
            "/usr/bin/mariadb-install-db",
        ),
        php: ctx.token(pr.php.as_ref(), "programs.php", "/usr/bin/php{version}"),
        runuser: ctx.path(pr.runuser.as_ref(), "programs.runuser", "/usr/sbin/runuser"),
    };
    let d = g.direct.unwrap_or_default();
    let direct = Direct {
        nginx_conf: ctx.path(
            d.nginx_conf.as_ref(),
            "direct.nginx_conf",
            "/etc/nginx/nginx.conf",
        ),
        nginx_pid: ctx.path(d.nginx_pid.as_ref(), "direct.nginx_pid", "/run/nginx.pid"),
        php_fpm_conf: ctx.token(
            d.php_fpm_conf.as_ref(),
            "direct.php_fpm_conf",
            "/etc/php/{version}/fpm/php-fpm.conf",
        ),
        php_fpm_pid: ctx.token(
            d.php_fpm_pid.as_ref(),
            "direct.php_fpm_pid",
            "/run/php/php{version}-fpm.pid",
        ),
        mariadb_datadir: d
            .mariadb_datadir
            .as_ref()
            .map(|v| ctx.path(Some(v), "direct.mariadb_datadir", "/var/lib/mysql")),
        mariadb_port: d.mariadb_port.as_ref().map_or(3306, |p| p.value),
    };
    let h = g.health.unwrap_or_default();
    let health = HealthGlobal {
        enabled: h.enabled.unwrap_or(true),
        address: ctx.token(h.address.as_ref(), "health.address", "127.0.0.1"),
        timeout_ms: h.timeout_ms.as_ref().map_or(5000, |t| t.value),
        max_sites: h.max_sites.as_ref().map_or(50, |t| t.value),
    };
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
    let t = g.tuning.unwrap_or_default();
    let tuning = Tuning {
        opcache_mb_per_site: t.opcache_mb_per_site.map_or(16, |v| v.value),
        opcache_files_per_site: t.opcache_files_per_site.map_or(400, |v| v.value),
        nofile_soft_limit: t.nofile_soft_limit.map_or(1024, |v| v.value),
        site_ids: {
            let (lo, hi) = (&t.site_uid_min, &t.site_uid_max);
            let (l, h) = (
                lo.as_ref().map_or(20_000, |v| v.value),
                hi.as_ref().map_or(59_999, |v| v.value),
            );
            if l < 1000 || h <= l {
                if let Some(v) = lo.as_ref().or(hi.as_ref()) {
                    ctx.err(
                        v,
                        "tuning.site_uid_min",
                        format!("{l}-{h} is not a usable id range"),
                        Some("1000 <= site_uid_min < site_uid_max"),
                    );
                }
                (20_000, 59_999)
            } else {
                (l, h)
            }
        },
    };
    let database = database(&mut ctx, g.database.unwrap_or_default());
    let wp = g.wordpress.unwrap_or_default();
    let wordpress_source = ctx.path(
        wp.source.as_ref(),
        "wordpress.source",
        "/usr/share/wordpress",
    );
    let mut wordpress_allowed_sources = Vec::new();
    match &wp.allowed_sources {
        None => {
            wordpress_allowed_sources.push(PathBuf::from("/usr/share/wordpress"));
            wordpress_allowed_sources.push(paths.state_dir.join("wordpress"));
        }
        Some(list) => {
            for (i, v) in list.value.iter().enumerate() {
                let field = format!("wordpress.allowed_sources[{i}]");
                let p = ctx.path(Some(v), &field, "");
                if !p.as_os_str().is_empty() && p != Path::new("/") {
                    wordpress_allowed_sources.push(p);
                } else if p == Path::new("/") {
                    ctx.err(
                        v,
                        &field,
                        "`/` would allow every path on the host",
                        Some("a directory that holds WordPress trees or release tarballs"),
                    );
                }
            }
        }
    }
    if !wordpress_allowed_sources
        .iter()
        .any(|r| wordpress_source.starts_with(r))
    {
        wordpress_allowed_sources.push(wordpress_source.clone());
    }
    let cache_dir = ctx.path(
        wp.cache_dir.as_ref(),
        "wordpress.cache_dir",
        "/var/cache/nginx/lempctl",
    );
    let wordpress_php_timeout = match &wp.php_timeout {
        None => 300,
        Some(v) if (1..=86_400).contains(&v.value) => v.value,
        Some(v) => {
            ctx.err(
                v,
                "wordpress.php_timeout",
                format!("{} s is not a usable timeout", v.value),
                Some("1 to 86400 seconds"),
            );
            300
        }
    };
    let s3f = g.s3.unwrap_or_default();
    let s3 = S3Global {
        credentials_file: s3f.credentials_file.as_ref().map(|v| {
            ctx.path(
                Some(v),
                "s3.credentials_file",
                "/etc/lempctl/s3-credentials",
            )
        }),
        profile: s3f.profile.as_ref().and_then(|v| {
            let ok = !v.value.is_empty()
                && v.value.len() <= 64
                && v.value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if ok {
                Some(v.value.clone())
            } else {
                ctx.err(
                    v,
                    "s3.profile",
                    format!("`{}` is not a profile name", v.value.escape_debug()),
                    Some("letters, digits and `-_.`"),
                );
                None
            }
        }),
    };
    let backup = backup(&mut ctx, g.backup.unwrap_or_default(), &paths.state_dir);
    let alerts = alerts(&mut ctx, g.alerts.unwrap_or_default());
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
        wordpress_source,
        wordpress_allowed_sources,
        wordpress_php_timeout,
        cache_dir,
        s3,
        backup,
        alerts,
    }
}

fn database(ctx: &mut Ctx<'_>, d: super::file::DatabaseFile) -> Database {
    let admin = match (&d.host, &d.socket) {
        (Some(h), None) => {
            if !safe_token(&h.value) {
                ctx.err(
                    h,
                    "database.host",
                    format!("`{}` is not a host name or address", h.value),
                    Some("a host name or IP address"),
                );
            }
            let credentials_file = match &d.credentials_file {
                Some(_) => ctx.path(
                    d.credentials_file.as_ref(),
                    "database.credentials_file",
                    "/etc/lempctl/mariadb-admin.cnf",
                ),
                None => {
                    ctx.err(
                        h,
                        "database.credentials_file",
                        "a TCP admin connection needs a credentials file",
                        Some("an absolute path to a 0600 file with `user=` and `password=` lines"),
                    );
                    PathBuf::new()
                }
            };
            let tls = d.tls.as_ref().map(|t| DbTls {
                ca_file: t
                    .ca_file
                    .as_ref()
                    .map(|c| ctx.path(Some(c), "database.tls.ca_file", "/")),
                verify: t.verify.unwrap_or(true),
            });
            DbAdmin::Tcp {
                host: h.value.clone(),
                port: d.port.as_ref().map_or(3306, |p| p.value),
                credentials_file,
                tls,
            }
        }
        (Some(h), Some(_)) => {
            ctx.err(
                h,
                "database.host",
                "`host` and `socket` exclude each other",
                Some("either `socket` (local, the default) or `host` + `credentials_file`"),
            );
            DbAdmin::Socket(PathBuf::from("/run/mysqld/mysqld.sock"))
        }
        (None, s) => {
            DbAdmin::Socket(ctx.path(s.as_ref(), "database.socket", "/run/mysqld/mysqld.sock"))
        }
    };
    let mut web_hosts = Vec::new();
    let patterns = d.allow_host_patterns.unwrap_or(false);
    for (i, h) in d.web_hosts.iter().enumerate() {
        match crate::services::mariadb::sql::validate_host(&h.value, patterns) {
            Ok(()) => web_hosts.push(h.value.clone()),
            Err(e) => ctx.err(h, &format!("database.web_hosts[{i}]"), e.to_string(), Some("`localhost`, an IP address or a host name; `%` patterns only with `allow_host_patterns: true`")),
        }
    }
    if web_hosts.is_empty() {
        web_hosts.push(match &admin {
            DbAdmin::Socket(_) => "localhost".to_owned(),
            DbAdmin::Tcp { .. } => "127.0.0.1".to_owned(),
        });
    }
    let word = |ctx: &mut Ctx<'_>, v: &Option<S<String>>, field: &str, default: &str| -> String {
        match v {
            Some(v)
                if !v.value.is_empty()
                    && v.value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                v.value.clone()
            }
            Some(v) => {
                ctx.err(
                    v,
                    field,
                    format!("`{}` is not a character set or collation name", v.value),
                    Some("letters, digits and `_`"),
                );
                default.to_owned()
            }
            None => default.to_owned(),
        }
    };
    let charset = word(
        ctx,
        &d.charset,
        "database.charset",
        crate::services::mariadb::provision::DEFAULT_CHARSET,
    );
    let collation = word(
        ctx,
        &d.collation,
        "database.collation",
        crate::services::mariadb::provision::DEFAULT_COLLATION,
    );
    Database {
        admin,
        web_hosts,
        allow_host_patterns: patterns,
        charset,
        collation,
    }
}

/// systemd when it is PID 1, else SysV init scripts.
fn detect_manager() -> ManagerKind {
    if Path::new("/run/systemd/system").is_dir() {
        ManagerKind::Systemd
    } else {
        ManagerKind::Sysv
    }
}
