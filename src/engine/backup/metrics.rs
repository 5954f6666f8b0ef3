//! The recorded outcome of the last runs per site, and its Prometheus textfile.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::backup_dir;
use super::run::RunResult;
use crate::config::global::Global;
use crate::host::Root;

fn status_path(g: &Global) -> PathBuf {
    backup_dir(g).join("status.json")
}

/// Per-site outcome of the last runs, for the Prometheus textfile.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct SiteStatus {
    pub last_success: Option<i64>,
    pub last_run: i64,
    pub last_run_success: bool,
    pub duration_seconds: f64,
    pub size_bytes: u64,
    pub added_bytes: u64,
    pub error: Option<String>,
}

/// The recorded outcome of the last backup runs, per site (empty before the first run).
pub(crate) fn statuses(root: &Root, g: &Global) -> Result<BTreeMap<String, SiteStatus>> {
    Ok(match root.read(&status_path(g))? {
        Some(b) => serde_json::from_slice(&b).unwrap_or_default(),
        None => BTreeMap::new(),
    })
}

/// Records the outcome of a run and rewrites `<textfile_dir>/lempctl_backup.prom` (atomically).
pub(crate) fn record(
    root: &Root,
    g: &Global,
    site: &str,
    outcome: Result<&RunResult, String>,
) -> Result<()> {
    let path = status_path(g);
    let mut all: BTreeMap<String, SiteStatus> = match root.read(&path)? {
        Some(b) => serde_json::from_slice(&b).unwrap_or_default(),
        None => BTreeMap::new(),
    };
    let now = chrono::Utc::now().timestamp();
    let s = all.entry(site.to_owned()).or_default();
    s.last_run = now;
    match outcome {
        Ok(r) => {
            s.last_success = Some(now);
            s.last_run_success = true;
            s.duration_seconds = r.duration_seconds;
            s.size_bytes = r.size_bytes;
            s.added_bytes = r.added_bytes;
            s.error = None;
        }
        Err(e) => {
            s.last_run_success = false;
            s.error = Some(e);
        }
    }
    root.write_private(
        &path,
        &serde_json::to_vec_pretty(&all).context("status")?,
        0o600,
    )?;
    if let Some(dir) = g.backup.as_ref().and_then(|b| b.textfile_dir.as_ref()) {
        root.write_private(
            &dir.join("lempctl_backup.prom"),
            prometheus(&all).as_bytes(),
            0o644,
        )?;
    }
    Ok(())
}

/// name, type, help, value of a site.
type Metric = (
    &'static str,
    &'static str,
    &'static str,
    fn(&SiteStatus) -> Option<String>,
);

/// node_exporter textfile format.
pub(crate) fn prometheus(all: &BTreeMap<String, SiteStatus>) -> String {
    let mut out = String::new();
    let metrics: [Metric; 5] = [
        (
            "lempctl_backup_last_success_timestamp_seconds",
            "gauge",
            "Unix time of the last successful backup of the site.",
            |s| s.last_success.map(|t| t.to_string()),
        ),
        (
            "lempctl_backup_last_run_success",
            "gauge",
            "1 when the last backup run of the site succeeded.",
            |s| Some(u8::from(s.last_run_success).to_string()),
        ),
        (
            "lempctl_backup_duration_seconds",
            "gauge",
            "Duration of the last successful backup.",
            |s| Some(format!("{:.3}", s.duration_seconds)),
        ),
        (
            "lempctl_backup_size_bytes",
            "gauge",
            "Bytes read by the last successful backup (files and dump).",
            |s| Some(s.size_bytes.to_string()),
        ),
        (
            "lempctl_backup_added_bytes",
            "gauge",
            "Bytes the repository grew by in the last successful backup.",
            |s| Some(s.added_bytes.to_string()),
        ),
    ];
    for (name, kind, help, value) in metrics {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (site, s) in all {
            if let Some(v) = value(s) {
                out.push_str(&format!("{name}{{site=\"{site}\"}} {v}\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text() {
        let mut all = BTreeMap::new();
        all.insert(
            "a.test".to_owned(),
            SiteStatus {
                last_success: Some(5),
                last_run_success: true,
                size_bytes: 9,
                ..SiteStatus::default()
            },
        );
        let t = prometheus(&all);
        assert!(
            t.contains("lempctl_backup_last_success_timestamp_seconds{site=\"a.test\"} 5\n"),
            "{t}"
        );
        assert!(t.contains("lempctl_backup_size_bytes{site=\"a.test\"} 9\n"));
        assert!(t.contains("# TYPE lempctl_backup_duration_seconds gauge"));
    }
}
