//! `lempctl doctor`: slower, deeper checks than `status`, each with a result (`ok`, `warn`,
//! `fail`), a one-line message and a one-line hint that says what to do. Read-only: it runs the
//! services' own configuration tests, reads files without following links in site trees, and
//! connects to MariaDB and the backup repository without changing them.
//!
//! The checks, in order (`docs/commands.md#doctor` has thresholds and hints): site files,
//! nginx/PHP-FPM/fail2ban/systemd/logrotate configuration, managed files against their recorded
//! hashes, owners and modes, nginx's open-files limit, opcache memory, disk space and inodes,
//! the backup repository, MariaDB, name resolution, and the clock against certificates.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;

use super::Context;
use crate::config::Config;
use crate::config::global::{Global, PhpVersion, Scheduler};
use crate::config::site::Challenge;
use crate::engine::drift::{self, Drift};
use crate::engine::permissions;
use crate::engine::state::State;
use crate::host::php::FpmMaster;
use crate::host::service_manager::{self, Service};
use crate::host::{Root, disk, dns, limits};
use crate::services::{self, ValidationError, dns_update};

/// Free space or inodes below this share of a filesystem: `warn`.
pub(crate) const DISK_WARN_PCT: f64 = 10.0;
/// Below this: `fail`.
pub(crate) const DISK_FAIL_PCT: f64 = 5.0;
/// How long name resolution may take, for all names together.
pub(crate) const RESOLVE_LIMIT: Duration = Duration::from_secs(3);
/// Names listed in one message at most (the rest are counted).
const LISTED: usize = 10;

/// A check's result. Ordered: `Fail` is the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Outcome {
    Ok,
    Warn,
    Fail,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Warn => "warn",
            Outcome::Fail => "fail",
        }
    }
}

/// One finding of one check (a check that finds several problems reports each on its own).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Check {
    pub check: &'static str,
    pub result: Outcome,
    pub message: String,
    /// What to do; empty for `ok`.
    pub hint: String,
}

/// Everything `doctor` found.
#[derive(Debug, Serialize)]
pub(crate) struct Doctor {
    /// No check failed (warnings allowed): exit 0; else exit 1.
    pub ok: bool,
    pub checks: Vec<Check>,
}

#[derive(Default)]
struct Checks(Vec<Check>);

impl Checks {
    fn push(&mut self, check: &'static str, result: Outcome, message: String, hint: String) {
        self.0.push(Check {
            check,
            result,
            message,
            hint,
        });
    }
    fn ok(&mut self, check: &'static str, message: String) {
        self.push(check, Outcome::Ok, message, String::new());
    }
    fn warn(&mut self, check: &'static str, message: String, hint: String) {
        self.push(check, Outcome::Warn, message, hint);
    }
    fn fail(&mut self, check: &'static str, message: String, hint: String) {
        self.push(check, Outcome::Fail, message, hint);
    }
}

pub(crate) fn doctor(ctx: &Context) -> Result<Doctor> {
    let config = ctx.load()?;
    let mut c = Checks::default();
    site_files(&config, &mut c);
    let state = match State::load(&ctx.root, &config.global.paths.state_file()) {
        Ok(s) => Some(s),
        Err(e) => {
            c.fail(
                "managed-files",
                format!("{e:#}"),
                "restore the state file from a backup, or move it aside and run `lempctl apply --force` to rewrite every managed file".into(),
            );
            None
        }
    };
    configuration(ctx, &config, state.as_ref(), &mut c);
    if let Some(state) = &state {
        managed_files(ctx, state, &mut c);
    }
    modes(ctx, &config, &mut c);
    open_files(ctx, &config, &mut c);
    opcache(ctx, &config, &mut c);
    disk_space(ctx, &config, &mut c);
    backup_repository(ctx, &config, &mut c);
    mariadb(ctx, &config, &mut c);
    name_resolution(&config, &mut c);
    dns_updates(&config, &mut c);
    clock(ctx, &config, &mut c);
    let ok = c.0.iter().all(|x| x.result != Outcome::Fail);
    Ok(Doctor { ok, checks: c.0 })
}

