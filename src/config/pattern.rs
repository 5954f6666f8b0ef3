//! The pattern language of S3 excludes and Cache-Control rules, gitignore-like: a pattern
//! without an inner `/` matches at any depth, one with an inner `/` is anchored at the root, a
//! trailing `/` means "this directory". Config checks patterns with it; the sync compiles them
//! with it, so both read a pattern the same way.

use anyhow::{Context, Result};
use globset::GlobBuilder;

/// Checks one exclude or Cache-Control pattern the way the sync compiles it (for config validation).
pub(crate) fn check_pattern(pattern: &str) -> Result<(), String> {
    let Some(p) = parse(pattern) else {
        return Err("an empty pattern".into());
    };
    glob(&format!("{}/**", p.base))
        .and_then(|_| glob(&p.base))
        .map(|_| ())
        .map_err(|e| format!("{:#}", e))
}

pub(crate) struct Parsed {
    pub base: String,
    pub dir_only: bool,
}

pub(crate) fn parse(pattern: &str) -> Option<Parsed> {
    let p = pattern.trim();
    let dir_only = p.ends_with('/');
    let rooted = p.starts_with('/');
    let p = p.trim_matches('/');
    if p.is_empty() {
        return None;
    }
    let base = if rooted || p.contains('/') || p.starts_with("**") {
        p.to_string()
    } else {
        format!("**/{p}")
    };
    Some(Parsed { base, dir_only })
}

pub(crate) fn glob(s: &str) -> Result<globset::Glob> {
    GlobBuilder::new(s)
        .literal_separator(true)
        .build()
        .with_context(|| format!("invalid glob pattern `{s}`"))
}
