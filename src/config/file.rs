//! Serde mirrors of the YAML files as written. Unknown fields are errors; values that need more
//! than a type check are `Spanned` so the validation in `global.rs` / `site.rs` can name their line.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

pub type S<T> = Spanned<T>;

/// `sites.d/<name>.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteFile {
    pub name: S<String>,
    pub kind: S<String>,
    #[serde(default)]
    pub aliases: Vec<S<String>>,
    pub enabled: Option<bool>,
    pub document_root: Option<S<String>>,
    pub php: Option<PhpFile>,
    pub tls: Option<TlsFile>,
    pub redirect: Option<RedirectFile>,
    pub proxy: Option<ProxyFile>,
    pub health: Option<HealthFile>,
    pub db: Option<SiteDbFile>,
    pub wordpress: Option<WordpressFile>,
    /// `none` (default) or `fastcgi` (nginx page cache).
    pub cache: Option<S<String>>,
    pub backup: Option<SiteBackupFile>,
    /// Mirror of the site's static export to an S3 bucket.
    pub s3: Option<S3File>,
    pub security: Option<SecurityFile>,
    pub access: Option<AccessFile>,
}

/// Who may see a site (a staging copy: hidden from search engines, behind a password).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessFile {
    /// `X-Robots-Tag: noindex, nofollow` on every response.
    pub noindex: Option<bool>,
    /// HTTP basic auth with a generated password.
    pub basic_auth: Option<bool>,
    /// The basic-auth user name (default `staging`).
    pub user: Option<S<String>>,
}

/// A site's part in the host's protections.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityFile {
    /// `false`: the fail2ban jails do not watch this site's logs.
    pub fail2ban: Option<bool>,
}

/// A site's S3 sync target and rules (credentials are never here: see the global `s3` section).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3File {
    pub bucket: S<String>,
    pub prefix: Option<S<String>>,
    pub region: Option<S<String>>,
    pub endpoint: Option<S<String>>,
    pub path_style: Option<bool>,
    pub source: Option<S<String>>,
    #[serde(default)]
    pub excludes: Vec<S<String>>,
    pub delete_excluded: Option<bool>,
    #[serde(default)]
    pub cache_control: Vec<S3CacheControlFile>,
    pub max_delete_share: Option<S<f64>>,
    pub concurrency: Option<S<u32>>,
    pub schedule: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3CacheControlFile {
    pub glob: S<String>,
    pub value: S<String>,
}

/// A site's backup schedule and retention (`docs/backups.md`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteBackupFile {
    /// `false`: this site is not backed up on a schedule (opts out of lempctl.yaml's `backup.sites`).
    pub enabled: Option<bool>,
    pub schedule: Option<S<String>>,
    pub keep_last: Option<S<u32>>,
    pub keep_daily: Option<S<u32>>,
    pub keep_weekly: Option<S<u32>>,
    pub keep_monthly: Option<S<u32>>,
}

/// Settings of a `wordpress` site.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WordpressFile {
    pub title: Option<S<String>>,
    pub admin_user: Option<S<String>>,
    pub admin_email: Option<S<String>>,
    pub admin_password_file: Option<S<String>>,
    pub locale: Option<S<String>>,
    pub url: Option<S<String>>,
    pub table_prefix: Option<S<String>>,
    pub source: Option<S<String>>,
    pub source_sha256: Option<S<String>>,
    pub debug_log: Option<bool>,
    pub xmlrpc: Option<bool>,
    pub cron: Option<S<String>>,
}

