//! The `tls` section: where the certificate comes from (files, or the `acme` CA), the HTTP
//! redirect and HSTS.

use std::path::PathBuf;

use super::{Needs, Requirement};
use crate::config::check::Ctx;
use crate::config::error::ConfigError;
use crate::config::file::TlsFile;
use crate::config::fqdn::Fqdn;
use crate::config::global::{Global, KeyType};
use crate::config::values::{printable, safe_token};

/// The ACME challenge a site's names are checked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Challenge {
    /// A file under `/.well-known/acme-challenge/` on port 80.
    Http01,
    /// A TXT record `_acme-challenge.<name>`, set by `acme.dns_hook`.
    Dns01,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Tls {
    pub certificate: PathBuf,
    pub key: PathBuf,
    /// Issued and renewed by lempctl from the `acme` CA, with this key type; none: files
    /// obtained elsewhere (certbot, a purchase).
    pub acme: Option<KeyType>,
    /// How the CA checks the names (ACME only).
    pub challenge: Challenge,
    /// The certificate also covers `*.<name>` (DNS-01).
    pub wildcard: bool,
    pub redirect: bool,
    pub hsts: bool,
    pub hsts_max_age: u32,
}

/// Where lempctl keeps the ACME certificate of a site (root-only directory).
fn acme_files(g: &Global, name: &Fqdn) -> (PathBuf, PathBuf) {
    let dir = g.paths.state_dir.join("certs").join(name.as_str());
    (dir.join("fullchain.pem"), dir.join("privkey.pem"))
}

/// The `tls` section, or ACME for a site without one when lempctl.yaml says `acme.default`.
/// Files from elsewhere must exist under `--root` (checked by the preflight step).
pub(super) fn section(
    ctx: &mut Ctx<'_>,
    t: Option<&TlsFile>,
    name: Option<&Fqdn>,
    g: &Global,
    requires: &mut Vec<Requirement>,
) -> Option<Tls> {
    let Some(t) = t else {
        let acme = g.acme.as_ref().filter(|a| a.default)?;
        let (certificate, key) = acme_files(g, name?);
        return Some(Tls {
            certificate,
            key,
            acme: Some(acme.key_type),
            challenge: Challenge::Http01,
            wildcard: false,
            redirect: true,
            hsts: false,
            hsts_max_age: 31_536_000,
        });
    };
    let (certificate, key, acme, challenge) = match &t.acme {
        Some(a) if a.value => acme(ctx, t, a, name, g)?,
        _ => files(ctx, t, requires)?,
    };
    Some(Tls {
        certificate,
        key,
        acme,
        challenge,
        wildcard: t.wildcard.as_ref().is_some_and(|w| w.value),
        redirect: t.redirect.unwrap_or(true),
        hsts: t.hsts.unwrap_or(false),
        hsts_max_age: t.hsts_max_age.as_ref().map_or(31_536_000, |v| v.value),
    })
}

type Source = (PathBuf, PathBuf, Option<KeyType>, Challenge);

fn acme(
    ctx: &mut Ctx<'_>,
    t: &TlsFile,
    a: &crate::config::file::S<bool>,
    name: Option<&Fqdn>,
    g: &Global,
) -> Option<Source> {
    let Some(conf) = &g.acme else {
        ctx.err(
            a,
            "tls.acme",
            "`acme: true` needs an `acme` section in lempctl.yaml (the CA's directory URL)",
            Some("an `acme` section in lempctl.yaml, or `certificate` and `key` files"),
        );
        return None;
    };
    for (v, field) in [(&t.certificate, "tls.certificate"), (&t.key, "tls.key")] {
        if let Some(v) = v {
            ctx.err(
                v,
                field,
                "with `acme: true` lempctl makes the certificate and key: leave this out",
                None,
            );
        }
    }
    let key_type =
        KeyType::field(ctx, t.key_type.as_ref(), "tls.key_type").unwrap_or(conf.key_type);
    let challenge = challenge(ctx, t, conf.can_answer_dns01())?;
    let (certificate, key) = acme_files(g, name?);
    Some((certificate, key, Some(key_type), challenge))
}

