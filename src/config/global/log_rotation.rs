//! `log_rotation`: how often the sites' logs are rotated and how many are kept.

use crate::config::check::Ctx;
use crate::config::file::LogRotationFile;
use crate::config::values::printable;

/// The managed logrotate file's settings.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LogRotation {
    /// `daily` or `weekly`.
    pub frequency: &'static str,
    /// Rotated logs kept.
    pub keep: u32,
    /// gzip rotated logs (`delaycompress`: the newest rotated one stays plain).
    pub compress: bool,
}

pub(super) fn section(ctx: &mut Ctx<'_>, f: LogRotationFile) -> LogRotation {
    let frequency = match f.frequency.as_ref().map(|v| (v, v.value.as_str())) {
        None | Some((_, "daily")) => "daily",
        Some((_, "weekly")) => "weekly",
        Some((v, other)) => {
            ctx.err(
                v,
                "log_rotation.frequency",
                format!("unknown value `{}`", printable(other)),
                Some("`daily` or `weekly`"),
            );
            "daily"
        }
    };
    let keep = match &f.keep {
        None => 14,
        Some(v) if (1..=3650).contains(&v.value) => v.value,
        Some(v) => {
            ctx.err(
                v,
                "log_rotation.keep",
                format!("{} rotated logs cannot be kept", v.value),
                Some("1 to 3650"),
            );
            14
        }
    };
    LogRotation {
        frequency,
        keep,
        compress: f.compress.unwrap_or(true),
    }
}
