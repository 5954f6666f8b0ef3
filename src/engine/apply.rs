//! Executing a plan: take the lock, write (journaled), validate with the real programs, reload each
//! service once, health-check the changed sites, record the state. Any failure rolls the whole run
//! back (and reloads again if a reload already happened).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};

use super::health::{self, Probe};
use super::plan::{Op, Plan};
use super::state::State;
use crate::config::Config;
use crate::config::global::{ManagerKind, Scheduler};
use crate::host::exec::Cmd;
use crate::host::machine::FpmId;
use crate::host::service_manager::{self, Service};
use crate::host::{Journal, Root, accounts};
use crate::services::{nginx, php_fpm, systemd};

/// A site that served before the run stopped serving after it; the run was rolled back.
#[derive(Debug, thiserror::Error)]
#[error("health check failed after reload; every change of this run was rolled back\n{}", .failures.join("\n"))]
pub(crate) struct HealthError {
    pub failures: Vec<String>,
}

/// A run failed after it changed the host, and every change was undone (the step's own error
/// follows).
#[derive(Debug, thiserror::Error)]
#[error("the run failed; every change of this run was rolled back")]
pub(crate) struct RolledBack;

/// What happened, for the report.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub warnings: Vec<String>,
    pub secrets_shown_once: Vec<String>,
}

struct Undo<'a> {
    root: &'a Root,
    config: &'a Config,
    journal: Journal,
    users: Vec<String>,
    old_state: &'a State,
    /// lempctl's own PHP-FPM masters this run started (stopped again by a rollback) and stopped
    /// (started again).
    started: Vec<Service>,
    stopped: Vec<Service>,
}

impl Undo<'_> {
    fn rollback(&mut self, reloaded: &[Service]) -> Vec<String> {
        let mut problems = self.root.rollback(&mut self.journal);
        for u in self.users.drain(..).rev() {
            if let Err(e) = accounts::remove_user(&self.config.global.programs.userdel, &u) {
                problems.push(format!("removing user {u}: {e:#}"));
            }
        }
        let m = self.config.global.machine();
        for s in reloaded {
            let (done, what) = if self.started.contains(s) {
                (service_manager::stop(self.root, &m, s), "stopping")
            } else {
                (service_manager::reload(self.root, &m, s), "reloading")
            };
            if let Err(e) = done {
                problems.push(format!("{what} {s} after rollback: {e:#}"));
            }
        }
        for s in &self.stopped {
            if let Err(e) = service_manager::start(self.root, &m, s) {
                problems.push(format!("starting {s} after rollback: {e:#}"));
            }
        }
        if let Err(e) = self
            .old_state
            .save(self.root, &self.config.global.paths.state_file())
        {
            problems.push(format!("restoring the state file: {e:#}"));
        }
        problems
    }

    fn fail(&mut self, err: anyhow::Error, reloaded: &[Service]) -> anyhow::Error {
        let problems = self.rollback(reloaded);
        if problems.is_empty() {
            // rejections and failed health checks say so themselves
            let says = err
                .chain()
                .any(|c| c.is::<HealthError>() || c.is::<crate::services::ValidationError>());
            if says { err } else { err.context(RolledBack) }
        } else {
            err.context(format!(
                "rollback was incomplete:\n  {}",
                problems.join("\n  ")
            ))
        }
    }
}

