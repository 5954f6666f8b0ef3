//! `lempctl security …`: its arguments and its human output.

use anyhow::Result;
use clap::Subcommand;

use super::printer::Printer;
use crate::ops::{self, Context};

#[derive(Debug, Subcommand)]
pub enum SecurityCommand {
    /// The managed fail2ban jails: failures, bans and banned addresses (from the running server).
    Status,
    /// Lift every ban of an address, in every jail.
    Unban {
        /// An IPv4 or IPv6 address.
        address: String,
    },
}

/// Runs `lempctl security …`.
pub(super) fn run(ctx: &Context, s: &SecurityCommand, p: &Printer) -> Result<()> {
    match s {
        SecurityCommand::Status => p.data(&ops::security::status(ctx)?, |s| {
            if !s.running {
                return "fail2ban: not running".to_owned();
            }
            let mut out = vec![format!(
                "{:<20} {:>7} {:>7} {:>7} {:>7}  BANNED",
                "JAIL", "FAILED", "TOTAL", "BANNED", "TOTAL"
            )];
            for j in &s.jails {
                out.push(format!(
                    "{:<20} {:>7} {:>7} {:>7} {:>7}  {}",
                    j.jail,
                    j.currently_failed,
                    j.total_failed,
                    j.currently_banned,
                    j.total_banned,
                    j.banned.join(" ")
                ));
            }
            out.join("\n")
        }),
        SecurityCommand::Unban { address } => p.data(&ops::security::unban(ctx, address)?, |u| {
            format!("{}: unbanned in {} jail(s)", u.address, u.jails)
        }),
    }
    Ok(())
}
