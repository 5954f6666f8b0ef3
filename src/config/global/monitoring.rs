//! `monitoring`: where the metrics textfiles go, and how `status` probes the sites.

use std::path::PathBuf;

use crate::config::check::Ctx;
use crate::config::file::{MonitoringFile, S};

#[derive(Debug, Clone, serde::Serialize)]
pub struct Monitoring {
    /// node_exporter's textfile collector directory (`lempctl_jobs.prom`, `lempctl_status.prom`);
    /// the default for `backup.textfile_dir` and `certificates.textfile_dir` too.
    pub textfile_dir: Option<PathBuf>,
    /// Sites `status` probes at once.
    pub probe_concurrency: u32,
    /// A site's last successful backup older than this many hours makes `status` say so.
    pub backup_max_age_hours: u32,
}

fn bounded(
    ctx: &mut Ctx<'_>,
    v: Option<&S<u32>>,
    field: &str,
    range: (u32, u32),
    default: u32,
) -> u32 {
    match v {
        None => default,
        Some(v) if (range.0..=range.1).contains(&v.value) => v.value,
        Some(v) => {
            ctx.err(
                v,
                field,
                format!("{} is out of range", v.value),
                Some(&format!("{} to {}", range.0, range.1)),
            );
            default
        }
    }
}

pub(super) fn section(ctx: &mut Ctx<'_>, m: MonitoringFile) -> Monitoring {
    Monitoring {
        textfile_dir: m
            .textfile_dir
            .as_ref()
            .map(|v| ctx.path(Some(v), "monitoring.textfile_dir", "")),
        probe_concurrency: bounded(
            ctx,
            m.probe_concurrency.as_ref(),
            "monitoring.probe_concurrency",
            (1, 256),
            32,
        ),
        backup_max_age_hours: bounded(
            ctx,
            m.backup_max_age_hours.as_ref(),
            "monitoring.backup_max_age_hours",
            (1, 8760),
            48,
        ),
    }
}