/// Runs the plan, as a sequence of named steps. The caller holds the lock.
pub(crate) fn execute(
    root: &Root,
    config: &Config,
    state: &State,
    plan: Plan,
    health_on: bool,
) -> Result<Outcome> {
    let g = &config.global;
    let probes = probes(config, &plan, health_on);
    let addr = health::address(&g.health.address, g.listen_http.port)?;
    let before = health_before(root, config, addr, &probes);
    record_pending(root, config, state, &plan)?;
    let mut run = Run {
        root,
        config,
        plan: &plan,
        undo: Undo {
            root,
            config,
            journal: Journal {
                batch: true,
                ..Journal::default()
            },
            users: Vec::new(),
            old_state: state,
            started: Vec::new(),
            stopped: Vec::new(),
        },
        db_done: Vec::new(),
        outcome: Outcome::default(),
        retired_pools: Vec::new(),
    };
    let purges = run.write_files()?;
    run.databases()?;
    run.install_wordpress()?;
    run.validate()?;
    let mut reloaded = run.reload()?;
    run.retire_pools(&mut reloaded)?;
    run.stop_removed_masters(&reloaded)?;
    run.health_after(addr, &probes, &before, &reloaded)?;
    run.purge(purges)?;
    let outcome = run.outcome;
    commit(root, config, plan)?;
    Ok(outcome)
}

/// Sites to probe: changed, enabled, with a vhost that will be served. A change to a shared
/// template touches every site; probing all of them would start a PHP worker in each of a
/// thousand pools, so an even sample (`health.max_sites`) stands for them.
fn probes(config: &Config, plan: &Plan, health_on: bool) -> Vec<Probe> {
    let g = &config.global;
    if !health_on || !g.health.enabled {
        return Vec::new();
    }
    let probes: Vec<Probe> = config
        .sites
        .iter()
        .filter(|s| s.enabled && s.health.enabled && plan.sites_changed.contains(s.name.as_str()))
        .map(|s| Probe {
            site: s.name.to_string(),
            path: s.health.path.clone(),
            status: s.health.status,
        })
        .collect();
    let max = g.health.max_sites as usize;
    if max == 0 || probes.len() <= max {
        return probes;
    }
    let n = probes.len();
    tracing::info!(
        "health-checking {max} of the {n} changed sites (an even sample; `health.max_sites`)"
    );
    (0..max)
        .map(|i| probes[i * (n - 1) / (max - 1).max(1)].clone())
        .collect()
}

/// Which probed sites answer before the run (only those must answer after it).
fn health_before(
    root: &Root,
    config: &Config,
    addr: std::net::SocketAddr,
    probes: &[Probe],
) -> BTreeMap<String, bool> {
    let g = &config.global;
    let nginx_running =
        service_manager::is_running(root, &g.machine(), &Service::Nginx).unwrap_or(false);
    if !nginx_running || probes.is_empty() {
        return BTreeMap::new();
    }
    let started = std::time::Instant::now();
    let before: BTreeMap<String, bool> = probes
        .iter()
        .map(|p| p.site.clone())
        .zip(health::check_once(addr, probes))
        .collect();
    tracing::debug!(
        "health-checked {} sites before the run in {:.1} ms",
        before.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    before
}

/// Records the intended content first: a run killed half-way is then recognised as ours.
fn record_pending(root: &Root, config: &Config, state: &State, plan: &Plan) -> Result<()> {
    let mut pending = state.clone();
    for (path, rec) in &plan.new_state.files {
        let entry = pending
            .files
            .entry(path.clone())
            .or_insert_with(|| rec.clone());
        if entry.sha256 != rec.sha256 {
            entry.pending = Some(rec.sha256.clone());
        }
    }
    pending.links.extend(plan.new_state.links.clone());
    pending.users.extend(plan.new_state.users.clone());
    pending.save(root, &config.global.paths.state_file())
}

/// The run succeeded: the new state, with nothing pending.
fn commit(root: &Root, config: &Config, plan: Plan) -> Result<()> {
    let mut final_state = plan.new_state;
    for rec in final_state.files.values_mut() {
        rec.pending = None;
    }
    final_state.version = super::state::VERSION;
    final_state.save(root, &config.global.paths.state_file())
}

/// A run in progress: what it changed so far, to undo it on failure.
struct Run<'a> {
    root: &'a Root,
    config: &'a Config,
    plan: &'a Plan,
    undo: Undo<'a>,
    /// Database actions done, undone if a later step fails.
    db_done: Vec<crate::services::mariadb::Action>,
    outcome: Outcome,
    /// Pool files to delete only once nginx no longer sends requests to their pools.
    retired_pools: Vec<(std::path::PathBuf, Service)>,
}

