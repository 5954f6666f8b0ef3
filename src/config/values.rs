//! Checks of single values shared by the sections of both configuration files: sizes, URLs,
//! paths, addresses, and how a value is shown back in an error.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::fqdn::Fqdn;

pub use super::check::safe_token;

pub(crate) const SIZE_ALLOWED: &str = "a size like `128M`, `2G` or `512K`";

pub(crate) fn valid_size(s: &str) -> bool {
    size_bytes(s).is_some()
}

pub(crate) const MIB: u64 = 1 << 20;

/// Bytes of a size as PHP and nginx read it: digits with an optional `K`, `M` or `G`.
pub fn size_bytes(s: &str) -> Option<u64> {
    let (digits, unit) = match s.as_bytes().last()? {
        b'K' => (&s[..s.len() - 1], 1 << 10),
        b'M' => (&s[..s.len() - 1], MIB),
        b'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(unit)
}

pub(crate) fn valid_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    let host_ok = match rest {
        Some(r) => {
            let host = r.split(['/', '?', '#']).next().unwrap_or("");
            let host_only = host.rsplit_once(':').map_or(host, |(h, p)| {
                if p.chars().all(|c| c.is_ascii_digit()) {
                    h
                } else {
                    host
                }
            });
            Fqdn::parse(host_only).is_ok() || host_only.parse::<std::net::IpAddr>().is_ok()
        }
        None => false,
    };
    host_ok
        && s.chars()
            .all(|c| c.is_ascii_graphic() && !"\"'`;{}$\\<>".contains(c))
}

pub(crate) fn valid_url_path(s: &str) -> bool {
    s.starts_with('/')
        && s.chars()
            .all(|c| c.is_ascii_graphic() && !"\"'`;{}$\\<>#".contains(c))
}

pub(crate) const EMAIL_ALLOWED: &str = "an address like `admin@example.test`";

pub(crate) fn valid_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && local.len() <= 64
                && local
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c))
                && Fqdn::parse(domain).is_ok()
        }
        None => false,
    }
}

/// `path` as written is absolute, has no `..` component, and is one of `roots` or below one
/// (compared component by component, lexically: links are not resolved here).
pub fn under_roots(path: &str, roots: &[PathBuf]) -> bool {
    let p = Path::new(path);
    p.is_absolute()
        && !p.components().any(|c| c == std::path::Component::ParentDir)
        && roots.iter().any(|r| p.starts_with(r))
}

pub(crate) fn list_roots(roots: &[PathBuf]) -> String {
    roots
        .iter()
        .map(|r| format!("`{}`", r.display()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Shows control characters visibly in messages.
pub(crate) fn printable(s: &str) -> String {
    let shown: String = s.chars().take(80).flat_map(char::escape_debug).collect();
    if s.chars().count() > 80 {
        format!("{shown}…")
    } else {
        shown
    }
}

/// An `http(s)://host[:port][/path]` endpoint URL.
pub fn valid_endpoint(s: &str) -> bool {
    let Some(rest) = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
    else {
        return false;
    };
    let hostport = rest.split('/').next().unwrap_or("");
    let (host, port) = if let Some(r) = hostport.strip_prefix('[') {
        match r.split_once(']') {
            Some((h, p)) if h.parse::<std::net::Ipv6Addr>().is_ok() => ("v6", p),
            _ => return false,
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, p),
            None => (hostport, ""),
        }
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .unwrap_or(port)
            .parse::<u16>()
            .is_ok_and(|p| p > 0);
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    host_ok
        && port_ok
        && s.chars()
            .all(|c| c.is_ascii_graphic() && !"\"'`;{}$\\<>".contains(c))
}

fn is_hostname(h: &str) -> bool {
    h.len() <= 253
        && h.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// Account host part: `localhost`, an IP, `IP/NETMASK`, or a lowercase hostname.
/// A pattern containing `%` or `_` is accepted only when `allow_patterns` is set explicitly.
pub(crate) fn valid_db_host(host: &str, allow_patterns: bool) -> Result<(), &'static str> {
    let bad = Err;
    if host.is_empty() || host.len() > 255 {
        return bad("host must be 1 to 255 characters");
    }
    if host == "localhost" || host.parse::<IpAddr>().is_ok() || is_hostname(host) {
        return Ok(());
    }
    if let Some((ip, mask)) = host.split_once('/')
        && ip.parse::<IpAddr>().is_ok()
        && mask.parse::<IpAddr>().is_ok()
    {
        return Ok(());
    }
    let pattern_chars = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'%' | b'_'));
    if pattern_chars && (host.contains('%') || host.contains('_')) {
        if allow_patterns {
            return Ok(());
        }
        return bad(
            "host patterns with % or _ are wildcards and must be enabled explicitly \
             (allow_host_patterns); use localhost, an IP address or a hostname",
        );
    }
    bad("allowed: localhost, an IP address, IP/NETMASK, or a lowercase hostname [a-z0-9.-]")
}

/// A DNS server's `host[:port]` or `[v6]:port` split into host and port (53 by default); `None`
/// when it is not one.
pub fn split_dns_server(s: &str) -> Option<(&str, u16)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?)),
        }
    } else if s.matches(':').count() > 1 {
        (s, None) // a bare IPv6 address
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok().filter(|&p: &u16| p != 0)?,
        None => 53,
    };
    let ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:".contains(c));
    ok.then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked_lexically_against_the_roots() {
        let roots = [
            PathBuf::from("/etc/lempctl"),
            PathBuf::from("/var/lib/lempctl"),
        ];
        assert!(under_roots("/etc/lempctl/pw", &roots));
        assert!(under_roots("/var/lib/lempctl/a/./b", &roots));
        assert!(under_roots("/etc/lempctl", &roots));
        assert!(!under_roots("/etc/lempctl/../shadow", &roots));
        assert!(!under_roots("/etc/lempctl2/pw", &roots));
        assert!(!under_roots("etc/lempctl/pw", &roots));
        assert!(!under_roots("/root/pw", &roots));
    }

    #[test]
    fn sizes_parse_as_php_and_nginx_read_them() {
        assert_eq!(size_bytes("64M"), Some(64 << 20));
        assert_eq!(size_bytes("1G"), Some(1 << 30));
        assert_eq!(size_bytes("1536K"), Some(1536 << 10));
        assert_eq!(size_bytes("1048576"), Some(1 << 20));
        for bad in [
            "",
            "M",
            "64m",
            "64MB",
            "1.5G",
            "-1M",
            " 64M",
            "64 M",
            "1T",
            "99999999999999999G",
        ] {
            assert_eq!(size_bytes(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn splits_server_addresses() {
        assert_eq!(split_dns_server("192.0.2.1"), Some(("192.0.2.1", 53)));
        assert_eq!(
            split_dns_server("ns1.example.com:5353"),
            Some(("ns1.example.com", 5353))
        );
        assert_eq!(
            split_dns_server("[2001:db8::1]:53"),
            Some(("2001:db8::1", 53))
        );
        assert_eq!(split_dns_server("2001:db8::1"), Some(("2001:db8::1", 53)));
        for bad in ["", "ns1:0", "ns1:x", "ns 1", "[::1", "https://ns1/"] {
            assert_eq!(split_dns_server(bad), None, "{bad}");
        }
    }
}
