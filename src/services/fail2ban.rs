//! fail2ban: testing the whole configuration with the real client before a run counts, and
//! reloading a running server (never restarting it: a restart forgets the bans).

use anyhow::Result;

use super::ValidationError;
use crate::config::Global;
use crate::host::Root;
use crate::host::exec::Cmd;

fn client(root: &Root, g: &Global) -> Cmd {
    Cmd::new(&g.programs.fail2ban_client)
        .arg("-c")
        .arg(root.path(&g.paths.fail2ban_dir))
}

/// `fail2ban-client -t`: every jail, filter and log path; on failure the error quotes fail2ban.
pub(crate) fn check_config(root: &Root, g: &Global) -> Result<()> {
    let out = client(root, g).arg("-t").output()?;
    if out.status.success() {
        return Ok(());
    }
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let message = text
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("rror"))
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n");
    Err(ValidationError {
        program: "fail2ban-client".into(),
        message,
    }
    .into())
}

/// `fail2ban-client reload` when a server answers; nothing when none runs.
pub(crate) fn reload_if_running(root: &Root, g: &Global) -> Result<bool> {
    if !client(root, g).arg("ping").output()?.status.success() {
        return Ok(false);
    }
    client(root, g).arg("reload").run()?;
    Ok(true)
}
