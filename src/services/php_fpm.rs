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

/// The values of the ini settings `keys` as this version's master loads them (from
/// `php-fpmX.Y -i`: `key => local value => master value`); a key PHP does not know is absent.
pub(crate) fn ini_values(
    root: &Root,
    g: &Global,
    version: &PhpVersion,
    keys: &[&str],
) -> Result<std::collections::BTreeMap<String, String>> {
    let private = g.manager == ManagerKind::Direct || !root.is_host();
    let out = g.fpm(version).info_cmd(root, private).run()?;
    Ok(parse_info(&String::from_utf8_lossy(&out.stdout), keys))
}

fn parse_info(text: &str, keys: &[&str]) -> std::collections::BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.split(" => ");
            let key = parts.next()?.trim();
            let value = parts.next()?.trim();
            keys.contains(&key)
                .then(|| (key.to_owned(), value.to_owned()))
        })
        .collect()
}

/// The master's `process_control_timeout` in seconds, from `php-fpmX.Y -tt` (which prints the
/// whole configuration it would load). 0, PHP-FPM's default, lets a reload kill every request
/// still running; `None` when the value is not in the output.
pub(crate) fn process_control_timeout(
    root: &Root,
    g: &Global,
    version: &PhpVersion,
) -> Result<Option<u64>> {
    let private = g.manager == ManagerKind::Direct || !root.is_host();
    let out = g.fpm(version).test_cmd(root, private).arg("-t").output()?;
    Ok(parse_process_control_timeout(&String::from_utf8_lossy(
        &out.stderr,
    )))
}

fn parse_process_control_timeout(text: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let v = l.split_once("process_control_timeout = ")?.1.trim();
        v.trim_end_matches('s').parse().ok()
    })
}

/// Waits until every socket in `sockets` (real paths) accepts a connection: after a reload the
/// master creates new pools' sockets only when it is back, and nginx must not be sent to them
/// before. Fails after `limit` naming the sockets that do not accept.
pub(crate) fn wait_for_sockets(
    sockets: &[std::path::PathBuf],
    limit: std::time::Duration,
) -> Result<()> {
    let accepts = |s: &std::path::PathBuf| std::os::unix::net::UnixStream::connect(s).is_ok();
    let start = std::time::Instant::now();
    loop {
        let waiting: Vec<&std::path::PathBuf> = sockets.iter().filter(|s| !accepts(s)).collect();
        if waiting.is_empty() {
            return Ok(());
        }
        if start.elapsed() > limit {
            anyhow::bail!(
                "PHP-FPM pools do not accept connections {} s after the reload: {}",
                limit.as_secs(),
                waiting
                    .iter()
                    .map(|s| s.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn process_control_timeout_is_read_from_the_dump() {
        let dump = "[03-Dec-2026 06:15:51] NOTICE: \tprocess_control_timeout = 0s\n";
        assert_eq!(super::parse_process_control_timeout(dump), Some(0));
        let dump = "NOTICE: \tprocess_control_timeout = 10s\n";
        assert_eq!(super::parse_process_control_timeout(dump), Some(10));
        assert_eq!(super::parse_process_control_timeout(""), None);
    }

    #[test]
    fn reads_settings_from_phpinfo_text() {
        let text = "opcache.enable => On => On\nopcache.memory_consumption => 128 => 128\nopcache.max_accelerated_files => 10000 => 10000\nother => x => x\n";
        let v = super::parse_info(
            text,
            &["opcache.enable", "opcache.memory_consumption", "missing"],
        );
        assert_eq!(v.len(), 2);
        assert_eq!(v["opcache.enable"], "On");
        assert_eq!(v["opcache.memory_consumption"], "128");
    }
}