impl Run<'_> {
    /// Undoes everything, the database actions too, and says what could not be undone.
    fn fail(&mut self, e: anyhow::Error, reloaded: &[Service]) -> anyhow::Error {
        let mut e = self.undo.fail(e, reloaded);
        if let Some(target) = &self.plan.db_target {
            let problems = super::database::undo(target, &self.db_done);
            if !problems.is_empty() {
                e = e.context(problems.join("; "));
            }
        }
        e
    }

    /// Users, directories, files, links and WordPress core, in plan order; the destructive
    /// steps (purges, user removal) are returned for the end of the run.
    fn write_files(&mut self) -> Result<Vec<Op>> {
        let (root, g) = (self.root, &self.config.global);
        let mut purges = Vec::new();
        for change in &self.plan.changes {
            let undo = &mut self.undo;
            let step = match &change.op {
                Op::CreateUser { name, home } => {
                    accounts::create_system_user(&g.programs.useradd, name, home, g.tuning.site_ids)
                        .or_else(|e| {
                            // Another run (a parallel sandbox) may have created the same shared user.
                            if accounts::user_exists(name).unwrap_or(false) {
                                Ok(())
                            } else {
                                Err(e)
                            }
                        })
                        .map(|()| undo.users.push(name.clone()))
                }
                Op::Dir { path, perms } => root.ensure_dir(&mut undo.journal, path, perms),
                Op::LogFile { path, perms } => root.ensure_log(&mut undo.journal, path, perms),
                Op::Write {
                    path,
                    contents,
                    perms,
                } => root.write_atomic(&mut undo.journal, path, contents, perms),
                Op::Link { path, target } => root.symlink(&mut undo.journal, path, target),
                Op::Remove { path } => {
                    match retired_pool(root, self.config, self.plan, undo.old_state, path) {
                        Some(s) => {
                            self.retired_pools.push((path.clone(), s));
                            Ok(())
                        }
                        None => root.remove(&mut undo.journal, path),
                    }
                }
                Op::RemoveUser { .. } | Op::Purge { .. } => {
                    purges.push(change.op.clone());
                    Ok(())
                }
                Op::CopyCore {
                    source,
                    sha256,
                    dest,
                    stage,
                    dir_perms,
                    file_perms,
                } => crate::services::wordpress::copy_core(
                    root,
                    g,
                    &mut undo.journal,
                    source,
                    sha256.as_deref(),
                    dest,
                    stage,
                    dir_perms,
                    file_perms,
                )
                .map(|_| ()),
                Op::Reload(_) | Op::Db(_) | Op::WpInstall { .. } | Op::Certificate => Ok(()),
            };
            if let Err(e) = step {
                let action = serde_json::to_string(&change.action).unwrap_or_default();
                let e = e.context(format!("{} {}", action.trim_matches('"'), change.target));
                return Err(self.undo.fail(e, &[]));
            }
        }
        root.sync_dirs(&mut self.undo.journal);
        Ok(purges)
    }

    /// Databases: one admin session for every action, after the files (secrets) are in place.
    fn databases(&mut self) -> Result<()> {
        let actions: Vec<_> = self
            .plan
            .changes
            .iter()
            .filter_map(|c| match &c.op {
                Op::Db(a) => Some(a.clone()),
                _ => None,
            })
            .collect();
        let Some(target) = self.plan.db_target.as_ref().filter(|_| !actions.is_empty()) else {
            return Ok(());
        };
        for a in &actions {
            if let crate::services::mariadb::Action::DropDatabase {
                dump_to: Some(p), ..
            } = a
                && let Some(dir) = p.parent()
            {
                self.root.create_dirs(&self.root.host_path(dir))?;
            }
        }
        match super::database::execute(target, actions) {
            Ok(done) => {
                self.db_done = done;
                Ok(())
            }
            Err(e) => {
                let e = match e.downcast_ref() {
                    Some(crate::services::mariadb::DbError::Incomplete { done, .. }) => {
                        let problems = super::database::undo(target, done);
                        if problems.is_empty() {
                            e
                        } else {
                            e.context(problems.join("; "))
                        }
                    }
                    _ => e,
                };
                Err(self.undo.fail(e, &[]))
            }
        }
    }

    /// WordPress installs need the files and the database in place.
    fn install_wordpress(&mut self) -> Result<()> {
        let (root, g) = (self.root, &self.config.global);
        for change in &self.plan.changes {
            let Op::WpInstall { site } = &change.op else {
                continue;
            };
            let Some(site) = self.config.sites.iter().find(|s| s.name.as_str() == site) else {
                continue;
            };
            let file = super::secrets::path(g, site.name.as_str());
            let password = super::secrets::load(root, &file).and_then(|s| {
                s.wp_admin_password
                    .context("the admin password is stored before the install")
            });
            let installed = password
                .and_then(|p| crate::services::wordpress::install(root, g, site, &p).map(|()| p));
            let password = match installed {
                Ok(p) => p,
                Err(e) => return Err(self.fail(e, &[])),
            };
            if let Some(wp) = &site.wordpress {
                self.outcome.secrets_shown_once.push(format!(
                    "WordPress {} installed: log in at {}/wp-login.php as `{}` with password {} (shown once; stored root-only in {})",
                    site.name,
                    wp.url,
                    wp.admin_user,
                    password,
                    file.display()
                ));
            }
        }
        Ok(())
    }

    /// Validates with the real programs before anything is reloaded.
    fn validate(&mut self) -> Result<()> {
        let (root, config, g) = (self.root, self.config, &self.config.global);
        let plan = self.plan;
        let validation = (|| -> Result<()> {
            for s in plan.reloads() {
                match s {
                    Service::Nginx => nginx::check_config(root, g)?,
                    Service::PhpFpm(id) => {
                        if php_has_pools(root, config, id) {
                            php_fpm::check_config(root, g, id)?;
                        }
                    }
                }
            }
            let rotation = g.paths.logrotate_dir.join("lempctl");
            if plan
                .changes
                .iter()
                .any(|c| matches!(&c.op, Op::Write { path, .. } if *path == rotation))
            {
                crate::services::logrotate::check_config(root, g, &rotation)?;
            }
            if fail2ban_changed(plan, g) {
                crate::services::fail2ban::check_config(root, g)?;
            }
            if g.scheduler == Scheduler::Systemd && !plan.units.is_empty() {
                let mut units: Vec<String> = Vec::new();
                for t in &plan.units {
                    if root.path(&g.paths.systemd_dir.join(t)).exists()
                        || root
                            .path(&g.paths.systemd_dir.join(format!("{t}.d")))
                            .exists()
                    {
                        units.push(t.clone());
                        if t.ends_with(".timer") {
                            units.push(t.replace(".timer", ".service"));
                        }
                    }
                }
                systemd::verify(root, g, &units)?;
            }
            Ok(())
        })();
        validation.map_err(|e| self.fail(e, &[]))
    }

    /// Reloads each affected service once; a service that is not running is left alone, but
    /// one of lempctl's own PHP-FPM masters is started (when its version's main master runs).
    /// PHP-FPM goes first and nginx waits until the new pools listen, so nginx never sends a
    /// request to a socket that does not exist yet; after nginx, its old workers are waited
    /// for (they still send requests to the pools they knew).
    fn reload(&mut self) -> Result<Vec<Service>> {
        let (root, config, g) = (self.root, self.config, &self.config.global);
        let mut reloaded = Vec::new();
        // units first: a new master's unit must be loaded before it starts
        if g.scheduler == Scheduler::Systemd
            && g.manager == ManagerKind::Systemd
            && root.is_host()
            && !self.plan.units.is_empty()
            && let Err(e) = systemd::daemon_reload(g)
        {
            return Err(self.fail(e, &reloaded));
        }
        let mut order: Vec<&Service> = self.plan.reloads().collect();
        order.sort_by_key(|s| matches!(s, Service::Nginx));
        for s in order {
            if matches!(s, Service::PhpFpm(id) if !php_has_pools(root, config, id)) {
                continue;
            }
            if *s == Service::Nginx
                && let Err(e) = self.wait_for_new_pools(&reloaded)
            {
                return Err(self.fail(e, &reloaded));
            }
            match service_manager::is_running(root, &g.machine(), s) {
                Ok(true) => {
                    let workers = service_manager::workers(root, &g.machine(), s);
                    if let Err(e) = service_manager::reload(root, &g.machine(), s) {
                        return Err(self.fail(e.context(format!("reloading {s}")), &reloaded));
                    }
                    reloaded.push(s.clone());
                    if *s == Service::Nginx
                        && let Err(e) =
                            service_manager::wait_for_old_workers(&workers, OLD_WORKERS_LIMIT)
                    {
                        self.outcome.warnings.push(format!(
                            "nginx's old workers still run after the reload ({e:#}); pools replaced in this run were retired anyway"
                        ));
                    }
                }
                _ if s.is_own_master() && main_master_runs(root, g, s) => {
                    if let Err(e) = service_manager::start(root, &g.machine(), s) {
                        return Err(self.fail(e.context(format!("starting {s}")), &reloaded));
                    }
                    self.undo.started.push(s.clone());
                    reloaded.push(s.clone());
                }
                _ => self.outcome.warnings.push(format!(
                    "{s} is not running; the new configuration takes effect when it starts"
                )),
            }
        }
        if let Err(e) = super::reloads::record(root, g, &reloaded) {
            self.outcome
                .warnings
                .push(format!("recording the reloads for status: {e:#}"));
        }
        // one reload of a running fail2ban when its jails changed (a restart would forget bans)
        if fail2ban_changed(self.plan, g)
            && let Err(e) = crate::services::fail2ban::reload_if_running(root, g)
        {
            return Err(self.fail(e.context("reloading fail2ban"), &reloaded));
        }
        Ok(reloaded)
    }

    /// The sockets of the pools this run wrote, once PHP-FPM was reloaded: nginx is reloaded
    /// only when they listen.
    fn wait_for_new_pools(&self, reloaded: &[Service]) -> Result<()> {
        let sockets: Vec<std::path::PathBuf> = self
            .config
            .sites
            .iter()
            .filter_map(|site| {
                let (pool, socket) = (site.paths.pool.as_ref()?, site.paths.pool_socket.as_ref()?);
                let master = site.php.as_ref()?.master();
                let written = self
                    .plan
                    .changes
                    .iter()
                    .any(|c| matches!(&c.op, Op::Write { path, .. } if path == pool));
                (written && reloaded.contains(&Service::PhpFpm(master)))
                    .then(|| self.root.path(socket))
            })
            .collect();
        php_fpm::wait_for_sockets(&sockets, NEW_POOLS_LIMIT)
    }

    /// Deletes the pool files this run retires, now that no nginx worker sends them requests,
    /// and reloads PHP-FPM once more (gracefully: requests still running finish).
    fn retire_pools(&mut self, reloaded: &mut Vec<Service>) -> Result<()> {
        let (root, config, g) = (self.root, self.config, &self.config.global);
        let retired = std::mem::take(&mut self.retired_pools);
        let mut versions: Vec<Service> = Vec::new();
        for (path, s) in &retired {
            if let Err(e) = root.remove(&mut self.undo.journal, path) {
                return Err(self.fail(e.context(format!("delete {}", path.display())), reloaded));
            }
            if !versions.contains(s) {
                versions.push(s.clone());
            }
        }
        for s in versions {
            let Service::PhpFpm(id) = &s else { continue };
            if !php_has_pools(root, config, id) {
                continue;
            }
            if let Ok(Some(0)) = php_fpm::process_control_timeout(root, g, id) {
                self.outcome.warnings.push(format!(
                    "{s}: process_control_timeout is 0, so its reloads cut running PHP requests; set it to 10s in {} (`lempctl doctor` checks it)",
                    root.path(&g.master(&id.version, id.shard).main_conf()).display()
                ));
            }
            let step = php_fpm::check_config(root, g, id).and_then(|()| {
                if service_manager::is_running(root, &g.machine(), &s)? {
                    service_manager::reload(root, &g.machine(), &s)
                        .with_context(|| format!("reloading {s}"))?;
                }
                Ok(())
            });
            if let Err(e) = step {
                return Err(self.fail(e, reloaded));
            }
            if !reloaded.contains(&s) {
                reloaded.push(s);
            }
        }
        Ok(())
    }

    /// lempctl's own masters whose main configuration this run removed (fewer
    /// `tuning.php_fpm_masters`) stop, now that their pools retired.
    fn stop_removed_masters(&mut self, reloaded: &[Service]) -> Result<()> {
        let (root, config, g, plan) = (self.root, self.config, &self.config.global, self.plan);
        for s in plan.reloads() {
            let Service::PhpFpm(id) = s else { continue };
            if !s.is_own_master() || php_has_pools(root, config, id) {
                continue;
            }
            let step = service_manager::is_running(root, &g.machine(), s).and_then(|running| {
                if running {
                    service_manager::stop(root, &g.machine(), s)?;
                    self.undo.stopped.push(s.clone());
                }
                Ok(())
            });
            if let Err(e) = step {
                return Err(self.fail(e.context(format!("stopping {s}")), reloaded));
            }
        }
        Ok(())
    }

    /// Sites that answered before must answer after; otherwise the run goes back.
    fn health_after(
        &mut self,
        addr: std::net::SocketAddr,
        probes: &[Probe],
        before: &BTreeMap<String, bool>,
        reloaded: &[Service],
    ) -> Result<()> {
        let g = &self.config.global;
        let served = reloaded
            .iter()
            .any(|s| matches!(s, Service::Nginx | Service::PhpFpm(_)));
        if !served {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let results = health::wait_healthy(
            addr,
            probes,
            Duration::from_millis(u64::from(g.health.timeout_ms)),
        );
        tracing::debug!(
            "health-checked {} sites after the reload in {:.1} ms",
            probes.len(),
            started.elapsed().as_secs_f64() * 1000.0
        );
        let mut regressions = Vec::new();
        for (p, failure) in probes.iter().zip(results) {
            if let Some(f) = failure {
                if before.get(&p.site).copied().unwrap_or(false) {
                    regressions.push(format!("  {}: {f}", p.site));
                } else {
                    self.outcome
                        .warnings
                        .push(format!("{}: not healthy yet: {f}", p.site));
                }
            }
        }
        if regressions.is_empty() {
            return Ok(());
        }
        let e = HealthError {
            failures: regressions,
        };
        Err(self.undo.fail(e.into(), reloaded))
    }

    /// Destructive steps last, once everything else is in place.
    fn purge(&mut self, purges: Vec<Op>) -> Result<()> {
        let (root, config, g) = (self.root, self.config, &self.config.global);
        for op in purges {
            match op {
                Op::Purge { site, dir } => {
                    let archive = archive_tree(root, config, &site, &dir)
                        .with_context(|| format!("archiving {}", dir.display()))?;
                    self.outcome.warnings.push(format!(
                        "site `{site}`: data archived to {}; its credentials and page cache removed",
                        archive.display()
                    ));
                    root.remove_tree(&dir)?;
                    // nothing uses them once the site and its database are gone (the final
                    // backup holds the credentials)
                    root.remove_tree(&super::secrets::path(g, &site))?;
                    root.remove_tree(&g.cache_dir.join(&site))?;
                }
                Op::RemoveUser { name } => accounts::remove_user(&g.programs.userdel, &name)?,
                _ => {}
            }
        }
        Ok(())
    }
}

