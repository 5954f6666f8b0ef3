//! `lempctl security status|unban`: the managed fail2ban jails as the running server sees them.

use anyhow::Result;
use serde::Serialize;

use super::Context;
use crate::config::{Global, UsageError};
use crate::host::Root;
use crate::services::fail2ban::{self, JailStatus};

#[derive(Debug, Serialize)]
pub(crate) struct SecurityStatus {
    /// Whether a fail2ban server answers.
    pub running: bool,
    pub jails: Vec<JailStatus>,
}

/// The jails lempctl manages (from its jail file), with the server's counts and bans.
pub(crate) fn status(ctx: &Context) -> Result<SecurityStatus> {
    let config = ctx.load()?;
    let g = &config.global;
    if g.fail2ban.is_none() {
        return Err(UsageError(
            "no `fail2ban` section in lempctl.yaml: lempctl manages no jails (docs/configuration.md#fail2ban)".into(),
        )
        .into());
    }
    let running = fail2ban::running(&ctx.root, g);
    let jails = if running {
        managed_jails(&ctx.root, g)?
            .iter()
            .map(|j| fail2ban::jail_status(&ctx.root, g, j))
            .collect::<Result<Vec<_>>>()?
    } else {
        Vec::new()
    };
    Ok(SecurityStatus { running, jails })
}

/// The jails lempctl's jail file declares, in its order.
pub(crate) fn managed_jails(root: &Root, g: &Global) -> Result<Vec<String>> {
    Ok(root
        .read(&g.paths.fail2ban_dir.join("jail.d/lempctl.local"))?
        .map(|text| {
            String::from_utf8_lossy(&text)
                .lines()
                .filter_map(|l| l.strip_prefix('[')?.strip_suffix(']').map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}

#[derive(Debug, Serialize)]
pub(crate) struct Unbanned {
    pub address: String,
    /// In how many jails it was banned.
    pub jails: u64,
}

/// Lifts every ban of `addr`.
pub(crate) fn unban(ctx: &Context, addr: &str) -> Result<Unbanned> {
    if addr.parse::<std::net::IpAddr>().is_err() {
        return Err(UsageError(format!("`{addr}` is not an IP address")).into());
    }
    let config = ctx.load()?;
    let g = &config.global;
    if !fail2ban::running(&ctx.root, g) {
        return Err(anyhow::anyhow!(
            "no fail2ban server answers (is fail2ban running?)"
        ));
    }
    Ok(Unbanned {
        address: addr.to_owned(),
        jails: fail2ban::unban(&ctx.root, g, addr)?,
    })
}
