//! Reloading and querying nginx and PHP-FPM under the configured manager: systemd, SysV init
//! scripts, or `direct` (private instances found by pid file and signalled with nix).
//! Services are only ever reloaded here, never restarted; only lempctl's own PHP-FPM masters
//! are started and stopped (`start`, `stop`), as `tuning.php_fpm_masters` adds or removes them.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::exec::Cmd;
pub(crate) use super::machine::Service;
use super::machine::{Machine, ManagerKind};
use super::root::Root;

/// Pid file of a direct-managed service (real path).
pub(crate) fn pid_file(root: &Root, m: &Machine<'_>, svc: &Service) -> std::path::PathBuf {
    match svc {
        Service::Nginx => root.path(&m.direct.nginx_pid),
        Service::PhpFpm(id) => root.path(&m.master(&id.version, id.shard).pid_file()),
    }
}

/// The pid in a pid file if that process is alive.
pub(crate) fn running_pid(pid_file: &Path) -> Option<Pid> {
    let text = std::fs::read_to_string(pid_file).ok()?;
    let pid = Pid::from_raw(text.trim().parse().ok()?);
    kill(pid, None).ok().map(|()| pid)
}

/// The pid of the service's main process while it runs (`None` under sysv: its init scripts
/// keep no pid file in one known place).
pub(crate) fn pid(root: &Root, m: &Machine<'_>, svc: &Service) -> Option<u32> {
    match m.manager {
        ManagerKind::Direct => {
            running_pid(&pid_file(root, m, svc)).map(|p| p.as_raw().unsigned_abs())
        }
        ManagerKind::Systemd => Cmd::new(&m.programs.systemctl)
            .args(["show", "--property=MainPID", "--value"])
            .arg(svc.unit())
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|p| *p != 0),
        ManagerKind::Sysv => None,
    }
}

/// True when the service is up (so a reload makes sense).
pub(crate) fn is_running(root: &Root, m: &Machine<'_>, svc: &Service) -> Result<bool> {
    Ok(match m.manager {
        ManagerKind::Direct => running_pid(&pid_file(root, m, svc)).is_some(),
        ManagerKind::Systemd => Cmd::new(&m.programs.systemctl)
            .args(["is-active", "--quiet"])
            .arg(svc.unit())
            .output()?
            .status
            .success(),
        ManagerKind::Sysv => Cmd::new(&m.programs.service)
            .arg(svc.unit())
            .arg("status")
            .output()?
            .status
            .success(),
    })
}