/// How long nginx waits for the pools a run wrote to listen (then the run fails and rolls back).
const NEW_POOLS_LIMIT: Duration = Duration::from_secs(10);
/// How long the retirement of replaced pools waits for nginx's old workers.
const OLD_WORKERS_LIMIT: Duration = Duration::from_secs(30);

/// A pool file this run deletes while nginx is reloaded too (a pool replaced by another, an
/// imported site's old pool): it is deleted after nginx's reload, and the service to reload
/// then. Other deletions happen with the writes — also a pool whose socket a pool of this
/// configuration listens on (a site moved to another PHP version): reloaded after the new
/// master took the socket's path, the old one would unlink it.
fn retired_pool(
    root: &Root,
    config: &Config,
    plan: &Plan,
    old: &State,
    path: &std::path::Path,
) -> Option<Service> {
    let s = old.files.get(path)?.service.clone()?;
    let nginx = plan.reloads().any(|r| *r == Service::Nginx);
    if !nginx || !matches!(s, Service::PhpFpm(_)) {
        return None;
    }
    let text = root.read(path).ok()??;
    let text = String::from_utf8_lossy(&text);
    let socket = text.lines().find_map(|l| {
        let (k, v) = l.split(';').next()?.split_once('=')?;
        (k.trim() == "listen").then(|| std::path::PathBuf::from(v.trim()))
    })?;
    let taken = config.sites.iter().any(|site| {
        site.paths
            .pool_socket
            .as_ref()
            .is_some_and(|p| *p == socket || root.path(p) == socket)
    });
    (!taken).then_some(s)
}

