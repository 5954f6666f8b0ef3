//! A throw-away container that boots a real systemd as PID 1 (`systemd-nspawn -b` with the
//! host's `/usr` read-only and the sandbox bound at its own path), with the units `apply`
//! rendered for a sandbox and a probe unit that runs a script, then powers off.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{Need, Sandbox, missing};

pub const NSPAWN: &str = "/opt/lempctl-nspawn/usr/bin/systemd-nspawn";

pub fn nspawn() -> Need<()> {
    if Path::new(NSPAWN).is_file() {
        return Ok(());
    }
    Err(missing(&format!(
        "{NSPAWN} missing: scripts/install-deps extracts it from Debian's systemd-container"
    )))
}

/// A minimal root in `dir`: the host's `/usr` is bound read-only over `usr/`, its users and
/// groups copied, the sandbox's `/etc/systemd/system` as the container's. Returns that units
/// directory.
pub fn rootfs(dir: &Path, sb: &Sandbox) -> PathBuf {
    for d in [
        "usr", "etc", "proc", "sys", "dev", "run", "tmp", "var/log", "root",
    ] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    for d in ["bin", "sbin", "lib", "lib64"] {
        std::os::unix::fs::symlink(format!("usr/{d}"), dir.join(d)).unwrap();
    }
    for f in ["os-release", "passwd", "group"] {
        std::fs::copy(Path::new("/etc").join(f), dir.join("etc").join(f)).unwrap();
    }
    assert!(
        Command::new("systemd-machine-id-setup")
            .arg(format!("--root={}", dir.display()))
            .output()
            .unwrap()
            .status
            .success()
    );
    let units = dir.join("etc/systemd/system");
    std::fs::create_dir_all(dir.join("etc/systemd")).unwrap();
    assert!(
        Command::new("cp")
            .arg("-a")
            .arg(sb.path("/etc/systemd/system"))
            .arg(&units)
            .status()
            .unwrap()
            .success()
    );
    std::os::unix::fs::symlink(
        "/usr/lib/systemd/system/multi-user.target",
        units.join("default.target"),
    )
    .unwrap();
    // a unit slow to stop at power-off must not hold the test for systemd's default 90 s
    std::fs::create_dir_all(dir.join("etc/systemd/system.conf.d")).unwrap();
    std::fs::write(
        dir.join("etc/systemd/system.conf.d/lempctl-test.conf"),
        "[Manager]\nDefaultTimeoutStopSec=10s\n",
    )
    .unwrap();
    units
}

/// `probe.service`, started at boot after `after`: runs `script` (sh), which ends with
/// `systemctl poweroff`.
pub fn probe(dir: &Path, after: &str, script: &str) {
    let units = dir.join("etc/systemd/system");
    std::fs::write(dir.join("probe.sh"), format!("#!/bin/sh\n{script}")).unwrap();
    std::fs::set_permissions(
        dir.join("probe.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(
        units.join("probe.service"),
        format!("[Unit]\nAfter={after}\n[Service]\nType=oneshot\nStandardOutput=tty\nExecStart=/probe.sh\n"),
    )
    .unwrap();
    std::fs::create_dir_all(units.join("multi-user.target.wants")).unwrap();
    std::os::unix::fs::symlink(
        "/etc/systemd/system/probe.service",
        units.join("multi-user.target.wants/probe.service"),
    )
    .unwrap();
}

/// Boots the container (at most 120 s) with the sandbox and lempctl bound at their paths,
/// and `binds` (`SOURCE:DEST` of `--bind`).
pub fn boot(dir: &Path, sb: &Sandbox, binds: &[String]) -> Output {
    Command::new("timeout")
        .arg("120")
        .arg(NSPAWN)
        .args(["-q", "-b", "-D"])
        .arg(dir)
        .args(["--bind-ro=/usr", "--register=no", "--keep-unit"])
        .arg(format!("--bind={}", sb.root().display()))
        .arg(format!("--bind-ro={}", env!("CARGO_BIN_EXE_lempctl")))
        .args(binds.iter().map(|b| format!("--bind={b}")))
        .output()
        .unwrap()
}
