//! The `proxy` section of a `proxy` site: nginx in front of an application (a Node, Python or Go
//! service) listening on a loopback port or a unix socket.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::SiteKind;
use crate::config::check::{Ctx, safe_token};
use crate::config::file::{ProxyFile, S};
use crate::config::fqdn::Fqdn;
use crate::config::values::{SIZE_ALLOWED, printable, valid_size, valid_url_path};

const UPSTREAM_ALLOWED: &str = "`127.0.0.1:PORT`, `[::1]:PORT`, `localhost:PORT` (an `http://` \
     prefix is allowed) or `unix:/PATH` of a socket under the run directory or the site's \
     directory; another host only with `proxy.allow_remote: true`";

/// Where nginx sends a proxy site's requests.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Upstream {
    /// `host:port` as nginx's `server` takes it (IPv6 in brackets).
    Tcp { address: String },
    /// A unix socket (a host path).
    Unix { path: PathBuf },
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Proxy {
    pub upstream: Upstream,
    /// Idle keep-alive connections nginx keeps to the upstream (0: a new connection per request).
    pub keepalive: u32,
    /// Seconds to wait for a connection to the upstream.
    pub connect_timeout: u32,
    /// Seconds the upstream may stay silent while answering (long polls need more).
    pub read_timeout: u32,
    /// Seconds the upstream may take to accept the request body.
    pub send_timeout: u32,
    /// WebSocket upgrades are passed through.
    pub websocket: bool,
    /// A URL prefix nginx serves from the document root itself, never asking the upstream.
    pub static_path: Option<String>,
    /// Largest request body nginx accepts (nginx's `client_max_body_size`).
    pub max_body_size: String,
}

/// The `proxy` section: required on a `proxy` site, refused on any other. `site_dir` is where the
/// site's own socket may live; `run_dir` the host's runtime directory.
pub(super) fn section(
    ctx: &mut Ctx<'_>,
    f: Option<&ProxyFile>,
    kind_v: &S<String>,
    kind: Option<SiteKind>,
    dirs: (Option<&Path>, &Path),
) -> Option<Proxy> {
    let p = match (f, kind) {
        (Some(p), Some(SiteKind::Proxy)) => p,
        (None, Some(SiteKind::Proxy)) => {
            ctx.err(
                kind_v,
                "proxy",
                "a `proxy` site needs a `proxy.upstream`",
                Some(UPSTREAM_ALLOWED),
            );
            return None;
        }
        (Some(p), _) => {
            ctx.err(
                &p.upstream,
                "proxy",
                "only `proxy` sites take a `proxy` section",
                None,
            );
            return None;
        }
        (None, _) => return None,
    };
    let allow_remote = p.allow_remote.unwrap_or(false);
    let upstream = upstream(ctx, &p.upstream, allow_remote, dirs);
    let mut seconds = |v: Option<&S<u32>>, field: &str, default: u32| match v {
        Some(s) if !(1..=86_400).contains(&s.value) => {
            ctx.err(
                s,
                field,
                format!("{} s is not a usable timeout", s.value),
                Some("1-86400 seconds"),
            );
            default
        }
        Some(s) => s.value,
        None => default,
    };
    let connect_timeout = seconds(p.connect_timeout.as_ref(), "proxy.connect_timeout", 5);
    let read_timeout = seconds(p.read_timeout.as_ref(), "proxy.read_timeout", 60);
    let send_timeout = seconds(p.send_timeout.as_ref(), "proxy.send_timeout", 60);
    let keepalive = match &p.keepalive {
        Some(k) if k.value > 1024 => {
            ctx.err(
                k,
                "proxy.keepalive",
                format!("{} idle connections is too many", k.value),
                Some("0-1024"),
            );
            0
        }
        Some(k) => k.value,
        None => 16,
    };
    let static_path = p.static_path.as_ref().map(|s| {
        if !valid_url_path(&s.value) || !s.value.ends_with('/') || s.value == "/" {
            ctx.err(
                s,
                "proxy.static",
                format!("`{}` is not a URL prefix", printable(&s.value)),
                Some("a path like `/static/` (starts and ends with `/`, not `/` alone)"),
            );
        }
        s.value.clone()
    });
    let max_body_size = match &p.max_body_size {
        Some(s) if !valid_size(&s.value) => {
            ctx.err(
                s,
                "proxy.max_body_size",
                format!("`{}` is not a size", printable(&s.value)),
                Some(SIZE_ALLOWED),
            );
            String::new()
        }
        Some(s) => s.value.clone(),
        None => "16M".to_owned(),
    };
    Some(Proxy {
        upstream: upstream?,
        keepalive,
        connect_timeout,
        read_timeout,
        send_timeout,
        websocket: p.websocket.unwrap_or(true),
        static_path,
        max_body_size,
    })
}

fn upstream(
    ctx: &mut Ctx<'_>,
    v: &S<String>,
    allow_remote: bool,
    (site_dir, run_dir): (Option<&Path>, &Path),
) -> Option<Upstream> {
    let s = v.value.as_str();
    let bad = |ctx: &mut Ctx<'_>, why: String| {
        ctx.err(v, "proxy.upstream", why, Some(UPSTREAM_ALLOWED));
        None
    };
    if let Some(path) = s.strip_prefix("unix:") {
        let p = Path::new(path);
        let lexical_ok = p.is_absolute()
            && safe_token(path)
            && !p
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir));
        if !lexical_ok {
            return bad(
                ctx,
                format!("`{}` is not an absolute socket path", printable(path)),
            );
        }
        // nginx (not root) connects: still, a site names only its own socket or a runtime one,
        // never another site's pool or a system service's socket.
        let inside = |d: &Path| p.starts_with(d) && p != d;
        if !(allow_remote || inside(run_dir) || site_dir.is_some_and(inside)) {
            return bad(
                ctx,
                format!(
                    "socket `{path}` is neither under `{}` nor in the site's directory",
                    run_dir.display()
                ),
            );
        }
        if p.starts_with(run_dir.join("php")) {
            return bad(ctx, format!("`{path}` is a PHP-FPM pool's socket"));
        }
        return Some(Upstream::Unix {
            path: p.to_path_buf(),
        });
    }
    let hostport = s.strip_prefix("http://").unwrap_or(s).trim_end_matches('/');
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p),
        None => return bad(ctx, format!("`{}` has no port", printable(s))),
    };
    if !port.parse::<u16>().is_ok_and(|p| p > 0) {
        return bad(ctx, format!("`{}` is not a port", printable(port)));
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let address = match bare.parse::<IpAddr>() {
        Ok(ip) if host.starts_with('[') != ip.is_ipv6() => {
            return bad(ctx, "an IPv6 address is written in brackets".to_owned());
        }
        Ok(ip) if ip.is_loopback() || allow_remote => hostport.to_owned(),
        Ok(ip) => {
            return bad(ctx, format!("{ip} is not a loopback address"));
        }
        Err(_) if host == "localhost" => hostport.to_owned(),
        Err(_) if allow_remote && Fqdn::parse(host).is_ok() => hostport.to_owned(),
        Err(_) if Fqdn::parse(host).is_ok() => {
            return bad(ctx, format!("`{host}` is not a loopback address"));
        }
        Err(_) => return bad(ctx, format!("`{}` is not a host:port", printable(s))),
    };
    Some(Upstream::Tcp { address })
}
