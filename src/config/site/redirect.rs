//! The `redirect` section of a `redirect` site.

use super::SiteKind;
use crate::config::check::Ctx;
use crate::config::file::{RedirectFile, S};
use crate::config::values::{printable, valid_url};

#[derive(Debug, Clone, serde::Serialize)]
pub struct Redirect {
    pub to: String,
    pub code: u16,
    pub preserve_path: bool,
}

/// The `redirect` section: required on a `redirect` site, refused on any other.
pub(super) fn section(
    ctx: &mut Ctx<'_>,
    f: Option<&RedirectFile>,
    kind_v: &S<String>,
    kind: Option<SiteKind>,
) -> Option<Redirect> {
    match (f, kind) {
        (Some(r), Some(SiteKind::Redirect)) => {
            if !valid_url(&r.to.value) {
                ctx.err(
                    &r.to,
                    "redirect.to",
                    format!("`{}` is not an http(s) URL", printable(&r.to.value)),
                    Some("`https://host/path` without quotes, spaces, `;`, `{`, `}` or `$`"),
                );
            }
            let code = r.code.as_ref().map_or(301, |c| c.value);
            if let Some(c) = &r.code
                && ![301, 302, 307, 308].contains(&c.value)
            {
                ctx.err(
                    c,
                    "redirect.code",
                    format!("{} is not a redirect status", c.value),
                    Some("301, 302, 307, 308"),
                );
            }
            Some(Redirect {
                to: r.to.value.trim_end_matches('/').to_owned(),
                code,
                preserve_path: r.preserve_path.unwrap_or(true),
            })
        }
        (None, Some(SiteKind::Redirect)) => {
            ctx.err(
                kind_v,
                "redirect",
                "a `redirect` site needs a `redirect.to` URL",
                None,
            );
            None
        }
        (Some(r), _) => {
            ctx.err(
                &r.to,
                "redirect",
                "only `redirect` sites take a `redirect` section",
                None,
            );
            None
        }
        (None, _) => None,
    }
}