/// A site's database (every `wordpress` site has one, with these defaults).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteDbFile {
    pub name: Option<S<String>>,
    pub user: Option<S<String>>,
    pub charset: Option<S<String>>,
    pub collation: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhpFile {
    pub version: Option<S<String>>,
    pub pm: Option<S<String>>,
    pub max_children: Option<S<u32>>,
    pub process_idle_timeout: Option<S<u32>>,
    pub max_requests: Option<S<u32>>,
    pub memory_limit: Option<S<String>>,
    pub upload_max_size: Option<S<String>>,
    /// Deprecated: read as `upload_max_size`.
    pub upload_max_filesize: Option<S<String>>,
    /// Deprecated: derived from `upload_max_size`.
    pub post_max_size: Option<S<String>>,
    pub max_execution_time: Option<S<u32>>,
    pub slowlog_timeout: Option<S<u32>>,
    #[serde(default)]
    pub disable_functions: Vec<S<String>>,
    pub ini: Option<S<BTreeMap<String, String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    pub certificate: Option<S<String>>,
    pub key: Option<S<String>>,
    /// Get the certificate from the `acme` CA of lempctl.yaml.
    pub acme: Option<S<bool>>,
    pub key_type: Option<S<String>>,
    /// `http-01` (default) or `dns-01`.
    pub challenge: Option<S<String>>,
    /// The certificate also covers `*.<name>` (DNS-01 only).
    pub wildcard: Option<S<bool>>,
    pub redirect: Option<bool>,
    pub hsts: Option<bool>,
    pub hsts_max_age: Option<S<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectFile {
    pub to: S<String>,
    pub code: Option<S<u16>>,
    pub preserve_path: Option<bool>,
}

/// The application behind a `proxy` site.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyFile {
    /// `127.0.0.1:PORT`, `[::1]:PORT`, `localhost:PORT` or `unix:/PATH`.
    pub upstream: S<String>,
    /// Allow an upstream that is not on this host (or a socket anywhere).
    pub allow_remote: Option<bool>,
    pub keepalive: Option<S<u32>>,
    pub connect_timeout: Option<S<u32>>,
    pub read_timeout: Option<S<u32>>,
    pub send_timeout: Option<S<u32>>,
    pub websocket: Option<bool>,
    #[serde(rename = "static")]
    pub static_path: Option<S<String>>,
    pub max_body_size: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthFile {
    pub enabled: Option<bool>,
    pub path: Option<S<String>>,
    pub status: Option<S<u16>>,
}

/// `/etc/lempctl/lempctl.yaml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalFile {
    pub php_version: Option<S<String>>,
    pub web_user: Option<S<String>>,
    pub web_group: Option<S<String>>,
    pub log_group: Option<S<String>>,
    pub service_manager: Option<S<String>>,
    pub scheduler: Option<S<String>>,
    pub listen: Option<ListenFile>,
    pub paths: Option<PathsFile>,
    pub programs: Option<ProgramsFile>,
    pub direct: Option<DirectFile>,
    pub health: Option<HealthGlobalFile>,
    pub schedule: Option<ScheduleGlobalFile>,
    pub tuning: Option<TuningFile>,
    pub database: Option<DatabaseFile>,
    pub wordpress: Option<WordpressGlobalFile>,
    pub backup: Option<BackupGlobalFile>,
    pub s3: Option<S3GlobalFile>,
    pub alerts: Option<AlertsFile>,
    pub acme: Option<AcmeFile>,
    pub certificates: Option<CertificatesFile>,
    pub log_rotation: Option<LogRotationFile>,
    pub fail2ban: Option<Fail2banFile>,
    pub monitoring: Option<MonitoringFile>,
}

/// Metrics and the health probes of `status` (`docs/monitoring.md`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringFile {
    pub textfile_dir: Option<S<String>>,
    pub probe_concurrency: Option<S<u32>>,
    pub backup_max_age_hours: Option<S<u32>>,
}

/// fail2ban jails for every site (`docs/security.md`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fail2banFile {
    pub enabled: Option<bool>,
    pub maxretry: Option<S<u32>>,
    pub findtime: Option<S<String>>,
    pub bantime: Option<S<String>>,
    pub bantime_increment: Option<bool>,
    pub ignoreip: Option<Vec<S<String>>>,
    pub banaction: Option<S<String>>,
    pub backend: Option<S<String>>,
}

/// How the sites' logs are rotated (`docs/configuration.md#log_rotation`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogRotationFile {
    pub frequency: Option<S<String>>,
    pub keep: Option<S<u32>>,
    pub compress: Option<bool>,
}

/// The ACME CA (`docs/tls.md`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeFile {
    pub directory: Option<S<String>>,
    pub email: Option<S<String>>,
    pub ca_bundle: Option<S<String>>,
    pub key_type: Option<S<String>>,
    pub default: Option<bool>,
    pub dns_hook: Option<S<String>>,
    pub dns_update: Option<S<DnsUpdateFile>>,
}

/// RFC 2136 updates for DNS-01 (`docs/tls.md`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsUpdateFile {
    pub server: Option<S<String>>,
    pub key_file: Option<S<String>>,
    pub ttl: Option<S<u32>>,
    pub propagation_seconds: Option<S<u32>>,
}

/// The certificate monitor (`docs/tls.md`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificatesFile {
    pub warn_days: Option<S<u32>>,
    pub critical_days: Option<S<u32>>,
    pub trust: Option<S<String>>,
    pub textfile_dir: Option<S<String>>,
    /// Also check each name's public addresses (DNS), on this port (default 443).
    pub public: Option<bool>,
    pub public_port: Option<S<u16>>,
}