/// `a, b, c and 4 more`.
fn listed(items: &[String]) -> String {
    let mut s = items
        .iter()
        .take(LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > LISTED {
        s.push_str(&format!(" and {} more", items.len() - LISTED));
    }
    s
}

/// Site files that do not load (their sites are left alone by every command).
fn site_files(config: &Config, c: &mut Checks) {
    for b in &config.broken {
        let first = b.errors.first().map_or_else(
            || "does not load".to_owned(),
            |e| first_line(&e.to_string()),
        );
        c.fail(
            "site-files",
            format!("{}: {first}", b.file.display()),
            "fix the file; `lempctl apply` lists every problem with its line and column".into(),
        );
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_owned()
}

/// A configuration test's error in one line: the program's first complaint.
fn rejection(e: &anyhow::Error) -> String {
    match e.downcast_ref::<ValidationError>() {
        Some(v) => format!(
            "{} rejected the configuration: {}",
            v.program,
            first_line(&v.message)
        ),
        None => first_line(&format!("{e:#}")),
    }
}

/// The services' own configuration tests, as `apply` runs them before a reload.
fn configuration(ctx: &Context, config: &Config, state: Option<&State>, c: &mut Checks) {
    let (root, g) = (&ctx.root, &config.global);
    match services::nginx::check_config(root, g) {
        Ok(()) => c.ok("nginx-config", "nginx -t passed".into()),
        Err(e) => c.fail(
            "nginx-config",
            rejection(&e),
            "run `nginx -t` for every error and fix the file it names (`lempctl apply --force` restores a managed file)".into(),
        ),
    }
    let mut versions: Vec<_> = config
        .sites
        .iter()
        .filter_map(|s| s.php.as_ref().map(|p| p.version.clone()))
        .collect();
    versions.sort();
    versions.dedup();
    for v in &versions {
        for fpm in g.masters(v) {
            php_fpm_master(c, root, g, &fpm);
        }
        pools_per_master(c, config, v);
    }
    if g.fail2ban.is_some() {
        match services::fail2ban::check_config(root, g) {
            Ok(()) => c.ok("fail2ban-config", "fail2ban-client -t passed".into()),
            Err(e) => c.fail(
                "fail2ban-config",
                rejection(&e),
                format!(
                    "run `fail2ban-client -c {} -t` and fix the jail or filter it names",
                    root.path(&g.paths.fail2ban_dir).display()
                ),
            ),
        }
    }
    if g.scheduler == Scheduler::Systemd {
        let wants = g.paths.systemd_dir.join("timers.target.wants");
        let mut units: Vec<String> = Vec::new();
        for path in state
            .map(|s| s.links.keys().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            if path.parent() == Some(wants.as_path())
                && let Some(timer) = path.file_name().and_then(|n| n.to_str())
            {
                units.push(timer.to_owned());
                units.push(timer.replace(".timer", ".service"));
            }
        }
        let n = units.len();
        match services::systemd::verify(root, g, &units) {
            Ok(()) => c.ok(
                "systemd-units",
                format!("systemd-analyze verify passed for {n} managed unit(s)"),
            ),
            Err(e) => c.fail(
                "systemd-units",
                rejection(&e),
                "run `systemd-analyze verify` on the unit it names; `lempctl apply --force` restores a managed unit".into(),
            ),
        }
    }
    let rotation = g.paths.logrotate_dir.join("lempctl");
    if state.is_some_and(|s| s.files.contains_key(&rotation)) && root.path(&rotation).exists() {
        match services::logrotate::check_config(root, g, &rotation) {
            Ok(()) => c.ok(
                "logrotate-config",
                format!("logrotate -d passed for {}", rotation.display()),
            ),
            Err(e) => c.fail(
                "logrotate-config",
                rejection(&e),
                format!(
                    "run `logrotate -d {}` and fix what it names",
                    root.path(&rotation).display()
                ),
            ),
        }
    }
}

/// `php-fpm -t` of one master, and its reload grace (`process_control_timeout`).
fn php_fpm_master(c: &mut Checks, root: &Root, g: &Global, fpm: &FpmMaster<'_>) {
    let program = fpm.program();
    let name = program.file_name().map_or_else(
        || program.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let unit = fpm.service().unit();
    if fpm.is_own() && !root.path(&fpm.main_conf()).is_file() {
        c.fail(
            "php-fpm-config",
            format!("{unit}: its main configuration {} is missing", root.path(&fpm.main_conf()).display()),
            "run `lempctl apply`: it writes the configuration of every master `tuning.php_fpm_masters` asks for and starts it".into(),
        );
        return;
    }
    match services::php_fpm::check_config(root, g, &fpm.id()) {
        Ok(()) => c.ok("php-fpm-config", format!("{unit}: {name} -t passed")),
        Err(e) => c.fail(
            "php-fpm-config",
            rejection(&e),
            format!("run `{name} -t` for every error and fix the pool or ini file it names"),
        ),
    }
    if let Ok(Some(0)) = services::php_fpm::process_control_timeout(root, g, &fpm.id()) {
        c.warn(
            "php-fpm-reload",
            format!(
                "{unit}: process_control_timeout is 0: every reload (each `apply` that changes a pool) kills the PHP requests still running"
            ),
            format!(
                "set `process_control_timeout = 10s` in the [global] section of {}, then restart {unit}",
                root.path(&fpm.main_conf()).display(),
            ),
        );
    }
}

/// Pools one PHP-FPM master carries at most before waking them from idle gets slow (each
/// new worker is a fork of a master holding every pool: docs/performance.md).
const POOLS_PER_MASTER_WARN: usize = 250;

/// The busiest master of version `v` carries few enough pools.
fn pools_per_master(c: &mut Checks, config: &Config, v: &PhpVersion) {
    let pools = config.pools_per_master(v);
    let most = pools.iter().copied().max().unwrap_or(0);
    let total: usize = pools.iter().sum();
    if most <= POOLS_PER_MASTER_WARN {
        c.ok(
            "php-fpm-masters",
            format!(
                "PHP {v}: {total} pools over {} master(s), at most {most} in one",
                pools.len()
            ),
        );
    } else {
        c.warn(
            "php-fpm-masters",
            format!("PHP {v}: one master carries {most} pools; waking idle pools (a `status` with probes, traffic after a quiet night) forks workers of a master that holds them all and takes seconds"),
            format!("set `tuning.php_fpm_masters: {}` in lempctl.yaml (about 100 pools per master) and run `lempctl apply`", total.div_ceil(100).min(64)),
        );
    }
}

/// Every managed file and link against the hash (or target) lempctl recorded.
fn managed_files(ctx: &Context, state: &State, c: &mut Checks) {
    let drifted = match drift::drifted(&ctx.root, state) {
        Ok(d) => d,
        Err(e) => {
            c.fail(
                "managed-files",
                format!("{e:#}"),
                "see the error; `lempctl status` lists drift per site".into(),
            );
            return;
        }
    };
    if drifted.is_empty() {
        c.ok(
            "managed-files",
            format!(
                "{} file(s) and {} link(s) are as lempctl wrote them",
                state.files.len(),
                state.links.len()
            ),
        );
        return;
    }
    let restore = "`lempctl apply --force` restores lempctl's version (keep a wanted change in the site file or a template override first)";
    for (path, d) in drifted {
        let shown = ctx.root.path(&path).display().to_string();
        let message = match d {
            Drift::Edited => format!("{shown} was edited since lempctl wrote it"),
            Drift::Missing => format!("{shown} was deleted"),
            Drift::Relinked(t) => format!("{shown} points to {} now", t.display()),
            Drift::Unreadable(why) => format!("{shown} cannot be read as a file: {why}"),
        };
        c.fail("managed-files", message, restore.into());
    }
}

/// Owners and modes of lempctl's private files and of the site roots.
fn modes(ctx: &Context, config: &Config, c: &mut Checks) {
    let expected = permissions::expected(&ctx.root, config);
    let mut problems = 0;
    for e in &expected {
        for p in permissions::check(&ctx.root, e) {
            let (message, hint) = permissions::describe(&ctx.root, e, &p);
            c.fail("permissions", message, hint);
            problems += 1;
        }
    }
    if problems == 0 {
        c.ok(
            "permissions",
            format!(
                "credentials, keys and site roots are no more open than lempctl makes them ({} path(s) known)",
                expected.len()
            ),
        );
    }
}

/// nginx's open-files limit against the log files it keeps open.
fn open_files(ctx: &Context, config: &Config, c: &mut Checks) {
    let g = &config.global;
    let needed = crate::engine::desire::nginx_open_files(config) as u64;
    let sites = config.sites.iter().filter(|s| s.enabled).count();
    let pid = service_manager::running_pid(&service_manager::pid_file(
        &ctx.root,
        &g.machine(),
        &Service::Nginx,
    ));
    let found = match pid.and_then(|p| limits::nofile_of(p).map(|l| (p, l))) {
        Some((p, l)) => Some((format!("nginx's master (pid {p})"), l)),
        None => limits::own_nofile().map(|l| ("nginx is not running; lempctl's own".to_owned(), l)),
    };
    let Some((whose, limit)) = found else {
        c.warn(
            "open-files",
            "the open-files limit could not be read".into(),
            "check `ulimit -n` and nginx's LimitNOFILE".into(),
        );
        return;
    };
    let raise = (needed * 2).max(65_536);
    let hint = format!(
        "raise it to {raise}: `worker_rlimit_nofile {raise};` in nginx.conf and `LimitNOFILE={raise}` for nginx.service (lempctl writes that drop-in above tuning.nofile_soft_limit), then restart nginx"
    );
    let message = format!(
        "{whose} open-files limit is {}; {sites} site(s) need {needed} (2 logs each + 64)",
        limit.soft
    );
    if limit.soft < needed {
        c.fail("open-files", message, hint);
    } else if limit.soft < needed * 2 {
        c.warn(
            "open-files",
            format!("{message}, less than twice that (connections share the limit)"),
            hint,
        );
    } else {
        c.ok("open-files", message);
    }
}

/// Each PHP version's opcache against the enabled PHP sites that share it: those of its
/// busiest master (each master has its own).
fn opcache(ctx: &Context, config: &Config, c: &mut Checks) {
    let g = &config.global;
    let mut versions: BTreeMap<_, usize> = BTreeMap::new();
    for s in config.sites.iter().filter(|s| s.enabled) {
        if let Some(php) = &s.php {
            versions.entry(php.version.clone()).or_insert_with(|| {
                config
                    .pools_per_master(&php.version)
                    .into_iter()
                    .max()
                    .unwrap_or(0)
            });
        }
    }
    let keys = [
        "opcache.enable",
        "opcache.memory_consumption",
        "opcache.max_accelerated_files",
    ];
    for (v, n) in &versions {
        let n = *n as u64;
        let ini = g.fpm(v).conf_d().join("90-lempctl-opcache.ini");
        let values = match services::php_fpm::ini_values(&ctx.root, g, v, &keys) {
            Ok(values) => values,
            Err(e) => {
                c.warn(
                    "opcache",
                    format!(
                        "PHP {v}: the opcache settings could not be read: {}",
                        first_line(&format!("{e:#}"))
                    ),
                    format!(
                        "run `{} -i` and look for opcache",
                        g.fpm(v).program().display()
                    ),
                );
                continue;
            }
        };
        let enabled = values.get("opcache.enable").map(String::as_str);
        if !matches!(enabled, Some("On" | "1")) {
            c.warn(
                "opcache",
                format!(
                    "PHP {v}: opcache is {} for {n} site(s): every request compiles its scripts again",
                    if enabled.is_some() { "off" } else { "not loaded" }
                ),
                format!("enable the extension (`phpenmod -v {v} opcache`) and remove any `opcache.enable=0`, then reload php{v}-fpm"),
            );
            continue;
        }
        let number = |k: &str| {
            values
                .get(k)
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let memory = number("opcache.memory_consumption");
        let files = number("opcache.max_accelerated_files");
        let want_memory = 64 + u64::from(g.tuning.opcache_mb_per_site) * n;
        let want_files = u64::from(g.tuning.opcache_files_per_site) * n;
        let hint = format!(
            "remove the ini setting that overrides lempctl's {} (a later file in conf.d or php.ini), or raise tuning.opcache_mb_per_site / opcache_files_per_site and `lempctl apply`",
            ctx.root.path(&ini).display()
        );
        if memory < want_memory {
            c.warn(
                "opcache",
                format!(
                    "PHP {v}: opcache has {memory} MiB for {n} site(s); the budget is 64 + {} MiB per site = {want_memory} MiB",
                    g.tuning.opcache_mb_per_site
                ),
                hint,
            );
        } else if files < want_files {
            c.warn(
                "opcache",
                format!(
                    "PHP {v}: opcache holds {files} scripts for {n} site(s); the budget is {} per site = {want_files}",
                    g.tuning.opcache_files_per_site
                ),
                hint,
            );
        } else {
            c.ok(
                "opcache",
                format!("PHP {v}: {memory} MiB and {files} scripts for {n} site(s)"),
            );
        }
    }
}

/// Space and inodes on the filesystems of the sites, logs, local backup repository and caches.
fn disk_space(ctx: &Context, config: &Config, c: &mut Checks) {
    let g = &config.global;
    let mut places: Vec<(&str, PathBuf)> = vec![
        ("sites", g.paths.www_root.clone()),
        ("logs", g.paths.nginx_log_dir.clone()),
    ];
    if let Some(p) = g.backup.as_ref().and_then(|b| b.local_path()) {
        places.push(("backups", p));
    }
    places.push(("cache", g.cache_dir.clone()));
    // one entry per filesystem, naming what it holds
    let mut filesystems: Vec<(disk::Usage, Vec<&str>)> = Vec::new();
    for (what, path) in &places {
        match disk::usage(&ctx.root.path(path)) {
            Ok(u) => match filesystems.iter_mut().find(|(f, _)| f.device == u.device) {
                Some((_, whats)) => whats.push(what),
                None => filesystems.push((u, vec![what])),
            },
            Err(e) => c.warn(
                "disk-space",
                format!("{what}: {}", first_line(&format!("{e:#}"))),
                format!("check that {} is reachable", ctx.root.path(path).display()),
            ),
        }
    }
    for (u, whats) in filesystems {
        let bytes = u.free_bytes_pct();
        let inodes = u.free_inodes_pct();
        let worst = inodes.map_or(bytes, |i| i.min(bytes));
        let message = format!(
            "{} ({}): {:.0}% space free ({}){}",
            u.measured.display(),
            whats.join(", "),
            bytes,
            human(u.free_bytes),
            inodes.map_or(String::new(), |i| format!(", {i:.0}% inodes free"))
        );
        let hint = if inodes.is_some_and(|i| i < bytes) {
            format!(
                "free inodes on {}: many small files (page caches in {}, PHP sessions, old backups' dumps), or a filesystem with more inodes",
                u.measured.display(),
                ctx.root.path(&g.cache_dir).display()
            )
        } else {
            format!(
                "free space on {}: old logs, archives in {}, `lempctl backup prune`; or grow the filesystem",
                u.measured.display(),
                ctx.root.path(&g.paths.archive_dir).display()
            )
        };
        if worst < DISK_FAIL_PCT {
            c.fail("disk-space", message, hint);
        } else if worst < DISK_WARN_PCT {
            c.warn("disk-space", message, hint);
        } else {
            c.ok("disk-space", message);
        }
    }
}

fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1} {}", UNITS[i])
}

/// With sites backed up: the password file present, and the repository opened with it.
fn backup_repository(ctx: &Context, config: &Config, c: &mut Checks) {
    let g = &config.global;
    let Some(cfg) = &g.backup else { return };
    if !config.sites.iter().any(|s| s.backup.is_some()) {
        return;
    }
    let pw = ctx.root.path(&cfg.password_file);
    match ctx.root.read(&cfg.password_file) {
        Ok(Some(_)) => {}
        Ok(None) => {
            c.fail(
                "backup-repository",
                format!("the repository password file {} is missing", pw.display()),
                format!("restore {} from your safe copy: without it no backup in {} can be read (a new password only fits a new repository)", pw.display(), cfg.repository),
            );
            return;
        }
        Err(e) => {
            c.fail(
                "backup-repository",
                format!(
                    "the repository password file cannot be read: {}",
                    first_line(&format!("{e:#}"))
                ),
                format!("make {} a regular file, root's, mode 600", pw.display()),
            );
            return;
        }
    }
    let restic = crate::engine::backup::restic(&ctx.root, g, cfg);
    match restic.cat_config() {
        Ok(()) => c.ok(
            "backup-repository",
            format!("{} opens with {}", restic.repository, pw.display()),
        ),
        Err(e) => {
            let said = e
                .stderr_tail
                .lines()
                .map(str::trim)
                .rfind(|l| !l.is_empty())
                .map_or_else(|| e.outcome.to_string(), str::to_owned);
            c.fail(
                "backup-repository",
                format!("{} cannot be opened: {said}", restic.repository),
                "check that the repository is mounted or reachable and that the password file is the one it was made with (`lempctl backup init` makes a new repository)".into(),
            );
        }
    }
}

/// With site databases: the admin connection lempctl uses, opened and closed.
fn mariadb(ctx: &Context, config: &Config, c: &mut Checks) {
    let g = &config.global;
    if !config.sites.iter().any(|s| s.db.is_some()) {
        return;
    }
    let result = crate::engine::database::admin_target(&ctx.root, g).and_then(|target| {
        crate::engine::database::with_admin(&target, async |_| Ok(()))?;
        Ok(target.describe())
    });
    match result {
        Ok(target) => c.ok("mariadb", format!("admin connection to {target} works")),
        Err(e) => {
            use crate::services::mariadb::DbError;
            let hint = match e.downcast_ref::<DbError>() {
                Some(DbError::AuthFailed { .. } | DbError::Credentials { .. }) => {
                    admin_hint(g, "fix the admin credentials")
                }
                _ => admin_hint(g, "start MariaDB (`systemctl start mariadb`)"),
            };
            c.fail("mariadb", first_line(&format!("{e:#}")), hint);
        }
    }
}

fn admin_hint(g: &Global, first: &str) -> String {
    format!(
        "{first}, or correct the `database` section of {}",
        g.file.display()
    )
}

/// Every enabled site's names resolve (warn only: DNS may point elsewhere on purpose, before a
/// move).
fn name_resolution(config: &Config, c: &mut Checks) {
    let names: Vec<String> = config
        .sites
        .iter()
        .filter(|s| s.enabled)
        .flat_map(|s| std::iter::once(&s.name).chain(&s.aliases))
        .map(ToString::to_string)
        .collect();
    if names.is_empty() {
        return;
    }
    let resolved = dns::resolve_all(&names, RESOLVE_LIMIT);
    let (mut missing, mut unanswered) = (Vec::new(), Vec::new());
    for n in &names {
        match resolved.get(n) {
            Some(addrs) if !addrs.is_empty() => {}
            Some(_) => missing.push(n.clone()),
            None => unanswered.push(n.clone()),
        }
    }
    if !missing.is_empty() {
        c.warn(
            "name-resolution",
            format!(
                "{} of {} site name(s) do not resolve: {}",
                missing.len(),
                names.len(),
                listed(&missing)
            ),
            "add DNS records (A/AAAA) for them pointing at this host; visitors and ACME's HTTP-01 need them".into(),
        );
    }
    if !unanswered.is_empty() {
        c.warn(
            "name-resolution",
            format!(
                "{} of {} site name(s) got no answer within {} s: {}",
                unanswered.len(),
                names.len(),
                RESOLVE_LIMIT.as_secs(),
                listed(&unanswered)
            ),
            "check the resolvers in /etc/resolv.conf (`getent hosts NAME` shows what this host gets)".into(),
        );
    }
    if missing.is_empty() && unanswered.is_empty() {
        c.ok(
            "name-resolution",
            format!("all {} site name(s) resolve", names.len()),
        );
    }
}

/// With `acme.dns_update`, the zone's server takes signed updates for every DNS-01 name (checked
/// with an update that changes nothing).
fn dns_updates(config: &Config, c: &mut Checks) {
    let Some(u) = config
        .global
        .acme
        .as_ref()
        .and_then(|a| a.dns_update.as_ref())
    else {
        return;
    };
    let mut names: Vec<String> = config
        .sites
        .iter()
        .filter(|s| s.enabled)
        .filter(|s| {
            s.tls
                .as_ref()
                .is_some_and(|t| t.acme.is_some() && t.challenge == Challenge::Dns01)
        })
        .flat_map(crate::engine::tls::order_names)
        .map(|n| format!("_acme-challenge.{}", n.trim_start_matches("*.")))
        .collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        return;
    }
    let (mut zones, mut failed) = (std::collections::BTreeSet::new(), Vec::new());
    for n in &names {
        match dns_update::check(u, n) {
            Ok(zone) => {
                zones.insert(zone);
            }
            Err(e) => failed.push(format!("{e:#}")),
        }
    }
    if let Some(first) = failed.first() {
        c.fail(
            "acme-dns-update",
            format!("{} of {} DNS-01 name(s): {first}", failed.len(), names.len()),
            format!(
                "the server's key must match {} (name, algorithm, secret) and its update-policy allow TXT records under the names (BIND: `update-policy {{ grant KEY zonesub TXT; }};`)",
                u.key_file.display()
            ),
        );
    } else {
        let zones: Vec<String> = zones.into_iter().collect();
        c.ok(
            "acme-dns-update",
            format!(
                "{} takes signed updates for all {} DNS-01 name(s), in {}",
                u.server,
                names.len(),
                listed(&zones)
            ),
        );
    }
}

/// A certificate valid only from a time still to come means this host's clock is behind.
fn clock(ctx: &Context, config: &Config, c: &mut Checks) {
    let now = chrono::Utc::now().timestamp();
    let mut checked = 0;
    let mut ahead = Vec::new();
    for site in config.sites.iter().filter(|s| s.tls.is_some()) {
        let Ok(Some(cert)) = crate::engine::tls::read_cert(&ctx.root, site) else {
            continue;
        };
        checked += 1;
        if cert.not_before > now {
            ahead.push((site.name.to_string(), cert.not_before));
        }
    }
    if checked == 0 {
        return;
    }
    for (site, not_before) in &ahead {
        c.fail(
            "clock",
            format!(
                "clock behind: {site}'s certificate is valid from {}, {} s from now",
                crate::engine::tls::when(*not_before),
                not_before - now
            ),
            "set the clock right and keep it synchronised (`timedatectl set-ntp true`, chrony or systemd-timesyncd)".into(),
        );
    }
    if ahead.is_empty() {
        c.ok(
            "clock",
            format!("{checked} certificate(s) valid from before now"),
        );
    }
}
