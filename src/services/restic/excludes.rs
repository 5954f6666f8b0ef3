//! A site's exclude globs (`backup.exclude`) in restic's syntax, and the same matching done in
//! Rust for the walks that must agree with restic (the manifest, restores with `--delete`).

use std::path::Path;

use anyhow::{Result, bail};

/// Exclude patterns (restic's syntax, which the snapshot walker takes as `!` overrides) for a
/// site's globs, anchored at its real directory.
pub(crate) fn restic_excludes(site_dir: &Path, globs: &[String]) -> Result<Vec<String>> {
    let dir = site_dir.to_string_lossy();
    if dir.contains(['*', '?', '[', '\\']) {
        bail!("the site directory {dir} contains glob characters; restic excludes cannot name it");
    }
    Ok(globs
        .iter()
        .map(|g| match g.strip_prefix('/') {
            Some(anchored) => format!("{dir}/{anchored}"),
            None => format!("{dir}/**/{g}"),
        })
        .collect())
}

/// `*` and `?` within one path component.
fn glob_component(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob_component(&p[1..], s) || (!s.is_empty() && glob_component(p, &s[1..]))
        }
        (Some(b'?'), Some(_)) => glob_component(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => glob_component(&p[1..], &s[1..]),
        _ => false,
    }
}

/// Whether `rel` (components relative to the site dir) is excluded, the way the snapshot walker
/// matches the patterns of `restic_excludes` (checked against it in `services::rustic`).
pub(crate) fn excluded(rel: &[&str], globs: &[String]) -> bool {
    globs.iter().any(|g| {
        let (anchored, body) = match g.strip_prefix('/') {
            Some(b) => (true, b),
            None => (false, g.as_str()),
        };
        let parts: Vec<&str> = body.split('/').collect();
        let fits = |at: usize| {
            rel.len() >= at + parts.len()
                && parts
                    .iter()
                    .zip(&rel[at..])
                    .all(|(p, s)| glob_component(p.as_bytes(), s.as_bytes()))
        };
        if anchored {
            fits(0)
        } else {
            (0..rel.len()).any(fits)
        }
    })
}

/// `excluded` for a relative path.
pub(crate) fn excluded_path(rel: &Path, globs: &[String]) -> bool {
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    excluded(&parts.iter().map(String::as_str).collect::<Vec<_>>(), globs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn excludes_match_like_restic() {
        let g = globs(crate::config::global::DEFAULT_BACKUP_EXCLUDES);
        assert!(excluded(&["tmp"], &g));
        assert!(!excluded(&["htdocs", "tmp"], &g), "/tmp is anchored");
        assert!(excluded(&["htdocs", "wp-content", "cache"], &g));
        assert!(excluded(&["logs", "access.log"], &g));
        assert!(!excluded(&["htdocs", "index.php"], &g));
        assert!(!excluded(&["htdocs", "wp-content"], &g));
        assert_eq!(
            restic_excludes(Path::new("/srv/www/a"), &globs(&["/tmp", "*.log"])).unwrap(),
            vec!["/srv/www/a/tmp", "/srv/www/a/**/*.log"]
        );
    }
}
