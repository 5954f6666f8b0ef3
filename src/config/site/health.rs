//! The `health` section: the request `apply` checks after a reload.

use crate::config::check::Ctx;
use crate::config::file::HealthFile;
use crate::config::values::{printable, valid_url_path};

#[derive(Debug, Clone, serde::Serialize)]
pub struct Health {
    pub enabled: bool,
    pub path: String,
    pub status: u16,
}

pub(super) fn section(ctx: &mut Ctx<'_>, h: Option<&HealthFile>, default_status: u16) -> Health {
    let path = h.and_then(|h| h.path.as_ref());
    if let Some(p) = path
        && !valid_url_path(&p.value)
    {
        ctx.err(
            p,
            "health.path",
            format!("`{}` is not a URL path", printable(&p.value)),
            Some("a path starting with `/`"),
        );
    }
    let status = h.and_then(|h| h.status.as_ref());
    if let Some(s) = status
        && !(100..=599).contains(&s.value)
    {
        ctx.err(
            s,
            "health.status",
            format!("{} is not an HTTP status", s.value),
            Some("100-599"),
        );
    }
    Health {
        enabled: h.and_then(|h| h.enabled).unwrap_or(true),
        path: path.map_or("/".to_owned(), |p| p.value.clone()),
        status: status.map_or(default_status, |s| s.value),
    }
}
