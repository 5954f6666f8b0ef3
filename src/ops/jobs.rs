//! Scheduled runs: `--job NAME` records the run (`engine::jobs`), rewrites the jobs' metrics and,
//! under cron, mails the first failure (systemd's `OnFailure=` unit runs `lempctl alert` instead,
//! which also catches a run that was killed before it could record anything).

use std::time::Instant;

use anyhow::Result;

use super::Context;
use crate::config::UsageError;
use crate::config::global::{Global, Scheduler};
use crate::engine::jobs::{self, JobRecord};

/// A run of a scheduled job, between its start and end records.
pub(crate) struct ScheduledRun {
    name: String,
    started: Instant,
    global: Global,
}

/// Records the start of the job `name` (a unit name without its suffix).
pub(crate) fn begin(ctx: &Context, name: &str) -> Result<ScheduledRun> {
    if !jobs::valid_name(name) {
        return Err(UsageError(format!(
            "`--job {name}` is not a job name: letters, digits and `@._-` (a unit's name without `.service`)"
        ))
        .into());
    }
    let global = crate::config::load_global(&ctx.root, &ctx.config_path, &mut Vec::new())?;
    jobs::begin(&ctx.root, &global, name)?;
    Ok(ScheduledRun {
        name: name.to_owned(),
        started: Instant::now(),
        global,
    })
}

impl ScheduledRun {
    /// Records the end, rewrites `lempctl_jobs.prom`, and under cron mails a first failure the
    /// command did not mail itself. Problems are returned as warnings: the job's own exit code
    /// stands.
    pub(crate) fn finish(self, ctx: &Context, code: u8, error: Option<String>) -> Vec<String> {
        let g = &self.global;
        let mut warnings = Vec::new();
        let record = match jobs::finish(&ctx.root, g, &self.name, self.started, code, error) {
            Ok(r) => r,
            Err(e) => return vec![format!("recording the run of {}: {e:#}", self.name)],
        };
        if let Some(dir) = &g.monitoring.textfile_dir
            && let Err(e) = jobs::write_textfile(&ctx.root, g, dir)
        {
            warnings.push(format!("writing lempctl_jobs.prom: {e:#}"));
        }
        if g.scheduler == Scheduler::Cron
            && code != 0
            && record.consecutive_failures == 1
            && !ctx.alerted.get()
            && let Err(e) = mail_failure(ctx, &self.name, &record, "")
        {
            warnings.push(format!("mailing the failure of {}: {e:#}", self.name));
        }
        warnings
    }
}

/// What `lempctl alert UNIT` did.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Alerted {
    pub unit: String,
    pub mailed: bool,
    /// Why no mail went out (an earlier failure of the same job was mailed already).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// `lempctl alert UNIT` (what `lempctl-alert@.service` runs on a unit's failure): mails the
/// failure with the job's record and its last log lines, once per run of failures.
pub(crate) fn alert(ctx: &Context, unit: &str) -> Result<Alerted> {
    let name = unit.strip_suffix(".service").unwrap_or(unit);
    if !jobs::valid_name(name) {
        return Err(UsageError(format!("`{unit}` is not a unit name")).into());
    }
    let g = crate::config::load_global(&ctx.root, &ctx.config_path, &mut Vec::new())?;
    let record = jobs::read(&ctx.root, &g, name)?;
    // a run that recorded its end has said whether it mailed; one that was killed has not
    let repeat = record
        .as_ref()
        .filter(|r| r.last_end.is_some())
        .is_some_and(|r| r.consecutive_failures > 1);
    if repeat {
        return Ok(Alerted {
            unit: unit.to_owned(),
            mailed: false,
            skipped: Some("an earlier failure in this run of failures was mailed".into()),
        });
    }
    let log = crate::services::systemd::journal_tail(&g, unit, 20).unwrap_or_default();
    mail_failure(ctx, name, &record.unwrap_or_default(), &log)?;
    Ok(Alerted {
        unit: unit.to_owned(),
        mailed: true,
        skipped: None,
    })
}

fn mail_failure(ctx: &Context, name: &str, r: &JobRecord, log: &str) -> Result<()> {
    let host = super::hostname();
    let subject = format!("lempctl: job {name} failed on {host}");
    let mut body = format!(
        "The scheduled job {name} failed on {host} at {}.\n\n",
        chrono::Local::now().format("%Y-%m-%d %H:%M:%S %z")
    );
    if let Some(e) = &r.error {
        body.push_str(&format!("Error: {e}\n\n"));
    }
    if r.last_end.is_none() && r.last_start > 0 {
        body.push_str(
            "The run did not record its end: it was killed (timeout, out of memory, a signal).\n\n",
        );
    }
    if !log.is_empty() {
        body.push_str(&format!("Last log lines:\n{log}\n\n"));
    }
    body.push_str(
        "What to do: `lempctl status` shows every job's last run; run the job's command by hand \
         (the unit's ExecStart, or its line in /etc/cron.d/lempctl) to see the whole error.\n\
         One mail per run of failures: the next mail comes after the job has succeeded again.\n",
    );
    super::send_alert(ctx, &subject, &body)
}
