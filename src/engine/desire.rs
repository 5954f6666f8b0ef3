//! Desired state → resources: everything the host should hold for the configuration, rendered.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::resource::{Affects, Resource};
use super::schedule::{self, Job};
use crate::config::global::{Global, PhpVersion};
use crate::config::schedule::Schedule;
use crate::config::site::{Site, SiteKind};
use crate::config::{Config, Fqdn};
use crate::host::service_manager::Service;
use crate::host::{Perms, Root};
use crate::render::{Renderer, context, templates};

/// Which sites a run converges (`apply SITE…`); host-wide files are always included.
#[derive(Debug, Clone, Default)]
pub(crate) enum Scope {
    #[default]
    All,
    Sites(Vec<Fqdn>),
    /// Every site that loaded while a site file is set aside as invalid (`status`'s plan): like
    /// `Sites` with all of them, but without a linear search per resource.
    Loaded,
}

impl Scope {
    pub(crate) fn includes(&self, site: &str) -> bool {
        match self {
            Scope::All | Scope::Loaded => true,
            Scope::Sites(s) => s.iter().any(|f| f.as_str() == site),
        }
    }
}

/// Where HTTP-01 challenge files live (shared by all sites).
pub(crate) fn acme_root(g: &Global) -> PathBuf {
    g.paths.www_root.join("_acme")
}

pub(crate) use super::resource::Desired;

/// Every resource of the configuration, in the order they are created.
pub(crate) fn desire(root: &Root, config: &Config, scope: &Scope) -> Result<Desired> {
    let g = &config.global;
    let renderer = Renderer::new(&root.path(&g.paths.templates_dir))?;
    let map = context::PathMap::new(root, g);
    let mut out = Desired::default();
    host_wide(&mut out.resources, root, &renderer, &map, config)?;
    for site in config
        .sites
        .iter()
        .filter(|s| scope.includes(s.name.as_str()))
    {
        if site.db.is_none() && site.access.basic_auth.is_none() {
            site_resources(&mut out.resources, root, &renderer, &map, g, site)?;
            continue;
        }
        let file = super::secrets::path(g, site.name.as_str());
        let mut secrets = super::secrets::load(root, &file)?;
        let before = secrets.clone();
        if site.db.is_some() && secrets.db_password.is_none() {
            secrets.db_password = Some(super::database::new_password()?);
        }
        if let Some(wp) = &site.wordpress {
            super::wordpress::ensure_secrets(root, wp, &mut secrets)?;
        }
        if let Some(user) = &site.access.basic_auth {
            out.resources
                .push(basic_auth_file(g, site, user, &mut secrets)?);
        }
        if secrets != before {
            out.resources.push(Resource::Secret {
                path: file.clone(),
                contents: super::secrets::to_bytes(&secrets),
                site: site.name.to_string(),
            });
        }
        site_resources(&mut out.resources, root, &renderer, &map, g, site)?;
        if let (Some(db), Some(password)) = (&site.db, &secrets.db_password) {
            out.db_specs
                .push(super::database::spec(g, site.name.as_str(), db, password));
            if let Some(wp) = &site.wordpress {
                super::wordpress::resources(
                    &mut out, &renderer, &map, g, site, wp, db, &secrets, &file,
                )?;
            }
        }
    }
    Ok(out)
}

/// nginx's password file of a site behind basic auth (`access.basic_auth`): readable by nginx's
/// group only, from the password kept with the site's credentials (generated on first use).
fn basic_auth_file(
    g: &Global,
    site: &Site,
    user: &str,
    secrets: &mut super::secrets::SiteSecrets,
) -> Result<Resource> {
    let password = match &secrets.basic_auth_password {
        Some(p) => p.clone(),
        None => {
            let p = super::database::new_password()?;
            secrets.basic_auth_password = Some(p.clone());
            secrets.basic_auth_hash = None;
            p
        }
    };
    let hash = match &secrets.basic_auth_hash {
        Some(h) => h.clone(),
        None => {
            let h = ssha(&password, &rand::random::<[u8; 8]>());
            secrets.basic_auth_hash = Some(h.clone());
            h
        }
    };
    Ok(Resource::File {
        path: site.paths.htpasswd.clone(),
        contents: format!("{user}:{hash}\n").into_bytes(),
        perms: Perms::new("root", &g.web_group, 0o640),
        site: Some(site.name.to_string()),
        affects: Affects::Service(Service::Nginx),
    })
}

