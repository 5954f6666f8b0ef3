//! PHP-FPM: testing the configuration of one master with the real binary
//! (`host::php::FpmMaster` owns its paths and command lines).

use anyhow::Result;

use super::ValidationError;
use crate::config::global::{Global, ManagerKind, PhpVersion};
use crate::host::Root;
use crate::host::machine::FpmId;

/// `php-fpmX.Y -t` of master `id`; on failure the error quotes php-fpm (file and line).
pub(crate) fn check_config(root: &Root, g: &Global, id: &FpmId) -> Result<()> {
    let fpm = g.master(&id.version, id.shard);
    let out = test_output(root, g, id, &[])?;
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

/// `php-fpmX.Y -t` (`extra`: more options) of master `id` as this run can test it: on the
/// host; a private master with its main configuration under the root; one of lempctl's own
/// rendered under `--root` for a host run by systemd, from a copy of its main configuration
/// with the paths it names moved under the root (php-fpm reads its configuration after
/// closing stdin, so the copy is a root-only file in the state directory, removed after).
fn test_output(
    root: &Root,
    g: &Global,
    id: &FpmId,
    extra: &[&str],
) -> Result<std::process::Output> {
    let fpm = g.master(&id.version, id.shard);
    let private = g.manager == ManagerKind::Direct || !root.is_host();
    if !(fpm.is_own() && !root.is_host() && g.manager != ManagerKind::Direct) {
        return Ok(fpm.test_cmd(root, private).args(extra).output()?);
    }
    let conf = root.read(&fpm.main_conf())?.unwrap_or_default();
    let copy = g
        .paths
        .state_dir
        .join(format!("{}.test.conf", fpm.service().unit()));
    root.write_private(
        &copy,
        fpm.staged_conf(root, &String::from_utf8_lossy(&conf))
            .as_bytes(),
        0o600,
    )?;
    let out = fpm
        .staged_test_cmd(root, &root.path(&copy))
        .args(extra)
        .output();
    root.remove_tree(&copy)?;
    Ok(out?)
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
pub(crate) fn process_control_timeout(root: &Root, g: &Global, id: &FpmId) -> Result<Option<u64>> {
    let out = test_output(root, g, id, &["-t"])?;
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

/// Waits until every socket in `sockets` (real paths) listens: after a reload the master creates
/// new pools' sockets only when it is back, and nginx must not be sent to them before. Read from
/// the kernel's table of listening unix sockets, not by connecting: a connection would start a
/// worker in every `ondemand` pool. Fails after `limit` naming the sockets that do not listen.
pub(crate) fn wait_for_sockets(
    sockets: &[std::path::PathBuf],
    limit: std::time::Duration,
) -> Result<()> {
    if sockets.is_empty() {
        return Ok(());
    }
    let start = std::time::Instant::now();
    loop {
        let waiting: Vec<&std::path::PathBuf> = match std::fs::read_to_string("/proc/net/unix") {
            Ok(table) => {
                let listening = listening_unix_sockets(&table);
                sockets
                    .iter()
                    .filter(|s| !listening.contains(s.as_path()))
                    .collect()
            }
            // no /proc: a connection tells too
            Err(_) => sockets
                .iter()
                .filter(|s| std::os::unix::net::UnixStream::connect(s).is_err())
                .collect(),
        };
        if waiting.is_empty() {
            return Ok(());
        }
        if start.elapsed() > limit {
            anyhow::bail!(
                "PHP-FPM pools do not listen {} s after the reload: {}",
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

/// The paths of listening unix sockets in `/proc/net/unix` (flag `__SO_ACCEPTCON`, 0x10000).
fn listening_unix_sockets(table: &str) -> std::collections::BTreeSet<&std::path::Path> {
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let flags = u32::from_str_radix(f.get(3)?, 16).ok()?;
            let path = std::path::Path::new(*f.get(7)?);
            (flags & 0x10000 != 0).then_some(path)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn listening_sockets_are_read_from_the_kernel_table() {
        let table = "Num       RefCount Protocol Flags    Type St Inode Path\n0000: 00000003 00000000 00000000 0001 03 794982\n0001: 00000002 00000000 00010000 0001 01 794719 /run/php/w_a.sock\n0002: 00000002 00000000 00000000 0001 03 794720 /run/php/w_b.sock\n";
        let l = super::listening_unix_sockets(table);
        assert!(l.contains(std::path::Path::new("/run/php/w_a.sock")));
        assert!(!l.contains(std::path::Path::new("/run/php/w_b.sock")));
        assert_eq!(l.len(), 1);
    }

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
