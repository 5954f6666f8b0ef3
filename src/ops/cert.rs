//! `lempctl cert issue|renew|check|list`, and the issuance `apply` does for ACME sites.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Result, anyhow};
use serde::Serialize;

use super::Context;
use crate::config::{Config, UsageError};
use crate::engine::cert_monitor::{self, Checks, Level, SiteCheck};
use crate::engine::report::{ErrorReport, Report};
use crate::engine::tls::{self, Outcome};
use crate::engine::{self, RunOptions, Scope};
use crate::host::service_manager::{self, Service};
use crate::services::certs::{self, CertInfo};

/// What `cert issue` and `cert renew` did.
#[derive(Debug, Serialize)]
pub(crate) struct CertRun {
    pub certificates: Vec<Outcome>,
    /// Whether nginx was reloaded (once, for every changed certificate).
    pub reloaded: bool,
    pub dry_run: bool,
}

impl CertRun {
    /// 1 when a certificate could not be issued or renewed.
    pub(crate) fn exit_code(&self) -> u8 {
        u8::from(self.certificates.iter().any(|o| o.result == "failed"))
    }
}

fn require_acme(config: &Config) -> Result<()> {
    if config.global.acme.is_none() {
        return Err(UsageError(
            "no `acme` section in lempctl.yaml: lempctl issues certificates only from a configured CA (`docs/tls.md`)".into(),
        )
        .into());
    }
    Ok(())
}

/// The named sites, which must exist and use ACME; all ACME sites when none are named.
fn acme_names(config: &Config, names: &[String]) -> Result<Vec<String>> {
    for n in names {
        let site = super::find_site(config, n)?;
        if site.tls.as_ref().is_none_or(|t| t.acme.is_none()) {
            return Err(UsageError(format!(
                "site `{n}` does not use ACME (`tls: {{ acme: true }}` in its site file)"
            ))
            .into());
        }
    }
    Ok(names.to_vec())
}

/// The configuration, the ACME sites named (checked), and the configuration as served now.
fn prepare(ctx: &Context, names: &[String]) -> Result<(Config, Vec<String>, Config)> {
    let config = ctx.load()?;
    require_acme(&config)?;
    let names = acme_names(&config, names)?;
    let serving = tls::serving(&ctx.root, &config).into_owned();
    Ok((config, names, serving))
}

/// `cert issue SITE…|--all`: certificates for ACME sites that have none (or whose names
/// changed); with `force`, new ones for all of them. Then the sites switch to HTTPS.
pub(crate) fn issue(
    ctx: &Context,
    names: &[String],
    force: bool,
    dry_run: bool,
    wait: Duration,
) -> Result<CertRun> {
    let (config, names, serving) = prepare(ctx, names)?;
    let todo: Vec<&crate::config::Site> = if force {
        tls::acme_sites(&config, &names).collect()
    } else {
        tls::missing(&ctx.root, &config, &names)
    };
    if dry_run {
        return Ok(planned(&todo, "would issue", dry_run));
    }
    let outcomes = {
        let _lock = lock(ctx, &config, wait)?;
        tls::issue(&ctx.root, &config, &todo, force, "issued")?
    };
    finish(ctx, &config, &serving, outcomes, wait)
}

/// `cert renew [--force] [SITE…]`: what the timer runs.
pub(crate) fn renew(
    ctx: &Context,
    names: &[String],
    force: bool,
    dry_run: bool,
    wait: Duration,
) -> Result<CertRun> {
    let (config, names, serving) = prepare(ctx, names)?;
    if dry_run {
        let due = tls::due(&ctx.root, &config, &names, force);
        return Ok(planned(&due, "would renew", dry_run));
    }
    let (outcomes, _) = {
        let _lock = lock(ctx, &config, wait)?;
        tls::renew(&ctx.root, &config, &names, force)?
    };
    finish(ctx, &config, &serving, outcomes, wait)
}

fn planned(sites: &[&crate::config::Site], what: &'static str, dry_run: bool) -> CertRun {
    CertRun {
        certificates: sites
            .iter()
            .map(|s| Outcome {
                site: s.name.to_string(),
                result: what,
                detail: tls::names(s).join(", "),
                not_after: None,
            })
            .collect(),
        reloaded: false,
        dry_run,
    }
}

fn lock(ctx: &Context, config: &Config, wait: Duration) -> Result<engine::lock::Lock> {
    engine::lock::acquire(&ctx.root.path(&config.global.paths.lock_file()), wait)
}

