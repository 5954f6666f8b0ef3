//! Typed template contexts. Paths in them are "as the services see them": under `--root` with
//! the `direct` manager the private nginx and php-fpm are not chrooted, so they get root-prefixed
//! paths; an offline image prepared with `--root` for another manager gets host paths.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::global::{DbAdmin, Global, ManagerKind};
use crate::config::site::{Php, Site, SitePaths, Upstream};
use crate::host::Root;

/// Maps host paths to the paths written into rendered files.
#[derive(Debug, Clone)]
pub struct PathMap {
    root: Root,
    rooted: bool,
}

impl PathMap {
    pub fn new(root: &Root, global: &Global) -> Self {
        Self {
            root: root.clone(),
            rooted: !root.is_host() && global.manager == ManagerKind::Direct,
        }
    }

    pub fn show(&self, p: &Path) -> PathBuf {
        if self.rooted {
            self.root.path(p)
        } else {
            p.to_path_buf()
        }
    }

    fn site(&self, site: &Site) -> Site {
        let mut s = site.clone();
        let p: &mut SitePaths = &mut s.paths;
        for path in [
            &mut p.site_dir,
            &mut p.document_root,
            &mut p.logs_dir,
            &mut p.tmp_dir,
            &mut p.sessions_dir,
            &mut p.upload_tmp_dir,
            &mut p.vhost,
            &mut p.vhost_enabled,
            &mut p.access_log,
            &mut p.error_log,
            &mut p.php_error_log,
            &mut p.slow_log,
            &mut p.htpasswd,
        ] {
            *path = self.show(path);
        }
        p.pool = p.pool.as_deref().map(|x| self.show(x));
        p.pool_socket = p.pool_socket.as_deref().map(|x| self.show(x));
        if let Some(tls) = &mut s.tls {
            tls.certificate = self.show(&tls.certificate);
            tls.key = self.show(&tls.key);
        }
        s
    }
}

#[derive(Debug, Serialize)]
pub struct VhostContext {
    pub site: Site,
    pub site_file: String,
    pub templates_dir: String,
    pub listen_http: String,
    pub listen_https: String,
    pub server_names: String,
    pub https_port_suffix: String,
    pub socket: String,
    pub host_header_with_port: bool,
    /// Unique per site: nginx zone names (rate limit, page cache).
    pub zone: String,
    pub cache_path: String,
    /// The certificate names an OCSP responder: nginx staples its answers.
    pub ocsp_stapling: bool,
    /// A proxy site's nginx `upstream` block name (unique per site) and its `server` address.
    pub upstream_name: String,
    pub upstream_server: String,
}

pub fn vhost(map: &PathMap, g: &Global, site: &Site) -> VhostContext {
    let shown = map.site(site);
    let names: Vec<&str> = std::iter::once(site.name.as_str())
        .chain(site.aliases.iter().map(|a| a.as_str()))
        .collect();
    VhostContext {
        socket: shown
            .paths
            .pool_socket
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        site_file: site.file.display().to_string(),
        templates_dir: g.paths.templates_dir.display().to_string(),
        listen_http: g.listen_http.directive(),
        listen_https: g.listen_https.directive(),
        server_names: names.join(" "),
        https_port_suffix: if g.listen_https.port == 443 {
            String::new()
        } else {
            format!(":{}", g.listen_https.port)
        },
        host_header_with_port: g.listen_http.port != 80
            || (site.tls.is_some() && g.listen_https.port != 443),
        zone: site.user.clone(),
        cache_path: map
            .show(&g.cache_dir.join(site.name.as_str()))
            .display()
            .to_string(),
        // also a variable name (no `-`); `__` never occurs in a user name (labels are not empty)
        upstream_name: format!("lempctl_{}", site.user.replace('-', "__")),
        upstream_server: match site.proxy.as_ref().map(|p| &p.upstream) {
            Some(Upstream::Tcp { address }) => address.clone(),
            Some(Upstream::Unix { path }) => format!("unix:{}", map.show(path).display()),
            None => String::new(),
        },
        site: shown,
        ocsp_stapling: false,
    }
}