/// Where failure alerts are mailed (`docs/configuration.md`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsFile {
    pub smtp_host: Option<S<String>>,
    pub smtp_port: Option<S<u16>>,
    pub from: Option<S<String>>,
    pub to: Option<S<Vec<S<String>>>>,
    pub starttls: Option<S<bool>>,
    pub credentials_file: Option<S<String>>,
}

/// Host-wide S3 settings: where static credentials come from (none: the standard AWS chain).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3GlobalFile {
    pub credentials_file: Option<S<String>>,
    pub profile: Option<S<String>>,
}

/// The backup repository shared by every site (`docs/backups.md`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupGlobalFile {
    pub repository: Option<S<String>>,
    pub password_file: Option<S<String>>,
    pub exclude: Option<Vec<S<String>>>,
    pub textfile_dir: Option<S<String>>,
    pub restic: Option<S<String>>,
    pub mariadb: Option<S<String>>,
    /// The schedule and retention of every site (with files) whose file has no `backup` section.
    pub sites: Option<SiteBackupFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WordpressGlobalFile {
    /// Default core source: a WordPress tree or a release tarball.
    pub source: Option<S<String>>,
    /// Roots a site file's `wordpress.source` must be under.
    pub allowed_sources: Option<S<Vec<S<String>>>>,
    pub cache_dir: Option<S<String>>,
    /// Seconds a PHP program lempctl runs as the site user (install, cron, tasks) may take.
    pub php_timeout: Option<S<u32>>,
}

/// The MariaDB admin connection and defaults for site databases.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseFile {
    pub socket: Option<S<String>>,
    pub host: Option<S<String>>,
    pub port: Option<S<u16>>,
    pub credentials_file: Option<S<String>>,
    pub tls: Option<DbTlsFile>,
    #[serde(default)]
    pub web_hosts: Vec<S<String>>,
    pub allow_host_patterns: Option<bool>,
    pub charset: Option<S<String>>,
    pub collation: Option<S<String>>,
    /// The server is shared with other lempctl hosts (`docs/database.md`).
    pub shared: Option<S<bool>>,
    /// Site database users connect only over TLS (`REQUIRE SSL`).
    pub require_tls: Option<S<bool>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbTlsFile {
    pub ca_file: Option<S<String>>,
    pub verify: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenFile {
    pub http: Option<S<String>>,
    pub https: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathsFile {
    pub sites_dir: Option<S<String>>,
    pub state_dir: Option<S<String>>,
    pub archive_dir: Option<S<String>>,
    pub templates_dir: Option<S<String>>,
    pub www_root: Option<S<String>>,
    pub nginx_dir: Option<S<String>>,
    pub nginx_log_dir: Option<S<String>>,
    pub php_dir: Option<S<String>>,
    pub php_log_dir: Option<S<String>>,
    pub run_dir: Option<S<String>>,
    pub systemd_dir: Option<S<String>>,
    pub cron_file: Option<S<String>>,
    pub logrotate_dir: Option<S<String>>,
    pub fail2ban_dir: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramsFile {
    pub nginx: Option<S<String>>,
    pub php_fpm: Option<S<String>>,
    pub systemctl: Option<S<String>>,
    pub systemd_analyze: Option<S<String>>,
    pub service: Option<S<String>>,
    pub useradd: Option<S<String>>,
    pub userdel: Option<S<String>>,
    pub tar: Option<S<String>>,
    pub lempctl: Option<S<String>>,
    pub mariadbd: Option<S<String>>,
    pub php: Option<S<String>>,
    pub runuser: Option<S<String>>,
    pub mariadb_install_db: Option<S<String>>,
    pub logrotate: Option<S<String>>,
    pub fail2ban_client: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectFile {
    pub nginx_conf: Option<S<String>>,
    pub nginx_pid: Option<S<String>>,
    pub php_fpm_conf: Option<S<String>>,
    pub php_fpm_pid: Option<S<String>>,
    pub mariadb_datadir: Option<S<String>>,
    pub mariadb_port: Option<S<u16>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthGlobalFile {
    pub enabled: Option<bool>,
    pub address: Option<S<String>>,
    pub timeout_ms: Option<S<u32>>,
    pub max_sites: Option<S<u32>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleGlobalFile {
    pub apply: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuningFile {
    pub opcache_mb_per_site: Option<S<u32>>,
    pub opcache_files_per_site: Option<S<u32>>,
    pub nofile_soft_limit: Option<S<u32>>,
    pub php_fpm_masters: Option<S<u32>>,
    pub site_uid_min: Option<S<u32>>,
    pub site_uid_max: Option<S<u32>>,
}
