//! The certificate monitor (`cert check`): independent of the renewer, it reads what is on disk
//! and what the local listener serves, and judges both. For each site with TLS: the file's days
//! left, names and chain (against `certificates.trust`), the live endpoint's certificate (a
//! handshake with the site's SNI) and whether it is the file's (a missed reload), and the HTTP
//! redirect when the site wants one; with `certificates.public`, what each name serves at its
//! public addresses. Results go to the report, a Prometheus textfile and, once
//! per change of a site's state, a mail.

use std::collections::BTreeMap;
use std::time::Duration;

use super::health;
use crate::config::{Config, Site};
use crate::host::Root;
use crate::services::certs::{self, CertInfo};

/// How a site's certificate stands. Ordered: worse is greater.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Level {
    Ok,
    Warning,
    Critical,
}

#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct SiteCheck {
    pub site: String,
    pub level: Level,
    /// Whole days until the file's certificate expires (negative: expired).
    pub days_left: Option<i64>,
    pub file: Option<CertInfo>,
    pub live: Option<CertInfo>,
    /// What each of the site's names serves at its public addresses (`certificates.public`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub public: Vec<PublicEndpoint>,
    pub problems: Vec<String>,
}

/// One public address of one of a site's names.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct PublicEndpoint {
    pub name: String,
    /// `ip:port`; none when the name does not resolve.
    pub address: Option<String>,
    /// It served the file's certificate.
    pub matches: bool,
    pub error: Option<String>,
}

/// Thresholds and where to look.
pub(crate) struct Checks<'a> {
    pub warn_days: u32,
    pub critical_days: u32,
    /// Trust anchors (PEM) for the chain check; `None`: the chain is not judged (reported).
    pub trust: Option<&'a rustls::RootCertStore>,
    pub live: bool,
    pub now: i64,
}

/// Checks the TLS sites among `names` (all when empty).
pub(crate) fn check(
    root: &Root,
    config: &Config,
    names: &[String],
    c: &Checks<'_>,
) -> Vec<SiteCheck> {
    let sites: Vec<&Site> = config
        .sites
        .iter()
        .filter(|s| s.enabled && s.tls.is_some())
        .filter(|s| names.is_empty() || names.iter().any(|n| n == s.name.as_str()))
        .collect();
    health::run_parallel(&sites, |s| check_site(root, config, s, c))
}

impl SiteCheck {
    fn problem(&mut self, level: Level, text: String) {
        self.level = self.level.max(level);
        self.problems.push(text);
    }
}

fn check_site(root: &Root, config: &Config, site: &Site, c: &Checks<'_>) -> SiteCheck {
    let mut r = SiteCheck {
        site: site.name.to_string(),
        level: Level::Ok,
        days_left: None,
        file: None,
        live: None,
        public: Vec::new(),
        problems: Vec::new(),
    };
    let Some(t) = &site.tls else { return r };
    let chain = match root.read(&t.certificate) {
        Ok(Some(pem)) => certs::pem_chain(&pem),
        Ok(None) => Err(anyhow::anyhow!("does not exist")),
        Err(e) => Err(e),
    };
    let chain = match chain {
        Ok(chain) => chain,
        Err(e) => {
            let text = format!("certificate file {}: {e:#}", t.certificate.display());
            r.problem(Level::Critical, text);
            return r;
        }
    };
    match certs::info(&chain[0]) {
        Ok(info) => {
            file_checks(&mut r, &info, site, c);
            r.file = Some(info);
        }
        Err(e) => r.problem(
            Level::Critical,
            format!("{}: {e:#}", t.certificate.display()),
        ),
    }
    if let Some(trust) = c.trust
        && let Err(e) = certs::verify(&chain, site.name.as_str(), trust)
    {
        r.problem(Level::Critical, format!("the chain is not trusted: {e:#}"));
    }
    if c.live {
        live(config, site, &chain, &mut r);
    }
    r
}

/// Days left against the thresholds, and the names the certificate must cover.
fn file_checks(r: &mut SiteCheck, info: &CertInfo, site: &Site, c: &Checks<'_>) {
    let left = info.not_after - c.now;
    let days = left.div_euclid(86_400);
    r.days_left = Some(days);
    let until = super::tls::when(info.not_after);
    if left <= 0 {
        r.problem(Level::Critical, format!("expired on {until}"));
    } else if days < i64::from(c.critical_days) {
        r.problem(
            Level::Critical,
            format!("expires in {days} day(s), on {until}"),
        );
    } else if days < i64::from(c.warn_days) {
        r.problem(
            Level::Warning,
            format!("expires in {days} day(s), on {until}"),
        );
    }
    let missing: Vec<String> = super::tls::names(site)
        .into_iter()
        .filter(|n| !info.names.iter().any(|cn| super::tls::matches_name(cn, n)))
        .collect();
    if !missing.is_empty() {
        let text = format!("the certificate does not cover {}", missing.join(", "));
        r.problem(Level::Critical, text);
    }
}