/// nginx's `{SSHA}` password scheme: base64 of SHA-1(password ‖ salt) ‖ salt.
fn ssha(password: &str, salt: &[u8]) -> String {
    use base64::Engine as _;
    use sha1::Digest as _;
    let mut h = sha1::Sha1::new();
    h.update(password.as_bytes());
    h.update(salt);
    let mut bytes = h.finalize().to_vec();
    bytes.extend_from_slice(salt);
    format!(
        "{{SSHA}}{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

fn host_wide(
    out: &mut Vec<Resource>,
    root: &Root,
    r: &Renderer,
    map: &context::PathMap,
    config: &Config,
) -> Result<()> {
    let g = &config.global;
    host_dirs(out, g);
    snippets(out, r, map, g)?;
    if config.sites.iter().any(|s| s.access.basic_auth.is_some()) {
        out.push(Resource::Dir {
            path: g.paths.nginx_dir.join("lempctl/auth"),
            perms: Perms::new("root", &g.web_group, 0o750),
            site: None,
        });
    }
    opcache(out, r, config)?;
    fpm_masters(out, r, map, config)?;
    nginx_nofile(out, config);
    log_rotation(out, root, r, map, config)?;
    fail2ban(out, r, map, config)?;
    schedule::resources(out, r, root_arg(map, g), g, &jobs(config))?;
    Ok(())
}

/// The shared directories: site roots, the challenge root, logs, and lempctl's own (root-only).
fn host_dirs(out: &mut Vec<Resource>, g: &Global) {
    let dir = |path: PathBuf, mode| Resource::Dir {
        path,
        perms: Perms::root(mode),
        site: None,
    };
    out.push(dir(g.paths.www_root.clone(), 0o755));
    out.push(dir(acme_root(g), 0o755));
    out.push(dir(g.paths.php_log_dir.clone(), 0o755));
    // lempctl's own data is root-only: state, credentials, archives of removed sites.
    out.push(dir(g.paths.state_dir.clone(), 0o700));
    out.push(dir(g.paths.state_dir.join("credentials"), 0o700));
    out.push(dir(g.paths.archive_dir.clone(), 0o700));
}

/// The nginx snippets every vhost includes (`<nginx_dir>/lempctl/`).
fn snippets(
    out: &mut Vec<Resource>,
    r: &Renderer,
    map: &context::PathMap,
    g: &Global,
) -> Result<()> {
    let dir = g.paths.nginx_dir.join("lempctl");
    out.push(Resource::Dir {
        path: dir.clone(),
        perms: Perms::root(0o755),
        site: None,
    });
    let acme = map.show(&acme_root(g)).display().to_string();
    for (name, file) in templates::globals() {
        let text = r.render(name, &minijinja::context! { acme_root => acme.clone() })?;
        out.push(Resource::File {
            path: dir.join(file),
            contents: text.into_bytes(),
            perms: Perms::root(0o644),
            site: None,
            affects: Affects::Service(Service::Nginx),
        });
    }
    Ok(())
}

/// Opcache is shared by every pool of a PHP-FPM master: sized to the sites of the busiest of
/// the version's masters (their ini directory is one).
fn opcache(out: &mut Vec<Resource>, r: &Renderer, config: &Config) -> Result<()> {
    let g = &config.global;
    let mut versions: std::collections::BTreeSet<&PhpVersion> = std::collections::BTreeSet::new();
    for s in config.sites.iter().filter(|s| s.enabled) {
        if let Some(php) = &s.php {
            versions.insert(&php.version);
        }
    }
    for v in versions {
        let n = config.pools_per_master(v).into_iter().max().unwrap_or(0);
        let text = r.render("php/opcache.ini.j2", &context::opcache(g, v.as_str(), n))?;
        out.push(Resource::File {
            path: g.fpm(v).conf_d().join("90-lempctl-opcache.ini"),
            contents: text.into_bytes(),
            perms: Perms::root(0o644),
            site: None,
            affects: Affects::Services(g.masters(v).map(|m| m.service()).collect()),
        });
    }
    Ok(())
}

/// Where lempctl's own PHP-FPM masters write their error logs (`lempctl-php8.2-fpm-N.log`).
fn masters_log_dir(g: &Global) -> PathBuf {
    g.paths.php_log_dir.join("masters")
}

/// lempctl's own PHP-FPM masters (`tuning.php_fpm_masters`): each one's main configuration,
/// and under systemd its unit, enabled through a `multi-user.target.wants` link.
fn fpm_masters(
    out: &mut Vec<Resource>,
    r: &Renderer,
    map: &context::PathMap,
    config: &Config,
) -> Result<()> {
    let g = &config.global;
    let shown = |p: &Path| map.show(p).display().to_string();
    if g.tuning.php_fpm_masters > 1 {
        out.push(Resource::Dir {
            path: masters_log_dir(g),
            perms: Perms::root(0o755),
            site: None,
        });
    }
    for id in config.fpm_masters().iter().filter(|id| id.shard > 0) {
        let fpm = g.master(&id.version, id.shard);
        let unit = fpm.service().unit();
        let text = r.render(
            "php-fpm/master.conf.j2",
            &minijinja::context! {
                unit => &unit,
                version => id.version.as_str(),
                shard => id.shard,
                masters => g.tuning.php_fpm_masters,
                pid => shown(&fpm.pid_file()),
                error_log => shown(&masters_log_dir(g).join(format!("{unit}.log"))),
                user => &g.web_user,
                group => &g.web_group,
                placeholder_socket => shown(&fpm.placeholder_socket()),
                pool_dir => shown(&fpm.pool_dir()),
            },
        )?;
        out.push(Resource::Dir {
            path: fpm.pool_dir(),
            perms: Perms::root(0o755),
            site: None,
        });
        out.push(Resource::File {
            path: fpm.main_conf(),
            contents: text.into_bytes(),
            perms: Perms::root(0o644),
            site: None,
            affects: Affects::Service(fpm.service()),
        });
        if g.manager != crate::config::global::ManagerKind::Systemd {
            continue;
        }
        let file = format!("{unit}.service");
        let text = r.render(
            "units/lempctl-php-fpm.service.j2",
            &minijinja::context! {
                unit => &unit,
                version => id.version.as_str(),
                shard => id.shard,
                program => fpm.program().display().to_string(),
                conf => shown(&fpm.main_conf()),
            },
        )?;
        let dir = &g.paths.systemd_dir;
        out.push(Resource::File {
            path: dir.join(&file),
            contents: text.into_bytes(),
            perms: Perms::root(0o644),
            site: None,
            affects: Affects::Unit(file.clone()),
        });
        out.push(Resource::Link {
            path: dir.join("multi-user.target.wants").join(&file),
            target: dir.join(&file),
            site: None,
            affects: Affects::Unit(file),
        });
    }
    Ok(())
}

/// The files nginx's master keeps open for the configuration: two logs per enabled site, and 64
/// for its own logs, listening sockets and the rest.
pub(crate) fn nginx_open_files(config: &Config) -> usize {
    config.sites.iter().filter(|s| s.enabled).count() * 2 + 64
}

/// nginx's master opens two log files per site: its limit is raised before it runs out.
fn nginx_nofile(out: &mut Vec<Resource>, config: &Config) {
    let g = &config.global;
    let logs = nginx_open_files(config);
    if g.manager != crate::config::global::ManagerKind::Systemd
        || logs <= g.tuning.nofile_soft_limit as usize
    {
        return;
    }
    let limit = (logs * 2).max(65_536);
    let text = format!(
        "# managed by lempctl: {logs} log files for {} sites exceed the default limit.\n[Service]\nLimitNOFILE={limit}\n",
        config.sites.len()
    );
    out.push(Resource::File {
        path: g
            .paths
            .systemd_dir
            .join("nginx.service.d/lempctl-nofile.conf"),
        contents: text.into_bytes(),
        perms: Perms::root(0o644),
        site: None,
        affects: Affects::Nothing,
    });
}

/// One logrotate file for every site's logs. nginx's site logs by one pattern (a list of 2,000
/// paths would overflow the argument the shared script gets), reopened once — unless the
/// distribution's own `<logrotate_dir>/nginx` rotates that directory already (Debian's does,
/// with the same reopen-once script: a second entry for a log is an error to logrotate). The
/// PHP-FPM slow logs by one pattern, each master reopened once; PHP's own log of each site as
/// the site's user.
fn log_rotation(
    out: &mut Vec<Resource>,
    root: &Root,
    r: &Renderer,
    map: &context::PathMap,
    config: &Config,
) -> Result<()> {
    let g = &config.global;
    let shown = |p: &Path| map.show(p).display().to_string();
    let enabled: Vec<&Site> = config.sites.iter().filter(|s| s.enabled).collect();
    let distribution_nginx = root.path(&g.paths.logrotate_dir.join("nginx")).exists();
    let nginx_logs: Vec<String> = if distribution_nginx || enabled.is_empty() {
        Vec::new()
    } else {
        let dir = &g.paths.nginx_log_dir;
        vec![
            shown(&dir.join("*.access.log")),
            shown(&dir.join("*.error.log")),
        ]
    };
    let mut versions = std::collections::BTreeSet::new();
    let mut site_logs = Vec::new();
    for s in &enabled {
        if let Some(php) = &s.php {
            versions.insert(&php.version);
            site_logs.push(minijinja::context! {
                site => s.name.as_str(), user => &s.user, path => shown(&s.paths.php_error_log),
            });
        }
    }
    let fpm_pids: Vec<String> = versions
        .iter()
        .flat_map(|v| g.masters(v))
        .map(|m| shown(&m.pid_file()))
        .collect();
    let text = r.render(
        "logrotate/lempctl.j2",
        &minijinja::context! {
            sites => enabled.len(),
            templates_dir => g.paths.templates_dir.display().to_string(),
            nginx_logs => nginx_logs,
            nginx_pid => shown(&g.direct.nginx_pid),
            slow_logs => (!fpm_pids.is_empty()).then(|| {
                let mut logs = vec![shown(&g.paths.php_log_dir.join("*.slow.log"))];
                if g.tuning.php_fpm_masters > 1 {
                    // the error logs of lempctl's own masters, apart from any site's log
                    logs.push(shown(&masters_log_dir(g).join("*.log")));
                }
                logs.join(" ")
            }),
            fpm_pids => fpm_pids,
            site_logs => site_logs,
            frequency => g.log_rotation.frequency,
            keep => g.log_rotation.keep,
            compress => g.log_rotation.compress,
            log_group => &g.log_group,
            web_user => &g.web_user,
        },
    )?;
    out.push(Resource::File {
        path: g.paths.logrotate_dir.join("lempctl"),
        contents: text.into_bytes(),
        perms: Perms::root(0o644),
        site: None,
        affects: Affects::Nothing,
    });
    Ok(())
}

/// The fail2ban jails: one per attack class, each watching the logs of every site that needs it
/// (sites with `security.fail2ban: false` are left out); a jail with no log is not written.
fn fail2ban(
    out: &mut Vec<Resource>,
    r: &Renderer,
    map: &context::PathMap,
    config: &Config,
) -> Result<()> {
    let g = &config.global;
    let Some(f) = &g.fail2ban else {
        return Ok(());
    };
    let shown = |p: &Path| map.show(p).display().to_string();
    let watched: Vec<&Site> = config
        .sites
        .iter()
        .filter(|s| s.enabled && s.fail2ban)
        .collect();
    let wp: Vec<&&Site> = watched.iter().filter(|s| s.wordpress.is_some()).collect();
    let access = |s: &&Site| shown(&s.paths.access_log);
    let error = |s: &&Site| shown(&s.paths.error_log);
    let jail = |name: &str, filter: &str, maxretry: u32, logs: Vec<String>| {
        minijinja::context! { name => name, filter => filter, maxretry => maxretry, logs => logs }
    };
    let xmlrpc: Vec<String> = wp
        .iter()
        .filter(|s| s.wordpress.as_ref().is_some_and(|w| w.xmlrpc))
        .map(|s| access(s))
        .collect();
    let jails: Vec<_> = [
        jail(
            "lempctl-wp-login",
            "lempctl-wp-login",
            f.maxretry,
            wp.iter().map(|s| access(s)).collect(),
        ),
        jail("lempctl-xmlrpc", "lempctl-xmlrpc", f.maxretry * 2, xmlrpc),
        jail(
            "lempctl-scan",
            "lempctl-scan",
            f.maxretry * 2,
            watched.iter().map(access).collect(),
        ),
        jail(
            "lempctl-http-auth",
            "nginx-http-auth",
            f.maxretry,
            watched.iter().map(error).collect(),
        ),
        jail(
            "lempctl-limit-req",
            "nginx-limit-req",
            f.maxretry,
            wp.iter().map(|s| error(s)).collect(),
        ),
    ]
    .into_iter()
    .filter(|j| {
        j.get_attr("logs")
            .is_ok_and(|l| l.len().is_some_and(|n| n > 0))
    })
    .collect();
    let dir = &g.paths.fail2ban_dir;
    let fail2ban_log = std::path::PathBuf::from("/var/log/fail2ban.log");
    if !jails.is_empty() {
        out.push(Resource::LogFile {
            path: fail2ban_log.clone(),
            perms: Perms::new("root", &g.log_group, 0o640),
            site: None,
        });
    }
    let text = r.render(
        "fail2ban/jail.local.j2",
        &minijinja::context! {
            sites => watched.len(),
            templates_dir => g.paths.templates_dir.display().to_string(),
            jails => jails,
            f => minijinja::value::Serde(f),
            // the ports nginx listens on, not `http,https`: a ban must close the ports in use
            ports => format!("{},{}", g.listen_http.port, g.listen_https.port),
            recidive_log => (!watched.is_empty()).then(|| shown(&fail2ban_log)),
        },
    )?;
    let file = |path: PathBuf, text: String| Resource::File {
        path,
        contents: text.into_bytes(),
        perms: Perms::root(0o644),
        site: None,
        affects: Affects::Nothing,
    };
    out.push(file(dir.join("jail.d/lempctl.local"), text));
    for filter in ["lempctl-wp-login", "lempctl-xmlrpc", "lempctl-scan"] {
        let text = r.render(&format!("fail2ban/{filter}.conf"), &minijinja::context! {})?;
        out.push(file(dir.join(format!("filter.d/{filter}.conf")), text));
    }
    Ok(())
}

/// Every scheduled job: apply, wp-cron, backups and S3 mirrors per site, certificates.
pub(crate) fn jobs(config: &Config) -> Vec<Job> {
    let g = &config.global;
    let job = |unit: &str, instance: Option<&Site>, schedule: &Schedule, args: &[&str]| Job {
        unit: unit.into(),
        instance: instance.map(|s| s.name.to_string()),
        schedule: schedule.clone(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
    };
    let mut jobs = Vec::new();
    if let Some(s) = &g.apply_schedule {
        jobs.push(job("lempctl-apply", None, s, &["apply", "--quiet"]));
    }
    let enabled: Vec<&Site> = config.sites.iter().filter(|s| s.enabled).collect();
    for site in &enabled {
        if let Some(wp) = &site.wordpress {
            jobs.push(job("lempctl-wpcron", Some(site), &wp.cron, &["wp", "cron"]));
        }
        if let (Some(b), Some(_)) = (&site.backup, &g.backup) {
            let args = ["backup", "run", "--quiet"];
            jobs.push(job("lempctl-backup", Some(site), &b.schedule, &args));
        }
    }
    // S3 mirrors of enabled sites with a schedule: `lempctl s3 sync <site>` per site.
    for site in &enabled {
        if let Some(s) = site.s3.as_ref().and_then(|s| s.schedule.as_ref()) {
            jobs.push(job("lempctl-s3sync", Some(site), s, &["s3", "sync"]));
        }
    }
    // Certificates: renewal twice a day where a site uses ACME; the monitor daily where any
    // site serves TLS (it does not depend on the renewal).
    let tls: Vec<_> = enabled.iter().filter_map(|s| s.tls.as_ref()).collect();
    if tls.iter().any(|t| t.acme.is_some()) {
        let at = Schedule::parse("17 3,15 * * *").expect("a valid schedule");
        jobs.push(job(
            "lempctl-cert-renew",
            None,
            &at,
            &["cert", "renew", "--quiet"],
        ));
    }
    if !tls.is_empty() {
        let at = Schedule::parse("41 6 * * *").expect("a valid schedule");
        jobs.push(job(
            "lempctl-cert-check",
            None,
            &at,
            &["cert", "check", "--quiet"],
        ));
    }
    jobs
}

/// `--root DIR` for commands run by timers in a sandbox; empty on a real host.
fn root_arg(map: &context::PathMap, _g: &Global) -> String {
    let shown = map.show(Path::new("/"));
    if shown == Path::new("/") {
        String::new()
    } else {
        format!(" --root {}", shown.display())
    }
}

fn site_resources(
    out: &mut Vec<Resource>,
    root: &Root,
    r: &Renderer,
    map: &context::PathMap,
    g: &Global,
    site: &Site,
) -> Result<()> {
    if site.kind != SiteKind::Redirect {
        site_tree(out, r, map, g, site)?;
    }
    site_logs(out, g, site);
    site_configs(out, root, r, map, g, site)
}

/// The site's user and its tree: site dir, document root, logs, PHP's private dirs, the seed page.
fn site_tree(
    out: &mut Vec<Resource>,
    r: &Renderer,
    map: &context::PathMap,
    g: &Global,
    site: &Site,
) -> Result<()> {
    let name = site.name.as_str().to_owned();
    let p = &site.paths;
    out.push(Resource::User {
        name: site.user.clone(),
        home: map.show(&p.site_dir),
        site: name.clone(),
    });
    let u = site.user.as_str();
    let dir = |path: &Path, perms: Perms| Resource::Dir {
        path: path.to_path_buf(),
        perms,
        site: Some(name.clone()),
    };
    out.push(dir(&p.site_dir, Perms::new(u, &g.web_group, 0o750)));
    // Every level between the site dir and the document root; setgid keeps new files readable by nginx.
    let mut level = p.site_dir.clone();
    for part in p
        .document_root
        .strip_prefix(&p.site_dir)
        .unwrap_or(Path::new("htdocs"))
        .components()
    {
        level.push(part);
        out.push(dir(&level, Perms::new(u, &g.web_group, 0o2750)));
    }
    out.push(dir(&p.logs_dir, Perms::new(u, u, 0o750)));
    if site.kind.uses_php() {
        for d in [&p.tmp_dir, &p.sessions_dir, &p.upload_tmp_dir] {
            out.push(dir(d, Perms::new(u, u, 0o700)));
        }
    }
    let (seed, file) = match site.kind {
        // WordPress brings its own; a proxy site's application answers `/`.
        SiteKind::Wordpress | SiteKind::Redirect | SiteKind::Proxy => return Ok(()),
        SiteKind::Php => ("site/index.php.j2", "index.php"),
        SiteKind::Static => ("site/index.html.j2", "index.html"),
    };
    let text = r.render(
        seed,
        &minijinja::context! { site => minijinja::value::Serde(site) },
    )?;
    out.push(Resource::Seed {
        path: p.document_root.join(file),
        contents: text.into_bytes(),
        perms: Perms::new(u, &g.web_group, 0o640),
        site: name,
    });
    Ok(())
}

/// Logs hold password-reset URLs and visitors' addresses: root and the log group only. nginx
/// and php-fpm append to files that exist and would create missing ones world-readable.
fn site_logs(out: &mut Vec<Resource>, g: &Global, site: &Site) {
    let p = &site.paths;
    // nginx gives its logs to its worker user when it reopens them (a rotation): that owner from
    // the start, so a rotated host is not drift. PHP-FPM's slow log stays root's.
    let nginx = Perms::new(&g.web_user, &g.log_group, 0o640);
    let mut logs = vec![(&p.access_log, nginx.clone()), (&p.error_log, nginx)];
    if site.php.is_some() {
        logs.push((&p.slow_log, Perms::new("root", &g.log_group, 0o640)));
    }
    for (log, perms) in logs {
        out.push(Resource::LogFile {
            path: log.clone(),
            perms,
            site: Some(site.name.to_string()),
        });
    }
}

/// The vhost (enabled by a link while the site is enabled) and the PHP-FPM pool.
fn site_configs(
    out: &mut Vec<Resource>,
    root: &Root,
    r: &Renderer,
    map: &context::PathMap,
    g: &Global,
    site: &Site,
) -> Result<()> {
    let name = site.name.as_str().to_owned();
    let p = &site.paths;
    let mut vhost_ctx = context::vhost(map, g, site);
    // Stapling only where the certificate names an OCSP responder (else nginx warns on reload).
    vhost_ctx.ocsp_stapling = super::tls::read_cert(root, site)
        .ok()
        .flatten()
        .is_some_and(|c| c.ocsp);
    let vhost = r.render("nginx/vhost.conf.j2", &vhost_ctx)?;
    out.push(Resource::File {
        path: p.vhost.clone(),
        contents: vhost.into_bytes(),
        perms: Perms::root(0o644),
        site: Some(name.clone()),
        affects: Affects::Service(Service::Nginx),
    });
    if !site.enabled {
        return Ok(());
    }
    let target = PathBuf::from("../sites-available").join(p.vhost.file_name().unwrap_or_default());
    out.push(Resource::Link {
        path: p.vhost_enabled.clone(),
        target,
        site: Some(name.clone()),
        affects: Affects::Service(Service::Nginx),
    });
    if let (Some(php), Some(pool)) = (&site.php, &p.pool) {
        let text = r.render("php-fpm/pool.conf.j2", &context::pool(map, g, site, php))?;
        out.push(Resource::File {
            path: pool.clone(),
            contents: text.into_bytes(),
            perms: Perms::root(0o644),
            site: Some(name),
            affects: Affects::Service(Service::PhpFpm(php.master())),
        });
    }
    Ok(())
}
