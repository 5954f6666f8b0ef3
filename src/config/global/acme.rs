//! `acme`: the CA that issues certificates to sites with `tls: { acme: true }` (or to every site
//! with `default: true`), and `certificates`: the thresholds and trust of the certificate monitor.

use std::path::PathBuf;

use crate::config::check::Ctx;
use crate::config::file::{AcmeFile, CertificatesFile, DnsUpdateFile, S};
use crate::config::site::{Needs, Requirement};
use crate::config::values::{printable, valid_email};

/// The key of a certificate lempctl has issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyType {
    EcdsaP256,
    Rsa2048,
}

impl KeyType {
    pub const ALLOWED: &'static str = "`ecdsa-p256` (the default) or `rsa-2048`";

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ecdsa-p256" => Some(Self::EcdsaP256),
            "rsa-2048" => Some(Self::Rsa2048),
            _ => None,
        }
    }

    /// Reads an optional `key_type` field; `None` (and an error) when it is not a key type.
    pub(in crate::config) fn field(
        ctx: &mut Ctx<'_>,
        v: Option<&S<String>>,
        field: &str,
    ) -> Option<Self> {
        let v = v?;
        let k = Self::parse(&v.value);
        if k.is_none() {
            ctx.err(
                v,
                field,
                format!("`{}` is not a key type", printable(&v.value)),
                Some(Self::ALLOWED),
            );
        }
        k
    }
}

/// The ACME CA (`acme` section).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Acme {
    /// The CA's directory URL (https).
    pub directory: String,
    /// The account's contact address.
    pub email: Option<String>,
    /// A PEM root to trust for the CA's own HTTPS (a private CA such as pebble).
    pub ca_bundle: Option<PathBuf>,
    pub key_type: KeyType,
    /// Sites without a `tls` section get an ACME certificate too.
    pub default: bool,
    /// The program that sets and removes DNS-01 TXT records: `HOOK add|remove FQDN VALUE`
    /// (a path on the machine lempctl runs on).
    pub dns_hook: Option<PathBuf>,
    /// RFC 2136 updates of the TXT records (the other way to answer DNS-01).
    pub dns_update: Option<DnsUpdate>,
}

/// `acme.dns_update`: where DNS-01 TXT records are added and removed by RFC 2136 updates.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DnsUpdate {
    /// The zone's primary server, `host[:port]`.
    pub server: String,
    /// A TSIG key in BIND's format (`tsig-keygen`), root-only, on the machine lempctl runs on.
    pub key_file: PathBuf,
    /// The records' TTL in seconds.
    pub ttl: u32,
    /// How long to wait after adding the records before the CA is asked to check them (time
    /// for secondaries to catch up).
    pub propagation_seconds: u32,
}

impl Acme {
    /// Whether DNS-01 answers can be set (a hook or RFC 2136 updates).
    pub fn can_answer_dns01(&self) -> bool {
        self.dns_hook.is_some() || self.dns_update.is_some()
    }
}

/// The certificate monitor (`certificates` section).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Certificates {
    /// A certificate that expires in fewer days is a warning (exit 0, one mail).
    pub warn_days: u32,
    /// … and in fewer days than this, critical (exit 1).
    pub critical_days: u32,
    /// Trust anchors chains are checked against (PEM, a path on the machine lempctl runs on);
    /// default: the system's.
    pub trust: PathBuf,
    /// node_exporter textfile directory for `lempctl_cert.prom` (default: `backup.textfile_dir`).
    pub textfile_dir: Option<PathBuf>,
    /// The monitor also connects to each name's public addresses on this port (`public: true`).
    pub public_port: Option<u16>,
}

pub(super) fn section(
    ctx: &mut Ctx<'_>,
    a: AcmeFile,
    requires: &mut Vec<Requirement>,
) -> Option<Acme> {
    let Some(dir) = &a.directory else {
        if let Some(v) = &a.email {
            ctx.err(
                v,
                "acme.directory",
                "an `acme` section needs the CA's `directory` URL",
                Some("e.g. `https://acme-v02.api.letsencrypt.org/directory`"),
            );
        }
        return None;
    };
    let https = dir
        .value
        .strip_prefix("https://")
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    if !https
        || dir
            .value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        ctx.err(
            dir,
            "acme.directory",
            format!("`{}` is not an https URL", printable(&dir.value)),
            Some("the CA's directory as `https://host[:port]/path` (a private CA too: give its root in `ca_bundle`)"),
        );
    }
    let email = a.email.as_ref().and_then(|v| {
        if valid_email(&v.value) {
            Some(v.value.clone())
        } else {
            ctx.err(
                v,
                "acme.email",
                format!("`{}` is not an e-mail address", printable(&v.value)),
                Some("an address like `admin@example.com`"),
            );
            None
        }
    });
    let ca_bundle = a
        .ca_bundle
        .as_ref()
        .map(|v| ctx.path(Some(v), "acme.ca_bundle", ""));
    let key_type =
        KeyType::field(ctx, a.key_type.as_ref(), "acme.key_type").unwrap_or(KeyType::EcdsaP256);
    let dns_hook = a.dns_hook.as_ref().map(|v| {
        let p = ctx.path(Some(v), "acme.dns_hook", "");
        if !p.as_os_str().is_empty() {
            requires.push(Requirement::at(
                v,
                "acme.dns_hook",
                p.clone(),
                Needs::Executable,
            ));
        }
        p
    });
    let dns_update = a
        .dns_update
        .as_ref()
        .and_then(|v| dns_update(ctx, v, requires));
    if let (Some(_), Some(v)) = (&dns_hook, &a.dns_update) {
        ctx.err(
            v,
            "acme.dns_update",
            "both `dns_hook` and `dns_update` answer DNS-01; one of them is used",
            Some("either `dns_hook: PROGRAM` or a `dns_update` section"),
        );
    }
    Some(Acme {
        dns_hook,
        dns_update,
        directory: dir.value.clone(),
        email,
        ca_bundle,
        key_type,
        default: a.default.unwrap_or(false),
    })
}

