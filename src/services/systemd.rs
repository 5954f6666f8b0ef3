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

/// Whether systemd runs this machine (PID 1): units can be asked about.
pub(crate) fn running() -> bool {
    std::path::Path::new("/run/systemd/system").is_dir()
}

/// `systemctl show -p PROPS UNITS…` in one call: each unit's properties, in the order given.
pub(crate) fn show(
    g: &Global,
    units: &[String],
    props: &[&str],
) -> Result<Vec<std::collections::BTreeMap<String, String>>> {
    if units.is_empty() {
        return Ok(Vec::new());
    }
    let out = Cmd::new(&g.programs.systemctl)
        .arg("show")
        .arg(format!("--property={}", props.join(",")))
        .args(units)
        .run()?;
    Ok(parse_show(&String::from_utf8_lossy(&out.stdout)))
}

/// `key=value` blocks separated by blank lines.
fn parse_show(text: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    text.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            block
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn show_blocks() {
        let b = super::parse_show(
            "Id=a.service\nResult=success\n\nId=b.service\nResult=exit-code\nActiveState=failed\n",
        );
        assert_eq!(b.len(), 2);
        assert_eq!(b[1]["Result"], "exit-code");
        assert_eq!(b[1]["ActiveState"], "failed");
    }
}
