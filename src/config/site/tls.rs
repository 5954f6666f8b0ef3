//! The `tls` section: the certificate and key files, the HTTP redirect and HSTS.

use std::path::PathBuf;

use super::{Needs, Requirement};
use crate::config::check::Ctx;
use crate::config::file::TlsFile;
use crate::config::values::{printable, safe_token};

#[derive(Debug, Clone, serde::Serialize)]
pub struct Tls {
    pub certificate: PathBuf,
    pub key: PathBuf,
    pub redirect: bool,
    pub hsts: bool,
    pub hsts_max_age: u32,
}

/// The `tls` section. The certificate and key must exist under `--root`; lempctl does not
/// create them, and the preflight step checks that they are there.
pub(super) fn section(ctx: &mut Ctx<'_>, t: &TlsFile, requires: &mut Vec<Requirement>) -> Tls {
    for (v, field) in [(&t.certificate, "tls.certificate"), (&t.key, "tls.key")] {
        if !v.value.starts_with('/') || !safe_token(&v.value) {
            ctx.err(
                v,
                field,
                format!("`{}` is not an absolute path", printable(&v.value)),
                Some("an absolute path without spaces or special characters"),
            );
        } else {
            requires.push(Requirement::at(
                v,
                field,
                PathBuf::from(&v.value),
                Needs::File,
            ));
        }
    }
    Tls {
        certificate: PathBuf::from(&t.certificate.value),
        key: PathBuf::from(&t.key.value),
        redirect: t.redirect.unwrap_or(true),
        hsts: t.hsts.unwrap_or(false),
        hsts_max_age: t.hsts_max_age.as_ref().map_or(31_536_000, |v| v.value),
    }
}
