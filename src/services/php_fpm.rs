//! PHP-FPM: testing the configuration of one version's master with the real binary
//! (`host::php::FpmMaster` owns its paths and command lines).

use anyhow::Result;

use super::ValidationError;
use crate::config::global::{Global, ManagerKind, PhpVersion};
use crate::host::Root;

/// `php-fpmX.Y -t`; on failure the error quotes php-fpm (file and line).
pub(crate) fn check_config(root: &Root, g: &Global, version: &PhpVersion) -> Result<()> {
    let fpm = g.fpm(version);
    let private = g.manager == ManagerKind::Direct || !root.is_host();
    let out = fpm.test_cmd(root, private).output()?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr);
    let message = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n");
    Err(ValidationError {
        program: fpm.program().file_name().map_or_else(
            || fpm.program().display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        ),
        message,
    }
    .into())
}