/// The distribution's master of an own master's version runs (lempctl's masters run beside it,
/// never instead: while it is stopped for maintenance, lempctl starts none of them).
fn main_master_runs(root: &Root, g: &crate::config::Global, s: &Service) -> bool {
    let Service::PhpFpm(id) = s else { return false };
    let main = Service::PhpFpm(FpmId::main(id.version.clone()));
    service_manager::is_running(root, &g.machine(), &main).unwrap_or(false)
}

/// The run writes or removes a file of the managed fail2ban configuration.
fn fail2ban_changed(plan: &Plan, g: &crate::config::Global) -> bool {
    plan.changes.iter().any(|c| match &c.op {
        Op::Write { path, .. } | Op::Remove { path } => path.starts_with(&g.paths.fail2ban_dir),
        _ => false,
    })
}

/// True when the master has a pool to run (php-fpm refuses to start or test without one unless
/// its main config defines a pool itself): lempctl's own masters define one while their main
/// configuration exists; the distribution's needs a file in its pool directory.
fn php_has_pools(root: &Root, config: &Config, id: &FpmId) -> bool {
    let g = &config.global;
    let fpm = g.master(&id.version, id.shard);
    if fpm.is_own() {
        return root.path(&fpm.main_conf()).is_file();
    }
    if g.manager == ManagerKind::Direct {
        return true;
    }
    std::fs::read_dir(root.path(&fpm.pool_dir()))
        .map(|mut d| d.next().is_some())
        .unwrap_or(false)
}

/// `tar --zstd` of a site tree into the archive directory; returns the archive's host path.
fn archive_tree(
    root: &Root,
    config: &Config,
    site: &str,
    dir: &std::path::Path,
) -> Result<std::path::PathBuf> {
    let g = &config.global;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let archive = g.paths.archive_dir.join(format!("{site}-{stamp}.tar.zst"));
    let real_archive = root.path(&archive);
    root.create_dirs(&g.paths.archive_dir)?;
    let real_dir = root.path(dir);
    let parent = real_dir
        .parent()
        .ok_or_else(|| anyhow!("{} has no parent", dir.display()))?;
    let name = real_dir
        .file_name()
        .ok_or_else(|| anyhow!("{} has no name", dir.display()))?;
    Cmd::new(&g.programs.tar)
        .arg("--zstd")
        .arg("-cpf")
        .arg(&real_archive)
        .arg("-C")
        .arg(parent)
        .arg(name)
        .run()?;
    Ok(archive)
}
