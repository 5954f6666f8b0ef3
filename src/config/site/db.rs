//! The `db` section: the site's database and user.

use crate::config::check::Ctx;
use crate::config::error::ConfigError;
use crate::config::fqdn::Fqdn;
use crate::config::global::Global;

/// A site's database and its user (names validated for MariaDB).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SiteDb {
    pub database: String,
    pub user: String,
    pub charset: String,
    pub collation: String,
}

pub(super) fn section(
    ctx: &mut Ctx<'_>,
    name: &Fqdn,
    f: Option<&crate::config::file::SiteDbFile>,
    global: &Global,
) -> Option<SiteDb> {
    use crate::config::db_names::resolve_names;
    let none = crate::config::file::SiteDbFile::default();
    let f = f.unwrap_or(&none);
    let names = match resolve_names(
        name.as_str(),
        f.name.as_ref().map(|v| v.value.as_str()),
        f.user.as_ref().map(|v| v.value.as_str()),
    ) {
        Ok(n) => n,
        Err(e) => {
            let text = e.to_string();
            let (field, v) = if text.contains("user") && f.user.is_some() {
                ("db.user", f.user.as_ref())
            } else {
                ("db.name", f.name.as_ref().or(f.user.as_ref()))
            };
            match v {
                Some(v) => ctx.err(v, field, text, Some("`A-Z`, `a-z`, `0-9` and `_`; database names up to 64 chars, user names up to 32")),
                None => ctx.errors.push(ConfigError::new(ctx.file, 0, 0, field, text)),
            }
            return None;
        }
    };
    let charset = ctx.charset_word(f.charset.as_ref(), "db.charset", &global.database.charset);
    let collation = ctx.charset_word(
        f.collation.as_ref(),
        "db.collation",
        &global.database.collation,
    );
    Some(SiteDb {
        database: names.database,
        user: names.user,
        charset,
        collation,
    })
}
