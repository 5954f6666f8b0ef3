//! `fail2ban`: jails per attack class for every site (not per site), and their thresholds.

use crate::config::check::Ctx;
use crate::config::file::{Fail2banFile, S};
use crate::config::values::printable;

/// The managed jails' settings.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Fail2ban {
    pub maxretry: u32,
    /// fail2ban time values as written (`10m`, `1h`, `600`).
    pub findtime: String,
    pub bantime: String,
    pub bantime_increment: bool,
    pub ignoreip: Vec<String>,
    pub banaction: String,
    pub backend: &'static str,
}

const BANACTIONS: &[&str] = &[
    "nftables-multiport",
    "nftables-allports",
    "iptables-multiport",
    "iptables-allports",
    "dummy",
];

/// A fail2ban time: digits with an optional unit (`s`, `m`, `h`, `d`, `w`).
fn valid_time(s: &str) -> bool {
    let digits = s.trim_end_matches(['s', 'm', 'h', 'd', 'w']);
    !digits.is_empty()
        && digits.len() + 1 >= s.len()
        && digits.len() <= 9
        && digits.bytes().all(|b| b.is_ascii_digit())
}

/// An address or network: `192.0.2.1`, `2001:db8::1`, `192.0.2.0/24`.
fn valid_ip(s: &str) -> bool {
    let (addr, bits) = s.split_once('/').map_or((s, None), |(a, b)| (a, Some(b)));
    let Ok(ip) = addr.parse::<std::net::IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    bits.is_none_or(|b| b.parse::<u8>().is_ok_and(|b| b <= max))
}

fn time(ctx: &mut Ctx<'_>, v: Option<&S<String>>, field: &str, default: &str) -> String {
    match v {
        Some(v) if valid_time(&v.value) => v.value.clone(),
        Some(v) => {
            ctx.err(
                v,
                field,
                format!("`{}` is not a duration", printable(&v.value)),
                Some("seconds, or digits with `s`, `m`, `h`, `d` or `w` (`10m`, `1h`)"),
            );
            default.to_owned()
        }
        None => default.to_owned(),
    }
}

/// The `fail2ban` section; `None` when it is absent or `enabled: false`.
pub(super) fn section(ctx: &mut Ctx<'_>, f: Fail2banFile) -> Option<Fail2ban> {
    let maxretry = match &f.maxretry {
        None => 5,
        Some(v) if (1..=1000).contains(&v.value) => v.value,
        Some(v) => {
            ctx.err(
                v,
                "fail2ban.maxretry",
                format!("{} is not a usable retry count", v.value),
                Some("1 to 1000"),
            );
            5
        }
    };
    let findtime = time(ctx, f.findtime.as_ref(), "fail2ban.findtime", "10m");
    let bantime = time(ctx, f.bantime.as_ref(), "fail2ban.bantime", "1h");
    let mut ignoreip = vec!["127.0.0.1/8".to_owned(), "::1".to_owned()];
    for (i, v) in f.ignoreip.iter().flatten().enumerate() {
        if valid_ip(&v.value) {
            ignoreip.push(v.value.clone());
        } else {
            ctx.err(
                v,
                &format!("fail2ban.ignoreip[{i}]"),
                format!("`{}` is not an address or a network", printable(&v.value)),
                Some("an IPv4 or IPv6 address, or a network like `192.0.2.0/24`"),
            );
        }
    }
    let banaction = match &f.banaction {
        None => "nftables-multiport".to_owned(),
        Some(v) if BANACTIONS.contains(&v.value.as_str()) => v.value.clone(),
        Some(v) => {
            ctx.err(
                v,
                "fail2ban.banaction",
                format!("unknown ban action `{}`", printable(&v.value)),
                Some("`nftables-multiport` (the default), `nftables-allports`, `iptables-multiport`, `iptables-allports`, `dummy`"),
            );
            "nftables-multiport".to_owned()
        }
    };
    let backend = match f.backend.as_ref().map(|v| (v, v.value.as_str())) {
        None | Some((_, "auto")) => "auto",
        Some((_, "polling")) => "polling",
        Some((_, "pyinotify")) => "pyinotify",
        Some((v, other)) => {
            ctx.err(
                v,
                "fail2ban.backend",
                format!("unknown backend `{}`", printable(other)),
                Some("`auto`, `polling`, `pyinotify`"),
            );
            "auto"
        }
    };
    if f.enabled == Some(false) {
        return None;
    }
    Some(Fail2ban {
        maxretry,
        findtime,
        bantime,
        bantime_increment: f.bantime_increment.unwrap_or(true),
        ignoreip,
        banaction,
        backend,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_addresses() {
        for ok in ["600", "10m", "1h", "2d", "1w"] {
            assert!(valid_time(ok), "{ok}");
        }
        for bad in ["", "m", "10 m", "1.5h", "10mm", "-1", "1y"] {
            assert!(!valid_time(bad), "{bad}");
        }
        for ok in ["192.0.2.1", "192.0.2.0/24", "2001:db8::/32", "::1"] {
            assert!(valid_ip(ok), "{ok}");
        }
        for bad in ["192.0.2.0/33", "example.com", "192.0.2.1/x", ""] {
            assert!(!valid_ip(bad), "{bad}");
        }
    }
}
