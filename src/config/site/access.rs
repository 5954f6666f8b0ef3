//! The `access` section: who may see a site. A staging copy (`site clone`) gets both by default:
//! a `noindex` header so search engines leave it out, and HTTP basic auth so only people given
//! the password see it.

use crate::config::check::Ctx;
use crate::config::file::AccessFile;
use crate::config::values::printable;

/// The user name basic auth asks for unless `access.user` names another.
const DEFAULT_USER: &str = "staging";

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Access {
    /// Every response carries `X-Robots-Tag: noindex, nofollow`.
    pub noindex: bool,
    /// HTTP basic auth with this user name (the password is generated and stored with the site's
    /// credentials).
    pub basic_auth: Option<String>,
}

pub(super) fn section(ctx: &mut Ctx<'_>, a: Option<&AccessFile>) -> Access {
    let Some(a) = a else {
        return Access::default();
    };
    if let Some(u) = &a.user {
        let ok = (1..=32).contains(&u.value.len())
            && u.value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !ok {
            ctx.err(
                u,
                "access.user",
                format!("`{}` is not a basic-auth user name", printable(&u.value)),
                Some("1 to 32 characters: letters, digits, `.`, `_`, `-`"),
            );
        }
        if a.basic_auth != Some(true) {
            ctx.err(
                u,
                "access.user",
                "a user name without `basic_auth: true` has no effect".to_owned(),
                Some("`basic_auth: true`, or no `user`"),
            );
        }
    }
    Access {
        noindex: a.noindex.unwrap_or(false),
        basic_auth: (a.basic_auth == Some(true)).then(|| {
            a.user
                .as_ref()
                .map_or(DEFAULT_USER.to_owned(), |u| u.value.clone())
        }),
    }
}