/// `tls.challenge` and `tls.wildcard`: a wildcard needs DNS-01, and DNS-01 needs a hook or
/// RFC 2136 updates.
fn challenge(ctx: &mut Ctx<'_>, t: &TlsFile, dns01: bool) -> Option<Challenge> {
    let wildcard = t.wildcard.as_ref().filter(|w| w.value);
    let challenge = match &t.challenge {
        None if wildcard.is_some() => Challenge::Dns01,
        None => Challenge::Http01,
        Some(v) => match v.value.as_str() {
            "http-01" => Challenge::Http01,
            "dns-01" => Challenge::Dns01,
            other => {
                ctx.err(
                    v,
                    "tls.challenge",
                    format!("unknown challenge `{}`", printable(other)),
                    Some("`http-01` (the default) or `dns-01`"),
                );
                return None;
            }
        },
    };
    if let (Some(w), Challenge::Http01) = (wildcard, challenge) {
        ctx.err(w, "tls.wildcard", "a wildcard certificate can only be checked over DNS-01", Some("`challenge: dns-01` (or leave `challenge` out) with `acme.dns_hook` or `acme.dns_update` in lempctl.yaml"));
        return None;
    }
    if challenge == Challenge::Dns01 && !dns01 {
        let at = wildcard
            .map(|w| (w.referenced.line(), w.referenced.column(), "tls.wildcard"))
            .or(t
                .challenge
                .as_ref()
                .map(|c| (c.referenced.line(), c.referenced.column(), "tls.challenge")));
        let (line, column, field) = at.unwrap_or((0, 0, "tls.challenge"));
        ctx.errors.push(
            ConfigError::new(
                ctx.file,
                line,
                column,
                field,
                "DNS-01 needs a way to set TXT records: `acme.dns_hook` or `acme.dns_update` in lempctl.yaml",
            )
            .allowed("`acme.dns_hook: /path/to/program` taking `add|remove FQDN VALUE`, or `acme.dns_update` (RFC 2136: `server`, `key_file`)"),
        );
        return None;
    }
    Some(challenge)
}

fn files(ctx: &mut Ctx<'_>, t: &TlsFile, requires: &mut Vec<Requirement>) -> Option<Source> {
    if let Some(v) = &t.key_type {
        ctx.err(
            v,
            "tls.key_type",
            "a key type is for certificates lempctl gets by ACME",
            Some("`acme: true`"),
        );
    }
    if let Some(v) = &t.challenge {
        ctx.err(
            v,
            "tls.challenge",
            "a challenge is for certificates lempctl gets by ACME",
            Some("`acme: true`"),
        );
    }
    if let Some(v) = &t.wildcard {
        ctx.err(
            v,
            "tls.wildcard",
            "a wildcard is for certificates lempctl gets by ACME",
            Some("`acme: true`"),
        );
    }
    let mut paths = Vec::new();
    for (v, field) in [(&t.certificate, "tls.certificate"), (&t.key, "tls.key")] {
        let Some(v) = v else {
            ctx.errors.push(
                ConfigError::new(ctx.file, 0, 0, field, "a `tls` section needs `certificate` and `key` files, or `acme: true`")
                    .allowed("`acme: true` (with an `acme` section in lempctl.yaml), or the paths of a PEM certificate and its key"),
            );
            continue;
        };
        if !v.value.starts_with('/') || !safe_token(&v.value) {
            ctx.err(
                v,
                field,
                format!("`{}` is not an absolute path", printable(&v.value)),
                Some("an absolute path without spaces or special characters"),
            );
            continue;
        }
        requires.push(Requirement::at(
            v,
            field,
            PathBuf::from(&v.value),
            Needs::File,
        ));
        paths.push(PathBuf::from(&v.value));
    }
    let [certificate, key] = <[PathBuf; 2]>::try_from(paths).ok()?;
    Some((certificate, key, None, Challenge::Http01))
}
