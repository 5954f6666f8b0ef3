//! Glob rules: exclude patterns (both sides of the sync) and ordered Cache-Control rules.
//! Invariant: gitignore-like semantics everywhere — a pattern without an inner `/` matches at any
//! depth, one with an inner `/` is anchored at the root, a trailing `/` means "this directory".

use anyhow::{Context, Result};
use globset::{GlobSet, GlobSetBuilder};

use crate::config::pattern::{glob, parse};

/// Patterns that must never be published from a WordPress static export.
pub(crate) fn default_excludes() -> Vec<String> {
    [
        ".git/",
        ".github/",
        ".DS_Store",
        "wp-admin/",
        "wp-json/",
        "wp-login.php",
        "xmlrpc.php",
        "wp-content/uploads/**/*.php",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Compiled exclude patterns.
pub(super) struct Excludes {
    files: GlobSet,
    dirs: GlobSet,
}

impl Excludes {
    pub(super) fn new(patterns: &[String]) -> Result<Self> {
        let mut files = GlobSetBuilder::new();
        let mut dirs = GlobSetBuilder::new();
        for pat in patterns {
            let Some(p) = parse(pat) else { continue };
            // a pattern naming a directory also excludes everything below it
            files.add(glob(&format!("{}/**", p.base))?);
            if !p.dir_only {
                files.add(glob(&p.base)?);
            }
            dirs.add(glob(&p.base)?);
        }
        Ok(Excludes {
            files: files.build().context("building exclude set")?,
            dirs: dirs.build().context("building exclude set")?,
        })
    }

    /// `rel` is a `/`-separated path relative to the source root (or key relative to the prefix).
    pub(super) fn is_excluded(&self, rel: &str) -> bool {
        self.files.is_match(rel)
    }

    /// For pruning the walk: the directory itself is excluded.
    pub(super) fn is_excluded_dir(&self, rel: &str) -> bool {
        self.dirs.is_match(rel)
    }
}

/// One Cache-Control rule: first matching glob wins.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct CacheRule {
    pub glob: String,
    pub value: String,
}

impl CacheRule {
    pub(crate) fn new(glob: &str, value: &str) -> Self {
        CacheRule {
            glob: glob.to_string(),
            value: value.to_string(),
        }
    }
}

/// Compiled Cache-Control rules.
pub(super) struct CacheRules {
    set: GlobSet,
    values: Vec<String>,
}

impl CacheRules {
    pub(super) fn new(rules: &[CacheRule]) -> Result<Self> {
        let mut b = GlobSetBuilder::new();
        let mut values = Vec::new();
        for r in rules {
            let Some(p) = parse(&r.glob) else { continue };
            let pat = if p.dir_only {
                format!("{}/**", p.base)
            } else {
                p.base
            };
            b.add(glob(&pat)?);
            values.push(r.value.clone());
        }
        Ok(CacheRules {
            set: b.build().context("building cache-control rules")?,
            values,
        })
    }

    pub(super) fn for_path(&self, rel: &str) -> Option<&str> {
        let first = self.set.matches(rel).into_iter().min()?;
        self.values.get(first).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_excludes_cover_wordpress_and_git() {
        let e = Excludes::new(&default_excludes()).unwrap();
        for p in [
            ".git/config",
            ".github/workflows/x.yml",
            "wp-admin/index.php",
            "wp-json/wp/v2/posts",
            "wp-login.php",
            "xmlrpc.php",
            "wp-content/uploads/2024/01/shell.php",
            "wp-content/uploads/x.php",
            "sub/.git/HEAD",
        ] {
            assert!(e.is_excluded(p), "{p} should be excluded");
        }
        for p in [
            "index.html",
            "wp-content/uploads/2024/01/a.jpg",
            "wp-content/themes/t/functions.php",
            "assets/app.js",
            "my-wp-login.php.html",
            "gitlog/.gitkeep",
        ] {
            assert!(!e.is_excluded(p), "{p} should be kept");
        }
        assert!(e.is_excluded_dir(".git"));
        assert!(e.is_excluded_dir("wp-admin"));
        assert!(!e.is_excluded_dir("wp-content"));
    }

    #[test]
    fn anchored_vs_any_depth() {
        let e = Excludes::new(&["drafts/".into(), "/top.txt".into(), "*.bak".into()]).unwrap();
        assert!(e.is_excluded("drafts/a.html"));
        assert!(e.is_excluded("x/drafts/a.html"));
        assert!(
            !e.is_excluded("drafts"),
            "dir-only pattern does not match a file"
        );
        assert!(e.is_excluded("top.txt"));
        assert!(!e.is_excluded("a/top.txt"));
        assert!(e.is_excluded("a/b/c.bak"));
        assert!(!e.is_excluded("a/b/c.bak.html"));
        let e = Excludes::new(&["blog/private/*".into()]).unwrap();
        assert!(e.is_excluded("blog/private/x.html"));
        assert!(e.is_excluded("blog/private/sub/x.html"));
        assert!(!e.is_excluded("other/blog/private/x.html"));
    }

    #[test]
    fn cache_rules_first_match_wins() {
        let r = CacheRules::new(&[
            CacheRule::new("assets/**", "public, max-age=31536000, immutable"),
            CacheRule::new("*.html", "public, max-age=300"),
            CacheRule::new("*", "public, max-age=3600"),
        ])
        .unwrap();
        assert_eq!(
            r.for_path("assets/x.html"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(r.for_path("blog/index.html"), Some("public, max-age=300"));
        assert_eq!(r.for_path("index.html"), Some("public, max-age=300"));
        assert_eq!(r.for_path("a/b.css"), Some("public, max-age=3600"));
        assert_eq!(CacheRules::new(&[]).unwrap().for_path("x"), None);
    }

    #[test]
    fn bad_glob_is_an_error() {
        assert!(Excludes::new(&["a[".into()]).is_err());
    }
}