/// Reloads a running service gracefully and waits until it runs the new configuration.
pub(crate) fn reload(root: &Root, m: &Machine<'_>, svc: &Service) -> Result<()> {
    let start = std::time::Instant::now();
    reload_inner(root, m, svc)?;
    tracing::debug!(
        "reloaded {svc} in {:.1} ms",
        start.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}

fn reload_inner(root: &Root, m: &Machine<'_>, svc: &Service) -> Result<()> {
    match m.manager {
        ManagerKind::Systemd => {
            Cmd::new(&m.programs.systemctl)
                .arg("reload")
                .arg(svc.unit())
                .run()?;
        }
        ManagerKind::Sysv => {
            Cmd::new(&m.programs.service)
                .arg(svc.unit())
                .arg("reload")
                .run()?;
        }
        ManagerKind::Direct => {
            let pid = running_pid(&pid_file(root, m, svc))
                .with_context(|| format!("{svc} is not running"))?;
            match svc {
                Service::Nginx => {
                    // SIGHUP directly: `nginx -s reload` would parse the whole config a second time.
                    let before = children(pid);
                    kill(pid, Signal::SIGHUP).with_context(|| format!("signalling {svc}"))?;
                    wait_until(Duration::from_secs(10), || {
                        let now = children(pid);
                        !now.is_empty() && before.iter().all(|c| !now.contains(c))
                    })
                    .with_context(
                        || "nginx did not replace its workers after SIGHUP (see its error log)",
                    )?;
                }
                Service::PhpFpm(_) => {
                    kill(pid, Signal::SIGUSR2).with_context(|| format!("signalling {svc}"))?;
                    // The master re-executes itself; it is back when it answers on its pid again
                    // with a fresh command line and its sockets accept.
                    std::thread::sleep(Duration::from_millis(50));
                    wait_until(Duration::from_secs(10), || {
                        running_pid(&pid_file(root, m, svc)).is_some()
                    })
                    .with_context(|| format!("{svc} did not come back after SIGUSR2"))?;
                }
            }
        }
    }
    Ok(())
}

/// Starts one of lempctl's own PHP-FPM masters and waits until it runs (systemd: its unit,
/// after the daemon-reload that loaded it; `direct`: the program with its main configuration).
pub(crate) fn start(root: &Root, m: &Machine<'_>, svc: &Service) -> Result<()> {
    let Service::PhpFpm(id) = svc else {
        bail!("{svc} is never started by lempctl");
    };
    match m.manager {
        ManagerKind::Systemd => {
            Cmd::new(&m.programs.systemctl)
                .arg("start")
                .arg(svc.unit())
                .run()?;
        }
        ManagerKind::Direct => {
            m.master(&id.version, id.shard).start_cmd(root).run()?;
            let pid_file = pid_file(root, m, svc);
            wait_until(Duration::from_secs(10), || running_pid(&pid_file).is_some())
                .with_context(|| format!("{svc} did not start"))?;
        }
        ManagerKind::Sysv => {
            bail!("{svc}: lempctl starts its own PHP-FPM masters only under systemd or `direct`")
        }
    }
    Ok(())
}

/// Stops one of lempctl's own PHP-FPM masters gracefully (SIGQUIT: running requests finish)
/// and waits until it exited.
pub(crate) fn stop(root: &Root, m: &Machine<'_>, svc: &Service) -> Result<()> {
    match m.manager {
        ManagerKind::Systemd => {
            Cmd::new(&m.programs.systemctl)
                .arg("stop")
                .arg(svc.unit())
                .run()?;
        }
        ManagerKind::Direct | ManagerKind::Sysv => {
            let Some(pid) = running_pid(&pid_file(root, m, svc)) else {
                return Ok(());
            };
            kill(pid, Signal::SIGQUIT).with_context(|| format!("stopping {svc}"))?;
            wait_until(Duration::from_secs(30), || kill(pid, None).is_err())
                .with_context(|| format!("{svc} did not stop"))?;
        }
    }
    Ok(())
}

/// The worker processes of a running service (its main process's children), so a caller can
/// wait for the ones a reload retires; empty when the main process is unknown (sysv).
pub(crate) fn workers(root: &Root, m: &Machine<'_>, svc: &Service) -> Vec<i32> {
    pid(root, m, svc)
        .and_then(|p| i32::try_from(p).ok())
        .map(|p| children(Pid::from_raw(p)))
        .unwrap_or_default()
}

/// Waits until every process of `old` has exited (nginx's old workers finish their requests
/// after a reload, still sending them to the upstreams the old configuration named).
pub(crate) fn wait_for_old_workers(old: &[i32], limit: Duration) -> Result<()> {
    wait_until(limit, || {
        old.iter()
            .all(|p| !Path::new(&format!("/proc/{p}")).exists() || is_zombie(*p))
    })
    .context("waiting for the old workers to exit")
}

/// A process that has exited but was not reaped yet.
fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next().map(|st| st == "Z"))
        })
        .unwrap_or(true)
}

/// Children of a process, from /proc.
pub(crate) fn children(pid: Pid) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(child) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // Field 4 is the parent pid; the command name (field 2) may contain spaces, so split after `)`.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<i32>().ok());
        if ppid == Some(pid.as_raw()) {
            out.push(child);
        }
    }
    out
}

/// Polls `done` every 20 ms until it is true or `limit` passes.
pub(crate) fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> Result<()> {
    let start = Instant::now();
    loop {
        if done() {
            return Ok(());
        }
        if start.elapsed() > limit {
            bail!("timed out after {} s", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