#[derive(Debug, Serialize)]
pub struct PoolContext {
    pub site: Site,
    pub php: Php,
    pub site_file: String,
    pub templates_dir: String,
    pub socket: String,
    pub web_user: String,
    pub web_group: String,
    pub site_dir: String,
    pub tmp_dir: String,
    pub upload_tmp_dir: String,
    pub sessions_dir: String,
    pub php_error_log: String,
    pub slow_log: String,
    pub disable_functions: String,
    pub sendmail_path: String,
    /// `openssl.cafile`: the CA that site PHP verifies the database server with (`db_ca_file`).
    pub openssl_cafile: String,
}

/// Functions no site needs that turn a PHP bug into a shell on the host.
pub const DISABLED_FUNCTIONS: &[&str] = &[
    "exec",
    "passthru",
    "shell_exec",
    "system",
    "proc_open",
    "popen",
    "pcntl_exec",
    "pcntl_fork",
    "pcntl_signal",
    "posix_kill",
    "posix_setuid",
    "posix_setgid",
    "posix_setsid",
    "proc_nice",
    "proc_terminate",
    "dl",
    "show_source",
    // with mail(), the LD_PRELOAD route to running any program (mail keeps working: the pool fixes
    // sendmail_path as an admin value)
    "putenv",
];

/// The functions a site's PHP may not call: `DISABLED_FUNCTIONS` and the site's own additions.
/// One list for the pool and for PHP CLI run by lempctl.
pub fn disabled_functions(php: Option<&Php>) -> String {
    let mut disabled: Vec<&str> = DISABLED_FUNCTIONS.to_vec();
    for f in php.iter().flat_map(|p| &p.disable_functions) {
        if !disabled.contains(&f.as_str()) {
            disabled.push(f);
        }
    }
    disabled.join(",")
}

/// With `database.require_tls`, verification on and a `tls.ca_file`: that file as PHP sees it.
/// mysqlnd verifies the server (when asked to: `MYSQLI_CLIENT_SSL_VERIFY_SERVER_CERT`) against
/// `openssl.cafile` (else OpenSSL's default store); it replaces that store for every other TLS
/// connection of the site's PHP that names no CA itself.
pub fn db_ca_file(map: &PathMap, g: &Global) -> Option<String> {
    let DbAdmin::Tcp { tls: Some(tls), .. } = &g.database.admin else {
        return None;
    };
    let ca = tls
        .ca_file
        .as_ref()
        .filter(|_| g.database.require_tls && tls.verify)?;
    Some(map.show(ca).display().to_string())
}

/// The pool's restrictions as `-d key=value` settings for PHP CLI that lempctl runs as the site
/// user (install, tasks, cron): the values `php-fpm/pool.conf.j2` sets as `php_admin_value`.
pub fn php_cli_settings(map: &PathMap, g: &Global, site: &Site) -> Vec<String> {
    let shown = map.site(site);
    let p = &shown.paths;
    let cafile = db_ca_file(map, g).map(|ca| format!("openssl.cafile={ca}"));
    vec![
        format!("open_basedir={}/", p.site_dir.display()),
        format!(
            "disable_functions={}",
            disabled_functions(site.php.as_ref())
        ),
        format!("sys_temp_dir={}", p.tmp_dir.display()),
        format!("upload_tmp_dir={}", p.upload_tmp_dir.display()),
        format!("session.save_path={}", p.sessions_dir.display()),
        format!("sendmail_path={SENDMAIL_PATH}"),
        "allow_url_include=0".to_owned(),
    ]
    .into_iter()
    .chain(cafile)
    .collect()
}

/// The mail program of every pool (an admin value: a site cannot point it elsewhere).
pub const SENDMAIL_PATH: &str = "/usr/sbin/sendmail -t -i";

