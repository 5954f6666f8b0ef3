//! `wordpress`: where WordPress sites are installed from, and the limits of their PHP runs.

use std::path::{Path, PathBuf};

use crate::config::check::Ctx;

/// The `wordpress` section of `lempctl.yaml`.
pub(super) struct WordpressGlobal {
    pub source: PathBuf,
    pub allowed_sources: Vec<PathBuf>,
    pub php_timeout: u32,
    pub cache_dir: PathBuf,
}

pub(super) fn section(
    ctx: &mut Ctx<'_>,
    wp: crate::config::file::WordpressGlobalFile,
    state_dir: &Path,
) -> WordpressGlobal {
    let wordpress_source = ctx.path(
        wp.source.as_ref(),
        "wordpress.source",
        "/usr/share/wordpress",
    );
    let mut wordpress_allowed_sources = Vec::new();
    match &wp.allowed_sources {
        None => {
            wordpress_allowed_sources.push(PathBuf::from("/usr/share/wordpress"));
            wordpress_allowed_sources.push(state_dir.join("wordpress"));
        }
        Some(list) => {
            for (i, v) in list.value.iter().enumerate() {
                let field = format!("wordpress.allowed_sources[{i}]");
                let p = ctx.path(Some(v), &field, "");
                if !p.as_os_str().is_empty() && p != Path::new("/") {
                    wordpress_allowed_sources.push(p);
                } else if p == Path::new("/") {
                    ctx.err(
                        v,
                        &field,
                        "`/` would allow every path on the host",
                        Some("a directory that holds WordPress trees or release tarballs"),
                    );
                }
            }
        }
    }
    if !wordpress_allowed_sources
        .iter()
        .any(|r| wordpress_source.starts_with(r))
    {
        wordpress_allowed_sources.push(wordpress_source.clone());
    }
    let cache_dir = ctx.path(
        wp.cache_dir.as_ref(),
        "wordpress.cache_dir",
        "/var/cache/nginx/lempctl",
    );
    let wordpress_php_timeout = match &wp.php_timeout {
        None => 300,
        Some(v) if (1..=86_400).contains(&v.value) => v.value,
        Some(v) => {
            ctx.err(
                v,
                "wordpress.php_timeout",
                format!("{} s is not a usable timeout", v.value),
                Some("1 to 86400 seconds"),
            );
            300
        }
    };
    WordpressGlobal {
        source: wordpress_source,
        allowed_sources: wordpress_allowed_sources,
        php_timeout: wordpress_php_timeout,
        cache_dir,
    }
}
