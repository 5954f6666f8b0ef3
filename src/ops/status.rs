//! `lempctl status`: the services, and for each site whether the host matches its file — pending
//! changes (the engine's plan, read-only), hand-edited files — with its PHP version, cache, TLS
//! and last backup. Never "ok" while the host differs from the files.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use super::Context;
use crate::config::Global;
use crate::config::schedule::Schedule;
use crate::config::site::Site;
use crate::engine::health;
use crate::engine::jobs::{self, JobRecord};
use crate::engine::plan::Action;
use crate::engine::state::{State, sha256};
use crate::engine::{RunOptions, Scope};
use crate::host::service_manager;
use crate::services::{fail2ban, systemd};

#[derive(Debug, Serialize)]
pub struct ServiceStatus {
    pub service: String,
    pub running: bool,
    /// The main process while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Unix time lempctl last reloaded it (none before its first reload by lempctl).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_reload: Option<i64>,
}

/// The last backup run of a site, from the backup status record.
#[derive(Debug, Serialize)]
pub struct LastBackup {
    /// Unix time of the last run, successful or not.
    pub last_run: i64,
    pub success: bool,
    /// Unix time of the last successful run.
    pub last_success: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A managed fail2ban jail's current bans.
#[derive(Debug, Serialize)]
pub struct JailBans {
    pub jail: String,
    pub banned: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct SiteStatus {
    pub name: String,
    pub kind: &'static str,
    pub enabled: bool,
    pub applied: bool,
    /// `ok`, or the first of `not applied`, `pending`, `drift`, `down`, `cert expiring`,
    /// `backup failed`, `backup stale`, `job failed`.
    pub state: &'static str,
    /// What `apply SITE` would change (`update file /etc/…`); empty when the host matches.
    pub pending: Vec<String>,
    pub drifted: Vec<String>,
    /// PHP version of the pool, `null` for sites without PHP.
    pub php: Option<String>,
    pub cache: &'static str,
    pub tls: bool,
    /// Whole days until the site's certificate expires (negative: expired); none without TLS
    /// or before an ACME certificate exists.
    pub tls_days_left: Option<i64>,
    /// Whether the site file has a `backup:` section.
    pub backup_scheduled: bool,
    pub last_backup: Option<LastBackup>,
    /// The HTTP probe of an enabled site (none with `--no-probe`, for a disabled site, or one
    /// whose health check is off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpProbe>,
    /// The site's scheduled jobs (wp-cron, backup, S3 sync).
    pub jobs: Vec<JobStatus>,
}

/// One GET of a site's health path, now.
#[derive(Debug, Serialize)]
pub struct HttpProbe {
    pub ok: bool,
    /// The status code; none when no HTTP answer came.
    pub status: Option<u16>,
    pub expected: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A scheduled job: its last run (from the run record every `--job` run writes) and its next.
#[derive(Debug, Serialize)]
pub struct JobStatus {
    /// The unit name without its suffix (`lempctl-backup@shop.example.test`).
    pub job: String,
    /// Its cron expression.
    pub schedule: String,
    /// `success`, `failed`, `running`, or `never` (no run recorded yet).
    pub result: &'static str,
    pub last_run: Option<i64>,
    pub last_success: Option<i64>,
    pub last_duration_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Unix time of the next run by the schedule.
    pub next_run: Option<i64>,
    /// Where systemd runs the jobs: its service unit's `Result` (`success`, `exit-code`,
    /// `timeout`, `signal`, `oom-kill`…), which also tells of a run killed before it recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_result: Option<String>,
}

/// What `status` looks at.
#[derive(Debug, Default)]
pub(crate) struct StatusOptions {
    /// Only this site (with the host-wide parts).
    pub site: Option<String>,
    /// Skip the HTTP probes (fast, for 1,000 sites and scripts).
    pub no_probe: bool,
    /// Also write `lempctl_status.prom` into `monitoring.textfile_dir`.
    pub textfile: bool,
}

#[derive(Debug, Serialize)]
pub struct Status {
    /// `true` when nothing needs attention (exit 0); else exit 1.
    pub ok: bool,
    pub manager: String,
    pub services: Vec<ServiceStatus>,
    /// Host-wide scheduled jobs (apply, certificate renewal and check).
    pub jobs: Vec<JobStatus>,
    /// The managed fail2ban jails and their bans (empty without a `fail2ban` section or while
    /// fail2ban is not running; its service entry then says so).
    pub jails: Vec<JailBans>,
    pub sites: Vec<SiteStatus>,
    /// Host-wide changes `apply` would make (snippets, opcache, timers, cron).
    pub pending_host: Vec<String>,
    pub removed_sites: Vec<String>,
    /// Site files that do not load (`file:line:column: problem`); their sites are left alone.
    pub invalid_files: Vec<String>,
    /// Why the plan could not be computed (the database unreachable, a template error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_error: Option<String>,
    /// The plan's warnings (drift, database drift).
    pub warnings: Vec<String>,
}

impl Status {
    /// Something needs a person: `status` then exits 1.
    pub fn needs_attention(&self) -> bool {
        !self.ok
    }
}

pub(crate) fn status(ctx: &Context, opts: &StatusOptions) -> Result<Status> {
    let config = ctx.load()?;
    let textfile_dir = match (opts.textfile, &config.global.monitoring.textfile_dir) {
        (false, _) => None,
        (true, Some(d)) => Some(d.clone()),
        (true, None) => {
            return Err(crate::config::UsageError(
                "--textfile needs `monitoring.textfile_dir` in lempctl.yaml (docs/monitoring.md)"
                    .into(),
            )
            .into());
        }
    };
    if let Some(only) = &opts.site
        && !config.sites.iter().any(|s| s.name.as_str() == only)
    {
        return Err(crate::config::UsageError(format!(
            "no site `{only}` in sites.d (`lempctl site list` lists them)"
        ))
        .into());
    }
    // the whole host is planned either way; SITE only narrows what is probed and shown
    let shown = |s: &Site| {
        opts.site
            .as_deref()
            .is_none_or(|only| s.name.as_str() == only)
    };
    let g = &config.global;
    let state = State::load(&ctx.root, &g.paths.state_file())?;
    // nginx first, as before
    let mut services = config.services();
    services.rotate_right(1);
    let reloads = crate::engine::reloads::all(&ctx.root, g);
    let mut services: Vec<ServiceStatus> = services
        .into_iter()
        .map(|s| ServiceStatus {
            running: service_manager::is_running(&ctx.root, &g.machine(), &s).unwrap_or(false),
            pid: service_manager::pid(&ctx.root, &g.machine(), &s),
            last_reload: reloads.get(&s.unit()).copied(),
            service: s.unit(),
        })
        .collect();
    let jails = fail2ban_jails(ctx, g, &mut services)?;
    // The very plan `apply --dry-run` prints: read-only, no lock, no PHP. With a site file set
    // aside, only the sites that load are planned and host-wide files are left out (the engine
    // holds them back).
    let scope = if config.broken.is_empty() {
        Scope::All
    } else {
        Scope::Loaded
    };
    let run = RunOptions {
        scope,
        dry_run: true,
        ..RunOptions::default()
    };
    let (changes, warnings, plan_error) = match crate::engine::run(&ctx.root, &config, &run) {
        Ok(r) => (r.changes, r.warnings, None),
        Err(e) => (Vec::new(), Vec::new(), Some(format!("{e:#}"))),
    };
    let describe = |c: &crate::engine::plan::Change| {
        let action = match c.action {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Reload => "reload",
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Archive => "archive",
        };
        format!("{action} {} {}", c.kind, c.target)
    };
    let pending_host: Vec<String> = changes
        .iter()
        .filter(|c| {
            c.site.is_none() && !matches!(c.action, Action::Reload | Action::Start | Action::Stop)
        })
        .map(describe)
        .collect();
    let backups = crate::engine::backup::statuses(&ctx.root, g).unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    let records = jobs::all(&ctx.root, g).unwrap_or_default();
    let mut all_jobs: Vec<(Option<String>, JobStatus)> = crate::engine::desire::jobs(&config)
        .into_iter()
        .map(|j| {
            let name = j.timer().trim_end_matches(".timer").to_owned();
            let status = job_status(&name, &j.schedule, records.get(&name), now);
            (j.instance, status)
        })
        .collect();
    if g.scheduler == crate::config::global::Scheduler::Systemd && systemd::running() {
        from_systemd(g, &mut all_jobs);
    }
    let mut probes = if opts.no_probe {
        Vec::new()
    } else {
        probe(g, &config.sites, &shown)
    };
    let stale_after = i64::from(g.monitoring.backup_max_age_hours) * 3600;
    // each site's recorded files, pending changes and jobs, gathered once (not once per site)
    let mut files_of: HashMap<&str, Vec<&Path>> = HashMap::new();
    for (path, r) in &state.files {
        if let Some(site) = r.site.as_deref() {
            files_of.entry(site).or_default().push(path);
        }
    }
    let mut pending_of: HashMap<&str, Vec<String>> = HashMap::new();
    for c in &changes {
        if let Some(site) = c.site.as_deref() {
            pending_of.entry(site).or_default().push(describe(c));
        }
    }
    let mut jobs_of: HashMap<String, Vec<JobStatus>> = HashMap::new();
    for (site, job) in std::mem::take(&mut all_jobs) {
        match site {
            Some(s) => jobs_of.entry(s).or_default().push(job),
            None => all_jobs.push((None, job)),
        }
    }
    // every shown site's recorded files read at once, each directory opened once
    let recorded: Vec<&Path> = config
        .sites
        .iter()
        .filter(|s| shown(s))
        .flat_map(|s| files_of.remove(s.name.as_str()).unwrap_or_default())
        .collect();
    let mut drifted_of: HashMap<&str, Vec<String>> = HashMap::new();
    for (path, cur) in recorded.iter().zip(ctx.root.read_many(&recorded)?) {
        let owned = cur.is_some_and(|c| state.owns_content(path, &sha256(&c)));
        if !owned && let Some(site) = state.files.get(*path).and_then(|r| r.site.as_deref()) {
            drifted_of
                .entry(site)
                .or_default()
                .push(path.display().to_string());
        }
    }
    let mut sites = Vec::new();
    for (i, site) in config.sites.iter().enumerate() {
        if !shown(site) {
            continue;
        }
        let drifted = drifted_of.remove(site.name.as_str()).unwrap_or_default();
        let pending: Vec<String> = pending_of.remove(site.name.as_str()).unwrap_or_default();
        let applied = state.sites.contains_key(site.name.as_str());
        let last_backup = backups.get(site.name.as_str()).map(|b| LastBackup {
            last_run: b.last_run,
            success: b.last_run_success,
            last_success: b.last_success,
            error: b.error.clone(),
        });
        let backup_failed = last_backup.as_ref().is_some_and(|b| !b.success);
        // a scheduled backup with no success within the limit (or none since the first run)
        let backup_stale = site.backup.is_some()
            && last_backup
                .as_ref()
                .is_some_and(|b| now - b.last_success.unwrap_or(b.last_run) > stale_after);
        let http = probes.get_mut(i).and_then(Option::take);
        let tls_days_left = crate::engine::tls::read_cert(&ctx.root, site)
            .ok()
            .flatten()
            .map(|c| (c.not_after - now).div_euclid(86_400));
        let cert_expiring = tls_days_left.is_some_and(|d| d < i64::from(g.certificates.warn_days));
        let jobs: Vec<JobStatus> = jobs_of.remove(site.name.as_str()).unwrap_or_default();
        let state = if !applied {
            "not applied"
        } else if !pending.is_empty() {
            "pending"
        } else if !drifted.is_empty() {
            "drift"
        } else if http.as_ref().is_some_and(|h| !h.ok) {
            "down"
        } else if cert_expiring {
            "cert expiring"
        } else if backup_failed {
            "backup failed"
        } else if backup_stale {
            "backup stale"
        } else if jobs.iter().any(|j| j.result == "failed") {
            "job failed"
        } else {
            "ok"
        };
        sites.push(SiteStatus {
            name: site.name.to_string(),
            kind: site.kind.as_str(),
            enabled: site.enabled,
            applied,
            state,
            pending,
            drifted,
            php: site.php.as_ref().map(|p| p.version.to_string()),
            cache: match site.cache {
                crate::config::site::Cache::None => "none",
                crate::config::site::Cache::Fastcgi => "fastcgi",
            },
            tls: site.tls.is_some(),
            tls_days_left,
            backup_scheduled: site.backup.is_some(),
            last_backup,
            http,
            jobs,
        });
    }
    let removed_sites: Vec<String> = state
        .sites
        .keys()
        .filter(|k| {
            !config.sites.iter().any(|s| s.name.as_str() == k.as_str())
                && config.broken_site(k).is_none()
        })
        .cloned()
        .collect();
    let invalid_files: Vec<String> = config
        .broken
        .iter()
        .flat_map(|b| b.errors.iter().map(ToString::to_string))
        .collect();
    let host_jobs: Vec<JobStatus> = all_jobs
        .into_iter()
        .filter(|(site, _)| site.is_none())
        .map(|(_, j)| j)
        .collect();
    let ok = invalid_files.is_empty()
        && host_jobs.iter().all(|j| j.result != "failed")
        && plan_error.is_none()
        && pending_host.is_empty()
        && removed_sites.is_empty()
        && services.iter().all(|s| s.running)
        && sites.iter().all(|s| s.state == "ok");
    let status = Status {
        ok,
        manager: format!("{:?}", g.manager).to_lowercase(),
        services,
        jobs: host_jobs,
        jails,
        sites,
        pending_host,
        removed_sites,
        invalid_files,
        plan_error,
        warnings,
    };
    if let Some(dir) = textfile_dir {
        let text = prometheus(&status, chrono::Utc::now().timestamp());
        ctx.root
            .write_private(&dir.join("lempctl_status.prom"), text.as_bytes(), 0o644)?;
    }
    Ok(status)
}

/// Every state a site can be in, for the per-state counts (zeros included).
const STATES: [&str; 10] = [
    "ok",
    "not applied",
    "pending",
    "drift",
    "down",
    "cert expiring",
    "backup failed",
    "backup stale",
    "job failed",
    "disabled",
];

/// `lempctl_status.prom`: what only `status` knows (node_exporter textfile format).
fn prometheus(s: &Status, now: i64) -> String {
    let mut t = String::new();
    let mut metric = |name: &str, help: &str, samples: Vec<(String, String)>| {
        t.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for (labels, value) in samples {
            t.push_str(&format!("{name}{labels} {value}\n"));
        }
    };
    let state = |site: &SiteStatus| if site.enabled { site.state } else { "disabled" };
    metric(
        "lempctl_status_ok",
        "1 when `lempctl status` found nothing that needs attention.",
        vec![(String::new(), u8::from(s.ok).to_string())],
    );
    metric(
        "lempctl_status_timestamp_seconds",
        "When `lempctl status --textfile` last wrote this file.",
        vec![(String::new(), now.to_string())],
    );
    metric(
        "lempctl_sites",
        "Sites by state (`disabled` for disabled sites).",
        STATES
            .iter()
            .map(|st| {
                let n = s.sites.iter().filter(|x| state(x) == *st).count();
                (format!("{{state=\"{st}\"}}"), n.to_string())
            })
            .collect(),
    );
    metric(
        "lempctl_site_ok",
        "1 when the site's state is ok (a disabled site counts as ok).",
        s.sites
            .iter()
            .map(|x| {
                let ok = matches!(state(x), "ok" | "disabled");
                (format!("{{site=\"{}\"}}", x.name), u8::from(ok).to_string())
            })
            .collect(),
    );
    metric(
        "lempctl_drifted_files",
        "Managed files edited by hand or missing since lempctl wrote them.",
        vec![(
            String::new(),
            s.sites
                .iter()
                .map(|x| x.drifted.len())
                .sum::<usize>()
                .to_string(),
        )],
    );
    metric(
        "lempctl_service_up",
        "1 when the service runs.",
        s.services
            .iter()
            .map(|x| {
                (
                    format!("{{service=\"{}\"}}", x.service),
                    u8::from(x.running).to_string(),
                )
            })
            .collect(),
    );
    metric(
        "lempctl_fail2ban_banned",
        "Addresses a managed fail2ban jail bans now.",
        s.jails
            .iter()
            .map(|j| {
                (
                    format!("{{jail=\"{}\"}}", j.jail),
                    j.banned.len().to_string(),
                )
            })
            .collect(),
    );
    t
}

/// With a `fail2ban` section: fail2ban among the services, and the managed jails' bans from one
/// `fail2ban-client banned` (a ban is information, not a problem: it does not make `ok` false).
fn fail2ban_jails(
    ctx: &Context,
    g: &crate::config::Global,
    services: &mut Vec<ServiceStatus>,
) -> Result<Vec<JailBans>> {
    if g.fail2ban.is_none() {
        return Ok(Vec::new());
    }
    let running = fail2ban::running(&ctx.root, g);
    services.push(ServiceStatus {
        service: "fail2ban".into(),
        running,
        pid: None,
        last_reload: None,
    });
    if !running {
        return Ok(Vec::new());
    }
    let managed = super::security::managed_jails(&ctx.root, g)?;
    let mut banned = fail2ban::banned(&ctx.root, g).unwrap_or_default();
    banned.retain(|(j, _)| managed.contains(j));
    Ok(banned
        .into_iter()
        .map(|(jail, banned)| JailBans { jail, banned })
        .collect())
}

/// A job's last run from its record, and its next run by the schedule.
fn job_status(name: &str, schedule: &Schedule, r: Option<&JobRecord>, now: i64) -> JobStatus {
    let result = match r {
        None => "never",
        Some(r) if r.last_end.is_none() => "running",
        Some(r) if r.succeeded() => "success",
        Some(_) => "failed",
    };
    JobStatus {
        job: name.to_owned(),
        schedule: schedule.cron.clone(),
        result,
        last_run: r.map(|r| r.last_start),
        last_success: r.and_then(|r| r.last_success),
        last_duration_seconds: r
            .filter(|r| r.last_end.is_some())
            .map(|r| r.last_duration_seconds),
        error: r
            .filter(|_| result == "failed")
            .and_then(|r| r.error.clone()),
        next_run: schedule.next_after(now),
        unit_result: None,
    }
}

/// Each job's service unit as systemd saw it, in one `systemctl show`: a unit that failed
/// counts as failed even when its run recorded nothing (killed, timed out), and one that runs
/// as running.
fn from_systemd(g: &Global, jobs: &mut [(Option<String>, JobStatus)]) {
    let units: Vec<String> = jobs
        .iter()
        .map(|(_, j)| format!("{}.service", j.job))
        .collect();
    let Ok(shown) = systemd::show(g, &units, &["Id", "LoadState", "ActiveState", "Result"]) else {
        return;
    };
    for (_, j) in jobs.iter_mut() {
        let id = format!("{}.service", j.job);
        let Some(u) = shown.iter().find(|u| u.get("Id") == Some(&id)) else {
            continue;
        };
        if u.get("LoadState").map(String::as_str) != Some("loaded") {
            continue;
        }
        let result = u.get("Result").cloned().unwrap_or_default();
        match u.get("ActiveState").map(String::as_str) {
            Some("activating" | "active" | "reloading") => j.result = "running",
            Some("failed") if j.result != "failed" => {
                j.result = "failed";
                j.error
                    .get_or_insert_with(|| format!("systemd: the unit failed ({result})"));
            }
            _ => {}
        }
        j.unit_result = Some(result);
    }
}

/// One GET of each enabled site's health path, `monitoring.probe_concurrency` at a time. A TLS
/// site may answer plain HTTP with its redirect to HTTPS.
fn probe(
    g: &Global,
    sites: &[Site],
    shown: &(dyn Fn(&Site) -> bool + Sync),
) -> Vec<Option<HttpProbe>> {
    let Ok(addr) = health::address(&g.health.address, g.listen_http.port) else {
        return sites.iter().map(|_| None).collect();
    };
    let timeout = std::time::Duration::from_millis(u64::from(g.health.timeout_ms));
    health::run_bounded(sites, g.monitoring.probe_concurrency as usize, |s| {
        if !s.enabled || !s.health.enabled || !shown(s) {
            return None;
        }
        let expected = s.health.status;
        Some(
            match health::get_status(addr, s.name.as_str(), &s.health.path, timeout) {
                Ok(code) => HttpProbe {
                    ok: code == expected || (s.tls.is_some() && (301..=308).contains(&code)),
                    status: Some(code),
                    expected,
                    error: None,
                },
                Err(e) => HttpProbe {
                    ok: false,
                    status: None,
                    expected,
                    error: Some(format!("{e:#}")),
                },
            },
        )
    })
}