pub fn pool(map: &PathMap, g: &Global, site: &Site, php: &Php) -> PoolContext {
    let shown = map.site(site);
    let s = |p: &Path| p.display().to_string();
    PoolContext {
        socket: shown
            .paths
            .pool_socket
            .as_deref()
            .map(s)
            .unwrap_or_default(),
        site_file: site.file.display().to_string(),
        templates_dir: g.paths.templates_dir.display().to_string(),
        web_user: g.web_user.clone(),
        web_group: g.web_group.clone(),
        site_dir: s(&shown.paths.site_dir),
        tmp_dir: s(&shown.paths.tmp_dir),
        upload_tmp_dir: s(&shown.paths.upload_tmp_dir),
        sessions_dir: s(&shown.paths.sessions_dir),
        php_error_log: s(&shown.paths.php_error_log),
        slow_log: s(&shown.paths.slow_log),
        disable_functions: disabled_functions(Some(php)),
        sendmail_path: SENDMAIL_PATH.to_owned(),
        openssl_cafile: db_ca_file(map, g).unwrap_or_default(),
        php: php.clone(),
        site: shown,
    }
}

#[derive(Debug, Serialize)]
pub struct OpcacheContext {
    pub version: String,
    pub sites: usize,
    pub mb_per_site: u32,
    pub files_per_site: u32,
    pub memory_mb: u32,
    pub interned_mb: u32,
    pub max_files: u32,
}

/// Opcache sized to the PHP sites of one version (rounded up to blocks of 8 sites, so adding
/// one site does not change the host-wide file every time).
pub fn opcache(g: &Global, version: &str, sites: usize) -> OpcacheContext {
    let block = sites.div_ceil(8).max(1) as u32 * 8;
    let memory_mb = (64 + g.tuning.opcache_mb_per_site * block).max(128);
    OpcacheContext {
        version: version.to_owned(),
        sites,
        mb_per_site: g.tuning.opcache_mb_per_site,
        files_per_site: g.tuning.opcache_files_per_site,
        memory_mb,
        interned_mb: (memory_mb / 16).clamp(16, 256),
        max_files: (g.tuning.opcache_files_per_site * block).clamp(10_000, 1_000_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global() -> Global {
        let mut errors = Vec::new();
        crate::config::global::validate(
            Path::new("/etc/lempctl/lempctl.yaml"),
            crate::config::file::GlobalFile::default(),
            &mut errors,
        )
    }

    #[test]
    fn php_cli_gets_the_pools_restrictions() {
        let g = global();
        let root = Root::new(Path::new("/")).unwrap();
        let map = PathMap::new(&root, &g);
        let file = Path::new("/etc/lempctl/sites.d/a.yaml");
        let parsed = crate::config::parse_yaml(
            file,
            "name: a.example.test\nkind: php\nphp:\n  disable_functions: [mail]\n",
        )
        .unwrap();
        let mut errors = Vec::new();
        let site = crate::config::site::validate(file, parsed, &g, &mut errors).unwrap();
        let php = site.php.clone().unwrap();
        let pool = pool(&map, &g, &site, &php);
        let cli = php_cli_settings(&map, &g, &site);
        for want in [
            format!("open_basedir={}/", pool.site_dir),
            format!("disable_functions={}", pool.disable_functions),
            format!("sys_temp_dir={}", pool.tmp_dir),
            format!("upload_tmp_dir={}", pool.upload_tmp_dir),
            format!("session.save_path={}", pool.sessions_dir),
            format!("sendmail_path={}", pool.sendmail_path),
        ] {
            assert!(cli.contains(&want), "{want} not in {cli:?}");
        }
        let disabled: Vec<&str> = pool.disable_functions.split(',').collect();
        assert!(disabled.contains(&"putenv") && disabled.contains(&"mail"));
    }

    #[test]
    fn opcache_grows_with_the_sites_it_carries() {
        let g = global();
        let one = opcache(&g, "8.2", 1);
        assert_eq!((one.memory_mb, one.max_files), (192, 10_000));
        // 8 sites share a block: adding the 8th site does not rewrite the host-wide file.
        assert_eq!(
            opcache(&g, "8.2", 7).memory_mb,
            opcache(&g, "8.2", 8).memory_mb
        );
        let many = opcache(&g, "8.2", 200);
        assert_eq!(many.memory_mb, 64 + 16 * 200);
        assert_eq!(many.max_files, 400 * 200);
        assert!(opcache(&g, "8.2", 10_000).max_files <= 1_000_000);
    }
}
