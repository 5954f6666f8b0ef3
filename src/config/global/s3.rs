//! `s3`: host-wide S3 credentials.

use std::path::PathBuf;

use crate::config::check::Ctx;

/// Host-wide S3 settings.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct S3Global {
    /// A 0600 file with static keys (host path); `None`: the standard AWS credential chain.
    pub credentials_file: Option<PathBuf>,
    /// Section of the credentials file (default `default`).
    pub profile: Option<String>,
}

pub(super) fn section(ctx: &mut Ctx<'_>, s3f: crate::config::file::S3GlobalFile) -> S3Global {
    S3Global {
        credentials_file: s3f.credentials_file.as_ref().map(|v| {
            ctx.path(
                Some(v),
                "s3.credentials_file",
                "/etc/lempctl/s3-credentials",
            )
        }),
        profile: s3f.profile.as_ref().and_then(|v| {
            let ok = !v.value.is_empty()
                && v.value.len() <= 64
                && v.value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if ok {
                Some(v.value.clone())
            } else {
                ctx.err(
                    v,
                    "s3.profile",
                    format!("`{}` is not a profile name", v.value.escape_debug()),
                    Some("letters, digits and `-_.`"),
                );
                None
            }
        }),
    }
}
