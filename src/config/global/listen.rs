//! `listen`: where nginx listens for HTTP and HTTPS.

use crate::config::check::Ctx;
use crate::config::file::S;

/// Where nginx listens for a scheme: `port` or `address:port`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Listen {
    pub address: Option<String>,
    pub port: u16,
}

impl Listen {
    /// The `listen` directive argument.
    pub fn directive(&self) -> String {
        match &self.address {
            Some(a) => format!("{a}:{}", self.port),
            None => self.port.to_string(),
        }
    }
}

pub(super) fn section(
    ctx: &mut Ctx<'_>,
    v: Option<&S<String>>,
    field: &str,
    default_port: u16,
) -> Listen {
    let Some(v) = v else {
        return Listen {
            address: None,
            port: default_port,
        };
    };
    let (addr, port) = match v.value.rsplit_once(':') {
        Some((a, p)) => (Some(a.to_owned()), p),
        None => (None, v.value.as_str()),
    };
    let addr_ok = addr.as_deref().is_none_or(|a| {
        a.parse::<std::net::IpAddr>().is_ok()
            || (a.starts_with('[')
                && a.ends_with(']')
                && a[1..a.len() - 1].parse::<std::net::Ipv6Addr>().is_ok())
    });
    match (port.parse::<u16>(), addr_ok) {
        (Ok(p), true) if p > 0 => Listen {
            address: addr,
            port: p,
        },
        _ => {
            ctx.err(
                v,
                field,
                format!("`{}` is not a port or address:port", v.value),
                Some("`80`, `127.0.0.1:8080` or `[::1]:8080`"),
            );
            Listen {
                address: None,
                port: default_port,
            }
        }
    }
}
