//! Scheduled jobs' run records: every run started with `--job NAME` (what the timers and the
//! cron file run) records its start, end, exit code and error in `<state_dir>/jobs/NAME.json`,
//! so `status` and the metrics tell when each job last ran and whether it worked without systemd
//! (cron) as well as with it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::global::Global;
use crate::host::Root;

/// The last runs of one job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct JobRecord {
    /// Unix time the last run started.
    pub last_start: i64,
    /// Unix time the last run ended; `None` while it runs (or when it was killed).
    pub last_end: Option<i64>,
    /// Exit code of the last run that ended.
    pub last_exit: Option<u8>,
    pub last_duration_seconds: f64,
    pub last_success: Option<i64>,
    pub last_failure: Option<i64>,
    /// Failed runs in a row (0 after a success): an alert goes out on the first only.
    pub consecutive_failures: u32,
    /// The last failure's error message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl JobRecord {
    /// The last run ended with exit 0.
    pub(crate) fn succeeded(&self) -> bool {
        self.last_exit == Some(0)
    }
}

/// A job name is a file name: the unit's name without its suffix (`lempctl-backup@site`).
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@._-".contains(&b))
}

fn dir(g: &Global) -> PathBuf {
    g.paths.state_dir.join("jobs")
}

fn path(g: &Global, name: &str) -> PathBuf {
    dir(g).join(format!("{name}.json"))
}

/// The record of `name` (`None` before its first run).
pub(crate) fn read(root: &Root, g: &Global, name: &str) -> Result<Option<JobRecord>> {
    Ok(root
        .read(&path(g, name))?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

/// Every job's record, by name.
pub(crate) fn all(root: &Root, g: &Global) -> Result<BTreeMap<String, JobRecord>> {
    let mut out = BTreeMap::new();
    // the state directory is root's: listing it by path follows nothing a site controls
    let entries = match std::fs::read_dir(root.path(&dir(g))) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).context("listing the job records"),
    };
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(job) = name.strip_suffix(".json")
            && let Some(r) = read(root, g, job)?
        {
            out.insert(job.to_owned(), r);
        }
    }
    Ok(out)
}

fn write(root: &Root, g: &Global, name: &str, r: &JobRecord) -> Result<()> {
    let text = serde_json::to_vec_pretty(r).context("job record")?;
    root.write_private(&path(g, name), &text, 0o644)
}

/// Records that `name` starts now.
pub(crate) fn begin(root: &Root, g: &Global, name: &str) -> Result<JobRecord> {
    let mut r = read(root, g, name)?.unwrap_or_default();
    r.last_start = chrono::Utc::now().timestamp();
    r.last_end = None;
    write(root, g, name, &r)?;
    Ok(r)
}

/// Records the end of the run `begin` started; returns the record.
pub(crate) fn finish(
    root: &Root,
    g: &Global,
    name: &str,
    started: std::time::Instant,
    code: u8,
    error: Option<String>,
) -> Result<JobRecord> {
    let mut r = read(root, g, name)?.unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    r.last_end = Some(now);
    r.last_exit = Some(code);
    r.last_duration_seconds = started.elapsed().as_secs_f64();
    if code == 0 {
        r.last_success = Some(now);
        r.consecutive_failures = 0;
        r.error = None;
    } else {
        r.last_failure = Some(now);
        r.consecutive_failures += 1;
        r.error = Some(error.unwrap_or_else(|| format!("exit code {code}")));
    }
    write(root, g, name, &r)?;
    Ok(r)
}

/// `lempctl-backup@shop.test` → (`lempctl-backup`, `shop.test`).
fn labels(name: &str) -> (&str, &str) {
    name.split_once('@').unwrap_or((name, ""))
}

/// name, help, value of a record.
type Metric = (&'static str, &'static str, fn(&JobRecord) -> Option<String>);

/// node_exporter textfile of every job's last runs.
pub(crate) fn prometheus(all: &BTreeMap<String, JobRecord>) -> String {
    let metrics: [Metric; 6] = [
        (
            "lempctl_job_last_start_timestamp_seconds",
            "Unix time the job's last run started.",
            |r| Some(r.last_start.to_string()),
        ),
        (
            "lempctl_job_last_success_timestamp_seconds",
            "Unix time of the job's last successful run.",
            |r| r.last_success.map(|t| t.to_string()),
        ),
        (
            "lempctl_job_last_failure_timestamp_seconds",
            "Unix time of the job's last failed run.",
            |r| r.last_failure.map(|t| t.to_string()),
        ),
        (
            "lempctl_job_last_run_success",
            "1 when the job's last run that ended exited 0.",
            |r| r.last_exit.map(|c| u8::from(c == 0).to_string()),
        ),
        (
            "lempctl_job_last_duration_seconds",
            "Duration of the job's last run that ended.",
            |r| {
                r.last_end
                    .map(|_| format!("{:.3}", r.last_duration_seconds))
            },
        ),
        (
            "lempctl_job_running",
            "1 while a run of the job has started and not ended (or was killed before it ended).",
            |r| Some(u8::from(r.last_end.is_none()).to_string()),
        ),
    ];
    let mut out = String::new();
    for (name, help, value) in metrics {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for (job, r) in all {
            if let Some(v) = value(r) {
                let (unit, site) = labels(job);
                out.push_str(&format!("{name}{{job=\"{unit}\",site=\"{site}\"}} {v}\n"));
            }
        }
    }
    out
}

/// Rewrites `<dir>/lempctl_jobs.prom` from every record (atomically: node_exporter never reads
/// half a file).
pub(crate) fn write_textfile(root: &Root, g: &Global, dir: &std::path::Path) -> Result<()> {
    let text = prometheus(&all(root, g)?);
    root.write_private(&dir.join("lempctl_jobs.prom"), text.as_bytes(), 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("lempctl-backup@shop.example.test"));
        assert!(valid_name("lempctl-cert-check"));
        for bad in ["", "../x", ".hidden", "a/b", "a b", "a\nb"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn textfile() {
        let mut all = BTreeMap::new();
        all.insert(
            "lempctl-backup@a.test".to_owned(),
            JobRecord {
                last_start: 10,
                last_end: Some(12),
                last_exit: Some(1),
                last_duration_seconds: 2.0,
                last_failure: Some(12),
                consecutive_failures: 1,
                ..JobRecord::default()
            },
        );
        let t = prometheus(&all);
        assert!(
            t.contains("lempctl_job_last_run_success{job=\"lempctl-backup\",site=\"a.test\"} 0\n"),
            "{t}"
        );
        assert!(t.contains(
            "lempctl_job_last_failure_timestamp_seconds{job=\"lempctl-backup\",site=\"a.test\"} 12\n"
        ));
        assert!(!t.contains("lempctl_job_last_success_timestamp_seconds{"));
        assert!(t.contains("lempctl_job_running{job=\"lempctl-backup\",site=\"a.test\"} 0\n"));
    }
}
