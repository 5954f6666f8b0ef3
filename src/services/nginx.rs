//! nginx: where its configuration lives and how to test it with the real binary.

use anyhow::Result;

use super::ValidationError;
use crate::config::global::{Global, ManagerKind};
use crate::host::Root;
use crate::host::exec::Cmd;

/// `nginx -t` on the whole configuration; on failure the error quotes nginx (file and line).
pub(crate) fn check_config(root: &Root, g: &Global) -> Result<()> {
    let mut cmd = Cmd::new(&g.programs.nginx).args(["-t", "-q"]);
    if g.manager == ManagerKind::Direct || !root.is_host() {
        cmd = cmd.arg("-c").arg(root.path(&g.direct.nginx_conf));
    }
    let out = cmd.output()?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr);
    let message = text
        .lines()
        .filter(|l| !l.contains("configuration file") || l.contains("[emerg]"))
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n");
    Err(ValidationError {
        program: "nginx".into(),
        message,
    }
    .into())
}