/// The endpoint's certificate, compared with the file; the HTTP redirect.
fn live(
    config: &Config,
    site: &Site,
    chain: &[rustls::pki_types::CertificateDer<'static>],
    r: &mut SiteCheck,
) {
    let g = &config.global;
    let timeout = Duration::from_millis(u64::from(g.health.timeout_ms));
    let https = health::address(&g.health.address, g.listen_https.port);
    match https.and_then(|a| certs::served(a, site.name.as_str(), timeout)) {
        Ok(served) => {
            if served.first() != chain.first() {
                let text =
                    "the listener serves another certificate than the file (a reload was missed?)";
                r.problem(Level::Critical, text.into());
            }
            r.live = served.first().and_then(|d| certs::info(d).ok());
        }
        Err(e) => r.problem(Level::Critical, format!("no TLS answer: {e:#}")),
    }
    if let Some(port) = g.certificates.public_port {
        public(site, chain, port, timeout, r);
    }
    if site.tls.as_ref().is_some_and(|t| t.redirect) {
        let http = health::address(&g.health.address, g.listen_http.port);
        match http.and_then(|a| health::get_status(a, site.name.as_str(), "/", timeout)) {
            Ok(301 | 302 | 307 | 308) => {}
            Ok(s) => r.problem(
                Level::Warning,
                format!("HTTP answers {s}, not a redirect to HTTPS"),
            ),
            Err(e) => r.problem(Level::Warning, format!("HTTP: {e:#}")),
        }
    }
}

/// Each of the site's names at each of its public addresses (DNS): what visitors get, which a
/// load balancer, a CDN or a stale DNS record can make differ from the local listener.
fn public(
    site: &Site,
    chain: &[rustls::pki_types::CertificateDer<'static>],
    port: u16,
    timeout: Duration,
    r: &mut SiteCheck,
) {
    // a wildcard is a certificate's name, not a host's
    let names: Vec<String> = super::tls::names(site)
        .into_iter()
        .filter(|n| !n.starts_with("*."))
        .collect();
    let resolved = crate::host::dns::resolve_all(&names, timeout);
    for name in names {
        let addrs = resolved.get(&name).cloned().unwrap_or_default();
        if addrs.is_empty() {
            r.problem(
                Level::Warning,
                format!("{name} does not resolve (public check)"),
            );
            r.public.push(PublicEndpoint {
                name,
                address: None,
                matches: false,
                error: Some("does not resolve".into()),
            });
            continue;
        }
        for ip in addrs {
            let addr = std::net::SocketAddr::new(ip, port);
            let (matches, error) = match certs::served(addr, &name, timeout) {
                Ok(served) if served.first() == chain.first() => (true, None),
                Ok(_) => {
                    r.problem(
                        Level::Critical,
                        format!("{name} at {addr} serves another certificate than the file"),
                    );
                    (false, Some("another certificate".to_owned()))
                }
                Err(e) => {
                    r.problem(
                        Level::Critical,
                        format!("{name} at {addr}: no TLS answer: {e:#}"),
                    );
                    (false, Some(format!("{e:#}")))
                }
            };
            r.public.push(PublicEndpoint {
                name: name.clone(),
                address: Some(addr.to_string()),
                matches,
                error,
            });
        }
    }
}

/// The Prometheus textfile of a check.
pub(crate) fn prometheus(checks: &[SiteCheck], now: i64) -> String {
    let mut t = String::new();
    t.push_str("# HELP lempctl_cert_expiry_seconds Seconds until the certificate expires (negative: expired).\n# TYPE lempctl_cert_expiry_seconds gauge\n");
    for c in checks {
        for (source, info) in [("file", &c.file), ("live", &c.live)] {
            if let Some(i) = info {
                t.push_str(&format!(
                    "lempctl_cert_expiry_seconds{{site=\"{}\",name=\"{}\",source=\"{source}\"}} {}\n",
                    c.site,
                    i.names.first().map_or("", String::as_str),
                    i.not_after - now
                ));
            }
        }
    }
    t.push_str("# HELP lempctl_cert_status The site's certificate state: 0 ok, 1 warning, 2 critical.\n# TYPE lempctl_cert_status gauge\n");
    for c in checks {
        t.push_str(&format!(
            "lempctl_cert_status{{site=\"{}\"}} {}\n",
            c.site, c.level as u8
        ));
    }
    t.push_str(&format!(
        "# HELP lempctl_cert_check_timestamp_seconds When the check ran.\n# TYPE lempctl_cert_check_timestamp_seconds gauge\nlempctl_cert_check_timestamp_seconds {now}\n"
    ));
    t
}

/// The sites whose level differs from the last run's (`previous`), with both levels: what a
/// mail reports. A site seen for the first time counts as changed unless it is ok.
pub(crate) fn changes(
    previous: &BTreeMap<String, Level>,
    checks: &[SiteCheck],
) -> Vec<(String, Option<Level>, Level)> {
    checks
        .iter()
        .filter_map(|c| {
            let before = previous.get(&c.site).copied();
            let changed = match before {
                Some(b) => b != c.level,
                None => c.level != Level::Ok,
            };
            changed.then(|| (c.site.clone(), before, c.level))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site_check(site: &str, level: Level) -> SiteCheck {
        SiteCheck {
            site: site.into(),
            level,
            days_left: None,
            file: None,
            live: None,
            public: Vec::new(),
            problems: Vec::new(),
        }
    }

    #[test]
    fn a_mail_goes_out_once_per_change_of_state() {
        let mut prev = BTreeMap::new();
        let now = [
            site_check("a.test", Level::Ok),
            site_check("b.test", Level::Warning),
        ];
        let ch = changes(&prev, &now);
        assert_eq!(ch, [("b.test".to_owned(), None, Level::Warning)]);
        for c in &now {
            prev.insert(c.site.clone(), c.level);
        }
        assert!(changes(&prev, &now).is_empty(), "no change, no mail");
        let later = [
            site_check("a.test", Level::Ok),
            site_check("b.test", Level::Ok),
        ];
        assert_eq!(
            changes(&prev, &later),
            [("b.test".to_owned(), Some(Level::Warning), Level::Ok)],
            "recovery is told too"
        );
    }
}