fn dns_update(
    ctx: &mut Ctx<'_>,
    v: &S<DnsUpdateFile>,
    requires: &mut Vec<Requirement>,
) -> Option<DnsUpdate> {
    let d = &v.value;
    let server = match &d.server {
        Some(s) if crate::config::values::split_dns_server(&s.value).is_some() => s.value.clone(),
        Some(s) => {
            ctx.err(
                s,
                "acme.dns_update.server",
                format!("`{}` is not a server address", printable(&s.value)),
                Some("the zone's primary as `host`, `host:port` or `[IPv6]:port` (port 53 by default)"),
            );
            return None;
        }
        None => {
            ctx.err(
                v,
                "acme.dns_update.server",
                "a `dns_update` section needs the `server` that takes the updates",
                Some("the zone's primary as `host`, `host:port` or `[IPv6]:port`"),
            );
            return None;
        }
    };
    let Some(key) = &d.key_file else {
        ctx.err(
            v,
            "acme.dns_update.key_file",
            "a `dns_update` section needs the TSIG `key_file` that signs the updates",
            Some("a file as `tsig-keygen -a hmac-sha256 NAME` writes it, mode 0600"),
        );
        return None;
    };
    let key_file = ctx.path(Some(key), "acme.dns_update.key_file", "");
    if !key_file.as_os_str().is_empty() {
        requires.push(Requirement::at(
            key,
            "acme.dns_update.key_file",
            key_file.clone(),
            Needs::TsigKey,
        ));
    }
    let ttl = match &d.ttl {
        Some(t) if !(1..=86_400).contains(&t.value) => {
            ctx.err(
                t,
                "acme.dns_update.ttl",
                format!("{} seconds is not a TTL for a challenge record", t.value),
                Some("1-86400 seconds (default 60)"),
            );
            60
        }
        Some(t) => t.value,
        None => 60,
    };
    let propagation_seconds = match &d.propagation_seconds {
        Some(p) if p.value > 3_600 => {
            ctx.err(
                p,
                "acme.dns_update.propagation_seconds",
                format!("{} seconds is longer than an ACME order waits", p.value),
                Some("0-3600 seconds (default 0)"),
            );
            0
        }
        Some(p) => p.value,
        None => 0,
    };
    Some(DnsUpdate {
        server,
        key_file,
        ttl,
        propagation_seconds,
    })
}

pub(super) fn certificates(
    ctx: &mut Ctx<'_>,
    c: CertificatesFile,
    backup_textfile_dir: Option<&PathBuf>,
) -> Certificates {
    let warn_days = c.warn_days.as_ref().map_or(21, |v| v.value);
    let critical_days = c.critical_days.as_ref().map_or(7, |v| v.value);
    if critical_days > warn_days
        && let Some(v) = c.critical_days.as_ref().or(c.warn_days.as_ref())
    {
        ctx.err(
            v,
            "certificates.critical_days",
            format!("{critical_days} critical days is more than {warn_days} warning days"),
            Some("critical_days <= warn_days"),
        );
    }
    Certificates {
        warn_days,
        critical_days,
        trust: ctx.path(
            c.trust.as_ref(),
            "certificates.trust",
            "/etc/ssl/certs/ca-certificates.crt",
        ),
        textfile_dir: c
            .textfile_dir
            .as_ref()
            .map(|v| ctx.path(Some(v), "certificates.textfile_dir", ""))
            .or_else(|| backup_textfile_dir.cloned()),
        public_port: match (c.public.unwrap_or(false), &c.public_port) {
            (_, Some(p)) if p.value == 0 => {
                ctx.err(
                    p,
                    "certificates.public_port",
                    "0 is not a port",
                    Some("1-65535"),
                );
                None
            }
            (true, p) => Some(p.as_ref().map_or(443, |p| p.value)),
            (false, Some(p)) => {
                ctx.err(
                    p,
                    "certificates.public_port",
                    "a port for the public check, which is off",
                    Some("`public: true` with it, or no `public_port`"),
                );
                None
            }
            (false, None) => None,
        },
    }
}
