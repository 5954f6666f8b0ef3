//! systemd units offline: `systemd-analyze verify` of rendered units, and daemon-reload when
//! systemd really runs this host.

use anyhow::Result;

use super::ValidationError;
use crate::config::global::Global;
use crate::host::Root;
use crate::host::exec::Cmd;

/// Verifies units by name against the unit directory under the root. Warnings count as failures:
/// systemd only warns about a bad `OnCalendar=` in some cases.
pub(crate) fn verify(root: &Root, g: &Global, units: &[String]) -> Result<()> {
    if units.is_empty() {
        return Ok(());
    }
    // The trailing `:` keeps the system search path (timers.target, sysinit.target…).
    let path = format!("{}:", root.path(&g.paths.systemd_dir).display());
    let out = Cmd::new(&g.programs.systemd_analyze)
        .arg("verify")
        .args(units)
        .env("SYSTEMD_UNIT_PATH", path)
        .output()?;
    let text = String::from_utf8_lossy(&out.stderr);
    let relevant: Vec<&str> = text
        .lines()
        .filter(|l| {
            !l.trim().is_empty()
                && units
                    .iter()
                    .any(|u| l.contains(u.split('@').next().unwrap_or(u)))
        })
        .collect();
    if out.status.success() && relevant.is_empty() {
        return Ok(());
    }
    let message = if relevant.is_empty() {
        text.trim().to_owned()
    } else {
        relevant.join("\n")
    };
    Err(ValidationError {
        program: "systemd-analyze verify".into(),
        message: format!("  {message}"),
    }
    .into())
}

/// `systemctl daemon-reload`, only on a real host run by systemd.
pub(crate) fn daemon_reload(g: &Global) -> Result<()> {
    Cmd::new(&g.programs.systemctl).arg("daemon-reload").run()?;
    Ok(())
}

/// The last `lines` lines of `unit`'s journal (for an alert mail).
pub(crate) fn journal_tail(g: &Global, unit: &str, lines: u32) -> Result<String> {
    let out = Cmd::new(g.programs.systemctl.with_file_name("journalctl"))
        .args([
            "--no-pager",
            "-o",
            "short-iso",
            "-n",
            &lines.to_string(),
            "-u",
            unit,
        ])
        .run()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
