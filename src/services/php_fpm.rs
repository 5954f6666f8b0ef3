//! PHP-FPM: testing the configuration of one version's master with the real binary, and the ini
//! scan directories a private (sandbox) master needs.

use anyhow::Result;

use super::ValidationError;
use crate::config::global::{Global, ManagerKind};
use crate::host::Root;
use crate::host::exec::Cmd;

/// `PHP_INI_SCAN_DIR` for a private master: the distribution's conf.d plus the sandbox's.
pub(crate) fn ini_scan_dir(root: &Root, g: &Global, version: &str) -> String {
    format!(
        "{}:{}",
        g.paths.php_conf_d(version).display(),
        root.path(&g.paths.php_conf_d(version)).display()
    )
}

/// `php-fpmX.Y -t`; on failure the error quotes php-fpm (file and line).
pub(crate) fn check_config(root: &Root, g: &Global, version: &str) -> Result<()> {
    let mut cmd = Cmd::new(g.programs.php_fpm(version)).arg("-t");
    if g.manager == ManagerKind::Direct || !root.is_host() {
        cmd = cmd
            .arg("-y")
            .arg(root.path(&g.direct.php_fpm_conf(version)))
            .env("PHP_INI_SCAN_DIR", ini_scan_dir(root, g, version));
    }
    let out = cmd.output()?;
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
        program: format!("php-fpm{version}"),
        message,
    }
    .into())
}