/// After new certificates: sites that served HTTP until now switch to HTTPS (an engine run,
/// which reloads nginx when a vhost changed); otherwise nginx is reloaded once, after `nginx -t`.
fn finish(
    ctx: &Context,
    config: &Config,
    before: &Config,
    outcomes: Vec<Outcome>,
    wait: Duration,
) -> Result<CertRun> {
    let changed: Vec<String> = outcomes
        .iter()
        .filter(|o| o.result == "issued" || o.result == "renewed")
        .map(|o| o.site.clone())
        .collect();
    let mut run = CertRun {
        certificates: outcomes,
        reloaded: false,
        dry_run: false,
    };
    if changed.is_empty() {
        return Ok(run);
    }
    let switching = before
        .sites
        .iter()
        .any(|s| s.tls.is_none() && changed.iter().any(|c| c == s.name.as_str()));
    if switching {
        let report = converge(ctx, config, &changed, wait)?;
        run.reloaded = reloaded_nginx(&report);
        if let Some(e) = report.error {
            return Err(anyhow!(e.message));
        }
    }
    if !run.reloaded {
        let g = &config.global;
        crate::services::nginx::check_config(&ctx.root, g)?;
        if service_manager::is_running(&ctx.root, &g.machine(), &Service::Nginx)? {
            service_manager::reload(&ctx.root, &g.machine(), &Service::Nginx)?;
            run.reloaded = true;
        }
    }
    Ok(run)
}

fn reloaded_nginx(r: &Report) -> bool {
    r.changes
        .iter()
        .any(|c| c.kind == "service" && c.target == Service::Nginx.unit())
}

fn converge(ctx: &Context, config: &Config, sites: &[String], wait: Duration) -> Result<Report> {
    let scope = sites
        .iter()
        .map(|s| crate::config::Fqdn::parse(s).map_err(|e| anyhow!("{s}: {e}")))
        .collect::<Result<Vec<_>>>()?;
    engine::run(
        &ctx.root,
        config,
        &RunOptions {
            scope: Scope::Sites(scope),
            wait,
            ..Default::default()
        },
    )
}

/// `apply`'s part: issues what ACME sites in `scope` lack, then switches them to HTTPS.
/// A refusal leaves the site serving what it served and becomes the report's error (exit 1).
pub(crate) fn after_apply(
    ctx: &Context,
    config: &Config,
    names: &[String],
    report: &mut Report,
    wait: Duration,
) -> Result<()> {
    if config.global.acme.is_none() {
        return Ok(());
    }
    let todo = tls::missing(&ctx.root, config, names);
    if todo.is_empty() {
        return Ok(());
    }
    let serving = tls::serving(&ctx.root, config);
    let outcomes = {
        let _lock = lock(ctx, config, wait)?;
        tls::issue(&ctx.root, config, &todo, false, "issued")?
    };
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| o.result == "failed" || o.result == "waiting")
        .map(|o| format!("{}: no certificate: {}", o.site, o.detail))
        .collect();
    let run = finish(ctx, config, &serving, outcomes, wait)?;
    for o in run.certificates.iter().filter(|o| o.result == "issued") {
        report
            .changes
            .push(certificate_change(config, &o.site, Some(&o.detail)));
    }
    report.changed |= run.certificates.iter().any(|o| o.result == "issued");
    if !failed.is_empty() {
        report.error = Some(ErrorReport {
            message: failed.join("\n"),
            kind: "failure",
            exit_code: 1,
        });
    }
    Ok(())
}

/// A certificate in a report: created by the ACME step, with what it covers.
fn certificate_change(
    config: &Config,
    site: &str,
    detail: Option<&str>,
) -> crate::engine::plan::Change {
    let path = config
        .sites
        .iter()
        .find(|s| s.name.as_str() == site)
        .and_then(|s| s.tls.as_ref())
        .map_or_else(String::new, |t| t.certificate.display().to_string());
    crate::engine::plan::Change {
        action: crate::engine::resource::Action::Create,
        kind: "certificate",
        target: path,
        site: Some(site.to_owned()),
        diff: detail.map(|d| format!("ACME: {d}\n")),
        op: crate::engine::plan::Op::Certificate,
    }
}

/// `apply --dry-run`'s part: the certificates `apply` would get from the CA.
pub(crate) fn planned_changes(
    ctx: &Context,
    config: &Config,
    names: &[String],
) -> Vec<crate::engine::plan::Change> {
    if config.global.acme.is_none() {
        return Vec::new();
    }
    tls::missing(&ctx.root, config, names)
        .into_iter()
        .map(|s| {
            let what = format!("would order {}", tls::order_names(s).join(", "));
            certificate_change(config, s.name.as_str(), Some(&what))
        })
        .collect()
}

/// One line of `cert list`.
#[derive(Debug, Serialize)]
pub(crate) struct CertEntry {
    pub site: String,
    /// `acme` or `file`
    pub source: &'static str,
    pub certificate: String,
    pub days_left: Option<i64>,
    #[serde(flatten)]
    pub info: Option<CertInfo>,
    pub problem: Option<String>,
}

