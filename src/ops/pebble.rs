//! A sandbox's own ACME CA: Debian's `pebble`, with `pebble-challtestsrv` as the DNS server that
//! resolves every name to 127.0.0.1 (no /etc/hosts edits), so `sandbox init --acme` sites get
//! certificates really issued over ACME. Ports: the sandbox's HTTP port is pebble's HTTP-01
//! port; pebble's directory listens on port+3, its management API on port+4, challtestsrv's DNS
//! on port+5 and its API on port+6. Pebble makes a new root at every start: `start` saves it to
//! `/etc/lempctl/pebble/root.pem` (what `curl --cacert` and the monitor trust).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result};
use nix::sys::signal::{Signal, kill};

use super::Context;
use crate::host::exec::{Cmd, spawn_detached};
use crate::host::service_manager;
use crate::host::{Journal, Perms, Root};
use crate::services::certs;

const DIR: &str = "/etc/lempctl/pebble";
const PEBBLE: &str = "/usr/bin/pebble";
const CHALLTESTSRV: &str = "/usr/bin/pebble-challtestsrv";
const PEBBLE_PID: &str = "/run/pebble.pid";
const CHALL_PID: &str = "/run/pebble-challtestsrv.pid";

/// pebble's directory port for a sandbox on `port`.
pub(crate) fn acme_port(port: u16) -> u16 {
    port + 3
}

/// Writes pebble's configuration and the CA of its HTTPS listener into the sandbox.
pub(crate) fn init(root: &Root, j: &mut Journal, port: u16) -> Result<()> {
    for p in [PEBBLE, CHALLTESTSRV] {
        if !Path::new(p).is_file() {
            return Err(crate::config::UsageError(format!(
                "--acme needs {p} (apt-get install pebble)"
            ))
            .into());
        }
    }
    let dir = Path::new(DIR);
    root.ensure_dir(j, dir, &Perms::root(0o755))?;
    let ca = certs::local_ca(&["localhost", "127.0.0.1"])?;
    root.write_atomic(
        j,
        &dir.join("ca.pem"),
        ca.ca_pem.as_bytes(),
        &Perms::root(0o644),
    )?;
    root.write_atomic(
        j,
        &dir.join("pebble.pem"),
        ca.server_pem.as_bytes(),
        &Perms::root(0o644),
    )?;
    root.write_atomic(
        j,
        &dir.join("pebble.key"),
        ca.server_key_pem.as_bytes(),
        &Perms::root(0o600),
    )?;
    let config = serde_json::json!({ "pebble": {
        "listenAddress": format!("127.0.0.1:{}", acme_port(port)),
        "managementListenAddress": format!("127.0.0.1:{}", port + 4),
        "certificate": root.path(&dir.join("pebble.pem")),
        "privateKey": root.path(&dir.join("pebble.key")),
        "httpPort": port,
        "tlsPort": port + 7,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": false,
    }});
    root.write_atomic(
        j,
        &dir.join("pebble-config.json"),
        serde_json::to_vec_pretty(&config)?.as_slice(),
        &Perms::root(0o644),
    )?;
    Ok(())
}

fn config(root: &Root) -> Option<serde_json::Value> {
    let bytes = root
        .read(&Path::new(DIR).join("pebble-config.json"))
        .ok()??;
    serde_json::from_slice(&bytes).ok()
}

fn port_of(config: &serde_json::Value, key: &str) -> Option<u16> {
    config["pebble"][key]
        .as_str()?
        .rsplit_once(':')?
        .1
        .parse()
        .ok()
}

/// Starts challtestsrv and pebble when the sandbox has them and they do not run; saves
/// pebble's new root.
pub(crate) fn start(ctx: &Context) -> Result<()> {
    let Some(config) = config(&ctx.root) else {
        return Ok(());
    };
    if service_manager::running_pid(&ctx.root.path(Path::new(PEBBLE_PID))).is_some() {
        return Ok(());
    }
    let (Some(listen), Some(mgmt)) = (
        port_of(&config, "listenAddress"),
        port_of(&config, "managementListenAddress"),
    ) else {
        anyhow::bail!(
            "{}: no listen ports",
            ctx.root
                .path(&Path::new(DIR).join("pebble-config.json"))
                .display()
        );
    };
    let (dns, dns_api) = (listen + 2, listen + 3);
    let chall = spawn_detached(
        &Cmd::new(CHALLTESTSRV)
            .args(["-dns01", &format!("127.0.0.1:{dns}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{dns_api}")])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""]),
    )?;
    ctx.root
        .write_private(Path::new(CHALL_PID), chall.to_string().as_bytes(), 0o644)?;
    let pebble = spawn_detached(
        &Cmd::new(PEBBLE)
            .arg("-config")
            .arg(ctx.root.path(&Path::new(DIR).join("pebble-config.json")))
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0"),
    )?;
    ctx.root
        .write_private(Path::new(PEBBLE_PID), pebble.to_string().as_bytes(), 0o644)?;
    let ca = ctx
        .root
        .read(&Path::new(DIR).join("ca.pem"))?
        .context("the sandbox's pebble CA is missing")?;
    let mut root_pem = Err(anyhow::anyhow!("pebble did not answer"));
    let _ = service_manager::wait_until(Duration::from_secs(20), || {
        root_pem = certs::roots(&ca).and_then(|roots| {
            certs::https_get(
                std::net::SocketAddr::from(([127, 0, 0, 1], mgmt)),
                "localhost",
                "/roots/0",
                roots,
                Duration::from_secs(2),
            )
        });
        root_pem.is_ok()
    });
    let root_pem = root_pem.context("pebble did not start")?;
    ctx.root
        .write_private(&Path::new(DIR).join("root.pem"), &root_pem, 0o644)?;
    Ok(())
}

/// Stops pebble and challtestsrv.
pub(crate) fn stop(ctx: &Context) -> Result<()> {
    for pid_file in [PEBBLE_PID, CHALL_PID] {
        if let Some(pid) = service_manager::running_pid(&ctx.root.path(Path::new(pid_file))) {
            kill(pid, Signal::SIGTERM).with_context(|| format!("stopping {pid_file}"))?;
            let _ =
                service_manager::wait_until(Duration::from_secs(10), || kill(pid, None).is_err());
        }
    }
    Ok(())
}

/// pebble's pid, when the sandbox has one configured (`None`: not an ACME sandbox).
pub(crate) fn state(ctx: &Context) -> Option<Option<i32>> {
    config(&ctx.root)?;
    Some(service_manager::running_pid(&ctx.root.path(Path::new(PEBBLE_PID))).map(|p| p.as_raw()))
}
