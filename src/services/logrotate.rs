//! logrotate: checking the managed file with the real program before it counts as installed.

use std::path::Path;

use anyhow::Result;

use super::ValidationError;
use crate::config::Global;
use crate::host::Root;
use crate::host::exec::Cmd;

/// `logrotate -d` (debug: reads and checks, rotates nothing) on the file at `path` (host path);
/// on failure the error quotes logrotate's own error lines.
pub(crate) fn check_config(root: &Root, g: &Global, path: &Path) -> Result<()> {
    let out = Cmd::new(&g.programs.logrotate)
        .args(["-d", "-s", "/dev/null"])
        .arg(root.path(path))
        .output()?;
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let errors: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("error:"))
        .map(|l| format!("  {l}"))
        .collect();
    if out.status.success() && errors.is_empty() {
        return Ok(());
    }
    Err(ValidationError {
        program: "logrotate".into(),
        message: errors.join("\n"),
    }
    .into())
}
