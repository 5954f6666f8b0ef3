//! `acme`: the CA that issues certificates to sites with `tls: { acme: true }` (or to every site
//! with `default: true`), and `certificates`: the thresholds and trust of the certificate monitor.

use std::path::PathBuf;

use crate::config::check::Ctx;
use crate::config::file::{AcmeFile, CertificatesFile, S};
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
    Some(Acme {
        dns_hook,
        directory: dir.value.clone(),
        email,
        ca_bundle,
        key_type,
        default: a.default.unwrap_or(false),
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