/// `cert list`: every certificate lempctl serves.
pub(crate) fn list(ctx: &Context) -> Result<Vec<CertEntry>> {
    let config = ctx.load()?;
    let now = chrono::Utc::now().timestamp();
    Ok(config
        .sites
        .iter()
        .filter(|s| s.tls.is_some())
        .map(|s| {
            let t = s.tls.as_ref().expect("filtered");
            let (info, problem) = match tls::read_cert(&ctx.root, s) {
                Ok(Some(i)) => (Some(i), None),
                Ok(None) => (None, Some("no certificate yet".to_owned())),
                Err(e) => (None, Some(format!("{e:#}"))),
            };
            CertEntry {
                site: s.name.to_string(),
                source: if t.acme.is_some() { "acme" } else { "file" },
                certificate: t.certificate.display().to_string(),
                days_left: info
                    .as_ref()
                    .map(|i| (i.not_after - now).div_euclid(86_400)),
                info,
                problem,
            }
        })
        .collect())
}

/// What `cert check` found.
#[derive(Debug, Serialize)]
pub(crate) struct CheckReport {
    pub sites: Vec<SiteCheck>,
    /// Sites whose state changed since the last check (what was mailed).
    pub changed: Vec<String>,
    pub mailed: bool,
}

impl CheckReport {
    /// 1 when a certificate is critical (expired, about to, missing, untrusted, not served).
    pub(crate) fn exit_code(&self) -> u8 {
        u8::from(self.sites.iter().any(|s| s.level == Level::Critical))
    }
}

/// `cert check [SITE…]`: the monitor. Without `dry_run` it writes the textfile, records each
/// site's state and mails a change of state.
pub(crate) fn check(
    ctx: &Context,
    names: &[String],
    live: bool,
    dry_run: bool,
) -> Result<CheckReport> {
    let config = ctx.load()?;
    for n in names {
        super::find_site(&config, n)?;
    }
    let g = &config.global;
    let trust = std::fs::read(&g.certificates.trust)
        .ok()
        .and_then(|pem| certs::roots(&pem).ok());
    let now = chrono::Utc::now().timestamp();
    let mut sites = cert_monitor::check(
        &ctx.root,
        &config,
        names,
        &Checks {
            warn_days: g.certificates.warn_days,
            critical_days: g.certificates.critical_days,
            trust: trust.as_ref(),
            live,
            now,
        },
    );
    if trust.is_none() {
        for s in &mut sites {
            s.problems.push(format!(
                "the chain was not checked: no trust anchors in {}",
                g.certificates.trust.display()
            ));
            s.level = s.level.max(Level::Warning);
        }
    }
    let state_file = g.paths.state_dir.join("cert-check.json");
    let previous: BTreeMap<String, Level> = match ctx.root.read(&state_file)? {
        Some(b) => serde_json::from_slice(&b).unwrap_or_default(),
        None => BTreeMap::new(),
    };
    let changes = cert_monitor::changes(&previous, &sites);
    let mut report = CheckReport {
        changed: changes.iter().map(|c| c.0.clone()).collect(),
        sites,
        mailed: false,
    };
    if dry_run {
        return Ok(report);
    }
    if let Some(dir) = g.certificates.textfile_dir.as_ref() {
        ctx.root.write_private(
            &dir.join("lempctl_cert.prom"),
            cert_monitor::prometheus(&report.sites, now).as_bytes(),
            0o644,
        )?;
    }
    let mut recorded = previous;
    for s in &report.sites {
        recorded.insert(s.site.clone(), s.level);
    }
    if !changes.is_empty() && g.alerts.is_some() {
        let body = mail_body(&report.sites, &changes);
        let worst = changes.iter().map(|c| c.2).max().unwrap_or(Level::Ok);
        let subject = format!(
            "lempctl: certificates {} on {}",
            match worst {
                Level::Ok => "recovered",
                Level::Warning => "need attention",
                Level::Critical => "CRITICAL",
            },
            super::hostname()
        );
        super::send_alert(ctx, &subject, &body)?;
        report.mailed = true;
    }
    ctx.root
        .write_private(&state_file, &serde_json::to_vec_pretty(&recorded)?, 0o600)?;
    Ok(report)
}

fn mail_body(sites: &[SiteCheck], changes: &[(String, Option<Level>, Level)]) -> String {
    let mut body = String::new();
    for (site, before, now) in changes {
        body.push_str(&format!(
            "{site}: {} -> {now:?}\n",
            before.map_or_else(|| "new".to_owned(), |b| format!("{b:?}"))
        ));
        if let Some(s) = sites.iter().find(|s| &s.site == site) {
            for p in &s.problems {
                body.push_str(&format!("  {p}\n"));
            }
        }
    }
    body
}
